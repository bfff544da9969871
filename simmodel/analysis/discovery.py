"""Scenario discovery: PRIM boxes for an outcome of interest (the EMA workbench's PRIM; docs/ODD.md 3.5).

A discovery file (experiments/discovery/*.toml):

    # Question: under which levers and uncertainties do fewer than 60,000 firms reach stage >= 1 by 2020?
    base = "baseline"
    design = "lhs"            # lhs | sobol: a space-filling design over the factors
    points = 200
    design_seed = 1
    seeds = 1                 # the same seeds at every point; an output is their mean
    end = "2020-12"           # scale = 0.02 (optional)

    [outputs.firms_2020]      # analysis/api.py: indicator, year, sum, over, over_sum
    indicator = "firms_stage_1plus"
    year = 2020

    [interest]                # the cases of interest: an output below (or above) a value
    output = "firms_2020"
    below = 60000

    [prim]                    # optional: PRIM's settings (EMA workbench defaults)
    threshold = 0.8           # the density the chosen box must reach (else the densest box is chosen)
    peel_alpha = 0.05
    mass_min = 0.05

    [factors.subsidy_rate]    # as in a sensitivity file: keys, range (or "posterior" / "prior"), values, role
    keys = ["cities.purchase_rate"]
    range = [0.0, 0.3]

The design runs like a sweep (one file per run, --resume, progress, manifest). PRIM peels the factor
space towards the cases of interest; the chosen box is the one on the peeling trajectory with the
largest coverage among those whose density reaches the threshold. Its limits come with the EMA
workbench's quasi-p-values (a binomial test of whether the restriction raises the share of cases of
interest by more than chance would).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs import store
from . import scenarios
from .api import Output, check_output_years, parse_outputs, run_overrides
from .sensitivity import factors_from, output_matrix
from .sweep import MAX_RUNS, SweepSpec, read_spec, spec_error

TOP_KEYS = {"base", "design", "points", "design_seed", "seeds", "first_seed", "end", "scale", "outputs", "interest",
            "prim", "factors"}
# PRIM is run on this many seeded shuffles of the factors' order. EMA's peeling breaks ties
# between equally good peels (frequent: case counts are integers) by column order, so the box could depend on the
# order the factors are listed in (a review, 2026-12-07: in 33 of 56 synthetic designs reversing the columns moved
# the box). The box reported is the best over the orders (coverage, then density, then the fewest restricted
# factors: a restriction that changes neither is not evidence), the most frequent among equals; the report says how
# often each set of restricted factors came out.
ORDERS = 20
PRIM_KEYS = {"threshold": (0.8, 0.0, 1.0), "peel_alpha": (0.05, 0.001, 0.5), "paste_alpha": (0.05, 0.0, 0.5),
             "mass_min": (0.05, 0.0, 0.5)}


@dataclass(frozen=True)
class DiscoverySpec(SweepSpec):
    """A validated discovery file: a space-filling sweep, its outputs, the outcome of interest, PRIM's settings."""

    kind: str = "discovery"
    outputs: tuple[Output, ...] = ()
    roles: tuple[str, ...] = ()
    ranges_from: dict = field(default_factory=dict)
    interest_output: str = ""
    interest_side: str = "below"  # "below" | "above"
    interest_value: float = 0.0
    prim: dict = field(default_factory=dict)

    def manifest_extra(self) -> dict:
        return {"roles": dict(zip([f.name for f in self.factors], self.roles)), "ranges_from": self.ranges_from,
                "outputs": [vars(o) for o in self.outputs],
                "interest": {"output": self.interest_output, self.interest_side: self.interest_value},
                "prim": self.prim}

    def interest_text(self) -> str:
        o = next(o for o in self.outputs if o.name == self.interest_output)
        return f"{o.describe()} {self.interest_side} {self.interest_value:,.6g} {o.unit}"


