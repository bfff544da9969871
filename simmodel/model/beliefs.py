"""Learning about gains (docs/ODD.md 3.4.3): what firms believe their next project will realise.

A project's realised gain ratio (realised gain / nominal gain) is r = mu (1 + gain_sd q z): mu the
sector's true ratio (common to its firms), q the provider's quality, z the firm's own draw for the
stage. A firm's belief has two parts:

- about mu, normal and conjugate with observation sd ``technology.gain_sd``, so additive in precision
  and precision-weighted evidence: the prior (``prior_mean``, ``prior_sd``), plus private evidence
  (its own projects, cases seen at conferences) per firm, plus public evidence (the projects completed
  in its city x sector cell, blended with its sector) per cell. Evidence ages: each month every
  precision and sum beyond the prior is multiplied by 0.5^(1 / evidence_half_life_months), so beliefs
  keep moving with what recent projects realised and a bad wave of projects dampens the next;
- about its own z: it knows a part beforehand (``own_knowledge`` = kappa of its variance: E[z | its
  signal] and Var = 1 - kappa, firms.z_known and z_var); an expert diagnosis reveals more.

The gain ratio a firm plans with is its certainty equivalent: mean - risk_aversion x sd of its own
predictive distribution, mean = m (1 + gain_sd E[z]) and variance = Var(mu) (1 + gain_sd E[z])^2 +
(m gain_sd)^2 Var(z), m the belief mean of mu. Its own risk never vanishes, however much it learns
about the sector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def age_evidence(firms, half_life_months: float) -> None:
    """A month passes: every piece of evidence beyond the prior counts a little less."""
    keep = 0.5 ** (1.0 / half_life_months)
    firms.cell_precision *= keep
    firms.cell_weighted *= keep
    inf = np.flatnonzero(firms.informed)
    if inf.size:
        firms.belief_precision[inf] *= keep
        firms.belief_weighted[inf] *= keep


def mean_belief(firms, prior_mean: float, prior_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) of every firm's belief about its sector's true gain ratio mu."""
    f = firms
    p0 = 1.0 / prior_sd ** 2
    cell_p = p0 + f.cell_precision
    cell_w = prior_mean * p0 + f.cell_weighted
    mean = (cell_w / cell_p)[f.cell]
    var = (1.0 / cell_p)[f.cell]
    inf = np.flatnonzero(f.informed)
    if inf.size:
        c = f.cell[inf]
        prec = f.belief_precision[inf] + cell_p[c]
        mean[inf] = (f.belief_weighted[inf] + cell_w[c]) / prec
        var[inf] = 1.0 / prec
    return mean, var


@dataclass
class Planning:
    """What each firm plans its next project with (arrays over firms): the certainty-equivalent gain
    ratio, its expected own ratio and sd, its own ratio per unit of the sector's mean, and the variance
    of its belief about that mean."""

    ratio: np.ndarray
    own_mean: np.ndarray
    own_sd: np.ndarray
    own_factor: np.ndarray
    mean_var: np.ndarray


def planning(firms, prior_mean: float, prior_sd: float, risk_aversion: float, gain_sd: float) -> Planning:
    """The certainty equivalent of every firm's next gain ratio, mean - risk_aversion x sd (floored at 0),
    and its parts."""
    f = firms
    mean, var = mean_belief(f, prior_mean, prior_sd)
    nxt = np.minimum(f.stage, 3).astype(np.int64)
    rows = np.arange(f.n)
    zk = f.z_known[rows, nxt].astype(np.float64)
    zv = f.z_var[rows, nxt].astype(np.float64)
    m = np.maximum(mean, 0.0)
    own = 1.0 + gain_sd * zk
    sd = np.sqrt(var * own ** 2 + (m * gain_sd) ** 2 * zv)
    own_mean = m * own
    return Planning(np.maximum(own_mean - risk_aversion * sd, 0.0), own_mean, sd, own, var)


def planning_ratio(firms, prior_mean: float, prior_sd: float, risk_aversion: float, gain_sd: float) -> np.ndarray:
    """The certainty-equivalent gain ratio each firm plans its next project with (floored at 0)."""
    return planning(firms, prior_mean, prior_sd, risk_aversion, gain_sd).ratio


def diagnose(firms, idx: np.ndarray, observations: float) -> None:
    """An expert diagnosis: firms ``idx`` learn more of their own z for their next stage, as if they saw
    ``observations`` noisy measurements of it (variance shrinks by 1 + observations)."""
    f = firms
    s = np.minimum(f.stage[idx], 3).astype(np.int64)
    k = observations
    known, var = f.z_known[idx, s].astype(np.float64), f.z_var[idx, s].astype(np.float64)
    truth = f.gain_z[idx, s]
    f.z_known[idx, s] = known + k / (1.0 + k) * (truth - known)
    f.z_var[idx, s] = var / (1.0 + k)


def learn_from_peers(firms, evidence, params, n_cells: int, n_sectors: int, obs_var: float) -> None:
    """Evidence ages; last month's completed projects (``evidence``: cell, sector, weight, ratio) become
    public evidence in their cells; exposure fades."""
    b = params.beliefs
    age_evidence(firms, b.evidence_half_life_months)
    if evidence is not None and b.peer_learning > 0:
        cell, sector, weight, ratio = evidence
        count, mean = cell_evidence(cell, sector, weight, ratio, n_cells, n_sectors, b.cross_cell_weight)
        observe(firms.cell_precision, firms.cell_weighted, slice(None), mean, b.peer_learning * count, obs_var)
    decay_exposure(firms.exposure, b.exposure_half_life_months)


__all__ = ["observe", "cell_evidence", "decay_exposure", "age_evidence", "mean_belief", "Planning", "planning",
           "planning_ratio",
           "diagnose", "learn_from_peers"]
