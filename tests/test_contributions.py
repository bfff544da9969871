"""The signs the seed paper reports, at the calibrated baseline, on common random numbers.

Each instrument's contribution is baseline minus the scenario without it, per seed, for seeds
1-8 at scale 0.05 (the scale of docs/contributions.md). Where the effect is large against the seed
noise (leasing, conferences, the approval reform, the cloud action's cloud firms) the test asks the 95 %
interval of the mean to exclude zero. Where it is small (robot subsidies: a project's robots are a small
share of its cost; the expert groups' diagnoses) eight seeds cannot exclude zero (docs/contributions.md uses 20
and does): the test asks the mean to have the claimed sign. The fund's claim does not hold at the calibrated
point, nor does a fund twice as large add firms distinguishably on eight seeds; their tests state the mechanism
behind both.
With the instrument removed the difference is exactly zero on every seed, so an instrument that stopped working
fails, as does one that works the wrong way by more than the noise of eight seeds.

The instruments file and the table are tested too: every scenario it names exists, and the verdict
logic reads the interval of the mean.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from simmodel.analysis import contributions, scenarios
from simmodel.analysis.stats import mean_interval, mean_sd, t_interval
from simmodel.runs.runner import run

SEEDS = tuple(range(1, 9))
SCALE = 0.05
METRICS = ("firms_stage_1plus", "labour_productivity_above", "cloud_firms", "subsidy_awards", "subsidy_pilots")


@functools.lru_cache(maxsize=128)
def outcome(scenario: str, seed: int, extra: tuple = ()) -> dict[str, np.ndarray]:
    """Province-wide yearly values of METRICS (2013-2020) of one run (``extra``: (key, value) pairs set too)."""
    params = scenarios.load(scenario).params.replace({"run.scale": SCALE, **dict(extra)})
    r = run(params, seed, monthly=False, names=METRICS)
    out = {m: np.zeros(8) for m in METRICS}
    for period, region, sector, name, value in r.yearly:
        if region == "Zhejiang" and sector == "all":
            out[name][int(period) - 2013] = value
    return out


def contribution(scenario: str, metric: str = "firms_stage_1plus", extra: tuple = (),
                 seeds: tuple = SEEDS) -> np.ndarray:
    """Baseline minus ``scenario`` in 2020, per seed (both with ``extra`` set)."""
    return np.array([outcome("baseline", s, extra)[metric][-1] - outcome(scenario, s, extra)[metric][-1]
                     for s in seeds])


@pytest.mark.parametrize("scenario", ["no_leasing", "no_conferences", "no_approval_reform"])
def test_the_instrument_adds_firms_at_stage_1_or_more(scenario):
    lo, hi = mean_interval(contribution(scenario))
    assert lo > 0, (scenario, lo, hi)


def test_the_expert_groups_add_firms_on_average():
    assert contribution("no_expert_groups").mean() > 0


def test_the_robot_subsidies_contribution_to_adopters_is_small():
    """The cities' robot purchase subsidies (10-20 % of a robot's price, 851 m yuan over 2013-2020) add firms at stage
    >= 1 in 2020 by an amount not distinguishable from zero (docs/contributions.md, 20 seeds), so their sign is not
    asserted here (on seeds 1-8 the mean was +164, 95 % interval -436 to 765, before 2026-12-07's fix of entrants'
    first-month margin, and -41 after it, from per-seed contributions of -870 to +970). What is asserted is that it
    is small: the 95 % interval of the mean lies within 1 % of baseline's firms at stage >= 1. Their direction is the
    dose-response of test_economics.py (a higher purchase rate starts more projects)."""
    lo, hi = mean_interval(contribution("no_subsidy"))
    level = np.mean([outcome("baseline", s)["firms_stage_1plus"][-1] for s in SEEDS])
    assert -0.01 * level < lo < hi < 0.01 * level, (lo, hi, level)


def test_the_fund_raises_productivity_and_pulls_firms_toward_skipping_a_stage():
    """The seed paper's claim for the fund (it added firms) does not hold at the calibrated point: the fund moves
    firms up the ladder (stages 2-4) and raises above-size productivity, while firms at stage >= 1 are fewer
    (docs/contributions.md; -4,180, standard error 360, on seeds 1-8 at the seventh calibration's point). Its
    award is a share of capital cost, worth most on the largest project, so more stage-0 firms skip to stage 2,
    which fewer finance and complete: with skipping disallowed the fund adds firms (measured +1,990, standard error
    210, on seeds 1-8). At the fifth calibration's point the bank's tightening on its borrowers' defaults added to
    the loss measurably; at the sixth's and the seventh's it does not (tightening off minus on: +376, 95 % interval
    -92 to 844, on seeds 1-20), so that is not asserted."""
    lo, _ = mean_interval(contribution("no_fund", "labour_productivity_above"))
    assert lo > 0
    no_skipping = (("decision.skip_allowed", False),)
    lo, hi = mean_interval(contribution("no_fund", extra=no_skipping))
    assert lo > 0, (lo, hi)


@pytest.mark.parametrize("seed", [1, 2])
def test_pilots_move_their_own_firms_up_the_ladder(seed):
    """About 300 real pilot firms (30 industries x 10) add little public evidence in cells of hundreds of firms:
    at the seventh calibration's point they change firms at stage >= 1 by -58 on 40 seeds (standard error 77;
    -172 on the 20 of docs/contributions.md, whose simultaneous interval covers zero), and above-size
    productivity does not move distinguishably (at the hand-set point of 2026-12-02 it did). What pilots
    do is their own projects, started at once with support, finance and the first place in the queue: the same
    firms (common random numbers) stand higher on the ladder in 2020 with the programme than without it (by 0.6-0.8
    of a stage on seeds 1-3 at scale 0.02; the test asks 0.2)."""
    from simmodel.model import TransformationModel

    firms = {}
    for name in ("baseline", "no_pilots"):
        m = TransformationModel(seed=seed, params=scenarios.load(name).params.replace({"run.scale": 0.02}),
                                collect_headline=False)
        m.run()
        firms[name] = m.firms
    b, n = firms["baseline"], firms["no_pilots"]
    pilots = (b.key == n.key) & b.alive & n.alive & b.pilot
    assert pilots.any()
    w = b.weight[pilots]
    assert np.average(b.stage[pilots], weights=w) > np.average(n.stage[pilots], weights=w) + 0.2


def test_a_bigger_fund_adds_firms_while_it_binds_once_skipping_is_disallowed():
    """While the fund binds, more of it pays more awards, which lower the cost of more projects: a fund twice as
    large adds firms at stage >= 1 once the award's pull toward skipping a stage is removed. Seeds 1-16: at the
    eighth calibration's point, which adopts less, the effect is about +520 firms (95 % interval of the mean 222 to
    811), and eight seeds no longer exclude zero (-65 to 847; 2026-12-07); at the seventh's it was +362 (60 to 664)
    on seeds 1-8. With skipping allowed it adds +182 (-109 to 473) on seeds 1-8 at the eighth's point (+264 at the
    seventh's; at the sixth's the two cancelled); against no fund, funds of 100, 200, 300 and 400 m yuan a year gave
    -4,670, -4,180, -4,140 and -3,920 firms at the seventh's point (standard errors 350-440, seeds 1-8, 2026-12-06)."""
    for s in SEEDS:  # the fund binds: from 2014 its awards and the pilots' support take all of it
        o = outcome("baseline", s)
        assert np.allclose((o["subsidy_awards"] + o["subsidy_pilots"])[1:], 200e6, rtol=1e-6)
    no_skipping = (("decision.skip_allowed", False),)
    bigger = contribution("double_fund", extra=no_skipping, seeds=tuple(range(1, 17)))  # baseline minus a bigger fund
    lo, hi = mean_interval(bigger)
    assert hi < 0, (lo, hi)


