"""Typed, validated parameters: the one definition every front door derives from.

Every number the model uses that is not an input table lives here, with its unit, default,
allowed range and source (a citation, or "assumption"). The CLI's ``--set``, the scenario
TOML files, the visual server's controls and the parameter table of docs/ODD.md are all
generated from :data:`PARAMS`; nothing else lists parameters.

Keys are dotted, ``group.name`` (``cities.purchase_rate``); the leaf ``name`` is
unique too, so the model also accepts it as a plain keyword argument (as SolaraViz needs).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

START_MONTH = "2013-01"  # step 0 of every run (MODEL.md section 2)
LAST_MONTH = "2030-12"  # the furthest horizon a scenario may ask for (data/series.csv reaches 2030)
PROGRAMME_START = START_MONTH  # when the provincial programme began as it was run (seed 000: from 2013)


class ParamError(ValueError):
    """A user-caused parameter problem, reported in one line: key, value, what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, where: str = ""):
        self.key, self.value, self.allowed, self.where = key, value, allowed, where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{key} = {value!r}: {allowed}")

    def __reduce__(self):  # rebuilt from its fields, so it crosses a process boundary (a pool's worker)
        return type(self), (self.key, self.value, self.allowed, self.where)


_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def month_index(month: str) -> int:
    """Months since January 2013 of a 'YYYY-MM' string (2013-01 -> 0)."""
    m = _MONTH_RE.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a YYYY-MM month: {month!r}")
    return (int(m.group(1)) - 2013) * 12 + int(m.group(2)) - 1


def month_label(index: int) -> str:
    """The 'YYYY-MM' label of a month index (0 -> '2013-01')."""
    return f"{2013 + index // 12}-{index % 12 + 1:02d}"


def last_complete_year(end: str) -> int:
    """The last calendar year a run ending in month ``end`` ('YYYY-MM') covers whole: that year if the run ends in
    a December, else the year before. A yearly table's row for a year cut short holds only the months run: its
    flows are of those months, and a growth rate compares them with a whole year."""
    return int(end[:4]) - (end[5:7] != "12")


def part_year_note(end: str) -> str:
    """'' for a run ending in a December; otherwise a note that its last year is cut short."""
    if last_complete_year(end) == int(end[:4]):
        return ""
    months = "January" if end[5:7] == "01" else f"January-{_MONTH_NAMES[int(end[5:7]) - 1]}"
    return (f"the run ends in {end}: {end[:4]} is {months} only (its flows, and growth rates over them, are of those "
            f"months)")


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December")


@dataclass(frozen=True)
class Param:
    """One parameter: its key, type, default, unit, allowed values and source."""

    key: str
    default: Any
    kind: str  # float | int | bool | choice | month | shares
    unit: str
    doc: str
    source: str
    lo: float | str | None = None
    hi: float | str | None = None
    choices: tuple = ()
    length: int = 0  # for kind == "shares"
    lever: bool = False  # offered as a control in the visual server
    label: str = ""  # short label of the control (levers)
    ui: tuple = ()  # (min, max, step) of the control when the allowed range is too wide for a slider
    year_month: str = "01"  # kind == "month": the month a bare year means (a start: January; an end: December)

    @property
    def group(self) -> str:
        return self.key.split(".")[0]

    @property
    def name(self) -> str:
        return self.key.split(".")[1]

    def allowed(self) -> str:
        """Human description of the allowed values, used in error messages and docs."""
        if self.kind == "bool":
            return "must be true or false"
        if self.kind == "choice":
            return "must be one of " + ", ".join(map(str, self.choices))
        if self.kind == "month":
            month = "December" if self.year_month == "12" else "January"
            return f"must be a month YYYY-MM (or a year: its {month}) between {self.lo} and {self.hi}"
        if self.kind == "shares":
            return f"must be a list of {self.length} shares in [0, 1] summing to 1"
        what = "an integer" if self.kind == "int" else "a number"
        return f"must be {what} in [{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def validate(self, value: Any, where: str = "") -> Any:
        """Return ``value`` coerced to this parameter's type, or raise ParamError."""
        bad = ParamError(self.key, value, self.allowed(), where)
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise bad
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise bad
        if self.kind == "month":
            if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and \
                    re.fullmatch(r"\d{4}", value.strip()):  # a bare year: its January (a start) or December (an end)
                value = f"{int(value)}-{self.year_month}"
            if not isinstance(value, str):
                raise bad
            try:
                i = month_index(value)
            except ValueError:
                raise bad from None
            if not month_index(self.lo) <= i <= month_index(self.hi):
                raise bad
            return value
        if self.kind == "shares":
            if not isinstance(value, (list, tuple)) or len(value) != self.length:
                raise bad
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise bad
            vals = [float(v) for v in value]
            if any(v < 0 or v > 1 for v in vals) or abs(sum(vals) - 1.0) > 1e-6:
                raise bad
            return tuple(vals)
        # numbers
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if float(value) != int(value):
                raise bad
            value = int(value)
        else:
            value = float(value)
            if value != value:  # NaN
                raise bad
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise bad
        return value


def _fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) >= 1e5:
        return f"{x:.0f}"
    return str(x)


A = "assumption"
SURVEY = (
    "derived: EIC survey of 500+ firms (72 % raised productivity >= 10 %, 27 % > 30 %) "
    "fitted by a normal distribution, mean 0.20, sd 0.17 (the design notes' survey; its outlet is not named, DATA.md B)"
)

