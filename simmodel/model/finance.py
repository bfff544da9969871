"""Finance (docs/ODD.md 3.4.7): the plans a firm short of cash can choose from, how it pays, and how
loans and leases are serviced, shared and defaulted on.

A firm whose own cash covers a project's net cost pays cash. One short of cash values each plan it
qualifies for (decision.py compares them by NPV):
  bank loan      the rest as a loan, at most what its collateral allows (the project is then scaled down
                 to its cash and the loan, if that is at least min_finance_fraction of it), approved with
                 the bank's probability (its credit rationing); if refused, it falls back on its next plan;
  a lease        each model on offer (institutions/bank.py): a down payment from cash, the rest
                 leased at a rate that prices the firm's default risk and the shortfall the lessor
                 carries; a lessor carrying part of the shortfall takes that part of the firm's risk;
  scaled         the project scaled down to its cash, if that is at least min_finance_fraction of it.
A plan's cost to the firm is the cash it puts in plus the present value, at the firm's own rate, of
the payments it commits to. Leases are signed within each model's limit, in a seeded random order
among the month's applicants. Loans and leases are annuities; interest is a cost in profit,
principal is paid from cash. A firm whose cash falls below minus ``bank.default_months`` months of
value added defaults: the bank writes its loans off; a lessor that owns the equipment takes it back
(recovering its share, the firm losing the leased part of the project's gain) and writes off the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from . import libm
from .allocation import random_order
from .econ import array_sum, elementwise, fmax, fmin, payment_of, payments_pv_of, shortfall_of
from .firms import CASH, IMPLEMENTING, LEASE_ENGINEERING, LEASE_FUNDS, LEASE_MATERIALS, LOAN, Firms
from .institutions.bank import Bank, LeasingPartner, approval_of, lease_approval_of, lease_rate_of, loan_of

# the flow recording a firm's finance route when its project goes ahead (cash: none), and each route's position
# among them (-1: cash), for Recorder.add_binned_flow
ROUTE_FLOWS = {LOAN: "loans_issued", LEASE_FUNDS: "leases_funds", LEASE_MATERIALS: "leases_materials",
               LEASE_ENGINEERING: "leases_engineering"}
ROUTE_BIN = np.full(max(ROUTE_FLOWS) + 1, -1, np.int64)
ROUTE_BIN[list(ROUTE_FLOWS)] = np.arange(len(ROUTE_FLOWS))
LEASES = (LEASE_FUNDS, LEASE_MATERIALS, LEASE_ENGINEERING)
SCALED, NO_FINANCE = 5, 6  # plans besides the routes of firms.py
PLANS = ("cash", "loan", "lease_funds", "lease_materials", "lease_engineering", "scaled", "none")


@njit(cache=True, nogil=True, error_model="numpy")
def scale_of(need, funds, min_fraction):
    """Share of a project needing ``need`` yuan that ``funds`` can pay for: 1, a part >= min_fraction, or 0."""
    share = fmin(fmax(funds, 0.0) / fmax(need, 1e-9), 1.0)
    return share if share >= min_fraction else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _scale_kernel(need, funds, min_fraction, out):
    for i in range(out.size):
        out[i] = scale_of(need[i], funds[i], min_fraction)


def scale_to_funds(need: np.ndarray, funds: np.ndarray, min_fraction: float) -> np.ndarray:
    """:func:`scale_of` of each project."""
    return elementwise(_scale_kernel, need, funds, extra=(float(min_fraction),))


@dataclass
class Quote:
    """The finance each firm could get for a project needing ``need`` yuan up front (arrays)."""

    need: np.ndarray
    cash: np.ndarray  # own cash it can use (>= 0)
    short: np.ndarray  # bool: cash does not cover the need
    p_bank: np.ndarray  # probability the bank approves the loan (0 if it cannot apply)
    bank_rate: np.ndarray
    bank_loan: np.ndarray  # yuan lent (for the project scaled to bank_scale)
    bank_scale: np.ndarray  # share of the project cash and the loan pay for
    bank_cost: np.ndarray  # yuan: cash + PV of the loan's payments
    lease_ok: np.ndarray  # (n, 3) bool: the lessor would sign (limits aside)
    lease_rate: np.ndarray  # (n, 3)
    lease_amount: np.ndarray  # (n, 3) yuan leased
    lease_cost: np.ndarray  # (n, 3) yuan: down payment + PV of the lease payments
    lease_cover: np.ndarray  # (n, 3) share of the project's shortfall risk the lessor carries
    scale: np.ndarray  # share of the project its cash alone pays for (0 if below min_fraction)

    def subset(self, k: np.ndarray) -> Quote:
        return Quote(*[a[k] for a in vars(self).values()])  # the fields, in order


def quote(firms: Firms, idx: np.ndarray, need: np.ndarray, benefit: np.ndarray, month: int, bank: Bank,
          leasing: LeasingPartner, sector_mean: np.ndarray, gain_sd: float, own_rate: float,
          min_fraction: float) -> Quote:
    """What firms ``idx`` could get for their projects (``need``: yuan up front, ``benefit``: expected
    yuan/yr); ``sector_mean``: the gain ratio the public evidence of each firm's cell shows (lessors
    price the shortfall with it). Firm by firm in one compiled pass (:func:`_quote_kernel`)."""
    n = idx.size
    offered = set(leasing.offered())
    rows, leases = np.empty((7, n)), np.empty((4, n, len(LEASES)))  # the quote's arrays: rows of two blocks
    q = Quote(need, rows[0], np.empty(n, np.bool_), rows[1], rows[2], rows[3], rows[4], rows[5],
              np.empty((n, len(LEASES)), np.bool_), leases[0], leases[1], leases[2], leases[3], rows[6])
    f = firms
    _quote_kernel(idx, need, benefit, f.cash, f.debt_payment, f.lease_payment, f.profit, f.excluded_until, month,
                  f.value_added, f.margin, f.employed, f.debt, f.lease_liability, sector_mean, float(gain_sd),
                  float(own_rate), float(min_fraction), bank.loan_terms(), bool(bank.enabled), float(leasing.p.pd_max),
                  tuple(leasing.lease_terms(m) for m in LEASES), np.array([m in offered for m in LEASES]), q.cash,
                  q.short, q.p_bank, q.bank_rate, q.bank_loan, q.bank_scale, q.bank_cost, q.lease_ok, q.lease_rate,
                  q.lease_amount, q.lease_cost, q.lease_cover, q.scale)
    return q


@njit(cache=True, nogil=True, error_model="numpy")
def _quote_kernel(idx, need, benefit, cash_all, debt_payment, lease_payment, profit_all, excluded_until, month,
                  value_added, margin_all, employed, debt, lease_liability, sector_mean, gain_sd, own_rate, min_fraction,
                  loan_terms, bank_enabled, pd_max, lease_terms, offered, cash, short, p_bank, bank_rate, bank_loan,
                  bank_scale, bank_cost, lease_ok, lease_rate, lease_amount, lease_cost, lease_cover, scale):
    """quote, firm by firm, into the Quote's arrays: the bank's terms (bank.loan_of), the lessors' credit score
    (bank.approval_of for the whole need), each lease model's rate and approval (bank.lease_rate_of,
    bank.lease_approval_of; ``lease_terms`` and ``offered`` by model) and the project scaled to the cash."""
    for k in range(idx.size):
        i = idx[k]
        c = fmax(cash_all[i], 0.0)
        cash[k] = c
        short[k] = c < need[k]
        paying = 12.0 * (debt_payment[i] + lease_payment[i])
        profit, margin, va, emp = profit_all[i], margin_all[i], value_added[i], employed[i]
        excluded = excluded_until[i] > month
        owed = debt[i] + lease_liability[i]
        prob, rate, loan = loan_of(fmax(need[k] - c, 0.0), va, margin, emp, owed, paying,
                                   fmax(profit, 0.0) + benefit[k], loan_terms)
        bank_scale[k] = scale_of(need[k], c + loan, min_fraction)
        can_bank = short[k] and not excluded and loan > 0 and bank_scale[k] > 0 and bank_enabled
        p_bank[k] = prob if can_bank else 0.0
        bank_loan[k] = loan if can_bank else 0.0
        bank_rate[k] = rate
        bank_cost[k] = fmin(c, need[k]) + bank_loan[k] * payments_pv_of(rate, loan_terms.years, own_rate)
        score = approval_of(need[k], loan_terms.collateral_to_value_added * fmax(va, 0.0), margin, emp, loan_terms)
        pd = pd_max * (1.0 - score)  # the lessors' credit score
        shortfall = shortfall_of(sector_mean[k], gain_sd * fmax(sector_mean[k], 0.0))
        for j in range(len(lease_terms)):
            t = lease_terms[j]
            lease_rate[k, j] = lease_rate_of(pd, shortfall, t)
            ok, leased = False, 0.0
            if offered[j]:
                ok, leased = lease_approval_of(need[k], c, margin, benefit[k], profit, paying, excluded,
                                               lease_rate[k, j], t)
            lease_ok[k, j] = ok and short[k]
            lease_amount[k, j] = leased
            lease_cost[k, j] = (need[k] - leased) + leased * payments_pv_of(lease_rate[k, j], t.years, own_rate)
            lease_cover[k, j] = (1.0 - t.risk_share) * leased / fmax(need[k], 1e-9)
        scale[k] = scale_of(need[k], c, min_fraction) if short[k] else 1.0


@dataclass
class Finance:
    """How each adopter pays (arrays aligned with the adopters)."""

    scale: np.ndarray  # share of the project carried out (0 = gave up)
    route: np.ndarray  # CASH, LOAN or a lease model
    borrowed: np.ndarray  # yuan lent or leased (for the scaled project)
    rate: np.ndarray  # annual rate of the loan or lease
    applied: np.ndarray  # bool: asked the bank
    refused: np.ndarray  # bool: the bank said no


def arrange(firms: Firms, idx: np.ndarray, plan: np.ndarray, q: Quote, month: int, leasing: LeasingPartner,
            draws: np.ndarray, at: np.ndarray | None = None) -> Finance:
    """Adopters ``idx`` take up their plans: the bank decides (``draws``), leases are signed within each
    model's limit in a seeded random order; a firm the bank refuses, or whose lease does not fit the
    limit, falls back on its best remaining lease, then on scaling down to its cash, else gives up.
    ``at``: where each adopter's quote is in ``q`` (default: q holds theirs, in order)."""
    n = idx.size
    route, borrowed, rate, scale = np.empty(n, np.int8), np.empty(n), np.empty(n), np.empty(n)
    applied, refused = np.empty(n, np.bool_), np.empty(n, np.bool_)
    volume = np.array([leasing.volume_left[m] for m in LEASES])
    _arrange_kernel(np.asarray(plan, np.int64), draws, np.arange(n) if at is None else at, q.p_bank, q.bank_loan,
                    q.bank_rate, q.bank_scale, q.lease_ok, q.lease_cost, q.lease_amount, q.lease_rate, q.scale,
                    firms.weight[idx], random_order(firms.key[idx], "lease signing", month), np.array(LEASES, np.int8),
                    volume, route, borrowed, rate, scale, applied, refused)
    for j, m in enumerate(LEASES):
        leasing.volume_left[m] = float(volume[j])
    return Finance(scale, route, borrowed, rate, applied, refused)


