"""Input tables: the 11 cities, the sector groups and the yearly exogenous series.

Each CSV row carries a ``source`` column (a citation or "assumption"); see docs/ODD.md section
"Input data". Tables are read once, when a model is built, never while it steps.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Tables:
    """The input tables as numpy arrays, indexed by city / sector / year position."""

    cities: tuple[str, ...]
    city_output_share: np.ndarray  # share of 2020 above-size output
    city_firm_share: np.ndarray  # share of all manufacturers (assumption)
    city_it_tier: np.ndarray  # 1 (leading) .. 3
    city_robot_rate: np.ndarray  # the city's own robot purchase subsidy rule: rate (NaN: none)
    city_robot_cap: np.ndarray  # yuan per robot (NaN: none)
    city_robot_rule_from: tuple[str, ...]  # month the rule applies from ("" if none)
    sectors: tuple[str, ...]
    sector_labels: tuple[str, ...]
    sector_firm_share: np.ndarray
    sector_equipment: np.ndarray  # bool
    sector_hightech_prob: np.ndarray
    sector_emerging_prob: np.ndarray
    sector_relative_productivity: np.ndarray
    sector_labour_saving: np.ndarray  # share of a gain taken as labour saving (exponent lambda)
    sector_gain_multiplier: np.ndarray
    sector_cost_multiplier: np.ndarray
    sector_pilot_industries: np.ndarray  # of the 30 pilot industries (int)
    years: np.ndarray  # int
    wage: np.ndarray  # yuan/worker/yr, all units (above-size firms); NaN after the last year with wage data
    wage_private: np.ndarray  # yuan/worker/yr, private units (small firms); NaN likewise
    va_growth: np.ndarray  # real growth of above-size value added, 1/yr; NaN after the last year with data
    ppi: np.ndarray  # yearly change of industrial producer prices (the deflator), 1/yr

    def wages(self, growth_after: float) -> tuple[np.ndarray, np.ndarray]:
        """(all units, private units) wage series of a run: the data, and after the last year with wage data each
        series' last value grown by ``growth_after`` a year (economy.wage_growth_after_data)."""
        last = int(np.flatnonzero(np.isfinite(self.wage))[-1])
        after = (1.0 + growth_after) ** np.maximum(np.arange(len(self.years)) - last, 0)
        return tuple(np.where(np.arange(len(self.years)) <= last, w, w[last] * after)
                     for w in (self.wage, self.wage_private))

    def demand_growth(self, after: float, offset: float = 0.0) -> np.ndarray:
        """The demand index of a run: the reported real growth of above-size value added, then ``after`` in each year
        without data (economy.demand_growth_after_data), every year less ``offset`` (economy.demand_index_offset: the
        growth the model's own transformation adds, docs/ODD.md 3.6)."""
        return np.where(np.isfinite(self.va_growth), self.va_growth, after) - offset

    def price_level(self, year: int, since: int = 2014) -> float:
        """Industrial producer prices of ``year`` relative to 2013: the product of the yearly changes from ``since``
        (economy.deflate_from) on, prices being held at 2013's before it."""
        rows = [self.year_row(y) for y in range(max(since, 2014), year + 1)]
        return float(np.prod(1.0 + self.ppi[rows])) if rows else 1.0

    @property
    def n_cities(self) -> int:
        return len(self.cities)

    @property
    def n_sectors(self) -> int:
        return len(self.sectors)

    def year_row(self, year: int) -> int:
        """Index of ``year`` in the series, clamped to the table's range."""
        return min(max(int(year) - int(self.years[0]), 0), len(self.years) - 1)


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        if not r.get("source"):
            raise ValueError(f"{name}: row {r} has no source")
    return rows


def _col(rows: list[dict[str, str]], key: str, dtype: type = float) -> np.ndarray:
    return np.array([dtype(r[key]) for r in rows])


def _optional(text: str) -> float:
    """A number, or NaN for an empty cell (a series' years without data)."""
    return float(text) if text.strip() else np.nan


@cache
def load_tables() -> Tables:
    """Read the three CSV tables (cached: they never change during a process)."""
    c, s, y = _read("cities.csv"), _read("sectors.csv"), _read("series.csv")
    t = Tables(
        cities=tuple(r["city"] for r in c),
        city_output_share=_col(c, "output_share"),
        city_firm_share=_col(c, "firm_share"),
        city_it_tier=_col(c, "it_tier", int),
        city_robot_rate=np.array([float(r["robot_rate"]) if r["robot_rate"] else np.nan for r in c]),
        city_robot_cap=np.array([float(r["robot_cap"]) if r["robot_cap"] else np.nan for r in c]),
        city_robot_rule_from=tuple(r["robot_rule_from"] for r in c),
        sectors=tuple(r["sector"] for r in s),
        sector_labels=tuple(r["label"] for r in s),
        sector_firm_share=_col(s, "firm_share"),
        sector_equipment=_col(s, "equipment", int).astype(bool),
        sector_hightech_prob=_col(s, "hightech_prob"),
        sector_emerging_prob=_col(s, "emerging_prob"),
        sector_relative_productivity=_col(s, "relative_productivity"),
        sector_labour_saving=_col(s, "labour_saving"),
        sector_gain_multiplier=_col(s, "gain_multiplier"),
        sector_cost_multiplier=_col(s, "cost_multiplier"),
        sector_pilot_industries=_col(s, "pilot_industries", int),
        years=_col(y, "year", int),
        wage=_col(y, "wage", _optional),
        wage_private=_col(y, "wage_private", _optional),
        va_growth=_col(y, "va_growth", _optional),
        ppi=_col(y, "ppi"),
    )
    for name in ("wage", "wage_private", "va_growth"):  # data up to a last year, then empty: the projection is a
        # run's parameters (Tables.wages, Tables.demand_growth)
        known = np.isfinite(getattr(t, name))
        if not known[0] or np.any(known[1:] & ~known[:-1]):
            raise ValueError(f"series.csv: {name} must have data from the first year up to a last year, then none")
    if not np.array_equal(np.isfinite(t.wage), np.isfinite(t.wage_private)):
        raise ValueError("series.csv: wage and wage_private must end in the same year")
    for name in ("city_output_share", "city_firm_share", "sector_firm_share"):
        total = getattr(t, name).sum()
        if abs(total - 1) > 1e-6:
            raise ValueError(f"input table column {name} sums to {total}, not 1")
    return t
