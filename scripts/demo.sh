#!/usr/bin/env bash
# The main job until the streaming demo exists: a short offline CAD training run on
# entropy-noised Fashion-MNIST, then a grid of samples per class at coherence 1 and 0.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
dotnet build src/Host -c Release -nologo -clp:ErrorsOnly
cadstream() { dotnet src/Host/bin/Release/net10.0/cadstream.dll "$@"; }
mkdir -p out
cadstream train --mode cad --noise entropy --steps "${STEPS:-800}" --batch 64 --width 32 --out out/demo.cadsnap
cadstream sample --snapshot out/demo.cadsnap --label all --coherence 1 --count 8 --steps 50 --seed 7 --out out/demo-c1.png
cadstream sample --snapshot out/demo.cadsnap --label all --coherence 0 --guidance 0 --count 8 --steps 50 --seed 7 --out out/demo-c0.png
echo "demo: grids in out/demo-c1.png (coherence 1) and out/demo-c0.png (coherence 0)"
