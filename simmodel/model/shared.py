"""Shared-manufacturing platforms (seed 003; docs/ODD.md 3.4.14): a route to machine substitution without
a line of one's own.

A platform (a Mesa agent) covers one sector in one city and serves at most ``capacity`` firms at once
(real firms; a use is a firm-month). A firm at stage 0 with no project may move a share ``coverage`` of
its production onto a platform of its sector: in its city if one has room, else elsewhere in the
province with ``distance_penalty`` of the gain lost. It pays a monthly fee and no capital cost; it needs
no finance. What it weighs (its certainty-equivalent gain ratio r, decision.py's annuities and rate):
  gain          g_s = coverage x r x the nominal gain of stage 1 (x (1 - distance_penalty) if remote)
  fee           F = price x rental cost of the covered capacity, a year: coverage x its own stage-1
                capital cost / annuity_factor(rate, horizon); price = (1 + markup) x
                (1 + uses / capacity)^log2(progress_ratio) (the price falls with a platform's scale),
                less the public support per use while the support budget lasts
  NPV_s         = PV of g_s's benefits (decision.present_value) - F x annuity_factor(rate, horizon);
                nothing is sunk, so there is no value of waiting
  value         v_s = NPV_s / (coverage x its own stage-1 capital cost): per yuan of the capital the
                rented capacity stands for, as the decision values a project per yuan of its size
It takes the shared route with the decision's logit at v_s (decision.adoption_probability: the same
intercept, weights and trigger) if NPV_s is also above what its own project is worth now (its NPV
less its value of waiting, decision.choose; 0 when nothing finances it). A user leaves when its own
project completes (it switches to its own line), when the fee exceeds what the covered gain brings a
year, or when it closes. Its productivity rises by the realised gain (the sector's true gain ratio,
no own-draw risk: the platform's line is proven) while it uses the platform and falls back when it
leaves. Seats go to the month's choosers in a random order keyed by firm and month (allocation.py).
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from ..params import month_index
from . import libm
from .allocation import event_id, tie_break
from .econ import annuity_factor
from .firms import NONE, apply_gain
from .institutions.government import Budget


class SharedPlatform(mesa.Agent):
    """One shared-manufacturing platform (a Mesa agent whose state is a row of the submodel's arrays).

    Attributes (read-only views): city, sector, capacity (firms at once), users (firms using it now),
    uses (firm-months sold so far), price (multiple of the rental cost, after learning), fee_revenue
    (yuan from its users so far), support (public support received so far, yuan)."""

    def __init__(self, model: mesa.Model, shared: SharedManufacturing, index: int):
        super().__init__(model)
        self.shared, self.index = shared, index

    city = property(lambda self: int(self.shared.city[self.index]))
    sector = property(lambda self: int(self.shared.sector[self.index]))
    capacity = property(lambda self: float(self.shared.capacity[self.index]))
    users = property(lambda self: float(self.shared.users[self.index]))
    uses = property(lambda self: float(self.shared.uses[self.index]))
    price = property(lambda self: float(self.shared.price()[self.index]))
    fee_revenue = property(lambda self: float(self.shared.fee_revenue[self.index]))
    support = property(lambda self: float(self.shared.support_paid[self.index]))


class SharedManufacturing:
    """The province's platforms and their users, for a TransformationModel."""

    def __init__(self, model):
        p = model.params.shared
        self.model, self.p = model, p
        self.start = month_index(p.platforms_start) if p.platforms_enabled else None
        self.city = np.zeros(0, np.int64)
        self.sector = np.zeros(0, np.int64)
        self.capacity = np.zeros(0)
        self.users = np.zeros(0)  # real firms using each platform now
        self.uses = np.zeros(0)  # firm-months sold so far
        self.fee_revenue = np.zeros(0)  # yuan paid by its users so far
        self.support_paid = np.zeros(0)  # yuan of public support so far
        self.platforms: list[SharedPlatform] = []
        n = model.firms.n
        self.platform = np.full(n, -1, np.int64)  # each firm's platform, -1 if none
        self.share = np.zeros(n)  # share of a user agent's real firms that hold a seat (1 unless it straddled)
        self.gain = np.zeros(n)  # the productivity gain the agent got, share x a seated firm's (removed when it leaves)
        self.fee = np.zeros(n)  # yuan a year a seated firm's contract charges (before support)
        self.budget = Budget(p.support_budget)
        self.progress_exponent = math.log2(p.price_progress_ratio)
        self.turned_away = np.zeros(0)

    # --- the platforms ----------------------------------------------------------------------------
    def on(self, month: int) -> bool:
        return self.start is not None and month >= self.start

    def price(self) -> np.ndarray:
        """Each platform's price, a multiple of the rental cost of the capacity a user takes."""
        return (1.0 + self.p.markup) * libm.power(1.0 + self.uses / self.capacity, self.progress_exponent)

    def _open(self, city: int, sector: int) -> None:
        self.city = np.append(self.city, city)
        self.sector = np.append(self.sector, sector)
        self.capacity = np.append(self.capacity, self.p.platform_capacity)
        for name in ("users", "uses", "fee_revenue", "support_paid"):
            setattr(self, name, np.append(getattr(self, name), 0.0))
        self.platforms.append(SharedPlatform(self.model, self, len(self.platforms)))

    def _open_initial(self) -> None:
        """The first platforms: one per cell, in the cells with the most small firms at stage 0 (ties by
        cell index: a documented ranking of cells, not of firms)."""
        n_s = self.model.tables.n_sectors
        k = min(self.p.initial_platforms, self.p.max_platforms)
        for cell in np.argsort(-self._small_stage0().ravel(), kind="stable")[:k]:
            self._open(int(cell) // n_s, int(cell) % n_s)

    def _small_stage0(self) -> np.ndarray:
        """Small operating firms at stage 0 (real firms), by city x sector: where the route's demand is."""
        m = self.model
        f = m.firms
        small0 = f.alive & ~f.above & (f.stage == 0)
        count = np.bincount(f.cell[small0], weights=f.weight[small0], minlength=m.n_cells)
        return count.reshape(-1, m.tables.n_sectors)

    def _enter(self) -> None:
        """At most one new platform a sector a month, where its platforms are nearly full or firms were
        turned away; in the sector's city that turned most firms away per seat it already has there
        (else that with the most small firms at stage 0)."""
        m = self.model
        n_s = m.tables.n_sectors
        cap = np.bincount(self.sector, weights=self.capacity, minlength=n_s)
        used = np.bincount(self.sector, weights=self.users, minlength=n_s)
        away = self.turned_away.reshape(-1, n_s)  # (cities, sectors)
        full = (cap > 0) & (used >= self.p.entry_utilisation * cap)
        sectors = (full | (away.sum(axis=0) > 0)).nonzero()[0]
        if sectors.size == 0 or len(self.platforms) >= self.p.max_platforms:
            return  # no pass over the firms in a month without entry
        demand = self._small_stage0()
        local_cap = np.bincount(self.city * n_s + self.sector, weights=self.capacity,
                                minlength=m.n_cells).reshape(-1, n_s)
        for s in sectors:
            if len(self.platforms) >= self.p.max_platforms:
                return
            # a documented ranking of cities: most firms turned away per seat the city already has in the sector
            # (plus one platform's), then most small stage-0 firms, then index
            pressure = away[:, s] / (local_cap[:, s] + self.p.platform_capacity)
            city = int(np.lexsort((np.arange(away.shape[0]), -demand[:, s], -pressure))[0])
            local_cap[city, s] += self.p.platform_capacity
            self._open(city, int(s))

    # --- the month --------------------------------------------------------------------------------
    def step(self, wage: float, price_index: float) -> None:
        """Leavers first (their seats free up), then the month's choosers take seats, then entry."""
        m = self.model
        t = m.month
        if not self.on(t):
            return
        if t == self.start or t % 12 == 0:  # the support budget: a year's money, the rest of it in the first year
            self.budget.new_year(share=(12 - t % 12) / 12 if t == self.start else 1.0)
        if t == self.start:
            self._open_initial()
        self.turned_away = np.zeros(m.n_cells)
        ctx = m.adoption.context(wage, price_index)
        users = (self.platform >= 0).nonzero()[0]
        if users.size:
            # the fee it pays costs more than the covered gain brings
            paid = self._net_fee(self.fee[users]) * self.share[users]
            self.leave(users[paid > self._benefit_year(users, self.gain[users], ctx)])
        self.join(ctx)
        self._enter()

    def _net_fee(self, fee: np.ndarray) -> np.ndarray:
        """A yearly fee less the support a use gets while the support budget lasts."""
        support = 12.0 * self.p.support_per_use if self.budget.remaining > 0 else 0.0
        return np.maximum(fee - support, 0.0)

    def _benefit_year(self, idx: np.ndarray, gain: np.ndarray, ctx) -> np.ndarray:
        """What a realised gain brings users ``idx`` a year at their current state: (1 - tau) x the value
        added it adds plus the wages it saves (decision.benefit_parts, from their state without it)."""
        from .decision import benefit_parts

        m = self.model
        f = m.firms
        x = m.adoption.inputs(idx)
        x.productivity = f.productivity[idx] / (1.0 + gain)
        x.output = f.output[idx] / libm.power(1.0 + gain, 1.0 - m.tables.sector_labour_saving[f.sector[idx]])
        value, wages = benefit_parts(gain, x, ctx)
        return value + wages

    def valuation(self, idx: np.ndarray, ctx, local: np.ndarray, price: np.ndarray):
        """(NPV_s, v_s, rental cost a year, inputs) of the shared route for stage-0 firms ``idx`` (``local``:
        a platform of its sector in its city has room; ``price``: the lowest it may expect)."""
        from . import decision

        x = self.model.adoption.inputs(idx)
        sector = x.sector
        capex = ctx.cost_per_worker[sector, 1] * x.needs
        size = self.p.coverage * capex  # the capital cost of the capacity it rents: the route's size
        remote = np.where(local, 1.0, 1.0 - self.p.distance_penalty)
        gain = self.p.coverage * x.ratio * ctx.nominal_gain[sector, 1] * remote
        pv, _ = decision.present_value(gain, x, ctx)
        years = annuity_factor(ctx.rate, ctx.horizon)
        rent = self.p.coverage * capex / years  # the covered capacity's capital cost, a year
        npv = pv - self._net_fee(price * rent) * years
        return npv, npv / size, rent, x

    def join(self, ctx) -> None:
        """Eligible stage-0 firms weigh the shared route; those who take it get seats in a random order."""
        from . import decision

        m = self.model
        f, t = m.firms, m.month
        # one draw per firm per month whatever its state: common random numbers across scenarios
        u = m.rngs["shared"].random(f.n, dtype=np.float32)
        if not self.platforms:
            return
        idx = ((f.stage == 0) & (f.proj_phase == NONE) & f.alive & (self.platform < 0)).nonzero()[0]
        if idx.size == 0:
            return
        # a firm of a sector without a platform values one that would open in its city at an entrant's price:
        # if it would take it, it is turned away, and that is what brings a platform into its sector
        covered = np.isin(f.sector[idx], self.sector)
        local = self._local_room()[f.cell[idx]] | ~covered
        price = np.where(covered, self._best_price(local, f.sector[idx], f.city[idx]), 1.0 + self.p.markup)
        npv, v, rent, x = self.valuation(idx, ctx, local, price)
        keep = (u[idx] < decision.firm_probability(v, x, ctx)).nonzero()[0]
        if keep.size == 0:
            return
        idx, npv, rent = idx[keep], npv[keep], rent[keep]
        opts, _ = m.adoption.options(idx, ctx)  # what its own project is worth now, net of waiting
        own = np.where(np.isfinite(opts.npv), opts.npv - opts.wait, 0.0)
        go = npv > np.maximum(own, 0.0)
        idx, rent = idx[go], rent[go]
        if idx.size == 0:
            return
        order = np.argsort(tie_break(f.key[idx], event_id("shared seats", t)), kind="stable")
        idx, rent = idx[order], rent[order]
        seat, share = self._seat(idx)
        np.add.at(self.turned_away, f.cell[idx], f.weight[idx] * (1.0 - share))
        taken = seat >= 0
        idx, seat, rent, share = idx[taken], seat[taken], rent[taken], share[taken]
        if idx.size == 0:
            return
        remote = np.where(self.city[seat] != f.city[idx], 1.0 - self.p.distance_penalty, 1.0)
        # the platform's line is proven: the sector's true gain ratio, no own-draw risk
        # an agent partly seated gets that share of a seated firm's gain (its firms' mean productivity)
        g = share * self.p.coverage * m.true_multiplier * m.nominal_gain[f.sector[idx], 1] * remote
        apply_gain(f, idx, g, m.tables.sector_labour_saving[f.sector[idx]])
        self.platform[idx], self.gain[idx], self.share[idx] = seat, g, share
        self.fee[idx] = self.price()[seat] * rent  # its contract: the platform's price when it joins
        m.thinning.refresh(idx)  # productivity changed: the decision's cached bound terms
        m.flow("shared_joins", idx)

    def _local_room(self) -> np.ndarray:
        """Per cell: whether a platform of that city and sector has a free seat."""
        m = self.model
        cell = self.city * m.tables.n_sectors + self.sector
        room = np.bincount(cell, weights=self.capacity - self.users, minlength=m.n_cells)
        return room > 0

    def _best_price(self, local: np.ndarray, sector: np.ndarray, city: np.ndarray) -> np.ndarray:
        """The lowest price firms may expect: of their city's platforms of their sector if one has room,
        else of their sector's platforms anywhere."""
        n_s = self.model.tables.n_sectors
        price = self.price()
        by_cell = np.full(self.model.n_cells, np.inf)
        np.minimum.at(by_cell, self.city * n_s + self.sector, price)
        by_sector = np.full(n_s, np.inf)
        np.minimum.at(by_sector, self.sector, price)
        return np.where(local, by_cell[city * n_s + sector], by_sector[sector])

    def _seat(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Seats for firms ``idx`` (in their random order), platform by platform (few; the emptiest
        first): first a platform of their city and sector, then one of their sector elsewhere. Each
        platform takes its waiting firms in order while their weights fit its free seats, and of the one
        that straddles the limit the share of its real firms that fits (an agent stands for several
        firms: capacity is in real firms, never exceeded, and the same at every scale); no firm is
        overtaken. Returns (platform or -1, share of each agent's real firms seated)."""
        f = self.model.firms
        n_s = self.model.tables.n_sectors
        seat = np.full(idx.size, -1, np.int64)
        share = np.zeros(idx.size)
        w, cell, sector = f.weight[idx], f.cell[idx], f.sector[idx]
        for same_city in (True, False):
            for k in np.argsort(self.users - self.capacity, kind="stable"):  # the emptiest first
                room = self.capacity[k] - self.users[k]
                if room <= 0:
                    continue
                waiting = ((seat < 0) & (sector == self.sector[k])
                           & ((cell == self.city[k] * n_s + self.sector[k]) if same_city else True)).nonzero()[0]
                if waiting.size == 0:
                    continue
                before = np.cumsum(w[waiting]) - w[waiting]  # seats taken ahead of each
                take = waiting[before < room]
                s = np.minimum((room - before[: take.size]) / w[take], 1.0)
                seat[take], share[take] = k, s
                self.users[k] += float(np.sum(s * w[take]))
        return seat, share

    def leave(self, idx: np.ndarray) -> None:
        """Users ``idx`` stop: their seats free up and the covered gain goes with them."""
        if idx.size == 0:
            return
        m = self.model
        f = m.firms
        np.subtract.at(self.users, self.platform[idx], f.weight[idx] * self.share[idx])
        g = self.gain[idx]
        apply_gain(f, idx, 1.0 / (1.0 + g) - 1.0, m.tables.sector_labour_saving[f.sector[idx]])
        self.platform[idx], self.gain[idx], self.fee[idx], self.share[idx] = -1, 0.0, 0.0, 0.0
        m.thinning.refresh(idx)
        m.flow("shared_leaves", idx)

    def firms_leave(self, idx: np.ndarray) -> None:
        """Firms ``idx`` close: their seats free up (an entrant starts without one)."""
        if not self.platforms:
            return
        idx = idx[self.platform[idx] >= 0]
        if idx.size:
            np.subtract.at(self.users, self.platform[idx], self.model.firms.weight[idx] * self.share[idx])
            self.platform[idx], self.gain[idx], self.fee[idx], self.share[idx] = -1, 0.0, 0.0, 0.0

    def charge(self) -> None:
        """The month's use (after production): users pay their fee less the support the budget still
        pays (in a random order keyed by firm and month); profit and cash carry it."""
        if not self.platforms:
            return
        m = self.model
        f = m.firms
        users = (self.platform >= 0).nonzero()[0]
        self.leave(users[f.stage[users] >= 1])  # its own line completed this month: it switches to it
        users = users[f.stage[users] == 0]
        if users.size == 0:
            return
        users = users[np.argsort(tie_break(f.key[users], event_id("shared support", m.month)), kind="stable")]
        w, seat, share = f.weight[users], self.platform[users], self.share[users]
        seated = w * share  # real firms holding a seat
        month_fee = self.fee[users] / 12.0  # a seated firm's
        support = np.zeros(users.size)
        if self.p.support_per_use > 0:
            support = self.budget.pay(np.minimum(self.p.support_per_use, month_fee) * seated) / seated
        paid = month_fee - support
        f.profit[users] -= 12.0 * paid * share  # a yearly rate of the agent's mean firm, like the rest of profit
        np.add.at(self.fee_revenue, seat, paid * seated)
        np.add.at(self.support_paid, seat, support * seated)
        np.add.at(self.uses, seat, seated)
        m.flow("shared_use", users, share)
        m.flow("shared_fees", users, paid * share)
        m.flow("shared_support", users, support * share)
        m.flow("shared_va", users, f.value_added[users] * share)
        m.flow("shared_employees", users, f.employed[users] * share)

__all__ = ["SharedManufacturing", "SharedPlatform"]
