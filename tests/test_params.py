"""Parameters: one typed definition, validated at the boundary, with a source for every number."""

import pytest

from simmodel.params import (BY_NAME, PARAMS, ParamError, Params, last_complete_year, month_index, month_label,
                             parse_override, part_year_note)


def test_every_parameter_has_unit_source_and_valid_default():
    for p in PARAMS:
        assert p.unit and p.doc and p.source, p.key
        assert p.validate(p.default) is not None or p.kind == "bool", p.key


def test_leaf_names_are_unique_so_keywords_are_unambiguous():
    assert len(BY_NAME) == len(PARAMS)


def test_leaf_name_and_dotted_key_address_the_same_value():
    p = Params().replace({"purchase_rate": 0.2})
    assert p["cities.purchase_rate"] == 0.2
    assert p.cities.purchase_rate == 0.2
    assert p.changed() == {"cities.purchase_rate": 0.2}


@pytest.mark.parametrize("key,value,fragment", [
    ("cities.purchase_rat", 0.1, "unknown parameter; did you mean cities.purchase_rate"),
    ("cities.purchase_rate", 1.5, "must be a number in [0.0, 0.6]"),
    ("cities.purchase_rate", "high", "must be a number"),
    ("cities.purchase_rate", True, "must be a number"),
    ("providers.initial_count", 2.5, "must be an integer"),
    ("government.approval_reform_enabled", "yes", "must be true or false"),
    ("government.approval_reform_start", "2015-13", "must be a month YYYY-MM"),
    ("run.end", "2031-01", "between 2013-01 and 2030-12"),
    ("run.decision_rule", "probit", "must be one of logit, bass"),
    ("population.stage_shares_above", [0.5, 0.5, 0.5, 0, 0], "summing to 1"),
])
def test_bad_values_are_rejected_naming_key_value_and_what_is_allowed(key, value, fragment):
    with pytest.raises(ParamError) as e:
        Params().replace({key: value})
    msg = str(e.value)
    assert key in msg and repr(value) in msg and fragment in msg
    assert "\n" not in msg


def test_params_are_immutable():
    p = Params()
    with pytest.raises(AttributeError):
        p.x = 1


def test_override_values_are_read_as_toml_literals():
    assert parse_override("cities.purchase_rate=0.15") == ("cities.purchase_rate", 0.15)
    assert parse_override("government.approval_reform_enabled=false")[1] is False
    assert parse_override("run.end=2018-06") == ("run.end", "2018-06")
    with pytest.raises(ParamError):
        parse_override("no_equals_sign")


def test_month_labels_round_trip():
    assert month_index("2013-01") == 0 and month_index("2020-12") == 95
    assert all(month_index(month_label(i)) == i for i in range(0, 156))


def test_a_year_cut_short_is_named_and_not_counted_complete():
    assert [last_complete_year(e) for e in ("2020-12", "2020-11", "2013-01", "2013-12")] == [2020, 2019, 2012, 2013]
    assert part_year_note("2020-12") == ""
    assert "2020 is January-November only" in part_year_note("2020-11")
    assert "2013 is January only" in part_year_note("2013-01")


def test_digest_changes_with_any_value():
    assert Params().digest() == Params().digest()
    assert Params().digest() != Params().replace({"run.scale": 0.1}).digest()


def test_odd_parameter_table_is_generated_from_the_definitions():
    from simmodel.docgen import ODD, with_table
    text = ODD.read_text(encoding="utf-8")
    assert text == with_table(text), "run `python -m simmodel.docgen` to update docs/ODD.md"



def test_the_parameter_table_says_what_the_calibrated_baseline_runs_and_what_is_calibrated():
    """Which parameters are calibrated has one home, calibration/priors.toml: no source claims it by hand (an audit
    found such labels on a parameter that is not calibrated and missing on five that are), and the table marks
    exactly the priors' keys. The table's baseline column is filled exactly where the baseline scenario runs
    another value than the default (an audit found the ODD quoting defaults the baseline does not run)."""
    from simmodel.analysis.calibrate import load_priors
    from simmodel.analysis.scenarios import baseline
    from simmodel.docgen import params_markdown
    for p in PARAMS:
        assert "(calibrated)" not in p.source and "range for calibration" not in p.source, p.key
    calibrated = set(load_priors().keys)
    base = baseline().params
    rows = {r.split(" | ")[0].strip("| `"): r.split(" | ") for r in params_markdown().splitlines()[2:]}
    assert set(rows) == {p.key for p in PARAMS}
    for p in PARAMS:
        cells = rows[p.key]
        assert ("calibrated (prior" in cells[5]) == (p.key in calibrated), p.key
        assert (cells[2] != "") == (base[p.key] != p.default), p.key
    assert calibrated and any(base[p.key] != p.default for p in PARAMS if p.key not in calibrated)  # e.g. ramp_months


def test_the_odd_describes_every_parameter_in_its_text_not_only_in_its_table():
    """A reader of a submodel's description must find the keys that set it: every parameter is named in sections
    1-3 of the ODD, as its dotted key or its leaf in backticks (an audit found 53 named only in section 4's
    generated table)."""
    import re
    from simmodel.docgen import ODD
    text = ODD.read_text(encoding="utf-8")
    prose = text[:text.index("## 4. Parameters")]
    unnamed = [p.key for p in PARAMS if p.key not in prose and f"`{p.key.split('.')[1]}`" not in prose]
    assert not unnamed, f"name these in docs/ODD.md sections 1-3 where their mechanism is described: {unnamed}"
    assert re.search(r"`decision\.beta_value`", prose)  # the check reads the prose, not the table

def test_a_parameter_error_survives_a_process_boundary():
    """A worker of a process pool sends its exception back pickled: the one-line message must arrive intact."""
    import pickle
    e = pickle.loads(pickle.dumps(ParamError("decision.intercept", 3, "a number in [-10, -4]", "x.toml")))
    assert isinstance(e, ParamError) and (e.key, e.value, e.where) == ("decision.intercept", 3, "x.toml")
    assert str(e) == "x.toml: decision.intercept = 3: a number in [-10, -4]"
