"""The ``simmodel`` command.

User errors (a bad scenario file, an unknown parameter, a value out of range, a missing file, an
unwritable output folder) are reported in one line naming the key, the value and what is allowed,
with exit code 2 and nothing written. Ctrl-C leaves no half-written result folder (exit 130).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import scenarios, store
from .params import PARAMS, ParamError, Params, parse_override, table_rows

DEFAULT_SEED = 1
HEADLINE_TABLE = (  # (indicator, column title, divisor, format)
    ("share_transformed_above", "transf%", 0.01, "{:7.1f}"),
    ("share_digitized_above", "digit%", 0.01, "{:6.1f}"),
    ("cloud_firms", "cloud k", 1e3, "{:7.1f}"),
    ("labour_productivity_above", "LP k/wkr", 1e3, "{:8.1f}"),
    ("projects_completed", "projects", 1, "{:8.0f}"),
    ("robots_in_service", "robots k", 1e3, "{:8.1f}"),
    ("tech_investment", "techinv bn", 1e9, "{:10.1f}"),
    ("subsidy_spent", "subsidy m", 1e6, "{:9.1f}"),
    ("share_with_labour_gap", "gap%", 0.01, "{:5.1f}"),
)


class UserError(Exception):
    """A one-line message for the user (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        raise UserError(f"{self.prog}: {message}")


def _params_from(args: argparse.Namespace) -> tuple[Params, str]:
    """Scenario (if any) + --scale/--end + --set overrides, validated; returns (params, name)."""
    if getattr(args, "scenario", None):
        sc = scenarios.load(args.scenario)
        params, name = sc.params, sc.name
    else:
        params, name = Params(), "defaults"
        found = scenarios.available()
        if "baseline" in found:
            sc = scenarios.load("baseline")
            params, name = sc.params, sc.name
    updates = {}
    if getattr(args, "scale", None) is not None:
        updates["run.scale"] = args.scale
    if getattr(args, "end", None) is not None:
        updates["run.end"] = args.end
    for text in getattr(args, "set", None) or []:
        key, value = parse_override(text)
        updates[key] = value
    if updates:
        params = params.replace(updates, where="--set" if args.set else "")
    return params, name


def _yearly_table(rows: list[tuple]) -> str:
    """The headline indicators, province-wide, one line per year."""
    prov = {(r[0], r[3]): r[4] for r in rows if r[1] == "Zhejiang" and r[2] == "all"}
    years = sorted({r[0] for r in rows})
    head = "year " + " ".join(f"{t:>{len(f.format(0))}}" for _, t, _, f in HEADLINE_TABLE)
    lines = [head]
    for y in years:
        cells = []
        for name, _, div, f in HEADLINE_TABLE:
            v = prov.get((y, name), math.nan)
            cells.append(f.format(v / div) if not math.isnan(v) else f"{'-':>{len(f.format(0))}}")
        lines.append(f"{y} " + " ".join(cells))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from . import runner
    from .progress import ProgressLine

    params, name = _params_from(args)
    base = Path(args.out) if args.out else Path("results")
    store.check_writable(base.parent if args.out else base)
    out = Path(args.out) if args.out else store.unique_dir(base, store.run_id(name, args.seed))
    if out.exists():
        raise ParamError("--out", str(out), "already exists; choose another folder")

    bar = ProgressLine(f"{name} seed {args.seed}", enabled=None if not args.quiet else False)
    t0 = time.perf_counter()
    result = runner.run(params, args.seed, monthly=True, progress=bar.update)
    bar.close()
    with store.atomic_dir(out) as tmp:
        store.write_tidy_csv(tmp / "yearly.csv", result.yearly)
        store.write_tidy_csv(tmp / "monthly.csv", result.monthly)
        store.write_json(tmp / "manifest.json", store.manifest(
            "run", run_id=out.name, scenario=name, seed=args.seed, agents=result.n_agents,
            changed=params.changed(), params=params.nested(),
            timings={**result.timings, "total_s": round(time.perf_counter() - t0, 3)},
        ))
    if not args.quiet:
        print(f"{name}: seed {args.seed}, scale {params['run.scale']}, {result.n_agents:,} firm agents, "
              f"{params['run.end']} ({result.timings['simulate_s']:.1f} s)")
        print(_yearly_table(result.yearly))
    print(f"results: {out}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    rows = table_rows()
    if args.markdown:
        from .docgen import params_markdown
        print(params_markdown())
    else:
        width = max(len(r.key) for r in rows)
        for r in rows:
            print(f"{r.key:<{width}}  {r.default:>14}  {r.unit:<14} {r.allowed}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    found = scenarios.available()
    if not found:
        print("no scenarios found (looked in ./experiments/scenarios)")
        return 0
    width = max(map(len, found))
    for name, path in found.items():
        print(f"{name:<{width}}  {scenarios.question(path)}")
    return 0


def build_parser() -> Parser:
    p = Parser(prog="simmodel", description="SME intelligent transformation in Zhejiang: an agent-based model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    r = sub.add_parser("run", help="run a scenario (default: baseline) and write results/<run-id>/")
    r.add_argument("--scenario", help="scenario name (see `simmodel scenarios`) or TOML file")
    r.add_argument("--scale", type=float, help="fraction of the firm population (default 0.05)")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    r.add_argument("--end", help="last month, YYYY-MM (default 2020-12)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a parameter, e.g. government.purchase_subsidy_rate=0.2 (repeatable)")
    r.add_argument("--out", help="result folder (default results/<run-id>)")
    r.add_argument("--quiet", action="store_true", help="print only the result folder")
    r.set_defaults(func=cmd_run)

    pp = sub.add_parser("params", help="list every parameter with its default, unit and allowed values")
    pp.add_argument("--markdown", action="store_true", help="as a Markdown table with sources")
    pp.set_defaults(func=cmd_params)

    s = sub.add_parser("scenarios", help="list the scenarios and the question each answers")
    s.set_defaults(func=cmd_scenarios)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ParamError, UserError) as e:
        print(f"simmodel: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsimmodel: interrupted; nothing was written", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "PARAMS"]
