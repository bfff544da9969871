"""The policy mix that does best under a public budget: NSGA-II (pymoo) on the project's executor.

An optimisation file (experiments/optimise/*.toml):

    # Question: which mix of subsidy, fund, conferences and leasing transforms the most firms for no more money?
    base = "baseline"
    population = 16          # candidates per generation (NSGA-II)
    generations = 6
    design_seed = 1          # the algorithm's seed: the same file gives the same candidates
    seeds = 2                # every candidate runs on the same seeds (common random numbers); objectives are means
    check_seeds = 10         # then the front and the historical mix on this many fresh seeds (default 10)
    end = "2020-12"          # scale = 0.02 (optional)

    [outputs.firms_2020]     # analysis/api.py: indicator, year, sum, over, over_sum
    indicator = "firms_stage_1plus"
    year = 2020
    [outputs.public_cost]
    indicator = "public_cost"
    year = 2020
    sum = true

    [objectives]             # an output to maximise or minimise (two or more)
    firms_2020 = "max"
    public_cost = "min"

    [budget]                 # optional: a candidate whose mean output exceeds this is infeasible
    output = "public_cost"
    at_most = 6e9

    [levers.purchase_subsidy]   # as a sweep factor: keys with range (or values), log
    keys = ["cities.purchase_rate"]
    range = [0.0, 0.3]

With `--posterior N` every candidate also runs on N posterior draws (each on its own seeds, the same
for every candidate), so the objectives are means over parameter and seed uncertainty: a robust mix.
The base scenario's own lever values (the historical mix) are evaluated first on the same runs and
marked in the figure and the report. The front is then judged again on ``check_seeds`` fresh seeds (over the
posterior: as many fresh draws, one seed each), none of which chose it: the best of many noisy means, read on
the seeds that made it the best, overstates its gain (a mix best for productivity by 1,017 on the search's two
seeds gained 78, -178 to 334, on 20 fresh ones, 2026-12-07). The report's gains over the historical mix are
those paired differences, with Student-t intervals over the fresh seeds or draws (``check.csv``).
Every run is a file under runs/ named by the candidate's values,
so an interrupted optimisation resumes (the algorithm replays from its seed and finds its finished
runs) and reruns give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..params import ParamError, Params
from ..runs import store
from ..runs.executor import Executor, Outcome, Task
from ..runs.runner import PROVINCE_ONLY
from . import posterior, scenarios
from .api import Output, check_output_years, parse_outputs, run_overrides, province_values
from .sweep import Factor, _factor, read_spec, spec_error

TOP_KEYS = {"base", "population", "generations", "design_seed", "seeds", "first_seed", "check_seeds", "end", "scale",
            "outputs", "objectives", "budget", "levers"}
SENSES = ("max", "min")
MAX_RUNS = 200_000


@dataclass(frozen=True)
class OptimisationSpec:
    """A validated optimisation file."""

    path: Path
    question: str
    base: str
    levers: tuple[Factor, ...]
    outputs: tuple[Output, ...]
    objectives: tuple[tuple[str, str], ...]  # (output, "max" | "min")
    budget: tuple[str, float] | None  # (output, at most)
    population: int
    generations: int
    design_seed: int
    seeds: tuple[int, ...]
    overrides: dict
    digest: str
    check_seeds: int = 10

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for o in self.outputs for n in o.indicators))

    def values_at(self, u: np.ndarray) -> dict[str, Any]:
        """The levers' values at a point of the unit cube."""
        return {f.name: f.from_unit(min(float(x), 1.0 - 1e-12)) for f, x in zip(self.levers, u)}

    def updates(self, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.overrides)
        for f in self.levers:
            for k in f.keys:
                out[k] = values[f.name]
        return out


