"""Global sensitivity analysis: Morris screening and Sobol indices with SALib (docs/ODD.md 3.5).

A sensitivity file (experiments/sensitivity/*.toml):

    # Question: which policy levers and uncertain parameters drive adoption, and how much?
    base = "baseline"
    method = "morris"        # morris (screening, many factors) | sobol (first-order and total indices, few)
    samples = 20             # morris: trajectories; sobol: base samples N (a power of two)
    levels = 4               # morris: grid levels
    design_seed = 1
    seeds = 2                # every design point runs on the same seeds (common random numbers); outputs are
                             # their mean, and their spread measures the seed noise the report compares against
    end = "2020-12"          # scale = 0.02 (optional)
    resamples = 1000         # bootstrap resamples for the 95 % confidence intervals

    [outputs.firms_2020]     # analysis/api.py: indicator, year, sum, over, over_sum
    indicator = "firms_stage_1plus"
    year = 2020

    [factors.subsidy_rate]   # as in a sweep file (keys, range, values, log), plus role
    keys = ["cities.purchase_rate"]
    range = [0.0, 0.3]
    [factors.intercept]
    keys = ["decision.intercept"]
    range = "posterior"      # the 5-95 % interval of the calibration posterior; "prior": the prior's range

A factor's role is "lever" (a policy instrument) or "uncertain" (a parameter the evidence leaves open);
by default a factor over a posterior or prior range, or over a calibrated parameter, is uncertain, one
over a parameter the visual server offers as a lever is a lever, and the rest are uncertain.

The design runs like a sweep (analysis/sweep.py: one file per run, --resume, progress, manifest); SALib
draws the design in the unit cube and analyses it there, so Morris' mu* is in the output's units per
full range of the factor and comparable across factors. The indices are computed again on the first
quarter and half of the sample (whole trajectories, or whole Saltelli blocks): convergence.csv and a
figure show whether the ranking has settled.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..params import BY_KEY
from ..runs import store
from . import scenarios
from .api import Output, check_output_years, parse_outputs, run_overrides
from .sweep import MAX_RUNS, SweepSpec, _factor, read_spec, spec_error

METHODS = ("morris", "sobol")
ROLES = ("lever", "uncertain")
TOP_KEYS = {"base", "method", "samples", "levels", "design_seed", "seeds", "first_seed", "end", "scale",
            "resamples", "outputs", "factors"}
CONF = 0.95
FRACTIONS = (0.25, 0.5, 1.0)  # convergence: indices on these shares of the sample


@dataclass(frozen=True)
class SensitivitySpec(SweepSpec):
    """A validated sensitivity file: a sweep over a SALib design, with outputs and factor roles."""

    kind: str = "sensitivity"
    method: str = "morris"
    samples: int = 0
    levels: int = 4
    resamples: int = 1000
    outputs: tuple[Output, ...] = ()
    roles: tuple[str, ...] = ()
    ranges_from: dict = field(default_factory=dict)  # factor -> "posterior" | "prior" (where its range came from)

    def problem(self) -> dict:
        names = [f.name for f in self.factors]
        return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}

    def unit_design(self) -> np.ndarray:
        """The design in the unit cube (rows: points)."""
        if self.method == "morris":
            from SALib.sample import morris

            return morris.sample(self.problem(), N=self.samples, num_levels=self.levels, seed=self.design_seed)
        from SALib.sample import sobol

        return sobol.sample(self.problem(), self.samples, calc_second_order=False, seed=self.design_seed)

    def design_points(self) -> list[dict[str, Any]]:
        return [{f.name: f.from_unit(u[j]) for j, f in enumerate(self.factors)} for u in self.unit_design()]

    @property
    def block(self) -> int:
        """Rows of one trajectory (Morris) or one Saltelli block (Sobol)."""
        d = len(self.factors)
        return d + 1 if self.method == "morris" else d + 2

    def manifest_extra(self) -> dict:
        return {"method": self.method, "samples": self.samples, "levels": self.levels, "resamples": self.resamples,
                "roles": dict(zip([f.name for f in self.factors], self.roles)), "ranges_from": self.ranges_from,
                "outputs": [vars(o) for o in self.outputs]}


def _int(doc: dict, path: Path, key: str, default: int, lo: int) -> int:
    v = doc.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise spec_error(path, key, v, f"must be an integer >= {lo}")
    return v


def _calibrated_range(path: Path, name: str, body: dict, how: str) -> list[float]:
    """A factor's range from the calibration: the prior's bounds, or the posterior's 5-95 % interval."""
    keys = body.get("keys", [name])
    keys = [keys] if isinstance(keys, str) else keys
    if len(keys) != 1:
        raise spec_error(path, f"factors.{name}.range", how, "a range from the calibration needs exactly one key")
    key = keys[0]
    from .calibrate import load_priors

    priors = {p.key: p for p in load_priors().parameters}
    if key not in priors:
        raise spec_error(path, f"factors.{name}.range", how, f"{key} is not calibrated (calibration/priors.toml); "
                   "give range = [low, high]")
    if how == "prior":
        return [float(priors[key].low), float(priors[key].high)]
    from .posterior import Posterior
    from .stats import weighted_quantile

    post = Posterior.load()
    if key not in post.keys:
        raise spec_error(path, f"factors.{name}.range", how, f"{key} is not in the shipped posterior")
    lo, hi = weighted_quantile(post.theta[:, post.keys.index(key)], [0.05, 0.95], post.weights)
    if not lo < hi:
        raise spec_error(path, f"factors.{name}.range", how, f"the posterior of {key} has no spread ({lo}, {hi})")
    return [float(lo), float(hi)]


