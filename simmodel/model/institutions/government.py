"""Governments: the province (special fund, subsidies, approval reform, rewards) and the 11 cities.

docs/ODD.md, submodel "Governments". The special fund receives its yearly budget each January
(unspent money carries over only if ``government.fund_carryover``). Subsidies are paid first come,
first served in queue order until the money is gone; the claim that finds a budget nearly empty
gets what is left. Every yuan paid is recorded, so subsidies paid = government spending <= budget.

Cities have their own yearly budgets (``cities.budget_total`` split by output share, plus any
reward won the year before) for purchase-subsidy top-ups and cloud vouchers, and a share of the
province's cloud target. Each December the province's reward pool goes to the cities whose share
of transformed firms rose most in the year (``cities.reward_winners`` share it equally).
"""

from __future__ import annotations

import mesa
import numpy as np

from ...params import Params, month_index
from ..allocation import pay_in_order


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
        self.pilot_rate = params["demonstration.pilot_subsidy_rate"] if g.special_fund_enabled else 0.0
        c = params.cities
        self.rewards_enabled, self.reward_pool, self.reward_winners = c.rewards_enabled, c.reward_pool, c.reward_winners
        self.fund_remaining = 0.0
        self.fund_budget_total = 0.0
        self.subsidy_paid_total = 0.0
        self.paid_this_month = 0.0
        self.rewards_paid_total = 0.0

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

    def pay(self, claims: np.ndarray) -> np.ndarray:
        """Pay real-firm claims (yuan, already times weight, in order) from the fund."""
        paid = pay_in_order(claims, self.fund_remaining)
        total = float(paid.sum())
        self.fund_remaining -= total
        self.subsidy_paid_total += total
        self.paid_this_month += total
        return paid

    def reward_cities(self, cities: list[CityGovernment], recorder, month: int) -> None:
        """December: the pool goes to the cities whose share of transformed firms (all sizes: the
        indicator ``share_transformed``) rose most since last December (2013: since January)."""
        if not self.rewards_enabled or self.reward_pool <= 0:
            return
        from ..recorder import values_at

        now = values_at(recorder, month, ("share_transformed",), "city")["share_transformed"]
        before = values_at(recorder, max(month - 12, 0), ("share_transformed",), "city")["share_transformed"]
        winners = np.argsort(-(now - before), kind="stable")[: self.reward_winners]
        for i in winners:
            cities[i].reward_next += self.reward_pool / len(winners)
        self.rewards_paid_total += self.reward_pool


class CityGovernment(mesa.Agent):
    """One of the 11 city governments.

    Attributes:
        city: index of the city; name: its name
        budget_remaining: yuan left this year for top-ups and vouchers
        reward_next: reward won, added to next year's budget
        cloud_target: firms to move onto the cloud this year; cloud_done: moved so far this year
    """

    def __init__(self, model: mesa.Model, params: Params, city: int, name: str, output_share: float,
                 firm_share: float):
        super().__init__(model)
        c = params.cities
        self.city, self.name = city, name
        self.base_budget = c.budget_total * output_share
        self.topup_rate = c.topup_rate if c.topup_enabled else 0.0
        self.equipment_share = params["government.equipment_share"]
        self.cap = params["government.purchase_subsidy_cap"]
        self.voucher = params["cloud.voucher"]
        self.cloud_target_year = params["cloud.target_per_year"] * firm_share
        self.budget_remaining = 0.0
        self.budget_total = 0.0
        self.paid_total = 0.0
        self.reward_next = 0.0
        self.cloud_target = 0.0
        self.cloud_done = 0.0

    def step(self) -> None:
        """January: this year's budget (with last year's reward) and cloud target."""
        if self.model.month % 12 == 0:
            self.budget_remaining = self.base_budget + self.reward_next
            self.budget_total += self.base_budget + self.reward_next
            self.reward_next = 0.0
            self.cloud_done = 0.0
            self.cloud_target = self.cloud_target_year if self.model.cloud.action_on(self.model.month) else 0.0

    def behind_target(self) -> bool:
        """Whether migrations this year lag the target to date (the city then pushes)."""
        to_date = self.cloud_target * (self.model.month % 12 + 1) / 12
        return self.cloud_target > 0 and self.cloud_done < to_date

    def pay(self, claims: np.ndarray) -> np.ndarray:
        """Pay real-firm claims (yuan, in order) from this year's budget."""
        paid = pay_in_order(claims, self.budget_remaining)
        total = float(paid.sum())
        self.budget_remaining -= total
        self.paid_total += total
        return paid
