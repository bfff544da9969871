"""A stop asked for by a signal (Ctrl-C, SIGTERM), kept until it is honoured.

The command's signal handlers raise their exception where the process happens to be. Raised inside a
callback from C (numba writing a compiled kernel to its cache, through llvmlite's ctypes callback), it is
printed as "Exception ignored" and lost: the job would then run to its end and exit 0. So a handler also
``request``s the stop, and the loops that hand out runs and the commit of a result folder ``check`` it,
raising it again there. Python's own report of the lost exception (a traceback, through ``sys.unraisablehook``)
is dropped by the command while the stop is kept (:func:`pending`), so the user sees one line.
"""

from __future__ import annotations

_pending: BaseException | None = None


def request(exc: BaseException) -> None:
    """Remember ``exc`` (a KeyboardInterrupt) until :func:`check` raises it or :func:`clear` drops it."""
    global _pending
    _pending = exc


def pending() -> BaseException | None:
    """The stop asked for and not yet honoured, if any."""
    return _pending


def check() -> None:
    """Raise the stop asked for, if any: between runs, and before a result folder is put in place."""
    if _pending is not None:
        raise _pending


def clear() -> None:
    global _pending
    _pending = None


__all__ = ["request", "pending", "check", "clear"]