def load_spec(path_like: str | Path) -> OptimisationSpec:
    """Read and validate an optimisation file; every problem is a one-line ParamError naming the key."""
    path, doc, base = read_spec(path_like, TOP_KEYS, "optimisation")
    ints = {}
    for key, default, lo in (("population", 16, 4), ("generations", 6, 1), ("design_seed", 1, 0), ("seeds", 2, 1),
                             ("first_seed", 1, 0), ("check_seeds", 10, 2)):
        v = doc.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise spec_error(path, key, v, f"must be an integer >= {lo}")
        ints[key] = v
    levers_doc = doc.get("levers")
    if not isinstance(levers_doc, dict) or not levers_doc:
        raise spec_error(path, "levers", levers_doc, "must be a table of at least one [levers.<name>]")
    levers = tuple(_factor(path, name, body, "lhs", section="levers") for name, body in levers_doc.items())
    outputs = parse_outputs(doc.get("outputs"), str(path))
    names = [o.name for o in outputs]
    objectives_doc = doc.get("objectives")
    if not isinstance(objectives_doc, dict) or len(objectives_doc) < 2:
        raise spec_error(path, "objectives", objectives_doc, 'must name at least two outputs, each "max" or "min"')
    for name, sense in objectives_doc.items():
        if name not in names:
            raise spec_error(path, f"objectives.{name}", sense, "must name one of the [outputs]: " + ", ".join(names))
        if sense not in SENSES:
            raise spec_error(path, f"objectives.{name}", sense, 'must be "max" or "min"')
    budget = None
    if "budget" in doc:
        b = doc["budget"]
        if not isinstance(b, dict) or set(b) != {"output", "at_most"}:
            raise spec_error(path, "budget", b, "must be a table with output and at_most")
        if b["output"] not in names:
            raise spec_error(path, "budget.output", b["output"], "must name one of the [outputs]: " + ", ".join(names))
        if not isinstance(b["at_most"], (int, float)) or isinstance(b["at_most"], bool) or \
                not math.isfinite(b["at_most"]):
            raise spec_error(path, "budget.at_most", b["at_most"], "must be a finite number")
        budget = (b["output"], float(b["at_most"]))
    overrides = run_overrides(doc)
    seeds = tuple(range(ints["first_seed"], ints["first_seed"] + ints["seeds"]))
    runs = (ints["population"] * ints["generations"] + 1) * len(seeds)
    runs += (ints["population"] + 1) * ints["check_seeds"]  # the front (about a generation's size) on the fresh runs
    if runs > MAX_RUNS:
        raise spec_error(path, "generations", ints["generations"], f"{runs:,} runs is more than {MAX_RUNS:,}")
    spec = OptimisationSpec(path, scenarios.question(path), base, levers, outputs, tuple(objectives_doc.items()),
                            budget, ints["population"], ints["generations"], ints["design_seed"], seeds, overrides,
                            hashlib.sha256(path.read_bytes()).hexdigest()[:16], ints["check_seeds"])
    params = scenarios.load(base).params
    check_output_years(outputs, params.replace(overrides, where=str(path)), str(path))
    for u in (np.zeros(len(levers)), np.ones(len(levers))):  # the corners validate
        params.replace(spec.updates(spec.values_at(u)), where=str(path))
    return spec


# --- runs ------------------------------------------------------------------------------------------------
def candidate_id(values: dict[str, Any]) -> str:
    """A candidate's name: a hash of its lever values (the same values, the same runs)."""
    text = json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _runs(spec: OptimisationSpec, plan) -> list[tuple[int | None, int]]:
    return plan.runs() if plan is not None else [(None, s) for s in spec.seeds]


def check_plan(spec: OptimisationSpec, plan):
    """The fresh runs the front is judged on: ``check_seeds`` seeds after every seed of the search, or over the
    posterior as many fresh draws (taken with the first of those seeds), one seed each. Returns (runs, plan)."""
    start = plan.first_seed + plan.n * plan.seeds_per_draw if plan is not None else spec.seeds[-1] + 1
    if plan is None:
        return [(None, s) for s in range(start, start + spec.check_seeds)], None
    fresh = posterior.Plan.make(spec.check_seeds, start, 1, path=plan.posterior.path, baseline=plan.baseline)
    return fresh.runs(), fresh


