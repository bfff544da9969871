"""Exact thinning of the monthly adoption draw (docs/ODD.md 3.1; the speed of the decision).

Most firms' monthly adoption probability is tiny, so the model first computes, for every firm, a
cheap upper bound of its logit index (:func:`upper_bound_index`, from per-firm terms cached for the
year by :func:`bound_terms`) and values projects exactly only for firms whose random draw falls
below the bound's probability. The bound is provable (see :func:`bound_terms`), so the firms that
adopt are exactly those a full valuation of every firm would give; tests check this
(tests/test_decision.py, tests/test_reference.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from . import decision
from .decision import DecisionContext


@dataclass(frozen=True)
class YearAhead:
    """What can move in a firm's favour before December, for the thinning bound (see bound_terms)."""

    productivity_factor: float  # largest growth of productivity before December
    needs_factor: float  # largest growth of labour needs (lowers the fixed cost per worker)
    full_low: float  # smallest, and
    full_high: float  # largest growth of E_max / N before December
    cost_per_worker: np.ndarray  # (n_sectors, 5) at December's (lowest) prices
    fee_share: np.ndarray  # (n_sectors,) lowest fee share a provider may charge before December
    subsidy_rate: np.ndarray  # (n_cities, n_sectors) largest share of capital cost the subsidies a firm expects can pay
    award_rate: np.ndarray  # (n_cities, n_sectors) the same without the robot purchase subsidy
    robot_subsidy: np.ndarray  # (n_cities,) largest purchase subsidy a firm may expect per robot, yuan
    ratio_cap: float  # gain ratio the terms hold up to (firms above it are always candidates)
    wage_annuity: float  # largest PV of a yuan of wages a year (either size class)
    finance_floor: float  # least cost of a finance plan per yuan of net cost (finance: loans and leases)
    kappa: float  # least net cost per yuan of a project's size (capital cost + fee) after subsidies
    min_fraction: float  # smallest share a project may be scaled down to


def bound_terms(rows, firms, ctx: DecisionContext, ya: YearAhead, out: tuple, fold: tuple = (1.0, 1.0),
                tables: tuple | None = None) -> None:
    """Per-firm terms (a, l, h, s) of the thinning bound of firms ``rows``, valid until December (given
    ya.ratio_cap), written at ``rows`` into ``out`` (four float32 arrays over the firms), a and l times ``fold``
    (Thinning.refresh) and every term nudged outwards by a relative 1e-6 for float32's rounding.

    For a gain g >= 0 the yearly benefit is at most (1 - tau) g q N + w N max(0, lambda g - gap),
    N the labour needs: value added rises by at most (1 - tau) g q N, q = (1 - lambda) p without a
    labour gap (Bernoulli's inequality on (1+g)^(1-lambda)) and q = p E / N with one (output is held
    to p E); wages fall by at most w N (lambda g - gap), since (1+g)^(-lambda) >= 1 - lambda g and a
    gap absorbs the first part of any saving. The net cost is at least N x capital cost per worker x
    phi + the fixed cost F - the robot purchase subsidy, phi = 1 + least fee - the fund's award share;
    the robot subsidy (machine substitution only, from stage 0) is at most sigma N g, sigma = the
    largest subsidy per robot x robots per worker saved x lambda, since the workers a gain saves are
    at most N lambda g. With g <= r G_k for option k and lambda r G_k - gap <= lambda G_k (r - gap /
    (lambda G_max)), dividing by N G_k:
        benefit / net cost <= (a r + l max(0, r - h)) / (1 - s r)   (while s r < 1),
        a = (1 - tau) q x P,  l = w lambda x P,  h = gap / (lambda G_max),  s = sigma x P,
        P = max over options of G_k / (c_k phi + F / N),
    with q, the gap, prices, fees and subsidies at their most favourable values before December.
    ``tables``: :func:`stage_tables` of ``ctx`` and ``ya``, if already computed.
    """
    n_next, c_next, g_skip, c_skip = tables if tables is not None else stage_tables(ctx, ya)
    f = firms
    _terms_kernel(rows, f.stage, f.sector, f.city, f.output, f.productivity, f.workforce_cap, f.wage,
                  ctx.nominal_gain.shape[0], n_next, c_next, g_skip, c_skip, ya.fee_share, ya.award_rate.ravel(),
                  ctx.labour_saving, ya.robot_subsidy, float(ctx.fixed_cost), float(ya.needs_factor),
                  float(ya.full_low), float(ya.full_high), float(ctx.other_cost_share), float(ya.productivity_factor),
                  float(ctx.robots_per_worker), bool(ctx.skip_allowed), float(fold[0]), float(fold[1]), *out)


