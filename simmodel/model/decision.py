"""The firm's investment decision (MODEL.md section 5; docs/ODD.md submodel "Investment decision").

A firm without a running project considers the next stage, or skipping one at extra cost:
  capital cost  = cost per worker x labour needs x equipment price index (x (1 + premium) if skipping)
  net cost      = capital cost + provider fee - the purchase and post-project subsidies a firm
                  may expect (subsidies.py: each line while its budget has money)
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

from .econ import logistic
from .firms import annual_profit
from .subsidies import SubsidyTerms


@dataclass(frozen=True)
class DecisionContext:
    """What firms know when they decide this month (arrays by sector unless said otherwise)."""

    wage: float  # yuan/worker/yr, all units (firms' own wages are arrays)
    cost_per_worker: np.ndarray  # (n_sectors, 5) yuan/worker at this month's prices, column 0 = 0
    nominal_gain: np.ndarray  # (n_sectors, 5) nominal gain of reaching each stage
    labour_saving: np.ndarray  # (n_sectors,) lambda
    fee_share: np.ndarray  # (n_sectors,) expected provider fee share
    fixed_cost: float  # yuan per project
    subsidy: SubsidyTerms  # what a project may expect this month (subsidies.py)
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
    city: np.ndarray  # the firm's city (its subsidy lines)
    profit_now: np.ndarray  # operating profit now, yuan/yr

    def subset(self, idx: np.ndarray) -> FirmInputs:
        return FirmInputs(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def value_option(cost_per_worker: np.ndarray, gain: np.ndarray, x: FirmInputs, ctx: DecisionContext):
    """(capex, fee, subsidy, net cost, benefit, value) of a project costing ``cost_per_worker`` per
    worker needed and promising productivity ``gain``."""
    capex = cost_per_worker * x.needs
    fee = x.fee_share * capex + ctx.fixed_cost
    subsidy = ctx.subsidy.purchase(x.city, capex)
    net_cost = np.maximum(capex + fee - subsidy - ctx.subsidy.post(capex), 1.0)
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
        city=city,
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
    return logistic(z)


def risk_adjusted_ratio(belief_mean: np.ndarray, belief_var: np.ndarray, risk_aversion: float) -> np.ndarray:
    """Belief mean minus risk aversion x belief sd, floored at 0 (a firm never expects a loss)."""
    return np.maximum(belief_mean - risk_aversion * np.sqrt(belief_var), 0.0)


def make_context(params, wage: float, cost_per_worker: np.ndarray, nominal_gain: np.ndarray,
                 labour_saving: np.ndarray, fee_share: np.ndarray, subsidy: SubsidyTerms, peer_share: np.ndarray,
                 annuity: float) -> DecisionContext:
    """The month's DecisionContext from the parameters and what firms observe this month."""
    d = params.decision
    return DecisionContext(
        wage=wage, cost_per_worker=cost_per_worker, nominal_gain=nominal_gain, labour_saving=labour_saving,
        fee_share=fee_share, fixed_cost=params["technology.fixed_project_cost"], subsidy=subsidy,
        peer_share=peer_share, other_cost_share=params["economy.other_cost_share"], annuity=annuity,
        value_measure=d.value_measure, target_payback=d.target_payback_years, risk_aversion=d.risk_aversion,
        skip_allowed=d.skip_allowed, skip_premium=d.skip_cost_premium, intercept=d.intercept,
        beta_value=d.beta_value, beta_peer=d.beta_peer, beta_exposure=d.beta_exposure, beta_profit=d.beta_profit,
        beta_skill=d.beta_skill,
    )
