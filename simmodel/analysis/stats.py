"""Summaries over runs: one home for the mean, median and 5-95 % band every table and figure reports."""

from __future__ import annotations

import numpy as np

QUANTILES = (0.05, 0.5, 0.95)


def band(x) -> dict[str, float]:
    """Mean, 5 %, median and 95 % of the finite values of ``x``, and how many there are (``n``)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": np.nan, "p05": np.nan, "p50": np.nan, "p95": np.nan, "n": 0}
    q05, q50, q95 = np.quantile(x, QUANTILES)
    return {"mean": float(x.mean()), "p05": float(q05), "p50": float(q50), "p95": float(q95), "n": int(x.size)}


def mean_interval(x, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of the finite values of ``x`` (seeds as independent replications)."""
    from scipy import stats

    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (np.nan, np.nan)
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return (float(x.mean() - half), float(x.mean() + half))


def band_rows(v: np.ndarray) -> dict[str, np.ndarray]:
    """``band`` of each row of ``v`` (rows: keys, columns: runs; NaN where a run is missing), vectorised."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (e.g. growth in the first year)
        mean = np.nanmean(v, axis=1)
        q = np.quantile(v, QUANTILES, axis=1)  # fast; NaN wherever a row has a gap
        gaps = np.flatnonzero(np.isnan(v).any(axis=1) & ~np.isnan(v).all(axis=1))
        if gaps.size:
            q[:, gaps] = np.nanquantile(v[gaps], QUANTILES, axis=1)
    return {"mean": mean, "p05": q[0], "p50": q[1], "p95": q[2], "n": np.isfinite(v).sum(axis=1)}


def weighted_quantile(x: np.ndarray, q, w: np.ndarray) -> np.ndarray:
    """Quantiles of ``x`` with weights ``w`` (interpolating the weighted empirical distribution)."""
    order = np.argsort(x)
    cw = np.cumsum(w[order]) - 0.5 * w[order]
    return np.interp(q, cw / np.sum(w), x[order])


__all__ = ["band", "band_rows", "weighted_quantile", "QUANTILES"]
