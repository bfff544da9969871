"""The firm's investment decision (MODEL.md section 5; docs/ODD.md 3.4.2): pure functions, so the per-firm
reference (reference.py) can be checked against them. Each rule is one scalar compiled function (``firm_project``,
``best_plan``, ``waiting_value``, ``firm_value``, ...); the array forms the model calls are compiled loops over the
deciding firms.

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

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from . import libm
from .econ import elementwise, fmax, logistic_of, partial_expectation
from .finance import NO_FINANCE, SCALED
from .firms import LEASE_FUNDS, LOAN, workers
from .projects import robots_of
from .subsidies import SubsidyTerms, expected_subsidy_of


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
        return FirmInputs(*[a[idx] for a in vars(self).values()])  # the fields, in order


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
        return Project(*[a[idx] for a in vars(self).values()])


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


@njit(cache=True, nogil=True, error_model="numpy")
def firm_benefit(gain, output, productivity, cap, wage, lam, tau):
    """(value-added part, wage part) of the yearly profit change productivity ``gain`` brings one firm (yuan/yr):
    (1 - tau) x the change in value added, and the wages of the workers it saves; ``lam`` is its sector's
    labour saving, ``cap`` its workforce cap."""
    out_after = output * math.exp((1.0 - lam) * math.log1p(gain))
    prod_after = productivity * (1.0 + gain)
    emp_now = workers(output, productivity, cap)
    emp_after = workers(out_after, prod_after, cap)
    return (1.0 - tau) * (prod_after * emp_after - productivity * emp_now), wage * (emp_now - emp_after)


@njit(cache=True, nogil=True, error_model="numpy")
def firm_present_value(gain, output, productivity, cap, wage, lam, tau, annuity, wage_annuity):
    """(PV of the benefits, first-year benefit) of productivity ``gain`` to one firm (yuan): the value-added part
    over ``annuity``, the wage part over ``wage_annuity`` (its size class's)."""
    value, wages = firm_benefit(gain, output, productivity, cap, wage, lam, tau)
    return value * annuity + wages * wage_annuity, value + wages


@njit(cache=True, nogil=True, error_model="numpy")
def _benefit_kernel(gain, output, productivity, cap, wage, sector, above, labour_saving, tau, annuity, wage_annuity,
                    first, second, as_pv):
    """firm_benefit (``as_pv`` False: value and wage parts) or firm_present_value (True: PV and benefit) of each
    firm, into ``first`` and ``second``."""
    for i in range(gain.size):
        lam = labour_saving[sector[i]]
        if as_pv:
            first[i], second[i] = firm_present_value(gain[i], output[i], productivity[i], cap[i], wage[i], lam, tau,
                                                     annuity, wage_annuity[1] if above[i] else wage_annuity[0])
        else:
            first[i], second[i] = firm_benefit(gain[i], output[i], productivity[i], cap[i], wage[i], lam, tau)


def _benefits(gain, x: FirmInputs, ctx: DecisionContext, as_pv: bool) -> tuple[np.ndarray, np.ndarray]:
    gain = np.asarray(gain, np.float64)
    if gain.shape != x.output.shape:
        gain = np.broadcast_to(gain, x.output.shape)
    first, second = np.empty(x.output.size), np.empty(x.output.size)
    _benefit_kernel(gain, x.output, x.productivity, x.workforce_cap, x.wage, x.sector, x.above, ctx.labour_saving,
                    float(ctx.other_cost_share), float(ctx.annuity), ctx.wage_annuity, first, second, as_pv)
    return first, second


def benefit_parts(gain: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
    """(value-added part, wage part) of the yearly profit change productivity ``gain`` brings firms ``x``
    (yuan/yr; :func:`firm_benefit`)."""
    return _benefits(gain, x, ctx, False)


def present_value(gain: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
    """(PV of the benefits, first-year benefit) of productivity ``gain`` to firms ``x`` (yuan;
    :func:`firm_present_value`)."""
    return _benefits(gain, x, ctx, True)


@njit(cache=True, nogil=True, error_model="numpy")
def firm_project(cpw, nominal, climbs1, needs, ratio, fee_share, fixed_cost, lam, robots_per_worker, robot_subsidy,
                 city_share, award_rate, award_cap, fund_share, output, productivity, cap, wage, tau, annuity,
                 wage_annuity):
    """(capital cost, fee, robots, expected subsidy, net cost, first-year benefit, PV) of one firm's project
    costing ``cpw`` a worker of its labour needs ``needs`` and bringing ``nominal`` x its gain ratio:
    C = cpw x needs, fee = fee share x C + fixed cost, robots (projects.robots_of), the subsidy it expects
    (subsidies.expected_subsidy_of), K = max(C + fee - subsidy, 1), benefit and PV (:func:`firm_present_value`)."""
    capex = cpw * needs
    fee = fee_share * capex + fixed_cost
    gain = ratio * nominal
    pv, benefit = firm_present_value(gain, output, productivity, cap, wage, lam, tau, annuity, wage_annuity)
    robots = robots_of(needs, gain, lam, robots_per_worker, climbs1)
    subsidy = expected_subsidy_of(robot_subsidy, city_share, award_rate, award_cap, fund_share, capex, robots)
    return capex, fee, robots, subsidy, fmax(capex + fee - subsidy, 1.0), benefit, pv


@njit(cache=True, nogil=True, error_model="numpy")
def _best_project_kernel(stage, sector, city, output, productivity, cap, wage, above, ratio, cost_per_worker,
                         nominal_gain, labour_saving, fee_share, fixed_cost, robots_per_worker, robot_subsidy,
                         city_share, award_rate, award_cap, fund_share, tau, annuity, wage_annuity, skip_allowed,
                         skip_premium, target, capex, fee, robots, subsidy, net_cost, gain, benefit, pv):
    """best_project, firm by firm: the next stage, and (where allowed, from stages 0-2) the skip to the one after
    if its cash NPV per yuan of size is higher."""
    for i in range(stage.size):
        k, sc, c = stage[i], sector[i], city[i]
        needs = output[i] / productivity[i]
        lam = labour_saving[sc]
        wa = wage_annuity[1] if above[i] else wage_annuity[0]
        common = (needs, ratio[i], fee_share[sc], fixed_cost, lam, robots_per_worker, robot_subsidy[c], city_share[c],
                  award_rate, award_cap, fund_share, output[i], productivity[i], cap[i], wage[i], tau, annuity, wa)
        t, nominal = k + 1, nominal_gain[sc, k + 1]
        best = firm_project(cost_per_worker[sc, k + 1], nominal, k == 0, *common)
        if skip_allowed and k <= 2:
            n1, n2 = nominal_gain[sc, k + 1], nominal_gain[sc, k + 2]
            nominal2 = n1 + n2 + ratio[i] * n1 * n2
            cpw2 = (cost_per_worker[sc, k + 1] + cost_per_worker[sc, k + 2]) * (1.0 + skip_premium)
            alt = firm_project(cpw2, nominal2, k == 0, *common)
            # the cash NPV per yuan of size (capital cost + fee): what the choice between stages compares
            if (alt[6] - alt[4]) / (alt[0] + alt[1]) > (best[6] - best[4]) / (best[0] + best[1]):
                t, nominal, best = k + 2, nominal2, alt
        target[i], gain[i] = t, nominal
        capex[i], fee[i], robots[i], subsidy[i], net_cost[i], benefit[i], pv[i] = best


def best_project(x: FirmInputs, ctx: DecisionContext) -> Project:
    """The next stage, or (where allowed) skipping to the one after if its cash NPV per yuan of size is higher
    (:func:`firm_project`, firm by firm). ``nominal`` gains compound: (1 + r n1)(1 + r n2) - 1 is carried as
    r x (n1 + n2 + r n1 n2)."""
    n = x.stage.size
    p = Project(np.empty(n, np.int64), *[np.empty(n) for _ in range(8)])
    t = ctx.subsidy
    _best_project_kernel(x.stage, x.sector, x.city, x.output, x.productivity, x.workforce_cap, x.wage, x.above,
                         x.ratio, ctx.cost_per_worker, ctx.nominal_gain, ctx.labour_saving, ctx.fee_share,
                         float(ctx.fixed_cost), float(ctx.robots_per_worker), t.robot_subsidy, t.city_share,
                         float(t.award_rate), float(t.award_cap), float(t.fund_share), float(ctx.other_cost_share),
                         float(ctx.annuity), ctx.wage_annuity, bool(ctx.skip_allowed), float(ctx.skip_premium),
                         p.target, p.capex, p.fee, p.robots, p.subsidy, p.net_cost, p.gain, p.benefit, p.pv)
    return p


@njit(cache=True, nogil=True, error_model="numpy")
def waiting_value(npv, pv, cost, ratio, mean_var, own_factor, learning, price_decline, rate):
    """W of one firm (:func:`value_of_waiting`); ``learning`` = wait_learning / obs_var."""
    var_after = 1.0 / (1.0 / fmax(mean_var, 1e-12) + learning)
    pre_sd = math.sqrt(fmax(mean_var - var_after, 0.0))
    slope = pv / fmax(ratio, 1e-9)  # PV per unit of gain ratio
    return partial_expectation(npv + price_decline * cost, slope * pre_sd * own_factor) / (1.0 + rate)


@njit(cache=True, nogil=True, error_model="numpy")
def _waiting_kernel(npv, pv, cost, ratio, mean_var, own_factor, learning, price_decline, rate, out):
    for i in range(out.size):
        out[i] = waiting_value(npv[i], pv[i], cost[i], ratio[i], mean_var[i], own_factor[i], learning, price_decline,
                               rate)


def value_of_waiting(npv: np.ndarray, pv: np.ndarray, cost: np.ndarray, x: FirmInputs,
                     ctx: DecisionContext) -> np.ndarray:
    """W = E[max(NPV in a year, 0)] / (1 + r): the equipment a year cheaper (price_decline), the same
    benefits a year later, and the NPV spread by what a year of evidence (wait_learning observations)
    will tell the firm about its sector's mean gain: the preposterior sd of its belief, carried to
    the NPV through the slope PV / ratio; normal (:func:`waiting_value`, firm by firm)."""
    out = np.empty(x.ratio.size)
    _waiting_kernel(npv, pv, cost, x.ratio, x.mean_var, x.own_factor, ctx.wait_learning / ctx.obs_var,
                    float(ctx.price_decline), float(ctx.rate), out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def best_plan(pv, net_cost, gain, ratio, own_mean, own_sd, short, cash, scale, lease_ok, lease_cover, lease_cost,
              p_bank, bank_scale, bank_cost, risk_aversion, output, productivity, cap, wage, lam, tau, annuity,
              wage_annuity):
    """(plan, NPV, PV) of one firm's best finance plan for its project (finance.PLANS): ``pv``, ``net_cost`` and
    ``gain`` (nominal, per unit of gain ratio) are its project's; ``short`` ... ``bank_cost`` its finance
    quote's (``lease_*``: a row over finance.LEASES); ``output`` ... ``wage_annuity`` what the PV of a productivity
    gain to it needs (:func:`firm_present_value`).

    Cash if its cash covers the net cost; otherwise the best of: the bank plan (the loan with the bank's
    approval probability, else the best of the rest), each lease it qualifies for (at the certainty
    equivalent its lessor's share of the shortfall leaves it, mean - risk_aversion x sd x (1 - share
    carried)), and the project scaled down to its cash. NPV = -inf where nothing finances it (plan NO_FINANCE,
    PV that of the scaled project); of equal NPVs the first plan."""
    def pv_at(g):
        return firm_present_value(g, output, productivity, cap, wage, lam, tau, annuity, wage_annuity)[0]

    npv = np.full(7, -np.inf)
    pvs = np.zeros(7)
    pvs[0] = pv
    if not short:
        npv[0] = pv - net_cost
    if short and scale > 0:
        pvs[SCALED] = pv_at(math.expm1(scale * math.log1p(ratio * gain)))
        npv[SCALED] = pvs[SCALED] - cash
    for j in range(lease_ok.size):
        if lease_ok[j]:
            m = LEASE_FUNDS + j
            ce = fmax(own_mean - risk_aversion * own_sd * (1.0 - lease_cover[j]), 0.0)
            pvs[m] = pv_at(ce * gain)
            npv[m] = pvs[m] - lease_cost[j]
    fallback = npv[2]  # refused: the best lease or scaled, or give up
    for j in range(3, 6):
        fallback = fmax(fallback, npv[j])
    fallback = fmax(fallback, 0.0)
    pvs[LOAN] = pv_at(math.expm1(bank_scale * math.log1p(ratio * gain))) if bank_scale < 1.0 else pv
    if p_bank > 0:
        npv[LOAN] = p_bank * (pvs[LOAN] - bank_cost) + (1.0 - p_bank) * fallback
    plan = 0  # np.argmax: the first largest, a NaN counting as the largest
    for j in range(1, 7):
        if npv[plan] != npv[plan]:
            break
        if npv[j] > npv[plan] or npv[j] != npv[j]:
            plan = j
    if not math.isfinite(npv[plan]):
        return NO_FINANCE, npv[plan], pvs[SCALED]
    return plan, npv[plan], pvs[plan]


@njit(cache=True, nogil=True, error_model="numpy")
def firm_value(npv, wait, capex, fee, net_cost, benefit, npv_measure, target_payback):
    """v of one firm (:func:`choose`): (NPV - W) / (C + fee), or 1 - payback / target payback; at least -5, and
    -5 where nothing finances the project."""
    if not math.isfinite(npv):
        return -5.0
    if npv_measure:
        return fmax((npv - wait) / (capex + fee), -5.0)
    payback = net_cost / fmax(benefit, 1e-9) if benefit > 0 else np.inf
    return fmax(1.0 - payback / target_payback, -5.0)


@njit(cache=True, nogil=True, error_model="numpy")
def firm_adoption_probability(value, peer, exposure, margin, skill, intercept, beta_value, beta_peer, beta_exposure,
                              beta_profit, beta_skill, trigger):
    """adoption_probability of one firm."""
    z = (intercept + beta_value * value + beta_peer * peer + beta_exposure * exposure + beta_profit * margin
         + beta_skill * skill)
    prob = logistic_of(z)
    return (prob if value > 0.0 else 0.0) if trigger else prob


@njit(cache=True, nogil=True, error_model="numpy")
def _choose_kernel(output, productivity, cap, wage, sector, above, ratio, own_mean, own_sd, own_factor, mean_var, cell,
                   stage, exposure, margin, skill, capex, fee, net_cost, benefit, gain, pv, short, cash, scale,
                   lease_ok, lease_cover, lease_cost, p_bank, bank_scale, bank_cost, labour_saving, tau, annuity,
                   wage_annuity, risk_aversion, learning, price_decline, rate, npv_measure, target_payback, peer_share,
                   logit, trigger, plan, npv, wait, value, prob, plan_cost):
    """choose, firm by firm: best_plan, waiting_value, firm_value and firm_adoption_probability; ``logit``: the
    intercept and the five betas."""
    for i in range(pv.size):
        lam = labour_saving[sector[i]]
        wa = wage_annuity[1] if above[i] else wage_annuity[0]
        plan[i], npv[i], pv_plan = best_plan(pv[i], net_cost[i], gain[i], ratio[i], own_mean[i], own_sd[i], short[i],
                                             cash[i], scale[i], lease_ok[i], lease_cover[i], lease_cost[i], p_bank[i],
                                             bank_scale[i], bank_cost[i], risk_aversion, output[i], productivity[i],
                                             cap[i], wage[i], lam, tau, annuity, wa)
        finite = math.isfinite(npv[i])
        wait[i] = waiting_value(npv[i], pv_plan, net_cost[i], ratio[i], mean_var[i], own_factor[i], learning,
                                price_decline, rate) if finite else 0.0
        value[i] = firm_value(npv[i], wait[i], capex[i], fee[i], net_cost[i], benefit[i], npv_measure, target_payback)
        prob[i] = firm_adoption_probability(value[i], peer_share[cell[i], stage[i] + 1], np.float64(exposure[i]),
                                            np.float64(margin[i]), skill[i], logit[0], logit[1], logit[2], logit[3],
                                            logit[4], logit[5], trigger)
        plan_cost[i] = pv_plan - npv[i] if finite else np.inf


def _logit(ctx: DecisionContext) -> np.ndarray:
    return np.array([ctx.intercept, ctx.beta_value, ctx.beta_peer, ctx.beta_exposure, ctx.beta_profit,
                     ctx.beta_skill], np.float64)


def choose(x: FirmInputs, q, ctx: DecisionContext, proj: Project | None = None) -> Options:
    """Each deciding firm's project (``proj``: best_project's, if already known), finance plan (:func:`best_plan`),
    value (:func:`firm_value`, net of waiting, :func:`waiting_value`) and probability of adopting this month
    (:func:`firm_adoption_probability`), in one compiled pass over the firms."""
    proj = best_project(x, ctx) if proj is None else proj
    n = proj.pv.size
    plan = np.empty(n, np.int64)
    npv, wait, value, prob, plan_cost = [np.empty(n) for _ in range(5)]
    _choose_kernel(x.output, x.productivity, x.workforce_cap, x.wage, x.sector, x.above, x.ratio, x.own_mean, x.own_sd,
                   x.own_factor, x.mean_var, x.cell, x.stage, x.exposure, x.margin, x.skill, proj.capex, proj.fee,
                   proj.net_cost, proj.benefit, proj.gain, proj.pv, q.short, q.cash, q.scale, q.lease_ok, q.lease_cover,
                   q.lease_cost, q.p_bank, q.bank_scale, q.bank_cost, ctx.labour_saving, float(ctx.other_cost_share),
                   float(ctx.annuity), ctx.wage_annuity, float(ctx.risk_aversion), ctx.wait_learning / ctx.obs_var,
                   float(ctx.price_decline), float(ctx.rate), ctx.value_measure == "npv", float(ctx.target_payback),
                   ctx.peer_share, _logit(ctx), bool(ctx.trigger), plan, npv, wait, value, prob, plan_cost)
    return Options(proj.target, proj.capex, proj.fee, proj.robots, proj.subsidy, proj.net_cost, proj.benefit,
                   proj.gain, npv, plan_cost, wait, plan, value, prob)


@njit(cache=True, nogil=True, error_model="numpy")
def value_bound_of(pv, net_cost, need, size, gain, ratio, own_mean, mean_var, own_factor, short, output, productivity,
                   cap, wage, lam, tau, annuity, wage_annuity, learning, price_decline, rate, floor_share):
    """:func:`value_bound` of one firm: its project's PV, net cost, need and size (capital cost + fee) and nominal
    gain, its planning, whether it is ``short`` of cash, what the PV of a gain to it needs; ``learning`` =
    wait_learning / obs_var; ``floor_share`` = floor x min_fraction."""
    if short:
        pv_mean = firm_present_value(fmax(own_mean, ratio) * gain, output, productivity, cap, wage, lam, tau, annuity,
                                     wage_annuity)[0]
        v = fmax(pv_mean - floor_share * need, 0.0) / size
    else:
        npv = pv - net_cost
        v = (npv - waiting_value(npv, pv, net_cost, ratio, mean_var, own_factor, learning, price_decline, rate)) / size
        v += 1e-9 * (1.0 + abs(v))
    return fmax(v, -5.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _value_bound_kernel(short, pv, net_cost, capex, fee, subsidy, gain, ratio, own_mean, mean_var, own_factor,
                        output, productivity, cap, wage, sector, above, labour_saving, tau, annuity, wage_annuity,
                        learning, price_decline, rate, floor_share, cash, u, cell, stage, exposure, margin, skill,
                        peer_share, logit, trigger, out):
    """value_bound firm by firm into ``out``; with draws ``u`` (not empty) and the firms' ``cash`` instead of
    ``short``, the positions whose draw falls below their probability at that value (the second stage's
    thinning), returned in order."""
    thinning = u.size > 0
    keep = np.empty(pv.size if thinning else 0, np.int64)
    n = 0
    for i in range(pv.size):
        need = capex[i] + fee[i] - subsidy[i]  # Project.need
        short_i = fmax(cash[i], 0.0) < need if thinning else short[i]
        v = value_bound_of(pv[i], net_cost[i], need, capex[i] + fee[i], gain[i], ratio[i], own_mean[i], mean_var[i],
                           own_factor[i], short_i, output[i], productivity[i], cap[i], wage[i],
                           labour_saving[sector[i]], tau, annuity, wage_annuity[1] if above[i] else wage_annuity[0],
                           learning, price_decline, rate, floor_share)
        if not thinning:
            out[i] = v
            continue
        prob = firm_adoption_probability(v, peer_share[cell[i], stage[i] + 1], exposure[i], margin[i], skill[i],
                                         logit[0], logit[1], logit[2], logit[3], logit[4], logit[5], trigger)
        keep[n] = i
        n += u[i] < prob
    return keep[:n].copy()


def _value_bound_call(proj: Project, x: FirmInputs, short, cash, u, ctx: DecisionContext, floor: float,
                      min_fraction: float, out) -> np.ndarray:
    return _value_bound_kernel(
        short, proj.pv, proj.net_cost, proj.capex, proj.fee, proj.subsidy, proj.gain, x.ratio, x.own_mean, x.mean_var,
        x.own_factor, x.output, x.productivity, x.workforce_cap, x.wage, x.sector, x.above, ctx.labour_saving,
        float(ctx.other_cost_share), float(ctx.annuity), ctx.wage_annuity, ctx.wait_learning / ctx.obs_var,
        float(ctx.price_decline), float(ctx.rate), floor * min_fraction, cash, u, x.cell, x.stage, x.exposure,
        x.margin, x.skill, ctx.peer_share, _logit(ctx), bool(ctx.trigger), out)


def value_bound(proj: Project, x: FirmInputs, short: np.ndarray, ctx: DecisionContext, floor: float,
                min_fraction: float) -> np.ndarray:
    """An upper bound of each firm's value v (:func:`choose`, NPV measure) that needs no finance quote: the
    second stage of the exact thinning (thinning.Thinning.second_stage; :func:`value_bound_of`, firm by firm).

    A firm whose cash covers the net cost pays cash: its value exactly (nudged up by 1e-9 relative, for
    rounding). One short of cash: every plan's PV is at most the PV at max(own mean, certainty
    equivalent) (a lessor carrying all of the shortfall lifts the certainty equivalent to the mean;
    scaling a project down or a partial loan only lowers the gain), every plan costs at least
    floor x min_fraction x the net cost (a loan or lease at least floor per yuan financed, a scaled
    project at least min_fraction of it), the bank plan mixes the loan with a fallback of at least 0
    (giving up), and waiting only lowers v: v <= max(PV_mean - floor x min_fraction x K, 0) / G."""
    out = np.empty(proj.pv.size)
    none = np.empty(0)
    _value_bound_call(proj, x, np.asarray(short, np.bool_), none, none.astype(np.float32), ctx, floor, min_fraction,
                      out)
    return out


def below_value_bound(u: np.ndarray, cash: np.ndarray, proj: Project, x: FirmInputs, ctx: DecisionContext,
                      floor: float, min_fraction: float) -> np.ndarray:
    """Positions of the firms (draws ``u``, float32; ``cash``) whose draw falls below their probability of
    adopting at :func:`value_bound` (:func:`firm_probability`), short of cash where their cash, at least 0, is
    below the project's need; in one compiled pass."""
    return _value_bound_call(proj, x, np.empty(0, np.bool_), np.asarray(cash, np.float64), u, ctx, floor,
                             min_fraction, np.empty(0))


@njit(cache=True, nogil=True, error_model="numpy")
def _probability_kernel(value, peer, exposure, margin, skill, logit, trigger, out):
    for i in range(out.size):
        out[i] = firm_adoption_probability(value[i], peer[i], exposure[i], margin[i], skill[i], logit[0], logit[1],
                                           logit[2], logit[3], logit[4], logit[5], trigger)


def firm_probability(value: np.ndarray, x: FirmInputs, ctx: DecisionContext) -> np.ndarray:
    """adoption_probability of firms ``x`` at ``value``: exposure and margin are stored in float32 (they
    only enter logits); the index is computed in float64."""
    return adoption_probability(value, ctx.peer_share[x.cell, x.stage + 1], x.exposure, x.margin, x.skill, ctx)


def adoption_probability(value, peer, exposure, margin, skill, ctx: DecisionContext) -> np.ndarray:
    """Monthly probability of adopting: the logit of MODEL.md section 5, and (ctx.trigger) zero unless
    investing now beats waiting, value > 0 (Dixit and Pindyck 1994: invest when the NPV exceeds the
    value of the option to wait; with the payback measure, when the payback is below the target).
    The logit then sets when a firm that finds the project worth it gets round to it
    (:func:`firm_adoption_probability`, firm by firm)."""
    return elementwise(_probability_kernel, value, peer, exposure, margin, skill,
                       extra=(_logit(ctx), bool(ctx.trigger)))


def growing_annuity(rate: float, growth: float, years: int) -> float:
    """Present value of a yuan a year for ``years`` years, the first at the end of year 1, growing at
    ``growth`` a year."""
    t = np.arange(1, years + 1)
    return float(np.sum(libm.power(1.0 + growth, t - 1) / libm.power(1.0 + rate, t)))


__all__ = ["DecisionContext", "FirmInputs", "Project", "Options", "firm_benefit", "firm_present_value", "benefit_parts",
           "present_value", "best_project", "waiting_value", "value_of_waiting", "best_plan", "firm_value", "choose",
           "value_bound_of", "value_bound", "below_value_bound", "firm_adoption_probability", "firm_probability",
           "adoption_probability", "growing_annuity"]
