"""Calibration targets: the reported figures (calibration/targets.toml, shipped with the package)
and how each is read off a run. The calibration, ``validate`` and the figures that draw reported
data all read them here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import resources
from ..model.indicators import BY_NAME as INDICATORS
from ..model.indicators import unknown as unknown_indicator
from ..params import LAST_MONTH, START_MONTH, ParamError, month_index, month_label, read_toml

KINDS = ("level", "growth", "cagr", "difference", "month_sum", "month")
ROLES = ("fit", "check", "excluded")
BOUNDS = ("lower", "upper")  # a one-sided figure: "more than" (lower) or "less than" (upper)


def default_path() -> Path:
    """The shipped targets file."""
    return resources.path("calibration/targets.toml")


@dataclass(frozen=True)
class Target:
    """One reported figure and how to read it off a run."""

    name: str
    indicator: str
    kind: str
    value: float
    sd_obs: float
    sd_model: float
    role: str
    unit: str = ""
    source: str = ""
    reason: str = ""
    year: int | None = None
    start: int | str | None = None
    end: int | str | None = None
    month: str | None = None
    bound: str | None = None  # None (a figure), "lower" (a "more than") or "upper" (a "less than")

    @property
    def sd(self) -> float:
        return math.hypot(self.sd_obs, self.sd_model)

    @property
    def tolerance(self) -> float:
        """Half-width of the band a two-sided figure is met within: 2 sd of observation and model
        discrepancy together (about 95 % if both are normal). A bound has none: it is met or missed."""
        return 0.0 if self.bound else 2.0 * self.sd

    @property
    def shown(self) -> str:
        """The reported figure as the tables show it: '>= 7e+05' for a lower bound."""
        return {"lower": ">=", "upper": "<="}.get(self.bound, "") + f"{self.value:.4g}"

    def met(self, simulated: float) -> bool:
        """Whether a simulated value meets the figure: a bound exactly, a figure within its tolerance."""
        return bool(self.score(simulated) <= 1.0)

    def score(self, simulated: float) -> float:
        """The rule ``met`` applies, as a number that is at most 1 when the figure is met: a figure's distance
        from the reported value in tolerances (|d| / 2 sd); a bound's 1 plus its distance on the wrong side
        (minus its distance on the right side) in units of 2 sd, so a bound met with room scores below 1.
        Infinite where the run gives no value. The refinement of the baseline's point minimises the worst."""
        if not np.isfinite(simulated):
            return math.inf
        d = (float(simulated) - self.value) / (2.0 * self.sd)
        return {"lower": 1.0 - d, "upper": 1.0 + d}.get(self.bound, abs(d))

    def miss(self, simulated: np.ndarray) -> np.ndarray:
        """Signed miss in the target's units; a bound only misses on its wrong side."""
        d = simulated - self.value
        return {"lower": np.minimum(d, 0.0), "upper": np.maximum(d, 0.0)}.get(self.bound, d)

    def read(self, yearly: dict[tuple[str, str], float], monthly: dict[tuple[str, str], float]) -> float:
        """This target's value in one run's province-wide rows ({(period, indicator): value})."""
        y = lambda p: yearly.get((str(p), self.indicator), math.nan)  # noqa: E731
        if self.kind == "level":
            return y(self.year)
        if self.kind == "growth":
            return y(self.end) / y(self.start) - 1.0
        if self.kind == "cagr":
            return (y(self.end) / y(self.start)) ** (1.0 / (int(self.end) - int(self.start))) - 1.0
        if self.kind == "difference":
            return y(self.end) - y(self.start)
        if self.kind == "month":
            return monthly.get((self.month, self.indicator), math.nan)
        first, last = month_index(str(self.start)), month_index(str(self.end))
        return sum(monthly.get((month_label(m), self.indicator), math.nan) for m in range(first, last + 1))


