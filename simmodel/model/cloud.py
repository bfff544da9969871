"""The 'enterprises on the cloud' action (docs/ODD.md submodel "Cloud migration").

Moving onto the cloud is its own cheap decision, open to firms of every size and kept apart from
the stage ladder. Each month a firm not yet on the cloud migrates with probability
    logistic(migration_intercept + beta_action x the action's strength + beta_push [its city is behind
             its target] + beta_cloud_peers x share of its cell on the cloud
             + beta_digital [stage >= 2] + beta_tier x (3 - the city's IT tier)).
The action (from ``cloud.action_start``; its publicity and training build up over ``ramp_months``)
adds publicity and training, vouchers paid by the city,
and yearly targets split across the 11 cities by their share of firms; a city pushes while its
migrations this year are behind its target to date. A migrating firm gains
``cloud.productivity_gain`` in productivity.
"""

from __future__ import annotations

import numpy as np

from ..params import Params, month_index
from .econ import logistic
from .firms import Firms


class CloudMigration:
    """Monthly cloud migration over all firms (thinned: only draws below the largest probability
    are looked at, which is exact)."""

    def __init__(self, params: Params, firms: Firms, n_cells: int, n_sectors: int, it_tier: np.ndarray,
                 rng: np.random.Generator):
        c = params.cloud
        self.p, self.rng, self.n_cells, self.n_sectors = c, rng, n_cells, n_sectors
        self.start = month_index(c.action_start) if c.action_enabled else None
        city = np.arange(n_cells) // n_sectors
        self.tier_term = (3 - it_tier[city]).astype(float)
        self.city_of_cell = city
        self.cell_firms = np.bincount(firms.cell, weights=firms.weight, minlength=n_cells)
        self.cell_cloud = np.bincount(firms.cell, weights=firms.weight * firms.on_cloud, minlength=n_cells)

    def action_on(self, month: int) -> bool:
        return self.start is not None and month >= self.start

    def action_strength(self, month: int) -> float:
        """0 before the action, then rising linearly to 1 over ``ramp_months``."""
        if not self.action_on(month):
            return 0.0
        return min(1.0, (month - self.start + 1) / self.p.ramp_months)

    def probability_table(self, month: int, push: np.ndarray) -> np.ndarray:
        """Monthly migration probability per (cell, stage), flattened as cell x 5 + stage."""
        c = self.p
        share = self.cell_cloud / np.maximum(self.cell_firms, 1e-12)
        z = (c.migration_intercept + c.beta_action * self.action_strength(month)
             + c.beta_push * push[self.city_of_cell] + c.beta_cloud_peers * share + c.beta_tier * self.tier_term)
        z = z[:, None] + c.beta_digital * (np.arange(5) >= 2)[None, :]
        return logistic(z).ravel()

    def step(self, model) -> None:
        """The month's migrations: movers gain productivity, get their city's voucher during the action,
        and count toward their city's target."""
        from .firms import apply_gain

        f, t = model.firms, model.month
        push = np.array([c.behind_target() for c in model.cities], float)
        movers = self.migrate(f, t, push)
        if movers.size == 0:
            return
        apply_gain(f, movers, np.full(movers.size, model.params["cloud.productivity_gain"]),
                   model.tables.sector_labour_saving[f.sector[movers]])
        voucher = np.zeros(movers.size)
        if self.action_on(t):
            voucher = model.subsidies.pay_vouchers(movers)
        f.cash[movers] += voucher
        by_city = np.bincount(f.city[movers], weights=f.weight[movers], minlength=len(model.cities))
        for c in model.cities:
            c.cloud_done += by_city[c.city]
        model.flow("cloud_migrations", movers)

    def migrate(self, firms: Firms, month: int, push: np.ndarray) -> np.ndarray:
        """Firms moving onto the cloud this month (their flags and keys are updated)."""
        u = self.rng.random(firms.n, dtype=np.float32)  # one draw per firm per month: common random numbers
        table = self.probability_table(month, push)
        cand = np.flatnonzero(u < table.max())
        movers = cand[~firms.on_cloud[cand] & firms.alive[cand] & (u[cand] < table[firms.combo[cand]])]
        if movers.size:
            firms.on_cloud[movers] = True
            firms.update_keys(movers)
            self.cell_cloud += np.bincount(firms.cell[movers], weights=firms.weight[movers], minlength=self.n_cells)
        return movers
