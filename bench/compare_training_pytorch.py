#!/usr/bin/python3
"""apgen's training step beside PyTorch's, per row length L (81, 324) and thread count (1, 2).

The step: a batch of 64 MDM examples (each row masked with probability t ~ U(0, 1], targets the clean tokens at
the masked positions, about half the positions), d=128, 4 layers, 4 heads, FFN 512, V=32; forward, the token
loss of include/apgen/train/loss.hpp (MASK column excluded, mean per row, mean over rows) and backward, with
no optimizer step on either side. Ours: build/release/bench/bench_training (train::batch_gradient::compute,
glibc malloc tuned as the trainer does). PyTorch: tools/reference_transformer.py bench-train in two forms, the
reference model (the same architecture, rotary attention included) and nn.TransformerEncoder (PyTorch's own
layers at the same sizes, no rotary embeddings). Every configuration runs in its own process.

PyTorch runs at its best: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in its command alone (this machine
sets them, which pins OpenBLAS to slower kernels), glibc malloc keeps freed memory (GLIBC_TUNABLES, with a trim
threshold above a training step's footprint: see MALLOC_TUNABLES),
ATEN_CPU_CAPABILITY=avx512, OMP_WAIT_POLICY=passive, OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads. It needs
Debian's python3-torch and libopenblas0-pthread (otherwise torch calls the netlib reference BLAS).

    /usr/bin/python3 bench/compare_training_pytorch.py [--build build/release] [--threads 1,2] [--lengths 81,324]
        [--impls reference,encoder] [--min-time 3] [--peer-malloc large|forward]
"""
import argparse
import sys
from pathlib import Path

import peer_runs

# glibc malloc tunables for PyTorch. bench/compare_pytorch.py's (trim 256 MiB, mmap 256 MiB) are not enough for a
# training step: at L=324 the autograd graph holds ~2.5 GB, more than 256 MiB at the top of the heap is freed at
# the end of each step and returned to the kernel, and the next step page-faults it back (~250k minor faults and
# ~2 s of system time per step, step times of 2.5-6.3 s instead of 1.6-1.9 s). "large" keeps it in the process.
MALLOC_TUNABLES = {
    "large": "glibc.malloc.trim_threshold=8589934592:glibc.malloc.top_pad=1073741824:glibc.malloc.mmap_threshold=268435456",
    "forward": peer_runs.FORWARD_TUNABLES,
}


def ours(build, L, threads, min_time):
    b = peer_runs.ours(Path(build) / "bench" / "bench_training", f"^BM_train_step/L:{L}/threads:{threads}/", f"--benchmark_min_time={min_time}")
    return {"ms": b["ms"], "tokens": b["tokens_per_s"], "gflops": b["GFLOP_per_s"], "mallocs": b["mallocs_per_step"],
            "rss": b["peak_rss_MB"], "iterations": b["iterations"]}


def peer(impl, L, threads, malloc):
    parts = peer_runs.peer(["bench-train", "--threads", str(threads), "--lengths", str(L), "--batch", "64", "--impl", impl,
                            "--runs", "10", "--budget-s", "8", "--warmup", "2"], threads, MALLOC_TUNABLES[malloc], "train")
    return {"ms": float(parts[4]), "tokens": float(parts[5]), "gflops": float(parts[6]), "rss": float(parts[7])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(peer_runs.ROOT / "build" / "release"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--lengths", default="81,324")
    ap.add_argument("--impls", default="reference,encoder", help="PyTorch forms: reference, encoder")
    ap.add_argument("--min-time", type=float, default=3.0, help="apgen: --benchmark_min_time in seconds")
    ap.add_argument("--peer-malloc", choices=tuple(MALLOC_TUNABLES), default="large",
                    help="PyTorch's GLIBC_TUNABLES: large (default) or forward (bench/compare_pytorch.py's)")
    args = ap.parse_args()
    impls = [i for i in args.impls.split(",") if i]
    print("Training step: 64 MDM examples, d=128, 4 layers, 4 heads, FFN 512, V=32; forward + token loss + backward, "
          "no optimizer step (neither side).")
    print("apgen: bench_training (glibc mallopt as the trainer: M_MMAP_THRESHOLD 256 MiB, M_TRIM_THRESHOLD 512 MiB). "
          "PyTorch runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (in its command only), "
          f"GLIBC_TUNABLES={MALLOC_TUNABLES[args.peer_malloc]}, "
          "ATEN_CPU_CAPABILITY=avx512, OMP_WAIT_POLICY=passive, OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads.")
    print("GFLOP/s = 3x the forward's 2mnk products per second; speed-up = PyTorch ms / apgen ms (> 1: apgen faster).")
    head = f"{'L':>4} {'thr':>3} | {'apgen ms':>9} {'tok/s':>8} {'GFLOP/s':>8} {'mallocs':>8} {'RSS MB':>7}"
    for impl in impls:
        head += f" | {'torch ' + impl[:3] + ' ms':>12} {'GFLOP/s':>8} {'RSS MB':>7} {'speed-up':>8}"
    print(head)
    for threads in [int(t) for t in args.threads.split(",")]:
        for L in [int(x) for x in args.lengths.split(",")]:
            a = ours(args.build, L, threads, args.min_time)
            line = (f"{L:4d} {threads:3d} | {a['ms']:9.1f} {a['tokens']:8.0f} {a['gflops']:8.1f} {a['mallocs']:8.0f} "
                    f"{a['rss']:7.0f}")
            for impl in impls:
                p = peer(impl, L, threads, args.peer_malloc)
                line += f" | {p['ms']:12.1f} {p['gflops']:8.1f} {p['rss']:7.0f} {p['ms'] / a['ms']:7.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
