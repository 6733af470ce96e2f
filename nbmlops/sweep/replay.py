"""``nbmlops sweep replay SWEEP``: points MLflow missed (the store was down), recorded once.

A point whose records could not reach MLflow still finished; its point file keeps its run record
and ``tracking_problem``. Replay sends each such point as the sweep would have: the sweep's run
(adopted when it exists, tagged ``nbmlops.run_id``; made and ended from ``sweep.json`` when
not), the point's run nested under it (adopted with its finished stage runs when a replay broke
half-way: :meth:`~nbmlops.records.tracking.MlflowRecorder.start`), its stages, its metrics and the
``nbmlops.ledger_head`` of its ``sweep_point_finished`` entry. The point file is then rewritten
(MLflow ids, ``tracking_problem`` cleared, a note keeping the old problem) and the ledger gets a
``sweep_point_replayed`` entry, so a second replay does nothing. It holds the sweep's lock.

A sweep run that replay records points under gets the summary page (``summary.html``,
:mod:`nbmlops.sweep.summary`) too: when the store was down for the points it was down for the
page. The page on disk is logged as it is (written with a default metric when missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbmlops.records import ledger
from nbmlops.records.model import RunRecord
from nbmlops.records.scraps import split_scraps
from nbmlops.sweep.state import hold_sweep_lock, read_points, read_sweep, write_point
from nbmlops.sweep.summary import summary_path, write_summary

__all__ = ["replay_sweep"]


def replay_sweep(root: Path, pipeline: str, sweep: str) -> list[dict[str, Any]]:
    """Record the sweep's points that MLflow missed; return their point files as rewritten.

    A point still not recorded (the store is still down) keeps its ``tracking_problem``.

    Raises
    ------
    SweepInProgressError
        The sweep is running.
    """
    from nbmlops.records.tracking import MlflowRecorder
    from nbmlops.run.replay import record_from_dict

    done = []
    with hold_sweep_lock(root, pipeline, sweep):
        definition = read_sweep(root, pipeline, sweep) or {}
        missed = [p for p in read_points(root, pipeline, sweep).values()
                  if p.get("tracking_problem") and p.get("record")]  # fmt: skip
        parents: dict[str, str | None] = {}
        sweep_runs: dict[str, Any] = {}
        for data in missed:
            record = record_from_dict(data["record"])
            sweep_run = str(data.get("sweep_run_id") or "")
            parent = MlflowRecorder.for_project(root, pipeline)
            if sweep_run not in parents:
                parents[sweep_run] = _sweep_run(parent, definition, sweep_run, record)
                sweep_runs[sweep_run] = parent
            if parents[sweep_run] is None:
                continue
            recorder = MlflowRecorder(
                uri=parent.uri, experiment=parent.experiment, connected=parent.connection
            )
            recorder.start(
                run_id=record.run_id, pipeline=pipeline, provenance=record.provenance,
                lock_digest=record.lock_digest, overrides=record.overrides,
                started_at=record.started_at, kind="sweep_point",
                parent_run_id=parents[sweep_run],
                extra_tags={"nbmlops.sweep": sweep, "nbmlops.point": str(data["point"])},
            )  # fmt: skip
            for result in record.stages:
                recorder.stage(result)
            metrics, _ = split_scraps(data.get("metrics") or {})
            recorder.annotate(metrics=metrics)
            finished = recorder.finish(record, ledger_head=data.get("ledger_head"))
            if finished.tracking_problem:
                continue
            problem = data["tracking_problem"]
            data.update(
                mlflow_run_id=finished.mlflow_run_id,
                tracking_problem=None,
                notes=[*data.get("notes", []), f"replayed: {problem}"],
                record=finished.to_dict(),
            )
            by_stage = {s.stage: s.mlflow_run_id for s in finished.stages}
            for stage in data.get("stages", []):
                stage["mlflow_run_id"] = by_stage.get(stage["stage"])
            write_point(root, pipeline, sweep, data)
            ledger.append(
                root,
                "sweep_point_replayed",
                run_id=record.run_id,
                data={"pipeline": pipeline, "sweep": sweep, "point": data["point"],
                      "mlflow_run_id": finished.mlflow_run_id},
            )  # fmt: skip
            done.append(data)
        if done:
            _attach_summary(root, pipeline, sweep, [r for k, r in sweep_runs.items() if parents[k]])
    return done


def _attach_summary(root: Path, pipeline: str, sweep: str, recorders: list[Any]) -> None:
    """The summary page on each sweep run replay recorded points under."""
    path = summary_path(root, pipeline, sweep)
    if not path.is_file():
        write_summary(root, pipeline, sweep)
    for recorder in recorders:
        recorder.attach(path)


def _sweep_run(
    recorder: Any, definition: dict[str, Any], run_id: str, point: RunRecord
) -> str | None:
    """The sweep's MLflow run (adopted, or made and ended as ``sweep.json`` says it ended)."""
    mlflow_id: str | None = recorder.start(
        run_id=run_id, pipeline=point.pipeline, provenance=point.provenance,
        lock_digest=point.lock_digest, kind="sweep",
        extra_tags={"nbmlops.sweep": str(definition.get("sweep"))},
    )  # fmt: skip
    if mlflow_id is None or recorder.adopted:
        return mlflow_id
    runs: list[dict[str, Any]] = definition.get("runs") or []
    ended = next((r for r in runs if r.get("run_id") == run_id), {})
    record = RunRecord(
        run_id=run_id,
        pipeline=point.pipeline,
        project_root=point.project_root,
        started_at=str(ended.get("started_at") or point.started_at),
        finished_at=str(ended.get("finished_at") or point.finished_at),
        status="succeeded" if ended.get("status") == "succeeded" else "failed",
        provenance=point.provenance,
        lock_digest=point.lock_digest,
        selection=tuple(definition.get("point_stages") or ()),
    )
    recorder.finish(record)
    return mlflow_id
