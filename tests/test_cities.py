"""City governments: budgets, top-ups, the reward competition."""

import numpy as np

from conftest import flow_total, run


def test_rewards_go_to_the_best_improving_cities_and_raise_their_budgets():
    m = run()
    gov, cities = m.government, m.cities
    years = m.month // 12 + 1
    assert gov.rewards_paid_total == m.params["cities.reward_pool"] * years
    extra = [c.budget_total - c.base_budget * years for c in cities]
    winners = sum(1 for x in extra if x > 0)
    assert 1 <= winners <= len(cities)


def test_no_rewards_when_switched_off():
    m = run(cities__rewards_enabled=False)
    assert m.government.rewards_paid_total == 0
    assert all(c.budget_total == c.base_budget * (m.month // 12 + 1) for c in m.cities)


def test_city_top_ups_add_to_subsidies_and_applications():
    """More firms decide to transform while the top-up is new (2013-2014). Over the whole run the
    totals converge: firms pulled forward are not there to apply later, and providers cap starts."""
    base, none = run(), run(cities__topup_enabled=False)
    assert flow_total(base, "subsidy_spent") > flow_total(none, "subsidy_spent")
    first_two_years = slice(0, 24)
    assert flow_total(base, "projects_applied", first_two_years) > flow_total(none, "projects_applied", first_two_years)


def test_cloud_targets_split_by_firm_share():
    m = run()
    share = np.array([c.cloud_target_year for c in m.cities]) / m.params["cloud.target_per_year"]
    assert np.allclose(share, m.tables.city_firm_share)
