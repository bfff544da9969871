"""Handing out what is scarce: one home for the allocation rules every submodel uses.

Nothing scarce is served in the order of the firm arrays (docs/ODD.md, "Allocation"): queues are
ordered by arrival, ties broken by each firm's seeded random priority, or by a documented ranking;
budgets are then paid down that order.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from .econ import fmax, fmin


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
    (firm key, event), arithmetic modulo 2^64 (one compiled pass; the scalar product taken in Python)."""
    keys = np.ascontiguousarray(keys, np.uint64)
    out = np.empty(keys.shape, np.uint64)
    _mix_into(keys.reshape(-1), event_offset(event), out.reshape(-1))
    return out


def tie_break(keys: np.ndarray, event: int) -> np.ndarray:
    """A fresh random priority in [0, 1) for each claimant of allocation ``event`` (an integer naming
    the instrument and month), from each firm's fixed random key.

    The top 53 bits of mix(key, event): a different, independent-looking order for every event, the
    same for every run of the same seed (common random numbers), and costing nothing for firms that do
    not claim. Nothing then depends on where a firm sits in the arrays."""
    keys = np.ascontiguousarray(keys, np.uint64)
    out = np.empty(keys.shape)
    _priority_into(keys.reshape(-1), event_offset(event), out.reshape(-1))
    return out


def event_offset(event: int) -> np.uint64:
    """What an allocation event adds to every firm's key before mixing (event x the golden ratio, modulo 2^64)."""
    return np.uint64((event * int(_GOLDEN)) % 2**64)


@njit(inline="always")
def _splitmix(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _mix_into(keys, offset, out):
    for i in range(keys.size):
        out[i] = _splitmix(keys[i] + offset)


@njit(inline="always")
def priority_of(key, offset):
    """One firm's priority in an allocation event (tie_break), for compiled kernels: ``offset`` is the event's
    (event_offset)."""
    return np.float64(_splitmix(key + offset) >> np.uint64(11)) * (1.0 / 2**53)


@njit(cache=True, nogil=True)
def _priority_into(keys, offset, out):
    for i in range(keys.size):
        out[i] = priority_of(keys[i], offset)


def event_id(instrument: str, month: int) -> int:
    """The allocation event of ``instrument`` in ``month`` (for tie_break)."""
    return _instrument_code(instrument) * 10_000 + month + 1


@functools.cache
def _instrument_code(instrument: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(instrument)) % 65_521


def random_order(keys: np.ndarray, instrument: str, month: int) -> np.ndarray:
    """Positions of claimants that arrive together, in a seeded random order (see tie_break)."""
    return np.argsort(tie_break(keys, event_id(instrument, month)), kind="stable")


@njit(cache=True, nogil=True)
def take_within(amounts: np.ndarray, available: float, draw: float) -> np.ndarray:
    """Which claimants (in the order given) a capacity of ``available`` serves, in real firms: those
    that fit in full, and the one that straddles the limit with probability equal to the share of it
    that fits (``draw`` uniform in [0, 1)), so the expected amount served equals the capacity at any
    agent weight (an agent stands for several firms). One compiled pass (the providers' matching calls
    it inside its own): the running total is numpy's cumsum, added in order."""
    take = np.zeros(amounts.size, np.bool_)
    end, straddled = 0.0, False
    for i in range(amounts.size):
        end += amounts[i]
        if end <= available:
            take[i] = True
        elif not straddled:  # the first that does not fit
            straddled = True
            start = end - amounts[i]
            if start < available:
                take[i] = draw < (available - start) / amounts[i]
    return take


def weighted_sample(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """``size`` distinct indices drawn with probabilities ``p`` (summing to 1): numpy's
    ``rng.choice(len(p), size, replace=False, p=p)``, the same indices from the same draws of ``rng`` (its rounds:
    draw what is missing, zero the indices found, invert the normalised cumulative sum, keep each new index once
    in the order first drawn; tests/test_allocation.py checks it against numpy's), in a few compiled calls
    instead of numpy's tens of array calls a round."""
    p = np.array(p, np.float64)
    if np.count_nonzero(p > 0) < size:
        raise ValueError("Fewer non-zero entries in p than size")
    found = np.empty(size, np.int64)
    n = 0
    while n < size:
        n = _sample_round(p, found, n, rng.random(size - n))
    return found


@njit(cache=True, nogil=True)
def _sample_round(p, found, n, x):
    """One round of weighted_sample: the ``n`` indices found so far get probability 0, the draws ``x`` are
    inverted through the cumulative sum (normalised by its last term, searched on the right), and the indices new
    to the round, each once in the order first drawn, are added to ``found``; returns how many are found."""
    for j in range(n):
        p[found[j]] = 0.0
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    new = np.empty(x.size, np.int64)
    for j in range(x.size):
        new[j] = np.searchsorted(cdf, x[j], side="right")
    new = first_of_each(new)
    found[n:n + new.size] = new
    return n + new.size


@njit(cache=True, nogil=True)
def first_of_each(a):
    """The distinct values of ``a`` in the order they first occur (numpy's ``a[np.sort(np.unique(a,
    return_index=True)[1])]``)."""
    order = np.argsort(a, kind="mergesort")  # stable: a value's first occurrence leads its run
    first = np.empty(a.size, np.int64)
    n = 0
    for k in range(a.size):
        if k == 0 or a[order[k]] != a[order[k - 1]]:
            first[n] = order[k]
            n += 1
    return a[np.sort(first[:n])]


def pay_in_order(claims: np.ndarray, available: float) -> np.ndarray:
    """Pay ``claims`` (yuan, in the order given) from ``available`` yuan: in full until the money runs
    out, then the claim that finds it nearly empty gets what is left, the rest nothing."""
    out = np.empty(claims.size)
    pay_in_order_into(np.ascontiguousarray(claims, np.float64), float(available), out)
    return out


@njit(cache=True, nogil=True)
def pay_in_order_into(claims, available, out):
    """:func:`pay_in_order` into ``out``, for compiled kernels too: each claim is paid what is left before it
    (the running total of the claims before it, numpy's cumsum less the claim), at least 0 and at most the
    claim, as numpy's clip of it would be, to the bit."""
    cum = 0.0
    for j in range(claims.size):
        cum = claims[j] if j == 0 else cum + claims[j]
        out[j] = fmin(fmax(available - (cum - claims[j]), 0.0), claims[j])


__all__ = ["largest_remainder", "mix", "tie_break", "priority_of", "event_offset", "event_id", "random_order",
           "take_within", "weighted_sample", "first_of_each", "pay_in_order",
           "pay_in_order_into"]
