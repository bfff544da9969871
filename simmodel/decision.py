"""The firm's investment decision (MODEL.md section 5; docs/ODD.md submodel "Investment decision").

A firm without a running project considers the next stage, or skipping one at extra cost:
  capital cost  = cost per worker x labour needs x equipment price index (x (1 + premium) if skipping)
  net cost      = capital cost + provider fee - purchase subsidy - post-project subsidy (if the
                  fund has money)
  expected gain = (belief mean - risk aversion x belief sd) x nominal gain of each stage climbed
  benefit       = the change in yearly operating profit that gain brings (labour saved, and more
                  value added where a labour gap held output back)
  value         = NPV / net cost over the horizon, or 1 - payback / target payback
  P(adopt this month) = logistic(intercept + b_value value + b_peer peer share + b_exposure exposure
                                 + b_profit margin + b_skill staff quality)
Everything here is a pure function of arrays, so the per-firm reference can be checked against it.

Speed (exact thinning): most firms' monthly adoption probability is tiny, so the model first
computes, for every firm, a cheap upper bound of its logit index (:func:`upper_bound_index`,
from per-firm terms cached for the year by :func:`bound_terms`) and values projects exactly only
for firms whose random draw falls below the bound's probability. The bound is provable (see
:func:`bound_terms`), so the firms that adopt are exactly those a full valuation of every firm
would give; tests check this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .firms import annual_profit


@dataclass(frozen=True)
class DecisionContext:
    """What firms know when they decide this month (arrays by sector unless said otherwise)."""

    wage: float  # yuan/worker/yr, all units (firms' own wages are arrays)
    cost_per_worker: np.ndarray  # (n_sectors, 5) yuan/worker at this month's prices, column 0 = 0
    nominal_gain: np.ndarray  # (n_sectors, 5) nominal gain of reaching each stage
    labour_saving: np.ndarray  # (n_sectors,) lambda
    fee_share: np.ndarray  # (n_sectors,) expected provider fee share
    fixed_cost: float  # yuan per project
    subsidy_rate: np.ndarray  # (n_cities,) purchase subsidy rate x equipment share (0 if none)
    subsidy_cap: float  # yuan per project
    post_rate: float  # post-project subsidy rate (0 if none)
    peer_share: np.ndarray  # (n_cells, 6) share of the cell's firms at stage >= k (k = 0..5)
    other_cost_share: float
    annuity: float  # present value of 1 yuan a year over the horizon
    value_measure: str  # "npv" | "payback"
    target_payback: float  # years
    risk_aversion: float
    skip_allowed: bool
    skip_premium: float
    intercept: float
    beta_value: float
    beta_peer: float
    beta_exposure: float
    beta_profit: float
    beta_skill: float


@dataclass
class Options:
    """The chosen option of each deciding firm (arrays aligned with the firm indices)."""

    target: np.ndarray  # stage aimed at
    capex: np.ndarray  # yuan
    fee: np.ndarray  # yuan (expected)
    subsidy: np.ndarray  # expected purchase subsidy, yuan
    net_cost: np.ndarray  # yuan
    benefit: np.ndarray  # yuan/yr
    value: np.ndarray  # NPV / net cost, or payback margin
    prob: np.ndarray  # probability of adopting this month


@dataclass
class FirmInputs:
    """The per-firm arrays a valuation needs (one entry per deciding firm)."""

    needs: np.ndarray  # workers
    output: np.ndarray  # yuan/yr
    productivity: np.ndarray  # yuan/worker/yr
    workforce_cap: np.ndarray  # workers
    wage: np.ndarray  # yuan/worker/yr
    labour_saving: np.ndarray  # lambda of the firm's sector
    fee_share: np.ndarray  # expected provider fee share in the firm's sector
    subsidy_rate: np.ndarray  # purchase subsidy rate x equipment share in the firm's city
    profit_now: np.ndarray  # operating profit now, yuan/yr

    def subset(self, idx: np.ndarray) -> FirmInputs:
        return FirmInputs(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def value_option(cost_per_worker: np.ndarray, gain: np.ndarray, x: FirmInputs, ctx: DecisionContext):
    """(capex, fee, subsidy, net cost, benefit, value) of a project costing ``cost_per_worker`` per
    worker needed and promising productivity ``gain``."""
    capex = cost_per_worker * x.needs
    fee = x.fee_share * capex + ctx.fixed_cost
    subsidy = np.minimum(x.subsidy_rate * capex, ctx.subsidy_cap)
    net_cost = np.maximum(capex + fee - subsidy - ctx.post_rate * capex, 1.0)
    after = annual_profit(x.output * np.exp((1.0 - x.labour_saving) * np.log1p(gain)),
                          x.productivity * (1.0 + gain), x.workforce_cap, x.wage, ctx.other_cost_share)
    benefit = after - x.profit_now
    if ctx.value_measure == "npv":
        value = benefit * ctx.annuity / net_cost - 1.0
    else:
        payback = np.where(benefit > 0, net_cost / np.maximum(benefit, 1e-9), np.inf)
        value = np.maximum(1.0 - payback / ctx.target_payback, -5.0)
    return capex, fee, subsidy, net_cost, benefit, value


def choose(stage, sector, city, cell, output, productivity, workforce_cap, wage, ratio,
           exposure, margin, skill, ctx: DecisionContext) -> Options:
    """Value the next stage (and, where allowed, skipping to the one after); keep the better value.

    Arrays are aligned, one entry per deciding firm (stage < 4); ``ratio`` is the risk-adjusted
    belief (:func:`risk_adjusted_ratio`).
    """
    x = FirmInputs(
        needs=output / productivity, output=output, productivity=productivity, workforce_cap=workforce_cap,
        wage=wage, labour_saving=ctx.labour_saving[sector], fee_share=ctx.fee_share[sector],
        subsidy_rate=ctx.subsidy_rate[city],
        profit_now=annual_profit(output, productivity, workforce_cap, wage, ctx.other_cost_share),
    )
    s1 = stage + 1
    g1 = ratio * ctx.nominal_gain[sector, s1]
    target = s1.astype(np.int64)
    best = value_option(ctx.cost_per_worker[sector, s1], g1, x, ctx)
    if ctx.skip_allowed:
        can = np.flatnonzero(stage <= 2)
        if can.size:
            sc, s2 = sector[can], stage[can] + 2
            g2 = (1.0 + g1[can]) * (1.0 + ratio[can] * ctx.nominal_gain[sc, s2]) - 1.0
            cpw2 = (ctx.cost_per_worker[sc, s2 - 1] + ctx.cost_per_worker[sc, s2]) * (1.0 + ctx.skip_premium)
            alt = value_option(cpw2, g2, x.subset(can), ctx)
            better = alt[-1] > best[-1][can]
            win = can[better]
            for arr, a in zip(best, alt):
                arr[win] = a[better]
            target[win] = s2[better]
    capex, fee, subsidy, net_cost, benefit, value = best
    # exposure and margin are stored in float32 (they only enter logits); the exact index is float64
    prob = adoption_probability(value, ctx.peer_share[cell, s1], exposure.astype(np.float64),
                                margin.astype(np.float64), skill, ctx)
    return Options(target, capex, fee, subsidy, net_cost, benefit, value, prob)


def adoption_probability(value, peer, exposure, margin, skill, ctx: DecisionContext) -> np.ndarray:
    """Monthly probability of adopting: the logit of MODEL.md section 5."""
    z = (ctx.intercept + ctx.beta_value * value + ctx.beta_peer * peer + ctx.beta_exposure * exposure
         + ctx.beta_profit * margin + ctx.beta_skill * skill)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class YearAhead:
    """What can move in a firm's favour before December, for the thinning bound (see bound_terms)."""

    productivity_factor: float  # largest growth of productivity before December
    needs_factor: float  # largest growth of labour needs (lowers the fixed cost per worker)
    full_low: float  # smallest, and
    full_high: float  # largest growth of E_max / N before December
    cost_per_worker: np.ndarray  # (n_sectors, 5) at December's (lowest) prices
    fee_share: np.ndarray  # (n_sectors,) lowest fee share a provider may charge before December
    subsidy_rate: np.ndarray  # (n_cities,) highest purchase subsidy rate x equipment share
    post_rate: float  # highest post-project subsidy rate
    ratio_cap: float  # bound on every firm's risk-adjusted belief ratio (checked monthly)


