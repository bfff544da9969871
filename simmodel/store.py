"""Results on disk: folders written atomically, tidy CSVs, manifests (ARCHITECTURE.md "Data flow").

A result folder is built under a temporary name beside its destination and renamed into place
only when complete, so an interrupted run (Ctrl-C, a crash) never leaves a half-written folder.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
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

from .params import ParamError

TIDY_HEADER = ("period", "region", "sector", "indicator", "value")


def fmt_value(v: float) -> str:
    """Deterministic text of a float: 12 significant digits, empty for NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.12g}"


def write_tidy_csv(path: Path, rows: Iterable[tuple], header: tuple[str, ...] = TIDY_HEADER) -> None:
    """Write rows whose last field is a float; the other fields are written as they are."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(",".join(map(str, r[:-1])) + "," + fmt_value(r[-1]) + "\n")


def write_json(path: Path, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")


def check_writable(base: Path) -> None:
    """Fail early (ParamError, one line) if results cannot be written under ``base``."""
    probe = base
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise ParamError("--out", str(base), "is not a writable directory")


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
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_id(name: str, seed: int | str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{Path(name).stem}-s{seed}-{stamp}"


def git_commit() -> dict[str, str | bool | None]:
    """The commit of the source tree simmodel was loaded from (None outside git)."""
    root = Path(__file__).resolve().parents[1]
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
    for pkg in ("simmodel", "mesa", "numpy", "scipy", "pandas", "matplotlib"):
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
