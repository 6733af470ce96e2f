"""``nbmlops records replay``: runs kept in ``.nbmlops/runs/`` while MLflow was down, recorded once.

A run whose store could not be written still finishes; its record (``.nbmlops/runs/<id>.json``)
says so in ``tracking_problem``. :func:`replay_records` sends each such record to MLflow as the run
would have (parent run, a child run per stage, files, the ``nbmlops.ledger_head`` tag of its
``run_finished`` ledger entry) and then marks the record done. Exactly once, by three rules:

- *already recorded* is what the store says: a parent run tagged ``nbmlops.run_id`` is adopted
  with its finished stage runs, and only what is missing is added (a run that broke half-way is
  completed, not duplicated; see :meth:`nbmlops.records.tracking.MlflowRecorder.start`);
- a replayed record is rewritten atomically (MLflow ids filled in, ``tracking_problem`` cleared, a
  note keeping the original problem), so the next replay skips it, and the ledger gets a
  ``run_replayed`` entry naming the MLflow runs;
- a replay holds the project's run lock, so it never races a run or another replay.

An executed notebook is only sent when it is still the one that run made: ``build/`` holds the
latest run's notebook, and a later run's notebook logged under an earlier run is the mix-up the run
lock exists to prevent. What the PHI policy does to a notebook on a live run, it does here too.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import RUNS
from nbmlops.records.model import JSON, Provenance, RunRecord, StageResult

__all__ = ["ReplayOutcome", "replay_records"]


@dataclass(frozen=True, kw_only=True)
class ReplayOutcome:
    """What :func:`replay_records` did with one run record."""

    run_id: str
    path: Path
    status: Literal["recorded", "completed", "failed"]
    """``recorded``: sent now; ``completed``: the store had part of it (or all of it), the rest
    was added; ``failed``: the store could not be written, the record is unchanged."""
    uri: str | None = None
    """Where it was recorded (password shown as ``***``)."""
    mlflow_run_id: str | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def replay_records(
    root: Path,
    *,
    uri: str | None = None,
    wait: float = 0.0,
    progress: Callable[[ReplayOutcome], None] | None = None,
) -> tuple[ReplayOutcome, ...]:
    """Record in MLflow every run kept in ``root/.nbmlops/runs/`` that did not reach it.

    Parameters
    ----------
    root : Path
        Project root (holds ``.nbmlops/``).
    uri : str, optional
        Tracking URI to record into. By default ``MLFLOW_TRACKING_URI`` if set, else the store
        the run was meant for (the record's ``tracking_uri``, unless it hides a password), else
        the project's own SQLite store.
    wait : float
        Seconds to wait for a run in progress (see :func:`nbmlops.run.lock.hold_run_lock`).
    progress : callable, optional
        Called with each record's outcome as soon as it is known.

    Returns
    -------
    tuple of ReplayOutcome
        One per record that needed replaying, oldest first; runs that reached MLflow (or were run
        with ``--no-tracking``) are left alone and not listed.

    Raises
    ------
    RunInProgressError
        A run held the project for longer than ``wait``.

    Examples
    --------
    >>> for outcome in replay_records(Path(".")):  # doctest: +SKIP
    ...     print(outcome.run_id, outcome.status, outcome.mlflow_run_id)
    20261202T101500Z-3fa2c1 recorded 5c0e3d...
    """
    from nbmlops.run.lock import hold_run_lock

    outcomes = []
    with hold_run_lock(root, wait=wait):
        pending = [(p, r) for p, r in _records(root) if r.tracking_problem]
        anchors = _ledger_anchors(root, {r.run_id for _, r in pending}) if pending else {}
        for path, record in pending:
            head, policy = anchors.get(record.run_id, (None, None))
            outcome = _replay(root, path, record, uri=uri, ledger_head=head, phi_policy=policy)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    return tuple(outcomes)


def _records(root: Path) -> Iterator[tuple[Path, RunRecord]]:
    for path in sorted((root / RUNS).glob("*.json")):  # run ids start with their UTC time
        try:
            yield path, record_from_dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            continue  # not a run record (or one for a person to look at): never rewritten here


def record_from_dict(data: Mapping[str, JSON]) -> RunRecord:
    """A :class:`RunRecord` from its JSON (``RunRecord.to_json``); unknown keys are ignored."""
    fields = {f.name for f in dataclasses.fields(RunRecord)}
    stage_fields = {f.name for f in dataclasses.fields(StageResult)}
    values = {k: v for k, v in data.items() if k in fields}
    values["provenance"] = Provenance(**data["provenance"])
    values["stages"] = tuple(
        StageResult(**{k: v for k, v in s.items() if k in stage_fields}) for s in data["stages"]
    )
    for name in ("selection", "environment_mismatch", "notes"):
        values[name] = tuple(values.get(name) or ())
    return RunRecord(**values)


def _ledger_anchors(root: Path, run_ids: set[str]) -> dict[str, tuple[str | None, str | None]]:
    """Per run: the hash of its ``run_finished`` entry, and the PHI policy it ran under."""
    from nbmlops.records.ledger import read_entries

    heads: dict[str, str] = {}
    policies: dict[str, str] = {}
    for entry in read_entries(root):
        if entry.run_id not in run_ids:
            continue
        if entry.event == "run_finished":
            heads[entry.run_id] = entry.hash
        elif entry.event == "run_started":
            options = entry.data.get("options")
            policy = options.get("phi_policy") if isinstance(options, dict) else None
            if isinstance(policy, str):
                policies[entry.run_id] = policy
    return {r: (heads.get(r), policies.get(r)) for r in run_ids}


def _replay(
    root: Path,
    path: Path,
    record: RunRecord,
    *,
    uri: str | None,
    ledger_head: str | None,
    phi_policy: str | None,
) -> ReplayOutcome:
    from nbmlops.privacy.telemetry import phi_policy as resolve_phi_policy
    from nbmlops.records import ledger
    from nbmlops.records.tracking import (
        MlflowRecorder,
        artifact_root,
        experiment_name,
        tracking_uri,
    )

    own = tracking_uri(root)
    meant = (
        record.tracking_uri if record.tracking_uri and "***" not in record.tracking_uri else None
    )
    target = uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip() or meant or own
    location = artifact_root(root) if target == own else None
    recorder = MlflowRecorder(
        uri=target, experiment=experiment_name(record.pipeline), artifact_location=location
    )
    try:
        policy = resolve_phi_policy(root, phi_policy)
    except ValueError:
        policy = resolve_phi_policy(root)
    notes: list[str] = []
    recorder.start_record(record)
    adopted = recorder.adopted
    for result in record.stages:
        recorder.stage(_for_mlflow(root, record.run_id, result, policy, notes))
    when = utc_now()
    note = f"recorded in MLflow by `nbmlops records replay` at {when}; the run's own attempt "
    note += f"had failed: {record.tracking_problem}"
    done = recorder.finish(
        replace(record, tracking_problem=None, notes=(*record.notes, *notes, note)),
        ledger_head=ledger_head,
    )
    if done.tracking_problem is not None:
        return ReplayOutcome(
            run_id=record.run_id,
            path=path,
            status="failed",
            uri=done.tracking_uri,
            problem=done.tracking_problem,
        )
    ledger.append(
        root,
        "run_replayed",
        run_id=record.run_id,
        data={
            "mlflow_run_id": done.mlflow_run_id,
            "stages": {s.stage: s.mlflow_run_id for s in done.stages},
            "tracking_uri": done.tracking_uri,
            "ledger_head": ledger_head,
        },
    )
    write_text_atomic(path, done.to_json())
    return ReplayOutcome(
        run_id=record.run_id,
        path=path,
        status="completed" if adopted else "recorded",
        uri=done.tracking_uri,
        mlflow_run_id=done.mlflow_run_id,
        notes=tuple(notes),
    )


def _for_mlflow(
    root: Path, run_id: str, result: StageResult, policy: str, notes: list[str]
) -> StageResult:
    """The stage as MLflow may get it now: without a notebook a later run has replaced, and
    through the PHI policy exactly as a live run sends it."""
    from nbmlops.records.writer import RecordsThread
    from nbmlops.run.state import read_state

    notebook = result.executed_notebook
    if result.status == "succeeded" and notebook:
        # a failed attempt keeps its notebook in runs/<run id>/; a success is promoted to the
        # stage folder, where the next run's replaces it
        state = read_state(Path(notebook).parent)
        if state is None or state.run_id != run_id:
            made_by = state.run_id if state else "unknown"
            notes.append(
                f"{result.stage}: executed notebook not logged: {notebook} is now run "
                f"{made_by}'s; it stays recorded by its digests in this record"
            )
            return replace(result, executed_notebook=None, html=None)
    # RecordsThread._for_mlflow is the one place the PHI policy meets a notebook bound for
    # MLflow; it reads only these attributes (the project's root for its identifier registry).
    # Using it keeps replay and live runs alike.
    shim = SimpleNamespace(phi_policy=policy, notes=notes, spec=SimpleNamespace(root=root))
    checked: StageResult = RecordsThread._for_mlflow(shim, result)  # type: ignore[arg-type]
    return checked
