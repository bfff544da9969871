"""The elementary functions every result is computed with: the C library's, on every machine.

numpy computes exp, log, log1p, expm1 and power with its own AVX-512 code where the CPU has AVX-512, and with
the C library's functions where it has not. The two round differently in 3-9 % of arguments (exp, log1p, expm1,
power; 200,000 normal arguments, docs/performance.md), so until 2026-12-05 a run's bits depended on the CPU:
every one of the 22 fingerprinted runs differed between this machine with and without numpy's AVX-512 paths. These
ufuncs call the C library's functions (compiled by numba, whose math calls are the C library's, as Python's
``math`` module's are) whatever the CPU: the bits are those numpy gives on a machine without AVX-512, and the
same on one with it (float64; a float32 array is computed in float64). The model and its indicators use
``exp``, ``log``, ``log1p``, ``expm1`` and ``power`` from here for every array; Python floats keep ``math`` and
``**``, which are the C library's already. ``x ** 2``, square roots and arithmetic are exact in every path and
stay numpy's.

Intel's SVML, which numba uses for loops of these functions if it finds it, rounds otherwise: importing this
module fails if numba would use it (simmodel's ``__init__`` turns it off before numba is first imported).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import float64, vectorize

if numba.config.USING_SVML:  # pragma: no cover - depends on what else is installed
    raise ImportError("numba uses Intel SVML, whose exp and log round differently from the C library's: set "
                      "NUMBA_DISABLE_INTEL_SVML=1 before numba is imported (simmodel does, if imported first)")

_UNARY = [float64(float64)]  # the model's arrays here are float64; a float32 array is computed in float64
_COMPILED = []  # numba's wrappers, kept alive: the plain ufuncs use their compiled loops


def _exp(x):
    return np.exp(x)


def _log(x):
    return np.log(x)


def _log1p(x):
    return np.log1p(x)


def _expm1(x):
    return np.expm1(x)


def _power(x, y):
    return x ** y  # numpy's x ** 2 is square and stays numpy's


_DEFINED = {"exp": (_exp, _UNARY), "log": (_log, _UNARY), "log1p": (_log1p, _UNARY), "expm1": (_expm1, _UNARY),
            "power": (_power, [float64(float64, float64)])}


def __getattr__(name: str):
    """Each ufunc is built on first use (about 50 ms each: numba compiles the ufunc's loop in every process, even
    with the function itself cached), so that a process that runs no model does not wait for them. It is the
    plain numpy ufunc numba compiles: numba's DUFunc wrapper costs about 0.9 us more a call (1.3 against 0.4 us
    for numpy's exp on 140 numbers; a few hundred calls a month)."""
    if name not in _DEFINED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    fn, signatures = _DEFINED[name]
    wrapper = vectorize(signatures, cache=True)(fn)
    _COMPILED.append(wrapper)
    globals()[name] = wrapper.ufunc
    return wrapper.ufunc

