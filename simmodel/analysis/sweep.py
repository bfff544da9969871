"""Batch parameter sweeps: designs, per-run files, resume, summaries (ARCHITECTURE.md "Sweeps").

A sweep file (experiments/sweeps/*.toml):

    # Question: how do the purchase subsidy rate and the special fund's size trade off?
    base = "baseline"            # scenario the points start from
    design = "grid"              # grid | lhs | sobol (scipy.stats.qmc)
    points = 16                  # lhs / sobol: number of points (sobol: a power of two)
    design_seed = 1              # lhs / sobol: seed of the design
    seeds = 3                    # replications per point (seeds 1, 2, 3 unless first_seed is set)
    end = "2020-12"              # horizon (optional); scale = 0.02 (optional)
    indicators = ["firms_stage_1plus", "share_transformed_above"]

    [factors.subsidy_rate]
    keys = ["cities.purchase_rate"]   # default: the factor's name as a dotted key
    range = [0.0, 0.3]                            # grid: with steps = 4; lhs / sobol: the bounds
    [factors.leasing]
    keys = ["leasing.funds_enabled", "leasing.materials_enabled", "leasing.engineering_enabled"]
    values = [true, false]                        # explicit values (grid; lhs / sobol pick among them)

Each (point, seed) run is written to runs/p<point>-s<seed>.csv under a temporary name and renamed
when complete, so a killed sweep loses no finished run and leaves no corrupt file; a failing run
leaves runs/p<point>-s<seed>.err with its error. ``--resume`` runs only what is missing, and the
final table (built by streaming the run files in point, seed order) is byte-identical to an
uninterrupted sweep's. Nothing holds all results in memory.

With ``--posterior N`` (analysis/posterior.py) every point runs on N draws from the calibration posterior,
draw d on its own seeds (first_seed + d * seeds ...), the point's factors winning over the draw; the
run files are runs/p<point>-d<draw>-s<seed>.csv, the table has a draw column, and a point's summary
bands are over every draw and seed. A sweep resumes only with the same draws.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..model.indicators import BY_NAME as INDICATORS
from ..model.indicators import unknown as unknown_indicator
from ..params import BY_KEY, GROUPS, ParamError, Params, last_complete_year, part_year_note, read_toml
from ..runs import store
from ..runs.executor import Executor, Outcome, Task
from . import posterior, scenarios
from .api import run_overrides
from .stats import band

DESIGNS = ("grid", "lhs", "sobol")
# A sweep keeps its design in memory and one file per run on disk: beyond a million runs (about 150 MB
# of design and a million files) it belongs on a cluster's own scheduler, split into several sweeps.
MAX_RUNS = 1_000_000
TOP_KEYS = {"base", "design", "points", "design_seed", "seeds", "first_seed", "end", "scale", "indicators",
            "factors", "plot_year"}
FACTOR_KEYS = {"keys", "values", "range", "steps", "log"}
RUN_HEADER = ("period", "region", "indicator", "value")


@dataclass(frozen=True)
class Factor:
    """One swept dimension: a name, the parameter keys it sets, and its values or range."""

    name: str
    keys: tuple[str, ...]
    values: tuple | None  # explicit values
    low: float | None = None
    high: float | None = None
    steps: int | None = None
    log: bool = False
    integer: bool = False

    @property
    def size(self) -> int:
        """Values on a grid (without building it)."""
        return len(self.values) if self.values is not None else int(self.steps or 0)

    def grid(self) -> list:
        if self.values is not None:
            return list(self.values)
        if self.log:
            return [self._cast(v) for v in np.geomspace(self.low, self.high, self.steps)]
        return [self._cast(v) for v in np.linspace(self.low, self.high, self.steps)]

    def from_unit(self, u: float):
        """The factor's value at position ``u`` in [0, 1) of a space-filling design."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.log:
            return self._cast(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return self._cast(self.low + u * (self.high - self.low))

    def _cast(self, v: float):
        return int(round(v)) if self.integer else float(v)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    path: Path
    question: str
    base: str
    design: str
    factors: tuple[Factor, ...]
    points: int
    design_seed: int
    seeds: tuple[int, ...]
    indicators: tuple[str, ...]
    overrides: dict
    plot_year: int | None
    digest: str
    kind: str = "sweep"  # the manifest's kind: "sweep", or "sensitivity" (analysis/sensitivity.py)

    def manifest_extra(self) -> dict:
        """What the manifest records beyond a sweep's design (a sensitivity spec adds its method)."""
        return {}

    def design_points(self) -> list[dict[str, Any]]:
        """The design: one dict (factor name -> value) per point."""
        if self.design == "grid":
            return [dict(zip([f.name for f in self.factors], combo))
                    for combo in itertools.product(*(f.grid() for f in self.factors))]
        from scipy.stats import qmc

        d = len(self.factors)
        if self.design == "lhs":
            unit = qmc.LatinHypercube(d=d, seed=self.design_seed).random(self.points)
        else:
            unit = qmc.Sobol(d=d, scramble=True, seed=self.design_seed).random_base2(int(math.log2(self.points)))
        return [{f.name: f.from_unit(u[j]) for j, f in enumerate(self.factors)} for u in unit]

    def point_updates(self, point: dict[str, Any]) -> dict[str, Any]:
        """What a point sets over its base scenario: the sweep's end and scale, then its factors' values."""
        updates = dict(self.overrides)
        for f in self.factors:
            for k in f.keys:
                updates[k] = point[f.name]
        return updates

    def point_params(self, base: Params, point: dict[str, Any]) -> Params:
        return base.replace(self.point_updates(point), where=f"{self.path.name}: point {point}")


def spec_error(path: Path, key: str, value: Any, allowed: str) -> ParamError:
    """A one-line error in an experiment file (sweep, sensitivity, discovery, optimisation)."""
    return ParamError(key, value, allowed, str(path))


def read_spec(path_like: str | Path, top_keys: set[str], what: str) -> tuple[Path, dict, str]:
    """An experiment file's path, table and base scenario; an unknown top-level key or a base that is not a
    name is a one-line error."""
    path = Path(path_like)
    doc = read_toml(path)
    unknown = set(doc) - top_keys
    if unknown:
        k = sorted(unknown)[0]
        raise spec_error(path, k, doc[k], f"unknown {what} key; allowed: " + ", ".join(sorted(top_keys)))
    base = doc.get("base", "baseline")
    if not isinstance(base, str):
        raise spec_error(path, "base", base, "must be a scenario name or file")
    return path, doc, base


def load_spec(path_like: str | Path) -> SweepSpec:
    """Read and validate a sweep file; every problem is a one-line ParamError naming the key."""
    path, doc, base = read_spec(path_like, TOP_KEYS, "sweep")
    design = doc.get("design", "grid")
    if design not in DESIGNS:
        raise spec_error(path, "design", design, "must be one of " + ", ".join(DESIGNS))
    factors_doc = doc.get("factors")
    if not isinstance(factors_doc, dict) or not factors_doc:
        raise spec_error(path, "factors", factors_doc, "must be a table of at least one [factors.<name>]")
    factors = tuple(_factor(path, name, body, design) for name, body in factors_doc.items())
    points = doc.get("points")
    if design == "grid":
        points = math.prod(f.size for f in factors)  # counted before any grid is built
    else:
        if not isinstance(points, int) or isinstance(points, bool) or points < 2:
            raise spec_error(path, "points", points, f"design {design} needs points, an integer >= 2")
        if design == "sobol" and points & (points - 1):
            raise spec_error(path, "points", points, "sobol needs a power of two (e.g. 16, 32, 64)")
    for key, lo in (("seeds", 1), ("first_seed", 0), ("design_seed", 0)):
        v = doc.get(key, {"seeds": 1, "first_seed": 1, "design_seed": 1}[key])
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise spec_error(path, key, v, f"must be an integer >= {lo}")
    seeds = tuple(range(doc.get("first_seed", 1), doc.get("first_seed", 1) + doc.get("seeds", 1)))
    if points * len(seeds) > MAX_RUNS:
        raise spec_error(path, "points" if design != "grid" else "factors", points * len(seeds),
                   f"{points:,} points x {len(seeds)} seeds is more than the {MAX_RUNS:,} runs a sweep may hold "
                   "(its design, table and run files); split it into several sweeps")
    indicators = doc.get("indicators", ["firms_stage_1plus", "share_transformed_above", "labour_productivity_above"])
    if not isinstance(indicators, list) or not indicators or not all(isinstance(i, str) for i in indicators):
        raise spec_error(path, "indicators", indicators, "must be a non-empty list of indicator names")
    for name in indicators:
        if name not in INDICATORS:
            raise spec_error(path, "indicators", name, unknown_indicator(name))
    overrides = run_overrides(doc)
    plot_year = doc.get("plot_year")
    spec = SweepSpec(path, scenarios.question(path), base, design, factors, points, doc.get("design_seed", 1), seeds,
                     tuple(indicators), overrides, plot_year,
                     hashlib.sha256(path.read_bytes()).hexdigest()[:16])
    base_params = scenarios.load(base).params  # the base must exist and every point must validate
    ends = [str(spec.point_params(base_params, point)["run.end"]) for point in spec.design_points()]
    last = min(last_complete_year(e) for e in ends)
    if plot_year is not None and (isinstance(plot_year, bool) or not isinstance(plot_year, int)
                                  or not 2013 <= plot_year <= last):
        raise spec_error(path, "plot_year", plot_year, f"must be a complete year of the runs, 2013-{last}")
    if plot_year is None and last >= 2013 and any(part_year_note(e) for e in ends):
        spec = replace(spec, plot_year=last)  # the runs' last year is cut short: plot the last whole one
    return spec


def _factor(path: Path, name: str, body: Any, design: str, section: str = "factors") -> Factor:
    where = f"{section}.{name}"  # the table the file names it in: [factors.x] (sweeps, sensitivity), [levers.x]
    if not isinstance(body, dict):
        raise spec_error(path, where, body, "must be a table with keys and values, or range (+ steps)")
    unknown = set(body) - FACTOR_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise spec_error(path, f"{where}.{k}", body[k], "unknown; allowed: " + ", ".join(sorted(FACTOR_KEYS)))
    keys = body.get("keys", [name])
    if isinstance(keys, str):
        keys = [keys]
    for k in keys:
        if k not in BY_KEY:
            raise spec_error(path, f"{where}.keys", k, "unknown parameter key (dotted, e.g. cities.purchase_rate;"
                       f" groups: {', '.join(GROUPS)})")
    kinds = {BY_KEY[k].kind for k in keys}
    integer = kinds == {"int"}
    if ("values" in body) == ("range" in body):
        raise spec_error(path, where, body, "give either values = [...] or range = [low, high]")
    if "values" in body:
        values = body["values"]
        if not isinstance(values, list) or not values:
            raise spec_error(path, f"{where}.values", values, "must be a non-empty list")
        for k in keys:
            for v in values:
                BY_KEY[k].validate(v, str(path))
        return Factor(name, tuple(keys), tuple(values), integer=integer)
    rng = body["range"]
    if kinds - {"float", "int"}:
        raise spec_error(path, f"{where}.range", rng, "a range needs numeric parameters; use values for others")
    if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                              for x in rng) or rng[0] >= rng[1]):
        raise spec_error(path, f"{where}.range", rng, "must be [low, high] with low < high")
    for k in keys:
        for v in rng:
            BY_KEY[k].validate(int(v) if integer else float(v), str(path))
    log = body.get("log", False)
    if not isinstance(log, bool):
        raise spec_error(path, f"{where}.log", log, "must be true or false")
    if log and rng[0] <= 0:
        raise spec_error(path, f"{where}.log", True, "a log range needs low > 0")
    steps = body.get("steps")
    if design == "grid" and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 2):
        raise spec_error(path, f"{where}.steps", steps, "a grid over a range needs steps, an integer >= 2")
    return Factor(name, tuple(keys), None, float(rng[0]), float(rng[1]), steps, log, integer)


