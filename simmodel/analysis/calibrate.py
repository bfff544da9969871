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
   Toni et al. 2009; Beaumont et al. 2009) inside what is left. The first population is the
   closest runs of the history-matching waves; each later one proposes points by perturbing the
   previous population with a Gaussian kernel (twice its weighted covariance), simulates them, keeps
   those closer to the targets than the 70th percentile of the previous population's distances, where
       d(theta) = sqrt(mean_i ((mean over seeds of f_i - z_i) / s_i)^2),
       s_i^2 = sd_obs_i^2 + sd_model_i^2 + seed variance_i / seeds_per_point,
   and weights them by prior / proposal density. The last population, weighted, is the posterior.
3. The point the baseline takes: the closest points of the whole search, re-simulated on fresh seeds
   (``Plan.select`` points x ``Plan.select_seeds`` seeds); the closest of them over those seeds. Two
   seeds per point make the search's distances noisy (the closest run is partly luck), and the
   componentwise posterior medians of a posterior with ridges can lie off the good fits.
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
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import resources
from ..params import BY_KEY, ParamError, Params, month_index, read_toml
from ..runs import store
from ..runs.executor import Executor, Task
from .targets import Target, load_targets, read_run


def calibration_params(priors: Priors, base: Params | None = None) -> Params:
    """The parameters of a calibration run before the calibrated ones are set (its scale)."""
    return (base or Params()).replace({"run.scale": priors.scale})


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
    seeds_per_point: int
    first_seed: int
    design_seed: int

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
    return Priors(tuple(params), float(doc.get("scale", 0.02)), int(doc.get("seeds_per_point", 2)),
                  int(doc.get("first_seed", 101)), int(doc.get("design_seed", 2013)))


# --- emulators -----------------------------------------------------------------------------------------
def _features(u: np.ndarray) -> np.ndarray:
    """Quadratic features of points scaled to [0, 1]: 1, x, x^2 and the pairwise products."""
    n, d = u.shape
    cols = [np.ones(n), *u.T, *(u.T ** 2)]
    cols += [u[:, i] * u[:, j] for i in range(d) for j in range(i + 1, d)]
    return np.column_stack(cols)


