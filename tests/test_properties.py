"""Properties of every run, over more than 1,000 random parameter sets from the allowed ranges of PARAMS.

Each example is a short, tiny run (scale 0.0005-0.003, ending 2013-01..2015-12) with a random subset of
5-15 parameters set to random allowed values (the rest at their defaults) and a random seed. Hypothesis
runs the examples in a fixed order (``derandomize=True``), so CI sees the same parameter sets every time,
and a failure shrinks to a small set of parameters. About 2 minutes on one core.

The properties are plain functions of a finished model (``check_*``); each raises AssertionError with the
offending values, so a scratch script can call them on a run with a planted bug.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simmodel.model import TransformationModel
from simmodel.model.firms import Firms
from simmodel.model.indicators import FLOWS, INDICATORS, SCALARS
from simmodel.model.population import agent_counts
from simmodel.model.recorder import tidy_rows
from simmodel.params import BY_KEY, PARAMS, ParamError, Params, month_index, month_label

# --- drawing parameter sets ----------------------------------------------------------------------------

ALWAYS = ("run.scale", "run.end", "run.decision_rule")  # drawn in every example, not from the subset
POOL = tuple(p.key for p in PARAMS if p.key not in ALWAYS)
SCALE_LO, SCALE_HI = 0.0005, 0.003
MAX_AGENTS = 5_000  # run.scale is lowered (not below its minimum) so that one run stays near 0.1 s
_UNIT_BITS = 20  # resolution of a uniform draw: 1e-6 of a range (1.5e-5 of a log range of seven decades)


# Hypothesis's own integers and floats lean hard towards small and boundary values (integers(0, 2**24)
# falls in its lowest tenth 93 % of the time), so uniform draws are built from fair coin flips; they
# shrink towards 0, i.e. towards a parameter's lower bound.
@functools.cache  # strategies are built once: hypothesis validates each new one
def _bits(n: int) -> st.SearchStrategy[int]:
    """Uniform on 0..2**n - 1, from n fair coin flips."""
    return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda bits: sum(1 << i for i, b in enumerate(bits) if b))


_word = _bits(32)  # a seed


@functools.cache
def uniform_int(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Uniform on lo..hi, up to a modulo bias below 1/256 (eight spare bits: few enough that most
    flips of a bit change the value, so hypothesis's mutations of an example rarely repeat it)."""
    n = hi - lo + 1
    return _bits(n.bit_length() + 8).map(lambda w: lo + w % n)


@functools.cache
def _unit() -> st.SearchStrategy[float]:
    """Uniform on [0, 1)."""
    return _bits(_UNIT_BITS).map(lambda w: w / 2**_UNIT_BITS)


def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _log_between(u: float, lo: float, hi: float) -> float:
    return _clamp(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))), lo, hi)


@st.composite
def number(draw, p) -> float | int:
    """A value of a numeric parameter: an endpoint one time in ten each, else uniform in [lo, hi], or
    log-uniform when the range spans two decades or more (for ranges from 0: log-uniform over the top
    seven decades, or from 1 for integers)."""
    lo, hi = float(p.lo), float(p.hi)
    pick = draw(uniform_int(0, 9))
    if pick == 8:
        v = lo
    elif pick == 9:
        v = hi
    else:
        u = draw(_unit())
        if lo > 0 and hi / lo >= 100:
            v = _log_between(u, lo, hi)
        elif lo == 0 and hi >= 1_000:
            v = _log_between(u, 1.0 if p.kind == "int" else hi * 1e-7, hi)
        elif p.kind == "int":
            v = lo + math.floor(u * (hi - lo + 1))
        else:
            v = _clamp(lo + u * (hi - lo), lo, hi)
    return round(v) if p.kind == "int" else float(v)


@st.composite
def shares(draw, length: int) -> tuple[float, ...]:
    """A share vector: non-negative integer weights 0-9 (so often sparse; a third of the time one-hot),
    normalised."""
    if draw(uniform_int(0, 2)) == 0:
        w = [0] * length
        w[draw(uniform_int(0, length - 1))] = 1
    else:
        w = draw(st.lists(uniform_int(0, 9), min_size=length, max_size=length).filter(any))
    total = sum(w)
    return tuple(x / total for x in w)


@functools.cache
def value(p) -> st.SearchStrategy:
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return uniform_int(0, len(p.choices) - 1).map(lambda i: p.choices[i])
    if p.kind == "month":
        return uniform_int(month_index(p.lo), month_index(p.hi)).map(month_label)
    if p.kind == "shares":
        return shares(p.length)
    return number(p)


