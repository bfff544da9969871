"""The emulated ABC-SMC that carries the calibration's posterior on (simmodel/analysis/emulated_abc.py)."""

import numpy as np
import pytest

from simmodel.analysis.calibrate import Target, distance
from simmodel.analysis.emulated_abc import EmulatedABC, PolyEmulator, global_kernel, poly_features, systematic_resample


def test_the_emulator_recovers_a_cubic_and_a_log_linear_target_and_its_residuals_are_the_noise():
    """Up to the ridge's shrinkage (RIDGE = 1e-6 of the runs: about 0.1 % of the targets' range here)."""
    rng = np.random.default_rng(0)
    u = rng.random((2000, 3))
    cubic = lambda v: 1 + 2 * v[:, 0] - 3 * v[:, 1] ** 2 + v[:, 0] * v[:, 1] * v[:, 2] + 0.5 * v[:, 2] ** 3  # noqa
    loglin = lambda v: np.exp(2 + v[:, 0] - 2 * v[:, 2])  # noqa: a positive target is fitted on its log
    y = np.column_stack([cubic(u), loglin(u), 5 + 0.1 * rng.standard_normal(2000)])
    emu = PolyEmulator.fit(u, y, np.random.default_rng(1))
    assert emu.degree == 3 and list(emu.logged) == [False, True, True]
    test = rng.random((300, 3))
    pred = emu.predict(test)
    np.testing.assert_allclose(pred[:, 0], cubic(test), atol=0.005)
    np.testing.assert_allclose(pred[:, 1], loglin(test), rtol=0.005)
    sd = emu.residuals.std(axis=0)
    assert sd[0] < 0.005 and sd[2] == pytest.approx(0.1, rel=0.1)  # out-of-fold: the noise, not a fitted-away share


def test_the_emulators_means_do_not_depend_on_the_chunks_it_predicts_in():
    """predict builds the features a chunk of points at a time (memory): the means equal those of one chunk, up to
    the matrix product's rounding, which BLAS may do in another order for another number of rows."""
    rng = np.random.default_rng(4)
    u = rng.random((600, 4))
    emu = PolyEmulator.fit(u, np.column_stack([u @ [1, 2, 3, 4], np.exp(u[:, 0])]) + 0.01 * rng.random((600, 2)),
                           rng)
    points = rng.random((5_000, 4))
    whole = emu.predict(points)
    emu.CHUNK = 777  # an instance's, not every emulator's
    assert emu.degree == 3
    np.testing.assert_allclose(emu.predict(points), whole, rtol=1e-12, atol=0)


def test_the_emulators_degree_follows_the_runs():
    assert PolyEmulator.degree_for(5600, 13) == 3 and PolyEmulator.degree_for(5599, 13) == 2
    assert PolyEmulator.degree_for(100, 13) == 1
    assert poly_features(np.ones((2, 13)), 2).shape == (2, 105)


A = np.random.default_rng(2).uniform(-1, 1, (16, 2))  # sixteen targets, each a linear combination of two parameters


class _Known:
    """A stand-in emulator with a known mean and Gaussian residuals."""

    def __init__(self, rng):
        self.residuals = rng.normal(0, 0.05, (400, len(A)))
        self.degree = 0

    @staticmethod
    def predict(u):
        return u @ A.T


def _sixteen_targets(min_improvement, max_stages):
    """The emulated search on the sixteen known linear targets (truth (0.45, 0.3), sd 0.05), from 800 prior points."""
    truth = np.array([0.45, 0.3])
    fit = [Target(f"t{i}", "x", "level", float(a @ truth), 0.05, 0.0, "fit", year=2016) for i, a in enumerate(A)]
    rng = np.random.default_rng(3)
    abc = EmulatedABC(_Known(rng), lambda y: distance(y, fit, np.zeros(len(A)), 1), rng, draws=1000)
    u0 = rng.random((800, 2))
    d0 = abc.distances(u0)[:, 0]
    return abc, abc.run(u0, np.full(800, 1 / 800), d0, float(d0.max()), centres=300, proposals=5_000, quantile=0.5,
                        min_improvement=min_improvement, max_stages=max_stages, rng=rng, min_ess=1500)


def _grid(n=150):
    """A fine grid over the unit square (cell centres)."""
    g = (np.arange(n) + 0.5) / n
    return np.array(np.meshgrid(g, g, indexing="ij")).reshape(2, -1).T


