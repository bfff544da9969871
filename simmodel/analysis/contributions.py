"""What each instrument contributed: the table of docs/contributions.md.

The instruments, the sign the seed paper claims for each and the notes that explain a different answer
live in ``experiments/contributions.toml`` (shipped as ``simmodel/resources/contributions.toml``).
`simmodel contributions` runs the reference and each instrument's scenario on the same seeds (through
experiments.compare, so the comparison folder is the usual one) and renders the table here.

The comparison gives each scenario's *effect*, scenario minus reference (experiments.EFFECT). An
instrument's *contribution* is what the instrument adds: the reference (with the instrument) minus the
scenario that switches it off (kind "removes", the default), or, for a scenario that adds an instrument
to the reference (kind "adds", e.g. a bigger fund), the scenario minus the reference. So a contribution
is minus the effect of a "removes" scenario and the effect of an "adds" one, per seed (common random
numbers), then the mean and the 5-95 % band over seeds (the spread of single runs). The verdict on a
claimed sign reads the interval of the mean (Student t over seeds, or over posterior draws: stats.mean_se
says why not over every run): "as claimed" when it lies on the claimed side of zero, "opposite" when it lies
on the other, "not distinguishable from zero" when it straddles zero. The table reads one verdict per claimed
instrument, so its intervals are simultaneous: each at stats.simultaneous_level(k) for the k instruments with a
claim, so that all of them hold together at 95 %. Read at 95 % each, eight verdicts would call a sign for some
instrument without any effect about a third of the time; an instrument as small as the pilots changed sign
between calibrations that way. With --also-posterior the same verdicts are read again over posterior draws
(:func:`robustness`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..params import ParamError
from . import plots
from .stats import se_interval, simultaneous_level

CLAIMS = ("+", "-", "none")
KINDS = ("removes", "adds")
_KEYS = {"scenario", "name", "claim", "source", "note", "kind"}


@dataclass(frozen=True)
class Instrument:
    scenario: str
    name: str
    claim: str  # "+", "-" or "none": the sign of the instrument's contribution to firms at stage >= 1
    source: str
    note: str = ""
    kind: str = "removes"  # the scenario switches the instrument off ("removes") or adds it ("adds")

    @property
    def sign(self) -> float:
        """The contribution as a multiple of the scenario's effect (scenario minus reference)."""
        return -1.0 if self.kind == "removes" else 1.0

    def definition(self, reference: str) -> str:
        return f"{reference} minus {self.scenario}" if self.kind == "removes" else f"{self.scenario} minus {reference}"


@dataclass(frozen=True)
class Spec:
    reference: str
    instruments: tuple[Instrument, ...]
    path: Path


def default_path() -> Path:
    from .. import resources
    return resources.path("contributions.toml")


