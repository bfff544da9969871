"""TransformationModel: the monthly schedule of MODEL.md section 3, wiring firms and institutions.

Firms are arrays (firms.py); governments, banks, providers and expert groups are mesa.Agent
subclasses (institutions/). Every rule the schedule calls lives with its submodel (docs/ODD.md 3.4);
this module only orders them and passes state between them. One seed drives everything: a
SeedSequence spawns one numpy Generator per subsystem, so switching one channel off leaves the
others' random streams (and the firms' fixed draws) untouched, which is what common-random-number
comparisons need.

Adding an instrument (docs/ARCHITECTURE.md, "The seam for an instrument"): its parameters (a group
in params.py with an ``enabled`` switch), its agent or submodel in its own module, a line here that
builds it and a call in the phase of the month where it acts, and its outputs (indicators.py).
"""

from __future__ import annotations

import mesa
import numpy as np

from ..data import load_tables
from ..params import Params, instrument_start, month_index, month_label
from . import beliefs, finance, libm, projects
from . import firms as firmlib
from .adoption import Adoption
from .bass import bass_adoption
from .cloud import CloudMigration
from .shared import SharedManufacturing
from .demonstration import Demonstration, start_pilot_projects
from .dynamics import FirmDynamics
from .labour import LabourMarket
from .firms import NONE, FirmView
from .indicators import MONITORED
from .institutions import Bank, CityGovernment, LeasingPartner, ProviderMarket, ProvincialGovernment, expert_groups
from .institutions.services import diagnose, sector_draws
from .peers import Peers
from .population import build_population, nominal_gains
from .recorder import Recorder, record_month, values_at
from .subsidies import SubsidySchedule
from .thinning import Thinning

# One Generator per subsystem, in this fixed order (append new ones at the end to keep old streams).
# A draw made only for the firms that claim something this month (a bank's decision, a conference
# seat, a pilot place, a tie-break) is keyed by firm and month instead (allocation.tie_break), so
# who else claims does not shift it: common random numbers firm by firm across scenarios.
STREAMS = ("population", "decisions", "providers", "conferences", "cloud", "experts", "pilots", "shared")

