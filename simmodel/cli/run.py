"""`simmodel run`, `compare`, `contributions` and `validate`: scenarios on seeds, through one executor."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from ..params import START_MONTH, ParamError, last_complete_year, part_year_note, resolve_key
from ..runs import store
from . import common


# compare's default: the fewest runs from which a 5-95 % band is drawn (analysis/stats.MIN_BAND_RUNS says why;
# a test checks they agree)
COMPARE_SEEDS = 10


def _runs_manifest(planned: int, failures: list, allow: bool) -> dict:
    return {"planned": planned, "ok": planned - len(failures), "failed": len(failures), "allow_failures": allow,
            "failures": [{"run": k, "error": e} for k, e in failures]}


def cmd_run(args: argparse.Namespace) -> int:
    from ..analysis import experiments
    from ..analysis.posterior import design_phrase
    from ..analysis.stats import band_note, has_band
    from ..runs.progress import ProgressLine

    lo = common.load(args.scenario, args)  # named as changed when --set changes it or it is one's own file
    name, params, question = lo.label, lo.params, lo.question
    seeds, plan = common.run_seeds(args)  # with --posterior N: N x --seeds runs, each draw on its own seeds
    per_draw, drawn_keys = common.drawn(args.scenario, args, plan) if plan else (None, None)
    out = common.out_folder(args, store.run_id(name, seeds[0] if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"))
    common.memory_check(args, params, len(seeds))
    if plan:
        common.posterior_note(args, name, plan, drawn_keys)
    extra = {"posterior": {**plan.manifest(), "drawn_keys": drawn_keys}} if plan else {}
    named = lo.manifest()
    named.pop("scenario")
    t0 = time.perf_counter()
    with common.executor(args, len(seeds)) as ex, store.atomic_dir(out) as tmp:
        what = design_phrase(plan.n, args.seeds) if plan else f"{len(seeds)} run{'s' if len(seeds) > 1 else ''}"
        bar = ProgressLine(f"{name}: {what}", enabled=None if not args.quiet else False)
        if len(seeds) == 1:  # one run: show its months
            bar.label = f"{name} seed {seeds[0]}"
        batch, summary = experiments.replicate(name, per_draw or params, seeds, ex, tmp, progress=bar.update,
                                               draw_of=dict((s, d) for d, s in plan.runs()) if plan else None)
        bar.close()
        store.write_json(tmp / "manifest.json", store.manifest(
            "run", run_id=out.name, scenario=lo.name, **named, question=question, seeds=seeds, executor=ex.describe(),
            agents=common.memory.agents(params), changed=params.changed(), params=params.nested(),
            runs=_runs_manifest(len(seeds), batch.failures, args.allow_failures),
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)}, **extra,
        ))
    ok = len(seeds) - len(batch.failures)
    if not args.quiet:
        common.part_year_note(params)
        if 1 < len(seeds) and not has_band(len(seeds)):
            print(f"simmodel: note: {band_note(len(seeds))}; the figures show means only", file=sys.stderr)
        if lo.describe():
            print(lo.describe())
        if plan:
            band = f" (means over {common.runs_line(ok, len(seeds))} runs; {plan.phrase(checked=True)})"
            print(f"{name}: {design_phrase(plan.n, args.seeds)} (seeds {seeds[0]}..{seeds[-1]}), scale "
                  f"{params['run.scale']}, {common.memory.agents(params):,} firm agents, to {params['run.end']}, "
                  f"{batch.seconds:.1f} s{band}")
        else:
            bands = common.bands_line(None, len(seeds), checked=True, moved=common.overrides(args))
            band = "" if len(seeds) == 1 else f" (means over {common.runs_line(ok, len(seeds))} seeds; {bands})"
            print(f"{name}: seeds {seeds[0]}..{seeds[-1]}, scale {params['run.scale']}, "
                  f"{common.memory.agents(params):,} firm agents, to {params['run.end']}, {batch.seconds:.1f} s{band}")
        print(common.yearly_table(summary))
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures, len(seeds), "the result")


def check_years(years: list[int] | None, loaded) -> list[int] | None:
    """--year: complete years of the run (2013 to the last year every scenario's run.end covers whole,
    params.last_complete_year), sorted, once each; a one-line ParamError otherwise (before anything is written).
    None: the last year of the run, or the last complete one if the run ends before a December (None as well if it
    covers no complete year: then its one year is cut short, and the caller says so)."""
    first = int(START_MONTH[:4])
    last = min(last_complete_year(lo.params["run.end"]) for lo in loaded)
    if not years:
        cut = any(part_year_note(lo.params["run.end"]) for lo in loaded)
        return [last] if cut and last >= first else None
    for y in years:
        if not first <= y <= last:
            raise ParamError("--year", y, f"must be a complete year of the run, {first}-{last} (--end sets the last)")
    return sorted(set(years))


def _compare(args: argparse.Namespace, refs: list[str], label: str, extra=None, extra_runs: int = 0):
    """Run scenarios ``refs`` on common random numbers into the output folder (the first is the
    reference); ``extra(tmp, loaded, seeds, tables, executor)`` may add files (and run ``extra_runs`` more runs on
    the executor) before the folder is complete, and return what the manifest should record of them."""
    from ..analysis import experiments
    from ..analysis.posterior import design_phrase
    from ..analysis.stats import MIN_BAND_RUNS, band_note, has_band
    from ..runs.progress import ProgressLine

    if len(refs) < 2:
        raise ParamError("scenarios", refs, "name at least two scenarios (the first is the reference)")
    loaded = [common.load(ref, args) for ref in refs]
    names = [lo.name for lo in loaded]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ParamError("scenarios", dup, "each scenario may appear once")
    chosen = bool(getattr(args, "year", None))
    years = check_years(getattr(args, "year", None), loaded)
    seeds, plan = common.run_seeds(args)  # with --posterior N: the same N draws x --seeds seeds for every scenario
    drawn = [common.drawn(ref, args, plan) for ref in refs] if plan else None
    sets = {resolve_key(k, v).key: v for k, v in common.overrides(args).items()}
    sets = {k: v for k, v in sets.items() if k not in common.RUN_KEYS}
    if sets:  # --set changes every scenario: the folder says so
        label += "+set-" + common.label_of("x", sets, False, True).split("-", 1)[1]
    out = common.out_folder(args, store.run_id(label, f"{seeds[0]}-{seeds[-1]}"))
    n_tasks = len(loaded) * len(seeds)
    common.memory_check(args, loaded[0].params, n_tasks + extra_runs, monthly=False)
    scen_manifest = [{"name": lo.name, "question": lo.question, "changed": lo.params.changed(),
                      **{k: v for k, v in lo.manifest().items() if k != "scenario"}} for lo in loaded]
    extra_manifest = {"years": years or "last", "set": sets}
    if plan:
        for lo, entry, (_, keys) in zip(loaded, scen_manifest, drawn):
            entry["drawn_keys"] = keys
            common.posterior_note(args, lo.name, plan, keys)
        extra_manifest["posterior"] = plan.manifest()
    if not args.quiet:
        common.part_year_note(loaded[0].params)
        if sets:
            print("every scenario runs with --set " + ", ".join(f"{k}={v!r}" for k, v in sets.items()))
        for lo in loaded:
            if lo.custom_file:
                print(lo.describe())
    t0 = time.perf_counter()
    with common.executor(args, n_tasks + extra_runs) as ex, store.atomic_dir(out) as tmp:
        what = design_phrase(plan.n, args.seeds) if plan else f"{len(seeds)} seeds"
        bar = ProgressLine(f"{label}: {len(loaded)} scenarios x {what}", enabled=None if not args.quiet else False)
        runs = [(lo.name, drawn[i][0] if plan else lo.params) for i, lo in enumerate(loaded)]
        batch, tables = experiments.compare(runs, seeds, ex, tmp, progress=bar.update,
                                            draw_of=dict((s, d) for d, s in plan.runs()) if plan else None,
                                            years=years)
        bar.close()
        experiments.report(tmp, [(lo.name, lo.question) for lo in loaded], seeds, tables, batch,
                           draws=plan.n if plan else None, years_chosen=chosen, sets=sets)
        if extra:
            extra_manifest.update(extra(tmp, loaded, seeds, tables, ex) or {})
        store.write_json(tmp / "manifest.json", store.manifest(
            "compare", run_id=out.name, scenarios=scen_manifest,
            seeds=seeds, executor=ex.describe(), runs=_runs_manifest(n_tasks, batch.failures, args.allow_failures),
            timings={"runs_s": round(batch.seconds, 3), "total_s": round(time.perf_counter() - t0, 3)},
            **extra_manifest,
        ))
    if not args.quiet:
        if not has_band(len(seeds)):
            need = -(-MIN_BAND_RUNS // plan.n) if plan else MIN_BAND_RUNS
            print(f"simmodel: note: {band_note(len(seeds))} per scenario: tables and figures show means only "
                  f"(--seeds {need} or more for bands)", file=sys.stderr)
        what = design_phrase(plan.n, args.seeds) if plan else f"{len(seeds)} seeds"
        print(f"{len(loaded)} scenarios x {what} ({common.runs_line(n_tasks - len(batch.failures), n_tasks)} "
              f"runs) in {batch.seconds:.1f} s; {common.bands_line(plan, args.seeds, checked=True, moved=sets)}; "
              f"report: {out / 'report.md'}")
    return out, loaded, seeds, tables, batch


def cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis import experiments

    names = args.scenarios
    label = "compare-" + "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(n).stem) for n in names)[:60]
    out, loaded, seeds, tables, batch = _compare(args, names, label)
    if not args.quiet:
        print("\n".join(experiments.summary_lines(tables, loaded[0].name, bool(args.year))))
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures, len(loaded) * len(seeds), "the comparison")


def cmd_contributions(args: argparse.Namespace) -> int:
    from ..analysis import contributions, experiments, plots
    from ..analysis.posterior import design_phrase
    from ..analysis.stats import has_band

    spec = contributions.load(args.file)
    doc = Path(args.doc) if args.doc else None
    if doc is not None:
        common.probe_parent(doc.parent, "--doc")
        if doc.is_dir():
            raise ParamError("--doc", str(doc), "is a directory: must be the markdown file to write")
        if (doc.parent / "img").exists() and not (doc.parent / "img").is_dir():
            raise ParamError("--doc", str(doc), f"its figure goes to {doc.parent / 'img'}, which is a file")
    also = args.also_posterior
    if also is not None:
        if args.posterior is not None:
            raise ParamError("--also-posterior", also, "cannot go with --posterior: the table is then over the "
                             "posterior already")
        if also < 2:
            raise ParamError("--also-posterior", also, "must be at least 2 (posterior draws, one seed each)")
        also = common.posterior_plan(args, args.seed, 1, n=also)  # read and checked before anything is written
    names = [spec.reference, *(i.scenario for i in spec.instruments)]
    command = "simmodel contributions" + "".join(
        f" {flag} {value}" for flag, value in (("--seeds", args.seeds), ("--scale", args.scale),
                                               ("--posterior", args.posterior),
                                               ("--also-posterior", args.also_posterior),
                                               ("--posterior-file", args.posterior_file), ("--doc", args.doc))
        if value is not None)
    written = {"failures": []}

    def over_posterior(tmp, loaded, year, ex):
        """The same scenarios on the posterior draws (one seed each), into posterior/: the contributions there."""
        from ..runs.progress import ProgressLine

        t0 = time.perf_counter()
        bar = ProgressLine(f"contributions over the posterior: {len(loaded)} scenarios x {also.n} draws",
                           enabled=None if not args.quiet else False)
        runs = []
        for name, lo in zip(names, loaded):
            params, keys = common.drawn(name, args, also)
            common.posterior_note(args, lo.name, also, keys)
            runs.append((lo.name, params))
        batch, tables = experiments.compare(runs, also.all_seeds(), ex, tmp / "posterior", progress=bar.update,
                                            draw_of=dict((s, d) for d, s in also.runs()), years=[year])
        bar.close()
        experiments.report(tmp / "posterior", [(lo.name, lo.question) for lo in loaded], also.all_seeds(), tables,
                           batch, draws=also.n)
        written["failures"] += batch.failures
        planned = len(loaded) * also.n
        written["also_posterior"] = {"folder": "posterior", **also.manifest(),
                                     "runs": _runs_manifest(planned, batch.failures, args.allow_failures),
                                     "timings": {"runs_s": round(batch.seconds, 3),
                                                 "total_s": round(time.perf_counter() - t0, 3)}}
        store.write_json(tmp / "posterior" / "manifest.json", store.manifest(
            "compare", scenarios=[lo.name for lo in loaded], seeds=also.all_seeds(), posterior=also.manifest(),
            runs=written["also_posterior"]["runs"]))
        table = contributions.table(spec, tables["effects"], year)
        experiments.write_summary(table, tmp / "contributions_posterior.csv")
        if not args.quiet:
            print(f"{len(loaded)} scenarios x {design_phrase(also.n, 1)} "
                  f"({common.runs_line(planned - len(batch.failures), planned)} runs) in {batch.seconds:.1f} s: "
                  "posterior/ in the result folder")
        return table

    def extra(tmp, loaded, seeds, tables, ex):
        git = store.git_commit()
        commit = git["commit"] and git["commit"][:12] + (" with uncommitted changes" if git["dirty"] else "")
        year = int(tables["years"][-1])
        table = contributions.table(spec, tables["effects"], year)
        experiments.write_summary(table, tmp / "contributions.csv")
        ref = spec.reference
        plots.effect_bars(contributions.bars(spec, table), tmp / "figures" / "contributions.png",
                          f"Contribution of each instrument to {year} outcomes, what it adds: {ref} minus the "
                          f"scenario without it (for an instrument added to {ref}: the scenario minus {ref})",
                          tables["runs"], over=design_phrase(args.posterior, args.seeds)
                          if args.posterior else None,
                          interval=f"{contributions.percent(contributions.level(spec))} interval of the mean "
                          "(simultaneous over the claims)")

        posterior = (over_posterior(tmp, loaded, year, ex), also.n) if also else None

        def text(figure):
            return contributions.markdown(spec, table, seeds, loaded[0].params["run.scale"], year, command, commit,
                                          figure, draws=args.posterior, moved=common.overrides(args),
                                          posterior=posterior)

        store.write_text(tmp / "contributions.md", text("figures/contributions.png"))
        written["text"] = text("img/contributions.png")
        if not args.quiet:
            print(f"contribution of each instrument to firms at stage >= 1 in {year}: what it adds ({ref} minus the "
                  f"scenario without it; for one added to {ref}, that scenario minus {ref}); positive: it added firms")
            at = contributions.percent(contributions.level(spec))

            def show(contributed, banded):
                for row in contributions.rows(spec, contributed):
                    r, (lo, hi) = row["bands"]["firms_stage_1plus"], row["interval"]
                    runs = f"runs 5-95 % [{r.p05:+8,.0f}, {r.p95:+8,.0f}]; " if banded else ""
                    print(f"  {row['instrument'].scenario:<22} {r['mean']:+8,.0f} ({runs}mean {at} "
                          f"[{lo:+8,.0f}, {hi:+8,.0f}])  {row['verdict']}")
            show(table, has_band(tables["runs"]))
            if posterior:
                print(f"over {also.n} posterior draws (one seed each; the interval over the draws):")
                show(posterior[0], False)
        return {"also_posterior": written["also_posterior"]} if also else None

    out, loaded, seeds, tables, batch = _compare(args, names, "contributions", extra,
                                                 extra_runs=len(names) * also.n if also else 0)
    if doc is not None:
        store.write_text(doc, written["text"])
        store.write_bytes(doc.parent / "img" / "contributions.png",
                          (out / "figures" / "contributions.png").read_bytes())
        print(f"table: {doc}")
    print(f"results: {out}")
    return common.failures_exit(args, batch.failures + written["failures"],
                                len(loaded) * (len(seeds) + (also.n if also else 0)), "the table")


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
    common.add_figure_options(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="run scenarios on common random numbers and compare each to the first")
    c.add_argument("scenarios", nargs="+", help="scenario names or TOML files; the first is the reference")
    c.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    c.add_argument("--out", help="result folder (default results/<run-id>)")
    c.add_argument("--year", type=int, nargs="+", metavar="YEAR",
                   help="the years of the tables and the printed summary, e.g. --year 2016 2020 (default: the last "
                   "complete year of the run)")
    common.add_run_options(c, seeds_default=COMPARE_SEEDS)
    common.add_figure_options(c)
    c.set_defaults(func=cmd_compare)

    co = sub.add_parser("contributions", help="what each instrument contributed: the reference and every "
                        "instrument's scenario on common random numbers (docs/contributions.md)")
    co.add_argument("--file", help="instruments file (default: the shipped experiments/contributions.toml)")
    co.add_argument("--doc", help="also write the table here, its figure in img/ beside it "
                    "(e.g. docs/contributions.md)")
    co.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    co.add_argument("--out", help="result folder (default results/<run-id>)")
    common.add_run_options(co, seeds_default=20)
    co.add_argument("--also-posterior", type=int, metavar="N",
                    help="also read every verdict over N draws from the calibration posterior, one seed each (the "
                    "table stays the calibrated point's; the document gains a section comparing the two)")
    common.add_figure_options(co)
    co.set_defaults(func=cmd_contributions)

    va = sub.add_parser("validate", help="run a scenario (default baseline) over seeds against every target; "
                        "exit 1 if a fitted or check target is missed")
    va.add_argument("--scenario", help="scenario name or TOML file (default baseline)")
    va.add_argument("--end", help=argparse.SUPPRESS)
    va.add_argument("--targets", help="targets file (default: the shipped calibration/targets.toml)")
    common.add_run_options(va, seeds_default=validation_seeds(), posterior=False)  # validate: the calibrated point
    va.set_defaults(func=cmd_validate)
