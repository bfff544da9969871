"""The investment decision (MODEL.md section 5): directions all else equal, and exact thinning."""

import numpy as np
import pytest

from conftest import flow_total, run
from simmodel.model import decision
from simmodel.model import TransformationModel


def _context(model, **changes):
    ctx = model.adoption.context(60_000.0, 1.0)
    return ctx.__class__(**{**ctx.__dict__, **changes})


def _options(model, ctx, ratio=None):
    f = model.firms
    idx = model.adoption.eligible()
    r = model.adoption.planning_ratio()[idx] if ratio is None else np.full(idx.size, ratio)
    return decision.choose(f.stage[idx], f.sector[idx], f.city[idx], f.cell[idx], f.output[idx], f.productivity[idx],
                           f.workforce_cap[idx], f.wage[idx], r, f.exposure[idx], f.margin[idx], f.staff_quality[idx],
                           ctx)


@pytest.fixture(scope="module")
def fresh():
    return TransformationModel(seed=11, scale=0.01)


def _subsidy(model, rate):
    t = model.subsidies.terms()
    return t.__class__(**{**t.__dict__, "province_rate": 0.0, "city_rate": np.full(11, rate),
                          "city_cap": np.full(11, 1e12)})


def test_a_purchase_subsidy_raises_every_firms_adoption_probability(fresh):
    low = _options(fresh, _context(fresh, subsidy=_subsidy(fresh, 0.0)))
    high = _options(fresh, _context(fresh, subsidy=_subsidy(fresh, 0.15)))
    assert np.all(high.prob >= low.prob) and np.mean(high.prob > low.prob) > 0.9


def test_a_more_optimistic_belief_raises_the_value_of_transformation(fresh):
    ctx = _context(fresh)
    assert np.all(_options(fresh, ctx, 1.2).value > _options(fresh, ctx, 0.8).value)


def test_more_peers_adopted_raise_the_probability(fresh):
    ctx = _context(fresh)
    more = _context(fresh, peer_share=np.clip(ctx.peer_share + 0.2, 0, 1))
    assert np.all(_options(fresh, more).prob > _options(fresh, ctx).prob)


def test_skipping_a_stage_is_chosen_only_when_it_is_worth_more(fresh):
    ctx = _context(fresh)
    no_skip = _options(fresh, _context(fresh, skip_allowed=False))
    both = _options(fresh, ctx)
    skipped = both.target > fresh.firms.stage[fresh.adoption.eligible()] + 1
    assert skipped.any()
    assert np.all(both.value[skipped] > no_skip.value[skipped])
    assert np.all(both.value >= no_skip.value)


def test_payback_rule_ranks_cheaper_projects_higher(fresh):
    ctx = _context(fresh, value_measure="payback")
    o = _options(fresh, ctx)
    payback = o.net_cost / np.maximum(o.benefit, 1e-9)
    ok = o.benefit > 0
    order = np.argsort(payback[ok])
    assert np.all(np.diff(o.value[ok][order]) <= 1e-12)


@pytest.mark.parametrize("extra", [{}, {"decision.value_measure": "payback"}, {"decision.skip_allowed": False}])
def test_thinning_is_exact_whole_runs_are_identical(extra):
    from simmodel.params import Params

    def go(thin):
        m = TransformationModel(seed=5, params=Params().replace({"run.scale": 0.01, "run.end": "2017-12", **extra}))
        m.thinning.enabled = thin
        m.run()
        return m

    a, b = go(True), go(False)
    assert np.array_equal(a.recorder.stocks, b.recorder.stocks)
    assert np.array_equal(a.recorder.flows, b.recorder.flows)
    assert np.array_equal(a.firms.stage, b.firms.stage)


def test_higher_subsidy_rate_gives_more_projects_when_the_fund_does_not_bind():
    budget = {"government__special_fund_budget": 1e11}
    low = run(government__purchase_subsidy_rate=0.10, **budget)
    high = run(government__purchase_subsidy_rate=0.20, **budget)
    assert flow_total(high, "projects_started") > 1.05 * flow_total(low, "projects_started")


def test_a_larger_true_gain_makes_diffusion_faster():
    from conftest import share_adopted

    base, better = run(), run(technology__true_gain_multiplier=1.5)
    gain = share_adopted(better) - share_adopted(base)
    assert gain[-1] > 0.01 and np.all(gain >= -1e-4)  # never behind (common random numbers), ahead by 2020
