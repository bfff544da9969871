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

from .allocation import event_id, event_offset, priority_of
from .econ import fmax
from .firms import APPROVAL, IMPLEMENTING, NONE, QUEUED, Firms

MIN_GAIN = -0.5
_QUEUE_EVENT = event_offset(event_id("provider queue", 0))  # the queue's tie-breaks (queue_order)


def begin(firms: Firms, idx: np.ndarray, target: np.ndarray, capex: np.ndarray, robots: np.ndarray,
          scale: np.ndarray, route: np.ndarray, borrowed: np.ndarray, rate: np.ndarray, approval_months: int,
          month: int, pilot: bool = False) -> None:
    """Firms ``idx`` commit to a project: it enters approval (or the queue if approval is instant). ``pilot``: these
    are pilots' pilot projects (docs/ODD.md 3.4.8), which go first in the providers' queue and count more as cases;
    a pilot firm's later projects are like anyone's."""
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
    firms.proj_pilot[idx] = pilot


def advance_approval(firms: Firms, active: np.ndarray, month: int) -> None:
    """Approval clocks of the ``active`` projects tick; approved projects join the provider queue."""
    _tick(firms, active, month, APPROVAL, QUEUED)


def _tick(firms: Firms, active: np.ndarray, month: int, phase: int, then: int) -> np.ndarray:
    """The clocks of the ``active`` projects in ``phase`` that began before ``month`` tick one month; those that
    reach zero move to phase ``then`` from this month (-1: they stay) and are returned, in the order of
    ``active``."""
    done = np.empty(active.size, np.int64)
    return done[:_tick_kernel(active, firms.proj_phase, firms.proj_since, firms.proj_months, month, phase, then, done)]


@njit(cache=True, nogil=True)
def _tick_kernel(active, proj_phase, proj_since, proj_months, month, phase, then, done):
    n = 0
    for j in range(active.size):
        i = active[j]
        if proj_phase[i] == phase and proj_since[i] < month:
            proj_months[i] -= 1
            if proj_months[i] <= 0:
                done[n] = i
                n += 1
                if then >= 0:
                    proj_phase[i] = then
                    proj_since[i] = month
    return n


def queue_order(firms: Firms, active: np.ndarray) -> np.ndarray:
    """Queued projects: pilot projects first (a documented ranking), then in order of arrival; projects that
    arrived in the same month in a seeded random order, drawn afresh for each month's arrivals (their firms'
    tie_break priorities for the event of their month of arrival, one compiled pass gathering them)."""
    q, arrived, tie, later = (np.empty(active.size, t) for t in (np.int64, np.int64, np.float64, np.bool_))
    n = _queued_kernel(active, firms.proj_phase, firms.proj_since, firms.key, firms.proj_pilot,
                       _QUEUE_EVENT, q, arrived, tie, later)
    return q[:n][np.lexsort((tie[:n], arrived[:n], later[:n]))]


@njit(cache=True, nogil=True)
def _queued_kernel(active, proj_phase, proj_since, key, pilot, offset, q, arrived, tie, later):
    """The queued projects among ``active`` (in its order) into ``q``, with the month each arrived, its tie-break
    (allocation.tie_break of the firm's key xor that month, for the event ``offset``) and whether it comes after
    the pilot projects (``pilot``: per firm, its current project is one); returns how many."""
    n = 0
    for j in range(active.size):
        i = active[j]
        if proj_phase[i] == QUEUED:
            q[n], arrived[n], later[n] = i, proj_since[i], not pilot[i]
            tie[n] = priority_of(key[i] ^ np.uint64(np.int64(proj_since[i])), offset)
            n += 1
    return n


def start(firms: Firms, idx: np.ndarray, provider: np.ndarray, fee_share: np.ndarray, fixed_cost: float,
          months_by_stage: np.ndarray, month: int) -> np.ndarray:
    """Providers begin implementing projects ``idx`` (``provider``: each one's, ``fee_share``: its fee share), for
    the months of the stages they climb (``months_by_stage``: each stage's; months_between); returns the fee (yuan, per
    firm): the provider's share of the capital cost plus the fixed cost at the project's scale."""
    fee = np.empty(idx.size)
    _start_kernel(idx, provider, np.ascontiguousarray(fee_share, np.float64), float(fixed_cost),
                  np.cumsum(months_by_stage), month, firms.stage, firms.proj_target, firms.proj_capex, firms.proj_scale,
                  firms.proj_phase, firms.proj_provider, firms.proj_fee, firms.proj_months, firms.proj_since, fee)
    return fee


