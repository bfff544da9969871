"""Build the synthetic firm population of January 2013 from the input tables and a seed.

Agents are allocated to (size class, city, sector) strata in exact proportion (largest-remainder
rounding), so a small scale is not noisier than it must be; their attributes are then drawn.
Above-size firms are sampled ``run.above_size_oversample`` times more densely than small firms and
carry smaller weights, so province totals are unchanged while above-size indicators (most
calibration targets) are estimated from more agents. See docs/ODD.md, "Initialisation".
"""

from __future__ import annotations

import numpy as np

from ..data import Tables
from ..params import Params
from . import libm
from .allocation import largest_remainder
from .firms import NONE, Firms, size_wages

_N_STAGES = 5
MAX_GAP = 0.95  # a firm fills at least 5 % of its labour needs (assumption; the mean gap is at most 0.9)


def nominal_gains(params: Params, tables: Tables) -> np.ndarray:
    """Nominal gain of reaching stage k (k = 1..4) per sector: array (n_sectors, 5), column 0 = 0."""
    t = params.technology
    by_stage = np.array([0.0, t.gain_stage1, t.gain_stage2, t.gain_stage3, t.gain_stage4])
    return tables.sector_gain_multiplier[:, None] * by_stage[None, :]


def va_threshold(params: Params) -> float | None:
    """The above-size threshold in yuan of value added a year, with firm dynamics on (else None)."""
    d = params.dynamics
    return d.revenue_threshold * d.va_to_revenue if d.firm_dynamics else None


def agent_counts(params: Params) -> tuple[int, int, float, float]:
    """(above-size agents, small agents, weight of each) for the run's scale."""
    p = params.population
    scale = params["run.scale"]
    n_small_real = p.n_firms - p.n_above_size
    frac_above = min(1.0, scale * params["run.above_size_oversample"])
    n_above = max(1, round(frac_above * p.n_above_size))
    n_small = max(1, round(scale * n_small_real))
    return n_above, n_small, p.n_above_size / n_above, n_small_real / n_small


def scale_for_agents(n_agents: int, params: Params | None = None) -> float:
    """The run.scale that gives about ``n_agents`` firm agents (above-size firms are oversampled)."""
    p = params or Params()
    small = p["population.n_firms"] - p["population.n_above_size"]
    lo, hi = 1e-6, 1.0
    for _ in range(60):  # the count is increasing in scale; bisect
        mid = (lo + hi) / 2
        if small * mid + min(1.0, mid * p["run.above_size_oversample"]) * p["population.n_above_size"] < n_agents:
            lo = mid
        else:
            hi = mid
    return hi


def build_population(params: Params, tables: Tables, rng: np.random.Generator) -> Firms:
    """Draw the firm agents of January 2013."""
    p = params.population
    n_above, n_small, w_above, w_small = agent_counts(params)

    # cities: above-size firms follow output shares; the rest make up each city's firm share
    real_above_c = p.n_above_size * tables.city_output_share
    real_small_c = np.maximum(p.n_firms * tables.city_firm_share - real_above_c, 0.05 * real_above_c)
    strata = []  # (above, agents per city and sector): above-size firms first, then by city, then by sector
    for above, n_agents, by_city in ((True, n_above, real_above_c), (False, n_small, real_small_c)):
        expected = np.outer(by_city / by_city.sum(), tables.sector_firm_share) * n_agents
        strata.append((above, largest_remainder(expected, n_agents, rng)))
    above = np.concatenate([np.full(counts.sum(), a) for a, counts in strata])
    cells = np.concatenate([np.repeat(np.arange(counts.size), counts.ravel()) for _, counts in strata])
    city, sector = [x.astype(np.int16) for x in np.divmod(cells, tables.sector_firm_share.size)]
    n = len(city)
    weight = np.where(above, w_above, w_small)

    attrs = draw_attributes(above, sector, params, tables, rng, weight=weight, va_threshold=va_threshold(params))
    firms = make_firms(city, sector, above, weight, attrs, params, tables, (tables.wage[0], tables.wage_private[0]))
    layout = params["run.layout"]
    if layout == "reversed":
        firms.permute(np.arange(n)[::-1])
    elif layout == "shuffled":
        firms.permute(rng.permutation(n))
    return firms


