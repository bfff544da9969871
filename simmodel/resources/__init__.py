"""What the package ships besides code: the scenarios, the calibration (targets, priors, the fitted
point the baseline inherits and, once `simmodel calibrate` has written it, the posterior's particles,
calibration/posterior.csv, that `--posterior N` draws from) and the instruments `simmodel contributions`
compares.

In the repository these live at the top level, ``experiments/scenarios/``, ``calibration/`` and
``experiments/contributions.toml`` (the ``resources/`` entries are links to them); a wheel carries copies
inside the package. Either way they are found here, the same way from a clone, an editable install
or a wheel, and never looked up relative to the current directory.
"""

from __future__ import annotations

from pathlib import Path

from ..params import ParamError

HERE = Path(__file__).resolve().parent
PACKAGE_PREFIX = "simmodel:"  # a scenario's `inherits = "simmodel:calibration/fitted.toml"`


def path(relative: str) -> Path:
    """The shipped file ``relative`` (e.g. 'calibration/fitted.toml'); a one-line error if missing."""
    p = HERE / relative
    if not p.is_file():
        raise ParamError("resource", relative, f"is missing from the installed package (looked in {HERE}); "
                         "reinstall simmodel")
    return p


def scenarios_dir() -> Path:
    return HERE / "scenarios"


def calibration_dir() -> Path:
    return HERE / "calibration"


def is_source_checkout() -> bool:
    """Whether the package runs from the repository (its resources are links to the top-level folders)."""
    return (HERE / "calibration").is_symlink()


__all__ = ["path", "scenarios_dir", "calibration_dir", "is_source_checkout", "PACKAGE_PREFIX", "HERE"]
