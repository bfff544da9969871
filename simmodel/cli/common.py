"""What the commands share: scenarios and overrides, seeds, executors, output folders, the memory
check and the policy for runs that fail.

Every check here runs before anything is written: a user error is a one-line ParamError (exit 2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis import scenarios
from ..params import ParamError, Params, parse_override, resolve_key
from ..params import part_year_note as _part_year
from ..runs import memory, store

DEFAULT_SEED = 1
EXIT_RUNS_FAILED = 3  # some runs failed and --allow-failures was not given (2 is a user error)


class UserError(Exception):
    """A one-line message for the user (exit code 2)."""


def overrides(args: argparse.Namespace) -> dict:
    """--scale, --end and --set as dotted-key updates (validated when applied)."""
    updates = {}
    if getattr(args, "scale", None) is not None:
        updates["run.scale"] = args.scale
    if getattr(args, "end", None) is not None:
        updates["run.end"] = args.end
    by = {k: "--" + k[4:] for k in updates}  # who gave each parameter (full key) so far: --scale, --end
    for text in getattr(args, "set", None) or []:
        key, value = parse_override(text)
        full = resolve_key(key, value, "--set").key
        if full in by:  # a second value would silently win
            raise ParamError(key, value, f"{full} is also given by {by[full]}: give each parameter once", "--set")
        by[full] = f"--set {text.strip()}"
        updates[key] = value
    return updates


def scenario(ref: str | None, args: argparse.Namespace) -> tuple[str, Params, str]:
    """(name, params, question) of a scenario (default: the calibrated baseline) with the overrides."""
    sc = scenarios.baseline() if ref is None else scenarios.load(ref)
    name, params, question = sc.name, sc.params, sc.question
    updates = overrides(args)
    if updates:
        params = params.replace(updates, where="--set" if getattr(args, "set", None) else "")
    return name, params, question


# --- what a run is called: a scenario, or a scenario changed by --set or given as a file of one's own ----
RUN_KEYS = ("run.scale", "run.end")  # run settings every header shows anyway: they do not rename a run


def changes(params: Params, against: Params) -> dict[str, Any]:
    """The values of ``params`` that differ from ``against`` (the run settings RUN_KEYS aside), in key order:
    Params.changed() of each (what they set against the defaults), compared."""
    mine, theirs = params.changed(), against.changed()
    keys = [k for k in params if k not in RUN_KEYS and (k in mine or k in theirs)]
    return {k: params[k] for k in keys if params[k] != against[k]}


@dataclass(frozen=True)
class Loaded:
    """A scenario as a command runs it. ``label`` names it in folders, headers and manifests: the scenario's
    name, or, when --set changes it or it is a file of one's own, e.g. 'baseline+set-2keys-1a2b3c' (short
    and filesystem-safe; the keys are in ``changed``, against ``against``: the scenario for --set, the
    calibrated baseline for a file of one's own)."""

    name: str
    params: Params
    question: str
    label: str
    changed: dict[str, Any] = field(default_factory=dict)
    against: str = ""
    custom_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # --set's changes against the scenario

    def describe(self) -> str:
        """One line: 'baseline with --set cities.purchase_rate=0.2' or 'mine (scenario file mine.toml;
        against baseline: decision.intercept=-6.5, ...)'; '' for a shipped scenario unchanged."""
        kv = ", ".join(f"{k}={v!r}" for k, v in self.changed.items()) or "no key"
        if self.custom_file:
            return f"{self.label} = {self.name} (scenario file {self.custom_file}; against {self.against}: {kv})"
        if self.changed:
            return f"{self.label} = {self.name} with --set {kv}"
        return ""

    def manifest(self) -> dict:
        return {"label": self.label, "scenario": self.name, "custom_file": self.custom_file,
                "changed_against": self.against or None, "changed_keys": self.changed, "set": self.overrides}


