"""Learning about gains (docs/ODD.md 3.4.3): what firms believe their next project will realise.

A project's realised gain ratio (realised gain / nominal gain) is r = mu (1 + gain_sd q z): mu the
sector's true ratio (common to its firms), q the provider's quality, z the firm's own draw for the
stage. A firm's belief has two parts:

- about mu, normal and conjugate with observation sd ``technology.gain_sd``, so additive in precision
  and precision-weighted evidence: the prior (``prior_mean``, ``prior_sd``), plus private evidence
  (its own projects, cases seen at conferences) per firm, plus public evidence per cell: each firm
  hears of the projects its ``peer_contacts`` contacts complete, contacts being firms of its city x
  sector cell (blended with its sector), so a month's evidence is contacts x the share of the cell's
  firms that completed a project. Evidence ages: each month every
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
from numba import njit


def observe(precision: np.ndarray, weighted: np.ndarray, idx, obs_mean, obs_count, obs_var: float) -> None:
    """Add ``obs_count`` observations averaging ``obs_mean`` to entries ``idx`` (in place)."""
    precision[idx] += obs_count / obs_var
    weighted[idx] += obs_count * obs_mean / obs_var


def cell_evidence(cell: np.ndarray, sector: np.ndarray, weight: np.ndarray, ratio: np.ndarray,
                  cell_firms: np.ndarray, n_sectors: int, cross_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(share of firms that completed a project, their mean ratio) per cell from this month's projects.

    Shares are of real firms (weights; ``cell_firms`` the real firms of each cell), blended between the
    cell and its sector province-wide: a firm hears of the projects of its contacts, who are firms
    like it in its cell (and, with ``cross_weight``, in its sector elsewhere).
    """
    n_cells = cell_firms.size
    cell_sector = np.arange(n_cells) % n_sectors
    sector_firms = np.bincount(cell_sector, weights=cell_firms, minlength=n_sectors)
    n_c = np.bincount(cell, weights=weight, minlength=n_cells)
    s_c = np.bincount(cell, weights=weight * ratio, minlength=n_cells)
    n_s = np.bincount(sector, weights=weight, minlength=n_sectors)
    s_s = np.bincount(sector, weights=weight * ratio, minlength=n_sectors)
    per_c = np.divide(1.0, cell_firms, out=np.zeros(n_cells), where=cell_firms > 0)
    per_s = np.divide(1.0, sector_firms, out=np.zeros(n_sectors), where=sector_firms > 0)[cell_sector]
    share = (1 - cross_weight) * n_c * per_c + cross_weight * n_s[cell_sector] * per_s
    total = (1 - cross_weight) * s_c * per_c + cross_weight * s_s[cell_sector] * per_s
    mean = np.divide(total, share, out=np.zeros(n_cells), where=share > 0)
    return share, mean


def decay_exposure(exposure: np.ndarray, half_life_months: float) -> None:
    """Conference / pilot / expert exposure fades with the given half-life."""
    exposure *= np.float32(0.5 ** (1.0 / half_life_months))


def age_evidence(firms, half_life_months: float) -> None:
    """A month passes: every piece of evidence beyond the prior counts a little less."""
    keep = 0.5 ** (1.0 / half_life_months)
    firms.cell_precision *= keep
    firms.cell_weighted *= keep
    _age_private(firms.informed, firms.belief_precision, firms.belief_weighted, keep)


@njit(cache=True, nogil=True)
def _age_private(informed, precision, weighted, keep):
    """age_evidence's private part firm by firm: an informed firm's own evidence counts ``keep`` times less."""
    for i in range(informed.size):
        if informed[i]:
            precision[i] *= keep
            weighted[i] *= keep


