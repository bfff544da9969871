"""The calibration's posterior (calibration/posterior.csv) and how its draws enter a run.

``simmodel run``, ``compare``, ``contributions`` and ``sweep`` take ``--posterior N``: N parameter draws
from the posterior, each run on its own seeds, so that bands show parameter and seed uncertainty
together. The file, written by ``simmodel calibrate`` and shipped with the package like the other
calibration files, holds the weighted particles of the calibration's last population:

    weight,decision.intercept,beliefs.prior_mean,...
    0.0123,-7.41,0.93,...

one row per particle; weights are >= 0 and are normalised here. Every value is checked against its
parameter's allowed range when the file is read.

How a draw applies to a run (:func:`apply`, the one home of this rule): the draw replaces the
calibrated parameters of the baseline point. A key the scenario sets to something other than the
baseline keeps the scenario's value; ``--set``, ``--scale`` and ``--end``, and a sweep's factors and
its ``end`` and ``scale``, are applied last and win over the draw.

Seeds (:class:`Plan`): with ``--seeds S --seed K --posterior N``, draw d (0-based) runs on seeds
K + d*S .. K + d*S + S - 1, and the draws are taken with seed K, so the same command gives the same
draws and runs. A comparison runs every scenario on the same draws and seeds (common random numbers).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import resources
from ..params import BY_KEY, ParamError, Params, resolve_key

SHIPPED = "calibration/posterior.csv"
NUMERIC = ("float", "int")


def shipped_path() -> Path:
    """Where the shipped posterior is (it may not exist: the calibration writes it)."""
    return resources.calibration_dir() / "posterior.csv"


def calibrated_keys() -> frozenset[str]:
    """The parameters whose values the calibrated point sets (calibration/fitted.toml, which the baseline
    inherits; its [calibration] tables record how they were found)."""
    import tomllib

    doc = tomllib.loads(resources.path("calibration/fitted.toml").read_text(encoding="utf-8"))
    return frozenset(f"{section}.{key}" for section, table in doc.items() if section != "calibration"
                     and isinstance(table, dict) for key in table)


def point_phrase(moved=()) -> str:
    """'the calibrated point', or, where ``moved`` (the --set keys) changes some of its values, which."""
    changed = sorted(set(moved) & calibrated_keys())
    if not changed:
        return "the calibrated point"
    what = ", ".join(changed) if len(changed) <= 3 else f"{len(changed)} of its parameters"
    return f"the calibrated point but for {what} (--set)"


def design_phrase(draws: int, seeds: int) -> str:
    """'40 posterior draws x 1 seed': the runs of a design over the posterior (``seeds`` per draw)."""
    return f"{draws} posterior draw{'s' * (draws != 1)} x {seeds} seed{'s' * (seeds != 1)}"


def bands_phrase(draws: int | None, seeds: int, checked: bool = False, moved=()) -> str:
    """What a result's bands are over: 'bands over 4 posterior draws x 5 seeds: parameter and seed
    uncertainty together', or, without --posterior, 'bands over 5 seeds: seed uncertainty only, at the
    calibrated point' (:func:`point_phrase`: ``moved``, the --set keys, may change it). ``checked``: the result
    draws bands only from stats.MIN_BAND_RUNS runs on, so with fewer it says 'means over 4 seeds: ...; no 5-95 %
    band: 4 runs (a band needs at least 10)'."""
    from .stats import band_note, has_band

    s = f"{seeds} seed{'s' * (seeds != 1)}"
    n = (draws or 1) * seeds
    banded = not checked or has_band(n)
    lead = "bands over" if banded else "means over"
    tail = "" if banded else f"; {band_note(n)}"
    if draws:
        return f"{lead} {design_phrase(draws, seeds)}: parameter and seed uncertainty together{tail}"
    return f"{lead} {s}: seed uncertainty only, at {point_phrase(moved)}{tail}"


