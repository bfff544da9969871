"""Calibration against the reported Zhejiang outcomes, with parameter uncertainty.

Targets (calibration/targets.toml) carry an observation sd and a model-discrepancy sd; the
seed-to-seed variance of the model is estimated from replicate runs. The search:

1. History matching (Vernon, Goldstein & Bower 2010; Andrianakis et al. 2015), in waves. Each wave
   simulates points (``seeds_per_point`` seeds each) spread over the current not-ruled-out-yet
   (NROY) region; a quadratic ridge-regression emulator per target is fitted to all runs so far,
   with its prediction variance from leave-one-out residuals; a large Latin-hypercube set of
   candidates is emulated, and candidates whose implausibility
       I_i(theta) = |E[f_i(theta)] - z_i| / sqrt(sd_obs_i^2 + sd_model_i^2 + var_emulator_i)
   exceeds 3 for any fitted target are ruled out (one-sided targets only count a shortfall). The
   next wave samples the survivors.
2. Approximate Bayesian computation by sequential Monte Carlo (ABC-SMC, population Monte Carlo:
   Toni et al. 2009; Beaumont et al. 2009) in generations of ``population`` particles, each simulated on
   its own seed. Generation 0 proposes from the region history matching left (uniform over it) and
   keeps the runs closer than the median distance of its first batch; each later generation proposes
   by perturbing the last (Gaussian kernels with the optimal local covariance of Filippi et al. 2013, or
   twice the weighted covariance of the whole population; ``Plan.kernel``), keeps
   proposals closer than the median of the last generation's distances, where
       d(theta) = max_i |miss_i| / s_i,  s_i^2 = sd_obs_i^2 + sd_model_i^2 + seed variance_i,
   the worst standardised miss (a bound's miss counts only on its wrong side). A point is as close as
   its worst-fitted target, so no target can be traded against others met well: the distance falls
   below about 2 only where every fitted target is within its band, which is what `validate` asks.
   (Until 2026-12-03 it was the root mean square of the misses: the second calibration's point met
   16 of 18 targets and missed the two economics bounds by 2-4 sd.) The seed variance is the median
   over the history-matching points of the variance between a point's seeds, then fixed: a mean would
   be dominated by the few points where a target is heavy-tailed (a median payback of 45 years on one
   seed and 70 on the other), which made the economics targets count for almost nothing.
   Accepted proposals are weighted by prior / proposal density. Proposals run in batches of
   ``population`` points until ``population`` are kept. The search stops when a threshold falls by
   less than ``Plan.min_improvement`` (the fit stopped improving), when a generation accepts fewer
   than ``Plan.min_acceptance`` of its proposals, or when the budget is spent (``Plan.reserved_runs``
   kept back).
2b. The posterior (``emulated_posterior``; emulated_abc.py): an emulator fitted to every ABC-SMC run
   carries the same ABC-SMC on from the last simulated generation until the fit stops improving (the
   threshold, or the posterior's median distance without seed noise, falls by less than
   ``Plan.min_improvement``); ``population`` draws from its last importance sample, each simulated on a
   fresh seed, are the posterior sample (calibration/posterior.csv), its predictive, and the check of the
   emulator (the share of those runs within the final threshold against the share it expected). The
   simulated generations' own importance weights are no posterior: with the local kernel their effective
   sample is a few dozen particles; with the global one the budget ends far above the final threshold.
3. The point the baseline takes: the closest points of the whole search, re-simulated on fresh seeds
   (``Plan.select`` points x ``Plan.select_seeds`` seeds); the closest of them over those seeds (the
   search's point). Then refined (``Calibration.refine``): a local search from it (Nelder-Mead, scipy,
   inside the prior box) for the point whose worst fitted target scores least by validate's own rule
   (``Target.score`` of the median over seeds: at most 1 when the target is met), every point on the same
   fresh seeds (common random numbers). The ABC distance weighs each miss by the seed noise of one run;
   the baseline is judged on the median of many, so the search's closest point can miss narrowly where a
   nearby point does not. The refined point is adopted only if it also scores better on further seeds it
   never saw; `simmodel validate` then checks it on seeds 1-20. The posterior stays that of 2b.
No parameter is solved after the search to meet a target. The accounting parameters of
   technological-transformation investment (the renewal share of value added, its growth, the other
   investment share) are calibrated with their priors like every other parameter: until 2026-12-02
   they were solved at the chosen point so that its three investment targets were met exactly, and
   those targets then counted as fitted (issue #16).

Every run goes through an executor (in process or Dask) and is stored as a file when it finishes,
so a calibration resumes where it stopped. Each wave's design is stored before it runs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

from .. import resources
from ..params import BY_KEY, ParamError, Params, read_toml
from ..runs import store
from ..runs.executor import Executor, Task
from ..runs.runner import PROVINCE_ONLY
from .emulated_abc import EmulatedABC, PolyEmulator, global_kernel, poly_features, systematic_resample
from .targets import Target, load_targets, misses, read_run


def calibration_params(priors: Priors, base: Params | None = None) -> Params:
    """The parameters of a calibration run before the calibrated ones are set: the baseline scenario's
    (its model: firm dynamics, the labour pool and every other setting it makes) at the calibration scale."""
    if base is None:
        from .scenarios import baseline

        base = baseline().params
    return base.replace({"run.scale": priors.scale})


def default_priors() -> Path:
    """The shipped priors file."""
    return resources.path("calibration/priors.toml")


# --- priors --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    key: str
    low: float
    high: float
    why: str
    integer: bool = False


@dataclass(frozen=True)
class Priors:
    parameters: tuple[Prior, ...]
    scale: float
    seeds_per_point: int  # seeds per point of the history-matching waves (their seed variance is pooled)
    first_seed: int
    design_seed: int
    population: int = 1000  # particles per ABC-SMC generation (one seed each)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parameters]

    @property
    def low(self) -> np.ndarray:
        return np.array([p.low for p in self.parameters])

    @property
    def high(self) -> np.ndarray:
        return np.array([p.high for p in self.parameters])

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds_per_point))


def load_priors(path: Path | None = None) -> Priors:
    doc = read_toml(Path(path) if path is not None else default_priors())
    params = []
    for key, body in doc.get("parameters", {}).items():
        if key not in BY_KEY:
            raise ParamError(f"parameters.{key}", None, "unknown parameter key", str(path))
        p = BY_KEY[key]
        rng = body.get("range") if isinstance(body, dict) else None
        if p.kind not in ("float", "int") or not isinstance(rng, list) or len(rng) != 2 or rng[0] >= rng[1]:
            raise ParamError(f"parameters.{key}.range", rng, "must be [low, high], low < high, of a numeric parameter",
                             str(path))
        for v in rng:
            p.validate(int(v) if p.kind == "int" else float(v), str(path))
        params.append(Prior(key, float(rng[0]), float(rng[1]), body.get("why", ""), p.kind == "int"))
    if not params:
        raise ParamError("parameters", None, "name at least one parameter to calibrate", str(path))
    seeds_per_point = doc.get("seeds_per_point", 2)
    if not isinstance(seeds_per_point, int) or seeds_per_point < 2:
        raise ParamError("seeds_per_point", seeds_per_point, "must be an integer >= 2 (the seed variance is estimated "
                         "from the history-matching waves)", str(path))
    population = doc.get("population", 1000)
    if not isinstance(population, int) or population < 10:
        raise ParamError("population", population, "must be an integer >= 10", str(path))
    return Priors(tuple(params), float(doc.get("scale", 0.02)), seeds_per_point,
                  int(doc.get("first_seed", 101)), int(doc.get("design_seed", 2013)), population)


# --- emulators -----------------------------------------------------------------------------------------
@dataclass
class Emulator:
    """Ridge regression on quadratic features (emulated_abc.poly_features), one per target; variance from
    leave-one-out residuals."""

    coef: np.ndarray  # (features, targets)
    var: np.ndarray  # (targets,)

    @classmethod
    def fit(cls, u: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> Emulator:
        x = poly_features(u, 2)
        xtx = x.T @ x + ridge * np.eye(x.shape[1]) * len(u)
        coef = np.linalg.solve(xtx, x.T @ y)
        hat = np.einsum("ij,jk,ik->i", x, np.linalg.inv(xtx), x)
        loo = (y - x @ coef) / np.maximum(1.0 - hat, 1e-3)[:, None]
        return cls(coef, np.mean(loo**2, axis=0))

    def predict(self, u: np.ndarray) -> np.ndarray:
        return poly_features(u, 2) @ self.coef


def implausibility(mean: np.ndarray, fit: list[Target], extra_var: np.ndarray) -> np.ndarray:
    """max over fitted targets of |mean - z| / sqrt(sd_obs^2 + sd_model^2 + extra); (points,) array."""
    var = np.array([t.sd**2 for t in fit]) + extra_var
    return np.max(np.abs(misses(mean, fit)) / np.sqrt(var), axis=1)


def distance(mean: np.ndarray, fit: list[Target], seed_var: np.ndarray, seeds: int) -> np.ndarray:
    """The ABC distance: the worst standardised miss over the fitted targets (points,)."""
    s2 = np.array([t.sd**2 for t in fit]) + seed_var / seeds
    return np.max(np.abs(misses(mean, fit)) / np.sqrt(s2), axis=1)


def pooled_seed_variance(y: np.ndarray) -> np.ndarray:
    """Variance between seeds at the same point, per target: the median over points (points, seeds,
    targets) -> (targets,); 0 where no point has two finite seeds."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num(np.nanmedian(np.nanvar(y, axis=1, ddof=1), axis=0))


