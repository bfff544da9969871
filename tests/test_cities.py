"""City governments: budgets, top-ups, the reward competition."""

import numpy as np

from conftest import flow_total, run


def test_rewards_go_to_the_best_improving_cities_and_raise_their_budgets():
    m = run()
    gov, cities = m.government, m.cities
    years = m.month // 12 + 1
    assert gov.rewards_paid_total == m.params["cities.reward_pool"] * years
    extra = [c.budget_total - c.budget.yearly * years for c in cities]
    winners = sum(1 for x in extra if x > 0)
    assert 1 <= winners <= len(cities)


def test_no_rewards_when_switched_off():
    m = run(cities__rewards_enabled=False)
    assert m.government.rewards_paid_total == 0
    assert all(c.budget_total == c.budget.yearly * (m.month // 12 + 1) for c in m.cities)


def test_robot_subsidies_add_machine_substitution_projects():
    """The cities' robot purchase subsidies pay for machine substitution (stage 1) and draw more of it
    (four seeds, common random numbers)."""
    base, none = [run(s) for s in (1, 2, 3, 4)], [run(s, cities__purchase_enabled=False) for s in (1, 2, 3, 4)]
    assert all(flow_total(b, "subsidy_robots") > 0 for b in base) and flow_total(none[0], "subsidy_robots") == 0
    assert np.mean([flow_total(b, "projects_started") - flow_total(n, "projects_started")
                    for b, n in zip(base, none)]) > 0


def test_the_sourced_city_rules_apply_from_their_dates():
    from simmodel.model import TransformationModel
    m = TransformationModel.from_scenario("baseline", seed=1, scale=0.002, end="2013-01")
    lishui, quzhou, hangzhou = (next(c for c in m.cities if c.name == n) for n in ("Lishui", "Quzhou", "Hangzhou"))
    assert quzhou.rule(0) == (0.15, 50_000.0)
    assert lishui.rule(0) == hangzhou.rule(0) == (m.params["cities.purchase_rate"], m.params["cities.cap_per_robot"])
    from simmodel.params import month_index
    assert lishui.rule(month_index("2019-07")) == (0.20, 60_000.0)


def test_cloud_targets_split_by_firm_share():
    m = run()
    share = np.array([c.cloud_target_year for c in m.cities]) / m.params["cloud.target_per_year"]
    assert np.allclose(share, m.tables.city_firm_share)
