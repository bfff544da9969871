"""Governments: the province (the special fund's yearly round, the pilots' envelope, the cloud action's
vouchers, the approval reform, the cities' rewards) and the 11 cities (robot purchase subsidies).

docs/ODD.md 3.4.5. Each instrument is on from its start, ``params.instrument_start`` (moved with
``programme.start``). Every budget is a :class:`Budget`: released each January, paying claims in the
order given (arrival with a seeded random tie-break, or the round's ranking) until it is used up;
every yuan paid is recorded, so subsidies paid = spending <= budget (tested). What the lines pay and
what firms may expect of them is the subsidy schedule (subsidies.py).
"""

from __future__ import annotations

import mesa
import numpy as np

from ...params import Params, instrument_start, month_index
from ..allocation import pay_in_order


class Budget:
    """Money released each January and paid out to claims in order.

    Attributes: remaining (yuan left this year), released_total, paid_total (since the start),
    paid_this_month, claimed_year and paid_year (this year's claims and payments, for the share firms
    expect), expected_share (what firms expect to be paid of a claim).
    """

    def __init__(self, yearly: float, carryover: bool = False, expected_share: float = 1.0):
        self.yearly, self.carryover = yearly, carryover
        self.remaining = self.released_total = self.paid_total = self.paid_this_month = 0.0
        self.claimed_year = self.paid_year = 0.0
        self.expected_share = expected_share

    def new_year(self, extra: float = 0.0, share: float = 1.0) -> None:
        """January: last year's claims set what firms expect; this year's money is released (``share`` of
        the yearly sum: a budget that opens in the course of a year gets the rest of the year's)."""
        if self.claimed_year > 0:
            self.expected_share = self.paid_year / self.claimed_year
        self.claimed_year = self.paid_year = 0.0
        if not self.carryover:
            self.remaining = 0.0
        self.remaining += self.yearly * share + extra
        self.released_total += self.yearly * share + extra

    def move(self, amount: float, to: Budget) -> float:
        """Move up to ``amount`` yuan of this year's money to another budget (e.g. an envelope)."""
        amount = min(amount, self.remaining)
        self.remaining -= amount
        self.released_total -= amount
        to.remaining += amount
        to.released_total += amount
        return amount

    def pay(self, claims: np.ndarray) -> np.ndarray:
        """Pay claims (yuan, already times the agents' weights) in the order given."""
        paid = pay_in_order(claims, self.remaining)
        self.book(float(claims.sum()), float(paid.sum()))
        return paid

    def book(self, claimed: float, total: float) -> None:
        """Claims of ``claimed`` yuan were paid ``total`` (pay_in_order from what remained)."""
        self.remaining = max(self.remaining - total, 0.0)  # float noise must not make it negative
        self.paid_total += total
        self.paid_this_month += total
        self.claimed_year += claimed
        self.paid_year += total


