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
2. Approximate Bayesian computation by rejection (Pritchard et al. 1999) inside the final NROY
   region: the last wave's points are a uniform sample of it (uniform priors), and the ones with the
   smallest distance
       d(theta) = sqrt(mean_i ((mean over seeds of f_i - z_i) / s_i)^2),
       s_i^2 = sd_obs_i^2 + sd_model_i^2 + seed variance_i / seeds_per_point,
   are kept (``accept_fraction``): their parameters are the posterior sample.

Every run goes through an executor (in process or Dask) and is stored as a file when it finishes,
so a calibration resumes where it stopped. Each wave's design is stored before it runs.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import store
from .executor import Executor, Task
from .indicators import BY_NAME as INDICATORS
from .params import BY_KEY, ParamError, Params, month_index, month_label, read_toml

KINDS = ("level", "growth", "cagr", "difference", "month_sum", "month")
ROLES = ("fit", "check", "excluded")
ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "calibration" / "targets.toml"
PRIORS = ROOT / "calibration" / "priors.toml"


# --- targets ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One reported figure and how to read it off a run."""

    name: str
    indicator: str
    kind: str
    value: float
    sd_obs: float
    sd_model: float
    role: str
    unit: str = ""
    source: str = ""
    reason: str = ""
    year: int | None = None
    start: int | str | None = None
    end: int | str | None = None
    month: str | None = None
    lower_bound: bool = False

    @property
    def sd(self) -> float:
        return math.hypot(self.sd_obs, self.sd_model)

    @property
    def tolerance(self) -> float:
        """Half-width of the band `validate` accepts: about 95 % of observation + model error."""
        return 2.0 * self.sd

    def within(self, simulated: float) -> bool:
        if not np.isfinite(simulated):
            return False
        if self.lower_bound:
            return simulated >= self.value - self.tolerance
        return abs(simulated - self.value) <= self.tolerance

    def miss(self, simulated: np.ndarray) -> np.ndarray:
        """Signed miss in the target's units; a one-sided target only misses below its bound."""
        d = simulated - self.value
        return np.minimum(d, 0.0) if self.lower_bound else d

    def read(self, yearly: dict[tuple[str, str], float], monthly: dict[tuple[str, str], float]) -> float:
        """This target's value in one run's province-wide rows ({(period, indicator): value})."""
        y = lambda p: yearly.get((str(p), self.indicator), math.nan)  # noqa: E731
        if self.kind == "level":
            return y(self.year)
        if self.kind == "growth":
            return y(self.end) / y(self.start) - 1.0
        if self.kind == "cagr":
            return (y(self.end) / y(self.start)) ** (1.0 / (int(self.end) - int(self.start))) - 1.0
        if self.kind == "difference":
            return y(self.end) - y(self.start)
        if self.kind == "month":
            return monthly.get((self.month, self.indicator), math.nan)
        first, last = month_index(str(self.start)), month_index(str(self.end))
        return sum(monthly.get((month_label(m), self.indicator), math.nan) for m in range(first, last + 1))


def load_targets(path: Path = TARGETS) -> list[Target]:
    """Read and validate the targets file (one-line ParamError on any problem)."""
    doc = read_toml(path)
    out = []
    for name, t in doc.items():
        where = f"{path.name} [{name}]"
        if not isinstance(t, dict):
            raise ParamError(name, t, "must be a table", str(path))
        for key in ("indicator", "kind", "value", "sd_obs", "sd_model", "role"):
            if key not in t:
                raise ParamError(f"{name}.{key}", None, "missing", str(path))
        if t["indicator"] not in INDICATORS:
            raise ParamError(f"{name}.indicator", t["indicator"], "unknown indicator", str(path))
        if t["kind"] not in KINDS:
            raise ParamError(f"{name}.kind", t["kind"], "must be one of " + ", ".join(KINDS), str(path))
        if t["role"] not in ROLES:
            raise ParamError(f"{name}.role", t["role"], "must be one of " + ", ".join(ROLES), str(path))
        for key in ("value", "sd_obs", "sd_model"):
            if not isinstance(t[key], (int, float)) or isinstance(t[key], bool):
                raise ParamError(f"{name}.{key}", t[key], "must be a number", str(path))
        if t["sd_obs"] < 0 or t["sd_model"] < 0 or t["sd_obs"] + t["sd_model"] <= 0:
            raise ParamError(f"{name}.sd_obs", t["sd_obs"], "sds must be >= 0 and not both 0", str(path))
        needs = {"level": ("year",), "month": ("month",)}.get(t["kind"], ("from", "to"))
        for key in needs:
            if key not in t:
                raise ParamError(f"{name}.{key}", None, f"needed for kind = {t['kind']}", where)
        out.append(Target(name, t["indicator"], t["kind"], float(t["value"]), float(t["sd_obs"]),
                          float(t["sd_model"]), t["role"], t.get("unit", ""), t.get("source", ""),
                          t.get("reason", ""), t.get("year"), t.get("from"), t.get("to"), t.get("month"),
                          t.get("bound") == "lower"))
    return out


