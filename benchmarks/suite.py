"""The benchmark suite: speed and memory of the model, measured on this machine in one run.

    python -m benchmarks [--quick] [--plot docs/scaling.png]

Prints, for a full 2013-2020 run of the baseline scenario (what users run) at 5,000, 50,000 and 560,000 firm agents: build time, run time,
time per model month and peak memory (each run in a fresh process); the speed-up of the vectorised
model over the per-firm reference (simmodel/reference.py) at 5,000 and 50,000 firms, measured side
by side over 2013-2014 for the decision and project submodels the reference implements and for
the whole model; model runs per second at the calibration scale (the calibration's path and the
`simmodel run` path, in alternating batches in one process) and where a month goes there, phase by phase, in ms and in calls (benchmarks/phases.py); sweep runs
per second on 1 and 2 workers (three sweeps, each between two in-process measurements); and the visual server's
time per frame. Writes a log-log plot of run time against firms. Times are the best of --repeat runs (the
machine is shared and noisy), each after one untimed run of the same size whose model is released first, as a
sweep's worker runs: the steady state, not a process's first touch of its memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from simmodel.model import TransformationModel
from simmodel.analysis.scenarios import baseline
from simmodel.model.population import scale_for_agents
n, repeat = int(sys.argv[1]), int(sys.argv[2])
scale = 1.0 if n >= 562_000 else scale_for_agents(n)
def warm_up():  # imports done; the compiled kernels loaded (numba's cache) as in any process's first month
    t0 = time.perf_counter()
    TransformationModel(seed=0, params=baseline().params.replace({"run.scale": 0.001, "run.end": "2013-02"}),
                        collect_headline=False).run()
    return time.perf_counter() - t0
warm_s = warm_up()
best, m = None, None
for k in range(repeat + 1):  # the steady state of a sweep's or a calibration's worker: the first run at this size
    # only warms up (its memory's first touch: some 14,000 page faults at scale 0.02), and each model is released
    # before the next is built, as the runner does (kept alive, every run paid the faults again: docs/performance.md)
    if m is not None:
        m.release()
    t0 = time.perf_counter()
    m = TransformationModel(seed=1, params=baseline().params.replace({"run.scale": scale}), collect_headline=False)
    t1 = time.perf_counter()
    m.run()
    t2 = time.perf_counter()
    r = {"agents": m.firms.n, "scale": scale, "months": m.month + 1, "build_s": t1 - t0, "run_s": t2 - t1}
    if k > 0:
        best = r if best is None or r["run_s"] < best["run_s"] else best
best["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
best["warm_s"] = warm_s
if n >= 562_000:  # the bandwidth floor: one pass over the model's own per-firm state arrays
    import dataclasses
    import numpy as np
    f = m.firms
    arrays = [a for a in (getattr(f, x.name) for x in dataclasses.fields(f))
              if isinstance(a, np.ndarray) and a.shape[:1] == (f.n,)]
    floor = None
    for _ in range(5):
        t0 = time.perf_counter()
        for a in arrays:
            np.count_nonzero(a) if a.dtype == bool else np.add.reduce(a, axis=None)
        dt = time.perf_counter() - t0
        floor = dt if floor is None else min(floor, dt)
    best["state_mb"] = sum(a.nbytes for a in arrays) / 2**20
    best["floor_ms"] = 1e3 * floor
print(json.dumps(best))
"""

SIDE_BY_SIDE = r"""
import json, sys, time
from simmodel.model import TransformationModel
from simmodel.analysis.scenarios import baseline
from simmodel.model.reference import ReferenceModel
from simmodel.model.population import scale_for_agents
n = int(sys.argv[1])
def warm_up():  # imports done; every compiled kernel the timed runs call loaded (numba's cache), as in a process's
    # first months: a small model over the same months (two months left a few dozen kernels to load in the timed run,
    # tens of ms at 5,000 agents)
    t0 = time.perf_counter()
    for cls in (TransformationModel, ReferenceModel):
        cls(seed=0, params=baseline().params.replace({"run.scale": 0.001, "run.end": "2014-12"}),
            collect_headline=False).run()
    return time.perf_counter() - t0
warm_up()
out = {}
params = baseline().params.replace({"run.scale": scale_for_agents(n), "run.end": "2014-12"})
warm = TransformationModel(seed=1, params=params, collect_headline=False)  # the memory of this size touched once,
warm.run()  # as in a sweep's worker (the reference's own cost dwarfs its page faults)
warm.release()
for cls in (TransformationModel, ReferenceModel):
    m = cls(seed=1, params=params, collect_headline=False)
    spent = {"submodels": 0.0}
    for owner, name in ((m.adoption, "step"), (m, "_work_projects")):
        inner = getattr(owner, name)
        def timed(*a, _f=inner, **k):
            t0 = time.perf_counter(); r = _f(*a, **k); spent["submodels"] += time.perf_counter() - t0; return r
        setattr(owner, name, timed)
    t0 = time.perf_counter()
    m.run()
    firm_months = m.firms.n * (m.month + 1)
    out[cls.__name__] = {"agents": m.firms.n, "whole_us": 1e6 * (time.perf_counter() - t0) / firm_months,
                         "submodels_us": 1e6 * spent["submodels"] / firm_months}
print(json.dumps(out))
"""

