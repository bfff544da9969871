"""The model's compiled kernels: time a month in each, and whether LLVM vectorised its arithmetic.

    python -m benchmarks.kernels [--scale 0.2] [--top 20]

Every numba kernel of simmodel.model that Python code calls is timed at its call over one run of the
baseline (2013-2020, seed 1, after a warm-up run in the same process; kernels called only from other
kernels are counted in their caller). Each is then compiled afresh for the signature the run used, and its
assembly is searched for packed arithmetic on ymm/zmm registers (add, sub, mul, div, min, max: the loop
was vectorised) against scalar arithmetic. A table lookup in a loop's arithmetic (``t[key[i]]``) keeps
LLVM from vectorising it: docs/performance.md, nineteenth session.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import pkgutil
import re
import time

from numba import njit
from numba.core.registry import CPUDispatcher

PACKED = re.compile(r"\bv(add|sub|mul|div|max|min)p[sd]\s+%[yz]mm")
SCALAR = re.compile(r"\bv(add|sub|mul|div)s[sd]\b")


def kernels() -> list[tuple[object, str, CPUDispatcher]]:
    """(module, name, dispatcher) of every kernel defined in simmodel.model and its subpackages."""
    import simmodel.model as pkg

    mods = [pkg] + [importlib.import_module(i.name) for i in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return [(mod, name, obj) for mod in mods for name, obj in vars(mod).items()
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__]


def arithmetic(disp: CPUDispatcher) -> tuple[int, int] | None:
    """(packed, scalar) arithmetic instructions in a fresh compilation of ``disp`` for its first signature."""
    if not disp.signatures:
        return None
    opts = {k: v for k, v in disp.targetoptions.items() if k in ("nogil", "error_model", "fastmath", "boundscheck")}
    fresh = njit(**opts)(disp.py_func)  # a cached dispatcher cannot show its assembly
    sig = disp.signatures[0]
    fresh.compile(sig)
    asm = fresh.inspect_asm(sig)
    return len(PACKED.findall(asm)), len(SCALAR.findall(asm))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--top", type=int, default=25, help="kernels listed (the most expensive first)")
    args = ap.parse_args(argv)

    from simmodel.analysis.scenarios import baseline
    from simmodel.runs.runner import simulate

    spent, calls = collections.Counter(), collections.Counter()
    found = kernels()
    for mod, name, disp in found:  # Python callers look the kernel up in their module at each call
        def timed(*a, _disp=disp, _key=(mod.__name__, name)):
            t0 = time.perf_counter()
            out = _disp(*a)
            spent[_key] += time.perf_counter() - t0
            calls[_key] += 1
            return out
        setattr(mod, name, timed)
    p = baseline().params.replace({"run.scale": args.scale})
    for seed in (0, 1000):  # warm: imports, the kernels' cache, and the process's memory: two models released, so
        simulate(p, seed).release()  # the timed run's cubes reuse touched memory, as a sweep's runs do (a fresh
    # model's first writes into its cubes fault pages, which would be timed as the recorder's kernels)
    spent.clear()
    calls.clear()
    t0 = time.perf_counter()
    model = simulate(p, 1)
    months = model.month + 1
    total = time.perf_counter() - t0
    for mod, name, disp in found:
        setattr(mod, name, disp)
    print(f"Compiled kernels at scale {args.scale} ({model.firms.n:,} agents), one run of {months} months: "
          f"{1e3 * sum(spent.values()) / months:.2f} of {1e3 * total / months:.2f} ms a month in kernels called from "
          f"Python")
    print(f"{'ms a month':>11} {'calls':>6} {'packed':>7} {'scalar':>7}  kernel")
    by_key = {(mod.__name__, name): disp for mod, name, disp in found}
    for key, sec in spent.most_common(args.top):
        ar = arithmetic(by_key[key])
        packed, scalar = ar if ar else ("-", "-")
        print(f"{1e3 * sec / months:>11.3f} {calls[key] / months:>6.1f} {packed:>7} {scalar:>7}  "
              f"{key[0].removeprefix('simmodel.model.')}.{key[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