def read_run(result, targets: list[Target]) -> dict[str, float]:
    """The targets' values in one run (RunResult with yearly and monthly rows)."""
    yearly = {(p, n): v for p, r, s, n, v in result.yearly if r == "Zhejiang" and s == "all"}
    monthly = {(p, n): v for p, r, s, n, v in result.monthly if r == "Zhejiang" and s == "all"}
    return {t.name: float(t.read(yearly, monthly)) for t in targets}


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


def load_priors(path: Path = PRIORS) -> Priors:
    doc = read_toml(path)
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
    """How a budget of runs is spent: points per wave (history matching waves, then the ABC wave)."""

    waves: list[int]
    candidates: int = 20_000
    cutoff: float = 3.0
    accept_fraction: float = 0.2

    @classmethod
    def for_budget(cls, budget: int, seeds: int, quick: bool = False) -> Plan:
        points = max(budget // seeds, 8)
        shares = (0.3, 0.25, 0.2, 0.25) if not quick else (0.4, 0.3, 0.3)
        waves = [max(4, int(points * s)) for s in shares]
        return cls(waves, candidates=2_000 if quick else 20_000, accept_fraction=0.3 if quick else 0.2)


@dataclass
class WaveData:
    u: np.ndarray  # (points, d) in [0, 1]
    y: np.ndarray  # (points, seeds, targets); NaN where a run failed
    nroy_share: float = 1.0  # share of the candidates still plausible when this wave was designed


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
        self.runs_total = sum(self.plan.waves) * self.priors.seeds_per_point

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
        folder = self.work / f"wave-{w}"
        (folder / "runs").mkdir(parents=True, exist_ok=True)
        names = tuple(dict.fromkeys(t.indicator for t in self.targets))
        seeds = self.priors.seeds
        todo = [Task(f"p{i:05d}-s{s:04d}", self.params_at(u[i]), s, monthly=True, names=names, meta={"point": i})
                for i in range(len(u)) for s in seeds if not (folder / "runs" / f"p{i:05d}-s{s:04d}.json").exists()]
        self.runs_done += len(u) * len(seeds) - len(todo)
        for outcome in self.executor.map(todo):
            record = {"error": outcome.error} if not outcome.ok else {"targets": read_run(outcome.result, self.targets)}
            tmp = folder / "runs" / f".{outcome.task.key}.json.tmp"
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, folder / "runs" / f"{outcome.task.key}.json")
            self.runs_done += 1
            if self.progress:
                self.progress(self.runs_done, self.runs_total, f"wave {w}")
        y = np.full((len(u), len(seeds), len(self.targets)), np.nan)
        for i in range(len(u)):
            for k, s in enumerate(seeds):
                rec = json.loads((folder / "runs" / f"p{i:05d}-s{s:04d}.json").read_text())
                if "targets" in rec:
                    y[i, k] = [rec["targets"][t.name] for t in self.targets]
        return WaveData(u, y)

    def design(self, w: int) -> tuple[np.ndarray, float]:
        """Wave ``w``'s points: stored if already decided, else drawn from the current NROY region."""
        path = self.work / f"wave-{w}" / "design.json"
        if path.exists():
            d = json.loads(path.read_text())
            return np.array(d["u"]), d["nroy_share"]
        n = self.plan.waves[w - 1]
        from scipy.stats import qmc

        rng = np.random.default_rng([self.priors.design_seed, w])  # per wave: a resumed search draws the same
        if w == 1:
            u, share = qmc.LatinHypercube(d=len(self.priors.parameters), seed=rng).random(n), 1.0
        else:
            u, share = self.nroy_sample(n, rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"u": u.tolist(), "nroy_share": share}))
        os.replace(tmp, path)
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

    # the whole search -------------------------------------------------------------------------------------
    def run(self) -> dict:
        for w in range(1, len(self.plan.waves) + 1):
            u, share = self.design(w)
            data = self.run_wave(w, u)
            data.nroy_share = share
            self.waves.append(data)
        return self.posterior()

    def posterior(self) -> dict:
        """ABC rejection on the last wave (a uniform sample of the final NROY region)."""
        last = self.waves[-1]
        seed_var = self.seed_variance()
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_all = np.nanmean(last.y, axis=1)
        mean = mean_all[:, self.index]
        ok = np.all(np.isfinite(mean), axis=1)
        d = np.where(ok, distance(np.nan_to_num(mean), self.fit, seed_var, self.priors.seeds_per_point), np.inf)
        n_accept = max(3, int(round(self.plan.accept_fraction * ok.sum())))
        accepted = np.argsort(d)[:n_accept]
        theta = self.theta(last.u[accepted])
        return {"theta": theta, "accepted": accepted, "distance": d, "epsilon": float(d[accepted].max()),
                "predictive": mean_all[accepted], "seed_var": seed_var}


