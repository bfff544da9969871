"""TransformationModel: the monthly schedule of MODEL.md section 3, wiring firms and institutions.

Firms are arrays (firms.py); the government, providers and (later) banks are mesa.Agent subclasses
(institutions/). One seed drives everything: a SeedSequence spawns one numpy Generator per
subsystem, so switching one channel off leaves the others' random streams (and the firms' fixed
draws) untouched, which is what common-random-number comparisons need.
"""

from __future__ import annotations

import mesa
import numpy as np

from . import beliefs, decision, firms as firmlib, projects
from .data import load_tables
from .finance import scale_to_funds
from .firms import CASH, NONE, QUEUED, FirmView
from .indicators import Recorder, month_values
from .institutions import ProvincialGovernment, ProviderMarket
from .params import Params, month_index, month_label
from .population import build_population, nominal_gains

# One Generator per subsystem, in this fixed order (append new ones at the end to keep old streams).
STREAMS = ("population", "decisions", "providers", "government", "banks", "conferences", "cloud", "experts")
# Province-level indicators collected each month by Mesa's DataCollector (the visual server plots these).
HEADLINE = ("share_transformed_above", "share_digitized_above", "labour_productivity_above", "cloud_firms",
            "projects_completed", "subsidy_spent", "fund_remaining", "queue_length", "robots_in_service",
            "share_with_labour_gap", *(f"share_stage_{k}" for k in range(5)))


