"""Figures a modeller can put in a paper: every format asked for, smoothed responses for sampled designs."""

import numpy as np
import pytest

from simmodel.analysis.plots import smooth_response
from simmodel.cli import main


def test_format_writes_svg_and_pdf_beside_each_png_and_rejects_unknown_formats(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--scale", "0.003", "--end", "2013-12", "--workers", "1", "--quiet", "--format", "svg,pdf",
                 "--out", str(out)]) == 0
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert pngs and all((out / "figures" / f"{s}.{fmt}").stat().st_size > 1000 for s in pngs for fmt in ("svg", "pdf"))
    bad = tmp_path / "bad"
    assert main(["run", "--format", "eps", "--out", str(bad)]) == 2
    assert not bad.exists() and "png, svg, pdf" in capsys.readouterr().err


def test_the_smoothed_response_follows_a_known_curve_and_its_band_covers_it():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 400)
    y = 3.0 * x + 0.5 * np.sin(3 * x) + rng.normal(0, 0.3, x.size)
    grid, mean, lo, hi = smooth_response(x, y)
    truth = 3.0 * grid + 0.5 * np.sin(3 * grid)
    inner = (grid > 0.1) & (grid < 0.9)  # a kernel smoother is biased at the edges
    assert np.max(np.abs(mean - truth)[inner]) < 0.15  # half the noise sd
    line = 3.0 * grid  # for a straight line local-linear smoothing is unbiased: the band is about the noise
    _, mean_l, lo_l, hi_l = smooth_response(x, 3.0 * x + rng.normal(0, 0.3, x.size))
    # the smoother's own noise: the 90 % band's half-width is 0.04 inside (a standard error of 0.025) and up to 0.12
    # at the edges; measured at most 0.045, at the left edge
    assert np.max(np.abs(mean_l - line)) < 0.1
    # a pointwise 90 % band; neighbouring grid points share their runs, so the share covered varies a lot
    assert np.mean((lo_l <= line) & (line <= hi_l)) > 0.6
    assert np.array_equal(smooth_response(x, y)[2], lo)  # seeded: the same figure every time


def _grid(seeds: int, shift_sd: float, noise_sd: float, rng, draws: int | None = None):
    """A balanced 3 x 2 grid where factor a moves the outcome by 1 a level and b by 100, each replication unit (a
    seed, or a posterior draw with ``seeds`` seeds of its own) shifts every design point alike (sd ``shift_sd``,
    common random numbers), and each run has its own noise (sd ``noise_sd``)."""
    import pandas as pd

    units = range(draws if draws else seeds)
    shift = rng.normal(0, shift_sd, len(units))
    rows = []
    for p, (a, b) in enumerate((a, b) for a in (0, 1, 2) for b in (0, 100)):
        for u in units:
            for s in (range(u * seeds, u * seeds + seeds) if draws else (u,)):
                rows.append({"point": p, "a": a, "b": b, "seed": s, **({"draw": u} if draws else {}),
                             "value": a + b + shift[u] + rng.normal(0, noise_sd)})
    return pd.DataFrame(rows)


def _unit_level_means(d, unit: str):
    """Each unit's mean at each level of a (level x unit), computed here from the rows."""
    return d.groupby(["a", unit])["value"].mean().unstack(unit)


def test_a_sweeps_level_means_carry_seed_noise_not_the_other_factors_range():
    """A balanced grid where the other factor moves the outcome by 100 and seeds by 0.1 (sd): each level's
    interval is the Student-t interval of the seeds' own level means, about 0.1 / sqrt(runs at the level) wide, not
    the other factor's 100 (the review found the 5-95 % band of all runs at a level, i.e. the fund's whole range,
    drawn around the subsidy rate's response)."""
    from scipy import stats as st

    from simmodel.analysis.stats import level_means

    d = _grid(4, 0.0, 0.1, np.random.default_rng(3))
    m = level_means(d, d.a)
    assert np.allclose(m["mean"], [50, 51, 52], atol=0.2)
    per_seed = _unit_level_means(d, "seed")
    half = st.t.ppf(0.975, 3) * per_seed.std(axis=1, ddof=1) / 2
    assert np.allclose((m.hi - m.lo) / 2, half.to_numpy(), rtol=1e-9)
    assert (half < 0.3).all() and (m.units == 4).all()
    assert level_means(d[d.seed == 0], d.a[d.seed == 0]).lo.isna().all()  # one seed: no interval


