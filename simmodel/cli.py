"""The ``simmodel`` command.

User errors (a bad scenario file, an unknown parameter, a value out of range, a missing file, an
unwritable output folder) are reported in one line naming the key, the value and what is allowed,
with exit code 2 and nothing written. Ctrl-C leaves no half-written result folder (exit 130).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .analysis import scenarios
from .params import PARAMS, ParamError, Params, parse_override, table_rows
from .runs import store

DEFAULT_SEED = 1
class UserError(Exception):
    """A one-line message for the user (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        raise UserError(f"{self.prog}: {message}")


def _overrides(args: argparse.Namespace) -> dict:
    """--scale, --end and --set as dotted-key updates (validated when applied)."""
    updates = {}
    if getattr(args, "scale", None) is not None:
        updates["run.scale"] = args.scale
    if getattr(args, "end", None) is not None:
        updates["run.end"] = args.end
    for text in getattr(args, "set", None) or []:
        key, value = parse_override(text)
        updates[key] = value
    return updates


def _scenario(ref: str | None, args: argparse.Namespace) -> tuple[str, Params, str]:
    """(name, params, question) of a scenario (default: the calibrated baseline) with the overrides."""
    sc = scenarios.baseline() if ref is None else scenarios.load(ref)
    name, params, question = sc.name, sc.params, sc.question
    updates = _overrides(args)
    if updates:
        params = params.replace(updates, where="--set" if args.set else "")
    return name, params, question


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seeds < 1:
        raise ParamError("--seeds", args.seeds, "must be at least 1")
    return list(range(args.seed, args.seed + args.seeds))


def _executor(args: argparse.Namespace, n_tasks: int):
    from .runs.executor import executor_for

    if args.workers is not None and args.workers < 1:
        raise ParamError("--workers", args.workers, "must be at least 1")
    workers = args.workers
    if workers is None and not args.scheduler:
        workers = 1 if n_tasks == 1 else min(n_tasks, os.cpu_count() or 1)
    return executor_for(workers, args.scheduler)


def _out_folder(args: argparse.Namespace, default_name: str) -> Path:
    if args.out:
        out = Path(args.out)
        if out.exists():
            raise ParamError("--out", str(out), "already exists; choose another folder")
        store.check_writable(out.parent)
        return out
    base = Path("results")
    store.check_writable(base)
    return store.unique_dir(base, default_name)


def _yearly_table(summary) -> str:
    """The headline indicators, province-wide, one line per year (means over seeds)."""
    from .model.indicators import HEADLINE, indicator

    view = [indicator(n) for n in HEADLINE]
    prov = summary[(summary.region == "Zhejiang") & (summary.sector == "all")]
    values = {(str(r.period), r.indicator): r.mean for r in prov.itertuples()}
    years = sorted({str(p) for p in prov.period})
    lines = ["year " + " ".join(f"{i.short:>{max(len(i.short), 7)}}" for i in view)]
    for y in years:
        cells = []
        for i in view:
            short, div = i.short, i.scale
            v = values.get((y, i.name), math.nan) / div
            width = max(len(short), 7)
            cells.append(f"{v:>{width}.{0 if abs(v) >= 1000 or div == 1 else 1}f}" if not math.isnan(v) else
                         f"{'-':>{width}}")
        lines.append(f"{y} " + " ".join(cells))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from .analysis import experiments
    from .runs.progress import ProgressLine

    name, params, question = _scenario(args.scenario, args)
    seeds = _seeds(args)
    out = _out_folder(args, store.run_id(name, seeds[0] if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"))
    t0 = time.perf_counter()
    with _executor(args, len(seeds)) as ex, store.atomic_dir(out) as tmp:
        bar = ProgressLine(f"{name}: {len(seeds)} run{'s' if len(seeds) > 1 else ''}",
                           enabled=None if not args.quiet else False)
        if len(seeds) == 1:  # one run: show its months
            bar.label = f"{name} seed {seeds[0]}"
        batch, summary = experiments.replicate(name, params, seeds, ex, tmp, progress=bar.update)
        bar.close()
        store.write_json(tmp / "manifest.json", store.manifest(
            "run", run_id=out.name, scenario=name, question=question, seeds=seeds, executor=ex.describe(),
            agents=_agents(params), changed=params.changed(), params=params.nested(),
            failures=[{"run": k, "error": e} for k, e in batch.failures],
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)},
        ))
    if not args.quiet:
        band = "" if len(seeds) == 1 else f" (means over {len(seeds)} seeds)"
        print(f"{name}: seeds {seeds[0]}..{seeds[-1]}, scale {params['run.scale']}, {_agents(params):,} firm agents, "
              f"to {params['run.end']}, {batch.seconds:.1f} s{band}")
        print(_yearly_table(summary))
        if batch.failures:
            print(f"{len(batch.failures)} runs failed: first: {batch.failures[0][1]}")
    print(f"results: {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis import experiments
    from .runs.progress import ProgressLine

    if len(args.scenarios) < 2:
        raise ParamError("scenarios", args.scenarios, "name at least two scenarios (the first is the reference)")
    if len(set(args.scenarios)) != len(args.scenarios):
        raise ParamError("scenarios", args.scenarios, "each scenario may appear once")
    loaded = [_scenario(ref, args) for ref in args.scenarios]
    seeds = _seeds(args)
    out = _out_folder(args, store.run_id("compare-" + "-".join(n for n, _, _ in loaded)[:60], f"{seeds[0]}-{seeds[-1]}"))
    t0 = time.perf_counter()
    n_tasks = len(loaded) * len(seeds)
    with _executor(args, n_tasks) as ex, store.atomic_dir(out) as tmp:
        bar = ProgressLine(f"compare {len(loaded)} scenarios x {len(seeds)} seeds", enabled=None if not args.quiet else False)
        batch, tables = experiments.compare([(n, p) for n, p, _ in loaded], seeds, ex, tmp, progress=bar.update)
        bar.close()
        experiments.report(tmp, [(n, q) for n, _, q in loaded], seeds, tables, batch)
        store.write_json(tmp / "manifest.json", store.manifest(
            "compare", run_id=out.name, scenarios=[{"name": n, "question": q, "changed": p.changed()} for n, p, q in loaded],
            seeds=seeds, executor=ex.describe(), failures=[{"run": k, "error": e} for k, e in batch.failures],
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)},
        ))
    if not args.quiet:
        print(f"{len(loaded)} scenarios x {len(seeds)} seeds in {batch.seconds:.1f} s; report: {out / 'report.md'}")
        c = tables["contributions"]
        print(f"contribution to {tables['year']} ({loaded[0][0]} minus scenario), mean [5 %, 95 %]:")
        for name, *_ in loaded[1:]:
            cells = [f"{m}: {experiments._fmt(r['mean'])} [{experiments._fmt(r.p05)}, {experiments._fmt(r.p95)}]"
                     for m in experiments.CONTRIBUTION_METRICS
                     for r in [c[(c.scenario == name) & (c.metric == m)].iloc[0]]]  # raw units: firms, yuan
            print(f"  {name}: " + "; ".join(cells))
    print(f"results: {out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .analysis import sweep
    from .runs.progress import ProgressLine

    spec = sweep.load_spec(args.file)
    if args.resume:
        if not args.out:
            raise ParamError("--resume", True, "needs --out, the folder of the sweep to continue")
        out = Path(args.out)
    else:
        out = _out_folder(args, store.run_id("sweep-" + spec.path.stem, f"{spec.seeds[0]}-{spec.seeds[-1]}"))
    if args.workers is not None and args.workers < 1:
        raise ParamError("--workers", args.workers, "must be at least 1")
    n_runs = len(spec.design_points()) * len(spec.seeds)
    from .runs.executor import executor_for

    t0 = time.perf_counter()
    with executor_for(args.workers, args.scheduler) as ex:
        if not args.quiet:
            print(f"sweep {spec.path.name}: {spec.design}, {n_runs // len(spec.seeds)} points x {len(spec.seeds)} seeds "
                  f"= {n_runs} runs on {ex.describe()}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        info = sweep.run_sweep(spec, out, ex, resume=args.resume, progress=bar.update)
        bar.close()
    if not args.quiet:
        print(f"{info['runs_ok']} runs ok, {info['runs_failed']} failed, {time.perf_counter() - t0:.1f} s")
        for e in info["errors"][:3]:
            print(f"  {e['run']}: {e['error']}")
    print(f"results: {out}")
    return 0


def cmd_sweep_plot(args: argparse.Namespace) -> int:
    from .analysis import plots

    folder = Path(args.dir)
    for need in ("manifest.json", "table.csv"):
        if not (folder / need).is_file():
            raise ParamError("DIR", str(folder), f"is not a finished sweep folder (no {need})")
    for p in plots.sweep_figures(folder):
        print(p)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from . import resources
    from .analysis import calibrate, targets
    from .runs.executor import executor_for
    from .runs.progress import ProgressLine

    targets_path = Path(args.targets) if args.targets else targets.default_path()
    priors_path = Path(args.priors) if args.priors else calibrate.default_priors()
    loaded, priors = calibrate.load_targets(targets_path), calibrate.load_priors(priors_path)
    budget = args.budget or (80 if args.quick else 5000)
    if budget < 8:
        raise ParamError("--budget", budget, "must be at least 8 runs")
    work = Path(args.work) if args.work else Path("results") / ("calibration-quick" if args.quick else "calibration")
    # a full calibration in the repository updates the shipped calibration (calibration/); elsewhere
    # (an installed package, --quick) it writes into its working folder
    shipped = resources.is_source_checkout() and not args.quick
    fitted = Path(args.fitted) if args.fitted else (resources.calibration_dir() / "fitted.toml" if shipped else
                                                     work / "fitted.toml")
    report = Path(args.report) if args.report else (resources.calibration_dir() / "report.md" if shipped else
                                                     work / "report.md")
    config = {"budget": budget, "quick": args.quick, "targets": targets_path.read_text(),
              "priors": priors_path.read_text()}
    store.check_writable(work.parent)
    if (work / "config.json").exists():
        if json.loads((work / "config.json").read_text()) != config:
            raise ParamError("--work", str(work), "holds a calibration with other settings; choose another --work")
        resuming = True
    else:
        work.mkdir(parents=True, exist_ok=True)
        store.write_json(work / "config.json", config)
        resuming = False
    if args.workers is not None and args.workers < 1:
        raise ParamError("--workers", args.workers, "must be at least 1")
    with executor_for(args.workers, args.scheduler) as ex:
        if not args.quiet:
            print(f"calibrating {len(priors.parameters)} parameters to {sum(t.role == 'fit' for t in loaded)} targets: "
                  f"budget {budget} runs, {ex.describe()}{' (resuming)' if resuming else ''}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        out = calibrate.run_calibration(targets_path, priors_path, work, fitted, report, ex, budget, args.quick,
                                        progress=bar.update)
        bar.close()
    if not args.quiet:
        print("parameter                            baseline     median        5 %       95 %")
        for r in out["rows"]:
            print(f"{r['key']:<36} {r['point']:>10.4g} {r['median']:>10.4g} {r['p05']:>10.4g} {r['p95']:>10.4g}")
        print(f"{out['meta']['runs']} runs in {out['meta']['minutes']} minutes")
    print(f"fitted: {fitted}\nreport: {report}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import numpy as np

    from .analysis import calibrate
    from .runs.executor import Task

    targets = calibrate.load_targets(Path(args.targets) if args.targets else None)
    name, params, _ = _scenario(args.scenario, args)
    seeds = _seeds(args)
    names = tuple(dict.fromkeys(t.indicator for t in targets))
    values = np.full((len(seeds), len(targets)), np.nan)
    failures = []
    with _executor(args, len(seeds)) as ex:
        from .runs.progress import ProgressLine

        bar = ProgressLine(f"validate {name}", enabled=None if not args.quiet else False)
        for i, o in enumerate(ex.map([Task(f"s{s}", params, s, monthly=True, names=names) for s in seeds]), 1):
            if o.ok:
                values[seeds.index(o.task.seed)] = [calibrate.read_run(o.result, targets)[t.name] for t in targets]
            else:
                failures.append(o.error)
            bar.update(i, len(seeds))
        bar.close()
    rows = calibrate.validation_table(targets, values)
    print(f"{name}: {len(seeds)} seeds, scale {params['run.scale']}; tolerance = 2 x sqrt(sd_obs^2 + sd_model^2)")
    print(f"{'target':<36} {'observed':>12} {'tolerance':>10} {'median':>12} {'5 %':>12} {'95 %':>12}  within")
    bad = 0
    for r in rows:
        t = r["target"]
        mark = ("yes" if r["within"] else "NO") if r["counts"] else "-"
        bad += r["counts"] and not r["within"]
        obs = (">=" if t.lower_bound else "") + f"{t.value:.4g}"
        print(f"{t.name:<36} {obs:>12} {t.tolerance:>10.3g} {r['median']:>12.4g} {r['p05']:>12.4g} {r['p95']:>12.4g}  "
              f"{mark}{'  (' + t.role + ')' if t.role != 'fit' else ''}")
    if failures:
        print(f"{len(failures)} runs failed: {failures[0]}")
    print(f"{bad} target{'s' if bad != 1 else ''} outside tolerance" if bad else "all targets within tolerance")
    return 1 if bad or failures else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import socket

    from .viz import APP

    try:
        with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as s:
            s.bind((args.host, args.port))
    except OSError as e:
        raise ParamError("--port", args.port, f"cannot listen on {args.host}:{args.port} ({e.strerror})") from None
    scenarios.load(args.scenario)  # a bad scenario is a one-line error here, not a broken page
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SIMMODEL_SCENARIO": args.scenario}
    print(f"serving the visual server at http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", args.host, "--port", str(args.port), "--no-open"]
    os.execvpe(cmd[0], cmd, env)  # become the server: stopping this process stops it


def _agents(params: Params) -> int:
    from .model.population import agent_counts

    a, s, _, _ = agent_counts(params)
    return a + s


def cmd_params(args: argparse.Namespace) -> int:
    if args.markdown:
        from .docgen import params_markdown
        print(params_markdown())
        return 0
    rows = table_rows()
    values = None
    if args.scenario:
        values = scenarios.load(args.scenario).params
        print(f"# the values scenario {args.scenario!r} uses (* = differs from the model default)")
    width = max(len(r.key) for r in rows)
    for r, p in zip(rows, PARAMS):
        shown, mark = r.default, " "
        if values is not None:
            v = values[p.key]
            shown = ", ".join(map(str, v)) if isinstance(v, tuple) else store.fmt_value(v) if isinstance(v, float) \
                else str(v).lower() if isinstance(v, bool) else str(v)
            mark = "*" if v != p.default else " "
        print(f"{r.key:<{width}} {mark}{shown:>14}  {r.unit:<14} {r.allowed}")
    return 0


def cmd_indicators(args: argparse.Namespace) -> int:
    from .model.indicators import INDICATORS, dictionary_markdown

    if args.markdown:
        print(dictionary_markdown())
        return 0
    width = max(len(i.name) for i in INDICATORS)
    for i in INDICATORS:
        print(f"{i.name:<{width}}  {i.unit:<15} {i.doc}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    found = scenarios.available()
    if not found:
        raise ParamError("scenarios", None, "none shipped with the package; reinstall simmodel")
    width = max(map(len, found))
    for name, path in found.items():
        print(f"{name:<{width}}  {scenarios.question(path)}")
    return 0


def build_parser() -> Parser:
    p = Parser(prog="simmodel", description="SME intelligent transformation in Zhejiang: an agent-based model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def common(sp):
        sp.add_argument("--seeds", type=int, default=1, help="replications on independent seeds (default 1)")
        sp.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"first seed (default {DEFAULT_SEED})")
        sp.add_argument("--scale", type=float, help="fraction of the firm population (default 0.05)")
        sp.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a parameter, e.g. government.purchase_subsidy_rate=0.2 (repeatable)")
        sp.add_argument("--workers", type=int, help="worker processes (default: the cores; 1 runs in process)")
        sp.add_argument("--scheduler", metavar="ADDR", help="run on an existing Dask cluster, e.g. tcp://host:8786")
        sp.add_argument("--out", help="result folder (default results/<run-id>)")
        sp.add_argument("--quiet", action="store_true", help="print only the result folder")

    r = sub.add_parser("run", help="run a scenario (default: baseline) on one or more seeds; write results/<run-id>/")
    r.add_argument("--scenario", help="scenario name (see `simmodel scenarios`) or TOML file")
    common(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="run scenarios on common random numbers and compare each to the first")
    c.add_argument("scenarios", nargs="+", help="scenario names or TOML files; the first is the reference")
    common(c)
    c.set_defaults(func=cmd_compare)

    sw = sub.add_parser("sweep", help="a batch parameter sweep (grid, Latin hypercube or Sobol) on Dask")
    sw.add_argument("file", help="sweep file (experiments/sweeps/*.toml)")
    sw.add_argument("--workers", type=int, help="worker processes (default: the cores; 1 runs in process)")
    sw.add_argument("--scheduler", metavar="ADDR", help="run on an existing Dask cluster, e.g. tcp://host:8786")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out, running only what is missing")
    sw.add_argument("--out", help="sweep folder (default results/sweep-<name>-...)")
    sw.add_argument("--quiet", action="store_true", help="print only the result folder")
    sw.set_defaults(func=cmd_sweep)

    sp = sub.add_parser("sweep-plot", help="redraw a sweep's figures from its stored results")
    sp.add_argument("dir", help="the sweep folder")
    sp.set_defaults(func=cmd_sweep_plot)

    ca = sub.add_parser("calibrate", help="fit the model to the reported Zhejiang outcomes (history matching + ABC)")
    ca.add_argument("--budget", type=int, help="model runs to spend (default 5000; --quick: 80)")
    ca.add_argument("--quick", action="store_true", help="a small budget at a tiny scale: every step, for CI; writes "
                    "its fitted.toml and report into --work, not calibration/")
    ca.add_argument("--workers", type=int, help="worker processes (default: the cores; 1 runs in process)")
    ca.add_argument("--scheduler", metavar="ADDR", help="run on an existing Dask cluster, e.g. tcp://host:8786")
    ca.add_argument("--work", help="working folder of the runs (default results/calibration); rerun to resume")
    ca.add_argument("--fitted", help="where to write fitted.toml (default calibration/fitted.toml)")
    ca.add_argument("--report", help="where to write the report (default calibration/report.md)")
    ca.add_argument("--targets", help="targets file (default calibration/targets.toml)")
    ca.add_argument("--priors", help="calibrated parameters and priors (default calibration/priors.toml)")
    ca.add_argument("--quiet", action="store_true")
    ca.set_defaults(func=cmd_calibrate)

    va = sub.add_parser("validate", help="run a scenario (default baseline) over seeds against every target; "
                        "exit 1 if any is outside its tolerance")
    va.add_argument("--scenario", help="scenario name or TOML file (default baseline)")
    va.add_argument("--seeds", type=int, default=8, help="seeds (default 8)")
    va.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"first seed (default {DEFAULT_SEED})")
    va.add_argument("--scale", type=float, help="fraction of the firm population (default 0.05)")
    va.add_argument("--end", help=argparse.SUPPRESS)
    va.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    va.add_argument("--workers", type=int, help="worker processes (default: the cores)")
    va.add_argument("--scheduler", metavar="ADDR", help="an existing Dask cluster")
    va.add_argument("--targets", help="targets file (default calibration/targets.toml)")
    va.add_argument("--quiet", action="store_true")
    va.set_defaults(func=cmd_validate)

    se = sub.add_parser("serve", help="the browser-based visual server (SolaraViz)")
    se.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    se.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    se.add_argument("--scenario", default="baseline", help="the scenario the page starts on (default: the "
                    "calibrated baseline)")
    se.set_defaults(func=cmd_serve)

    pp = sub.add_parser("params", help="list every parameter with its default, unit and allowed values")
    pp.add_argument("--markdown", action="store_true", help="as a Markdown table with sources")
    pp.add_argument("--scenario", help="list the values this scenario uses (name or TOML file)")
    pp.set_defaults(func=cmd_params)

    ind = sub.add_parser("indicators", help="list every output indicator with its unit and definition")
    ind.add_argument("--markdown", action="store_true", help="as the Markdown dictionary of docs/indicators.md")
    ind.set_defaults(func=cmd_indicators)

    s = sub.add_parser("scenarios", help="list the scenarios and the question each answers")
    s.set_defaults(func=cmd_scenarios)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ParamError, UserError) as e:
        print(f"simmodel: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt:
        kept = " (finished runs are kept: rerun with --resume)" if getattr(args, "func", None) is cmd_sweep else \
            "; no result folder was written"
        print(f"\nsimmodel: interrupted{kept}", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "PARAMS"]