def bound_terms(stage, sector, city, output, productivity, workforce_cap, wage, ctx: DecisionContext, ya: YearAhead):
    """Per-firm terms (a, l, h) of the thinning bound, valid until December (given ya.ratio_cap).

    For a gain g >= 0 the yearly benefit is at most (1 - tau) g q N + w N max(0, lambda g - gap),
    N the labour needs: value added rises by at most (1 - tau) g q N, q = (1 - lambda) p without a
    labour gap (Bernoulli's inequality on (1+g)^(1-lambda)) and q = p E / N with one (output is held
    to p E); wages fall by at most w N (lambda g - gap), since (1+g)^(-lambda) >= 1 - lambda g and a
    gap absorbs the first part of any saving. The net cost is at least N x capital cost per worker x
    phi + the fixed cost F, phi = 1 + least fee - subsidy - post (subsidies capped). With g <= r G_k
    for option k and lambda r G_k - gap <= lambda G_k (r - gap / (lambda G_max)):
        benefit / net cost <= a r + l max(0, r - h),
        a = (1 - tau) q x P,  l = w lambda x P,  h = gap / (lambda G_max),
        P = max over options of G_k / (c_k phi + F / N),
    with q, the gap, prices, fees and subsidies at their most favourable values before December.
    """
    n_s = ctx.nominal_gain.shape[0]
    key = sector.astype(np.int64) * 5 + np.minimum(stage, 3)  # stage-4 firms never decide: terms unused
    n_next, c_next, g_skip, c_skip = _stage_tables(ctx, ya)
    phi = (1.0 + ya.fee_share[None, :] - ya.subsidy_rate[:, None] - ya.post_rate).ravel()[city.astype(np.int64) * n_s + sector]
    fixed = ctx.fixed_cost * productivity / (output * ya.needs_factor)  # F / N at the year's largest needs
    with np.errstate(divide="ignore", invalid="ignore"):
        per_cost = n_next[key] / (c_next[key] * phi + fixed)
        if ctx.skip_allowed:
            np.maximum(per_cost, g_skip[key] / (c_skip[key] * phi + fixed), out=per_cost)
        per_cost[~(phi > 0)] = np.inf  # subsidies above cost: no useful bound, value everyone
        gain = np.maximum(n_next[key], g_skip[key]) if ctx.skip_allowed else n_next[key]
        full = workforce_cap * productivity / output
        hi = full * ya.full_high
        lam = ctx.labour_saving[sector]
        q_over_p = np.where(full * ya.full_low >= 1.0, 1.0 - lam, np.minimum(hi, 1.0))
        a = (1.0 - ctx.other_cost_share) * ya.productivity_factor * productivity * q_over_p * per_cost
        l = wage * lam * per_cost
        h = np.maximum(1.0 - hi, 0.0) / (lam * gain)  # the smallest gap in the year, in units of r
    h[np.isnan(h)] = np.inf  # no labour saving at all (lambda = 0)
    return a, l, h