def test_a_level_interval_carries_the_shift_every_design_point_shares_and_a_difference_cancels_it():
    """Every design point runs on the same seeds, so a seed that shifts one point (sd 10) shifts them all. A level's
    own interval must carry that shift: it is the seeds' level means' Student-t interval, about 10 / sqrt(8) x t
    wide, where counting the level's 16 runs as independent made it half as wide. A level's difference from the
    first is paired within each seed, the shift cancels, and only the runs' own noise (sd 0.1) is left."""
    from scipy import stats as st

    from simmodel.analysis.stats import level_means

    d = _grid(8, 10.0, 0.1, np.random.default_rng(5))
    m = level_means(d, d.a, [0, 1, 2])
    per_seed = _unit_level_means(d, "seed")
    half = st.t.ppf(0.975, 7) * per_seed.std(axis=1, ddof=1) / np.sqrt(8)
    assert np.allclose((m.hi - m.lo) / 2, half.to_numpy(), rtol=1e-9) and (half > 5).all()
    diffs = per_seed.sub(per_seed.loc[0], axis=1)
    assert np.allclose(m["diff"], diffs.mean(axis=1), rtol=0, atol=1e-9) and np.allclose(m["diff"], [0, 1, 2], atol=0.1)
    dhalf = st.t.ppf(0.975, 7) * diffs.loc[[1, 2]].std(axis=1, ddof=1) / np.sqrt(8)
    assert np.allclose(((m.diff_hi - m.diff_lo) / 2).iloc[1:], dhalf.to_numpy(), rtol=1e-9) and (dhalf < 0.2).all()
    assert m.diff_lo.iloc[1] > 0  # the response is told apart though the levels' own intervals overlap
    assert m.lo.iloc[1] < m.hi.iloc[0]


def test_over_posterior_draws_a_level_rests_on_the_draws():
    """Over 10 posterior draws of 3 seeds each (the draw shifts every point, sd 10): a level's interval and its
    difference's rest on the 10 draws' means, not the 30 seeds."""
    from scipy import stats as st

    from simmodel.analysis.stats import level_means

    d = _grid(3, 10.0, 1.0, np.random.default_rng(7), draws=10)
    m = level_means(d, d.a, [0, 1, 2])
    per_draw = _unit_level_means(d, "draw")
    assert (m.units == 10).all()
    half = st.t.ppf(0.975, 9) * per_draw.std(axis=1, ddof=1) / np.sqrt(10)
    assert np.allclose((m.hi - m.lo) / 2, half.to_numpy(), rtol=1e-9)
    diffs = per_draw.sub(per_draw.loc[0], axis=1).loc[[1, 2]]
    dhalf = st.t.ppf(0.975, 9) * diffs.std(axis=1, ddof=1) / np.sqrt(10)
    assert np.allclose(((m.diff_hi - m.diff_lo) / 2).iloc[1:], dhalf.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("draws", [None, 6])
def test_a_heatmaps_standard_errors_are_a_cells_over_its_units_and_a_paired_differences(draws):
    """A grid's cell: the standard error of its mean over its replication units (seeds, or posterior draws each
    with its seeds), root mean square over the cells; a difference between two cells: the mean over every pair of
    cells of the variance of their per-unit differences, over the units (both computed here from the rows)."""
    import itertools

    from simmodel.analysis.stats import cell_noise

    unit = "draw" if draws else "seed"
    d = _grid(5, 10.0, 1.0, np.random.default_rng(11), draws=draws)
    cell_se, diff_se = cell_noise(d, d.point)
    table = d.groupby(["point", unit])["value"].mean().unstack(unit).to_numpy()
    u = table.shape[1]
    assert np.isclose(cell_se, np.sqrt(np.mean(table.var(axis=1, ddof=1) / u)), rtol=1e-9)
    pairs = [np.var(table[i] - table[j], ddof=1) for i, j in itertools.combinations(range(len(table)), 2)]
    assert np.isclose(diff_se, np.sqrt(np.mean(pairs) / u), rtol=1e-9)
    assert diff_se < cell_se / 3  # the shared shift cancels from a difference


def test_tick_labels_are_short():
    from simmodel.analysis.plots import _short
    assert [_short(v) for v in (167_800, 7.2e11, 2.5e6, 0.125, -3.0e4)] == ["167.8k", "720bn", "2.5m", "0.125", "-30k"]