def draw_attributes(above: np.ndarray, sector: np.ndarray, params: Params, tables: Tables, draw,
                    weight: np.ndarray | None = None, level: float | None = None,
                    va_threshold: float | None = None) -> dict[str, np.ndarray]:
    """The drawn attributes of new firms of size classes ``above`` in ``sector``: the firms of January
    2013, or entrants (model/dynamics.py).

    ``draw`` is a numpy Generator or anything with its ``random``, ``standard_normal``, ``beta`` and
    ``integers`` (dynamics.KeyedDraws: draws keyed by firm). Productivity is set to ``level`` times the
    firm's relative draw; without a level, the level that makes the employment-weighted mean of
    above-size firms (``weight``) the reported 2013 figure in January (returned as ``level``). With a
    ``va_threshold`` (yuan/yr of value added; firm dynamics), a firm whose size puts it on the wrong side
    of the above-size threshold for its class is mirrored across it (employees x (threshold / value
    added)^2): the panel of January 2013 and every entrant agree with the threshold."""
    p = params.population
    n = above.size
    # size
    med = np.where(above, p.employees_above_median, p.employees_small_median)
    sig = np.where(above, p.employees_above_sigma, p.employees_small_sigma)
    employees = np.maximum(1.0, med * libm.exp(sig * draw.standard_normal(n)))

    # stage
    u = draw.random(n)  # the stage: how many of its class's cumulative shares (below the last) u reaches
    stage = np.where(above, np.searchsorted(np.cumsum(p.stage_shares_above)[:-1], u, side="right"),
                     np.searchsorted(np.cumsum(p.stage_shares_small)[:-1], u, side="right")).astype(np.int8)

    # productivity: sector level, size ratio, firm noise, and the gains of stages already reached
    gains = nominal_gains(params, tables) * params["technology.true_gain_multiplier"]
    reached = np.cumprod(1.0 + gains, axis=1)[sector, stage]
    lam = tables.sector_labour_saving[sector]
    sig_p = p.productivity_sigma
    prod = (
        tables.sector_relative_productivity[sector]
        * np.where(above, 1.0, p.productivity_small_ratio)
        * libm.exp(sig_p * draw.standard_normal(n) - sig_p**2 / 2)
        * reached
    )

    # labour gap: a share of firms cannot fill their needs; the rest have some headroom
    has_gap = draw.random(n) < p.labour_gap_share_2012
    m = max(p.labour_gap_mean, 1e-6)
    gap = np.where(has_gap, draw.beta(2.0, 2.0 * (1 - m) / m, n) if m < 1 else 0.0, 0.0)
    np.minimum(gap, MAX_GAP, out=gap)  # a Beta draw can round to 1: a firm with no workers at all
    needs = employees / (1.0 - gap)
    workforce_cap = np.where(has_gap, employees, needs * (1.0 + 0.2 * draw.random(n)))

    if level is None:  # the reported 2013 figure is a yearly mean of the recorded months, each of which has taken its
        # month of trend before it is recorded (January too): the mean is 6.5 months of trend above the level built here
        wa = weight * employees * above
        january = p.productivity_above_2013 / (1.0 + params["economy.productivity_trend"]) ** (6.5 / 12)
        level = january / (np.sum(wa * prod) / np.sum(wa))
    prod *= level
    if va_threshold is not None:  # the size classes agree with the threshold: sizes on the wrong side are
        va = prod * employees     # mirrored across it (in logs), so the size distribution stays smooth
        wrong = np.where(above, va < va_threshold, va >= va_threshold)
        factor = np.where(wrong, (va_threshold / va) ** 2 * np.where(above, 1.0 + 1e-9, 1.0 - 1e-9), 1.0)
        employees, needs, workforce_cap = employees * factor, needs * factor, workforce_cap * factor
    output = prod * needs

    # robots of stage 1 reached before 2013 (the workers those stages substituted are not the programme's:
    # labour cost saved counts only workers released by projects from 2013)
    stage1_saved = np.where(stage >= 1, needs * (libm.power(1 + gains[sector, 1], lam) - 1), 0.0)
    robots = stage1_saved * params["technology.robots_per_worker_saved"] * params["technology.initial_robot_ratio"]

    value_added = prod * employees
    cash = p.cash_to_value_added * value_added * libm.exp(0.5 * draw.standard_normal(n) - 0.125)

    # each firm's realised gain of each stage (a fixed draw: common random numbers), and what it knows of it
    # beforehand: a signal a with corr(a, z) = sqrt(kappa), so E[z | a] = sqrt(kappa) a, Var = 1 - kappa
    kappa = params["beliefs.own_knowledge"]
    gain_z = draw.standard_normal((n, 4))
    signal = np.sqrt(kappa) * gain_z + np.sqrt(1.0 - kappa) * draw.standard_normal((n, 4))
    z_known = np.sqrt(kappa) * signal
    return dict(
        employees=employees, stage=stage, productivity=prod, has_gap=has_gap, workforce_cap=workforce_cap,
        output=output, robots=robots, workers_saved=np.zeros(n), value_added=value_added, cash=cash, gain_z=gain_z,
        z_known=z_known, kappa=kappa, level=level,
        hightech=draw.random(n) < tables.sector_hightech_prob[sector],
        emerging=draw.random(n) < tables.sector_emerging_prob[sector],
        staff_quality=draw.beta(2.0, 2.0, n),
        key=draw.integers(0, 2**63, size=n, dtype=np.uint64),
    )


