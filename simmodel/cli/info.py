"""`simmodel params`, `indicators`, `scenarios` (what the model has) and `serve` (the visual server)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import socket
import sys

from ..analysis import scenarios
from ..params import PARAMS, ParamError, table_rows
from ..runs import store


def cmd_params(args: argparse.Namespace) -> int:
    if args.markdown:
        from ..docgen import params_markdown
        print(params_markdown())
        return 0
    rows = table_rows()
    values = None
    if args.scenario:
        values = scenarios.load(args.scenario).params
        print(f"# the values scenario {args.scenario!r} uses (* = differs from the model default)")
    width = max(len(r.key) for r in rows)
    for r, p in zip(rows, PARAMS):
        shown, mark = r.default, " "
        if values is not None:
            v = values[p.key]
            shown = ", ".join(map(str, v)) if isinstance(v, tuple) else store.fmt_value(v) if isinstance(v, float) \
                else str(v).lower() if isinstance(v, bool) else str(v)
            mark = "*" if v != p.default else " "
        print(f"{r.key:<{width}} {mark}{shown:>14}  {r.unit:<14} {r.allowed}")
    return 0


def cmd_indicators(args: argparse.Namespace) -> int:
    from ..model.indicators import INDICATORS, dictionary_markdown

    if args.markdown:
        print(dictionary_markdown())
        return 0
    width = max(len(i.name) for i in INDICATORS)
    for i in INDICATORS:
        print(f"{i.name:<{width}}  {i.unit:<15} {i.prices or '-':<12} {i.doc}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    found = scenarios.available()
    if not found:
        raise ParamError("scenarios", None, "none shipped with the package; reinstall simmodel")
    width = max(map(len, found))
    for name, path in found.items():
        print(f"{name:<{width}}  {scenarios.question(path)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..viz import APP

    if not 1 <= args.port <= 65535:
        raise ParamError("--port", args.port, "must be a port number in [1, 65535]")
    scenarios.load(args.scenario)  # a bad scenario is a one-line error here, not a broken page
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        with socket.socket(family) as s:
            # the server itself reuses addresses: so must the check, or a port in TIME_WAIT after a
            # browser's connection looks taken
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((args.host, args.port))
    except (OSError, OverflowError) as e:
        why = getattr(e, "strerror", None) or str(e)
        if isinstance(e, socket.gaierror) or getattr(e, "errno", None) == errno.EADDRNOTAVAIL:
            raise ParamError("--host", args.host, f"not an address of this machine ({why})") from None
        raise ParamError("--port", args.port, f"cannot listen on {args.host}:{args.port} ({why})") from None
    if not _is_loopback(args.host):
        print(f"simmodel: warning: --host {args.host} makes the page reachable from other machines, and it has no "
              "login: anyone who can reach this port can drive the model", file=sys.stderr)
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SIMMODEL_SCENARIO": args.scenario}
    print(f"serving the visual server at http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", args.host, "--port", str(args.port), "--no-open"]
    os.execvpe(cmd[0], cmd, env)  # become the server: stopping this process stops it


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_parsers(sub) -> None:
    se = sub.add_parser("serve", help="the browser-based visual server (SolaraViz)")
    se.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    se.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    se.add_argument("--scenario", default="baseline", help="the scenario the page starts on (default: the "
                    "calibrated baseline)")
    se.set_defaults(func=cmd_serve)

    pp = sub.add_parser("params", help="list every parameter with its default, unit and allowed values")
    pp.add_argument("--markdown", action="store_true", help="as a Markdown table with sources")
    pp.add_argument("--scenario", help="list the values this scenario uses (name or TOML file)")
    pp.set_defaults(func=cmd_params)

    ind = sub.add_parser("indicators", help="list every output indicator with its unit and definition")
    ind.add_argument("--markdown", action="store_true", help="as the Markdown dictionary of docs/indicators.md")
    ind.set_defaults(func=cmd_indicators)

    s = sub.add_parser("scenarios", help="list the scenarios and the question each answers")
    s.set_defaults(func=cmd_scenarios)