def fit_scale(values: dict) -> dict:
    """Lower run.scale (not below its minimum) if the drawn population would have many agents."""
    n_above, n_small, _, _ = agent_counts(Params().replace(values))
    if n_above + n_small > MAX_AGENTS:
        values["run.scale"] = max(BY_KEY["run.scale"].lo, values["run.scale"] * MAX_AGENTS / (n_above + n_small))
    return values


@st.composite
def parameter_sets(draw) -> dict:
    """A small scale, a horizon within 2013-2015, the logit rule nine times in ten (else bass), and
    5-15 other parameters, chosen uniformly, at random allowed values."""
    values = {
        "run.scale": _log_between(draw(_unit()), SCALE_LO, SCALE_HI),
        "run.end": month_label(draw(uniform_int(0, month_index("2015-12")))),
        "run.decision_rule": "bass" if draw(uniform_int(0, 9)) == 9 else "logit",  # shrinks to logit
    }
    n = draw(uniform_int(5, 15))
    keys = dict.fromkeys(POOL[i] for i in draw(st.lists(uniform_int(0, len(POOL) - 1), min_size=n, max_size=n)))
    for key in keys:
        values[key] = draw(value(BY_KEY[key]))
    above, firms = (values.get(k, BY_KEY[k].default) for k in ("population.n_above_size", "population.n_firms"))
    assume(above < firms)  # a combination Params rejects (CONSTRAINTS); tested below
    return fit_scale(values)


# --- the properties --------------------------------------------------------------------------------------

MONEY_ABS = 1e-6  # yuan


def money_tol(gross: float) -> float:
    """Tolerance of a running money balance: its float error grows with the gross amounts booked into
    it (adding and taking out 1e12 yuan leaves ~1e-4 of noise however small the balance), so 1e-9 of
    the gross flow, plus a micro-yuan."""
    return 1e-9 * abs(gross) + MONEY_ABS


def rows_by_key(rows: list[tuple]) -> tuple[dict, list[str]]:
    """{(period, region, sector, name): value} and the periods in order."""
    return {(p, r, s, n): v for p, r, s, n, v in rows}, list(dict.fromkeys(p for p, *_ in rows))


def _empty(x: float) -> bool:
    """An undefined or zero denominator (NaN counts as empty: its own group is empty)."""
    return not x > 0


# Ratios: name -> when the indicator may be NaN (its denominator group is empty at the period's end),
# given a lookup v(name) of the same period and group and the run's parameters.
def _ratio_rules():
    by_firms = lambda v, prm: _empty(v("firms"))
    by_above = lambda v, prm: _empty(v("above_size_firms"))
    rules = {i.name: by_firms for i in INDICATORS if i.name.startswith(("share_stage_", "maturity_"))}
    rules.update({
        "share_with_labour_gap": by_firms,
        "share_transformed": by_firms,
        "share_transformed_above": by_above,
        "share_digitized_above": by_above,
        "share_automated_above": by_above,
        "share_cloud_above": by_above,
        "labour_productivity_above": by_above,  # employees of above-size firms > 0 iff there are any
        "labour_productivity_above_real": by_above,
        "va_share_hightech_above": by_above,  # value added p x E > 0 for every firm
        "va_share_emerging_above": by_above,
        "va_share_equipment_above": by_above,
        # transformation is never undone, so no transformed firm at the period's end means none all period
        "labour_productivity_transformed_above": lambda v, prm: not v("share_transformed_above") > 0,
        # the period mean of untransformed employment is 0 only if none is left at the period's end
        "labour_productivity_untransformed_above": lambda v, prm: not v("share_transformed_above") < 1,
        "tech_investment_share": lambda v, prm: v("tech_investment") == 0 and (
            prm["economy.other_investment_share"] == 0 or v("value_added") == 0),
        # provider_utilisation: never (at least one provider, capacity >= 0.1, providers never leave)
        # months of providers' work waiting: undefined when no project started in the period
        "provider_backlog_months": lambda v, prm: _empty(v("projects_started")),
        # platforms never close: none at the period's end means none all period
        "shared_utilisation": lambda v, prm: _empty(v("shared_platforms")),
        "labour_productivity_shared_users": lambda v, prm: _empty(v("shared_users")),
        # stage-0 firms not on a platform: none left at the period's end (stages never fall), or users
        "labour_productivity_stage0_nonusers": lambda v, prm: _empty(v("share_stage_0")) or v("shared_users") > 0,
        # no small firm in the group (a difference of two float sums: rounding noise counts as none)
        "share_automated_or_shared_small": lambda v, prm: v("firms") - v("above_size_firms") <= 1e-9 * v("firms"),
    })
    for suffix, count in (("", "adopters"), ("_above", "adopters_above"), ("_small", "adopters_small")):
        rules[f"share_adopters_negative_npv{suffix}"] = lambda v, prm, c=count: _empty(v(c))
        rules[f"median_payback_adopters{suffix}"] = lambda v, prm, c=count: _empty(v(c))
    return rules


