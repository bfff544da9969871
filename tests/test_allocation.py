"""The two rules that hand out a capacity or a budget down a queue (allocation.py), against their
definitions written out claimant by claimant in plain Python: who is served, the one claimant that
straddles the limit, the yuan paid, to the bit. The providers' matching, the diagnoses, the pilots
and every budget call these rules."""

from __future__ import annotations

import numpy as np
import pytest

from simmodel.model.allocation import pay_in_order, take_within


def _queue(seed: int, n: int = 60) -> np.ndarray:
    """Claims in arrival order like the agents' (a few real firms each, not integers); some repeat,
    so that running totals land exactly on a capacity."""
    rng = np.random.default_rng(seed)
    return rng.choice([1.0, 2.5, 37.25, 0.1], n) * rng.choice([1.0, 1.0, 3.0 + rng.random()], n)


def _capacities(amounts: np.ndarray, seed: int) -> list[float]:
    """Nothing, less than nothing, an exact running total (the second claimant fits to the yuan), part
    of the queue, and more than all of it."""
    rng = np.random.default_rng(seed + 100)
    total = float(amounts.sum())
    return [0.0, -1.0, float(amounts[0] + amounts[1]), *(rng.random(5) * total).tolist(), total + 1.0]


def _served(amounts: list[float], available: float, draw: float) -> list[bool]:
    """Those that fit in full; the first that does not is served with probability (what is left) / (its
    amount); none after it."""
    served, used, straddled = [], 0.0, False
    for a in amounts:
        used += a
        start = used - a  # what was used before it, as the rule computes it (the running total less it)
        if used <= available:
            served.append(True)
        elif not straddled:
            straddled = True
            served.append(start < available and draw < (available - start) / a)
        else:
            served.append(False)
    return served


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_capacity_serves_the_queue_in_order_and_the_straddler_by_its_share(seed):
    amounts = _queue(seed)
    draws = np.random.default_rng(seed + 200).random(len(_capacities(amounts, seed)))
    for available, draw in zip(_capacities(amounts, seed), draws):
        take = take_within(amounts, available, draw)
        assert take.tolist() == _served(amounts.tolist(), available, float(draw)), available
    assert take_within(amounts, float(amounts[0] + amounts[1]), 0.999)[:2].all()  # an exact fit is served
    assert not take_within(amounts, 0.0, 0.0).any() and take_within(amounts, float(amounts.sum()) + 1, 0.999).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_budget_pays_the_queue_in_order_until_it_is_empty(seed):
    amounts = _queue(seed)
    for available in _capacities(amounts, seed):
        paid = pay_in_order(amounts, available)
        used = 0.0
        for i, a in enumerate(amounts.tolist()):
            used += a
            assert paid[i] == min(max(available - (used - a), 0.0), a), (available, i)
        assert paid.sum() <= max(available, 0.0) * (1 + 1e-12)
