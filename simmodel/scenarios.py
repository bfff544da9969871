"""Scenario files: named parameter sets in TOML, each inheriting from another and overriding keys.

    # Question: what if there had been no financial leasing?
    inherits = "baseline"
    [leasing]
    funds_enabled = false

A name is looked up as a file first, then as ``experiments/scenarios/<name>.toml`` under the
current directory, then beside the installed package (an editable install from a clone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .params import ParamError, Params, flatten_table, read_toml

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
META_KEYS = ("inherits", "calibration")  # calibration: the record in calibration/fitted.toml


def scenario_dirs() -> list[Path]:
    dirs = [Path.cwd() / "experiments" / "scenarios", PACKAGE_ROOT / "experiments" / "scenarios"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def available() -> dict[str, Path]:
    """Scenario names -> files (the first directory wins)."""
    found: dict[str, Path] = {}
    for d in scenario_dirs():
        for f in sorted(d.glob("*.toml")):
            found.setdefault(f.stem, f)
    return found


def resolve(ref: str) -> Path:
    """The file of a scenario given as a path or a name; ParamError if there is none."""
    p = Path(ref)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ParamError("scenario", ref, "no such file")
        return p
    names = available()
    if ref in names:
        return names[ref]
    raise ParamError("scenario", ref, "unknown scenario; known: " + (", ".join(names) or "none found"))


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
            try:
                cur = resolve(parent if not parent.endswith(".toml") else str(cur.parent / parent))
            except ParamError:
                raise ParamError("inherits", parent, "parent scenario not found", str(cur)) from None
    params = base or Params()
    for f, doc in zip(reversed(chain), reversed(tables)):
        body = {k: v for k, v in doc.items() if k not in META_KEYS}
        params = params.replace(flatten_table(body, str(f)), where=str(f))
    return Scenario(path.stem, path, params, tuple(c.stem for c in chain), question(path))
