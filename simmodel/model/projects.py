"""Project lifecycle (docs/ODD.md submodel "Projects"): approval -> provider queue -> implementation
-> completion with a realised gain.

A project's realised gain for each stage it climbs is
    g = true_gain_multiplier x nominal gain x (1 + gain_sd x provider quality x z),
z being the firm's own standard-normal draw for that stage (drawn once at initialisation, so
scenarios share it: common random numbers), floored at -50 %. A project scaled down by the finance
found (share f) realises (1 + g)^f - 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import libm
from .econ import fmax
from .firms import APPROVAL, IMPLEMENTING, NONE, QUEUED, Firms

MIN_GAIN = -0.5


def begin(firms: Firms, idx: np.ndarray, target: np.ndarray, capex: np.ndarray, robots: np.ndarray,
          scale: np.ndarray, route: np.ndarray, borrowed: np.ndarray, rate: np.ndarray, approval_months: int,
          month: int) -> None:
    """Firms ``idx`` commit to a project: it enters approval (or the queue if approval is instant)."""
    firms.proj_phase[idx] = APPROVAL if approval_months > 0 else QUEUED
    firms.proj_months[idx] = approval_months
    firms.proj_target[idx] = target
    firms.proj_capex[idx] = capex * scale
    firms.proj_robots[idx] = robots * scale
    firms.proj_fee[idx] = 0.0
    firms.proj_scale[idx] = scale
    firms.proj_route[idx] = route
    firms.proj_borrowed[idx] = borrowed
    firms.proj_rate[idx] = rate
    firms.proj_since[idx] = month
    firms.proj_provider[idx] = -1


def advance_approval(firms: Firms, active: np.ndarray, month: int) -> None:
    """Approval clocks of the ``active`` projects tick; approved projects join the provider queue."""
    idx = active[(firms.proj_phase[active] == APPROVAL) & (firms.proj_since[active] < month)]
    firms.proj_months[idx] -= 1
    done = idx[firms.proj_months[idx] <= 0]
    firms.proj_phase[done] = QUEUED
    firms.proj_since[done] = month


def queue_order(firms: Firms, active: np.ndarray) -> np.ndarray:
    """Queued projects: pilots first (a documented ranking), then in order of arrival; projects that
    arrived in the same month in a seeded random order, drawn afresh for each month's arrivals."""
    from .allocation import event_id, tie_break

    q = active[firms.proj_phase[active] == QUEUED]
    arrived = firms.proj_since[q]
    tie = tie_break(firms.key[q] ^ arrived.astype(np.uint64), event_id("provider queue", 0))
    return q[np.lexsort((tie, arrived, ~firms.pilot[q]))]


def start(firms: Firms, idx: np.ndarray, provider: np.ndarray, fee_share: np.ndarray, fixed_cost: float,
          months: np.ndarray, month: int) -> np.ndarray:
    """Providers begin implementing projects ``idx``; returns the fee (yuan, per firm)."""
    fee = fee_share * firms.proj_capex[idx] + fixed_cost * firms.proj_scale[idx]
    firms.proj_phase[idx] = IMPLEMENTING
    firms.proj_provider[idx] = provider
    firms.proj_fee[idx] = fee
    firms.proj_months[idx] = months
    firms.proj_since[idx] = month
    return fee


def implementation_months(stage: np.ndarray, target: np.ndarray, months_by_stage: np.ndarray) -> np.ndarray:
    """Months to implement climbing from ``stage`` to ``target`` (the stages' months add up)."""
    cum = np.cumsum(months_by_stage)
    return cum[target] - cum[stage]


def advance_implementation(firms: Firms, active: np.ndarray, month: int) -> np.ndarray:
    """Implementation clocks of the ``active`` projects tick; returns those completing this month."""
    idx = active[(firms.proj_phase[active] == IMPLEMENTING) & (firms.proj_since[active] < month)]
    firms.proj_months[idx] -= 1
    return idx[firms.proj_months[idx] <= 0]


def realised_gain(firms: Firms, idx: np.ndarray, nominal_gain: np.ndarray, true_multiplier: float,
                  gain_sd: float, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gain, evidence ratio) of completed projects ``idx``.

    The evidence ratio is the realised gain per unit of nominal gain (averaged over the stages
    climbed, before scaling): what other firms learn from this project.
    """
    stage, target = firms.stage[idx].astype(np.int64), firms.proj_target[idx].astype(np.int64)
    sector = firms.sector[idx]
    log_gain = np.zeros(idx.size)
    ratio_sum = np.zeros(idx.size)
    for k in range(1, 5):  # the four stages; a project climbs one or two of them
        climbs = (stage < k) & (target >= k)
        if not climbs.any():
            continue
        r = true_multiplier * (1.0 + gain_sd * quality * firms.gain_z[idx, k - 1])
        g = np.maximum(r * nominal_gain[sector, k], MIN_GAIN)
        log_gain += np.where(climbs, libm.log1p(g), 0.0)
        ratio_sum += np.where(climbs, r, 0.0)
    gain = libm.expm1(firms.proj_scale[idx] * log_gain)
    return gain, ratio_sum / np.maximum(target - stage, 1)


def finish(firms: Firms, idx: np.ndarray, month: int, cooldown: int) -> None:
    """Close completed projects: the firm reaches its target stage and may plan again later."""
    firms.stage[idx] = firms.proj_target[idx]
    firms.update_keys(idx)
    firms.proj_phase[idx] = NONE
    firms.proj_provider[idx] = -1
    firms.proj_months[idx] = 0
    firms.cooldown_until[idx] = month + cooldown


@njit(cache=True, nogil=True, error_model="numpy")
def robots_of(needs, gain, labour_saving, robots_per_worker, climbs1):
    """Robots a project plans to install: robots_per_worker x the workers its gain saves, for projects
    that climb to stage 1 (machine substitution); the robot purchase subsidy is capped per robot (one firm)."""
    if not climbs1:
        return 0.0
    return fmax(needs * -math.expm1(-labour_saving * math.log1p(gain)), 0.0) * robots_per_worker