RATIO_NAN = _ratio_rules()
# Growth over the previous period: NaN in the first period, or when the previous period's base is not
# positive (a growth rate of a zero or negative profit is undefined).
GROWTH_BASE = {
    "profit_growth_above": lambda v: v("profit_above"),
    "va_growth_above": lambda v: v("value_added_above"),
    "va_growth_hightech_above": lambda v: v("value_added_above") * v("va_share_hightech_above"),
    "va_growth_emerging_above": lambda v: v("value_added_above") * v("va_share_emerging_above"),
    "va_growth_equipment_above": lambda v: v("value_added_above") * v("va_share_equipment_above"),
}
# Growth on comparable firms: a December's flows, so defined only for a period holding a December after 2013 with firm
# dynamics on, and then undefined only if no above-size firm of the group operated all of the year before (none above
# size, or only the year's entrants, classified in January on their first month).
SAME_FIRMS = "va_growth_same_firms_above"
assert {i.name for i in INDICATORS if "growth" in i.name} == {*GROWTH_BASE, SAME_FIRMS}, "a new growth indicator"


def _same_firms_undefined(v, period: str, params: Params) -> bool:
    if params["run.decision_rule"] == "bass" or not params["dynamics.firm_dynamics"]:
        return True
    year, end = int(period[:4]), month_index(params["run.end"])
    december = period.endswith("-12") if len(period) > 4 else end >= month_index(f"{year}-12")
    if not december or year == 2013:
        return True
    january = f"{year}-01" if len(period) > 4 else period  # entries and crossings are booked in January
    # the entrants classified above size are among both the year's entrants and its firms that crossed up
    new_above = min(v("firm_entries", january), v("above_size_entries", january))
    return _empty(v("above_size_firms")) or v("above_size_firms") <= new_above


def nan_is_legitimate(table: dict, periods: list[str], key: tuple, params: Params) -> bool:
    period, region, sector, name = key
    v = lambda n, p=period: table.get((p, region, sector, n), math.nan)
    if name == SAME_FIRMS:
        return _same_firms_undefined(v, period, params)
    if name in GROWTH_BASE:
        k = periods.index(period)
        return k == 0 or _empty(GROWTH_BASE[name](lambda n: v(n, periods[k - 1])))
    rule = RATIO_NAN.get(name)
    return rule is not None and rule(v, params)


def check_no_inf_and_nan_only_where_undefined(model: TransformationModel, rows: list[tuple]) -> None:
    """No inf anywhere; NaN only for a ratio whose denominator group is empty or a growth rate without a
    positive base; the recorder's cubes and every numeric firm array are finite."""
    table, periods = rows_by_key(rows)
    for key, x in table.items():
        assert not math.isinf(x), ("inf", key, x)
        if math.isnan(x):
            assert nan_is_legitimate(table, periods, key, model.params), ("NaN where defined", key)
    rec = model.recorder
    for name, cube in (("stocks", rec.stocks), ("flows", rec.flows), ("scalars", rec.scalars)):
        bad = ~np.isfinite(cube[: rec.months_done])
        assert not bad.any(), ("recorder", name, np.argwhere(bad)[:5])
    for fld in dataclasses.fields(Firms):
        arr = getattr(model.firms, fld.name)
        if np.issubdtype(arr.dtype, np.number):
            bad = ~np.isfinite(arr)
            assert not bad.any(), ("firms." + fld.name, np.flatnonzero(bad.reshape(bad.shape[0], -1).any(1))[:5],
                                   arr[bad][:5])


SHARES = tuple(i.name for i in INDICATORS if i.unit == "share" and i.name.startswith(("share_", "maturity_", "va_share_")))
SHARES += ("tech_investment_share",)  # part / (part + a non-negative rest)
SHARE_TOL = 1e-9  # a share is a ratio of float sums: a part may round above its whole


