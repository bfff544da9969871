"""Engineering-service providers: capacity, sector specialisation, price, quality, learning, entry.

docs/ODD.md, submodel "Engineering-service providers". Each provider works in one sector group and
implements at most ``capacity`` projects (real firms) at once. Queued projects are taken in order
of arrival (ties by a fixed random priority); the best providers (smallest spread of realised gains)
fill first. The fee falls with a provider's completed projects (an experience curve). When a
sector's queue is long, new providers may enter.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from ..params import Params


class ServiceProvider(mesa.Agent):
    """One engineering-service company.

    Attributes:
        sector: sector group it serves (index)
        capacity: concurrent projects (real firms)
        fee_share: fee as a share of capital cost, before learning
        quality: multiplier of the spread of realised gains (below 1 = better than average)
        active: projects (real firms) being implemented now
        completed: projects (real firms) completed so far
    """

    def __init__(self, model: mesa.Model, sector: int, capacity: float, fee_share: float,
                 quality: float, progress_ratio: float):
        super().__init__(model)
        self.sector = sector
        self.capacity = capacity
        self.fee_share = fee_share
        self.quality = quality
        self.progress_exponent = math.log2(progress_ratio)
        self.active = 0.0
        self.completed = 0.0

    @property
    def learning_factor(self) -> float:
        """Fee multiplier from learning by doing: progress_ratio per doubling of experience."""
        return (1.0 + self.completed / self.capacity) ** self.progress_exponent

    @property
    def effective_fee_share(self) -> float:
        return self.fee_share * self.learning_factor

    @property
    def free(self) -> float:
        return max(self.capacity - self.active, 0.0)


class ProviderMarket:
    """The providers of the province and the monthly matching of queued projects to them."""

    def __init__(self, model: mesa.Model, params: Params, n_sectors: int, sector_share: np.ndarray,
                 rng: np.random.Generator):
        pr = params.providers
        self.model, self.rng, self.n_sectors = model, rng, n_sectors
        self.capacity, self.fee_share = pr.capacity, pr.fee_share
        self.progress_ratio, self.spread = pr.progress_ratio, pr.quality_spread
        self.entry_ratio, self.entry_p, self.max_count = pr.entry_queue_ratio, pr.entry_probability, pr.max_count
        self.providers: list[ServiceProvider] = []
        expected = sector_share / sector_share.sum() * pr.initial_count
        counts = np.floor(expected).astype(int)
        counts[np.argsort(-(expected - counts))[: pr.initial_count - counts.sum()]] += 1
        for s, k in enumerate(counts):
            for _ in range(k):
                self._enter(s)
        self.entries_total = 0

    def _enter(self, sector: int) -> ServiceProvider:
        q = 1.0 + self.spread * (2.0 * self.rng.random() - 1.0)
        p = ServiceProvider(self.model, sector, self.capacity, self.fee_share, q, self.progress_ratio)
        self.providers.append(p)
        return p

    # --- views used by firms and indicators -------------------------------------------------------
    def expected_fee_share(self) -> np.ndarray:
        """Capacity-weighted fee share (after learning) per sector: what a firm expects to pay."""
        num = np.zeros(self.n_sectors)
        den = np.zeros(self.n_sectors)
        for p in self.providers:
            num[p.sector] += p.capacity * p.effective_fee_share
            den[p.sector] += p.capacity
        return np.where(den > 0, num / np.maximum(den, 1e-12), self.fee_share)

    def sector_capacity(self) -> np.ndarray:
        cap = np.zeros(self.n_sectors)
        for p in self.providers:
            cap[p.sector] += p.capacity
        return cap

    @property
    def total_capacity(self) -> float:
        return sum(p.capacity for p in self.providers)

    @property
    def total_active(self) -> float:
        return sum(p.active for p in self.providers)

    # --- the monthly matching ------------------------------------------------------------------------
    def match(self, queued: np.ndarray, sector: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Assign queued projects (indices, already in queue order) to providers with free capacity.

        Returns the provider index per queued project (-1 = still waiting). Projects that fit in
        their sector's free capacity are taken; the one that straddles the limit (an agent stands
        for ``weight`` firms) is taken with probability equal to the share of it that fits, so the
        load is unbiased and exceeds capacity by less than one agent per sector at most.
        """
        assigned = np.full(queued.size, -1, np.int64)
        draws = self.rng.random(self.n_sectors)  # one per sector per month: stable streams
        if queued.size == 0:
            return assigned
        qsector = sector[queued]
        by_sector: dict[int, list[int]] = {}
        for i, p in enumerate(self.providers):
            by_sector.setdefault(p.sector, []).append(i)
        for s, members in by_sector.items():
            pos = np.flatnonzero(qsector == s)
            if pos.size == 0:
                continue
            members.sort(key=lambda i: self.providers[i].quality)
            free = np.array([self.providers[i].free for i in members])
            # net of any provider's overfill, so an overfill is worked off before new projects start
            total = sum(self.providers[i].capacity - self.providers[i].active for i in members)
            if total <= 0:
                continue
            w = weight[queued[pos]]
            end = np.cumsum(w)
            start = end - w  # capacity already used when this project arrives
            take = end <= total
            straddle = np.flatnonzero(~take)[:1]
            if straddle.size and start[straddle[0]] < total:
                take[straddle] = draws[s] < (total - start[straddle[0]]) / w[straddle[0]]
            slot = np.searchsorted(np.cumsum(free), start[take], side="right")
            chosen = np.asarray(members)[np.minimum(slot, len(members) - 1)]
            assigned[pos[take]] = chosen
        started = assigned >= 0
        if started.any():
            load = np.bincount(assigned[started], weights=weight[queued[started]], minlength=len(self.providers))
            for i in np.flatnonzero(load):
                self.providers[i].active += load[i]
        return assigned

    def finish(self, provider: np.ndarray, weight: np.ndarray) -> None:
        """Projects implemented by ``provider`` (indices) finished: free capacity, add experience."""
        sums = np.bincount(provider, weights=weight, minlength=len(self.providers))
        for i in np.flatnonzero(sums):
            p = self.providers[i]
            p.active = max(p.active - sums[i], 0.0)
            p.completed += sums[i]

    def quality_of(self, provider: np.ndarray) -> np.ndarray:
        return np.array([self.providers[i].quality for i in provider]) if provider.size else np.zeros(0)

    def fee_share_of(self, provider: np.ndarray) -> np.ndarray:
        return np.array([self.providers[i].effective_fee_share for i in provider]) if provider.size else np.zeros(0)

    def entry(self, queue_by_sector: np.ndarray) -> int:
        """Providers enter sectors whose queue (real firms) exceeds entry_ratio x capacity."""
        cap = self.sector_capacity()
        entered = 0
        draws = self.rng.random(self.n_sectors)  # one draw per sector per month (stable streams)
        for s in range(self.n_sectors):
            long_queue = queue_by_sector[s] > self.entry_ratio * max(cap[s], 1e-9)
            if long_queue and draws[s] < self.entry_p and len(self.providers) < self.max_count:
                self._enter(s)
                entered += 1
        self.entries_total += entered
        return entered