def label_of(name: str, changed: dict[str, Any], custom: bool, set_: bool) -> str:
    """'baseline+set-3keys-1a2b3c', 'mine+file-2keys-...', 'mine+file+set-...' or the name itself."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._") or "scenario"
    if not changed and not custom:
        return stem
    tags = ("+file" if custom else "") + ("+set" if set_ else "")
    digest = hashlib.sha256(json.dumps(sorted(changed.items()), default=str).encode()).hexdigest()[:6]
    return f"{stem}{tags}-{len(changed)}key{'s' * (len(changed) != 1)}-{digest}"


def load(ref: str | None, args: argparse.Namespace) -> Loaded:
    """A scenario (default: the calibrated baseline) with --scale, --end and --set, named as such."""
    sc = scenarios.baseline() if ref is None else scenarios.load(ref)
    params = sc.params
    updates = overrides(args)
    if updates:
        params = params.replace(updates, where="--set" if getattr(args, "set", None) else "")
    shipped = scenarios.available().get(sc.path.stem)
    custom = shipped is None or shipped.resolve() != sc.path.resolve()
    set_changes = changes(params, sc.params)
    if custom:
        against = scenarios.baseline()
        changed, against_name = changes(params, against.params), against.name
    else:
        changed, against_name = set_changes, sc.name
    label = label_of(sc.name, changed, custom, bool(set_changes))
    return Loaded(sc.name, params, sc.question, label, changed, against_name if (changed or custom) else "",
                  str(sc.path) if custom else None, set_changes)


def seeds(args: argparse.Namespace) -> list[int]:
    if args.seeds < 1:
        raise ParamError("--seeds", args.seeds, "must be at least 1")
    if args.seed < 0 or args.seed + args.seeds > 2**63:
        raise ParamError("--seed", args.seed, "must be a non-negative integer")
    return list(range(args.seed, args.seed + args.seeds))


# --- parameter uncertainty: --posterior N (analysis/posterior.py) -------------------------------------
def posterior_plan(args: argparse.Namespace, first_seed: int, seeds_per_draw: int, n: int | None = None):
    """The posterior draws of a command (analysis.posterior.Plan) or None without --posterior (``n``: the number
    of draws when another option gives it, contributions' --also-posterior); the file is read and checked here,
    before anything is written."""
    n, path = getattr(args, "posterior", None) if n is None else n, getattr(args, "posterior_file", None)
    if n is None:
        if path is not None and getattr(args, "also_posterior", None) is None:
            raise ParamError("--posterior-file", path, "needs --posterior N, the number of draws from it")
        return None
    from ..analysis.posterior import Plan, design_phrase

    if first_seed < 0:
        raise ParamError("--seed", first_seed, "must be a non-negative integer")
    plan = Plan.make(n, first_seed, seeds_per_draw, path)
    if first_seed + plan.n * seeds_per_draw > 2**63:
        raise ParamError("--seed", first_seed, f"leaves no room for {design_phrase(plan.n, seeds_per_draw)}")
    return plan


def run_seeds(args: argparse.Namespace):
    """(seeds of every run, posterior plan or None): --seeds S from --seed K, or, with --posterior N, draw d
    on seeds K + d*S .. K + d*S + S - 1 (N x S runs)."""
    plain = seeds(args)
    plan = posterior_plan(args, args.seed, args.seeds)
    return (plan.all_seeds(), plan) if plan else (plain, None)


def drawn(ref: str | None, args: argparse.Namespace, plan) -> tuple[list[Params], list[str]]:
    """Per posterior draw, the parameters of scenario ``ref`` with --set, --scale and --end over the draw
    (analysis.posterior.apply), and the posterior's keys the draws set (the others the scenario or an
    override sets itself)."""
    sc = scenarios.baseline() if ref is None else scenarios.load(ref)
    updates = overrides(args)
    where = "--set" if getattr(args, "set", None) else ""
    return plan.params(sc.params, updates, where), plan.drawn_keys(sc.params, updates)


def posterior_note(args: argparse.Namespace, name: str, plan, keys: list[str]) -> None:
    """Say on stderr which of the posterior's parameters the draws leave to the scenario or --set."""
    kept = [k for k in plan.posterior.keys if k not in keys]
    if kept and not getattr(args, "quiet", False):
        print(f"simmodel: note: {name} sets {', '.join(kept)} itself (scenario file or --set/--scale/--end), so "
              f"the posterior draws do not change {'it' if len(kept) == 1 else 'them'}", file=sys.stderr)


