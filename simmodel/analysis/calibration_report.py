"""The calibration's outputs: posterior summaries, calibration/fitted.toml and calibration/report.md."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..runs import store
from .calibrate import Calibration, Priors, implausibility
from .stats import weighted_quantile


def summary_of(theta: np.ndarray, priors: Priors, weights: np.ndarray | None = None) -> list[dict]:
    out = []
    w = np.full(len(theta), 1.0 / len(theta)) if weights is None else weights
    for j, p in enumerate(priors.parameters):
        q05, q50, q95 = weighted_quantile(theta[:, j], [0.05, 0.5, 0.95], w)
        width = (q95 - q05) / (p.high - p.low)
        out.append({"key": p.key, "low": p.low, "high": p.high, "p05": q05, "median": q50, "p95": q95,
                    "interval_share": width, "why": p.why, "integer": p.integer})
    return out


def write_fitted(path: Path, rows: list[dict], meta: dict) -> None:
    """fitted.toml: the chosen point as parameter tables (a scenario file) and the posterior intervals."""
    lines = ["# Fitted by `simmodel calibrate`: history matching, then ABC-SMC (see calibration/report.md).",
             "# The baseline scenario inherits these values: of the search's closest points, re-simulated on",
             "# fresh seeds, the closest. [calibration] records how they were found.",
             "", "[calibration]"]
    for k, v in meta.items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines += ["", "[calibration.intervals]  # [5 %, median, 95 %] of the posterior (ABC-SMC's last population)"]
    for r in rows:
        lines.append(f'"{r["key"]}" = [{_num(r["p05"])}, {_num(r["median"])}, {_num(r["p95"])}]')
    groups: dict[str, list[str]] = {}
    for r in rows:
        g, name = r["key"].split(".")
        value = int(round(r["point"])) if r["integer"] else float(f"{r['point']:.6g}")
        groups.setdefault(g, []).append(f"{name} = {value!r}")
    for g, items in groups.items():
        lines += ["", f"[{g}]", *items]
    store.write_text(path, "\n".join(lines) + "\n")


def _num(v: float) -> str:
    return f"{v:.6g}"


def identification_note(rows: list[dict]) -> list[str]:
    loose = [r for r in rows if r["interval_share"] > 0.6]
    if not loose:
        return ["Every calibrated parameter's 5-95 % interval spans less than 60 % of its prior range."]
    return [f"- `{r['key']}`: the 5-95 % interval spans {100 * r['interval_share']:.0f} % of the prior range: the "
            f"targets do not pin it down." for r in loose]


def write_report(path: Path, cal: Calibration, post: dict, rows: list[dict], meta: dict, figs: dict) -> None:
    rel = lambda p: os.path.relpath(p, path.parent)  # noqa: E731
    lines = ["# Calibration report", "",
             f"{meta['date']}, commit `{meta['commit']}`; budget {meta['budget']} runs ({meta['runs']} simulated in "
             f"stages of {', '.join(meta['stages'])} points x {meta['seeds_per_point']} seeds, run.scale "
             f"{meta['scale']}); {meta['minutes']} minutes."
             + (" **Quick mode** (a smoke test of every step, not a calibration)." if meta["quick"] else ""),
             "", "Method: history matching (hm stages: quadratic emulators, implausibility cut-off "
             f"{cal.plan.cutoff}), then ABC-SMC (smc stages) inside what is left; the last population "
             f"({meta['accepted']} weighted particles, distance <= {meta['epsilon']}) is the posterior. "
             "The distance is the root mean square of the fitted targets' misses, each scaled by its observation, "
             "model-discrepancy and seed-to-seed sd. See `simmodel/calibrate.py` and docs/ODD.md.", "",
             f"The baseline (calibration/fitted.toml) takes one point: the {meta['point_candidates']} closest points "
             f"of the search, re-simulated on {meta['point_seeds']} fresh seeds each; the closest of them "
             f"(distance {meta['point_distance']} over those seeds; it was {post['point']['search_distance']:.3g} "
             f"over the search's seeds). Componentwise posterior medians can lie off the good fits when parameters "
             "trade off against each other. No parameter is solved after the search to meet a target.", "",
             "## Calibrated parameters", "",
             "| parameter | prior | baseline | posterior median | 5-95 % | why calibrated |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['key']}` | [{_num(r['low'])}, {_num(r['high'])}] | {_num(r['point'])} | "
                     f"{_num(r['median'])} | [{_num(r['p05'])}, {_num(r['p95'])}] | {r['why']} |")
    lines += ["", "Everything else is fixed from a source or as an assumption (calibration/priors.toml, "
              "docs/ODD.md).", "", "## What the targets cannot pin down", "", *identification_note(rows), "",
              "## Targets and the posterior predictive", "",
              "Simulated: the posterior particles (mean over their seeds), weighted median and 5-95 % band; "
              "the baseline point (mean over its fresh seeds), at the calibration scale. `simmodel validate` "
              "checks the baseline at its own scale and seeds.", "",
              "| target | observed | tolerance | posterior median | 5-95 % | baseline point | role | within (baseline) |",
              "|---|---|---|---|---|---|---|---|"]
    pred, w = post["predictive"], post["weights"]
    for j, t in enumerate(cal.targets):
        ok = np.isfinite(pred[:, j])
        if ok.any():
            lo, med, hi = weighted_quantile(pred[ok, j], [0.05, 0.5, 0.95], w[ok])
        else:
            lo = med = hi = math.nan
        sign = ">= " if t.lower_bound else ""
        at = post["point"]["predictive"][j]
        within = "-" if t.role == "excluded" else ("yes" if t.within(at) else "no")
        lines.append(f"| `{t.name}` | {sign}{_num(t.value)} | {_num(t.tolerance)} | {_num(med)} | "
                     f"[{_num(lo)}, {_num(hi)}] | {_num(at)} | {t.role} | {within} |")
    lines += ["", f"![targets]({rel(figs['targets'])})", "", "## Posterior", "",
              f"![marginals]({rel(figs['marginals'])})", "", f"![pairs]({rel(figs['pairs'])})", "",
              "## Stages", "",
              "| stage | kind | points | plausible share of the prior space (hm) / threshold (smc) | "
              "median distance of its runs | share of runs with every fitted target within 3 sd |",
              "|---|---|---|---|---|---|"]
    pops = iter(post["populations"][1:])
    for k, data in enumerate(cal.waves, 1):
        d, mean = cal.distances(data)
        imp = implausibility(np.nan_to_num(mean[:, cal.index], nan=np.inf), cal.fit,
                             post["seed_var"] / cal.priors.seeds_per_point)
        col = f"{100 * data.nroy_share:.1f} %" if data.kind == "hm" else f"distance <= {next(pops).epsilon:.3g}"
        lines.append(f"| {k} | {data.kind} | {len(data.u)} | {col} | {np.median(d):.3g} | {np.mean(imp < 3):.3f} |")
    lines += ["", f"![distance by stage]({rel(figs['waves'])})", ""]
    excluded = [t for t in cal.targets if t.role == "excluded"]
    if excluded:
        lines += ["## Targets not used", ""] + [f"- `{t.name}`: {t.reason}" for t in excluded] + [""]
    store.write_text(path, "\n".join(lines))