def load(path: Path | None = None) -> Spec:
    """The instruments file; a one-line error (ParamError) for anything malformed."""
    path = Path(path) if path is not None else default_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError("--file", str(path), "must be an existing instruments file (TOML)") from None
    except tomllib.TOMLDecodeError as e:
        raise ParamError("--file", str(path), f"must be valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ParamError("--file", str(path), "must be UTF-8 text (a TOML file)") from None
    except IsADirectoryError:
        raise ParamError("--file", str(path), "is a directory: must be an instruments file (TOML)") from None
    unknown = set(data) - {"reference", "instrument"}
    if unknown:
        raise ParamError(f"{path.name}: key", sorted(unknown)[0], "allowed: reference, [[instrument]]")
    items = data.get("instrument", [])
    if not items:
        raise ParamError(f"{path.name}: instrument", "(none)", "list at least one [[instrument]]")
    out = []
    for i, it in enumerate(items, 1):
        bad = set(it) - _KEYS
        if bad:
            raise ParamError(f"{path.name}: instrument {i} key", sorted(bad)[0], "allowed: " + ", ".join(sorted(_KEYS)))
        for key in ("scenario", "name", "claim"):
            if not isinstance(it.get(key), str) or not it[key]:
                raise ParamError(f"{path.name}: instrument {i} {key}", it.get(key), "must be a non-empty string")
        if it["claim"] not in CLAIMS:
            raise ParamError(f"{path.name}: instrument {i} claim", it["claim"], "allowed: " + ", ".join(CLAIMS))
        if it.get("kind", "removes") not in KINDS:
            raise ParamError(f"{path.name}: instrument {i} kind", it["kind"], "allowed: " + ", ".join(KINDS))
        out.append(Instrument(it["scenario"], it["name"], it["claim"], it.get("source", ""), it.get("note", ""),
                              it.get("kind", "removes")))
    names = [x.scenario for x in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ParamError(f"{path.name}: scenario", dup, "each scenario may appear once")
    return Spec(str(data.get("reference", "baseline")), tuple(out), path)


def verdict(claim: str, lo: float, hi: float) -> str:
    """The answer of the mean's interval [lo, hi] to the claimed sign (see the module docstring)."""
    if claim == "none":
        return "no claim"
    if lo > 0 or hi < 0:
        return "as claimed" if (lo > 0) == (claim == "+") else "opposite"
    return "not distinguishable from zero"


def claims(spec: Spec) -> int:
    """How many verdicts the table reads: its instruments with a claimed sign."""
    return sum(inst.claim != "none" for inst in spec.instruments)


def level(spec: Spec) -> float:
    """The level of each interval of the table: all the claimed instruments' intervals hold together at 95 %."""
    return simultaneous_level(claims(spec))


def interval_phrase(spec: Spec) -> str:
    """What the table's intervals are, in one sentence."""
    k = claims(spec)
    if k < 2:
        return ""
    return (f"With {k} claims read off one table the intervals are simultaneous: each at {percent(level(spec))} "
            f"(Bonferroni, 1 - 0.05 / {k}), so that all {k} hold together at 95 % and an instrument without any "
            f"effect is called a sign in at most 5 % of tables (read at 95 % each, {k} verdicts would call some "
            f"sign about {percent(1 - 0.95 ** k, 2)} of the time).")


def percent(x: float, digits: int = 6) -> str:
    """0.99375 as '99.375 %'."""
    return f"{100 * x:.{digits}g} %"


def table(spec: Spec, effects: pd.DataFrame, year: int | None = None) -> pd.DataFrame:
    """Each instrument's contribution to each metric in ``year`` (default: the last of the effects table),
    from the comparison's effects (experiments.EFFECT, scenario minus reference): minus the effect of a
    scenario that removes the instrument, the effect of one that adds it. Columns: instrument, scenario,
    (scenario,) kind, definition ('baseline minus no_fund'), year, period, metric, reference_mean, contribution_mean,
    _p05, _p50, _p95, _pct_mean (% of the reference), contribution_mean_lo and _hi (the interval of the mean at
    ``level``: :func:`level`, simultaneous over the claims), level, runs, units (the replications the interval
    rests on: the runs, or the posterior draws) (the instruments' names, which hold commas, are in the instruments
    file)."""
    from .experiments import EFFECT

    year = int(effects.year.max()) if year is None else int(year)
    e = effects[effects.year == year]
    at = level(spec)
    out = []
    for inst in spec.instruments:
        sign = inst.sign
        swap = {"p05": "p95", "p95": "p05"} if sign < 0 else {}
        for _, r in e[e.scenario == inst.scenario].iterrows():
            row = {"scenario": inst.scenario, "kind": inst.kind,
                   "definition": inst.definition(spec.reference), "year": year, "period": r.period,
                   "metric": r.metric, "reference_mean": r.reference_mean}
            for k in ("mean", "p05", "p50", "p95", "pct_mean"):
                row[f"contribution_{k}"] = sign * r[f"{EFFECT}_{swap.get(k, k)}"]
            lo, hi = se_interval(row["contribution_mean"], r[f"{EFFECT}_se"], int(r.units), at)
            row.update({"contribution_mean_lo": lo, "contribution_mean_hi": hi, "level": at, "runs": r.runs,
                        "units": r.units})
            out.append(row)
    return pd.DataFrame(out)


def rows(spec: Spec, contributions: pd.DataFrame) -> list[dict]:
    """One row per instrument: the band of each metric (mean, p05, p95: the contribution's) and the
    verdict on firms at stage >= 1. ``contributions``: :func:`table`."""
    out = []
    for inst in spec.instruments:
        c = contributions[contributions.scenario == inst.scenario].set_index("metric")
        c = c.rename(columns=lambda k: k.removeprefix("contribution_"))
        firms = c.loc["firms_stage_1plus"]
        out.append({"instrument": inst, "bands": {m: c.loc[m] for m in c.index},
                    "interval": (float(firms.mean_lo), float(firms.mean_hi)),
                    "verdict": verdict(inst.claim, float(firms.mean_lo), float(firms.mean_hi))})
    return out


def _cell(r, div: float) -> str:
    from .experiments import _fmt

    if np.isfinite(r.p05) and np.isfinite(r.p95):
        return f"{_fmt(r['mean'] / div)} [{_fmt(r.p05 / div)}, {_fmt(r.p95 / div)}]"
    return _fmt(r["mean"] / div)


def bars(spec: Spec, contributions: pd.DataFrame) -> pd.DataFrame:
    """The rows of plots.effect_bars: one bar per instrument, its contribution, labelled by the instrument (its
    name before any parenthesis), not by the scenario that switches it off (whose effect has the other sign)."""
    label = {inst.scenario: inst.name.split(" (")[0] for inst in spec.instruments}
    c = contributions
    return pd.DataFrame({"row": c.scenario.map(label), "metric": c.metric, "mean": c.contribution_mean,
                         "p05": c.contribution_p05, "p95": c.contribution_p95, "lo": c.contribution_mean_lo,
                         "hi": c.contribution_mean_hi})


def markdown(spec: Spec, contributions: pd.DataFrame, seeds: list[int], scale: float, year: int,
             command: str, commit: str | None, figure: str | None, draws: int | None = None, moved=(),
             posterior: tuple[pd.DataFrame, int] | None = None) -> str:
    """docs/contributions.md: the table, the verdicts, the notes and the figure. ``draws``: the number of
    posterior draws the ``seeds`` are shared among (None: every run at the calibrated point, but for what
    ``moved``, the --set keys, changes of it). ``posterior``: the same contributions over that many posterior
    draws (:func:`table`), one seed each, read beside the point's (:func:`robustness`)."""
    from .posterior import bands_phrase, design_phrase, point_phrase
    from .stats import band_note, has_band

    table = rows(spec, contributions)
    metrics = plots.CONTRIBUTION_METRICS
    banded = has_band(len(seeds))
    if draws:
        runs = (f"{design_phrase(draws, len(seeds) // draws)} ({len(seeds)} runs, seeds {seeds[0]}-"
                f"{seeds[-1]}; {bands_phrase(draws, len(seeds) // draws, checked=True)})")
        per, each = "per run (draw and seed)", "per-run"
    else:
        runs = f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]}) at {point_phrase(moved)}"
        per, each = "per seed", "per-seed"
    lines = [
        "# What each instrument contributed",
        "",
        f"Generated by `{command}`{f' (model code at commit {commit})' if commit else ''}; do not edit the table by hand "
        f"(the instruments, claims and notes are in `experiments/contributions.toml`).",
        "",
        f"Each instrument's contribution is what it adds: `{spec.reference}` (with the instrument) minus the "
        f"scenario that switches it off or, for a scenario that adds an instrument to `{spec.reference}` (marked "
        f"\"added to `{spec.reference}`\"), that scenario minus `{spec.reference}`; {per}, on common random numbers: "
        f"{runs}, {scale:g} of the firms (agents stand for real firms; capacities and budgets are in real firms "
        f"and yuan). A positive cell means the instrument added to that outcome. Cells are "
        + (f"the mean and [5 %, 95 %] of the {each} contributions" if banded else
           f"the mean of the {each} contributions ({band_note(len(seeds))})")
        + f"; outcomes are of {year}, subsidy yuan are summed over "
        f"2013-{year}. (A comparison's report gives the opposite quantity for a scenario that switches an "
        f"instrument off: its effect, scenario minus `{spec.reference}`.)",
        "",
        "The claim is the sign the seed paper reports for firms at stage >= 1 (\"+\": the instrument added firms). "
        "The verdict reads the interval of the mean over "
        + ("posterior draws (Student t over the draws' own means: the seeds of a draw share its parameters, so the "
           "draws, not the runs, are the independent replications; " if draws else "seeds (Student t; ")
        + "given in the last column, in firms): as claimed, opposite, or not distinguishable from zero. "
        + interval_phrase(spec)
        + (" The 5-95 % band is the spread of single runs, wider by about the square root of the number of seeds."
           if banded else ""),
        "",
        "| instrument (scenario) | claim | " + " | ".join(f"{label} ({unit})" for _, label, _, unit in metrics)
        + f" | verdict: mean firms at stage >= 1, {percent(level(spec))} interval |",
        "|---|---|" + "---|" * len(metrics) + "---|",
    ]
    for row in table:
        inst = row["instrument"]
        cells = [_cell(row["bands"][m], div) if m in row["bands"] else "" for m, _, div, _ in metrics]
        lo, hi = row["interval"]
        added = f", added to `{spec.reference}`" if inst.kind == "adds" else ""
        lines.append(f"| {inst.name} (`{inst.scenario}`{added}) | {inst.claim} | " + " | ".join(cells)
                     + f" | {row['verdict']} [{lo:,.0f}, {hi:,.0f}] |")
    if posterior is not None:
        lines += robustness(spec, table, *posterior)
    lines += ["", "## Sources of the claims", ""]
    lines += [f"- **{r['instrument'].name}**: {r['instrument'].source or '(none given)'}" for r in table]
    notes = [r for r in table if r["instrument"].note]
    if notes:
        lines += ["", "## Why an answer differs from the claim, or is small", ""]
        lines += [f"- **{r['instrument'].name}** ({r['verdict']}): {r['instrument'].note.strip()}" for r in notes]
    missing = [r["instrument"].name for r in table
               if r["verdict"] in ("opposite", "not distinguishable from zero") and not r["instrument"].note]
    if missing:
        lines += ["", "**Without an explanation yet:** " + ", ".join(missing) + "."]
    if figure:
        lines += ["", f"![contributions]({figure})"]
    return "\n".join(lines) + "\n"


