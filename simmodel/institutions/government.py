"""The provincial government: special fund, purchase and post-project subsidies, approval reform.

docs/ODD.md, submodel "Government". The special fund receives its yearly budget each January
(unspent money carries over only if ``government.fund_carryover``). Subsidies are paid first come,
first served in queue order until the fund is empty; the claim that finds the fund nearly empty
gets what is left. Every yuan paid is recorded, so subsidies paid = government spending <= budget.
"""

from __future__ import annotations

import mesa
import numpy as np

from ..params import Params, month_index


def pay_in_order(claims: np.ndarray, available: float) -> np.ndarray:
    """Pay ``claims`` (yuan, in order) from ``available`` yuan: full until it runs out, then a part."""
    if claims.size == 0:
        return claims.copy()
    before = np.cumsum(claims) - claims
    return np.clip(available - before, 0.0, claims)


class ProvincialGovernment(mesa.Agent):
    """Zhejiang's provincial government (one agent).

    Attributes:
        fund_remaining: yuan left in the special fund this year
        fund_budget_total: yuan released into the fund since the start (all years)
        subsidy_paid_total: yuan paid out of the fund since the start
        paid_this_month: yuan paid out this month (reset each step)
    """

    def __init__(self, model: mesa.Model, params: Params):
        super().__init__(model)
        g = params.government
        self.fund_enabled = g.special_fund_enabled
        self.budget = g.special_fund_budget if g.special_fund_enabled else 0.0
        self.carryover = g.fund_carryover
        self.purchase_rate = g.purchase_subsidy_rate if g.purchase_subsidy_enabled else 0.0
        self.purchase_cap = g.purchase_subsidy_cap
        self.equipment_share = g.equipment_share
        self.post_rate = g.post_project_subsidy_rate if g.post_project_subsidy_enabled else 0.0
        self.reform_start = month_index(g.approval_reform_start) if g.approval_reform_enabled else None
        p = params.projects
        self.approval_before, self.approval_after = p.approval_months, p.approval_months_reformed
        self.fund_remaining = 0.0
        self.fund_budget_total = 0.0
        self.subsidy_paid_total = 0.0
        self.paid_this_month = 0.0

    def step(self) -> None:
        """Start of a month: release the year's budget in January."""
        self.paid_this_month = 0.0
        if self.model.month % 12 == 0:
            if not self.carryover:
                self.fund_remaining = 0.0
            self.fund_remaining += self.budget
            self.fund_budget_total += self.budget

    @property
    def fund_has_money(self) -> bool:
        return self.fund_remaining > 0.0

    def approval_months(self) -> int:
        """Approval lead time (months) for a project applied for this month."""
        reformed = self.reform_start is not None and self.model.month >= self.reform_start
        return self.approval_after if reformed else self.approval_before

    def purchase_subsidy_claim(self, capex: np.ndarray) -> np.ndarray:
        """Purchase subsidy a project of capital cost ``capex`` (yuan) may claim."""
        return np.minimum(self.purchase_rate * self.equipment_share * capex, self.purchase_cap)

    def post_project_claim(self, capex: np.ndarray) -> np.ndarray:
        """Post-project subsidy a completed project of capital cost ``capex`` may claim."""
        return self.post_rate * capex

    def pay(self, claims: np.ndarray) -> np.ndarray:
        """Pay real-firm claims (yuan, already times weight, in order) from the fund."""
        paid = pay_in_order(claims, self.fund_remaining)
        total = float(paid.sum())
        self.fund_remaining -= total
        self.subsidy_paid_total += total
        self.paid_this_month += total
        return paid