# --- running -----------------------------------------------------------------------------------
def run_name(point: int, seed: int, draw: int | None = None) -> str:
    """A run's file name: p<point>-s<seed>, or p<point>-d<draw>-s<seed> over posterior draws."""
    return f"p{point:05d}-s{seed:04d}" if draw is None else f"p{point:05d}-d{draw:04d}-s{seed:04d}"


def _runs(spec: SweepSpec, plan=None) -> list[tuple[int | None, int]]:
    """Each point's (draw, seed) runs: the sweep's seeds, or N posterior draws on their own seeds."""
    return plan.runs() if plan is not None else [(None, s) for s in spec.seeds]


def run_store(folder: Path) -> store.RunStore:
    """The sweep's per-run files: runs/<point>-<seed>.csv (province-wide yearly rows) or .err."""
    return store.RunStore(folder / "runs", ".csv")


def write_run(st: store.RunStore, outcome: Outcome) -> None:
    """The run's province-wide rows, or its error, written atomically."""
    name = run_name(outcome.task.meta["point"], outcome.task.seed, outcome.task.meta.get("draw"))
    if outcome.ok:
        rows = [f"{period},{region},{indicator},{store.fmt_value(value)}\n"
                for period, region, sector, indicator, value in outcome.result.yearly
                if sector == "all" and region == "Zhejiang"]
        st.write(name, ",".join(RUN_HEADER) + "\n" + "".join(rows))
    else:
        st.write_error(name, outcome.error)


