"""The elementary functions every result is computed with: the C library's, on every machine.

numpy computes exp, log, log1p, expm1 and power with its own AVX-512 code where the CPU has AVX-512, and with
the C library's functions where it has not. The two round differently in 5-14 % of arguments (measured on
200,000 normal arguments, docs/performance.md), so until 2026-12-05 a run's bits depended on the CPU: every
one of the 22 fingerprinted runs differed between this machine with and without numpy's AVX-512 paths. These
ufuncs call the C library's functions (compiled by numba, whose math calls are the C library's, as Python's
``math`` module's are) whatever the CPU: the bits are those numpy gives on a machine without AVX-512, and the
same on one with it. The model and its indicators use them for every array; Python floats keep ``math`` and
``**``, which are the C library's already. ``x ** 2``, square roots and arithmetic are exact in every path and
stay numpy's.

Intel's SVML, which numba uses for loops of these functions if it finds it, rounds otherwise: importing this
module fails if numba would use it (simmodel's ``__init__`` turns it off before numba is first imported).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import float32, float64, vectorize

if numba.config.USING_SVML:  # pragma: no cover - depends on what else is installed
    raise ImportError("numba uses Intel SVML, whose exp and log round differently from the C library's: set "
                      "NUMBA_DISABLE_INTEL_SVML=1 before numba is imported (simmodel does, if imported first)")

_UNARY = [float32(float32), float64(float64)]  # in this order: a float32 array keeps float32


@vectorize(_UNARY, cache=True)
def exp(x):
    return np.exp(x)


@vectorize(_UNARY, cache=True)
def log(x):
    return np.log(x)


@vectorize(_UNARY, cache=True)
def log1p(x):
    return np.log1p(x)


@vectorize(_UNARY, cache=True)
def expm1(x):
    return np.expm1(x)


@vectorize([float64(float64, float64)], cache=True)
def power(x, y):
    """``x ** y`` (numpy's ``x ** 2`` is ``square`` and stays numpy's)."""
    return x ** y


__all__ = ["exp", "log", "log1p", "expm1", "power"]