def part_year_note(params: Params) -> None:
    """A run ending before a December: say on stderr that its last year is cut short (params.part_year_note)."""
    note = _part_year(str(params["run.end"]))
    if note:
        print(f"simmodel: note: {note}", file=sys.stderr)


def bands_line(plan, seeds_per_draw: int, checked: bool = False, moved=()) -> str:
    """What the bands are over (``checked``: and that none are drawn from too few runs; ``moved``: the --set
    keys, which may move the point from the calibrated one)."""
    from ..analysis.posterior import bands_phrase

    return plan.phrase(checked) if plan else bands_phrase(None, seeds_per_draw, checked, moved)


def workers_for(args: argparse.Namespace, n_tasks: int) -> int | None:
    if args.workers is not None and args.workers < 1:
        raise ParamError("--workers", args.workers, "must be at least 1")
    if args.workers is None and not getattr(args, "scheduler", None):
        return 1 if n_tasks == 1 else min(n_tasks, os.cpu_count() or 1)
    return args.workers


def executor(args: argparse.Namespace, n_tasks: int):
    from ..runs.executor import executor_for

    return executor_for(workers_for(args, n_tasks), getattr(args, "scheduler", None),
                        dashboard=getattr(args, "dashboard", False))


def memory_check(args: argparse.Namespace, params: Params, runs: int, monthly: bool = True,
                 held: int | None = None, extra_mb: float = 0.0) -> None:
    """Print what a big job needs (more than a GB) and refuse one that cannot fit (unless --force); ``extra_mb``:
    what this process needs besides (the calibration's emulated stage). On a cluster (--scheduler) the workers'
    memory is theirs: only this process is counted."""
    workers = 1 if getattr(args, "scheduler", None) else (workers_for(args, runs) or os.cpu_count() or 1)
    need = memory.job_mb(params, runs, workers, monthly, held) + extra_mb
    line = memory.check(need, getattr(args, "force", False), f"{runs} run{'s' * (runs != 1)} on {workers} "
                        f"process{'es' * (workers != 1)}")
    if need > 1024 and not getattr(args, "quiet", False):
        print(line, file=sys.stderr)


def out_folder(args: argparse.Namespace, default_name: str) -> Path:
    """The result folder (not created): --out, or a new one under results/. Its parent must accept a
    folder (checked by making and removing one), so that nothing fails after the runs."""
    if args.out:
        out = Path(args.out)
        if out.exists():
            raise ParamError("--out", str(out), "already exists; choose another folder")
        parent = out.parent
    else:
        parent = Path("results")
        out = None
    probe_parent(parent, "--out")
    return out or store.unique_dir(parent, default_name)


def probe_parent(parent: Path, key: str) -> None:
    """A one-line ParamError unless a folder can be created in ``parent`` (nothing is left behind)."""
    made = []
    try:
        p = parent
        while not p.exists():
            made.append(p)
            p = p.parent
        for d in reversed(made):
            d.mkdir()
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as e:
        raise ParamError(key, str(parent), f"is not a writable folder ({e.strerror or type(e).__name__})") from None
    finally:
        for d in made:
            shutil.rmtree(d, ignore_errors=True)


def runs_line(ok: int, planned: int) -> str:
    """'over 12 of 20 runs' when some failed, 'over 20 runs' otherwise."""
    return f"{ok} of {planned}" if ok != planned else f"{planned}"


