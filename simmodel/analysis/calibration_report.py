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
    """fitted.toml: the chosen point as parameter tables (a scenario file), the posterior intervals and the
    search's point the chosen one was refined from."""
    lines = ["# Fitted by `simmodel calibrate`: history matching, then ABC-SMC (see calibration/report.md).",
             "# The baseline scenario inherits these values: of the search's closest points, re-simulated on",
             "# fresh seeds, the closest, then refined by a local search on validate's rule (report.md, 'The",
             "# baseline's point'). [calibration] records how they were found.",
             "", "[calibration]"]
    for k, v in meta.items():  # TOML's inf and nan (a score is inf where a run gives a fitted target no value)
        lines.append(f"{k} = {_num(v) if isinstance(v, float) and not math.isfinite(v) else json.dumps(v)}")
    lines += ["", "[calibration.intervals]  # [5 %, median, 95 %] of the posterior sample (posterior.csv)"]
    for r in rows:
        lines.append(f'"{r["key"]}" = [{_num(r["p05"])}, {_num(r["median"])}, {_num(r["p95"])}]')
    if all("search" in r for r in rows):
        lines += ["", "[calibration.search_point]  # the search's point, before the refinement"]
        lines += [f'"{r["key"]}" = {_num(r["search"])}' for r in rows]
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


def write_posterior(path: Path, priors: Priors, theta: np.ndarray, weights: np.ndarray) -> None:
    """posterior.csv: one row per weighted particle (weight, then each calibrated parameter by key);
    `--posterior N` draws from it (analysis/posterior.py)."""
    lines = [",".join(["weight", *priors.keys])]
    for w, row in zip(weights, theta):
        lines.append(",".join([f"{w:.9g}", *(str(int(round(v))) if p.integer else f"{v:.9g}"
                                              for p, v in zip(priors.parameters, row))]))
    store.write_text(path, "\n".join(lines) + "\n")


