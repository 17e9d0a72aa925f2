"""What bench/compare_pytorch.py and bench/compare_training_pytorch.py share: running one of our Google Benchmark
programs for one configuration, and running the PyTorch peer in an environment where it is at its best.

The peer's environment: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (this machine sets them, which pins OpenBLAS
to slower kernels), AVX-512 ATen kernels, a passive OpenMP wait policy, glibc malloc tunables that keep freed memory
in the process, and OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the thread count compared (torch.set_num_threads does
not reach OpenBLAS's own pool).
"""
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# glibc malloc tunables that keep up to 256 MiB of freed memory in the process (enough for a forward pass).
FORWARD_TUNABLES = "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456"


def ours(exe, benchmark_filter, *extra, aggregate=None):
    """The first result of `exe --benchmark_filter=...` as Google Benchmark's JSON dict, plus "ms" per iteration.
    With `aggregate` (e.g. "median", given --benchmark_repetitions in `extra`), that aggregate of the repetitions."""
    out = subprocess.run([str(exe), f"--benchmark_filter={benchmark_filter}", "--benchmark_format=json", *extra],
                         capture_output=True, text=True, check=True)
    results = json.loads(out.stdout[out.stdout.index("{"):])["benchmarks"]
    b = next(r for r in results if aggregate is None or r.get("aggregate_name") == aggregate)
    b["ms"] = b["real_time"] if b.get("time_unit") == "ms" else b["real_time"] / 1e6
    return b


def peer_env(threads, glibc_tunables):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update({"ATEN_CPU_CAPABILITY": "avx512", "OMP_WAIT_POLICY": "passive", "GLIBC_TUNABLES": glibc_tunables})
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def peer(args, threads, glibc_tunables, tag):
    """Runs tools/reference_transformer.py with `args` in the peer's environment; the fields of its line starting
    with `tag`."""
    cmd = ["/usr/bin/python3", str(ROOT / "tools" / "reference_transformer.py"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=peer_env(threads, glibc_tunables)).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == tag:
            return parts
    raise RuntimeError("no result line from the PyTorch bench:\n" + out)