def test_the_emulated_smc_reaches_the_posterior_of_its_final_threshold_on_a_grid():
    """Prior uniform on the unit square; sixteen targets, each a linear combination of the two parameters: a
    point's emulated run is its known mean plus one of the fixed residual draws. The weighted sample of the
    last emulated generation must match the ABC posterior at its final threshold computed on a fine grid with
    the same likelihood (mean and sd of both parameters). The thresholds fall in every generation, and the
    search stops at the first that falls by less than the given share (10 % here, where the likelihood is
    still smooth over the 1,000 residual draws): with many targets the accepted runs' distances crowd under
    the threshold once the parameters are pinned down and only luck would take it lower. Without the proposal
    density in the weights the sd comes out 12 % too small."""
    abc, post = _sixteen_targets(min_improvement=0.1, max_stages=30)
    eps, fits = [s.epsilon for s in post.stages], [s.fit for s in post.stages]
    assert all(b < a for a, b in zip(eps, eps[1:])) and len(eps) >= 3
    improved = [min(1 - e1 / e0, 1 - f1 / f0) for e0, e1, f0, f1 in zip(eps, eps[1:], fits, fits[1:])]
    assert improved[-1] < 0.1 and all(i >= 0.1 for i in improved[:-1])
    assert "stopped improving" in post.stop_reason
    grid = _grid()
    lik = (abc.distances(grid) <= post.epsilon).mean(axis=1)
    w = post.weights
    for j in range(2):
        m_grid = np.sum(lik * grid[:, j]) / lik.sum()
        sd_grid = np.sqrt(np.sum(lik * (grid[:, j] - m_grid) ** 2) / lik.sum())
        m = np.sum(w * post.u[:, j])
        sd = np.sqrt(np.sum(w * (post.u[:, j] - m) ** 2))
        # the sample's standard error of the mean is sd / sqrt(ESS) (ESS >= 1,500: about 0.03 sd)
        assert m == pytest.approx(m_grid, abs=0.15 * sd_grid), (j, m, m_grid)
        assert sd == pytest.approx(sd_grid, rel=0.06), (j, sd, sd_grid)  # se of an sd: 1.5 % at ESS 2,000
        assert sd < 0.1  # the targets pin the parameters down: the test is not of a flat posterior
    assert post.ess >= 1500


def test_the_proposal_density_is_the_equal_mixture_of_the_kernels():
    from scipy.stats import multivariate_normal
    rng = np.random.default_rng(4)
    centres = rng.uniform(0.3, 0.7, (40, 3))
    cov = global_kernel(centres, np.full(40, 1 / 40), jitter=1e-9)
    u = rng.random((30, 3))
    dens = np.mean([multivariate_normal(c, cov).pdf(u) for c in centres], axis=0)
    log_q = EmulatedABC.log_proposal(u, centres, cov)
    np.testing.assert_allclose(log_q - log_q[0], np.log(dens) - np.log(dens[0]), rtol=1e-9, atol=1e-9)
    draws = EmulatedABC.propose(centres, cov * 0.05, 50_000, np.random.default_rng(5))
    # the mean of 50,000 draws of sd 0.107-0.124 has a standard error of at most 0.00055: 0.003 is 5.4 of them; the
    # cube cuts nothing off (the centres are 8 kernel sd inside it); measured within 0.00023
    np.testing.assert_allclose(draws.mean(axis=0), centres.mean(axis=0), atol=0.003)


def test_systematic_resampling_gives_each_point_the_floor_or_the_ceiling_of_its_share():
    w = np.random.default_rng(6).random(50)
    counts = np.bincount(systematic_resample(w, 800, np.random.default_rng(7)), minlength=50)
    share = 800 * w / w.sum()
    assert counts.sum() == 800 and np.all((counts >= np.floor(share)) & (counts <= np.ceil(share)))


def test_an_emulated_generation_that_cannot_hold_its_effective_sample_ends_the_search():
    """A generation whose proposals cannot reach ``min_ess`` is not a posterior: the one before is kept, and
    if it is the first the search cannot start (calibrate then keeps the simulated generations' posterior)."""
    fit = [Target(f"t{i}", "x", "level", float(a @ np.array([0.45, 0.3])), 0.05, 0.0, "fit", year=2016)
           for i, a in enumerate(A)]
    rng = np.random.default_rng(8)
    abc = EmulatedABC(_Known(rng), lambda y: distance(y, fit, np.zeros(len(A)), 1), rng, draws=200)
    u0 = rng.random((200, 2))
    d0 = abc.distances(u0)[:, 0]
    with pytest.raises(ValueError, match="effective sample"):
        abc.run(u0, np.full(200, 1 / 200), d0, float(d0.max()), centres=100, proposals=100, quantile=0.5,
                min_improvement=0.05, max_stages=5, rng=rng, min_ess=10_000)