@njit(cache=True, nogil=True)
def _arrange_kernel(plan, draws, at, p_bank, bank_loan, bank_rate, bank_scale, lease_ok, lease_cost, lease_amount,
                    lease_rate, q_scale, weight, order, models, volume, route, borrowed, rate, scale, applied, refused):
    """arrange in one pass, then the signing rounds (_sign_leases), then the scaled rest; firm i's quote is at
    ``at[i]``. The bank decides each applicant by its draw; a firm refused or planning a lease waits for one, its
    preferences the lease models by cost (the planned one first, those it does not qualify for at +inf; numpy's
    stable argsort: ties in model order, a NaN last)."""
    n, k = plan.size, models.size
    waiting, done = np.empty(n, np.bool_), np.empty(n, np.bool_)
    pref = np.empty((n, k), np.int64)
    cost = np.empty(k)
    for i in range(n):
        qi = at[i]  # where its quote is
        applied[i] = plan[i] == LOAN
        refused[i] = applied[i] and draws[i] >= p_bank[qi]
        lent = applied[i] and not refused[i]
        route[i] = LOAN if lent else CASH
        borrowed[i] = bank_loan[qi] if lent else 0.0
        rate[i] = bank_rate[qi] if lent else 0.0
        scale[i] = bank_scale[qi] if lent else 1.0
        is_lease = LEASE_FUNDS <= plan[i] <= LEASE_ENGINEERING  # the lease plans' codes are consecutive
        waiting[i] = is_lease or refused[i]
        done[i] = plan[i] == CASH or lent
        for j in range(k):
            cost[j] = lease_cost[qi, j] if lease_ok[qi, j] else np.inf
            pref[i, j] = j
        if is_lease:
            cost[plan[i] - LEASE_FUNDS] = -np.inf
        for j in range(1, k):  # insertion sort: stable
            c, m = cost[pref[i, j]], pref[i, j]
            a = j
            while a > 0 and (c < cost[pref[i, a - 1]] or (c == c and cost[pref[i, a - 1]] != cost[pref[i, a - 1]])):
                pref[i, a] = pref[i, a - 1]
                a -= 1
            pref[i, a] = m
    _sign_leases(order, at, pref, lease_ok, lease_amount, lease_rate, weight, models, volume, waiting, route, borrowed,
                 rate, done)
    for i in range(n):
        if not done[i]:
            scale[i] = q_scale[at[i]]


@njit(cache=True, nogil=True)
def _sign_leases(order, at, pref, lease_ok, amount, lease_rate, weight, models, volume, waiting, route, borrowed,
                 rate, done):
    """The signing rounds of arrange, in place: in round r each waiting firm asks for its r-th preferred lease
    model (``pref``), the firms in the signing ``order``; a model signs them while the running total of the
    real firms' leased yuan (numpy's cumsum, in order) is within its ``volume`` left, and none after the first
    that does not fit; its volume then falls by their sum (numpy's pairwise sum: econ.array_sum). Firm i's
    quote is at ``at[i]``."""
    signed = np.empty(order.size)
    for r in range(pref.shape[1]):
        if not waiting.any():
            break
        for j in range(models.size):
            total, n, full = 0.0, 0, False
            for i in order:
                if full or not (waiting[i] and pref[i, r] == j and lease_ok[at[i], j]):
                    continue
                yuan = amount[at[i], j] * weight[i]
                total += yuan
                if not total <= volume[j]:
                    full = True  # the running total only grows: no later firm fits
                    continue
                signed[n] = yuan
                n += 1
                route[i], borrowed[i], rate[i] = models[j], amount[at[i], j], lease_rate[at[i], j]
                done[i], waiting[i] = True, False
            volume[j] -= array_sum(signed[:n])


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
    """Implementation starts: loans and leases of firms ``idx`` are paid out and begin to run, firm by firm in one
    compiled pass (_disburse_kernel); the lenders' books are kept here, entry by entry in the same order."""
    k = len(LEASES)
    financed, moved = np.zeros(k), np.zeros((k, k))
    has_lease, has_moved = np.zeros(k, np.bool_), np.zeros((k, k), np.bool_)
    lent, lending = _disburse_kernel(idx, firms.proj_route, firms.proj_borrowed, firms.proj_rate, firms.weight,
                                     firms.debt, firms.debt_rate, firms.debt_payment, int(bank.p.loan_years),
                                     firms.lease_liability, firms.lease_rate, firms.lease_model, firms.lease_payment,
                                     int(leasing.p.lease_years), np.array(LEASES, np.int64), financed, has_lease,
                                     moved, has_moved)
    if lending:
        bank.loans_outstanding += lent
        bank.lent_total += lent
    for a, m in enumerate(LEASES):
        if not has_lease[a]:
            continue
        for b, prev in enumerate(LEASES):  # older leases of other models, refinanced by the new lessor
            if has_moved[a, b]:
                leasing.book(prev, "repaid", float(moved[a, b]))
                leasing.book(m, "financed", float(moved[a, b]))
        leasing.book(m, "financed", float(financed[a]))