def factors_from(path: Path, factors_doc: Any) -> tuple[list, list[str], dict[str, str]]:
    """The factors of a sensitivity or discovery file: as in a sweep (keys, range, values, log), a range
    may be "posterior" or "prior" (from the calibration), and each has a role, "lever" or "uncertain"
    (default: uncertain over a calibrated parameter or a range from the calibration, lever for a
    parameter the visual server offers as one, uncertain otherwise). Returns (factors, roles, ranges_from)."""
    if not isinstance(factors_doc, dict) or len(factors_doc) < 2:
        raise spec_error(path, "factors", factors_doc, "must be a table of at least two [factors.<name>]")
    from .calibrate import load_priors

    calibrated = {p.key for p in load_priors().parameters}
    factors, roles, ranges_from = [], [], {}
    for name, body in factors_doc.items():
        if not isinstance(body, dict):
            raise spec_error(path, f"factors.{name}", body, "must be a table with keys and range (or values)")
        body = dict(body)
        role = body.pop("role", None)
        if isinstance(body.get("range"), str):
            how = body["range"]
            if how not in ("posterior", "prior"):
                raise spec_error(path, f"factors.{name}.range", how, 'must be [low, high], "posterior" or "prior"')
            body["range"] = _calibrated_range(path, name, body, how)
            ranges_from[name] = how
        f = _factor(path, name, body, "lhs")
        if role is None:
            levers = all(BY_KEY[k].lever for k in f.keys) and not set(f.keys) & calibrated
            role = "uncertain" if name in ranges_from or not levers else "lever"
        elif role not in ROLES:
            raise spec_error(path, f"factors.{name}.role", role, "must be one of " + ", ".join(ROLES))
        factors.append(f)
        roles.append(role)
    return factors, roles, ranges_from


