#!/usr/bin/env bash
# Installs what CadStream needs from Debian's packages, only when missing (idempotent).
# Usage: scripts/setup.sh [run|test|bench]
set -euo pipefail
purpose="${1:-run}"

packages=(dataset-fashion-mnist fonts-dejavu-core)
# Installed without their recommended packages (prometheus recommends prometheus-node-exporter, a daemon).
lean_packages=()
if [ "$purpose" = "test" ]; then
  # kcat: a foreign Kafka client in the ingress tests; redis-server: the snapshot store tests start their own;
  # chromium (+ chromium-driver): the web page tests drive /usr/bin/chromium headless through Playwright,
  # whose node driver comes with its NuGet package (no browser download).
  packages+=(kcat redis-server chromium chromium-driver)
  # prometheus: promtool checks config/prometheus/, and the deploy tests scrape a running node with it.
  lean_packages+=(prometheus)
  # Foreign image encoders for the ingress image tests (files not written by Skia): cjpeg (baseline and
  # progressive JPEG), cwebp, exiftool (an EXIF-rotated JPEG) and Pillow under /usr/bin/python3 (a CMYK JPEG).
  lean_packages+=(libjpeg-turbo-progs webp libimage-exiftool-perl python3-pil)
fi
if [ "$purpose" = "bench" ]; then
  # python3-torch: Debian's PyTorch (1.13 on Debian 12), the CPU anchor of bench/pytorch/ and
  # `cadstream train --compare-pytorch`. No test needs it, so the test setup stays lean.
  lean_packages+=(python3-torch)
fi

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing_packages < <(missing "${packages[@]}")
mapfile -t missing_lean < <(missing "${lean_packages[@]}")
if [ "${#missing_packages[@]}" -gt 0 ] || [ "${#missing_lean[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing_packages[*]} ${missing_lean[*]}" >&2
  $sudo apt-get update -qq
  if [ "${#missing_packages[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing_packages[@]}" >/dev/null
  fi
  if [ "${#missing_lean[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing_lean[@]}" >/dev/null
  fi
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }
