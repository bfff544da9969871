"""Finding the money for a project, and servicing it (docs/ODD.md submodel "Finance").

Firms try their own cash, then a bank loan for the rest (rationed), then a lease (the models on
offer, in the order financing funds, financing materials, financing engineering). Whatever finance
is found, a project may be scaled down to it, but not below ``decision.min_finance_fraction`` of
its full size: below that the firm gives up. Loans and leases are annuities; interest is a cost in
profit, principal is paid from cash. A firm with loans or leases whose cash falls below minus
``bank.default_months`` months of value added defaults: its lenders write off what it owes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .econ import annuity_payment
from .firms import CASH, LEASE_ENGINEERING, LEASE_FUNDS, LEASE_MATERIALS, LOAN, Firms
from .institutions.bank import Bank, LeasingPartner

LEASE_FLOWS = {LEASE_FUNDS: "leases_funds", LEASE_MATERIALS: "leases_materials",
               LEASE_ENGINEERING: "leases_engineering"}


def scale_to_funds(need: np.ndarray, funds: np.ndarray, min_fraction: float) -> np.ndarray:
    """Share of each project that ``funds`` (yuan) can pay for: 1, a part >= min_fraction, or 0."""
    share = np.minimum(np.maximum(funds, 0.0) / np.maximum(need, 1e-9), 1.0)
    return np.where(share >= min_fraction, share, 0.0)


@dataclass
class Finance:
    """How each adopter pays (arrays aligned with the adopters)."""

    scale: np.ndarray  # share of the project carried out (0 = gave up)
    route: np.ndarray  # CASH, LOAN or a lease model
    borrowed: np.ndarray  # yuan lent or leased (for the scaled project)
    rate: np.ndarray  # annual rate of the loan or lease
    applied: np.ndarray  # bool: asked the bank
    refused: np.ndarray  # bool: the bank said no


def arrange(firms: Firms, idx: np.ndarray, need: np.ndarray, benefit: np.ndarray, month: int, bank: Bank,
            leasing: LeasingPartner, draws: np.ndarray, min_fraction: float) -> Finance:
    """Finance for adopters ``idx`` needing ``need`` yuan up front (expected benefit in yuan/yr)."""
    n = idx.size
    cash = np.maximum(firms.cash[idx], 0.0)
    paying = 12.0 * (firms.debt_payment[idx] + firms.lease_payment[idx])  # yuan/yr already due
    profit = firms.profit[idx]
    excluded = firms.excluded_until[idx] > month
    route = np.full(n, CASH, np.int8)
    borrowed, rate = np.zeros(n), np.zeros(n)
    done = cash >= need

    # a bank loan for what cash does not cover
    applied = ~done & ~excluded & bank.enabled
    loan = np.zeros(n)
    a = np.flatnonzero(applied)
    if a.size:
        i = idx[a]
        loan[a], rate[a] = bank.apply(need[a] - cash[a], firms.value_added[i], firms.margin[i], firms.employed[i],
                                      firms.debt[i] + firms.lease_liability[i], paying[a],
                                      np.maximum(profit[a], 0.0) + benefit[a], draws[a])
    refused = applied & (loan <= 0)
    by_loan = ~done & (cash + loan >= need - 1e-6)
    route[by_loan], borrowed[by_loan] = LOAN, (need - cash)[by_loan]
    done |= by_loan

    # a lease for the whole project when cash and loan fall short
    w = firms.weight[idx]
    for m in leasing.offered():
        left = np.flatnonzero(~done)
        if left.size == 0 or leasing.volume_left <= 0:
            break
        ok, leased = leasing.approve(m, need[left], cash[left], firms.margin[idx[left]], benefit[left],
                                     profit[left], paying[left], excluded[left])
        within = np.cumsum(leased * w[left]) <= leasing.volume_left  # the year's volume, in queue order
        ok &= within
        take = left[ok]
        leasing.volume_left -= float((leased[ok] * w[left][ok]).sum())
        route[take], borrowed[take], rate[take] = m, leased[ok], leasing.rate[m]
        done[take] = True

    # otherwise scale the project down to cash and any loan granted
    scale = np.where(done, 1.0, scale_to_funds(need, cash + loan, min_fraction))
    partial = ~done & (scale > 0) & (loan > 0)
    route[partial], borrowed[partial] = LOAN, loan[partial]
    return Finance(scale, route, borrowed, rate, applied, refused)


def guaranteed(firms: Firms, idx: np.ndarray, need: np.ndarray, bank: Bank, min_fraction: float) -> Finance:
    """Finance of pilot firms (chosen by the government): own cash, the rest as a bank loan whatever the
    bank's rationing would say (if loans exist); scaled down only if there is no bank."""
    n = idx.size
    cash = np.maximum(firms.cash[idx], 0.0)
    loan = np.maximum(need - cash, 0.0) if bank.enabled else np.zeros(n)
    scale = scale_to_funds(need, cash + loan, min_fraction)
    route = np.where(loan > 0, LOAN, CASH).astype(np.int8)
    return Finance(scale, route, loan * scale, np.full(n, bank.p.base_rate), loan > 0, np.zeros(n, bool))


def disburse(firms: Firms, idx: np.ndarray, bank: Bank, leasing: LeasingPartner) -> None:
    """Implementation starts: loans and leases of firms ``idx`` are paid out and begin to run."""
    route, amount, rate = firms.proj_route[idx], firms.proj_borrowed[idx], firms.proj_rate[idx]
    w = firms.weight[idx]
    loan = (route == LOAN) & (amount > 0)
    if loan.any():
        i = idx[loan]
        firms.debt[i] += amount[loan]
        # a new loan is merged with any older one: blended rate, a fresh term on the whole balance
        firms.debt_rate[i] = np.where(firms.debt[i] > 0, (firms.debt_rate[i] * (firms.debt[i] - amount[loan])
                                                         + rate[loan] * amount[loan]) / firms.debt[i], rate[loan])
        firms.debt_payment[i] = annuity_payment(firms.debt[i], firms.debt_rate[i], bank.p.loan_years)
        bank.loans_outstanding += float((amount[loan] * w[loan]).sum())
        bank.lent_total += float((amount[loan] * w[loan]).sum())
    lease = (route >= LEASE_FUNDS) & (amount > 0)
    if lease.any():
        i = idx[lease]
        firms.lease_liability[i] += amount[lease]
        firms.lease_rate[i] = rate[lease]
        firms.lease_model[i] = route[lease]
        firms.lease_payment[i] = annuity_payment(firms.lease_liability[i], rate[lease], leasing.p.lease_years)
        leasing.financed_total += float((amount[lease] * w[lease]).sum())


def share_shortfall(firms: Firms, idx: np.ndarray, ratio: np.ndarray, leasing: LeasingPartner) -> None:
    """On completion, lessors carrying gain risk cut the payments of leases whose gain fell short."""
    leased = idx[(firms.lease_model[idx] >= LEASE_FUNDS) & (firms.lease_liability[idx] > 0)]
    if leased.size == 0:
        return
    r = ratio[np.isin(idx, leased)]
    share = np.array([leasing.risk_share.get(int(m), 1.0) for m in firms.lease_model[leased]])
    cut = 1.0 - (1.0 - share) * np.clip(1.0 - r, 0.0, 1.0)
    leasing.shortfall_total += float((firms.lease_liability[leased] * (1 - cut) * firms.weight[leased]).sum())
    firms.lease_liability[leased] *= cut
    firms.lease_payment[leased] *= cut


def service(firms: Firms, bank: Bank, leasing: LeasingPartner) -> np.ndarray:
    """A month of loan and lease payments: interest into profit, principal out of cash.

    Returns the firms that owe anything (for the default check).
    """
    idx = np.flatnonzero((firms.debt > 0) | (firms.lease_liability > 0))
    if idx.size == 0:
        return idx
    w = firms.weight[idx]
    for balance, payment, rate, lender in ((firms.debt, firms.debt_payment, firms.debt_rate, bank),
                                           (firms.lease_liability, firms.lease_payment, firms.lease_rate, leasing)):
        b = balance[idx]
        interest = b * rate[idx] / 12.0
        principal = np.clip(payment[idx] - interest, 0.0, b)
        balance[idx] = np.where(b - principal > 1e-6, b - principal, 0.0)
        paid_off = balance[idx] == 0
        principal = np.where(paid_off, b, principal)
        payment[idx[paid_off]] = 0.0
        firms.profit[idx] -= 12.0 * interest  # yuan/yr rate, like profit
        firms.cash[idx] -= principal
        lender.interest_total += float((interest * w).sum())
        lender.repaid_total += float((principal * w).sum())
        if lender is bank:
            bank.loans_outstanding -= float((principal * w).sum())
    firms.margin[idx] = np.clip(firms.profit[idx] / np.maximum(firms.value_added[idx], 1.0), -1.0, 1.0)  # float32
    return idx


def defaults(firms: Firms, owing: np.ndarray, month: int, bank: Bank, leasing: LeasingPartner) -> np.ndarray:
    """Firms ``owing`` whose cash fell too far default: lenders write off, the firm is excluded."""
    if owing.size == 0:
        return owing
    limit = -bank.p.default_months * firms.value_added[owing] / 12.0
    d = owing[firms.cash[owing] < limit]
    if d.size:
        w = firms.weight[d]
        bank.written_off_total += float((firms.debt[d] * w).sum())
        bank.loans_outstanding -= float((firms.debt[d] * w).sum())
        leasing.written_off_total += float((firms.lease_liability[d] * w).sum())
        for arr in (firms.debt, firms.debt_payment, firms.lease_liability, firms.lease_payment):
            arr[d] = 0.0
        firms.excluded_until[d] = month + bank.p.exclusion_months  # it carries on, without credit
    return d
