"""Summaries over runs: one home for the mean, median and 5-95 % band every table and figure reports,
when a band is worth drawing, the interval of a mean, and the bootstrap interval of a ratio of mean differences.

The replications an interval of a mean rests on are the runs at the calibrated point (one seed each), but over
posterior draws they are the draws: the seeds of one draw share its parameters, so they are not independent
replications of the mean over the posterior, and treating them so narrows its interval (by up to the square root
of the seeds per draw where the draws differ more than the seeds). ``draws`` (each run's draw) says which. In a
sweep every design point shares the seeds (or draws), so a factor level's mean rests on them too
(:func:`level_means`, :func:`cell_noise`)."""

from __future__ import annotations

import numpy as np

QUANTILES = (0.05, 0.5, 0.95)

# The fewest runs from which a 5-95 % band (and a bootstrap interval) is drawn. The 5 % and 95 % points of
# n runs are interpolated between order statistics; on average they span 0.9 (n - 1) / (n + 1) of the
# distribution of runs: 30 % for 2 runs, 54 % for 4, 74 % for 10 (86 % for 40). Below 10 runs they are
# little more than the smallest and largest of a handful, so no band is drawn, and a note says why.
MIN_BAND_RUNS = 10
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 20130101  # fixed: the same runs give the same interval, byte for byte


def has_band(n: int) -> bool:
    """Whether ``n`` runs are enough to draw a 5-95 % band (see MIN_BAND_RUNS)."""
    return n >= MIN_BAND_RUNS


def band_note(n: int) -> str:
    """The one line said where no band is drawn: 'no 5-95 % band: 4 runs (a band needs at least 10)'."""
    return f"no 5-95 % band: {n} run{'s' * (n != 1)} (a band needs at least {MIN_BAND_RUNS})"


def band(x) -> dict[str, float]:
    """Mean, 5 %, median and 95 % of the finite values of ``x``, and how many there are (``n``)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": np.nan, "p05": np.nan, "p50": np.nan, "p95": np.nan, "n": 0}
    q05, q50, q95 = np.quantile(x, QUANTILES)
    return {"mean": float(x.mean()), "p05": float(q05), "p50": float(q50), "p95": float(q95), "n": int(x.size)}


def mean_sd(x) -> tuple[float, float, int]:
    """Mean, standard deviation (n - 1 in the denominator) and number of the finite values of ``x``."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (float(x.mean()) if x.size else np.nan, np.nan, int(x.size))
    return (float(x.mean()), float(x.std(ddof=1)), int(x.size))


def mean_se(x, draws=None) -> tuple[float, float, int]:
    """The mean of the finite values of ``x``, the standard error of that mean, and the number of independent
    replications it rests on: the runs, or, with ``draws`` (each run's posterior draw, aligned with ``x``), the
    draws. Over draws the standard error is the clustered one of the runs' mean, sqrt(d / (d - 1) x sum over
    draws of (n_g (m_g - mean))^2) / N for d draws with n_g of the N runs and mean m_g each: where every draw has
    as many runs (every design here, until runs fail or give no value) it is the spread of the draws' means over
    the square root of their number, and a Student-t interval on it covers as it says; where they differ it
    covers less (95 % intervals covered 91 % of the time for five draws of one run and five of eight, 4,000
    trials), which the reports' count of failed runs flags. Fewer than two replications: no standard error."""
    x = np.asarray(x, float)
    ok = np.isfinite(x)
    mean, sd, n = mean_sd(x)
    if draws is None:
        return mean, sd / np.sqrt(n) if n >= 2 else np.nan, n
    _, at = np.unique(np.asarray(draws)[ok], return_inverse=True)
    d = int(at.max()) + 1 if n else 0
    if d < 2:
        return mean, np.nan, d
    resid = np.bincount(at, x[ok] - mean, d)  # n_g (m_g - mean) per draw
    return mean, float(np.sqrt(d / (d - 1) * np.sum(resid**2)) / n), d


