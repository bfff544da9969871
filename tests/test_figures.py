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
