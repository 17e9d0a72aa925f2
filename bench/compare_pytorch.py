#!/usr/bin/python3
"""apgen's transformer forward beside PyTorch on the three reference shapes, at 1 and 2 threads.

Every configuration runs in its own process (so each peak RSS is that run's alone), ours through
build/release/bench/bench_transformer and PyTorch through tools/reference_transformer.py in two forms: the
reference model (the same architecture, rotary attention and SUBS heads included) and nn.TransformerEncoder
(PyTorch's own fused fast path at the same sizes, without rotary embeddings: the strongest peer).

This machine's speed drifts by 10-40% from one process to the next, so each configuration runs --rounds times
(ours, reference, encoder, then again), and each side reports its fastest round; the speed-up is the ratio of the
two fastest, and the "spread" columns give each side's slowest round over its fastest. Within a round both sides
report a median: ours over 5 Google Benchmark repetitions, PyTorch's over its timed runs. The "paired" column is
the median over rounds of the reference's time over ours in the same round: the two run seconds apart, so a drift
of the machine's speed between rounds cancels out of it (it cannot cancel out of a ratio of two fastest rounds).

PyTorch runs at its best: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in its command alone (this machine
sets them, which pins OpenBLAS to slower kernels), glibc malloc keeps freed memory, ATEN_CPU_CAPABILITY=avx512,
OMP_WAIT_POLICY=passive. It needs Debian's python3-torch and libopenblas0-pthread (otherwise torch calls the
netlib reference BLAS).

    /usr/bin/python3 bench/compare_pytorch.py [--build build/release-clang] [--threads 1,2] [--shapes i,ii,iii] [--rounds 3]
"""
import argparse
import statistics
import sys
from pathlib import Path

import peer_runs

SHAPES = {"i": (0, "small", (1, 64)), "ii": (1, "medium", (1, 32)), "iii": (2, "large", (1,))}


def ours(build, shape_index, batch, threads):
    # The median of 5 repetitions, the statistic the peer reports (the median of its timed runs).
    b = peer_runs.ours(Path(build) / "bench" / "bench_transformer", f"^BM_forward/shape:{shape_index}/batch:{batch}/threads:{threads}/",
                       "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true", aggregate="median")
    return {"ms": b["ms"], "gflops": b["GFLOPs"] / 1e9, "gemm": b["gemm_GFLOPs"], "ratio_gemm": b["ratio_to_gemm"],
            "rss": b["peak_rss_MB"], "mallocs": b["mallocs_per_forward"]}


def peer(impl, name, batch, threads):
    parts = peer_runs.peer(["bench", "--threads", str(threads), "--shapes", name, "--batches", str(batch), "--impl", impl,
                            "--runs", "15", "--budget-s", "4"], threads, peer_runs.FORWARD_TUNABLES, name)
    return {"ms": float(parts[3]), "gflops": float(parts[4]), "rss": float(parts[5])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(peer_runs.ROOT / "build" / "release-clang"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--shapes", default="i,ii,iii")
    ap.add_argument("--rounds", type=int, default=3, help="processes per side and configuration; the fastest counts")
    args = ap.parse_args()
    print("PyTorch runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (in its command only), malloc tunables, "
          "ATEN_CPU_CAPABILITY=avx512, OMP_WAIT_POLICY=passive, OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads.")
    print(f"best of {args.rounds} rounds per side; spread = slowest round / fastest")
    print(f"{'shape':5} {'batch':>5} {'thr':>3} | {'apgen ms':>9} {'spread':>6} {'GFLOP/s':>8} {'x gemm':>6} {'RSS MB':>7} {'mallocs':>7} | "
          f"{'torch ref ms':>12} {'spread':>6} {'RSS MB':>7} {'speed-up':>8} {'paired':>7} | {'torch enc ms':>12} {'spread':>6} {'RSS MB':>7} {'speed-up':>8}")
    for threads in [int(t) for t in args.threads.split(",")]:
        for key in args.shapes.split(","):
            index, name, batches = SHAPES[key]
            for batch in batches:
                runs = {"a": [], "r": [], "e": []}
                for _ in range(max(1, args.rounds)):
                    runs["a"].append(ours(args.build, index, batch, threads))
                    runs["r"].append(peer("reference", name, batch, threads))
                    runs["e"].append(peer("encoder", name, batch, threads))
                a, r, e = (min(runs[k], key=lambda x: x["ms"]) for k in ("a", "r", "e"))
                sa, sr, se = (max(x["ms"] for x in runs[k]) / min(x["ms"] for x in runs[k]) for k in ("a", "r", "e"))
                paired = statistics.median(rr["ms"] / ra["ms"] for ra, rr in zip(runs["a"], runs["r"]))
                print(f"{key:5} {batch:5d} {threads:3d} | {a['ms']:9.2f} {sa:6.2f} {a['gflops']:8.1f} {a['ratio_gemm']:6.2f} {a['rss']:7.0f} {a['mallocs']:7.1f} | "
                      f"{r['ms']:12.2f} {sr:6.2f} {r['rss']:7.0f} {r['ms'] / a['ms']:7.2f}x {paired:6.2f}x | "
                      f"{e['ms']:12.2f} {se:6.2f} {e['rss']:7.0f} {e['ms'] / a['ms']:7.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
