"""Small economic formulas shared by submodels: the logistic choice rule and annuities."""

from __future__ import annotations

import numpy as np


def logistic(z):
    """1 / (1 + e^-z), the index clipped to +-50 so that extreme values never overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 yuan a year for ``years`` years at ``rate``."""
    return years if rate == 0 else (1 - (1 + rate) ** -years) / rate


def annuity_payment(principal: np.ndarray, annual_rate: np.ndarray | float, years: int) -> np.ndarray:
    """Monthly payment that repays ``principal`` over ``years`` at ``annual_rate``."""
    r = np.asarray(annual_rate, dtype=float) / 12.0
    n = 12 * years
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, principal * r / (1.0 - (1.0 + r) ** -n), principal / n)


__all__ = ["logistic", "annuity_factor", "annuity_payment"]
