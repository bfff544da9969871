"""A per-firm reference implementation of the firm decision and the project lifecycle.

Written for clarity, not speed: each firm is a plain ``mesa.Agent`` that steps on its own, in
scalar Python, through the same rules as the vectorised kernel (beliefs.planning, decision.py,
projects.py), reading the same parameters, input tables and random draws. The institutions' rules
it meets (the subsidy schedule, the bank's and the lessors' terms) are theirs, not the decision's:
it calls them for one firm at a time. ``ReferenceModel`` is the full model with these per-firm steps
in place of the vectorised ones and everything else shared, so the two can be run side by side:
tests check that they take the same decisions firm by firm and produce identical runs
(differential testing), and the benchmark measures how much faster the vectorised kernel is.

The reference values every eligible firm in full (no thinning): it is the definition the fast
path must reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np

from . import decision as vec
from . import finance, projects
from .adoption import Adoption
from .econ import partial_expectation
from .firms import APPROVAL, IMPLEMENTING, NONE, QUEUED
from .model import TransformationModel
from .subsidies import expected_subsidy_of


@dataclass
class Choice:
    """One firm's decision this month."""

    target: int
    capex: float
    fee: float
    robots: float
    subsidy: float
    net_cost: float
    benefit: float
    gain: float
    npv: float
    plan_cost: float
    plan: int
    value: float
    prob: float
    adopt: bool