def failures_exit(args: argparse.Namespace, failures: list, planned: int, where: str) -> int:
    """The exit code of a job in which ``failures`` of ``planned`` runs failed: 0 when none did or
    --allow-failures accepts them (said on stderr), EXIT_RUNS_FAILED otherwise."""
    if not failures:
        return 0
    first = failures[0][1] if isinstance(failures[0], tuple) else failures[0]
    msg = f"{len(failures)} of {planned} runs failed (first: {first})"
    if getattr(args, "allow_failures", False):
        print(f"simmodel: note: {msg}; the results rest on the other {planned - len(failures)} (--allow-failures)",
              file=sys.stderr)
        return 0
    print(f"simmodel: {msg}; {where} rests on the other {planned - len(failures)}; pass --allow-failures to accept "
          "that", file=sys.stderr)
    return EXIT_RUNS_FAILED


def yearly_table(summary) -> str:
    """The headline indicators, province-wide, one line per year (means over runs), and those of
    HEADLINE_IF_ACTIVE where the run has any (shared factories)."""
    from ..model.indicators import headline_for, indicator

    prov = summary[(summary.region == "Zhejiang") & (summary.sector == "all")]
    values = {(str(r.period), r.indicator): r.mean for r in prov.itertuples()}
    years = sorted({str(p) for p in prov.period})
    view = [indicator(n) for n in headline_for(lambda n: any(values.get((y, n), 0) > 0 for y in years))]
    lines = ["year " + " ".join(f"{i.short:>{max(len(i.short), 7)}}" for i in view)]
    for y in years:
        cells = []
        for i in view:
            v = values.get((y, i.name), math.nan) / i.scale
            width = max(len(i.short), 7)
            cells.append(f"{v:>{width}.{0 if abs(v) >= 1000 or i.scale == 1 else 1}f}" if not math.isnan(v) else
                         f"{'-':>{width}}")
        lines.append(f"{y} " + " ".join(cells))
    return "\n".join(lines)


def add_run_options(sp: argparse.ArgumentParser, seeds_default: int = 1, posterior: bool = True) -> None:
    """The options of every command that runs the model (``posterior``: with --posterior N)."""
    sp.add_argument("--seeds", type=int, default=seeds_default,
                    help=f"replications on independent seeds (default {seeds_default}"
                    + ("; per draw with --posterior)" if posterior else ")"))
    sp.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"first seed (default {DEFAULT_SEED})")
    sp.add_argument("--scale", type=float, help="fraction of the firm population (default 0.05)")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a parameter, e.g. cities.purchase_rate=0.2 (repeatable)")
    if posterior:
        add_posterior_options(sp, seeds="--seeds")
    add_executor_options(sp)


def figure_formats(text: str) -> tuple[str, ...]:
    """--format: a comma-separated list of figure formats (PNG is always written)."""
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in fmts if f not in store.FIGURE_FORMATS]
    if bad or not fmts:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a comma-separated list of "
                                         + ", ".join(store.FIGURE_FORMATS))
    return fmts


def add_figure_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--format", type=figure_formats, default=(), metavar="FMT[,FMT]",
                    help="also write every figure in these formats beside its 300 dpi PNG, e.g. svg,pdf")


def add_posterior_options(sp: argparse.ArgumentParser, seeds: str = "the file's seeds") -> None:
    """--posterior N and --posterior-file; ``seeds``: what sets the seeds each draw runs on, in this command."""
    sp.add_argument("--posterior", type=int, metavar="N",
                    help=f"N parameter draws from the calibration posterior, each on its own seeds ({seeds} per "
                    "draw): bands over parameter and seed uncertainty together (default: the calibrated point)")
    sp.add_argument("--posterior-file", metavar="PATH",
                    help="the posterior's weighted particles (default: the shipped calibration/posterior.csv)")


def add_executor_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--workers", type=int, help="worker processes (default: the cores; 1 runs in process)")
    sp.add_argument("--scheduler", metavar="ADDR", help="run on an existing Dask cluster, e.g. tcp://host:8786")
    sp.add_argument("--dashboard", action="store_true", help="start the Dask dashboard (port 8787; needs bokeh)")
    sp.add_argument("--allow-failures", action="store_true",
                    help="exit 0 even if some runs fail (the header and manifest say how many were used)")
    sp.add_argument("--force", action="store_true", help="start even if the memory estimate exceeds what is free")
    sp.add_argument("--quiet", action="store_true", help="print only where the results are")
