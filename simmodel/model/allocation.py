"""Handing out what is scarce: one home for the allocation rules every submodel uses.

Nothing scarce is served in the order of the firm arrays (docs/ODD.md, "Allocation"): queues are
ordered by arrival, ties broken by each firm's seeded random priority, or by a documented ranking;
budgets are then paid down that order.
"""

from __future__ import annotations

import functools

import numpy as np

from .econ import clamp


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


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix(keys: np.ndarray, event: int) -> np.ndarray:
    """uint64 splitmix64 finaliser of (key + event x golden ratio): a new independent-looking key per
    (firm key, event). Array arithmetic on uint64 wraps silently; the one scalar product is taken
    modulo 2^64 in Python (no np.errstate: it cost more than the hash on a month's few claimants)."""
    z = keys + np.uint64((event * int(_GOLDEN)) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def tie_break(keys: np.ndarray, event: int) -> np.ndarray:
    """A fresh random priority in [0, 1) for each claimant of allocation ``event`` (an integer naming
    the instrument and month), from each firm's fixed random key.

    The top 53 bits of mix(key, event): a different, independent-looking order for every event, the
    same for every run of the same seed (common random numbers), and costing nothing for firms that do
    not claim. Nothing then depends on where a firm sits in the arrays."""
    return (mix(keys, event) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def event_id(instrument: str, month: int) -> int:
    """The allocation event of ``instrument`` in ``month`` (for tie_break)."""
    return _instrument_code(instrument) * 10_000 + month + 1


@functools.cache
def _instrument_code(instrument: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(instrument)) % 65_521


def random_order(keys: np.ndarray, instrument: str, month: int) -> np.ndarray:
    """Positions of claimants that arrive together, in a seeded random order (see tie_break)."""
    return np.argsort(tie_break(keys, event_id(instrument, month)), kind="stable")


def take_within(amounts: np.ndarray, available: float, draw: float) -> np.ndarray:
    """Which claimants (in the order given) a capacity of ``available`` serves, in real firms: those
    that fit in full, and the one that straddles the limit with probability equal to the share of it
    that fits (``draw`` uniform in [0, 1)), so the expected amount served equals the capacity at any
    agent weight (an agent stands for several firms)."""
    end = amounts.cumsum()
    take = end <= available
    straddle = (~take).nonzero()[0][:1]
    if straddle.size:
        i = straddle[0]
        start = end[i] - amounts[i]
        if start < available:
            take[i] = draw < (available - start) / amounts[i]
    return take


def pay_in_order(claims: np.ndarray, available: float) -> np.ndarray:
    """Pay ``claims`` (yuan, in the order given) from ``available`` yuan: in full until the money runs
    out, then the claim that finds it nearly empty gets what is left, the rest nothing."""
    if claims.size == 0:
        return claims.copy()
    before = claims.cumsum() - claims
    return clamp(available - before, 0.0, claims)


__all__ = ["largest_remainder", "mix", "tie_break", "event_id", "random_order", "take_within", "pay_in_order"]
