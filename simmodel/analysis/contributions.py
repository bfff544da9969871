"""What each instrument contributed: the table of docs/contributions.md.

The instruments, the sign the seed paper claims for each and the notes that explain a different answer
live in ``experiments/contributions.toml`` (shipped as ``simmodel/resources/contributions.toml``).
`simmodel contributions` runs the reference and each instrument's scenario on the same seeds (through
experiments.compare, so the comparison folder is the usual one) and renders the table here.

A contribution is reference minus scenario, per seed (common random numbers), then the mean and the
5-95 % band over seeds (the spread of single runs). The verdict on a claimed sign reads the 95 %
interval of the mean (Student t over seeds, stats.mean_interval): "as claimed" when it lies on the
claimed side of zero, "opposite" when it lies on the other, "not distinguishable from zero" when it
straddles zero.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..params import ParamError
from . import plots

CLAIMS = ("+", "-", "none")
_KEYS = {"scenario", "name", "claim", "source", "note"}


@dataclass(frozen=True)
class Instrument:
    scenario: str
    name: str
    claim: str  # "+", "-" or "none": the sign of the reference-minus-scenario difference in firms at stage >= 1
    source: str
    note: str = ""


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
    path = Path(path) if path else default_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError("--file", str(path), "must be an existing instruments file (TOML)") from None
    except tomllib.TOMLDecodeError as e:
        raise ParamError("--file", str(path), f"must be valid TOML ({e})") from None
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
        out.append(Instrument(it["scenario"], it["name"], it["claim"], it.get("source", ""), it.get("note", "")))
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


def rows(spec: Spec, contributions: pd.DataFrame) -> list[dict]:
    """One row per instrument: the band of each metric and the verdict on firms at stage >= 1."""
    out = []
    for inst in spec.instruments:
        c = contributions[contributions.scenario == inst.scenario].set_index("metric")
        firms = c.loc["firms_stage_1plus"]
        out.append({"instrument": inst, "bands": {m: c.loc[m] for m in c.index},
                    "interval": (float(firms.mean_lo), float(firms.mean_hi)),
                    "verdict": verdict(inst.claim, float(firms.mean_lo), float(firms.mean_hi))})
    return out


def _cell(r, div: float) -> str:
    from .experiments import _fmt
    return f"{_fmt(r['mean'] / div)} [{_fmt(r.p05 / div)}, {_fmt(r.p95 / div)}]"


def markdown(spec: Spec, contributions: pd.DataFrame, seeds: list[int], scale: float, year: int,
             command: str, commit: str | None, figure: str | None, draws: int | None = None) -> str:
    """docs/contributions.md: the table, the verdicts, the notes and the figure. ``draws``: the number of
    posterior draws the ``seeds`` are shared among (None: every run at the calibrated point)."""
    from .posterior import bands_phrase

    table = rows(spec, contributions)
    metrics = plots.CONTRIBUTION_METRICS
    if draws:
        runs = (f"{draws} posterior draws x {len(seeds) // draws} seeds ({len(seeds)} runs, seeds {seeds[0]}-"
                f"{seeds[-1]}; {bands_phrase(draws, len(seeds) // draws)})")
        per, each = "per run (draw and seed)", "per-run"
    else:
        runs, per, each = f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})", "per seed", "per-seed"
    lines = [
        "# What each instrument contributed",
        "",
        f"Generated by `{command}`{f' (model code at commit {commit})' if commit else ''}; do not edit the table by hand "
        f"(the instruments, claims and notes are in `experiments/contributions.toml`).",
        "",
        f"Each instrument's contribution is `{spec.reference}` minus the scenario that switches it off, {per}, "
        f"on common random numbers: {runs}, {scale:g} of the firms "
        f"(agents stand for real firms; capacities and budgets are in real firms and yuan). Cells are the mean "
        f"and [5 %, 95 %] of the {each} differences; outcomes are of {year}, subsidy yuan are summed over "
        f"2013-{year}.",
        "",
        "The claim is the sign the seed paper reports for firms at stage >= 1 (\"+\": the instrument added firms). "
        "The verdict reads the 95 % interval of the mean over seeds (Student t; given in the last column, in "
        "firms): as claimed, opposite, or not distinguishable from zero. The 5-95 % band is the spread of single "
        "runs, wider by about the square root of the number of seeds.",
        "",
        "| instrument (scenario) | claim | " + " | ".join(f"{label} ({unit})" for _, label, _, unit in metrics)
        + " | verdict: mean firms at stage >= 1, 95 % interval |",
        "|---|---|" + "---|" * len(metrics) + "---|",
    ]
    for row in table:
        inst = row["instrument"]
        cells = [_cell(row["bands"][m], div) if m in row["bands"] else "" for m, _, div, _ in metrics]
        lo, hi = row["interval"]
        lines.append(f"| {inst.name} (`{inst.scenario}`) | {inst.claim} | " + " | ".join(cells)
                     + f" | {row['verdict']} [{lo:,.0f}, {hi:,.0f}] |")
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


__all__ = ["Instrument", "Spec", "load", "verdict", "rows", "markdown", "default_path", "CLAIMS"]