@dataclass(frozen=True)
class Draw:
    """One draw from the posterior: its number (0-based), the particle (0-based row of the file after
    its header) and the particle's values by dotted key (ints for integer parameters)."""

    number: int
    particle: int
    values: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Posterior:
    """Weighted particles: ``theta`` (particles, keys) and ``weights`` normalised to sum to 1."""

    path: Path
    keys: tuple[str, ...]
    theta: np.ndarray
    weights: np.ndarray
    sha256: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> Posterior:
        """Read and validate a posterior file (default: the shipped calibration/posterior.csv); every
        problem is a one-line ParamError naming the key, the value and what is allowed."""
        if path is None:
            p = shipped_path()
            if not p.is_file():
                raise ParamError("--posterior", SHIPPED, "the baseline has no posterior yet: `simmodel calibrate` "
                                 "writes calibration/posterior.csv (or give one with --posterior-file)")
        else:
            p = Path(path)
            if not p.is_file():
                raise ParamError("--posterior-file", str(p), "no such file" if not p.exists() else "is not a file")
        data = p.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParamError("--posterior-file", str(p), "is not a UTF-8 text (CSV) file") from None
        rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
        where = str(p)
        if not rows:
            raise ParamError("header", "", "the file is empty; expected a header weight,<parameter key>,...", where)
        header = [c.strip() for c in rows[0]]
        if header[0] != "weight":
            raise ParamError("header", ",".join(header), "must start with weight, then the dotted parameter keys "
                             "(e.g. weight,decision.intercept)", where)
        keys = header[1:]
        if not keys:
            raise ParamError("header", ",".join(header), "names no parameter after weight", where)
        for j, k in enumerate(keys, 2):
            column = f"header column {j}"
            if k not in BY_KEY:
                close = difflib.get_close_matches(k, list(BY_KEY), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(close)}?" if close else "; see `simmodel params`"
                raise ParamError(column, k, "unknown parameter key (dotted, e.g. decision.intercept)" + hint, where)
            if BY_KEY[k].kind not in NUMERIC:
                raise ParamError(column, k, f"is a {BY_KEY[k].kind} parameter; a posterior holds only numeric "
                                 "(float or integer) parameters", where)
            if keys.count(k) > 1:
                raise ParamError(column, k, "appears twice in the header; each parameter once", where)
        if len(rows) < 2:
            raise ParamError("particles", 0, "the file has a header but no particle rows", where)
        weights = np.empty(len(rows) - 1)
        theta = np.empty((len(rows) - 1, len(keys)))
        for i, row in enumerate(rows[1:]):
            line = f"{where}, particle {i} (row {i + 2})"
            if len(row) != len(header):
                raise ParamError("row", ",".join(row), f"has {len(row)} fields; the header has {len(header)}", line)
            w = _number(row[0], "weight", line)
            if not math.isfinite(w) or w < 0:
                raise ParamError("weight", row[0].strip(), "must be a finite number >= 0", line)
            weights[i] = w
            for j, (k, raw) in enumerate(zip(keys, row[1:])):
                v = _number(raw, k, line)
                if not math.isfinite(v):
                    raise ParamError(k, raw.strip(), BY_KEY[k].allowed(), line)
                theta[i, j] = BY_KEY[k].validate(v, line)  # range and integrality
        total = weights.sum()
        if not total > 0:
            raise ParamError("weight", 0, "every particle has weight 0; at least one must be positive", where)
        return cls(p, tuple(keys), theta, weights / total, hashlib.sha256(data).hexdigest())

    def values(self, particle: int) -> dict[str, Any]:
        """A particle's values by key, typed as its parameters are (ints for integer parameters)."""
        return {k: int(round(v)) if BY_KEY[k].kind == "int" else float(v)
                for k, v in zip(self.keys, self.theta[particle])}

    def draws(self, n: int, seed: int) -> list[Draw]:
        """``n`` draws by weight: systematic resampling with a numpy Generator seeded from ``seed``
        (one uniform offset, then n evenly spaced positions on the cumulative weights), so a particle of
        weight w is drawn floor(n w) or ceil(n w) times, one of weight 0 never; deterministic for (file,
        n, seed)."""
        if n < 1:
            raise ParamError("--posterior", n, "must be at least 1 (the number of draws from the posterior)")
        rng = np.random.default_rng(seed)
        positions = (rng.random() + np.arange(n)) / n
        cum = np.cumsum(self.weights)
        cum = cum / cum[-1]
        idx = np.searchsorted(cum, positions, side="right")
        idx = np.minimum(idx, int(np.flatnonzero(self.weights > 0)[-1]))  # rounding at the top end
        return [Draw(d, int(i), self.values(int(i))) for d, i in enumerate(idx)]