SWEEP_THROUGHPUT = r"""
import json, sys, time
from simmodel.runs.executor import SerialExecutor, DaskExecutor, Task
from simmodel.analysis.scenarios import baseline
if __name__ == "__main__":
    scale, n, workers = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    p = baseline().params.replace({"run.scale": scale})
    tasks = [Task(f"s{s}", p, s, names=("firms_stage_1plus",)) for s in range(1, n + 1)]
    t0 = time.perf_counter()
    ex = SerialExecutor() if workers == 1 else DaskExecutor(workers=workers)
    t1 = time.perf_counter()
    if workers > 1:  # warm the workers (imports) so the rate is the steady state
        list(ex.map([Task("warm", p, 0, names=("firms_stage_1plus",)) for _ in range(workers)]))
    t2 = time.perf_counter()
    ok = sum(o.ok for o in ex.map(tasks))
    t3 = time.perf_counter()
    ex.close()
    print(json.dumps({"startup_s": t2 - t0, "runs_per_s": ok / (t3 - t2)}))
"""

RUNS_PER_SECOND = r"""
import json, sys, time
from simmodel.analysis.scenarios import baseline
from simmodel.analysis.targets import load_targets
from simmodel.runs.runner import run
scale, n = float(sys.argv[1]), int(sys.argv[2])
paths = sys.argv[3].split(",") if len(sys.argv) > 3 else ["run"]
repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 1
p = baseline().params.replace({"run.scale": scale})
KW = {  # what a calibration run tabulates: the targets' indicators, province-wide, by month
      "calibration": dict(monthly=True, names=tuple(dict.fromkeys(t.indicator for t in load_targets())),
                          levels=("province",)),
      # simmodel run: every indicator by year for the province, its cities and sectors
      "run": dict(monthly=False)}
for seed in (0, 1000, 1001):  # warm up imports, caches and the process's memory (first-touch page faults)
    for path in paths:
        run(p, seed, **KW[path])
rates = {path: [] for path in paths}
for i in range(repeat):  # batches of the same seeds, the paths alternating (first one, then the other first)
    for path in (paths if i % 2 == 0 else paths[::-1]):
        t0 = time.perf_counter()
        for seed in range(1, n + 1):
            run(p, seed, **KW[path])
        rates[path].append(n / (time.perf_counter() - t0))
print(json.dumps({"runs_per_s": max(rates[paths[0]]), "rates": rates}))
"""


PHASES = r"""
import json, sys
from benchmarks.phases import count_calls, measure
r = measure(float(sys.argv[1]), int(sys.argv[2]))
r["calls"] = count_calls(float(sys.argv[1]))
print(json.dumps(r))
"""


