"""The two rules that hand out a capacity or a budget down a queue (allocation.py), against their
definitions written out claimant by claimant in plain Python: who is served, the one claimant that
straddles the limit, the yuan paid, to the bit. The providers' matching, the diagnoses, the pilots
and every budget call these rules."""

from __future__ import annotations

import numpy as np
import pytest

from simmodel.model.allocation import largest_remainder, pay_in_order, take_within


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


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_capacity_serves_on_average_exactly_its_real_firms_whatever_the_agents_weights(seed):
    """The promise of take_within (docs/ODD.md 3.4.9: capacities in real firms, the same at every scale): over the
    draws, the real firms served average the capacity, whichever agent straddles it. With N draws evenly spread over
    [0, 1) the straddler is served for a share of them within 1/N of its fitting share, so the mean is the capacity
    within the straddler's weight / N."""
    amounts = _queue(seed)
    n = 1000
    draws = (np.arange(n) + 0.5) / n
    for available in _capacities(amounts, seed)[3:-1]:  # part of the queue: somebody straddles
        served = np.array([amounts[take_within(amounts, available, d)].sum() for d in draws])
        assert abs(served.mean() - available) <= amounts.max() / n, available
        # served or not, the straddler is all that differs between draws (its amount, up to the sums' rounding)
        assert served.min() <= available <= served.max()
        assert served.max() - served.min() <= amounts.max() * (1 + 1e-12)


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


def test_each_firms_priority_is_the_splitmix64_finaliser_of_its_key_and_the_event_in_plain_integers():
    """tie_break and mix (every seeded order and keyed draw of the model) against splitmix64's finaliser of
    key + event x the golden ratio, computed modulo 2^64 in Python integers, for keys at the ends of uint64 and
    events up to the largest event_id: the priority is the top 53 bits over 2^53, to the bit."""
    from simmodel.model.allocation import mix, tie_break

    mod = 2**64

    def finaliser(key: int, event: int) -> int:
        z = (key + event * 0x9E3779B97F4A7C15) % mod
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % mod
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % mod
        return z ^ (z >> 31)

    keys = np.random.default_rng(1).integers(0, 2**64 - 1, 500, dtype=np.uint64, endpoint=True)
    keys[:3] = [0, 2**64 - 1, 2**63]
    for event in (0, 1, 10_001, 655_209_999):
        want = [finaliser(int(k), event) for k in keys]
        assert mix(keys, event).tolist() == want
        assert tie_break(keys, event).tolist() == [(z >> 11) / 2**53 for z in want]
    assert tie_break(keys[:0], 5).shape == (0,) and mix(keys[:0], 5).dtype == np.uint64


def test_a_weighted_sample_is_numpys_choice_without_replacement_draw_for_draw():
    """allocation.weighted_sample (the conferences' cells) must give, from the same generator state, the indices
    numpy's Generator.choice(n, size, replace=False, p=p) gives and leave the generator where numpy's leaves it:
    600 cases of 1 to 200 items, weights spread over orders of magnitude, up to four fifths of them zero, samples
    from one item to every item with a weight (where later rounds redraw the items already found). A numpy whose
    choice changed its rounds would fail here, not change runs silently."""
    from simmodel.model.allocation import weighted_sample

    rounds = 0
    for seed in range(600):
        g = np.random.default_rng(seed)
        n = int(g.integers(1, 200))
        w = g.lognormal(0.0, 2.5, n) * (g.random(n) < g.uniform(0.2, 1.0))
        nonzero = int((w > 0).sum())
        if nonzero == 0:
            continue
        size = int(g.integers(1, nonzero + 1))
        p = w / w.sum()
        a, b = np.random.default_rng(seed + 10**6), np.random.default_rng(seed + 10**6)
        want = a.choice(n, size=size, replace=False, p=p)
        got = weighted_sample(b, p, size)
        assert np.array_equal(got, want) and a.bit_generator.state == b.bit_generator.state, seed
        one_round = np.random.default_rng(seed + 10**6)
        one_round.random(size)  # what a single round would have drawn
        rounds += one_round.bit_generator.state != a.bit_generator.state
    assert rounds > 100  # cases where an item was drawn twice and a further round drew again
    with pytest.raises(ValueError, match="Fewer non-zero"):
        weighted_sample(np.random.default_rng(0), np.array([0.5, 0.5, 0.0]), 3)


def test_largest_remainder_keeps_the_total_and_breaks_ties_at_random_not_by_position():
    """Agents per stratum (population.py: cities x sectors, some with equal shares in the tables): each stratum gets
    the floor of its expected count, and the agents left go to the largest remainders. Equal remainders are a tie
    the stream breaks, so no stratum is favoured by its row: three equal strata sharing two agents each get one in
    about two thirds of the draws, the last row as often as the first. Without a stream (fixed tables), by
    position."""
    picks = np.zeros(3)
    for seed in range(300):
        counts = largest_remainder([1.0, 1.0, 1.0], 2, np.random.default_rng(seed))
        assert counts.sum() == 2 and counts.max() == 1
        picks += counts
    # 200 each expected, binomial(300, 2/3): 170-230 is 3.7 standard deviations (8.2) either side (by position: 300,
    # 300, 0)
    assert np.all((picks > 170) & (picks < 230)), picks
    assert largest_remainder([1.0, 1.0, 1.0], 2).tolist() == [1, 1, 0]
    counts = largest_remainder([2.6, 0.7, 1.7], 5, np.random.default_rng(1))  # floors 2, 0, 1; remainders 0.6, 0.7, 0.7
    assert counts.tolist() == [2, 1, 2]  # the two largest remainders, whatever the tie-break