def mean_belief(firms, prior_mean: float, prior_sd: float, idx=None,
                variance: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(mean, variance) of the belief of firms ``idx`` (default: all) about their sector's true gain ratio mu
    (the variance None unless ``variance``): the prior, the public evidence of the firm's cell and, if it
    is informed, its private evidence, added in precision and precision-weighted sum."""
    f = firms
    cell_p, cell_w = cell_terms(f, prior_mean, prior_sd)
    everyone = idx is None
    rows = np.empty(0, np.int64) if everyone else np.asarray(idx, np.int64)
    n = f.n if everyone else rows.size
    mean, var = np.empty(n), np.empty(n if variance else 0)
    _belief_kernel(cell_p, cell_w, f.cell, f.informed, f.belief_precision, f.belief_weighted, everyone, rows,
                   mean, var)
    return mean, (var if variance else None)


def cell_terms(f, prior_mean: float, prior_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's precision and precision-weighted sum: the prior's and the cell's public evidence (what an
    outsider, such as a lessor, can know of the cell's gains: the mean is their ratio)."""
    p0 = 1.0 / prior_sd ** 2
    return p0 + f.cell_precision, prior_mean * p0 + f.cell_weighted


@njit(cache=True, nogil=True, error_model="numpy")
def _firm_belief(i, cell_p, cell_w, cell, informed, precision, weighted):
    """(mean, precision) of firm ``i``'s belief about mu (mean_belief): its cell's terms, plus its own if informed."""
    c = cell[i]
    if informed[i]:
        prec = precision[i] + cell_p[c]
        return (weighted[i] + cell_w[c]) / prec, prec
    prec = cell_p[c]
    return cell_w[c] / prec, prec


@njit(cache=True, nogil=True, error_model="numpy")
def _belief_kernel(cell_p, cell_w, cell, informed, precision, weighted, everyone, rows, mean, var):
    """mean_belief firm by firm (of every firm, or of ``rows``): ``var`` is filled when it has their length."""
    for j in range(mean.size):
        mean[j], prec = _firm_belief(j if everyone else rows[j], cell_p, cell_w, cell, informed, precision, weighted)
        if var.size:
            var[j] = 1.0 / prec


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


def planning(firms, prior_mean: float, prior_sd: float, risk_aversion: float, gain_sd: float,
             idx=None) -> Planning:
    """The certainty equivalent of the next gain ratio of firms ``idx`` (default: all), mean -
    risk_aversion x sd (floored at 0), and its parts: with (mean, var) of its belief about mu (mean_belief) and
    what it knows of its own z for its next stage (known part zk, variance zv), its own ratio is max(mean, 0) x
    own, own = 1 + gain_sd zk, with sd = sqrt(var own^2 + (max(mean, 0) gain_sd)^2 zv). Firm by firm in one
    compiled pass."""
    f = firms
    cell_p, cell_w = cell_terms(f, prior_mean, prior_sd)
    everyone = idx is None
    rows = np.empty(0, np.int64) if everyone else np.asarray(idx, np.int64)
    n = f.n if everyone else rows.size
    out = [np.empty(n) for _ in range(5)]
    _planning_kernel(cell_p, cell_w, f.cell, f.informed, f.belief_precision, f.belief_weighted, f.stage, f.z_known,
                     f.z_var, everyone, rows, float(risk_aversion), float(gain_sd), *out)
    return Planning(*out)


@njit(cache=True, nogil=True, error_model="numpy")
def _planning_kernel(cell_p, cell_w, cell, informed, precision, weighted, stage, z_known, z_var, everyone, rows,
                     risk_aversion, gain_sd, ratio, own_mean, own_sd, own_factor, mean_var):
    """planning firm by firm (of every firm, or of ``rows``), numpy's operations in numpy's order."""
    for j in range(ratio.size):
        i = j if everyone else rows[j]
        mean, prec = _firm_belief(i, cell_p, cell_w, cell, informed, precision, weighted)
        var = 1.0 / prec
        s = min(stage[i], 3)
        zk, zv = np.float64(z_known[i, s]), np.float64(z_var[i, s])
        m = mean if not mean < 0.0 else 0.0  # np.maximum(mean, 0.0), NaN kept
        own = 1.0 + gain_sd * zk
        mg = m * gain_sd
        sd = np.sqrt(var * (own * own) + (mg * mg) * zv)
        om = m * own
        r = om - risk_aversion * sd
        ratio[j] = r if not r < 0.0 else 0.0
        own_mean[j], own_sd[j], own_factor[j], mean_var[j] = om, sd, own, var


def planning_ratio(firms, prior_mean: float, prior_sd: float, risk_aversion: float, gain_sd: float) -> np.ndarray:
    """The certainty-equivalent gain ratio each firm plans its next project with (floored at 0)."""
    return planning(firms, prior_mean, prior_sd, risk_aversion, gain_sd).ratio


def ratio_bound(firms, prior_mean: float, prior_sd: float, gain_sd: float) -> np.ndarray:
    """For every firm, max(own mean, 0) (float32, rounded up): at least the certainty equivalent it plans
    with, and the most a lessor carrying all of its shortfall risk can lift it to (thinning.py)."""
    f = firms
    own = np.empty(f.n, np.float32)
    _ratio_bound_kernel(*cell_terms(f, prior_mean, prior_sd), f.cell, f.informed, f.belief_precision,
                        f.belief_weighted, f.z_known, f.stage, np.float32(gain_sd), own)
    return own


@njit(cache=True, nogil=True)
def _ratio_bound_kernel(cell_p, cell_w, cell, informed, precision, weighted, z_known, stage, gain_sd, own):
    """ratio_bound firm by firm: max(1 + gain_sd E[z], 0) x max(mean, 0), the mean of mean_belief, in float32,
    rounded up."""
    for i in range(own.size):
        mean, _ = _firm_belief(i, cell_p, cell_w, cell, informed, precision, weighted)
        o = np.maximum(np.float32(1.0) + gain_sd * z_known[i, min(stage[i], 3)], np.float32(0.0))
        o *= np.float32(np.maximum(mean, 0.0))
        own[i] = o * np.float32(1 + 1e-5)  # float32 rounding (relative 1e-7 per operation) stays far below this


def diagnose(firms, idx: np.ndarray, observations: float) -> None:
    """An expert diagnosis: firms ``idx`` learn more of their own z for their next stage, as if they saw
    ``observations`` noisy measurements of it (variance shrinks by 1 + observations)."""
    f = firms
    k = float(observations)
    _diagnose_kernel(np.asarray(idx, np.int64), f.stage, f.gain_z, k / (1.0 + k), 1.0 + k, f.z_known, f.z_var)


@njit(cache=True, nogil=True, error_model="numpy")
def _diagnose_kernel(idx, stage, gain_z, pull, shrink, z_known, z_var):
    """diagnose firm by firm at the slot of its next stage (min(stage, 3)): known + pull x (truth - known) and
    var / shrink in float64, stored in float32."""
    for i in idx:
        s = min(stage[i], 3)
        known = np.float64(z_known[i, s])
        z_known[i, s] = np.float32(known + pull * (gain_z[i, s] - known))
        z_var[i, s] = np.float32(np.float64(z_var[i, s]) / shrink)


def learn_from_peers(firms, evidence, params, n_cells: int, n_sectors: int, obs_var: float,
                     cell_firms: np.ndarray | None = None) -> None:
    """Evidence ages; last month's completed projects (``evidence``: cell, sector, weight, ratio) become
    public evidence in their cells (``cell_firms``: real operating firms per cell, if known); exposure fades."""
    b = params.beliefs
    age_evidence(firms, b.evidence_half_life_months)
    if evidence is not None and b.peer_contacts > 0:
        cell, sector, weight, ratio = evidence
        cell_firms = np.bincount(firms.cell, weights=firms.weight * firms.alive, minlength=n_cells) \
            if cell_firms is None else cell_firms
        share, mean = cell_evidence(cell, sector, weight, ratio, cell_firms, n_sectors, b.cross_cell_weight)
        observe(firms.cell_precision, firms.cell_weighted, slice(None), mean, b.peer_contacts * share, obs_var)
    decay_exposure(firms.exposure, b.exposure_half_life_months)


__all__ = ["observe", "cell_evidence", "decay_exposure", "age_evidence", "mean_belief", "Planning", "planning",
           "planning_ratio", "ratio_bound", "diagnose", "learn_from_peers"]
