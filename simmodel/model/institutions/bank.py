"""Banks: a conventional lender that rations credit, and the leasing partner's three models.

docs/ODD.md, submodel "Banks and leasing".

The bank approves a loan with a logistic probability in log(collateral / (loan + what the firm
already owes)), the profit margin and log(employees), minus a tightening that grows with the past
year's default rate; it lends at most ``loan_to_collateral`` x collateral less what the firm owes,
collateral being ``collateral_to_value_added`` x value added; the rate is the base rate plus a
spread that falls with the approval probability.

The leasing partner (Zheshang Bank with equipment makers and service providers, seed 000 Table 1)
offers, each from its start date (moved with programme.start, params.instrument_start; the bank's
ordinary lending is not part of the programme and is not moved):
  financing funds       the lessor buys the equipment (its collateral); down payment; the firm
                        bears the risk that the gain falls short;
  financing materials   the equipment maker supplies on lease; smaller down payment; the maker
                        carries part of a shortfall (payments fall by (1 - risk share) x shortfall);
  financing engineering the service provider delivers the project and is paid from the savings:
                        no down payment, payments fall with any shortfall, approved only if the
                        expected savings cover the payments.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import mesa
import numpy as np
from numba import njit

from ...params import Params, instrument_start
from ..econ import elementwise, fmax, fmin, like, logistic_of, payment_of
from ..firms import LEASE_ENGINEERING, LEASE_FUNDS, LEASE_MATERIALS


class LoanTerms(NamedTuple):
    """The bank's rules' numbers this month, for the compiled rules below."""

    intercept: float
    collateral: float  # approval_collateral
    profit: float  # approval_profit
    size: float  # approval_size
    tightening: float
    collateral_to_value_added: float
    loan_to_collateral: float
    base_rate: float
    max_spread: float
    min_coverage: float
    years: int


@njit(cache=True, nogil=True, error_model="numpy")
def approval_of(loan, collateral, margin, employees, t):
    """The bank's approval probability for one firm (Bank, LoanTerms ``t``): logistic in log(collateral / loan),
    the margin (in its own precision: float32 in the firm arrays) and log(employees), less the tightening."""
    z = (t.intercept + t.collateral * math.log(fmax(collateral, 1.0) / fmax(loan, 1.0)) + like(t.profit, margin) * margin
         + t.size * math.log(fmax(employees, 1.0)) - t.tightening)
    return logistic_of(z)


@njit(cache=True, nogil=True, error_model="numpy")
def loan_of(want, value_added, margin, employees, owed, paying, income, t):
    """(approval probability, annual rate, loan) of one firm (Bank.terms)."""
    col = t.collateral_to_value_added * fmax(value_added, 0.0)
    room = fmax(t.loan_to_collateral * col - owed, 0.0)
    loan = fmin(want, room)
    prob = approval_of(loan + owed, col, margin, employees, t)
    rate = t.base_rate + t.max_spread * (1.0 - prob)
    covered = income >= t.min_coverage * (paying + 12.0 * payment_of(loan, rate, t.years))
    return prob, rate, loan if covered else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _approval_kernel(loan, collateral, margin, employees, t, out):
    for i in range(out.size):
        out[i] = approval_of(loan[i], collateral[i], margin[i], employees[i], t)


@njit(cache=True, nogil=True, error_model="numpy")
def _terms_kernel(want, value_added, margin, employees, owed, paying, income, t, prob, rate, loan):
    for i in range(want.size):
        prob[i], rate[i], loan[i] = loan_of(want[i], value_added[i], margin[i], employees[i], owed[i], paying[i],
                                            income[i], t)


class LeaseTerms(NamedTuple):
    """One lease model's numbers this month (LeasingPartner), for the compiled rules below."""

    base_rate: float  # the lessors' cost of funds + margin
    recovery: float
    risk_share: float
    down_payment: float
    paid_from_savings: bool  # financing engineering: the savings alone must cover the payments
    min_margin: float
    min_coverage: float
    years: int


@njit(cache=True, nogil=True, error_model="numpy")
def lease_rate_of(pd, shortfall, t):
    """The yearly rate of a lease (LeasingPartner.rate) for one firm."""
    return t.base_rate + pd * (1.0 - t.recovery) + (1.0 - t.risk_share) * shortfall / t.years


