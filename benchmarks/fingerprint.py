"""Fingerprints of whole runs, to check that a change meant to be faster leaves every output bit as it was.

    python -m benchmarks.fingerprint --save before.json     (on the commit before the change)
    python -m benchmarks.fingerprint --check before.json    (after it: exit 1 and the runs that differ)

A run's fingerprint is the SHA-256 of every cube of its recorder (stocks, flows, scalars: everything any
output is computed from), of every firm array at the end of the run and of the lenders' books. The runs:
the calibrated baseline on seeds 1-3 at scale 0.02, seed 1 at scale 0.1 and seed 2 at 0.3, and every other
shipped scenario on seed 1 at 0.02 (22 runs, about 20 s here; ``--quick``: the three baseline seeds at
0.005). These are the "22 fingerprinted runs" of docs/performance.md. A fingerprint holds for one numpy
version and C library. Since the model takes its elementary functions from the C library on every machine
(simmodel/model/libm.py), it holds across x86-64 CPUs with and without AVX-512: to check a change on both, run
``--check`` a second time with NPY_DISABLE_CPU_FEATURES="AVX512_SPR AVX512_ICL X86_V4" (numpy reads it at import).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import fields


def runs(quick: bool) -> list[tuple[str, int, float]]:
    """(scenario, seed, scale) of every fingerprinted run."""
    from simmodel.analysis.scenarios import available

    if quick:
        return [("baseline", s, 0.005) for s in (1, 2, 3)]
    others = sorted(n for n in available() if n != "baseline")
    return ([("baseline", s, 0.02) for s in (1, 2, 3)] + [("baseline", 1, 0.1), ("baseline", 2, 0.3)]
            + [(n, 1, 0.02) for n in others])


def fingerprint(name: str, seed: int, scale: float) -> str:
    """SHA-256 of run (name, seed, scale)'s recorder cubes and final firm arrays."""
    import numpy as np

    from simmodel.model import TransformationModel

    m = TransformationModel.from_scenario(name, seed=seed, scale=scale)
    m.collect_headline = False
    m.run()
    h = hashlib.sha256()
    for cube in (m.recorder.stocks, m.recorder.flows, m.recorder.scalars):
        h.update(np.ascontiguousarray(cube).tobytes())
    for field in fields(m.firms):
        v = getattr(m.firms, field.name)
        if isinstance(v, np.ndarray):
            h.update(field.name.encode())
            h.update(np.ascontiguousarray(v).tobytes())
    h.update(repr(books(m)).encode())
    m.release()
    return h.hexdigest()


def books(m) -> list:
    """The institutions' books at the end of a run: the bank's and the lessors' totals (not in the recorder,
    but the engineering lessors' capital feeds their lending, and the accounting tests read them)."""
    bank = m.bank
    return [bank.lent_total, bank.repaid_total, bank.written_off_total, bank.interest_total, bank.loans_outstanding,
            bank.tightening, m.leasing.capital, m.leasing.engineering_income, sorted(m.leasing.volume_left.items()),
            sorted((k, sorted(b.items())) for k, b in m.leasing.books.items())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", metavar="FILE", help="write the fingerprints to FILE (JSON)")
    what.add_argument("--check", metavar="FILE", help="compare with the fingerprints in FILE")
    ap.add_argument("--quick", action="store_true", help="three small runs only")
    a = ap.parse_args(argv)
    if a.check:
        try:
            with open(a.check) as fh:
                before = json.load(fh)
        except (OSError, ValueError) as e:
            print(f"fingerprint: --check {a.check!r}: cannot read a fingerprint file ({e})", file=sys.stderr)
            return 2
    if a.save:  # a path that cannot be written fails before the runs, not after them
        import os
        from pathlib import Path

        where = Path(a.save).resolve().parent
        while not where.exists():
            where = where.parent
        if not os.access(where, os.W_OK) or Path(a.save).is_dir():
            print(f"fingerprint: --save {a.save!r}: cannot write there", file=sys.stderr)
            return 2
    t0, now = time.perf_counter(), {}
    todo = runs(a.quick)
    for i, (name, seed, scale) in enumerate(todo, 1):
        now[f"{name}/seed {seed}/scale {scale}"] = fingerprint(name, seed, scale)
        print(f"\r{i}/{len(todo)} runs", end="", file=sys.stderr, flush=True)
    print(f"\r{len(todo)} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if a.save:
        from pathlib import Path

        from simmodel.runs.store import atomic_open

        try:
            with atomic_open(Path(a.save)) as fh:
                fh.write(json.dumps(now, indent=1) + "\n")
        except OSError as e:
            print(f"fingerprint: --save {a.save!r}: cannot write ({e})", file=sys.stderr)
            return 2
        print(f"fingerprints of {len(now)} runs written to {a.save}")
        return 0
    differ = sorted(k for k in now if before.get(k) != now[k])
    missing = sorted(set(before) - set(now))
    for k in differ:
        print(f"DIFFERS  {k}" if k in before else f"NEW      {k}")
    for k in missing:
        print(f"MISSING  {k}")
    if differ or missing:
        return 1
    print(f"all {len(now)} runs identical to {a.check}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
