"""The firm's investment decision (MODEL.md section 5; docs/ODD.md 3.4.2): pure functions of arrays,
so the per-firm reference (reference.py) can be checked against them.

A firm without a running project considers the next stage, or skipping one at extra cost:
  capital cost  C = cost per worker x labour needs x equipment price index (x (1 + premium) if skipping)
  net cost      K = C + provider fee - the subsidies it expects (subsidies.py: each claim x the share
                    of claims its budget met last year)
  gain          g = its certainty-equivalent gain ratio (beliefs.planning_ratio) x the nominal gain
  benefit       the change in yearly operating profit g brings, in two parts: more value added, which
                grows with the demand the firm expects, and wages saved, which grow with the wages it
                expects (what it last saw of each, times decision.demand_growth_weight and
                wage_growth_weight)
  PV            = value part x growing annuity(r, g_d, H) + wage part x growing annuity(r, g_w, H)
  finance plan  a firm whose cash covers K pays cash; one short of cash compares plans (finance.py):
                a bank loan (approved with the bank's probability, else its next plan), each lease on
                offer (a lessor carrying part of the shortfall raises the firm's certainty equivalent)
                and scaling the project down to its cash; a plan's cost is the cash it puts in plus
                the present value at the firm's rate r of the payments it commits to
  NPV           = PV at the plan's certainty equivalent - the plan's cost
  waiting       W = E[max(NPV a year later, 0)] / (1 + r): equipment prices fall and a year's
                evidence narrows its belief (Dixit and Pindyck 1994)
  value         v = (NPV - W) / (C + fee), per yuan of the project's size (a subsidy only raises it), or
                1 - payback / target payback, payback = K / first-year benefit (value_measure = "payback")
  P(adopt this month) = logistic(intercept + b_value v + b_peer peer share + b_exposure exposure
                                 + b_profit margin + b_skill staff quality)   if v > 0 (the trigger)
                      = 0 otherwise (decision.invest_trigger; Dixit and Pindyck 1994)
The exact thinning of the draw (thinning.py) bounds this index from cached per-firm terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import libm
from .econ import logistic, normal_partial_expectation
from .projects import planned_robots
from .subsidies import SubsidyTerms


@dataclass(frozen=True)
class DecisionContext:
    """What firms know when they decide this month (arrays by sector unless said otherwise)."""

    cost_per_worker: np.ndarray  # (n_sectors, 5) yuan/worker at this month's prices, column 0 = 0
    nominal_gain: np.ndarray  # (n_sectors, 5) nominal gain of reaching each stage
    labour_saving: np.ndarray  # (n_sectors,) lambda
    fee_share: np.ndarray  # (n_sectors,) expected provider fee share
    fixed_cost: float  # yuan per project
    subsidy: SubsidyTerms  # what a project may expect this month (subsidies.py)
    peer_share: np.ndarray  # (n_cells, 6) share of the cell's firms at stage >= k (k = 0..5)
    other_cost_share: float
    robots_per_worker: float  # robots installed per worker a machine-substitution project saves
    annuity: float  # PV of 1 yuan a year of added value added over the horizon, growing as demand is expected to
    wage_annuity: np.ndarray  # (2,) by size class: PV of 1 yuan of wages a year, growing as expected
    rate: float  # the firm's discount rate r (1/yr)
    horizon: int  # years
    price_decline: float  # expected yearly fall of equipment prices
    wait_learning: float  # observations of the sector's gains a year of waiting brings
    obs_var: float  # variance of one observation of a gain ratio
    gain_sd: float
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
    trigger: bool  # adopt only when investing now beats waiting (value > 0; decision.invest_trigger)


@dataclass
class FirmInputs:
    """The per-firm arrays a valuation needs (one entry per deciding firm)."""

    stage: np.ndarray
    sector: np.ndarray
    city: np.ndarray
    cell: np.ndarray
    above: np.ndarray
    output: np.ndarray  # yuan/yr
    productivity: np.ndarray  # yuan/worker/yr
    workforce_cap: np.ndarray  # workers
    wage: np.ndarray  # yuan/worker/yr
    ratio: np.ndarray  # certainty-equivalent gain ratio (beliefs.planning_ratio)
    own_mean: np.ndarray  # expected own gain ratio (before the risk adjustment)
    own_sd: np.ndarray  # sd of its own gain ratio
    own_factor: np.ndarray  # 1 + gain_sd x E[z]: its own ratio per unit of the sector's mean
    mean_var: np.ndarray  # variance of its belief about the sector's mean ratio
    exposure: np.ndarray
    margin: np.ndarray
    skill: np.ndarray

    @property
    def needs(self) -> np.ndarray:
        return self.output / self.productivity

    def subset(self, idx: np.ndarray) -> FirmInputs:
        return FirmInputs(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


@dataclass
class Project:
    """The better project of each deciding firm (next stage, or skipping one), valued with cash."""

    target: np.ndarray  # stage aimed at
    capex: np.ndarray  # yuan
    fee: np.ndarray  # yuan (expected)
    robots: np.ndarray  # robots it would install
    subsidy: np.ndarray  # expected subsidies, yuan
    net_cost: np.ndarray  # K, yuan
    gain: np.ndarray  # nominal gain of the stages climbed (compounded), per unit of gain ratio
    benefit: np.ndarray  # yuan/yr in the first year at the certainty equivalent
    pv: np.ndarray  # PV of the benefits at the certainty equivalent, yuan

    @property
    def need(self) -> np.ndarray:
        """Yuan the firm must find up front: capital cost + fee - expected subsidies (K before its floor of 1)."""
        return self.capex + self.fee - self.subsidy

    def subset(self, idx: np.ndarray) -> Project:
        return Project(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


@dataclass
class Options:
    """What each deciding firm would do, and how likely it is to do it this month."""

    target: np.ndarray
    capex: np.ndarray
    fee: np.ndarray
    robots: np.ndarray
    subsidy: np.ndarray
    net_cost: np.ndarray
    benefit: np.ndarray  # yuan/yr, first year
    gain: np.ndarray  # nominal gain of the stages climbed, per unit of gain ratio
    npv: np.ndarray  # NPV of the chosen plan at the certainty equivalent, yuan
    plan_cost: np.ndarray  # the plan's cost to the firm, yuan (cash + PV of its payments)
    wait: np.ndarray  # W, yuan
    plan: np.ndarray  # finance plan (finance.PLANS)
    value: np.ndarray
    prob: np.ndarray


def benefit_parts(gain: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
    """(value-added part, wage part) of the yearly profit change productivity ``gain`` brings (yuan/yr):
    (1 - tau) x the change in value added, and the wages of the workers it saves."""
    lam = ctx.labour_saving[x.sector]
    out_after = x.output * libm.exp((1.0 - lam) * libm.log1p(gain))
    prod_after = x.productivity * (1.0 + gain)
    emp_now = np.minimum(x.output / x.productivity, x.workforce_cap)
    emp_after = np.minimum(out_after / prod_after, x.workforce_cap)
    value = (1.0 - ctx.other_cost_share) * (prod_after * emp_after - x.productivity * emp_now)
    wages = x.wage * (emp_now - emp_after)
    return value, wages


def present_value(gain: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
    """(PV of the benefits, first-year benefit) of productivity ``gain`` (yuan)."""
    value, wages = benefit_parts(gain, x, ctx)
    return value * ctx.annuity + wages * ctx.wage_annuity[x.above.astype(np.int64)], value + wages


def _project(cpw: np.ndarray, nominal: np.ndarray, climbs1: np.ndarray, x: FirmInputs, ctx: DecisionContext):
    capex = cpw * x.needs
    fee = ctx.fee_share[x.sector] * capex + ctx.fixed_cost
    gain = x.ratio * nominal
    pv, benefit = present_value(gain, x, ctx)
    robots = planned_robots(x.needs, gain, ctx.labour_saving[x.sector], ctx.robots_per_worker, climbs1)
    subsidy = ctx.subsidy.expected(x.city, capex, robots)
    net = np.maximum(capex + fee - subsidy, 1.0)
    return Project(np.zeros(capex.size, np.int64), capex, fee, robots, subsidy, net, nominal, benefit, pv)


def _cash_value(p: Project) -> np.ndarray:
    """A project's NPV if paid in cash, per yuan of its size: what the choice between stages compares."""
    return (p.pv - p.net_cost) / (p.capex + p.fee)