@njit(cache=True, nogil=True, error_model="numpy")
def _disburse_kernel(idx, route, borrowed, proj_rate, weight, debt, debt_rate, debt_payment, loan_years,
                     liability, lease_rate, lease_model, lease_payment, lease_years, leases, financed, has_lease,
                     moved, has_moved):
    """The loans (route LOAN) and leases (each of ``leases``) of firms ``idx`` with something borrowed begin.
    A new loan is merged with any older one: blended rate, a fresh term on the whole balance. A firm carries one
    lease at a time: an older one of another model is refinanced by the new lessor (``moved[a, b]``: yuan,
    real firms, moved from model b to model a). Returns the yuan lent by the bank and whether it lent; each
    lease model's new financing in ``financed``; totals are numpy's pairwise sums of the firms' amounts in order."""
    n = idx.size
    buf = np.empty(n)
    k = 0
    for j in range(n):
        i = idx[j]
        a = borrowed[i]
        if route[i] == LOAN and a > 0:
            d = debt[i] + a
            debt[i] = d
            debt_rate[i] = (debt_rate[i] * (d - a) + proj_rate[i] * a) / d if d > 0 else proj_rate[i]
            debt_payment[i] = payment_of(d, debt_rate[i], loan_years)
            buf[k] = a * weight[i]
            k += 1
    lent = array_sum(buf[:k])
    for m in range(leases.size):
        mine = np.empty(n, np.int64)
        c = 0
        for j in range(n):
            if route[idx[j]] == leases[m] and borrowed[idx[j]] > 0:
                mine[c] = idx[j]
                c += 1
        if c == 0:
            continue
        mine = mine[:c]
        has_lease[m] = True
        for p in range(leases.size):  # the older leases, before the new one is booked
            q = 0
            for i in mine:
                if liability[i] > 0 and lease_model[i] != leases[m] and lease_model[i] == leases[p]:
                    buf[q] = liability[i] * weight[i]
                    q += 1
            if q > 0:
                moved[m, p] = array_sum(buf[:q])
                has_moved[m, p] = True
        for q in range(c):
            i = mine[q]
            liability[i] += borrowed[i]
            lease_rate[i] = proj_rate[i]
            lease_model[i] = leases[m]
            lease_payment[i] = payment_of(liability[i], proj_rate[i], lease_years)
            buf[q] = borrowed[i] * weight[i]
        financed[m] = array_sum(buf[:c])
    return lent, k > 0


