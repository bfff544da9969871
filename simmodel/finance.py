"""Finding the money for a project (docs/ODD.md submodel "Finance").

Firms try their own cash first. Whatever finance is found, a project may be scaled down to it, but
not below ``decision.min_finance_fraction`` of its full size: below that the firm gives up.
Bank loans and the three leasing models are further routes, tried in order (see institutions/bank.py).
"""

from __future__ import annotations

import numpy as np


def scale_to_funds(need: np.ndarray, funds: np.ndarray, min_fraction: float) -> np.ndarray:
    """Share of each project that ``funds`` (yuan) can pay for: 1, a part >= min_fraction, or 0."""
    share = np.minimum(np.maximum(funds, 0.0) / np.maximum(need, 1e-9), 1.0)
    return np.where(share >= min_fraction, share, 0.0)
