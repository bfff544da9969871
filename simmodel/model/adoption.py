"""The month's adoption decisions (docs/ODD.md 3.4.2): who may decide, what they know, who adopts,
and the adopters' finance and applications.

The valuation and the logit are pure functions in decision.py; the exact thinning of the draw is in
thinning.py; what firms believe in beliefs.py; the finance plans in finance.py; this module puts them
together for the model's firms.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import beliefs, decision, finance, projects
from .allocation import event_id, tie_break
from .econ import annuity_factor, clamp
from .firms import NONE
from .indicators import PAYBACK_BINS, PAYBACK_EDGES


_APPLIED = ("projects_abandoned", "projects_applied")  # by whether the adopter found finance (False, True)
_ROUTES = tuple(finance.ROUTE_FLOWS.values())


@njit(cache=True, nogil=True)
def _eligible_kernel(proj_phase, stage, cooldown_until, alive, month, out):
    """Adoption.eligible_mask firm by firm, in one pass over the firms (numpy's four comparisons took seven)."""
    for i in range(out.size):
        out[i] = proj_phase[i] == NONE and stage[i] < 4 and cooldown_until[i] <= month and alive[i]


class Adoption:
    """The firms' investment decision, once a month, for a TransformationModel."""

    def __init__(self, model):
        self.model = model
        p = model.params
        self.rate, self.horizon = p["economy.discount_rate"], p["decision.horizon_years"]
        self.annuity = annuity_factor(self.rate, self.horizon)  # flat: a yuan a year, not growing
        self._annuities: tuple[int, tuple] = (-1, (0.0, np.zeros(2)))
        self.last: decision.Options | None = None  # the last month's adopters' options (for the records)
        b = p.beliefs
        self.prior_mean, self.prior_sd, self.gain_sd = b.prior_mean, b.prior_sd, p["technology.gain_sd"]
        self.risk_aversion = p["decision.risk_aversion"]
        self._fixed_context = self._context_fixed()

    def eligible_mask(self) -> np.ndarray:
        """Firms that may consider a project this month: operating, no project, below stage 4, cooled down."""
        f = self.model.firms
        out = np.empty(f.n, np.bool_)
        _eligible_kernel(f.proj_phase, f.stage, f.cooldown_until, f.alive, max(self.model.month, 0), out)
        return out

    def eligible(self) -> np.ndarray:
        return self.eligible_mask().nonzero()[0]

    def planning(self, idx: np.ndarray | None = None) -> beliefs.Planning:
        """What firms ``idx`` (default: all) plan their next project with (beliefs.planning), aligned with idx."""
        return beliefs.planning(self.model.firms, self.prior_mean, self.prior_sd, self.risk_aversion, self.gain_sd,
                                idx)

    def ratio_bound(self) -> np.ndarray:
        """Every firm's upper bound of the gain ratio it can plan with (for the thinning bound)."""
        return beliefs.ratio_bound(self.model.firms, self.prior_mean, self.prior_sd, self.gain_sd)

    def planning_ratio(self) -> np.ndarray:
        """Each firm's certainty-equivalent gain ratio (beliefs.planning)."""
        return self.planning().ratio

    def expected_growth(self) -> np.ndarray:
        """(small wages, above-size wages, demand): the growth firms expect, what they last saw of each
        series (this year's over last year's; in 2013, 2014's over 2013's), times its weight."""
        m = self.model
        t = m.tables
        year = 2013 + max(m.month, 0) // 12
        now, before = t.year_row(max(year, 2014)), t.year_row(max(year, 2014) - 1)
        p = m.params
        return np.array([p["decision.wage_growth_weight"] * (m.wage_private[now] / m.wage_private[before] - 1.0),
                         p["decision.wage_growth_weight"] * (m.wage[now] / m.wage[before] - 1.0),
                         p["decision.demand_growth_weight"] * m.demand_growth[before]])

    def annuities(self) -> tuple[float, np.ndarray]:
        """The present value of a yuan a year over the horizon of what a project adds to value added
        (growing as demand is expected to) and of the wages it saves (as wages are, by size class)."""
        year = max(self.model.month, 0) // 12
        if self._annuities[0] != year:
            g = self.expected_growth()
            ann = [decision.growing_annuity(self.rate, x, self.horizon) for x in g]
            self._annuities = (year, (ann[2], np.array(ann[:2])))
        return self._annuities[1]

    def wage_annuity(self) -> np.ndarray:
        return self.annuities()[1]

    def context(self, wage: float, price_index: float) -> decision.DecisionContext:
        """What firms know this month (subsidy expectations follow last year's budgets)."""
        m = self.model
        annuity, wage_annuity = self.annuities()
        return decision.DecisionContext(
            cost_per_worker=m.base_cost * price_index, fee_share=m.providers.expected_fee_share(),
            subsidy=m.subsidies.terms(expected=True), peer_share=m.peers.share(m.month), annuity=annuity,
            wage_annuity=wage_annuity, **self._fixed_context)

    def _context_fixed(self) -> dict:
        """The fields of the month's context that are the same every month (the model's parameters and tables)."""
        m = self.model
        p = m.params
        d = p.decision
        return dict(
            nominal_gain=m.nominal_gain, labour_saving=m.tables.sector_labour_saving,
            fixed_cost=p["technology.fixed_project_cost"], other_cost_share=p["economy.other_cost_share"],
            robots_per_worker=p["technology.robots_per_worker_saved"], rate=self.rate, horizon=self.horizon,
            price_decline=p["economy.robot_price_decline"], wait_learning=d.wait_learning, obs_var=m.obs_var,
            gain_sd=self.gain_sd, value_measure=d.value_measure, target_payback=d.target_payback_years,
            risk_aversion=self.risk_aversion, skip_allowed=d.skip_allowed, skip_premium=d.skip_cost_premium,
            intercept=d.intercept, beta_value=d.beta_value, beta_peer=d.beta_peer, beta_exposure=d.beta_exposure,
            beta_profit=d.beta_profit, beta_skill=d.beta_skill, trigger=d.invest_trigger,
        )

    def inputs(self, idx: np.ndarray, plan: beliefs.Planning | None = None) -> decision.FirmInputs:
        """The decision's inputs of firms ``idx`` (``plan``: their planning, aligned with idx)."""
        f = self.model.firms
        plan = plan if plan is not None else self.planning(idx)
        return decision.FirmInputs(
            stage=f.stage[idx], sector=f.sector[idx], city=f.city[idx], cell=f.cell[idx], above=f.above[idx],
            output=f.output[idx], productivity=f.productivity[idx], workforce_cap=f.workforce_cap[idx],
            wage=f.wage[idx], ratio=plan.ratio, own_mean=plan.own_mean, own_sd=plan.own_sd,
            own_factor=plan.own_factor, mean_var=plan.mean_var, exposure=f.exposure[idx],
            margin=f.margin[idx], skill=f.staff_quality[idx])

    def quote(self, idx: np.ndarray, proj_need: np.ndarray, benefit: np.ndarray) -> finance.Quote:
        m = self.model
        f = m.firms
        # lessors read the public evidence of the firm's cell, not its private beliefs
        cell_p, cell_w = beliefs.cell_terms(f, self.prior_mean, self.prior_sd)
        cell_mean = cell_w / cell_p
        return finance.quote(f, idx, proj_need, benefit, m.month, m.bank, m.leasing, cell_mean[f.cell[idx]],
                             self.gain_sd, self.rate, m.params["decision.min_finance_fraction"])

    def options(self, idx: np.ndarray, ctx: decision.DecisionContext, plan: beliefs.Planning | None = None):
        """The best project and finance plan of firms ``idx`` (``plan``: their planning, aligned with idx;
        default: as they believe), and their probability of adopting."""
        x = self.inputs(idx, plan)
        proj = decision.best_project(x, ctx)
        q = self.quote(idx, proj.need, proj.benefit)
        return decision.choose(x, q, ctx, proj), q

    def step(self, wage: float, price_index: float) -> None:
        """Eligible firms adopt with the logit probability; adopters arrange their finance and apply."""
        m = self.model
        # one draw per firm per month whatever its state: common random numbers across scenarios
        u = m.rngs["decisions"].random(m.firms.n, dtype=np.float32)
        eligible = self.eligible_mask()
        if not eligible.any():
            return
        ctx = m.adoption_context = self.context(wage, price_index)
        idx = m.thinning.candidates(u, eligible, self.ratio_bound(), ctx).nonzero()[0]  # exact: thinning.py
        x = self.inputs(idx)
        proj = decision.best_project(x, ctx)
        keep = m.thinning.second_stage(u[idx], idx, x, proj, ctx)  # exact, tighter, before any finance quote
        idx, x, proj = idx[keep], x.subset(keep), proj.subset(keep)
        q = self.quote(idx, proj.need, proj.benefit)
        opts = decision.choose(x, q, ctx, proj)
        k = (u[idx] < opts.prob).nonzero()[0]
        if k.size:
            self.apply(idx[k], opts, q, k, x)

    def apply(self, a: np.ndarray, opts: decision.Options, q: finance.Quote, k: np.ndarray,
              x: decision.FirmInputs) -> None:
        """Adopters ``a`` (their options ``opts``, quotes ``q`` and decision inputs ``x`` are at positions ``k``)
        take up their finance plans and, if they find enough, apply."""
        m = self.model
        f = m.firms
        # the bank's draw is the firm's own (keyed by firm and month): who else applies does not shift it
        fin = finance.arrange(f, a, opts.plan[k], q, m.month, m.leasing,
                              tie_break(f.key[a], event_id("bank decisions", m.month)), at=k)
        go = fin.scale > 0
        projects.begin(f, a[go], opts.target[k][go], opts.capex[k][go], opts.robots[k][go], fin.scale[go],
                       fin.route[go], fin.borrowed[go], fin.rate[go], m.government.approval_months(), m.month)
        m.binned_flow(_APPLIED, go.view(np.int8), a)  # applied or abandoned
        m.binned_flow(_ROUTES, np.where(go, finance.ROUTE_BIN[fin.route], -1), a)  # the projects' loans and leases
        m.flow("loans_rejected", a[fin.refused])
        # every firm that decided, whether or not it found finance; finance and the application change only the
        # firm's project fields, which the decision's inputs do not read: ``x`` still holds the adopters' inputs
        self.record(a, opts, k, x)

    def record(self, a: np.ndarray, opts: decision.Options, k: np.ndarray, x: decision.FirmInputs) -> None:
        """The adopters' terms at decision time (adopters ``a``, at positions ``k`` of the deciding firms' options
        ``opts`` and inputs ``x``): how many had a negative expected NPV (at their mean expectation, not the
        certainty equivalent) and the payback of each (net cost / first-year benefit), as flows the indicators
        read."""
        if a.size == 0:
            return
        m = self.model
        # every deciding firm valued, firm by firm, and the adopters' taken: cheaper than gathering 17 inputs
        pv_mean = decision.present_value(x.own_mean * opts.gain, x, m.adoption_context)[0][k]
        expected = pv_mean - opts.plan_cost[k]
        m.flow("adopters", a)
        m.flow("adopters_negative_npv", a[expected < 0])
        payback = opts.net_cost[k] / np.maximum(opts.benefit[k], 1e-9)
        bins = clamp(PAYBACK_EDGES.searchsorted(payback, side="right") - 1, 0, len(PAYBACK_EDGES) - 2)
        m.binned_flow(PAYBACK_BINS, bins, a)


__all__ = ["Adoption"]