def load_targets(path: Path | None = None) -> list[Target]:
    """Read and validate the targets file (default: the shipped one; one-line ParamError on any problem)."""
    path = Path(path) if path is not None else default_path()
    doc = read_toml(path)
    out = []
    for name, t in doc.items():
        where = f"{path.name} [{name}]"
        if not isinstance(t, dict):
            raise ParamError(name, t, "must be a table", str(path))
        for key in ("indicator", "kind", "value", "sd_obs", "sd_model", "role"):
            if key not in t:
                raise ParamError(f"{name}.{key}", None, "missing", str(path))
        if t["indicator"] not in INDICATORS:
            raise ParamError(f"{name}.indicator", t["indicator"], unknown_indicator(t["indicator"]), str(path))
        if t["kind"] not in KINDS:
            raise ParamError(f"{name}.kind", t["kind"], "must be one of " + ", ".join(KINDS), str(path))
        if t["role"] not in ROLES:
            raise ParamError(f"{name}.role", t["role"], "must be one of " + ", ".join(ROLES), str(path))
        for key in ("value", "sd_obs", "sd_model"):
            if not isinstance(t[key], (int, float)) or isinstance(t[key], bool):
                raise ParamError(f"{name}.{key}", t[key], "must be a number", str(path))
        if t["sd_obs"] < 0 or t["sd_model"] < 0 or t["sd_obs"] + t["sd_model"] <= 0:
            raise ParamError(f"{name}.sd_obs", t["sd_obs"], "sds must be >= 0 and not both 0", str(path))
        needs = {"level": ("year",), "month": ("month",)}.get(t["kind"], ("from", "to"))
        for key in needs:
            if key not in t:
                raise ParamError(f"{name}.{key}", None, f"needed for kind = {t['kind']}", where)
        if t.get("bound") is not None and t["bound"] not in BOUNDS:
            raise ParamError(f"{name}.bound", t["bound"], "must be one of " + ", ".join(BOUNDS), str(path))
        for key in needs:  # the years and months a run can have
            _check_when(f"{name}.{key}", t[key], monthly=t["kind"] in ("month", "month_sum"), where=str(path))
        if t["kind"] != "level" and t["kind"] != "month" and str(t["from"]) >= str(t["to"]):
            raise ParamError(f"{name}.to", t["to"], f"must come after from = {t['from']}", str(path))
        out.append(Target(name, t["indicator"], t["kind"], float(t["value"]), float(t["sd_obs"]),
                          float(t["sd_model"]), t["role"], t.get("unit", ""), t.get("source", ""),
                          t.get("reason", ""), t.get("year"), t.get("from"), t.get("to"), t.get("month"),
                          t.get("bound")))
    if not out:
        raise ParamError("file", str(path), "names no target: each target is a [name] table with indicator, kind, "
                         "value, sd_obs, sd_model and role")
    return out


def _check_when(key: str, value, monthly: bool, where: str) -> None:
    """A target's year (2013-2030), or its month YYYY-MM within the same years (monthly kinds)."""
    last = int(LAST_MONTH[:4])
    if monthly:
        try:
            ok = isinstance(value, str) and 0 <= month_index(value) <= month_index(LAST_MONTH)
        except ValueError:
            ok = False
        if not ok:
            raise ParamError(key, value, f"must be a month YYYY-MM between {START_MONTH} and {LAST_MONTH}", where)
    elif isinstance(value, bool) or not isinstance(value, int) or not 2013 <= value <= last:
        raise ParamError(key, value, f"must be a year between 2013 and {last}", where)


def misses(values: np.ndarray, targets: list[Target]) -> np.ndarray:
    """Signed misses of ``values`` (points, targets) against ``targets``, each on its own side."""
    return np.column_stack([t.miss(values[:, j]) for j, t in enumerate(targets)]) if targets else \
        np.zeros((len(values), 0))


def read_run(result, targets: list[Target]) -> dict[str, float]:
    """The targets' values in one run (RunResult with yearly and monthly rows)."""
    yearly = {(p, n): v for p, r, s, n, v in result.yearly if r == "Zhejiang" and s == "all"}
    monthly = {(p, n): v for p, r, s, n, v in result.monthly if r == "Zhejiang" and s == "all"}
    return {t.name: float(t.read(yearly, monthly)) for t in targets}


def reported(indicator: str) -> list[tuple[int, float, Target]]:
    """(year, value, target) of the shipped level targets of ``indicator`` that are not excluded
    (figures draw these as reported data)."""
    return [(int(t.year), t.value, t) for t in load_targets()
            if t.indicator == indicator and t.kind == "level" and t.role != "excluded"]


__all__ = ["Target", "load_targets", "read_run", "reported", "misses", "KINDS", "ROLES", "BOUNDS", "default_path"]