class ExpertGroup(mesa.Agent):
    """One of the expert service steering groups: free diagnoses in its sector, limited capacity."""

    def __init__(self, model: mesa.Model, sector: int, capacity: float):
        super().__init__(model)
        self.sector, self.capacity = sector, capacity
        self.diagnosed_total = 0.0


def expert_groups(model: mesa.Model, n_groups: int, capacity: float, sector_share: np.ndarray) -> list[ExpertGroup]:
    """``n_groups`` groups spread over the sectors by their share of firms (largest remainder)."""
    expected = sector_share / sector_share.sum() * n_groups
    counts = np.floor(expected).astype(int)
    counts[np.argsort(-(expected - counts))[: n_groups - counts.sum()]] += 1
    return [ExpertGroup(model, s, capacity) for s, k in enumerate(counts) for _ in range(k)]


def diagnose(firms, groups: list[ExpertGroup], sector_members: list[np.ndarray], prospects, rng: np.random.Generator,
             learning: float, obs_var: float) -> np.ndarray:
    """A month of free diagnoses; returns the firms diagnosed.

    Each sector's groups see, first, firms recently exposed (conferences, pilots) in order of
    exposure, then random firms of the sector, up to their capacity (real firms); a firm is
    diagnosed once. A diagnosis shows the firm its own prospects: ``learning`` observations of the
    gain ratio it would realise with an average provider (``prospects(idx)``).
    """
    from .. import beliefs
    from ..firms import NONE

    capacity = np.zeros(len(sector_members))
    for g in groups:
        capacity[g.sector] += g.capacity
    exposed = np.flatnonzero(firms.exposure > 0.2)
    exposed = exposed[(firms.proj_phase[exposed] == NONE) & (firms.stage[exposed] < 4) & ~firms.diagnosed[exposed]]
    chosen = []
    for s in np.flatnonzero(capacity > 0):
        pool = exposed[firms.sector[exposed] == s]
        pool = pool[np.lexsort((firms.priority[pool], -firms.exposure[pool]))]
        if firms.weight[pool].sum() < capacity[s] and sector_members[s].size:  # too few asked: visit others
            members = sector_members[s]
            extra = np.unique(members[rng.integers(0, members.size, size=min(members.size, 64))])
            extra = extra[(firms.proj_phase[extra] == NONE) & (firms.stage[extra] < 4) & ~firms.diagnosed[extra]
                          & (firms.exposure[extra] <= 0.2)]
            pool = np.concatenate([pool, extra])
        cum = np.cumsum(firms.weight[pool])
        chosen.append(pool[cum - firms.weight[pool] < capacity[s]])
    out = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    if out.size:
        firms.diagnosed[out] = True
        firms.informed[out] = True
        firms.exposure[out] = 1.0
        beliefs.observe(firms.belief_precision, firms.belief_weighted, out, prospects(out), learning, obs_var)
        done = np.bincount(firms.sector[out], weights=firms.weight[out], minlength=len(sector_members))
        n_groups = np.bincount([g.sector for g in groups], minlength=len(sector_members))
        for g in groups:
            g.diagnosed_total += done[g.sector] / n_groups[g.sector]
    return out
