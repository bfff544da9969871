"""The outputs (MODEL.md section 6): one definition of each indicator, with its label, unit and scale.

Every view of the outputs is derived from :data:`INDICATORS`: the tidy tables (recorder.tidy_rows),
the CLI's yearly table and the headline figure (:data:`HEADLINE`), the visual server and Mesa's
DataCollector (:data:`MONITORED`), sweep axes and the indicator dictionary (docs/indicators.md,
``simmodel indicators``). An indicator is a formula over the recorder's monthly cubes (recorder.py):
stock quantities by city x sector x size x stage x cloud, flows by city x sector x size and a few
province-wide scalars, all declared here. A new indicator is one entry below (and, if it needs a
new flow, one name in :data:`FLOWS` and one ``model.flow(...)`` call in the submodel that makes it).

Units: money flows are yuan in the period (a month or a year); value added and profit likewise;
labour productivity is yuan per worker per year; stocks are taken at the end of the period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import libm
from .stages import N_STAGES, Stage

# What the recorder keeps (recorder.py): stock quantities summed by the stock key, flows recorded by
# the submodels with ``model.flow(name, ...)``, province-wide scalars. A misspelt name is an error.
STOCKS = ("firms", "employees", "va", "profit", "robots", "gap_firms", "workers_saved", "queued", "debt",
          "lease_liability", "va_hightech", "va_emerging")
# the paybacks of the month's adopters, counted in bins (log-spaced from 3 months to 64 years)
PAYBACK_EDGES = np.concatenate([[0.0], np.geomspace(0.25, 64.0, 33), [np.inf]])
PAYBACK_BINS = tuple(f"payback_bin_{b:02d}" for b in range(len(PAYBACK_EDGES) - 1))
FLOWS = ("projects_applied", "projects_started", "projects_completed", "iot_projects_completed", "project_investment",
         "renewal_investment", "subsidy_spent", "labour_cost_saved", "projects_abandoned", "loans_issued",
         "loans_rejected", "leases_funds", "leases_materials", "leases_engineering", "defaults",
         "conference_attendees", "diagnoses", "cloud_migrations", "cloud_exits", "subsidy_robots", "subsidy_awards", "subsidy_pilots",
         "subsidy_vouchers", "adopters", "adopters_negative_npv", "firm_exits", "firm_entries", "crossed_up",
         "crossed_down", "exit_written_off", "exit_unpaid", "workers_substituted", "pool_hires",
         "shared_joins", "shared_leaves", "shared_use", "shared_fees", "shared_support", "shared_va",
         "shared_employees", "va_same_firms", "va_same_firms_last_year", *PAYBACK_BINS)
SCALARS = ("fund_remaining", "fund_spent", "running_cost", "providers", "provider_capacity", "provider_active", "conferences_held",
           "pilots", "wage_all", "wage_private", "labour_pool",
           "price_index", "shared_platforms", "shared_capacity")
N_CLOUD, N_SIZE = 2, 2
ABOVE, SMALL = 1, 0
LEVELS = ("province", "city", "sector")


@dataclass(frozen=True)
class Indicator:
    """One output: its name, unit, label and definition, how to compute it, where, and how to show it."""

    name: str
    unit: str  # unit of the stored value
    label: str  # short title (figures, tables, the visual server)
    doc: str  # the definition (docs/indicators.md)
    fn: Callable[..., np.ndarray]  # Agg -> (periods, groups)
    levels: tuple[str, ...] = LEVELS
    scale: float = 1.0  # shown as value / scale ...
    shown_unit: str = ""  # ... in this unit (default: the unit)
    short: str = ""  # column title in the CLI table

    @property
    def display_unit(self) -> str:
        return self.shown_unit or self.unit

    @property
    def prices(self) -> str:
        """Which prices a money value is at: 'nominal' (the period's prices, like wages; with
        economy.deflate off producer prices stay at 2013's), '2013 prices', or '' (not money)."""
        if "2013 prices" in self.unit:
            return "2013 prices"
        return "nominal" if self.unit.startswith("yuan") else ""

    def shown(self, value: float | np.ndarray):
        """The value in its display unit."""
        return value / self.scale


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def _growth(x: np.ndarray) -> np.ndarray:
    """Growth over the previous period along axis 0 (NaN for the first)."""
    out = np.full(x.shape, np.nan)
    out[1:] = _div(x[1:], x[:-1]) - 1.0
    return out


def _stage_share(k: int):
    return lambda a: _div(a.s("firms", stage=k), a.s("firms"))


def _transformed(a, above=ABOVE) -> np.ndarray:
    """Firms (of a size class, or all) with stage >= 1 or on the cloud."""
    return a.s("firms", above) - a.s("firms", above, 0, 0)


def _va_transformed(a, transformed: bool) -> tuple[np.ndarray, np.ndarray]:
    va_all, emp_all = a.s("va", ABOVE, mean=True), a.s("employees", ABOVE, mean=True)
    va0, emp0 = a.s("va", ABOVE, 0, 0, mean=True), a.s("employees", ABOVE, 0, 0, mean=True)
    return (va_all - va0, emp_all - emp0) if transformed else (va0, emp0)


def _group_va_share(q: str):
    return lambda a: _div(a.s(q, ABOVE, mean=True), a.s("va", ABOVE, mean=True))


def _group_va_growth(q: str):
    return lambda a: _growth(a.s(q, ABOVE, mean=True) * a.months[:, None])


def _tech_investment(a) -> np.ndarray:
    return a.f("project_investment") + a.f("renewal_investment")


def _flow(q: str):
    return lambda a: a.f(q)


def _negative_npv_share(above=slice(None)):
    return lambda a: _div(a.f("adopters_negative_npv", above), a.f("adopters", above))


def _median_payback(above=slice(None)):
    """The median payback of the period's adopters (years), from their binned counts: the bin where
    the cumulative count passes half, interpolated log-linearly inside it (NaN without adopters)."""
    def fn(a):
        counts = np.stack([a.f(b, above) for b in PAYBACK_BINS], axis=-1)  # (P, G, bins)
        total = counts.sum(axis=-1)
        cum = np.cumsum(counts, axis=-1)
        half = 0.5 * total[..., None]
        b = np.clip((cum < half).sum(axis=-1), 0, len(PAYBACK_BINS) - 1)
        before = np.take_along_axis(cum, b[..., None], -1)[..., 0] - np.take_along_axis(counts, b[..., None], -1)[..., 0]
        inside = np.take_along_axis(counts, b[..., None], -1)[..., 0]
        frac = np.divide(0.5 * total - before, inside, out=np.zeros_like(total), where=inside > 0)
        lo = libm.log(np.maximum(PAYBACK_EDGES[b], 0.125))
        hi = libm.log(np.minimum(PAYBACK_EDGES[b + 1], 128.0))
        return np.where(total > 0, libm.exp(lo + frac * (hi - lo)), np.nan)
    return fn


PROVINCE = ("province",)
PROV_CITY = ("province", "city")
PCT = {"scale": 0.01, "shown_unit": "%"}
K = {"scale": 1e3, "shown_unit": "thousand firms"}
BN = {"scale": 1e9, "shown_unit": "bn yuan"}
M = {"scale": 1e6, "shown_unit": "m yuan"}
KLP = {"scale": 1e3, "shown_unit": "k yuan/worker"}


def _i(name, unit, label, doc, fn, levels=LEVELS, **show) -> Indicator:
    return Indicator(name, unit, label, doc, fn, levels, **show)


INDICATORS: tuple[Indicator, ...] = (
    _i("firms", "firms", "Manufacturers", "manufacturers (real firms, all sizes)", lambda a: a.s("firms"), **K),
    _i("above_size_firms", "firms", "Above-size firms", "firms above designated size (revenue >= 20 m yuan)",
       lambda a: a.s("firms", ABOVE), **K),
    *(_i(f"share_stage_{s.value}", "share", f"Firms at stage {s.label}", f"share of all firms at stage {s.label}",
         _stage_share(s.value), **PCT) for s in Stage),
    _i("maturity_level_1", "share", "Maturity level 1 or below", "share at GB/T 39116 level 1 or below (stages 0-1)",
       lambda a: _div(a.s("firms", stage=slice(0, 2)), a.s("firms")), **PCT),
    _i("maturity_level_2", "share", "Maturity level 2", "share at level 2 (stage 2)", _stage_share(2), **PCT),
    _i("maturity_level_3", "share", "Maturity level 3", "share at level 3 (stage 3)", _stage_share(3), **PCT),
    _i("maturity_level_4plus", "share", "Maturity levels 4-5", "share at levels 4-5 (stage 4)", _stage_share(4), **PCT),
    _i("firms_stage_1plus", "firms", "Firms at stage >= 1", "firms of all sizes at stage >= 1 (automated or beyond)",
       lambda a: a.s("firms", stage=slice(1, None)), **K),
    _i("share_transformed_above", "share", "Above-size firms transformed (stage >= 1 or on the cloud)",
       "above-size firms with stage >= 1 or on the cloud", lambda a: _div(_transformed(a), a.s("firms", ABOVE)),
       short="transf%", **PCT),
    _i("share_automated_above", "share", "Above-size firms automated (stage >= 1)",
       "above-size firms with stage >= 1 (machine substitution or beyond), whether or not on the cloud",
       lambda a: _div(a.s("firms", ABOVE, slice(1, None)), a.s("firms", ABOVE)), short="autom%", **PCT),
    _i("share_cloud_above", "share", "Above-size firms on the cloud", "above-size firms on the cloud, at any stage",
       lambda a: _div(a.s("firms", ABOVE, cloud=1), a.s("firms", ABOVE)), short="cloud%", **PCT),
    _i("share_digitized_above", "share", "Above-size firms digitized (stage >= 2)", "above-size firms with stage >= 2",
       lambda a: _div(a.s("firms", ABOVE, slice(2, None)), a.s("firms", ABOVE)), short="digit%", **PCT),
    _i("cloud_firms", "firms", "Firms on the cloud",
       "firms on the cloud (all sizes; migrations less exits and the closures of firms on the cloud)",
       lambda a: a.s("firms", cloud=1), short="cloud k", **K),
    _i("robots_in_service", "robots", "Industrial robots in service", "industrial robots installed",
       lambda a: a.s("robots"), short="robots k", scale=1e3, shown_unit="thousand"),
    _i("projects_applied", "projects", "Projects applied for",
       "firms that decided to transform, found finance and applied", _flow("projects_applied")),
    _i("projects_started", "projects", "Projects started", "transformation projects started (implementation began)",
       _flow("projects_started")),
    _i("projects_completed", "projects", "Projects completed", "transformation projects completed",
       _flow("projects_completed"), short="projects"),
    _i("iot_projects_completed", "projects", "IoT projects completed",
       "completed projects reaching stage 3 (networked, IoT)", _flow("iot_projects_completed")),
    _i("projects_abandoned", "projects", "Projects abandoned", "adoption decisions given up for want of finance",
       _flow("projects_abandoned")),
    _i("value_added_above", "yuan", "Value added, above size", "value added of above-size firms in the period",
       lambda a: a.va_amount(ABOVE), **BN),
    _i("value_added", "yuan", "Value added", "value added of all firms in the period", lambda a: a.va_amount(), **BN),
    _i("labour_productivity_above", "yuan/worker/yr", "Labour productivity, above size",
       "value added per worker, above-size firms",
       lambda a: _div(a.s("va", ABOVE, mean=True), a.s("employees", ABOVE, mean=True)), short="LP k/wkr", **KLP),
    _i("value_added_real", "yuan (2013 prices)", "Value added, 2013 prices", "value added of all firms in the "
       "period over the price level (price_index; with economy.deflate off, and at the calibrated baseline until 2020, "
       "prices stay at 2013's and this is the nominal series)",
       lambda a: a.va_amount() / a.z("price_index", mean=True), **BN),
    _i("labour_productivity_above_real", "yuan/worker/yr (2013 prices)", "Labour productivity, above size, 2013 "
       "prices", "labour_productivity_above over the price level (price_index; the nominal series with "
       "economy.deflate off, and at the calibrated baseline until 2020)",
       lambda a: _div(a.s("va", ABOVE, mean=True), a.s("employees", ABOVE, mean=True)) / a.z("price_index", mean=True),
       **KLP),
    _i("price_index", "index", "Producer prices", "industrial producer prices relative to 2013 (economy.deflate, "
       "from economy.deflate_from; 1 when off, and at the calibrated baseline until 2020)",
       lambda a: a.z("price_index", mean=True), PROVINCE),
    _i("labour_productivity_transformed_above", "yuan/worker/yr", "Labour productivity, transformed above-size firms",
       "value added per worker, above-size firms with stage >= 1 or on the cloud",
       lambda a: _div(*_va_transformed(a, True)), **KLP),
    _i("labour_productivity_untransformed_above", "yuan/worker/yr", "Labour productivity, untransformed above-size "
       "firms", "value added per worker, above-size firms at stage 0 and not on the cloud",
       lambda a: _div(*_va_transformed(a, False)), **KLP),
    _i("profit_above", "yuan", "Profit, above size", "profit of above-size firms in the period",
       lambda a: a.s("profit", ABOVE, mean=True) * a.months[:, None] / 12.0, **BN),
    _i("profit_growth_above", "share", "Profit growth, above size", "growth of profit_above over the previous period",
       lambda a: _growth(a.s("profit", ABOVE, mean=True) * a.months[:, None]), **PCT),
    _i("va_growth_above", "share", "Value-added growth, above size",
       "growth of value_added_above over the previous period", lambda a: _growth(a.va_amount(ABOVE)), **PCT),
    _i("va_growth_same_firms_above", "share", "Value-added growth, same above-size firms",
       "growth of the value added of the year's above-size firms that operated all of the year before, against their "
       "own value added that year at this year's prices: growth on comparable firms, where va_growth_above compares "
       "two years' panels (recorded in December, with firm dynamics on)",
       lambda a: _div(a.f("va_same_firms", ABOVE), a.f("va_same_firms_last_year", ABOVE)) - 1.0, **PCT),
    _i("va_share_hightech_above", "share", "High-tech share of value added",
       "high-tech share of above-size value added", _group_va_share("va_hightech"), PROV_CITY, **PCT),
    _i("va_share_emerging_above", "share", "Strategic-emerging share of value added",
       "strategic-emerging share of above-size value added", _group_va_share("va_emerging"), PROV_CITY, **PCT),
    _i("va_growth_hightech_above", "share", "High-tech value-added growth",
       "growth of high-tech above-size value added", _group_va_growth("va_hightech"), PROV_CITY, **PCT),
    _i("va_growth_emerging_above", "share", "Strategic-emerging value-added growth",
       "growth of strategic-emerging above-size value added", _group_va_growth("va_emerging"), PROV_CITY, **PCT),
    _i("va_share_equipment_above", "share", "Equipment-manufacturing share of value added",
       "equipment-manufacturing share of above-size value added",
       lambda a: _div(a.equip_va, a.s("va", ABOVE, mean=True)), PROV_CITY, **PCT),
    _i("va_growth_equipment_above", "share", "Equipment-manufacturing value-added growth",
       "growth of equipment-manufacturing above-size value added",
       lambda a: _growth(a.equip_va * a.months[:, None]), PROV_CITY, **PCT),
    _i("tech_investment", "yuan", "Tech-transformation investment", "technological-transformation investment: "
       "projects (capital cost and fees) plus routine renewal (a share of value added, growing at "
       "renewal_share_growth)", _tech_investment, short="techinv bn", **BN),
    _i("renewal_investment", "yuan", "Routine renewal investment", "the routine-renewal part of tech_investment "
       "(renewal_investment_share of value added, growing at renewal_share_growth)", _flow("renewal_investment"),
       **BN),
    _i("tech_investment_share", "share", "Tech investment, share of industrial investment",
       "tech_investment as a share of industrial investment",
       lambda a: _div(_tech_investment(a), _tech_investment(a) + a.other_investment_share * a.va_amount()), **PCT),
    _i("labour_cost_saved", "yuan", "Labour cost saved", "wages no longer paid, in the period, for the workers "
       "that projects completed since January 2013 released in firms still operating (employment that fell; a firm "
       "short of labour releases fewer than its needs fall), at the period's wage of the firm's size class (nominal)",
       _flow("labour_cost_saved"), **BN),
    _i("workers_substituted", "workers", "Workers substituted", "workers released by projects completed in the "
       "period (the fall in employment they brought)", _flow("workers_substituted"), scale=1e3,
       shown_unit="thousand"),
    _i("workers_substituted_above", "workers", "Workers substituted, above-size firms", "as workers_substituted, "
       "above-size firms (by their size class when the project completed)", lambda a: a.f("workers_substituted", ABOVE),
       scale=1e3, shown_unit="thousand"),
    _i("pool_hires", "workers", "Released workers re-employed", "released workers hired by firms short of labour "
       "(each January, from their city's pool)", _flow("pool_hires"), scale=1e3, shown_unit="thousand"),
    _i("labour_pool", "workers", "Released workers looking for work", "workers released by machine substitution "
       "not yet re-employed in manufacturing (period end)", lambda a: a.z("labour_pool"), PROVINCE, scale=1e3,
       shown_unit="thousand"),
    _i("share_with_labour_gap", "share", "Firms with a labour gap", "share of firms with an unfilled labour gap",
       lambda a: _div(a.s("gap_firms"), a.s("firms")), short="gap%", **PCT),
    _i("employment", "workers", "Employment", "workers employed (period mean)", lambda a: a.s("employees", mean=True),
       scale=1e6, shown_unit="million workers"),
    _i("subsidy_spent", "yuan", "Subsidies paid", "subsidies paid to firms, all lines: robot purchase subsidies, "
       "fund awards, pilot support, cloud vouchers", _flow("subsidy_spent"), short="subsidy m", **M),
    _i("running_cost", "yuan", "Running cost of conferences and expert groups", "what the conferences held and the "
       "working expert groups cost in the period, at their assumed unit costs (demonstration.cost_per_conference, "
       "experts.cost_per_group_year)", lambda a: a.z("running_cost", True) * a.months[:, None], PROVINCE, **M),
    _i("public_cost", "yuan", "Public cost", "every yuan the model records a government paying: subsidy_spent "
       "(robot subsidies, fund awards, pilot support, cloud vouchers), shared_support (support of shared-"
       "manufacturing platforms) and running_cost (conferences, expert groups)",
       lambda a: a.f("subsidy_spent") + a.f("shared_support") + a.z("running_cost", True) * a.months[:, None],
       PROVINCE, **M),
    _i("fund_remaining", "yuan", "Special fund left", "special fund left at the end of the period",
       lambda a: a.z("fund_remaining"), PROVINCE, **M),
    _i("fund_spent", "yuan", "Special fund spent", "paid out of the provincial special fund in the period",
       lambda a: a.z("fund_spent", True) * a.months[:, None], PROVINCE, **M),
    _i("loans_issued", "loans", "Bank loans granted", "bank loans granted for projects", _flow("loans_issued")),
    _i("loans_rejected", "loans", "Loan applications refused", "loan applications turned down",
       _flow("loans_rejected")),
    _i("leases_funds", "leases", "'Financing funds' leases", "'financing funds' leases signed", _flow("leases_funds")),
    _i("leases_materials", "leases", "'Financing materials' leases", "'financing materials' leases signed",
       _flow("leases_materials")),
    _i("leases_engineering", "leases", "'Financing engineering' leases", "'financing engineering' leases signed",
       _flow("leases_engineering")),
    _i("defaults", "firms", "Defaults", "firms defaulting on a loan or lease", _flow("defaults")),
    _i("firm_exits", "firms", "Firms closing", "firms closed after persistent losses with negative cash "
       "(in January, on the past years' accounts; firm dynamics)", _flow("firm_exits"), **K),
    _i("firm_entries", "firms", "Entrants", "new firms (in January, one per firm closed; firm dynamics)",
       _flow("firm_entries"), **K),
    _i("above_size_entries", "firms", "Firms growing above size", "firms whose last year's revenue reached "
       "the above-size threshold (in January; firm dynamics)", _flow("crossed_up"), **K),
    _i("above_size_exits", "firms", "Firms falling below size", "above-size firms whose last year's revenue "
       "fell below the threshold (in January; firm dynamics)", _flow("crossed_down"), **K),
    _i("exit_written_off", "yuan", "Debts of closing firms", "loans and leases outstanding of the firms that "
       "closed (the bank writes its loans off; a lessor recovers its share and writes off the rest)", _flow("exit_written_off"), **BN),
    _i("exit_unpaid", "yuan", "Negative cash of closing firms", "what the negative cash of closing firms "
       "stood for (unpaid suppliers, owners' losses)", _flow("exit_unpaid"), **BN),
    _i("firm_debt", "yuan", "Bank loans outstanding", "bank loans outstanding (period end)", lambda a: a.s("debt"),
       **BN),
    _i("lease_liabilities", "yuan", "Leases outstanding", "leases outstanding (period end)",
       lambda a: a.s("lease_liability"), **BN),
    _i("providers", "firms", "Engineering-service providers", "engineering-service providers (period end)",
       lambda a: a.z("providers"), PROVINCE),
    _i("provider_utilisation", "share", "Provider utilisation",
       "projects in implementation / provider capacity (period mean)",
       lambda a: _div(a.z("provider_active", True), a.z("provider_capacity", True)), PROVINCE, **PCT),
    _i("queue_length", "firms", "Projects waiting for a provider", "projects approved and waiting for a provider "
       "(period end)", lambda a: a.s("queued")),
    _i("provider_backlog_months", "months", "Provider backlog", "projects waiting for a provider at the period's end "
       "over the projects started per month in the period: how many months of providers' work the queue holds",
       lambda a: _div(a.s("queued"), a.f("projects_started") / a.months[:, None])),
    _i("conferences_held", "conferences", "Conferences held", "case-promotion conferences held",
       lambda a: a.z("conferences_held", True) * a.months[:, None], PROVINCE),
    _i("conference_attendees", "firms", "Conference attendees", "firms attending conferences",
       _flow("conference_attendees")),
    _i("diagnoses", "firms", "Expert diagnoses", "firms given a free expert diagnosis", _flow("diagnoses")),
    _i("pilots", "firms", "Pilot firms",
       "pilot demonstration firms chosen so far (cumulative: closed ones stay counted)", lambda a: a.z("pilots"),
       PROVINCE),
    _i("cloud_migrations", "firms", "Firms moving onto the cloud", "firms moving onto the cloud in the period",
       _flow("cloud_migrations"), **K),
    _i("cloud_exits", "firms", "Firms leaving the cloud", "firms on the cloud that left it in the period (their "
       "services cost more than they brought)", _flow("cloud_exits"), **K),
    _i("subsidy_robots", "yuan", "Robot purchase subsidies", "robot purchase subsidies the cities paid",
       _flow("subsidy_robots"), **M),
    _i("subsidy_awards", "yuan", "Special-fund awards", "awards the special fund's rounds paid", _flow("subsidy_awards"),
       **M),
    _i("subsidy_pilots", "yuan", "Pilot support", "support paid to pilot projects from the fund's envelope",
       _flow("subsidy_pilots"), **M),
    _i("subsidy_vouchers", "yuan", "Cloud vouchers", "cloud vouchers paid", _flow("subsidy_vouchers"), **M),
    _i("adopters", "firms", "Adopters", "firms that decided to transform (before finance: projects_applied + "
       "projects_abandoned)", _flow("adopters")),
    _i("adopters_above", "firms", "Above-size adopters", "above-size firms that decided to transform",
       lambda a: a.f("adopters", ABOVE)),
    _i("adopters_small", "firms", "Small adopters", "small firms that decided to transform",
       lambda a: a.f("adopters", SMALL)),
    _i("share_adopters_negative_npv", "share", "Adopters with a negative expected NPV", "share of the period's "
       "adopters (real firms) whose expected NPV at decision time (at their mean expectation of the gain) was "
       "below zero", _negative_npv_share(), **PCT),
    _i("share_adopters_negative_npv_above", "share", "Above-size adopters with a negative expected NPV",
       "as share_adopters_negative_npv, above-size adopters", _negative_npv_share(ABOVE), **PCT),
    _i("share_adopters_negative_npv_small", "share", "Small adopters with a negative expected NPV",
       "as share_adopters_negative_npv, small adopters", _negative_npv_share(SMALL), **PCT),
    _i("median_payback_adopters", "years", "Median payback of adopters", "median over the period's adopters of "
       "net cost / expected first-year benefit at decision time (binned, log-spaced bins)", _median_payback()),
    _i("median_payback_adopters_above", "years", "Median payback of above-size adopters",
       "as median_payback_adopters, above-size adopters", _median_payback(ABOVE)),
    _i("median_payback_adopters_small", "years", "Median payback of small adopters",
       "as median_payback_adopters, small adopters", _median_payback(SMALL)),
    _i("shared_users", "firms", "Firms using shared factories", "firms using a shared-manufacturing platform "
       "(period mean)", lambda a: a.f("shared_use") / a.months[:, None], short="shared"),
    _i("shared_users_small", "firms", "Small firms using shared factories", "as shared_users, firms below "
       "designated size", lambda a: a.f("shared_use", SMALL) / a.months[:, None], **K),
    _i("shared_users_above", "firms", "Above-size firms using shared factories", "as shared_users, above-size "
       "firms", lambda a: a.f("shared_use", ABOVE) / a.months[:, None], **K),
    _i("shared_joins", "firms", "Firms starting on shared factories", "firms that took a seat on a shared-"
       "manufacturing platform in the period", _flow("shared_joins")),
    _i("shared_leaves", "firms", "Firms leaving shared factories", "users that left a platform in the period "
       "(their own line completed, or the fee came to exceed what the covered gain brings)", _flow("shared_leaves")),
    _i("share_automated_or_shared_small", "share", "Small firms automated or on shared factories",
       "firms below designated size at stage >= 1 or using a shared-manufacturing platform (period means; a "
       "user leaves in the month its own line completes)",
       lambda a: _div(a.s("firms", SMALL, slice(1, None), mean=True) + a.f("shared_use", SMALL) / a.months[:, None],
                      a.s("firms", SMALL, mean=True)), **PCT),
    _i("shared_platforms", "platforms", "Shared-manufacturing platforms", "platforms open (period end)",
       lambda a: a.z("shared_platforms"), PROVINCE),
    _i("shared_utilisation", "share", "Shared-platform utilisation", "firms using platforms / their capacity "
       "(period mean)", lambda a: _div(a.f("shared_use") / a.months[:, None], a.z("shared_capacity", True)),
       PROVINCE, **PCT),
    _i("shared_fees", "yuan", "Fees paid to shared platforms", "what users paid the platforms in the period "
       "(after the public support per use)", _flow("shared_fees"), **M),
    _i("shared_support", "yuan", "Public support of shared platforms", "support paid to platforms per use "
       "in the period (shared.support_per_use, from shared.support_budget)", _flow("shared_support"), **M),
    _i("labour_productivity_shared_users", "yuan/worker/yr", "Labour productivity, shared-factory users",
       "value added per worker of firms using a platform", lambda a: _div(a.f("shared_va"), a.f("shared_employees")),
       **KLP),
    _i("labour_productivity_stage0_nonusers", "yuan/worker/yr", "Labour productivity, stage-0 firms not on shared "
       "factories", "value added per worker of firms at stage 0 not using a platform (the users' comparison group)",
       lambda a: _div(a.s("va", stage=0, mean=True) * a.months[:, None] - a.f("shared_va"),
                      a.s("employees", stage=0, mean=True) * a.months[:, None] - a.f("shared_employees")), **KLP),
    _i("share_transformed", "share", "Firms transformed (all sizes)",
       "firms of all sizes with stage >= 1 or on the cloud (the cities' reward ranks its yearly rise)",
       lambda a: _div(_transformed(a, slice(None)), a.s("firms")), PROV_CITY, **PCT),
)
BY_NAME: dict[str, Indicator] = {i.name: i for i in INDICATORS}
assert len(BY_NAME) == len(INDICATORS), "indicator names must be unique"

# The headline: the CLI's yearly table and the headline figure.
HEADLINE = ("share_transformed_above", "share_automated_above", "share_digitized_above", "share_cloud_above", "labour_productivity_above", "cloud_firms",
            "tech_investment", "robots_in_service", "projects_completed", "subsidy_spent", "share_with_labour_gap")
# Added to the headline (table and figure) in runs where they are not zero (an instrument off in the baseline).
HEADLINE_IF_ACTIVE = ("shared_users",)


def headline_for(nonzero: Callable[[str], bool]) -> tuple[str, ...]:
    """The headline of a run: HEADLINE, and each of HEADLINE_IF_ACTIVE for which ``nonzero(name)``."""
    return HEADLINE + tuple(n for n in HEADLINE_IF_ACTIVE if nonzero(n))
# Province-wide each month in Mesa's DataCollector (the visual server plots these).
MONITORED = ("share_transformed_above", "share_automated_above", "share_digitized_above", "share_cloud_above", "labour_productivity_above", "cloud_firms",
             "projects_completed", "subsidy_spent", "fund_remaining", "queue_length", "robots_in_service",
             "share_with_labour_gap", "loans_issued", "loans_rejected", "provider_utilisation", "shared_users",
             *(f"share_stage_{s.value}" for s in Stage))


def unknown(name: str) -> str:
    """What an error says of a name that is no indicator: the near misses, and where the names are listed."""
    import difflib

    close = difflib.get_close_matches(str(name), list(BY_NAME), n=3)
    return "unknown indicator" + (f"; did you mean {', '.join(close)}?" if close else "") + \
        " (every name: `simmodel indicators`)"


def indicator(name: str) -> Indicator:
    """The indicator called ``name``; KeyError naming the near misses if there is none."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r}: {unknown(name)}") from None


def dictionary_markdown() -> str:
    """The indicator dictionary (docs/indicators.md): every output with unit, levels and definition."""
    lines = ["| indicator | unit | prices | label | levels | definition |", "|---|---|---|---|---|---|"]
    for i in INDICATORS:
        lines.append(f"| `{i.name}` | {i.unit} | {i.prices or '-'} | {i.label} | {', '.join(i.levels)} | {i.doc} |")
    return "\n".join(lines)


__all__ = ["Indicator", "INDICATORS", "BY_NAME", "HEADLINE", "HEADLINE_IF_ACTIVE", "headline_for", "MONITORED", "STOCKS", "FLOWS", "SCALARS", "indicator",
           "dictionary_markdown", "N_STAGES"]
