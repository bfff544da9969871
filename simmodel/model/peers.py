"""What firms see of their peers (docs/ODD.md 3.4.2): the city x sector cell's firms by stage and
the adopted shares that enter the adoption logit, blended with the sector province-wide.

Counts are real firms (weights) and are cached for the month until a stage changes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
        ns = self.n_sectors
        counts = self.counts(month)
        at_least = np.zeros((self.n_cells, N_STAGES + 1))
        at_least[:, :N_STAGES] = counts[:, ::-1].cumsum(axis=1)[:, ::-1]
        sector_at_least = at_least.reshape(-1, ns, N_STAGES + 1).sum(axis=0)
        cell_share = at_least / np.maximum(at_least[:, :1], 1e-12)
        sector_share = sector_at_least / np.maximum(sector_at_least[:, :1], 1e-12)
        w = self.cross_cell_weight
        return (1 - w) * cell_share + w * sector_share[np.arange(self.n_cells) % ns]


@njit(cache=True, nogil=True)
def _operating_sums(key, weight, alive, out):
    """``out += np.bincount(key, weights=weight * alive)`` in one pass, to the bit: closed firms add nothing
    (adding 0.0 leaves a sum unchanged), the others their weight in firm order."""
    for i in range(key.size):
        if alive[i]:
            out[key[i]] += weight[i]


__all__ = ["Peers"]
