"""Differential testing: the vectorised kernel against the per-firm reference (simmodel/reference.py)."""

import numpy as np
import pytest

from simmodel.model import decision
from simmodel.model import TransformationModel
from simmodel.params import Params
from simmodel.model.reference import ReferenceModel


@pytest.fixture(scope="module")
def mid_run():
    """A vectorised model in March 2016, with projects, beliefs, cloud and loans under way."""
    m = TransformationModel(seed=21, scale=0.01, end="2016-03")
    m.run()
    return m


def _both(m, ctx, u):
    """The reference's and the kernel's decisions for every eligible firm, same state, same draws."""
    ref = ReferenceModel.choices(_as_reference(m), ctx, u)
    idx = np.array(sorted(ref), np.int64)
    f = m.firms
    opts = decision.choose(f.stage[idx], f.sector[idx], f.city[idx], f.cell[idx], f.output[idx], f.productivity[idx],
                           f.workforce_cap[idx], f.wage[idx], m.adoption.planning_ratio()[idx], f.exposure[idx],
                           f.margin[idx], f.staff_quality[idx], ctx)
    return idx, ref, opts


def _as_reference(m):
    """The same model object, seen by the reference (its agents read the shared arrays)."""
    from simmodel.model.reference import FirmAgent
    m.firm_agents = [FirmAgent(m, i) for i in range(m.firms.n)]
    return m


def _no_subsidy(m):
    t = m.subsidies.terms()
    return t.__class__(**{**t.__dict__, "province_rate": 0.0, "city_rate": np.zeros(11), "post_rate": 0.0})


@pytest.mark.parametrize("changes", [{}, {"value_measure": "payback"}, {"skip_allowed": False}, "no subsidy"])
def test_reference_and_kernel_take_the_same_decisions_firm_by_firm(mid_run, changes):
    m = mid_run
    ctx = m.adoption.context(66_000.0, 0.8)
    changes = {"subsidy": _no_subsidy(m)} if changes == "no subsidy" else changes
    ctx = ctx.__class__(**{**ctx.__dict__, **changes})
    u = np.random.default_rng(0).random(m.firms.n, dtype=np.float32) * 0.05  # many adopters to compare
    idx, ref, opts = _both(m, ctx, u)
    assert idx.size > 1000 and (u[idx] < opts.prob).sum() > 20
    assert np.array_equal(opts.target, [ref[i].target for i in idx])
    assert np.allclose(opts.prob, [ref[i].prob for i in idx], rtol=1e-12, atol=0)
    assert np.allclose(opts.value, [ref[i].value for i in idx], rtol=1e-12, atol=1e-12)
    assert np.array_equal(u[idx] < opts.prob, [ref[i].adopt for i in idx])


def test_thinned_kernel_selects_exactly_the_references_adopters(mid_run):
    m = mid_run
    ctx = m.thinning.ctx
    u = np.random.default_rng(5).random(m.firms.n, dtype=np.float32)
    z = m.thinning.index(m.adoption.planning_ratio(), ctx)
    candidates = set(np.flatnonzero(m.adoption.eligible_mask() & (u < np.exp(z + np.float32(1e-3)))).tolist())
    ref = ReferenceModel.choices(_as_reference(m), ctx, u)
    adopters = {i for i, c in ref.items() if c.adopt}
    assert adopters and adopters <= candidates  # the bound never drops an adopter
    assert len(candidates) < 0.5 * len(ref)  # and it does save work


@pytest.mark.parametrize("extra", [{}, {"decision.value_measure": "payback"}, {"beliefs.peer_learning": 2.0}])
def test_whole_runs_are_identical(extra):
    p = Params().replace({"run.scale": 0.004, "run.end": "2015-06", **extra})
    fast, slow = TransformationModel(seed=4, params=p), ReferenceModel(seed=4, params=p)
    fast.run()
    slow.run()
    assert np.array_equal(fast.recorder.stocks, slow.recorder.stocks)
    assert np.array_equal(fast.recorder.flows, slow.recorder.flows)
    assert np.array_equal(fast.firms.proj_phase, slow.firms.proj_phase)
    assert (fast.firms.stage > 0).sum() > 0 and fast.recorder.flows.sum() > 0
