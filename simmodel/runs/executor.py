"""Executors: run a list of (parameters, seed) tasks and hand back each outcome as it finishes.

The one way replications, comparisons, sweeps and calibration run many models
(ARCHITECTURE.md). Two back ends:
  SerialExecutor  in this process, in order (``--workers 1``: for debugging);
  DaskExecutor    dask.distributed: a LocalCluster of worker processes bound to 127.0.0.1
                  (``--workers N``, default the machine's cores), or an existing cluster
                  (``--scheduler tcp://host:8786``). A lost worker's tasks are recomputed.
Tasks are kept in flight a few per worker at a time, so the parent never holds more than a
window of results, and a task that raises comes back as an outcome with its error, not an
exception: the caller records it and goes on. Small runs go to Dask in batches (several tasks per
Dask task, sized from the measured time of a run so that a batch takes about ``batch_seconds``):
at calibration scale a run takes well under a second and the scheduler's per-task cost would
otherwise take a visible share of two workers. Results do not depend on the back end or the
number of workers (each run is seeded by its task).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..params import ParamError, Params
from . import stop
from .runner import RunResult, run


@dataclass(frozen=True)
class Task:
    """One model run: its key (unique in a batch), parameters, seed and what to keep."""

    key: str
    params: Params
    seed: int
    monthly: bool = False
    names: tuple[str, ...] | None = None  # indicators to keep (None: all)
    levels: tuple[str, ...] | None = None  # of province, city, sector (None: all); runner.PROVINCE_ONLY where
    # only province-wide values are read (calibration, validation, optimisation, evaluate)
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Outcome:
    """What came back for a task: a result, or the error it raised."""

    task: Task
    result: RunResult | None
    error: str | None
    seconds: float
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def execute(task: Task) -> Outcome:
    """Run one task; any exception is caught and returned as the outcome's error (one line)."""
    t0 = time.perf_counter()
    try:
        result = run(task.params, task.seed, monthly=task.monthly, names=task.names, levels=task.levels)
        return Outcome(task, result, None, time.perf_counter() - t0, _worker_name())
    except Exception as e:  # a failing run is recorded, not fatal
        msg = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " ")
        return Outcome(task, None, msg, time.perf_counter() - t0, _worker_name())


def execute_batch(tasks: list[Task]) -> list[Outcome]:
    """Run several tasks one after another on one worker (one Dask task for all of them)."""
    return [execute(t) for t in tasks]


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


class Executor:
    """Base class: ``map(tasks)`` yields outcomes as tasks finish; use as a context manager."""

    workers = 1

    def map(self, tasks: Iterable[Task]) -> Iterator[Outcome]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return "in process"


