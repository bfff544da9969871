"""Small economic formulas shared by submodels: the logistic choice rule, annuities and the normal partial
expectation. A rule that compiled kernels also need is written once, as a scalar compiled function (its home),
and its array form runs it over the array in a compiled loop."""

from __future__ import annotations

import math

import llvmlite.binding as _llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address, overload


# scipy's ndtr, the very function scipy.special.ndtr computes with, callable from compiled kernels: registered
# under a name of its own so that cached kernels find it in every process (0 differences from
# scipy.special.ndtr, tests/test_determinism.py)
_llvm.add_symbol("simmodel_scipy_ndtr",
                 get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1ndtr"))
_scipy_ndtr = types.ExternalFunction("simmodel_scipy_ndtr", types.float64(types.float64, types.int32))
_SQRT_2PI = math.sqrt(2.0 * math.pi)


@njit(inline="always")
def fmax(a, b):
    """``np.maximum`` of two numbers inside compiled kernels, to the bit: NaN propagates, and of two equal
    numbers (0.0 and -0.0) it is the second, as numpy gives."""
    return a if a > b or a != a else b


@njit(inline="always")
def fmin(a, b):
    """``np.minimum`` of two numbers inside compiled kernels, to the bit (see :func:`fmax`)."""
    return a if a < b or a != a else b


@njit(cache=True, nogil=True)
def _block_sum(a, lo, n):
    """numpy's pairwise sum of a[lo:lo + n] for n <= 128: in order below 8 terms, else eight interleaved running
    sums combined as a tree, then the rest in order."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r = a[lo:lo + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def array_sum(a):
    """``a.sum()`` of a contiguous 1-d float64 array inside compiled kernels, to the bit: numpy's pairwise
    summation, which splits a range of more than 128 terms in two (at a multiple of 8) and adds the halves' sums.
    A loop adding in order rounds otherwise once a sum has eight or more terms. The halving is walked with an
    explicit stack: numba's cache cannot load a recursive function (it crashed the process)."""
    lo_, n_, phase, left = np.zeros(64, np.int64), np.zeros(64, np.int64), np.zeros(64, np.int64), np.zeros(64)
    top, ret = 0, 0.0
    n_[0] = a.size
    while top >= 0:
        lo, n = lo_[top], n_[top]
        if n <= 128:
            ret = _block_sum(a, lo, n)
            top -= 1
            continue
        half = n // 2
        half -= half % 8
        if phase[top] == 0:  # the first half first
            phase[top] = 1
            top += 1
            lo_[top], n_[top], phase[top] = lo, half, 0
        elif phase[top] == 1:  # then the second
            left[top], phase[top] = ret, 2
            top += 1
            lo_[top], n_[top], phase[top] = lo + half, n - half, 0
        else:
            ret = left[top] + ret
            top -= 1
    return 0.0 + ret  # numpy adds the pairwise sum to the reduction's start, 0.0: a sum of -0.0 terms is 0.0


def like(x, y):
    """``x`` (a Python number) as numpy takes it in arithmetic with ``y``: in float32 if ``y`` is a float32, else
    as it is (NEP 50). For compiled rules that read float32 arrays (margins, exposure): numba would compute
    ``x * y`` in float64."""
    return np.float32(x) if isinstance(y, np.float32) else x


@overload(like)
def _like(x, y):
    if isinstance(y, types.Float) and y.bitwidth == 32:
        return lambda x, y: np.float32(x)
    return lambda x, y: x


def clamp(x, lo, hi):
    """``np.clip(x, lo, hi)`` for lo <= hi, NaN kept, without np.clip's layers of Python wrappers (about
    2 us a call, two dozen calls a month on small arrays: benchmarks, docs/performance.md)."""
    return np.minimum(np.maximum(x, lo), hi)


def elementwise(kernel, *args, extra: tuple = ()) -> np.ndarray:
    """Run a compiled ``kernel(*arrays, *extra, out)`` over ``args`` (arrays of one shape, or numbers, broadcast
    if not; floats as they are, other numbers as float64) into a new float64 array of their shape: the array
    form of a scalar rule."""
    arrays = [np.asarray(a) for a in args]
    arrays = [a if a.dtype.kind == "f" else a.astype(np.float64) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        shape = np.broadcast_shapes(*shapes)
        arrays = [a if a.shape == shape else np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(arrays[0].shape)
    kernel(*(a.reshape(-1) for a in arrays), *extra, out.reshape(-1))
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def logistic_of(z):
    """1 / (1 + e^-z), the index clipped to +-50 so that extreme values never overflow (one number)."""
    return 1.0 / (1.0 + math.exp(-fmin(fmax(z, -50.0), 50.0)))


@njit(cache=True, nogil=True, error_model="numpy")
def _logistic_kernel(z, out):
    for i in range(out.size):
        out[i] = logistic_of(z[i])


def logistic(z):
    """:func:`logistic_of` of every element of ``z``."""
    return elementwise(_logistic_kernel, z)


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 yuan a year for ``years`` years at ``rate``."""
    return years if rate == 0 else (1 - (1 + rate) ** -years) / rate


@njit(cache=True, nogil=True, error_model="numpy")
def payment_of(principal, annual_rate, years):
    """Monthly payment that repays ``principal`` over ``years`` at ``annual_rate`` (one loan). The power's
    exponent is a float: numba raises a number to an integer power by repeated multiplication, the C library's
    pow (numpy's, and the bits until now) rounds otherwise."""
    r = annual_rate / 12.0
    n = 12 * years
    if r > 0:
        return principal * r / (1.0 - (1.0 + r) ** float(-n))
    return principal / n


@njit(cache=True, nogil=True, error_model="numpy")
def _payment_kernel(principal, annual_rate, years, out):
    for i in range(out.size):
        out[i] = payment_of(principal[i], annual_rate[i], years)


def annuity_payment(principal, annual_rate, years: int) -> np.ndarray:
    """:func:`payment_of` of each principal and rate."""
    return elementwise(_payment_kernel, principal, annual_rate, extra=(int(years),))


@njit(cache=True, nogil=True, error_model="numpy")
def partial_expectation(mean, sd):
    """E[max(X, 0)] for X ~ Normal(mean, sd^2) (max(mean, 0) where sd = 0), of one mean and sd."""
    if sd > 0:
        z = mean / sd
        return mean * _scipy_ndtr(z, 0) + sd * (math.exp(-0.5 * fmin(z * z, 1e4)) / _SQRT_2PI)
    return fmax(mean, 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def shortfall_of(mean, sd):
    """E[clip(1 - R, 0, 1)] for R ~ Normal(mean, sd^2): the expected shortfall of a gain ratio below 1,
    at most the whole (what a lessor carrying the shortfall expects to give up, per yuan)."""
    return partial_expectation(1.0 - mean, sd) - partial_expectation(-mean, sd)


@njit(cache=True, nogil=True, error_model="numpy")
def payments_pv_of(rate, years, own_rate):
    """Present value at ``own_rate`` of the monthly payments that repay 1 yuan at ``rate`` over ``years``."""
    r = own_rate / 12.0
    n = 12 * years
    return payment_of(1.0, rate, years) * ((1.0 - (1.0 + r) ** float(-n)) / r if r > 0 else float(n))


__all__ = ["array_sum", "like", "elementwise", "logistic", "logistic_of", "annuity_factor", "payment_of", "annuity_payment",
           "partial_expectation", "shortfall_of", "payments_pv_of"]
