"""Scenario files: named parameter sets in TOML, each inheriting from another and overriding keys.

    # Question: what if there had been no financial leasing?
    inherits = "baseline"
    [leasing]
    funds_enabled = false

A reference is a shipped scenario's name (``simmodel scenarios`` lists them: the package's
``resources/scenarios``, which in a clone is ``experiments/scenarios``), or a path to a TOML file.
``inherits`` takes a name, a path relative to the inheriting file, or ``simmodel:<file>`` for a file
the package ships (the baseline inherits ``simmodel:calibration/fitted.toml``, the calibrated point).
A scenario given by a path whose file name is also a shipped scenario's is named by its path, so
that two different files are never taken for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import resources
from ..params import ParamError, Params, flatten_table, read_toml

META_KEYS = ("inherits", "calibration")  # calibration: the record in calibration/fitted.toml


def available() -> dict[str, Path]:
    """Shipped scenario names -> files."""
    d = resources.scenarios_dir()
    return {f.stem: f for f in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def is_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or "\\" in ref


def resolve(ref: str) -> Path:
    """The file of a scenario given as a path or a shipped name; ParamError if there is none."""
    if is_path(ref) or (Path(ref).exists() and ref not in available()):
        p = Path(ref)
        if not p.is_file():
            raise ParamError("scenario", ref, "no such file")
        return p
    names = available()
    if ref in names:
        return names[ref]
    raise ParamError("scenario", ref, "unknown scenario; known: " + (", ".join(names) or "none shipped"))


def display_name(ref: str, path: Path) -> str:
    """A scenario's name in tables and folders: its stem, or its path when a shipped scenario of the
    same stem is another file."""
    shipped = available().get(path.stem)
    if shipped is None or shipped.resolve() == path.resolve():
        return path.stem
    return ref


def question(path: Path) -> str:
    """The one-line question a scenario answers (its first '# Question:' comment)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.lower().startswith("# question:"):
            return s.split(":", 1)[1].strip()
    return ""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    params: Params
    chain: tuple[str, ...]  # this scenario, then its ancestors
    question: str


def _parent(ref: str, child: Path) -> Path:
    if ref.startswith(resources.PACKAGE_PREFIX):
        return resources.path(ref[len(resources.PACKAGE_PREFIX):])
    if is_path(ref):
        p = child.parent / ref
        if not p.is_file():
            raise ParamError("inherits", ref, "parent scenario file not found", str(child))
        return p
    try:
        return resolve(ref)
    except ParamError:
        raise ParamError("inherits", ref, "parent scenario not found", str(child)) from None


def load(ref: str, base: Params | None = None) -> Scenario:
    """Load a scenario with its ancestors applied in order; every value validated."""
    path = resolve(ref)
    chain: list[Path] = []
    tables: list[dict[str, Any]] = []
    cur: Path | None = path
    while cur is not None:
        if cur.resolve() in [c.resolve() for c in chain]:
            names = " -> ".join(c.stem for c in [*chain, cur])
            raise ParamError("inherits", cur.stem, f"cycle in scenario inheritance ({names})", str(path))
        doc = read_toml(cur)
        chain.append(cur)
        tables.append(doc)
        parent = doc.get("inherits")
        if parent is None:
            cur = None
        elif not isinstance(parent, str):
            raise ParamError("inherits", parent, "must be a scenario name or file", str(cur))
        else:
            cur = _parent(parent, cur)
    params = base or Params()
    for f, doc in zip(reversed(chain), reversed(tables)):
        body = {k: v for k, v in doc.items() if k not in META_KEYS}
        params = params.replace(flatten_table(body, str(f)), where=str(f))
    return Scenario(display_name(ref, path), path, params, tuple(c.stem for c in chain), question(path))


def baseline() -> Scenario:
    """The calibrated baseline (a one-line error if the package lacks it)."""
    if "baseline" not in available():
        raise ParamError("scenario", "baseline", f"the calibrated baseline is missing from {resources.scenarios_dir()}; "
                         "reinstall simmodel")
    return load("baseline")


__all__ = ["Scenario", "available", "baseline", "load", "question", "resolve"]