def check_shares_in_unit_interval(rows: list[tuple]) -> None:
    """Every share lies in [0, 1], and the five stage shares of a group sum to 1."""
    stage_sum: dict[tuple, float] = {}
    for p, r, s, n, x in rows:
        if n in SHARES and not math.isnan(x):
            assert -SHARE_TOL <= x <= 1 + SHARE_TOL, ("share outside [0, 1]", p, r, s, n, x)
        if n.startswith("share_stage_") and not math.isnan(x):
            stage_sum[p, r, s] = stage_sum.get((p, r, s), 0.0) + x
    for k, total in stage_sum.items():
        assert abs(total - 1.0) <= SHARE_TOL, ("stage shares do not sum to 1", k, total)
    # provider_utilisation is not a share: a provider takes the agent that straddles its free capacity,
    # and an agent stands for up to ~2,000 firms at these scales, so it reaches 3 here; never below 0
    for p, r, s, n, x in rows:
        if n == "provider_utilisation":
            assert x >= 0, ("negative provider utilisation", p, x)


STOCK_INDICATORS = ("firms", "above_size_firms", "firms_stage_1plus", "cloud_firms", "robots_in_service",
                    "employment", "queue_length", "firm_debt", "lease_liabilities",
                    "providers", "pilots")


def check_stocks_never_negative(model: TransformationModel, rows: list[tuple]) -> None:
    """Stocks are never negative: firm counts, robots, employment, queues, debts, leases and the fund
    (in the tidy rows and in the firm arrays); every agent stands for a positive number of firms; stages
    are 0-4."""
    for p, r, s, n, x in rows:
        if n in STOCK_INDICATORS:
            assert x >= 0, ("negative stock", p, r, s, n, x)
        if n == "fund_remaining":
            assert x >= 0, ("negative fund", p, n, x)
    f = model.firms
    for name in ("debt", "lease_liability", "robots", "employed", "workers_saved"):
        arr = getattr(f, name)
        bad = ~(arr >= 0)  # NaN is bad too
        assert not bad.any(), ("negative firms." + name, np.flatnonzero(bad)[:5], arr[bad][:5])
    assert (f.weight > 0).all(), ("agents standing for <= 0 firms", np.unique(f.weight[f.weight <= 0]))
    assert ((f.stage >= 0) & (f.stage <= 4)).all(), ("stage outside 0-4", np.unique(f.stage))


def check_stages_only_climb(stage_start: np.ndarray, key_start: np.ndarray, model: TransformationModel) -> None:
    """No firm ends a run at a lower stage than it started (an entrant in a closed firm's slot starts anew)."""
    fell = np.flatnonzero((model.firms.stage < stage_start) & (model.firms.key == key_start))
    assert fell.size == 0, ("stage fell", fell[:5], stage_start[fell[:5]], model.firms.stage[fell[:5]])


def _close(a: float, b: float, gross: float) -> bool:
    return abs(a - b) <= money_tol(gross)