class Evaluator:
    """Evaluates batches of candidates on the executor; every run is kept in runs/<candidate>-[d<draw>-]s<seed>.csv
    (province rows of the outputs' indicators), so a resumed optimisation reruns nothing."""

    def __init__(self, spec: OptimisationSpec, folder: Path, executor: Executor, plan=None,
                 progress: Callable[[int, int, str], None] | None = None, runs=None, prefix: str = ""):
        self.spec, self.folder, self.executor, self.plan, self.progress = spec, folder, executor, plan, progress
        self.runs = runs if runs is not None else _runs(spec, plan)
        self.prefix = prefix  # "check-": the fresh runs that judge the front
        self.store = store.RunStore(folder / "runs", ".csv")
        self.base = scenarios.load(spec.base).params
        self.done, self.failed = 0, []
        self.total = (spec.population * spec.generations + 1) * len(self.runs)

    def _params(self, values: dict[str, Any], draw) -> Params:
        updates = self.spec.updates(values)
        if draw is None:
            return self.base.replace(updates, where=f"{self.spec.path.name}: {values}")
        d = self.plan.draws[draw]
        return posterior.apply(self.base, d.values, self.plan.baseline, updates, where=f"{self.spec.path.name}: {values}")

    def run_name(self, cid: str, draw: int | None, seed: int) -> str:
        return self.prefix + (f"{cid}-s{seed:04d}" if draw is None else f"{cid}-d{draw:04d}-s{seed:04d}")

    def _tasks(self, batch: list[dict[str, Any]]) -> Iterator[Task]:
        have = self.store.done()
        seen = set()
        for values in batch:
            cid = candidate_id(values)
            for d, s in self.runs:
                name = self.run_name(cid, d, s)
                if name in have or name in seen:
                    continue
                seen.add(name)
                yield Task(name, self._params(values, d), s, monthly=False, names=self.spec.indicators,
                           levels=PROVINCE_ONLY, meta={"draw": d})

    def evaluate(self, batch: list[dict[str, Any]]) -> np.ndarray:
        """The outputs of each candidate (rows) as means over its runs; NaN where a run failed."""
        return self.per_run(batch).mean(axis=1)

    def per_run(self, batch: list[dict[str, Any]]) -> np.ndarray:
        """Each candidate's outputs run by run (candidate x run x output, runs in ``self.runs``' order), run
        first where missing; a candidate with a failed run is NaN in every run."""
        for outcome in self.executor.map(self._tasks(batch)):
            self._write(outcome)
        out = np.full((len(batch), len(self.runs), len(self.spec.outputs)), np.nan)
        for i, values in enumerate(batch):
            cid = candidate_id(values)
            per_run = []
            for d, s in self.runs:
                name = self.run_name(cid, d, s)
                if not self.store.has(name):
                    break
                rows = [line.split(",") for line in self.store.read(name).splitlines()[1:]]
                table = {(p, ind): float(v) if v else math.nan for p, ind, v in rows}
                per_run.append([o.value(table) for o in self.spec.outputs])
            else:
                out[i] = per_run
        return out

    def _write(self, outcome: Outcome) -> None:
        name = outcome.task.key
        if outcome.ok:
            rows = province_values(outcome.result.yearly)
            self.store.write(name, "period,indicator,value\n" + "".join(
                f"{p},{ind},{store.fmt_value(v)}\n" for (p, ind), v in sorted(rows.items())))
        else:
            self.failed.append({"run": name, "error": outcome.error})
            self.store.write_error(name, outcome.error)
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total, f"{len(self.failed)} failed" if self.failed else "")


# --- the search ----------------------------------------------------------------------------------------------
def historical_values(spec: OptimisationSpec) -> dict[str, Any]:
    """The base scenario's own values of the levers (a lever of several keys takes its first key's value)."""
    params = scenarios.load(spec.base).params
    return {f.name: params[f.keys[0]] for f in spec.levers}


def check_folder(spec: OptimisationSpec, folder: Path, resume: bool, plan=None) -> None:
    manifest = folder / "manifest.json"
    if folder.exists() and not folder.is_dir():
        raise ParamError("--out", str(folder), "is a file, not a folder")
    if not manifest.is_file():
        if (folder / "runs").is_dir() and any((folder / "runs").iterdir()):
            raise ParamError("--out", str(folder), "holds runs but no manifest.json; use another --out")
        return
    old = store.read_json(manifest, "manifest")
    if old.get("kind") != "optimisation":
        raise ParamError("--out", str(folder), "holds another kind of result; use another --out")
    if not resume:
        raise ParamError("--out", str(folder), "already holds an optimisation; use --resume to continue it, or "
                         "another folder")
    if old.get("file_digest") != spec.digest:
        raise ParamError("--resume", str(folder), "holds a different optimisation file; use a new --out")
    was = old.get("posterior")
    was = {k: was.get(k) for k in ("sha256", "draws", "draw_seed", "seeds_per_draw")} if was else None
    if was != (plan.identity() if plan is not None else None):
        raise ParamError("--resume", str(folder), "was run with other --posterior draws; resume with the same")


