"""Scenario experiments: replications over seeds and comparisons on common random numbers.

Both run through an executor (executor.py) and stream each run's rows to disk as it finishes;
summaries are computed from the files afterwards. Everything is written inside a temporary folder
that becomes the result folder only when complete (store.atomic_dir), so Ctrl-C leaves nothing
half-written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..params import Params
from ..runs import store
from ..runs.executor import Executor, Outcome, Task
from . import plots
from .posterior import bands_phrase, design_phrase
from .stats import (BOOTSTRAP_DRAWS, MIN_BAND_RUNS, band_note, band_rows, bootstrap_ratio, covers_zero, has_band,
                    mean_sd, mean_se, se_interval, t_interval)

Progress = Callable[[int, int, str], None]


class RunsFailed(Exception):
    """Every run of a batch failed: there is nothing to summarise."""


@dataclass
class Batch:
    """What a batch of runs produced: outcomes that failed, and timings."""

    runs: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (task key, error)
    seconds: float = 0.0


def run_batch(tasks: list[Task], executor: Executor, sink: Callable[[Outcome], None],
              progress: Progress | None = None) -> Batch:
    """Run ``tasks`` on ``executor``, handing each outcome to ``sink`` as it finishes."""
    batch, t0 = Batch(), time.perf_counter()
    for i, outcome in enumerate(executor.map(tasks), 1):
        if outcome.ok:
            sink(outcome)
        else:
            batch.failures.append((outcome.task.key, outcome.error or ""))
        batch.runs = i
        if progress:
            progress(i, len(tasks), f"{len(batch.failures)} failed" if batch.failures else "")
    batch.seconds = time.perf_counter() - t0
    return batch


def summarise(yearly: pd.DataFrame) -> pd.DataFrame:
    """Mean, median and 5-95 % band over seeds per (period, region, sector, indicator), in file order."""
    keys = ["period", "region", "sector", "indicator"]
    code = np.zeros(len(yearly), np.int64)
    for k in keys:  # one integer per key, from the codes of each column
        c, u = pd.factorize(yearly[k])
        code = code * len(u) + c
    _, first, row = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keys in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    seeds, col = np.unique(yearly["seed"].to_numpy(), return_inverse=True)
    v = np.full((order.size, len(seeds)), np.nan)
    v[rank[row], col] = yearly["value"].to_numpy()
    out = yearly[keys].iloc[first[order]].reset_index(drop=True)
    b = band_rows(v)
    for k in ("mean", "p05", "p50", "p95"):
        out[k] = b[k]
    out["seeds"] = b["n"]
    return out


def read_seeded(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"period": str, "region": str, "sector": str, "indicator": str})


def write_summary(frame: pd.DataFrame, path: Path) -> None:
    """A summary CSV with the store's float formatting (deterministic bytes)."""
    store.write_csv(path, list(frame.columns), frame.itertuples(index=False))


# --- runs over posterior draws -------------------------------------------------------------------------
def _key(name: str, seed: int, draw: int | None) -> str:
    """A run's key: scenario/s<seed>, or scenario/d<draw>/s<seed> over posterior draws."""
    return f"{name}/s{seed}" if draw is None else f"{name}/d{draw}/s{seed}"


def _run_params(params: Params | list[Params], draw: int | None) -> Params:
    return params if draw is None else params[draw]


