"""Where a model month goes: each phase of TransformationModel.step timed over whole runs, and counted in calls.

    python -m benchmarks.phases [--scale 0.02] [--runs 3] [--calls]

Runs the baseline (2013-2020) ``--runs`` times after one warm-up run (memory first touched: a fresh
process pays page faults the steady state of a sweep does not), each phase's time summed over the run
and divided by its months; prints the fastest run's table in ms a month. ``--calls`` adds one more run
under ``sys.setprofile`` and prints, per phase, the calls a month it makes: Python functions and C
functions (numpy's included) as the profiler sees them; arithmetic operators on arrays are not calls
and are not counted. The fixed cost of a month is roughly these calls times a microsecond each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

PHASES = (  # (label, owner attribute path, method)
    ("decisions", "adoption", "step"),
    ("programme (conferences, pilots, experts)", "", "_programme"),
    ("projects and providers", "", "_work_projects"),
    ("cloud", "cloud", "step"),
    ("production and accounts", "", "_produce"),
    ("firm dynamics", "dynamics", "year_start"),
    ("fund round", "subsidies", "decide_round"),
)
MODULE_PHASES = (("data collection", "record_month"), ("peer learning", "learn_from_peers"))
REST = "the rest of the month"


def _runs(scale: float, runs: int, wrap, profile=None):
    """Yield (model, seconds) for ``runs`` + 1 baseline runs (seed 1; the first warms up) with every phase
    wrapped by ``wrap(function, label)``; ``profile``: a sys.setprofile hook for the months of the runs
    after the warm-up."""
    import simmodel.model.model as M
    from simmodel.analysis.scenarios import baseline
    from simmodel.model import TransformationModel

    params = baseline().params.replace({"run.scale": scale})
    homes = {"record_month": M, "learn_from_peers": M.beliefs}
    saved = {name: getattr(home, name) for name, home in homes.items()}
    try:
        for label, name in MODULE_PHASES:
            setattr(homes[name], name, wrap(saved[name], label))
        for r in range(runs + 1):
            m = TransformationModel(seed=1, params=params, collect_headline=False)
            for label, owner, name in PHASES:
                obj = getattr(m, owner) if owner else m
                setattr(obj, name, wrap(getattr(obj, name), label))
            t0 = time.perf_counter()
            sys.setprofile(profile if r > 0 else None)
            try:
                m.run()
            finally:
                sys.setprofile(None)
            yield m, time.perf_counter() - t0
            m.release()
    finally:
        for name, home in homes.items():
            setattr(home, name, saved[name])


def measure(scale: float, runs: int) -> dict:
    """The fastest of ``runs`` runs, phase by phase, in ms a month."""
    spent: dict[str, float] = {}

    def timed(f, label):
        def g(*a, **k):
            t0 = time.perf_counter()
            out = f(*a, **k)
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
            return out
        return g

    best = None
    for r, (m, total) in enumerate(_runs(scale, runs, timed)):
        months, agents = m.month + 1, m.firms.n
        row = {k: 1e3 * v / months for k, v in spent.items()}
        row[REST] = 1e3 * total / months - sum(row.values())
        row["TOTAL"] = 1e3 * total / months
        spent.clear()
        if r > 0 and (best is None or row["TOTAL"] < best["TOTAL"]):
            best = row
    return {"agents": agents, "scale": scale, "ms": best}


def count_calls(scale: float) -> dict[str, float]:
    """Calls a month by phase over one run after a warm-up (see the module's docstring)."""
    counts: dict[str, int] = {}
    stack = [REST]

    def labelled(f, label):
        def g(*a, **k):
            stack.append(label)
            try:
                return f(*a, **k)
            finally:
                stack.pop()
        return g

    def hook(frame, event, arg):
        if event == "call" or event == "c_call":
            counts[stack[-1]] = counts.get(stack[-1], 0) + 1

    for m, _ in _runs(scale, 1, labelled, hook):
        months = m.month + 1
    out = {k: v / months for k, v in counts.items()}
    out["TOTAL"] = sum(out.values())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line (for the suite)")
    ap.add_argument("--calls", action="store_true", help="also count each phase's calls a month (one more run)")
    args = ap.parse_args(argv)
    r = measure(args.scale, args.runs)
    if args.calls:
        r["calls"] = count_calls(args.scale)
    if args.json:
        print(json.dumps(r))
        return 0
    calls = r.get("calls")
    print(f"A model month at scale {r['scale']} ({r['agents']:,} agents), fastest of {args.runs} runs"
          + (", and calls a month in one more run:" if calls else ", ms:"))
    if calls:
        print(f"  {'':<42} {'ms':>7} {'calls':>7}")
    for k, v in sorted(r["ms"].items(), key=lambda kv: (kv[0] == "TOTAL", -kv[1])):
        print(f"  {k:<42} {v:7.3f}" + (f" {calls.get(k, 0.0):7.0f}" if calls else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
