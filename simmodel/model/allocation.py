"""Handing out what is scarce: one home for the allocation rules every submodel uses.

Nothing scarce is served in the order of the firm arrays (docs/ODD.md, "Allocation"): queues are
ordered by arrival, ties broken by each firm's seeded random priority, or by a documented ranking;
budgets are then paid down that order.
"""

from __future__ import annotations

import numpy as np


def largest_remainder(expected: np.ndarray, total: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Integers summing to ``total`` close to ``expected`` (any shape), by largest remainder.

    Ties between equal remainders are broken at random with ``rng``, or by position without one
    (for fixed tables such as providers per sector, where no stream should be spent).
    """
    expected = np.asarray(expected, float)
    expected = expected * (total / expected.sum())
    base = np.floor(expected).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        rem = expected - base
        if rng is not None:
            rem = rem + rng.random(expected.shape) * 1e-9
        base.flat[np.argsort(-rem, axis=None, kind="stable")[:short]] += 1
    return base


def arrival_order(arrived: np.ndarray, priority: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted by arrival (earliest first), ties by the seeded random ``priority``; entries
    with ``first`` set (an explicit ranking, e.g. pilots) go ahead of the rest."""
    keys = (priority, arrived) if first is None else (priority, arrived, ~first)
    return np.lexsort(keys)


def random_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded random order of ``n`` claimants (for claims that arrive together)."""
    return rng.permutation(n)


def pay_in_order(claims: np.ndarray, available: float) -> np.ndarray:
    """Pay ``claims`` (yuan, in the order given) from ``available`` yuan: in full until the money runs
    out, then the claim that finds it nearly empty gets what is left, the rest nothing."""
    if claims.size == 0:
        return claims.copy()
    before = np.cumsum(claims) - claims
    return np.clip(available - before, 0.0, claims)


__all__ = ["largest_remainder", "arrival_order", "random_order", "pay_in_order"]
