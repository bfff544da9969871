"""TransformationModel: the monthly schedule of MODEL.md section 3, wiring firms and institutions.

Firms are arrays (firms.py); governments, banks, providers and expert groups are mesa.Agent
subclasses (institutions/). One seed drives everything: a SeedSequence spawns one numpy Generator
per subsystem, so switching one channel off leaves the others' random streams (and the firms'
fixed draws) untouched, which is what common-random-number comparisons need.
"""

from __future__ import annotations

import mesa
import numpy as np

from . import beliefs, decision, finance, projects
from . import firms as firmlib
from .cloud import CloudMigration
from .data import load_tables
from .demonstration import Demonstration
from .firms import CASH, LOAN, NONE, QUEUED, FirmView
from .indicators import Recorder, month_values
from .institutions import Bank, CityGovernment, LeasingPartner, ProviderMarket, ProvincialGovernment, expert_groups
from .institutions.services import diagnose
from .params import Params, month_index, month_label
from .population import build_population, nominal_gains

# One Generator per subsystem, in this fixed order (append new ones at the end to keep old streams).
STREAMS = ("population", "decisions", "providers", "government", "banks", "conferences", "cloud", "experts")
# Province-level indicators collected each month by Mesa's DataCollector (the visual server plots these).
HEADLINE = ("share_transformed_above", "share_digitized_above", "labour_productivity_above", "cloud_firms",
            "projects_completed", "subsidy_spent", "fund_remaining", "queue_length", "robots_in_service",
            "share_with_labour_gap", "loans_issued", "loans_rejected", "provider_utilisation",
            *(f"share_stage_{k}" for k in range(5)))


