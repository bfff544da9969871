"""The Python entry point: parameter values and a seed in, outputs out (docs/python-api.md).

    from simmodel.analysis.api import evaluate
    evaluate({"cities.purchase_rate": 0.2, "decision.intercept": -7.0}, seed=3)
    # {'firms_stage_1plus_2020': 71234.0, 'labour_productivity_above_2020': 268000.0, ...}

This is what SALib, the EMA workbench or any other tool calls: no internals. An :class:`Output` is one
number of a run: an indicator of the province in a year, or summed from 2013 to that year (flows such as
the public cost), optionally divided by another, in the year or summed (a ratio such as the public cost
from 2013 per firm at stage >= 1 in 2020).
`simmodel sensitivity` reads its outputs with :func:`parse_outputs`, the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.indicators import BY_NAME
from ..params import ParamError, last_complete_year

FIRST_YEAR, LAST_YEAR = 2013, 2030
OUTPUT_KEYS = {"indicator", "year", "sum", "over", "over_sum"}
COUNT_UNITS = {"firms", "projects", "workers", "robots"}  # plural counts: "per firm", not "per firms"


@dataclass(frozen=True)
class Output:
    """One number of a run (province-wide): ``indicator`` in ``year``, or summed from 2013 to ``year`` when
    ``sum`` is true; divided by ``over`` when given (in ``year``, or summed when ``over_sum``)."""

    name: str
    indicator: str
    year: int
    sum: bool = False
    over: str | None = None
    over_sum: bool = False

    @property
    def indicators(self) -> tuple[str, ...]:
        return (self.indicator,) + ((self.over,) if self.over else ())

    def describe(self) -> str:
        ind = BY_NAME[self.indicator]
        text = f"{ind.label}, {FIRST_YEAR}-{self.year} summed" if self.sum else f"{ind.label}, {self.year}"
        if self.over:
            per = BY_NAME[self.over].label.lower()
            text += f", divided by {per}" + (f" ({FIRST_YEAR}-{self.year} summed)" if self.over_sum
                                              else f" ({self.year})")
        return text

    @property
    def unit(self) -> str:
        ind = BY_NAME[self.indicator]
        if not self.over:
            return ind.unit
        per = BY_NAME[self.over].unit
        return f"{ind.unit} per {per.removesuffix('s') if per in COUNT_UNITS else per}"  # yuan per firm

    def _take(self, values: Mapping[tuple[str, str], float], name: str, summed: bool) -> float:
        if summed:
            years = [str(y) for y in range(FIRST_YEAR, self.year + 1)]
            return float(sum(values.get((y, name), math.nan) for y in years))
        return float(values.get((str(self.year), name), math.nan))

    def value(self, values: Mapping[tuple[str, str], float]) -> float:
        """The output from a run's province rows, ``{(period, indicator): value}`` (NaN if the run does
        not reach the year)."""
        x = self._take(values, self.indicator, self.sum)
        if not self.over:
            return x
        d = self._take(values, self.over, self.over_sum)
        return x / d if d else math.nan


DEFAULT_OUTPUTS = (
    Output("firms_stage_1plus_2020", "firms_stage_1plus", 2020),
    Output("labour_productivity_above_2020", "labour_productivity_above", 2020),
    Output("cloud_firms_2020", "cloud_firms", 2020),
    Output("public_cost_2013_2020", "public_cost", 2020, sum=True),
    Output("public_cost_per_firm_stage_1plus_2020", "public_cost", 2020, sum=True, over="firms_stage_1plus"),
)


def parse_outputs(doc: Any, where: str) -> tuple[Output, ...]:
    """``[outputs.<name>]`` tables (indicator, year, sum, over, over_sum) as Outputs; a one-line ParamError naming the
    key otherwise."""
    if not isinstance(doc, dict) or not doc:
        raise ParamError("outputs", doc, "must be a table of at least one [outputs.<name>] with indicator and year",
                         where)
    out = []
    for name, body in doc.items():
        key = f"outputs.{name}"
        if not isinstance(body, dict):
            raise ParamError(key, body, "must be a table with indicator and year (and sum, over)", where)
        unknown = set(body) - OUTPUT_KEYS
        if unknown:
            k = sorted(unknown)[0]
            raise ParamError(f"{key}.{k}", body[k], "unknown; allowed: " + ", ".join(sorted(OUTPUT_KEYS)), where)
        for k in ("indicator", "over"):
            v = body.get(k)
            if (k == "indicator" or v is not None) and (not isinstance(v, str) or v not in BY_NAME):
                raise ParamError(f"{key}.{k}", v, "must be an indicator name (`simmodel indicators`)", where)
            if v is not None and "province" not in BY_NAME[v].levels:
                raise ParamError(f"{key}.{k}", v, "has no province-wide value", where)
        year = body.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
            raise ParamError(f"{key}.year", year, f"must be a year from {FIRST_YEAR} to {LAST_YEAR}", where)
        for k in ("sum", "over_sum"):
            if not isinstance(body.get(k, False), bool):
                raise ParamError(f"{key}.{k}", body[k], "must be true (summed from 2013 to the year) or false", where)
        if "over_sum" in body and "over" not in body:
            raise ParamError(f"{key}.over_sum", body["over_sum"], "needs over, the indicator to divide by", where)
        out.append(Output(name, body["indicator"], year, body.get("sum", False), body.get("over"),
                          body.get("over_sum", False)))
    return tuple(out)


def run_overrides(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a design file's top-level ``end`` and ``scale`` set: run.end and run.scale (sweep, sensitivity,
    discovery and optimisation files)."""
    return {key: doc[name] for name, key in (("end", "run.end"), ("scale", "run.scale")) if name in doc}


