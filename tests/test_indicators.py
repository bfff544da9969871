"""The indicators' definitions (indicators.py) and the recorder's aggregation (recorder.py), on a hand-made
recorder: seven firm agents over two years in two cities and two sectors, whose stages, cloud status, value
added, workers and flags are set here month by month. Every expected value is computed in this file from
those agents by plain loops (which firms count, at which month, with which weight), never read from the
model: a ratio over the wrong size class, a period's mean taken for its end (or the reverse), a flag summed
wrongly or a flow averaged instead of summed gives another number.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from simmodel.model.indicators import indicator
from simmodel.model.recorder import Recorder, aggregate

N_MONTHS, NS = 24, 2
W = {0: 3.0, 1: 1.0}  # real firms per agent: small, above size
EQUIPMENT = np.array([False, True])  # sector 1 makes equipment
# (city, sector, above, high-tech, emerging, employees, value added a year, workers saved once transformed)
AGENTS = [
    (0, 1, 1, 1, 1, 50, 9e6, 5.0),  # above, equipment, both flags: stage 0 -> 2 in July of the first year
    (0, 0, 1, 1, 0, 40, 6e6, 0.0),  # above, high-tech: stage 0 on the cloud from the start (transformed)
    (1, 0, 1, 0, 1, 30, 4e6, 0.0),  # above, emerging: stage 0 off the cloud all along (untransformed)
    (1, 1, 1, 0, 0, 60, 7e6, 2.0),  # above, equipment: stage 1
    (0, 1, 0, 1, 1, 10, 1e6, 1.0),  # small, equipment, both flags: stage 1
    (1, 0, 0, 0, 0, 8, 5e5, 0.0),  # small: stage 0, on the cloud from month 18
    (0, 0, 0, 1, 0, 12, 2e6, 3.0),  # small, high-tech: stage 3
]


def stage(i, t):
    return {0: 2 if t >= 6 else 0, 3: 1, 4: 1, 6: 3}.get(i, 0)


def cloud(i, t):
    return int(i == 1 or (i == 5 and t >= 18))


def employees(i, t):
    return AGENTS[i][5] * (1.0 + 0.01 * t)


def value_added(i, t):  # grows faster than employment: productivity rises within the year
    return AGENTS[i][6] * (1.0 + 0.05 * t + 0.02 * i)


def saved(i, t):
    return AGENTS[i][7] if stage(i, t) >= 1 else 0.0


def renewal_share(t):
    return 0.02 * 1.1 ** (t / 12)


def scalars(t):
    return {"fund_remaining": 1000.0 - 10 * t, "provider_active": t % 5 + 1.0, "provider_capacity": 10.0 + t % 3,
            "wage_all": 80_000.0 + 1_000 * (t // 12), "wage_private": 60_000.0 + 500 * (t // 12)}


def _recorder(per_agent: bool = False) -> Recorder:
    """The recorder of the seven agents; ``per_agent``: their weights given agent by agent (as once firms have
    crossed the size threshold), not per size class."""
    tables = SimpleNamespace(n_cities=2, n_sectors=NS, cities=("A", "B"), sectors=("s0", "s1"),
                             sector_equipment=EQUIPMENT)
    rec = Recorder(N_MONTHS, tables, (W[0], W[1]), 0.5)
    n = len(AGENTS)
    city, sector, above, ht, em = (np.array([a[k] for a in AGENTS]) for k in range(5))
    for t in range(N_MONTHS):
        st = np.array([stage(i, t) for i in range(n)])
        cl = np.array([cloud(i, t) for i in range(n)])
        # the cube's key (Recorder's docstring): city x sector x size x stage x cloud x high-tech x emerging
        key = (((((city * NS + sector) * 2 + above) * 5 + st) * 2 + cl) * 2 + ht) * 2 + em
        q = {"firms": np.ones(n), "employees": np.array([employees(i, t) for i in range(n)]),
             "va": np.array([value_added(i, t) for i in range(n)]),
             "workers_saved": np.array([saved(i, t) for i in range(n)])}
        # a flow: agent 0's cell completes t + 1 real projects in month t
        rec.add_flow("projects_completed", np.array([(city[0] * NS + sector[0]) * 2 + above[0]]), np.array([t + 1.0]))
        rec.collect(t, key, q, scalars(t), renewal_share=renewal_share(t),
                    weights=np.array([W[a] for a in above]) if per_agent else None)
    return rec


@pytest.fixture(scope="module", params=[(False, False), (True, False), (False, True)],
                ids=["weights_by_size", "weights_by_agent", "levels_summed_together"])
def years(request):
    """Each level's cubes summed alone (einsum), or all levels in one pass (the recorder's compiled kernel)."""
    per_agent, together = request.param
    rec = _recorder(per_agent)
    if together:
        return {"province": aggregate(rec, "province", yearly=True, levels=("city", "sector")),
                "city": aggregate(rec, "city", yearly=True)}  # from the sums kept by the first call
    return {level: aggregate(rec, level, yearly=True) for level in ("province", "city")}


def _value(agg, name):
    with np.errstate(invalid="ignore", divide="ignore"):
        return indicator(name).fn(agg)


def _sum(t, pick, f=lambda i, t: 1.0):
    """Real firms (or a quantity summed over real firms) among the agents ``pick`` selects, in month t."""
    return sum(W[AGENTS[i][2]] * f(i, t) for i in range(len(AGENTS)) if pick(i, t))


def _mean(months, pick, f):
    return np.mean([_sum(t, pick, f) for t in months])


ABOVE = lambda i, t: AGENTS[i][2] == 1  # noqa: E731
YEAR = {0: range(0, 12), 1: range(12, 24)}


@pytest.mark.parametrize("y", [0, 1])
def test_shares_of_above_size_firms_count_only_above_size_firms_at_the_periods_end(years, y):
    end = YEAR[y][-1]
    transformed = lambda i, t: ABOVE(i, t) and (stage(i, t) >= 1 or cloud(i, t))  # noqa: E731
    expect = {
        "share_transformed_above": _sum(end, transformed) / _sum(end, ABOVE),  # stage-0 firms on the cloud count
        "share_automated_above": _sum(end, lambda i, t: ABOVE(i, t) and stage(i, t) >= 1) / _sum(end, ABOVE),
        "share_cloud_above": _sum(end, lambda i, t: ABOVE(i, t) and cloud(i, t)) / _sum(end, ABOVE),
        "share_transformed": _sum(end, lambda i, t: stage(i, t) >= 1 or cloud(i, t)) / _sum(end, lambda i, t: True),
    }
    assert expect["share_transformed_above"] == 0.75  # agents 0 (from July), 1 (the cloud) and 3 of 0-3
    for name, value in expect.items():
        assert _value(years["province"], name)[y, 0] == pytest.approx(value, rel=1e-12), name
    # city by city: city A's above-size firms (agents 0, 1) are all transformed, city B's (2, 3) half
    assert _value(years["city"], "share_transformed_above")[y] == pytest.approx([1.0, 0.5], rel=1e-12)


def test_a_month_is_its_own_period_before_a_firm_transforms():
    rec = _recorder()
    june = aggregate(rec, "province", yearly=False, first=5, last=5)
    # in June agent 0 is still at stage 0: of the above-size firms, only 1 (the cloud) and 3 are transformed
    assert _value(june, "share_transformed_above")[0, 0] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("y", [0, 1])
def test_productivity_and_value_added_shares_are_ratios_of_period_means_of_above_size_firms(years, y):
    months = YEAR[y]
    va_above = _mean(months, ABOVE, value_added)
    expect = {
        "labour_productivity_above": va_above / _mean(months, ABOVE, employees),
        # agent 0 is both high-tech and emerging: it counts in both
        "va_share_hightech_above": _mean(months, lambda i, t: ABOVE(i, t) and AGENTS[i][3], value_added) / va_above,
        "va_share_emerging_above": _mean(months, lambda i, t: ABOVE(i, t) and AGENTS[i][4], value_added) / va_above,
        "va_share_equipment_above": _mean(months, lambda i, t: ABOVE(i, t) and EQUIPMENT[AGENTS[i][1]],
                                          value_added) / va_above,
        "value_added_above": va_above * len(months) / 12.0,
    }
    for name, value in expect.items():
        assert _value(years["province"], name)[y, 0] == pytest.approx(value, rel=1e-12), name


@pytest.mark.parametrize("y", [0, 1])
def test_flows_are_summed_over_the_period_and_scalars_taken_at_its_end_or_averaged(years, y):
    months = YEAR[y]
    agg = years["province"]
    assert _value(agg, "projects_completed")[y, 0] == pytest.approx(sum(t + 1.0 for t in months), rel=1e-12)
    assert _value(agg, "fund_remaining")[y, 0] == pytest.approx(scalars(months[-1])["fund_remaining"], rel=1e-12)
    active = np.mean([scalars(t)["provider_active"] for t in months])
    capacity = np.mean([scalars(t)["provider_capacity"] for t in months])
    assert _value(agg, "provider_utilisation")[y, 0] == pytest.approx(active / capacity, rel=1e-12)


@pytest.mark.parametrize("y", [0, 1])
def test_renewal_investment_and_labour_cost_saved_are_booked_month_by_month(years, y):
    """Renewal: each month a twelfth of the year's renewal share of every firm's value added. Labour cost
    saved: each month a twelfth of the workers substituted times the wage of the firm's size class
    (all-units wage above size, private-unit wage below)."""
    months = YEAR[y]
    everyone = lambda i, t: True  # noqa: E731
    renewal = sum(_sum(t, everyone, value_added) * renewal_share(t) / 12.0 for t in months)
    wage = lambda i, t: scalars(t)["wage_all" if AGENTS[i][2] else "wage_private"]  # noqa: E731
    cost = sum(_sum(t, everyone, lambda i, t: saved(i, t) * wage(i, t)) / 12.0 for t in months)
    agg = years["province"]
    assert _value(agg, "renewal_investment")[y, 0] == pytest.approx(renewal, rel=1e-12)
    assert _value(agg, "labour_cost_saved")[y, 0] == pytest.approx(cost, rel=1e-12)