def run(spec: OptimisationSpec, folder: Path, executor: Executor, resume: bool = False, plan=None,
        progress=None) -> dict:
    """NSGA-II (pymoo's ask-and-tell) over the levers in the unit cube; each generation's candidates run as
    one batch on the executor. Writes candidates.csv, front.csv, figures, report.md and the manifest."""
    import warnings

    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator as PymooEvaluator
    from pymoo.core.problem import Problem
    from pymoo.problems.static import StaticProblem

    check_folder(spec, folder, resume, plan)
    folder.mkdir(parents=True, exist_ok=True)
    store.clean_partial(folder)
    if not (folder / "manifest.json").is_file():
        store.write_json(folder / "manifest.json", store.manifest(
            "optimisation", complete=False, file=str(spec.path), file_digest=spec.digest, question=spec.question,
            base=spec.base, population=spec.population, generations=spec.generations, design_seed=spec.design_seed,
            seeds=list(spec.seeds), levers=[{"name": f.name, "keys": list(f.keys), "range": [f.low, f.high],
                                             "values": list(f.values) if f.values else None} for f in spec.levers],
            outputs=[vars(o) for o in spec.outputs], objectives=dict(spec.objectives),
            budget={"output": spec.budget[0], "at_most": spec.budget[1]} if spec.budget else None,
            **({"posterior": plan.manifest()} if plan is not None else {})))
    store.write_bytes(folder / "optimisation.toml", spec.path.read_bytes())
    ev = Evaluator(spec, folder, executor, plan, progress)
    names = [o.name for o in spec.outputs]
    obj = [(names.index(n), 1.0 if sense == "min" else -1.0) for n, sense in spec.objectives]
    records, by_id = [], {}

    def record(generation: int, batch: list[dict], y: np.ndarray) -> None:
        for values, row in zip(batch, y):
            by_id[candidate_id(values)] = values
            feasible = bool(np.all(np.isfinite(row))) and (spec.budget is None or
                                                            row[names.index(spec.budget[0])] <= spec.budget[1])
            records.append({"generation": generation, "candidate": candidate_id(values), **values,
                            **dict(zip(names, row)), "feasible": feasible})

    hist = historical_values(spec)
    record(-1, [hist], ev.evaluate([hist]))
    problem = Problem(n_var=len(spec.levers), n_obj=len(obj), n_ieq_constr=1 if spec.budget else 0, xl=0.0, xu=1.0)
    algorithm = NSGA2(pop_size=spec.population)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        algorithm.setup(problem, termination=("n_gen", spec.generations), seed=spec.design_seed, verbose=False)
        generation = 0
        while algorithm.has_next():
            pop = algorithm.ask()
            batch = [spec.values_at(u) for u in pop.get("X")]
            y = ev.evaluate(batch)
            record(generation, batch, y)
            bad = ~np.all(np.isfinite(y), axis=1)
            f = np.column_stack([sign * y[:, j] for j, sign in obj])
            f[bad] = 1e300  # a candidate whose runs failed is never chosen
            extra = {}
            if spec.budget:
                g = (y[:, names.index(spec.budget[0])] - spec.budget[1])[:, None]
                g[bad] = 1e300
                extra["G"] = g
            PymooEvaluator().eval(StaticProblem(problem, F=f, **extra), pop)
            algorithm.tell(infills=pop)
            generation += 1
    table = pd.DataFrame(records)
    front = pareto_front(table, spec)
    write_table(folder / "candidates.csv", table)
    write_table(folder / "front.csv", front)
    runs, fresh = check_plan(spec, plan)  # the front judged again on runs that did not choose it
    cv = Evaluator(spec, folder, executor, fresh, progress, runs=runs, prefix="check-")
    cv.done, cv.total = ev.done, ev.done + (len(front) + 1) * len(runs)
    mixes = [hist] + [by_id[c] for c in front.candidate]
    check = check_table(spec, table, front, cv.per_run(mixes))
    write_table(folder / "check.csv", check)
    from . import plots

    figures = plots.optimisation_figures(spec, table, front, folder / "figures", over=_over(spec, plan),
                                         check=check)
    report = write_report(spec, folder, table, front, plan, check, fresh)
    failed = ev.failed + cv.failed
    manifest = store.read_json(folder / "manifest.json", "manifest")
    manifest.update(complete=True, result={"candidates": int((table.generation >= 0).sum()), "front": len(front),
                                           "runs_failed": len(failed), "errors": failed[:20]},
                    check={"runs": [[d, s] for d, s in runs], "posterior": fresh.manifest() if fresh else None})
    store.write_json(folder / "manifest.json", manifest)
    return {"front": len(front), "candidates": len(table), "errors": failed, "figures": [str(p) for p in figures],
            "report": str(report), "runs": cv.total}