def test_conferences_do_not_lower_productivity():
    lo, _ = mean_interval(contribution("no_conferences", "labour_productivity_above"))
    assert lo > 0


def test_the_cloud_action_adds_cloud_firms():
    lo, _ = mean_interval(contribution("no_cloud_action", "cloud_firms"))
    assert lo > 100_000  # the action's target was 100,000 firms a year from 2017


def test_the_instruments_file_names_existing_scenarios():
    spec = contributions.load()
    for inst in spec.instruments:
        scenarios.load(inst.scenario)
    assert spec.reference == "baseline"


@pytest.mark.parametrize("claim,lo,hi,expected", [
    ("+", 3.0, 160.0, "as claimed"), ("+", -5.0, 160.0, "not distinguishable from zero"),
    ("+", -50.0, -1.0, "opposite"), ("-", -50.0, -1.0, "as claimed"), ("none", 1.0, 2.0, "no claim")])
def test_the_verdict_reads_the_interval_of_the_mean(claim, lo, hi, expected):
    assert contributions.verdict(claim, lo, hi) == expected


def test_the_bars_are_labelled_by_instrument_and_carry_the_interval_the_verdict_reads():
    """A bar is what an instrument adds: it is labelled by the instrument, not by the scenario that switches it
    off (whose effect has the other sign), and carries the interval of the mean that the verdict reads
    beside the 5-95 % spread of single runs (the review found only the spread drawn, crossing zero where the
    verdict said "as claimed")."""
    import pandas as pd

    spec = contributions.load()
    t = pd.DataFrame({"scenario": ["no_subsidy"], "metric": ["firms_stage_1plus"], "contribution_mean": [5.0],
                      "contribution_p05": [-1.0], "contribution_p95": [11.0], "contribution_mean_lo": [3.0],
                      "contribution_mean_hi": [7.0]})
    b = contributions.bars(spec, t)
    assert b.row.tolist() == ["Robot purchase subsidies"]
    assert b[["mean", "p05", "p95", "lo", "hi"]].iloc[0].tolist() == [5.0, -1.0, 11.0, 3.0, 7.0]


