"""The ``simmodel`` command.

User errors (a bad scenario file, an unknown parameter, a value out of range, a missing file, an
unwritable output folder, a scheduler that does not answer, a job too big for the machine) are
reported in one line naming the key, the value and what is allowed, with exit code 2 and nothing
written. A job in which some runs failed exits 3 unless ``--allow-failures`` (its header and
manifest say how many runs it rests on). Ctrl-C ends every command with one line (exit 130): no
half-written result folder, and the workers shut down quietly; so does SIGTERM, what `timeout`, `kill` and batch
schedulers send (exit 143).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from ..params import PARAMS, ParamError
from ..runs import stop
from . import batch, info, run
from .common import EXIT_RUNS_FAILED, UserError


PATH_OPTIONS = ("out", "work", "targets", "doc", "fitted", "priors", "report", "posterior_file")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it unwinds as Ctrl-C does (temporary folders removed)."""


def _terminate(signum, frame):
    stop.request(e := Terminated())  # raised again between runs if this raise is lost (runs/stop.py)
    raise e


def _interrupt(signum, frame):
    stop.request(e := KeyboardInterrupt())
    raise e


def _quiet_lost_stop(report):
    """sys.unraisablehook around a command: drops Python's "Exception ignored" report (a traceback) of a stop the
    handlers raised inside a callback from C, which runs/stop.py keeps and raises again; any other report goes to
    ``report``."""
    def hook(unraisable):
        if unraisable.exc_value is not None and unraisable.exc_value is stop.pending():
            return
        report(unraisable)
    return hook


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    from .. import __version__

    p = Parser(prog="simmodel", description="SME intelligent transformation in Zhejiang: an agent-based model.")
    p.add_argument("--version", action="version", version=f"simmodel {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    run.add_parsers(sub)
    batch.add_parsers(sub)
    info.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ..analysis.experiments import RunsFailed

    args = None
    main_thread = threading.current_thread() is threading.main_thread()
    on_term = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    on_int = signal.signal(signal.SIGINT, _interrupt) if main_thread else None
    report = sys.unraisablehook
    sys.unraisablehook = _quiet_lost_stop(report)
    try:
        args = build_parser().parse_args(argv)
        for name in PATH_OPTIONS:  # an empty path would silently mean the default folder or file
            if getattr(args, name, None) == "":
                raise ParamError(f"--{name.replace('_', '-')}", "", "must be a path; leave the option out for "
                                 "the default")
        if getattr(args, "format", ()):  # figures also as SVG / PDF
            from ..analysis import plots

            with plots.formats(*args.format):
                return args.func(args)
        return args.func(args)
    except (ParamError, UserError) as e:
        print(f"simmodel: error: {e}", file=sys.stderr)
        return 2
    except RunsFailed as e:
        print(f"simmodel: {e}; nothing was written", file=sys.stderr)
        return EXIT_RUNS_FAILED
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt as e:
        func = getattr(args, "func", None)
        kept = {batch.cmd_sweep: " (finished runs are kept: rerun with --resume)",
                batch.cmd_sensitivity: " (finished runs are kept: rerun with --resume)",
                batch.cmd_discover: " (finished runs are kept: rerun with --resume)",
                batch.cmd_optimise: " (finished runs are kept: rerun with --resume)",
                batch.cmd_calibrate: " (finished runs are kept: rerun the same command to resume)"}.get(
            func, "; no result folder was written")
        lead = "\n" if sys.stderr.isatty() else ""  # end the progress line
        print(f"{lead}simmodel: {'terminated' if isinstance(e, Terminated) else 'interrupted'}{kept}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    finally:
        stop.clear()
        sys.unraisablehook = report
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
        if on_int is not None:
            signal.signal(signal.SIGINT, on_int)


__all__ = ["main", "build_parser", "PARAMS"]