class TransformationModel(mesa.Model):
    """SME intelligent transformation in Zhejiang, one step per month from January 2013.

    Attributes:
        params: the validated Params of this run
        seed: the integer seed every random stream derives from
        month: index of the month last simulated (0 = 2013-01; -1 before the first step)
        firms: the firm population (arrays; ``firm(i)`` gives one as a read-only view)
        government: the provincial government; cities: the 11 city governments
        bank, leasing: the conventional lender and the leasing partner
        providers: the engineering-service providers and the matching of projects to them
        experts: the expert steering groups
        demonstration: conferences and pilots; cloud: cloud migration
        recorder: monthly cubes from which every output indicator is derived
        datacollector: Mesa DataCollector of the HEADLINE indicators, province-wide, monthly
    """

    def __init__(self, seed: int | None = None, params: Params | None = None, collect_headline: bool = True,
                 **kwargs):
        """Build the January-2013 province.

        Args:
            seed: integer seed (None draws one from the OS; it is kept in ``self.seed``)
            params: a Params; defaults when None
            collect_headline: fill Mesa's DataCollector each month (batch runs, which read the
                recorder, switch it off)
            **kwargs: parameter overrides by leaf name or dotted key, e.g. ``scale=0.01``,
                ``purchase_subsidy_rate=0.2`` (validated; unknown names raise ParamError)
        """
        params = params or Params()
        if kwargs:
            params = params.replace(kwargs)
        self.bass = params["run.decision_rule"] == "bass"
        if self.bass:  # docking: everyone starts at stage 0, no economics, no policy
            params = params.replace({"population.stage_shares_above": (1.0, 0, 0, 0, 0),
                                     "population.stage_shares_small": (1.0, 0, 0, 0, 0)})
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        super().__init__(seed=seed)
        self.seed, self.params = int(seed), params
        self.tables = t = load_tables()
        seqs = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rngs = {name: np.random.default_rng(s) for name, s in zip(STREAMS, seqs)}

        self.firms = f = build_population(params, t, self.rngs["population"])
        self.n_cells = t.n_cities * t.n_sectors
        self.month = -1
        self.end_month = month_index(params["run.end"])

        self.government = ProvincialGovernment(self, params)
        self.cloud = CloudMigration(params, f, self.n_cells, t.n_sectors, t.city_it_tier, self.rngs["cloud"])
        self.cities = [CityGovernment(self, params, c, name, t.city_output_share[c], t.city_firm_share[c])
                       for c, name in enumerate(t.cities)]
        self.bank = Bank(self, params)
        self.leasing = LeasingPartner(self, params)
        self.providers = ProviderMarket(self, params, t.n_sectors, t.sector_firm_share, self.rngs["providers"])
        ex = params.experts
        self.experts = expert_groups(self, ex.groups if ex.enabled else 0, ex.diagnoses_per_group_month,
                                     t.sector_firm_share)
        self.demonstration = Demonstration(params, f, self.n_cells, t.n_sectors, t.sector_pilot_industries,
                                           self.rngs["conferences"])
        order = np.argsort(f.sector, kind="stable")
        bounds = np.searchsorted(f.sector[order], np.arange(t.n_sectors + 1))
        self.sector_members = [order[bounds[s]:bounds[s + 1]] for s in range(t.n_sectors)]

        tech = params.technology
        self.nominal_gain = nominal_gains(params, t)
        self.true_multiplier = tech.true_gain_multiplier
        stage_cost = np.array([0.0, tech.cost_per_worker_stage1, tech.cost_per_worker_stage2,
                               tech.cost_per_worker_stage3, tech.cost_per_worker_stage4])
        self.base_cost = t.sector_cost_multiplier[:, None] * stage_cost[None, :]
        self.impl_months = np.array([0, tech.implementation_months_stage1, tech.implementation_months_stage2,
                                     tech.implementation_months_stage3, tech.implementation_months_stage4])
        self.annuity = decision.annuity_factor(params["economy.discount_rate"], params["decision.horizon_years"])
        self.obs_var = max(tech.gain_sd, 1e-3) ** 2  # observation noise of a realised gain ratio
        self._flow_key = f.cell * 2 + f.above
        self._evidence: tuple[np.ndarray, ...] | None = None
        self._latest: tuple[int, dict[str, float]] = (-1, {})
        self._counts: tuple[int, np.ndarray] = (-2, np.zeros(0))
        self._transformed_january = np.zeros(t.n_cities)
        self.thinning = True  # exact speed-up of the decision; tests switch it off to compare
        self._ya: decision.YearAhead | None = None  # year-ahead bounds behind the cached terms
        self._bound = tuple(np.zeros(f.n, np.float32) for _ in range(3))  # cached (a, l, h) per firm
        self._scaled = params["decision.value_measure"] == "npv"
        self._skill_term = (params["decision.beta_skill"] * f.staff_quality).astype(np.float32)
        self._last_ctx: decision.DecisionContext | None = None

        self.recorder = Recorder(self.end_month + 1, t.n_cities, t.n_sectors, self._size_weights())
        self.collect_headline = collect_headline
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, n=name: m.latest(n)) for name in HEADLINE}
        )

    def release(self) -> None:
        """Let this model be garbage-collected once the caller drops it.

        Mesa 3.3.1 keeps every model it has seen in ``Agent._ids`` (a class-level dict keyed by model,
        counting agent ids), so a process that builds thousands of models (a sweep worker) would keep
        them all; the runner calls this after each run.
        """
        mesa.Agent._ids.pop(self, None)

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
            e = self.params.economy
            values.update(month_values(self.recorder, self.month, names, self.tables.sector_equipment,
                                       e.other_investment_share))
        return values[name]

    def flow(self, name: str, idx: np.ndarray, amounts: np.ndarray | None = None) -> None:
        """Record a flow for firms ``idx``: real firms (weights) or yuan per firm x weight."""
        w = self.firms.weight[idx]
        self.recorder.add_flow(name, self._flow_key[idx], w if amounts is None else amounts * w)

    # --- the month ------------------------------------------------------------------------------
    def step(self) -> None:
        """One month, in the order of MODEL.md section 3."""
        self.month = t = self.steps - 1
        yr = self.tables.year_row(2013 + t // 12)
        wage, demand_growth = self.tables.wage[yr], self.tables.va_growth[yr]
        if t % 12 == 0:
            firmlib.set_wages(self.firms, wage, self.tables.wage_private[yr])
        price_index = (1.0 - self.params["economy.robot_price_decline"]) ** (t / 12)

        # 2. governments and lenders open the month; the province's programme
        self.government.step()
        for city in self.cities:
            city.step()
        self.bank.step()
        self.leasing.step()
        if self.bass:
            self._bass_adoption()
        else:
            self._programme(wage, price_index)
            self._learn()  # 3. information
            self._decide(wage, price_index)  # 4. decisions, finance, approval
            self._work_projects()  # 5. providers, projects, completions
            self._migrate_to_cloud()  # 6. cloud
        self._produce(demand_growth)  # 7. production and accounts
        if t % 12 == 11:
            self._reward_cities()
        self._collect(wage)  # 8. data
        if t >= self.end_month:
            self.running = False

    def run(self) -> None:
        """Step to the end month."""
        while self.running:
            self.step()

    # 2. the province's programme -------------------------------------------------------------------
    def _programme(self, wage: float, price_index: float) -> None:
        """Conferences, pilot batches and expert diagnoses."""
        f, demo, t = self.firms, self.demonstration, self.month
        demo.new_month(t)
        att = demo.hold_conferences(f, t, self.obs_var, self.cell_stage_counts()[:, 0])
        self.flow("conference_attendees", att)
        pilots = demo.pick_pilots(f, t)
        if pilots.size:
            self._start_pilot_projects(pilots, wage, price_index)
        if self.experts:
            diagnose(f, self.experts, self.sector_members, self.prospects, self.rngs["experts"],
                     self.params["experts.learning"], self.obs_var)

    def prospects(self, idx: np.ndarray) -> np.ndarray:
        """The gain ratio firms ``idx`` would realise on their next stage with an average provider."""
        f = self.firms
        nxt = np.minimum(f.stage[idx], 3)
        return self.true_multiplier * (1.0 + self.params["technology.gain_sd"] * f.gain_z[idx, nxt])

    def _start_pilot_projects(self, idx: np.ndarray, wage: float, price_index: float) -> None:
        """Pilots start a project at once: own cash, the rest as a guaranteed loan (if loans exist)."""
        f = self.firms
        beliefs.observe(f.belief_precision, f.belief_weighted, idx, self.prospects(idx),
                        self.params["experts.learning"], self.obs_var)
        f.informed[idx] = f.diagnosed[idx] = True
        f.exposure[idx] = 1.0
        ctx = self.decision_context(wage, price_index)
        opts = self._options(idx, ctx)
        need = opts.capex + opts.fee - opts.subsidy
        cash = np.maximum(f.cash[idx], 0.0)
        loan = np.maximum(need - cash, 0.0) if self.bank.enabled else np.zeros(idx.size)
        scale = finance.scale_to_funds(need, cash + loan, self.params["decision.min_finance_fraction"])
        route = np.where(loan > 0, LOAN, CASH).astype(np.int8)
        go = scale > 0
        projects.begin(f, idx[go], opts.target[go], opts.capex[go], scale[go], route[go], (loan * scale)[go],
                       np.full(go.sum(), self.bank.p.base_rate), self.government.approval_months(), self.month)
        self.flow("loans_issued", idx[go & (loan > 0)])

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
    def cell_stage_counts(self) -> np.ndarray:
        """(n_cells, 5) real firms by cell and stage (cached for the month until a stage changes)."""
        if self._counts[0] != self.month:
            f = self.firms
            counts = np.bincount(f.combo, weights=f.weight, minlength=self.n_cells * 5).reshape(self.n_cells, 5)
            self._counts = (self.month, counts)
        return self._counts[1]

    def peer_share(self) -> np.ndarray:
        """(n_cells, 6): share of each cell's firms at stage >= k, blended with the sector province-wide."""
        ns = self.tables.n_sectors
        counts = self.cell_stage_counts()
        at_least = np.zeros((self.n_cells, 6))
        at_least[:, :5] = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        sector_at_least = at_least.reshape(-1, ns, 6).sum(axis=0)
        cell_share = at_least / np.maximum(at_least[:, :1], 1e-12)
        sector_share = sector_at_least / np.maximum(sector_at_least[:, :1], 1e-12)
        w = self.params["beliefs.cross_cell_weight"]
        return (1 - w) * cell_share + w * sector_share[np.arange(self.n_cells) % ns]

    def subsidy_rates(self, expected: bool = True) -> np.ndarray:
        """Purchase subsidy rate x equipment share by city: the province's (while its fund has money)
        plus the city's top-up (while its budget has money); ``expected=False``: the most possible."""
        gov = self.government
        prov = gov.purchase_rate * gov.equipment_share * (gov.fund_has_money or not expected)
        city = np.array([c.topup_rate * c.equipment_share * (c.budget_remaining > 0 or not expected)
                         for c in self.cities])
        return prov + city

    def decision_context(self, wage: float, price_index: float) -> decision.DecisionContext:
        """What firms know this month (subsidy expectations follow the budgets' state)."""
        p, gov = self.params, self.government
        d = p.decision
        return decision.DecisionContext(
            wage=wage,
            cost_per_worker=self.base_cost * price_index,
            nominal_gain=self.nominal_gain,
            labour_saving=self.tables.sector_labour_saving,
            fee_share=self.providers.expected_fee_share(),
            fixed_cost=p["technology.fixed_project_cost"],
            subsidy_rate=self.subsidy_rates(),
            subsidy_cap=gov.purchase_cap,
            post_rate=gov.post_rate if gov.fund_has_money else 0.0,
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
        p0 = 1.0 / self.params["beliefs.prior_sd"] ** 2
        w0 = self.params["beliefs.prior_mean"] * p0
        cell_p = p0 + f.cell_precision
        ratio = decision.risk_adjusted_ratio((w0 + f.cell_weighted) / cell_p, 1.0 / cell_p, rho)[f.cell]
        inf = np.flatnonzero(f.informed)
        if inf.size:
            c = f.cell[inf]
            prec = f.belief_precision[inf] + f.cell_precision[c]
            ratio[inf] = decision.risk_adjusted_ratio((f.belief_weighted[inf] + f.cell_weighted[c]) / prec,
                                                      1.0 / prec, rho)
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
            cost_per_worker=self.base_cost * december, fee_share=self.providers.lowest_fee_share(),
            subsidy_rate=self.subsidy_rates(expected=False),
            post_rate=gov.post_rate, ratio_cap=ratio_cap,
        )

    def _refresh_bound(self, idx, ctx: decision.DecisionContext) -> None:
        """Recompute the cached thinning terms of firms ``idx`` (all firms: slice(None))."""
        f = self.firms
        a, l, h = decision.bound_terms(f.stage[idx], f.sector[idx], f.city[idx], f.output[idx], f.productivity[idx],
                                       f.workforce_cap[idx], f.wage[idx], ctx, self._ya)
        if self._scaled:  # fold beta_value x annuity into the terms (NPV measure)
            k = ctx.beta_value * ctx.annuity
            a *= k
            l *= k
        # float32 rounds down as often as up: nudge the terms up so the bound stays above
        self._bound[0][idx] = a * (1 + 1e-6)
        self._bound[1][idx] = l * (1 + 1e-6)
        self._bound[2][idx] = h * (1 - 1e-6)

    def _options(self, idx: np.ndarray, ctx: decision.DecisionContext, ratio: np.ndarray | None = None):
        f = self.firms
        r = self.risk_adjusted_ratio()[idx] if ratio is None else ratio
        return decision.choose(f.stage[idx], f.sector[idx], f.city[idx], f.cell[idx], f.output[idx],
                               f.productivity[idx], f.workforce_cap[idx], f.wage[idx], r, f.exposure[idx],
                               f.margin[idx], f.staff_quality[idx], ctx)

    def _decide(self, wage: float, price_index: float) -> None:
        """Eligible firms adopt with the logit probability; adopters seek finance and apply."""
        f = self.firms
        # one draw per firm per month whatever its state: common random numbers across scenarios
        u = self.rngs["decisions"].random(f.n, dtype=np.float32)
        eligible = self.eligible_mask()
        if not eligible.any():
            return
        ctx = self._last_ctx = self.decision_context(wage, price_index)
        ratio = self.risk_adjusted_ratio()
        if self.thinning:  # exact: only firms whose draw is below an upper bound need valuing
            r_max = float(np.max(ratio, where=eligible, initial=0.0))
            if self._ya is None or self.month % 12 == 0 or r_max > self._ya.ratio_cap:
                self._ya = self.year_ahead(max(r_max * 1.5, 1e-9))
                self._refresh_bound(slice(None), ctx)
            z_max = decision.upper_bound_index(decision.index_constant(ctx, self._scaled), f.combo,
                                               ratio.astype(np.float32), *self._bound, f.exposure, f.margin,
                                               self._skill_term, ctx, self._scaled)
            z_max += np.float32(1e-3)  # margin for float32 rounding
            with np.errstate(over="ignore"):
                eligible &= u < np.exp(z_max)  # exp(z) >= logistic(z)
        idx = np.flatnonzero(eligible)
        opts = self._options(idx, ctx, ratio[idx])
        adopt = u[idx] < opts.prob
        if adopt.any():
            need = (opts.capex + opts.fee - opts.subsidy)[adopt]
            self._begin(idx[adopt], opts.target[adopt], opts.capex[adopt], need, opts.benefit[adopt])

    def _begin(self, a: np.ndarray, target, capex, need, benefit) -> None:
        """Adopters ``a`` look for finance (need: yuan up front) and, if they find enough, apply."""
        f = self.firms
        fin = finance.arrange(f, a, need, benefit, self.month, self.bank, self.leasing,
                              self.rngs["banks"].random(a.size), self.params["decision.min_finance_fraction"])
        go = fin.scale > 0
        projects.begin(f, a[go], target[go], capex[go], fin.scale[go], fin.route[go], fin.borrowed[go],
                       fin.rate[go], self.government.approval_months(), self.month)
        self.flow("projects_applied", a[go])
        self.flow("projects_abandoned", a[~go])
        self.flow("loans_rejected", a[fin.refused])
        self.flow("loans_issued", a[go & (fin.route == LOAN)])
        for m, name in finance.LEASE_FLOWS.items():
            self.flow(name, a[go & (fin.route == m)])

    # 5. projects ------------------------------------------------------------------------------------
    def _work_projects(self) -> None:
        f, t = self.firms, self.month
        active = np.flatnonzero(f.proj_phase != NONE)  # the few firms with a project
        done = projects.advance_implementation(f, active, t)
        if done.size:
            self._complete(done)
        projects.advance_approval(f, active, t)
        self._match_queue(projects.queue_order(f, active))

    def _match_queue(self, queue: np.ndarray) -> None:
        """Providers take queued projects (in queue order); long queues draw new providers in."""
        f = self.firms
        assigned = self.providers.match(queue, f.sector, f.weight)
        took = assigned >= 0
        if took.any():
            self._start(queue[took], assigned[took])
        waiting = queue[~took]
        by_sector = np.bincount(f.sector[waiting], weights=f.weight[waiting], minlength=self.tables.n_sectors)
        self.providers.entry(by_sector)

    def _pay_subsidies(self, idx: np.ndarray, claims_province: np.ndarray, claims_city: np.ndarray) -> np.ndarray:
        """Pay per-firm claims (yuan) from the fund and the firms' city budgets; returns yuan per firm."""
        f, w = self.firms, self.firms.weight[idx]
        paid = self.government.pay(claims_province * w)
        if claims_city.any():
            city = f.city[idx]
            for c in np.unique(city[claims_city > 0]):
                k = city == c
                paid[k] += self.cities[c].pay(claims_city[k] * w[k])
        return paid / w

    def _start(self, idx: np.ndarray, provider: np.ndarray) -> None:
        """Implementation begins: the firm pays, subsidies are claimed, loans and leases paid out."""
        f, gov = self.firms, self.government
        months = projects.implementation_months(f.stage[idx].astype(np.int64), f.proj_target[idx].astype(np.int64),
                                                self.impl_months)
        fee = projects.start(f, idx, provider, self.providers.fee_share_of(provider),
                             self.params["technology.fixed_project_cost"], months, self.month)
        capex = f.proj_capex[idx]
        province = gov.purchase_subsidy_claim(capex) + np.where(f.pilot[idx], gov.pilot_rate * capex, 0.0)
        topup = np.array([c.topup_rate * c.equipment_share for c in self.cities])
        city = np.minimum(topup[f.city[idx]] * capex, gov.purchase_cap)
        subsidy = self._pay_subsidies(idx, province, city)
        f.cash[idx] -= capex + fee - f.proj_borrowed[idx] - subsidy
        finance.disburse(f, idx, self.bank, self.leasing)
        self.flow("projects_started", idx)
        self.flow("project_investment", idx, capex + fee)
        self.flow("subsidy_spent", idx, subsidy)

    def _complete(self, idx: np.ndarray) -> None:
        """Projects complete: realised gain, new stage, robots, labour saved, post-project subsidy."""
        f, gov, w = self.firms, self.government, self.firms.weight[idx]
        provider = f.proj_provider[idx]
        gain, ratio = projects.realised_gain(f, idx, self.nominal_gain, self.true_multiplier * self._wave(),
                                             self.params["technology.gain_sd"], self.providers.quality_of(provider))
        sector = f.sector[idx]
        saved = firmlib.apply_gain(f, idx, gain, self.tables.sector_labour_saving[sector])
        climbs1 = (f.stage[idx] < 1) & (f.proj_target[idx] >= 1)
        f.robots[idx] += np.where(climbs1, saved * self.params["technology.robots_per_worker_saved"], 0.0)
        f.workers_saved[idx] += saved
        post = self._pay_subsidies(idx, gov.post_project_claim(f.proj_capex[idx]), np.zeros(idx.size))
        f.cash[idx] += post
        finance.share_shortfall(f, idx, ratio, self.leasing)
        self.providers.finish(provider, w)
        beliefs.observe(f.belief_precision, f.belief_weighted, idx, ratio, self.params["beliefs.own_learning"],
                        self.obs_var)
        f.informed[idx] = True
        iot = (f.stage[idx] < 3) & (f.proj_target[idx] >= 3)
        self.flow("projects_completed", idx)
        self.flow("iot_projects_completed", idx[iot])
        self.flow("subsidy_spent", idx, post)
        self.demonstration.record_cases(self.month, sector, w, ratio, f.pilot[idx])
        projects.finish(f, idx, self.month, self.params["decision.cooldown_months"])
        self._counts = (-2, self._counts[1])  # stages changed
        self._evidence = (f.cell[idx], sector, w, ratio)
        if self._ya is not None and self._last_ctx is not None:  # new stage and productivity: new bound terms
            self._refresh_bound(idx, self._last_ctx)

    def _wave(self) -> float:
        """Multiplier of realised gains this month (below 1 during a 'bad wave' of projects)."""
        t = self.params.technology
        start = month_index(t.bad_wave_start)
        return t.bad_wave_multiplier if start <= self.month < start + t.bad_wave_months else 1.0

    # 6. cloud ---------------------------------------------------------------------------------------
    def _migrate_to_cloud(self) -> None:
        f, t = self.firms, self.month
        push = np.array([c.behind_target() for c in self.cities], float)
        movers = self.cloud.migrate(f, t, push)
        if movers.size == 0:
            return
        firmlib.apply_gain(f, movers, np.full(movers.size, self.params["cloud.productivity_gain"]),
                           self.tables.sector_labour_saving[f.sector[movers]])
        voucher = np.zeros(movers.size)
        if self.cloud.action_on(t):
            voucher = self._pay_subsidies(movers, np.zeros(movers.size), np.full(movers.size, self.params["cloud.voucher"]))
        f.cash[movers] += voucher
        by_city = np.bincount(f.city[movers], weights=f.weight[movers], minlength=len(self.cities))
        for c in self.cities:
            c.cloud_done += by_city[c.city]
        self.flow("cloud_migrations", movers)
        self.flow("subsidy_spent", movers, voucher)

    # docking: the Bass rule -------------------------------------------------------------------------
    def _bass_adoption(self) -> None:
        """decision_rule = bass: hazard p + q x (adopted share of the firm's cell), nothing else.

        The cell's share is blended with the sector's as for the logit rule (beliefs.cross_cell_weight;
        1 makes each sector province-wide one cell).

        The share is taken at mid-month (a predictor step), so monthly steps track the continuous
        Bass curve closely.
        """
        f, r = self.firms, self.params.run
        u = self.rngs["decisions"].random(f.n, dtype=np.float32)
        share = self.peer_share()[:, 1]  # the cell's adopted share (blended with its sector, as for the logit)
        mid = share + (1 - share) * (r.bass_p + r.bass_q * share) / 24.0
        hazard = 1.0 - np.exp(-(r.bass_p + r.bass_q * mid) / 12.0)
        new = np.flatnonzero((f.stage == 0) & (u < hazard[f.cell]))
        f.stage[new] = 1
        f.update_keys(new)
        self._counts = (-2, self._counts[1])
        self.flow("projects_completed", new)

    # 7. production and accounts -----------------------------------------------------------------------
    def _produce(self, demand_growth: float) -> None:
        f, e = self.firms, self.params.economy
        firmlib.grow(f, demand_growth, e.productivity_trend, e.labour_supply_growth)
        firmlib.produce(f, e.other_cost_share)
        owing = finance.service(f, self.bank, self.leasing)
        firmlib.book_cash(f, e.retained_share)
        defaulted = finance.defaults(f, owing, self.month, self.bank, self.leasing)
        self.flow("defaults", defaulted)
        borrowers = float(f.weight[owing][f.debt[owing] > 0].sum()) if owing.size else 0.0
        self.bank.record_month(float(f.weight[defaulted].sum()), borrowers)

    def _reward_cities(self) -> None:
        """December: rank cities by the rise of their transformed share this year; reward the best."""
        share = self._transformed_share_by_city()
        self.government.reward_cities(self.cities, share - self._transformed_january)
        self._transformed_january = share

    def _transformed_share_by_city(self) -> np.ndarray:
        f = self.firms
        n_c = len(self.cities)
        done = np.bincount(f.city, weights=f.weight * ((f.stage >= 1) | f.on_cloud), minlength=n_c)
        return done / np.bincount(f.city, weights=f.weight, minlength=n_c)

    # 8. data ---------------------------------------------------------------------------------
    def _collect(self, wage: float) -> None:
        f = self.firms
        if self.month == 0:
            self._transformed_january = self._transformed_share_by_city()
        queued = np.flatnonzero(f.proj_phase == QUEUED)
        owing = np.flatnonzero((f.debt > 0) | (f.lease_liability > 0))
        quantities = {  # unweighted: the recorder applies the (per size class) weights
            "employees": f.employed,
            "va": f.value_added,
            "profit": f.profit,
            "robots": f.robots,
            "gap_firms": f.has_gap,
            "workers_saved": f.workers_saved,
            "queued": (queued, np.ones(queued.size)),  # sparse: (firms, values)
            "debt": (owing, f.debt[owing]),
            "lease_liability": (owing, f.lease_liability[owing]),
        }
        prov = self.providers
        self.recorder.collect(self.month, f.stock_key, quantities, {
            "fund_remaining": self.government.fund_remaining,
            "fund_spent": self.government.paid_this_month,
            "providers": len(prov.providers),
            "provider_capacity": prov.total_capacity,
            "provider_active": prov.total_active,
            "conferences_held": self.demonstration.held_this_month,
            "pilots": self.demonstration.pilots_total,
            "wage_all": wage,
            "renewal_share": self.params["economy.renewal_investment_share"]
            * (1.0 + self.params["economy.renewal_share_growth"]) ** (self.month / 12),
            "wage_private": self.tables.wage_private[self.tables.year_row(2013 + self.month // 12)],
        })
        if self.collect_headline:
            self.datacollector.collect(self)


__all__ = ["TransformationModel", "HEADLINE", "STREAMS"]
