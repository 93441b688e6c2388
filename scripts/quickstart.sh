#!/usr/bin/env bash
# Offline quick start (no Kafka): a short CAD training run on entropy-noised Fashion-MNIST, then
# one grid per coherence (rows = classes). STEPS changes the training length.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
dotnet build src/Host -c Release -nologo -clp:ErrorsOnly
cadstream() { dotnet src/Host/bin/Release/net10.0/cadstream.dll "$@"; }
mkdir -p out
cadstream train --mode cad --noise entropy --steps "${STEPS:-2000}" --batch 64 --width 32 --lr 0.001 --out out/quickstart.cadsnap
cadstream sample --snapshot out/quickstart.cadsnap --label all --coherence 1 --guidance 1 --count 8 --steps 50 --seed 7 --out out/quickstart-c1.png
cadstream sample --snapshot out/quickstart.cadsnap --label all --coherence 0 --guidance 0 --count 8 --steps 50 --seed 7 --out out/quickstart-c0.png
echo "quickstart: grids in out/quickstart-c1.png (coherence 1) and out/quickstart-c0.png (coherence 0)"
