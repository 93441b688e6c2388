#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
dotnet build CadStream.sln -c Release -nologo -clp:ErrorsOnly
status=0
dotnet test tests/CadStream.Tests -c Release --no-build -nologo --logger "console;verbosity=normal" "$@" || status=$?
echo "test: the web page's screenshot is in artifacts/screenshots/ (serving-page.png; serving-page-failed.png if its test failed)"
exit "$status"
