"""The summaries every table and verdict reads (analysis/stats.py), stated as a modeller would."""

import numpy as np
import pytest
from scipy import stats as st

from simmodel.analysis import contributions, stats


def test_a_mean_two_standard_errors_from_zero_on_five_seeds_is_not_distinguishable_from_zero():
    """Seeds are few: the interval of a mean over 5 seeds is Student t's, about 2.78 standard errors each side, so
    a contribution 2.2 standard errors above zero is not yet "as claimed" (a normal 1.96 would call it; a probe
    that used it survived every test)."""
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    se = x.std(ddof=1) / np.sqrt(x.size)
    x = x + 2.2 * se  # the mean is 2.2 standard errors above zero
    lo, hi = stats.mean_interval(x)
    assert lo < 0 < hi
    assert contributions.verdict("+", lo, hi) == "not distinguishable from zero"
    lo, hi = stats.mean_interval(x + 0.7 * se)  # 2.9 standard errors: beyond t(0.975, 4) = 2.776
    assert lo > 0 and contributions.verdict("+", lo, hi) == "as claimed"


def test_over_posterior_draws_the_interval_of_a_mean_rests_on_the_draws_not_the_runs():
    """Over the posterior the seeds of one draw share its parameters, so its runs are not independent replications
    of the mean over the posterior: ten draws whose contributions differ, each run on four seeds that nearly agree,
    give the Student-t interval of the ten draws' means (9 degrees of freedom), about twice as wide as one that
    counted 40 independent runs (what the tables read until 2026-12-07); at the calibrated point the runs are
    the replications."""
    rng = np.random.default_rng(7)
    x = np.repeat(rng.normal(300.0, 400.0, 10), 4) + rng.normal(0.0, 10.0, 40)  # 10 draws x 4 seeds
    draws = np.repeat(np.arange(10), 4)
    means = x.reshape(10, 4).mean(axis=1)
    half = st.t.ppf(0.975, 9) * means.std(ddof=1) / np.sqrt(10)
    assert stats.mean_interval(x, draws=draws) == pytest.approx((x.mean() - half, x.mean() + half))
    assert stats.mean_se(x, draws)[2] == 10 and stats.mean_se(x)[2] == 40
    lo, hi = stats.mean_interval(x)  # every run counted as a replication
    assert 2 * half > 1.8 * (hi - lo)
    # the order of the runs does not matter, only which draw each belongs to
    order = rng.permutation(40)
    assert stats.mean_interval(x[order], draws=draws[order]) == pytest.approx((x.mean() - half, x.mean() + half))


def test_over_uneven_draws_the_interval_is_centred_on_the_runs_mean_with_the_draws_clustered_error():
    """Failed runs and runs without a value leave draws with different numbers of runs: the interval stays centred
    on the mean the tables print (over the runs), its standard error the clustered one (each draw's runs together,
    d / (d - 1) small-sample factor), computed here run by run; a run without a value is left out."""
    x = np.array([1.0, 2.0, np.nan, 10.0, 11.0, 12.0, 13.0, 5.0])
    draws = np.array([7, 7, 7, 3, 3, 3, 3, 9])  # labels need not be 0..d-1 nor sorted
    kept = np.isfinite(x)
    m = x[kept].mean()
    terms = [sum(v - m for v, g in zip(x, draws) if g == label and np.isfinite(v)) for label in (3, 7, 9)]
    se = np.sqrt(3 / 2 * sum(t * t for t in terms)) / kept.sum()
    half = st.t.ppf(0.975, 2) * se
    assert stats.mean_se(x, draws) == pytest.approx((m, se, 3))
    assert stats.mean_interval(x, draws=draws) == pytest.approx((m - half, m + half))


def test_a_comparison_on_its_default_ten_seeds_draws_a_band_and_nine_do_not():
    """Ten runs are the fewest a 5-95 % band is drawn from, and `simmodel compare` runs ten seeds by default, so its
    tables and figures carry the band (a probe that asked for more than ten survived every test)."""
    from simmodel.cli.run import COMPARE_SEEDS

    assert stats.has_band(COMPARE_SEEDS) and COMPARE_SEEDS == 10
    assert stats.has_band(10) and not stats.has_band(9)


def test_validate_judges_a_figure_by_the_median_over_seeds_so_one_wild_run_does_not_miss_it():
    """`simmodel validate` reads each target off the median over seeds (docs/ODD.md 3.6): four runs on the reported
    figure and one three tolerances away leave the target met, and a majority off misses it (a probe that took
    the mean survived every test)."""
    from simmodel.analysis.targets import load_targets
    from simmodel.analysis.validation import table

    t = next(t for t in load_targets() if t.bound is None and t.role == "fit")
    wild = t.value + 3 * 5 * t.tolerance  # five runs: the mean would move by three tolerances
    values = np.array([[t.value]] * 4 + [[wild]])
    assert table([t], values)[0].met
    assert not table([t], np.array([[t.value]] * 2 + [[wild]] * 3))[0].met


def test_validate_draws_no_5_95_band_from_fewer_than_ten_seeds():
    """`simmodel validate --seeds 4`: the median still judges each target, but the 5 % and 95 % columns are dashes and
    a note says why (the 5 % and 95 % points of four runs are little more than the smallest and largest); from ten
    seeds on they are the runs' own quantiles."""
    from simmodel.analysis.targets import load_targets
    from simmodel.analysis.validation import lines, table

    t = next(t for t in load_targets() if t.bound is None and t.role == "fit")
    few = table([t], np.array([[t.value * (1 + k / 100)] for k in range(4)]))[0]
    assert np.isnan(few.p05) and np.isnan(few.p95) and few.n == 4 and few.met
    text = lines([few])
    assert text[1].split()[-3:-1] == ["-", "-"] and text[-1] == f"({stats.band_note(4)})"
    values = np.array([[t.value * (1 + k / 100)] for k in range(10)])
    many = table([t], values)[0]
    assert (many.p05, many.p95) == tuple(np.quantile(values[:, 0], [0.05, 0.95])) and len(lines([many])) == 2
