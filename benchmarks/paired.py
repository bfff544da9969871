"""This code against another commit's, measured in alternating pairs so that the host's drift cancels.

    python -m benchmarks.paired REF [--pairs 12] [--scale 0.02] [--runs 1] [--what month|runs|run-path]

On a shared machine a model month's time drifts 10-15 % within minutes (docs/performance.md), more than most
changes are worth, so two timings taken minutes apart compare the host, not the code. This script checks REF
(any git commit) out into a temporary worktree and measures the two trees one after the other, swapping which
goes first at every pair, each in a fresh process with that tree's ``simmodel`` first on the path and this
tree's measuring code:

- ``--what month`` (default): ``benchmarks.phases`` (a month's time by phase, the fastest of ``--runs`` runs
  after a warm-up run);
- ``--what runs``: the calibration path's runs a second (``benchmarks.suite.RUNS_PER_SECOND``: ``--runs`` runs
  after three warm-up runs, set-up and tables included);
- ``--what run-path``: the same for ``simmodel run``'s path (every indicator by year, province, cities and
  sectors).

It prints each pair and, per quantity, the median of the pairs' ratios (this tree over REF: for a month's time
below 1 is faster, for runs a second above 1) with the best of each side. The median of paired ratios is the
figure to quote; the spread of the pairs says how far to trust it. The worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _env(tree: Path) -> dict[str, str]:
    """The environment of a child that imports ``tree``'s simmodel (checked: not the installed one)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    where = subprocess.run([sys.executable, "-c", "import simmodel; print(simmodel.__file__)"], env=env,
                           cwd=tree, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"paired: the child imported {where}, not the tree at {tree}")
    return env


def _child(tree: Path, env: dict[str, str], what: str, scale: float, runs: int) -> dict[str, float]:
    """One measurement of ``tree``'s model in a fresh process: {quantity: value}."""
    if what == "month":
        cmd = [sys.executable, str(HERE / "phases.py"), "--scale", str(scale), "--runs", str(runs), "--json"]
    else:
        from benchmarks.suite import RUNS_PER_SECOND
        path = "run" if what == "run-path" else "calibration"
        cmd = [sys.executable, "-c", RUNS_PER_SECOND, str(scale), str(runs), path]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"paired: measuring {tree} failed:\n{out.stderr.strip()[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["ms"] if what == "month" else {"runs a second": r["runs_per_s"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", help="the commit to compare with (e.g. HEAD~3, a tag, a hash)")
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--runs", type=int, default=None, help="runs per measurement (month: 1; runs: 10)")
    ap.add_argument("--what", choices=("month", "runs", "run-path"), default="month")
    args = ap.parse_args(argv)
    if args.pairs < 1:
        print(f"paired: --pairs {args.pairs}: must be at least 1", file=sys.stderr)
        return 2
    runs = args.runs if args.runs is not None else (1 if args.what == "month" else 10)
    rev = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.ref}^{{commit}}"], cwd=ROOT,
                         capture_output=True, text=True)
    if rev.returncode:
        print(f"paired: ref {args.ref!r}: not a commit of {ROOT}", file=sys.stderr)
        return 2
    commit = rev.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="paired-") as tmp:
        ref_tree = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(ref_tree), commit], cwd=ROOT, check=True)
        try:
            rows, envs = [], {tree: _env(tree) for tree in (ref_tree, ROOT)}
            print(f"this tree against {args.ref} ({commit[:10]}), {args.what}, scale {args.scale}, {runs} run(s) "
                  f"a measurement, {args.pairs} pairs", flush=True)
            for i in range(args.pairs):
                order = (ref_tree, ROOT) if i % 2 == 0 else (ROOT, ref_tree)
                got = {tree: _child(tree, envs[tree], args.what, args.scale, runs) for tree in order}
                ref, new = got[ref_tree], got[ROOT]
                rows.append((ref, new))
                key = "TOTAL" if args.what == "month" else "runs a second"
                print(f"  pair {i + 1:2d} ({'ref' if i % 2 == 0 else 'this'} first): {key} {ref[key]:.3f} -> "
                      f"{new[key]:.3f}, ratio {new[key] / ref[key]:.3f}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=ROOT, check=False)
            subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)
    unit = "ms a month (ratio < 1: this tree faster)" if args.what == "month" else "(ratio > 1: this tree faster)"
    print(f"\n{'':<42} {'median ratio':>12} {'lowest':>8} {'highest':>8} {'best ref':>9} {'best this':>9}  {unit}")
    for k in rows[0][0]:
        ratios = [new[k] / ref[k] for ref, new in rows if ref[k] > 0]
        if not ratios:
            continue
        best = min if args.what == "month" else max
        print(f"  {k:<40} {statistics.median(ratios):12.3f} {min(ratios):8.3f} {max(ratios):8.3f} "
              f"{best(r[k] for r, _ in rows):9.3f} {best(n[k] for _, n in rows):9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
