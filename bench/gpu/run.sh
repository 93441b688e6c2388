#!/usr/bin/env bash
# The GPU run, in one go, for a machine lent for minutes: PyTorch with CUDA, no .NET, no network.
# Needs artifacts/gpu/ from bench/gpu/prepare.sh beside the working tree; run from the repository root.
# Every figure and log goes under $OUT (default artifacts/gpu/out); each stage has its own time box
# inside --budget seconds (default 540), so a hung or aborted stage costs only its own share:
#   1 unpack     the .NET runtime, the published node and the data into a scratch folder
#   2 machine    GPU, driver, python and torch versions; CADSTREAM_LIBTORCH = that torch's lib folder
#   3 smoke      cadstream-bench smoke: every torch op the project uses, on CUDA (names the op that fails)
#   4 train      cadstream-bench train --compare-pytorch: TorchSharp against the PyTorch mirror, same
#                model, batch and GPU, alternating rounds; batch 256 (GPU scale) and 64, with phase times
#   5 serve      cadstream-bench serve: sampling latency and throughput over HTTP
#   6 experiment cadstream train-classifier, then cadstream experiment (five models) sized to the time left
# --dry-run: the same stages on this machine's CPU at toy sizes (CPU libtorch from the NuGet cache),
# to check the script and the packed artifacts before GPU time is spent.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
budget=540
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --budget) budget="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
deadline=$((start + budget))
OUT="${OUT:-artifacts/gpu/out}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
summary="$OUT/summary.txt"
: > "$summary"
log() { echo "$*" | tee -a "$summary"; }

# stage NAME SECONDS COMMAND...: runs COMMAND into $OUT/NAME.txt within SECONDS (and within the budget).
stage() {
  local name=$1 secs=$2 left rc=0 t0
  shift 2
  left=$((deadline - $(date +%s) - 5))
  if [ "$left" -lt 15 ]; then log "$name: skipped (no time left)"; return 1; fi
  [ "$secs" -gt "$left" ] && secs=$left
  echo "== $name (at most ${secs}s)"
  t0=$(date +%s)
  timeout --kill-after=10 "$secs" "$@" > "$OUT/$name.txt" 2>&1 || rc=$?
  log "$name: exit $rc after $(($(date +%s) - t0))s$([ "$rc" = 124 ] && echo ' (time box reached)')"
  tail -n 4 "$OUT/$name.txt"
  return "$rc"
}

# 1. Unpack into scratch space (not the carried folder, which may be read-only or small).
art=artifacts/gpu
for f in app dotnet data; do
  [ -f "$art/$f.tar.xz" ] || { log "missing $art/$f.tar.xz: run bash bench/gpu/prepare.sh on the build machine and carry $art"; exit 1; }
done
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cadstream-gpu.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/dotnet" "$scratch/app" "$scratch/data"
for f in app dotnet data; do tar -C "$scratch/$f" -xJf "$art/$f.tar.xz" || { log "unpack of $f.tar.xz failed"; exit 1; }; done
export DOTNET_ROOT="$scratch/dotnet" PATH="$scratch/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export CADSTREAM_DATA="$scratch/data"
# The GPU images have no ICU.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=true
bench=(dotnet "$scratch/app/cadstream-bench.dll")
node=(dotnet "$scratch/app/cadstream.dll")
log "unpacked in $(($(date +%s) - start))s"

# 2. The machine, and the libtorch to load.
python=$(command -v python3 || true)
if [ "$dry" = 1 ]; then
  # No CUDA here: TorchSharp's shim finds the CPU libtorch of the NuGet cache through the loader path.
  cpu_libtorch="${CADSTREAM_CPU_LIBTORCH:-$HOME/.nuget/packages/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native}"
  [ -f "$cpu_libtorch/libtorch_cpu.so" ] || { log "dry run: no CPU libtorch in $cpu_libtorch (set CADSTREAM_CPU_LIBTORCH)"; exit 1; }
  export LD_LIBRARY_PATH="$cpu_libtorch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CADSTREAM_DEVICE=cpu
  for p in python3 /usr/bin/python3; do "$p" -c "import torch" 2>/dev/null && { python=$(command -v "$p"); break; }; done
