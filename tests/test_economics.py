"""The firm's investment decision as a modeller would check it (issue #15), at the baseline on common
random numbers: economics decides who adopts, with the directions the seed paper and the surveys give.

Each claim holds on every one of three seeds (same seed, one parameter changed), or for a dose-response the mean
over seeds (see _dose_response), so a mechanism that stopped working or worked the wrong way fails; none of the
expected values comes from the model.
"""

from __future__ import annotations

import numpy as np

from conftest import flow_total, run, stock_series
from simmodel.analysis.stats import mean_interval
from simmodel.model.indicators import FLOWS, PAYBACK_BINS, PAYBACK_EDGES

SEEDS = (7, 8, 9)


def _by_size(m, name: str) -> np.ndarray:
    """A flow over the whole run, (small, above-size), real firms."""
    flows = m.recorder.flows[:, FLOWS.index(name)]
    return flows.reshape(flows.shape[0], -1, 2).sum(axis=(0, 1))


def test_adopters_rarely_take_a_project_they_expect_to_lose_money_on():
    # issue #15: among adopters, the share with a negative expected NPV at decision time below 10 %
    # (the calibrated point before it had 57 % in 2013 and above 20 % until 2018)
    for seed in SEEDS:
        m = run(seed)
        share = flow_total(m, "adopters_negative_npv") / flow_total(m, "adopters")
        assert share < 0.10, (seed, share)


def test_above_size_adopters_pay_back_in_the_years_surveys_report():
    # surveys: firms accept paybacks of 2-3 years (DATA.md B); the pooled median of 2013-2020 must lie
    # in [1.5, 3.5], the surveys' range widened by about two payback bins (each 19 % wide) either side
    for seed in SEEDS:
        m = run(seed)
        counts = np.array([_by_size(m, b)[1] for b in PAYBACK_BINS])
        cum = np.cumsum(counts) / counts.sum()
        b = int(np.searchsorted(cum, 0.5))
        median = np.sqrt(PAYBACK_EDGES[b] * PAYBACK_EDGES[b + 1])
        assert 1.5 <= median <= 3.5, (seed, median)


def _dose_response(started: list[list[float]]) -> None:
    """Projects started by seed (rows) and dose (columns, increasing): the largest dose beats the smallest, the 95 %
    interval of the mean difference over seeds (Student t) above zero, and over the seeds together each step
    raises the total. Not on every seed: with firm dynamics, closures differ between scenarios and add path noise of
    up to about 1 % of projects started at a seed, which can exceed a weak instrument's effect there."""
    x = np.array(started)
    assert mean_interval(x[:, -1] - x[:, 0])[0] > 0, x
    assert (np.diff(x.sum(axis=0)) > 0).all(), x.sum(axis=0)


def test_higher_expected_wage_growth_brings_more_machine_substitution():
    # the motive of machine substitution (rising labour costs): dose-response in the weight firms put
    # on the wage growth they last saw (0: they plan with today's wage; 1: baseline; 2: twice)
    _dose_response([[flow_total(run(seed, decision__wage_growth_weight=w), "projects_started") for w in (0.0, 1.0, 2.0)]
                    for seed in SEEDS])


def test_a_larger_purchase_subsidy_brings_more_adopters_while_the_money_is_there():
    # a weak instrument (its robots follow the workers a project saves: docs/contributions.md): from 5 % to 30 % of
    # the robots' price, +841 projects started on average over seeds 7-30 (95 % interval 494 to 1,188; 4 of the 24
    # seeds below zero), measured 2026-12-06 after the public evidence became as noisy as the real firms' (on seeds
    # 7-14 alone the interval then reached -23: eight seeds cannot tell it from the path noise of closures)
    _dose_response([[flow_total(run(seed, cities__purchase_rate=r), "projects_started") for r in (0.05, 0.15, 0.30)]
                    for seed in range(7, 31)])


