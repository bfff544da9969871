"""A progress line on stderr for long work: redrawn in place on a terminal; in a log (stderr not a
terminal: nohup, a batch scheduler, CI), a plain line every 30 s once the work has taken that long, so
short commands stay silent and a two-hour calibration still says where it is."""

from __future__ import annotations

import sys
import time

LOG_EVERY_S = 30.0


class ProgressLine:
    """``update(done, total, note)`` redraws one status line at most ten times a second (terminal) or
    writes one every ``LOG_EVERY_S`` seconds (log)."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = label
        self.tty = sys.stderr.isatty()
        self.enabled = True if enabled is None else enabled
        self.start = time.monotonic()
        self._last = 0.0 if self.tty else self.start
        self._logged = False
        self._first: tuple[int, float] | None = None  # (done, time) at the first update: work done before
        # this process (a resumed calibration's stored runs) does not count towards the rate

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self._first is None:
            self._first = (done, now)
        if self.tty and done < total and now - self._last < 0.1:
            return
        if not self.tty and now - self._last < LOG_EVERY_S:
            return
        self._last = now
        frac = done / total if total else 1.0
        elapsed = now - self.start
        d0, t0 = self._first
        if 0 < frac < 1 and done > d0 and now > t0:  # at the rate of this process's work
            eta = f"{(total - done) * (now - t0) / (done - d0):5.0f}s left"
        else:
            eta = f"{elapsed:5.1f}s" if frac >= 1 else "     "
        if self.tty:
            bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
            sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total} {eta} {note}   ")
        else:
            self._logged = True
            sys.stderr.write(f"{self.label}: {done}/{total} ({100 * frac:.0f} %) after {elapsed:.0f}s, {eta.strip()} "
                             f"{note}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
