"""The 'enterprises on the cloud' action (docs/ODD.md submodel "Cloud migration").

Moving onto the cloud is its own cheap decision, open to firms of every size and kept apart from
the stage ladder. The market is finite: only firms that can and would use cloud services at all
migrate (the potential: ``potential_above`` or ``potential_small`` of a size class, less
``potential_tier_step`` per step down the city's IT tier, drawn once per firm from its fixed key).
Each month a firm of the potential not yet on the cloud migrates with probability
    logistic(migration_intercept + beta_action x the action's strength + beta_push [its city is behind
             its target] + beta_cloud_peers x share of its cell on the cloud
             + beta_digital [stage >= 2] + beta_tier x (3 - the city's IT tier) + beta_net_value x v),
v = log((productivity_gain x (1 - other_cost_share) x value added + expected voucher / value_years)
    / service_cost), capped at +-5: what the services bring a year against what they cost (the expected
voucher: the voucher times the share of a claim its payer paid last year, as for the purchase subsidies). A city
behind its target presses its firms (beta_push); the target does not set the flow. A firm on the
cloud whose services cost more than they bring (v < 0 without the voucher) leaves with monthly
probability ``discontinue_rate`` and loses the productivity gain. A firm is paid the action's voucher once:
one that was paid, left the cloud and comes back is not paid again, and its v counts no voucher (a mover the
budget could not pay, once the year's money is spent, may be paid on a later migration).
The action (from ``cloud.action_start`` moved with ``programme.start``, params.instrument_start; its
publicity and training build up over ``ramp_months``)
adds publicity and training, vouchers (paid by the payer cloud.voucher_payer names),
and yearly targets split across the 11 cities by their share of firms; a city pushes while its
migrations this year are behind its target to date. A migrating firm gains
``cloud.productivity_gain`` in productivity.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..params import Params, instrument_start
from .allocation import event_id, tie_break
from .econ import clamp, elementwise, logistic_of
from .firms import Firms, apply_gain


@njit(cache=True, nogil=True, error_model="numpy")
def value_of(gain_share, voucher_year, service_cost, value_added):
    """v: the log of what cloud services bring a firm a year (``gain_share`` = productivity_gain x (1 -
    other_cost_share) of its value added, plus the voucher spread over value_years) over what they cost,
    capped at +-5 (v < 0: they cost more than they bring)."""
    brings = gain_share * value_added + voucher_year
    ratio = (brings if not brings < 1e-9 else 1e-9) / service_cost  # (NaN kept, as numpy's maximum keeps it)
    v = math.log(ratio)
    v = v if not v < -5.0 else -5.0
    return v if not v > 5.0 else 5.0


@njit(cache=True, nogil=True, error_model="numpy")
def _value_kernel(value_added, gain_share, voucher_year, service_cost, out):
    for i in range(out.size):
        out[i] = value_of(gain_share, voucher_year, service_cost, value_added[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _migrate_kernel(u, bound, table, combo, city, fit, on_cloud, alive, value_added, voucher_used, beta, gain_share,
                    voucher_year, service_cost, leaving, rate):
    """Movers (operating, fit, off the cloud, draw below their probability logistic(table[combo] + beta v), v
    with the voucher a year their city's mover expects, ``voucher_year[city]``, unless the firm has had it),
    valued only where the draw is below ``bound``, and, if ``leaving``, leavers (operating, on the cloud, draw below
    the discontinuance ``rate`` in the draw's precision, v without the voucher < 0); both in firm order.
    The pass over every firm picks the candidates of both without a branch (taken or not at random, a branch
    cost more than the rest of the pass)."""
    n = u.size
    cand = np.empty(n, np.int64)
    on = np.empty(n, np.int64)
    n_cand = n_on = 0
    for i in range(n):
        live, up = alive[i], on_cloud[i]
        cand[n_cand] = i
        n_cand += live & fit[i] & (not up) & (u[i] < bound)
        on[n_on] = i
        n_on += live & up & leaving & (u[i] < rate)
    movers = np.empty(n_cand, np.int64)
    n_move = 0
    for j in range(n_cand):
        i = cand[j]
        voucher = 0.0 if voucher_used[i] else voucher_year[city[i]]
        z = table[combo[i]] + beta * value_of(gain_share, voucher, service_cost, value_added[i])
        movers[n_move] = i
        n_move += u[i] < logistic_of(z)
    leavers = np.empty(n_on, np.int64)
    n_leave = 0
    for j in range(n_on):
        i = on[j]
        leavers[n_leave] = i
        n_leave += value_of(gain_share, 0.0, service_cost, value_added[i]) < 0.0
    return movers[:n_move].copy(), leavers[:n_leave].copy()


class CloudMigration:
    """Monthly cloud migration over all firms (thinned: only draws below the largest probability
    are looked at, which is exact)."""

    def __init__(self, params: Params, firms: Firms, n_cells: int, n_sectors: int, it_tier: np.ndarray,
                 rng: np.random.Generator):
        c = params.cloud
        self.p, self.rng, self.n_cells, self.n_sectors = c, rng, n_cells, n_sectors
        self.start = instrument_start(params, "cloud.action_start") if c.action_enabled else None
        city = np.arange(n_cells) // n_sectors
        self.tier_term = (3 - it_tier[city]).astype(float)
        self.city_of_cell = city
        self.cell_firms = np.bincount(firms.cell, weights=firms.weight, minlength=n_cells)
        self.cell_cloud = np.bincount(firms.cell, weights=firms.weight * firms.on_cloud, minlength=n_cells)
        self.other_cost_share = params["economy.other_cost_share"]
        self.it_tier = it_tier
        self.potential = self.potential_share(firms.above, it_tier[firms.city])
        self.fit = (tie_break(firms.key, event_id("cloud potential", 0)) < self.potential) | firms.on_cloud

    def reset(self, firms: Firms, idx: np.ndarray) -> None:
        """Firms ``idx`` are new or changed size class: their potential and whether they are in it."""
        self.potential[idx] = self.potential_share(firms.above[idx], self.it_tier[firms.city[idx]])
        self.fit[idx] = (tie_break(firms.key[idx], event_id("cloud potential", 0)) < self.potential[idx]) \
            | firms.on_cloud[idx]

    def firms_leave(self, firms: Firms, idx: np.ndarray) -> None:
        """Firms ``idx`` on the cloud close: the cells' cloud counts lose them."""
        self.cell_cloud -= np.bincount(firms.cell[idx], weights=firms.weight[idx], minlength=self.n_cells)

    def potential_share(self, above: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Share of firms of a size class in a city of an IT tier that can and would use cloud services."""
        c = self.p
        base = np.where(above, c.potential_above, c.potential_small)
        return clamp(base - c.potential_tier_step * (tier - 1), 0.0, 1.0)

    def value(self, firms: Firms, idx: np.ndarray, voucher: float) -> np.ndarray:
        """:func:`value_of` of firms ``idx``."""
        return elementwise(_value_kernel, firms.value_added[idx], extra=self._value_terms(voucher))

    def _value_terms(self, voucher):
        """(gain share of value added, ``voucher`` (yuan, a number or an array) a year, the service's cost)."""
        c = self.p
        return c.productivity_gain * (1.0 - self.other_cost_share), voucher / c.value_years, max(c.service_cost, 1e-9)

    def action_on(self, month: int) -> bool:
        return self.start is not None and month >= self.start

    def action_strength(self, month: int) -> float:
        """0 before the action, then rising linearly to 1 over ``ramp_months``."""
        if not self.action_on(month):
            return 0.0
        return min(1.0, (month - self.start + 1) / self.p.ramp_months)

    def index_table(self, month: int, push: np.ndarray) -> np.ndarray:
        """The migration logit's index without the firm's value term, per (cell, stage), flattened as
        cell x 5 + stage."""
        c = self.p
        share = self.cell_cloud / np.maximum(self.cell_firms, 1e-12)
        z = (c.migration_intercept + c.beta_action * self.action_strength(month)
             + c.beta_push * push[self.city_of_cell] + c.beta_cloud_peers * share + c.beta_tier * self.tier_term)
        z = z[:, None] + c.beta_digital * (np.arange(5) >= 2)[None, :]
        return z.ravel()

    def step(self, model) -> None:
        """The month's migrations: movers gain productivity, get the voucher during the action if they have not
        had it, and count toward their city's target."""
        f, t = model.firms, model.month
        push = np.array([c.behind_target() for c in model.cities], float)
        voucher = model.subsidies.expected_voucher() if self.action_on(t) else 0.0
        movers, leavers = self.migrate(f, t, push, voucher)
        if leavers.size:
            model.flow("cloud_exits", leavers)
        if leavers.size + movers.size == 0:
            return
        # leavers lose the services' gain, movers gain it (two disjoint sets of firms, each firm on its own)
        gain = model.params["cloud.productivity_gain"]
        changed = np.concatenate((leavers, movers))
        apply_gain(f, changed, np.repeat([1.0 / (1.0 + gain) - 1.0, gain], [leavers.size, movers.size]),
                   model.tables.sector_labour_saving[f.sector[changed]])
        model.thinning.refresh(changed)  # productivity changed: the decision's cached bound terms
        if movers.size == 0:
            return
        if self.action_on(t):  # the voucher, once per firm: to the movers that have not had it
            first = movers[~f.voucher_used[movers]]
            if first.size:
                paid = model.subsidies.pay_vouchers(first)
                f.cash[first] += paid
                f.voucher_used[first[paid > 0]] = True  # a mover the budget could not pay may claim it another time
        by_city = np.bincount(f.city[movers], weights=f.weight[movers], minlength=len(model.cities)).tolist()
        for c in model.cities:
            c.cloud_done += by_city[c.city]
        model.flow("cloud_migrations", movers)

    def migrate(self, firms: Firms, month: int, push: np.ndarray,
                voucher: float | np.ndarray = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(firms moving onto the cloud, firms leaving it) this month; flags and keys are updated. ``voucher``:
        what a firm that has not had the voucher counts on, in yuan, one for all or one per city (0 outside the
        action; SubsidySchedule.expected_voucher during it).

        One draw per firm per month (common random numbers): it decides a migration for a firm off the
        cloud and a discontinuance for one on it."""
        u = self.rng.random(firms.n, dtype=np.float32)
        table = self.index_table(month, push)
        c = self.p
        # exact thinning: v <= 5, so no firm's probability exceeds logistic(max index + 5 beta_net_value); the
        # draw is compared with it before anything else of the firm is read
        bound = logistic_of(table.max() + 5.0 * c.beta_net_value)
        gain_share, voucher_year, service_cost = self._value_terms(np.zeros(self.it_tier.size) + voucher)  # per city
        movers, leavers = _migrate_kernel(u, bound, table, firms.combo, firms.city, self.fit, firms.on_cloud,
                                          firms.alive, firms.value_added, firms.voucher_used, c.beta_net_value,
                                          gain_share, voucher_year, service_cost,
                                          c.discontinue_rate > 0, u.dtype.type(c.discontinue_rate))  # as numpy's <
        for idx, flag, sign in ((movers, True, 1.0), (leavers, False, -1.0)):
            if idx.size:
                firms.on_cloud[idx] = flag
                firms.update_keys(idx)
                self.cell_cloud += sign * np.bincount(firms.cell[idx], weights=firms.weight[idx],
                                                      minlength=self.n_cells)
        return movers, leavers