class ProvincialGovernment(mesa.Agent):
    """Zhejiang's provincial government (one agent).

    Attributes:
        fund: the special fund (its round of awards each year); envelope: the pilots' share of it
        vouchers: the cloud action's voucher budget
        applications: this year's applications to the round (lists of arrays, see subsidies.py)
        fund_start: month from which the fund releases money and takes applications (the programme's
            start; its money, and the cities' rewards, begin then)
    """

    def __init__(self, model: mesa.Model, params: Params):
        super().__init__(model)
        g = params.government
        self.fund_enabled = g.special_fund_enabled
        self.fund = Budget(g.special_fund_budget if g.special_fund_enabled else 0.0, g.fund_carryover,
                           g.fund_expected_share_2013)
        self.envelope = Budget(0.0)
        self.envelope_share = g.pilot_envelope_share
        self.fund_start = instrument_start(params)
        d = params.demonstration
        self.pilot_years = {instrument_start(params, f"demonstration.pilot_batch{b}") // 12 for b in (1, 2, 3)} \
            if d.pilots_enabled else set()
        c = params.cloud
        self.vouchers = Budget(c.voucher_budget if c.action_enabled and c.voucher_payer == "action" else 0.0)
        self.reform_start = instrument_start(params, "government.approval_reform_start") \
            if g.approval_reform_enabled else None
        p = params.projects
        self.approval_before, self.approval_after = p.approval_months, p.approval_months_reformed
        cp = params.cities
        self.rewards_enabled, self.reward_pool, self.reward_winners = cp.rewards_enabled, cp.reward_pool, \
            cp.reward_winners
        self.rewards_paid_total = 0.0
        self.applications: list[tuple[np.ndarray, ...]] = []

    def step(self) -> None:
        """Start of a month: in January the voucher budget is released, and from the fund's start the
        fund's money (and the pilots' envelope taken from it in a pilot year); a fund that opens in the
        course of a year gets the rest of that year's money."""
        for b in (self.fund, self.envelope, self.vouchers):
            b.paid_this_month = 0.0
        t = self.model.month
        if t % 12 == 0:
            self.vouchers.new_year()
            self.envelope.new_year()
        if t >= self.fund_start and (t % 12 == 0 or t == self.fund_start):
            share = (12 - t % 12) / 12
            self.fund.new_year(share=share)
            if t // 12 in self.pilot_years:
                self.fund.move(self.envelope_share * self.fund.yearly * share, self.envelope)

    @property
    def fund_remaining(self) -> float:
        return self.fund.remaining + self.envelope.remaining

    @property
    def paid_this_month(self) -> float:
        return self.fund.paid_this_month + self.envelope.paid_this_month

    @property
    def subsidy_paid_total(self) -> float:
        """Yuan paid by the province's budgets (fund, envelope, vouchers) since the start."""
        return self.fund.paid_total + self.envelope.paid_total + self.vouchers.paid_total

    def approval_months(self) -> int:
        """Approval lead time (months) for a project applied for this month."""
        reformed = self.reform_start is not None and self.model.month >= self.reform_start
        return self.approval_after if reformed else self.approval_before

    def reward_cities(self, cities: list[CityGovernment], recorder, month: int) -> None:
        """December: the pool goes to the cities whose share of transformed firms (all sizes: the
        indicator ``share_transformed``) rose most since last December (2013: since January); from the
        programme's start."""
        if not self.rewards_enabled or self.reward_pool <= 0 or month < self.fund_start:
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
        budget: this year's money for robot purchase subsidies (and vouchers if the cities pay them)
        start: month from which the city subsidises robots (the programme's start)
        rate, cap_per_robot: this month's robot purchase subsidy rule (see ``rule``)
        reward_next: reward won, added to next year's budget
        cloud_target: firms to move onto the cloud this year; cloud_done: moved so far this year
    """

    def __init__(self, model: mesa.Model, params: Params, city: int, name: str, output_share: float,
                 firm_share: float):
        super().__init__(model)
        c = params.cities
        self.city, self.name = city, name
        self.enabled = c.purchase_enabled
        self.budget = Budget(c.budget_total * output_share, expected_share=c.expected_share_2013)
        t = model.tables
        own = c.use_city_rules and np.isfinite(t.city_robot_rate[city])
        self.start = instrument_start(params)
        self.end = month_index(c.purchase_end)
        self.default_rule = (c.purchase_rate, c.cap_per_robot)
        self.own_rule = (float(t.city_robot_rate[city]), float(t.city_robot_cap[city])) if own else None
        self.own_from = instrument_start(params, t.city_robot_rule_from[city]) if own else None
        self.cloud_target_year = params["cloud.target_per_year"] * firm_share
        self.reward_next = 0.0
        self.cloud_target = 0.0
        self.cloud_done = 0.0

    def rule(self, month: int) -> tuple[float, float]:
        """(rate, cap per robot) of the city's robot purchase subsidy in ``month`` (0 if it has none, or
        before the programme's start or after cities.purchase_end)."""
        if not self.enabled or month < self.start or month > self.end:
            return 0.0, 0.0
        if self.own_rule is not None and month >= self.own_from:
            return self.own_rule
        return self.default_rule

    def step(self) -> None:
        """January: this year's budget (with last year's reward) and cloud target."""
        self.budget.paid_this_month = 0.0
        if self.model.month % 12 == 0:
            self.budget.new_year(self.reward_next)
            self.reward_next = 0.0
            self.cloud_done = 0.0
            self.cloud_target = self.cloud_target_year if self.model.cloud.action_on(self.model.month) else 0.0

    def behind_target(self) -> bool:
        """Whether migrations this year lag the target to date (the city then pushes)."""
        to_date = self.cloud_target * (self.model.month % 12 + 1) / 12
        return self.cloud_target > 0 and self.cloud_done < to_date

    @property
    def paid_total(self) -> float:
        return self.budget.paid_total

    @property
    def budget_total(self) -> float:
        return self.budget.released_total