def child(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (checks the suite works)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size; the fastest is reported")
    ap.add_argument("--plot", default="docs/scaling.png", help="where to write the scaling plot")
    ap.add_argument("--calibration-scale", type=float, default=0.02)
    args = ap.parse_args(argv)

    sizes = [2_000, 5_000, 20_000] if args.quick else [5_000, 15_000, 50_000, 150_000, 562_000]
    print("Full runs, 2013-01 to 2020-12 (96 months), seed 1, each size in a fresh process:")
    print(f"{'agents':>9} {'scale':>7} {'build s':>8} {'run s':>7} {'ms/month':>9} {'us/firm-month':>14} {'peak MB':>8}")
    rows = []
    yard = []  # issue #20's yardsticks: (what, measured, target, met)
    for n in sizes:
        r = child(CHILD, n, 1 if args.quick else args.repeat)
        rows.append(r)
        print(f"{r['agents']:>9,} {r['scale']:>7.4f} {r['build_s']:>8.2f} {r['run_s']:>7.2f} "
              f"{1e3 * r['run_s'] / r['months']:>9.1f} {1e6 * r['run_s'] / r['months'] / r['agents']:>14.3f} "
              f"{r['peak_mb']:>8.0f}")
    print(f"first model months in a fresh process, before the timed runs (imports done; numba's compiled kernels "
          f"loaded from its cache): {max(r['warm_s'] for r in rows):.2f} s at most, once per process")
    import numpy as np
    slope = np.polyfit(np.log([r["agents"] for r in rows]), np.log([r["run_s"] for r in rows]), 1)[0]
    print(f"log-log slope of run time against firms: {slope:.2f} (1 = linear)")
    small = [r for r in rows if r["agents"] <= 60_000]
    if len(small) >= 2:  # ms a month = fixed + per firm x agents, fitted over the small sizes
        per_firm, fixed = np.polyfit([r["agents"] for r in small], [1e3 * r["run_s"] / r["months"] for r in small], 1)
        print(f"fixed monthly cost (intercept of ms/month against agents, {small[0]['agents']:,}-"
              f"{small[-1]['agents']:,} agents): {fixed:.2f} ms; per firm {1e3 * per_firm:.3f} us")
        yard.append(("fixed monthly cost, ms", f"{fixed:.2f}", "<= 0.5", fixed <= 0.5))
    for r in rows:
        if "floor_ms" in r:
            month = 1e3 * r["run_s"] / r["months"]
            print(f"province: {month:.0f} ms a month against a bandwidth floor of {r['floor_ms']:.1f} ms (one pass "
                  f"over its {r['state_mb']:.0f} MB of per-firm state arrays on this machine): {month / r['floor_ms']:.1f}x")
            yard.append(("province month / bandwidth floor", f"{month / r['floor_ms']:.1f}x", "<= 1.5x",
                         month / r["floor_ms"] <= 1.5))

    print("\nVectorised model vs per-firm reference, side by side, 2013-01 to 2014-12 (24 months):")
    print(f"{'agents':>9} {'submodels: vec us':>18} {'ref us':>9} {'speed-up':>9}   "
          f"{'whole model: vec us':>20} {'ref us':>9} {'speed-up':>9}   (per firm-month)")
    for n in ([2_000] if args.quick else [5_000, 50_000]):
        r = child(SIDE_BY_SIDE, n)
        v, ref = r["TransformationModel"], r["ReferenceModel"]
        print(f"{v['agents']:>9,} {v['submodels_us']:>18.3f} {ref['submodels_us']:>9.2f} "
              f"{ref['submodels_us'] / v['submodels_us']:>8.0f}x   {v['whole_us']:>20.3f} {ref['whole_us']:>9.2f} "
              f"{ref['whole_us'] / v['whole_us']:>8.0f}x")
        if v["agents"] == 5_000:
            speed = ref["whole_us"] / v["whole_us"]
            yard.append(("whole model / per-firm reference, 5,000 agents", f"{speed:.0f}x", ">= 300x", speed >= 300))

    n_runs = 3 if args.quick else 10
    n_pairs = 2 if args.quick else 2 * args.repeat
    print(f"\nRuns per second on one core at scale {args.calibration_scale} (marginal cost of {n_runs} more runs "
          f"in a warm process; {n_pairs} batches of each path in one process, alternating, so that each pair "
          "shares the host's speed of the moment):")
    r = child(RUNS_PER_SECOND, args.calibration_scale, n_runs, "calibration,run", n_pairs)
    rate = {path: max(v) for path, v in r["rates"].items()}
    for path, what in (("calibration", "the calibration's outputs: target indicators, province-wide, monthly"),
                       ("run", "simmodel run: every indicator, yearly, province, cities and sectors")):
        print(f"  {rate[path]:.2f}  {what} (best batch; all: {', '.join(f'{x:.2f}' for x in r['rates'][path])})")
    paired = [a / b for a, b in zip(r["rates"]["run"], r["rates"]["calibration"])]
    ratio = float(np.median(paired))
    print(f"  simmodel run's rate against the calibration path's, batch pair by pair: "
          f"{', '.join(f'{x:.2f}' for x in paired)} (median {ratio:.2f}; best against best "
          f"{rate['run'] / rate['calibration']:.2f})")
    yard.append((f"runs/s per core at scale {args.calibration_scale}, calibration outputs", f"{rate['calibration']:.2f}",
                 ">= 10", rate["calibration"] >= 10))
    yard.append((f"simmodel run's rate / calibration path's (median, {n_pairs} pairs)", f"{ratio:.2f}",
                 ">= 0.9", ratio >= 0.9))
    r = child(PHASES, args.calibration_scale, 1 if args.quick else 3)
    print(f"  where a month goes at this scale ({r['agents']:,} agents, ms, fastest of the runs): "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["ms"].items(), key=lambda kv: (kv[0] == "TOTAL", -kv[1]))))
    print("  calls a month (Python and C functions as sys.setprofile sees them; array operators not counted), one run: "
          + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["calls"].items(), key=lambda kv: (kv[0] == "TOTAL", -kv[1]))))
    # what stepping replicates together (the firm axis stacked over runs) could give at most: the fixed monthly cost
    # shared, each run still pays the per-firm-month cost of a population of at least ten runs' firms
    calibration_agents = r["agents"]
    big = [b for b in rows if b["agents"] >= 10 * r["agents"]]
    if big:
        b = big[0]
        us = 1e6 * b["run_s"] / b["months"] / b["agents"]
        per_run = us * 1e-6 * r["agents"] * b["months"]
        print(f"  ceiling of stacked replicates: at the {b['agents']:,}-agent run's {us:.3f} us a firm-month, one run of "
              f"{r['agents']:,} agents costs {per_run:.2f} s even with no fixed cost: {1 / per_run:.1f} runs/s "
              f"(10 runs/s needs {1e6 / (10 * r['agents'] * b['months']):.3f} us)")

    n_one, n_two, pairs = (4, 4, 1) if args.quick else (48, 200, 3)
    print(f"\nSweep throughput at scale {args.calibration_scale} (steady state, after starting and warming "
          f"the workers): {n_one} runs in process and sweeps of {n_two} on two workers, alternating, in process "
          f"first and last, so that each sweep is compared with the in-process runs just before and after it "
          f"(the host's speed drifts by up to 40 % within minutes); the yardstick is "
          f"{'the median of the ' + str(pairs) + ' ratios' if pairs > 1 else 'that ratio'}:")
    rates = {1: [], 2: []}
    for i in range(2 * pairs + 1):
        w = 1 if i % 2 == 0 else 2
        r = child(SWEEP_THROUGHPUT, args.calibration_scale, n_one if w == 1 else n_two, w)
        print(f"  {w} worker{'s' if w > 1 else ' (in process)'}: {r['runs_per_s']:.2f} runs/s "
              f"(start-up {r['startup_s']:.1f} s)")
        rates[w].append(r["runs_per_s"])
    one = rates[1]  # each sweep against the mean of the in-process rates just before and after it
    ratios = [two / ((one[i] + one[i + 1]) / 2) for i, two in enumerate(rates[2])]
    print("  two workers against one, sweep by sweep: " + ", ".join(f"{x:.2f}x" for x in ratios))
    ratio = float(np.median(ratios))
    yard.append((f"two Dask workers / one, sweep of {n_two} (median of {pairs})", f"{ratio:.2f}x", ">= 1.8x",
                 ratio >= 1.8))
    # the machine's own ceiling for two workers: two plain processes running models side by side
    procs = [subprocess.Popen([sys.executable, "-c", RUNS_PER_SECOND, str(args.calibration_scale), str(n_runs)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    rates = [json.loads(p.communicate()[0].strip().splitlines()[-1])["runs_per_s"] for p in procs]
    print(f"  two plain processes side by side (no Dask: what this machine allows two workers): "
          f"{sum(rates):.2f} runs/s")

    out = subprocess.run([sys.executable, "-m", "benchmarks.viz_frames", "--steps", "6" if args.quick else "24"],
                         capture_output=True, text=True, check=True)
    print("\n" + out.stdout.strip().splitlines()[-1])

    if args.plot:
        plot(rows, Path(args.plot), calibration_agents)
        print(f"\nscaling plot: {args.plot}")
    print("\nIssue #20's yardsticks on this machine:")
    for what, measured, target, met in yard:
        print(f"  {what:<58} {measured:>8}  target {target:<20} {'met' if met else 'MISSED'}")
    return 0


def plot(rows: list[dict], path: Path, calibration_agents: int | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = np.array([r["agents"] for r in rows], float)
    t = np.array([r["run_s"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.loglog(n, t, "o-", label="vectorised model, 2013-2020")
    ax.loglog(n, t[-1] * n / n[-1], "--", color="grey", label="linear in firms")
    ax.axhline(10, color="tab:red", lw=0.8, ls=":", label="10 s target (full province)")
    if calibration_agents:  # issue #20: ten runs a second at calibration scale, i.e. 0.1 s a run
        ax.plot([calibration_agents], [0.1], "*", color="tab:red", ms=10, ls="none",
                label=f"0.1 s target at calibration scale ({calibration_agents:,} agents)")
    ax.set_xlabel("firm agents")
    ax.set_ylabel("run time, s")
    ax.set_title(f"Scaling ({time.strftime('%Y-%m-%d')}, this machine)")
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
