"""Banks: a conventional lender that rations credit, and the leasing partner's three models.

docs/ODD.md, submodel "Banks and leasing".

The bank approves a loan with a logistic probability in log(collateral / (loan + what the firm
already owes)), the profit margin and log(employees), minus a tightening that grows with the past
year's default rate; it lends at most ``loan_to_collateral`` x collateral less what the firm owes,
collateral being ``collateral_to_value_added`` x value added; the rate is the base rate plus a
spread that falls with the approval probability.

The leasing partner (Zheshang Bank with equipment makers and service providers, seed 000 Table 1)
offers, each from its start date:
  financing funds       the lessor buys the equipment (its collateral); down payment; the firm
                        bears the risk that the gain falls short;
  financing materials   the equipment maker supplies on lease; smaller down payment; the maker
                        carries part of a shortfall (payments fall by (1 - risk share) x shortfall);
  financing engineering the service provider delivers the project and is paid from the savings:
                        no down payment, payments fall with any shortfall, approved only if the
                        expected savings cover the payments.
"""

from __future__ import annotations

import mesa
import numpy as np

from ...params import Params, month_index
from ..econ import annuity_payment, logistic
from ..firms import LEASE_ENGINEERING, LEASE_FUNDS, LEASE_MATERIALS


class Bank(mesa.Agent):
    """The conventional lender (one agent for the banking system).

    Attributes:
        loans_outstanding: yuan lent and not yet repaid or written off (= firms' debt)
        lent_total, repaid_total, written_off_total, interest_total: yuan since the start
        tightening: current fall of the approval index after defaults
    """

    def __init__(self, model: mesa.Model, params: Params):
        super().__init__(model)
        self.p = params.bank
        self.enabled = self.p.loans_enabled
        self.loans_outstanding = 0.0
        self.lent_total = self.repaid_total = self.written_off_total = self.interest_total = 0.0
        self.tightening = 0.0
        self._defaults = np.zeros(12)  # real firms defaulting on a loan, last 12 months
        self._borrowers = np.zeros(12)  # real firms with a loan, last 12 months

    def step(self) -> None:
        """Lending standards follow the past year's default rate among borrowers."""
        rate = self._defaults.sum() / max(self._borrowers.mean(), 1.0)
        self.tightening = self.p.tightening_per_default_rate * rate

    def record_month(self, defaults: float, borrowers: float) -> None:
        self._defaults = np.roll(self._defaults, 1)
        self._borrowers = np.roll(self._borrowers, 1)
        self._defaults[0], self._borrowers[0] = defaults, borrowers

    def collateral(self, value_added: np.ndarray) -> np.ndarray:
        return self.p.collateral_to_value_added * np.maximum(value_added, 0.0)

    def approval_probability(self, loan, collateral, margin, employees) -> np.ndarray:
        p = self.p
        z = (p.approval_intercept + p.approval_collateral * np.log(np.maximum(collateral, 1.0) / np.maximum(loan, 1.0))
             + p.approval_profit * margin + p.approval_size * np.log(np.maximum(employees, 1.0)) - self.tightening)
        return logistic(z)

    def apply(self, want: np.ndarray, value_added, margin, employees, owed, paying, income,
              draws) -> tuple[np.ndarray, np.ndarray]:
        """Decide applications for ``want`` yuan by firms already owing ``owed`` (loans and leases) and
        paying ``paying`` yuan/yr on them, with ``income`` yuan/yr (profit + the project's expected
        benefit): (loan granted in yuan, 0 if refused; annual rate). Existing debts take collateral
        first; the yearly payments must be covered ``min_coverage`` times by the income."""
        if not self.enabled or want.size == 0:
            return np.zeros(want.size), np.zeros(want.size)
        col = self.collateral(value_added)
        prob = self.approval_probability(want + owed, col, margin, employees)
        room = np.maximum(self.p.loan_to_collateral * col - owed, 0.0)
        rate = self.p.base_rate + self.p.max_spread * (1.0 - prob)
        loan = np.minimum(want, room)
        covered = income >= self.p.min_coverage * (paying + 12.0 * annuity_payment(loan, rate, self.p.loan_years))
        granted = np.where((draws < prob) & covered, loan, 0.0)
        return granted, rate


class LeasingPartner(mesa.Agent):
    """The leasing partner offering the three models of seed 000 Table 1."""

    MODELS = (LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING)

    def __init__(self, model: mesa.Model, params: Params):
        super().__init__(model)
        lp = params.leasing
        self.p = lp
        self.min_coverage = params["bank.min_coverage"]
        self.start = {LEASE_FUNDS: month_index(lp.funds_start), LEASE_MATERIALS: month_index(lp.materials_start),
                      LEASE_ENGINEERING: month_index(lp.engineering_start)}
        self.enabled = {LEASE_FUNDS: lp.funds_enabled, LEASE_MATERIALS: lp.materials_enabled,
                        LEASE_ENGINEERING: lp.engineering_enabled}
        self.down = {LEASE_FUNDS: lp.funds_down_payment, LEASE_MATERIALS: lp.materials_down_payment,
                     LEASE_ENGINEERING: 0.0}
        self.rate = {LEASE_FUNDS: lp.funds_rate, LEASE_MATERIALS: lp.materials_rate,
                     LEASE_ENGINEERING: lp.engineering_rate}
        self.risk_share = {LEASE_FUNDS: 1.0, LEASE_MATERIALS: lp.materials_risk_share, LEASE_ENGINEERING: 0.0}
        self.volume_left = 0.0
        self.financed_total = self.repaid_total = self.written_off_total = self.shortfall_total = 0.0
        self.interest_total = 0.0

    def step(self) -> None:
        """The year's financing volume is released in January."""
        if self.model.month % 12 == 0:
            self.volume_left = self.p.volume_per_year

    def offered(self) -> list[int]:
        """Models available this month, in the order firms try them."""
        t = self.model.month
        return [m for m in self.MODELS if self.enabled[m] and t >= self.start[m]]

    def approve(self, model_id: int, need, cash, margin, benefit, profit, paying,
                excluded) -> tuple[np.ndarray, np.ndarray]:
        """(approved, leased yuan) for firms needing ``need`` yuan up front under ``model_id``.

        The firm pays the down payment from cash; the partner finances the rest if the firm is not
        excluded, its margin is at least ``min_margin`` and its yearly payments (``paying`` already,
        plus this lease) are covered ``min_coverage`` times by profit + the expected benefit, or
        (financing engineering, paid from the savings) by the expected benefit alone. Approvals stop
        when the year's volume is used (see finance.arrange).
        """
        down = self.down[model_id] * need
        leased = need - down
        pay = paying + 12.0 * annuity_payment(leased, self.rate[model_id], self.p.lease_years)
        income = benefit if model_id == LEASE_ENGINEERING else np.maximum(profit, 0.0) + benefit
        ok = (cash >= down) & ~excluded & (margin >= self.p.min_margin) & (income >= self.min_coverage * pay)
        return ok, np.where(ok, leased, 0.0)
