#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
dotnet build CadStream.sln -c Release -nologo -clp:ErrorsOnly
dotnet test tests/CadStream.Tests -c Release --no-build -nologo --logger "console;verbosity=normal" "$@"