def check_folder(spec: SweepSpec, folder: Path, resume: bool, plan=None) -> str:
    """Whether ``folder`` may take this sweep, before anything is written: "new" (set it up), or
    "resume" (continue it); a one-line ParamError otherwise.

    A folder whose set-up was interrupted (no readable manifest and no finished run) is set up again,
    with or without --resume; one with finished runs can only be resumed, with the same sweep file (and
    the same posterior draws: file, N and seeds, ``plan``).
    """
    runs = list((folder / "runs").glob("*.csv")) if (folder / "runs").is_dir() else []
    manifest = folder / "manifest.json"
    try:
        old = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        old = None
    if folder.exists() and not folder.is_dir():
        raise ParamError("--out", str(folder), "is a file, not a folder")
    if old is None:
        if runs:
            raise ParamError("--out", str(folder), "holds finished runs but no readable manifest.json; it is not a "
                             "sweep this command can continue: use another --out")
        return "new"
    if old.get("kind") != spec.kind:
        raise ParamError("--out", str(folder), "holds another kind of result; use another --out")
    if not resume:
        raise ParamError("--out", str(folder), f"already holds a {spec.kind}; use --resume to continue it, or another "
                         "folder")
    if old.get("sweep_digest") != spec.digest:
        raise ParamError("--resume", str(folder), f"holds a different {spec.kind} file; use a new --out")
    was = old.get("posterior")
    was = {k: was.get(k) for k in ("sha256", "draws", "draw_seed", "seeds_per_draw")} if was else None
    now = plan.identity() if plan is not None else None
    if was != now:
        said = (f"--posterior {was['draws']} with a posterior file of sha256 {str(was['sha256'])[:12]}" if was
                else "no --posterior")
        raise ParamError("--resume", str(folder), f"holds a sweep run with {said}; resume it with the same "
                         "--posterior and --posterior-file, or use a new --out")
    return "resume"