def _stage_tables(ctx: DecisionContext, ya: YearAhead):
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


def upper_bound_index(const, combo, ratio, a, l, h, exposure, margin, skill_term, ctx: DecisionContext,
                      scaled: bool) -> np.ndarray:
    """Upper bound of the logit index (float32) from the cached terms and this month's data.

    ``a``, ``l``, ``h`` come from :func:`bound_terms` (float32; ``scaled``: a and l already times
    beta_value x annuity, for the NPV measure); ``const`` from :func:`index_constant`; ``skill_term``
    is beta_skill x staff quality. Rounding in float32 is far below the margin the caller adds.
    """
    x = ratio * a
    t = ratio - h
    np.maximum(t, 0.0, out=t)
    t *= l
    x += t
    if scaled:  # NPV: beta_value x value = beta_value x annuity x (benefit / cost) - beta_value
        z = x
    else:
        with np.errstate(divide="ignore"):
            z = np.maximum(1.0 - 1.0 / (np.float32(ctx.target_payback) * x), np.float32(-5.0))
        z *= np.float32(ctx.beta_value)
    z += const[combo]
    z += np.float32(ctx.beta_exposure) * exposure
    z += np.float32(ctx.beta_profit) * margin
    z += skill_term
    return z


def index_constant(ctx: DecisionContext, scaled: bool) -> np.ndarray:
    """Per (cell, stage), flattened (float32): the part of the logit index a cell's firms at a stage share.

    intercept + beta_peer x peer share (- beta_value when the value term is pre-scaled, NPV)."""
    const = np.full((ctx.peer_share.shape[0], 5), -np.inf)
    const[:, :4] = ctx.intercept + ctx.beta_peer * ctx.peer_share[:, 1:5] - (ctx.beta_value if scaled else 0.0)
    return const.ravel().astype(np.float32)


def risk_adjusted_ratio(belief_mean: np.ndarray, belief_var: np.ndarray, risk_aversion: float) -> np.ndarray:
    """Belief mean minus risk aversion x belief sd, floored at 0 (a firm never expects a loss)."""
    return np.maximum(belief_mean - risk_aversion * np.sqrt(belief_var), 0.0)


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 yuan a year for ``years`` years at ``rate``."""
    return years if rate == 0 else (1 - (1 + rate) ** -years) / rate
