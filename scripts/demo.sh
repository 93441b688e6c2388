#!/usr/bin/env bash
# The main job: `cadstream demo`, the whole streaming system on this machine (embedded Kafka-protocol
# broker, a producer of label-noised Fashion-MNIST, online training of fashion-cad and
# fashion-baseline, snapshots, HTTP API and page on http://127.0.0.1:8080/). Runs until Ctrl-C;
# extra arguments go to `cadstream demo` (e.g. --duration 10m, --rate 50, --redis HOST:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
dotnet build src/Host -c Release -nologo -clp:ErrorsOnly
exec dotnet src/Host/bin/Release/net10.0/cadstream.dll demo "$@"
