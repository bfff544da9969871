"""Shared helpers: small runs of the calibrated baseline on common random numbers (same seed, one
parameter changed)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from simmodel.model.indicators import FLOWS, STOCKS
from simmodel.params import Params
from simmodel.runs.runner import simulate

SMALL = {"run.scale": 0.02}


@pytest.fixture
def fail_runs(monkeypatch):
    """Make chosen runs fail as a bug in the model would: ``fail_runs(when)`` makes every run for which
    ``when(params, seed)`` is true raise "boom in the model"; ``fail_runs(None)`` puts the real runs back."""
    import simmodel.runs.executor as ex

    real = ex.run

    def install(when):
        def flaky(params, seed, **kw):
            if when(params, seed):
                raise RuntimeError("boom in the model")
            return real(params, seed, **kw)

        monkeypatch.setattr(ex, "run", real if when is None else flaky)

    return install


@functools.lru_cache(maxsize=1)
def baseline_params() -> Params:
    from simmodel.analysis.scenarios import baseline
    return baseline().params


@functools.lru_cache(maxsize=48)
def _run(items: tuple, seed: int):
    return simulate(baseline_params().replace(dict(items)), seed)


def run(seed: int = 7, **updates):
    """A finished baseline model at small scale with ``updates`` (dotted keys) applied; cached per session."""
    merged = {**SMALL, **{k.replace("__", "."): v for k, v in updates.items()}}
    return _run(tuple(sorted(merged.items())), seed)


def flow_total(model, name: str, months: slice = slice(None)) -> float:
    """A flow summed over the run's months (real firms or yuan)."""
    return float(model.recorder.flows[months, FLOWS.index(name)].sum())


def stock_series(model, name: str) -> np.ndarray:
    """A stock quantity province-wide, month by month."""
    return model.recorder.stocks[: model.recorder.months_done, STOCKS.index(name)].sum(axis=1)


def share_adopted(model, months=None) -> np.ndarray:
    """Share of all firms at stage >= 1, month by month (from the recorder's cube)."""
    st = model.recorder.stocks[: model.recorder.months_done, STOCKS.index("firms")]
    cube = st.reshape(st.shape[0], -1, 5, 2)  # (..., stage, cloud)
    return cube[:, :, 1:, :].sum(axis=(1, 2, 3)) / cube.sum(axis=(1, 2, 3))


@pytest.fixture(scope="session")
def baseline():
    return run()
