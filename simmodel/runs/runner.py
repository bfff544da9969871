"""Run one (parameters, seed) to a tidy result: the single way every front door runs the model."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import TransformationModel
from ..model.recorder import tidy_rows
from ..params import Params

Progress = Callable[[int, int], None]  # (months done, months in all)
PROVINCE_ONLY = ("province",)  # levels= for callers that read province-wide values alone


@dataclass
class RunResult:
    """Tidy rows of one run: (period, region, sector, indicator, value)."""

    seed: int
    params: Params
    n_agents: int
    yearly: list[tuple]
    monthly: list[tuple]
    timings: dict[str, float] = field(default_factory=dict)


_settled = False


def _settle_heap() -> None:
    """Once in a process, after its first run: collect, then move every object alive (the modules, the compiled
    kernels, the tables: some 180,000 at scale 0.02) out of the cyclic garbage collector's view (``gc.freeze``).
    The collector's full passes, which the rows of many runs set off, then scan only what later runs made: in a
    sweep of ``simmodel run``'s tables they took 8 ms a run at scale 0.02, two passes of 80 ms in 20 runs
    (docs/performance.md, thirtieth session). Objects stay freed by their reference counts; only a cycle among
    the objects alive at that moment would never be collected. Results do not change."""
    global _settled
    if not _settled:
        _settled = True
        gc.collect()
        gc.freeze()


def simulate(params: Params, seed: int, progress: Progress | None = None) -> TransformationModel:
    """Build the model and step it to ``run.end``; ``progress`` is called after each month."""
    model = TransformationModel(seed=seed, params=params, collect_headline=False)
    total = model.end_month + 1
    while model.running:
        model.step()
        if progress:
            progress(model.month + 1, total)
    return model


def tidy(model: TransformationModel, yearly: bool, names: tuple[str, ...] | None = None,
         levels: tuple[str, ...] | None = None) -> list[tuple]:
    """The model's indicators as tidy rows, by year (province, cities, sectors) or month (province,
    cities); ``levels`` keeps only some of them."""
    return tidy_rows(model.recorder, yearly, names, levels)


def run(params: Params, seed: int, monthly: bool = True, progress: Progress | None = None,
        names: tuple[str, ...] | None = None, levels: tuple[str, ...] | None = None) -> RunResult:
    """Simulate and tabulate one run (``names``: only these indicators; ``levels``: only these of
    province, city, sector)."""
    t0 = time.perf_counter()
    model = simulate(params, seed, progress)
    t1 = time.perf_counter()
    yearly_rows = tidy(model, True, names, levels)
    monthly_rows = tidy(model, False, names, levels) if monthly else []
    n_agents = model.firms.n
    model.release()  # memory stays flat over thousands of runs in one worker
    _settle_heap()
    t2 = time.perf_counter()
    return RunResult(seed, params, n_agents, yearly_rows, monthly_rows,
                     {"simulate_s": round(t1 - t0, 3), "tabulate_s": round(t2 - t1, 3)})
