"""Learning about gains (docs/ODD.md submodel "Beliefs and learning").

A firm's belief is a normal distribution over the ratio of the gain it would realise to the
nominal gain it hears of. Updating is conjugate-normal with the spread of realised gains
(technology.gain_sd) as observation sd, so it is additive in precision and in precision-weighted
evidence. A belief is therefore held in two parts:
  private: the prior, the firm's own project (``own_learning`` observations), conferences and
           expert diagnoses, per firm;
  public:  the projects completed in its city x sector cell (each ``peer_learning`` observations,
           blended with the sector province-wide by ``cross_cell_weight``), per cell.
mean = (private evidence + cell evidence) / (private precision + cell precision), var = 1 / precision.
Every firm of a cell sees the same public evidence, so peer learning costs one update per cell,
not per firm, and beliefs still move toward what adopters actually got as evidence accumulates.
"""

from __future__ import annotations

import numpy as np

from .decision import risk_adjusted_ratio


def observe(precision: np.ndarray, weighted: np.ndarray, idx, obs_mean, obs_count, obs_var: float) -> None:
    """Add ``obs_count`` observations averaging ``obs_mean`` to entries ``idx`` (in place)."""
    precision[idx] += obs_count / obs_var
    weighted[idx] += obs_count * obs_mean / obs_var


def cell_evidence(cell: np.ndarray, sector: np.ndarray, weight: np.ndarray, ratio: np.ndarray,
                  n_cells: int, n_sectors: int, cross_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(observation count, mean ratio) per cell from projects completed this month.

    Counts are real projects (weights), blended between the cell and its sector province-wide.
    """
    n_c = np.bincount(cell, weights=weight, minlength=n_cells)
    s_c = np.bincount(cell, weights=weight * ratio, minlength=n_cells)
    n_s = np.bincount(sector, weights=weight, minlength=n_sectors)
    s_s = np.bincount(sector, weights=weight * ratio, minlength=n_sectors)
    cell_sector = np.arange(n_cells) % n_sectors
    count = (1 - cross_weight) * n_c + cross_weight * n_s[cell_sector]
    total = (1 - cross_weight) * s_c + cross_weight * s_s[cell_sector]
    mean = np.divide(total, count, out=np.zeros(n_cells), where=count > 0)
    return count, mean


def decay_exposure(exposure: np.ndarray, half_life_months: float) -> None:
    """Conference / pilot / expert exposure fades with the given half-life."""
    exposure *= np.float32(0.5 ** (1.0 / half_life_months))


def planning_ratio(firms, prior_mean: float, prior_sd: float, risk_aversion: float) -> np.ndarray:
    """Each firm's belief mean minus risk aversion x sd: the gain ratio it plans with.

    Firms with no private evidence share their cell's value; the informed are computed apart.
    """
    f = firms
    p0 = 1.0 / prior_sd ** 2
    w0 = prior_mean * p0
    cell_p = p0 + f.cell_precision
    ratio = risk_adjusted_ratio((w0 + f.cell_weighted) / cell_p, 1.0 / cell_p, risk_aversion)[f.cell]
    inf = np.flatnonzero(f.informed)
    if inf.size:
        c = f.cell[inf]
        prec = f.belief_precision[inf] + f.cell_precision[c]
        ratio[inf] = risk_adjusted_ratio((f.belief_weighted[inf] + f.cell_weighted[c]) / prec, 1.0 / prec,
                                         risk_aversion)
    return ratio


def learn_from_peers(firms, evidence, params, n_cells: int, n_sectors: int, obs_var: float) -> None:
    """Last month's completed projects (``evidence``: cell, sector, weight, ratio) become public
    evidence in their cells; exposure fades."""
    b = params.beliefs
    if evidence is not None and b.peer_learning > 0:
        cell, sector, weight, ratio = evidence
        count, mean = cell_evidence(cell, sector, weight, ratio, n_cells, n_sectors, b.cross_cell_weight)
        observe(firms.cell_precision, firms.cell_weighted, slice(None), mean, b.peer_learning * count, obs_var)
    decay_exposure(firms.exposure, b.exposure_half_life_months)
