"""Time and peak memory of a full 2013-2020 run at several scales, each in a fresh process.

    python -m benchmarks.scaling [--scales 0.05 0.25 1.0] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
from simmodel.model import TransformationModel
scale = float(sys.argv[1])
t0 = time.perf_counter()
m = TransformationModel(seed=1, scale=scale)
t1 = time.perf_counter()
m.run()
t2 = time.perf_counter()
print(json.dumps({"agents": m.firms.n, "months": m.month + 1, "build_s": t1 - t0, "run_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(scale: float) -> dict:
    """One full run in a fresh interpreter (so peak memory is this run's alone)."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(scale)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.25, 1.0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per scale; the fastest is reported")
    args = ap.parse_args(argv)
    print(f"{'scale':>6} {'agents':>9} {'build s':>8} {'run s':>7} {'ms/month':>9} {'peak MB':>8}")
    for scale in args.scales:
        best = min((measure(scale) for _ in range(args.repeat)), key=lambda r: r["run_s"])
        print(f"{scale:>6} {best['agents']:>9,} {best['build_s']:>8.2f} {best['run_s']:>7.2f} "
              f"{1e3 * best['run_s'] / best['months']:>9.1f} {best['peak_mb']:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