@njit(cache=True, nogil=True)
def _start_kernel(idx, provider, fee_share, fixed_cost, cum_months, month, stage, target, capex, scale, proj_phase,
                  proj_provider, proj_fee, proj_months, proj_since, fee):
    for j in range(idx.size):
        i = idx[j]
        fee[j] = fee_share[j] * capex[i] + fixed_cost * scale[i]
        proj_phase[i] = IMPLEMENTING
        proj_provider[i] = provider[j]
        proj_fee[i] = fee[j]
        proj_months[i] = months_between(cum_months, stage[i], target[i])
        proj_since[i] = month


@njit(inline="always")
def months_between(cum_months, stage, target):
    """Months to implement a project climbing from ``stage`` to ``target``: the stages' months added up
    (``cum_months``: their running total from stage 0)."""
    return cum_months[target] - cum_months[stage]


def advance_implementation(firms: Firms, active: np.ndarray, month: int) -> np.ndarray:
    """Implementation clocks of the ``active`` projects tick; returns those completing this month."""
    return _tick(firms, active, month, IMPLEMENTING, -1)


def realised_gain(firms: Firms, idx: np.ndarray, nominal_gain: np.ndarray, true_multiplier: float,
                  gain_sd: float, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gain, evidence ratio) of completed projects ``idx`` (:func:`realised_gain_of`, firm by firm)."""
    gain, ratio = np.empty(idx.size), np.empty(idx.size)
    _realised_kernel(idx, firms.stage, firms.proj_target, firms.sector, firms.proj_scale, firms.gain_z,
                     np.ascontiguousarray(quality, np.float64), nominal_gain, float(true_multiplier), float(gain_sd),
                     gain, ratio)
    return gain, ratio


@njit(cache=True, nogil=True, error_model="numpy")
def realised_gain_of(stage, target, scale, z, quality, nominal, true_multiplier, gain_sd):
    """(gain, evidence ratio) of one completed project climbing from ``stage`` to ``target``: each stage k climbed
    realises r_k = true_multiplier x (1 + gain_sd x quality x z[k - 1]) of its nominal gain (``nominal[k]``; the
    gain at least MIN_GAIN), the gains compound, and a project carried out at ``scale`` gets that share of the
    compounded gain's log. The evidence ratio is the mean r over the stages climbed, before scaling: what other
    firms learn from this project."""
    log_gain = ratio_sum = 0.0
    for k in range(stage + 1, target + 1):  # a project climbs one or two stages
        r = true_multiplier * (1.0 + gain_sd * quality * z[k - 1])
        log_gain += math.log1p(fmax(r * nominal[k], MIN_GAIN))
        ratio_sum += r
    return math.expm1(scale * log_gain), ratio_sum / max(target - stage, 1)


def public_ratio(ratio: np.ndarray, weight: np.ndarray, expected: float) -> np.ndarray:
    """What the completed projects of the real firms an agent stands for show other firms (its cell's peers, the
    conferences' cases): the mean of their ratios, each firm with its own draw, deviates from the ``expected``
    ratio (that of a draw of 0) by the agent's deviation / sqrt(weight). An agent's one draw would otherwise count
    as ``weight`` independent ones, and public evidence would be noisier the coarser the sample (the spread of the
    cells' evidence fell as 1 / sqrt(scale) until 2026-12-06). The agent's own belief, award and money keep its own
    ratio. An agent standing for one firm or less shows its own."""
    return np.where(weight > 1.0, expected + (ratio - expected) / np.sqrt(weight), ratio)


@njit(cache=True, nogil=True, error_model="numpy")
def _realised_kernel(idx, stage, target, sector, scale, gain_z, quality, nominal_gain, true_multiplier, gain_sd,
                     gain, ratio):
    for j in range(idx.size):
        i = idx[j]
        gain[j], ratio[j] = realised_gain_of(np.int64(stage[i]), np.int64(target[i]), scale[i], gain_z[i], quality[j],
                                             nominal_gain[sector[i]], true_multiplier, gain_sd)


def finish(firms: Firms, idx: np.ndarray, month: int, cooldown: int) -> None:
    """Close completed projects: the firm reaches its target stage and may plan again later."""
    firms.stage[idx] = firms.proj_target[idx]
    firms.update_keys(idx)
    firms.proj_phase[idx] = NONE
    firms.proj_provider[idx] = -1
    firms.proj_pilot[idx] = False
    firms.proj_months[idx] = 0
    firms.cooldown_until[idx] = month + cooldown


@njit(cache=True, nogil=True, error_model="numpy")
def robots_of(needs, gain, labour_saving, robots_per_worker, climbs1):
    """Robots a project plans to install: robots_per_worker x the workers its gain saves, for projects
    that climb to stage 1 (machine substitution); the robot purchase subsidy is capped per robot (one firm)."""
    if not climbs1:
        return 0.0
    return fmax(needs * -math.expm1(-labour_saving * math.log1p(gain)), 0.0) * robots_per_worker
