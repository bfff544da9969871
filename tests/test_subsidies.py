"""The subsidy schedule (docs/ODD.md 3.4.5): one rule for what a firm expects and what it is paid."""

import numpy as np
import pytest

from simmodel.model import TransformationModel


@pytest.fixture(scope="module")
def model():
    m = TransformationModel.from_scenario("baseline", seed=3, scale=0.01, end="2013-03")
    m.step()  # January: the fund and the city budgets are released
    return m


def test_what_a_firm_expects_is_what_it_is_paid_for_every_size_and_city(model):
    m = model
    capex = np.geomspace(1e4, 1e9, 40)  # from a few machines to the largest lines
    for city in range(len(m.cities)):
        for pilot in (False, True):
            cities = np.full(capex.size, city)
            expected = m.subsidies.terms(expected=True).purchase(cities, capex, pilot)
            fund, budget = m.government.fund_remaining, m.cities[city].budget_remaining
            paid = m.subsidies.pay_purchase(cities, np.ones(capex.size) * 1e-6, capex, np.full(capex.size, pilot))
            m.government.fund_remaining, m.cities[city].budget_remaining = fund, budget  # tiny weights: money left
            assert paid == pytest.approx(expected, rel=1e-12)
            assert expected.max() > 1e6 >= m.params["government.purchase_subsidy_cap"]  # caps bind at the top


def test_each_payer_caps_its_own_line(model):
    t = model.subsidies.terms(expected=True)
    big = np.array([1e9])
    province, city = t.purchase_claims(np.array([0]), big)
    assert province[0] == pytest.approx(t.province_cap) and city[0] == pytest.approx(t.city_cap[0])


def test_an_empty_budget_is_not_expected_but_the_bound_still_covers_it(model):
    m = model
    saved = m.government.fund_remaining
    m.government.fund_remaining = 0.0
    try:
        t = m.subsidies.terms(expected=True)
        assert t.province_rate == 0 and t.post_rate == 0 and t.pilot_rate == 0
        assert np.all(m.subsidies.terms(expected=False).largest_rate() >= t.largest_rate())
    finally:
        m.government.fund_remaining = saved


def test_the_decision_values_projects_with_the_schedule(model):
    m = model
    ctx = m.adoption.context(60_000.0, 1.0)
    idx = m.adoption.eligible()
    opts = m.adoption.options(idx, ctx)
    expected = m.subsidies.terms(expected=True).purchase(m.firms.city[idx], opts.capex)
    assert np.array_equal(opts.subsidy, expected) and opts.subsidy.max() > 0