class FirmAgent(mesa.Agent):
    """One firm, stepped on its own. Its state is row ``index`` of the model's firm arrays."""

    def __init__(self, model: ReferenceModel, index: int):
        super().__init__(model)
        self.index = index

    # --- reading the firm ---------------------------------------------------------------------
    def get(self, name: str):
        return getattr(self.model.firms, name)[self.index].item()

    def eligible(self, month: int) -> bool:
        return (self.get("proj_phase") == NONE and self.get("stage") < 4 and self.get("cooldown_until") <= month
                and self.get("alive"))

    def planning(self) -> tuple[float, float, float, float, float]:
        """(certainty equivalent, own mean, own sd, own factor, variance of the mean belief) of its next gain
        ratio: the prior, its private evidence and its cell's public evidence about the sector's mean,
        and what it knows of its own draw."""
        p, f, i, c = self.model.params, self.model.firms, self.index, self.get("cell")
        prior = 1.0 / p["beliefs.prior_sd"] ** 2
        precision = prior + f.cell_precision[c]
        evidence = p["beliefs.prior_mean"] * prior + f.cell_weighted[c]
        if self.get("informed"):
            precision += f.belief_precision[i]
            evidence += f.belief_weighted[i]
        mean, var = evidence / precision, 1.0 / precision
        nxt = min(self.get("stage"), 3)
        gsd = p["technology.gain_sd"]
        zk, zv = float(f.z_known[i, nxt]), float(f.z_var[i, nxt])
        m = max(mean, 0.0)
        own = 1.0 + gsd * zk
        # squares as products: numpy squares an array by x * x, while Python's x ** 2 calls C's pow(), which
        # misses x * x by an ulp about once in a thousand (a gain ratio an ulp apart, robots planned 2 ulps apart)
        sd = math.sqrt(var * (own * own) + ((m * gsd) * (m * gsd)) * zv)
        return max(m * own - p["decision.risk_aversion"] * sd, 0.0), m * own, sd, own, var

    # --- the decision (MODEL.md section 5) ----------------------------------------------------------
    def present_value(self, gain: float, ctx: vec.DecisionContext) -> tuple[float, float]:
        """(PV of the benefits, first-year benefit) of productivity ``gain``: value added and wages saved
        growing as the firm expects demand and wages to."""
        output, productivity = self.get("output"), self.get("productivity")
        cap, wage = self.get("workforce_cap"), self.get("wage")
        lam = float(ctx.labour_saving[self.get("sector")])
        out_after = output * math.exp((1.0 - lam) * math.log1p(gain))
        prod_after = productivity * (1.0 + gain)
        emp_now = min(output / productivity, cap)
        emp_after = min(out_after / prod_after, cap)
        value = (1.0 - ctx.other_cost_share) * (prod_after * emp_after - productivity * emp_now)
        wages = wage * (emp_now - emp_after)
        return value * ctx.annuity + wages * float(ctx.wage_annuity[int(self.get("above"))]), value + wages

    def project(self, cpw: float, nominal: float, climbs1: bool, ratio: float, ctx: vec.DecisionContext):
        """(capex, fee, robots, subsidy, net cost, PV, first-year benefit) of a project."""
        output, productivity = self.get("output"), self.get("productivity")
        sector, city = self.get("sector"), self.get("city")
        needs = output / productivity
        capex = cpw * needs
        fee = float(ctx.fee_share[sector]) * capex + ctx.fixed_cost
        gain = ratio * nominal
        pv, benefit = self.present_value(gain, ctx)
        robots = projects.robots_of(needs, gain, float(ctx.labour_saving[sector]), ctx.robots_per_worker,
                                    climbs1)  # the project's rule
        t = ctx.subsidy  # the subsidy schedule's rule
        subsidy = expected_subsidy_of(float(t.robot_subsidy[city]), float(t.city_share[city]), float(t.award_rate),
                                      float(t.award_cap), float(t.fund_share), capex, robots)
        return capex, fee, robots, subsidy, max(capex + fee - subsidy, 1.0), pv, benefit

    def plans(self, q: finance.Quote, nominal: float, pv: float, net: float, plan_inputs,
              ctx: vec.DecisionContext) -> tuple[int, float, float]:
        """(plan, NPV, PV) of its best finance plan, as decision.best_plan, in scalar Python."""
        ratio, own_mean, own_sd = plan_inputs
        npv = [-math.inf] * 7
        pvs = [0.0] * 7
        pvs[0] = pv
        if not q.short[0]:
            npv[0] = pv - net
        if q.short[0] and q.scale[0] > 0:
            pvs[finance.SCALED] = self.present_value(math.expm1(q.scale[0] * math.log1p(ratio * nominal)), ctx)[0]
            npv[finance.SCALED] = pvs[finance.SCALED] - q.cash[0]
        for j, m in enumerate(finance.LEASES):
            if q.lease_ok[0, j]:
                ce = max(own_mean - ctx.risk_aversion * own_sd * (1.0 - q.lease_cover[0, j]), 0.0)
                pvs[m] = self.present_value(ce * nominal, ctx)[0]
                npv[m] = pvs[m] - q.lease_cost[0, j]
        fallback = max(max(npv[2:6]), 0.0)
        s = q.bank_scale[0]
        pvs[finance.LOAN] = self.present_value(math.expm1(s * math.log1p(ratio * nominal)), ctx)[0] if s < 1.0 else pv
        if q.p_bank[0] > 0:
            p = q.p_bank[0]
            npv[finance.LOAN] = p * (pvs[finance.LOAN] - q.bank_cost[0]) + (1.0 - p) * fallback
        plan = int(np.argmax(npv))
        if not math.isfinite(npv[plan]):
            return finance.NO_FINANCE, -math.inf, pvs[0]
        return plan, npv[plan], pvs[plan]

    def decide(self, ctx: vec.DecisionContext, u: float) -> Choice:
        """Value the next stage and (if allowed) skipping one, choose a finance plan, weigh waiting, and
        adopt with the logit probability."""
        stage, sector = self.get("stage"), self.get("sector")
        ratio, own_mean, own_sd, own_factor, mean_var = self.planning()
        target, nominal = stage + 1, float(ctx.nominal_gain[sector, stage + 1])
        best = self.project(float(ctx.cost_per_worker[sector, stage + 1]), nominal, stage == 0, ratio, ctx)
        if ctx.skip_allowed and stage <= 2:
            n1, n2 = nominal, float(ctx.nominal_gain[sector, stage + 2])
            nominal2 = n1 + n2 + ratio * n1 * n2
            cpw = (float(ctx.cost_per_worker[sector, stage + 1]) + float(ctx.cost_per_worker[sector, stage + 2]))
            alt = self.project(cpw * (1.0 + ctx.skip_premium), nominal2, stage == 0, ratio, ctx)
            if (alt[5] - alt[4]) / (alt[0] + alt[1]) > (best[5] - best[4]) / (best[0] + best[1]):
                target, best, nominal = stage + 2, alt, nominal2
        capex, fee, robots, subsidy, net, pv, benefit = best
        m = self.model
        q = m.adoption.quote(np.array([self.index]), np.array([capex + fee - subsidy]), np.array([benefit]))
        plan, npv, pv_plan = self.plans(q, nominal, pv, net, (ratio, own_mean, own_sd), ctx)
        wait = 0.0
        if math.isfinite(npv):
            var_after = 1.0 / (1.0 / max(mean_var, 1e-12) + ctx.wait_learning / ctx.obs_var)
            pre_sd = math.sqrt(max(mean_var - var_after, 0.0))
            sd_next = pv_plan / max(ratio, 1e-9) * pre_sd * own_factor
            wait = partial_expectation(npv + ctx.price_decline * net, sd_next) / (1.0 + ctx.rate)
        if not math.isfinite(npv):
            value = -5.0
        elif ctx.value_measure == "npv":
            value = max((npv - wait) / (capex + fee), -5.0)
        else:
            payback = net / max(benefit, 1e-9) if benefit > 0 else math.inf
            value = max(1.0 - payback / ctx.target_payback, -5.0)
        peer = float(ctx.peer_share[self.get("cell"), stage + 1])
        prob = float(vec.adoption_probability(value, peer, float(self.get("exposure")), float(self.get("margin")),
                                          float(self.get("staff_quality")), ctx))
        plan_cost = pv_plan - npv if math.isfinite(npv) else math.inf
        return Choice(target, capex, fee, robots, subsidy, net, benefit, nominal, npv, plan_cost, plan, value, prob,
                      u < prob)

    # --- the project lifecycle (projects.py) ---------------------------------------------------------
    def advance_project(self, month: int) -> str | None:
        """Tick this firm's project clock; returns 'complete' or 'queued' when the phase ends."""
        f, i = self.model.firms, self.index
        phase = self.get("proj_phase")
        if phase in (APPROVAL, IMPLEMENTING) and self.get("proj_since") < month:
            f.proj_months[i] -= 1
            if f.proj_months[i] <= 0:
                if phase == APPROVAL:
                    f.proj_phase[i], f.proj_since[i] = QUEUED, month
                    return "queued"
                return "complete"
        return None


