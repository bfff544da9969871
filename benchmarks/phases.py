"""Where a model month goes: each phase of TransformationModel.step timed over whole runs.

    python -m benchmarks.phases [--scale 0.02] [--runs 3]

Runs the baseline (2013-2020) ``--runs`` times after one warm-up run (memory first touched: a fresh
process pays page faults the steady state of a sweep does not), each phase's time summed over the run
and divided by its months; prints the fastest run's table in ms a month.
"""

from __future__ import annotations

import argparse
import json
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


def measure(scale: float, runs: int) -> dict:
    import simmodel.model.model as M
    from simmodel.analysis.scenarios import baseline
    from simmodel.model import TransformationModel

    params = baseline().params.replace({"run.scale": scale})
    spent: dict[str, float] = {}

    def timed(f, label):
        def g(*a, **k):
            t0 = time.perf_counter()
            out = f(*a, **k)
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
            return out
        return g

    M.record_month = timed(M.record_month, "data collection")
    M.beliefs.learn_from_peers = timed(M.beliefs.learn_from_peers, "peer learning")
    best = None
    for r in range(runs + 1):
        m = TransformationModel(seed=1, params=params, collect_headline=False)
        for label, owner, name in PHASES:
            obj = getattr(m, owner) if owner else m
            setattr(obj, name, timed(getattr(obj, name), label))
        spent.clear()
        t0 = time.perf_counter()
        m.run()
        total, months, agents = time.perf_counter() - t0, m.month + 1, m.firms.n
        m.release()
        row = {k: 1e3 * v / months for k, v in spent.items()}
        row["the rest of the month"] = 1e3 * total / months - sum(row.values())
        row["TOTAL"] = 1e3 * total / months
        if r > 0 and (best is None or row["TOTAL"] < best["TOTAL"]):
            best = row
    return {"agents": agents, "scale": scale, "ms": best}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line (for the suite)")
    args = ap.parse_args(argv)
    r = measure(args.scale, args.runs)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"A model month at scale {r['scale']} ({r['agents']:,} agents), fastest of {args.runs} runs, ms:")
    for k, v in sorted(r["ms"].items(), key=lambda kv: (kv[0] == "TOTAL", -kv[1])):
        print(f"  {k:<42} {v:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