def se_interval(mean: float, se: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval (``n`` - 1 degrees of freedom) of a mean with standard error ``se`` from ``n``
    independent replications (:func:`mean_se`)."""
    from scipy import stats

    if not n >= 2:
        return (np.nan, np.nan)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * se
    return (float(mean - half), float(mean + half))


def t_interval(mean: float, sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean of ``n`` independent replications with standard deviation ``sd``."""
    from scipy import stats

    if not n >= 2:
        return (np.nan, np.nan)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    return (float(mean - half), float(mean + half))


def mean_interval(x, level: float = 0.95, draws=None) -> tuple[float, float]:
    """Student-t interval of the mean of the finite values of ``x``: seeds as independent replications, or, with
    ``draws``, posterior draws (:func:`mean_se`)."""
    return t_interval(*mean_sd(x), level) if draws is None else se_interval(*mean_se(x, draws), level)


def simultaneous_level(k: int, level: float = 0.95) -> float:
    """The level of each of ``k`` intervals so that all ``k`` hold together with probability at least ``level``
    (Bonferroni: 1 - (1 - level) / k). Reading k verdicts off intervals at 95 % each, the chance that some
    effect of zero is called a sign grows with k (about 1 - 0.95^k: 34 % for 8); at this level it stays
    below 1 - ``level`` whatever the intervals' dependence."""
    return 1.0 - (1.0 - level) / max(int(k), 1)


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


def bootstrap_ratio(num, den, level: float = 0.90, draws: int = BOOTSTRAP_DRAWS,
                    seed: int = BOOTSTRAP_SEED, clusters=None) -> dict[str, float]:
    """The ratio of the means of paired per-run differences, mean(num) / mean(den) (not the mean of the
    per-run ratios), with percentile bootstrap intervals at ``level``: the replications are resampled with
    replacement, ``num`` and ``den`` together, ``draws`` times, from a generator seeded with ``seed`` (the same
    runs give the same bytes). The replications are the runs (seeds), or, with ``clusters`` (each run's posterior
    draw), the draws, each resampled with all its runs (see the module's note). Returns the means of num and den
    and their intervals (``num_lo``..``den_hi``), the ratio and its interval (``lo``, ``hi``; NaN where a
    resample's mean of ``den`` is 0), ``n`` (runs) and ``units`` (replications). With fewer than MIN_BAND_RUNS
    replications the intervals are NaN. Swapping the sign of both (listing the scenarios the other way round)
    leaves the ratio and its interval unchanged."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    n = int(num.size)
    if clusters is not None:  # per draw: the sums of its runs and their number
        _, at = np.unique(np.asarray(clusters)[ok], return_inverse=True)
        units = int(at.max()) + 1 if n else 0
        sums = (np.bincount(at, num, units), np.bincount(at, den, units), np.bincount(at, minlength=units))
    else:
        units = n
    nan = float("nan")
    out = {"num": nan, "num_lo": nan, "num_hi": nan, "den": nan, "den_lo": nan, "den_hi": nan,
           "ratio": nan, "lo": nan, "hi": nan, "n": n, "units": units}
    if n == 0:
        return out
    out["num"], out["den"] = float(num.mean()), float(den.mean())
    if out["den"] != 0:
        out["ratio"] = out["num"] / out["den"]
    if not has_band(units):
        return out
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, units, size=(draws, units))
    if clusters is None:
        mn, md = num[idx].mean(axis=1), den[idx].mean(axis=1)
    else:
        runs = sums[2][idx].sum(axis=1)
        mn, md = sums[0][idx].sum(axis=1) / runs, sums[1][idx].sum(axis=1) / runs
    q = ((1 - level) / 2, (1 + level) / 2)
    out["num_lo"], out["num_hi"] = (float(v) for v in np.quantile(mn, q))
    out["den_lo"], out["den_hi"] = (float(v) for v in np.quantile(md, q))
    if np.all(md != 0):
        out["lo"], out["hi"] = (float(v) for v in np.quantile(mn / md, q))
    return out


def covers_zero(lo: float, hi: float) -> bool:
    """Whether an interval [lo, hi] includes 0 (or is undefined): no measurable effect."""
    return not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0.0 <= hi


def weighted_quantile(x: np.ndarray, q, w: np.ndarray) -> np.ndarray:
    """Quantiles of ``x`` with weights ``w`` (interpolating the weighted empirical distribution)."""
    order = np.argsort(x)
    cw = np.cumsum(w[order]) - 0.5 * w[order]
    return np.interp(q, cw / np.sum(w), x[order])


def replication_units(d):
    """Each run's replication unit in a sweep's table (columns seed, and draw over posterior draws): the seed, which
    every design point shares (common random numbers), or over posterior draws the draw, whose parameters every
    design point shares and whose seeds are its own."""
    return (d["draw"] if "draw" in d else d["seed"]).to_numpy()


def replication_word(d) -> str:
    """What :func:`replication_units` are, in words: "posterior draws" or "seeds"."""
    return "posterior draws" if "draw" in d else "seeds"


def level_means(d, keys, order=None):
    """Per level of a factor (``keys``, aligned with the runs ``d``, a sweep's table: columns value, seed and, over
    posterior draws, draw): the runs' mean at that level (``mean``) with its 95 % interval (``lo``, ``hi``), and
    the level's difference from the first level of ``order`` (``diff``) with its 95 % interval (``diff_lo``,
    ``diff_hi``); ``units`` counts the replications they rest on. Both intervals rest on the replication units
    (:func:`replication_units`), not the runs: every design point runs on the same seeds (or draws), so a
    seed's (or draw's) shift is shared by every run at a level, and counting runs as independent narrowed a
    level's interval (by 1.5 times over 8 seeds, 2.8-4.4 times over 12 posterior draws, 2026-12-07). In a
    balanced design every unit meets the other factors alike, so their effects leave a unit's level mean
    unmoved and are not the interval's width. The difference is paired within each unit, so their shared shift
    cancels: it is what tells the levels apart (its interval was 4-10 times narrower than a level's own there).
    No interval (NaN) with fewer than two units."""
    import pandas as pd

    keys = pd.Series(keys.to_numpy(), name="key")
    units = pd.Series(replication_units(d), name="unit")
    value = pd.Series(d["value"].to_numpy(float), name="value")
    order = list(order) if order is not None else sorted(keys.unique())
    per_unit = value.groupby([keys, units]).mean().unstack("unit").reindex(order)  # level x unit
    rows = {}
    for level in order:
        at = (keys == level).to_numpy()
        mean, se, n = mean_se(value[at], draws=units[at])
        lo, hi = se_interval(mean, se, n)
        diff, diff_lo, diff_hi = (0.0, np.nan, np.nan)
        if level != order[0]:
            diff, dse, dn = mean_se((per_unit.loc[level] - per_unit.loc[order[0]]).to_numpy())
            diff_lo, diff_hi = se_interval(diff, dse, dn)
        rows[level] = {"mean": mean, "lo": lo, "hi": hi, "diff": diff, "diff_lo": diff_lo, "diff_hi": diff_hi,
                       "units": n}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(order)


def cell_noise(d, cells) -> tuple[float, float]:
    """A grid's two standard errors (runs ``d``, a sweep's table; ``cells``: each run's cell): of a cell's mean, the
    root mean square over the cells of :func:`mean_se` over their replication units (:func:`replication_units`),
    and of the difference between two cells, paired within each unit: sqrt(2 s^2 / U) for U units, with s^2 the
    residual variance of the cell x unit table of means once each cell's and each unit's mean are taken out (units
    missing a cell are left out). NaN where there are fewer than two units."""
    import pandas as pd

    cells = pd.Series(pd.Index(cells).astype(str), name="cell")
    units = pd.Series(replication_units(d), name="unit")
    value = pd.Series(d["value"].to_numpy(float), name="value")
    ses = np.array([mean_se(value[at], draws=units[at])[1] for at in (cells == c for c in cells.unique())])
    cell_se = float(np.sqrt(np.mean(np.square(ses[np.isfinite(ses)])))) if np.isfinite(ses).any() else np.nan
    table = value.groupby([cells, units]).mean().unstack("unit").dropna(axis=1).to_numpy(float)
    u = table.shape[1]
    return cell_se, float(np.sqrt(2 * residual_variance(table) / u)) if u >= 2 else np.nan


def residual_variance(table) -> float:
    """The noise variance of a (rows x units) table of values, each unit (a seed or a posterior draw) shared by
    every row: the residual variance once each row's and each unit's mean are taken out (two-way, no interaction;
    (rows - 1) (units - 1) degrees of freedom). A unit's shift, shared by every row, is not in it, as it is in no
    difference between rows. NaN with fewer than two rows or units."""
    table = np.asarray(table, float)
    if table.ndim != 2 or min(table.shape) < 2:
        return np.nan
    c, u = table.shape
    resid = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + table.mean()
    return float(np.sum(resid**2) / ((c - 1) * (u - 1)))


__all__ = ["band", "band_rows", "weighted_quantile", "bootstrap_ratio", "covers_zero", "has_band", "band_note",
           "mean_sd", "mean_se", "se_interval", "t_interval", "mean_interval", "simultaneous_level", "level_means",
           "cell_noise", "residual_variance", "replication_units", "replication_word",
           "QUANTILES", "MIN_BAND_RUNS"]
