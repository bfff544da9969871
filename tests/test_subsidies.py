"""The subsidy schedule (docs/ODD.md 3.4.5): one rule for what a firm expects and what it is paid."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model import TransformationModel


@pytest.fixture(scope="module")
def model():
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2013-03")
    m.step()  # January: the fund and the city budgets are released
    return m


def test_the_claim_a_firm_expects_is_what_it_is_paid_for_every_size_and_city(model):
    """Expected = the claim times the share of claims the budget met last year; when the claim is met,
    the payment is exactly the claim the firm valued."""
    m = model
    capex = np.geomspace(1e4, 1e9, 40)  # from a few machines to the largest lines
    robots = capex / 1e6  # a robot per million yuan of capital cost
    k = np.arange(capex.size)
    for city in range(len(m.cities)):
        cities = np.full(capex.size, city)
        met = m.subsidies.terms(expected=False)
        expected = m.subsidies.terms(expected=True)
        claim = met.robot_claim(cities, capex, robots)
        share = expected.city_share[city]
        assert expected.expected(cities, capex, robots) == pytest.approx(
            share * claim + expected.fund_share * met.award_claim(capex), rel=1e-12)
        f = m.firms
        idx = np.flatnonzero(f.city == city)[: capex.size]
        f.proj_capex[idx], f.proj_robots[idx] = capex[k[: idx.size]], robots[k[: idx.size]]
        budget = m.cities[city].budget
        saved = budget.remaining
        budget.remaining = 1e15  # enough money: every claim is met
        paid = m.subsidies.pay_robots(idx)
        budget.remaining = saved
        assert paid == pytest.approx(claim[: idx.size], rel=1e-12)
        rate, cap = m.cities[city].rule(0)
        assert claim[-1] == pytest.approx(min(rate * m.params["technology.robot_price"], cap) * robots[-1])


def test_each_line_caps_on_its_own(model):
    t = model.subsidies.terms(expected=False)
    big = np.array([1e9])
    assert t.award_claim(big)[0] == pytest.approx(t.award_cap)
    rate, cap = model.cities[0].rule(0)
    per_robot = min(rate * model.params["technology.robot_price"], cap)
    assert t.robot_claim(np.array([0]), big, np.array([10.0]))[0] == pytest.approx(10 * per_robot)


def test_the_bound_takes_every_line_at_its_largest_rate(model):
    t = model.subsidies.terms(expected=True)
    capex, robots = np.full(11, 1e6), np.full(11, 3.0)
    largest = t.largest_rate(np.full(10, 3.0 / 1e6))[:, 0]  # 3 robots per million yuan, any sector
    assert np.all(largest * capex >= t.expected(np.arange(11), capex, robots) - 1e-9)


def test_the_decision_values_projects_with_the_schedule(model):
    m = model
    ctx = m.adoption.context(60_000.0, 1.0)
    idx = m.adoption.eligible()
    opts, _ = m.adoption.options(idx, ctx)
    expected = m.subsidies.terms(expected=True).expected(m.firms.city[idx], opts.capex, opts.robots)
    assert np.array_equal(opts.subsidy, expected) and opts.subsidy.max() > 0


def test_firms_expect_what_the_budget_met_last_year_not_a_january_switch():
    """After the first year each budget's expected share is its claims met last year; the application
    flow shows no January rush (the first months of a year are not busier than the rest)."""
    m = run()
    city = m.cities[0].budget
    assert 0 < city.expected_share <= 1
    applied = m.recorder.flows[12:96, list(__import__("simmodel.model.indicators", fromlist=["x"]).FLOWS).index(
        "projects_applied")].sum(axis=1).reshape(7, 12)
    january, rest = applied[:, 0].mean(), applied[:, 1:].mean()
    assert january < 1.3 * rest


def test_the_round_ranks_applications_and_stays_within_the_fund():
    m = run(government__special_fund_budget=2e7)
    assert m.government.fund.paid_total <= m.government.fund.released_total + 1e-6
    assert 0 < m.government.fund.expected_share < 1  # the small fund cannot meet every claim
    assert flow_total(m, "subsidy_awards") > 0
