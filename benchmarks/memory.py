"""Memory over many runs: a Dask worker's resident memory after each run, and the estimate
``simmodel`` prints before a job against what the job really used.

    python -m benchmarks.memory [--quick]

Prints a table: for scale 0.1 (50 runs) and 1.0 (10 runs), the worker's RSS after the first run,
after the fifth and after the last, and the largest; then, for a few jobs run through the CLI, the
estimate of runs/memory.py against the peak RSS of the job's process tree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WORKER = r"""
import json, sys
import psutil
from simmodel.params import Params
from simmodel.runs.executor import DaskExecutor, Task
if __name__ == "__main__":
    scale, n = float(sys.argv[1]), int(sys.argv[2])
    p = Params().replace({"run.scale": scale})
    rss = []
    with DaskExecutor(workers=1, in_flight_per_worker=1) as ex:
        for i in range(n):
            list(ex.map([Task(f"s{i}", p, i + 1)]))
            rss.append(max(ex.client.run(lambda: psutil.Process().memory_info().rss).values()) / 2**20)
    print(json.dumps({"rss": rss}))
"""


def worker_rss(scale: float, n: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", WORKER, str(scale), str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss"]


def job_peak(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB of the job's process tree, wall seconds) of a `simmodel` command."""
    import psutil

    p = subprocess.Popen([sys.executable, "-m", "simmodel", *args, "--quiet"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    proc, peak, t0 = psutil.Process(p.pid), 0.0, time.perf_counter()
    while p.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(q.memory_info().rss for q in tree if q.is_running()) / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.05)
    return peak, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    plan = [(0.02, 10), (0.1, 10)] if args.quick else [(0.1, 50), (1.0, 10)]
    print("Resident memory of one Dask worker over consecutive runs (MB):")
    print(f"{'scale':>6} {'runs':>5} {'after 1':>8} {'after 5':>8} {'after last':>11} {'largest':>8}")
    for scale, n in plan:
        rss = worker_rss(scale, n)
        print(f"{scale:>6} {n:>5} {rss[0]:>8.0f} {rss[min(4, n - 1)]:>8.0f} {rss[-1]:>11.0f} {max(rss):>8.0f}")

    import tempfile

    from simmodel.analysis import scenarios
    from simmodel.runs import memory

    jobs = [(0.05, 4, 2), (0.2, 4, 2)] if args.quick else [(0.05, 8, 2), (0.3, 4, 2), (1.0, 4, 2), (1.0, 2, 1)]
    print("\nThe estimate printed before a job against its peak (process tree, MB):")
    print(f"{'scale':>6} {'seeds':>6} {'workers':>8} {'estimate':>9} {'peak':>7} {'seconds':>8}")
    base = scenarios.load("baseline").params
    with tempfile.TemporaryDirectory() as tmp:
        for k, (scale, seeds, workers) in enumerate(jobs):
            est = memory.job_mb(base.replace({"run.scale": scale}), seeds, workers)
            peak, secs = job_peak(["run", "--scale", str(scale), "--seeds", str(seeds), "--workers", str(workers),
                                   "--out", f"{tmp}/r{k}"])
            print(f"{scale:>6} {seeds:>6} {workers:>8} {est:>9.0f} {peak:>7.0f} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