# --- outputs -------------------------------------------------------------------------------------------
def summary_of(theta: np.ndarray, priors: Priors) -> list[dict]:
    out = []
    for j, p in enumerate(priors.parameters):
        q05, q50, q95 = np.quantile(theta[:, j], [0.05, 0.5, 0.95])
        width = (q95 - q05) / (p.high - p.low)
        out.append({"key": p.key, "low": p.low, "high": p.high, "p05": q05, "median": q50, "p95": q95,
                    "interval_share": width, "why": p.why, "integer": p.integer})
    return out


def write_fitted(path: Path, rows: list[dict], meta: dict) -> None:
    """fitted.toml: posterior medians as parameter tables (a scenario file) and the intervals."""
    lines = ["# Fitted by `simmodel calibrate`: history matching, then ABC rejection (see calibration/report.md).",
             "# The baseline scenario inherits these posterior medians; [calibration] records how they were found.",
             "", "[calibration]"]
    for k, v in meta.items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines += ["", "[calibration.intervals]  # [5 %, median, 95 %] of the posterior"]
    for r in rows:
        lines.append(f'"{r["key"]}" = [{_num(r["p05"])}, {_num(r["median"])}, {_num(r["p95"])}]')
    groups: dict[str, list[str]] = {}
    for r in rows:
        g, name = r["key"].split(".")
        value = int(round(r["median"])) if r["integer"] else float(f"{r['median']:.6g}")
        groups.setdefault(g, []).append(f"{name} = {value!r}")
    for g, items in groups.items():
        lines += ["", f"[{g}]", *items]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _num(v: float) -> str:
    return f"{v:.6g}"


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
    cal = Calibration(targets, priors, work, executor, plan, base or Params(), progress)
    post = cal.run()
    rows = summary_of(post["theta"], priors)
    meta = {"date": _dt.date.today().isoformat(), "commit": store.git_commit()["commit"], "budget": budget,
            "runs": cal.runs_total, "points_per_wave": plan.waves, "seeds_per_point": priors.seeds_per_point,
            "scale": priors.scale, "accepted": int(len(post["accepted"])), "epsilon": round(post["epsilon"], 4),
            "quick": quick, "minutes": round((time.perf_counter() - t0) / 60, 1)}
    write_fitted(fitted, rows, meta)
    from . import plots

    figures = report.parent / "figures"
    figs = plots.calibration_figures(cal, post, rows, figures)
    write_report(report, cal, post, rows, meta, figs)
    return {"rows": rows, "meta": meta, "posterior": post, "calibration": cal}