def check_table(spec: OptimisationSpec, table: pd.DataFrame, front: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """The historical mix (mix 0) and the front's mixes (1..) on the fresh runs (``values``: mix x run x output):
    per output, the search's mean, the fresh runs' mean, and the mix minus the historical mix, paired run by run
    (each fresh run its own seed or draw: the replications), with its 95 % Student-t interval (stats.mean_se)."""
    from .stats import mean_se, se_interval

    hist = table[table.generation == -1].iloc[0]
    rows = []
    for m in range(values.shape[0]):
        search = hist if m == 0 else front.iloc[m - 1]
        for j, o in enumerate(spec.outputs):
            diff, se, n = mean_se(values[m, :, j] - values[0, :, j])
            lo, hi = se_interval(diff, se, n) if m else (math.nan, math.nan)
            rows.append({"mix": m, "candidate": search["candidate"], "output": o.name, "search_mean": search[o.name],
                         "check_mean": float(np.mean(values[m, :, j])), "minus_historical": diff, "lo95": lo,
                         "hi95": hi, "runs": int(np.isfinite(values[m, :, j]).sum())})
    return pd.DataFrame(rows)


def _over(spec: OptimisationSpec, plan) -> str:
    """What an objective is the mean over: the search's seeds, or its posterior draws and seeds."""
    if plan is not None:
        return f"{posterior.design_phrase(plan.n, len(spec.seeds))} (parameter and seed uncertainty)"
    seeds = f"seeds {spec.seeds[0]}-{spec.seeds[-1]}" if len(spec.seeds) > 1 else f"seed {spec.seeds[0]}"
    return f"{seeds} at the calibrated point (seed uncertainty only)"


def write_table(path: Path, table: pd.DataFrame) -> None:
    store.write_csv(path, list(table.columns), ([_cell(v) for v in r] for r in table.itertuples(index=False)))


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (float, np.floating)):
        return store.fmt_value(float(v))
    return str(v)


def pareto_front(table: pd.DataFrame, spec: OptimisationSpec) -> pd.DataFrame:
    """The feasible candidates no other feasible candidate beats on every objective (each candidate once)."""
    t = table[(table.generation >= 0) & table.feasible].drop_duplicates("candidate")
    if t.empty:
        return t
    f = np.column_stack([t[n].to_numpy() * (1.0 if s == "min" else -1.0) for n, s in spec.objectives])
    keep = [not np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1)) for i in range(len(f))]
    return t[keep].sort_values(spec.objectives[0][0], ascending=spec.objectives[0][1] == "min").reset_index(drop=True)


def _fmt(v) -> str:
    """A lever value or an output for the report: booleans and text as they are, numbers in the project's one
    number format (experiments._fmt)."""
    from .experiments import _fmt as fmt

    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    return v if isinstance(v, str) else fmt(float(v))