@njit(cache=True, nogil=True, error_model="numpy")
def lease_approval_of(need, cash, margin, benefit, profit, paying, excluded, rate, t):
    """(approved, leased yuan) of one firm needing ``need`` yuan up front under the lease model of ``t``.

    The firm pays the down payment from cash; the lessor finances the rest if the firm is not excluded, its
    margin is at least ``min_margin`` and its yearly payments (``paying`` already, plus this lease) are covered
    ``min_coverage`` times by profit + the expected benefit, or (financing engineering, paid from the savings) by
    the expected benefit alone. The model's limit is checked when leases are signed (finance.arrange)."""
    down = t.down_payment * need
    leased = need - down
    pay = paying + 12.0 * payment_of(leased, rate, t.years)
    income = benefit if t.paid_from_savings else fmax(profit, 0.0) + benefit
    ok = cash >= down and not excluded and margin >= like(t.min_margin, margin) and income >= t.min_coverage * pay
    return ok, leased if ok else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _lease_rate_kernel(pd, shortfall, t, out):
    for i in range(out.size):
        out[i] = lease_rate_of(pd[i], shortfall[i], t)


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
        self._defaults = np.zeros(12)  # real firms whose loan the bank wrote off (defaults to it), last 12 months
        self._borrowers = np.zeros(12)  # real firms with a loan, last 12 months
        self._written_off = 0.0  # real firms whose loan it has written off this month

    def step(self) -> None:
        """Lending standards follow the past year's default rate among borrowers."""
        rate = self._defaults.sum() / max(self._borrowers.mean(), 1.0)
        self.tightening = self.p.tightening_per_default_rate * rate

    def wrote_off(self, real_firms: float) -> None:
        """Real firms whose loan the bank writes off this month (finance.write_off: their cash fell too far, or
        they closed): defaults to the bank. Firms that owed only a lease default to their lessor, not to it."""
        self._written_off += real_firms

    def record_month(self, borrowers: float) -> None:
        """Closes the month: its defaults (wrote_off) and its ``borrowers`` (real firms with a loan) enter the
        year's window."""
        self._defaults[1:] = self._defaults[:-1]  # a month older (numpy copies overlapping slices safely)
        self._borrowers[1:] = self._borrowers[:-1]
        self._defaults[0], self._borrowers[0] = self._written_off, borrowers
        self._written_off = 0.0

    def loan_terms(self) -> LoanTerms:
        p = self.p
        return LoanTerms(p.approval_intercept, p.approval_collateral, p.approval_profit, p.approval_size,
                         float(self.tightening), p.collateral_to_value_added, p.loan_to_collateral, p.base_rate,
                         p.max_spread, p.min_coverage, int(p.loan_years))

    def approval_probability(self, loan, collateral, margin, employees) -> np.ndarray:
        """:func:`approval_of` of each firm."""
        return elementwise(_approval_kernel, loan, collateral, margin, employees, extra=(self.loan_terms(),))

    def terms(self, want: np.ndarray, value_added, margin, employees, owed, paying,
              income) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(approval probability, annual rate, loan) for firms wanting ``want`` yuan, already owing ``owed``
        (loans and leases) and paying ``paying`` yuan/yr on them, with ``income`` yuan/yr (profit + the
        project's expected benefit). The loan is at most what the firm's collateral allows (existing
        debts take collateral first), and 0 unless its yearly payments, old and new, are covered
        ``min_coverage`` times by the income (:func:`loan_of`, firm by firm; arrays of one length)."""
        n = np.asarray(want).size
        prob, rate, loan = np.empty(n), np.empty(n), np.empty(n)
        _terms_kernel(want, value_added, margin, employees, owed, paying, income, self.loan_terms(), prob, rate, loan)
        return prob, rate, loan


class LeasingPartner(mesa.Agent):
    """The leasing partners of the three models of seed 000 section 3.3.2 (Zheshang Bank with equipment
    makers and service providers), each with its own terms, books and limit.

    A model's rate prices its expected loss: the lessors' cost of funds + margin + the firm's default
    probability x the share lost on default (1 - recovery of the equipment it owns) + the expected
    shortfall relief it grants, (1 - firm's risk share) x E[clip(1 - R, 0, 1)] over the lease term, R
    the project's gain ratio as the sector's public evidence shows it. Limits: 'financing funds' and
    'financing materials' have yearly volumes; 'financing engineering' is carried by the providers'
    balance sheet (liabilities at most leverage x equity; losses and margin income go to the equity).

    Books per model (yuan since the start): financed, repaid, interest, shortfall (relief granted),
    recovered (equipment taken back on default), written_off; financed = outstanding + repaid +
    shortfall + recovered + written off.
    """

    MODELS = (LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING)

    def __init__(self, model: mesa.Model, params: Params):
        super().__init__(model)
        lp = params.leasing
        self.p = lp
        self.min_coverage = params["bank.min_coverage"]
        self.start = {m: instrument_start(params, f"leasing.{name}_start")
                      for m, name in ((LEASE_FUNDS, "funds"), (LEASE_MATERIALS, "materials"),
                                      (LEASE_ENGINEERING, "engineering"))}
        self.enabled = {LEASE_FUNDS: lp.funds_enabled, LEASE_MATERIALS: lp.materials_enabled,
                        LEASE_ENGINEERING: lp.engineering_enabled}
        self.down = {LEASE_FUNDS: lp.funds_down_payment, LEASE_MATERIALS: lp.materials_down_payment,
                     LEASE_ENGINEERING: 0.0}
        self.risk_share = {LEASE_FUNDS: 1.0, LEASE_MATERIALS: lp.materials_risk_share, LEASE_ENGINEERING: 0.0}
        self.recovery = {LEASE_FUNDS: lp.funds_recovery, LEASE_MATERIALS: lp.materials_recovery,
                         LEASE_ENGINEERING: lp.engineering_recovery}
        self.volume = {LEASE_FUNDS: lp.funds_volume, LEASE_MATERIALS: lp.materials_volume}
        self.volume_left = {m: 0.0 for m in self.MODELS}
        self.capital = lp.engineering_capital  # the engineering lessors' equity
        self.engineering_income = 0.0  # their interest beyond the cost of funds, since the start
        self.books = {m: dict.fromkeys(("financed", "repaid", "interest", "shortfall", "recovered", "written_off",
                                        "outstanding"), 0.0) for m in self.MODELS}

    def step(self) -> None:
        """January: the year's volumes. Each month the engineering lessors' equity earns their margin
        on what they carry."""
        if self.model.month % 12 == 0:
            for m, v in self.volume.items():
                self.volume_left[m] = v
        self.volume_left[LEASE_ENGINEERING] = max(self.p.engineering_leverage * self.capital
                                                  - self.books[LEASE_ENGINEERING]["outstanding"], 0.0)

    def offered(self) -> list[int]:
        """Models available this month."""
        t = self.model.month
        return [m for m in self.MODELS if self.enabled[m] and t >= self.start[m]]

    def lease_terms(self, model_id: int) -> LeaseTerms:
        lp = self.p
        return LeaseTerms(lp.funding_rate + lp.margin, self.recovery[model_id], self.risk_share[model_id],
                          self.down[model_id], model_id == LEASE_ENGINEERING, lp.min_margin, self.min_coverage,
                          int(lp.lease_years))

    def rate(self, model_id: int, pd: np.ndarray, shortfall: np.ndarray) -> np.ndarray:
        """The yearly rate of a lease under ``model_id`` for firms with yearly default probability ``pd``
        and expected shortfall E[clip(1 - R, 0, 1)] ``shortfall`` (:func:`lease_rate_of`)."""
        return elementwise(_lease_rate_kernel, pd, shortfall, extra=(self.lease_terms(model_id),))

    def book(self, model_id: int, entry: str, amount: float) -> None:
        """Record ``amount`` yuan (real firms) under ``entry`` for ``model_id``; the engineering lessors'
        equity takes their losses."""
        b = self.books[model_id]
        b[entry] += amount
        if entry == "financed":
            b["outstanding"] += amount
        elif entry in ("repaid", "shortfall", "recovered", "written_off"):
            b["outstanding"] -= amount
        if model_id == LEASE_ENGINEERING and entry in ("shortfall", "written_off"):
            self.capital -= amount

    def book_interest(self, model_id: int, interest: float, balance: float) -> None:
        """A month's interest (yuan) on ``balance`` (yuan): the engineering lessors keep what exceeds
        their cost of funds."""
        self.books[model_id]["interest"] += interest
        if model_id == LEASE_ENGINEERING:
            margin = interest - balance * self.p.funding_rate / 12.0
            self.capital += margin
            self.engineering_income += margin

    def total(self, entry: str) -> float:
        return sum(b[entry] for b in self.books.values())

    @property
    def financed_total(self) -> float:
        return self.total("financed")

    @property
    def repaid_total(self) -> float:
        return self.total("repaid")

    @property
    def written_off_total(self) -> float:
        return self.total("written_off")

    @property
    def shortfall_total(self) -> float:
        return self.total("shortfall")

    @property
    def recovered_total(self) -> float:
        return self.total("recovered")

    @property
    def interest_total(self) -> float:
        return self.total("interest")