def best_project(x: FirmInputs, ctx: DecisionContext) -> Project:
    """The next stage, or (where allowed) skipping to the one after if its cash NPV per yuan of size is higher.
    ``nominal`` gains compound: (1 + r n1)(1 + r n2) - 1 is carried as r x (n1 + n2 + r n1 n2)."""
    stage, sector = x.stage, x.sector
    s1 = stage + 1
    best = _project(ctx.cost_per_worker[sector, s1], ctx.nominal_gain[sector, s1], stage == 0, x, ctx)
    best.target = s1.astype(np.int64)
    if ctx.skip_allowed:
        can = (stage <= 2).nonzero()[0]
        if can.size:
            # value the skip for every firm when nearly all may skip (cheaper than gathering their inputs;
            # stage-3 firms get a placeholder stage 4 and are masked out)
            whole = can.size > 0.8 * stage.size
            xs = x if whole else x.subset(can)
            sc, r = xs.sector, xs.ratio
            s2 = np.minimum(xs.stage + 2, 4)
            n1, n2 = ctx.nominal_gain[sc, s2 - 1], ctx.nominal_gain[sc, s2]
            nominal = n1 + n2 + r * n1 * n2
            cpw2 = (ctx.cost_per_worker[sc, s2 - 1] + ctx.cost_per_worker[sc, s2]) * (1.0 + ctx.skip_premium)
            alt = _project(cpw2, nominal, xs.stage == 0, xs, ctx)
            if whole:
                better = (_cash_value(alt) > _cash_value(best)) & (stage <= 2)
                win, pick = better.nonzero()[0], better
            else:
                better = _cash_value(alt) > _cash_value(best)[can]
                win, pick = can[better], better
            for name in ("capex", "fee", "robots", "subsidy", "net_cost", "gain", "benefit", "pv"):
                getattr(best, name)[win] = getattr(alt, name)[pick]
            best.target[win] = s2[pick]
    return best