def _over(seeds: list[int], draw_of: dict[int, int] | None) -> str | None:
    """What the bands of figures are over, for runs over posterior draws (None: seeds)."""
    if not draw_of:
        return None
    n = len(set(draw_of.values()))
    return design_phrase(n, len(seeds) // n)


# --- replications ------------------------------------------------------------------------------------
def replicate(name: str, params: Params | list[Params], seeds: list[int], executor: Executor, folder: Path,
              progress: Progress | None = None, monthly: bool = True,
              draw_of: dict[int, int] | None = None) -> tuple[Batch, pd.DataFrame]:
    """Runs of one scenario on ``seeds``: yearly.csv, monthly.csv, summary.csv and figures in ``folder``.

    Over posterior draws, ``draw_of`` maps each seed to its draw and ``params`` is a list, one per draw;
    the tables then have a draw column and the bands are over every run."""
    draw_of = draw_of or None
    tasks = [Task(_key(name, s, d), _run_params(params, d), s, monthly=monthly, meta={"draw": d})
             for s in seeds for d in [draw_of[s] if draw_of else None]]
    draws = draw_of is not None
    yearly = store.SeededCsv(folder / "yearly.csv", draws)
    month = store.SeededCsv(folder / "monthly.csv", draws) if monthly else None

    def sink(o: Outcome) -> None:
        yearly.add(o.task.seed, o.result.yearly, o.task.meta["draw"])
        if month:
            month.add(o.task.seed, o.result.monthly, o.task.meta["draw"])

    try:
        batch = run_batch(tasks, executor, sink, progress)
    finally:
        yearly.close()
        if month:
            month.close()
    if batch.failures and len(batch.failures) == len(tasks):
        raise RunsFailed(f"every run failed (first: {batch.failures[0][1]})")
    for sink_file in (yearly, month) if monthly else (yearly,):
        sink_file.sort_by_seed()
    summary = summarise(read_seeded(folder / "yearly.csv"))
    write_summary(summary, folder / "summary.csv")
    figures = folder / "figures"
    over = _over(seeds, draw_of)
    plots.headline(summary, figures / "headline.png", name, over=over)
    plots.cities(summary, figures / "cities.png", name, over=over)
    if monthly:
        m = read_seeded(folder / "monthly.csv")
        m = m[m.indicator.str.startswith("share_stage_") & (m.region == "Zhejiang")]
        mean = m.groupby(["period", "region", "sector", "indicator"], sort=False)["value"].mean().reset_index()
        plots.stage_shares(mean, figures / "stages.png", name,
                           over=over or f"{len(seeds)} seed{'s' * (len(seeds) != 1)}")
    return batch, summary


# --- comparisons ------------------------------------------------------------------------------------
# One sign convention: the effect of a scenario is the scenario minus the reference (the first scenario),
# per run on common random numbers; CSV columns that hold it start with EFFECT. (An instrument's
# *contribution*, reference minus the scenario without it, is derived from the effects where it is meant:
# analysis/contributions.py.)
EFFECT = "scen_minus_ref"
CONTRIBUTION_METRICS = tuple(m for m, *_ in plots.CONTRIBUTION_METRICS)  # the outcomes of effects tables
METRICS = plots.CONTRIBUTION_METRICS
FIRST_YEAR = 2013

# The public cost of a scenario: every yuan the model records a government paying (the indicator public_cost of
# model/indicators.py, the sum of the lines below).
PUBLIC_COST = "public_cost"
COSTED = (("subsidy_robots", "robot purchase subsidies (the cities' budgets, including the province's "
           "rewards to cities)"),
          ("subsidy_awards", "special-fund awards"),
          ("subsidy_pilots", "pilot support (the fund's pilot envelope)"),
          ("subsidy_vouchers", "cloud vouchers (the cloud action's budget or the cities')"),
          ("shared_support", "support of shared-manufacturing platforms per use (shared.support_budget)"),
          ("running_cost", "the running cost of the conferences and the expert groups, at assumed unit costs "
           "(demonstration.cost_per_conference, experts.cost_per_group_year: no source was found, set them with "
           "--set or to 0 to leave them out)"))
NOT_COSTED_TEXT = (
    "Not costed, because the model records no yuan for them: the engineering-service providers (the model "
    "gives them no public support) and the approval reform. The province's rewards to cities are a transfer "
    "between governments: they add to the winning cities' budgets and count when those budgets pay robot "
    "subsidies. The model has no interest subsidies, and its leases are financed by lessors, not by a government.")
ADOPTERS = "firms_stage_1plus"
VALUE_ADDED = "value_added"


def compare(scenarios: list[tuple[str, Params | list[Params]]], seeds: list[int], executor: Executor, folder: Path,
            progress: Progress | None = None, draw_of: dict[int, int] | None = None,
            years: list[int] | None = None) -> tuple[Batch, dict]:
    """Run every scenario on the same seeds (common random numbers) and compare each to the first (the
    reference): comparison.csv, effects.csv and cost_effectiveness.csv at ``years`` (default: the last
    year of the run), and figures.

    Over posterior draws, ``draw_of`` maps each seed to its draw and each scenario's parameters are a list,
    one per draw: every scenario runs on the same (draw, seed) pairs, and differences are per pair."""
    draw_of = draw_of or None
    tasks = [Task(_key(name, s, d), _run_params(p, d), s, meta={"scenario": name, "draw": d})
             for name, p in scenarios for s in seeds for d in [draw_of[s] if draw_of else None]]
    sinks, where = {}, {}
    for name, _ in scenarios:
        where[name] = folder / "scenarios" / folder_name(name)
        where[name].mkdir(parents=True, exist_ok=True)
        sinks[name] = store.SeededCsv(where[name] / "yearly.csv", draw_of is not None)
    try:
        batch = run_batch(tasks, executor, lambda o: sinks[o.task.meta["scenario"]].add(
            o.task.seed, o.result.yearly, o.task.meta["draw"]), progress)
    finally:
        for s in sinks.values():
            s.close()
    frames = {}
    for name, _ in scenarios:
        sinks[name].sort_by_seed()
        frames[name] = read_seeded(sinks[name].path)
        if frames[name].empty:
            raise RunsFailed(f"every run of scenario {name} failed (first: "
                             f"{next(e for k, e in batch.failures if k.startswith(name + '/'))})")
        write_summary(summarise(frames[name]), where[name] / "summary.csv")
    tables = comparison_tables(frames, [n for n, _ in scenarios], years)
    write_summary(tables["comparison"], folder / "comparison.csv")
    write_summary(tables["effects"], folder / "effects.csv")
    write_summary(tables["cost"], folder / "cost_effectiveness.csv")
    first, over = scenarios[0][0], _over(seeds, draw_of)
    plots.effect_bars(bar_rows(tables["effects"], 1.0, len(tables["years"]) > 1), folder / "figures" / "effects.png",
                      f"Effect on {_years_text(tables['years'])} outcomes: scenario minus {first}",
                      tables["runs"], over=over)
    plots.differences(tables["comparison"], folder / "figures" / "differences.png", first, tables["runs"], over=over)
    return batch, tables


def folder_name(name: str) -> str:
    """A scenario's name as a folder name (a scenario given by its path is named by it)."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "scenario"


def _years_text(years: list[int]) -> str:
    return ", ".join(str(y) for y in years)


def _pct(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """100 x / |ref| (the sign of the effect kept), NaN where the reference is 0 or undefined."""
    x, ref = np.asarray(x, float), np.abs(np.asarray(ref, float))
    return np.divide(100.0 * x, ref, out=np.full(np.broadcast(x, ref).shape, np.nan),
                     where=np.isfinite(ref) & (ref > 0))


def _effect_columns(x: np.ndarray, ref: np.ndarray, banded: bool) -> dict:
    """The band of per-run effects ``x`` (rows: keys, columns: runs) and its percentages of the reference's
    mean (``ref``, per key); the 5-95 % columns are empty when there are too few runs for a band."""
    b = band_rows(x)
    out = {f"{EFFECT}_{k}": b[k] for k in ("mean", "p05", "p50", "p95")}
    for k in ("mean", "p05", "p50", "p95"):
        out[f"{EFFECT}_pct_{k}"] = _pct(b[k], ref)
    if not banded:
        for k in ("p05", "p95"):
            out[f"{EFFECT}_{k}"] = out[f"{EFFECT}_pct_{k}"] = np.full(len(b["mean"]), np.nan)
    return out


def _by_run(frame: pd.DataFrame, run: list[str], year: str, cumulative: bool) -> pd.DataFrame:
    """Per run, each indicator in ``year`` (cumulative: summed over the years up to it)."""
    if not cumulative:
        return frame.xs(year, level="period")
    upto = frame[frame.index.get_level_values("period").astype(int) <= int(year)]
    return upto.groupby(level=run).sum()


def comparison_tables(frames: dict[str, pd.DataFrame], order: list[str], years: list[int] | None = None) -> dict:
    """The effects of each scenario against the first (scenario minus reference, per run, then bands):
    every indicator by year (comparison), the outcomes of METRICS in ``years`` (effects; default the last
    year), and the public cost and what it bought (cost). Also ``years`` and ``runs`` (paired runs).

    Over posterior draws (a draw column) a run is a (draw, seed) pair: differences pair the runs of the
    same draw and seed, but the replications of a mean are the draws (stats.mean_se): the interval of a mean
    effect is over the draws' means, and the bootstrap resamples draws, each with its seeds. Each effect says how
    many replications its interval rests on (``units``: runs, or draws) and its standard error (``_se``)."""
    first = order[0]
    draws = "draw" in frames[first].columns
    run = ["draw", "seed"] if draws else ["seed"]  # the levels that name a run
    prov = {n: f[(f.region == "Zhejiang") & (f.sector == "all")].pivot_table(
        index=[*run, "period"], columns="indicator", values="value") for n, f in frames.items()}
    base = prov[first]
    periods = sorted({str(p) for p in base.index.get_level_values("period")}, key=int)
    years = [int(y) for y in years] if years else [int(periods[-1])]
    rows, effects, cost, runs = [], [], [], []
    for name in order[1:]:
        common = base.index.intersection(prov[name].index)  # pairs of runs on the same seed (and draw)
        ref = base.loc[common]
        diff = prov[name].loc[common].reindex(columns=ref.columns) - ref
        n = len(common.droplevel("period").unique())
        runs.append(n)
        banded = has_band(n)
        for period in sorted({str(p) for p in common.get_level_values("period")}, key=int):
            g, r = diff.xs(period, level="period"), ref.xs(period, level="period")
            cols = _effect_columns(g.to_numpy().T, r.mean().to_numpy(), banded)
            block = pd.DataFrame({"scenario": name, "reference": first, "period": period, "indicator": g.columns,
                                  "reference_mean": r.mean().to_numpy(), **cols, "runs": n})
            rows.append(block)
        for y in years:
            y_ = str(y)
            at, ref_at = _by_run(diff, run, y_, False), _by_run(ref, run, y_, False)
            upto, ref_upto = _by_run(diff, run, y_, True), _by_run(ref, run, y_, True)
            for metric, *_ in METRICS:
                cum = metric in plots.CUMULATIVE
                x = (upto if cum else at)[metric]
                draw = x.index.get_level_values("draw").to_numpy() if draws else None  # the replications
                x, r = x.to_numpy(), (ref_upto if cum else ref_at)[metric].to_numpy()
                cols = _effect_columns(x[None, :], np.array([np.nanmean(r)]), banded)
                mean, sd, finite = mean_sd(x)
                if draw is None:  # stats.mean_interval(x), keeping the sd for other levels
                    (lo, hi), se, units = t_interval(mean, sd, finite), sd / np.sqrt(finite), finite
                else:
                    _, se, units = mean_se(x, draw)
                    lo, hi = se_interval(mean, se, units)
                effects.append({"scenario": name, "reference": first, "year": y, "metric": metric,
                                "period": f"{FIRST_YEAR}-{y}" if cum else str(y),
                                "reference_mean": float(np.nanmean(r)),
                                **{k: float(v[0]) for k, v in cols.items()},
                                f"{EFFECT}_mean_lo95": lo, f"{EFFECT}_mean_hi95": hi, f"{EFFECT}_sd": sd,
                                f"{EFFECT}_se": float(se), "runs": n, "units": int(units)})
            cost.append(_cost_row(name, first, y, at.reindex(upto.index), upto, n,
                                  upto.index.get_level_values("draw").to_numpy() if draws else None))
    comparison = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return {"comparison": comparison, "effects": pd.DataFrame(effects), "cost": pd.DataFrame(cost),
            "years": years, "runs": min(runs) if runs else 0}


def _cost_row(name: str, first: str, year: int, at: pd.DataFrame, upto: pd.DataFrame, n: int,
              draw: np.ndarray | None = None) -> dict:
    """Public cost (summed 2013-year) and what it bought (firms at stage >= 1 in the year, value added
    summed 2013-year), scenario minus reference: the ratios of the mean differences with bootstrap 90 %
    intervals over runs, or over posterior draws (``draw``: each run's; stats.bootstrap_ratio)."""
    cost = upto[PUBLIC_COST].to_numpy()
    per_firm = bootstrap_ratio(cost, at[ADOPTERS].to_numpy(), clusters=draw)
    per_va = bootstrap_ratio(cost, upto[VALUE_ADDED].to_numpy(), clusters=draw)
    row = {"scenario": name, "reference": first, "from_year": FIRST_YEAR, "year": year}
    for flow, _ in COSTED:
        row[f"{EFFECT}_{flow}"] = float(upto[flow].mean())
    row[f"{EFFECT}_public_cost"] = float(upto[PUBLIC_COST].mean())
    row.update({f"{EFFECT}_{ADOPTERS}": per_firm["den"], f"{EFFECT}_{ADOPTERS}_lo90": per_firm["den_lo"],
                f"{EFFECT}_{ADOPTERS}_hi90": per_firm["den_hi"],
                f"yuan_per_{ADOPTERS}": per_firm["ratio"], f"yuan_per_{ADOPTERS}_lo90": per_firm["lo"],
                f"yuan_per_{ADOPTERS}_hi90": per_firm["hi"], f"reading_per_{ADOPTERS}": cost_reading(per_firm),
                f"{EFFECT}_{VALUE_ADDED}": per_va["den"], f"{EFFECT}_{VALUE_ADDED}_lo90": per_va["den_lo"],
                f"{EFFECT}_{VALUE_ADDED}_hi90": per_va["den_hi"],
                f"yuan_per_yuan_{VALUE_ADDED}": per_va["ratio"], f"yuan_per_yuan_{VALUE_ADDED}_lo90": per_va["lo"],
                f"yuan_per_yuan_{VALUE_ADDED}_hi90": per_va["hi"],
                f"reading_per_{VALUE_ADDED}": cost_reading(per_va), "runs": n,
                "replications": "runs" if draw is None else "draws", f"units_{ADOPTERS}": per_firm["units"],
                f"units_{VALUE_ADDED}": per_va["units"]})
    return row


def cost_reading(b: dict) -> str:
    """What a ratio of mean differences (stats.bootstrap_ratio: cost over an outcome) says, whatever the
    order of the scenarios: costs_per_extra (more cost, more outcome), saves_per_lost (less cost, less
    outcome), saves_and_adds, costs_and_loses, adds_at_no_measurable_cost and loses_at_no_measurable_cost (the
    cost's 90 % interval covers 0: a direction of cost read off its mean alone would be a coin toss where it has
    none), no_measurable_effect (the outcome's 90 % interval covers 0), no_effect (no difference at all),
    too_few_runs_<reading> (no interval: fewer than stats.MIN_BAND_RUNS replications, runs or posterior draws)."""
    num, den = b["num"], b["den"]
    if not np.isfinite(den) or (den == 0 and not (b["den_lo"] < 0 < b["den_hi"])):
        return "no_effect"  # the same outcome on every run (or no runs)
    if has_band(b["units"]) and covers_zero(b["den_lo"], b["den_hi"]):
        return "no_measurable_effect"
    if has_band(b["units"]) and covers_zero(b["num_lo"], b["num_hi"]):
        return "adds_at_no_measurable_cost" if den > 0 else "loses_at_no_measurable_cost"
    if den > 0:
        word = "costs_per_extra" if num >= 0 else "saves_and_adds"
    else:
        word = "saves_per_lost" if num <= 0 else "costs_and_loses"
    return word if has_band(b["units"]) else f"too_few_runs_{word}"


def readings_note(k: int) -> str:
    """What ``k`` readings of 'measurable or not', each off its own 90 % interval, say together: the chance of
    reading some effect of zero as measurable grows with k (about 1 - 0.9^k if they were independent);
    `simmodel contributions` reads its verdicts off simultaneous intervals (stats.simultaneous_level)."""
    if k <= 1:
        return "This is one reading, at 90 %."
    return (f"These are {k} readings (scenarios x years x the two outcomes), each at 90 % on its own: an effect of "
            f"zero reads as measurable once in ten readings, and the chance that at least one of the {k} does is "
            f"{100 * (1 - 0.9 ** k):.0f} % if they are independent. `simmodel contributions` reads its verdicts off "
            "simultaneous intervals.")


def cost_text(row, outcome: str = ADOPTERS) -> str:
    """A cost row's reading in words, e.g. 'costs 1.60 m yuan per extra firm at stage >= 1 [90 %: 1.2 m,
    2.3 m]', 'saves 1.60 m yuan per firm at stage >= 1 lost [...]', 'no measurable effect'."""
    unit = {ADOPTERS: ("firm at stage >= 1", "firms at stage >= 1"),
            VALUE_ADDED: ("yuan of value added", "value added")}[outcome]
    per = f"yuan_per_{ADOPTERS}" if outcome == ADOPTERS else f"yuan_per_yuan_{VALUE_ADDED}"
    reading = row[f"reading_per_{outcome}"]
    ratio, lo, hi = row[per], row[f"{per}_lo90"], row[f"{per}_hi90"]
    cost = row[f"{EFFECT}_public_cost"]
    interval = f" [90 %: {_fmt(lo)}, {_fmt(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    few = reading.startswith("too_few_runs_")
    word = reading.removeprefix("too_few_runs_")
    text = {
        "costs_per_extra": f"costs {_fmt(ratio)} yuan per extra {unit[0]}{interval}",
        "saves_per_lost": f"saves {_fmt(ratio)} yuan per {unit[0]} lost{interval}",
        "saves_and_adds": f"more {unit[1]} for {_fmt(-cost)} yuan less public cost: no trade-off",
        "costs_and_loses": f"less {unit[1]} for {_fmt(cost)} yuan more public cost",
        "adds_at_no_measurable_cost": f"more {unit[1]} at no measurable change in public cost",
        "loses_at_no_measurable_cost": f"less {unit[1]} at no measurable change in public cost",
        "no_measurable_effect": "no measurable effect",
        "no_effect": f"no effect on {unit[1]}",
    }[word]
    if few:
        units = int(row.get(f"units_{outcome}", row["runs"]))
        what = f"{units} posterior draws" if row.get("replications") == "draws" else f"{units} runs"
        text += f" (indicative: {what}, too few for an interval)"
    return text


def bar_rows(effects: pd.DataFrame, sign: float = 1.0, by_year: bool = False) -> pd.DataFrame:
    """The rows of plots.effect_bars from an effects table: one bar per scenario (and year), ``sign`` -1
    for reference minus scenario."""
    p = f"{EFFECT}_"
    out = pd.DataFrame({"row": effects.scenario + (" " + effects.year.astype(str) if by_year else ""),
                        "metric": effects.metric, "mean": sign * effects[p + "mean"],
                        "p05": sign * effects[p + ("p05" if sign > 0 else "p95")],
                        "p95": sign * effects[p + ("p95" if sign > 0 else "p05")],
                        "lo": sign * effects[p + ("mean_lo95" if sign > 0 else "mean_hi95")],
                        "hi": sign * effects[p + ("mean_hi95" if sign > 0 else "mean_lo95")]})
    return out


def report(folder: Path, scenarios: list[tuple[str, str]], seeds: list[int], tables: dict, batch: Batch,
           draws: int | None = None, years_chosen: bool = False, sets: dict | None = None) -> Path:
    """report.md: the question of each scenario, the effect and cost tables, the figures. ``draws``: the
    number of posterior draws the ``seeds`` are shared among (None: runs at the calibrated point);
    ``years_chosen``: the years were given with --year (else: the last complete year of the run); ``sets``: the
    --set overrides every scenario ran with."""
    first = scenarios[0][0]
    years = tables["years"]
    n = tables["runs"]
    banded = has_band(n)
    if draws:
        per_draw = len(seeds) // draws
        runs = (f"{design_phrase(draws, per_draw)} ({len(seeds)} runs, seeds {seeds[0]}-{seeds[-1]}), the "
                f"same draws and seeds for every scenario (common random numbers); "
                + ("bands are the 5-95 % range over runs of the per-run difference (runs paired by draw and seed)."
                   if banded else "differences are per run (runs paired by draw and seed)."))
    else:
        per_draw = len(seeds)
        runs = (f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), the same for every scenario (common random numbers); "
                + ("bands are the 5-95 % range over seeds of the per-seed difference." if banded else
                   "differences are per seed."))
    which = "chosen with --year" if years_chosen else "the last complete year of the run; --year chooses others"
    lines = [f"# Scenario comparison against `{first}`", "",
             f"**Sign convention.** Every effect is **scenario minus reference** (`{first}`, the first scenario), "
             "per run on common random numbers, then the mean and the 5-95 % band over runs: a positive effect "
             f"means the scenario has more of it than `{first}`. Percentages are of `{first}`'s mean. "
             f"(For a scenario that switches an instrument off, the instrument's contribution is minus its effect; "
             "`simmodel contributions` tabulates contributions.)", "",
             f"**Years:** {_years_text(years)} ({which}).", "",
             f"Uncertainty: {bands_phrase(draws, per_draw, checked=True, moved=sets or ())}.", "", runs, ""]
    if sets:
        lines += ["Every scenario ran with --set " + ", ".join(f"`{k}={v!r}`" for k, v in sets.items()) + ".", ""]
    if not banded:
        lines += [f"**{band_note(n)}**: cells are means only, and the cost ratios have no interval.", ""]
    elif draws and not has_band(draws):
        lines += [f"**The cost ratios have no interval: {draws} posterior draws** (their bootstrap resamples draws, "
                  f"and needs at least {MIN_BAND_RUNS}).", ""]
    lines += ["## Scenarios", ""]
    lines += [f"- `{n_}`: {q or '(no question given)'}" for n_, q in scenarios]
    e = tables["effects"]
    lines += ["", f"## Effect on {_years_text(years)} outcomes (scenario minus {first})", "",
              "Cells: mean effect (% of " + f"`{first}`)" + (" [5 %, 95 % of runs]" if banded else "")
              + f"; subsidies are summed from {FIRST_YEAR} to the year.", "",
              "| scenario | year | " + " | ".join(f"{label} ({unit})" for _, label, _, unit in METRICS) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for name, _ in scenarios[1:]:
        for y in years:
            cells = []
            for m, _, div, _ in METRICS:
                r = e[(e.scenario == name) & (e.metric == m) & (e.year == y)].iloc[0]
                cells.append(effect_cell(r, div))
            lines.append(f"| `{name}` | {y} | " + " | ".join(cells) + " |")
    lines += ["", "![effects](figures/effects.png)", "",
              f"## Public cost and cost-effectiveness (scenario minus {first})", "",
              f"Public cost: the yuan the governments paid from {FIRST_YEAR} to the year, over every line the model "
              "pays: " + "; ".join(label for _, label in COSTED) + ". " + NOT_COSTED_TEXT, "",
              "Cost per extra firm at stage >= 1 (in the year) and per extra yuan of value added (summed from "
              f"{FIRST_YEAR}) are ratios of the mean differences over runs (not means of per-run ratios), with "
              "bootstrap 90 % intervals ("
              + ("posterior draws resampled, each with its seeds" if draws else "runs resampled")
              + f", {BOOTSTRAP_DRAWS} resamples); the same whichever scenario is listed first. Where the 90 % "
              "interval of the mean difference in the outcome covers 0 the ratio is not given: no measurable effect. "
              + readings_note(len(tables["cost"]) * 2),
              "", "| scenario | year | public cost, m yuan (robots / awards / pilots / vouchers / platforms / running) | "
              "firms at stage >= 1 [90 %] | value added, bn yuan [90 %] | per firm at stage >= 1 | "
              "per yuan of value added |", "|---|---|---|---|---|---|---|"]
    for _, r in tables["cost"].iterrows():
        parts = " / ".join(f"{r[f'{EFFECT}_{f}'] / 1e6:+,.1f}" for f, _ in COSTED)
        lines.append(f"| `{r.scenario}` | {r.year} | {r[f'{EFFECT}_public_cost'] / 1e6:+,.1f} ({parts}) | "
                     f"{_interval_cell(r, ADOPTERS, 1.0)} | "
                     f"{_interval_cell(r, VALUE_ADDED, 1e9)} | {cost_text(r, ADOPTERS)} | "
                     f"{cost_text(r, VALUE_ADDED)} |")
    lines += ["", "## Over time", "", "![differences](figures/differences.png)", "",
              f"Files: `comparison.csv` (every indicator by year: the reference's mean, the effect `{EFFECT}_*` "
              f"and the effect in % of the reference `{EFFECT}_pct_*`), `effects.csv` (the table above), "
              "`cost_effectiveness.csv`, `scenarios/<name>/yearly.csv` (every run"
              + (", with its draw" if draws else "") + ") and `summary.csv`."]
    if batch.failures:
        lines += ["", f"**{len(batch.failures)} runs failed** (see manifest.json)."]
    return store.write_text(folder / "report.md", "\n".join(lines) + "\n")


def summary_lines(tables: dict, first: str, years_chosen: bool = False) -> list[str]:
    """The printed summary of a comparison: the effects table (rows: outcomes; columns: scenario and year)
    and the cost-effectiveness table, each with its sign convention and years in its header."""
    years, n = tables["years"], tables["runs"]
    which = "chosen with --year" if years_chosen else "the last complete year of the run; --year for others"
    e, c = tables["effects"], tables["cost"]
    cols = [(name, y) for name in dict.fromkeys(e.scenario) for y in years]
    spread = " [5 %, 95 % of runs]" if has_band(n) else f" ({band_note(n)})"
    out = [f"Effect = scenario minus {first} (the reference), in {_years_text(years)} ({which}): mean "
           f"(% of {first}){spread}"]
    head = [f"{name} {y}" for name, y in cols]
    body = []
    for m, label, div, unit in METRICS:
        cells = [effect_cell(e[(e.scenario == name) & (e.year == y) & (e.metric == m)].iloc[0], div)
                 for name, y in cols]
        body.append((f"{label} ({unit})", cells))
    out += _text_table(head, body)
    out.append(f"Public cost from {FIRST_YEAR} to the year and what it bought, scenario minus {first}; ratios of mean "
               "differences with bootstrap 90 % intervals (costed: robot subsidies, fund awards, pilot support, "
               "cloud vouchers, and conferences and expert groups at assumed unit costs; see report.md)")
    rows = {(r.scenario, r.year): r for _, r in c.iterrows()}
    body = [("public cost, m yuan", [_signed(rows[k][f"{EFFECT}_public_cost"] / 1e6) for k in cols]),
            ("  robots / awards / pilots / vouchers / platforms / running",
             [" / ".join(_signed(rows[k][f"{EFFECT}_{f}"] / 1e6) for f, _ in COSTED) for k in cols]),
            ("firms at stage >= 1 [90 %]", [_interval_cell(rows[k], ADOPTERS, 1.0) for k in cols]),
            ("value added, bn yuan [90 %]", [_interval_cell(rows[k], VALUE_ADDED, 1e9) for k in cols]),
            ("per firm at stage >= 1", [cost_text(rows[k], ADOPTERS) for k in cols]),
            ("per yuan of value added", [cost_text(rows[k], VALUE_ADDED) for k in cols])]
    out += _text_table(head, body)
    return out


def _text_table(head: list[str], body: list[tuple[str, list[str]]]) -> list[str]:
    w0 = max(len(label) for label, _ in body)
    widths = [max(len(h), *(len(cells[j]) for _, cells in body)) for j, h in enumerate(head)]
    lines = ["  " + " " * w0 + "  " + "  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  " + label.ljust(w0) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
              for label, cells in body]
    return lines


def effect_cell(r, div: float, prefix: str = EFFECT) -> str:
    """'+1.23 (+4.5 %) [0.5, 2.1]': a mean effect in display units, its % of the reference and its band."""
    mean, pct = r[f"{prefix}_mean"], r.get(f"{prefix}_pct_mean", np.nan)
    text = _signed(mean / div) + (f" ({_signed(pct, pct=True)} %)" if np.isfinite(pct) else "")
    p05, p95 = r[f"{prefix}_p05"], r[f"{prefix}_p95"]
    if np.isfinite(p05) and np.isfinite(p95):
        text += f" [{_fmt(p05 / div)}, {_fmt(p95 / div)}]"
    return text


def _interval_cell(r, outcome: str, div: float) -> str:
    mean, lo, hi = r[f"{EFFECT}_{outcome}"], r[f"{EFFECT}_{outcome}_lo90"], r[f"{EFFECT}_{outcome}_hi90"]
    text = _signed(mean / div)
    return text + (f" [{_fmt(lo / div)}, {_fmt(hi / div)}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def _signed(v: float, pct: bool = False) -> str:
    """A number with its sign: '+1.23 m', '-4,560', '0'."""
    if v is None or not np.isfinite(v):
        return ""
    if pct:
        if v == 0:
            return "0"
        if abs(v) < 0.01:
            return f"{'+' if v > 0 else '-'}<0.01"
        return f"{v:+.3g}" if abs(v) < 100 else f"{v:+,.0f}"
    text = _fmt(v)
    return text if text.startswith("-") or text == "0" else "+" + text


def _fmt(v: float) -> str:
    """Compact text of a number for tables: 1.23 bn, 4.56 m, 7,890, 0.123."""
    if v is None or not np.isfinite(v):
        return ""
    if v == 0:
        return "0"  # not "-0"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:,.2f} bn"
    if a >= 1e6:
        return f"{v / 1e6:,.2f} m"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"
