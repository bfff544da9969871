"""The month's adoption decisions (docs/ODD.md 3.4.2): who may decide, what they know, who adopts,
and the adopters' search for finance and their applications.

The valuation and the logit are pure functions in decision.py; the exact thinning of the draw is in
thinning.py; finance in finance.py; this module puts them together for the model's firms.
"""

from __future__ import annotations

import numpy as np

from . import beliefs, decision, finance, projects
from .firms import LOAN, NONE


class Adoption:
    """The firms' investment decision, once a month, for a TransformationModel."""

    def __init__(self, model):
        self.model = model

    def eligible_mask(self) -> np.ndarray:
        """Firms that may consider a project this month: no project, below stage 4, cooled down."""
        f = self.model.firms
        return (f.proj_phase == NONE) & (f.stage < 4) & (f.cooldown_until <= max(self.model.month, 0))

    def eligible(self) -> np.ndarray:
        return np.flatnonzero(self.eligible_mask())

    def planning_ratio(self) -> np.ndarray:
        """Each firm's risk-adjusted belief of the gain ratio (beliefs.planning_ratio)."""
        p = self.model.params
        return beliefs.planning_ratio(self.model.firms, p["beliefs.prior_mean"], p["beliefs.prior_sd"],
                                      p["decision.risk_aversion"])

    def context(self, wage: float, price_index: float) -> decision.DecisionContext:
        """What firms know this month (subsidy expectations follow the budgets' state)."""
        m = self.model
        return decision.make_context(m.params, wage, m.base_cost * price_index, m.nominal_gain,
                                     m.tables.sector_labour_saving, m.providers.expected_fee_share(),
                                     m.subsidies.terms(expected=True), m.peers.share(m.month), m.annuity)

    def options(self, idx: np.ndarray, ctx: decision.DecisionContext, ratio: np.ndarray | None = None):
        """The best project of firms ``idx`` and their probability of adopting it this month."""
        f = self.model.firms
        r = self.planning_ratio()[idx] if ratio is None else ratio
        return decision.choose(f.stage[idx], f.sector[idx], f.city[idx], f.cell[idx], f.output[idx],
                               f.productivity[idx], f.workforce_cap[idx], f.wage[idx], r, f.exposure[idx],
                               f.margin[idx], f.staff_quality[idx], ctx)

    def step(self, wage: float, price_index: float) -> None:
        """Eligible firms adopt with the logit probability; adopters seek finance and apply."""
        m = self.model
        # one draw per firm per month whatever its state: common random numbers across scenarios
        u = m.rngs["decisions"].random(m.firms.n, dtype=np.float32)
        eligible = self.eligible_mask()
        if not eligible.any():
            return
        ctx = self.context(wage, price_index)
        ratio = self.planning_ratio()
        idx = np.flatnonzero(m.thinning.candidates(u, eligible, ratio, ctx))  # exact: see thinning.py
        opts = self.options(idx, ctx, ratio[idx])
        adopt = u[idx] < opts.prob
        if adopt.any():
            need = (opts.capex + opts.fee - opts.subsidy)[adopt]
            self.apply(idx[adopt], opts.target[adopt], opts.capex[adopt], need, opts.benefit[adopt])

    def apply(self, a: np.ndarray, target, capex, need, benefit) -> None:
        """Adopters ``a`` look for finance (need: yuan up front) and, if they find enough, apply."""
        m = self.model
        f = m.firms
        fin = finance.arrange(f, a, need, benefit, m.month, m.bank, m.leasing, m.rngs["banks"].random(a.size),
                              m.params["decision.min_finance_fraction"])
        go = fin.scale > 0
        projects.begin(f, a[go], target[go], capex[go], fin.scale[go], fin.route[go], fin.borrowed[go],
                       fin.rate[go], m.government.approval_months(), m.month)
        m.flow("projects_applied", a[go])
        m.flow("projects_abandoned", a[~go])
        m.flow("loans_rejected", a[fin.refused])
        m.flow("loans_issued", a[go & (fin.route == LOAN)])
        for route, name in finance.LEASE_FLOWS.items():
            m.flow(name, a[go & (fin.route == route)])


__all__ = ["Adoption"]