@dataclass
class Emulator:
    """Ridge regression on quadratic features, one per target; variance from leave-one-out residuals."""

    coef: np.ndarray  # (features, targets)
    var: np.ndarray  # (targets,)

    @classmethod
    def fit(cls, u: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> Emulator:
        x = _features(u)
        xtx = x.T @ x + ridge * np.eye(x.shape[1]) * len(u)
        coef = np.linalg.solve(xtx, x.T @ y)
        hat = np.einsum("ij,jk,ik->i", x, np.linalg.inv(xtx), x)
        loo = (y - x @ coef) / np.maximum(1.0 - hat, 1e-3)[:, None]
        return cls(coef, np.mean(loo**2, axis=0))

    def predict(self, u: np.ndarray) -> np.ndarray:
        return _features(u) @ self.coef


def implausibility(mean: np.ndarray, fit: list[Target], extra_var: np.ndarray) -> np.ndarray:
    """max over fitted targets of |mean - z| / sqrt(sd_obs^2 + sd_model^2 + extra); (points,) array."""
    z = np.array([t.value for t in fit])
    var = np.array([t.sd**2 for t in fit]) + extra_var
    miss = mean - z
    lower = np.array([t.lower_bound for t in fit])
    miss = np.where(lower, np.minimum(miss, 0.0), miss)
    return np.max(np.abs(miss) / np.sqrt(var), axis=1)


def distance(mean: np.ndarray, fit: list[Target], seed_var: np.ndarray, seeds: int) -> np.ndarray:
    """The ABC distance: root mean square of standardised misses (points,)."""
    z = np.array([t.value for t in fit])
    s2 = np.array([t.sd**2 for t in fit]) + seed_var / seeds
    miss = mean - z
    lower = np.array([t.lower_bound for t in fit])
    miss = np.where(lower, np.minimum(miss, 0.0), miss)
    return np.sqrt(np.mean(miss**2 / s2, axis=1))


# --- the search -------------------------------------------------------------------------------------
@dataclass
class Plan:
    """How a budget of runs is spent: stages of ("hm", points) waves, then ("smc", points) populations."""

    stages: list[tuple[str, int]]
    candidates: int = 20_000
    cutoff: float = 3.0
    first_population: float = 0.15  # share of the history-matching points that seeds the first population
    min_accept: int = 60  # a population keeps at least this many particles (fewer for small budgets)
    shrink: float = 0.7  # each population's threshold: this quantile of the previous one's distances
    select: int = 12  # candidates for the point estimate, re-simulated on fresh seeds ...
    select_seeds: int = 8  # ... this many

    @property
    def waves(self) -> list[int]:
        return [n for _, n in self.stages]

    @classmethod
    def for_budget(cls, budget: int, seeds: int, quick: bool = False) -> Plan:
        points = max(budget // seeds, 8)
        shares = (("hm", 0.4), ("smc", 0.3), ("smc", 0.3)) if quick else \
            (("hm", 0.3), ("hm", 0.25), ("smc", 0.15), ("smc", 0.15), ("smc", 0.15))
        stages = [(kind, max(4, int(points * share))) for kind, share in shares]
        smc = min(n for kind, n in stages if kind == "smc")
        min_accept = max(5, min(60, smc // 4))  # a population must still be a selection of its stage
        if quick:
            return cls(stages, candidates=2_000, min_accept=min_accept, select=3, select_seeds=2)
        return cls(stages, min_accept=min_accept)


@dataclass
class WaveData:
    u: np.ndarray  # (points, d) in [0, 1]
    y: np.ndarray  # (points, seeds, targets); NaN where a run failed
    nroy_share: float = 1.0  # share of the candidates still plausible when this wave was designed
    kind: str = "hm"


@dataclass
class Population:
    """Weighted particles (in the unit cube) with their distances, and the threshold that made them."""

    u: np.ndarray
    weights: np.ndarray
    distance: np.ndarray
    epsilon: float
    y: np.ndarray  # (particles, targets): mean over seeds of every target


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
        self.runs_total = (sum(self.plan.waves) * self.priors.seeds_per_point
                           + (self.plan.select + 1) * self.plan.select_seeds)  # + the point after the solve

    # parameters <-> unit cube
    def params_at(self, u: np.ndarray) -> Params:
        theta = self.priors.low + u * (self.priors.high - self.priors.low)
        values = {p.key: (int(round(v)) if p.integer else float(v)) for p, v in zip(self.priors.parameters, theta)}
        return self.base.replace({**values, "run.scale": self.priors.scale})

    def theta(self, u: np.ndarray) -> np.ndarray:
        return self.priors.low + u * (self.priors.high - self.priors.low)

    # running a wave -----------------------------------------------------------------------------------
    def run_wave(self, w: int, u: np.ndarray) -> WaveData:
        """Simulate the points ``u`` of wave ``w`` (skipping runs already stored)."""
        return WaveData(u, self.run_points(f"wave-{w}", u, self.priors.seeds))

    def run_points(self, name: str, u: np.ndarray, seeds: list[int]) -> np.ndarray:
        """Every target of every (point, seed) into work/<name>/runs/ (skipping runs already stored):
        a (points, seeds, targets) array, NaN where a run failed."""
        runs = store.RunStore(self.work / name / "runs", ".json")
        runs.clean_partial()
        names = tuple(dict.fromkeys(t.indicator for t in self.targets))
        todo = [Task(f"p{i:05d}-s{s:04d}", self.params_at(u[i]), s, monthly=True, names=names, meta={"point": i})
                for i in range(len(u)) for s in seeds if not runs.has(f"p{i:05d}-s{s:04d}")]
        self.runs_done += len(u) * len(seeds) - len(todo)
        for outcome in self.executor.map(todo):
            record = {"error": outcome.error} if not outcome.ok else {"targets": read_run(outcome.result, self.targets)}
            runs.write(outcome.task.key, json.dumps(record))
            self.runs_done += 1
            if self.progress:
                self.progress(self.runs_done, self.runs_total, name.replace("-", " "))
        y = np.full((len(u), len(seeds), len(self.targets)), np.nan)
        for i in range(len(u)):
            for k, s in enumerate(seeds):
                rec = json.loads(runs.read(f"p{i:05d}-s{s:04d}"))
                if "targets" in rec:
                    y[i, k] = [rec["targets"][t.name] for t in self.targets]
                else:
                    self.failures[f"{name}/p{i:05d}-s{s:04d}"] = rec.get("error", "error")
        return y

    def design(self, w: int) -> tuple[np.ndarray, float]:
        """Stage ``w``'s points: stored if already decided, else drawn (history matching: from the
        NROY region; ABC-SMC: by perturbing the current population)."""
        kind, n = self.plan.stages[w - 1]
        path = self.work / f"wave-{w}" / "design.json"
        if path.exists():
            d = json.loads(path.read_text())
            if d.get("kind", "hm") != kind or len(d["u"]) != n:
                raise ParamError("--work", str(self.work), f"stage {w} was planned differently; use another --work")
            return np.array(d["u"]), d["nroy_share"]
        from scipy.stats import qmc

        rng = np.random.default_rng([self.priors.design_seed, w])  # per stage: a resumed search draws the same
        if w == 1:
            u, share = qmc.LatinHypercube(d=len(self.priors.parameters), seed=rng).random(n), 1.0
        elif kind == "hm":
            u, share = self.nroy_sample(n, rng)
        else:
            u, share = self.perturb(self.populations[-1], n, rng), math.nan
        store.write_text(path, json.dumps({"kind": kind, "u": u.tolist(), "nroy_share": share}))
        return u, share

    # emulation -------------------------------------------------------------------------------------------
    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """(points in [0,1], mean over seeds of the fitted targets) of every run so far."""
        u = np.vstack([w.u for w in self.waves])
        y = np.vstack([w.y for w in self.waves])[:, :, self.index]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(y, axis=1)
        ok = np.all(np.isfinite(mean), axis=1)
        return u[ok], mean[ok]

    def seed_variance(self) -> np.ndarray:
        """Pooled variance between seeds at the same point, per fitted target."""
        y = np.vstack([w.y for w in self.waves])[:, :, self.index]
        if y.shape[1] < 2:
            return np.zeros(len(self.fit))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            v = np.nanvar(y, axis=1, ddof=1)
            return np.nanmean(v, axis=0)

    def nroy_sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """``n`` points from the candidates the emulators cannot rule out (share of candidates kept)."""
        from scipy.stats import qmc

        u, mean = self.pooled()
        emu = Emulator.fit(u, mean)
        lo, hi = self.box()
        cand = lo + qmc.LatinHypercube(d=u.shape[1], seed=rng).random(self.plan.candidates) * (hi - lo)
        imp = implausibility(emu.predict(cand), self.fit, emu.var)
        keep = cand[imp < self.plan.cutoff]
        share = len(keep) / len(cand) * float(np.prod(hi - lo))  # of the prior cube
        if len(keep) < n:  # the emulators rule almost everything out: take the least implausible
            keep = cand[np.argsort(imp)[: max(n, len(keep))]]
        return keep[rng.choice(len(keep), size=n, replace=False)], share

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box of the current NROY candidates (whole cube in wave 1), a little widened."""
        if len(self.waves) < 2:
            return np.zeros(len(self.priors.parameters)), np.ones(len(self.priors.parameters))
        last = self.waves[-1].u
        pad = 0.05
        return np.clip(last.min(axis=0) - pad, 0, 1), np.clip(last.max(axis=0) + pad, 0, 1)

    # ABC-SMC ------------------------------------------------------------------------------------------
    def distances(self, data: WaveData) -> tuple[np.ndarray, np.ndarray]:
        """(distance, mean over seeds of every target) of a stage's points; inf where runs failed."""
        return self.distances_of(data.y)

    def distances_of(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, mean over seeds of every target) of runs ``y`` (points, seeds, targets)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(y, axis=1)
        fitted = mean[:, self.index]
        ok = np.all(np.isfinite(fitted), axis=1)
        d = np.full(len(mean), np.inf)
        d[ok] = distance(fitted[ok], self.fit, self.seed_variance(), y.shape[1])
        return d, mean

    @staticmethod
    def kernel_cov(pop: Population) -> np.ndarray:
        """Twice the weighted covariance of the population (Beaumont et al. 2009), kept positive definite."""
        c = np.cov(pop.u.T, aweights=pop.weights) if len(pop.u) > 1 else np.eye(pop.u.shape[1]) * 0.01
        c = np.atleast_2d(c)
        return 2.0 * c + np.eye(c.shape[0]) * 1e-6

    def perturb(self, pop: Population, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` proposals: particles drawn by weight, moved by the Gaussian kernel, kept in the cube."""
        chol = np.linalg.cholesky(self.kernel_cov(pop))
        out = []
        while len(out) < n:
            i = rng.choice(len(pop.u), size=n, p=pop.weights)
            prop = pop.u[i] + rng.standard_normal((n, pop.u.shape[1])) @ chol.T
            out.extend(prop[np.all((prop >= 0) & (prop <= 1), axis=1)])
        return np.array(out[:n])

    def first_population(self) -> Population:
        """The closest runs of the history-matching waves, equally weighted."""
        u = np.vstack([w.u for w in self.waves])
        parts = [self.distances(w) for w in self.waves]
        d = np.concatenate([p[0] for p in parts])
        y = np.vstack([p[1] for p in parts])
        k = max(self.plan.min_accept, int(self.plan.first_population * len(u)))
        best = np.argsort(d)[:k]
        best = best[np.isfinite(d[best])]
        return Population(u[best], np.full(best.size, 1.0 / best.size), d[best], float(d[best].max()), y[best])

    def next_population(self, prev: Population, data: WaveData) -> Population:
        """Keep this stage's proposals closer than the previous median distance; importance weights."""
        d, y = self.distances(data)
        eps = float(np.quantile(prev.distance, self.plan.shrink))
        keep = np.flatnonzero(d <= eps)
        if keep.size < self.plan.min_accept:  # too strict for this stage's budget: the closest ones
            keep = np.argsort(d)[: self.plan.min_accept]
            keep = keep[np.isfinite(d[keep])]
            eps = float(d[keep].max())
        from scipy.stats import multivariate_normal

        kern = multivariate_normal(mean=np.zeros(prev.u.shape[1]), cov=self.kernel_cov(prev))
        dens = np.array([np.sum(prev.weights * kern.pdf(data.u[i] - prev.u)) for i in keep])
        w = 1.0 / np.maximum(dens, 1e-300)  # uniform prior: prior / proposal density
        return Population(data.u[keep], w / w.sum(), d[keep], eps, y[keep])

    # the whole search -------------------------------------------------------------------------------------
    def run(self) -> dict:
        self.populations: list[Population] = []
        for w, (kind, _) in enumerate(self.plan.stages, 1):
            if kind == "smc" and not self.populations:
                self.populations.append(self.first_population())
            u, share = self.design(w)
            data = self.run_wave(w, u)
            data.nroy_share, data.kind = share, kind
            self.waves.append(data)
            if kind == "smc":
                self.populations.append(self.next_population(self.populations[-1], data))
        return {**self.posterior(), "point": self.best_point()}

    def best_point(self) -> dict:
        """The baseline's point: the search's closest points re-simulated on fresh seeds, the closest wins."""
        u = np.vstack([w.u for w in self.waves])
        d = np.concatenate([self.distances(w)[0] for w in self.waves])
        order = np.argsort(d, kind="stable")[: self.plan.select]
        order = order[np.isfinite(d[order])]
        seeds = [self.priors.first_seed + 1000 + k for k in range(self.plan.select_seeds)]  # not the search's
        dist, mean = self.distances_of(self.run_points("select", u[order], seeds))
        k = int(np.argmin(dist))
        point = {"u": u[order[k]], "theta": self.theta(u[order[k]]), "distance": float(dist[k]),
                 "search_distance": float(d[order[k]]), "candidates": len(order), "seeds": len(seeds),
                 "predictive": mean[k], "distances": dist}
        return point

    def posterior(self) -> dict:
        """The last population (or, with no ABC-SMC stage, the closest runs): weighted particles."""
        pop = self.populations[-1] if self.populations else self.first_population()
        return {"theta": self.theta(pop.u), "weights": pop.weights, "accepted": np.arange(len(pop.u)),
                "distance": pop.distance, "epsilon": pop.epsilon, "predictive": pop.y,
                "seed_var": self.seed_variance(), "populations": self.populations}


def run_calibration(targets_path: Path, priors_path: Path, work: Path, fitted: Path, report: Path,
                    executor: Executor, budget: int, quick: bool, base: Params | None = None,
                    targets_override: list[Target] | None = None, progress=None) -> dict:
    """The whole calibration: waves, posterior, fitted.toml, report and figures."""
    import time

    t0 = time.perf_counter()
    targets = targets_override or load_targets(targets_path)
    priors = load_priors(priors_path)
    if quick:
        priors = Priors(priors.parameters, min(priors.scale, 0.005), 1, priors.first_seed, priors.design_seed)
    plan = Plan.for_budget(budget, priors.seeds_per_point, quick)
    work.mkdir(parents=True, exist_ok=True)
    for folder in (work, *work.glob("*/"), fitted.parent, report.parent):  # after an interruption
        store.clean_partial(folder)
    cal = Calibration(targets, priors, work, executor, plan, base or Params(), progress)
    post = cal.run()
    clock = work / "elapsed.json"  # time adds up over resumed sessions
    spent = (json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0) + time.perf_counter() - t0
    store.write_text(clock, json.dumps({"seconds": spent}))
    from .calibration_report import summary_of, write_fitted

    rows = summary_of(post["theta"], priors, post["weights"])
    for r, v in zip(rows, post["point"]["theta"]):
        r["point"] = float(v)
    meta = {"date": _dt.date.today().isoformat(), "commit": store.git_commit()["commit"], "budget": budget,
            "runs": cal.runs_total, "stages": [f"{k} {n}" for k, n in plan.stages],
            "seeds_per_point": priors.seeds_per_point,
            "scale": priors.scale, "accepted": int(len(post["accepted"])), "epsilon": round(post["epsilon"], 4),
            "point_distance": round(post["point"]["distance"], 4), "point_seeds": post["point"]["seeds"],
            "point_candidates": post["point"]["candidates"],
            "quick": quick, "minutes": round(spent / 60, 1)}
    write_fitted(fitted, rows, meta)
    from . import plots
    from .calibration_report import summary_of, write_report

    figures = report.parent / "figures"
    figs = plots.calibration_figures(cal, post, rows, figures)
    write_report(report, cal, post, rows, meta, figs)
    return {"rows": rows, "meta": meta, "posterior": post, "calibration": cal, "failures": sorted(cal.failures.items())}


# --- validation ------------------------------------------------------------------------------------
def validation_table(targets: list[Target], values: np.ndarray) -> list[dict]:
    """Per target: observed, simulated median and 5-95 % band over seeds, within tolerance."""
    rows = []
    for j, t in enumerate(targets):
        col = values[:, j]
        col = col[np.isfinite(col)]
        med = float(np.median(col)) if col.size else math.nan
        lo, hi = (np.quantile(col, [0.05, 0.95]) if col.size else (math.nan, math.nan))
        rows.append({"target": t, "median": med, "p05": float(lo), "p95": float(hi), "within": t.within(med),
                     "counts": t.role != "excluded"})
    return rows
