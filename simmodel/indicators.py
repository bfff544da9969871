"""The outputs of MODEL.md section 6, monthly and yearly, for the province, each city and each sector.

Each month the recorder reduces the firm arrays to a small weighted cube
(city x sector x above-size x stage x on-cloud) of a few stock quantities, plus the month's
flows (projects completed, investment, subsidies, ...) by city x sector x above-size and a few
province-wide scalars (fund, providers). Every indicator is a formula over those cubes, so
yearly values are computed from yearly sums (never by averaging monthly ratios), and the cost
per month is a handful of bincounts however many firms there are.

Units: money flows are yuan in the period (a month or a year); value added and profit likewise;
labour productivity is yuan per worker per year; stocks are taken at the end of the period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .params import month_label

STOCKS = ("firms", "employees", "va", "profit", "robots", "gap_firms", "workers_saved", "queued", "debt",
          "lease_liability", "va_hightech", "va_emerging")
FLOWS = ("projects_applied", "projects_started", "projects_completed", "iot_projects_completed", "project_investment", "renewal_investment",
         "subsidy_spent", "labour_cost_saved", "projects_abandoned", "loans_issued", "loans_rejected",
         "leases_funds", "leases_materials", "leases_engineering", "defaults", "conference_attendees",
         "cloud_migrations")
SCALARS = ("fund_remaining", "fund_spent", "providers", "provider_capacity", "provider_active", "conferences_held",
           "pilots", "wage_all", "wage_private")
N_STAGES, N_CLOUD, N_SIZE = 5, 2, 2


class Recorder:
    """Collects the monthly cubes of one run (preallocated for ``n_months``).

    The stock cube's key is city x sector x size x stage x cloud x high-tech x emerging; the last
    two are summed out when stored (into the value added of high-tech and emerging firms).
    """

    def __init__(self, n_months: int, n_cities: int, n_sectors: int, size_weights: tuple[float, float]):
        self.n_months, self.n_cities, self.n_sectors = n_months, n_cities, n_sectors
        self.k_flow = n_cities * n_sectors * N_SIZE
        self.k_stock = self.k_flow * N_STAGES * N_CLOUD
        self.size_weights = np.asarray(size_weights)
        self.stocks = np.zeros((n_months, len(STOCKS), self.k_stock))
        self.flows = np.zeros((n_months, len(FLOWS), self.k_flow))
        self.scalars = np.zeros((n_months, len(SCALARS)))
        self.month_flows = np.zeros((len(FLOWS), self.k_flow))
        self.months_done = 0

    def add_flow(self, name: str, flow_key: np.ndarray, amounts: np.ndarray) -> None:
        """Add real-firm amounts (already times weight) of flow ``name`` at ``flow_key``."""
        if flow_key.size:
            self.month_flows[FLOWS.index(name)] += np.bincount(flow_key, weights=amounts, minlength=self.k_flow)

    def collect(self, t: int, stock_key: np.ndarray, quantities: dict[str, np.ndarray],
                scalars: dict[str, float]) -> None:
        """Store month ``t``: stock quantities (unweighted, per agent, or sparse as (indices, values)) at
        ``stock_key``, flows and scalars.

        ``stock_key`` extends the stock cube's key by two flags (high-tech, emerging) in its last
        places; agent weights are applied per size class after summing.
        """
        k4 = self.k_stock * 4
        w = np.repeat(self.size_weights, self.k_stock // self.k_flow * 4)  # size is the 3rd key dim
        w = np.tile(w, self.k_flow // N_SIZE)
        for i, name in enumerate(STOCKS):
            q = quantities.get(name)
            if name == "firms":
                cube = np.bincount(stock_key, minlength=k4) * w
            elif isinstance(q, tuple):  # sparse: (firm indices, values)
                cube = np.bincount(stock_key[q[0]], weights=q[1], minlength=k4) * w
            elif q is not None:
                cube = np.bincount(stock_key, weights=q, minlength=k4) * w
            else:
                continue
            self.stocks[t, i] = cube.reshape(-1, 4).sum(axis=1)
            if name == "va":
                flags = cube.reshape(-1, 2, 2)  # (..., high-tech, emerging)
                self.stocks[t, STOCKS.index("va_hightech")] = flags[:, 1, :].sum(axis=1)
                self.stocks[t, STOCKS.index("va_emerging")] = flags[:, :, 1].sum(axis=1)
        # routine renewal investment this month: the month's renewal share of value added
        va = self.stocks[t, STOCKS.index("va")].reshape(self.k_flow, -1).sum(axis=1)
        self.month_flows[FLOWS.index("renewal_investment")] += va * scalars.get("renewal_share", 0.0) / 12.0
        # labour cost saved this month: workers substituted x the month's wage of their size class
        saved = self.stocks[t, STOCKS.index("workers_saved")].reshape(self.k_flow, -1).sum(axis=1)
        wage = np.tile([scalars.get("wage_private", 0.0), scalars.get("wage_all", 0.0)], self.k_flow // N_SIZE)
        self.month_flows[FLOWS.index("labour_cost_saved")] += saved * wage / 12.0
        self.flows[t] = self.month_flows
        self.month_flows = np.zeros_like(self.month_flows)
        self.scalars[t] = [scalars.get(k, 0.0) for k in SCALARS]
        self.months_done = t + 1


@dataclass
class Agg:
    """Cubes reduced to periods P and groups G: stock S [P,Q,G,2,5,2] at period end, mean M (same
    shape), flow sums F [P,F,G,2], province scalars at period end Z and mean Zm [P,S]."""

    S: np.ndarray
    M: np.ndarray
    F: np.ndarray
    Z: np.ndarray
    Zm: np.ndarray
    months: np.ndarray  # months in each period
    equip_va: np.ndarray  # [P,G] mean value-added rate of above-size equipment-manufacturing firms
    other_investment_share: float

    def s(self, q: str, above=slice(None), stage=slice(None), cloud=slice(None), mean=False) -> np.ndarray:
        """Stock ``q`` (period end, or period mean) summed over the selected size/stage/cloud cells."""
        r = (self.M if mean else self.S)[:, STOCKS.index(q)][:, :, above, stage, cloud]
        return r.reshape(r.shape[0], r.shape[1], -1).sum(axis=2)

    def f(self, q: str, above=slice(None)) -> np.ndarray:
        a = self.F[:, FLOWS.index(q)]
        return a[:, :, above].sum(axis=2) if isinstance(above, slice) else a[:, :, above]

    def z(self, q: str, mean: bool = False) -> np.ndarray:
        return (self.Zm if mean else self.Z)[:, SCALARS.index(q)][:, None]

    def va_amount(self, above=slice(None)) -> np.ndarray:
        """Value added in the period (yuan): mean annual rate x months / 12."""
        return self.s("va", above, mean=True) * self.months[:, None] / 12.0


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def _growth(x: np.ndarray) -> np.ndarray:
    """Growth over the previous period along axis 0 (NaN for the first)."""
    out = np.full(x.shape, np.nan)
    out[1:] = _div(x[1:], x[:-1]) - 1.0
    return out


@dataclass(frozen=True)
class Indicator:
    name: str
    unit: str
    doc: str
    fn: Callable[[Agg], np.ndarray]
    levels: tuple[str, ...] = ("province", "city", "sector")


ABOVE, SMALL = 1, 0


def _stage_share(k: int) -> Callable[[Agg], np.ndarray]:
    return lambda a: _div(a.s("firms", stage=k), a.s("firms"))


def _transformed(a: Agg) -> np.ndarray:
    """Above-size firms with stage >= 1 or on the cloud."""
    return a.s("firms", ABOVE) - a.s("firms", ABOVE, 0, 0)


def _va_transformed(a: Agg, transformed: bool) -> tuple[np.ndarray, np.ndarray]:
    va_all, emp_all = a.s("va", ABOVE, mean=True), a.s("employees", ABOVE, mean=True)
    va0, emp0 = a.s("va", ABOVE, 0, 0, mean=True), a.s("employees", ABOVE, 0, 0, mean=True)
    return (va_all - va0, emp_all - emp0) if transformed else (va0, emp0)


def _group_va_share(q: str) -> Callable[[Agg], np.ndarray]:
    return lambda a: _div(a.s(q, ABOVE, mean=True), a.s("va", ABOVE, mean=True))


def _group_va_growth(q: str) -> Callable[[Agg], np.ndarray]:
    return lambda a: _growth(a.s(q, ABOVE, mean=True) * a.months[:, None])


def _tech_investment(a: Agg) -> np.ndarray:
    return a.f("project_investment") + a.f("renewal_investment")


PROVINCE = ("province",)
PROV_CITY = ("province", "city")

INDICATORS: tuple[Indicator, ...] = (
    Indicator("firms", "firms", "manufacturers (real firms, all sizes)", lambda a: a.s("firms")),
    Indicator("above_size_firms", "firms", "firms above designated size", lambda a: a.s("firms", ABOVE)),
    *(Indicator(f"share_stage_{k}", "share", f"share of all firms at stage {k}", _stage_share(k))
      for k in range(N_STAGES)),
    Indicator("maturity_level_1", "share", "share at GB/T 39116 level 1 or below (stages 0-1)",
              lambda a: _div(a.s("firms", stage=slice(0, 2)), a.s("firms"))),
    Indicator("maturity_level_2", "share", "share at level 2 (stage 2)", _stage_share(2)),
    Indicator("maturity_level_3", "share", "share at level 3 (stage 3)", _stage_share(3)),
    Indicator("maturity_level_4plus", "share", "share at levels 4-5 (stage 4)", _stage_share(4)),
    Indicator("firms_stage_1plus", "firms", "firms of all sizes at stage >= 1 (automated or beyond)",
              lambda a: a.s("firms", stage=slice(1, None))),
    Indicator("share_transformed_above", "share", "above-size firms with stage >= 1 or on the cloud",
              lambda a: _div(_transformed(a), a.s("firms", ABOVE))),
    Indicator("share_digitized_above", "share", "above-size firms with stage >= 2",
              lambda a: _div(a.s("firms", ABOVE, slice(2, None)), a.s("firms", ABOVE))),
    Indicator("cloud_firms", "firms", "firms on the cloud (cumulative, all sizes)",
              lambda a: a.s("firms", cloud=1)),
    Indicator("robots_in_service", "robots", "industrial robots installed", lambda a: a.s("robots")),
    Indicator("projects_applied", "projects", "firms that decided to transform, found finance and applied",
              lambda a: a.f("projects_applied")),
    Indicator("projects_started", "projects", "transformation projects started (implementation began)",
              lambda a: a.f("projects_started")),
    Indicator("projects_completed", "projects", "transformation projects completed",
              lambda a: a.f("projects_completed")),
    Indicator("iot_projects_completed", "projects", "completed projects reaching stage 3 (networked, IoT)",
              lambda a: a.f("iot_projects_completed")),
    Indicator("projects_abandoned", "projects", "adoption decisions given up for want of finance",
              lambda a: a.f("projects_abandoned")),
    Indicator("projects_in_queue", "firms", "projects approved and waiting for a provider (period end)",
              lambda a: a.s("queued")),
    Indicator("value_added_above", "yuan", "value added of above-size firms in the period",
              lambda a: a.va_amount(ABOVE)),
    Indicator("value_added", "yuan", "value added of all firms in the period", lambda a: a.va_amount()),
    Indicator("labour_productivity_above", "yuan/worker/yr", "value added per worker, above-size firms",
              lambda a: _div(a.s("va", ABOVE, mean=True), a.s("employees", ABOVE, mean=True))),
    Indicator("labour_productivity_transformed_above", "yuan/worker/yr",
              "value added per worker, above-size firms with stage >= 1 or on the cloud",
              lambda a: _div(*_va_transformed(a, True))),
    Indicator("labour_productivity_untransformed_above", "yuan/worker/yr",
              "value added per worker, above-size firms at stage 0 and not on the cloud",
              lambda a: _div(*_va_transformed(a, False))),
    Indicator("profit_above", "yuan", "profit of above-size firms in the period",
              lambda a: a.s("profit", ABOVE, mean=True) * a.months[:, None] / 12.0),
    Indicator("profit_growth_above", "share", "growth of profit_above over the previous period",
              lambda a: _growth(a.s("profit", ABOVE, mean=True) * a.months[:, None])),
    Indicator("va_growth_above", "share", "growth of value_added_above over the previous period",
              lambda a: _growth(a.va_amount(ABOVE))),
    Indicator("va_share_hightech_above", "share", "high-tech share of above-size value added",
              _group_va_share("va_hightech"), PROV_CITY),
    Indicator("va_share_emerging_above", "share", "strategic-emerging share of above-size value added",
              _group_va_share("va_emerging"), PROV_CITY),
    Indicator("va_growth_hightech_above", "share", "growth of high-tech above-size value added",
              _group_va_growth("va_hightech"), PROV_CITY),
    Indicator("va_growth_emerging_above", "share", "growth of strategic-emerging above-size value added",
              _group_va_growth("va_emerging"), PROV_CITY),
    Indicator("va_share_equipment_above", "share", "equipment-manufacturing share of above-size value added",
              lambda a: _div(a.equip_va, a.s("va", ABOVE, mean=True)), PROV_CITY),
    Indicator("va_growth_equipment_above", "share", "growth of equipment-manufacturing above-size value added",
              lambda a: _growth(a.equip_va * a.months[:, None]), PROV_CITY),
    Indicator("tech_investment", "yuan", "technological-transformation investment: projects (capital "
              "cost and fees) plus routine renewal (a share of value added, growing at renewal_share_growth)",
              _tech_investment),
    Indicator("renewal_investment", "yuan", "the routine-renewal part of tech_investment (renewal_investment_share "
              "of value added, growing at renewal_share_growth)", lambda a: a.f("renewal_investment")),
    Indicator("tech_investment_share", "share", "tech_investment as a share of industrial investment",
              lambda a: _div(_tech_investment(a), _tech_investment(a) + a.other_investment_share * a.va_amount())),
    Indicator("labour_cost_saved", "yuan", "wages of the workers machines substitute, in the period",
              lambda a: a.f("labour_cost_saved")),
    Indicator("share_with_labour_gap", "share", "share of firms with an unfilled labour gap",
              lambda a: _div(a.s("gap_firms"), a.s("firms"))),
    Indicator("employment", "workers", "workers employed (period mean)", lambda a: a.s("employees", mean=True)),
    Indicator("subsidy_spent", "yuan", "subsidies paid to firms (all governments)", lambda a: a.f("subsidy_spent")),
    Indicator("fund_remaining", "yuan", "special fund left at the end of the period",
              lambda a: a.z("fund_remaining"), PROVINCE),
    Indicator("fund_spent", "yuan", "paid out of the provincial special fund in the period",
              lambda a: a.z("fund_spent", True) * a.months[:, None], PROVINCE),
    Indicator("loans_issued", "loans", "bank loans granted for projects", lambda a: a.f("loans_issued")),
    Indicator("loans_rejected", "loans", "loan applications turned down", lambda a: a.f("loans_rejected")),
    Indicator("leases_funds", "leases", "'financing funds' leases signed", lambda a: a.f("leases_funds")),
    Indicator("leases_materials", "leases", "'financing materials' leases signed", lambda a: a.f("leases_materials")),
    Indicator("leases_engineering", "leases", "'financing engineering' leases signed",
              lambda a: a.f("leases_engineering")),
    Indicator("defaults", "firms", "firms defaulting on a loan or lease", lambda a: a.f("defaults")),
    Indicator("firm_debt", "yuan", "bank loans outstanding (period end)", lambda a: a.s("debt")),
    Indicator("lease_liabilities", "yuan", "leases outstanding (period end)", lambda a: a.s("lease_liability")),
    Indicator("providers", "firms", "engineering-service providers (period end)", lambda a: a.z("providers"),
              PROVINCE),
    Indicator("provider_utilisation", "share", "projects in implementation / provider capacity (period mean)",
              lambda a: _div(a.z("provider_active", True), a.z("provider_capacity", True)), PROVINCE),
    Indicator("queue_length", "firms", "projects waiting for a provider (period end)", lambda a: a.s("queued")),
    Indicator("conferences_held", "conferences", "case-promotion conferences held",
              lambda a: a.z("conferences_held", True) * a.months[:, None], PROVINCE),
    Indicator("conference_attendees", "firms", "firms attending conferences", lambda a: a.f("conference_attendees")),
    Indicator("pilots", "firms", "pilot demonstration firms (period end)", lambda a: a.z("pilots"), PROVINCE),
    Indicator("cloud_migrations", "firms", "firms moving onto the cloud in the period",
              lambda a: a.f("cloud_migrations")),
)
BY_NAME = {i.name: i for i in INDICATORS}

# The headline indicators as people read them: (name, short column title, title, divisor, unit).
# The CLI's yearly table and the headline figure both show these.
HEADLINE_VIEW = (
    ("share_transformed_above", "transf%", "Above-size firms transformed", 0.01, "%"),
    ("share_digitized_above", "digit%", "Above-size firms digitized (stage >= 2)", 0.01, "%"),
    ("labour_productivity_above", "LP k/wkr", "Labour productivity, above size", 1e3, "k yuan/worker"),
    ("cloud_firms", "cloud k", "Firms on the cloud", 1e3, "thousand"),
    ("tech_investment", "techinv bn", "Tech-transformation investment", 1e9, "bn yuan"),
    ("robots_in_service", "robots k", "Industrial robots in service", 1e3, "thousand"),
    ("projects_completed", "projects", "Projects completed", 1, "per year"),
    ("subsidy_spent", "subsidy m", "Subsidies paid", 1e6, "m yuan"),
    ("share_with_labour_gap", "gap%", "Firms with a labour gap", 0.01, "%"),
)


def _periods(n_months: int, yearly: bool) -> list[np.ndarray]:
    if not yearly:
        return [np.array([t]) for t in range(n_months)]
    return [np.arange(y, min(y + 12, n_months)) for y in range(0, n_months, 12)]


def aggregate(rec: Recorder, level: str, yearly: bool, equipment: np.ndarray,
              other_investment_share: float, first: int = 0) -> Agg:
    """Reduce the recorder's cubes (months ``first`` on) to periods (months or years) and groups."""
    T = rec.months_done - first
    nc, ns = rec.n_cities, rec.n_sectors
    st = rec.stocks[first:first + T].reshape(T, len(STOCKS), nc, ns, N_SIZE, N_STAGES, N_CLOUD)
    fl = rec.flows[first:first + T].reshape(T, len(FLOWS), nc, ns, N_SIZE)
    sc = rec.scalars[first:first + T]
    if level == "province":
        g_st, g_fl = st.sum(axis=(2, 3))[:, :, None], fl.sum(axis=(2, 3))[:, :, None]
    elif level == "city":
        g_st, g_fl = st.sum(axis=3), fl.sum(axis=3)
    else:
        g_st, g_fl = st.sum(axis=2), fl.sum(axis=2)
    # equipment value added of above-size firms by group: sum over equipment sectors
    va_eq = st[:, STOCKS.index("va")][:, :, equipment, ABOVE].sum(axis=(3, 4))  # (T, nc, n_eq)
    if level == "province":
        eq = va_eq.sum(axis=(1, 2))[:, None]
    elif level == "city":
        eq = va_eq.sum(axis=2)
    else:
        eq = np.zeros((T, ns))
        eq[:, equipment] = va_eq.sum(axis=1)
    periods = _periods(T, yearly)
    S = np.stack([g_st[p[-1]] for p in periods])
    M = np.stack([g_st[p].mean(axis=0) for p in periods])
    F = np.stack([g_fl[p].sum(axis=0) for p in periods])
    Z = np.stack([sc[p[-1]] for p in periods])
    Zm = np.stack([sc[p].mean(axis=0) for p in periods])
    months = np.array([len(p) for p in periods], float)
    equip_va = np.stack([eq[p].mean(axis=0) for p in periods])
    return Agg(S, M, F, Z, Zm, months, equip_va, other_investment_share)