def load_spec(path_like: str | Path) -> SensitivitySpec:
    """Read and validate a sensitivity file; every problem is a one-line ParamError naming the key."""
    path, doc, base = read_spec(path_like, TOP_KEYS, "sensitivity")
    method = doc.get("method", "morris")
    if method not in METHODS:
        raise spec_error(path, "method", method, "must be one of " + ", ".join(METHODS))
    samples = _int(doc, path, "samples", 20 if method == "morris" else 64, 2)
    if method == "sobol" and samples & (samples - 1):
        raise spec_error(path, "samples", samples, "sobol needs a power of two (e.g. 64, 128, 256)")
    levels = _int(doc, path, "levels", 4, 2)
    if method == "morris" and levels % 2:
        raise spec_error(path, "levels", levels, "morris needs an even number of levels (4 is usual)")
    resamples = _int(doc, path, "resamples", 1000, 10)
    factors, roles, ranges_from = factors_from(path, doc.get("factors"))
    outputs = parse_outputs(doc.get("outputs"), str(path))
    first = _int(doc, path, "first_seed", 1, 0)
    seeds = tuple(range(first, first + _int(doc, path, "seeds", 2, 1)))
    design_seed = _int(doc, path, "design_seed", 1, 0)
    d = len(factors)
    points = samples * (d + 1 if method == "morris" else d + 2)
    if points * len(seeds) > MAX_RUNS:
        raise spec_error(path, "samples", samples, f"{points:,} points x {len(seeds)} seeds is more than {MAX_RUNS:,} runs")
    overrides = run_overrides(doc)
    indicators = tuple(dict.fromkeys(n for o in outputs for n in o.indicators))
    spec = SensitivitySpec(path, scenarios.question(path), base, method, tuple(factors), points, design_seed, seeds,
                           indicators, overrides, None, hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                           method=method, samples=samples, levels=levels, resamples=resamples, outputs=outputs,
                           roles=tuple(roles), ranges_from=ranges_from)
    base_params = scenarios.load(base).params  # the base must exist and every point must validate
    check_output_years(outputs, base_params.replace(overrides, where=str(path)), str(path))
    for point in spec.design_points():
        spec.point_params(base_params, point)
    return spec