# fmt: off
PARAMS: tuple[Param, ...] = (
    # --- run: the population drawn and the horizon -------------------------------------------
    Param("run.scale", 0.05, "float", "share", "fraction of the real firm population simulated "
          "(1.0 is about 562,000 firms); weights keep totals province-level", "design choice",
          lo=0.0005, hi=1.0, lever=True, label="Scale (share of all firms)", ui=(0.005, 1.0, 0.005)),
    Param("run.end", "2020-12", "month", "month", "last simulated month", "MODEL.md section 2",
          lo=START_MONTH, hi=LAST_MONTH, year_month="12"),
    Param("run.above_size_oversample", 4.0, "float", "ratio", "above-size firms are sampled this "
          "many times more densely than small ones (their weights are smaller, totals unchanged)",
          "design choice (precision of above-size indicators at small scale)", lo=1.0, hi=100.0),
    Param("run.decision_rule", "logit", "choice", "-", "adoption rule: the logit rule of MODEL.md "
          "section 5, or 'bass' (hazard p + q x cell adoption share; economics and policy off), "
          "for docking against the analytic Bass curve", "MODEL.md section 5; Bass (1969)",
          choices=("logit", "bass")),
    Param("run.bass_p", 0.03, "float", "1/yr", "Bass innovation coefficient (decision_rule = bass)",
          A + " (Bass 1969's model; a value in the range usually reported for it)", lo=0.0, hi=1.0),
    Param("run.bass_q", 0.38, "float", "1/yr", "Bass imitation coefficient (decision_rule = bass)",
          A + " (Bass 1969's model; a value in the range usually reported for it)", lo=0.0, hi=3.0),
    Param("run.layout", "strata", "choice", "-", "order of the firm arrays: by size class, city "
          "and sector (as drawn), reversed, or shuffled. The same firms either way; nothing scarce may depend "
          "on it (a check of the allocation rules, not a model choice)", "not a model quantity",
          choices=("strata", "reversed", "shuffled")),

    # --- population: the synthetic firms of January 2013 ----------------------------------------
    Param("population.n_firms", 562_000, "int", "firms", "manufacturers of all sizes represented "
          "at scale 1", "en.hangzhou.com.cn 2021-08-23 (about 562,000 in 2020; taken for 2013: an assumption)",
          lo=1_000, hi=3_000_000),
    Param("population.n_above_size", 38_235, "int", "firms", "of which above designated size "
          "(revenue >= 20 m yuan)",
          "38,235 in May 2014, 10.7 % of national: the design notes' figure, no source named (DATA.md C)",
          lo=100, hi=500_000),
    Param("population.employees_above_median", 120.0, "float", "workers", "median employees of an "
          "above-size firm (log-normal)", A, lo=20.0, hi=5_000.0),
    Param("population.employees_above_sigma", 0.9, "float", "log sd", "log-sd of employees of "
          "above-size firms", A, lo=0.05, hi=3.0),
    Param("population.employees_small_median", 8.0, "float", "workers", "median employees of a "
          "small firm (log-normal)", A, lo=1.0, hi=200.0),
    Param("population.employees_small_sigma", 0.8, "float", "log sd", "log-sd of employees of "
          "small firms", A, lo=0.05, hi=3.0),
    Param("population.productivity_above_2013", 167_800.0, "float", "yuan/worker/yr",
          "labour productivity of above-size firms in 2013 (the year's mean; the built population is "
          "6.5 months of trend below it: each recorded month takes its month of trend first)",
          "China Daily 2019-07-24 quoting the governor (DATA.md A)", lo=10_000.0, hi=1_000_000.0),
    Param("population.productivity_small_ratio", 0.6, "float", "ratio", "labour productivity of "
          "small firms relative to above-size firms of the same sector", A, lo=0.1, hi=1.5),
    Param("population.productivity_sigma", 0.25, "float", "log sd", "firm-level log-sd of labour "
          "productivity within a sector and size class", A, lo=0.0, hi=2.0),
    Param("population.labour_gap_share_2012", 0.77, "float", "share", "share of firms with an "
          "employment gap at the start",
          "seed 000 ('in the past', up to 77 % of manufacturing firms; the seed gives no year: ~2012 an assumption)",
          lo=0.0, hi=1.0),
    Param("population.labour_gap_mean", 0.12, "float", "share", "mean unfilled share of labour "
          "needs among firms with a gap", A, lo=0.0, hi=0.9),
    Param("population.cash_to_value_added", 0.25, "float", "yr", "initial cash holdings as a share "
          "of a year's value added", A, lo=0.0, hi=5.0),
    Param("population.stage_shares_above", (0.70, 0.20, 0.08, 0.02, 0.0), "shares", "shares",
          "stages 0-4 of above-size firms in January 2013", A, length=5),
    Param("population.stage_shares_small", (0.90, 0.08, 0.02, 0.0, 0.0), "shares", "shares",
          "stages 0-4 of small firms in January 2013", A, length=5),

    # --- economy: exogenous trends and accounting ------------------------------------------------
    Param("economy.productivity_trend", 0.055, "float", "1/yr", "exogenous growth of labour "
          "productivity without transformation", A, lo=-0.1, hi=0.2),
    Param("economy.labour_supply_growth", 0.03, "float", "1/yr", "growth of the workforce a firm "
          "can recruit (below the growth of labour needs, gaps widen)", A, lo=-0.2, hi=0.2),
    Param("economy.demand_growth_after_data", 0.06, "float", "1/yr", "the demand index (real growth of value "
          "added) in each year after 2024, the last year with data (runs to 2030: docs/ODD.md 3.3)",
          A + ": the 2025 government work report's target for above-size industry, 6 % or more (series.csv)",
          lo=-0.1, hi=0.3),
    Param("economy.demand_index_offset", 0.0, "float", "1/yr", "growth taken from the demand index in every year: "
          "the part of the reported growth of above-size value added that transformation itself delivered, which the "
          "model adds through its projects and the cloud (0: the reported series is demand, the double count of "
          "docs/ODD.md 3.6)", A + ": no source measures the double count; the reported same-firm growth of 2017 and "
          "2020 informs it",
          lo=-0.05, hi=0.1),
    Param("economy.wage_growth_after_data", 0.0391, "float", "1/yr", "yearly growth of both wage series (all "
          "units, private units) after 2022, the last year with wage data (runs to 2030: docs/ODD.md 3.3)",
          A + ": 2022's reported private-unit growth held, 71,934 / 69,228 - 1 (series.csv)",
          lo=-0.1, hi=0.3),
    Param("economy.other_cost_share", 0.45, "float", "share", "non-wage costs (depreciation, "
          "taxes, rent) as a share of value added", A, lo=0.0, hi=0.9),
    Param("economy.retained_share", 0.3, "float", "share", "share of positive profit kept as cash "
          "(the rest is paid out)", A, lo=0.0, hi=1.0),
    Param("economy.renewal_investment_share", 0.25, "float", "share/yr", "routine technological "
          "renewal investment outside the stage ladder, as a share of value added",
          A, lo=0.0, hi=2.0),
    Param("economy.renewal_share_growth", 0.0, "float", "1/yr", "yearly growth of the renewal investment "
          "share (firms reinvesting more of their value added in technology over time)", A,
          lo=-0.2, hi=0.5),
    Param("economy.renewal_share_growth_end", "2020-12", "month", "month", "last month in which the renewal "
          "investment share grows; it is held after it (runs to 2030: docs/ODD.md 3.7)",
          A + ": the end of the historical run; the growth is fitted to 2013-2016 tech-transformation investment, "
          "and compounded to 2030 it would make renewal investment 89 % of value added", lo=START_MONTH,
          hi=LAST_MONTH, year_month="12"),
    Param("economy.other_investment_share", 0.07, "float", "share/yr", "non-technological "
          "industrial investment (new capacity) as a share of value added", A, lo=0.0, hi=2.0),
    Param("economy.robot_price_decline", 0.05, "float", "1/yr", "yearly decline of the price of "
          "robots and automation equipment",
          A + " (no price series for China; GlobalSpec: -25 % since 2014, DATA.md C)", lo=0.0, hi=0.3),
    Param("economy.deflate", False, "bool", "-", "industrial producer prices (series.csv, ppi) move every firm's "
          "nominal productivity and output each January, so value added, productivity and profit are nominal "
          "(at the year's prices, like wages) and their real series (2013 prices) are the nominal ones over the "
          "price level; off: prices held at 2013's", "issue #15; at the calibrated baseline on from 2021 only "
          "(economy.deflate_from: its productivity trend is the nominal growth of 2013-2020)"),
    Param("economy.deflate_from", 2014, "int", "year", "first year whose producer-price change moves nominal "
          "productivity and output when economy.deflate is on; prices stay at 2013's before it",
          "design choice: 2014, every year (the deflator of issue #15); the calibrated baseline sets 2021, the "
          "first year after the 2013-2020 window its nominal productivity trend is fitted to (docs/ODD.md 3.4.1)",
          lo=2014, hi=2030),
    Param("economy.discount_rate", 0.08, "float", "1/yr", "firms' discount rate", A, lo=0.0, hi=0.5),

    # --- technology: the stage ladder -------------------------------------------------------------
    Param("technology.gain_stage1", 0.20, "float", "share", "nominal labour-productivity gain of "
          "stage 1 (automation, machine substitution)", SURVEY, lo=0.0, hi=2.0),
    Param("technology.gain_stage2", 0.10, "float", "share", "nominal gain of stage 2 (digitized)",
          A, lo=0.0, hi=2.0),
    Param("technology.gain_stage3", 0.08, "float", "share", "nominal gain of stage 3 (networked)",
          A, lo=0.0, hi=2.0),
    Param("technology.gain_stage4", 0.10, "float", "share", "nominal gain of stage 4 (intelligent)",
          A, lo=0.0, hi=2.0),
    Param("technology.gain_sd", 0.85, "float", "ratio", "sd of a realised gain relative to the "
          "stage's true gain (for an average provider)", SURVEY + ": 0.17 / 0.20", lo=0.0, hi=3.0),
    Param("technology.true_gain_multiplier", 1.0, "float", "ratio", "true gains relative to the "
          "nominal gains firms hear of (a scenario lever, 1 = as nominal)", A, lo=0.0, hi=5.0),
    Param("technology.bad_wave_start", "2015-01", "month", "month", "first month of a 'bad wave': "
          "projects completing in it realise only bad_wave_multiplier of their gain",
          A + " (a scenario lever, off by default)",
          lo=START_MONTH, hi=LAST_MONTH),
    Param("technology.bad_wave_months", 0, "int", "months", "length of the bad wave (0: none)",
          A + " (a scenario lever: none by default)", lo=0, hi=156),
    Param("technology.bad_wave_multiplier", 0.3, "float", "ratio", "share of their gain that projects "
          "completing in the bad wave realise", A + " (a scenario lever)", lo=0.0, hi=1.0),
    Param("technology.cost_per_worker_stage1", 40_000.0, "float", "yuan/worker",
          "capital cost of stage 1 per worker of the firm (2013 prices)", A, lo=0.0, hi=1e6),
    Param("technology.cost_per_worker_stage2", 20_000.0, "float", "yuan/worker",
          "capital cost of stage 2 per worker", A, lo=0.0, hi=1e6),
    Param("technology.cost_per_worker_stage3", 30_000.0, "float", "yuan/worker",
          "capital cost of stage 3 per worker", A, lo=0.0, hi=1e6),
    Param("technology.cost_per_worker_stage4", 60_000.0, "float", "yuan/worker",
          "capital cost of stage 4 per worker", A, lo=0.0, hi=1e6),
    Param("technology.implementation_months_stage1", 6, "int", "months", "implementation time "
          "of a stage-1 project", A, lo=1, hi=60),
    Param("technology.implementation_months_stage2", 6, "int", "months", "implementation time "
          "of a stage-2 project", A, lo=1, hi=60),
    Param("technology.implementation_months_stage3", 9, "int", "months", "implementation time "
          "of a stage-3 project", A, lo=1, hi=60),
    Param("technology.implementation_months_stage4", 12, "int", "months", "implementation time "
          "of a stage-4 project", A, lo=1, hi=60),
    Param("technology.robots_per_worker_saved", 0.05, "float", "robots/worker", "industrial robots "
          "installed per worker substituted by a stage-1 project (most automation is not robots)",
          A,
          lo=0.0, hi=5.0),
    Param("technology.robot_price", 190_000.0, "float", "yuan/robot", "price of an industrial robot in 2013 "
          "(it falls with economy.robot_price_decline); the base of the cities' robot purchase subsidies",
          A + " (ARK: US$31,000 in 2015, DATA.md C, at about 6.2 yuan a dollar; no yuan series was found)",
          lo=1_000.0, hi=5e6),
    Param("technology.initial_robot_ratio", 1.0, "float", "ratio", "robots per worker substituted before 2013, "
          "relative to robots_per_worker_saved (robots were rarer then: Chinese robot sales rose from 36,560 in "
          "2013 to 137,920 in 2017, DATA.md C)", A, lo=0.0, hi=5.0),
    Param("technology.fixed_project_cost", 200_000.0, "float", "yuan", "fixed cost of any project "
          "(diagnosis, design, integration)", A, lo=0.0, hi=1e8),

    # --- decision: the firm's investment choice (MODEL.md section 5) ------------------------------
    Param("decision.intercept", -8.0, "float", "logit", "intercept of the monthly adoption logit",
          A, lo=-20.0, hi=5.0),
    Param("decision.beta_value", 2.0, "float", "logit", "weight of the project's value "
          "(NPV / cost, or payback margin)", A, lo=0.0, hi=20.0),
    Param("decision.beta_peer", 3.0, "float", "logit", "weight of the adopted share of the "
          "firm's city x sector cell", A + "; Wang et al. 2019: demonstration effects significant",
          lo=0.0, hi=20.0),
    Param("decision.beta_exposure", 1.5, "float", "logit", "weight of conference / pilot / expert "
          "exposure (0-1, decaying)", A + "; Wang et al. 2019", lo=0.0, hi=20.0),
    Param("decision.beta_profit", 1.0, "float", "logit", "weight of the profit margin",
          A + "; Wang et al. 2019: profitability raises adoption", lo=0.0, hi=20.0),
    Param("decision.beta_skill", 1.0, "float", "logit", "weight of staff quality (0-1)",
          A + "; Wang et al. 2019: staff quality raises adoption", lo=0.0, hi=20.0),
    Param("decision.risk_aversion", 0.5, "float", "sd", "belief sds subtracted from the belief "
          "mean when valuing a gain", A, lo=0.0, hi=5.0),
    Param("decision.horizon_years", 8, "int", "yr", "horizon of the NPV (the equipment's working life)", A,
          lo=1, hi=30),
    Param("decision.wage_growth_weight", 1.0, "float", "ratio", "share of the wage growth firms last saw that they "
          "expect to continue (0: they plan with today's wage)", A, lo=0.0, hi=3.0),
    Param("decision.demand_growth_weight", 1.0, "float", "ratio", "share of the growth of demand firms last saw "
          "(real growth of above-size value added) that they expect to continue for the output a project adds "
          "(0: they plan with today's output)", A, lo=0.0, hi=3.0),
    Param("decision.wait_learning", 2.0, "float", "obs/yr", "observations of the sector's gains a year of "
          "waiting brings (the information part of the value of waiting)", A, lo=0.0, hi=100.0),
    Param("decision.invest_trigger", False, "bool", "-", "a firm adopts only when investing now beats waiting "
          "(value > 0: NPV above the value of waiting, or payback below the target); the logit sets when",
          "Dixit and Pindyck 1994 (the investment trigger of a real option)"),
    Param("decision.value_measure", "npv", "choice", "-", "value of a project: NPV over the "
          "horizon, or payback against the target payback", "MODEL.md section 5",
          choices=("npv", "payback")),
    Param("decision.target_payback_years", 2.5, "float", "yr", "payback firms accept",
          A + " (the design notes: firms accept 2-3 years by surveys they do not name, DATA.md B)", lo=0.1, hi=20.0),
    Param("decision.skip_allowed", True, "bool", "-", "firms may jump two stages at once",
          "MODEL.md section 5"),
    Param("decision.skip_cost_premium", 0.25, "float", "share", "extra cost of skipping a stage",
          A, lo=0.0, hi=5.0),
    Param("decision.cooldown_months", 12, "int", "months", "months after a project before the "
          "next is considered", A, lo=0, hi=120),
    Param("decision.min_finance_fraction", 0.5, "float", "share", "smallest share of a project "
          "a firm will carry out when finance falls short (below, it gives up)", A, lo=0.05, hi=1.0),

    # --- beliefs: learning about gains ---------------------------------------------------------
    Param("beliefs.prior_mean", 0.6, "float", "ratio", "firms' prior belief of the gain "
          "relative to the nominal gain", A, lo=0.0, hi=3.0),
    Param("beliefs.prior_sd", 0.5, "float", "ratio", "sd of that prior belief", A, lo=0.01, hi=5.0),
    Param("beliefs.peer_contacts", 100.0, "float", "firms", "firms of its city x sector cell whose project "
          "outcomes a firm hears of (each completed project of a contact is one observation)",
          A, lo=0.0, hi=10_000.0),
    Param("beliefs.cross_cell_weight", 0.1, "float", "share", "weight of the firm's sector "
          "province-wide (vs. its own cell) in peer influence and learning", A, lo=0.0, hi=1.0),
    Param("beliefs.own_learning", 5.0, "float", "obs", "observation weight of a firm's own "
          "realised gain", A, lo=0.0, hi=100.0),
    Param("beliefs.evidence_half_life_months", 36.0, "float", "months", "half-life of the evidence firms hold "
          "about gains (peers' projects, cases seen at conferences): older cases count less, so beliefs keep "
          "moving with what recent projects realised", A, lo=1.0, hi=1200.0),
    Param("beliefs.own_knowledge", 0.5, "float", "share", "share of the spread of a firm's own realised gain "
          "that it knows beforehand (its own circumstances); the rest is risk it bears", A, lo=0.0, hi=1.0),
    Param("beliefs.exposure_half_life_months", 12.0, "float", "months", "half-life of "
          "conference / pilot / expert exposure", A, lo=0.5, hi=240.0),

    # --- projects: approval -------------------------------------------------------------------
    Param("projects.approval_months", 4, "int", "months", "approval lead time before the reform",
          A, lo=0, hi=36),
    Param("projects.approval_months_reformed", 1, "int", "months", "approval lead time under the "
          "negative list + commitment acceptance reform", A, lo=0, hi=36),

    # --- programme: when the provincial programme starts (every instrument's date moves with it) ----
    Param("programme.start", PROGRAMME_START, "month", "month", "first month of the provincial programme. Every "
          "instrument of it (robot purchase subsidies and the cities' own rules, the special fund's rounds, awards "
          "and pilot batches, conferences, expert groups, the approval reform, the three leasing models, the cloud "
          "action, the cities' rewards) starts this much later than its date as the programme was run from 2013-01 "
          "(its own date parameter, or 2013-01), and is off before (params.instrument_start)",
          "seed 000: the programme from 2013", lo=START_MONTH, hi=LAST_MONTH, lever=True,
          label="Programme starts (year)", ui=(2013, 2020, 1)),

    # --- government: the provincial programme -----------------------------------------------
    Param("government.special_fund_enabled", True, "bool", "-", "the provincial special fund exists (its yearly "
          "round of awards, and the pilots' envelope)", "seed 000", lever=True, label="Special fund"),
    Param("government.special_fund_budget", 200e6, "float", "yuan/yr", "yearly budget of the special fund",
          "seed 000 (200 m yuan a year)", lo=0.0, hi=1e12, lever=True, label="Special fund, yuan a year",
          ui=(0.0, 1e9, 2.5e7)),
    Param("government.fund_carryover", False, "bool", "-", "money the round leaves unspent carries over to the "
          "next year", A),
    Param("government.award_basis", "completion", "choice", "-", "which projects apply to the year's round: "
          "those completed in the year (post-project awards, 'awards instead of subsidies') or those whose "
          "equipment was bought in the year", "seed 000 section 4 (comprehensive grants as post-project "
          "subsidies)", choices=("completion", "purchase")),
    Param("government.award_rate", 0.10, "float", "share", "award as a share of the project's capital cost",
          A, lo=0.0, hi=1.0),
    Param("government.award_cap", 2_000_000.0, "float", "yuan/project", "largest award to one project", A,
          lo=0.0, hi=1e10),
    Param("government.award_ranking", "gain", "choice", "-", "the order in which the round approves "
          "applications within the budget: by realised productivity gain (successful cases first), at "
          "random, or smallest project first (ties: seeded random)",
          A + " (seed 000 section 3.2: successful cases were selected and promoted)",
          choices=("gain", "random", "smallest")),
    Param("government.award_month", 12, "int", "month of year", "month in which the year's round is decided "
          "and paid", A, lo=1, hi=12),
    Param("government.fund_expected_share_2013", 0.5, "float", "share", "share of applications firms expect "
          "the round to fund before the first round (later: the last round's share)", A, lo=0.0, hi=1.0),
    Param("government.pilot_envelope_share", 0.25, "float", "share", "share of the fund earmarked for pilot "
          "projects in a year with a pilot batch (what pilots leave returns to the round)", A, lo=0.0, hi=1.0),
    Param("government.approval_reform_enabled", True, "bool", "-", "negative list + commitment "
          "acceptance shortens approval", "seed 000", lever=True, label="Approval reform"),
    Param("government.approval_reform_start", "2015-01", "month", "month", "start of the approval "
          "reform", A, lo=START_MONTH, hi=LAST_MONTH),

    # --- bank: the conventional lender (credit rationing) ----------------------------------------
    Param("bank.loans_enabled", True, "bool", "-", "firms may borrow from the bank for projects", "MODEL.md"),
    Param("bank.base_rate", 0.0435, "float", "1/yr", "lending rate to the best borrowers",
          A + " (near the 1-year benchmark lending rate of 2015-2019)", lo=0.0, hi=0.3),
    Param("bank.max_spread", 0.04, "float", "1/yr", "spread added for the riskiest approved borrower",
          A, lo=0.0, hi=0.3),
    Param("bank.loan_years", 3, "int", "yr", "maturity of a project loan (annuity)", A, lo=1, hi=20),
    Param("bank.collateral_to_value_added", 0.6, "float", "yr", "pledgeable assets per yuan of yearly "
          "value added", A, lo=0.0, hi=10.0),
    Param("bank.loan_to_collateral", 0.7, "float", "share", "largest loan per yuan of collateral",
          A, lo=0.0, hi=2.0),
    Param("bank.approval_intercept", -1.0, "float", "logit", "intercept of the approval logit", A,
          lo=-20.0, hi=20.0),
    Param("bank.approval_collateral", 1.5, "float", "logit", "weight of log(collateral / loan)", A,
          lo=0.0, hi=20.0),
    Param("bank.approval_profit", 8.0, "float", "logit", "weight of the profit margin", A, lo=0.0, hi=50.0),
    Param("bank.approval_size", 0.3, "float", "logit", "weight of log(employees)", A, lo=0.0, hi=10.0),
    Param("bank.min_coverage", 1.2, "float", "ratio", "lenders (bank and lessors) require yearly profit "
          "plus the project's expected benefit to cover this many times the yearly payments", A,
          lo=0.0, hi=10.0),
    Param("bank.tightening_per_default_rate", 30.0, "float", "logit", "how much the approval index "
          "falls per unit of the past year's default rate (lending standards tighten)", A, lo=0.0, hi=1000.0),
    Param("bank.default_months", 2.0, "float", "months", "a firm with loans or leases defaults when "
          "its cash falls below minus this many months of value added", A, lo=0.0, hi=60.0),
    Param("bank.exclusion_months", 36, "int", "months", "a defaulter gets no loan or lease for this "
          "long", A, lo=0, hi=240),

    # --- leasing: the three models of seed 000 Table 1 (Zheshang Bank and partners) ------------------
    Param("leasing.funds_enabled", True, "bool", "-", "'financing funds': the lessor buys the "
          "equipment, which is its collateral; the firm bears the risk of a shortfall", "seed 000 section 3.3.2",
          lever=True, label="Leasing: financing funds"),
    Param("leasing.funds_start", "2015-01", "month", "month", "start of 'financing funds' leases", A,
          lo=START_MONTH, hi=LAST_MONTH),
    Param("leasing.funds_down_payment", 0.2, "float", "share", "down payment of 'financing funds'", A,
          lo=0.0, hi=1.0),
    Param("leasing.funds_recovery", 0.5, "float", "share", "share of a defaulted 'financing funds' lease the "
          "lessor recovers by taking back and selling the equipment it owns", A, lo=0.0, hi=1.0),
    Param("leasing.funds_volume", 1e10, "float", "yuan/yr", "most the lessor finances a year under "
          "'financing funds'", A, lo=0.0, hi=1e13),
    Param("leasing.materials_enabled", True, "bool", "-", "'financing materials': the equipment maker "
          "supplies on lease and shares the risk of a shortfall", "seed 000 section 3.3.2", lever=True,
          label="Leasing: financing materials"),
    Param("leasing.materials_start", "2015-01", "month", "month", "start of 'financing materials' "
          "leases", A, lo=START_MONTH, hi=LAST_MONTH),
    Param("leasing.materials_down_payment", 0.1, "float", "share", "down payment of 'financing "
          "materials'", A, lo=0.0, hi=1.0),
    Param("leasing.materials_risk_share", 0.5, "float", "share", "share of a gain shortfall the firm "
          "still pays under 'financing materials' (the maker carries the rest)", A, lo=0.0, hi=1.0),
    Param("leasing.materials_recovery", 0.4, "float", "share", "share of a defaulted 'financing materials' lease "
          "the maker recovers by taking its equipment back", A, lo=0.0, hi=1.0),
    Param("leasing.materials_volume", 5e9, "float", "yuan/yr", "most the equipment makers finance a year under "
          "'financing materials'", A, lo=0.0, hi=1e13),
    Param("leasing.engineering_enabled", True, "bool", "-", "'financing engineering': the service "
          "provider delivers the project and is paid from the savings, bearing the shortfall",
          "seed 000 section 3.3.2", lever=True, label="Leasing: financing engineering"),
    Param("leasing.engineering_start", "2016-01", "month", "month", "start of 'financing engineering' "
          "leases", A, lo=START_MONTH, hi=LAST_MONTH),
    Param("leasing.engineering_capital", 2e9, "float", "yuan", "equity of the service providers that lease "
          "under 'financing engineering' (their balance sheet takes its shortfalls and defaults)", A,
          lo=0.0, hi=1e13),
    Param("leasing.engineering_leverage", 5.0, "float", "ratio", "'financing engineering' liabilities the "
          "providers may carry per yuan of their equity", A, lo=0.0, hi=100.0),
    Param("leasing.engineering_recovery", 0.2, "float", "share", "share of a defaulted 'financing engineering' "
          "lease the provider recovers", A, lo=0.0, hi=1.0),
    Param("leasing.funding_rate", 0.05, "float", "1/yr", "lessors' cost of funds", A + " (near the benchmark "
          "lending rate of 2015-2019 plus a margin)", lo=0.0, hi=0.3),
    Param("leasing.margin", 0.01, "float", "1/yr", "lessors' operating margin over the cost of funds and "
          "expected losses", A, lo=0.0, hi=0.2),
    Param("leasing.pd_max", 0.3, "float", "1/yr", "yearly default probability lessors assign to the riskiest "
          "applicant (the bank's credit score of a firm scales it: PD = pd_max x (1 - approval probability))",
          A, lo=0.0, hi=1.0),
    Param("leasing.lease_years", 5, "int", "yr", "term of a lease (annuity)", A, lo=1, hi=20),
    Param("leasing.min_margin", 0.0, "float", "share", "lessors lease only to firms with at least "
          "this profit margin", A, lo=-1.0, hi=1.0),

    # --- demonstration: case-promotion conferences and pilot firms --------------------------------
    Param("demonstration.conferences_enabled", True, "bool", "-", "case-promotion conferences",
          "seed 000"),
    Param("demonstration.conferences_per_year", 100, "int", "1/yr", "conferences a year, each for a "
          "city x sector cell", "seed 000 (about 100 a year)", lo=0, hi=5_000, lever=True, label="Conferences a year", ui=(0, 400, 10)),
    Param("demonstration.attendees_per_conference", 150.0, "float", "firms", "firms attending a "
          "conference (non-adopters of its cell)", A, lo=0.0, hi=100_000.0),
    Param("demonstration.cost_per_conference", 100_000.0, "float", "yuan", "public cost of one conference "
          "(venue, organisation, site visits; counted in the public cost of compare and contributions)",
          A + " (no source found: an order of magnitude for a one-day meeting of ~150 firms; 0 leaves it out)",
          lo=0.0, hi=1e9),
    Param("demonstration.conference_learning", 3.0, "float", "obs", "observation weight of the cases "
          "shown at a conference", A, lo=0.0, hi=100.0),
    Param("demonstration.case_window_months", 12, "int", "months", "conferences show the sector's "
          "projects completed in this many past months", A, lo=1, hi=120),
    Param("demonstration.pilots_enabled", True, "bool", "-", "pilot demonstration firms", "seed 000"),
    Param("demonstration.pilot_batch1", "2014-01", "month", "month", "first pilot batch (10 of the 30 "
          "industries)", A + " (seed 000: 30 industries in three batches, dates not given)",
          lo=START_MONTH, hi=LAST_MONTH),
    Param("demonstration.pilot_batch2", "2015-01", "month", "month", "second pilot batch", A,
          lo=START_MONTH, hi=LAST_MONTH),
    Param("demonstration.pilot_batch3", "2016-01", "month", "month", "third pilot batch", A,
          lo=START_MONTH, hi=LAST_MONTH),
    Param("demonstration.pilot_firms_per_industry", 10.0, "float", "firms", "pilot firms chosen per "
          "industry", A, lo=0.0, hi=10_000.0),
    Param("demonstration.pilot_subsidy_rate", 0.3, "float", "share", "support of a pilot's project (share of "
          "capital cost), from the fund's pilot envelope", A, lo=0.0, hi=1.0),
    Param("demonstration.pilot_subsidy_cap", 1_000_000.0, "float", "yuan/project", "largest support of one "
          "pilot project", A, lo=0.0, hi=1e10),
    Param("demonstration.pilot_showcase_weight", 3.0, "float", "ratio", "weight of a pilot's result "
          "among the cases shown at conferences", A, lo=0.0, hi=100.0),

    # --- experts: the 22 expert service steering groups ----------------------------------------
    Param("experts.enabled", True, "bool", "-", "expert steering groups give free diagnoses", "seed 000"),
    Param("experts.groups", 22, "int", "groups", "expert steering groups", "seed 000 (22 groups)",
          lo=0, hi=1_000),
    Param("experts.diagnoses_per_group_month", 10.0, "float", "firms/month", "diagnoses one group "
          "can give a month", A, lo=0.0, hi=10_000.0),
    Param("experts.cost_per_group_year", 500_000.0, "float", "yuan/yr", "public cost of one working expert "
          "group a year (fees and travel of its experts; counted in the public cost)",
          A + " (no source found: an order of magnitude for a few experts part-time; 0 leaves it out)",
          lo=0.0, hi=1e10),
    Param("experts.learning", 5.0, "float", "obs", "observation weight of a diagnosis (of the firm's "
          "own prospects)", A, lo=0.0, hi=100.0),

    # --- cloud: the 'enterprises on the cloud' action ---------------------------------------------
    Param("cloud.action_enabled", True, "bool", "-", "the 'enterprises on the cloud' action", "seed 000",
          lever=True, label="'Enterprises on the cloud' action"),
    Param("cloud.action_start", "2017-01", "month", "month", "start of the action",
          "the EIC's first progress report is of 2017 H1 (calibration/targets.toml); "
          "seed 000 names the action, not its year",
          lo=START_MONTH, hi=LAST_MONTH, lever=True, label="Cloud action starts (year)", ui=(2013, 2020, 1)),
    Param("cloud.target_per_year", 100_000.0, "float", "firms/yr", "provincial target of firms newly on "
          "the cloud a year, split across the cities by their share of firms",
          A + " (the 100,000 of the action's name in seed 000, read as 2017's target; later years the same)",
          lo=0.0, hi=1e7),
    Param("cloud.ramp_months", 12, "int", "months", "the action's publicity builds up over this many months "
          "from its start (a notice, a provincial meeting, then city plans and training: seed 000 section 3.3.3)",
          A, lo=1, hi=60),
    Param("cloud.migration_intercept", -8.0, "float", "logit", "intercept of the monthly cloud-migration logit "
          "(without the action)", A, lo=-20.0, hi=5.0),
    Param("cloud.beta_action", 3.0, "float", "logit", "publicity and training of the action", A,
          lo=0.0, hi=20.0),
    Param("cloud.beta_push", 1.0, "float", "logit", "a city government pushing while behind its target",
          A, lo=0.0, hi=20.0),
    Param("cloud.beta_cloud_peers", 2.0, "float", "logit", "share of the cell already on the cloud", A,
          lo=0.0, hi=20.0),
    Param("cloud.beta_digital", 0.5, "float", "logit", "firm at stage >= 2 (digitized)", A, lo=0.0, hi=20.0),
    Param("cloud.beta_tier", 0.3, "float", "logit", "per step up the city's IT-integration tier", A,
          lo=0.0, hi=20.0),
    Param("cloud.voucher", 3_000.0, "float", "yuan/firm", "cloud-service voucher paid to a migrating firm "
          "during the action, once per firm", A, lo=0.0, hi=1e7),
    Param("cloud.voucher_budget", 3e8, "float", "yuan/yr", "the action's own yearly budget for vouchers "
          "(voucher_payer = action)", A + " (the 2017 target of 100,000 firms x the voucher)", lo=0.0, hi=1e12),
    Param("cloud.voucher_payer", "action", "choice", "-", "who pays the vouchers: the action's own budget, or "
          "the cities' purchase-subsidy budgets (then vouchers and robot subsidies compete)", A,
          choices=("action", "cities")),
    Param("cloud.productivity_gain", 0.01, "float", "share", "productivity gain of moving onto the cloud",
          A, lo=0.0, hi=1.0),
    Param("cloud.potential_above", 0.9, "float", "share", "share of above-size firms that can and would use "
          "cloud services at all (the market's potential; the rest never migrate)", A, lo=0.0, hi=1.0),
    Param("cloud.potential_small", 0.6, "float", "share", "the same for firms below designated size", A,
          lo=0.0, hi=1.0),
    Param("cloud.potential_tier_step", 0.1, "float", "share", "potential lost per step down the city's "
          "IT-integration tier (tier 1 none, tier 3 twice this)", A, lo=0.0, hi=0.5),
    Param("cloud.service_cost", 10_000.0, "float", "yuan/yr", "yearly cost of the cloud services a firm "
          "takes up (subscriptions, data migration spread over the years)", A, lo=0.0, hi=1e7),
    Param("cloud.beta_net_value", 0.5, "float", "logit", "weight of the value of cloud services to a firm: the log "
          "of what they bring a year (productivity gain x (1 - other costs) x value added + the voucher it "
          "expects spread over cloud.value_years) over their yearly cost, capped at +-5", A, lo=0.0, hi=20.0),
    Param("cloud.value_years", 3, "int", "yr", "years over which a firm spreads the voucher it expects when it "
          "weighs the service", A, lo=1, hi=30),
    Param("cloud.discontinue_rate", 0.02, "float", "1/month", "monthly probability that a firm on the cloud "
          "whose services cost more than they bring (net value < 0) leaves, losing the productivity gain", A,
          lo=0.0, hi=1.0),

    # --- labour: workers released by machine substitution, re-employed by firms short of labour ---
    Param("labour.pool_enabled", False, "bool", "-", "workers a project releases join their city's pool, from "
          "which firms with a labour gap hire (off: released workers leave manufacturing at once)",
          "issue #15 (the labour gap driven by the model's own hiring needs); the baseline switches it on"),
    Param("labour.hire_share", 0.5, "float", "share", "share of a city's unfilled posts that firms short of "
          "labour fill from the city's pool each January (at most the pool)", A, lo=0.0, hi=1.0),
    Param("labour.pool_leave_share", 0.5, "float", "share", "share of what is left in a city's pool after "
          "January's hiring that leaves manufacturing (other sectors, other provinces, retirement)", A,
          lo=0.0, hi=1.0),

    # --- dynamics: growth, exit, entry and the above-size threshold (model/dynamics.py) -----------
    Param("dynamics.firm_dynamics", False, "bool", "-", "firm dynamics: each January firms grow or shrink, firms with "
          "persistent losses and no cash close (their debts written off), entrants take their places, and "
          "the above-size panel is last year's revenue against the threshold (off: the 2013 panel, fixed)",
          "issue #15; the baseline switches it on"),
    Param("dynamics.revenue_threshold", 20e6, "float", "yuan/yr", "annual revenue from which a manufacturer "
          "is 'above designated size'", "NBS definition (annual main business revenue >= 20 m yuan), as "
          "restated with NBS industrial releases (e.g. wowkorea.live/news/pickup/486964)", lo=0.0, hi=1e12),
    Param("dynamics.va_to_revenue", 0.214, "float", "share", "value added per yuan of revenue (to compare "
          "value added with the revenue threshold)", "derived: Zhejiang above-size industry 2020, value "
          "added 1.67 tn yuan, profit 554.5 bn yuan = 7.1 % of operating revenue, so revenue 7.81 tn "
          "(en.sx.gov.cn 2021-02-03, 'Latest data reflects Zhejiang's economic resilience'); "
          "assumption: the same ratio for small firms", lo=0.01, hi=1.0),
    Param("dynamics.exit_loss_years", 2, "int", "yr", "a firm closes after this many calendar years in a "
          "row with a loss (after interest) if its cash is then negative", A, lo=1, hi=50),
    Param("dynamics.growth_sd", 0.1, "float", "log sd", "sd of a firm's idiosyncratic yearly log change in "
          "demand (capacity output and recruitable workforce move together; mean factor 1)", A,
          lo=0.0, hi=2.0),

    # --- cities: the 11 city governments ------------------------------------------------------
    Param("cities.purchase_enabled", True, "bool", "-", "cities subsidise the robots machine-substitution "
          "projects buy (a share of each robot's price, capped per robot) from their own budgets",
          "seed 000 section 3.1 (10-20 %; the seed does not say who pays: the cities paying is an assumption); "
          "DATA.md B (Quzhou, Lishui)",
          lever=True, label="City robot purchase subsidies"),
    Param("cities.purchase_rate", 0.15, "float", "share", "robot purchase subsidy (share of a robot's price) in "
          "cities without a rule of their own (cities.csv)",
          "seed 000 (10-20 %; the midpoint; assumption for the cities it does not name)", lo=0.0, hi=0.6,
          lever=True, label="Robot purchase subsidy rate", ui=(0.0, 0.4, 0.01)),
    Param("cities.purchase_end", LAST_MONTH, "month", "month", "last month in which the cities subsidise robot "
          "purchases (the default: to the end of any run; a scenario may move their money elsewhere from a date)",
          A + " (no end is reported)", lo=START_MONTH, hi=LAST_MONTH),
    Param("cities.cap_per_robot", 50_000.0, "float", "yuan/robot", "cap of the purchase subsidy per robot "
          "in cities without a rule of their own", A + " (Quzhou's 50,000, DATA.md B, taken for the others)",
          lo=0.0, hi=1e8),
    Param("cities.use_city_rules", True, "bool", "-", "apply the city rules of cities.csv (Quzhou 15 % "
          "capped at 50,000 yuan a robot; Lishui 20 % capped at 60,000 from 2019-07); false: every city uses "
          "cities.purchase_rate and cities.cap_per_robot", "DATA.md B (the design notes' figures, no source named)"),
    Param("cities.budget_total", 1e9, "float", "yuan/yr", "yearly budget of all 11 cities for robot purchase "
          "subsidies, split by output share",
          A + " (no source; not calibrated: no target informs it, since no city runs out)", lo=0.0, hi=1e12),
    Param("cities.expected_share_2013", 0.8, "float", "share", "share of its claim a firm expects its city to pay "
          "before the first year (later: the share of last year's claims it paid)", A, lo=0.0, hi=1.0),
    Param("cities.rewards_enabled", True, "bool", "-", "the province rewards the best-performing cities",
          "seed 000"),
    Param("cities.reward_pool", 30e6, "float", "yuan/yr", "yearly reward pool",
          "seed 000 (30 m yuan; the seed gives no period: a year is an assumption)",
          lo=0.0, hi=1e11),
    Param("cities.reward_winners", 3, "int", "cities", "cities sharing the pool each year", A, lo=1, hi=11),

    # --- providers: engineering-service companies ----------------------------------------------
    Param("providers.initial_count", 30, "int", "firms", "engineering-service providers and integrators in "
          "2013", A + " (the seed's 54, no year given, are the government-promoted ones; the design notes' ~600 in "
          "Hangzhou alone by 2020 has no source named, DATA.md B)", lo=1, hi=5_000),
    Param("providers.capacity", 60.0, "float", "projects", "concurrent projects one provider can "
          "implement", A, lo=0.1, hi=10_000.0),
    Param("providers.fee_share", 0.15, "float", "share", "provider fee as a share of the capital "
          "cost (before learning)", A, lo=0.0, hi=2.0),
    Param("providers.progress_ratio", 0.9, "float", "ratio", "fee multiplier per doubling of a "
          "provider's completed projects (learning by doing)", A, lo=0.5, hi=1.0),
    Param("providers.quality_spread", 0.3, "float", "ratio", "providers' gain-sd multipliers are "
          "drawn uniformly in [1 - spread, 1 + spread]", A, lo=0.0, hi=0.95),
    Param("providers.entry_queue_ratio", 0.25, "float", "ratio", "providers enter a sector when its queue "
          "exceeds this multiple of the sector's capacity", A, lo=0.0, hi=100.0),
    Param("providers.entry_rate", 0.15, "float", "1/month", "share of a sector's excess backlog (queue beyond "
          "the threshold, in providers' capacities) that new entrants take on each month (Poisson)", A,
          lo=0.0, hi=1.0),
    Param("providers.max_count", 2_000, "int", "providers", "ceiling on the number of providers", A, lo=1, hi=100_000),

    # --- shared: shared-manufacturing platforms (seed 003; docs/ODD.md 3.4.14) ---------------------
    Param("shared.platforms_enabled", False, "bool", "-", "shared-manufacturing platforms sell production capacity "
          "per use to firms at stage 0 (off in the historical baseline: the national plan came in 2019)",
          "seed 003 (MIIT plan of late October 2019)", lever=True, label="Shared-manufacturing platforms"),
    Param("shared.platforms_start", "2019-11", "month", "month", "month the first platforms open (a national plan, not the "
          "province's programme: programme.start does not move it)", "seed 003 (the plan of late October 2019)",
          lo=START_MONTH, hi=LAST_MONTH, lever=True, label="Shared platforms open (year)", ui=(2013, 2025, 1)),
    Param("shared.initial_platforms", 4, "int", "platforms", "platforms open at the start in Zhejiang (one per "
          "city x sector cell, in the cells with the most small firms at stage 0)", A + " (the plan's 20 platforms "
          "by 2022 are national; no Zhejiang count is sourced)", lo=0, hi=1_000),
    Param("shared.max_platforms", 60, "int", "platforms", "ceiling on platforms in the province", A, lo=0,
          hi=10_000),
    Param("shared.platform_capacity", 100.0, "float", "firms", "firms one platform serves at once (each using it for a "
          "share shared.coverage of its production: one use is a firm-month)", A, lo=0.1, hi=1e6),
    Param("shared.coverage", 0.5, "float", "share", "share of a user's production processed on the shared line, "
          "and so the share of machine substitution's gain it gets", A, lo=0.0, hi=1.0),
    Param("shared.distance_penalty", 0.5, "float", "share", "share of that gain lost using a platform in another "
          "city (same sector): transport, scheduling, coordination", A, lo=0.0, hi=1.0),
    Param("shared.markup", 0.3, "float", "share", "a new platform's price over the rental cost of the capacity a "
          "user takes (the capital cost of the covered share of its own line, as an annuity at the firm's rate "
          "over the decision horizon), before learning", A, lo=0.0, hi=10.0),
    Param("shared.price_progress_ratio", 0.9, "float", "ratio", "price multiplier per doubling of a platform's uses "
          "(in capacity-months): the price falls with scale", A + " (as providers.progress_ratio)", lo=0.5, hi=1.0),
    Param("shared.entry_utilisation", 0.9, "float", "share", "a new platform opens in a sector when its platforms "
          "are this full or firms were turned away in the month (at most one a sector a month)", A, lo=0.0, hi=1.0),
    Param("shared.support_per_use", 0.0, "float", "yuan/firm-month", "public support a platform gets per use, "
          "passed on in the price the user pays (0: none)", A, lo=0.0, hi=1e7),
    Param("shared.support_budget", 0.0, "float", "yuan/yr", "yearly budget for that support (released each "
          "January, unspent money lapses; paid per use in the users' random order until it runs out)", A,
          lo=0.0, hi=1e12),
)
# fmt: on