def test_a_cheaper_lease_brings_more_leases_and_more_projects():
    for seed in SEEDS:
        base, cheap = run(seed), run(seed, leasing__funding_rate=0.02)
        leases = [sum(flow_total(x, f"leases_{k}") for k in ("funds", "materials", "engineering")) for x in (base, cheap)]
        assert leases[1] > leases[0], (seed, leases)
        assert flow_total(cheap, "projects_started") > flow_total(base, "projects_started"), seed


def test_a_labour_gap_makes_firms_adopt_sooner():
    # the seed's motive of recruitment gaps: the same firms, valued with a tenth of their labour needs
    # unfilled, are more likely to adopt this month than with every post filled (about 8 % more expected
    # adopters at this seed; with a gap a gain raises output, which is worth more than the wages it
    # would save; a planted bug that ignores the recruitment cap makes the two equal and fails)
    from simmodel.model import TransformationModel

    m = TransformationModel.from_scenario("baseline", seed=7, scale=0.02)
    for _ in range(40):
        m.step()
    a = m.adoption
    idx = a.eligible()
    ctx = m.adoption_context
    needs = m.firms.output[idx] / m.firms.productivity[idx]
    saved = m.firms.workforce_cap[idx].copy()
    try:
        m.firms.workforce_cap[idx] = 2.0 * needs
        full, _ = a.options(idx, ctx)
        m.firms.workforce_cap[idx] = 0.9 * needs
        gap, _ = a.options(idx, ctx)
    finally:
        m.firms.workforce_cap[idx] = saved
    assert gap.prob.sum() > 1.05 * full.prob.sum(), (gap.prob.sum(), full.prob.sum())


def test_demand_net_of_what_transformation_adds_grows_slower_and_leaves_fewer_labour_gaps():
    # docs/ODD.md 3.6: the demand index is the reported growth of above-size value added, what transformation added
    # included; economy.demand_index_offset takes growth off it in every year. In the first month every firm's
    # capacity output grows by the month's share of the year's index: 2013's is 8.1 % (series.csv), so with 2 points
    # taken off, by (1.061 / 1.081) ** (1 / 12) less. Over whole runs the same firms produce less and fewer of them
    # are short of labour at the end, on every seed.
    from simmodel.model import TransformationModel

    gross, net = (TransformationModel.from_scenario("baseline", seed=7, scale=0.02, demand_index_offset=d)
                  for d in (0.0, 0.02))
    for m in (gross, net):
        m.step()
    alive = gross.firms.alive & net.firms.alive
    assert alive.sum() > 10_000
    ratio = net.firms.output[alive] / gross.firms.output[alive]
    np.testing.assert_allclose(ratio, (1.061 / 1.081) ** (1 / 12), rtol=1e-12)
    for seed in SEEDS:
        base, less = run(seed, economy__demand_index_offset=0.0), run(seed, economy__demand_index_offset=0.02)
        va, gaps = (np.array([stock_series(m, q)[-1] for m in (base, less)]) for q in ("va", "gap_firms"))
        assert va[1] < 0.95 * va[0], (seed, va)  # 2013-2020 at 2 points less: about 14 % less demand
        assert gaps[1] < gaps[0], (seed, gaps)


def test_with_the_investment_trigger_no_firm_adopts_a_project_not_worth_doing_now():
    # decision.invest_trigger (Dixit and Pindyck): probability 0 unless NPV exceeds the value of waiting
    from conftest import baseline_params
    from simmodel.model import TransformationModel

    m = TransformationModel(seed=7, params=baseline_params().replace({"run.scale": 0.02,
                                                                      "decision.invest_trigger": True}))
    for _ in range(40):
        m.step()
    a = m.adoption
    idx = a.eligible()
    ctx = a.context(m.tables.wage[0], 1.0)
    assert ctx.trigger
    opts, _ = a.options(idx, ctx)
    assert np.all(opts.prob[opts.value <= 0] == 0) and (opts.prob > 0).any()