def _firms(x: float, sign: str = "") -> str:
    """A count of firms, rounded, without a negative zero ('n/a' where undefined)."""
    return f"{round(x) + 0:{sign},}" if np.isfinite(x) else "n/a"


def robustness(spec: Spec, point: list[dict], over: pd.DataFrame, draws: int) -> list[str]:
    """The section that reads each verdict over the posterior beside the point's: ``point`` the point's
    :func:`rows`, ``over`` the contributions over ``draws`` posterior draws (:func:`table`)."""
    post = {r["instrument"].scenario: r for r in rows(spec, over)}
    lines = ["", "## The same verdicts over the calibration's posterior", "",
             f"The calibrated point is one of many parameter sets the calibration's posterior holds (a posterior looser "
             "than `validate`'s rule: most of its draws miss some fitted target, docs/ODD.md 3.6). Here every "
             "scenario also ran on "
             f"{draws} draws from the calibration's posterior (one seed each, the same draws and seeds for every "
             "scenario), and each contribution to firms at stage >= 1 is read again over them: the mean over the "
             "draws and its interval over the draws' own values (Student t, at the table's simultaneous level). "
             "Where the two verdicts differ, the point's may rest on where the point sits among the draws, or the "
             "posterior's interval may only be wider; the two means are not tested against each other.", "",
             "| instrument (scenario) | claim | at the point | over the posterior | the same verdict? |",
             "|---|---|---|---|---|"]
    differ = []
    for row in point:
        inst = row["instrument"]
        p = post[inst.scenario]
        cells = []
        for r in (row, p):
            mean, (lo, hi) = r["bands"]["firms_stage_1plus"]["mean"], r["interval"]
            cells.append(f"{_firms(mean, '+')} [{_firms(lo)}, {_firms(hi)}] {r['verdict']}")
        same = "yes" if row["verdict"] == p["verdict"] else "**no**"
        if same != "yes":
            differ.append(f"{inst.name} ({row['verdict']} at the point, {p['verdict']} over the posterior)")
        lines.append(f"| {inst.name} (`{inst.scenario}`) | {inst.claim} | {cells[0]} | {cells[1]} | {same} |")
    lines += ["", ("Every verdict is the same over the posterior." if not differ else
                   "The verdict differs for: " + "; ".join(differ) + ".")]
    return lines


__all__ = ["Instrument", "Spec", "load", "verdict", "claims", "level", "interval_phrase", "percent", "table", "rows",
           "bars", "markdown", "robustness", "default_path", "CLAIMS", "KINDS"]