@njit(cache=True, nogil=True, error_model="numpy")
def _terms_kernel(rows, stage, sector, city, output, productivity, workforce_cap, wage, n_sectors, n_next, c_next,
                  g_skip, c_skip, fee_share, award_rate, labour_saving, robot_subsidy, fixed_cost, needs_factor,
                  full_low, full_high, other_cost_share, productivity_factor, robots_per_worker, skip_allowed, fold_a,
                  fold_l, a, l, h, s):
    """bound_terms firm by firm, in one pass over ``rows`` (float64; the same operations in the same order as the
    formula), each term stored in float32 after its nudge."""
    for i in rows:
        sec, st = int(sector[i]), int(stage[i])
        k = sec * 5 + min(st, 3)  # stage-4 firms never decide: terms unused
        phi = 1.0 + fee_share[sec] - award_rate[int(city[i]) * n_sectors + sec]
        fixed = fixed_cost * productivity[i] / (output[i] * needs_factor)  # F / N at the year's largest needs
        per_cost = n_next[k] / (c_next[k] * phi + fixed)
        gain = n_next[k]
        if skip_allowed:
            per_cost = np.maximum(per_cost, g_skip[k] / (c_skip[k] * phi + fixed))
            gain = np.maximum(gain, g_skip[k])
        if not phi > 0:
            per_cost = 1e30  # subsidies above cost: no useful bound, value everyone (finite: 0 x it = 0)
        full = workforce_cap[i] * productivity[i] / output[i]
        hi = full * full_high
        lam = labour_saving[sec]
        q_over_p = 1.0 - lam if full * full_low >= 1.0 else np.minimum(hi, 1.0)
        ai = (1.0 - other_cost_share) * productivity_factor * productivity[i] * q_over_p * per_cost
        li = wage[i] * lam * per_cost
        hi = np.maximum(1.0 - hi, 0.0) / (lam * gain)  # the smallest gap in the year, in units of r
        if hi != hi:
            hi = np.inf  # no labour saving at all (lambda = 0)
        # robots, and their purchase subsidy, come only with machine substitution, the climb from stage 0
        si = (robot_subsidy[int(city[i])] * robots_per_worker * lam if st == 0 else 0.0) * per_cost
        # float32 rounds down as often as up: nudged outwards so the bound stays above
        a[i] = (ai * fold_a) * (1 + 1e-6)
        l[i] = (li * fold_l) * (1 + 1e-6)
        h[i] = hi * (1 - 1e-6)
        s[i] = si * (1 + 1e-6)


def stage_tables(ctx: DecisionContext, ya: YearAhead):
    """Per (sector, stage) flattened: the next stage's gain and cost, and those of skipping one."""
    n_s = ctx.nominal_gain.shape[0]
    n_next, c_next = np.zeros((n_s, 5)), np.ones((n_s, 5))
    g_skip, c_skip = np.zeros((n_s, 5)), np.ones((n_s, 5))
    for s in range(4):
        n1, c1 = ctx.nominal_gain[:, s + 1], ya.cost_per_worker[:, s + 1]
        n_next[:, s], c_next[:, s] = n1, c1
        if s <= 2:
            n2, c2 = ctx.nominal_gain[:, s + 2], ya.cost_per_worker[:, s + 2]
            g_skip[:, s] = n1 + n2 + ya.ratio_cap * n1 * n2  # (1 + r n1)(1 + r n2) - 1 <= r x this
            c_skip[:, s] = (c1 + c2) * (1.0 + ctx.skip_premium)
    return n_next.ravel(), c_next.ravel(), g_skip.ravel(), c_skip.ravel()


