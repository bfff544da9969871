"""The programme-start lever (`programme.start`, params.instrument_start) and the horizon to 2030.

Claims: every instrument of the provincial programme starts at its date as run moved by programme.start -
2013-01 and is off before it (read from the monthly indicators); at the default, runs are those of the
model before the lever existed; a later programme leaves fewer firms transformed in 2020 on the same
seeds; a programme starting in the course of a year keeps the decision's thinning exact; a run to
2030-12 works.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from simmodel.analysis import scenarios
from simmodel.model import TransformationModel
from simmodel.model.indicators import FLOWS
from simmodel.model.recorder import values_at
from simmodel.params import LAST_MONTH, Params, instrument_start, month_index
from simmodel.runs.runner import simulate

LATE = "2016-01"  # three years after the programme as it was run
SHIFT = 36


@functools.lru_cache(maxsize=8)
def baseline_run(start: str, seed: int = 1, scale: float = 0.01, end: str = "2020-12"):
    return simulate(scenarios.baseline().params.replace({"run.scale": scale, "run.end": end,
                                                         "programme.start": start}), seed)


def monthly(model, name: str) -> np.ndarray:
    """A monthly indicator, province-wide, month by month."""
    return np.array([values_at(model.recorder, t, (name,))[name][0] for t in range(model.recorder.months_done)])


def test_the_rule_moves_every_date_by_the_programme_start():
    p = Params()
    assert instrument_start(p) == 0  # the programme as it was run: nothing moves
    assert instrument_start(p, "cloud.action_start") == month_index("2017-01")
    late = p.replace({"programme.start": 2016})  # a year means its January
    assert late["programme.start"] == LATE
    assert instrument_start(late) == SHIFT
    assert instrument_start(late, "cloud.action_start") == month_index("2020-01")
    assert instrument_start(late, "2019-07") == month_index("2022-07")  # a date from an input table
    # an instrument's own date still places it within the programme, and the lever moves it too
    own = late.replace({"cloud.action_start": "2014-01"})
    assert instrument_start(own, "cloud.action_start") == month_index("2017-01")


def test_every_instrument_reads_its_start_through_the_rule():
    """The model's instruments, built with a late programme, start where the rule says (and the cities'
    own rules, the fund, the rewards, the experts and the conferences, which have no date parameter)."""
    p = Params().replace({"run.scale": 0.002, "programme.start": LATE})
    m = TransformationModel(seed=1, params=p, collect_headline=False)
    at = functools.partial(instrument_start, p)
    assert {c.start for c in m.cities} == {SHIFT}
    assert {c.name: c.own_from for c in m.cities if c.own_from is not None} == {
        "Quzhou": month_index("2016-01"), "Lishui": month_index("2022-07")}
    assert m.government.fund_start == m.experts_start == m.demonstration.conferences_from == SHIFT
    assert m.government.reform_start == at("government.approval_reform_start") == month_index("2018-01")
    batches = sorted(at(f"demonstration.pilot_batch{b}") for b in (1, 2, 3))
    assert sorted(m.demonstration.batches) == batches == [month_index(d) for d in ("2017-01", "2018-01", "2019-01")]
    assert m.government.pilot_years == {b // 12 for b in batches}
    assert sorted(m.leasing.start.values()) == [month_index("2018-01")] * 2 + [month_index("2019-01")]
    assert m.cloud.start == month_index("2020-01")


# each instrument's monthly indicators and the month from which it may be non-zero with the programme from 2016
MOVED = {
    "subsidy_robots": "2016-01", "fund_remaining": "2016-01", "subsidy_awards": "2016-01", "fund_spent": "2016-01",
    "conferences_held": "2016-01", "conference_attendees": "2016-01", "diagnoses": "2016-01",
    "pilots": "2017-01", "subsidy_pilots": "2017-01",
    "leases_funds": "2018-01", "leases_materials": "2018-01", "lease_liabilities": "2018-01",
    "leases_engineering": "2019-01", "subsidy_vouchers": "2020-01",
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_with_a_late_programme_nothing_is_paid_or_held_before_its_start_and_it_is_after(name):
    m = baseline_run(LATE)
    x = monthly(m, name)
    start = month_index(MOVED[name])
    assert np.all(x[:start] == 0), f"{name} before {MOVED[name]}: first in month {np.flatnonzero(x)[0]}"
    assert x[start:].sum() > 0, f"{name} never after {MOVED[name]}"
    if name != "subsidy_awards":  # the round pays in December
        assert np.flatnonzero(x)[0] < start + 12, f"{name} started more than a year late"


def test_with_a_late_programme_the_approval_reform_and_the_cities_rewards_come_late():
    m = baseline_run(LATE)
    g = m.government
    assert g.rewards_paid_total == 5 * m.params["cities.reward_pool"]  # Decembers 2016-2020, not 2013-2015
    months = m.month
    try:
        for t, lead in ((month_index("2017-12"), "projects.approval_months"),
                        (month_index("2018-01"), "projects.approval_months_reformed")):
            m.month = t
            assert g.approval_months() == m.params[lead]
    finally:
        m.month = months


def test_a_programme_starting_in_july_has_half_a_years_fund_and_an_exact_thinning():
    """The fund opens with the rest of its year's money; the decision's bound, cached for the year, is
    recomputed when the subsidies start in July, so thinned and unthinned runs are the same run."""
    p = scenarios.baseline().params.replace({"run.scale": 0.005, "run.end": "2016-12", "programme.start": "2016-07"})
    fast = TransformationModel(seed=2, params=p, collect_headline=False)
    slow = TransformationModel(seed=2, params=p, collect_headline=False)
    slow.thinning.enabled = False
    fast.run()
    slow.run()
    assert fast.government.fund.released_total == 0.5 * p["government.special_fund_budget"]
    assert fast.recorder.flows[:, FLOWS.index("subsidy_robots")].sum() > 0
    assert np.array_equal(fast.recorder.stocks, slow.recorder.stocks)
    assert np.array_equal(fast.recorder.flows, slow.recorder.flows)


def test_a_later_programme_leaves_fewer_firms_automated_in_2020_on_the_same_seeds():
    for seed in (1, 2, 3):
        base, late = (monthly(baseline_run(s, seed), "firms_stage_1plus")[-1] for s in ("2013-01", LATE))
        assert late < base, (seed, base, late)


def test_the_late_programme_scenario_is_listed_and_says_what_it_changes(capsys):
    from simmodel.cli import main

    sc = scenarios.load("late_programme")
    assert sc.chain[1] == "baseline" and sc.question
    base = scenarios.load("baseline").params
    assert {k for k in Params() if sc.params[k] != base[k]} == {"programme.start", "run.end"}
    assert sc.params["programme.start"] == LATE and sc.params["run.end"] == "2025-12"
    assert main(["scenarios"]) == 0
    assert "late_programme" in capsys.readouterr().out


def test_a_run_to_2030_works(tmp_path):
    from simmodel.cli import main
    from simmodel.data import load_tables

    assert LAST_MONTH == "2030-12" and load_tables().years[-1] == 2030  # the series cover the horizon
    out = tmp_path / "r"
    assert main(["run", "--scale", "0.005", "--end", "2030-12", "--out", str(out), "--quiet"]) == 0
    y = pd.read_csv(out / "yearly.csv")
    assert y.period.max() == 2030
    last = y[(y.period == 2030) & (y.region == "Zhejiang") & (y.sector == "all")].set_index("indicator").value
    assert last["firms_stage_1plus"] > 0 and last["labour_productivity_above"] > 0
    assert len(list((out / "figures").glob("*.png"))) >= 3
