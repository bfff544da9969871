"""Results on disk: the only module that writes result files (ARCHITECTURE.md "Data flow").

Every file is written atomically: beside its final name under a temporary one, flushed to disk
(fsync), then renamed into place, so a reader sees the old file or the new one, never half of it.
A result folder is built under a temporary name and renamed when complete (``atomic_dir``); sweeps
and calibrations keep one small file per finished run (``RunStore``), so an interruption loses at
most the runs in flight.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

from ..params import ParamError
from . import stop

TIDY_HEADER = ("period", "region", "sector", "indicator", "value")


def fmt_value(v: float) -> str:
    """Deterministic text of a float: 12 significant digits, empty for NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.12g}"


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _slow_writes() -> tuple[float, set[str]]:
    """The crash-safety tests (tests/test_crash_safety.py) widen the window of chosen writes so that a
    SIGKILL lands inside them: SIMMODEL_TEST_SLOW_WRITES="seconds:name,name". Unset otherwise."""
    spec = os.environ.get("SIMMODEL_TEST_SLOW_WRITES", "")
    if ":" not in spec:
        return 0.0, set()
    seconds, names = spec.split(":", 1)
    return float(seconds), set(names.split(","))


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[io.IOBase]:
    """Open ``path`` for writing under a temporary name beside it; on success it is flushed, fsynced
    and renamed into place, on failure removed (the old file, if any, is untouched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    kw = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
    fh = open(tmp, mode, **kw)
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        delay, names = _slow_writes()
        if path.name in names:
            import time

            time.sleep(delay)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    with atomic_open(path) as fh:
        fh.write(text)
    return Path(path)


def write_json(path: Path, obj: dict) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def csv_line(fields: Iterable) -> str:
    """One CSV line: floats in the store's deterministic format, everything else as text."""
    return ",".join(fmt_value(v) if isinstance(v, float) else str(v) for v in fields) + "\n"


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable]) -> Path:
    with atomic_open(path) as fh:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(csv_line(r))
    return Path(path)


FIGURE_FORMATS = ("png", "svg", "pdf")  # every figure is a PNG; --format adds the others beside it


def write_figure(fig, path: Path, dpi: int = 300) -> Path:
    """A matplotlib figure as a file (the format from the suffix), written atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    return write_bytes(path, buf.getvalue())


def read_json(path: Path, what: str = "file") -> dict:
    """A JSON file, or a one-line ParamError if it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError(what, str(path), "not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ParamError(what, str(path), "is damaged (not valid JSON)") from None


class SeededCsv:
    """A tidy CSV with a seed column, appended to as runs finish (inside a folder that
    ``atomic_dir`` renames into place when complete). Runs over posterior draws (``draws=True``) add a
    draw column after the seed (each draw runs on its own seeds, so the seed still orders the file)."""

    HEADER = ("seed", *TIDY_HEADER)
    DRAW_HEADER = ("seed", "draw", *TIDY_HEADER)

    def __init__(self, path: Path, draws: bool = False):
        self.path = Path(path)
        self.draws = draws
        self.fh = open(path, "w", encoding="utf-8", newline="\n")
        self.fh.write(",".join(self.DRAW_HEADER if draws else self.HEADER) + "\n")

    def add(self, seed: int, rows: list[tuple], draw: int | None = None) -> None:
        if self.draws != (draw is not None):
            raise ValueError("a run over posterior draws needs its draw, and only such a run")
        w = self.fh.write
        lead = f"{seed}," if draw is None else f"{seed},{draw},"
        for r in rows:
            w(lead + ",".join(map(str, r[:-1])) + "," + fmt_value(r[-1]) + "\n")

    def close(self) -> None:
        self.fh.close()

    def sort_by_seed(self) -> None:
        """Rewrite in seed order (runs finish in any order on a cluster), so the same seeds give the
        same bytes whatever the executor."""
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        head, body = lines[0], lines[1:]
        body.sort(key=lambda line: int(line.split(",", 1)[0]))  # stable: each run's rows keep their order
        write_text(self.path, head + "".join(body))


class RunStore:
    """One small file per finished run of a sweep or a calibration: ``<name><suffix>`` holds the run's
    result and ``<name>.err`` its error. Written atomically, so a killed job loses only the runs in
    flight and leaves no corrupt file."""

    def __init__(self, folder: Path, suffix: str):
        self.folder, self.suffix = Path(folder), suffix
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{self.suffix}"

    def done(self) -> set[str]:
        return {p.name[: -len(self.suffix)] for p in self.folder.glob(f"*{self.suffix}") if not p.name.startswith(".")}

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def write(self, name: str, text: str) -> None:
        write_text(self.path(name), text)
        (self.folder / f"{name}.err").unlink(missing_ok=True)

    def write_error(self, name: str, error: str) -> None:
        write_text(self.folder / f"{name}.err", error or "error")

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def error(self, name: str) -> str | None:
        err = self.folder / f"{name}.err"
        return err.read_text(encoding="utf-8") if err.exists() else None

    def clean_partial(self) -> None:
        """Remove temporary files left by an interrupted write."""
        clean_partial(self.folder)


def clean_partial(folder: Path) -> None:
    """Remove the temporary files an interrupted atomic write left in ``folder``."""
    for p in Path(folder).glob(".*.tmp-*"):
        if p.is_file():
            p.unlink(missing_ok=True)


def check_writable(base: Path, key: str = "--out") -> None:
    """Fail early (ParamError, one line) if results cannot be written under ``base``."""
    probe = Path(base)
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise ParamError(key, str(base), "is not a writable directory")


def unique_dir(base: Path, name: str) -> Path:
    """``base/name``, or ``base/name-2``, ... if taken."""
    path, k = base / name, 2
    while path.exists():
        path, k = base / f"{name}-{k}", k + 1
    return path


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``final`` only if the block completes."""
    if final.exists():
        raise ParamError("--out", str(final), "already exists; choose another folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        stop.check()  # a signal lost after the last run: no folder put in place (runs/stop.py)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_id(name: str, seed: int | str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{Path(name).stem}-s{seed}-{stamp}"


def git_commit() -> dict[str, str | bool | None]:
    """The commit of the source tree simmodel was loaded from (None outside git, e.g. a wheel)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "simmodel"],
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"commit": head, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("simmodel", "mesa", "numpy", "scipy", "pandas", "matplotlib", "dask", "SALib", "ema-workbench", "pymoo"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def manifest(kind: str, **fields) -> dict:
    """The common head of every manifest: what ran, when, with which code and versions."""
    return {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git": git_commit(),
        "versions": versions(),
        **fields,
    }