class TransformationModel(mesa.Model):
    """SME intelligent transformation in Zhejiang, one step per month from January 2013.

    Attributes:
        params: the validated Params of this run
        seed: the integer seed every random stream derives from
        month: index of the month last simulated (0 = 2013-01; -1 before the first step)
        firms: the firm population (arrays; ``firm(i)`` gives one as a read-only view)
        government: the provincial government (special fund, subsidies, approval reform)
        providers: the engineering-service providers and the matching of projects to them
        recorder: monthly cubes from which every output indicator is derived
        datacollector: Mesa DataCollector of the HEADLINE indicators, province-wide, monthly
    """

    def __init__(self, seed: int | None = None, params: Params | None = None, **kwargs):
        """Build the January-2013 province.

        Args:
            seed: integer seed (None draws one from the OS; it is kept in ``self.seed``)
            params: a Params; defaults when None
            **kwargs: parameter overrides by leaf name or dotted key, e.g. ``scale=0.01``,
                ``purchase_subsidy_rate=0.2`` (validated; unknown names raise ParamError)
        """
        params = params or Params()
        if kwargs:
            params = params.replace(kwargs)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        super().__init__(seed=seed)
        self.seed, self.params = int(seed), params
        self.tables = t = load_tables()
        seqs = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rngs = {name: np.random.default_rng(s) for name, s in zip(STREAMS, seqs)}

        self.firms = build_population(params, t, self.rngs["population"])
        self.government = ProvincialGovernment(self, params)
        self.providers = ProviderMarket(self, params, t.n_sectors, t.sector_firm_share, self.rngs["providers"])

        tech = params.technology
        self.nominal_gain = nominal_gains(params, t)
        self.true_multiplier = tech.true_gain_multiplier
        stage_cost = np.array([0.0, tech.cost_per_worker_stage1, tech.cost_per_worker_stage2,
                               tech.cost_per_worker_stage3, tech.cost_per_worker_stage4])
        self.base_cost = t.sector_cost_multiplier[:, None] * stage_cost[None, :]
        self.impl_months = np.array([0, tech.implementation_months_stage1, tech.implementation_months_stage2,
                                     tech.implementation_months_stage3, tech.implementation_months_stage4])
        self.annuity = decision.annuity_factor(params["economy.discount_rate"], params["decision.horizon_years"])
        self.n_cells = t.n_cities * t.n_sectors
        f = self.firms
        self._flow_key = (f.cell.astype(np.int64) * 2 + f.above).astype(np.int64)
        self._evidence: tuple[np.ndarray, ...] | None = None
        self._latest: tuple[int, dict[str, float]] = (-1, {})
        self.obs_var = max(tech.gain_sd, 1e-3) ** 2  # observation noise of a realised gain ratio
        self.thinning = True  # exact speed-up of the decision; tests switch it off to compare
        self._ya: decision.YearAhead | None = None  # year-ahead bounds behind the cached terms
        self._bound = tuple(np.zeros(self.firms.n) for _ in range(3))  # cached (a, l, h) per firm
        self._last_ctx: decision.DecisionContext | None = None

        self.month = -1
        self.end_month = month_index(params["run.end"])
        self.recorder = Recorder(self.end_month + 1, t.n_cities, t.n_sectors, self._size_weights())
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, n=name: m.latest(n)) for name in HEADLINE}
        )

    def _size_weights(self) -> tuple[float, float]:
        """(small, above-size) agent weights; uniform within each class by construction."""
        f = self.firms
        w = [f.weight[f.above == a] for a in (False, True)]
        assert all(x.size == 0 or np.ptp(x) == 0 for x in w), "weights must be uniform within a size class"
        return tuple(float(x[0]) if x.size else 0.0 for x in w)

    # --- inspection -------------------------------------------------------------------------------
    @property
    def date(self) -> str:
        """The month last simulated as 'YYYY-MM' (the start, 2013-01, before any step)."""
        return month_label(max(self.month, 0))

    def firm(self, i: int) -> FirmView:
        """Firm agent ``i`` as a read-only object."""
        return self.firms.view(i)

    def latest(self, name: str) -> float:
        """Province-wide value of indicator ``name`` in the month last simulated (NaN before)."""
        if self.month < 0:
            return float("nan")
        if self._latest[0] != self.month:
            self._latest = (self.month, {})
        values = self._latest[1]
        if name not in values:  # the headline set is computed together, once a month
            names = HEADLINE if name in HEADLINE else (name,)
            values.update(month_values(self.recorder, self.month, names, self._equipment, self._inv_shares))
        return values[name]

    @property
    def _equipment(self) -> np.ndarray:
        return self.tables.sector_equipment

    @property
    def _inv_shares(self) -> tuple[float, float]:
        e = self.params.economy
        return e.renewal_investment_share, e.other_investment_share

    # --- the month ------------------------------------------------------------------------------
    def step(self) -> None:
        """One month, in the order of MODEL.md section 3."""
        self.month = t = self.steps - 1
        yr = self.tables.year_row(2013 + t // 12)
        wage, demand_growth = self.tables.wage[yr], self.tables.va_growth[yr]
        price_index = (1.0 - self.params["economy.robot_price_decline"]) ** (t / 12)

        self.government.step()  # 2. budgets
        self._learn()  # 3. information
        self._decide(wage, price_index)  # 4. decisions, finance, approval
        self._work_projects()  # 5. providers, projects, completions
        self._produce(wage, demand_growth)  # 7. production and accounts
        self._collect(wage)  # 8. data
        if t >= self.end_month:
            self.running = False

    def run(self) -> None:
        """Step to the end month."""
        while self.running:
            self.step()

    # 3. information ------------------------------------------------------------------------------
    def _learn(self) -> None:
        """Last month's completed projects become public evidence in their cells; exposure fades."""
        f, b = self.firms, self.params.beliefs
        if self._evidence is not None and b.peer_learning > 0:
            cell, sector, weight, ratio = self._evidence
            count, mean = beliefs.cell_evidence(cell, sector, weight, ratio, self.n_cells,
                                                self.tables.n_sectors, b.cross_cell_weight)
            beliefs.observe(f.cell_precision, f.cell_weighted, slice(None), mean, b.peer_learning * count,
                            self.obs_var)
        self._evidence = None
        beliefs.decay_exposure(f.exposure, b.exposure_half_life_months)

    # 4. decisions ------------------------------------------------------------------------------
    def peer_share(self) -> np.ndarray:
        """(n_cells, 6): share of each cell's firms at stage >= k, blended with the sector province-wide."""
        f, ns = self.firms, self.tables.n_sectors
        counts = np.bincount(f.combo, weights=f.weight, minlength=self.n_cells * 5)
        counts = counts.reshape(self.n_cells, 5)
        at_least = np.zeros((self.n_cells, 6))
        at_least[:, :5] = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        sector_at_least = at_least.reshape(-1, ns, 6).sum(axis=0)
        cell_share = at_least / np.maximum(at_least[:, :1], 1e-12)
        sector_share = sector_at_least / np.maximum(sector_at_least[:, :1], 1e-12)
        w = self.params["beliefs.cross_cell_weight"]
        return (1 - w) * cell_share + w * sector_share[np.arange(self.n_cells) % ns]

    def decision_context(self, wage: float, price_index: float) -> decision.DecisionContext:
        """What firms know this month (subsidy expectations follow the fund's state)."""
        p, gov, n_c = self.params, self.government, self.tables.n_cities
        funded = gov.fund_has_money
        d = p.decision
        return decision.DecisionContext(
            wage=wage,
            cost_per_worker=self.base_cost * price_index,
            nominal_gain=self.nominal_gain,
            labour_saving=self.tables.sector_labour_saving,
            fee_share=self.providers.expected_fee_share(),
            fixed_cost=p["technology.fixed_project_cost"],
            subsidy_rate=np.full(n_c, gov.purchase_rate * gov.equipment_share if funded else 0.0),
            subsidy_cap=gov.purchase_cap,
            post_rate=gov.post_rate if funded else 0.0,
            peer_share=self.peer_share(),
            other_cost_share=p["economy.other_cost_share"],
            annuity=self.annuity,
            value_measure=d.value_measure,
            target_payback=d.target_payback_years,
            risk_aversion=d.risk_aversion,
            skip_allowed=d.skip_allowed,
            skip_premium=d.skip_cost_premium,
            intercept=d.intercept,
            beta_value=d.beta_value,
            beta_peer=d.beta_peer,
            beta_exposure=d.beta_exposure,
            beta_profit=d.beta_profit,
            beta_skill=d.beta_skill,
        )

    def eligible_mask(self) -> np.ndarray:
        """Firms that may consider a project this month: no project, below stage 4, cooled down."""
        f = self.firms
        return (f.proj_phase == NONE) & (f.stage < 4) & (f.cooldown_until <= max(self.month, 0))

    def eligible(self) -> np.ndarray:
        return np.flatnonzero(self.eligible_mask())

    def risk_adjusted_ratio(self) -> np.ndarray:
        """Each firm's belief mean minus risk aversion x sd: the gain ratio it plans with.

        Firms with no private evidence share their cell's value; the informed are computed apart.
        """
        f, rho = self.firms, self.params["decision.risk_aversion"]
        prior_p, prior_w = f.belief_precision, f.belief_weighted
        p0 = 1.0 / self.params["beliefs.prior_sd"] ** 2
        w0 = self.params["beliefs.prior_mean"] * p0
        cell_p = p0 + f.cell_precision
        ratio = decision.risk_adjusted_ratio((w0 + f.cell_weighted) / cell_p, 1.0 / cell_p, rho)[f.cell]
        inf = np.flatnonzero(f.informed)
        if inf.size:
            c = f.cell[inf]
            prec = prior_p[inf] + f.cell_precision[c]
            ratio[inf] = decision.risk_adjusted_ratio((prior_w[inf] + f.cell_weighted[c]) / prec, 1.0 / prec, rho)
        return ratio

    def year_ahead(self, ratio_cap: float) -> decision.YearAhead:
        """Favourable bounds on what may change before December (for the cached thinning terms)."""
        t, e, gov = self.month, self.params.economy, self.government
        left = 11 - t % 12  # decisions later this year see up to this many more months of growth
        demand = self.tables.va_growth[self.tables.year_row(2013 + t // 12)]
        g_p = (1 + e.productivity_trend) ** (left / 12)
        g_n = ((1 + demand) / (1 + e.productivity_trend)) ** (left / 12)
        g_full = ((1 + e.labour_supply_growth) * (1 + e.productivity_trend) / (1 + demand)) ** (left / 12)
        december = (1.0 - e.robot_price_decline) ** ((t + left) / 12)
        return decision.YearAhead(
            productivity_factor=max(1.0, g_p), needs_factor=max(1.0, g_n),
            full_low=min(1.0, g_full), full_high=max(1.0, g_full),
            cost_per_worker=self.base_cost * december,
            subsidy_rate=np.full(self.tables.n_cities, gov.purchase_rate * gov.equipment_share),
            post_rate=gov.post_rate, ratio_cap=ratio_cap,
        )

    def _refresh_bound(self, idx, ctx: decision.DecisionContext) -> None:
        """Recompute the cached thinning terms of firms ``idx`` (all firms: slice(None))."""
        f = self.firms
        terms = decision.bound_terms(f.stage[idx], f.sector[idx], f.city[idx], f.output[idx], f.productivity[idx],
                                     f.workforce_cap[idx], ctx, self._ya)
        for cache, new in zip(self._bound, terms):
            cache[idx] = new

    def _decide(self, wage: float, price_index: float) -> None:
        """Eligible firms adopt with the logit probability; adopters seek finance and apply."""
        f = self.firms
        u = self.rngs["decisions"].random(f.n)  # one draw per firm per month: common random numbers
        eligible = self.eligible_mask()
        if not eligible.any():
            return
        ctx = self.decision_context(wage, price_index)
        ratio = self.risk_adjusted_ratio()
        if self.thinning:  # exact: only firms whose draw is below an upper bound need valuing
            r_max = float(ratio[eligible].max())
            if self._ya is None or self.month % 12 == 0 or r_max > self._ya.ratio_cap:
                self._ya = self.year_ahead(max(r_max * 1.5, 1e-9))
                self._refresh_bound(slice(None), ctx)
            z_max = decision.upper_bound_index(decision.index_constant(ctx), f.combo, ratio, *self._bound,
                                               f.exposure, f.margin, f.staff_quality, ctx)
            with np.errstate(over="ignore"):
                eligible &= u < np.exp(z_max + 1e-9)  # exp(z) >= logistic(z); margin for rounding
        idx = np.flatnonzero(eligible)
        self._last_ctx = ctx
        opts = decision.choose(f.stage[idx], f.sector[idx], f.city[idx], f.cell[idx], f.output[idx],
                               f.productivity[idx], f.workforce_cap[idx], ratio[idx], f.exposure[idx],
                               f.margin[idx], f.staff_quality[idx], ctx)
        adopt = u[idx] < opts.prob
        a = idx[adopt]
        if a.size == 0:
            return
        need = (opts.capex + opts.fee - opts.subsidy)[adopt]
        scale, route, borrowed = self.finance(a, need)
        go = scale > 0
        projects.begin(f, a[go], opts.target[adopt][go], opts.capex[adopt][go], scale[go], route[go],
                       borrowed[go], self.government.approval_months(), self.month)
        gave_up = a[~go]
        self.recorder.add_flow("projects_abandoned", self._flow_key[gave_up], f.weight[gave_up])

    def finance(self, idx: np.ndarray, need: np.ndarray):
        """(scale, route, borrowed yuan) for firms ``idx`` needing ``need`` yuan up front: own cash."""
        scale = scale_to_funds(need, self.firms.cash[idx], self.params["decision.min_finance_fraction"])
        return scale, np.full(idx.size, CASH, np.int8), np.zeros(idx.size)

    # 5. projects ------------------------------------------------------------------------------------
    def _work_projects(self) -> None:
        f, t = self.firms, self.month
        active = np.flatnonzero(f.proj_phase != NONE)  # the few firms with a project
        done = projects.advance_implementation(f, active, t)
        if done.size:
            self._complete(done)
        projects.advance_approval(f, active, t)
        queue = projects.queue_order(f, active)
        assigned = self.providers.match(queue, f.sector, f.weight)
        took = assigned >= 0
        if took.any():
            self._start(queue[took], assigned[took])
        waiting = queue[~took]
        by_sector = np.bincount(f.sector[waiting], weights=f.weight[waiting], minlength=self.tables.n_sectors)
        self.providers.entry(by_sector)

    def _start(self, idx: np.ndarray, provider: np.ndarray) -> None:
        """Implementation begins: the firm pays, claims its purchase subsidy, investment is booked."""
        f, gov, w = self.firms, self.government, self.firms.weight[idx]
        months = projects.implementation_months(f.stage[idx].astype(np.int64), f.proj_target[idx].astype(np.int64),
                                                self.impl_months)
        fee = projects.start(f, idx, provider, self.providers.fee_share_of(provider),
                             self.params["technology.fixed_project_cost"], months, self.month)
        capex = f.proj_capex[idx]
        subsidy = gov.pay(gov.purchase_subsidy_claim(capex) * w) / w
        f.cash[idx] -= capex + fee - f.proj_borrowed[idx] - subsidy
        key = self._flow_key[idx]
        self.recorder.add_flow("projects_started", key, w)
        self.recorder.add_flow("project_investment", key, (capex + fee) * w)
        self.recorder.add_flow("subsidy_spent", key, subsidy * w)

    def _complete(self, idx: np.ndarray) -> None:
        """Projects complete: realised gain, new stage, robots, labour saved, post-project subsidy."""
        f, gov, w = self.firms, self.government, self.firms.weight[idx]
        provider = f.proj_provider[idx]
        gain, ratio = projects.realised_gain(f, idx, self.nominal_gain, self.true_multiplier,
                                             self.params["technology.gain_sd"], self.providers.quality_of(provider))
        sector = f.sector[idx]
        saved = firmlib.apply_gain(f, idx, gain, self.tables.sector_labour_saving[sector])
        climbs1 = (f.stage[idx] < 1) & (f.proj_target[idx] >= 1)
        f.robots[idx] += np.where(climbs1, saved * self.params["technology.robots_per_worker_saved"], 0.0)
        f.workers_saved[idx] += saved
        post = gov.pay(gov.post_project_claim(f.proj_capex[idx]) * w) / w
        f.cash[idx] += post
        self.providers.finish(provider, w)
        beliefs.observe(f.belief_precision, f.belief_weighted, idx, ratio,
                        self.params["beliefs.own_learning"], self.obs_var)
        f.informed[idx] = True
        key = self._flow_key[idx]
        iot = (f.stage[idx] < 3) & (f.proj_target[idx] >= 3)
        self.recorder.add_flow("projects_completed", key, w)
        self.recorder.add_flow("iot_projects_completed", key[iot], w[iot])
        self.recorder.add_flow("subsidy_spent", key, post * w)
        projects.finish(f, idx, self.month, self.params["decision.cooldown_months"])
        self._evidence = (f.cell[idx], sector, w, ratio)
        if self._ya is not None and self._last_ctx is not None:  # new stage and productivity: new bound terms
            self._refresh_bound(idx, self._last_ctx)

    # 7. production and accounts -----------------------------------------------------------------------
    def _produce(self, wage: float, demand_growth: float) -> None:
        f, e = self.firms, self.params.economy
        firmlib.grow(f, demand_growth, e.productivity_trend, e.labour_supply_growth)
        firmlib.produce(f, wage, e.other_cost_share)
        firmlib.book_cash(f, e.retained_share)

    # 8. data ---------------------------------------------------------------------------------
    def _collect(self, wage: float) -> None:
        f = self.firms
        quantities = {  # unweighted: the recorder applies the (per size class) weights
            "employees": f.employed,
            "va": f.value_added,
            "profit": f.profit,
            "robots": f.robots,
            "gap_firms": f.has_gap,
            "workers_saved": f.workers_saved,
            "queued": f.proj_phase == QUEUED,
            "debt": f.debt,
            "lease_liability": f.lease_liability,
        }
        prov = self.providers
        self.recorder.collect(self.month, f.stock_key, quantities, {
            "fund_remaining": self.government.fund_remaining,
            "providers": len(prov.providers),
            "provider_capacity": prov.total_capacity,
            "provider_active": prov.total_active,
            "wage": wage,
        })
        self.datacollector.collect(self)
