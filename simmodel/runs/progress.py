"""A progress line on stderr for long work (only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """``update(done, total, note)`` redraws one status line at most ten times a second."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        elapsed = now - self.start
        eta = f"{elapsed / frac - elapsed:5.0f}s left" if 0 < frac < 1 else f"{elapsed:5.1f}s"
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total} {eta} {note}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