def upper_bound_index(const, combo, ratio, a, l, h, s, exposure, margin, skill_term, ctx: DecisionContext,
                      scaled: bool, floor: float = 1.0, min_fraction: float = 1.0, kappa: float = 1.0) -> np.ndarray:
    """Upper bound of the logit index (float32) from the cached terms and this month's data.

    ``a``, ``l``, ``h``, ``s`` come from :func:`bound_terms` (float32; ``scaled``: a times beta_value x the
    annuity and l times beta_value x the largest wage annuity, for the NPV measure, so that
    x = a r + l max(0, r - h) bounds beta_value x PV / K); ``const`` from :func:`index_constant`;
    ``skill_term`` is beta_skill x staff quality. Rounding in float32 is far below the margin the
    caller adds.

    NPV measure: v = (NPV - W) / G, G = capital cost + fee >= K = G - subsidies >= kappa G. Every finance
    plan costs at least finance_floor x K (cash K; a loan or lease at least the present value of
    payments at the cheapest rate any lender offers), and a project scaled down to a share
    s >= min_fraction has PV <= s X K, X the bound of PV / K; so v <= (K / G)(X - finance_floor), and
    v <= s (K / G)(X - 1) scaled. The bank plan is worth the loan's NPV with the bank's approval
    probability and its fallback's otherwise, the fallback being at least giving up (0): however
    negative the loan's NPV, a small enough probability leaves the plan's near 0 (decision.best_plan).
    Whence v <= max(X - floor, kappa (X - floor), min_fraction kappa (X - 1), 0) before waiting; the value
    of waiting only lowers v. With the trigger (ctx.trigger) a firm whose bound of v is not
    positive cannot adopt: its bound is -inf.
    """
    z = np.empty(ratio.size, np.float32)
    f32 = np.float32
    _index_kernel(ratio, a, l, h, s, const, combo, exposure, margin, skill_term, bool(scaled), bool(ctx.trigger),
                  f32(ctx.beta_value), f32(floor), f32(kappa), f32(min_fraction), *_waiting_terms(ctx, kappa),
                  f32(ctx.target_payback), f32(ctx.beta_exposure), f32(ctx.beta_profit), z)
    return z


def _waiting_terms(ctx: DecisionContext, kappa: float) -> tuple:
    """From a bound z of beta_value x NPV / G (any finance plan) to one of beta_value x v, v = (NPV - W) / G.

    Waiting is worth at least investing a year later for sure (Jensen: E[max(X, 0)] >= max(E X, 0)), so
    W >= max(NPV + delta K, 0) / (1 + r) (decision.value_of_waiting: prices a fraction delta lower, the
    same benefits a year later), and NPV - W is increasing in NPV and (delta >= 0) decreasing in the net
    cost K >= kappa G: beta v <= z - max(z + beta delta kappa, 0) / (1 + r). Where waiting is worth more
    than investing this is (r z - beta delta kappa) / (1 + r): the value of waiting is what makes most
    firms' bound loose when it is left out. Infinite bounds stay infinite."""
    dk = ctx.beta_value * ctx.price_decline * (kappa if ctx.price_decline >= 0 else 1.0)
    r = ctx.rate
    return (ctx.beta_value > 0, np.float32(-dk), np.float32(dk), np.float32(r), np.float32(1.0 / (1.0 + r)))