def test_an_emulated_generation_grows_its_proposals_up_to_their_cap_before_it_gives_up():
    """The proposals double until their effective sample reaches ``min_ess`` or the next doubling would pass
    ``max_proposals`` (16 x ``proposals`` by default): an effective sample of 2,000 is out of reach of 1,600
    proposals, within reach of 12,800. (The eighth calibration's first emulated generation held 1,191 in 320,000
    proposals and 6,108 in 640,000.)"""
    fit = [Target(f"t{i}", "x", "level", float(a @ np.array([0.45, 0.3])), 0.05, 0.0, "fit", year=2016)
           for i, a in enumerate(A)]

    def search(max_proposals):
        rng = np.random.default_rng(8)
        abc = EmulatedABC(_Known(rng), lambda y: distance(y, fit, np.zeros(len(A)), 1), rng, draws=200)
        u0 = rng.random((200, 2))
        d0 = abc.distances(u0)[:, 0]
        return abc.run(u0, np.full(200, 1 / 200), d0, float(d0.max()), centres=100, proposals=100, quantile=0.5,
                       min_improvement=0.05, max_stages=1, rng=rng, min_ess=2_000, max_proposals=max_proposals)

    with pytest.raises(ValueError, match="in 1600 proposals"):
        search(None)
    post = search(12_800)
    assert post.stages[0].ess >= 2_000 and 1_600 < post.stages[0].proposals <= 12_800
    assert post.u.shape == (post.stages[0].proposals, 2)


def test_the_emulators_residuals_are_as_wide_as_a_new_run_s_departure_not_narrower_than_the_noise():
    """With 280 runs of six parameters the emulator is quadratic (28 features, runs ten times the features). On
    targets of pure noise (sd 1) the fit takes up 28/280 of the noise in the runs it was fitted on (their residuals'
    sd about 0.95); a new run's departure from the emulated mean is wider (about 1.06). The residuals stand for new
    runs, so they must not be narrower than the noise (twenty targets: a standard error of 1 % on their sd)."""
    rng = np.random.default_rng(11)
    u = rng.random((280, 6))
    y = rng.standard_normal((280, 20))
    emu = PolyEmulator.fit(u, y, np.random.default_rng(12))
    assert emu.degree == 2 and not emu.logged.any()
    ratio = np.sqrt(np.mean(emu.residuals**2) / np.mean((y - y.mean(axis=0)) ** 2))
    assert 1.0 < ratio < 1.12, ratio


def test_the_proposals_spread_as_the_kernel_whose_density_weighs_them():
    """The importance weights divide by log_proposal's density of the kernel's covariance, so the proposals must
    spread with that covariance: from one centre, a correlated kernel (sd 0.063, correlation 0.75; 8 sd inside the
    cube) gives 50,000 draws of that covariance (standard error about 0.6 %)."""
    cov = np.array([[4.0, 3.0], [3.0, 4.0]]) * 1e-3
    draws = EmulatedABC.propose(np.array([[0.5, 0.5]]), cov, 50_000, np.random.default_rng(14))
    np.testing.assert_allclose(np.cov(draws.T), cov, rtol=0.03)


def test_with_one_target_the_search_stops_when_the_fit_stalls_though_the_threshold_still_falls():
    """One target, two parameters: past a point the threshold keeps halving by selecting lucky residual draws while
    the emulated means fit no better. The search stops at the first generation whose median distance without seed
    noise falls by less than 10 %, although its threshold fell by far more (measured: thresholds 5.38, 2.50, 1.24,
    0.62, 0.31 and fits 2.50, 1.24, 0.84, 0.76, 0.71; a search stopping only when both stall ran all 12 generations)."""
    fit = [Target("t0", "x", "level", 0.6, 0.05, 0.0, "fit", year=2016)]

    class One:
        residuals = np.random.default_rng(15).normal(0, 0.05, (400, 1))
        degree = 0

        @staticmethod
        def predict(u):
            return u @ np.array([[1.0], [0.5]])

    rng = np.random.default_rng(3)
    abc = EmulatedABC(One(), lambda y: distance(y, fit, np.zeros(1), 1), rng, draws=400)
    u0 = rng.random((800, 2))
    d0 = abc.distances(u0)[:, 0]
    post = abc.run(u0, np.full(800, 1 / 800), d0, float(d0.max()), centres=300, proposals=3000, quantile=0.5,
                   min_improvement=0.1, max_stages=12, rng=rng, min_ess=500)
    eps, fits = [s.epsilon for s in post.stages], [s.fit for s in post.stages]
    assert "median distance without seed noise" in post.stop_reason, post.stop_reason
    assert 1 - fits[-1] / fits[-2] < 0.1 and 1 - eps[-1] / eps[-2] > 0.3  # the fit stalled, the threshold did not
    assert all(1 - b / a >= 0.1 for a, b in zip(fits[:-1], fits[1:-1])), fits  # it stops at the first stall


def test_each_emulated_threshold_is_the_quantile_of_the_distances_the_last_posterior_accepts():
    """The next threshold is the median of the distances of the runs the ABC posterior at the last threshold accepts:
    of every (point, residual draw) within it, the point drawn from the prior (uniform). On a fine grid (uniform, so
    every grid run within the threshold counts alike) that median is computed directly; the emulated search's second
    threshold, from its importance-weighted proposals, must be it."""
    abc, post = _sixteen_targets(min_improvement=0.0, max_stages=2)
    eps1, eps2 = post.stages[0].epsilon, post.stages[1].epsilon
    grid = _grid()
    d = abc.distances(grid)
    assert eps2 == pytest.approx(np.median(d[d <= eps1]), rel=0.02), (eps2, np.median(d[d <= eps1]))
