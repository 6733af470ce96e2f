"""Where a sweep's points run: the executor base and the local one (``--workers N``).

The local executor runs N points at once, each on its own worker thread with its own
:class:`~nbmlops.run.kernel.KernelPool`, whose next kernel boots while the current point runs.
Threads, not processes: a point's work happens in its kernel, which is a process of its own
already; the thread only drives it (papermill/nbclient, mostly waiting on sockets). So papermill
and nbformat are imported once, nothing is pickled, a worker needs no start-up, and a finished
point is handed to the recording thread as a value in memory. A kernel that dies (killed, out of
memory) fails its point only; the worker takes the next point on a fresh kernel.

Executors never record: each outcome goes to ``on_done``, which the sweep's one recording thread
consumes (:mod:`nbmlops.sweep.records`). Another executor, the Dask one
(:mod:`nbmlops.sweep.dask_executor`), runs each point as a task on a cluster; :data:`EXECUTORS`
names both, and imports the Dask one only when it is asked for.
"""

from __future__ import annotations

import importlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, ClassVar, Self

from nbmlops._core.ids import new_run_id, utc_now
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import SweepError
from nbmlops.records.model import JSON, StageResult
from nbmlops.run.kernel import KernelPool
from nbmlops.sweep.point import PointOutcome, run_point
from nbmlops.sweep.spec import Point, SweepSpec
from nbmlops.sweep.state import sweep_products

__all__ = [
    "EXECUTORS",
    "AheadPool",
    "LocalExecutor",
    "SweepExecutor",
    "default_workers",
    "failed_outcome",
    "make_executor",
]

