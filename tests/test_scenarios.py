"""Scenario files: they load and validate, inherit, and each answers a question."""

import pytest

from simmodel.analysis import scenarios
from simmodel.params import ParamError, Params

REQUIRED = ["baseline", "no_policy", "no_subsidy", "no_fund", "no_leasing", "no_conferences", "no_pilots",
            "no_expert_groups", "no_cloud_action", "no_approval_reform", "double_fund", "subsidy_20pct",
            "early_cloud_action"]


def test_every_required_scenario_exists_loads_and_says_its_question():
    found = scenarios.available()
    for name in REQUIRED:
        assert name in found, name
        sc = scenarios.load(name)
        assert sc.question, name
        assert isinstance(sc.params, Params)


@pytest.mark.parametrize("name,key,value", [
    ("no_leasing", "leasing.funds_enabled", False), ("no_fund", "government.special_fund_enabled", False),
    ("double_fund", "government.special_fund_budget", 400e6), ("subsidy_20pct", "cities.purchase_rate", 0.2),
    ("early_cloud_action", "cloud.action_start", "2014-01"), ("no_cloud_action", "cloud.action_enabled", False),
    ("no_conferences", "demonstration.conferences_enabled", False),
    ("no_approval_reform", "government.approval_reform_enabled", False),
])
def test_counterfactuals_change_what_they_say_and_inherit_the_rest(name, key, value):
    sc, base = scenarios.load(name), scenarios.load("baseline")
    assert sc.params[key] == value
    assert sc.chain[1] == "baseline"  # then what the baseline inherits (the calibration)
    assert {k for k in sc.params.changed() if base.params[k] != sc.params[k]} >= {key}
    rest = {k for k in Params() if k != key and sc.params[k] != base.params[k]}
    # no_leasing turns off all three models; subsidy_20pct sets every city to the rate
    assert rest <= {"leasing.materials_enabled", "leasing.engineering_enabled", "cities.use_city_rules"}


def test_inheritance_applies_ancestors_in_order(tmp_path):
    (tmp_path / "a.toml").write_text('# Question: a\n[cities]\npurchase_rate = 0.1\n[government]\nspecial_fund_budget = 1e8\n')
    (tmp_path / "b.toml").write_text('# Question: b\ninherits = "a.toml"\n[cities]\npurchase_rate = 0.3\n')
    sc = scenarios.load(str(tmp_path / "b.toml"))
    assert sc.params["cities.purchase_rate"] == 0.3
    assert sc.params["government.special_fund_budget"] == 1e8
    assert sc.chain == ("b", "a") and sc.question == "b"


def test_cyclic_inheritance_is_reported(tmp_path):
    (tmp_path / "a.toml").write_text('inherits = "b.toml"\n')
    (tmp_path / "b.toml").write_text('inherits = "a.toml"\n')
    with pytest.raises(ParamError, match="cycle"):
        scenarios.load(str(tmp_path / "a.toml"))


def test_missing_parent_is_reported(tmp_path):
    (tmp_path / "a.toml").write_text('inherits = "nowhere"\n')
    with pytest.raises(ParamError, match="parent scenario not found"):
        scenarios.load(str(tmp_path / "a.toml"))


def test_unknown_group_and_key_in_a_file_are_reported(tmp_path):
    (tmp_path / "a.toml").write_text('[goverment]\nx = 1\n')
    with pytest.raises(ParamError, match="did you mean \\[government\\]"):
        scenarios.load(str(tmp_path / "a.toml"))
