"""The sweep's one recording thread: MLflow, the ledger and the point files, written by one writer.

Workers hand each finished point here; nothing else writes a sweep's records, so no two writers
ever meet in the tracking store (0 lost runs by construction). Per point, in order:

1. the PHI policy applied to what is recorded (error texts, scraps; the executed notebook bound
   for MLflow), as a pipeline run's records thread does (:class:`~nbmlops.records.writer.
   RecordsThread`'s two policy steps, called with the same shim replay uses);
2. MLflow: a run per point (``nbmlops.kind=sweep_point``) nested under the sweep's run
   (``nbmlops.kind=sweep``), each stage's run nested under its point, the point's metrics
   (``<stage>.<scrap>``) on the point run;
3. one ``sweep_point_finished`` ledger entry: status, each stage's fingerprint, input and product
   digests and MLflow run, and keyed digests of the overrides and of the error text (free text
   never enters the ledger);
4. ``points/<point>.json`` (atomically), with the point's run record: when MLflow could not be
   written, ``tracking_problem`` says so and ``nbmlops sweep replay`` records it later.

A store that fails breaks recording to MLflow for the rest of the sweep (one timeout, not one per
point); the points still run and every other record is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from queue import Queue
from types import SimpleNamespace
from typing import Any

from nbmlops.privacy.identifiers import ledger_digest
from nbmlops.privacy.telemetry import PhiPolicy
from nbmlops.records import ledger
from nbmlops.records.model import JSON, Provenance, RunRecord, StageResult
from nbmlops.records.scraps import split_scraps
from nbmlops.sweep.point import PointOutcome
from nbmlops.sweep.spec import SweepSpec
from nbmlops.sweep.state import write_point

__all__ = ["SweepRecorder", "point_data"]


class SweepRecorder:
    """Records a sweep (``start``), each point (``submit``, on its own thread), and its end."""

    def __init__(
        self,
        *,
        sweep: SweepSpec,
        run_id: str,
        started_at: str,
        provenance: Provenance,
        lock_digest: str | None,
        tracking: bool,
        phi_policy: PhiPolicy,
        on_recorded: Callable[[dict[str, Any]], None],
    ) -> None:
        self.sweep, self.spec = sweep, sweep.pipeline
        self.root = sweep.pipeline.root
        self.run_id, self.started_at = run_id, started_at
        self.provenance, self.lock_digest = provenance, lock_digest
        self.phi_policy = phi_policy
        self.on_recorded = on_recorded
        self.notes: list[str] = []
        self.problem: str | None = None
        self.mlflow: Any = None
        self.mlflow_run_id: str | None = None
        self.summary_logged = False
        if tracking:
            from nbmlops.records.tracking import MlflowRecorder

            self.mlflow = MlflowRecorder.for_project(self.root, self.spec.name)
        self.queue: Queue[PointOutcome | None] = Queue()
        self.thread = threading.Thread(target=self._work, name="nbmlops-sweep-records", daemon=True)

    @property
    def uri(self) -> str | None:
        return None if self.mlflow is None else str(self.mlflow.uri)

    def start(self, *, points: int, to_run: int) -> None:
        """The ``sweep_started`` entry, then the recording thread, which opens the sweep's MLflow
        run first (importing MLflow and opening, perhaps creating, the store take seconds: the
        points run meanwhile)."""
        ledger.append(
            self.root,
            "sweep_started",
            run_id=self.run_id,
            data={
                "pipeline": self.spec.name,
                "sweep": self.sweep.name,
                "points": points,
                "to_run": to_run,
                "point_stages": list(self.sweep.point_stages),
                "shared_stages": list(self.sweep.shared_stages),
                "swept": ledger_digest(self.root, list(self.sweep.swept)),
            },
        )
        self.thread.start()

    def _start_mlflow(self) -> None:
        if self.mlflow is not None:
            self.mlflow_run_id = self.mlflow.start(
                run_id=self.run_id,
                pipeline=self.spec.name,
                provenance=self.provenance,
                lock_digest=self.lock_digest,
                started_at=self.started_at,
                kind="sweep",
                extra_tags={"nbmlops.sweep": self.sweep.name},
            )
            self.problem = self.mlflow.problem

    def submit(self, outcome: PointOutcome) -> None:
        self.queue.put(outcome)

    def drain(self) -> None:
        """Wait for every submitted point to be recorded."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def close(
        self,
        *,
        status: str,
        counts: dict[str, int],
        finished_at: str,
        summary: Path | None = None,
    ) -> None:
        """The ``sweep_finished`` entry; end the sweep's MLflow run (after :meth:`drain`) and
        log the ``summary`` page on it (``summary_logged``; a failure is :attr:`problem`)."""
        self.drain()
        head = ledger.append(
            self.root,
            "sweep_finished",
            run_id=self.run_id,
            data={"pipeline": self.spec.name, "sweep": self.sweep.name, "status": status,
                  "points": counts},
        )  # fmt: skip
        if self.mlflow is None or self.mlflow_run_id is None:
            return
        record = RunRecord(
            run_id=self.run_id,
            pipeline=self.spec.name,
            project_root=str(self.root),
            started_at=self.started_at,
            finished_at=finished_at,
            status="succeeded" if status == "succeeded" else "failed",
            provenance=self.provenance,
            lock_digest=self.lock_digest,
            selection=self.sweep.point_stages,
        )
        self.mlflow.annotate(metrics={f"points.{k}": float(v) for k, v in counts.items()})
        done = self.mlflow.finish(record, ledger_head=head.hash)
        self.problem = self.problem or done.tracking_problem
        if summary is not None and self.problem is None:
            self.summary_logged = self.mlflow.attach(summary)
            self.problem = self.mlflow.problem

    def _work(self) -> None:
        try:
            self._start_mlflow()
        except Exception as exc:  # never raises for a store; a bug here must not lose points
            self.problem = f"MLflow: the sweep's run was not recorded ({exc!r})"
        while (outcome := self.queue.get()) is not None:
            try:
                data = self._record(outcome)
            except Exception as exc:  # bookkeeping never loses a point: keep what is known
                self.notes.append(f"point {outcome.point.id}: not recorded ({exc!r})")
                data = point_data(self.sweep, outcome, outcome.stages)
                data["tracking_problem"] = f"not recorded: {type(exc).__name__}: {exc}"
                data["sweep_run_id"] = self.run_id
                write_point(self.root, self.spec.name, self.sweep.name, data)
            self.on_recorded(data)

    def _record(self, outcome: PointOutcome) -> dict[str, Any]:
        from nbmlops.records.writer import RecordsThread

        notes: list[str] = []
        shim = SimpleNamespace(spec=self.spec, phi_policy=self.phi_policy, notes=notes)
        results = tuple(RecordsThread._without_phi_in_values(shim, r) for r in outcome.stages)  # type: ignore[arg-type]
        record = RunRecord(
            run_id=outcome.run_id,
            pipeline=self.spec.name,
            project_root=str(self.root),
            started_at=outcome.started_at,
            finished_at=outcome.finished_at,
            status=outcome.status,
            provenance=self.provenance,
            lock_digest=self.lock_digest,
            overrides=outcome.point.overrides,
            selection=self.sweep.point_stages,
            stages=results,
        )
        point_run = self._track(outcome, results, shim)
        head = ledger.append(
            self.root,
            "sweep_point_finished",
            run_id=outcome.run_id,
            data={
                "pipeline": self.spec.name,
                "sweep": self.sweep.name,
                "point": outcome.point.id,
                "status": outcome.status,
                "overrides": ledger_digest(self.root, outcome.point.overrides),
                "mlflow_run_id": point_run.run_id if point_run else None,
                "stages": {r.stage: _stage_entry(self.root, r) for r in results},
            },
        )
        record = replace(record, ledger_seq=head.seq, ledger_head=head.hash, notes=tuple(notes))
        if point_run is not None:
            record = point_run.finish(record, ledger_head=head.hash)
            if point_run.problem and not self.problem:
                self.problem = point_run.problem
        elif self.mlflow is not None:
            cause = self.problem or "MLflow was not reachable when the sweep started."
            record = replace(record, tracking_problem=f"{cause} Not recorded: this point.")
        data = point_data(self.sweep, outcome, record.stages)
        data.update(
            sweep_run_id=self.run_id,
            mlflow_run_id=record.mlflow_run_id,
            tracking_problem=record.tracking_problem,
            ledger_seq=head.seq,
            ledger_head=head.hash,
            notes=list(record.notes),
            record=record.to_dict(),
        )
        write_point(self.root, self.spec.name, self.sweep.name, data)
        return data

    def _track(
        self, outcome: PointOutcome, results: tuple[StageResult, ...], shim: SimpleNamespace
    ) -> Any:
        """The point's MLflow run with its stages; None when the sweep's store is broken."""
        if self.mlflow is None or self.mlflow_run_id is None or self.problem:
            return None
        from nbmlops.records.tracking import MlflowRecorder
        from nbmlops.records.writer import RecordsThread

        recorder = MlflowRecorder(
            uri=self.mlflow.uri,
            experiment=self.mlflow.experiment,
            connected=self.mlflow.connection,
        )
        recorder.start(
            run_id=outcome.run_id,
            pipeline=self.spec.name,
            provenance=self.provenance,
            lock_digest=self.lock_digest,
            overrides=outcome.point.overrides,
            started_at=outcome.started_at,
            kind="sweep_point",
            parent_run_id=self.mlflow_run_id,
            extra_tags={"nbmlops.sweep": self.sweep.name, "nbmlops.point": outcome.point.id},
        )
        for result in results:
            recorder.stage(RecordsThread._for_mlflow(shim, result))  # type: ignore[arg-type]
        metrics, _ = split_scraps(
            {f"{r.stage}.{k}": v for r in results for k, v in r.scraps.items()}
        )
        recorder.annotate(metrics=metrics)
        return recorder