def check_money_is_conserved(model: TransformationModel) -> None:
    """Subsidies paid to firms = what the province's and the cities' budgets paid out = the sum of the
    lines; no budget pays more than it released; bank loans lent = outstanding + repaid + written off,
    and outstanding = the firms' debt; leases financed = outstanding + repaid + written off + shortfalls
    borne by the lessors + equipment recovered."""
    rec, gov, cities, bank, lp, f = model.recorder, model.government, model.cities, model.bank, model.leasing, model.firms
    paid_to_firms = float(rec.flows[: rec.months_done, FLOWS.index("subsidy_spent")].sum())
    paid_by_govts = gov.subsidy_paid_total + sum(c.paid_total for c in cities)
    assert paid_to_firms == pytest.approx(paid_by_govts, rel=1e-9, abs=MONEY_ABS), (
        "subsidies paid != paid out", paid_to_firms, paid_by_govts)
    lines = sum(float(rec.flows[: rec.months_done, FLOWS.index(n)].sum()) for n in
                ("subsidy_robots", "subsidy_awards", "subsidy_pilots", "subsidy_vouchers"))
    assert _close(lines, paid_to_firms, paid_to_firms), ("lines != subsidies paid", lines, paid_to_firms)
    fund_spent = float(rec.scalars[: rec.months_done, SCALARS.index("fund_spent")].sum())
    fund_paid = gov.fund.paid_total + gov.envelope.paid_total
    assert _close(fund_spent, fund_paid, fund_paid), ("recorded fund spending != fund paid", fund_spent, fund_paid)
    released = gov.fund.released_total + gov.envelope.released_total
    full = model.params["government.special_fund_budget"] * (model.month // 12 + 1) * \
        model.params["government.special_fund_enabled"]  # a year's budget each January the programme is on
    if model.params["programme.start"] == "2013-01":
        assert _close(released, full, released), ("fund released", released)
    else:  # a later programme releases nothing before its start, then pro rata in its first year
        assert released <= full * (1 + 1e-9), ("fund released", released)
    budgets = [gov.fund, gov.envelope, gov.vouchers, *(c.budget for c in cities)]
    for b in budgets:
        tol = money_tol(b.released_total)
        assert b.paid_total <= b.released_total + tol, ("a budget paid more than it released", b.paid_total,
                                                        b.released_total)
        assert b.remaining >= 0, ("budget overdrawn", b.remaining)
        if b.carryover:
            assert _close(b.remaining, b.released_total - b.paid_total, b.released_total), (
                "left != released - paid", b.remaining, b.released_total, b.paid_total)

    debt = float((f.debt * f.weight).sum())
    assert _close(bank.loans_outstanding, debt, bank.lent_total), (
        "bank's loans != firms' debt", bank.loans_outstanding, debt, bank.lent_total)
    booked = bank.loans_outstanding + bank.repaid_total + bank.written_off_total
    assert _close(bank.lent_total, booked, bank.lent_total), (
        "lent != outstanding + repaid + written off", bank.lent_total, bank.loans_outstanding, bank.repaid_total,
        bank.written_off_total)
    leases = float((f.lease_liability * f.weight).sum())
    booked = leases + lp.repaid_total + lp.written_off_total + lp.shortfall_total + lp.recovered_total
    assert _close(lp.financed_total, booked, lp.financed_total), (
        "leased != outstanding + repaid + written off + shortfall + recovered", lp.financed_total, leases,
        lp.repaid_total, lp.written_off_total, lp.shortfall_total, lp.recovered_total)


def check_firm_counts_match_population(model: TransformationModel, rows: list[tuple]) -> None:
    """The province has population.n_firms firms, population.n_above_size of them above size, every year
    (above size only without firm dynamics: with them the panel is renewed each January)."""
    pop = model.params.population
    counts = ("firms",) if model.params["dynamics.firm_dynamics"] else ("firms", "above_size_firms")
    for p, r, s, n, x in rows:
        if r == "Zhejiang" and s == "all" and n in counts:
            want = pop.n_firms if n == "firms" else pop.n_above_size
            assert x == pytest.approx(want, rel=1e-9), ("firm count", p, n, x, want)


def build(values: dict, seed: int) -> TransformationModel:
    return TransformationModel(seed=seed, params=Params().replace(values), collect_headline=False)


def run_and_check(model: TransformationModel) -> None:
    """Run a freshly built model and check every property (the model's memory is freed afterwards)."""
    try:
        stage_start, key_start = model.firms.stage.copy(), model.firms.key.copy()
        model.run()
        yearly = tidy_rows(model.recorder, True)
        monthly = tidy_rows(model.recorder, False)
        check_no_inf_and_nan_only_where_undefined(model, yearly)
        check_no_inf_and_nan_only_where_undefined(model, monthly)
        check_shares_in_unit_interval(yearly)
        check_shares_in_unit_interval(monthly)
        check_stocks_never_negative(model, yearly)
        check_stocks_never_negative(model, monthly)
        check_stages_only_climb(stage_start, key_start, model)
        check_money_is_conserved(model)
        check_firm_counts_match_population(model, yearly)
    finally:
        model.release()


# --- violations it found ---------------------------------------------------------------------------------
# Each violation of these properties the test found is fixed; a minimal example of each is kept below, so that it
# stays fixed. None is known now, and the main test excludes no run.
def test_two_violations_it_found_are_fixed():
    """The test first found: n_above_size >= n_firms gave small firms weights <= 0 (now a one-line
    ParamError), and labour_gap_mean 0.9 drew gaps of exactly 1, infinite labour needs (now capped)."""
    with pytest.raises(ParamError, match="must be smaller than population.n_firms"):
        Params().replace({"population.n_firms": 1000})
    run_and_check(build({"run.scale": 0.001, "run.end": "2013-01", "population.labour_gap_mean": 0.9}, 10))


@pytest.mark.slow
# 1,150 examples: hypothesis mutates earlier examples, so some repeat one; 1,150 give over 1,000 distinct
# parameter sets (1,037; 1,064 distinct with their seeds).
@settings(max_examples=1150, deadline=None, derandomize=True, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(values=parameter_sets(), seed=_word)
def test_every_allowed_parameter_set_gives_a_consistent_province(values, seed):
    """Whatever allowed values the parameters take, a run is a consistent province: every output is a
    finite number, or undefined (NaN) only where its definition has nothing to measure; shares are
    shares, stocks are never negative and no firm loses a stage; every yuan of subsidy paid came out
    of a budget that had it, and every yuan lent or leased is outstanding, repaid or written off; and
    the province has the number of firms it was built with."""
    run_and_check(build(values, seed))
