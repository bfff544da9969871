"""The labour market of the released workers (docs/ODD.md 3.4.1): machine substitution releases workers
(employment falls when a project cuts a firm's labour needs below what it employed), they join their
city's pool, and firms with a labour gap hire from it.

Each January, before the month's decisions, firms short of labour in a city fill ``hire_share`` of
their unfilled posts from the city's pool, pro rata to each firm's gap (no firm is served before
another), at most what the pool holds; ``pool_leave_share`` of what is left then leaves manufacturing.
A hire raises the firm's recruitable workforce (E_max) for good, never above its needs. Hiring once a
year keeps the cached bounds of the decision exact (thinning.py recomputes every firm's in January).
Workers of firms that close are taken to be those the entrants hire (dynamics.py), so exit and entry
leave the pool alone (an assumption). With the pool off, released workers leave manufacturing at
once, and the gap falls only with the exogenous labour supply (``economy.labour_supply_growth``) and
the firms' own projects.
"""

from __future__ import annotations

import numpy as np

from .firms import Firms


class LabourMarket:
    """Pools of released workers by city (real workers)."""

    def __init__(self, params, n_cities: int):
        lab = params.labour
        self.enabled = bool(lab.pool_enabled)
        self.hire_share, self.leave_share = lab.hire_share, lab.pool_leave_share
        self.pool = np.zeros(n_cities)

    def release(self, city: np.ndarray, workers: np.ndarray) -> None:
        """Real ``workers`` (per firm, already times weight) released in ``city`` join the pool."""
        if self.enabled and city.size:
            self.pool += np.bincount(city, weights=workers, minlength=self.pool.size)

    def hire(self, firms: Firms) -> tuple[np.ndarray, np.ndarray]:
        """January's hires from the pools: (firms that hired, workers each hired); their caps are raised."""
        if not self.enabled or not self.pool.any():
            return np.zeros(0, np.int64), np.zeros(0)
        k = (firms.output > firms.workforce_cap * firms.productivity).nonzero()[0]  # short of labour
        gap = firms.output[k] / firms.productivity[k] - firms.workforce_cap[k]
        w, city = firms.weight[k], firms.city[k]
        want = np.bincount(city, weights=gap * w, minlength=self.pool.size)
        hires = np.minimum(self.pool, self.hire_share * want)
        share = np.divide(hires, want, out=np.zeros_like(want), where=want > 0)
        hired = gap * share[city]
        firms.workforce_cap[k] += hired
        self.pool -= hires
        self.pool *= 1.0 - self.leave_share
        return k, hired