def _stage_entry(root: Path, result: StageResult) -> dict[str, JSON]:
    return {
        "status": result.status,
        "fingerprint": result.fingerprint,
        "inputs": result.inputs,
        "products": result.product_digests,
        "error": result.error and ledger_digest(root, result.error),
    }


def point_data(
    sweep: SweepSpec, outcome: PointOutcome, stages: tuple[StageResult, ...]
) -> dict[str, Any]:
    """The point file's fields that do not depend on the records (see the module docstring)."""
    error = next((r.error for r in stages if r.error), None)
    return {
        "point": outcome.point.id,
        "index": outcome.point.index,
        "overrides": outcome.point.overrides,
        "status": outcome.status,
        "run_id": outcome.run_id,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "duration_s": round(outcome.duration_s, 3),
        "folder": outcome.folder,
        "log": str(Path(outcome.folder) / "point.log"),
        "metrics": {f"{r.stage}.{k}": v for r in stages for k, v in r.scraps.items()},
        "error": None
        if error is None
        else {
            "type": error.get("error"),
            "message": error.get("message"),
            "stage": next(r.stage for r in stages if r.error),
        },
        "stages": [
            {
                "stage": r.stage,
                "status": r.status,
                "duration_s": round(r.duration_s, 3),
                "scraps": r.scraps,
                "executed_notebook": r.executed_notebook,
                "products": r.products,
                "mlflow_run_id": r.mlflow_run_id,
                "reason": r.reason,
            }
            for r in stages
        ],
    }
