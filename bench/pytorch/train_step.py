#!/usr/bin/env python3
"""Times CadTrainer's step mirrored in PyTorch (cad_unet.py) on random pairs of the model's shape.

Standalone:   python3 bench/pytorch/train_step.py --steps 10 --threads 2
Driven:       python3 bench/pytorch/train_step.py --spec spec.json --serve
  The driver (`cadstream-bench train --compare-pytorch`) writes one command per line on stdin:
  "run N" times N steps and answers one JSON line; "quit" ends. The first line out is a JSON
  header: torch version, threads, device, parameter count. Every answer is one JSON line, so the
  two sides can alternate rounds in one run.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the node sets it for its libtorch: idle threads sleep
import torch  # noqa: E402

import cad_unet  # noqa: E402

PHASES = ["data", "forward", "backward", "clip", "optimizer", "ema"]


def fashion_spec():
    """The bench's default model: Fashion-MNIST's shape and classes, the trainer's defaults."""
    return {"Channels": 1, "ImageSize": 28, "NumClasses": 10, "Width": 48, "Batch": 64, "WarmupSteps": 1}


class Bench:
    def __init__(self, spec, device, pairs=4096, seed=0, foreach=None):
        self.spec, self.device = spec, device
        self.trainer = cad_unet.Trainer(spec, device, foreach)
        g = torch.Generator().manual_seed(seed)
        shape = (pairs, spec.channels, spec.image_size, spec.image_size)
        self.pixels = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        self.labels = [i % spec.num_classes for i in range(pairs)]
        self.coherence = torch.rand(pairs, generator=g).tolist()
        self.order = torch.randperm(pairs, generator=g).tolist()
        self.position = 0

    def next_batch(self):
        n = self.spec.batch
        if self.position + n > len(self.order):
            self.position = 0
        idx = self.order[self.position:self.position + n]
        self.position += n
        return (self.pixels.index_select(0, torch.tensor(idx)), [self.labels[i] for i in idx],
                [self.coherence[i] for i in idx])

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def run(self, steps, profile=False):
        """Times `steps` steps; with profile, also the time of each phase (synchronised on CUDA)."""
        phases = {p: 0.0 for p in PHASES}
        last = [0.0]

        def mark(name):
            self.sync()
            now = time.perf_counter()
            phases[name] += now - last[0]
            last[0] = now

        self.sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        skipped = 0
        loss = float("nan")
        for _ in range(steps):
            images, labels, coherence = self.next_batch()
            last[0] = time.perf_counter()
            loss, applied = self.trainer.step(images, labels, coherence, mark if profile else None)
            skipped += 0 if applied else 1
        self.sync()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        # CPU time of all the process's threads: steadier than wall time on a machine that others load too.
        out = {"steps": steps, "ms_per_step": 1000 * seconds / steps, "cpu_ms_per_step": 1000 * cpu_seconds / steps,
               "loss": loss, "skipped": skipped}
        if profile:
            out["phases_ms"] = {p: 1000 * v / steps for p, v in phases.items()}
        return out


# Which kind of work an aten op is, for the --op-profile summary.
OP_KINDS = [
    ("conv", ("conv", "mkldnn_convolution")),
    ("group_norm", ("group_norm",)),
    ("attention", ("bmm", "softmax", "scaled_dot_product", "_flash_attention", "baddbmm")),
    ("linear", ("addmm", "aten::mm", "linear", "embedding")),
    ("optimizer+ema", ("addcdiv", "addcmul", "lerp", "_foreach", "sqrt", "norm")),
    ("resample+concat", ("upsample", "pixel_", "cat", "constant_pad", "slice", "copy_", "contiguous")),
    ("elementwise", ("silu", "mul", "add", "sub", "div", "pow", "square", "mean", "sum", "exp", "sin", "cos", "sigmoid", "fill", "zero")),
]


def op_profile(bench, steps):
    """Self CPU time of the aten ops over `steps` steps, per kind of work (ms per step)."""
    from torch.autograd import profiler
    with profiler.profile() as prof:
        bench.run(steps)
    kinds, ops = {}, {}
    for e in prof.key_averages():
        if not e.key.startswith("aten::"):
            continue
        ms = e.self_cpu_time_total / 1000 / steps
        kind = next((k for k, words in OP_KINDS if any(w in e.key for w in words)), "other")
        kinds[kind] = kinds.get(kind, 0) + ms
        ops[e.key] = ms
    top = dict(sorted(ops.items(), key=lambda kv: -kv[1])[:12])
    return {"op_kinds_ms": dict(sorted(kinds.items(), key=lambda kv: -kv[1])), "top_ops_ms": top}


def header(bench, device):
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "foreach": bench.trainer.optimizer.defaults.get("foreach"),
        "device": str(device),
        "parameters": cad_unet.parameter_count(bench.trainer.model),
        "parameters_by_part": {n: cad_unet.parameter_count(m) for n, m in bench.trainer.model.named_children()},
        "parameter_tensors": len(bench.trainer.params),
        "batch": bench.spec.batch,
        "image": [bench.spec.channels, bench.spec.image_size, bench.spec.image_size],
        "unet_size": bench.spec.unet_size,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", help="ModelSpec JSON file (as the C# side serialises it, plus NumClasses)")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0, help="override the spec's batch")
    ap.add_argument("--width", type=int, default=0, help="override the spec's width")
    ap.add_argument("--foreach", choices=["default", "on", "off"], default="default",
                    help="AdamW's multi-tensor path (default: torch's own choice)")
    ap.add_argument("--profile", action="store_true", help="time each phase of the step")
    ap.add_argument("--op-profile", action="store_true", help="self time of the aten ops per kind of work (torch's profiler)")
    ap.add_argument("--serve", action="store_true", help="answer 'run N' lines on stdin (see the module doc)")
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    d = fashion_spec()
    if a.spec:
        with open(a.spec) as f:
            d.update(json.load(f))
    if a.batch:
        d["Batch"] = a.batch
    if a.width:
        d["Width"] = a.width
    bench = Bench(cad_unet.Spec(d), device, foreach={"default": None, "on": True, "off": False}[a.foreach])
    print(json.dumps(header(bench, device)), flush=True)

    if a.serve:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] in ("run", "profile") and len(words) == 2 and words[1].isdigit() and int(words[1]) > 0:
                print(json.dumps(bench.run(int(words[1]), profile=words[0] == "profile")), flush=True)
            else:
                print(json.dumps({"error": f"unknown command '{line.strip()}'; expected 'run N', 'profile N' or 'quit'"}), flush=True)
        return

    if a.warmup:
        bench.run(a.warmup)
    if a.op_profile:
        print(json.dumps(op_profile(bench, a.steps)), flush=True)
    else:
        print(json.dumps(bench.run(a.steps, profile=a.profile)), flush=True)


if __name__ == "__main__":
    main()