class SerialExecutor(Executor):
    """Runs tasks one after another in this process."""

    def map(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        for t in tasks:
            outcome = execute(t)
            stop.check()  # a signal whose exception was lost inside the run (runs/stop.py)
            yield outcome


SCHEDULER_RE = re.compile(r"^(?:(tcp|tls|ws|wss|inproc|ucx)://)?\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


def check_scheduler(address: str) -> str:
    """A Dask scheduler address (tcp://host:port or host:port), or a one-line ParamError."""
    if not SCHEDULER_RE.match(address or ""):
        raise ParamError("--scheduler", address, "must be a Dask scheduler address such as tcp://host:8786")
    return address


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Worker processes started in this block ignore SIGINT (an ignored signal is inherited by child
    processes), so Ctrl-C reaches only this process, which then shuts the cluster down quietly instead
    of every worker printing its own traceback."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class DaskExecutor(Executor):
    """Runs tasks on dask.distributed: a LocalCluster on 127.0.0.1, or a cluster at ``scheduler``.

    No dashboard unless asked for (``dashboard=True``: port 8787, or the next free one); the local
    cluster's HTTP server otherwise takes a free port on 127.0.0.1, so concurrent jobs say nothing
    about ports. A scheduler that cannot be reached is a one-line error within ``connect_timeout``.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, in_flight_per_worker: int = 2,
                 dashboard: bool = False, connect_timeout: float = 5.0, batch_seconds: float = 2.0,
                 max_batch: int = 32):
        import dask
        from distributed import Client, LocalCluster

        # Two settings of dask's that cost a model run about a quarter of its speed on a worker
        # (docs/performance.md): the nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which
        # also switches off glibc's adaptive mmap threshold, so every large numpy temporary is a
        # fresh mmap with its page faults; and the statistical profiler samples the running task's
        # stack every 10 ms for the dashboard's profile page (kept when the dashboard is asked for).
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        dask.config.set({"distributed.worker.profile.enabled": dashboard,
                         "distributed.nanny.pre-spawn-environ": environ})
        self.scheduler = scheduler
        self.cluster = None
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if scheduler:
            check_scheduler(scheduler)
            try:
                self.client = Client(scheduler, timeout=f"{connect_timeout}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise ParamError("--scheduler", scheduler, f"no Dask scheduler answered within {connect_timeout:g} s "
                                 f"({type(e).__name__})") from None
        else:
            n = workers or os.cpu_count() or 1
            try:
                with _workers_ignore_ctrl_c():
                    self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                                dashboard_address=":8787" if dashboard else "127.0.0.1:0",
                                                silence_logs=logging.ERROR)
            except BaseException:  # Ctrl-C or SIGTERM while the cluster starts: shut its half quietly
                _close_half_started_clusters()
                raise
            self.client = Client(self.cluster)
        self.dashboard = self.client.dashboard_link if dashboard else None
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or (workers or 1))
        self.window = in_flight_per_worker * self.workers
        self.batch_seconds, self.max_batch = batch_seconds, max_batch

    def describe(self) -> str:
        where = self.scheduler or f"local cluster on 127.0.0.1 ({self.workers} workers)"
        return f"dask, {where}" + (f", dashboard {self.dashboard}" if self.dashboard else "")

    def map(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Outcomes as batches finish. The first batches hold one task each; later ones as many as
        take about ``batch_seconds`` at the mean time of the runs so far (at most ``max_batch``), so
        a sweep's tail waits at most about one batch."""
        from distributed import as_completed

        pending = iter(tasks)
        spent, done_runs = 0.0, 0

        def submit(n_batches: int) -> list:
            size = 1
            if done_runs and self.batch_seconds > 0:
                size = int(min(self.max_batch, max(1, self.batch_seconds // max(spent / done_runs, 1e-6))))
            futures = []
            for _ in range(n_batches):
                batch = _take(pending, size)
                if batch:
                    futures.append(self.client.submit(execute_batch, batch, pure=False))
            return futures

        done = as_completed(submit(self.window))
        for fut in done:
            outcomes = fut.result()  # execute() never raises; a lost worker's batch is recomputed
            stop.check()
            fut.release()
            spent += sum(o.seconds for o in outcomes)
            done_runs += len(outcomes)
            for f in submit(1):
                done.add(f)
            yield from outcomes

    def close(self) -> None:
        """Shut the client and any local cluster down, quietly (also after Ctrl-C)."""
        for log in ("distributed", "tornado", "asyncio"):
            logging.getLogger(log).setLevel(logging.CRITICAL)
        if self.cluster is not None:  # the local workers too: a worker whose scheduler has gone logs its heartbeat
            with contextlib.suppress(Exception):
                self.client.run(_quiet_logs, wait=True)
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def _quiet_logs() -> None:
    """On a worker, before its cluster shuts down: nothing of the shutdown on stderr."""
    for log in ("distributed", "tornado", "asyncio"):
        logging.getLogger(log).setLevel(logging.CRITICAL)


def _close_half_started_clusters() -> None:
    """Close, quietly, a local cluster interrupted while it started (it never reached ``self.cluster``), and keep
    dask's exit hook (distributed.deploy.spec.close_clusters, which walks SpecCluster._instances in
    distributed 2026.8.0, the pinned version) from closing it again with a traceback."""
    from distributed.deploy.spec import SpecCluster

    for log in ("distributed", "tornado", "asyncio"):
        logging.getLogger(log).setLevel(logging.CRITICAL)
    for cluster in list(SpecCluster._instances):
        with contextlib.suppress(BaseException):
            cluster.close(timeout=10)
        cluster.shutdown_on_close = False


def _take(it: Iterator[Task], n: int) -> list[Task]:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


def executor_for(workers: int | None = None, scheduler: str | None = None, dashboard: bool = False) -> Executor:
    """The executor the CLI's --workers / --scheduler ask for (1 worker: in process)."""
    if workers is not None and workers < 1:
        raise ParamError("--workers", workers, "must be at least 1")
    if scheduler:
        return DaskExecutor(scheduler=scheduler, dashboard=dashboard)
    if workers == 1:
        return SerialExecutor()
    return DaskExecutor(workers=workers, dashboard=dashboard)