def share_shortfall(firms: Firms, idx: np.ndarray, ratio: np.ndarray, gain_log: np.ndarray,
                    leasing: LeasingPartner) -> None:
    """On completion, lessors carrying gain risk cut the payments of leases whose gain fell short; the
    leased share of the project's gain is what a lessor owning the equipment would take back. Firm by firm in
    one compiled pass (:func:`_shortfall_kernel`), the lessors' relief summed by lease model as numpy sums."""
    share = np.array([leasing.risk_share[m] for m in LEASES])  # by lease code - LEASE_FUNDS (consecutive codes)
    relief = np.zeros((len(LEASES), 1))
    if _shortfall_kernel(idx, ratio, gain_log, share, firms.lease_model, firms.lease_liability, firms.lease_payment,
                         firms.lease_gain, firms.proj_capex, firms.proj_fee, firms.proj_borrowed, firms.weight,
                         np.array(LEASES, np.int8), relief):
        for m, (yuan,) in zip(LEASES, relief.tolist()):
            leasing.book(m, "shortfall", yuan)


@njit(inline="always", error_model="numpy")
def leased_share(borrowed, capex, fee):
    """The share of a project its lease financed (within [0, 1]): what a lessor that owns the equipment would take
    back of it."""
    return fmin(fmax(borrowed / fmax(capex + fee, 1e-9), 0.0), 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _shortfall_kernel(idx, ratio, gain_log, share, lease_model, lease_liability, lease_payment, lease_gain, capex, fee,
                      borrowed, weight, models, relief):
    """share_shortfall of the completed projects ``idx`` (their evidence ratios and log gains): each leased firm's
    payments cut by 1 - (1 - its lessor's risk share) x the gain's shortfall clipped to [0, 1], its lease gain
    raised by the financed share of the project's log gain; ``relief``: the liabilities forgiven x weight, summed
    by lease model (_sums_by_model). Numpy's operations in numpy's order; returns whether any firm leased."""
    n = 0
    held, w, forgiven = np.empty(idx.size, lease_model.dtype), np.empty(idx.size), np.empty(idx.size)
    for j in range(idx.size):
        i = idx[j]
        if not (lease_model[i] >= LEASE_FUNDS and lease_liability[i] > 0):
            continue
        cut = 1.0 - (1.0 - share[lease_model[i] - LEASE_FUNDS]) * fmin(fmax(1.0 - ratio[j], 0.0), 1.0)
        held[n], w[n], forgiven[n] = lease_model[i], weight[i], lease_liability[i] * (1 - cut)
        n += 1
        lease_liability[i] *= cut
        lease_payment[i] *= cut
        lease_gain[i] += leased_share(borrowed[i], capex[i], fee[i]) * gain_log[j]
    if n:
        relief[:] = _sums_by_model(held[:n], w[:n], (forgiven[:n],), models)[0]
    return n > 0


@njit(cache=True, nogil=True, error_model="numpy")
def _take_back(idx, model, implementing, phase, route, borrowed, capex, fee, scale):
    """Of firms ``idx``, those implementing a project leased from lease ``model`` lose its leased share: the
    project's scale and capital cost fall by :func:`leased_share` (its gain follows its scale)."""
    for i in idx:
        if phase[i] == implementing and route[i] == model:
            kept = 1.0 - leased_share(borrowed[i], capex[i], fee[i])
            scale[i] *= kept
            capex[i] *= kept


def owing(firms: Firms, among: np.ndarray | None = None) -> np.ndarray:
    """The firms of ``among`` (ascending; default: all) with a loan or a lease to pay off, in ascending order."""
    if among is None:
        return _owing_kernel(firms.debt, firms.lease_liability)
    return among[(firms.debt[among] > 0) | (firms.lease_liability[among] > 0)]


@njit(cache=True, nogil=True)
def _owing_kernel(debt, lease):
    """``((debt > 0) | (lease > 0)).nonzero()[0]`` in one pass over the firms, not four, and without a branch
    (0.20 against 0.25 ms at scale 0.2, where 6 % of the firms owe)."""
    idx = np.empty(debt.size, np.int64)
    n = 0
    for i in range(debt.size):
        idx[n] = i
        n += (debt[i] > 0) | (lease[i] > 0)
    return idx[:n].copy()


def service(firms: Firms, bank: Bank, leasing: LeasingPartner) -> np.ndarray:
    """A month of loan and lease payments: interest into profit, principal out of cash.

    Returns the firms that owed anything before it (for the default check).
    """
    idx = owing(firms)
    if idx.size == 0:
        return idx
    w = firms.weight[idx]
    balance, interest, principal = [np.empty(idx.size) for _ in range(3)]
    for debts, payment, rate, is_bank in ((firms.debt, firms.debt_payment, firms.debt_rate, True),
                                          (firms.lease_liability, firms.lease_payment, firms.lease_rate, False)):
        _pay_down(idx, debts, payment, rate, firms.profit, firms.cash, balance, interest, principal)
        if is_bank:
            bank.interest_total += float((interest * w).sum())
            repaid = float((principal * w).sum())
            bank.repaid_total += repaid
            bank.loans_outstanding -= repaid
        else:
            sums, count = _sums_by_model(firms.lease_model[idx], w, (interest, balance, principal),
                                         np.array(LEASES, np.int8))
            for m, (paid, on, repaid), n in zip(LEASES, sums.tolist(), count):
                if n:
                    leasing.book_interest(m, paid, on)
                    leasing.book(m, "repaid", repaid)
    _margin_of(idx, firms.profit, firms.value_added, firms.margin)
    return idx


@njit(cache=True, nogil=True)
def _sums_by_model(model, w, columns, models):
    """For each lease model m and each of ``columns`` x: (x[model == m] * w[model == m]).sum() as numpy sums it
    (econ.array_sum; 0.0 for a model no firm holds), and how many firms hold m."""
    out, count = np.zeros((models.size, len(columns))), np.zeros(models.size, np.int64)
    for j in range(models.size):
        k = np.nonzero(model == models[j])[0]
        count[j] = k.size
        if k.size:
            wk = w[k]
            for c in range(len(columns)):
                out[j, c] = array_sum(columns[c][k] * wk)
    return out, count


@njit(cache=True, nogil=True, error_model="numpy")
def _pay_down(idx, debts, payment, rate, profit, cash, balance, interest, principal):
    """A month's annuity payment on ``debts`` (a loan or a lease book) of firms ``idx``, in place, firm by firm;
    writes each firm's balance before it, interest and principal (for the books).

    Interest is balance x rate / 12; principal is the payment less interest, within [0, balance]; a balance
    left at 1e-6 yuan or less is paid off (principal = the whole balance, the payment stops). Interest is a
    cost in profit (a yuan/yr rate, so x 12), principal comes out of cash."""
    for j in range(idx.size):
        i = idx[j]
        b = debts[i]
        r = b * rate[i] / 12.0
        p = payment[i] - r
        p = fmin(fmax(p, 0.0), b)  # clamp
        left = b - p
        if not left > 1e-6:
            left = 0.0
        debts[i] = left
        if left == 0:
            p = b
            payment[i] = 0.0
        profit[i] -= 12.0 * r
        cash[i] -= p
        balance[j], interest[j], principal[j] = b, r, p


@njit(cache=True, nogil=True, error_model="numpy")
def _margin_of(idx, profit, value_added, margin):
    """Margins of firms ``idx`` after interest: profit / max(value added, 1) within [-1, 1], stored as float32."""
    for i in idx:
        margin[i] = fmin(fmax(profit[i] / fmax(value_added[i], 1.0), -1.0), 1.0)  # clamp, then float32


def defaults(firms: Firms, owing: np.ndarray, month: int, bank: Bank, leasing: LeasingPartner,
             labour_saving: np.ndarray) -> np.ndarray:
    """Firms ``owing`` whose cash fell too far default: the bank writes off, lessors that own the
    equipment take it back (the firm loses the leased part of its gain), the firm is excluded."""
    if owing.size == 0:
        return owing
    limit = -bank.p.default_months * firms.value_added[owing] / 12.0
    d = owing[firms.cash[owing] < limit]
    if d.size:
        write_off(firms, d, bank, leasing, labour_saving)
        firms.excluded_until[d] = month + bank.p.exclusion_months  # it carries on, without credit
    return d


def write_off(firms: Firms, d: np.ndarray, bank: Bank, leasing: LeasingPartner, labour_saving: np.ndarray) -> None:
    """Close the loans and leases of firms ``d`` (a default, or a firm that closes): the bank writes its
    loans off; each lessor recovers its share by taking back the equipment it owns and writes off the rest. The
    equipment taken back is that of completed projects (their leased gain, ``lease_gain``) and that of a project
    still being implemented on the lease: the project carries on at the firm's own share only."""
    w = firms.weight[d]
    bank.wrote_off(float(w[firms.debt[d] > 0].sum()))  # its lending standards count them as defaults
    bank.written_off_total += float((firms.debt[d] * w).sum())
    bank.loans_outstanding -= float((firms.debt[d] * w).sum())
    model = firms.lease_model[d]
    liability = firms.lease_liability[d] * w
    for m in LEASES:
        k = (model == m) & (firms.lease_liability[d] > 0)
        if not k.any():
            continue
        rec = leasing.recovery[m]
        leasing.book(m, "recovered", float(rec * liability[k].sum()))
        leasing.book(m, "written_off", float((1.0 - rec) * liability[k].sum()))
        if m in (LEASE_FUNDS, LEASE_MATERIALS):  # the lessor or the maker owns the equipment: it goes
            i = d[k]
            lam = labour_saving[firms.sector[i]]
            firms.productivity[i] *= libm.exp(-firms.lease_gain[i])
            firms.output[i] *= libm.exp(-(1.0 - lam) * firms.lease_gain[i])
            _take_back(i, m, IMPLEMENTING, firms.proj_phase, firms.proj_route, firms.proj_borrowed, firms.proj_capex,
                       firms.proj_fee, firms.proj_scale)
    for arr in (firms.debt, firms.debt_payment, firms.lease_liability, firms.lease_payment, firms.lease_gain):
        arr[d] = 0.0
    firms.lease_model[d] = 0