@njit(cache=True, nogil=True, error_model="numpy")
def _index_kernel(ratio, a, l, h, s, const, combo, exposure, margin, skill_term, scaled, trigger, beta, floor, kappa,
                  min_fraction, waiting, minus_dk, dk, rate, discount, target_payback, beta_exposure, beta_profit, z):
    """upper_bound_index firm by firm: float32 throughout, the same operations in the same order. The (cell, stage)
    constant is looked up in a loop of its own: a lookup in the arithmetic's loop keeps LLVM from vectorising it
    (3.5 times slower at 135,000 firms, docs/performance.md)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(ratio.size):
        z[i] = const[combo[i]]
    for i in range(ratio.size):
        r = ratio[i]
        x = r * a[i] + np.maximum(r - h[i], zero) * l[i]
        d = one - s[i] * r  # the robot subsidy's share of the cost bound (stage-0 firms)
        x = x / d if d > np.float32(1e-3) else np.float32(np.inf)  # the subsidy may reach the cost: value the firm
        if scaled:
            v = x - beta * floor
            v = np.maximum(v, kappa * v)
            v = np.maximum(v, min_fraction * kappa * (x - beta))
            v = np.maximum(v, zero)  # the bank plan: the loan with the bank's probability, else giving up (0)
            if waiting and v > minus_dk:  # less the value of waiting (_waiting_terms)
                v = (v * rate - dk) * discount
        else:
            v = np.maximum(one - one / (target_payback * x), np.float32(-5.0)) * beta
        # z bounds beta_value x v: v <= 0 means no adoption at all (below a margin far above float32 rounding
        # of x, so a bound rounded down never drops a firm)
        if trigger and beta > 0 and v < np.float32(-1e-4) * (one + np.abs(x)):
            v = np.float32(-np.inf)
        z[i] = v + z[i] + beta_exposure * exposure[i] + beta_profit * margin[i] + skill_term[i]


def index_constant(ctx: DecisionContext, scaled: bool) -> np.ndarray:
    """Per (cell, stage), flattened (float32): the part of the logit index a cell's firms at a stage share.

    intercept + beta_peer x peer share."""
    const = np.full((ctx.peer_share.shape[0], 5), -np.inf)
    const[:, :4] = ctx.intercept + ctx.beta_peer * ctx.peer_share[:, 1:5]
    return const.ravel().astype(np.float32)



class Thinning:
    """The cached bound terms of a model's firms and the monthly candidate filter.

    Attributes:
        enabled: thin the draw (tests switch it off to compare whole runs)
        bound: cached (a, l, h, s) per firm, float32, valid until December given ``year.ratio_cap``
        year: the YearAhead the terms were computed for (None before the first decision)
        ctx: the DecisionContext the terms were computed with
    """

    def __init__(self, model, enabled: bool = True):
        f, d = model.firms, model.params.decision
        self.model, self.enabled = model, enabled
        self.scaled = d.value_measure == "npv"  # beta_value x annuity folded into the cached terms
        self.skill_term = (d.beta_skill * f.staff_quality).astype(np.float32)
        self.bound = tuple(np.zeros(f.n, np.float32) for _ in range(4))
        self.year: YearAhead | None = None
        self.ctx: DecisionContext | None = None
        self._tables: tuple = (None, None, None, None)  # (year, nominal gains, skip premium, their stage_tables)

    def year_ahead(self, ratio_cap: float) -> YearAhead:
        """Favourable bounds on what may change before December (for the cached terms)."""
        m = self.model
        t, e = m.month, m.params.economy
        left = 11 - t % 12  # decisions later this year see up to this many more months of growth
        demand = m.demand_growth[m.tables.year_row(2013 + t // 12)]
        g_p = (1 + e.productivity_trend) ** (left / 12)
        g_n = ((1 + demand) / (1 + e.productivity_trend)) ** (left / 12)
        g_full = ((1 + e.labour_supply_growth) * (1 + e.productivity_trend) / (1 + demand)) ** (left / 12)
        december = (1.0 - e.robot_price_decline) ** ((t + left) / 12)
        most = m.subsidies.terms(expected=False)
        p = m.params
        # robots per yuan of capital cost, at most: rpw x lambda x the largest gain (stage 1, or skipping
        # to 2, at the ratio cap) per yuan of stage 1's cost per worker at December's prices
        g = m.nominal_gain
        gain = ratio_cap * (g[:, 1] + g[:, 2] + ratio_cap * g[:, 1] * g[:, 2])
        robots_per_capex = (p["technology.robots_per_worker_saved"] * m.tables.sector_labour_saving * gain
                            / np.maximum(m.base_cost[:, 1] * december, 1e-9))
        from .econ import payments_pv_of

        rate = p["economy.discount_rate"]
        floor = min(1.0, payments_pv_of(p["bank.base_rate"], p["bank.loan_years"], rate),
                    payments_pv_of(p["leasing.funding_rate"] + p["leasing.margin"], p["leasing.lease_years"], rate))
        return YearAhead(
            productivity_factor=max(1.0, g_p), needs_factor=max(1.0, g_n),
            full_low=min(1.0, g_full), full_high=max(1.0, g_full),
            cost_per_worker=m.base_cost * december, fee_share=m.providers.lowest_fee_share(),
            subsidy_rate=most.largest_rate(robots_per_capex), ratio_cap=ratio_cap,
            award_rate=most.largest_rate(np.zeros_like(robots_per_capex)), robot_subsidy=most.robot_subsidy,
            wage_annuity=float(m.adoption.wage_annuity().max()), finance_floor=floor,
            kappa=max(1.0 - float(most.largest_rate(robots_per_capex).max()), 1e-3),
            min_fraction=p["decision.min_finance_fraction"],
        )

    def new_firms(self, idx: np.ndarray) -> None:
        """Entrants took slots ``idx``: their fixed terms, then their cached bound terms."""
        beta = self.model.params["decision.beta_skill"]
        self.skill_term[idx] = (beta * self.model.firms.staff_quality[idx]).astype(np.float32)
        self.refresh(idx)

    def refresh(self, idx) -> None:
        """Recompute the cached terms of firms ``idx`` (all firms: slice(None)), e.g. after completions."""
        if self.year is None or self.ctx is None:
            return
        f, ctx = self.model.firms, self.ctx
        # the tables read only the year's terms and the context's fixed nominal gains and skip premium: a year's
        # refreshes share them
        key = (self.year, ctx.nominal_gain, ctx.skip_premium)
        if any(a is not b for a, b in zip(key, self._tables)):
            self._tables = (*key, stage_tables(ctx, self.year))
        rows = np.arange(f.n) if isinstance(idx, slice) else idx
        # the NPV measure folds beta_value x the annuities into a and l
        fold = (ctx.beta_value * ctx.annuity, ctx.beta_value * self.year.wage_annuity) if self.scaled else (1.0, 1.0)
        bound_terms(rows, f, ctx, self.year, self.bound, fold, self._tables[3])

    def candidates(self, u: np.ndarray, eligible: np.ndarray, ratio: np.ndarray, ctx: DecisionContext) -> np.ndarray:
        """The eligible firms whose draw ``u`` falls below the bound of their adoption probability.

        ``ratio`` bounds the gain ratio each firm can plan with (beliefs.ratio_bound: its mean
        expectation, which is at least its certainty equivalent and what a lessor carrying all of its
        shortfall risk lifts it to), so the certainty equivalent itself is computed only for the
        candidates."""
        if not self.enabled:
            return eligible
        month = self.model.month
        self.ctx = ctx
        over = eligible & (ratio > self.year.ratio_cap) if self.year is not None else eligible
        if (self.year is None or month % 12 == 0 or np.count_nonzero(over) > 0.01 * max(np.count_nonzero(eligible), 1)
                or self.subsidies_rose()):
            self.year = self.year_ahead(self.choose_cap(ratio, eligible))
            self.refresh(slice(None))
            over = eligible & (ratio > self.year.ratio_cap)
        z_max = self.index(ratio, ctx)
        z_max += np.float32(1e-3)  # margin for float32 rounding
        with np.errstate(over="ignore"):
            # exp(z) >= logistic(z). numpy's exp, not libm's: its rounding is covered by the margin, and which firms
            # are candidates does not change what any firm decides (exact), only which are valued
            return eligible & ((u < np.exp(z_max)) | over)

    def second_stage(self, u: np.ndarray, idx: np.ndarray, x, proj, ctx: DecisionContext) -> np.ndarray:
        """Positions among the first stage's candidates ``idx`` (their inputs ``x``, best projects ``proj``
        and draws ``u``) whose draw falls below a tighter bound, decision.value_bound: their project valued
        exactly, their finance bounded without a quote (exact: a firm it drops cannot adopt this month)."""
        if not self.enabled or ctx.value_measure != "npv" or self.year is None:
            return np.arange(u.size)
        return decision.below_value_bound(u, self.model.firms.cash[idx], proj, x, ctx, self.year.finance_floor,
                                          self.year.min_fraction)

    def subsidies_rose(self) -> bool:
        """Whether a subsidy line now pays more than the cached terms assumed: a line that starts in the
        course of a year (a programme starting after January, a city's own rule) would otherwise leave
        the bound below some firms' probability until January."""
        most = self.model.subsidies.terms(expected=False)
        return bool((most.robot_subsidy > self.year.robot_subsidy).any()
                    or most.award_rate > self.year.award_rate.max())

    @staticmethod
    def choose_cap(ratio: np.ndarray, eligible: np.ndarray) -> float:
        """The gain ratio the year's terms are valid up to: a quarter above the 99.9th percentile of the
        eligible firms' bounds. The few firms above it are always candidates (valued exactly), so a
        handful of very optimistic firms do not loosen the bound of everyone else (the gain of skipping
        a stage grows with the ratio: ya.ratio_cap in bound_terms)."""
        r = ratio[eligible]
        if r.size == 0:
            return 1e-9
        return max(1.25 * float(np.quantile(r, 0.999)), 1e-9)

    def index(self, ratio: np.ndarray, ctx: DecisionContext) -> np.ndarray:
        """The upper bound of every firm's logit index this month (float32)."""
        f, y = self.model.firms, self.year
        return upper_bound_index(index_constant(ctx, self.scaled), f.combo, np.asarray(ratio, np.float32), *self.bound,
                                 f.exposure, f.margin, self.skill_term, ctx, self.scaled, y.finance_floor,
                                 y.min_fraction, y.kappa)


__all__ = ["Thinning", "YearAhead", "bound_terms", "stage_tables", "upper_bound_index", "index_constant"]