Params = Callable[[Point], dict[str, dict[str, JSON]]]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SweepExecutor(ABC):
    """Runs points and hands each :class:`PointOutcome` to ``on_done`` as it finishes.

    Used as a context manager around the sweep: entering connects to whatever runs the points
    (before the sweep writes or runs anything, so an unreachable cluster leaves no trace), leaving
    lets go of it.
    """

    name: ClassVar[str]
    checks_environment: ClassVar[bool] = False
    """True when the points run where this process cannot look (another machine's kernels): the
    executor checks each point's kernel against its lock where it runs, and the sweep does not
    check this machine's kernels for the points."""

    @classmethod
    @abstractmethod
    def from_options(cls, *, workers: int | None, scheduler: str | None) -> Self:
        """The executor for ``--workers`` / ``--scheduler`` (:class:`SweepError` for an option
        it does not take)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @abstractmethod
    def run(
        self,
        sweep: SweepSpec,
        points: Sequence[Point],
        *,
        params: Params,
        on_start: Callable[[Point], None],
        on_done: Callable[[PointOutcome], None],
        stop: threading.Event,
        allow_env_mismatch: bool = False,
    ) -> None:
        """Run ``points`` (until ``stop`` is set: points not started then stay pending)."""


class LocalExecutor(SweepExecutor):
    """``workers`` points at a time on this machine, kernels booted ahead (module docstring)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or default_workers())

    @classmethod
    def from_options(cls, *, workers: int | None, scheduler: str | None) -> Self:
        if scheduler is not None:
            raise SweepError(
                "--scheduler names a Dask cluster: use it with --executor dask.",
                sweep=None,
                argument="scheduler",
            )
        return cls(workers)

    def run(
        self,
        sweep: SweepSpec,
        points: Sequence[Point],
        *,
        params: Params,
        on_start: Callable[[Point], None],
        on_done: Callable[[PointOutcome], None],
        stop: threading.Event,
        allow_env_mismatch: bool = False,  # this machine's kernels were checked by the sweep
    ) -> None:
        queue: SimpleQueue[Point] = SimpleQueue()
        for point in points:
            queue.put(point)
        job = _Job(sweep=sweep, queue=queue, params=params, on_start=on_start,
                   on_done=on_done, stop=stop)  # fmt: skip
        threads = [
            threading.Thread(target=_work, args=(job,), name=f"nbmlops-sweep-{i}", daemon=True)
            for i in range(min(self.workers, len(points)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@dataclass(frozen=True, kw_only=True)
class _Job:
    sweep: SweepSpec
    queue: SimpleQueue[Point]
    params: Params
    on_start: Callable[[Point], None]
    on_done: Callable[[PointOutcome], None]
    stop: threading.Event


def _work(job: _Job) -> None:
    """One worker: points from the queue, one at a time, on its own kernels."""
    order = [job.sweep.pipeline.stage(n) for n in job.sweep.point_stages]
    pool = AheadPool(order, more=lambda: not job.queue.empty() and not job.stop.is_set())
    pool.prestart(order[0])
    try:
        while not job.stop.is_set():
            try:
                point = job.queue.get_nowait()
            except Empty:
                return
            job.on_start(point)
            try:
                outcome = run_point(job.sweep, point, params=job.params(point), pool=pool)
            except Exception as exc:  # a bug or a full disk: the point fails, not the sweep
                outcome = failed_outcome(job.sweep, point, _crash(exc))
            job.on_done(outcome)
    finally:
        pool.close()


class AheadPool(KernelPool):
    """A worker's kernels: when a stage takes its kernel, the next stage's (the next point's
    first stage after the last) starts booting, if more points wait."""

    def __init__(self, order: list[StageSpec], *, more: Callable[[], bool]) -> None:
        super().__init__()
        self._next = {s.name: order[(i + 1) % len(order)] for i, s in enumerate(order)}
        self._more = more

    def take(self, stage: StageSpec) -> Any:
        km = super().take(stage)
        following = self._next.get(stage.name)
        last = following is not None and following.name == next(iter(self._next))
        if following is not None and (not last or self._more()):
            self.prestart(following)
        return km


def _crash(exc: Exception) -> dict[str, JSON]:
    return {"error": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}


def failed_outcome(
    sweep: SweepSpec, point: Point, error: Mapping[str, JSON], *, stage: str | None = None
) -> PointOutcome:
    """A point that failed before (or outside) its stages: ``error`` (``error``: the type,
    ``message``, fields) on ``stage`` (default its first stage), nothing else run."""
    now = utc_now()
    folder = sweep_products(sweep.pipeline.build_dir, sweep.name, point.id)
    first = stage or sweep.point_stages[0]
    result = StageResult(
        stage=first,
        status="failed",
        kernel=sweep.pipeline.stage(first).kernel,
        params={},
        error=dict(error),
        started_at=now,
        finished_at=now,
    )
    return PointOutcome(
        point=point,
        run_id=new_run_id(),
        status="failed",
        started_at=now,
        finished_at=now,
        duration_s=0.0,
        stages=(result,),
        folder=str(folder),
    )


class _Registry(Mapping[str, type[SweepExecutor]]):
    """Executors by name, each module imported when its executor is asked for: the Dask one
    imports this module (its base class), so naming it here by module keeps the import one-way,
    and ``--executor local`` never loads it."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self._where = dict(where)

    def __getitem__(self, name: str) -> type[SweepExecutor]:
        module, _, attribute = self._where[name].partition(":")
        found: type[SweepExecutor] = getattr(importlib.import_module(module), attribute)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


EXECUTORS: Mapping[str, type[SweepExecutor]] = _Registry(
    {
        "local": "nbmlops.sweep.executors:LocalExecutor",
        "dask": "nbmlops.sweep.dask_executor:DaskExecutor",
    }
)
"""Executors by ``--executor`` name."""


def make_executor(
    name: str = "local", *, workers: int | None = None, scheduler: str | None = None
) -> SweepExecutor:
    """The executor ``--executor NAME`` names, made from ``--workers`` / ``--scheduler``.

    Raises
    ------
    SweepError
        An unknown name, or an option that executor does not take.
    """
    if name not in EXECUTORS:
        raise SweepError(
            f"no executor '{name}' (there are: {', '.join(EXECUTORS)}).",
            sweep=None,
            argument="executor",
        )
    return EXECUTORS[name].from_options(workers=workers, scheduler=scheduler)