else
  [ -n "$python" ] || { log "no python3 on this machine"; exit 1; }
  torch_lib=$("$python" -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))") \
    || { log "python3 cannot import torch"; exit 1; }
  export CADSTREAM_LIBTORCH="$torch_lib" LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CADSTREAM_DEVICE=cuda
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "mode: $([ "$dry" = 1 ] && echo 'dry run (CPU)' || echo GPU)"
  echo "cores: $(nproc)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$python" -c "import torch; print('python torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  echo "CADSTREAM_LIBTORCH=${CADSTREAM_LIBTORCH:-}"
  dotnet --list-runtimes
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# Sizes: GPU scale, or toy sizes that only prove the script on a CPU.
if [ "$dry" = 1 ]; then
  smoke_args=(--width 16 --batch 4)
  train_runs=("--batch 4 --width 16 --steps 2 --rounds 2 --warmup 1 --profile")
  serve_args=(--width 16 --requests 2 --clients 2)
  classifier_args=(--epochs 1 --limit 2000)
  experiment_fixed=(--batch 8 --width 16 --n 20 --sweep-n 10 --eval-steps 2)
  experiment_steps_max=4
else
  smoke_args=(--width 48 --batch 32)
  train_runs=("--batch 256 --width 48 --steps 20 --rounds 4 --warmup 5 --profile" "--batch 64 --width 48 --steps 20 --rounds 4 --warmup 5")
  serve_args=(--width 48 --requests 20 --clients 16)
  classifier_args=(--epochs 2)
  experiment_fixed=(--batch 256 --width 48 --n 1000 --sweep-n 500 --eval-steps 25)
  experiment_steps_max=20000
fi

# 3. Smoke: if an op aborts the process, its "check" line is the last one in smoke.txt.
if ! stage smoke 120 "${bench[@]}" smoke "${smoke_args[@]}"; then
  log "smoke failed at: $(grep '^check ' "$OUT/smoke.txt" | tail -1 | cut -d' ' -f2-)"
fi

# 4. TorchSharp against the PyTorch mirror (same model, batch, device).
i=0
for args in "${train_runs[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086 # the sizes are words
  stage "train-compare-$i" 150 "${bench[@]}" train --compare-pytorch --python "$python" $args
done

# 5. Serving.
stage serve 90 "${bench[@]}" serve "${serve_args[@]}"

# 6. The five-way experiment in what time is left: a classifier first, then steps sized from the measured step time.
stage train-classifier 90 "${node[@]}" train-classifier "${classifier_args[@]}" --out "$OUT/classifier.bin"
left=$((deadline - $(date +%s) - 20))
step_ms=$(awk '$1 == "torchsharp_ms_per_step" { print $2; exit }' "$OUT/train-compare-1.txt" 2>/dev/null)
[ -n "$step_ms" ] || step_ms=1000
# Half the time left trains (five models); evaluation and sampling take the rest.
steps=$(awk -v left="$left" -v ms="$step_ms" -v max="$experiment_steps_max" 'BEGIN { s = int(left * 0.5 / 5 / (ms / 1000)); if (s > max) s = max; print s }')
if [ -f "$OUT/classifier.bin" ] && [ "$steps" -ge 1 ]; then
  log "experiment: $steps steps per model (measured $step_ms ms/step, ${left}s left)"
  stage experiment "$left" "${node[@]}" experiment --steps "$steps" "${experiment_fixed[@]}" \
    --classifier "$OUT/classifier.bin" --out "$OUT/experiment"
  rm -rf "$OUT/experiment/models"   # snapshots: too large to bring back, and not needed for the table
else
  log "experiment: skipped (classifier missing or no time left)"
fi

# Every "name value" figure of every stage, in one file.
for f in "$OUT"/*.txt; do
  [ "$f" = "$summary" ] && continue
  awk -v s="$(basename "$f" .txt)" 'NF == 2 && $1 ~ /^[a-z][a-z0-9_]*$/ && $2 ~ /^-?[0-9.]+$/ { print s, $1, $2 }' "$f"
done > "$OUT/figures.txt"
log "done in $(($(date +%s) - start))s; figures in $OUT/figures.txt"