class TransformationModel(mesa.Model):
    """SME intelligent transformation in Zhejiang, one step per month from January 2013.

    Attributes:
        params: the validated Params of this run
        seed: the integer seed every random stream derives from
        month: index of the month last simulated (0 = 2013-01; -1 before the first step)
        firms: the firm population (arrays; ``firm(i)`` gives one as a read-only view)
        government: the provincial government; cities: the 11 city governments
        subsidies: the subsidy schedule (what projects may claim, from which budget)
        bank, leasing: the conventional lender and the leasing partner
        providers: the engineering-service providers and the matching of projects to them
        experts: the expert steering groups
        demonstration: conferences and pilots; cloud: cloud migration
        shared: shared-manufacturing platforms and their users (off unless shared.platforms_enabled)
        peers: cell x stage counts and peer shares; thinning: the exact speed-up of the decision
        recorder: monthly cubes from which every output indicator is derived
        wage, wage_private, demand_growth: this run's exogenous series by year (the data, then
            economy.wage_growth_after_data after 2022 and economy.demand_growth_after_data after 2024)
        datacollector: Mesa DataCollector of the MONITORED indicators, province-wide, monthly
    """

    def __init__(self, seed: int | None = None, params: Params | None = None, collect_headline: bool = True,
                 **kwargs):
        """Build the January-2013 province.

        Args:
            seed: integer seed (None draws one from the OS; it is kept in ``self.seed``)
            params: a Params; the model defaults when None (``from_scenario`` builds the baseline)
            collect_headline: fill Mesa's DataCollector each month (batch runs, which read the
                recorder, switch it off)
            **kwargs: parameter overrides by leaf name or dotted key, e.g. ``scale=0.01``,
                ``purchase_rate=0.2`` (validated; unknown names raise ParamError)
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
        # the exogenous series of this run: the data, then the parameters' projection after it (Tables.wages,
        # Tables.demand_growth)
        self.wage, self.wage_private = t.wages(params["economy.wage_growth_after_data"])
        self.demand_growth = t.demand_growth(params["economy.demand_growth_after_data"],
                                             params["economy.demand_index_offset"])
        seqs = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rngs = {name: np.random.default_rng(s) for name, s in zip(STREAMS, seqs)}

        self.firms = f = build_population(params, t, self.rngs["population"])
        self.n_cells = t.n_cities * t.n_sectors
        self.month = -1
        self.price_level = 1.0  # industrial producer prices relative to 2013 (economy.deflate)
        # the first year whose producer prices move firms (never, with the deflator off)
        self.deflate_from = params["economy.deflate_from"] if params["economy.deflate"] else 10_000
        self.end_month = month_index(params["run.end"])
        self.renewal_end = month_index(params["economy.renewal_share_growth_end"])  # the renewal share is held after

        self.government = ProvincialGovernment(self, params)
        self.cloud = CloudMigration(params, f, self.n_cells, t.n_sectors, t.city_it_tier, self.rngs["cloud"])
        self.cities = [CityGovernment(self, params, c, name, t.city_output_share[c], t.city_firm_share[c])
                       for c, name in enumerate(t.cities)]
        self.subsidies = SubsidySchedule(self)
        self.bank = Bank(self, params)
        self.leasing = LeasingPartner(self, params)
        self.providers = ProviderMarket(self, params, t.n_sectors, t.sector_firm_share, self.rngs["providers"])
        ex = params.experts
        self.experts = expert_groups(self, ex.groups if ex.enabled else 0, ex.diagnoses_per_group_month,
                                     t.sector_firm_share)
        self.experts_start = instrument_start(params)  # the groups diagnose from the programme's start
        self.running_cost_this_month = 0.0  # conferences and expert groups (_programme)
        self.demonstration = Demonstration(params, f, self.n_cells, t.n_sectors, t.sector_pilot_industries,
                                           self.rngs["conferences"], self.rngs["pilots"])
        self.sector_draws = sector_draws(f.sector, f.weight, t.n_sectors)  # the experts' random visits
        self.peers = Peers(f, self.n_cells, t.n_sectors, params["beliefs.cross_cell_weight"])

        tech = params.technology
        self.nominal_gain = nominal_gains(params, t)
        self.true_multiplier = tech.true_gain_multiplier
        stage_cost = np.array([0.0, tech.cost_per_worker_stage1, tech.cost_per_worker_stage2,
                               tech.cost_per_worker_stage3, tech.cost_per_worker_stage4])
        self.base_cost = t.sector_cost_multiplier[:, None] * stage_cost[None, :]
        self.impl_months = np.array([0, tech.implementation_months_stage1, tech.implementation_months_stage2,
                                     tech.implementation_months_stage3, tech.implementation_months_stage4])
        self.obs_var = max(tech.gain_sd, 1e-3) ** 2  # observation noise of a realised gain ratio
        self._bad_wave = (month_index(tech.bad_wave_start), tech.bad_wave_months, tech.bad_wave_multiplier)
        self._flow_key = f.cell * 2 + f.above
        self._evidence: tuple[np.ndarray, ...] | None = None
        self._latest: tuple[int, dict[str, float]] = (-1, {})
        self.thinning = Thinning(self)
        self.adoption = Adoption(self)
        self.shared = SharedManufacturing(self)
        self.dynamics = FirmDynamics(self)
        self.labour = LabourMarket(params, t.n_cities)

        self.recorder = Recorder(self.end_month + 1, t, self._size_weights(), params["economy.other_investment_share"])
        self.collect_headline = collect_headline
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, n=name: m.latest(n)) for name in MONITORED}
        )

    @classmethod
    def from_scenario(cls, name: str = "baseline", seed: int = 1, **overrides) -> TransformationModel:
        """The model of a shipped scenario (default: the calibrated baseline) or a scenario file, with
        parameter overrides by leaf name or dotted key: ``TransformationModel.from_scenario(scale=0.02)``."""
        from ..analysis.scenarios import load

        return cls(seed=seed, params=load(name).params.replace(overrides))

    def release(self) -> None:
        """Free this model's memory now; the model is unusable afterwards (the runner calls this once
        it has the run's tables).

        The model and its Mesa agents refer to each other (reference cycles), so without this a
        finished model waits for a full garbage collection, which numpy-heavy loops seldom trigger:
        a worker grew by a model's arrays every run. Mesa 3.3.1 also keeps every model in
        ``Agent._ids``. Dropping the model's own references breaks the cycles, so reference counting
        frees the arrays at once.
        """
        mesa.Agent._ids.pop(self, None)
        self.__dict__.clear()

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
        return self.firms.view(i, float(self.adoption.planning_ratio()[i]))

    def latest(self, name: str) -> float:
        """Province-wide value of indicator ``name`` in the month last simulated (NaN before)."""
        if self.month < 0:
            return float("nan")
        if self._latest[0] != self.month:
            self._latest = (self.month, {})
        values = self._latest[1]
        if name not in values:  # the monitored set is computed together, once a month
            names = MONITORED if name in MONITORED else (name,)
            values.update({n: float(v[0]) for n, v in values_at(self.recorder, self.month, names).items()})
        return values[name]

    def size_changed(self, idx: np.ndarray) -> None:
        """Firms ``idx`` crossed the above-size threshold: their flow keys follow."""
        f = self.firms
        self._flow_key[idx] = f.cell[idx] * 2 + f.above[idx]

    def flow(self, name: str, idx: np.ndarray, amounts: np.ndarray | None = None) -> None:
        """Record a flow for firms ``idx``: real firms (weights) or yuan per firm x weight."""
        self.recorder.add_firm_flow(name, idx, self._flow_key, self.firms.weight, amounts)

    def binned_flow(self, names: tuple[str, ...], bins: np.ndarray, idx: np.ndarray) -> None:
        """Record real firms ``idx`` in flow ``names[bins]`` (a histogram kept as consecutive flows)."""
        self.recorder.add_binned_flow(names, bins, self._flow_key[idx], self.firms.weight[idx])

    # --- the month ------------------------------------------------------------------------------
    def step(self) -> None:
        """One month, in the order of MODEL.md section 3."""
        self.month = t = self.steps - 1
        yr = self.tables.year_row(2013 + t // 12)
        wage, demand_growth = self.wage[yr], self.demand_growth[yr]
        if t % 12 == 0 and self.deflate_from <= 2013 + t // 12:  # January: the year's producer prices
            self.price_level = self.tables.price_level(2013 + t // 12, self.deflate_from)
            factor = 1.0 + self.tables.ppi[yr]
            self.firms.productivity *= factor
            self.firms.output *= factor
        self.dynamics.year_start()  # January: exits, entrants, growth shocks, the above-size panel
        if t % 12 == 0:
            self.flow("pool_hires", *self.labour.hire(self.firms))  # January: released workers re-employed
            firmlib.set_wages(self.firms, wage, self.wage_private[yr])
        price_index = (1.0 - self.params["economy.robot_price_decline"]) ** (t / 12)

        # 2. governments and lenders open the month; the province's programme
        self.government.step()
        for city in self.cities:
            city.step()
        self.bank.step()
        self.leasing.step()
        if self.bass:
            bass_adoption(self)
        else:
            self._programme(wage, price_index)
            beliefs.learn_from_peers(self.firms, self._evidence, self.params, self.n_cells, self.tables.n_sectors,
                                     self.obs_var, self.peers.counts(t).sum(axis=1))  # 3. information
            self._evidence = None
            self.adoption.step(wage, price_index)  # 4. decisions, finance, approval
            self.shared.step(wage, price_index)  # 4b. the shared-manufacturing route (when platforms are open)
            self._work_projects()  # 5. providers, projects, completions
            self.cloud.step(self)  # 6. cloud
            self.subsidies.decide_round()  # the fund's yearly round, in its month
        owing = self._produce(demand_growth)  # 7. production and accounts
        record_month(self, wage, owing)  # 8. data
        if t % 12 == 11:  # December: the province ranks the cities on the year's data
            self.government.reward_cities(self.cities, self.recorder, t)
        if self.collect_headline:
            self.datacollector.collect(self)
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
        att = demo.hold_conferences(f, t, self.obs_var, self.peers.counts(t)[:, 0])
        self.flow("conference_attendees", att)
        pilots = demo.pick_pilots(f, t)
        if pilots.size:
            start_pilot_projects(self, pilots, wage, price_index)
        working = bool(self.experts) and t >= self.experts_start
        if working:
            done = diagnose(f, self.experts, self.sector_draws, t, self.rngs["experts"],
                            self.params["experts.learning"])
            self.flow("diagnoses", done)
        # the running cost of the instruments that pay no firm (docs/ODD.md 3.4.8-3.4.9): the conferences held
        # and the working expert groups, at their assumed unit costs
        p = self.params
        self.running_cost_this_month = (demo.held_this_month * p["demonstration.cost_per_conference"]
                                        + working * len(self.experts) * p["experts.cost_per_group_year"] / 12.0)

    # 5. projects ------------------------------------------------------------------------------------
    def _work_projects(self) -> None:
        f, t = self.firms, self.month
        active = (f.proj_phase != NONE).nonzero()[0]  # the few firms with a project
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

    def _start(self, idx: np.ndarray, provider: np.ndarray) -> None:
        """Implementation begins: the firm pays, subsidies are claimed, loans and leases paid out."""
        f = self.firms
        fee = projects.start(f, idx, provider, self.providers.fee_share_for(idx),
                             self.params["technology.fixed_project_cost"], self.impl_months, self.month)
        capex = f.proj_capex[idx]
        subsidy = self.subsidies.pay_robots(idx)  # in queue order
        f.cash[idx] -= capex + fee - f.proj_borrowed[idx] - subsidy
        finance.disburse(f, idx, self.bank, self.leasing)
        self.flow("projects_started", idx)
        self.flow("project_investment", idx, capex + fee)

    def _complete(self, idx: np.ndarray) -> None:
        """Projects complete: realised gain, new stage, robots, labour saved, post-project subsidy."""
        f, w = self.firms, self.firms.weight[idx]
        multiplier = self.true_multiplier * self._wave()
        gain, ratio = projects.realised_gain(f, idx, self.nominal_gain, multiplier, self.params["technology.gain_sd"],
                                             self.providers.quality_for(idx))
        shown = projects.public_ratio(ratio, w, multiplier)  # what the agent's real firms show others
        sector = f.sector[idx]
        released = firmlib.complete_gain(f, idx, gain, self.tables.sector_labour_saving,
                                         self.params["technology.robots_per_worker_saved"])
        self.flow("workers_substituted", idx, released)
        self.labour.release(f.city[idx], released * w)
        if self.subsidies.award_basis == "completion":
            self.subsidies.apply(idx, ratio)  # to this year's round of the fund
        finance.share_shortfall(f, idx, ratio, libm.log1p(gain), self.leasing)
        self.providers.finish(idx)
        beliefs.observe(f.belief_precision, f.belief_weighted, idx, ratio, self.params["beliefs.own_learning"],
                        self.obs_var)
        f.informed[idx] = True
        iot = (f.stage[idx] < 3) & (f.proj_target[idx] >= 3)
        self.flow("projects_completed", idx)
        self.flow("iot_projects_completed", idx[iot])
        self.demonstration.record_cases(self.month, sector, f.above[idx], w, shown, f.proj_pilot[idx])
        projects.finish(f, idx, self.month, self.params["decision.cooldown_months"])
        self.peers.stages_changed()
        self._evidence = (f.cell[idx], sector, w, shown)
        self.thinning.refresh(idx)  # new stage and productivity: new bound terms

    def _wave(self) -> float:
        """Multiplier of realised gains this month (below 1 during a 'bad wave' of projects)."""
        start, months, multiplier = self._bad_wave
        return multiplier if start <= self.month < start + months else 1.0

    # 7. production and accounts -----------------------------------------------------------------------
    def _produce(self, demand_growth: float) -> np.ndarray:
        """Returns the firms that owe anything once the month's payments and defaults are booked."""
        f, e = self.firms, self.params.economy
        firmlib.produce(f, e.other_cost_share,
                        firmlib.monthly_growth(demand_growth, e.productivity_trend, e.labour_supply_growth))
        self.shared.charge()  # users of shared platforms pay for the month's use
        owing = finance.service(f, self.bank, self.leasing)
        firmlib.book_cash(f, e.retained_share, year_sums=self.dynamics.enabled)
        self.dynamics.year_end()
        defaulted = finance.defaults(f, owing, self.month, self.bank, self.leasing, self.tables.sector_labour_saving)
        self.flow("defaults", defaulted)
        borrowers = float(f.weight[owing][f.debt[owing] > 0].sum()) if owing.size else 0.0
        self.bank.record_month(borrowers)  # its defaults: finance.write_off told it
        # nothing lends between the service and here, so those still owing are among the firms that owed
        return finance.owing(f, owing)


__all__ = ["TransformationModel", "STREAMS"]