def make_firms(city: np.ndarray, sector: np.ndarray, above: np.ndarray, weight: np.ndarray, a: dict,
               params: Params, tables: Tables, wages: tuple[float, float]) -> Firms:
    """A Firms of new firms (no project, no debt, no evidence beyond the prior) from drawn attributes, paying
    ``wages`` (the year's all-units and private-unit averages: :func:`firms.size_wages`), which also set their
    margin until they first produce."""
    n, n_c, n_s = city.size, tables.n_cities, tables.n_sectors
    zeros = np.zeros(n)
    wage = size_wages(above, *wages)
    firms = Firms(
        city=city,
        sector=sector,
        cell=city.astype(np.int64) * n_s + sector,
        above=above,
        weight=weight,
        hightech=a["hightech"],
        emerging=a["emerging"],
        staff_quality=a["staff_quality"],
        key=a["key"],
        alive=np.ones(n, bool),
        gain_z=a["gain_z"],
        z_known=a["z_known"].astype(np.float32),
        z_var=np.full((n, 4), 1.0 - a["kappa"], np.float32),
        output=a["output"],
        productivity=a["productivity"],
        workforce_cap=a["workforce_cap"],
        wage=wage,
        cash=a["cash"],
        debt=zeros.copy(),
        debt_rate=zeros.copy(),
        debt_payment=zeros.copy(),
        lease_liability=zeros.copy(),
        lease_rate=zeros.copy(),
        lease_payment=zeros.copy(),
        lease_model=np.zeros(n, np.int8),
        lease_gain=zeros.copy(),
        excluded_until=np.zeros(n, np.int16),
        employed=a["employees"].copy(),
        has_gap=a["has_gap"].copy(),
        value_added=a["value_added"],
        profit=zeros.copy(),
        va_year=zeros.copy(),
        va_last_year=zeros.copy(),
        profit_year=zeros.copy(),
        loss_years=np.zeros(n, np.int8),
        stage=a["stage"],
        combo=np.zeros(n, np.int64),
        stock_key=np.zeros(n, np.int64),
        robots=a["robots"],
        workers_saved=a["workers_saved"],
        on_cloud=np.zeros(n, bool),
        voucher_used=np.zeros(n, bool),
        pilot=np.zeros(n, bool),
        diagnosed=np.zeros(n, bool),
        belief_precision=zeros.copy(),
        belief_weighted=zeros.copy(),
        cell_precision=np.zeros(n_c * n_s),
        cell_weighted=np.zeros(n_c * n_s),
        informed=np.zeros(n, bool),
        exposure=np.zeros(n, np.float32),
        margin=np.clip((1 - params["economy.other_cost_share"]) - wage / a["productivity"], -1.0, 1.0).astype(np.float32),
        proj_phase=np.full(n, NONE, np.int8),
        proj_target=np.zeros(n, np.int8),
        proj_months=np.zeros(n, np.int16),
        proj_provider=np.full(n, -1, np.int32),
        proj_capex=zeros.copy(),
        proj_robots=zeros.copy(),
        proj_fee=zeros.copy(),
        proj_scale=zeros.copy(),
        proj_route=np.zeros(n, np.int8),
        proj_borrowed=zeros.copy(),
        proj_rate=zeros.copy(),
        proj_since=np.zeros(n, np.int16),
        proj_pilot=np.zeros(n, bool),
        cooldown_until=np.zeros(n, np.int16),
        level=np.float64(a["level"]),
    )
    firms.update_keys()
    return firms