def write_report(spec: OptimisationSpec, folder: Path, table: pd.DataFrame, front: pd.DataFrame, plan,
                 check: pd.DataFrame, fresh=None) -> Path:
    """report.md: the search, its front, and the front judged on fresh runs (``check``, :func:`check_table`;
    ``fresh``: their posterior plan, if any)."""
    hist = table[table.generation == -1].iloc[0]
    lines = [f"# Optimisation: {spec.path.stem}", ""]
    if spec.question:
        lines += [f"Question: {spec.question}", ""]
    sense = ", ".join(f"{'maximise' if s == 'max' else 'minimise'} `{n}`" for n, s in spec.objectives)
    lines += [f"NSGA-II (pymoo), {spec.population} candidates x {spec.generations} generations from base scenario "
              f"`{spec.base}`: {sense}"
              + (f", with `{spec.budget[0]}` at most {_fmt(spec.budget[1])}" if spec.budget else "")
              + f". Every candidate runs on the same {_over(spec, plan)}; an objective is the mean over them.", "",
              "| lever | parameters | range | historical |", "|---|---|---|---|"]
    for f in spec.levers:
        rng = ", ".join(map(str, f.values)) if f.values is not None else f"{f.low:g} to {f.high:g}"
        lines.append(f"| `{f.name}` | {', '.join(f'`{k}`' for k in f.keys)} | {rng} | {_fmt(hist[f.name])} |")
    cols = [f.name for f in spec.levers] + [o.name for o in spec.outputs]
    lines += ["", f"## The front: {len(front)} mixes no other feasible candidate beats on every objective", "",
              "The means of the search's own runs. They chose these mixes, so they overstate the gains: the best of "
              "many noisy means is likely to be one the noise flattered. The next section judges the front on fresh "
              "runs.", "", "| mix | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols),
              "| **historical** | " + " | ".join(_fmt(hist[c]) for c in cols) + " |"]
    for i, r in front.iterrows():
        lines.append(f"| {i + 1} | " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    lines += ["", *check_text(spec, check, fresh), "", "![front](figures/front.png)", "",
              "Files: `candidates.csv` (every candidate: generation, lever values, outputs, feasible; generation -1 "
              "is the historical mix), `front.csv`, `check.csv` (the front and the historical mix on the fresh runs: "
              "each output's search mean, fresh mean, and the mix minus the historical mix with its 95 % interval), "
              "`runs/` (every run; the fresh ones are `check-*`), `manifest.json`."]
    return store.write_text(folder / "report.md", "\n".join(lines) + "\n")


def check_text(spec: OptimisationSpec, check: pd.DataFrame, fresh=None) -> list[str]:
    """The report's section on the front judged on fresh runs: a table of each mix's gains over the historical mix
    with their intervals, each objective's best mix, and the mixes shown better than the historical one."""
    if check.empty or check.mix.max() == 0:
        return ["## The front on fresh runs", "", "No mix on the front."]
    k = spec.check_seeds
    runs = (f"{k} fresh posterior draws, one seed each" if fresh is not None else f"{k} fresh seeds")
    lines = ["## The front on fresh runs", "",
             f"Each mix of the front and the historical mix ran again on {runs}, none of which the search saw. A "
             "change is the mix's output minus the historical mix's, run by run (common random numbers), with its 95 % "
             f"interval over the {k} runs (Student t). A mix is shown better than the historical one on an "
             "objective when the interval lies on the objective's side of zero.", ""]
    objectives = dict(spec.objectives)
    names = [o.name for o in spec.outputs]
    lines += ["| mix | " + " | ".join(f"`{n}`: search's change | fresh change [95 %]" for n in names) + " |",
              "|---|" + "---|---|" * len(names)]
    cell = {(r.mix, r.output): r for r in check.itertuples(index=False)}
    for m in range(1, int(check.mix.max()) + 1):
        parts = []
        for n in names:
            r, h = cell[(m, n)], cell[(0, n)]
            parts += [_signed(r.search_mean - h.search_mean),
                      f"{_signed(r.minus_historical)} [{_fmt(r.lo95)}, {_fmt(r.hi95)}]"]
        lines.append(f"| {m} | " + " | ".join(parts) + " |")
    lines.append("")
    shown = {}
    for n, sense in objectives.items():
        rows = check[(check.output == n) & (check.mix > 0)]
        if rows.check_mean.isna().all():  # every mix had a failed fresh run
            lines.append(f"- best for `{n}` on the fresh runs: none (no mix ran on every fresh run).")
            shown[n] = set()
            continue
        best = rows.loc[rows.check_mean.idxmax() if sense == "max" else rows.check_mean.idxmin()]
        lines.append(f"- best for `{n}` on the fresh runs: mix {int(best.mix)}, {_fmt(best.check_mean)} "
                     f"({_signed(best.minus_historical)} against the historical mix, 95 % interval "
                     f"{_fmt(best.lo95)} to {_fmt(best.hi95)}).")
        shown[n] = set(rows.mix[(rows.lo95 > 0) if sense == "max" else (rows.hi95 < 0)].astype(int))
    if spec.budget:
        o, cap = spec.budget
        over = check[(check.output == o) & (check.mix > 0) & (check.check_mean > cap)].mix.astype(int).tolist()
        lines.append(f"- over the budget (`{o}` at most {_fmt(cap)}) on the fresh runs: "
                     + (", ".join(f"mix {m}" for m in over) if over else "none") + ".")
    better = sorted(set.intersection(*shown.values()))
    lines.append("- shown better than the historical mix on every objective: "
                 + (", ".join(f"mix {m}" for m in better) if better else
                    "none (a gain whose interval covers zero is not evidence)") + ".")
    return lines


def _signed(v: float) -> str:
    return ("+" if v >= 0 else "") + _fmt(v)


__all__ = ["OptimisationSpec", "load_spec", "run", "pareto_front", "candidate_id", "historical_values"]
