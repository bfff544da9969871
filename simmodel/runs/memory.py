"""What a job will need in memory, before it starts (so a job that cannot fit is refused, not killed).

The figures are measured by ``python -m benchmarks.memory`` (docs/performance.md, "Memory") on this
project's machines: a process with the model imported, one run of ``n`` firm agents in it, a Dask
worker's own overhead, and the parent's tables of results. The estimate is meant to be a little
above what a job uses (2026-12-02, with firm dynamics and Dask workers that no longer trim their
heap: 0.80 GB estimated for 0.73 GB used by 8 seeds at scale 0.05 on 2 workers, 0.96 GB for 0.91 GB
by 4 seeds at 0.3, 1.42 GB for 1.28 GB by 4 seeds of the whole province, 0.56 GB for 0.53 GB by 2
seeds of the province in process).
"""

from __future__ import annotations

import psutil

from ..params import ParamError, Params

PROCESS_MB = 160.0  # the interpreter with numpy, pandas, mesa and simmodel imported
PER_AGENT_KB = 0.65  # firm arrays and the decision's work arrays while a run steps
RECORDER_MB_PER_YEAR = 2.6  # the monthly cubes of one run (stocks, flows), a year of months
WORKER_MB = 70.0  # a Dask worker's own overhead beyond the process
ROWS_MB_PER_RUN = {True: 12.0, False: 1.2}  # the parent's tidy rows per finished run (with / without monthly)
# the calibration's emulated stage, in the parent: a proposal's distances to the 200 residual draws and what is
# derived from them (2026-12-07, the eighth calibration's 19,992 runs: 2.38 GB above the process at the cap of
# 1,280,000 proposals, 1.44 GB at 640,000)
EMULATED_KB_PER_PROPOSAL = 2.0
EMULATED_MB = 100.0  # the emulator and its centres


def agents(params: Params) -> int:
    from ..model.population import agent_counts

    a, s, _, _ = agent_counts(params)
    return a + s


def run_mb(params: Params) -> float:
    """Peak memory of one run in a process that holds nothing else (MB)."""
    from ..params import month_index

    years = (month_index(params["run.end"]) + 1) / 12
    return PROCESS_MB + PER_AGENT_KB * agents(params) / 1024 + RECORDER_MB_PER_YEAR * years


def job_mb(params: Params, runs: int, workers: int, monthly: bool = True, held: int | None = None) -> float:
    """Peak memory of a job of ``runs`` runs like ``params`` on ``workers`` processes (MB): the workers
    (or this process, with one) plus the parent's tables of the ``held`` runs it keeps at once (all of
    them by default; sweeps and calibrations stream each run to a file and hold none)."""
    per_run = run_mb(params) - PROCESS_MB
    rows = ROWS_MB_PER_RUN[monthly] * (runs if held is None else held)
    if workers <= 1:
        return PROCESS_MB + per_run + rows
    return PROCESS_MB + rows + min(workers, runs) * (PROCESS_MB + WORKER_MB + per_run)


def emulated_mb(max_proposals: int) -> float:
    """Peak memory the calibration's emulated stage adds to the parent (MB) when its proposals may grow to
    ``max_proposals`` (calibrate.Plan.emulated_max_proposals)."""
    return EMULATED_MB + EMULATED_KB_PER_PROPOSAL * max_proposals / 1024


def available_mb() -> float:
    return psutil.virtual_memory().available / 2**20


def check(estimate_mb: float, force: bool, what: str = "this job") -> str:
    """A line saying what ``what`` needs; ParamError if it cannot fit in the memory available now
    (unless ``force``)."""
    free = available_mb()
    line = f"{what} needs about {estimate_mb / 1024:.1f} GB of memory ({free / 1024:.1f} GB available)"
    if estimate_mb > 0.9 * free and not force:
        raise ParamError("memory", f"{estimate_mb / 1024:.1f} GB", f"{what} would not fit in the "
                         f"{free / 1024:.1f} GB available: use fewer --workers or a smaller --scale, or pass --force")
    return line


__all__ = ["run_mb", "job_mb", "emulated_mb", "check", "available_mb", "agents"]
