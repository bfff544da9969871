"""What firms see of their peers (docs/ODD.md 3.4.2): the city x sector cell's firms by stage and
the adopted shares that enter the adoption logit, blended with the sector province-wide.

Counts are real firms (weights) and are cached for the month until a stage changes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .econ import fmax
from .stages import N_STAGES


class Peers:
    """Cell x stage counts of a model's firms and the peer shares derived from them."""

    def __init__(self, firms, n_cells: int, n_sectors: int, cross_cell_weight: float):
        self.firms, self.n_cells, self.n_sectors = firms, n_cells, n_sectors
        self.cross_cell_weight = cross_cell_weight
        self._cache: tuple[int, np.ndarray] = (-2, np.zeros(0))

    def stages_changed(self) -> None:
        """Forget the cached counts (a project completed, a firm moved)."""
        self._cache = (-2, self._cache[1])

    def counts(self, month: int) -> np.ndarray:
        """(n_cells, 5) real operating firms by cell and stage."""
        if self._cache[0] != month:
            f = self.firms
            counts = np.zeros(self.n_cells * N_STAGES)
            _operating_sums(f.combo, f.weight, f.alive, counts)
            self._cache = (month, counts.reshape(self.n_cells, N_STAGES))
        return self._cache[1]

    def share(self, month: int) -> np.ndarray:
        """(n_cells, 6): share of each cell's firms at stage >= k, blended with the sector province-wide."""
        out = np.empty((self.n_cells, N_STAGES + 1))
        _shares(self.counts(month), self.n_sectors, self.cross_cell_weight, out)
        return out


@njit(cache=True, nogil=True, error_model="numpy")
def _shares(counts, n_sectors, w, out):
    """Peers.share in one pass: each cell's real firms at stage >= k (k = 0..4; 0 for k = 5), summed from the
    top stage down, and the same summed over the cities of each sector, city after city; each over its firms at
    stage >= 0 (at least 1e-12); (1 - w) x the cell's share + w x its sector's."""
    n_cells, n_stages = counts.shape
    at_least = np.zeros((n_cells, n_stages + 1))
    sector = np.zeros((n_sectors, n_stages + 1))
    for c in range(n_cells):
        run = 0.0
        for k in range(n_stages - 1, -1, -1):
            run = run + counts[c, k] if k < n_stages - 1 else counts[c, k]
            at_least[c, k] = run
        for k in range(n_stages + 1):
            sector[c % n_sectors, k] = at_least[c, k] if c < n_sectors else sector[c % n_sectors, k] + at_least[c, k]
    for c in range(n_cells):
        s = c % n_sectors
        cell_all, sector_all = fmax(at_least[c, 0], 1e-12), fmax(sector[s, 0], 1e-12)
        for k in range(n_stages + 1):
            out[c, k] = (1 - w) * (at_least[c, k] / cell_all) + w * (sector[s, k] / sector_all)


@njit(cache=True, nogil=True)
def _operating_sums(key, weight, alive, out):
    """``out += np.bincount(key, weights=weight * alive)`` in one pass, to the bit: closed firms add nothing
    (adding 0.0 leaves a sum unchanged), the others their weight in firm order."""
    for i in range(key.size):
        if alive[i]:
            out[key[i]] += weight[i]


__all__ = ["Peers"]
