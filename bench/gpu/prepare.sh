#!/usr/bin/env bash
# Packs, on this machine, what bench/gpu/run.sh needs on a GPU machine that has PyTorch but no .NET,
# no data set and no network, small enough to travel with the repository (64 MiB in all):
#   artifacts/gpu/app.tar.xz     cadstream and cadstream-bench, framework-dependent, published
#                                WITHOUT the CPU libtorch (-p:CadExternalLibtorch=true): the GPU
#                                machine's own PyTorch torch/lib is loaded instead (CADSTREAM_LIBTORCH)
#   artifacts/gpu/dotnet.tar.xz  the .NET and ASP.NET Core runtimes of this machine's dotnet, no SDK
#   artifacts/gpu/data.tar.xz    Fashion-MNIST: the test split and the first N training images (IDX)
# Usage: bash bench/gpu/prepare.sh [--train-images N]   (default 30000; the size check says if it is too many)
# Then run bench/gpu/run.sh on the GPU machine with artifacts/gpu carried beside the working tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
train_images=30000
limit_mib=60   # of the 64 MiB that travel, the working tree takes ~2
while [ $# -gt 0 ]; do
  case "$1" in
    --train-images) train_images="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "prepare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v dotnet >/dev/null || { echo "prepare.sh: dotnet (the .NET 10 SDK) is not on PATH" >&2; exit 1; }
data="${CADSTREAM_DATA:-/usr/share/datasets/fashion-mnist}"
[ -d "$data" ] || { echo "prepare.sh: no Fashion-MNIST in $data (bash scripts/setup.sh installs it)" >&2; exit 1; }

out=artifacts/gpu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$out"
mkdir -p "$out"

echo "prepare: publishing cadstream and cadstream-bench without the CPU libtorch" >&2
# The bench first: publishing it also copies cadstream's build-time deps.json, which the node's own publish then replaces.
for project in bench/CadStream.Bench/CadStream.Bench.csproj src/Host/CadStream.Host.csproj; do
  dotnet publish "$project" -c Release -r linux-x64 --self-contained false -p:CadExternalLibtorch=true \
    -o "$stage/app" -nologo -clp:ErrorsOnly >&2
done
# Debug symbols, and the librdkafka builds Confluent.Kafka does not load on glibc Linux (it takes centos8-librdkafka.so).
rm -f "$stage"/app/*.pdb "$stage"/app/alpine-librdkafka.so "$stage"/app/librdkafka.so
if ls "$stage"/app/libtorch_cpu.so >/dev/null 2>&1; then echo "prepare.sh: the CPU libtorch is still in the publish folder" >&2; exit 1; fi
tar -C "$stage/app" -cf - . | xz -9 -T0 > "$out/app.tar.xz"

echo "prepare: packing the .NET runtime" >&2
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
netcore=$(ls "$root/shared/Microsoft.NETCore.App" | grep '^10\.' | sort -V | tail -1)
aspnet=$(ls "$root/shared/Microsoft.AspNetCore.App" | grep '^10\.' | sort -V | tail -1)
[ -n "$netcore" ] && [ -n "$aspnet" ] || { echo "prepare.sh: no .NET 10 runtime under $root/shared" >&2; exit 1; }
# Left out: the debugger and dump helpers, LTTng tracing and the alternative GCs (none is loaded unless asked for).
tar -C "$root" --exclude=createdump --exclude=libmscordaccore.so --exclude=libmscordbi.so \
  --exclude=libcoreclrtraceptprovider.so --exclude=libclrgc.so --exclude=libclrgcexp.so \
  -cf - dotnet host "shared/Microsoft.NETCore.App/$netcore" "shared/Microsoft.AspNetCore.App/$aspnet" \
  | xz -9 -T0 > "$out/dotnet.tar.xz"

echo "prepare: packing Fashion-MNIST (test split, first $train_images training images)" >&2
mkdir -p "$stage/data"
python3 - "$data" "$stage/data" "$train_images" <<'PY'
import gzip, os, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def read(stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(src, name)
        if os.path.exists(p):
            return gzip.open(p).read() if name.endswith(".gz") else open(p, "rb").read()
    sys.exit(f"prepare.sh: {stem} not found in {src}")
for split, keep in (("train", n), ("t10k", None)):
    images, labels = read(f"{split}-images-idx3-ubyte"), read(f"{split}-labels-idx1-ubyte")
    count, rows, cols = struct.unpack(">III", images[4:16])
    k = count if keep is None else min(keep, count)
    # IDX with the count rewritten: the project's reader checks that the header and the bytes agree.
    open(os.path.join(dst, f"{split}-images-idx3-ubyte"), "wb").write(images[:4] + struct.pack(">III", k, rows, cols) + images[16:16 + k * rows * cols])
    open(os.path.join(dst, f"{split}-labels-idx1-ubyte"), "wb").write(labels[:4] + struct.pack(">I", k) + labels[8:8 + k])
PY
tar -C "$stage/data" -cf - . | xz -9 -T0 > "$out/data.tar.xz"

bytes=$(du -cb "$out"/*.tar.xz | tail -1 | cut -f1)
ls -l "$out" >&2
echo "prepare: $((bytes / 1048576)) MiB in $out (limit $limit_mib MiB)" >&2
if [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
  echo "prepare.sh: $out is over $limit_mib MiB; try fewer --train-images" >&2
  exit 1
fi