def prepare(spec: SweepSpec, folder: Path, how: str, plan=None) -> tuple[store.RunStore, list[dict]]:
    """Set the sweep folder up (its manifest first, marked incomplete) or, resuming, refresh it; returns
    its run store and the design points. Every set-up file is derived from the sweep file, so an
    interrupted set-up or resume is simply done again."""
    points = spec.design_points()
    if how == "new" and folder.exists():
        for p in folder.iterdir():  # an interrupted set-up: nothing in it is a finished run
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    if how == "new":
        store.write_json(folder / "manifest.json", store.manifest(
            spec.kind, complete=False, sweep_file=str(spec.path), sweep_digest=spec.digest, question=spec.question,
            base=spec.base, design=spec.design, design_seed=spec.design_seed, points=len(points),
            seeds=list(spec.seeds),
            factors=[{"name": f.name, "keys": list(f.keys), "values": list(f.values) if f.values else None,
                      "range": [f.low, f.high] if f.values is None else None, "steps": f.steps, "log": f.log}
                     for f in spec.factors],
            indicators=list(spec.indicators), overrides=spec.overrides, plot_year=spec.plot_year,
            **spec.manifest_extra(),
            **({"posterior": {**plan.manifest(), "drawn_keys": plan.drawn_keys(
                scenarios.load(spec.base).params, spec.point_updates(points[0]))}} if plan is not None else {}),
        ))
    else:
        mark_complete(folder, False)
    st = run_store(folder)
    st.clean_partial()
    for sub in (folder, folder / "figures"):
        store.clean_partial(sub)
    store.write_bytes(folder / "sweep.toml", spec.path.read_bytes())
    store.write_csv(folder / "design.csv", ["point", *[f.name for f in spec.factors]],
                    ([str(i), *[_text(p[f.name]) for f in spec.factors]] for i, p in enumerate(points)))
    return st, points


def mark_complete(folder: Path, complete: bool, result: dict | None = None) -> None:
    manifest = store.read_json(folder / "manifest.json", "manifest")
    manifest["complete"] = complete
    if result is not None:
        manifest["result"] = result
    store.write_json(folder / "manifest.json", manifest)