def tidy_rows(rec: Recorder, yearly: bool, cities: tuple[str, ...], sectors: tuple[str, ...],
              equipment: np.ndarray, other_investment_share: float,
              names: tuple[str, ...] | None = None) -> list[tuple]:
    """(period, region, sector, indicator, value) rows; region 'Zhejiang' and sector 'all' for totals."""
    T = rec.months_done
    labels = ([str(2013 + y // 12) for y in range(0, T, 12)] if yearly else [month_label(t) for t in range(T)])
    levels = ("province", "city", "sector") if yearly else ("province", "city")
    rows: list[tuple] = []
    wanted = [BY_NAME[n] for n in names] if names else INDICATORS
    for level in levels:
        agg = aggregate(rec, level, yearly, equipment, other_investment_share)
        groups = {"province": [("Zhejiang", "all")], "city": [(c, "all") for c in cities],
                  "sector": [("Zhejiang", s) for s in sectors]}[level]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {ind.name: ind.fn(agg) for ind in wanted if level in ind.levels}
        for p, label in enumerate(labels):
            for g, (region, sector) in enumerate(groups):
                for name, arr in values.items():
                    rows.append((label, region, sector, name, float(arr[p, g])))
    return rows


def month_values(rec: Recorder, t: int, names: tuple[str, ...], equipment: np.ndarray,
                 other_investment_share: float) -> dict[str, float]:
    """Province-wide values of ``names`` in month ``t`` alone (growth rates are NaN)."""
    saved = rec.months_done
    rec.months_done = t + 1
    try:
        agg = aggregate(rec, "province", False, equipment, other_investment_share, first=t)
    finally:
        rec.months_done = saved
    with np.errstate(invalid="ignore", divide="ignore"):
        return {n: float(BY_NAME[n].fn(agg)[0, 0]) for n in names}
