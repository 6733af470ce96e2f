"""``--executor dask --scheduler tcp://HOST:8786``: each point a task on an existing Dask cluster.

The parent (the ``nbmlops sweep`` process) connects with :class:`distributed.Client` before the
sweep writes or runs anything: a scheduler that does not answer within
:data:`CONNECT_TIMEOUT_S`, or has no workers, is a :class:`~nbmlops.errors.ClusterUnreachableError`
naming the address, and the sweep's state is left as it was. It then keeps as many points on the
cluster as it has worker threads (so a point it marks ``running`` is running, and
``max_failures`` leaves the points it never submitted ``pending``), and hands each returned
:class:`~nbmlops.sweep.point.PointOutcome` to the sweep's one recording thread, as the local
executor does. Workers never write MLflow or the ledger.

On a worker, a point (:func:`run_task`):

1. checks it sees the project folder at the parent's path (workers read the notebooks and the
   shared stages' products and write the point's products there, so they run on this machine or
   on a shared filesystem mounted at the same path); else the point fails with
   :class:`~nbmlops.errors.ProjectNotVisibleError`;
2. fails at once with :class:`~nbmlops.errors.WorkerDiedError` if an earlier attempt of it in
   this sweep run died with its worker (Dask hands a dead worker's task to another; the dead
   attempt's kernel may still be writing into the point's folder, so it is not run twice);
3. checks each point stage's kernel *on this worker* against the lock the sweep started with
   (its SHA-256, then the installed distributions against the pins,
   :func:`~nbmlops.run.environment.check_environment`); a difference fails the point with an
   :class:`~nbmlops.errors.EnvironmentMismatchError` listing every package (name, installed,
   locked), unless the sweep was started with ``--allow-env-mismatch``;
4. runs the point's stages (:func:`~nbmlops.sweep.point.run_point`) on a kernel pool kept per
   worker thread for the whole sweep, whose next kernel boots while a stage runs, and the next
   point's first kernel while the last stage runs when more points were waiting.

``distributed`` is imported only here and only when a Dask sweep starts.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, cast

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.digests import file_digest
from nbmlops._core.ids import utc_now
from nbmlops._core.user import current_host
from nbmlops.errors import (
    ClusterUnreachableError,
    EnvironmentMismatchError,
    NbmlopsError,
    ProjectNotVisibleError,
    SweepError,
    WorkerDiedError,
)
from nbmlops.records.model import JSON
from nbmlops.sweep.executors import AheadPool, Params, SweepExecutor, failed_outcome
from nbmlops.sweep.point import PointOutcome, append_log, run_point
from nbmlops.sweep.spec import Point, SweepSpec
from nbmlops.sweep.state import sweep_products

__all__ = ["CONNECT_TIMEOUT_S", "DaskExecutor", "PointTask", "close_pools", "run_task"]

CONNECT_TIMEOUT_S = 5.0
"""How long the parent waits for the scheduler to answer (a cluster that answers at all does so
in well under a second; distributed's own default, 30 s, would make a typo feel like a hang)."""

_NOTHING = "nothing ran and the sweep's points are as they were"

ATTEMPT = ".dask-attempt.json"
"""In a point's folder while a worker runs it: which worker, since when (removed when it ends)."""


class DaskExecutor(SweepExecutor):
    """Points as tasks on the Dask cluster at ``scheduler`` (see the module docstring)."""

    name = "dask"
    checks_environment = True

    def __init__(self, scheduler: str, *, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.scheduler = scheduler
        self.connect_timeout = connect_timeout
        self._client: Any = None

    @classmethod
    def from_options(cls, *, workers: int | None, scheduler: str | None) -> Self:
        if workers is not None:
            raise SweepError(
                "--workers sets the local executor's points at once; a Dask cluster runs as many "
                "points as its workers have threads (start more `dask worker`s for more).",
                sweep=None,
                argument="workers",
            )
        if not scheduler:
            import dask

            scheduler = dask.config.get("scheduler-address", None)  # DASK_SCHEDULER_ADDRESS
        if not scheduler:
            raise SweepError(
                "--executor dask needs the scheduler's address: --scheduler tcp://HOST:8786 "
                "(or DASK_SCHEDULER_ADDRESS).",
                sweep=None,
                argument="scheduler",
            )
        return cls(str(scheduler))

    def __enter__(self) -> Self:
        from distributed import Client

        try:
            client = Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterUnreachableError(
                address=self.scheduler,
                detail=f"no answer within {self.connect_timeout:g} s ({exc}); {_NOTHING}",
            ) from None
        if not _threads(client):
            client.close()
            raise ClusterUnreachableError(
                address=self.scheduler, detail=f"it has no workers; {_NOTHING}"
            )
        self._client = client
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

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
        from distributed import as_completed

        client = self._client
        if client is None:
            raise RuntimeError("DaskExecutor.run outside its `with` block")  # a bug, not input
        token = secrets.token_hex(6)
        locks = lock_digests(sweep)
        waiting = deque(points)
        flying: dict[Any, Point] = {}
        finished = as_completed(loop=client.loop)

        def submit() -> None:
            while waiting and not stop.is_set() and client.status == "running":
                if len(flying) >= max(1, _threads(client)):
                    return
                point = waiting.popleft()
                on_start(point)
                task = PointTask(
                    sweep=sweep, point=point, params=params(point), locks=locks,
                    allow_env_mismatch=allow_env_mismatch, token=token, more=bool(waiting),
                )  # fmt: skip
                key = f"nbmlops-point-{token}-{point.id}"
                future = client.submit(run_task, task, key=key, pure=False)
                flying[future] = point
                finished.add(future)

        try:
            submit()
            for future in finished:
                point = flying.pop(future)
                on_done(self._outcome(sweep, point, future))
                submit()
            if waiting and not stop.is_set():  # the client gave up on the scheduler
                raise ClusterUnreachableError(
                    address=self.scheduler,
                    detail=f"the connection was lost mid-sweep; {len(waiting)} point(s) not "
                    "started stay pending and the points it was running failed (run the sweep "
                    "again to resume, with --retry-failed for those)",
                )
        finally:
            for future in flying:
                future.cancel()
            with contextlib.suppress(Exception):  # the cluster may be gone: its kernels with it
                client.run(close_pools, token)

    def _outcome(self, sweep: SweepSpec, point: Point, future: Any) -> PointOutcome:
        try:
            outcome: PointOutcome = future.result()
        except Exception as exc:  # KilledWorker, a lost scheduler, a bug: the point fails
            message = f"on the Dask cluster at {self.scheduler}: {type(exc).__name__}: {exc}"
            return failed_outcome(sweep, point, {"error": type(exc).__name__, "message": message})
        return outcome


def _threads(client: Any) -> int:
    """The worker threads the cluster has now (points it can run at once)."""
    return sum(cast(dict[str, int], client.nthreads()).values())


def lock_digests(sweep: SweepSpec) -> dict[str, str]:
    """The SHA-256 of each point stage's lock file (``environment``) as the sweep starts."""
    root = sweep.pipeline.root
    found = {}
    for name in sweep.point_stages:
        environment = sweep.pipeline.stage(name).environment
        if environment not in found and (root / environment).is_file():
            found[environment] = file_digest(root / environment)
    return found


@dataclass(frozen=True, kw_only=True)
class PointTask:
    """What a worker gets for one point (pickled by Dask)."""

    sweep: SweepSpec
    point: Point
    params: dict[str, dict[str, JSON]]
    locks: dict[str, str]
    """SHA-256 of each lock file (``environment``, relative to the project) the sweep started
    with."""
    allow_env_mismatch: bool
    token: str
    """This sweep run's executor: an earlier attempt with the same token died with its worker."""
    more: bool
    """More points were waiting when this one was submitted (boot the next kernel ahead)."""


def run_task(task: PointTask) -> PointOutcome:
    """One point on a Dask worker (module docstring); never raises for the point's failure."""
    sweep, point = task.sweep, task.point
    where = _Where.here()
    spec = sweep.pipeline
    notebooks = [spec.stage(n).path for n in sweep.point_stages]
    if not spec.root.is_dir() or not all(p.is_file() for p in notebooks):
        unseen = ProjectNotVisibleError(path=spec.root, worker=where.worker, host=where.host)
        return failed_outcome(sweep, point, _as_error(unseen))
    folder = sweep_products(spec.build_dir, sweep.name, point.id)
    folder.mkdir(parents=True, exist_ok=True)
    attempt = folder / ATTEMPT
    died = _earlier_attempt(attempt, task.token)
    if died is not None:
        attempt.unlink(missing_ok=True)
        append_log(folder, f"point {point.id}: its worker {died['worker']} died; not run again")
        dead = WorkerDiedError(
            point=point.id, worker=str(died["worker"]), host=str(died["host"]),
            since=str(died["started_at"]),
        )  # fmt: skip
        return failed_outcome(sweep, point, _as_error(dead))
    started = {"token": task.token, "worker": where.worker, "host": where.host,
               "pid": os.getpid(), "started_at": utc_now()}  # fmt: skip
    write_text_atomic(attempt, json.dumps(started) + "\n")
    append_log(folder, f"point {point.id}: on Dask worker {where.worker} ({where.host}), "
               f"pid {os.getpid()}")  # fmt: skip
    try:
        mismatch = _environment_problem(task, where)
        if mismatch is not None:
            stage, differs = mismatch
            if not task.allow_env_mismatch:
                append_log(folder, f"point {point.id}: not run: {differs['message']}")
                return failed_outcome(sweep, point, differs, stage=stage)
            append_log(folder, f"point {point.id}: run anyway (--allow-env-mismatch): "
                       f"{differs['message']}")  # fmt: skip
        return run_point(sweep, point, params=task.params, pool=_pool(task))
    except Exception as exc:  # a bug or a full disk: the point fails, the worker goes on
        known = exc.to_dict() if isinstance(exc, NbmlopsError) else None
        return failed_outcome(sweep, point, where.tell(known or {
            "error": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}))  # fmt: skip
    finally:
        attempt.unlink(missing_ok=True)


def _earlier_attempt(attempt: Path, token: str) -> dict[str, Any] | None:
    """The attempt file an earlier try of this point in this sweep run left (its worker died)."""
    try:
        data = json.loads(attempt.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("token") == token else None


@dataclass(frozen=True)
class _Where:
    worker: str
    host: str

    @classmethod
    def here(cls) -> _Where:
        from distributed import get_worker

        try:
            address = str(get_worker().address)
        except ValueError:  # not inside a worker (run directly): say so rather than guess
            address = f"pid {os.getpid()}"
        return cls(worker=address, host=current_host())

    def tell(self, error: Mapping[str, Any]) -> dict[str, JSON]:
        """``error`` with where it happened, first in its message."""
        message = f"on Dask worker {self.worker} ({self.host}): {error.get('message')}"
        return cast(dict[str, JSON], {**error, "message": message, "worker": self.worker})


def _as_error(error: NbmlopsError) -> dict[str, JSON]:
    return cast(dict[str, JSON], error.to_dict())


def _environment_problem(task: PointTask, where: _Where) -> tuple[str, dict[str, JSON]] | None:
    """The first point stage whose kernel here differs from the sweep's lock, with the error."""
    from nbmlops.run.environment import check_environment

    spec = task.sweep.pipeline
    seen: set[tuple[str, str]] = set()
    for name in task.sweep.point_stages:
        stage = spec.stage(name)
        expected = task.locks.get(stage.environment)
        if expected is None or (stage.kernel, stage.environment) in seen:
            continue  # no lock when the sweep started: nothing to compare (as a local sweep)
        seen.add((stage.kernel, stage.environment))
        lock = spec.root / stage.environment
        try:
            found: str | None = file_digest(lock)
        except OSError:
            found = None
        if found != expected:
            differences: Sequence[str] = (
                f"{stage.environment}: sha256 {expected[:12]} when the sweep started, "
                f"{found[:12] if found else 'missing'} on this worker (the lock changed meanwhile)",
            )
        else:
            differences = check_environment(kernel=stage.kernel, lock=lock).differences
        if differences:
            error = EnvironmentMismatchError(
                kernel=stage.kernel, lock=lock, differences=differences
            )
            return name, where.tell(error.to_dict())
    return None


# -- the kernel pools of a worker process ---------------------------------------------------------


@dataclass
class _Hint:
    more: bool = False


_POOLS: dict[tuple[str, int], tuple[AheadPool, _Hint]] = {}
_POOLS_GUARD = threading.Lock()


def _pool(task: PointTask) -> AheadPool:
    """This worker thread's kernel pool for this sweep run (a pool of another sweep run on this
    thread is closed: its kernels were booted for other notebooks)."""
    me = threading.get_ident()
    with _POOLS_GUARD:
        old = [_POOLS.pop(k)[0] for k in list(_POOLS) if k[1] == me and k[0] != task.token]
        entry = _POOLS.get((task.token, me))
        if entry is None:
            hint = _Hint()
            order = [task.sweep.pipeline.stage(n) for n in task.sweep.point_stages]
            entry = (AheadPool(order, more=lambda: hint.more), hint)
            _POOLS[(task.token, me)] = entry
    for pool in old:
        pool.close()
    entry[1].more = task.more
    return entry[0]


def close_pools(token: str | None = None) -> int:
    """Shut down the kernels booted ahead for a sweep run (every run's when ``token`` is None);
    the parent calls it on every worker when its sweep ends. Returns how many pools closed."""
    with _POOLS_GUARD:
        keys = [k for k in _POOLS if token is None or k[0] == token]
        pools = [_POOLS.pop(k)[0] for k in keys]
    for pool in pools:
        pool.close()
    return len(pools)


atexit.register(close_pools)  # a worker stopped between sweeps leaves no kernel behind