class ReferenceAdoption(Adoption):
    """The month's decisions taken firm by firm by the reference agents (same draws, same context)."""

    def step(self, wage: float, price_index: float) -> None:
        m = self.model
        u = m.rngs["decisions"].random(m.firms.n, dtype=np.float32)  # the same draws as the vectorised model
        if not self.eligible_mask().any():
            return
        ctx = m.adoption_context = self.context(wage, price_index)
        adopted = [(i, c) for i, c in m.choices(ctx, u).items() if c.adopt]
        if not adopted:
            return
        a = np.array([i for i, _ in adopted], np.int64)
        pick = lambda name: np.array([getattr(c, name) for _, c in adopted])  # noqa: E731
        opts = vec.Options(pick("target"), pick("capex"), pick("fee"), pick("robots"), pick("subsidy"),
                           pick("net_cost"), pick("benefit"), pick("gain"), pick("npv"), pick("plan_cost"),
                           np.zeros(a.size), pick("plan"), pick("value"), pick("prob"))
        q = self.quote(a, opts.capex + opts.fee - opts.subsidy, opts.benefit)
        self.apply(a, opts, q, np.arange(a.size), self.inputs(a))


class ReferenceModel(TransformationModel):
    """The full model with per-firm agents taking the decision and running the project clocks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.thinning.enabled = False
        self.adoption = ReferenceAdoption(self)
        self.firm_agents = [FirmAgent(self, i) for i in range(self.firms.n)]

    def choices(self, ctx: vec.DecisionContext, u: np.ndarray) -> dict[int, Choice]:
        """Every eligible firm's decision this month, firm by firm."""
        return {agent.index: agent.decide(ctx, float(u[agent.index]))
                for agent in self.firm_agents if agent.eligible(self.month)}

    def _work_projects(self) -> None:
        done = [agent.index for agent in self.firm_agents if agent.advance_project(self.month) == "complete"]
        if done:
            self._complete(np.array(done, np.int64))
        self._match_queue(projects.queue_order(self.firms, np.flatnonzero(self.firms.proj_phase != NONE)))
