"""Figures a modeller can put in a paper: every format asked for, smoothed responses for sampled designs."""

import numpy as np

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


def test_a_sweeps_level_means_carry_seed_noise_not_the_other_factors_range():
    """A balanced grid where the other factor moves the outcome by 100 and seeds by 0.1 (sd): each level's
    interval comes from the runs within a design point, so it is about 0.1 / sqrt(runs at the level) wide, not the
    other factor's 100 (the review found the 5-95 % band of all runs at a level, i.e. the fund's whole range,
    drawn around the subsidy rate's response)."""
    import pandas as pd

    from simmodel.analysis.stats import level_means

    rng = np.random.default_rng(3)
    rows = [(p, s, a, b) for p, (a, b) in enumerate([(a, b) for a in (0, 1, 2) for b in (0, 100)]) for s in range(4)]
    d = pd.DataFrame(rows, columns=["point", "seed", "a", "b"])
    d["value"] = d.a + d.b + rng.normal(0, 0.1, len(d))
    m = level_means(d, d.a)
    assert np.allclose(m["mean"], [50, 51, 52], atol=0.2)
    half = (m.hi - m.lo) / 2  # t(0.975, 6 dof) x 0.1 / sqrt(8) = 0.087 expected; the draw's own sd estimate varies
    assert (half > 0.02).all() and (half < 0.3).all()
    assert level_means(d[d.seed == 0], d.a[d.seed == 0]).lo.isna().all()  # one run a point: no interval


def test_tick_labels_are_short():
    from simmodel.analysis.plots import _short
    assert [_short(v) for v in (167_800, 7.2e11, 2.5e6, 0.125, -3.0e4)] == ["167.8k", "720bn", "2.5m", "0.125", "-30k"]