def identification_note(rows: list[dict]) -> list[str]:
    loose = [r for r in rows if r["interval_share"] > 0.6]
    if not loose:
        return ["Every calibrated parameter's 5-95 % interval spans less than 60 % of its prior range."]
    return [f"- `{r['key']}`: the 5-95 % interval spans {100 * r['interval_share']:.0f} % of the prior range: the "
            f"targets do not pin it down." for r in loose]


def write_report(path: Path, cal: Calibration, post: dict, rows: list[dict], meta: dict, figs: dict) -> None:
    rel = lambda p: os.path.relpath(p, path.parent)  # noqa: E731
    lines = ["# Calibration report", "",
             f"{meta['date']}, commit `{meta['commit']}`; budget {meta['budget']} runs "
             f"({meta['runs']} simulated: waves of {', '.join(map(str, meta['points_per_wave']))} points x "
             f"{meta['seeds_per_point']} seeds, run.scale {meta['scale']}); {meta['minutes']} minutes."
             + (" **Quick mode** (a smoke test of every step, not a calibration)." if meta["quick"] else ""),
             "", "Method: history matching in waves (quadratic emulators, implausibility cut-off "
             f"{cal.plan.cutoff}), then ABC rejection in the final not-ruled-out region: the "
             f"{meta['accepted']} points of the last wave closest to the targets (distance <= {meta['epsilon']}) "
             "are the posterior sample. See `simmodel/calibrate.py` and docs/ODD.md.", "",
             "## Calibrated parameters", "",
             "| parameter | prior | posterior median | 5-95 % | why calibrated |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['key']}` | [{_num(r['low'])}, {_num(r['high'])}] | {_num(r['median'])} | "
                     f"[{_num(r['p05'])}, {_num(r['p95'])}] | {r['why']} |")
    lines += ["", "Everything else is fixed from a source or as an assumption (calibration/priors.toml, "
              "docs/ODD.md).", "", "## What the targets cannot pin down", "", *identification_note(rows), "",
              "## Targets and the posterior predictive", "",
              "Simulated: the accepted runs (mean over their seeds), median and 5-95 % band.", "",
              "| target | observed | tolerance | simulated median | 5-95 % | role | within |", "|---|---|---|---|---|---|---|"]
    pred = post["predictive"]
    for j, t in enumerate(cal.targets):
        col = pred[:, j]
        col = col[np.isfinite(col)]
        med = float(np.median(col)) if col.size else math.nan
        lo, hi = (np.quantile(col, [0.05, 0.95]) if col.size else (math.nan, math.nan))
        sign = ">= " if t.lower_bound else ""
        lines.append(f"| `{t.name}` | {sign}{_num(t.value)} | {_num(t.tolerance)} | {_num(med)} | "
                     f"[{_num(lo)}, {_num(hi)}] | {t.role} | {'yes' if t.within(med) else 'no'} |")
    lines += ["", f"![targets]({rel(figs['targets'])})", "", "## Posterior", "",
              f"![marginals]({rel(figs['marginals'])})", "", f"![pairs]({rel(figs['pairs'])})", "",
              "## Waves", "", "| wave | points | share of the prior space still plausible when designed | "
              "median implausibility of its runs |", "|---|---|---|---|"]
    for w, data in enumerate(cal.waves, 1):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(data.y, axis=1)[:, cal.index]
        imp = implausibility(np.nan_to_num(mean, nan=np.inf), cal.fit, post["seed_var"] / cal.priors.seeds_per_point)
        lines.append(f"| {w} | {len(data.u)} | {100 * data.nroy_share:.1f} % | {np.median(imp):.2f} |")
    lines += ["", f"![distance by wave]({rel(figs['waves'])})", ""]
    excluded = [t for t in cal.targets if t.role == "excluded"]
    if excluded:
        lines += ["## Targets not used", ""] + [f"- `{t.name}`: {t.reason}" for t in excluded] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


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