def correlations(theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted correlation matrix of the posterior particles."""
    if len(theta) < 3:
        return np.eye(theta.shape[1])
    c = np.atleast_2d(np.cov(theta.T, aweights=weights))
    sd = np.sqrt(np.diag(c))
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / np.outer(sd, sd)


def identification_note(rows: list[dict], theta: np.ndarray, weights: np.ndarray) -> list[str]:
    """Which parameters the targets leave loose (wide intervals) or tie together (correlated pairs)."""
    out = []
    loose = [r for r in rows if r["interval_share"] > 0.6]
    out += [f"- `{r['key']}`: the 5-95 % interval spans {100 * r['interval_share']:.0f} % of the prior range: the "
            f"targets do not pin it down." for r in loose]
    if not loose:
        out.append("- Every calibrated parameter's 5-95 % interval spans less than 60 % of its prior range.")
    corr = correlations(theta, weights)
    pairs = sorted(((abs(corr[i, j]), i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))
                    if np.isfinite(corr[i, j]) and abs(corr[i, j]) >= 0.5), reverse=True)
    out += [f"- `{rows[i]['key']}` and `{rows[j]['key']}` are correlated ({corr[i, j]:+.2f}): the targets "
            "inform a combination of the two more than each." for _, i, j in pairs]
    return out


def informative_share(cal: Calibration) -> np.ndarray:
    """Per target, the share of the first wave's runs (a Latin hypercube over the prior) whose mean over
    seeds meets it: a target met almost everywhere in the prior says little about the parameters."""
    _, mean = cal.distances(cal.waves[0])
    return np.array([np.mean([t.met(v) for v in mean[:, j]]) for j, t in enumerate(cal.targets)])


POINT_BEGIN, POINT_END = "<!-- the baseline's point -->", "<!-- end of the baseline's point -->"


def point_section(refined: dict, meta: dict, rows: list[dict], targets: list) -> list[str]:
    """The report's section on the baseline's point: the search's point, its refinement and the check on
    seeds neither saw (between markers, so that `calibrate --refine` can rewrite it alone)."""
    n, adopted = refined["seeds"], refined["adopted"]
    searched = (f"; it was {meta['point_search_distance']:.3g} in the search" if "point_search_distance" in meta else "")
    lines = [POINT_BEGIN, "## The baseline's point", "",
             f"The search's point: the {meta['point_candidates']} closest points of the search, re-simulated on "
             f"{meta['point_seeds']} fresh seeds each; the closest of them (distance {meta['point_distance']} over "
             f"those seeds{searched}). It is then refined: a local search from it (Nelder-Mead, scipy, inside the "
             f"prior box, at most {meta['refine_limit']} points, every point on the same {n} fresh seeds) for the "
             "point whose worst fitted target scores least by `validate`'s rule (Target.score of the median over "
             f"seeds: at most 1 when the target is met). {refined['evaluations']} points were simulated "
             f"({meta['refine_runs']} runs, {meta['refine_minutes']} minutes); the worst score was "
             f"{refined['score_start']:.3f} at the search's point and {refined['score']:.3f} at the best. On {n} "
             f"further seeds neither saw: {refined['check_start']:.3f} against {refined['check']:.3f}, so "
             + ("**the refined point is the baseline's**." if adopted else
                "**the search's point stays the baseline's** (the refined one did not score better on seeds it never "
                "saw).") +
             " No parameter is solved to meet a target: every calibrated parameter moves at once within its prior, "
             "and `simmodel validate` checks the baseline on seeds 1-20. The posterior (`--posterior N`) stays the "
             "search's sample (posterior.csv: the emulated ABC-SMC's where it ran, else the last simulated "
             "generation); the table says where the baseline's point lies in it.", "",
             "| parameter | prior | search's point | baseline | posterior 5-95 % | inside the 5-95 % |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        inside = "yes" if r["p05"] <= r["point"] <= r["p95"] else "**no**"
        lines.append(f"| `{r['key']}` | [{_num(r['low'])}, {_num(r['high'])}] | {_num(r['search'])} | "
                     f"{_num(r['point'])} | [{_num(r['p05'])}, {_num(r['p95'])}] | {inside} |")
    lines += ["", f"Fitted targets on the {n} check seeds (median over seeds; score: at most 1 when met):", "",
              "| fitted target | observed | tolerance | search's point | score | refined point | score | met (baseline) |",
              "|---|---|---|---|---|---|---|---|"]
    for j, t in enumerate(targets):
        if t.role != "fit":
            continue
        a, b = refined["median_start"][j], refined["median_best"][j]
        met = "yes" if t.met(refined["median"][j]) else "**no**"
        tol = "bound" if t.bound else _num(t.tolerance)
        lines.append(f"| `{t.name}` | {t.shown} | {tol} | {_num(a)} | {t.score(a):.2f} | {_num(b)} | {t.score(b):.2f} "
                     f"| {met} |")
    return lines + ["", POINT_END]


def replace_point_section(path: Path, section: list[str]) -> None:
    """Rewrite the report's section on the baseline's point (between its markers; before '## Generations'
    in a report written before it had one)."""
    text = path.read_text()
    body = "\n".join(section)
    if POINT_BEGIN in text and POINT_END in text:
        head, rest = text.split(POINT_BEGIN, 1)
        text = head + body + rest.split(POINT_END, 1)[1]
    else:
        head, rest = text.split("## Generations", 1)
        text = head + body + "\n\n## Generations" + rest
    store.write_text(path, text)


def posterior_paragraph(post: dict, meta: dict) -> list[str]:
    """What the posterior is: the emulated ABC-SMC's sample and its check by simulation, or why there is none."""
    e = post.get("emulated")
    if e:
        return [f"The simulated generations end at threshold {meta['epsilons'][-1]}; an emulator fitted to their "
                f"{e['runs']} runs carries the same ABC-SMC on (emulated generations below, docs/ODD.md 3.6) until "
                f"**{e['posterior'].stop_reason}**, at threshold {e['posterior'].epsilon:.4g}. The posterior is an "
                f"importance sample of {len(e['posterior'].u)} points with **an effective sample size of "
                f"{e['posterior'].ess:.0f}**; {len(e['u'])} draws from it (systematic resampling, {e['distinct']} "
                f"distinct) are posterior.csv, each simulated on a fresh seed: {100 * e['within']:.1f} % of those "
                f"runs came within the final threshold, where the emulator expected {100 * e['expected_within']:.1f} "
                "%. Their runs are the posterior predictive below; the intervals below are of these draws."]
    if post["populations"]:
        return [f"The posterior is the last generation: {meta['particles']} weighted particles, effective sample "
                f"size {meta['ess']:.0f}, distance <= {meta['epsilon']}."]
    return ["**No ABC-SMC generation completed: the table below shows the closest history-matching runs, which "
            "are not a posterior.**"]


def emulator_section(e: dict, cal: Calibration) -> list[str]:
    """How good the emulator is, target by target: its out-of-fold residual sd against the distance's scale,
    beside the seed noise alone (the residual holds both)."""
    lines = ["The emulator (simmodel/analysis/emulated_abc.py): per fitted target, a ridge regression on the "
             f"parameters' polynomial features of degree {e['degree']} (on the log of targets positive in every run), "
             f"fitted to the {e['runs']} runs of the simulated generations. An emulated run is its mean plus one "
             "residual vector drawn from the out-of-fold residuals (5 folds), so seed noise and the emulator's error "
             "both widen the emulated likelihood. Residual sd in units of the distance's scale s (a miss of 1 s "
             "counts 1 in the distance):", "",
             "| fitted target | residual sd / s (emulator and seed) | seed sd / s |", "|---|---|---|"]
    for t, r, sd in zip(cal.fit, e["residual_sd"], e["seed_sd"]):
        lines.append(f"| `{t.name}` | {r:.2f} | {sd:.2f} |")
    stages = e["posterior"].stages
    lines += ["", "The emulated generations' median distance without seed noise (of their points' emulated means; "
              "the search stops when it or the threshold falls by less than "
              f"{100 * cal.plan.min_improvement:.0f} %): " + ", ".join(f"{st.fit:.3f}" for st in stages) + "."]
    return lines


def write_report(path: Path, cal: Calibration, post: dict, rows: list[dict], meta: dict, figs: dict) -> None:
    rel = lambda p: os.path.relpath(p, path.parent)  # noqa: E731
    pops = post["populations"]
    lines = ["# Calibration report", "",
             f"{meta['date']}, commit `{meta['commit']}`; budget {meta['budget']} runs, {meta['runs']} simulated "
             f"(run.scale {meta['scale']}); {meta['minutes']} minutes."
             + (" **Quick mode** (a smoke test of every step, not a calibration)." if meta["quick"] else ""),
             "", "Method (simmodel/analysis/calibrate.py, docs/ODD.md 3.6): history matching in "
             f"{len(meta['waves'])} waves ({' and '.join(map(str, meta['waves']))} points x "
             f"{meta['seeds_per_point']} seeds; quadratic emulators, implausibility cut-off {cal.plan.cutoff}), then "
             f"ABC-SMC: generations of {meta['population']} particles, one seed each, the first proposed from the "
             "region history matching did not rule out, each later one by perturbing the last ("
             + ("Gaussian kernel, twice its weighted covariance" if cal.plan.kernel == "global" else
                "a Gaussian kernel around each particle with its optimal local covariance, Filippi et al. 2013")
             + f") and weighted by prior / proposal density; each threshold is the "
             f"{cal.plan.quantile:.0%} quantile of the last generation's distances. The search stops when a threshold "
             f"falls by less than {100 * cal.plan.min_improvement:.0f} %, a generation accepts fewer than "
             f"{100 * cal.plan.min_acceptance:.0f} % of its proposals, or the budget is spent. "
             f"**Stopped: {meta['stop'] or 'no ABC-SMC generation ran'}.** The distance is the worst of the fitted "
             "targets' misses, each scaled by its observation, model-discrepancy and seed-to-seed sd (a bound only "
             "counts a miss on its wrong side; the seed variance is the median over the history-matching points): "
             "below about 2 every fitted target is within its band.", "",
             *posterior_paragraph(post, meta), "",
             *point_section(post["refined"], meta, rows, cal.targets), "",
             "## Generations", "",
             "| generation | threshold | proposals | accepted | acceptance | effective sample size |",
             "|---|---|---|---|---|---|"]
    for g, p in enumerate(pops):
        lines.append(f"| {g} | {p.epsilon:.4g} | {p.proposals} | {len(p.u)} | {100 * p.acceptance:.1f} % | "
                     f"{p.ess:.0f} |")
    if post.get("emulated"):
        for k, st in enumerate(post["emulated"]["posterior"].stages, len(pops)):
            lines.append(f"| {k} (emulated) | {st.epsilon:.4g} | {st.proposals} | - | - | {st.ess:.0f} |")
        lines += ["", *emulator_section(post["emulated"], cal)]
    lines += ["", "## Calibrated parameters", "",
              "| parameter | prior | search's point | posterior median | 5-95 % | interval / prior | why calibrated |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['key']}` | [{_num(r['low'])}, {_num(r['high'])}] | {_num(r['search'])} | "
                     f"{_num(r['median'])} | [{_num(r['p05'])}, {_num(r['p95'])}] | "
                     f"{100 * r['interval_share']:.0f} % | {r['why']} |")
    lines += ["", "Everything else is fixed from a source or as an assumption (calibration/priors.toml, "
              "docs/ODD.md).", "", "## What the targets pin down, and what they cannot", "",
              *identification_note(rows, post["theta"], post["weights"]), "",
              "## Targets and the posterior predictive", "",
              "Prior: the share of the first wave's runs (a Latin hypercube over the prior) that meet the target; "
              "a fitted target met by most of the prior says little about the parameters (informative: met by at "
              "most half). Posterior: the particles' runs, weighted median and 5-95 % band. Search's point: the search's "
              "chosen point (mean over its fresh seeds), at the calibration scale (the baseline's point, refined from it, "
              "is above). A figure is met within its tolerance (2 sd), a bound (>=, <=) is met or missed.",
              "", "| target | role | observed | tolerance | met in the prior | posterior median | 5-95 % | "
              "search's point | met (search's point) |", "|---|---|---|---|---|---|---|---|---|"]
    pred, w = post["predictive"], post["weights"]
    prior_met = informative_share(cal)
    for j, t in enumerate(cal.targets):
        ok = np.isfinite(pred[:, j])
        lo, med, hi = weighted_quantile(pred[ok, j], [0.05, 0.5, 0.95], w[ok]) if ok.any() else (math.nan,) * 3
        at = post["point"]["predictive"][j]
        met = "-" if t.role == "excluded" else ("yes" if t.met(at) else "**no**")
        info = "" if t.role != "fit" else (" (informative)" if prior_met[j] <= 0.5 else " (weak)")
        tol = "bound" if t.bound else _num(t.tolerance)
        lines.append(f"| `{t.name}` | {t.role} | {t.shown} | {tol} | {100 * prior_met[j]:.0f} %{info} | {_num(med)} | "
                     f"[{_num(lo)}, {_num(hi)}] | {_num(at)} | {met} |")
    lines += ["", f"![targets]({rel(figs['targets'])})", "", "## Posterior", "",
              f"![marginals]({rel(figs['marginals'])})", "", f"![pairs]({rel(figs['pairs'])})", "",
              "## History-matching waves", "",
              "| wave | points | plausible share of the prior space | median distance of its runs | "
              "share of runs with every fitted target within 3 sd |", "|---|---|---|---|---|"]
    for k, data in enumerate(cal.waves, 1):
        d, mean = cal.distances(data)
        imp = implausibility(np.nan_to_num(mean[:, cal.index], nan=np.inf), cal.fit,
                             post["seed_var"] / cal.priors.seeds_per_point)
        lines.append(f"| {k} | {len(data.u)} | {100 * data.nroy_share:.1f} % | {np.median(d):.3g} | "
                     f"{np.mean(imp < 3):.3f} |")
    lines += ["", f"![distance by stage]({rel(figs['waves'])})", ""]
    excluded = [t for t in cal.targets if t.role == "excluded"]
    if excluded:
        lines += ["## Targets not used", ""] + [f"- `{t.name}`: {t.reason}" for t in excluded] + [""]
    store.write_text(path, "\n".join(lines))