# Constraints between parameters: (keys, holds(values), what is allowed). Checked whenever values change.
CONSTRAINTS: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (("population.n_above_size", "population.n_firms"), lambda v: v[0] < v[1],
     "must be smaller than population.n_firms (above-size firms are some of the manufacturers)"),
)

BY_KEY: dict[str, Param] = {p.key: p for p in PARAMS}
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(p.group for p in PARAMS))
assert len(BY_NAME) == len(PARAMS), "parameter leaf names must be unique"


def instrument_start(params: Params, when: str = PROGRAMME_START) -> int:
    """The month index from which an instrument of the provincial programme is on in a run with ``params``.

    ``when`` is the instrument's start as the programme was run from 2013: the key of its date parameter
    (``"cloud.action_start"``), a month ``"YYYY-MM"`` from an input table (a city's own subsidy rule), or
    2013-01 (the default) for an instrument that began with the programme. It is moved by
    ``programme.start`` - 2013-01: the whole programme shifts together (docs/ODD.md 3.4.5). This is the
    one rule; every instrument reads its start through it.
    """
    base = month_index(when) if _MONTH_RE.match(when) else month_index(params[when])
    return base + month_index(params["programme.start"]) - month_index(PROGRAMME_START)


def resolve_key(key: str, value: Any = None, where: str = "") -> Param:
    """The Param for a dotted key or a unique leaf name; ParamError naming near misses."""
    if key in BY_KEY:
        return BY_KEY[key]
    if "." not in key and key in BY_NAME:
        return BY_NAME[key]
    close = difflib.get_close_matches(key, list(BY_KEY) + list(BY_NAME), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `simmodel params`"
    raise ParamError(key, value, "unknown parameter" + hint, where)


class Params(Mapping):
    """An immutable, validated set of parameter values keyed by dotted key.

    ``params["cities.purchase_rate"]`` or ``params.cities.purchase_rate``.
    Build with :meth:`defaults`, then :meth:`replace` (dotted keys or leaf names).
    """

    __slots__ = ("_values", "_groups")

    def __init__(self, values: Mapping[str, Any] | None = None):
        vals = {p.key: p.default for p in PARAMS}
        for k, v in (values or {}).items():
            p = resolve_key(k, v)
            vals[p.key] = p.validate(v)
        _check_constraints(vals)
        object.__setattr__(self, "_values", vals)
        object.__setattr__(self, "_groups", {})

    @classmethod
    def defaults(cls) -> Params:
        return cls()

    def replace(self, updates: Mapping[str, Any] | None = None, where: str = "", **kw: Any) -> Params:
        """A copy with ``updates`` applied (validated)."""
        vals = dict(self._values)
        for k, v in {**(updates or {}), **kw}.items():
            p = resolve_key(k, v, where)
            vals[p.key] = p.validate(v, where)
        _check_constraints(vals, where)
        new = object.__new__(Params)
        object.__setattr__(new, "_values", vals)
        object.__setattr__(new, "_groups", {})
        return new

    def __getitem__(self, key: str) -> Any:
        return self._values[resolve_key(key).key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, group: str) -> SimpleNamespace:
        if group.startswith("_") or group not in GROUPS:
            raise AttributeError(group)
        cached = self._groups.get(group)
        if cached is None:  # immutable values, so the namespace can be built once
            cached = self._groups[group] = SimpleNamespace(
                **{k.split(".")[1]: v for k, v in self._values.items() if k.startswith(group + ".")})
        return cached

    def __setattr__(self, *_: Any) -> None:
        raise AttributeError("Params is immutable; use replace()")

    def __reduce__(self):
        """Pickle (for worker processes) as the changed values, rebuilt through validation."""
        return (Params, (self.changed(),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and self._values == other._values

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        changed = self.changed()
        return f"Params({changed!r})" if changed else "Params(defaults)"

    def changed(self) -> dict[str, Any]:
        """The values that differ from the defaults."""
        return {k: v for k, v in self._values.items() if v != BY_KEY[k].default}

    def nested(self) -> dict[str, dict[str, Any]]:
        """{group: {name: value}}, JSON/TOML-ready (tuples become lists)."""
        out: dict[str, dict[str, Any]] = {}
        for k, v in self._values.items():
            g, n = k.split(".")
            out.setdefault(g, {})[n] = list(v) if isinstance(v, tuple) else v
        return out

    def digest(self) -> str:
        """A short stable hash of all values (for run ids and caches)."""
        blob = json.dumps(self.nested(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _check_constraints(vals: dict[str, Any], where: str = "") -> None:
    for keys, holds, allowed in CONSTRAINTS:
        if not holds([vals[k] for k in keys]):
            raise ParamError(keys[0], vals[keys[0]], f"{allowed}; {keys[1]} = {vals[keys[1]]!r}", where)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set key=value``; the value is read as a TOML literal, else as a string."""
    if "=" not in text:
        raise ParamError(text, None, "expected key=value, e.g. cities.purchase_rate=0.15", "--set")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def flatten_table(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """{group: {name: v}} from a scenario file -> {"group.name": v}, rejecting stray shapes."""
    flat: dict[str, Any] = {}
    for group, body in table.items():
        if not isinstance(body, Mapping):
            raise ParamError(group, body, f"expected a [table] of parameters; groups are {', '.join(GROUPS)}", where)
        if group not in GROUPS:
            close = difflib.get_close_matches(group, GROUPS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else f"; groups are {', '.join(GROUPS)}"
            raise ParamError(f"[{group}]", None, "unknown parameter group" + hint, where)
        for name, v in body.items():
            flat[f"{group}.{name}"] = v
    return flat


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file becomes a one-line ParamError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ParamError("file", str(path), "no such file") from None
    except IsADirectoryError:
        raise ParamError("file", str(path), "is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ParamError("file", str(path), f"not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ParamError("file", str(path), "not UTF-8 text: TOML files are UTF-8") from None


@dataclass
class ParamTableRow:
    key: str
    default: str
    unit: str
    allowed: str
    source: str
    doc: str


def table_rows() -> list[ParamTableRow]:
    """Rows of the parameter table (docs/ODD.md and `simmodel params`)."""
    rows = []
    for p in PARAMS:
        d = p.default
        d = ", ".join(map(str, d)) if isinstance(d, tuple) else _fmt(d)
        rows.append(ParamTableRow(p.key, str(d), p.unit, p.allowed().removeprefix("must be "), p.source, p.doc))
    return rows


__all__ = [
    "PARAMS", "BY_KEY", "BY_NAME", "GROUPS", "Param", "Params", "ParamError", "month_index",
    "month_label", "parse_override", "flatten_table", "read_toml", "resolve_key", "table_rows",
    "START_MONTH", "LAST_MONTH", "PROGRAMME_START", "instrument_start",
]
