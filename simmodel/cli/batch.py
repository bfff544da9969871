"""`simmodel sweep`, `sweep-plot` and `calibrate`: many runs into a folder that survives interruption."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..params import ParamError
from ..runs import store
from . import common


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..analysis import scenarios, sweep
    from ..runs.progress import ProgressLine

    spec = sweep.load_spec(args.file)
    out = _design_folder(args, spec)
    # --posterior N: every point on N draws x the sweep's seeds, draw d on seeds first_seed + d * seeds ...
    plan = common.posterior_plan(args, spec.seeds[0], len(spec.seeds))
    sweep.check_folder(spec, out, args.resume, plan)
    n_runs = spec.points * len(spec.seeds) * (plan.n if plan else 1)
    if n_runs > sweep.MAX_RUNS:
        raise ParamError("--posterior", args.posterior, f"{spec.points:,} points x {plan.n} draws x {len(spec.seeds)} "
                         f"seeds is more than the {sweep.MAX_RUNS:,} runs a sweep may hold; split it")
    common.memory_check(args, scenarios.load(spec.base).params.replace(spec.overrides), n_runs, monthly=False, held=0)
    t0 = time.perf_counter()
    with common.executor(args, n_runs) as ex:
        if not args.quiet:
            draws = f"{plan.n} posterior draws x " if plan else ""
            print(f"sweep {spec.path.name}: {spec.design}, {spec.points} points x {draws}{len(spec.seeds)} seeds "
                  f"= {n_runs} runs on {ex.describe()}; {common.bands_line(plan, len(spec.seeds))}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        info = sweep.run_sweep(spec, out, ex, resume=args.resume, progress=bar.update, plan=plan)
        bar.close()
    if not args.quiet:
        print(f"{info['runs_ok']} runs ok, {info['runs_failed']} failed, {time.perf_counter() - t0:.1f} s")
        for e in info["errors"][:3]:
            print(f"  {e['run']}: {e['error']}")
    print(f"results: {out}")
    failures = [(e["run"], e["error"]) for e in info["errors"]]
    return common.failures_exit(args, failures, n_runs, "the table")


def _design_folder(args: argparse.Namespace, spec) -> Path:
    """The folder of a sweep or sensitivity design: --out (to resume, or an interrupted set-up to reuse) or a
    new results/<kind>-<name>-... folder."""
    if args.resume:
        if not args.out:
            raise ParamError("--resume", True, f"needs --out, the folder of the {spec.kind} to continue")
        out = Path(args.out)  # a folder the design never got to create is simply started
        common.probe_parent(out if out.is_dir() else out.parent, "--out")
    elif args.out and Path(args.out).exists():
        out = Path(args.out)  # an interrupted set-up may be reused (check_folder says whether)
        common.probe_parent(out, "--out")
    else:
        out = common.out_folder(args, store.run_id(f"{spec.kind}-{spec.path.stem}", f"{spec.seeds[0]}-{spec.seeds[-1]}"))
    return out


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from ..analysis import sensitivity

    return _design_analysis(args, sensitivity, lambda spec: f"{spec.method}, {len(spec.factors)} factors",
                            _print_ranking)


def cmd_discover(args: argparse.Namespace) -> int:
    from ..analysis import discovery

    return _design_analysis(args, discovery, lambda spec: f"{spec.design}, {len(spec.factors)} factors, cases of "
                            f"interest: {spec.interest_text()}", _print_box)


def _design_analysis(args: argparse.Namespace, module, what, show) -> int:
    """sensitivity and discover: load the file, run its design as a sweep (resume, progress, one file a
    run), then the module's analysis, which needs every run."""
    from ..analysis import scenarios, sweep
    from ..runs.progress import ProgressLine

    spec = module.load_spec(args.file)
    out = _design_folder(args, spec)
    sweep.check_folder(spec, out, args.resume)
    n_runs = spec.points * len(spec.seeds)
    common.memory_check(args, scenarios.load(spec.base).params.replace(spec.overrides), n_runs, monthly=False, held=0)
    t0 = time.perf_counter()
    with common.executor(args, n_runs) as ex:
        if not args.quiet:
            print(f"{spec.kind} {spec.path.name}: {what(spec)}; {spec.points} design points x {len(spec.seeds)} "
                  f"seeds = {n_runs} runs on {ex.describe()}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        info = module.run(spec, out, ex, resume=args.resume, progress=bar.update)
        bar.close()
    if not args.quiet:
        print(f"{info['runs_ok']} runs ok, {info['runs_failed']} failed, {time.perf_counter() - t0:.1f} s")
        for e in info["errors"][:3]:
            print(f"  {e['run']}: {e['error']}")
        if info["analysis"]:
            show(spec, out)
        else:
            print("not analysed: the analysis needs every run; rerun with --resume to retry the failed ones")
    print(f"results: {out}")
    failures = [(e["run"], e["error"]) for e in info["errors"]]
    return common.failures_exit(args, failures, n_runs, "the run table (no analysis: it needs every run)")


def cmd_optimise(args: argparse.Namespace) -> int:
    from ..analysis import optimise, scenarios
    from ..runs.progress import ProgressLine

    spec = optimise.load_spec(args.file)
    if args.resume and not args.out:
        raise ParamError("--resume", True, "needs --out, the folder of the optimisation to continue")
    out = Path(args.out) if args.out else common.out_folder(
        args, store.run_id(f"optimisation-{spec.path.stem}", f"{spec.seeds[0]}-{spec.seeds[-1]}"))
    common.probe_parent(out if out.is_dir() else out.parent, "--out")
    plan = common.posterior_plan(args, spec.seeds[0], len(spec.seeds))
    optimise.check_folder(spec, out, args.resume, plan)
    runs_each = len(spec.seeds) * (plan.n if plan else 1)
    n_runs = (spec.population * spec.generations + 1) * runs_each
    common.memory_check(args, scenarios.load(spec.base).params.replace(spec.overrides), n_runs, monthly=False, held=0)
    t0 = time.perf_counter()
    with common.executor(args, n_runs) as ex:
        if not args.quiet:
            print(f"optimisation {spec.path.name}: {len(spec.levers)} levers, {spec.population} candidates x "
                  f"{spec.generations} generations + the historical mix, {runs_each} runs each = up to {n_runs} runs on "
                  f"{ex.describe()}; {common.bands_line(plan, len(spec.seeds))}; then the front and the historical "
                  f"mix on {spec.check_seeds} fresh {'draws' if plan else 'seeds'}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        info = optimise.run(spec, out, ex, resume=args.resume, plan=plan, progress=bar.update)
        bar.close()
    if not args.quiet:
        print(f"{info['candidates']} candidates, {info['front']} on the front, {len(info['errors'])} runs failed, "
              f"{time.perf_counter() - t0:.1f} s; report: {info['report']}")
    print(f"results: {out}")
    failures = [(e["run"], e["error"]) for e in info["errors"]]
    return common.failures_exit(args, failures, n_runs, "the front (candidates with a failed run are excluded)")


def _print_box(spec, out: Path) -> None:
    import pandas as pd

    from ..analysis.discovery import limit_text

    cases = pd.read_csv(out / "cases.csv")
    print(f"cases of interest: {int(cases.of_interest.sum())} of {len(cases)} points")
    if (out / "trajectory.csv").is_file() and (out / "box.csv").is_file():
        box = pd.read_csv(out / "box.csv")
        for _, r in box.iterrows():
            qp = min(x for x in (r.qp_low, r.qp_high) if x == x)
            print(f"  {r.factor}: {limit_text(r)} (quasi-p {qp:.2g})")
    print(f"report: {out / 'report.md'}")


def _print_ranking(spec, out: Path) -> None:
    import pandas as pd

    from ..analysis.sensitivity import main_index

    key = main_index(spec.method)
    t = pd.read_csv(out / "indices.csv")
    for o in spec.outputs:
        r = t[(t.output == o.name) & (t["index"] == key)].sort_values("value", ascending=False)
        top = ", ".join(f"{f} ({role}) {v:.3g}" for f, role, v in zip(r.factor, r.role, r.value))
        print(f"{o.name} [{key}]: {top}")


def cmd_sweep_plot(args: argparse.Namespace) -> int:
    from ..analysis import plots, sweep

    folder = Path(args.dir)
    sweep.require_complete(folder)
    for p in plots.sweep_figures(folder):
        print(p)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .. import resources
    from ..analysis import calibrate, targets
    from ..runs.progress import ProgressLine

    targets_path = Path(args.targets) if args.targets else targets.default_path()
    priors_path = Path(args.priors) if args.priors else calibrate.default_priors()
    loaded, priors = calibrate.load_targets(targets_path), calibrate.load_priors(priors_path)
    if args.refine:
        if args.quick:
            raise ParamError("--refine", "with --quick", "refines a finished calibration's point; leave out --quick")
        budget = REFINE_BUDGET if args.budget is None else args.budget
    else:
        budget = (80 if args.quick else FULL_BUDGET) if args.budget is None else args.budget
    if budget < 8:
        raise ParamError("--budget", budget, "must be at least 8 runs")
    common.workers_for(args, budget)
    if args.scheduler:
        from ..runs.executor import check_scheduler
        check_scheduler(args.scheduler)
    work = Path(args.work) if args.work else Path("results") / ("calibration-quick" if args.quick else
                                                                 "calibration-refine" if args.refine else "calibration")
    # a full calibration in the repository updates the shipped calibration (calibration/); elsewhere
    # (an installed package, --quick) it writes into its working folder
    shipped = resources.is_source_checkout() and not args.quick
    fitted = Path(args.fitted) if args.fitted else (resources.calibration_dir() / "fitted.toml" if shipped else
                                                     work / "fitted.toml")
    report = Path(args.report) if args.report else (resources.calibration_dir() / "report.md" if shipped else
                                                     work / "report.md")
    config = {"budget": budget, "quick": args.quick, "targets": targets_path.read_text(),
              "priors": priors_path.read_text()}
    if args.refine:
        if not fitted.is_file():
            raise ParamError("--fitted", str(fitted), "an existing fitted.toml to refine the point of")
        calibrate.read_fitted(fitted, priors)  # checked before anything is written
        calibrate.check_refine_budget(budget)
        config["refine"] = True
    common.probe_parent(work if work.is_dir() else work.parent, "--work")
    for path, key in ((fitted, "--fitted"), (report, "--report")):
        common.probe_parent(path.parent, key)
    resuming = (work / "config.json").is_file()
    if resuming:  # the same targets and priors; the budget may grow (the stored designs and runs are reused)
        held = store.read_json(work / "config.json", "--work config.json")
        if {**held, "budget": budget} != config:
            raise ParamError("--work", str(work), "holds a calibration with other settings; choose another --work")
        if held.get("budget", budget) > budget:
            raise ParamError("--budget", str(budget), f"at least the {held['budget']} runs of the calibration in "
                             f"{work} (a resumed search may only get more)")
    # the search's emulated stage runs in this process
    emulated = 0.0 if args.refine else common.memory.emulated_mb(
        calibrate.search_plan(priors, budget, args.quick)[1].emulated_max_proposals)
    common.memory_check(args, calibrate.calibration_params(priors), budget, monthly=True, held=0, extra_mb=emulated)
    with common.executor(args, budget) as ex:  # the executor is up (a scheduler answered) before anything is written
        store.write_json(work / "config.json", config)
        if not args.quiet:
            doing = f"refining the point of {fitted}" if args.refine else "calibrating"
            print(f"{doing}: {len(priors.parameters)} parameters, {sum(t.role == 'fit' for t in loaded)} fitted targets, "
                  f"budget {budget} runs, {ex.describe()}{' (resuming)' if resuming else ''}")
        bar = ProgressLine("runs", enabled=None if not args.quiet else False)
        if args.refine:
            out = calibrate.refine_shipped(targets_path, priors_path, work, fitted, report, ex, budget,
                                           progress=bar.update)
            bar.close()
            m = out["meta"]
            if not args.quiet:
                print(f"worst fitted-target score (at most 1: every fitted target met): search's point "
                      f"{m['refine_score_start']} -> {m['refine_score']} over {m['refine_points']} points; on "
                      f"{m['refine_seeds']} check seeds {m['refine_check_start']} -> {m['refine_check']}: "
                      + ("refined point adopted" if m["refine_adopted"] else "search's point kept"))
            print(f"fitted: {fitted}\nreport: {report}")
            return common.failures_exit(args, out["failures"], m["refine_runs"], "the refinement")
        out = calibrate.run_calibration(targets_path, priors_path, work, fitted, report, ex, budget, args.quick,
                                        progress=bar.update)
        bar.close()
    if not args.quiet:
        print("parameter                            baseline     median        5 %       95 %")
        for r in out["rows"]:
            print(f"{r['key']:<36} {r['point']:>10.4g} {r['median']:>10.4g} {r['p05']:>10.4g} {r['p95']:>10.4g}")
        print(f"{out['meta']['runs']} runs in {out['meta']['minutes']} minutes")
    print(f"fitted: {fitted}\nreport: {report}")
    return common.failures_exit(args, out.get("failures", []), out["meta"]["runs"], "the calibration")


FULL_BUDGET = 27_800  # history matching, ABC-SMC until it converges or this is spent, the posterior check, the point (ODD 3.6)
REFINE_BUDGET = 1_216  # --refine: 150 points on 8 seeds and the check of two points on 8 more


def add_parsers(sub) -> None:
    sw = sub.add_parser("sweep", help="a batch parameter sweep (grid, Latin hypercube or Sobol) on Dask")
    sw.add_argument("file", help="sweep file (experiments/sweeps/*.toml)")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out, running only what is missing")
    sw.add_argument("--out", help="sweep folder (default results/sweep-<name>-...)")
    common.add_posterior_options(sw)
    common.add_executor_options(sw)
    common.add_figure_options(sw)
    sw.set_defaults(func=cmd_sweep)

    sp = sub.add_parser("sweep-plot", help="redraw a finished sweep's figures from its stored results")
    sp.add_argument("dir", help="the sweep folder")
    common.add_figure_options(sp)
    sp.set_defaults(func=cmd_sweep_plot)

    for name, func, helptext, kind, posterior in (
            ("sensitivity", cmd_sensitivity, "global sensitivity (Morris screening or Sobol indices, SALib) of chosen "
             "outputs to policy levers and uncertain parameters", "sensitivity", False),
            ("discover", cmd_discover, "scenario discovery: PRIM boxes (EMA workbench) for an outcome of interest over "
             "policy levers and uncertain parameters", "discovery", False),
            ("optimise", cmd_optimise, "the policy mix that does best under a public budget (NSGA-II, pymoo), "
             "optionally robust over posterior draws", "optimisation", True)):
        d = sub.add_parser(name, help=helptext)
        d.add_argument("file", help=f"{kind} file (experiments/{'optimise' if name == 'optimise' else kind}/*.toml)")
        d.add_argument("--resume", action="store_true", help="continue the work in --out, running only what is missing")
        d.add_argument("--out", help=f"result folder (default results/{kind}-<name>-...)")
        if posterior:
            common.add_posterior_options(d)
        common.add_executor_options(d)
        common.add_figure_options(d)
        d.set_defaults(func=func)

    ca = sub.add_parser("calibrate", help="fit the model to the reported Zhejiang outcomes (history matching + ABC)")
    ca.add_argument("--budget", type=int, help=f"model runs to spend (default {FULL_BUDGET}; --quick: 80)")
    ca.add_argument("--quick", action="store_true", help="a small budget at a tiny scale: every step, for CI; writes "
                    "its fitted.toml and report into --work, not calibration/")
    ca.add_argument("--refine", action="store_true", help="refine the point of the finished calibration in --fitted "
                    "(default calibration/fitted.toml) without repeating the search: a local search on validate's "
                    f"rule (default budget {REFINE_BUDGET} runs); rewrites fitted.toml's point and the report's section "
                    "on it")
    ca.add_argument("--work", help="working folder of the runs (default results/calibration); rerun to resume")
    ca.add_argument("--fitted", help="where to write fitted.toml (default calibration/fitted.toml)")
    ca.add_argument("--report", help="where to write the report (default calibration/report.md)")
    ca.add_argument("--targets", help="targets file (default: the shipped calibration/targets.toml)")
    ca.add_argument("--priors", help="calibrated parameters and priors (default: the shipped calibration/priors.toml)")
    common.add_executor_options(ca)
    common.add_figure_options(ca)
    ca.set_defaults(func=cmd_calibrate)


__all__ = ["add_parsers", "cmd_sweep", "cmd_sweep_plot", "cmd_sensitivity", "cmd_discover", "cmd_optimise", "cmd_calibrate", "json"]
