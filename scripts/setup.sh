#!/usr/bin/env bash
# Installs what CadStream needs from Debian's packages, only when missing (idempotent).
# Usage: scripts/setup.sh [run|test]
set -euo pipefail
purpose="${1:-run}"

packages=(dataset-fashion-mnist fonts-dejavu-core)
if [ "$purpose" = "test" ]; then
  # kcat: a foreign Kafka client in the ingress tests; redis-server: the snapshot store tests start their own;
  # chromium (+ chromium-driver): the web page tests drive /usr/bin/chromium headless through Playwright,
  # whose node driver comes with its NuGet package (no browser download).
  packages+=(kcat redis-server chromium chromium-driver)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }
