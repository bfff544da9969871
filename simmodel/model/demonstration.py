"""Demonstration: case-promotion conferences and pilot firms (docs/ODD.md 3.4.8).

Conferences: about ``conferences_per_year`` a year, spread evenly over the months. Each is held for
one city x sector cell, chosen with probability proportional to the cell's firms still at stage 0,
among sectors that have cases to show. Non-adopters of the cell (stage 0, no project) attend, about
``attendees_per_conference`` real firms; each attendee's exposure becomes 1 and it learns what firms
like it got: the cases of its sector and size class of the last ``case_window_months`` (projects
completed there; pilot projects counted ``pilot_showcase_weight`` times; its sector's cases of both sizes if
its own class has none), with weight ``conference_learning``. A bad wave of projects shown at
conferences lowers the next candidates' beliefs.

Pilots: the 30 pilot industries (sectors.csv) are shuffled into three batches; at each batch's month
``pilot_firms_per_industry`` real above-size firms of the industry's sector (not in a project, below
stage 3), drawn at random, become pilots: exposure 1, an expert diagnosis, and a project started at
once with the fund's pilot support, guaranteed finance and the first place in the providers' queue.
Their realised gains are the cases conferences show first. A pilot firm's later projects are like anyone's.
Conferences and pilots draw from their own random streams. Both start with the programme
(params.instrument_start: conferences from its start, each batch at its date moved with programme.start).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..params import Params, instrument_start
from . import beliefs
from .allocation import event_id, event_offset, priority_of, random_order, take_within, weighted_sample
from .econ import array_sum, fmin
from .firms import NONE, Firms


def conferences_in_month(per_year: int, month: int) -> int:
    """Conferences held in ``month`` so that each calendar year has exactly ``per_year``."""
    m = month % 12
    return round((m + 1) * per_year / 12) - round(m * per_year / 12)


@njit(cache=True, nogil=True)
def _case_mean(case_sum, case_n, mean, n_shown):
    """Demonstration.case_mean into ``mean`` and ``n_shown``: each (sector, size class)'s cases summed over the
    window's months in order (as numpy sums over the first axis), a class without any showing its sector's (the
    two classes added), the mean 0 where nothing is shown."""
    for s in range(case_n.shape[1]):
        for c in range(2):
            n, t = case_n[0, s, c], case_sum[0, s, c]
            for w in range(1, case_n.shape[0]):
                n += case_n[w, s, c]
                t += case_sum[w, s, c]
            n_shown[s, c], mean[s, c] = n, t
        n_sector, t_sector = n_shown[s, 0] + n_shown[s, 1], mean[s, 0] + mean[s, 1]
        for c in range(2):
            if n_shown[s, c] <= 0:
                n_shown[s, c], mean[s, c] = n_sector, t_sector
            mean[s, c] = mean[s, c] / n_shown[s, c] if n_shown[s, c] > 0 else 0.0


class Demonstration:
    """The province's conference programme and pilot batches (run by the provincial government)."""

    def __init__(self, params: Params, firms: Firms, n_cells: int, n_sectors: int,
                 pilot_industries: np.ndarray, rng: np.random.Generator, pilot_rng: np.random.Generator):
        d = params.demonstration
        self.p, self.rng, self.pilot_rng, self.n_cells, self.n_sectors = d, rng, pilot_rng, n_cells, n_sectors
        self._cell_sector = np.arange(n_cells) % n_sectors  # each cell's sector (cell = city x sectors + sector)
        self.window = d.case_window_months
        # ring buffer by month, sector, size class: the window's months and this month's, whose cases come after
        # the month's conferences (so a conference shows the last ``window`` complete months)
        self.case_sum = np.zeros((self.window + 1, n_sectors, 2))
        self.case_n = np.zeros((self.window + 1, n_sectors, 2))
        order = np.argsort(firms.cell, kind="stable")
        bounds = np.searchsorted(firms.cell[order], np.arange(n_cells + 1))
        self._members_order, self._members_bounds = order, bounds  # cell c's firms: order[bounds[c]:bounds[c + 1]]
        industries = pilot_rng.permutation(np.repeat(np.arange(n_sectors), pilot_industries))
        self.conferences_from = instrument_start(params)
        self.batches = {}
        if d.pilots_enabled:
            months = [instrument_start(params, f"demonstration.pilot_batch{b}") for b in (1, 2, 3)]
            for b, chunk in enumerate(np.array_split(industries, 3)):
                self.batches.setdefault(months[b], []).extend(chunk.tolist())
        self.held_this_month = 0
        self.held: list[tuple[int, int]] = []  # (month, cell) of every conference
        self.attended = np.full(firms.n, -1, np.int16)  # month each firm last attended a conference (-1: never)
        self.pilots_total = 0.0  # real firms

    # --- cases ------------------------------------------------------------------------------
    def record_cases(self, month: int, sector: np.ndarray, above: np.ndarray, weight: np.ndarray,
                     ratio: np.ndarray, pilot: np.ndarray) -> None:
        """Projects completed this month become cases of their sector and size class (``pilot``: pilot projects,
        which count more)."""
        w = weight * np.where(pilot, self.p.pilot_showcase_weight, 1.0)
        slot = month % (self.window + 1)
        key = sector.astype(np.int64) * 2 + above
        self.case_sum[slot] += np.bincount(key, weights=w * ratio, minlength=self.n_sectors * 2).reshape(-1, 2)
        self.case_n[slot] += np.bincount(key, weights=w, minlength=self.n_sectors * 2).reshape(-1, 2)

    def new_month(self, month: int) -> None:
        """Forget the cases that leave the window (those of ``window`` + 1 months ago)."""
        slot = month % (self.window + 1)
        self.case_sum[slot] = 0.0
        self.case_n[slot] = 0.0

    def case_mean(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean gain ratio, real projects) of the cases in the window, by sector and size class
        (n_sectors, 2); a class without cases shows its sector's cases of both classes."""
        mean, n_shown = np.empty(self.case_n.shape[1:]), np.empty(self.case_n.shape[1:])
        _case_mean(self.case_sum, self.case_n, mean, n_shown)
        return mean, n_shown

    # --- conferences --------------------------------------------------------------------------
    def hold_conferences(self, firms: Firms, month: int, obs_var: float, stage0: np.ndarray) -> np.ndarray:
        """This month's conferences (``stage0``: real firms at stage 0 per cell); returns the attendees."""
        self.held_this_month = 0
        on = self.p.conferences_enabled and month >= self.conferences_from
        k = conferences_in_month(self.p.conferences_per_year, month) if on else 0
        if k == 0:
            return np.zeros(0, np.int64)
        mean, n_cases = self.case_mean()
        weight = stage0 * (n_cases.sum(axis=1)[self._cell_sector] > 0)
        if weight.sum() <= 0:
            return np.zeros(0, np.int64)
        k = min(k, int(np.count_nonzero(weight)))
        cells = weighted_sample(self.rng, weight / weight.sum(), k)  # numpy's choice without replacement
        self.held.extend([(month, c) for c in cells.tolist()])
        att = _attendees(self._members_order, self._members_bounds, cells.astype(np.int64), firms.stage,
                         firms.proj_phase, firms.alive, NONE, firms.weight, firms.key,
                         event_offset(event_id("conference seats", month)), float(self.p.attendees_per_conference))
        self.held_this_month = k
        if att.size:
            self.attended[att] = month
            firms.exposure[att] = 1.0
            shown = mean[firms.sector[att], firms.above[att].astype(np.int64)]
            beliefs.observe(firms.belief_precision, firms.belief_weighted, att, shown, self.p.conference_learning,
                            obs_var)
            firms.informed[att] = True
        return att

    # --- pilots ------------------------------------------------------------------------------
    def pick_pilots(self, firms: Firms, month: int) -> np.ndarray:
        """At a batch's month, draw the pilot firms of its industries (real firms); returns them."""
        chosen = []
        for sector in self.batches.get(month, []):
            cand = ((firms.sector == sector) & firms.above & (firms.proj_phase == NONE)
                    & (firms.stage <= 2) & ~firms.pilot & firms.alive).nonzero()[0]
            if cand.size == 0:
                continue
            cand = cand[random_order(firms.key[cand], f"pilot places {sector}", month)]
            take = take_within(firms.weight[cand], self.p.pilot_firms_per_industry, self.pilot_rng.random())
            pick = cand[take]
            firms.pilot[pick] = True
            chosen.append(pick)
        out = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        self.pilots_total += float(firms.weight[out].sum())
        return out


