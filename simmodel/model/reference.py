"""A per-firm reference implementation of the firm decision and the project lifecycle.

Written for clarity, not speed: each firm is a plain ``mesa.Agent`` that steps on its own, in
scalar Python, through the same rules as the vectorised kernel (decision.py, projects.py), reading
the same parameters, input tables and random draws. ``ReferenceModel`` is the full model with these
per-firm steps in place of the vectorised ones and everything else shared, so the two can be run
side by side: tests check that they take the same decisions firm by firm and produce identical runs
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
from . import projects
from .adoption import Adoption
from .econ import logistic
from .firms import APPROVAL, IMPLEMENTING, NONE, QUEUED
from .model import TransformationModel


@dataclass
class Choice:
    """One firm's decision this month."""

    target: int
    capex: float
    fee: float
    subsidy: float
    net_cost: float
    benefit: float
    value: float
    prob: float
    adopt: bool


def operating_profit(output: float, productivity: float, workforce_cap: float, wage: float, tau: float) -> float:
    """Yearly operating profit: (1 - tau) p E - w E, E = min(Y / p, E_max)."""
    employees = min(output / productivity, workforce_cap)
    return ((1.0 - tau) * productivity - wage) * employees


class FirmAgent(mesa.Agent):
    """One firm, stepped on its own. Its state is row ``index`` of the model's firm arrays."""

    def __init__(self, model: ReferenceModel, index: int):
        super().__init__(model)
        self.index = index

    # --- reading the firm ---------------------------------------------------------------------
    def get(self, name: str):
        return getattr(self.model.firms, name)[self.index].item()

    def eligible(self, month: int) -> bool:
        return self.get("proj_phase") == NONE and self.get("stage") < 4 and self.get("cooldown_until") <= month

    def planning_ratio(self, risk_aversion: float) -> float:
        """Belief mean minus risk aversion x sd: private evidence plus the cell's public evidence."""
        f, i, c = self.model.firms, self.index, self.get("cell")
        if self.get("informed"):
            precision = f.belief_precision[i] + f.cell_precision[c]
            evidence = f.belief_weighted[i] + f.cell_weighted[c]
        else:  # only the prior: the same for every uninformed firm of the cell
            p = self.model.params
            prior = 1.0 / p["beliefs.prior_sd"] ** 2
            precision = prior + f.cell_precision[c]
            evidence = p["beliefs.prior_mean"] * prior + f.cell_weighted[c]
        mean, sd = evidence / precision, math.sqrt(1.0 / precision)
        return max(mean - risk_aversion * sd, 0.0)

    # --- the decision (MODEL.md section 5) ----------------------------------------------------------
    def value_of(self, cost_per_worker: float, gain: float, ctx: vec.DecisionContext) -> tuple[float, ...]:
        """(capex, fee, subsidy, net cost, benefit, value) of a project with this cost and gain."""
        output, productivity = self.get("output"), self.get("productivity")
        workforce_cap, wage = self.get("workforce_cap"), self.get("wage")
        sector, city = self.get("sector"), self.get("city")
        needs = output / productivity
        capex = cost_per_worker * needs
        fee = float(ctx.fee_share[sector]) * capex + ctx.fixed_cost
        subsidy = float(ctx.subsidy.purchase(city, capex))  # the one subsidy schedule (subsidies.py)
        net_cost = max(capex + fee - subsidy - float(ctx.subsidy.post(capex)), 1.0)
        lam = float(ctx.labour_saving[sector])
        now = operating_profit(output, productivity, workforce_cap, wage, ctx.other_cost_share)
        after = operating_profit(output * math.exp((1.0 - lam) * math.log1p(gain)), productivity * (1.0 + gain),
                                 workforce_cap, wage, ctx.other_cost_share)
        benefit = after - now
        if ctx.value_measure == "npv":
            value = benefit * ctx.annuity / net_cost - 1.0
        else:
            payback = net_cost / max(benefit, 1e-9) if benefit > 0 else math.inf
            value = max(1.0 - payback / ctx.target_payback, -5.0)
        return capex, fee, subsidy, net_cost, benefit, value

    def decide(self, ctx: vec.DecisionContext, ratio: float, u: float) -> Choice:
        """Value the next stage and (if allowed) skipping one; adopt the better with the logit probability."""
        stage, sector = self.get("stage"), self.get("sector")
        g1 = ratio * float(ctx.nominal_gain[sector, stage + 1])
        target, best = stage + 1, self.value_of(float(ctx.cost_per_worker[sector, stage + 1]), g1, ctx)
        if ctx.skip_allowed and stage <= 2:
            g2 = (1.0 + g1) * (1.0 + ratio * float(ctx.nominal_gain[sector, stage + 2])) - 1.0
            cost = (float(ctx.cost_per_worker[sector, stage + 1]) + float(ctx.cost_per_worker[sector, stage + 2]))
            alt = self.value_of(cost * (1.0 + ctx.skip_premium), g2, ctx)
            if alt[-1] > best[-1]:
                target, best = stage + 2, alt
        peer = float(ctx.peer_share[self.get("cell"), stage + 1])
        z = (ctx.intercept + ctx.beta_value * best[-1] + ctx.beta_peer * peer + ctx.beta_exposure * self.get("exposure")
             + ctx.beta_profit * self.get("margin") + ctx.beta_skill * self.get("staff_quality"))
        prob = float(logistic(z))
        return Choice(target, *best, prob, u < prob)

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
        ctx = self.context(wage, price_index)
        adopted = [(i, c) for i, c in m.choices(ctx, u).items() if c.adopt]
        if not adopted:
            return
        a = np.array([i for i, _ in adopted], np.int64)
        pick = lambda name: np.array([getattr(c, name) for _, c in adopted])  # noqa: E731
        need = pick("capex") + pick("fee") - pick("subsidy")
        self.apply(a, pick("target"), pick("capex"), need, pick("benefit"))


class ReferenceModel(TransformationModel):
    """The full model with per-firm agents taking the decision and running the project clocks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.thinning.enabled = False
        self.adoption = ReferenceAdoption(self)
        self.firm_agents = [FirmAgent(self, i) for i in range(self.firms.n)]

    def choices(self, ctx: vec.DecisionContext, u: np.ndarray) -> dict[int, Choice]:
        """Every eligible firm's decision this month, firm by firm."""
        rho = self.params["decision.risk_aversion"]
        out = {}
        for agent in self.firm_agents:
            if agent.eligible(self.month):
                out[agent.index] = agent.decide(ctx, agent.planning_ratio(rho), float(u[agent.index]))
        return out

    def _work_projects(self) -> None:
        done = [agent.index for agent in self.firm_agents if agent.advance_project(self.month) == "complete"]
        if done:
            self._complete(np.array(done, np.int64))
        self._match_queue(projects.queue_order(self.firms, np.flatnonzero(self.firms.proj_phase != NONE)))
