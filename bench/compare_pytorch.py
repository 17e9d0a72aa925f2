#!/usr/bin/python3
"""apgen's transformer forward beside PyTorch on the three reference shapes, at 1 and 2 threads.

Every configuration runs in its own process (so each peak RSS is that run's alone), ours through
build/release/bench/bench_transformer and PyTorch through tools/reference_transformer.py in two forms: the
reference model (the same architecture, rotary attention and SUBS heads included) and nn.TransformerEncoder
(PyTorch's own fused fast path at the same sizes, without rotary embeddings: the strongest peer).

PyTorch runs at its best: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in its command alone (this machine
sets them, which pins OpenBLAS to slower kernels), glibc malloc keeps freed memory, ATEN_CPU_CAPABILITY=avx512,
OMP_WAIT_POLICY=passive. It needs Debian's python3-torch and libopenblas0-pthread (otherwise torch calls the
netlib reference BLAS).

    /usr/bin/python3 bench/compare_pytorch.py [--build build/release-clang] [--threads 1,2] [--shapes i,ii,iii]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {"i": (0, "small", (1, 64)), "ii": (1, "medium", (1, 32)), "iii": (2, "large", (1,))}
PEER_ENV = {
    "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456",
    "ATEN_CPU_CAPABILITY": "avx512",
    "OMP_WAIT_POLICY": "passive",
}


def ours(build, shape_index, batch, threads):
    exe = Path(build) / "bench" / "bench_transformer"
    flt = f"^BM_forward/shape:{shape_index}/batch:{batch}/threads:{threads}/"
    out = subprocess.run([str(exe), f"--benchmark_filter={flt}", "--benchmark_format=json"], capture_output=True, text=True, check=True)
    b = json.loads(out.stdout[out.stdout.index("{"):])["benchmarks"][0]
    ms = b["real_time"] if b.get("time_unit") == "ms" else b["real_time"] / 1e6
    return {"ms": ms, "gflops": b["GFLOPs"] / 1e9, "gemm": b["gemm_GFLOPs"], "ratio_gemm": b["ratio_to_gemm"],
            "rss": b["peak_rss_MB"], "mallocs": b["mallocs_per_forward"]}


def peer(impl, name, batch, threads):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(PEER_ENV)
    # torch.set_num_threads does not reach OpenBLAS's own pool: pin both to the thread count being compared.
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    cmd = ["/usr/bin/python3", str(ROOT / "tools" / "reference_transformer.py"), "bench", "--threads", str(threads),
           "--shapes", name, "--batches", str(batch), "--impl", impl, "--runs", "15", "--budget-s", "4"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return {"ms": float(parts[3]), "gflops": float(parts[4]), "rss": float(parts[5])}
    raise RuntimeError("no result line from the PyTorch bench:\n" + out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build" / "release-clang"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--shapes", default="i,ii,iii")
    args = ap.parse_args()
    print("PyTorch runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (in its command only), malloc tunables, "
          "ATEN_CPU_CAPABILITY=avx512, OMP_WAIT_POLICY=passive, OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads.")
    print(f"{'shape':5} {'batch':>5} {'thr':>3} | {'apgen ms':>9} {'GFLOP/s':>8} {'x gemm':>6} {'RSS MB':>7} | "
          f"{'torch ref ms':>12} {'RSS MB':>7} {'speed-up':>8} | {'torch enc ms':>12} {'RSS MB':>7} {'speed-up':>8}")
    for threads in [int(t) for t in args.threads.split(",")]:
        for key in args.shapes.split(","):
            index, name, batches = SHAPES[key]
            for batch in batches:
                a = ours(args.build, index, batch, threads)
                r = peer("reference", name, batch, threads)
                e = peer("encoder", name, batch, threads)
                print(f"{key:5} {batch:5d} {threads:3d} | {a['ms']:9.2f} {a['gflops']:8.1f} {a['ratio_gemm']:6.2f} {a['rss']:7.0f} | "
                      f"{r['ms']:12.2f} {r['rss']:7.0f} {r['ms'] / a['ms']:7.2f}x | {e['ms']:12.2f} {e['rss']:7.0f} {e['ms'] / a['ms']:7.2f}x",
                      flush=True)


if __name__ == "__main__":
    sys.exit(main())
