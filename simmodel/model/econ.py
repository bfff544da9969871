"""Small economic formulas shared by submodels: the logistic choice rule and annuities."""

from __future__ import annotations

import numpy as np
from numba import njit

from . import libm



@njit(inline="always")
def fmax(a, b):
    """``np.maximum`` of two numbers inside compiled kernels, to the bit: NaN propagates, and of two equal
    numbers (0.0 and -0.0) it is the second, as numpy gives."""
    return a if a > b or a != a else b


@njit(inline="always")
def fmin(a, b):
    """``np.minimum`` of two numbers inside compiled kernels, to the bit (see :func:`fmax`)."""
    return a if a < b or a != a else b


def clamp(x, lo, hi):
    """``np.clip(x, lo, hi)`` for lo <= hi, NaN kept, without np.clip's layers of Python wrappers (about
    2 us a call, two dozen calls a month on small arrays: benchmarks, docs/performance.md)."""
    return np.minimum(np.maximum(x, lo), hi)


def logistic(z):
    """1 / (1 + e^-z), the index clipped to +-50 so that extreme values never overflow."""
    return 1.0 / (1.0 + libm.exp(-clamp(z, -50, 50)))


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 yuan a year for ``years`` years at ``rate``."""
    return years if rate == 0 else (1 - (1 + rate) ** -years) / rate


def annuity_payment(principal: np.ndarray, annual_rate: np.ndarray | float, years: int) -> np.ndarray:
    """Monthly payment that repays ``principal`` over ``years`` at ``annual_rate``."""
    r = np.asarray(annual_rate, dtype=float) / 12.0
    n = 12 * years
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, principal * r / (1.0 - libm.power(1.0 + r, -n)), principal / n)


def normal_partial_expectation(mean, sd):
    """E[max(X, 0)] for X ~ Normal(mean, sd^2) (max(mean, 0) where sd = 0)."""
    from scipy.special import ndtr

    mean, sd = np.asarray(mean, float), np.asarray(sd, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, mean / sd, np.sign(mean) * np.inf)
    density = libm.exp(-0.5 * np.minimum(z * z, 1e4)) / np.sqrt(2.0 * np.pi)
    return np.where(sd > 0, mean * ndtr(z) + sd * density, np.maximum(mean, 0.0))


def clipped_shortfall(mean, sd):
    """E[clip(1 - R, 0, 1)] for R ~ Normal(mean, sd^2): the expected shortfall of a gain ratio below 1,
    at most the whole (what a lessor carrying the shortfall expects to give up, per yuan)."""
    return normal_partial_expectation(1.0 - mean, sd) - normal_partial_expectation(-mean, sd)


def pv_of_payments(rate, years: int, own_rate: float):
    """Present value at ``own_rate`` of the monthly payments that repay 1 yuan at ``rate`` over ``years``."""
    pay = annuity_payment(1.0, rate, years)
    r = own_rate / 12.0
    n = 12 * years
    return pay * ((1.0 - (1.0 + r) ** -n) / r if r > 0 else n)


__all__ = ["logistic", "annuity_factor", "annuity_payment", "normal_partial_expectation", "clipped_shortfall",
           "pv_of_payments"]
