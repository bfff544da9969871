"""`simmodel validate`: a scenario (the calibrated baseline by default) over many seeds against every
reported figure of calibration/targets.toml.

A figure is met when the median over seeds lies within its tolerance (2 sd of observation and model
discrepancy, targets.Target.tolerance); a bound ("more than", "less than") is met or missed, with no
tolerance. Fitted targets must be met; checks are reported the same way; excluded ones are shown only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..params import Params, month_index
from ..runs.executor import Executor, Task
from ..runs.runner import PROVINCE_ONLY
from .stats import band_note, has_band
from .targets import Target, read_run

DEFAULT_SEEDS = 20  # the median over 20 seeds moves by well under a tolerance between seed sets (docs/ODD.md 3.6)


@dataclass(frozen=True)
class Row:
    """One target against the simulated distribution over seeds."""

    target: Target
    median: float
    p05: float  # NaN with too few seeds for a band (stats.has_band)
    p95: float
    n: int = 0  # the seeds with a value

    @property
    def met(self) -> bool:
        return self.target.met(self.median)

    @property
    def counts(self) -> bool:
        return self.target.role != "excluded"

    @property
    def verdict(self) -> str:
        if not self.counts:
            return "-"
        return "met" if self.met else ("MISSED" if self.target.role == "fit" else "missed")


def table(targets: list[Target], values: np.ndarray) -> list[Row]:
    """Per target: simulated median and 5-95 % band over seeds (``values``: seeds x targets); no band (NaN)
    from fewer seeds than stats.MIN_BAND_RUNS."""
    rows = []
    for j, t in enumerate(targets):
        col = values[:, j]
        col = col[np.isfinite(col)]
        med = float(np.median(col)) if col.size else math.nan
        lo, hi = np.quantile(col, [0.05, 0.95]) if has_band(col.size) else (math.nan, math.nan)
        rows.append(Row(t, med, float(lo), float(hi), int(col.size)))
    return rows


def worst_fitted(values: np.ndarray, targets: list[Target]) -> float:
    """The worst fitted target's score (Target.score, at most 1 when met) of the median over seeds of
    ``values`` (seeds x targets): at most 1 exactly when every fitted target is met; inf if none has a value."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values, axis=0)
    return max((t.score(med[j]) for j, t in enumerate(targets) if t.role == "fit"), default=math.inf)


def last_year(targets: list[Target]) -> int:
    """The last calendar year any target reads."""
    return max(int(str(t.year or t.end or t.month)[:4]) for t in targets)


def simulate(params: Params, seeds: list[int], targets: list[Target], executor: Executor,
             progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Every target in every seed's run: (seeds x targets values, NaN where a run failed; failures)."""
    assert month_index(params["run.end"]) >= month_index(f"{last_year(targets)}-12"), "run too short for the targets"
    names = tuple(dict.fromkeys(t.indicator for t in targets))
    values = np.full((len(seeds), len(targets)), np.nan)
    failures = []
    tasks = [Task(f"s{s}", params, s, monthly=True, names=names, levels=PROVINCE_ONLY) for s in seeds]
    for i, o in enumerate(executor.map(tasks), 1):
        if o.ok:
            got = read_run(o.result, targets)
            values[seeds.index(o.task.seed)] = [got[t.name] for t in targets]
        else:
            failures.append((o.task.key, o.error))
        if progress:
            progress(i, len(seeds))
    return values, failures


def lines(rows: list[Row]) -> list[str]:
    """The validate table as text lines."""
    out = [f"{'target':<36} {'role':<8} {'observed':>12} {'tolerance':>10} {'median':>12} {'5 %':>12} {'95 %':>12}  "
           "verdict"]
    for r in rows:
        t = r.target
        tol = "bound" if t.bound else f"{t.tolerance:.3g}"
        lo, hi = (f"{v:>12.4g}" if np.isfinite(v) else f"{'-':>12}" for v in (r.p05, r.p95))
        out.append(f"{t.name:<36} {t.role:<8} {t.shown:>12} {tol:>10} {r.median:>12.4g} {lo} {hi}  {r.verdict}")
    short = [r.n for r in rows if r.n and not has_band(r.n)]
    if short:
        out.append(f"({band_note(min(short))})")
    return out


__all__ = ["Row", "table", "worst_fitted", "simulate", "lines", "last_year", "DEFAULT_SEEDS"]