# --- the search -------------------------------------------------------------------------------------
@dataclass
class Plan:
    """How a budget of runs is spent: history-matching waves, then ABC-SMC generations of
    ``population`` particles until the threshold stops falling or the budget is spent."""

    waves: list[int]  # points per history-matching wave
    population: int  # particles per ABC-SMC generation
    budget: int  # runs in all (history matching, ABC-SMC, the point's re-simulations)
    candidates: int = 20_000
    cutoff: float = 3.0
    quantile: float = 0.5  # each generation's threshold: this quantile of the last one's distances
    min_improvement: float = 0.05  # stop once a threshold falls by less than this share of the last one
    min_acceptance: float = 0.01  # stop once a generation accepts fewer than this share of its proposals
    max_generations: int = 30
    kernel: str = "local"  # the perturbation kernel: "local" or "global" (Calibration.kernel_covs)
    select: int = 12  # candidates for the point estimate, re-simulated on fresh seeds ...
    select_seeds: int = 8  # ... this many; the refinement's points and its check use as many seeds
    refine: int = 150  # points the refinement of the chosen point may simulate (Nelder-Mead evaluations)

    @classmethod
    def for_budget(cls, budget: int, seeds: int, population: int, quick: bool = False) -> Plan:
        """A fifth of the budget for two history-matching waves (at ``seeds`` seeds a point), the rest
        for ABC-SMC (one seed a particle) and the point."""
        points = max(budget // 5 // seeds, 8)
        waves = [max(4, int(points * 0.55)), max(4, points - int(points * 0.55))]
        if quick:
            return cls(waves, population, budget, candidates=2_000, select=3, select_seeds=2, max_generations=3,
                       refine=4, emulated_proposals=2_000, emulated_ess=200, emulated_max_proposals=32_000)
        if budget < 2000:  # a small search: the point's re-simulations stay a small part of it; a posterior of
            # tens of draws needs no effective sample of thousands
            return cls(waves, population, budget, candidates=5_000, select=3, select_seeds=2, refine=10,
                       emulated_proposals=5_000, emulated_ess=1_000, emulated_max_proposals=80_000)
        return cls(waves, population, budget)

    emulated_proposals: int = 20_000  # an emulated generation's proposals (doubled until their ESS reaches ...
    emulated_ess: int = 2_000  # ... this, up to ...
    # ... this many (emulated_abc.EmulatedABC.run): proposals cost the emulator, not the model. At 16 x 20,000 the
    # eighth calibration's first emulated generation held an effective sample of 1,191, so it had no emulated
    # posterior; at 640,000 it reached 6,108 (docs/ODD.md 3.6). Peak memory: about 2 kB a proposal in this
    # process, 2.4 GB at the cap (runs/memory.emulated_mb, which `simmodel calibrate`'s memory check counts)
    emulated_max_proposals: int = 1_280_000

    @property
    def select_runs(self) -> int:
        """Runs kept back for the point: its re-simulations, the refinement and the refinement's check."""
        return self.select * self.select_seeds + (self.refine + 2) * self.select_seeds

    @property
    def reserved_runs(self) -> int:
        """Runs the simulated ABC-SMC leaves: the posterior sample's check (one run a draw) and the point's."""
        return self.population + self.select_runs


@dataclass
class WaveData:
    u: np.ndarray  # (points, d) in [0, 1]
    y: np.ndarray  # (points, seeds, targets); NaN where a run failed
    nroy_share: float = 1.0  # share of the candidates still plausible when this wave was designed
    kind: str = "hm"


@dataclass
class Population:
    """An ABC-SMC generation: weighted particles (in the unit cube), their distances and targets, the
    threshold that made them, and what it took (proposals simulated)."""

    u: np.ndarray
    weights: np.ndarray
    distance: np.ndarray
    epsilon: float
    y: np.ndarray  # (particles, targets): every target of the particle's run
    proposals: int = 0

    @property
    def ess(self) -> float:
        """Effective sample size (Kish): (sum w)^2 / sum w^2."""
        return float(self.weights.sum() ** 2 / np.sum(self.weights**2))

    @property
    def acceptance(self) -> float:
        return len(self.u) / self.proposals if self.proposals else math.nan


@dataclass
class Calibration:
    """One calibration: targets, priors, a working folder and an executor."""

    targets: list[Target]
    priors: Priors
    work: Path
    executor: Executor
    plan: Plan
    base: Params
    progress: Callable[[int, int, str], None] | None = None
    waves: list[WaveData] = field(default_factory=list)

    def __post_init__(self):
        self.fit = [t for t in self.targets if t.role == "fit"]
        self.index = [self.targets.index(t) for t in self.fit]
        self.runs_done = 0
        self.failures: dict[str, str] = {}  # run -> error, over every stage
        self.populations: list[Population] = []
        self.proposal_runs: list[tuple[np.ndarray, np.ndarray]] = []  # (points, targets) of every ABC-SMC run
        self.emulated: dict | None = None  # the emulated generations and the posterior sample's check
        self.stop_reason = ""
        self._seed_var: np.ndarray | None = None

    # parameters <-> unit cube
    def params_at(self, u: np.ndarray) -> Params:
        theta = self.priors.low + u * (self.priors.high - self.priors.low)
        values = {p.key: (int(round(v)) if p.integer else float(v)) for p, v in zip(self.priors.parameters, theta)}
        return self.base.replace({**values, "run.scale": self.priors.scale})

    def theta(self, u: np.ndarray) -> np.ndarray:
        return self.priors.low + u * (self.priors.high - self.priors.low)

    @property
    def runs_left(self) -> int:
        return self.plan.budget - self.plan.reserved_runs - self.runs_done

    # running points -------------------------------------------------------------------------------------
    def run_points(self, name: str, u: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Every target of every (point, seed) into work/<name>/runs/ (skipping runs already stored):
        a (points, seeds, targets) array, NaN where a run failed. ``seeds`` is (points, seeds a point)."""
        runs = store.RunStore(self.work / name / "runs", ".json")
        runs.clean_partial()
        names = tuple(dict.fromkeys(t.indicator for t in self.targets))
        keys = [[f"p{i:05d}-s{int(s):04d}" for s in seeds[i]] for i in range(len(u))]
        todo = [Task(keys[i][k], self.params_at(u[i]), int(seeds[i][k]), monthly=True, names=names,
                     levels=PROVINCE_ONLY, meta={"point": i})
                for i in range(len(u)) for k in range(seeds.shape[1]) if not runs.has(keys[i][k])]
        self.runs_done += seeds.size - len(todo)
        for outcome in self.executor.map(todo):
            record = {"error": outcome.error} if not outcome.ok else {"targets": read_run(outcome.result, self.targets)}
            runs.write(outcome.task.key, json.dumps(record))
            self.runs_done += 1
            if self.progress:
                self.progress(self.runs_done, self.plan.budget, name.replace("-", " "))
        y = np.full((len(u), seeds.shape[1], len(self.targets)), np.nan)
        for i in range(len(u)):
            for k, key in enumerate(keys[i]):
                rec = json.loads(runs.read(key))
                if "targets" in rec:
                    y[i, k] = [rec["targets"][t.name] for t in self.targets]
                else:
                    self.failures[f"{name}/{key}"] = rec.get("error", "error")
        return y

    def stored_design(self, name: str, make: Callable[[], tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
        """A stage's points: stored if already decided (a resumed search runs the same), else made and stored."""
        path = self.work / name / "design.json"
        if path.exists():
            d = json.loads(path.read_text())
            return np.array(d["u"]).reshape(-1, len(self.priors.parameters)), d["nroy_share"]
        u, share = make()
        store.write_text(path, json.dumps({"u": u.tolist(), "nroy_share": share}))
        return u, share

    # history matching ----------------------------------------------------------------------------------
    def history_matching(self) -> None:
        from scipy.stats import qmc

        seeds = np.array(self.priors.seeds)
        for w, n in enumerate(self.plan.waves, 1):
            rng = np.random.default_rng([self.priors.design_seed, w])  # per wave: a resumed search draws the same
            first = lambda: (qmc.LatinHypercube(d=len(self.priors.parameters), seed=rng).random(n), 1.0)  # noqa: E731
            u, share = self.stored_design(f"wave-{w}", first if w == 1 else lambda: self.nroy_sample(n, rng))
            data = WaveData(u, self.run_points(f"wave-{w}", u, np.tile(seeds, (len(u), 1))), share, "hm")
            self.waves.append(data)
        self._seed_var = self.seed_variance()  # fixed from here on: every distance uses the same scale

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """(points in [0,1], mean over seeds of the fitted targets) of every history-matching run."""
        u = np.vstack([w.u for w in self.waves])
        y = np.vstack([w.y for w in self.waves])[:, :, self.index]
        mean = _nanmean(y, axis=1)
        ok = np.all(np.isfinite(mean), axis=1)
        return u[ok], mean[ok]

    def seed_variance(self) -> np.ndarray:
        """Variance between seeds at the same point, per fitted target: the median over the history-matching
        points (pooled_seed_variance)."""
        if self._seed_var is not None:
            return self._seed_var
        return pooled_seed_variance(np.vstack([w.y for w in self.waves])[:, :, self.index])

    def emulated_nroy(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """Candidates over the current box, their implausibility under the emulators, the box's volume."""
        from scipy.stats import qmc

        u, mean = self.pooled()
        emu = Emulator.fit(u, mean)
        lo, hi = self.box()
        cand = lo + qmc.LatinHypercube(d=u.shape[1], seed=rng).random(self.plan.candidates) * (hi - lo)
        return cand, implausibility(emu.predict(cand), self.fit, emu.var), float(np.prod(hi - lo))

    def nroy_sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """``n`` points from the candidates the emulators cannot rule out (share of the prior kept)."""
        cand, imp, volume = self.emulated_nroy(rng)
        keep = cand[imp < self.plan.cutoff]
        share = len(keep) / len(cand) * volume
        if len(keep) < n:  # the emulators rule almost everything out: take the least implausible
            keep = cand[np.argsort(imp)[: max(n, len(keep))]]
        return keep[rng.choice(len(keep), size=n, replace=False)], share

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box of the current NROY points (whole cube in wave 1), a little widened."""
        if len(self.waves) < 2:
            return np.zeros(len(self.priors.parameters)), np.ones(len(self.priors.parameters))
        last = self.waves[-1].u
        pad = 0.05
        return np.clip(last.min(axis=0) - pad, 0, 1), np.clip(last.max(axis=0) + pad, 0, 1)

    # distances ----------------------------------------------------------------------------------------
    def distances(self, data: WaveData) -> tuple[np.ndarray, np.ndarray]:
        """(distance, mean over seeds of every target) of a stage's points; inf where runs failed."""
        return self.distances_of(data.y)

    def distances_of(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, mean over seeds of every target) of runs ``y`` (points, seeds, targets)."""
        mean = _nanmean(y, axis=1)
        fitted = mean[:, self.index]
        ok = np.all(np.isfinite(fitted), axis=1)
        d = np.full(len(mean), np.inf)
        d[ok] = distance(fitted[ok], self.fit, self.seed_variance(), y.shape[1])
        return d, mean

    # ABC-SMC ------------------------------------------------------------------------------------------
    @staticmethod
    def kernel_covs(prev: Population, eps: float, kernel: str = "local") -> np.ndarray:
        """Each particle's kernel covariance, (particles, d, d).

        "local" (the default): the optimal local covariance of Filippi et al. (2013), the weighted second
        moment about the particle of the previous particles within the new threshold ``eps``,
        Sigma_i = C + (m - u_i)(m - u_i)^T (m, C: their weighted mean and covariance). "global" (Beaumont et
        al. 2009): twice the weighted covariance of the whole population, the same for every particle. The
        local kernel accepts more proposals, so the thresholds fall further on a budget (3.01 against 5.52 in
        full calibrations), but its importance weights vary by orders of magnitude (effective samples of a
        few dozen): the simulated generations design the runs the emulator learns from, and the posterior
        is the emulated one (``emulated_posterior``; docs/ODD.md 3.6)."""
        d = prev.u.shape[1]
        if kernel == "global":
            return np.broadcast_to(global_kernel(prev.u, prev.weights, jitter=1e-6), (len(prev.u), d, d))
        if kernel != "local":
            raise ValueError(f"unknown SMC kernel {kernel!r}: global or local")
        near = prev.distance <= eps
        if near.sum() < d + 1:  # too few particles within the threshold to estimate a covariance: all of them
            near = np.ones(len(prev.u), bool)
        w = prev.weights[near] / prev.weights[near].sum()
        m = w @ prev.u[near]
        c = (prev.u[near] - m).T @ ((prev.u[near] - m) * w[:, None])
        delta = m - prev.u
        return c[None] + delta[:, :, None] * delta[:, None, :] + np.eye(d)[None] * 1e-6

    @staticmethod
    def perturb(prev: Population, covs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` proposals: particles drawn by weight, each moved by its own Gaussian kernel, kept in the cube
        (a proposal outside is drawn again, particle and move)."""
        chol = np.linalg.cholesky(covs)
        out = []
        while len(out) < n:
            i = rng.choice(len(prev.u), size=n, p=prev.weights)
            prop = prev.u[i] + np.einsum("nij,nj->ni", chol[i], rng.standard_normal((n, prev.u.shape[1])))
            out.extend(prop[np.all((prop >= 0) & (prop <= 1), axis=1)])
        return np.array(out[:n])

    @staticmethod
    def importance_weights(u: np.ndarray, prev: Population, covs: np.ndarray) -> np.ndarray:
        """Uniform prior over the cube / the proposal's density, normalised (Toni et al. 2009; Beaumont et al.
        2009). The proposal is the mixture of the previous particles' kernels, sum_i w_i N(u; u_i, Sigma_i);
        drawing again outside the cube scales it by one constant there, which the normalisation removes."""
        chol = np.linalg.cholesky(covs)
        inv_chol = np.linalg.inv(chol)
        log_mix = np.log(np.maximum(prev.weights, 1e-300)) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        log_q = np.empty(len(u))
        for a in range(0, len(u), 64):  # (chunk x particles x d) at a time
            z = np.einsum("nkd,cnd->cnk", inv_chol, u[a:a + 64, None, :] - prev.u[None, :, :])
            log_q[a:a + 64] = logsumexp(log_mix[None, :] - 0.5 * np.sum(z**2, axis=2), axis=1)
        log_w = -log_q
        w = np.exp(log_w - log_w.max())
        return w / w.sum()

    def generation(self, g: int, prev: Population | None) -> Population | None:
        """Generation ``g``: proposals in batches of ``population`` points (from the NROY region for the
        first, by perturbing ``prev`` afterwards), each on its own seed, until ``population`` are closer
        than the threshold; None if the budget ends first with fewer than half of them."""
        n = self.plan.population
        accepted_u, accepted_d, accepted_y, proposals, eps = [], [], [], 0, math.inf
        if prev is not None:
            eps = float(np.quantile(prev.distance, self.plan.quantile))
            covs = self.kernel_covs(prev, eps, self.plan.kernel)
        for b in range(10_000):
            if self.runs_left < n:
                break
            rng = np.random.default_rng([self.priors.design_seed, 1000 + g, b])
            name = f"smc-{g:02d}-{b:03d}"
            make = (lambda: self.nroy_sample(n, rng)) if prev is None else (lambda: (self.perturb(prev, covs, n, rng),
                                                                                     math.nan))
            u, _ = self.stored_design(name, make)
            seeds = (self.priors.first_seed + 100_000 + (1000 + g) * 100_000 + b * n + np.arange(n))[:, None]
            y = self.run_points(name, u, seeds)
            self.proposal_runs.append((u, y[:, 0, :]))
            d, mean = self.distances_of(y)
            proposals += n
            if prev is None and b == 0:  # the first threshold: this quantile of the NROY sample's distances
                eps = float(np.quantile(d[np.isfinite(d)], self.plan.quantile)) if np.isfinite(d).any() else math.inf
            keep = np.flatnonzero(d <= eps)
            accepted_u.append(u[keep]), accepted_d.append(d[keep]), accepted_y.append(mean[keep])
            if sum(len(a) for a in accepted_u) >= n:
                break
        if sum(len(a) for a in accepted_u) < max(n // 2, 2):
            return None
        u, d, y = (np.concatenate(a)[:n] for a in (accepted_u, accepted_d, accepted_y))  # the first n accepted
        w = np.full(len(u), 1.0 / len(u)) if prev is None else self.importance_weights(u, prev, covs)
        return Population(u, w, d, eps, y, proposals)

    def abc_smc(self) -> None:
        prev = None
        for g in range(self.plan.max_generations):
            pop = self.generation(g, prev)
            if pop is None:
                self.stop_reason = (f"the budget ran out during generation {g}" if g else
                                    "the budget ran out before the first generation was complete")
                return
            self.populations.append(pop)
            prev = pop
            if len(self.populations) >= 2:
                drop = 1.0 - pop.epsilon / self.populations[-2].epsilon
                if drop < self.plan.min_improvement:
                    self.stop_reason = (f"the threshold fell by {100 * drop:.2f} % in generation {g} (less than "
                                        f"{100 * self.plan.min_improvement:.0f} %): the fit stopped improving")
                    return
            if pop.acceptance < self.plan.min_acceptance:
                self.stop_reason = f"generation {g} accepted {100 * pop.acceptance:.2f} % of its proposals"
                return
            if self.runs_left < self.plan.population:
                self.stop_reason = f"the budget was spent after generation {g}"
                return
        self.stop_reason = f"{self.plan.max_generations} generations"

    # the whole search -------------------------------------------------------------------------------------
    def emulated_posterior(self) -> None:
        """The posterior: the simulated search's last generation carried on by ABC-SMC on an emulator fitted
        to every ABC-SMC run (emulated_abc), until the fit stops improving; then ``population`` draws
        from it (systematic resampling), each simulated on a fresh seed: the posterior sample, its predictive,
        and the check of the emulator (the share of those runs within the final threshold against the share
        the emulator expected)."""
        u = np.vstack([r[0] for r in self.proposal_runs])
        y = np.vstack([r[1] for r in self.proposal_runs])[:, self.index]
        ok = np.all(np.isfinite(y), axis=1)
        rng = np.random.default_rng([self.priors.design_seed, 5000])
        emu = PolyEmulator.fit(u[ok], y[ok], rng)
        seed_var = self.seed_variance()
        abc = EmulatedABC(emu, lambda runs: distance(runs, self.fit, seed_var, 1), rng)
        last = self.populations[-1]
        try:
            post = abc.run(last.u, last.weights, last.distance, last.epsilon, centres=self.plan.population,
                           proposals=self.plan.emulated_proposals, quantile=self.plan.quantile,
                           min_improvement=self.plan.min_improvement, max_stages=self.plan.max_generations,
                           rng=rng, min_ess=self.plan.emulated_ess, max_proposals=self.plan.emulated_max_proposals)
        except ValueError as e:  # the posterior stays the last simulated generation; the report says why
            self.stop_reason += f"; no emulated posterior ({e})"
            return
        n = self.plan.population
        pick = systematic_resample(post.weights, n, rng)
        draws = post.u[pick]
        seeds = (self.priors.first_seed + 200_000_000 + np.arange(n))[:, None]
        # named by the draws: a search resumed with a larger budget draws another sample
        ys = self.run_points("posterior-" + hashlib.sha256(draws.tobytes()).hexdigest()[:12], draws, seeds)
        d, mean = self.distances_of(ys)
        s = np.sqrt(np.array([t.sd**2 for t in self.fit]) + seed_var)
        self.emulated = {
            "posterior": post, "u": draws, "distance": d, "predictive": mean, "distinct": len(np.unique(pick)),
            "expected_within": float(post.likelihood[pick].mean()), "within": float(np.mean(d <= post.epsilon)),
            "degree": emu.degree, "runs": int(ok.sum()), "residual_sd": np.std(emu.residuals, axis=0) / s,
            "seed_sd": np.sqrt(seed_var) / s}

    def run(self) -> dict:
        self.history_matching()
        self.abc_smc()
        if self.populations:
            self.emulated_posterior()
        point = self.best_point()
        return {**self.posterior(), "point": point, "refined": self.refine(point["u"])}

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """(points, distances) of every run of the search: history-matching points and ABC-SMC proposals."""
        u = [w.u for w in self.waves] + [p.u for p in self.populations]
        d = [self.distances(w)[0] for w in self.waves] + [p.distance for p in self.populations]
        if self.emulated:
            u.append(self.emulated["u"]), d.append(self.emulated["distance"])
        return np.vstack(u), np.concatenate(d)

    def best_point(self) -> dict:
        """The baseline's point: the search's closest points re-simulated on fresh seeds, the closest wins."""
        u, d = self.candidates()
        order = np.argsort(d, kind="stable")[: self.plan.select]
        order = order[np.isfinite(d[order])]
        seeds = [self.priors.first_seed + 1000 + k for k in range(self.plan.select_seeds)]  # not the search's
        # named by the points: a search resumed with a larger budget has other closest points
        name = "select-" + hashlib.sha256(u[order].tobytes()).hexdigest()[:12]
        dist, mean = self.distances_of(self.run_points(name, u[order], np.tile(seeds, (len(order), 1))))
        k = int(np.argmin(dist))
        return {"u": u[order[k]], "theta": self.theta(u[order[k]]), "distance": float(dist[k]),
                "search_distance": float(d[order[k]]), "candidates": len(order), "seeds": len(seeds),
                "predictive": mean[k], "distances": dist}

    def refine(self, start: np.ndarray) -> dict:
        """A local search from ``start`` for the point whose worst fitted target scores least by validate's rule
        (``validation.worst_fitted``: Target.score of the median over seeds, at most 1 when every fitted
        target is met): Nelder-Mead (scipy) inside the unit cube from a simplex of steps of 0.08, at most
        ``Plan.refine`` points, each on the same ``Plan.select_seeds`` fresh seeds (common random numbers, so
        two points differ by their parameters, not their luck). The best point and the start are then run on
        as many further fresh seeds; the best is adopted only if it scores better there too. Runs are stored
        under work/refine-<start>/ (a resumed refinement replays the same search)."""
        import time

        from scipy.optimize import minimize

        from .validation import worst_fitted

        t0 = time.perf_counter()
        n, d = self.plan.select_seeds, len(start)
        seeds = np.array([[self.priors.first_seed + 2000 + k for k in range(n)]])  # neither the search's ...
        check = np.array([[self.priors.first_seed + 3000 + k for k in range(n)]])  # ... nor validate's (1-20)
        folder = "refine-" + hashlib.sha256(np.asarray(start, float).tobytes()).hexdigest()[:12]
        clock = self.work / folder / "elapsed.json"  # time adds up over resumed sessions
        before = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
        seen: dict[bytes, tuple[float, np.ndarray]] = {}

        def worst(u: np.ndarray) -> float:
            u = np.clip(u, 0.0, 1.0)
            if u.tobytes() not in seen:
                name = f"{folder}/p{len(seen):04d}-" + hashlib.sha256(u.tobytes()).hexdigest()[:10]
                seen[u.tobytes()] = (worst_fitted(self.run_points(name, u[None, :], seeds)[0], self.targets), u)
            return min(seen[u.tobytes()][0], 1e6)  # a failed run scores inf: Nelder-Mead only compares

        step = np.where(start + 0.08 <= 1.0, 0.08, -0.08)
        simplex = np.vstack([start, start + np.diag(step)])
        if self.plan.refine > 0:
            minimize(worst, start, method="Nelder-Mead", bounds=[(0.0, 1.0)] * d,
                     options={"maxfev": self.plan.refine, "initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-3})
        else:
            worst(np.asarray(start, float))
        score, best = min(seen.values(), key=lambda v: v[0])
        pair = np.vstack([start, best])  # the check's runs are named by the points (a longer search ends elsewhere)
        y = self.run_points(f"{folder}/check-" + hashlib.sha256(pair.tobytes()).hexdigest()[:10], pair,
                            np.tile(check, (2, 1)))
        check_start, check_best = (worst_fitted(y[i], self.targets) for i in range(2))
        adopted = bool(check_best < check_start)
        seconds = before + time.perf_counter() - t0
        store.write_text(clock, json.dumps({"seconds": seconds}))
        u = best if adopted else np.asarray(start, float)
        return {"u": u, "theta": self.theta(u), "adopted": adopted, "evaluations": len(seen),
                "runs": (len(seen) + 2) * n, "seconds": seconds,
                "seeds": n, "score_start": seen[np.clip(start, 0, 1).tobytes()][0], "score": score,
                "check_start": check_start, "check": check_best,
                "median_start": np.nanmedian(y[0], axis=0), "median": np.nanmedian(y[1 if adopted else 0], axis=0),
                "median_best": np.nanmedian(y[1], axis=0)}

    def posterior(self) -> dict:
        """The emulated posterior's sample (equal weights; ``ess`` is the effective sample of the importance
        sample it was drawn from); with no ABC-SMC generation, the closest history-matching runs (equal
        weights), which the report then says is no posterior."""
        if self.emulated:
            e = self.emulated
            n = len(e["u"])
            return {"theta": self.theta(e["u"]), "weights": np.full(n, 1.0 / n), "distance": e["distance"],
                    "epsilon": e["posterior"].epsilon, "predictive": e["predictive"], "ess": e["posterior"].ess,
                    "seed_var": self.seed_variance(), "populations": self.populations, "emulated": e,
                    "stop_reason": self.stop_reason}
        if self.populations:
            pop = self.populations[-1]
        else:
            u, d = self.candidates()
            best = np.argsort(d, kind="stable")[: max(2, min(len(d), self.plan.population))]
            best = best[np.isfinite(d[best])]
            y = np.vstack([self.distances(w)[1] for w in self.waves])[best]
            pop = Population(u[best], np.full(best.size, 1.0 / best.size), d[best], float(d[best].max()), y)
        return {"theta": self.theta(pop.u), "weights": pop.weights, "distance": pop.distance,
                "epsilon": pop.epsilon, "predictive": pop.y, "ess": pop.ess, "seed_var": self.seed_variance(),
                "populations": self.populations, "stop_reason": self.stop_reason}


def _nanmean(y: np.ndarray, axis: int) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(y, axis=axis)


def search_plan(priors: Priors, budget: int, quick: bool) -> tuple[Priors, Plan]:
    """The priors and the plan a search of ``budget`` runs uses (``quick``: every step on a tiny budget, at a tiny
    scale)."""
    if quick:
        priors = Priors(priors.parameters, min(priors.scale, 0.005), 2, priors.first_seed, priors.design_seed,
                        max(10, min(priors.population, budget // 8)))
    return priors, Plan.for_budget(budget, priors.seeds_per_point, priors.population, quick)


def run_calibration(targets_path: Path, priors_path: Path, work: Path, fitted: Path, report: Path,
                    executor: Executor, budget: int, quick: bool, base: Params | None = None,
                    targets_override: list[Target] | None = None, progress=None) -> dict:
    """The whole calibration: waves, posterior, fitted.toml, posterior.csv, report and figures."""
    import time

    t0 = time.perf_counter()
    targets = targets_override or load_targets(targets_path)
    priors, plan = search_plan(load_priors(priors_path), budget, quick)
    work.mkdir(parents=True, exist_ok=True)
    for folder in (work, *work.glob("*/"), fitted.parent, report.parent):  # after an interruption
        store.clean_partial(folder)
    clock = work / "elapsed.json"  # time adds up over resumed sessions, an interrupted one's too (saved as it goes)
    before = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
    saved = [t0]

    def progress_and_clock(done: int, total: int, note: str) -> None:
        now = time.perf_counter()
        if now - saved[0] >= 30.0:
            store.write_text(clock, json.dumps({"seconds": before + now - t0}))
            saved[0] = now
        if progress:
            progress(done, total, note)

    cal = Calibration(targets, priors, work, executor, plan, calibration_params(priors, base), progress_and_clock)
    post = cal.run()
    spent = before + time.perf_counter() - t0
    store.write_text(clock, json.dumps({"seconds": spent}))
    from . import plots
    from .calibration_report import summary_of, write_fitted, write_posterior, write_report

    rows = summary_of(post["theta"], priors, post["weights"])
    for r, v, w in zip(rows, post["refined"]["theta"], post["point"]["theta"]):
        r["point"], r["search"] = float(v), float(w)
    pops = post["populations"]
    meta = {"date": _dt.date.today().isoformat(), "commit": store.git_commit()["commit"], "budget": budget,
            # the waves as run: a search resumed with another budget keeps its stored designs
            "runs": cal.runs_done, "waves": [len(w.u) for w in cal.waves],
            "seeds_per_point": priors.seeds_per_point,
            "generations": len(pops), "population": plan.population,
            "epsilons": [round(p.epsilon, 4) for p in pops], "stop": post["stop_reason"],
            "scale": priors.scale, "particles": int(len(post["weights"])), "ess": round(post["ess"], 1),
            "epsilon": round(post["epsilon"], 4), **emulated_meta(post.get("emulated")),
            "point_distance": round(post["point"]["distance"], 4), "point_seeds": post["point"]["seeds"],
            "point_candidates": post["point"]["candidates"],
            "point_search_distance": round(post["point"]["search_distance"], 4),
            **refine_meta(post["refined"], plan.refine), "quick": quick, "minutes": round(spent / 60, 1)}
    write_fitted(fitted, rows, meta)
    write_posterior(fitted.parent / "posterior.csv", priors, post["theta"], post["weights"])
    figures = report.parent / "figures"
    figs = plots.calibration_figures(cal, post, rows, figures)
    write_report(report, cal, post, rows, meta, figs)
    return {"rows": rows, "meta": meta, "posterior": post, "calibration": cal, "failures": sorted(cal.failures.items())}


def emulated_meta(e: dict | None) -> dict:
    """What fitted.toml's [calibration] records of the emulated generations and the posterior's check."""
    if not e:
        return {}
    return {"emulated_epsilons": [round(st.epsilon, 4) for st in e["posterior"].stages],
            "emulated_stop": e["posterior"].stop_reason, "emulator_degree": e["degree"], "emulator_runs": e["runs"],
            "posterior_draws": len(e["u"]), "posterior_distinct": e["distinct"],
            "posterior_check_within": round(e["within"], 4), "posterior_check_expected": round(e["expected_within"], 4)}


def refine_meta(refined: dict, limit: int) -> dict:
    """What fitted.toml's [calibration] records of the refinement of the point."""
    return {"refine_limit": limit, "refine_points": refined["evaluations"], "refine_seeds": refined["seeds"],
            "refine_runs": refined["runs"], "refine_minutes": round(refined["seconds"] / 60, 1),
            "refine_score_start": round(refined["score_start"], 4), "refine_score": round(refined["score"], 4),
            "refine_check_start": round(refined["check_start"], 4), "refine_check": round(refined["check"], 4),
            "refine_adopted": refined["adopted"]}


REFINE_SEEDS = Plan.select_seeds  # seeds a point of `calibrate --refine` runs on (as the full search's refinement)


def check_refine_budget(budget: int) -> None:
    """`calibrate --refine` needs two points and the check of two: four points' runs."""
    if budget < 4 * REFINE_SEEDS:
        raise ParamError("--budget", budget, f"at least {4 * REFINE_SEEDS} runs for --refine (two points and the check of "
                         f"two, {REFINE_SEEDS} seeds each)")


def read_fitted(fitted: Path, priors: Priors) -> tuple[dict, dict, dict]:
    """A finished calibration's record, posterior intervals and search's point (its point where it has no
    [calibration.search_point]); a one-line ParamError if ``fitted`` is not a fitted.toml of these priors."""
    doc = read_toml(fitted)
    meta = dict(doc.get("calibration", {}))
    intervals = meta.pop("intervals", None)
    start = meta.pop("search_point", None)
    if start is None:
        start = {k: doc.get(k.split(".")[0], {}).get(k.split(".")[1]) for k in priors.keys}
    if (not isinstance(intervals, dict) or set(intervals) != set(priors.keys) or set(start) != set(priors.keys)
            or not all(isinstance(v, (int, float)) for v in start.values())):
        raise ParamError("--fitted", str(fitted), "a fitted.toml written by `simmodel calibrate` with these priors")
    return meta, intervals, start


def refine_shipped(targets_path: Path | None, priors_path: Path | None, work: Path, fitted: Path, report: Path,
                   executor: Executor, budget: int, progress=None) -> dict:
    """Refine the point of a finished calibration (its fitted.toml and report) without repeating the search
    (``Calibration.refine`` from the search's point, with at most ``budget`` runs): rewrites fitted.toml's
    point and its [calibration] record, and the report's section on the point. Run again, it starts from the
    same search's point ([calibration.search_point]) and replays its stored runs."""
    from .calibration_report import point_section, replace_point_section, write_fitted

    targets = load_targets(targets_path)
    priors = load_priors(priors_path)
    meta, intervals, start = read_fitted(fitted, priors)
    seeds = REFINE_SEEDS
    check_refine_budget(budget)
    plan = Plan([], priors.population, budget, select_seeds=seeds, refine=budget // seeds - 2)
    cal = Calibration(targets, priors, work, executor, plan, calibration_params(priors), progress)
    u0 = np.clip((np.array([float(start[k]) for k in priors.keys]) - priors.low) / (priors.high - priors.low), 0, 1)
    refined = cal.refine(u0)
    rows = [{"key": p.key, "low": p.low, "high": p.high, "p05": intervals[p.key][0], "median": intervals[p.key][1],
             "p95": intervals[p.key][2], "why": p.why, "integer": p.integer, "search": float(start[p.key]),
             "point": float(v)} for p, v in zip(priors.parameters, refined["theta"])]
    meta.update(refine_meta(refined, plan.refine))
    write_fitted(fitted, rows, meta)
    if report.is_file():
        replace_point_section(report, point_section(refined, meta, rows, targets))
    return {"rows": rows, "meta": meta, "refined": refined, "failures": sorted(cal.failures.items())}