def test_the_table_calls_a_sign_for_an_instrument_without_any_effect_in_at_most_5_percent_of_tables():
    """The table reads one verdict per claimed instrument. If no instrument had any effect, a table should call
    a sign for any of them rarely: in at most 5 % of tables (its intervals are simultaneous). Read at 95 % each,
    eight verdicts call some sign in about a third of tables (1 - 0.95^8): the pilots' verdict flipped between
    "as claimed" and "opposite", each only just, at the sixth and seventh calibrations' points, and on 40 seeds
    it is -58 firms (standard error 77). Here: 2,000 tables of 20 seeds each, per-seed contributions of zero mean
    (normal), each instrument's verdict read off the interval the table gives it (the next test); the bound
    allows three binomial standard errors of a 5 % rate over 2,000 tables (0.49 % each)."""
    spec = contributions.load()
    claimed = [inst for inst in spec.instruments if inst.claim != "none"]
    assert len(claimed) >= 8
    at = contributions.level(spec)
    x = np.random.default_rng(20).normal(size=(2000, len(claimed), 20))
    called = [any(contributions.verdict(inst.claim, *t_interval(*mean_sd(x[t, j]), at)) != "not distinguishable "
                  "from zero" for j, inst in enumerate(claimed)) for t in range(len(x))]
    assert np.mean(called) <= 0.05 + 3 * 0.0049, np.mean(called)


def test_the_table_gives_each_contribution_the_simultaneous_interval_of_its_mean():
    """A scenario that removes an instrument has the opposite effect: the contribution is minus the effect, and its
    interval is the Student-t interval of the mean at the table's level, wider than the comparison's 95 %."""
    import pandas as pd

    from simmodel.analysis.experiments import EFFECT

    spec = contributions.load()
    x = np.random.default_rng(3).normal(-50.0, 100.0, 20)  # the effect of no_subsidy, scenario minus baseline
    lo95, hi95 = mean_interval(x)
    effects = pd.DataFrame({"scenario": ["no_subsidy"], "year": [2020], "period": ["2020"],
                            "metric": ["firms_stage_1plus"], "reference_mean": [1.0], f"{EFFECT}_mean": [x.mean()],
                            f"{EFFECT}_p05": [0.0], f"{EFFECT}_p50": [0.0], f"{EFFECT}_p95": [0.0],
                            f"{EFFECT}_pct_mean": [0.0], f"{EFFECT}_sd": [x.std(ddof=1)],
                            f"{EFFECT}_se": [x.std(ddof=1) / np.sqrt(20)], "runs": [20], "units": [20]})
    c = contributions.table(spec, effects).iloc[0]
    assert c.contribution_mean == -x.mean()
    assert np.isclose(c.contribution_mean_lo, -mean_interval(x, c.level)[1])
    assert np.isclose(c.contribution_mean_hi, -mean_interval(x, c.level)[0])
    assert c.contribution_mean_lo < -hi95 and c.contribution_mean_hi > -lo95
    assert c.level == 1 - 0.05 / len([inst for inst in spec.instruments if inst.claim != "none"])
