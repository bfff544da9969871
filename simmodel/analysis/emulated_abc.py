"""The posterior of a calibration, continued on an emulator of the model (docs/ODD.md 3.6).

The simulated ABC-SMC (calibrate.py) brings the threshold down; each generation costs more runs than the
last (acceptance halves as the threshold does), so a 2-hour budget ends with the threshold still falling,
and the importance weights of its last population leave an effective sample of a few dozen (local kernel)
or a threshold far from where the fit stops improving (global kernel). Its runs are spent well all the
same: several thousand single-seed runs spread over the region the posterior lives in. This module fits
an emulator to them and carries on the same ABC-SMC on the emulator, where a run costs microseconds:

- The emulator (``PolyEmulator``): per fitted target, a ridge regression on polynomial features of the
  parameters (cubic where the runs are at least ten times the features, else quadratic, else linear),
  on the log of targets that are positive in every run. Its out-of-fold residuals (5 folds) are single-
  seed runs' departures from the emulated mean: seed noise and the emulator's own error together.
- An emulated run of a point is its emulated mean plus one residual vector drawn from those (the targets'
  joint noise, tails and correlations as the runs showed them), and its distance is calibrate.distance,
  the same rule as a simulated run's. The ABC likelihood of a point at threshold eps, the probability
  that a run of it lands within eps, is estimated over ``K`` residual vectors fixed at the start.
- Each emulated generation sets its threshold as the simulated ones do (the ``quantile`` of the last
  generation's accepted distances), proposes ``proposals`` points from the last generation (Gaussian
  kernel, twice its weighted covariance) and weights each by likelihood / proposal density (uniform
  prior over the cube). It stops when the fit stops improving: the threshold, or the posterior's median
  distance without seed noise, falls by less than ``min_improvement`` (EmulatedABC.run).

The emulator's error widens the likelihood a little (its residuals are wider than the seed noise), so the
emulated posterior is if anything wider than the simulated one would be. It is checked by simulation:
calibrate.py draws the posterior sample from it, runs each draw on a fresh seed, and reports the share of
those runs within the final threshold against the share the emulator expected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

def poly_features(u: np.ndarray, degree: int) -> np.ndarray:
    """Every monomial of the columns of ``u`` up to ``degree`` (1 first)."""
    n, d = u.shape
    cols = [np.ones(n)]
    for k in range(1, degree + 1):
        cols += [np.prod(u[:, c], axis=1) for c in itertools.combinations_with_replacement(range(d), k)]
    return np.column_stack(cols)


def n_features(d: int, degree: int) -> int:
    from math import comb

    return comb(d + degree, degree)


@dataclass
class PolyEmulator:
    """Ridge regression on polynomial features, per target, on standardised (and where positive, logged)
    targets; ``residuals`` are the out-of-fold single-run residuals on the targets' own scale."""

    degree: int
    coef: np.ndarray  # (features, targets), standardised scale
    centre: np.ndarray
    scale: np.ndarray
    logged: np.ndarray  # (targets,) bool
    residuals: np.ndarray  # (runs, targets)

    RIDGE = 1e-6  # relative to the runs: enough to keep the solve well conditioned, small against the fit
    FOLDS = 5

    @staticmethod
    def degree_for(runs: int, d: int) -> int:
        """Cubic where the runs are at least ten times its features, else quadratic, else linear."""
        return next((g for g in (3, 2) if runs >= 10 * n_features(d, g)), 1)

    @classmethod
    def fit(cls, u: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> PolyEmulator:
        degree = cls.degree_for(len(u), u.shape[1])
        logged = np.all(y > 0, axis=0)
        t = np.where(logged, np.log(np.where(logged, y, 1.0)), y)
        centre, scale = t.mean(axis=0), np.maximum(t.std(axis=0), 1e-12)
        x = poly_features(u, degree)

        def solve(rows: np.ndarray) -> np.ndarray:
            xr = x[rows]
            return np.linalg.solve(xr.T @ xr + cls.RIDGE * len(rows) * np.eye(x.shape[1]),
                                   xr.T @ ((t[rows] - centre) / scale))

        fold = rng.permutation(len(u)) % cls.FOLDS
        residuals = np.empty_like(y)
        for k in range(cls.FOLDS):
            coef = solve(np.flatnonzero(fold != k))
            out = fold == k
            residuals[out] = y[out] - cls._back(x[out] @ coef * scale + centre, logged)
        return cls(degree, solve(np.arange(len(u))), centre, scale, logged, residuals)

    @staticmethod
    def _back(t: np.ndarray, logged: np.ndarray) -> np.ndarray:
        return np.where(logged, np.exp(np.where(logged, t, 0.0)), t)

    CHUNK = 16_384  # points whose features are built at once: 89 MB for fourteen parameters' 680 cubic monomials

    def predict(self, u: np.ndarray) -> np.ndarray:
        """The emulated means of points ``u`` (rows), a chunk of points at a time: their features in one piece
        would take 5.4 kB a point (3.5 GB for 640,000 points, twice that while they are stacked). A point's mean
        does not depend on the other points in its chunk, but BLAS may round the product in another order for
        another number of rows (the eighth calibration's emulated posterior was the same to the bit either way)."""
        out = np.empty((len(u), self.coef.shape[1]))
        for a in range(0, len(u), self.CHUNK):
            x = poly_features(u[a:a + self.CHUNK], self.degree)
            out[a:a + len(x)] = self._back(x @ self.coef * self.scale + self.centre, self.logged)
        return out


@dataclass
class Stage:
    """One emulated generation: its threshold, proposals and the effective sample of their weights."""

    epsilon: float
    proposals: int
    ess: float
    fit: float  # the weighted median distance of the points' emulated means (no seed noise)


@dataclass
class EmulatedPosterior:
    u: np.ndarray  # (proposals, d) the last generation's importance sample
    weights: np.ndarray  # normalised
    likelihood: np.ndarray  # (proposals,) emulated probability that a run lands within epsilon
    epsilon: float
    stages: list[Stage]
    stop_reason: str

    @property
    def ess(self) -> float:
        return float(self.weights.sum() ** 2 / np.sum(self.weights**2))


class EmulatedABC:
    """ABC-SMC on an emulator: ``distance_of(y)`` is the simulated search's distance of runs (rows) of the
    fitted targets, so an emulated run is judged by the same rule as a simulated one."""

    def __init__(self, emulator: PolyEmulator, distance_of, rng: np.random.Generator, draws: int = 200):
        self.emulator, self.distance_of = emulator, distance_of
        res = emulator.residuals
        self.noise = res[rng.choice(len(res), size=min(draws, len(res)), replace=False)]  # (K, targets), fixed

    def distances(self, u: np.ndarray) -> np.ndarray:
        """(points, K): the distance of an emulated run of each point with each of the fixed residuals."""
        mean = self.emulator.predict(u)
        k, t = self.noise.shape
        out = np.empty((len(u), k))
        for a in range(0, len(u), 500):
            m = mean[a:a + 500]
            out[a:a + len(m)] = self.distance_of((m[:, None, :] + self.noise[None]).reshape(-1, t)).reshape(len(m), k)
        return out

    @staticmethod
    def propose(centres: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points: an equally weighted centre moved by the kernel, drawn again outside the cube."""
        chol = np.linalg.cholesky(cov)
        out: list[np.ndarray] = []
        while sum(len(o) for o in out) < n:
            prop = centres[rng.integers(len(centres), size=n)] + rng.standard_normal((n, cov.shape[0])) @ chol.T
            out.append(prop[np.all((prop >= 0) & (prop <= 1), axis=1)])
        return np.concatenate(out)[:n]

    @staticmethod
    def log_proposal(u: np.ndarray, centres: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """log of the proposal's density (up to the cube's constant): the equal mixture of the kernels."""
        inv_chol = np.linalg.inv(np.linalg.cholesky(cov))
        zc = centres @ inv_chol.T
        out = np.empty(len(u))
        for a in range(0, len(u), 256):
            z = u[a:a + 256] @ inv_chol.T
            sq = (z**2).sum(1)[:, None] - 2 * z @ zc.T + (zc**2).sum(1)[None, :]
            out[a:a + 256] = logsumexp(-0.5 * sq, axis=1)
        return out

    def mean_fit(self, u: np.ndarray, w: np.ndarray) -> float:
        """How well the points fit without seed noise: the weighted median of the distance of their emulated
        means."""
        return _weighted_quantile(self.distance_of(self.emulator.predict(u)), w / w.sum(), 0.5)

    def run(self, u0: np.ndarray, w0: np.ndarray, d0: np.ndarray, eps0: float, *, centres: int, proposals: int,
            quantile: float, min_improvement: float, max_stages: int, rng: np.random.Generator,
            min_ess: float, max_proposals: int | None = None) -> EmulatedPosterior:
        """From the simulated search's last generation (points ``u0``, weights ``w0``, accepted distances
        ``d0`` under threshold ``eps0``), emulated generations until the fit stops improving: the threshold,
        or the posterior's median distance without seed noise (``mean_fit``), falls by less than
        ``min_improvement``. Lower thresholds would select lucky seeds, not better parameters: with few
        targets the threshold itself keeps falling (the accepted runs' distances do not crowd under it) while
        the emulated likelihood rests on fewer and fewer of the residual draws. Each generation's proposals
        grow (doubling, to ``max_proposals``, by default 16 x ``proposals``) until their effective sample reaches
        ``min_ess``; a generation that cannot reach it ends the search, and the one before is the posterior."""
        max_proposals = 16 * proposals if max_proposals is None else max_proposals
        eps, acc_d, acc_w = eps0, d0, w0
        u, w = u0, w0 / w0.sum()
        fit = self.mean_fit(u, w)
        stages: list[Stage] = []
        stop = f"{max_stages} emulated generations"
        post = None
        for _ in range(max_stages):
            new_eps = _weighted_quantile(acc_d, acc_w, quantile)
            del acc_d, acc_w
            c = u[rng.choice(len(u), size=centres, p=w)]
            cov = global_kernel(u, w, jitter=1e-9)
            n = proposals
            while True:
                cand = self.propose(c, cov, n, rng)
                dist = self.distances(cand)
                lik = (dist <= new_eps).mean(axis=1)
                logq = self.log_proposal(cand, c, cov)
                cw = np.zeros(n)
                if np.any(lik > 0):
                    logw = np.where(lik > 0, np.log(np.maximum(lik, 1e-300)) - logq, -np.inf)
                    cw = np.exp(logw - logw[lik > 0].max())
                    cw /= cw.sum()
                ess = float(1.0 / np.sum(cw**2)) if cw.any() else 0.0
                if ess >= min_ess or 2 * n > max_proposals:
                    break
                del cand, dist, lik, logq, cw  # before twice as many are drawn
                n *= 2
            if ess < min_ess:
                stop = (f"the emulated sample at threshold {new_eps:.3f} held an effective sample of {ess:.0f} "
                        f"(less than {min_ess:.0f}) in {n} proposals")
                break
            new_fit = self.mean_fit(cand, cw)
            drop, better = 1.0 - new_eps / eps, 1.0 - new_fit / fit
            stages.append(Stage(new_eps, n, ess, new_fit))
            post = EmulatedPosterior(cand, cw, lik, new_eps, stages, "")
            u, w, eps, fit = cand, cw, new_eps, new_fit
            if drop < min_improvement or better < min_improvement:
                stop = ((f"the threshold fell by {100 * drop:.2f} %" if drop < min_improvement else
                         f"the median distance without seed noise fell by {100 * better:.2f} %")
                        + f" (less than {100 * min_improvement:.0f} %): the fit stopped improving")
                break
            # the accepted emulated runs, for the next threshold: every (point, residual) within this one, weighted
            # 1 / proposal
            inside = dist <= new_eps
            acc_d = dist[inside]
            acc_w = np.broadcast_to(np.exp(-(logq - logq.max()))[:, None], dist.shape)[inside]
            del inside, dist  # before the next generation's proposals
        if post is None:
            raise ValueError(f"the emulated search could not start: {stop}")
        post.stop_reason = stop
        return post


def global_kernel(u: np.ndarray, w: np.ndarray, jitter: float) -> np.ndarray:
    """The global ABC-SMC perturbation kernel (Beaumont et al. 2009): twice the weighted covariance of the
    particles ``u`` (weights ``w``), plus ``jitter`` on the diagonal; 0.01 x identity for a single particle."""
    d = u.shape[1]
    c = np.atleast_2d(np.cov(u.T, aweights=w)) if len(u) > 1 else np.eye(d) * 0.01
    return 2.0 * c + np.eye(d) * jitter


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][min(np.searchsorted(cw, q * cw[-1]), len(x) - 1)])


def systematic_resample(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn by weight with one uniform (systematic resampling): each index appears
    floor(n w) or ceil(n w) times."""
    edges = np.cumsum(weights / weights.sum())
    edges[-1] = 1.0
    return np.searchsorted(edges, (rng.random() + np.arange(n)) / n)
