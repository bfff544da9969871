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
from .posterior import bands_phrase
from .stats import band, band_rows, mean_interval

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
    return f"{n} posterior draws x {len(seeds) // n} seeds"


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
        plots.stage_shares(mean, figures / "stages.png", name)
    return batch, summary


# --- comparisons ------------------------------------------------------------------------------------
CONTRIBUTION_METRICS = tuple(m for m, *_ in plots.CONTRIBUTION_METRICS)


def compare(scenarios: list[tuple[str, Params | list[Params]]], seeds: list[int], executor: Executor, folder: Path,
            progress: Progress | None = None,
            draw_of: dict[int, int] | None = None) -> tuple[Batch, dict[str, pd.DataFrame]]:
    """Run every scenario on the same seeds (common random numbers) and compare each to the first.

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
    tables = comparison_tables(frames, [n for n, _ in scenarios])
    write_summary(tables["comparison"], folder / "comparison.csv")
    write_summary(tables["contributions"], folder / "contributions.csv")
    write_summary(tables["cost"], folder / "subsidy_per_firm.csv")
    first, year = scenarios[0][0], int(tables["year"])
    over = _over(seeds, draw_of)
    plots.contributions(tables["contributions"], folder / "figures" / "contributions.png", first, year, over=over)
    plots.differences(tables["comparison"], folder / "figures" / "differences.png", first, over=over)
    return batch, tables


def folder_name(name: str) -> str:
    """A scenario's name as a folder name (a scenario given by its path is named by it)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "scenario"


def _band(x: np.ndarray) -> dict[str, float]:
    b = band(x)
    b.pop("n")
    return b


def comparison_tables(frames: dict[str, pd.DataFrame], order: list[str]) -> dict:
    """Differences from the first scenario (per seed, then bands), contributions, subsidy per firm.

    Over posterior draws (a draw column) a run is a (draw, seed) pair: differences pair the runs of the
    same draw and seed."""
    first = order[0]
    draws = "draw" in frames[first].columns
    run = ["draw", "seed"] if draws else "seed"  # the levels that name a run
    prov = {n: f[(f.region == "Zhejiang") & (f.sector == "all")].pivot_table(
        index=["draw", "seed", "period"] if draws else ["seed", "period"], columns="indicator", values="value")
        for n, f in frames.items()}
    base = prov[first]
    year = max(base.index.get_level_values("period"))
    rows, contrib, cost = [], [], []
    for name in order[1:]:
        common = base.index.intersection(prov[name].index)  # pairs of runs on the same seed
        diff = prov[name].loc[common] - base.loc[common]
        for period, g in diff.groupby(level="period"):
            for ind in g.columns:
                rows.append({"scenario": name, "period": period, "indicator": ind, **_band(g[ind].to_numpy())})
        last = diff.xs(year, level="period")
        for metric in CONTRIBUTION_METRICS:
            per_seed = diff[metric].groupby(level=run).sum() if metric in plots.CUMULATIVE else last[metric]
            x = -per_seed.to_numpy()
            lo, hi = mean_interval(x)
            contrib.append({"scenario": name, "metric": metric, **_band(x), "mean_lo": lo, "mean_hi": hi})
        # subsidy yuan (all years) per additional firm at stage >= 1 (last year), first vs this scenario
        d_sub = -diff["subsidy_spent"].groupby(level=run).sum()
        d_firms = -last["firms_stage_1plus"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (d_sub / d_firms.reindex(d_sub.index)).to_numpy()
        ratio[np.abs(d_firms.reindex(d_sub.index).to_numpy()) < 1.0] = np.nan
        cost.append({"scenario": name, "extra_subsidy_yuan": float(d_sub.mean()),
                     "extra_firms_stage_1plus": float(d_firms.mean()), **_band(ratio)})
    return {"comparison": pd.DataFrame(rows), "contributions": pd.DataFrame(contrib), "cost": pd.DataFrame(cost),
            "year": year}


def report(folder: Path, scenarios: list[tuple[str, str]], seeds: list[int], tables: dict, batch: Batch,
           draws: int | None = None) -> Path:
    """report.md: the question of each scenario, contribution and cost tables, the figures. ``draws``: the
    number of posterior draws the ``seeds`` are shared among (None: runs at the calibrated point)."""
    first = scenarios[0][0]
    year = tables["year"]
    if draws:
        per_draw = len(seeds) // draws
        runs = (f"{draws} posterior draws x {per_draw} seeds ({len(seeds)} runs, seeds {seeds[0]}-{seeds[-1]}), the "
                f"same draws and seeds for every scenario (common random numbers); bands are the 5-95 % range over "
                f"runs of the per-run difference (runs paired by draw and seed).")
    else:
        per_draw = len(seeds)
        runs = (f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), the same for every scenario (common random numbers); "
                f"bands are the 5-95 % range over seeds of the per-seed difference.")
    lines = [f"# Scenario comparison against `{first}`", "", f"Uncertainty: {bands_phrase(draws, per_draw)}.", "",
             runs, "", "## Scenarios", ""]
    lines += [f"- `{n}`: {q or '(no question given)'}" for n, q in scenarios]
    lines += ["", f"## Contribution to {year} outcomes ({first} minus scenario)", "",
              "For a scenario that switches an instrument off, this is what the instrument added.", "",
              "| scenario | " + " | ".join(f"{label} ({unit})" for _, label, _, unit in plots.CONTRIBUTION_METRICS) + " |",
              "|---|" + "---|" * len(CONTRIBUTION_METRICS)]
    c = tables["contributions"]
    for name, _ in scenarios[1:]:
        cells = []
        for m, _, div, _ in plots.CONTRIBUTION_METRICS:
            r = c[(c.scenario == name) & (c.metric == m)].iloc[0]
            cells.append(f"{_fmt(r['mean'] / div)} [{_fmt(r.p05 / div)}, {_fmt(r.p95 / div)}]")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "![contributions](figures/contributions.png)", "",
              f"## Subsidy yuan per additional firm at stage >= 1 ({first} minus scenario)", "",
              "Extra subsidies paid 2013-" + str(year) + " divided by the extra firms at stage >= 1 in " + str(year)
              + "; given only where the first scenario both pays more subsidy and has more such firms.", "",
              "| scenario | extra subsidy, m yuan | extra firms | yuan per extra firm [5-95 %] |", "|---|---|---|---|"]
    for _, r in tables["cost"].iterrows():
        meaningful = np.isfinite(r["mean"]) and r.extra_subsidy_yuan > 0 and r.extra_firms_stage_1plus > 0
        per = f"{_fmt(r['mean'])} [{_fmt(r.p05)}, {_fmt(r.p95)}]" if meaningful else ""
        lines.append(f"| `{r.scenario}` | {r.extra_subsidy_yuan / 1e6:,.1f} | {r.extra_firms_stage_1plus:,.0f} | {per} |")
    lines += ["", "## Over time", "", "![differences](figures/differences.png)", "",
              "Files: `comparison.csv` (every indicator, scenario minus first, by year), `contributions.csv`, "
              "`subsidy_per_firm.csv`, `scenarios/<name>/yearly.csv` (every run" + (", with its draw" if draws else "")
              + ") and `summary.csv`."]
    if batch.failures:
        lines += ["", f"**{len(batch.failures)} runs failed** (see manifest.json)."]
    return store.write_text(folder / "report.md", "\n".join(lines) + "\n")


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