# --- analysis ------------------------------------------------------------------------------------------
def output_matrix(spec: SensitivitySpec, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Each output at each design point: the mean over the seeds (points x outputs), and its value on each seed
    (points x seeds x outputs, the seeds in order)."""
    from .api import province_values

    table = pd.read_csv(folder / "table.csv", dtype={"period": str, "indicator": str})
    runs = np.full((spec.points, len(spec.seeds), len(spec.outputs)), np.nan)
    for i, g in table.groupby("point", sort=True):
        for k, (_, r) in enumerate(g.groupby("seed", sort=True)):
            values = province_values(zip(r.period, ["Zhejiang"] * len(r), ["all"] * len(r), r.indicator, r.value))
            runs[int(i), k] = [o.value(values) for o in spec.outputs]
    return runs.mean(axis=1), runs


def elementary_effects(spec: SensitivitySpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Morris elementary effects of ``y`` (a value per design row, or rows x seeds) over the design ``x`` (rows in
    the unit cube, trajectories of len(factors) + 1 rows, each step moving one factor): the output's change over
    the factor's change, per trajectory and factor (trajectories x factors [x seeds]). Their mean absolute value
    over trajectories is SALib's mu*."""
    k = len(spec.factors)
    xs = x.reshape(-1, k + 1, k)
    ys = y.reshape(len(xs), k + 1, *y.shape[1:])
    dx = np.diff(xs, axis=1)  # (trajectories, steps, factors): one factor non-zero a step
    which = np.argmax(np.abs(dx), axis=2)
    step = np.take_along_axis(dx, which[..., None], axis=2)[..., 0]
    ee = np.diff(ys, axis=1) / step.reshape(*step.shape, *([1] * (y.ndim - 1)))
    out = np.empty_like(ee)
    np.put_along_axis(out, which.reshape(*which.shape, *([1] * (y.ndim - 1))), ee, axis=1)
    return out


def indices(spec: SensitivitySpec, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """SALib's indices of one output over the design rows given: Morris mu*, its 95 % half-width, mu and
    sigma; or Sobol S1 and ST with their 95 % half-widths."""
    if spec.method == "morris":
        from SALib.analyze import morris

        r = morris.analyze(spec.problem(), x, y, num_resamples=spec.resamples, conf_level=CONF,
                           num_levels=spec.levels, seed=spec.design_seed)
        return {"mu_star": np.asarray(r["mu_star"], float), "mu_star_conf": np.asarray(r["mu_star_conf"], float),
                "mu": np.asarray(r["mu"], float), "sigma": np.asarray(r["sigma"], float)}
    from SALib.analyze import sobol

    r = sobol.analyze(spec.problem(), y, calc_second_order=False, num_resamples=spec.resamples, conf_level=CONF,
                      seed=spec.design_seed)
    return {"S1": np.asarray(r["S1"], float), "S1_conf": np.asarray(r["S1_conf"], float),
            "ST": np.asarray(r["ST"], float), "ST_conf": np.asarray(r["ST_conf"], float)}


def sample_sizes(samples: int) -> list[int]:
    """The sample sizes of the convergence check: FRACTIONS of the sample, at least 2, each once."""
    return sorted({max(2, int(round(samples * f))) for f in FRACTIONS})


def main_index(method: str) -> str:
    return "mu_star" if method == "morris" else "ST"


def analyse(spec: SensitivitySpec, folder: Path) -> dict:
    """indices.csv, convergence.csv, figures and report.md from a finished design."""
    x = spec.unit_design()
    y, runs = output_matrix(spec, folder)
    rows, conv = [], []
    results = {}
    for j, o in enumerate(spec.outputs):
        res = indices(spec, x, y[:, j])
        results[o.name] = res
        for k, f in enumerate(spec.factors):
            for name in [n for n in res if not n.endswith("_conf")]:
                half = res.get(f"{name}_conf", np.full(len(spec.factors), np.nan))[k]
                rows.append({"output": o.name, "factor": f.name, "role": spec.roles[k], "index": name,
                             "value": res[name][k], "conf95": half, "samples": spec.samples})
        for m in sample_sizes(spec.samples):
            sub = indices(spec, x[: m * spec.block], y[: m * spec.block, j]) if m < spec.samples else res
            key = main_index(spec.method)
            for k, f in enumerate(spec.factors):
                conv.append({"output": o.name, "factor": f.name, "index": key, "samples": m,
                             "value": sub[key][k], "conf95": sub[f"{key}_conf"][k]})
    table = pd.DataFrame(rows)
    convergence = pd.DataFrame(conv)
    store.write_csv(folder / "indices.csv", list(table.columns), table.astype(str).itertuples(index=False))
    store.write_csv(folder / "convergence.csv", list(convergence.columns),
                    convergence.astype(str).itertuples(index=False))
    noise = noise_levels(spec, x, runs)
    from . import plots

    figures = plots.sensitivity_figures(spec, table, convergence, noise, folder / "figures")
    report = write_report(spec, folder, table, convergence, noise, y)
    return {"indices": str(folder / "indices.csv"), "figures": [str(p) for p in figures], "report": str(report)}


def noise_levels(spec: SensitivitySpec, x: np.ndarray, runs: np.ndarray) -> dict:
    """What seed noise alone would show, per output (``runs``: points x seeds x outputs over the design ``x``).
    Every point runs on the same seeds, so a seed's shift is shared by every point and cancels from an elementary
    effect and from the contrasts Sobol's estimators take; the noise is what is left. Morris: per factor, the mu*
    of elementary effects of pure noise, E|N(0, s)| = s sqrt(2 / pi), with s^2 the variance over seeds of the
    factor's effects, averaged over trajectories, over the number of seeds (an array, one value per factor). Sobol:
    the share of the output's variance across the design that is noise in a point's mean, the residual variance
    of the points x seeds table (stats.residual_variance) over the seeds, over the variance of the points' means.
    NaN with one seed. (Until 2026-12-07 one level per output came from the seeds' variance at each point,
    which holds the shared shift: 1.6-3.3 times too high on a review's Morris design.)"""
    from .stats import residual_variance

    s = runs.shape[1]
    out = {}
    for j, o in enumerate(spec.outputs):
        if s < 2:
            out[o.name] = np.full(len(spec.factors), np.nan) if spec.method == "morris" else math.nan
        elif spec.method == "morris":
            ee = elementary_effects(spec, x, runs[:, :, j])  # trajectories x factors x seeds
            out[o.name] = np.sqrt(np.mean(np.var(ee, axis=2, ddof=1), axis=0) / s) * math.sqrt(2 / math.pi)
        else:
            total = np.nanvar(runs[:, :, j].mean(axis=1), ddof=1)
            out[o.name] = residual_variance(runs[:, :, j]) / s / total if total > 0 else math.nan
    return out


def _fmt(v: float) -> str:
    """A number for the report (experiments._fmt, the project's one number format; n/a when undefined)."""
    from .experiments import _fmt as fmt

    return fmt(v) or "n/a"


def write_report(spec: SensitivitySpec, folder: Path, table: pd.DataFrame, convergence: pd.DataFrame,
                 noise: dict, y: np.ndarray) -> Path:
    """report.md: the design, then for each output the factors in order, in words."""
    key = main_index(spec.method)
    what = ("Morris elementary effects: mu* (mean absolute effect of moving a factor one grid step, scaled to "
            "its full range, in the output's units), its bootstrap 95 % interval, and sigma (their spread: "
            "interactions or non-linearity)" if spec.method == "morris" else
            "Sobol indices (Saltelli's design, Jansen's estimators in SALib): first-order S1 (the share of the "
            "output's variance a factor explains alone) and total ST (with all its interactions), with bootstrap "
            "95 % intervals")
    lines = [f"# Sensitivity: {spec.path.stem}", ""]
    if spec.question:
        lines += [f"Question: {spec.question}", ""]
    lines += [f"Base scenario `{spec.base}`; {spec.method}, {spec.samples} "
              f"{'trajectories' if spec.method == 'morris' else 'base samples'} x {spec.block} = {spec.points} design "
              f"points, each on seeds {spec.seeds[0]}-{spec.seeds[-1]} (the same seeds at every point: common random "
              f"numbers; an output is their mean); {spec.points * len(spec.seeds)} runs. {what}.", "",
              "## Factors", "", "| factor | parameters | range | role |", "|---|---|---|---|"]
    for f, role in zip(spec.factors, spec.roles):
        rng = (", ".join(map(str, f.values)) if f.values is not None else
               f"{f.low:g} to {f.high:g}{' (log)' if f.log else ''}")
        src = spec.ranges_from.get(f.name)
        rng += {"posterior": " (5-95 % of the calibration posterior)", "prior": " (calibration prior)"}.get(src, "")
        lines.append(f"| `{f.name}` | {', '.join(f'`{k}`' for k in f.keys)} | {rng} | {role} |")
    for j, o in enumerate(spec.outputs):
        t = table[(table.output == o.name) & (table["index"] == key)].set_index("factor")
        order = t.value.sort_values(ascending=False).index.tolist()
        lines += ["", f"## {o.name}: {o.describe()} ({o.unit})", "",
                  f"Across the design the output ranges from {_fmt(np.nanmin(y[:, j]))} to {_fmt(np.nanmax(y[:, j]))} "
                  f"(mean {_fmt(np.nanmean(y[:, j]))}).", ""]
        if spec.method == "morris":
            lines += ["| rank | factor | role | mu* [95 %] | mu | sigma |", "|---|---|---|---|---|---|"]
            idx = {n: table[(table.output == o.name) & (table["index"] == n)].set_index("factor").value
                   for n in ("mu", "sigma")}
            for r, fac in enumerate(order, 1):
                v, h = t.value[fac], t.conf95[fac]
                lines.append(f"| {r} | `{fac}` | {t.role[fac]} | {_fmt(v)} [{_fmt(v - h)}, {_fmt(v + h)}] | "
                             f"{_fmt(idx['mu'][fac])} | {_fmt(idx['sigma'][fac])} |")
        else:
            s1 = table[(table.output == o.name) & (table["index"] == "S1")].set_index("factor")
            lines += ["| rank | factor | role | ST [95 %] | S1 [95 %] |", "|---|---|---|---|---|"]
            for r, fac in enumerate(order, 1):
                v, h, a, b = t.value[fac], t.conf95[fac], s1.value[fac], s1.conf95[fac]
                lines.append(f"| {r} | `{fac}` | {t.role[fac]} | {v:.3f} [{v - h:.3f}, {v + h:.3f}] | "
                             f"{a:.3f} [{a - b:.3f}, {a + b:.3f}] |")
        lines += ["", *_words(spec, o, t, order, noise[o.name], convergence)]
    lines += ["", "## Figures", ""]
    lines += (["![mu* against sigma](figures/morris.png)"] if spec.method == "morris" else
              ["![Sobol indices](figures/sobol.png)"])
    lines += ["", "![convergence](figures/convergence.png)", "",
              "Files: `indices.csv` (every index of every output and factor, with its 95 % half-width), "
              "`convergence.csv` (the main index on a quarter, half and all of the sample), `design.csv`, "
              "`table.csv` (every run), `manifest.json`."]
    return store.write_text(folder / "report.md", "\n".join(lines) + "\n")


def _words(spec: SensitivitySpec, o: Output, t: pd.DataFrame, order: list[str], noise,
           convergence: pd.DataFrame) -> list[str]:
    """The output's paragraph: what drives it, levers against uncertain parameters, noise, convergence."""
    key = main_index(spec.method)
    top = order[0]
    out = []
    unit = "the output's units per full range" if spec.method == "morris" else "share of variance"
    shown = {"mu_star": "mu*"}.get(key, key)
    out.append(f"`{top}` drives {o.name} most ({shown} = {_fmt(t.value[top])}, {unit}).")
    levers = [f for f in order if t.role[f] == "lever"]
    unc = [f for f in order if t.role[f] == "uncertain"]
    if levers and unc:
        lv, un = levers[0], unc[0]
        (a, ha), (b, hb) = (t.value[lv], t.conf95[lv]), (t.value[un], t.conf95[un])
        lever = f"The most influential policy lever, `{lv}` (rank {order.index(lv) + 1})"
        param = f"the most influential uncertain parameter, `{un}` (rank {order.index(un) + 1})"
        if a <= 0 and b <= 0:
            out.append(f"{lever}, and {param} both have {shown} of zero or below: neither moves the output.")
        elif a - ha > b + hb or b - hb > a + ha:  # their 95 % intervals apart: a direction the sample supports
            rel = f"{a / b:.2g} times" if b > 0 else "more than"
            out.append(f"{lever}, has {rel} the {shown} of {param}: "
                       + ("the policy choice matters more than what the evidence leaves open." if a > b else
                          "what the evidence leaves open matters more than this policy choice."))
        else:
            out.append(f"{lever}, and {param} have {shown} of {_fmt(a)} and {_fmt(b)}, whose 95 % intervals overlap: "
                       "at this sample it cannot be told which matters more.")
    noise = np.asarray(noise, float)
    if np.isfinite(noise).all():
        if spec.method == "morris":
            level = dict(zip([f.name for f in spec.factors], noise))
            below = [f for f in order if t.value[f] < 2 * level[f]]
            out.append(f"Seed noise alone, paired within each seed, would give a factor mu* of {_fmt(noise.min())} to "
                       f"{_fmt(noise.max())} (each its own); "
                       + (f"{', '.join(f'`{f}`' for f in below)} stay below twice their own and are not "
                          "distinguishable from noise at these seeds." if below else
                          "every factor is above twice its own."))
        else:
            out.append(f"Seed noise is {float(noise):.1%} of the output's variance across the design (it inflates "
                       "ST and blurs small indices).")
    else:
        out.append("With one seed per point the seed noise is not measured: small indices may be noise.")
    c = convergence[convergence.output == o.name]
    ranks = {m: g.sort_values("value", ascending=False).factor.tolist() for m, g in c.groupby("samples")}
    sizes = sorted(ranks)
    if len(sizes) > 1:
        same_top = ranks[sizes[-2]][:3] == ranks[sizes[-1]][:3]
        out.append(f"Convergence: the top three on {sizes[-2]} and on {sizes[-1]} samples are "
                   + ("the same, in the same order (a weak check: the smaller sample is part of the larger)."
                      if same_top else
                      f"not the same ({', '.join(ranks[sizes[-2]][:3])} against {', '.join(ranks[sizes[-1]][:3])}): "
                      "take more samples before trusting the ranking."))
    return [" ".join(out)]


def run(spec: SensitivitySpec, folder: Path, executor, resume: bool = False, progress=None) -> dict:
    """Run what is missing of the design (analysis/sweep.py), then the analysis, unless runs failed."""
    from . import sweep

    info = sweep.run_sweep(spec, folder, executor, resume=resume, progress=progress)
    if info["runs_failed"]:
        info["analysis"] = None
        return info
    info["analysis"] = analyse(spec, folder)
    return info


__all__ = ["SensitivitySpec", "load_spec", "factors_from", "analyse", "run", "indices", "output_matrix",
           "elementary_effects", "noise_levels", "METHODS"]