def _number(raw: str, key: str, where: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ParamError(key, raw.strip(), "must be a number", where) from None


# --- how a draw enters a run ------------------------------------------------------------------------
def drawn_keys(scenario: Params, baseline: Params, keys, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Of the posterior's ``keys``, those a draw sets in a run of ``scenario``: the ones the scenario
    leaves at the baseline point's value and no override sets."""
    over = {resolve_key(k, v).key for k, v in (overrides or {}).items()}
    return [k for k in keys if scenario[k] == baseline[k] and k not in over]


def apply(scenario: Params, draw: Mapping[str, Any], baseline: Params, overrides: Mapping[str, Any] | None = None,
          where: str = "") -> Params:
    """The parameters of one run of ``scenario`` on a posterior ``draw``: the drawn values replace the
    calibrated point where the scenario leaves the baseline's values; what the scenario sets beyond the
    baseline keeps its value; ``overrides`` (--set, --scale, --end; a sweep's factors, end and scale) are
    applied last and win over the draw."""
    updates = {k: draw[k] for k in drawn_keys(scenario, baseline, draw, overrides)}
    updates.update(overrides or {})
    return scenario.replace(updates, where=where)


@dataclass(frozen=True)
class Plan:
    """The draws of a command and the seeds of each: draw d runs on seeds
    first_seed + d * seeds_per_draw .. first_seed + (d + 1) * seeds_per_draw - 1; the draws are taken
    with seed first_seed."""

    posterior: Posterior
    draws: tuple[Draw, ...]
    first_seed: int
    seeds_per_draw: int
    baseline: Params  # the calibrated point the draws replace

    @classmethod
    def make(cls, n: int, first_seed: int, seeds_per_draw: int, path: str | Path | None = None,
             baseline: Params | None = None) -> Plan:
        if n < 1:
            raise ParamError("--posterior", n, "must be at least 1 (the number of draws from the posterior)")
        post = Posterior.load(path)
        if baseline is None:
            from . import scenarios

            baseline = scenarios.baseline().params
        return cls(post, tuple(post.draws(n, first_seed)), first_seed, seeds_per_draw, baseline)

    @property
    def n(self) -> int:
        return len(self.draws)

    def seeds(self, draw: int) -> list[int]:
        start = self.first_seed + draw * self.seeds_per_draw
        return list(range(start, start + self.seeds_per_draw))

    def runs(self) -> list[tuple[int, int]]:
        """Every (draw, seed) pair, in seed order."""
        return [(d.number, s) for d in self.draws for s in self.seeds(d.number)]

    def all_seeds(self) -> list[int]:
        return [s for _, s in self.runs()]

    def params(self, scenario: Params, overrides: Mapping[str, Any] | None = None, where: str = "") -> list[Params]:
        """Per draw, the parameters of a run of ``scenario`` (see :func:`apply`)."""
        return [apply(scenario, d.values, self.baseline, overrides, where) for d in self.draws]

    def drawn_keys(self, scenario: Params, overrides: Mapping[str, Any] | None = None) -> list[str]:
        return drawn_keys(scenario, self.baseline, self.posterior.keys, overrides)

    def phrase(self, checked: bool = False) -> str:
        return bands_phrase(self.n, self.seeds_per_draw, checked)

    def manifest(self) -> dict:
        """What a manifest records: the file and its sha256, N, the seed of the draws, and each draw's
        particle, seeds and values."""
        return {"file": str(self.posterior.path.resolve()), "sha256": self.posterior.sha256, "draws": self.n,
                "draw_seed": self.first_seed, "seeds_per_draw": self.seeds_per_draw, "keys": list(self.posterior.keys),
                "particles": len(self.posterior.weights), "bands": self.phrase(),
                "each": [{"draw": d.number, "particle": d.particle, "seeds": self.seeds(d.number), "values": d.values}
                         for d in self.draws]}

    def identity(self) -> dict:
        """What makes two plans the same runs (a sweep resumes only with the same)."""
        return {"sha256": self.posterior.sha256, "draws": self.n, "draw_seed": self.first_seed,
                "seeds_per_draw": self.seeds_per_draw}


__all__ = ["Posterior", "Draw", "Plan", "apply", "drawn_keys", "bands_phrase", "shipped_path", "SHIPPED"]