def require_complete(folder: Path) -> dict:
    """The manifest of a finished sweep folder, or a one-line ParamError saying what to do."""
    if not (folder / "manifest.json").is_file():
        raise ParamError("DIR", str(folder), "is not a sweep folder (no manifest.json)")
    manifest = store.read_json(folder / "manifest.json", "manifest")
    if manifest.get("kind") not in ("sweep", "sensitivity"):
        raise ParamError("DIR", str(folder), f"holds a {manifest.get('kind', 'different')} result, not a sweep's "
                         "(a folder written by simmodel sweep or sensitivity)")
    if not manifest.get("complete"):
        raise ParamError("DIR", str(folder), f"holds an unfinished {manifest['kind']}; finish it with `simmodel "
                         f"{manifest['kind']} FILE --out {folder} --resume`")
    return manifest


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return store.fmt_value(v)
    return str(v)


def tasks(spec: SweepSpec, points: list[dict], skip: set[str], plan=None) -> Iterator[Task]:
    """The (point, seed) runs still to do, lazily (a large design is never held as tasks). Over posterior
    draws (``plan``) each point runs on every draw's seeds, the point's factors winning over the draw
    (analysis.posterior.apply)."""
    base = scenarios.load(spec.base).params
    for i, p in enumerate(points):
        if plan is None:
            params = None
            for s in spec.seeds:
                if run_name(i, s) in skip:
                    continue
                params = params or spec.point_params(base, p)
                yield Task(run_name(i, s), params, s, monthly=False, names=spec.indicators, meta={"point": i})
            continue
        for draw in plan.draws:
            params = None
            for s in plan.seeds(draw.number):
                name = run_name(i, s, draw.number)
                if name in skip:
                    continue
                params = params or posterior.apply(base, draw.values, plan.baseline, spec.point_updates(p),
                                                   where=f"{spec.path.name}: point {p}")
                yield Task(name, params, s, monthly=False, names=spec.indicators,
                           meta={"point": i, "draw": draw.number})


def run_sweep(spec: SweepSpec, folder: Path, executor: Executor, resume: bool = False,
              progress: Callable[[int, int, str], None] | None = None, plan=None) -> dict:
    """Run what is missing, then write the table, the summary and the figures. ``plan``: posterior draws
    (analysis.posterior.Plan; each point then runs on N draws x the sweep's seeds per draw)."""
    st, points = prepare(spec, folder, check_folder(spec, folder, resume, plan), plan)
    done = st.done()
    todo_n = len(points) * len(_runs(spec, plan)) - len(done)
    failed = 0
    for i, outcome in enumerate(executor.map(tasks(spec, points, done, plan)), 1):
        write_run(st, outcome)
        failed += not outcome.ok
        if progress:
            progress(i, todo_n, f"{failed} failed" if failed else "")
    return finish(spec, folder, points, plan)


def finish(spec: SweepSpec, folder: Path, points: list[dict], plan=None) -> dict:
    """table.csv and summary.csv from the run files (streamed in point, seed order), then figures. Over
    posterior draws the table has a draw column and each point's bands are over every draw and seed."""
    st = run_store(folder)
    factor_names = [f.name for f in spec.factors]
    run_cols = ["draw", "seed"] if plan is not None else ["seed"]
    n_ok, errors = 0, []
    with store.atomic_open(folder / "table.csv") as table, store.atomic_open(folder / "summary.csv") as summary:
        table.write(",".join(["point", *run_cols, *factor_names, "period", "indicator", "value"]) + "\n")
        summary.write(",".join(["point", *factor_names, "period", "indicator", "mean", "p05", "p50", "p95", "runs"])
                      + "\n")
        for i, p in enumerate(points):
            fvals = [_text(p[n]) for n in factor_names]
            values: dict[tuple[str, str], list[float]] = {}
            for d, s in _runs(spec, plan):
                name = run_name(i, s, d)
                if not st.has(name):
                    errors.append({"run": name, "error": st.error(name) or "missing"})
                    continue
                n_ok += 1
                run = [str(s)] if d is None else [str(d), str(s)]
                for line in st.read(name).splitlines()[1:]:
                    period, _, indicator, value = line.split(",")
                    table.write(",".join([str(i), *run, *fvals, period, indicator, value]) + "\n")
                    values.setdefault((period, indicator), []).append(float(value) if value else math.nan)
            for (period, indicator), v in values.items():
                b = band(v)
                summary.write(store.csv_line([str(i), *fvals, period, indicator, b["mean"], b["p05"], b["p50"],
                                              b["p95"], str(b["n"])]))
    info = {"runs_ok": n_ok, "runs_failed": len(errors), "errors": errors}
    if spec.kind == "sweep":  # a sensitivity analysis draws its own figures (analysis/sensitivity.py)
        from . import plots

        plots.sweep_figures(folder, spec)
    mark_complete(folder, True, info)  # last: an interruption before this leaves the folder to resume
    return info
