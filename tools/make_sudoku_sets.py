#!/usr/bin/env python3
"""Makes apgen's versioned Sudoku puzzle sets with Debian's qqwing (`apt-get install qqwing`).

The sets are committed with their sha256 (data/sudoku/MANIFEST.sha256) and never regenerated at test time: qqwing
draws from the clock, so a second run gives other puzzles. What the run keeps:

  train-100.txt   100 puzzles of the paper's regime: 20-28 givens, each stuck under naked and hidden singles
                  (solving needs at least one guess)
  dev-1000.txt    1,000 more of the same regime, for choosing checkpoints and settings
  t1-1000.txt     1,000 more of the same regime, the test tier T1 (never tuned on)
  t3-1000.txt     the 1,000 puzzles of a larger pool of the same kind that need the most backtracks of the search
                  below (singles to a fixed point, then the cell with the fewest candidates, least digit first):
                  the test tier T3

  t2-1000.txt     1,000 17-clue puzzles of Gordon Royle's list (49,151 puzzles, each essentially different), taken
                  evenly from the blocks of the list given with --t2-from (a file of its 81-digit lines; the list
                  is sorted, so blocks from across it avoid runs of near-identical puzzles): the test tier T2.
                  The blocks used are committed as royle-17-blocks.txt (its header says where they come from).

All five are disjoint as strings; tests/tasks/test_sudoku_sets.cpp proves that every puzzle has one solution and
that no dev or test puzzle is a symmetry variant of a training puzzle. One puzzle per line, 81 characters, '.' for
a blank.

    python3 tools/make_sudoku_sets.py [--pool 12000] [--out data/sudoku]      # train, dev, T1, T3 with qqwing
    python3 tools/make_sudoku_sets.py --t2-from royle-blocks.txt [--out ...]  # T2 only; the others stay
"""
import argparse
import hashlib
import subprocess
from pathlib import Path

UNITS = [[r * 9 + c for c in range(9)] for r in range(9)] + [[r * 9 + c for r in range(9)] for c in range(9)] + [
    [(3 * (b // 3) + i) * 9 + 3 * (b % 3) + j for i in range(3) for j in range(3)] for b in range(9)]
PEERS = [sorted({j for u in UNITS if i in u for j in u} - {i}) for i in range(81)]


def singles(values):
    """Naked and hidden singles to a fixed point; returns (values, ok)."""
    v = list(values)
    while True:
        cand = [None if v[i] else {d for d in range(1, 10)} - {v[p] for p in PEERS[i]} for i in range(81)]
        if any(c is not None and not c for c in cand):
            return v, False
        changed = False
        for i in range(81):
            if cand[i] is not None and len(cand[i]) == 1:
                d = next(iter(cand[i]))
                if any(v[p] == d for p in PEERS[i]):
                    return v, False
                v[i] = d
                changed = True
        if changed:
            continue
        for u in UNITS:
            for d in range(1, 10):
                if any(v[i] == d for i in u):
                    continue
                places = [i for i in u if cand[i] is not None and d in cand[i]]
                if not places:
                    return v, False
                if len(places) == 1:
                    v[places[0]] = d
                    changed = True
                    break
            if changed:
                break
        if not changed:
            return v, True


def backtracks(values):
    """Backtracks of singles + fewest-candidates search, least digit first (None when unsolvable)."""
    count = 0

    def search(v):
        nonlocal count
        v, ok = singles(v)
        if not ok:
            count += 1
            return False
        open_cells = [i for i in range(81) if not v[i]]
        if not open_cells:
            return True
        cand = {i: {d for d in range(1, 10)} - {v[p] for p in PEERS[i]} for i in open_cells}
        cell = min(open_cells, key=lambda i: (len(cand[i]), i))
        for d in sorted(cand[cell]):
            w = list(v)
            w[cell] = d
            if search(w):
                return True
        return False

    return count if search(list(values)) else None


def parse(line):
    return [0 if ch in ".0" else int(ch) for ch in line]


def generate(n):
    out = subprocess.run(["qqwing", "--generate", str(n), "--difficulty", "expert", "--one-line"],
                         capture_output=True, text=True, check=True).stdout
    return [l.strip() for l in out.splitlines() if len(l.strip()) == 81]


SETS = ("train-100.txt", "dev-1000.txt", "t1-1000.txt", "t2-1000.txt", "t3-1000.txt", "royle-17-blocks.txt")


def write_set(out, name, rows):
    (out / name).write_text("".join(p.replace("0", ".") + "\n" for p in rows))


def write_manifest(out):
    lines = [f"{hashlib.sha256((out / n).read_bytes()).hexdigest()}  {n}\n" for n in SETS if (out / n).exists()]
    (out / "MANIFEST.sha256").write_text("".join(lines))
    print("".join(lines), end="")


def make_t2(source, out):
    rows = [l.strip() for l in Path(source).read_text().splitlines() if not l.startswith("#")]
    rows = [r for r in rows if len(r) == 81 and r.isdigit() and sum(ch != "0" for ch in r) == 17]
    if len(rows) < 1000:
        raise SystemExit(f"{source}: {len(rows)} 17-clue lines, 1,000 needed")
    step = len(rows) / 1000
    write_set(out, "t2-1000.txt", [rows[int(k * step)] for k in range(1000)])
    write_manifest(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=12000)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data" / "sudoku"))
    ap.add_argument("--t2-from", help="make only t2-1000.txt, from this file of Royle-list lines")
    a = ap.parse_args()
    if a.t2_from:
        return make_t2(a.t2_from, Path(a.out))
    seen, regime = set(), []
    while len(regime) < a.pool:
        for p in generate(1000):
            if p in seen:
                continue
            seen.add(p)
            g = parse(p)
            givens = sum(1 for x in g if x)
            if 20 <= givens <= 28 and not all(singles(g)[0]):
                regime.append(p)
    train, dev, t1, rest = regime[:100], regime[100:1100], regime[1100:2100], regime[2100:]
    ranked = sorted(rest, key=lambda p: -backtracks(parse(p)))
    t3 = ranked[:1000]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train-100.txt", train), ("dev-1000.txt", dev), ("t1-1000.txt", t1), ("t3-1000.txt", t3)):
        write_set(out, name, rows)
    write_manifest(out)
    print("T3 backtracks: max", backtracks(parse(t3[0])), "min", backtracks(parse(t3[-1])))


if __name__ == "__main__":
    main()
