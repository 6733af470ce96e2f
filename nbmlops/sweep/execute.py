"""``run_sweep``: the shared stages once, then every point not yet finished, recorded as they end.

A sweep goes: define and type-check every point (:func:`plan_sweep`, before any kernel) ->
connect the executor (a Dask scheduler that does not answer stops the sweep here) -> take
the sweep's lock (a second sweep of that name is refused) -> check the sweep is the one on disk
(same points) -> run the shared stages as a normal run of those stages
(:func:`~nbmlops.run.execute.run_pipeline` with ``stages=``; up-to-date ones are skipped) -> run
the points that are pending (or failed, with ``retry_failed``) on an executor -> each outcome to
the one recording thread -> the sweep's end in MLflow and the ledger.

A point failing never stops the others; ``max_failures`` stops starting new points once that
many failed (the points left stay ``pending`` and a rerun picks them up).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops._core.digests import file_digest
from nbmlops._core.ids import new_run_id, utc_now
from nbmlops.authoring.parameters import check_phi, resolve_params
from nbmlops.errors import EnvironmentMismatchError, SweepError, UpstreamProductsMissingError
from nbmlops.privacy.identifiers import project_registry
from nbmlops.privacy.telemetry import phi_policy as resolve_phi_policy
from nbmlops.records.model import RunRecord, collect_provenance
from nbmlops.run.state import read_state
from nbmlops.sweep.executors import SweepExecutor, make_executor
from nbmlops.sweep.point import PointOutcome
from nbmlops.sweep.records import SweepRecorder
from nbmlops.sweep.spec import (
    Point,
    SweepSpec,
    default_name,
    define_sweep,
    parse_grid,
    raw_points,
    read_sweep_file,
)
from nbmlops.sweep.state import (
    check_same_definition,
    hold_sweep_lock,
    read_points,
    read_sweep,
    write_point,
    write_sweep,
)
from nbmlops.sweep.summary import SweepSummary, write_summary
from nbmlops.sweep.summary import preload as preload_summary
from nbmlops.sweep.target import sweep_target

__all__ = ["SweepEvent", "SweepOutcome", "plan_sweep", "run_sweep", "to_run"]

CONFIRM_AT = 10_000
"""A sweep of this many points or more asks before it starts (``--yes`` answers)."""


@dataclass(frozen=True, kw_only=True)
class SweepEvent:
    """What a progress callback receives: ``shared_finished`` (with the shared run's record),
    ``point_started`` / ``point_recorded`` (with the point file's data)."""

    kind: str
    point: Point | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    record: RunRecord | None = None


@dataclass(frozen=True, kw_only=True)
class SweepOutcome:
    """How a sweep ended: counts by status over all its points (earlier runs' included)."""

    sweep: SweepSpec
    run_id: str
    status: str
    """``succeeded`` (every point succeeded), ``failed`` (some failed), ``stopped``
    (``max_failures`` reached: some points were not started)."""
    counts: dict[str, int]
    ran: int
    mlflow_run_id: str | None
    tracking_problem: str | None
    shared: RunRecord | None
    summary: SweepSummary | None = None
    """The summary page written when the sweep ended (``summary.path``); None if it failed."""
    summary_problem: str | None = None
    """Why the page shows another metric than asked (an unknown ``metric``), or was not
    written."""


def plan_sweep(
    target: str | Path,
    *,
    grid: Sequence[str] = (),
    name: str | None = None,
    stages: Iterable[str] = (),
    downstream: bool = False,
    root: Path | None = None,
) -> SweepSpec:
    """Define a sweep and type-check every point; nothing runs and nothing is written.

    ``grid`` are ``stage.param=values`` options; without them the sweep file
    ``pipelines/<pipeline>/sweeps/<name>.yaml`` defines it. A notebook target takes ``param=``
    without a stage.

    Raises
    ------
    SweepError
        No grid and no sweep file, a malformed grid or file, a point of the wrong type (named).
    PipelineNotFoundError, UnknownStageError, NotebookError
        As for ``nbmlops run``.
    """
    found = sweep_target(target, root=root)
    spec, stages = found.pipeline, list(stages)
    if found.notebook_stage and not stages:
        stages = [found.notebook_stage]
    file = spec.root / "pipelines" / spec.name / "sweeps" / f"{name}.yaml" if name else None
    if grid:
        if file is not None and file.is_file():
            raise SweepError(
                f"sweep '{name}' is defined in {file}; run it without --grid, or give the grid "
                "another --name.",
                sweep=name,
                argument="grid",
            )
        points = raw_points({"grid": parse_grid(grid, default_stage=found.notebook_stage)},
                            sweep=name or "grid")  # fmt: skip
        source = "command line"
    elif file is not None and file.is_file():
        data = read_sweep_file(file)
        stages = stages or [str(s) for s in data.get("stages") or []]
        downstream = downstream or bool(data.get("downstream"))
        points = raw_points(data, sweep=str(name))
        source = str(file)
    else:
        where = f" (no {file} either)" if file is not None else ""
        raise SweepError(
            f"nothing to sweep{where}: give --grid STAGE.PARAM=V1,V2 (repeatable) or --name of "
            f"a sweep file pipelines/{spec.name}/sweeps/NAME.yaml.",
            sweep=name,
            argument="grid",
        )
    return define_sweep(
        spec,
        name=name or default_name(points, stages),
        points=points,
        stages=stages,
        downstream=downstream,
        source=source,
    )


def to_run(sweep: SweepSpec, *, retry_failed: bool = False) -> tuple[list[Point], dict[str, str]]:
    """The points this run starts, and every point's status as the disk has it."""
    known = read_points(sweep.pipeline.root, sweep.pipeline.name, sweep.name)
    status = {p.id: str(known.get(p.id, {}).get("status", "pending")) for p in sweep.points}
    again = {"pending", "running", "skipped"} | ({"failed"} if retry_failed else set())
    return [p for p in sweep.points if status[p.id] in again], status


def run_sweep(
    sweep: SweepSpec,
    *,
    executor: str | SweepExecutor | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    max_failures: int | None = None,
    tracking: bool = True,
    phi_policy: str | None = None,
    allow_env_mismatch: bool = False,
    progress: Callable[[SweepEvent], None] | None = None,
    metric: str | None = None,
) -> SweepOutcome:
    """Run a sweep's shared stages once and its pending points; record every point.

    Parameters
    ----------
    sweep
        From :func:`plan_sweep` (or :func:`~nbmlops.sweep.spec.define_sweep`).
    executor, workers, scheduler
        Where points run: ``"local"`` (the default: ``workers`` points at once on this machine,
        default the cores), ``"dask"`` (each point a task on the Dask cluster whose scheduler is
        at ``scheduler``, e.g. ``tcp://HOST:8786``), or a
        :class:`~nbmlops.sweep.executors.SweepExecutor`.
    retry_failed
        Run the points that failed last time again (finished ones are always skipped).
    max_failures
        Stop starting points once this many failed in this run.
    tracking, phi_policy, allow_env_mismatch
        As for :func:`~nbmlops.run.execute.run_pipeline`.
    metric
        ``STAGE.NAME`` plotted in the summary page written at the end (default: see
        :mod:`nbmlops.sweep.summary`); an unknown one is ``summary_problem``, not an error.

    Raises
    ------
    SweepInProgressError
        This sweep is running elsewhere; nothing was started.
    ClusterUnreachableError
        ``executor="dask"`` and the scheduler does not answer within seconds, or has no workers;
        nothing was started or written.
    SweepError, PhiDetectedError, EnvironmentMismatchError, UpstreamProductsMissingError
        Before any point runs (a PHI-looking value: ``PhiDetectedError`` under ``refuse``,
        ``SweepError`` under ``redact``, which a sweep cannot apply).
    """
    spec = sweep.pipeline
    notify = progress or (lambda event: None)
    runner = (
        executor
        if isinstance(executor, SweepExecutor)
        else make_executor(executor or "local", workers=workers, scheduler=scheduler)
    )
    try:
        policy = resolve_phi_policy(spec.root, phi_policy)
    except ValueError as exc:
        raise SweepError(str(exc), sweep=sweep.name, argument="phi_policy") from None
    registry = project_registry(spec.root)
    for point in sweep.points:  # refused here, before any kernel, under "refuse"
        recorded = check_phi(point.overrides, policy=policy, identifiers=registry)
        if recorded != point.overrides:  # "redact": see _unredactable
            raise _unredactable(sweep, point, recorded)
    with runner, hold_sweep_lock(spec.root, spec.name, sweep.name):  # connected before a write
        definition = sweep.definition()
        existing = read_sweep(spec.root, spec.name, sweep.name)
        check_same_definition(existing, definition, sweep=sweep.name)
        shared = _run_shared(sweep, tracking=tracking, policy=policy, allow=allow_env_mismatch)
        if shared is not None:
            notify(SweepEvent(kind="shared_finished", record=shared))
        _check_point_inputs(sweep, allow_env_mismatch, kernels=not runner.checks_environment)
        points, status = to_run(sweep, retry_failed=retry_failed)
        run = _SweepRun(sweep, status=status, max_failures=max_failures, notify=notify)
        lock = spec.root / "uv.lock"
        lock_digest = file_digest(lock) if lock.is_file() else None
        written = {
            **definition, "source": sweep.source, "lock_digest": lock_digest,
            "created_at": (existing or {}).get("created_at", run.started),
        }  # fmt: skip
        write_sweep(spec.root, spec.name, sweep.name, {
            **written,
            "runs": [*(existing or {}).get("runs", []),
                     {"run_id": run.run_id, "started_at": run.started, "status": "running"}],
        })  # fmt: skip
        recorder = SweepRecorder(
            sweep=sweep, run_id=run.run_id, started_at=run.started,
            provenance=collect_provenance(spec.root), lock_digest=lock_digest,
            tracking=tracking, phi_policy=policy, on_recorded=run.recorded,
        )  # fmt: skip
        recorder.start(points=len(sweep.points), to_run=len(points))
        preload_summary()
        effective = {p.id: resolve_params(spec, p.overrides) for p in points}
        try:
            runner.run(
                sweep, points, params=lambda p: effective[p.id],
                on_start=run.started_point, on_done=run.finished(recorder.submit),
                stop=run.stop, allow_env_mismatch=allow_env_mismatch,
            )  # fmt: skip
        finally:
            recorder.drain()
            summary, summary_problem = _summary(sweep, metric)
            finished = utc_now()
            recorder.close(status=run.status_text, counts=run.counts, finished_at=finished,
                           summary=summary.path if summary else None)  # fmt: skip
            ended = {"run_id": run.run_id, "started_at": run.started, "finished_at": finished,
                     "status": run.status_text, "counts": run.counts,
                     "mlflow_run_id": recorder.mlflow_run_id}  # fmt: skip
            runs = [*(existing or {}).get("runs", []), ended]
            write_sweep(spec.root, spec.name, sweep.name, {**written, "runs": runs})
        return SweepOutcome(
            sweep=sweep, run_id=run.run_id, status=run.status_text, counts=run.counts,
            ran=len(points), mlflow_run_id=recorder.mlflow_run_id,
            tracking_problem=recorder.problem, shared=shared, summary=summary,
            summary_problem=summary_problem,
        )  # fmt: skip


class _SweepRun:
    """The bookkeeping of one run of a sweep: statuses, failures, when to stop."""

    def __init__(
        self,
        sweep: SweepSpec,
        *,
        status: dict[str, str],
        max_failures: int | None,
        notify: Callable[[SweepEvent], None],
    ) -> None:
        self.sweep, self.status, self.max_failures = sweep, status, max_failures
        self.notify = notify
        self.run_id, self.started = new_run_id(), utc_now()
        self.failures = 0
        self.stop = threading.Event()
        self.guard = threading.Lock()

    @property
    def counts(self) -> dict[str, int]:
        with self.guard:
            return _counts(self.status)

    @property
    def status_text(self) -> str:
        return self.status_of(self.counts)

    def status_of(self, counts: Mapping[str, int]) -> str:
        if self.stop.is_set() and counts["pending"]:
            return "stopped"
        return "failed" if counts["failed"] else "succeeded"

    def started_point(self, point: Point) -> None:
        spec = self.sweep.pipeline
        data = {"point": point.id, "index": point.index, "overrides": point.overrides,
                "status": "running", "started_at": utc_now(), "run_id": None}  # fmt: skip
        with self.guard:
            self.status[point.id] = "running"
        write_point(spec.root, spec.name, self.sweep.name, data)
        self.notify(SweepEvent(kind="point_started", point=point, data=data))

    def finished(self, record: Callable[[PointOutcome], None]) -> Callable[[PointOutcome], None]:
        """``on_done`` for the executor: count a failure at once (on the worker, before the
        worker takes its next point), then hand the outcome to ``record``."""

        def done(outcome: PointOutcome) -> None:
            if outcome.status == "failed":
                with self.guard:
                    self.failures += 1
                    if self.max_failures is not None and self.failures >= self.max_failures:
                        self.stop.set()
            record(outcome)

        return done

    def recorded(self, data: dict[str, Any]) -> None:
        with self.guard:
            self.status[str(data["point"])] = str(data["status"])
        self.notify(SweepEvent(kind="point_recorded", data=data))


def _counts(status: Mapping[str, str]) -> dict[str, int]:
    counts = dict.fromkeys(("succeeded", "failed", "pending", "running", "skipped"), 0)
    for value in status.values():
        counts[value] = counts.get(value, 0) + 1
    return counts


def _summary(sweep: SweepSpec, metric: str | None) -> tuple[SweepSummary | None, str | None]:
    """The summary page, written after every point is recorded; never raises (the sweep's end
    must still be recorded). An unknown ``metric``: the default one, and why."""
    spec = sweep.pipeline
    try:
        page = write_summary(spec.root, spec.name, sweep.name, metric=metric, strict=False)
    except Exception as exc:  # a page that cannot be drawn costs the page, not the records
        return None, f"summary not written: {exc!r}"
    return page, page.problem


def _unredactable(sweep: SweepSpec, point: Point, recorded: Mapping[str, Any]) -> SweepError:
    """Under ``--phi-policy redact`` a run records a PHI-looking value redacted; a sweep cannot:
    a point *is* its values (its id digests them; its point file, summary page, results table and
    MLflow run show them), so it is refused, naming the parameter but never the value."""
    name = next(
        f"{stage}.{param}"
        for stage, given in point.overrides.items()
        for param, value in given.items()
        if recorded[stage][param] != value
    )
    return SweepError(
        f"point {point.index} of {len(sweep.points)} ({name}): the value looks like PHI. A sweep "
        "records each point's parameter values as they are (point files, summary page, MLflow), "
        "so --phi-policy redact cannot apply to them. Pass a de-identified value (a study key, "
        "a year). No point has run.",
        sweep=sweep.name,
        point=str(point.index),
        argument=name,
    )


def _run_shared(sweep: SweepSpec, *, tracking: bool, policy: str, allow: bool) -> RunRecord | None:
    """The shared stages as a normal run of those stages (skipped when up to date)."""
    if not sweep.shared_stages:
        return None
    from nbmlops.run.execute import run_pipeline

    return run_pipeline(
        sweep.pipeline,
        stages=sweep.shared_stages,
        tracking=tracking,
        phi_policy=policy,
        allow_env_mismatch=allow,
    )


def _check_point_inputs(sweep: SweepSpec, allow_env_mismatch: bool, *, kernels: bool) -> None:
    """Before any point: shared upstream products exist, the kernels match their locks (here,
    unless ``kernels`` is False: the executor checks them where the points run)."""
    from nbmlops.run.environment import check_environment

    spec = sweep.pipeline
    for name in sweep.point_stages:
        for up in spec.stage(name).upstream:
            if up not in sweep.point_stages and read_state(spec.stage_dir(up)) is None:
                raise UpstreamProductsMissingError(stage=name, upstream=up)
    seen: set[tuple[str, str]] = set()
    for name in sweep.point_stages if kernels else ():
        stage = spec.stage(name)
        key = (stage.kernel, stage.environment)
        lock = spec.root / stage.environment
        if key in seen or not lock.is_file():
            continue
        seen.add(key)
        report = check_environment(kernel=stage.kernel, lock=lock)
        if report.differences and not allow_env_mismatch:
            raise EnvironmentMismatchError(
                kernel=stage.kernel, lock=report.lock, differences=report.differences
            )