def load_spec(path_like: str | Path) -> DiscoverySpec:
    """Read and validate a discovery file; every problem is a one-line ParamError naming the key."""
    path, doc, base = read_spec(path_like, TOP_KEYS, "discovery")
    design = doc.get("design", "lhs")
    if design not in ("lhs", "sobol"):
        raise spec_error(path, "design", design, "must be lhs or sobol (a space-filling design)")
    points = doc.get("points", 200)
    if not isinstance(points, int) or isinstance(points, bool) or points < 20:
        raise spec_error(path, "points", points, "must be an integer >= 20 (PRIM needs cases to peel)")
    if design == "sobol" and points & (points - 1):
        raise spec_error(path, "points", points, "sobol needs a power of two (e.g. 128, 256)")
    factors, roles, ranges_from = factors_from(path, doc.get("factors"))
    outputs = parse_outputs(doc.get("outputs"), str(path))
    interest = doc.get("interest")
    if not isinstance(interest, dict):
        raise spec_error(path, "interest", interest, "must be a table with output and below (or above)")
    unknown = set(interest) - {"output", "below", "above"}
    if unknown:
        k = sorted(unknown)[0]
        raise spec_error(path, f"interest.{k}", interest[k], "unknown; allowed: output, below, above")
    if interest.get("output") not in [o.name for o in outputs]:
        raise spec_error(path, "interest.output", interest.get("output"), "must name one of the [outputs]: "
                   + ", ".join(o.name for o in outputs))
    sides = [s for s in ("below", "above") if s in interest]
    if len(sides) != 1 or not isinstance(interest[sides[0]], (int, float)) or isinstance(interest[sides[0]], bool):
        raise spec_error(path, "interest", interest, "needs exactly one of below = <number> or above = <number>")
    if not math.isfinite(interest[sides[0]]):
        raise spec_error(path, f"interest.{sides[0]}", interest[sides[0]], "must be a finite number")
    prim_doc = doc.get("prim", {})
    if not isinstance(prim_doc, dict):
        raise spec_error(path, "prim", prim_doc, "must be a table (threshold, peel_alpha, paste_alpha, mass_min)")
    prim = {}
    for k, v in prim_doc.items():
        if k not in PRIM_KEYS:
            raise spec_error(path, f"prim.{k}", v, "unknown; allowed: " + ", ".join(PRIM_KEYS))
    for k, (default, lo, hi) in PRIM_KEYS.items():
        v = prim_doc.get(k, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
            raise spec_error(path, f"prim.{k}", v, f"must be a number from {lo} to {hi}")
        prim[k] = float(v)
    seeds_n, first, design_seed = (doc.get(k, d) for k, d in (("seeds", 1), ("first_seed", 1), ("design_seed", 1)))
    for k, v, lo in (("seeds", seeds_n, 1), ("first_seed", first, 0), ("design_seed", design_seed, 0)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise spec_error(path, k, v, f"must be an integer >= {lo}")
    seeds = tuple(range(first, first + seeds_n))
    if points * len(seeds) > MAX_RUNS:
        raise spec_error(path, "points", points, f"{points:,} points x {len(seeds)} seeds is more than {MAX_RUNS:,} runs")
    overrides = run_overrides(doc)
    indicators = tuple(dict.fromkeys(n for o in outputs for n in o.indicators))
    spec = DiscoverySpec(path, scenarios.question(path), base, design, tuple(factors), points, design_seed, seeds,
                         indicators, overrides, None, hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                         outputs=outputs, roles=tuple(roles), ranges_from=ranges_from,
                         interest_output=interest["output"], interest_side=sides[0],
                         interest_value=float(interest[sides[0]]), prim=prim)
    base_params = scenarios.load(base).params
    check_output_years(outputs, base_params.replace(overrides, where=str(path)), str(path))
    for point in spec.design_points():
        spec.point_params(base_params, point)
    return spec


# --- analysis ------------------------------------------------------------------------------------------
@dataclass
class Box:
    """The chosen PRIM box and the trajectory it was chosen from."""

    trajectory: pd.DataFrame  # coverage, density, mass, res_dim, mean per peeling step (EMA's peeling_trajectory)
    chosen: int  # the step chosen
    limits: pd.DataFrame  # restricted factors: min, max (or the categories kept), qp (quasi-p-value)
    cases: int  # cases of interest in the design
    points: int
    agreement: int = 1  # of the column orders PRIM was run on, those giving this box's restricted factors
    orders: int = 1
    others: list = field(default_factory=list)  # (restricted factors, orders) of the other boxes found


def find_box(x: pd.DataFrame, y: np.ndarray, settings: dict, orders: int = ORDERS, seed: int = 0) -> Box:
    """PRIM on the design ``x`` and the cases of interest ``y`` (:func:`prim_box`), run on ``orders`` orders of
    the factors, shuffles from a generator seeded with ``seed`` (not the file's order). Of the boxes chosen, the best:
    one that reaches the density threshold before one that does not, then by coverage (by density where none
    reaches it), density, and the fewest restricted factors; among equals, the set of restricted factors found
    in the most orders, then the first in that sequence. Its limits are in the file's order of factors, with how
    many orders gave its factors (``agreement``) and which others came out (``others``)."""
    from collections import Counter

    rng = np.random.default_rng(seed)
    columns = list(x.columns)
    names = sorted(columns)  # the orders do not depend on the file's
    boxes = [prim_box(x[list(rng.permutation(names))], y, settings) for _ in range(orders)]
    keys = [frozenset(b.limits.factor) for b in boxes]
    counts = Counter(keys)
    rank = []
    for b, k in zip(boxes, keys):
        t = b.trajectory.loc[b.chosen]
        meets = bool(t.density >= settings["threshold"])  # a box that reaches the threshold beats one that does not
        rank.append((meets, round(t.coverage if meets else t.density, 12), round(t.density, 12), -len(k), counts[k]))
    pick = rank.index(max(rank))  # the first of the best
    box = boxes[pick]
    box.limits = box.limits.set_index("factor").reindex([c for c in columns if c in keys[pick]]).reset_index()
    box.agreement, box.orders = counts[keys[pick]], orders
    box.others = [([c for c in columns if c in k], n) for k, n in
                  sorted(counts.items(), key=lambda kv: (-kv[1], keys.index(kv[0]))) if k != keys[pick]]
    return box


def prim_box(x: pd.DataFrame, y: np.ndarray, settings: dict) -> Box:
    """PRIM (ema_workbench.analysis.prim) on the design ``x`` and the cases of interest ``y``; the box
    chosen is the one with the largest coverage whose density reaches the threshold (or the densest)."""
    import logging
    import warnings

    with warnings.catch_warnings():  # "ipyparallel not installed": the workbench's evaluators are not used here
        warnings.simplefilter("ignore", UserWarning)
        from ema_workbench.analysis import prim

    logging.getLogger("EMA").setLevel(logging.WARNING)
    p = prim.Prim(x, y.astype(bool), threshold=settings["threshold"], peel_alpha=settings["peel_alpha"],
                  paste_alpha=settings["paste_alpha"], mass_min=settings["mass_min"])
    box = p.find_box()
    traj = box.peeling_trajectory.reset_index(drop=True)
    ok = traj.index[traj.density >= settings["threshold"]]
    pool = traj.loc[ok] if len(ok) else traj.loc[[traj.density.idxmax()]]
    chosen = int(pool.sort_values(["coverage", "density"], ascending=False, kind="stable").index[0])
    box.select(chosen)
    lims = box.box_lims[chosen]
    restricted = [c for c in x.columns if _restricted(lims[c], x[c])]
    qp = box.qp[chosen] if hasattr(box, "qp") else {}
    rows = []
    for c in restricted:
        lo, hi = lims[c].iloc[0], lims[c].iloc[1]
        q = qp.get(c, (-1.0, -1.0)) if isinstance(qp, dict) else (-1.0, -1.0)
        q = [v if v >= 0 else math.nan for v in q]  # EMA marks a side that is not restricted with -1
        rows.append({"factor": c, "min": lo, "max": hi, "qp_low": q[0], "qp_high": q[1]})
    limits = pd.DataFrame(rows, columns=["factor", "min", "max", "qp_low", "qp_high"])
    return Box(traj, chosen, limits, int(y.sum()), len(y))


def _restricted(lim: pd.Series, col: pd.Series) -> bool:
    lo, hi = lim.iloc[0], lim.iloc[1]
    if isinstance(lo, set):
        return lo != set(col.unique())
    return lo > col.min() or hi < col.max()


def analyse(spec: DiscoverySpec, folder: Path) -> dict:
    """cases.csv (each point's outputs and whether it is a case of interest), trajectory.csv, box.csv,
    figures and report.md from a finished design."""
    y, _ = output_matrix(spec, folder)
    j = [o.name for o in spec.outputs].index(spec.interest_output)
    value = y[:, j]
    interest = value < spec.interest_value if spec.interest_side == "below" else value > spec.interest_value
    design = pd.read_csv(folder / "design.csv").set_index("point")
    x = design[[f.name for f in spec.factors]].copy()
    for f in spec.factors:  # categorical factors (explicit values) as categories for PRIM
        if f.values is not None:
            x[f.name] = x[f.name].astype(str).astype("category")
        else:  # numbers as floats: PRIM's pasting writes fractional limits
            x[f.name] = x[f.name].astype(float)
    cases = x.copy()
    for k, o in enumerate(spec.outputs):
        cases[o.name] = y[:, k]
    cases["of_interest"] = interest
    store.write_csv(folder / "cases.csv", ["point", *cases.columns], ([str(i), *map(str, r)] for i, r in
                                                                       zip(cases.index, cases.itertuples(index=False))))
    if interest.sum() == 0 or interest.all():
        box = None
    else:
        box = find_box(x, interest, spec.prim, seed=spec.design_seed)
        traj = box.trajectory[["coverage", "density", "mass", "res_dim"]]
        store.write_csv(folder / "trajectory.csv", ["step", *traj.columns],
                        ([str(i), *map(str, r)] for i, r in zip(traj.index, traj.itertuples(index=False))))
        store.write_csv(folder / "box.csv", list(box.limits.columns), box.limits.astype(str).itertuples(index=False))
    from . import plots

    figures = plots.discovery_figures(spec, cases, box, folder / "figures")
    report = write_report(spec, folder, cases, box)
    return {"figures": [str(p) for p in figures], "report": str(report), "cases": int(interest.sum())}


def write_report(spec: DiscoverySpec, folder: Path, cases: pd.DataFrame, box: Box | None) -> Path:
    n, k = len(cases), int(cases.of_interest.sum())
    lines = [f"# Scenario discovery: {spec.path.stem}", ""]
    if spec.question:
        lines += [f"Question: {spec.question}", ""]
    seeds = (f"seeds {spec.seeds[0]}-{spec.seeds[-1]} (the same at every point; an output is their mean)"
             if len(spec.seeds) > 1 else f"seed {spec.seeds[0]}")
    lines += [f"Base scenario `{spec.base}`; a {spec.design} design of {spec.points} points over {len(spec.factors)} "
              f"factors, each on {seeds}. Cases of interest: {spec.interest_text()}: **{k} of {n} points "
              f"({k / n:.0%})**.", ""]
    lines += ["| factor | parameters | range | role |", "|---|---|---|---|"]
    for f, role in zip(spec.factors, spec.roles):
        rng = (", ".join(map(str, f.values)) if f.values is not None else f"{f.low:g} to {f.high:g}")
        src = spec.ranges_from.get(f.name)
        rng += {"posterior": " (5-95 % of the calibration posterior)", "prior": " (calibration prior)"}.get(src, "")
        lines.append(f"| `{f.name}` | {', '.join(f'`{q}`' for q in f.keys)} | {rng} | {role} |")
    if box is None:
        lines += ["", "No box: " + ("no point is a case of interest." if k == 0 else "every point is a case of interest.")
                  + " Move the threshold of [interest] or widen the factors' ranges."]
    else:
        t = box.trajectory.loc[box.chosen]
        roles = dict(zip([f.name for f in spec.factors], spec.roles))
        lines += ["", "## The box", "",
                  f"PRIM (EMA workbench, peel_alpha {spec.prim['peel_alpha']}, paste_alpha {spec.prim['paste_alpha']}, "
                  f"mass_min {spec.prim['mass_min']}) peeled {len(box.trajectory) - 1} times; the box chosen (step "
                  f"{box.chosen}) is the one with the largest coverage whose density reaches {spec.prim['threshold']:.0%}"
                  + ("" if t.density >= spec.prim["threshold"] else " (none does: the densest is shown)") + ". "
                  f"It holds {t.mass:.0%} of the points; **coverage {t.coverage:.0%}** (the share of all cases of "
                  f"interest inside it) and **density {t.density:.0%}** (the share of its points that are cases). "
                  + order_text(box), "",
                  "| factor | role | box | quasi-p-value (low, high limit) |", "|---|---|---|---|"]
        for _, r in box.limits.iterrows():
            lim = limit_text(r)
            qp = ", ".join("-" if not np.isfinite(q) else f"{q:.2g}" for q in (r.qp_low, r.qp_high))
            lines.append(f"| `{r.factor}` | {roles.get(r.factor, '')} | {lim} | {qp} |")
        rows = [r for _, r in box.limits.iterrows()]
        sig = [r for r in rows if min(np.nan_to_num(r.qp_low, nan=1.0), np.nan_to_num(r.qp_high, nan=1.0)) < 0.05]
        rest = [r for r in rows if r.factor not in {q.factor for q in sig}]
        where = lambda rs: "; ".join(f"`{r.factor}` is {limit_text(r)}" for r in rs)  # noqa: E731
        which = lambda rs: ", ".join(f"`{r.factor}` ({limit_text(r)})" for r in rs)  # noqa: E731
        if not rows:
            words = "In words: PRIM found no restriction that raises the density."
        elif not sig:
            words = (f"In words: the box restricts {which(rows)}, but no restriction is significant at 5 % (quasi-p): "
                     "read the box with caution.")
        else:  # only significant restrictions are said to be where the cases concentrate
            words = (f"In words: the cases of interest concentrate where {where(sig)}. Restrictions significant at 5 % "
                     f"(quasi-p): {', '.join(f'`{r.factor}`' for r in sig)}."
                     + (f" The box also restricts {which(rest)}, not significant at 5 %: that may be chance." if rest
                        else ""))
        lines += ["", words]
    lines += ["", "![trade-off](figures/tradeoff.png)"] + (["", "![box](figures/box.png)"] if box is not None else [])
    lines += ["", "Files: `cases.csv` (each point's factors, outputs and whether it is a case of interest), "
              + ("`trajectory.csv` (coverage, density, mass and restricted dimensions at each peeling step), "
                 "`box.csv` (the chosen box), " if box is not None else "")
              + "`table.csv` (every run), `design.csv`, `manifest.json`."]
    return store.write_text(folder / "report.md", "\n".join(lines) + "\n")


def order_text(box: Box) -> str:
    """How often PRIM found this box's restricted factors over the orders of the factors it was run on."""
    if box.orders <= 1:
        return ""
    found = "; ".join(f"{', '.join(f'`{c}`' for c in k) or 'no restriction'} in {n}" for k, n in box.others)
    return (f"PRIM breaks ties between equally good peels by the order of the factors, so it ran on {box.orders} "
            f"seeded orders: {box.agreement} of them restrict these factors"
            + (f"; the others: {found}" if found else ", every one") + ".")


def limit_text(r) -> str:
    """A restricted factor's limits in words: the categories kept, "at most x", "at least x" or "x to y"
    (a side without a quasi-p-value is not restricted)."""
    if isinstance(r["min"], set):
        return ", ".join(sorted(map(str, r["min"])))
    low, high = np.isfinite(r["qp_low"]), np.isfinite(r["qp_high"])
    if low and not high:
        return f"at least {_num(r['min'])}"
    if high and not low:
        return f"at most {_num(r['max'])}"
    return f"{_num(r['min'])} to {_num(r['max'])}"


def _num(v) -> str:
    return f"{v:,.4g}" if isinstance(v, (int, float, np.floating, np.integer)) else str(v)


def run(spec: DiscoverySpec, folder: Path, executor, resume: bool = False, progress=None) -> dict:
    """Run what is missing of the design (analysis/sweep.py), then PRIM, unless runs failed."""
    from . import sweep

    info = sweep.run_sweep(spec, folder, executor, resume=resume, progress=progress)
    info["analysis"] = None if info["runs_failed"] else analyse(spec, folder)
    return info


__all__ = ["DiscoverySpec", "load_spec", "find_box", "prim_box", "limit_text", "order_text", "analyse", "run", "ORDERS"]
