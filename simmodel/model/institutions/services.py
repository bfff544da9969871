"""Engineering-service providers: capacity, sector specialisation, price, quality, learning, entry.

docs/ODD.md, submodel "Engineering-service providers". Each provider works in one sector group and
implements at most ``capacity`` projects (real firms) at once. Queued projects are taken in order
of arrival (ties by a fixed random priority); the best providers (smallest spread of realised gains)
fill first. An agent stands for ``weight`` real firms: its project's firms are spread over the providers
whose free capacity they fill (a ledger of (firm, provider, real firms)), and it pays their mean fee and gets
their mean quality, so that no provider's load, fee or quality depends on the sample's scale. The fee falls
with a provider's completed projects (an experience curve). When a sector's queue is long, new providers enter
in proportion to the backlog.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import mesa
import numpy as np
from numba import njit

from ...params import Params
from .. import beliefs, libm
from ..allocation import event_id, first_of_each, largest_remainder, take_within, tie_break
from ..econ import array_sum, fmax
from ..firms import NONE


class ServiceProvider(mesa.Agent):
    """One engineering-service company (a Mesa agent whose state is a row of the market's arrays).

    Attributes (read-only views): sector, capacity (concurrent projects, real firms), fee_share
    (before learning), quality (multiplier of the spread of realised gains; below 1 is better),
    active (projects being implemented), completed (projects completed so far).
    """

    def __init__(self, model: mesa.Model, market: ProviderMarket, index: int):
        super().__init__(model)
        self.market, self.index = market, index

    sector = property(lambda self: int(self.market.sector[self.index]))
    capacity = property(lambda self: float(self.market.capacity[self.index]))
    fee_share = property(lambda self: float(self.market.base_fee[self.index]))
    quality = property(lambda self: float(self.market.quality[self.index]))
    active = property(lambda self: float(self.market.active[self.index]))
    completed = property(lambda self: float(self.market.completed[self.index]))
    effective_fee_share = property(lambda self: float(self.market.fee_shares()[self.index]))


class ProviderMarket:
    """The providers of the province (arrays, one row per provider) and the monthly matching."""

    def __init__(self, model: mesa.Model, params: Params, n_sectors: int, sector_share: np.ndarray,
                 rng: np.random.Generator):
        pr = params.providers
        self.model, self.rng, self.n_sectors = model, rng, n_sectors
        self.default_capacity, self.default_fee = pr.capacity, pr.fee_share
        self.progress_exponent = math.log2(pr.progress_ratio)
        self.spread = pr.quality_spread
        self.entry_ratio, self.entry_rate, self.max_count = pr.entry_queue_ratio, pr.entry_rate, pr.max_count
        self.sector = np.zeros(0, np.int64)
        self.capacity = np.zeros(0)
        self.base_fee = np.zeros(0)
        self.quality = np.zeros(0)
        self.active = np.zeros(0)
        self.completed = np.zeros(0)
        self.providers: list[ServiceProvider] = []
        # the ledger: each implementing project's real firms at each of its providers, one row a (firm, provider)
        self.led_firm, self.led_provider, self.led_amount = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        self._slot = np.zeros(0, np.int64)  # scratch: a firm's position among the firms asked about, else -1
        self._members: tuple | None = None  # providers by sector, best first, and each sector's bounds (cached)
        counts = largest_remainder(sector_share, pr.initial_count)
        self._enter(np.repeat(np.arange(len(counts)), counts))
        self.entries_total = 0

    def _enter(self, sectors: np.ndarray) -> None:
        """Providers enter ``sectors`` (one each, in this order), each with its quality drawn in turn."""
        k = len(sectors)
        if k == 0:
            return
        q = 1.0 + self.spread * (2.0 * self.rng.random(k) - 1.0)
        self.sector = np.concatenate([self.sector, sectors])
        self.capacity = np.concatenate([self.capacity, np.full(k, self.default_capacity)])
        self.base_fee = np.concatenate([self.base_fee, np.full(k, self.default_fee)])
        self.quality = np.concatenate([self.quality, q])
        self.active = np.concatenate([self.active, np.zeros(k)])
        self.completed = np.concatenate([self.completed, np.zeros(k)])
        first = len(self.providers)
        self.providers.extend([ServiceProvider(self.model, self, first + i) for i in range(k)])
        self._members = None

    def members(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, bounds): sector s's providers are ``order[bounds[s]:bounds[s + 1]]``, the best (smallest quality
        multiplier) first; ties by entry."""
        if self._members is None:
            order = np.lexsort((self.quality, self.sector))  # by sector, then quality, then entry
            self._members = (order, np.searchsorted(self.sector[order], np.arange(self.n_sectors + 1)))
        return self._members

    # --- views used by firms and indicators -------------------------------------------------------
    def fee_shares(self) -> np.ndarray:
        """Each provider's fee share after learning: progress_ratio per doubling of experience (fee_share_of)."""
        return self._fees()[0]

    def expected_fee_share(self) -> np.ndarray:
        """Capacity-weighted fee share (after learning) per sector: what a firm expects to pay."""
        return self._fees()[1]

    def _fees(self) -> tuple[np.ndarray, np.ndarray]:
        shares, expected = np.empty(self.sector.size), np.empty(self.n_sectors)
        _fees_kernel(self.sector, self.capacity, self.base_fee, self.completed, float(self.progress_exponent),
                     float(self.default_fee), shares, expected)
        return shares, expected

    def lowest_fee_share(self, horizon_months: int = 12) -> np.ndarray:
        """Per sector, a fee share no provider will go below within ``horizon_months``.

        A provider completes at most capacity x horizon projects, so its learning factor falls at
        most by ((1 + c + horizon) / (1 + c))^log2(progress_ratio), c = completed / capacity; an
        entrant starts unlearned and may learn as fast.
        """
        c = self.completed / self.capacity
        floor = self.fee_shares() * libm.power((1.0 + c + horizon_months) / (1.0 + c), self.progress_exponent)
        low = np.full(self.n_sectors, self.default_fee * (1.0 + horizon_months) ** self.progress_exponent)
        np.minimum.at(low, self.sector, floor)
        return low

    def sector_capacity(self) -> np.ndarray:
        return np.bincount(self.sector, weights=self.capacity, minlength=self.n_sectors)

    @property
    def total_capacity(self) -> float:
        return float(self.capacity.sum())

    @property
    def total_active(self) -> float:
        return float(self.active.sum())

    # --- the monthly matching ------------------------------------------------------------------------
    def match(self, queued: np.ndarray, sector: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Assign queued projects (firm indices, already in queue order) to providers with free capacity.

        Returns, per queued project, the first provider implementing it (-1 = still waiting). Projects that fit in
        their sector's free capacity are taken; the one that straddles the limit (an agent stands for ``weight``
        firms) is taken with probability equal to the share of it that fits, so the load is unbiased and exceeds
        capacity by less than one agent per sector at most. A project taken covers its weight of the sector's free
        capacity laid out best provider first, from the weight queued ahead of it: each provider it covers takes
        that part of its firms (the ledger). The straddling project may reach beyond all free capacity; its
        providers then take its firms in proportion to the parts they cover.
        """
        assigned = np.full(queued.size, -1, np.int64)
        draws = self.rng.random(self.n_sectors)  # one per sector per month: stable streams
        if queued.size:
            rows = queued.size + self.sector.size + self.n_sectors  # each provider boundary splits a project once
            project, provider, amount = np.empty(rows, np.int64), np.empty(rows, np.int64), np.empty(rows)
            n = _match_kernel(queued, sector, weight, self.sector, self.capacity, self.active, draws, *self.members(),
                              assigned, project, provider, amount)
            if n:
                self.led_firm = np.concatenate((self.led_firm, queued[project[:n]]))
                self.led_provider = np.concatenate((self.led_provider, provider[:n]))
                self.led_amount = np.concatenate((self.led_amount, amount[:n]))
        return assigned

    def _rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the ledger's rows of the projects of firms ``idx``, each row's position in ``idx``)."""
        if self._slot.size != self.model.firms.n:  # the population's slots are fixed (entrants take closed ones')
            self._slot = np.full(self.model.firms.n, -1, np.int64)
        self._slot[idx] = np.arange(idx.size)
        at = self._slot[self.led_firm]
        self._slot[idx] = -1
        rows = np.flatnonzero(at >= 0)
        return rows, at[rows]

    def _mean_over_providers(self, idx: np.ndarray, per_provider: np.ndarray) -> np.ndarray:
        """Per project of firms ``idx``, the mean of ``per_provider`` over its providers, weighted by the real
        firms each implements."""
        rows, at = self._rows(idx)
        amount = self.led_amount[rows]
        total = np.bincount(at, weights=amount * per_provider[self.led_provider[rows]], minlength=idx.size)
        return total / np.bincount(at, weights=amount, minlength=idx.size)

    def fee_share_for(self, idx: np.ndarray) -> np.ndarray:
        """The fee share the projects of firms ``idx`` pay: their providers' fee shares (after learning), by the
        real firms each implements."""
        return self._mean_over_providers(idx, self.fee_shares())

    def quality_for(self, idx: np.ndarray) -> np.ndarray:
        """The quality multiplier of the projects of firms ``idx``: their providers', by the real firms each
        implements."""
        return self._mean_over_providers(idx, self.quality)

    def finish(self, idx: np.ndarray) -> None:
        """The projects of firms ``idx`` finished: their providers' capacity is free and they gain experience."""
        self.completed += self.release(idx)

    def release(self, idx: np.ndarray) -> np.ndarray:
        """The projects of firms ``idx`` end (finished, or the firm closed): their capacity is free and they leave
        the ledger. Returns the projects ended per provider (real firms)."""
        rows, _ = self._rows(idx)
        sums = np.bincount(self.led_provider[rows], weights=self.led_amount[rows], minlength=self.active.size)
        self.active = np.maximum(self.active - sums, 0.0)
        keep = np.ones(self.led_firm.size, bool)
        keep[rows] = False
        self.led_firm, self.led_provider, self.led_amount = self.led_firm[keep], self.led_provider[keep], \
            self.led_amount[keep]
        return sums

    def entry(self, queue_by_sector: np.ndarray) -> int:
        """Providers enter sectors whose queue (real firms) exceeds entry_ratio x capacity: a Poisson
        number with mean entry_rate x the excess backlog in units of a provider's capacity, up to max_count
        providers in all (the entrants then drawn at random from those of every sector)."""
        excess = np.maximum(queue_by_sector - self.entry_ratio * self.sector_capacity(), 0.0)
        n = self.rng.poisson(self.entry_rate * excess / self.default_capacity)  # one draw per sector
        sectors = np.repeat(np.arange(n.size), n)
        room = max(self.max_count - len(self.providers), 0)
        if sectors.size > room:  # max_count binds: a random draw of the would-be entrants, not the first sectors
            sectors = sectors[np.sort(self.rng.choice(sectors.size, room, replace=False))]
        self._enter(sectors)
        entered = len(sectors)
        self.entries_total += entered
        return entered


@njit(cache=True, nogil=True)
def _match_kernel(queued, sector, weight, p_sector, capacity, active, draws, member_order, member_bounds, assigned,
                  project, provider, amount):
    """ProviderMarket.match in one compiled call: each sector's room net of any provider's overfill (so an
    overfill is worked off before new projects start; summed provider by provider from 0, as np.bincount), each
    provider's free capacity (np.maximum(capacity - active, 0.0)), the queue's positions by sector in queue
    order (a stable counting sort), the matching (_match_sectors: the ledger's rows into ``project`` (position in
    the queue), ``provider``, ``amount``; returns their number), and the real firms each provider took added to its
    load (summed by provider in the rows' order from 0, then added)."""
    n_s, q = draws.size, queued.size
    net, free_all = np.zeros(n_s), np.empty(capacity.size)
    for p in range(capacity.size):
        room = capacity[p] - active[p]
        net[p_sector[p]] += room
        free_all[p] = room if room >= 0.0 or room != room else 0.0  # np.maximum's result, NaN and -0.0 kept
    w_queued, bounds = np.empty(q), np.zeros(n_s + 1, np.int64)
    for j in range(q):
        w_queued[j] = weight[queued[j]]
        bounds[sector[queued[j]] + 1] += 1
    for s in range(n_s):
        bounds[s + 1] += bounds[s]
    by_sector, fill = np.empty(q, np.int64), bounds[:-1].copy()
    for j in range(q):
        s = sector[queued[j]]
        by_sector[fill[s]] = j
        fill[s] += 1
    n = _match_sectors(w_queued, by_sector, bounds, net, draws, free_all, member_order, member_bounds, assigned,
                       project, provider, amount)
    if n:
        load = np.zeros(active.size)
        for r in range(n):
            load[provider[r]] += amount[r]
        for p in range(active.size):
            active[p] += load[p]
    return n


@njit(cache=True, nogil=True)
def _match_sectors(w_queued, by_sector, bounds, net, draws, free_all, member_order, member_bounds, assigned,
                   project, provider, amount):
    """ProviderMarket.match sector by sector, in one compiled loop: in each sector with a queue and free
    capacity, the projects take_within serves (in queue order) cover the sector's free capacity laid out best
    provider first, each from the weight queued ahead of it (its span [a, a + weight)); each provider takes the
    part of the span its free capacity holds (all of the span's firms in those proportions if it reaches beyond
    the sector's free capacity: the straddler). Returns the rows written."""
    n = 0
    for s in range(bounds.size - 1):
        if bounds[s + 1] <= bounds[s] or not net[s] > 0:
            continue
        pos = by_sector[bounds[s]:bounds[s + 1]]
        members = member_order[member_bounds[s]:member_bounds[s + 1]]
        w = w_queued[pos]
        take = take_within(w, net[s], draws[s])
        free = np.cumsum(free_all[members])  # where each provider's free capacity ends
        last, k, a = members.size - 1, 0, 0.0
        for j in range(pos.size):
            b = a + w[j]
            if take[j]:
                while k < last and not free[k] > a:  # the first provider whose free capacity ends beyond a
                    k += 1
                end = min(b, free[last])
                stretch = w[j] / (end - a)  # > 1 only for a straddler reaching beyond all free capacity
                lo, kk = a, k
                while True:
                    hi = min(end, free[kk])
                    if hi > lo:
                        if assigned[pos[j]] < 0:
                            assigned[pos[j]] = members[kk]
                        project[n], provider[n] = pos[j], members[kk]
                        amount[n] = (hi - lo) * stretch if stretch != 1.0 else hi - lo
                        n += 1
                        lo = hi
                    if kk == last or not free[kk] < end:
                        break
                    kk += 1
            a = b
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def fee_share_of(base_fee, completed, capacity, exponent):
    """One provider's fee share after learning: its base fee x (1 + completed / capacity) ^ exponent, the
    exponent log2 of the progress ratio (the C library's pow, as libm.power)."""
    return base_fee * (1.0 + completed / capacity) ** exponent


@njit(cache=True, nogil=True, error_model="numpy")
def _fees_kernel(sector, capacity, base_fee, completed, exponent, default_fee, shares, expected):
    """Every provider's fee share into ``shares``, and each sector's capacity-weighted mean of them into
    ``expected`` (``default_fee`` where a sector has no capacity): the weighted sums and the capacities added
    provider by provider from 0, as np.bincount adds them."""
    num, den = np.zeros(expected.size), np.zeros(expected.size)
    for p in range(sector.size):
        shares[p] = fee_share_of(base_fee[p], completed[p], capacity[p], exponent)
        num[sector[p]] += capacity[p] * shares[p]
        den[sector[p]] += capacity[p]
    for s in range(expected.size):
        expected[s] = num[s] / fmax(den[s], 1e-12) if den[s] > 0 else default_fee


class ExpertGroup(mesa.Agent):
    """One of the expert service steering groups: free diagnoses in its sector, limited capacity."""

    def __init__(self, model: mesa.Model, sector: int, capacity: float):
        super().__init__(model)
        self.sector, self.capacity = sector, capacity
        self.diagnosed_total = 0.0


def expert_groups(model: mesa.Model, n_groups: int, capacity: float, sector_share: np.ndarray) -> list[ExpertGroup]:
    """``n_groups`` groups spread over the sectors by their share of firms (largest remainder)."""
    counts = largest_remainder(sector_share, n_groups) if n_groups else np.zeros(len(sector_share), int)
    return [ExpertGroup(model, s, capacity) for s, k in enumerate(counts) for _ in range(k)]


class SectorDraws(NamedTuple):
    """Each sector's firms for weighted draws: sector s's are ``members[bounds[s]:bounds[s + 1]]`` (in firm
    order), ``cum`` the running sum of their agent weights (restarting in each sector) and ``w_min[s]`` the
    smallest (weights never change)."""

    members: np.ndarray
    bounds: np.ndarray
    cum: np.ndarray
    w_min: np.ndarray


def sector_draws(sector: np.ndarray, weight: np.ndarray, n_sectors: int) -> SectorDraws:
    members = np.argsort(sector, kind="stable")
    bounds = np.searchsorted(sector[members], np.arange(n_sectors + 1))
    cum = np.concatenate([np.zeros(0), *(np.cumsum(weight[members[a:b]]) for a, b in zip(bounds[:-1], bounds[1:]))])
    w_min = np.array([weight[members[a:b]].min() if b > a else 1.0 for a, b in zip(bounds[:-1], bounds[1:])])
    return SectorDraws(members, bounds, cum, w_min)


def diagnose(firms, groups: list[ExpertGroup], draws: SectorDraws, month: int, rng: np.random.Generator,
             learning: float) -> np.ndarray:
    """A month of free diagnoses (docs/ODD.md 3.4.9); returns the firms diagnosed.

    Each sector's groups serve up to their capacity in real firms: first firms recently exposed
    (conferences, pilots) in order of exposure (a documented ranking; ties by a seeded random
    priority), then firms of the sector drawn at random in proportion to the real firms they stand
    for. The agent that straddles the capacity is served with the probability that keeps the
    expected number of real firms diagnosed equal to the capacity at any scale. A firm is diagnosed
    once; a diagnosis shows it more of its own prospects (beliefs.diagnose).
    """
    n_sectors = draws.w_min.size
    sector_of = [g.sector for g in groups]
    capacity = np.bincount(sector_of, weights=[g.capacity for g in groups], minlength=n_sectors)  # in group order
    straddle = rng.random((n_sectors, 2))[:, 0].copy()  # a fixed number of draws a month: common random numbers
    exposed = _open_to_diagnosis(np.empty(0, np.int64), True, firms.exposure, EXPOSED, True, firms.proj_phase,
                                 firms.stage, firms.diagnosed, firms.alive, NONE)
    exposed = _leading(firms, exposed, capacity)
    # one ordering for every sector: by sector, then exposure (highest first), then the seeded tie
    tie = tie_break(firms.key[exposed], event_id("diagnoses", month))
    exposed = exposed[np.lexsort((tie, -firms.exposure[exposed], firms.sector[exposed]))]
    bounds = firms.sector[exposed].searchsorted(np.arange(n_sectors + 1))
    sectors = (capacity > 0).nonzero()[0]
    # sectors with too few exposed firms visit others at random: a fixed number of draws a month each (common
    # random numbers), drawn in one call, sector after sector
    visits = _visits(exposed, bounds, sectors, capacity, firms.weight, draws.bounds, draws.w_min)
    out = _diagnosed(exposed, bounds, sectors, capacity, visits, rng.random(int(visits.sum())), straddle,
                     firms.weight, draws.members, draws.bounds, draws.cum, firms.exposure, EXPOSED, firms.proj_phase,
                     firms.stage, firms.diagnosed, firms.alive, NONE)
    if out.size:
        firms.diagnosed[out] = True
        firms.informed[out] = True
        firms.exposure[out] = 1.0
        beliefs.diagnose(firms, out, learning)
        done = np.bincount(firms.sector[out], weights=firms.weight[out], minlength=n_sectors)
        per_group = (done / np.maximum(np.bincount(sector_of, minlength=n_sectors), 1)).tolist()
        for g in groups:
            g.diagnosed_total += per_group[g.sector]
    return out


EXPOSED = np.float32(0.2)  # a firm with exposure above this was recently exposed (conferences, pilots)


@njit(cache=True, nogil=True)
def _visits(exposed, bounds, sectors, capacity, weight, member_bounds, w_min):
    """For each of ``sectors``: the draws of its random visits this month, 0 unless its exposed firms
    (``exposed[bounds[s]:bounds[s + 1]]``) weigh less than its capacity in real firms and it has firms: 4 x the
    capacity in agents of the least weight, plus 16."""
    out = np.zeros(sectors.size, np.int64)
    for j in range(sectors.size):
        s = sectors[j]
        asked = array_sum(weight[exposed[bounds[s]:bounds[s + 1]]])
        if asked < capacity[s] and member_bounds[s + 1] > member_bounds[s]:
            out[j] = int(math.ceil(4 * capacity[s] / w_min[s])) + 16
    return out


@njit(cache=True, nogil=True)
def _diagnosed(exposed, bounds, sectors, capacity, visits, r, straddle, weight, members, member_bounds, cum,
               exposure, threshold, phase, stage, diagnosed, alive, no_project):
    """The firms each of ``sectors`` diagnoses, sector after sector: its exposed firms in their order, then (if it
    ``visits``) the firms drawn with the draws ``r`` in proportion to their weight, each once, in the order first
    drawn, those open to a diagnosis; served by take_within of its capacity (the straddler with ``straddle[s]``)."""
    out = np.empty(exposed.size + visits.sum(), np.int64)
    n, used = 0, 0
    for j in range(sectors.size):
        s = sectors[j]
        pool = exposed[bounds[s]:bounds[s + 1]]
        if visits[j] > 0:
            mine, c = members[member_bounds[s]:member_bounds[s + 1]], cum[member_bounds[s]:member_bounds[s + 1]]
            picks = np.empty(visits[j], np.int64)
            for k in range(visits[j]):
                at = np.searchsorted(c, r[used + k] * c[-1], side="right")
                picks[k] = mine[min(at, mine.size - 1)]
            used += visits[j]
            extra = _open_to_diagnosis(first_of_each(picks), False, exposure, threshold, False, phase, stage,
                                       diagnosed, alive, no_project)
            pool = np.concatenate((pool, extra))
        take = take_within(weight[pool], capacity[s], straddle[s])
        for k in range(pool.size):
            if take[k]:
                out[n] = pool[k]
                n += 1
    return out[:n].copy()


def _leading(firms, exposed: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Of the ``exposed`` firms (in their order), those that can be reached in their sector's ranking: each
    sector's k most exposed (with every firm tied with the k-th in exposure), k agents weighing more than its
    groups' capacity in real firms, so that the diagnoses are those of ranking them all.

    take_within serves a head of the ranking up to the agent that straddles the capacity, the k-th at the
    latest, and reads nothing behind it; the first k are ranked the same among these as among all (exposure,
    then the seeded tie, which depends on the firm alone); and a sector with more than k of them has more
    exposed firms than its capacity either way, so it visits none at random. At scale 0.02 in mid-2016, 54 of
    534 exposed firms were within reach; ranking all 534 took 29 us, this selection 5 us."""
    keep = np.empty(exposed.size, np.bool_)
    _leading_kernel(exposed, firms.sector, firms.exposure, firms.weight, capacity, keep)
    return exposed[keep]


@njit(cache=True, nogil=True)
def _leading_kernel(exposed, sector, exposure, weight, capacity, keep):
    """_leading's selection into ``keep``: per sector with capacity, k = int(capacity / its least weight) + 2 (k - 1
    agents of the least weight already exceed the capacity; one more keeps the straddler within the k however
    the running sum of weights rounds), and where it has more than k exposed firms, those at or above the k-th
    largest exposure (found by keeping each such sector's k largest, in descending order)."""
    n_s = capacity.size
    count = np.zeros(n_s, np.int64)
    w_min = np.full(n_s, np.inf)
    for j in range(exposed.size):
        s = sector[exposed[j]]
        count[s] += 1
        w_min[s] = min(w_min[s], weight[exposed[j]])
    k = np.zeros(n_s, np.int64)
    start = np.zeros(n_s + 1, np.int64)  # the k largest of each sector that needs a threshold, sector after sector
    for s in range(n_s):
        if capacity[s] > 0 and count[s] > 0:
            k[s] = int(capacity[s] / w_min[s]) + 2
        start[s + 1] = start[s] + (k[s] if count[s] > k[s] else 0)
    top = np.full(start[n_s], -np.inf, exposure.dtype)
    for j in range(exposed.size):
        i = exposed[j]
        a, b = start[sector[i]], start[sector[i] + 1]
        e = exposure[i]
        if b > a and e > top[b - 1]:  # insert e among the sector's k largest
            p = b - 1
            while p > a and top[p - 1] < e:
                top[p] = top[p - 1]
                p -= 1
            top[p] = e
    for j in range(exposed.size):
        i = exposed[j]
        s = sector[i]
        keep[j] = k[s] > 0 and (start[s + 1] == start[s] or exposure[i] >= top[start[s + 1] - 1])


@njit(cache=True, nogil=True)
def _open_to_diagnosis(rows, every, exposure, threshold, exposed, phase, stage, diagnosed, alive, no_project):
    """The firms of ``rows`` (or of all, if ``every``), in order, open to a diagnosis (operating, no project,
    below stage 4, never diagnosed) whose exposure is above ``threshold`` (``exposed``) or not: one pass."""
    n = exposure.size if every else rows.size
    out = np.empty(n, np.int64)
    k = 0
    for j in range(n):
        i = j if every else rows[j]
        if ((exposure[i] > threshold) == exposed and phase[i] == no_project and stage[i] < 4 and not diagnosed[i]
                and alive[i]):
            out[k] = i
            k += 1
    return out[:k].copy()