def start_pilot_projects(model, idx: np.ndarray, wage: float, price_index: float) -> None:
    """Pilots ``idx`` get a diagnosis and exposure, and start their best project at once: the pilot support
    of the fund's envelope paid, finance guaranteed (finance.guaranteed), first in the providers' queue."""
    from . import finance, projects

    f, p = model.firms, model.params
    beliefs.diagnose(f, idx, p["experts.learning"])
    f.informed[idx] = f.diagnosed[idx] = True
    f.exposure[idx] = 1.0
    ctx = model.adoption.context(wage, price_index)
    opts, _ = model.adoption.options(idx, ctx)
    support = model.subsidies.pay_pilots(idx, opts.capex)
    f.cash[idx] += support
    need = opts.capex + opts.fee - opts.subsidy  # the support is in its cash already
    fin = finance.guaranteed(f, idx, need, model.bank, p["decision.min_finance_fraction"])
    go = fin.scale > 0
    projects.begin(f, idx[go], opts.target[go], opts.capex[go], opts.robots[go], fin.scale[go], fin.route[go],
                   fin.borrowed[go], fin.rate[go], model.government.approval_months(), model.month, pilot=True)
    model.flow("loans_issued", idx[go & fin.applied])


@njit(cache=True, nogil=True)
def _attendees(order, bounds, cells, stage, phase, alive, no_project, weight, key, offset, seats):
    """Who attends the conferences in ``cells``, in one pass: a conference invites the stage-0 firms of its cell
    without a project (cell c's members: ``order[bounds[c]:bounds[c + 1]]``), and each invited firm attends with
    probability min(1, ``seats`` / the real firms invited), decided by its priority in the event (``offset``:
    tie_break's); the attendees cell after cell, each cell's in the order of its members."""
    n = 0
    for c in cells:
        n += bounds[c + 1] - bounds[c]
    invited = np.empty(n, np.int64)
    out = np.empty(n, np.int64)
    k = 0
    for c in cells:
        m = 0
        for i in order[bounds[c]:bounds[c + 1]]:
            if stage[i] == 0 and phase[i] == no_project and alive[i]:
                invited[m] = i
                m += 1
        real = array_sum(weight[invited[:m]])  # real firms invited (numpy's sum)
        p = fmin(1.0, seats / (real if real > 0 else np.inf))
        for j in range(m):
            if priority_of(key[invited[j]], offset) < p:
                out[k] = invited[j]
                k += 1
    return out[:k].copy()