def value_of_waiting(npv: np.ndarray, pv: np.ndarray, cost: np.ndarray, x: FirmInputs,
                     ctx: DecisionContext) -> np.ndarray:
    """W = E[max(NPV in a year, 0)] / (1 + r): the equipment a year cheaper (price_decline), the same
    benefits a year later, and the NPV spread by what a year of evidence (wait_learning observations)
    will tell the firm about its sector's mean gain: the preposterior sd of its belief, carried to
    the NPV through the slope PV / ratio; normal."""
    var_after = 1.0 / (1.0 / np.maximum(x.mean_var, 1e-12) + ctx.wait_learning / ctx.obs_var)
    pre_sd = np.sqrt(np.maximum(x.mean_var - var_after, 0.0))
    slope = pv / np.maximum(x.ratio, 1e-9)  # PV per unit of gain ratio
    mean_next = npv + ctx.price_decline * cost
    return normal_partial_expectation(mean_next, slope * pre_sd * x.own_factor) / (1.0 + ctx.rate)


def plan_values(proj: Project, x: FirmInputs, q, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray,
                                                                              np.ndarray]:
    """(plan, NPV, PV) of each firm's best finance plan for its project (finance.py: PLANS).

    Cash if its cash covers the net cost; otherwise the best of: the bank plan (the loan with the bank's
    approval probability, else the best of the rest), each lease it qualifies for (at the certainty
    equivalent its lessor's share of the shortfall leaves it, mean - risk_aversion x sd x (1 - share
    carried)), and the project scaled down to its cash. NPV = -inf where nothing finances it."""
    from .finance import LEASES, LOAN, NO_FINANCE, SCALED

    n = proj.capex.size
    npv = np.full((n, 7), -np.inf)
    pv = np.zeros((n, 7))
    pv[:, 0] = proj.pv
    npv[:, 0] = np.where(~q.short, proj.pv - proj.net_cost, -np.inf)
    pv_scaled, _ = present_value(libm.expm1(q.scale * libm.log1p(x.ratio * proj.gain)), x, ctx)
    pv[:, SCALED] = pv_scaled
    npv[:, SCALED] = np.where(q.short & (q.scale > 0), pv_scaled - q.cash, -np.inf)
    for j, m in enumerate(LEASES):
        ok = q.lease_ok[:, j]
        if not ok.any():
            continue
        ce = np.maximum(x.own_mean - ctx.risk_aversion * x.own_sd * (1.0 - q.lease_cover[:, j]), 0.0)
        pv_m, _ = present_value(ce * proj.gain, x, ctx)
        pv[:, m] = pv_m
        npv[:, m] = np.where(ok, pv_m - q.lease_cost[:, j], -np.inf)
    fallback = np.maximum(np.max(npv[:, 2:6], axis=1), 0.0)  # refused: the best lease or scaled, or give up
    pv_loan = np.where(q.bank_scale < 1.0,
                       present_value(libm.expm1(q.bank_scale * libm.log1p(x.ratio * proj.gain)), x, ctx)[0], proj.pv)
    loan = pv_loan - q.bank_cost
    pv[:, LOAN] = pv_loan
    npv[:, LOAN] = np.where(q.p_bank > 0, q.p_bank * loan + (1.0 - q.p_bank) * fallback, -np.inf)
    plan = np.argmax(npv, axis=1)
    best = npv[np.arange(n), plan]
    plan = np.where(np.isfinite(best), plan, NO_FINANCE)
    return plan, best, pv[np.arange(n), np.minimum(plan, 5)]