def check_output_years(outputs: Iterable[Output], params, where: str) -> None:
    """Every output's year a complete year of the run (``params`` with the file's overrides); a ParamError
    otherwise (a year cut short holds only some months: params.last_complete_year)."""
    end = str(params["run.end"])
    last = last_complete_year(end)
    for o in outputs:
        if o.year > last:
            raise ParamError(f"outputs.{o.name}.year", o.year, f"must be a complete year of the run, at most {last} "
                             f"(run.end is {end})", where)


def province_values(rows: Iterable[tuple]) -> dict[tuple[str, str], float]:
    """``{(period, indicator): value}`` from tidy rows (period, region, sector, indicator, value), province-wide."""
    return {(str(p), ind): float(v) for p, region, sector, ind, v in rows if region == "Zhejiang" and sector == "all"}


def evaluate(values: Mapping[str, Any] | None = None, seed: int = 1, *, base: str | Path = "baseline",
             outputs: Iterable[Output] = DEFAULT_OUTPUTS, scale: float | None = None,
             end: str | None = None) -> dict[str, float]:
    """Run the ``base`` scenario with ``values`` (dotted parameter keys) on ``seed`` and return the outputs
    by name. ``scale`` and ``end`` set run.scale and run.end (default: the scenario's). A bad key or value
    raises ParamError naming it."""
    from ..runs.runner import PROVINCE_ONLY, run
    from . import scenarios

    outputs = tuple(outputs)
    updates = dict(values or {})
    if scale is not None:
        updates["run.scale"] = scale
    if end is not None:
        updates["run.end"] = end
    params = scenarios.load(str(base)).params.replace(updates, where="evaluate()")
    names = tuple(dict.fromkeys(n for o in outputs for n in o.indicators))
    result = run(params, seed, monthly=False, names=names, levels=PROVINCE_ONLY)
    table = province_values(result.yearly)
    return {o.name: o.value(table) for o in outputs}


__all__ = ["Output", "DEFAULT_OUTPUTS", "parse_outputs", "run_overrides", "check_output_years", "province_values", "evaluate"]
