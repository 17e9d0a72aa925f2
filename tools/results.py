#!/usr/bin/env python3
"""Rebuilds every results table of README from the committed data and writes docs/results.md with the pictures.

Run it through CMake, which builds what it runs first:

    cmake --preset release && cmake --build --preset release --target results
    cmake --build --preset release --target results-with-speed   # also the transformer beside PyTorch (idle machine)

or directly on a build tree that holds the programs: python3 tools/results.py --build build/release [--speed].

What it runs (each program's own output is kept in the page, with its command and wall time):
  - parity: examples 06 (the learned process, lengths 1..1,000 and 10,000) and 07 (the causal ARM baseline);
  - Sudoku: apgen-sudoku with the teacher's process on every committed tier (solved with its 95% interval,
    transitions, branches, backtracks, time), and with every shipped learned model under models/sudoku/;
  - pictures: 01_parity_process, 02_dyck_generation and apgen-sudoku with --svg, as PNG where rsvg-convert is
    installed;
  - with --speed: bench/compare_pytorch.py (needs python3-torch; the PyTorch side runs with OPENBLAS_CORETYPE and
    OPENBLAS_L2_SIZE unset, see that script), which wants an idle machine: a build on the other core halves it.
Standard library only.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIERS = [("train (100)", "train-100.txt"), ("dev (1,000)", "dev-1000.txt"), ("T1 (1,000)", "t1-1000.txt"),
         ("T2 (1,000, 17 clues)", "t2-1000.txt"), ("T3 (1,000)", "t3-1000.txt")]


def run(cmd, log, stdin=None):
    """Runs cmd (a list) from the source root; returns (stdout, seconds). A failing program stops the page."""
    shown = " ".join(str(c) for c in cmd)
    print(f"results: {shown}", file=sys.stderr, flush=True)
    start = time.monotonic()
    p = subprocess.run([str(c) for c in cmd], cwd=ROOT, input=stdin, capture_output=True, text=True)
    seconds = time.monotonic() - start
    log.append((shown, seconds))
    if p.returncode != 0 and "solved" not in p.stdout:
        sys.exit(f"results: `{shown}` failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout, seconds


def relative(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def sudoku_row(name, out):
    """One table row from apgen-sudoku's summary (with --teacher-stats for the teacher)."""
    solved = re.search(r"solved (\d+) = ([\d.]+)% \(95% interval ([\d.]+)-([\d.]+)%\)", out)
    ms = re.search(r"([\d.]+) ms per puzzle", out)
    stats = {k: re.search(rf"{k} per puzzle\s+mean\s+([\d.]+)\s+median\s+(\d+)\s+max\s+(\d+)", out)
             for k in ("transitions", "branches \\(guesses\\)", "backtracks")}
    steps = re.search(r"steps per puzzle \(the halting step included\): mean ([\d.]+), median (\d+), p95 (\d+), "
                      r"max (\d+)", out)
    unsolved = re.search(r"valid but wrong (\d+), stopped unsolved (\d+), step cap (\d+)", out)
    if not solved or not ms or not steps or not unsolved:
        sys.exit(f"results: could not read apgen-sudoku's summary:\n{out}")
    rate = f"{float(solved.group(2)):g}% ({float(solved.group(3)):.1f}-{float(solved.group(4)):.1f})"
    if stats["transitions"]:
        t = stats["transitions"]
        b, k = stats["branches \\(guesses\\)"], stats["backtracks"]
        return (f"| {name} | {rate} | {float(t.group(1)):.1f} / {t.group(2)} / {int(t.group(3)):,} | "
                f"{float(b.group(1)):.1f} / {float(k.group(1)):.1f} | {float(ms.group(1)):.1f} |")
    return (f"| {name} | {rate} | {float(steps.group(1)):.1f} / {steps.group(2)} / {int(steps.group(4)):,} | "
            f"{unsolved.group(1)} / {unsolved.group(2)} / {unsolved.group(3)} | {float(ms.group(1)):.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release", help="the build tree holding the programs")
    ap.add_argument("--speed", action="store_true", help="also the transformer beside PyTorch (idle machine)")
    ap.add_argument("--out", default="docs/results.md")
    a = ap.parse_args()
    build = (ROOT / a.build).resolve()
    ex = build / "examples"
    for prog in ("01_parity_process", "02_dyck_generation", "06_parity_length_generalisation", "07_parity_arm_baseline",
                 "10_dyck_learned", "11_maxflow_process", "apgen-sudoku"):
        if not (ex / prog).exists():
            sys.exit(f"results: {ex / prog} is missing; build it first "
                     "(cmake --build --preset release --target results builds everything it needs)")
    log = []
    started = time.monotonic()
    page = []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()

    # Pictures first: they are quick, and the page shows them at the top.
    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    parity_svg, sudoku_svg = images / "parity-process.svg", images / "sudoku-process.svg"
    dyck_svg, maxflow_svg = images / "dyck-insertion.svg", images / "maxflow-process.svg"
    run([ex / "01_parity_process", "100", "--svg", parity_svg], log)
    run([ex / "02_dyck_generation", "2", "16", "4", "--svg", dyck_svg], log)
    maxflow_out, _ = run([ex / "11_maxflow_process", "--nodes", "4", "--svg", maxflow_svg], log)
    t1_second = (ROOT / "data/sudoku/t1-1000.txt").read_text().splitlines()[1] + "\n"
    run([ex / "apgen-sudoku", "--puzzles", "-", "--svg", sudoku_svg], log, stdin=t1_second)
    rsvg = shutil.which("rsvg-convert")
    shown = {}
    for svg in (parity_svg, dyck_svg, maxflow_svg, sudoku_svg):
        if rsvg:
            png = svg.with_suffix(".png")
            subprocess.run([rsvg, str(svg), "-o", str(png)], check=True)
            svg.unlink()  # the PNG is the committed picture; the SVG is one command away
            shown[svg.stem] = png.name
        else:
            shown[svg.stem] = svg.name

    parity_out, _ = run([ex / "06_parity_length_generalisation"], log)
    arm_out, _ = run([ex / "07_parity_arm_baseline"], log)

    dyck_out = [run([ex / "10_dyck_learned", "--k", str(k)], log)[0] for k in (2, 3)]

    teacher_rows = []
    for name, file in TIERS:
        out, _ = run([ex / "apgen-sudoku", "--puzzles", f"data/sudoku/{file}", "--teacher-stats"], log)
        teacher_rows.append(sudoku_row(name, out))
    learned = []
    for model in sorted((ROOT / "models" / "sudoku").glob("*.safetensors")):
        rows = []
        for name, file in TIERS:
            out, _ = run([ex / "apgen-sudoku", "--weights", model, "--puzzles", f"data/sudoku/{file}"], log)
            rows.append(sudoku_row(name, out))
        learned.append((relative(model), rows))

    speed = None
    if a.speed:
        speed, _ = run([sys.executable, "bench/compare_pytorch.py", "--build", relative(build)], log)

    total = time.monotonic() - started
    page += ["# Results", "",
             "Every table of README, rebuilt by one command from the committed puzzle sets and shipped weights "
             "(`tools/results.py`; `cmake --build --preset release --target results`). This page was written by "
             f"it at commit `{commit.stdout.strip() or 'unknown'}` on "
             f"{datetime.date.today().isoformat()}, on {os.cpu_count()} cores of {cpu or 'an unknown CPU'}, in "
             f"{total / 60:.1f} minutes. Times are this run's and move with the machine's load; counts and rates "
             "do not.", ""]
    page += ["## Pictures", "",
             "Parity by remasking and deleting, three strings in one batch (`01_parity_process 100 --svg`):", "",
             f"![the parity process](images/{shown['parity-process']})", "",
             "Two-sided Dyck-2 words grown by insertion (`02_dyck_generation 2 16 4 --svg`):", "",
             f"![Dyck words grown by insertion](images/{shown['dyck-insertion']})", "",
             "Max flow by in-place edits, then the min cut deleted, on a 4-node test graph "
             "(`11_maxflow_process --nodes 4 --svg`):", "",
             f"![the max-flow process](images/{shown['maxflow-process']})", "",
             "The teacher's Sudoku process on the second T1 puzzle (`apgen-sudoku --svg`):", "",
             f"![a Sudoku process](images/{shown['sudoku-process']})", ""]
    page += ["## Parity", "",
             "The learned AP-MDM process (2,439 parameters, trained in the run) on lengths it never saw "
             "(`06_parity_length_generalisation`):", "", "```", parity_out.strip(), "```", "",
             "The causal ARM baseline by length bucket (`07_parity_arm_baseline`):", "", "```", arm_out.strip(),
             "```", ""]
    page += ["## Two-sided Dyck-k", "",
             "The learned stochastic insertion process beside an ARM of the same size, both from the shipped weights "
             "in `models/dyck/` (`10_dyck_learned --k 2`, `--k 3`):", ""]
    for out in dyck_out:
        page += ["```", out.strip(), "```", ""]
    page += ["## Graph editing (max flow, then the min cut deleted)", "",
             "The exact process through the generator on the test graphs, every trace replayed and every final "
             "sequence verified (`11_maxflow_process --nodes 4`):", "", "```", maxflow_out.strip(), "```", ""]
    page += ["## Sudoku", "", "The teacher's process through the generator (`apgen-sudoku --puzzles FILE "
             "--teacher-stats`):", "",
             "| tier | solved (95% interval) | transitions per puzzle: mean / median / max | "
             "branches / backtracks per puzzle | ms per puzzle |", "|---|---|---|---|---|"] + teacher_rows + [""]
    if learned:
        for model, rows in learned:
            page += [f"The learned process `{model}` (`apgen-sudoku --weights {model} --puzzles FILE`):", "",
                     "| tier | solved (95% interval) | steps per puzzle: mean / median / max | "
                     "valid but wrong / stopped unsolved / step cap | ms per puzzle |", "|---|---|---|---|---|"]
            page += rows + [""]
    else:
        page += ["No learned Sudoku model is shipped yet (`models/sudoku/` is empty): its table comes here.", ""]
    if speed is not None:
        page += ["## Speed beside PyTorch", "", "`bench/compare_pytorch.py` (PyTorch with OPENBLAS_CORETYPE and "
                 "OPENBLAS_L2_SIZE unset, at its best):", "", "```", speed.strip(), "```", ""]
    else:
        page += ["## Speed beside PyTorch", "",
                 "Not measured in this run: `cmake --build --preset release --target results-with-speed` adds it "
                 "(python3-torch installed, an idle machine).", ""]
    page += ["## Commands and times", "", "| command | seconds |", "|---|---|"]
    page += [f"| `{c.replace(str(ROOT) + '/', '')}` | {s:.1f} |" for c, s in log] + [""]
    out = ROOT / a.out
    out.write_text("\n".join(page))
    print(f"results: wrote {relative(out)} in {total / 60:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