def choose(x: FirmInputs, q, ctx: DecisionContext, proj: Project | None = None) -> Options:
    """Each deciding firm's project (``proj``: best_project's, if already known), finance plan, value and
    probability of adopting this month."""
    proj = best_project(x, ctx) if proj is None else proj
    plan, npv, pv = plan_values(proj, x, q, ctx)
    finite = np.isfinite(npv)
    wait = np.where(finite, value_of_waiting(np.where(finite, npv, 0.0), pv, proj.net_cost, x, ctx), 0.0)
    if ctx.value_measure == "npv":  # per yuan of the project's size, which subsidies do not change
        value = np.where(finite, (npv - wait) / (proj.capex + proj.fee), -5.0)
    else:
        payback = np.where(proj.benefit > 0, proj.net_cost / np.maximum(proj.benefit, 1e-9), np.inf)
        value = np.where(finite, np.maximum(1.0 - payback / ctx.target_payback, -5.0), -5.0)
    value = np.maximum(value, -5.0)
    prob = firm_probability(value, x, ctx)
    return Options(proj.target, proj.capex, proj.fee, proj.robots, proj.subsidy, proj.net_cost, proj.benefit,
                   proj.gain, npv, np.where(finite, pv - npv, np.inf), wait, plan, value, prob)


def value_bound(proj: Project, x: FirmInputs, short: np.ndarray, ctx: DecisionContext, floor: float,
                min_fraction: float) -> np.ndarray:
    """An upper bound of each firm's value v (:func:`choose`, NPV measure) that needs no finance quote: the
    second stage of the exact thinning (thinning.Thinning.second_stage).

    A firm whose cash covers the net cost pays cash: its value exactly (nudged up by 1e-9 relative, for
    rounding). One short of cash: every plan's PV is at most the PV at max(own mean, certainty
    equivalent) (a lessor carrying all of the shortfall lifts the certainty equivalent to the mean;
    scaling a project down or a partial loan only lowers the gain), every plan costs at least
    floor x min_fraction x the net cost (a loan or lease at least floor per yuan financed, a scaled
    project at least min_fraction of it), the bank plan mixes the loan with a fallback of at least 0
    (giving up), and waiting only lowers v: v <= max(PV_mean - floor x min_fraction x K, 0) / G."""
    size = proj.capex + proj.fee
    npv = proj.pv - proj.net_cost
    exact = (npv - value_of_waiting(npv, proj.pv, proj.net_cost, x, ctx)) / size
    exact += 1e-9 * (1.0 + np.abs(exact))
    pv_mean, _ = present_value(np.maximum(x.own_mean, x.ratio) * proj.gain, x, ctx)
    short_bound = np.maximum(pv_mean - floor * min_fraction * proj.need, 0.0) / size
    return np.maximum(np.where(short, short_bound, exact), -5.0)


def firm_probability(value: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> np.ndarray:
    """adoption_probability of firms ``x`` at ``value``: exposure and margin are stored in float32 (they
    only enter logits); the index is computed in float64."""
    return adoption_probability(value, ctx.peer_share[x.cell, x.stage + 1], x.exposure.astype(np.float64),
                                x.margin.astype(np.float64), x.skill, ctx)


def adoption_probability(value, peer, exposure, margin, skill, ctx: DecisionContext) -> np.ndarray:
    """Monthly probability of adopting: the logit of MODEL.md section 5, and (ctx.trigger) zero unless
    investing now beats waiting, value > 0 (Dixit and Pindyck 1994: invest when the NPV exceeds the
    value of the option to wait; with the payback measure, when the payback is below the target).
    The logit then sets when a firm that finds the project worth it gets round to it."""
    z = (ctx.intercept + ctx.beta_value * value + ctx.beta_peer * peer + ctx.beta_exposure * exposure
         + ctx.beta_profit * margin + ctx.beta_skill * skill)
    prob = logistic(z)
    return np.where(value > 0.0, prob, 0.0) if ctx.trigger else prob


def growing_annuity(rate: float, growth: float, years: int) -> float:
    """Present value of a yuan a year for ``years`` years, the first at the end of year 1, growing at
    ``growth`` a year."""
    t = np.arange(1, years + 1)
    return float(np.sum(libm.power(1.0 + growth, t - 1) / libm.power(1.0 + rate, t)))


__all__ = ["DecisionContext", "FirmInputs", "Project", "Options", "benefit_parts", "present_value", "best_project",
           "plan_values", "choose", "value_of_waiting", "value_bound", "firm_probability", "adoption_probability",
           "growing_annuity"]
