"""`simmodel run`, `compare`, `contributions` and `validate`: scenarios on seeds, through one executor."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..params import ParamError
from ..runs import store
from . import common


def _runs_manifest(planned: int, failures: list, allow: bool) -> dict:
    return {"planned": planned, "ok": planned - len(failures), "failed": len(failures), "allow_failures": allow,
            "failures": [{"run": k, "error": e} for k, e in failures]}


def cmd_run(args: argparse.Namespace) -> int:
    from ..analysis import experiments
    from ..runs.progress import ProgressLine

    name, params, question = common.scenario(args.scenario, args)
    seeds, plan = common.run_seeds(args)  # with --posterior N: N x --seeds runs, each draw on its own seeds
    per_draw, drawn_keys = common.drawn(args.scenario, args, plan) if plan else (None, None)
    out = common.out_folder(args, store.run_id(name, seeds[0] if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"))
    common.memory_check(args, params, len(seeds))
    if plan:
        common.posterior_note(args, name, plan, drawn_keys)
    extra = {"posterior": {**plan.manifest(), "drawn_keys": drawn_keys}} if plan else {}
    t0 = time.perf_counter()
    with common.executor(args, len(seeds)) as ex, store.atomic_dir(out) as tmp:
        what = f"{plan.n} draws x {args.seeds} seeds" if plan else f"{len(seeds)} run{'s' if len(seeds) > 1 else ''}"
        bar = ProgressLine(f"{name}: {what}", enabled=None if not args.quiet else False)
        if len(seeds) == 1:  # one run: show its months
            bar.label = f"{name} seed {seeds[0]}"
        batch, summary = experiments.replicate(name, per_draw or params, seeds, ex, tmp, progress=bar.update,
                                               draw_of=dict((s, d) for d, s in plan.runs()) if plan else None)
        bar.close()
        store.write_json(tmp / "manifest.json", store.manifest(
            "run", run_id=out.name, scenario=name, question=question, seeds=seeds, executor=ex.describe(),
            agents=common.memory.agents(params), changed=params.changed(), params=params.nested(),
            runs=_runs_manifest(len(seeds), batch.failures, args.allow_failures),
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)}, **extra,
        ))
    ok = len(seeds) - len(batch.failures)
    if not args.quiet:
        if plan:
            band = f" (means over {common.runs_line(ok, len(seeds))} runs; {plan.phrase()})"
            print(f"{name}: {plan.n} posterior draws x {args.seeds} seeds (seeds {seeds[0]}..{seeds[-1]}), scale "
                  f"{params['run.scale']}, {common.memory.agents(params):,} firm agents, to {params['run.end']}, "
                  f"{batch.seconds:.1f} s{band}")
        else:
            band = "" if len(seeds) == 1 else (f" (means over {common.runs_line(ok, len(seeds))} seeds; "
                                               f"{common.bands_line(None, len(seeds))})")
            print(f"{name}: seeds {seeds[0]}..{seeds[-1]}, scale {params['run.scale']}, "
                  f"{common.memory.agents(params):,} firm agents, to {params['run.end']}, {batch.seconds:.1f} s{band}")
        print(common.yearly_table(summary))
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures, len(seeds), "the result")


def _compare(args: argparse.Namespace, refs: list[str], label: str, extra=None):
    """Run scenarios ``refs`` on common random numbers into the output folder (the first is the
    reference); ``extra(tmp, loaded, seeds, tables)`` may add files before the folder is complete."""
    from ..analysis import experiments
    from ..runs.progress import ProgressLine

    if len(refs) < 2:
        raise ParamError("scenarios", refs, "name at least two scenarios (the first is the reference)")
    loaded = [common.scenario(ref, args) for ref in refs]
    names = [n for n, _, _ in loaded]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ParamError("scenarios", dup, "each scenario may appear once")
    seeds, plan = common.run_seeds(args)  # with --posterior N: the same N draws x --seeds seeds for every scenario
    drawn = [common.drawn(ref, args, plan) for ref in refs] if plan else None
    out = common.out_folder(args, store.run_id(label, f"{seeds[0]}-{seeds[-1]}"))
    n_tasks = len(loaded) * len(seeds)
    common.memory_check(args, loaded[0][1], n_tasks, monthly=False)
    scen_manifest = [{"name": n, "question": q, "changed": p.changed()} for n, p, q in loaded]
    extra_manifest = {}
    if plan:
        for (n, _, _), entry, (_, keys) in zip(loaded, scen_manifest, drawn):
            entry["drawn_keys"] = keys
            common.posterior_note(args, n, plan, keys)
        extra_manifest["posterior"] = plan.manifest()
    t0 = time.perf_counter()
    with common.executor(args, n_tasks) as ex, store.atomic_dir(out) as tmp:
        what = f"{plan.n} draws x {args.seeds} seeds" if plan else f"{len(seeds)} seeds"
        bar = ProgressLine(f"{label}: {len(loaded)} scenarios x {what}", enabled=None if not args.quiet else False)
        runs = [(n, drawn[i][0] if plan else p) for i, (n, p, _) in enumerate(loaded)]
        batch, tables = experiments.compare(runs, seeds, ex, tmp, progress=bar.update,
                                            draw_of=dict((s, d) for d, s in plan.runs()) if plan else None)
        bar.close()
        experiments.report(tmp, [(n, q) for n, _, q in loaded], seeds, tables, batch, draws=plan.n if plan else None)
        if extra:
            extra(tmp, loaded, seeds, tables)
        store.write_json(tmp / "manifest.json", store.manifest(
            "compare", run_id=out.name, scenarios=scen_manifest,
            seeds=seeds, executor=ex.describe(), runs=_runs_manifest(n_tasks, batch.failures, args.allow_failures),
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)},
            **extra_manifest,
        ))
    if not args.quiet:
        what = f"{plan.n} posterior draws x {args.seeds} seeds" if plan else f"{len(seeds)} seeds"
        print(f"{len(loaded)} scenarios x {what} ({common.runs_line(n_tasks - len(batch.failures), n_tasks)} "
              f"runs) in {batch.seconds:.1f} s; {common.bands_line(plan, args.seeds)}; report: {out / 'report.md'}")
    return out, loaded, seeds, tables, batch


def cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis import experiments

    names = args.scenarios
    label = "compare-" + "-".join(Path(n).stem for n in names)[:60]
    out, loaded, seeds, tables, batch = _compare(args, names, label)
    if not args.quiet:
        c = tables["contributions"]
        print(f"contribution to {tables['year']} ({loaded[0][0]} minus scenario), mean [5 %, 95 %]:")
        for name, *_ in loaded[1:]:
            cells = [f"{m}: {experiments._fmt(r['mean'])} [{experiments._fmt(r.p05)}, {experiments._fmt(r.p95)}]"
                     for m in experiments.CONTRIBUTION_METRICS
                     for r in [c[(c.scenario == name) & (c.metric == m)].iloc[0]]]  # raw units: firms, yuan
            print(f"  {name}: " + "; ".join(cells))
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures, len(loaded) * len(seeds), "the comparison")


def cmd_contributions(args: argparse.Namespace) -> int:
    from ..analysis import contributions

    spec = contributions.load(args.file)
    doc = Path(args.doc) if args.doc else None
    if doc is not None:
        common.probe_parent(doc.parent, "--doc")
    command = "simmodel contributions" + "".join(
        f" {flag} {value}" for flag, value in (("--seeds", args.seeds), ("--scale", args.scale),
                                               ("--posterior", args.posterior),
                                               ("--posterior-file", args.posterior_file), ("--doc", args.doc))
        if value is not None)
    written = {}

    def extra(tmp, loaded, seeds, tables):
        git = store.git_commit()
        commit = git["commit"] and git["commit"][:12] + (" with uncommitted changes" if git["dirty"] else "")

        def text(figure):
            return contributions.markdown(spec, tables["contributions"], seeds, loaded[0][1]["run.scale"],
                                          int(tables["year"]), command, commit, figure, draws=args.posterior)

        store.write_text(tmp / "contributions.md", text("figures/contributions.png"))
        written["text"] = text("img/contributions.png")
        if not args.quiet:
            for row in contributions.rows(spec, tables["contributions"]):
                r, (lo, hi) = row["bands"]["firms_stage_1plus"], row["interval"]
                print(f"  {row['instrument'].scenario:<22} firms at stage >= 1: {r['mean']:+8,.0f} "
                      f"(runs 5-95 % [{r.p05:+8,.0f}, {r.p95:+8,.0f}]; mean 95 % [{lo:+8,.0f}, {hi:+8,.0f}])  "
                      f"{row['verdict']}")

    out, loaded, seeds, tables, batch = _compare(args, [spec.reference, *(i.scenario for i in spec.instruments)],
                                                 "contributions", extra)
    if doc is not None:
        store.write_text(doc, written["text"])
        store.write_bytes(doc.parent / "img" / "contributions.png",
                          (out / "figures" / "contributions.png").read_bytes())
        print(f"table: {doc}")
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures, len(loaded) * len(seeds), "the table")


def cmd_validate(args: argparse.Namespace) -> int:
    from ..analysis import validation
    from ..analysis.targets import load_targets
    from ..params import month_index
    from ..runs.progress import ProgressLine

    targets = load_targets(Path(args.targets) if args.targets else None)
    name, params, _ = common.scenario(args.scenario, args)
    last = validation.last_year(targets)
    if month_index(params["run.end"]) < month_index(f"{last}-12"):
        raise ParamError("--end", params["run.end"], f"validate needs the targets' years: run to {last}-12 at least")
    seeds = common.seeds(args)
    common.memory_check(args, params, len(seeds))
    with common.executor(args, len(seeds)) as ex:
        bar = ProgressLine(f"validate {name}", enabled=None if not args.quiet else False)
        values, failures = validation.simulate(params, seeds, targets, ex, progress=bar.update)
        bar.close()
    if len(failures) == len(seeds):
        print(f"simmodel: every run failed (first: {failures[0][1]})", file=sys.stderr)
        return common.EXIT_RUNS_FAILED
    rows = validation.table(targets, values)
    print(f"{name}: {common.runs_line(len(seeds) - len(failures), len(seeds))} seeds, scale {params['run.scale']}; "
          "a figure is met when the median over seeds is within its tolerance, 2 x sqrt(sd_obs^2 + sd_model^2); "
          "a bound (>=, <=) is met or missed")
    print("\n".join(validation.lines(rows)))
    missed = [r for r in rows if r.counts and not r.met]
    fit_missed = sum(r.target.role == "fit" for r in missed)
    print(f"{fit_missed} fitted and {len(missed) - fit_missed} check target{'s' if len(missed) != 1 else ''} missed: "
          + ", ".join(r.target.name for r in missed) if missed else "every fitted and check target met")
    failed = common.failures_exit(args, failures, len(seeds), "the table")
    return failed or (1 if missed else 0)


def validation_seeds() -> int:
    from ..analysis.validation import DEFAULT_SEEDS

    return DEFAULT_SEEDS


def add_parsers(sub) -> None:
    r = sub.add_parser("run", help="run a scenario (default: baseline) on one or more seeds; write results/<run-id>/")
    r.add_argument("--scenario", help="scenario name (see `simmodel scenarios`) or TOML file")
    r.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    r.add_argument("--out", help="result folder (default results/<run-id>)")
    common.add_run_options(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="run scenarios on common random numbers and compare each to the first")
    c.add_argument("scenarios", nargs="+", help="scenario names or TOML files; the first is the reference")
    c.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    c.add_argument("--out", help="result folder (default results/<run-id>)")
    common.add_run_options(c)
    c.set_defaults(func=cmd_compare)

    co = sub.add_parser("contributions", help="what each instrument contributed: the reference and every "
                        "instrument's scenario on common random numbers (docs/contributions.md)")
    co.add_argument("--file", help="instruments file (default: the shipped experiments/contributions.toml)")
    co.add_argument("--doc", help="also write the table here, its figure in img/ beside it "
                    "(e.g. docs/contributions.md)")
    co.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    co.add_argument("--out", help="result folder (default results/<run-id>)")
    common.add_run_options(co, seeds_default=20)
    co.set_defaults(func=cmd_contributions)

    va = sub.add_parser("validate", help="run a scenario (default baseline) over seeds against every target; "
                        "exit 1 if a fitted or check target is missed")
    va.add_argument("--scenario", help="scenario name or TOML file (default baseline)")
    va.add_argument("--end", help=argparse.SUPPRESS)
    va.add_argument("--targets", help="targets file (default: the shipped calibration/targets.toml)")
    common.add_run_options(va, seeds_default=validation_seeds(), posterior=False)  # validate: the calibrated point
    va.set_defaults(func=cmd_validate)
