"""RunRecord → MLflow: one parent run per pipeline run, one child run per stage.

The executor calls :func:`prepare` once before it fans out (processes creating a fresh SQLite
store at once corrupt its migration), then uses one :class:`MlflowRecorder` per pipeline run:
``start``, ``stage`` per stage result, ``finish``. :func:`log_run` records a finished
:class:`~nbmlops.records.model.RunRecord` the same way, exactly once (a replay after the store was
down).

What lands where (key characters outside ``[A-Za-z0-9_.- ]`` become ``_``):

- Parent run ``<pipeline>-<run id[:8]>``. Tags: nbmlops.kind=pipeline, nbmlops.run_id,
  nbmlops.authoring.pipeline, nbmlops.version, nbmlops.python, nbmlops.platform, nbmlops.hostname,
  nbmlops.git_dirty (true/false/unknown), nbmlops.lock_digest, mlflow.source.git.commit,
  mlflow.user; at the end nbmlops.status, nbmlops.force, nbmlops.jobs, nbmlops.selection,
  nbmlops.environment_mismatch, nbmlops.ledger_head. Params: ``<stage>.<param>`` per override.
  Metric: nbmlops.duration_s. File: run_record.json (the RunRecord with MLflow ids filled in).
- Child run ``<stage>`` with mlflow.parentRunId. Tags: nbmlops.kind=stage, nbmlops.authoring.stage,
  nbmlops.status, nbmlops.reason, nbmlops.fingerprint, nbmlops.kernel, nbmlops.digest.<input>,
  nbmlops.product.<name>, nbmlops.error, nbmlops.produced_by and nbmlops.produced_by_mlflow
  (skipped), and the parent's run id, pipeline, user and commit tags. Params: the effective
  parameters (strings as they are, other values as JSON, clipped at MLflow's 6000 characters;
  params.json keeps them whole). Metrics: nbmlops.duration_s and every int or float scrap (a bool
  is not a measurement: it goes to scraps.json with the other scraps). Dataset inputs: each
  declared input (name, digest, path; :mod:`nbmlops.records.datasets`). Files: params.json,
  products.json, scraps.json, review/<kind>.json (review results a stage logged),
  error.json, notebook/<stage>.ipynb and .html — for succeeded and
  failed stages only; a skipped stage's products belong to its nbmlops.produced_by_mlflow run.
- Status: FINISHED (succeeded, skipped, up to date), FAILED (failed), KILLED (not run).

Store creation, migration under a lock, and failing fast are :mod:`nbmlops.records.tracking_store`.

Error policy: a store that cannot be written must never stop or stall a pipeline run. The first
failure - of any kind: a store error, or an exception nobody expected from MLflow or from this
module - makes a recorder *broken*: it keeps a readable ``problem``, makes no more MLflow calls
and lists what it did not record in ``not_recorded``. Its methods never raise for it.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from nbmlops.errors import TrackingError
from nbmlops.records.datasets import dataset_inputs
from nbmlops.records.model import JSON, Provenance, RunRecord, StageResult
from nbmlops.records.scraps import split_scraps
from nbmlops.records.tracking_store import (
    artifact_root,
    connect,
    describe_failure,
    experiment_name,
    mlflow_api,
    open_client,
    prepare,
    redact_uri,
    tracking_uri,
)

__all__ = [
    "MlflowRecorder",
    "artifact_root",
    "experiment_name",
    "log_run",
    "open_client",
    "prepare",
    "tracking_uri",
]

_STATUS = {"succeeded": "FINISHED", "skipped": "FINISHED", "up_to_date": "FINISHED"}
_STATUS |= {"failed": "FAILED", "not_run": "KILLED"}
_BAD_KEY = re.compile(r"[^A-Za-z0-9_.\- ]")  # Windows clients refuse ':', and '/' makes paths
_MAX_KEY, _MAX_PARAM, _MAX_TAG, _CLIPPED = 250, 6000, 8000, " …[truncated]"
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class MlflowRecorder:
    """Records one pipeline run in MLflow as it runs; never raises for an unwritable store.

    ``uri``, ``experiment`` and ``artifact_location`` are as for :func:`prepare`, which the first
    call runs (cheap once the store exists). Methods may be called from several threads.

    Examples
    --------
    >>> recorder = MlflowRecorder.for_project(root, "readmission")  # doctest: +SKIP
    >>> recorder.start(run_id=run_id, pipeline="readmission", provenance=provenance)
    >>> child_ids = [recorder.stage(result) for result in results]
    >>> record = recorder.finish(record, ledger_head=head)
    >>> record.tracking_problem, recorder.not_recorded  # None and () when all went well
    """

    def __init__(
        self,
        *,
        uri: str,
        experiment: str,
        artifact_location: str | None = None,
        connected: tuple[Any, str] | None = None,
    ) -> None:
        """``connected``: another recorder's client and experiment id (:attr:`connection`), so a
        sweep's point recorders open the store once."""
        self.uri, self.experiment = uri, experiment
        self._artifact_location = artifact_location
        self._client: Any = connected[0] if connected else None
        self._experiment_id = connected[1] if connected else ""
        self._problem: str | None = None
        self._not_recorded: list[str] = []
        self._parent: str | None = None
        self._parent_done = False
        self._adopted = False
        self._children: dict[str, str] = {}
        self._common_tags: dict[str, str] = {}
        self._lock = threading.RLock()

    @classmethod
    def for_project(cls, project_root: Path, pipeline: str) -> MlflowRecorder:
        """A recorder for the project's store and the pipeline's experiment."""
        location = artifact_root(project_root)
        uri, experiment = tracking_uri(project_root), experiment_name(pipeline)
        return cls(uri=uri, experiment=experiment, artifact_location=location)

    @property
    def problem(self) -> str | None:
        """What failed, where, and what to do; None while the store takes everything."""
        return self._problem

    @property
    def not_recorded(self) -> tuple[str, ...]:
        """``pipeline run``, ``stage <name>``, ``pipeline run end`` or missing files, in order."""
        return tuple(self._not_recorded)

    @property
    def run_id(self) -> str | None:
        """The parent run's MLflow id once it exists."""
        return self._parent

    @property
    def connection(self) -> tuple[Any, str] | None:
        """The open client and experiment id, once connected (see ``connected``)."""
        return (self._client, self._experiment_id) if self._client is not None else None

    @property
    def adopted(self) -> bool:
        """True when ``start`` found this run already in the store (a replay completes it)."""
        return self._adopted

    def start_record(self, record: RunRecord) -> str | None:
        """:meth:`start` for a finished run kept in ``record`` (replaying it)."""
        return self.start(
            run_id=record.run_id,
            pipeline=record.pipeline,
            provenance=record.provenance,
            lock_digest=record.lock_digest,
            overrides=record.overrides,
            started_at=record.started_at,
        )

    def start(
        self,
        *,
        run_id: str,
        pipeline: str,
        provenance: Provenance,
        lock_digest: str | None = None,
        overrides: Mapping[str, Mapping[str, JSON]] | None = None,
        started_at: str | None = None,
        kind: str = "pipeline",
        parent_run_id: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> str | None:
        """Create the parent run, or adopt the one tagged with this ``run_id``; its id or None.

        ``kind`` is its ``nbmlops.kind`` tag (a sweep's run is ``sweep``, each point's
        ``sweep_point``, nested under the sweep's run ``parent_run_id``); ``extra_tags`` are
        added."""
        common = {"nbmlops.run_id": run_id, "nbmlops.pipeline": pipeline}
        common["mlflow.user"] = provenance.user
        if provenance.git_commit:
            common["mlflow.source.git.commit"] = provenance.git_commit
        self._common_tags = common
        dirty = provenance.git_dirty
        tags = {
            **common,
            **(extra_tags or {}),
            "nbmlops.kind": kind,
            "nbmlops.version": provenance.nbmlops_version,
            "nbmlops.python": provenance.python,
            "nbmlops.platform": provenance.platform,
            "nbmlops.hostname": provenance.hostname,
            "nbmlops.git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        }
        if lock_digest:
            tags["nbmlops.lock_digest"] = lock_digest
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        values = (overrides or {}).items()
        params = {f"{stage}.{k}": v for stage, given in values for k, v in given.items()}

        def create() -> str:
            for run in self._search(f"tags.`nbmlops.run_id` = '{run_id}'"):
                if run.data.tags.get("nbmlops.kind") == kind:
                    self._adopted = True
                    self._parent_done = run.info.status != "RUNNING"
                    self._adopt_children(run.info.run_id)
                    return str(run.info.run_id)
            name, start = f"{pipeline} {run_id}", _millis(started_at)
            run = self._client.create_run(self._experiment_id, start, _tags(tags), name)
            self._batch(run.info.run_id, params=params)
            return str(run.info.run_id)

        self._parent = self._attempt("pipeline run", create)
        return self._parent

    def open(self) -> None:
        """Import MLflow and open the store (creating and migrating a new one) now, ahead of the
        first record, e.g. while the first stage runs. A failure breaks the recorder as it would
        have broken the first record (``problem`` names the pipeline run); never raises."""
        with self._lock:
            if self._problem is None and self._client is None:
                try:
                    connected = connect(self.uri, self.experiment, self._artifact_location)
                    self._client, self._experiment_id = connected
                except Exception as exc:  # as in _attempt: it breaks the recorder, never raises
                    self._break("pipeline run", exc)

    def stage(self, result: StageResult) -> str | None:
        """Record one stage as a child run; its MLflow run id, or None if it was not recorded."""
        self._require_start()
        with self._lock:
            if result.stage not in self._children:  # else recorded by an earlier attempt
                child = self._attempt(f"stage {result.stage}", lambda: self._log_stage(result))
                if child is not None:
                    self._children[result.stage] = child
            return self._children.get(result.stage)

    def annotate(self, *, metrics: Mapping[str, float]) -> None:
        """Log ``metrics`` on the parent run (a sweep point's stage metrics, for comparing the
        points of a sweep side by side)."""
        self._require_start()
        if self._parent is not None and metrics:
            parent = self._parent
            self._attempt("pipeline run metrics", lambda: self._batch(parent, metrics=metrics))

    def attach(self, path: Path) -> bool:
        """Log the file ``path`` at the parent run's artifact root (a sweep's summary page), even
        after the run ended; True when it was logged."""
        self._require_start()
        parent = self._parent

        def log() -> bool:
            self._client.log_artifact(parent, str(path))
            return True

        return parent is not None and self._attempt(f"file {Path(path).name}", log) is True

    def finish(self, record: RunRecord, *, ledger_head: str | None = None) -> RunRecord:
        """End the parent run; return ``record`` with MLflow ids, URI and any problem filled in."""
        self._require_start()
        stages = tuple(
            replace(s, mlflow_run_id=self._children.get(s.stage, s.mlflow_run_id))
            for s in record.stages
        )
        parent = self._parent or record.mlflow_run_id
        filled = replace(
            record, mlflow_run_id=parent, tracking_uri=redact_uri(self.uri), stages=stages
        )
        if self._parent is not None and not self._parent_done:
            self._attempt("pipeline run end", lambda: self._end(filled, ledger_head))
        if not self._not_recorded:
            return replace(filled, tracking_problem=self._problem)
        cause = self._problem or "Files to record were missing."
        return replace(filled, tracking_problem=f"{cause} Not recorded: {self.not_recorded}.")

    def _require_start(self) -> None:
        if self._parent is None and self._problem is None:
            raise RuntimeError("MlflowRecorder.start() must be called first")

    def _attempt(self, what: str, action: Callable[[], _T]) -> _T | None:
        with self._lock:
            if self._problem is None:
                try:
                    if self._client is None:
                        connected = connect(self.uri, self.experiment, self._artifact_location)
                        self._client, self._experiment_id = connected
                    return action()
                except Exception as exc:  # any failure breaks the recorder; it never raises
                    self._break(what, exc)
            self._not_recorded.append(what)
            return None

    def _break(self, what: str, exc: Exception) -> None:
        self._problem = describe_failure(self.uri, what, exc)
        # a store error is the user's to fix; anything else is a bug: keep its traceback
        _log.warning("%s", self._problem, exc_info=not _is_store_error(exc))

    def _search(self, where: str) -> list[Any]:
        return list(self._client.search_runs([self._experiment_id], where, max_results=1000))

    def _adopt_children(self, parent: str) -> None:
        for run in self._search(f"tags.`mlflow.parentRunId` = '{parent}'"):
            stage = run.data.tags.get("nbmlops.stage")
            if stage is not None and run.info.status == "RUNNING":  # broke half-way: redo it
                self._client.delete_run(run.info.run_id)  # soft: `mlflow runs restore` undoes
            elif stage is not None:
                self._children[stage] = str(run.info.run_id)

    def _log_stage(self, result: StageResult) -> str:
        tags = {
            **self._common_tags,
            "mlflow.parentRunId": str(self._parent),
            "nbmlops.kind": "stage",
            "nbmlops.stage": result.stage,
            "nbmlops.status": result.status,
            "nbmlops.reason": result.reason,
            "nbmlops.fingerprint": result.fingerprint,
            "nbmlops.kernel": result.kernel,
            **{f"nbmlops.digest.{k}": v for k, v in result.inputs.items()},
            **{f"nbmlops.product.{k}": v for k, v in result.product_digests.items()},
        }
        if result.produced_by:
            tags["nbmlops.produced_by"] = result.produced_by
        if result.produced_by_mlflow:
            tags["nbmlops.produced_by_mlflow"] = result.produced_by_mlflow
        if result.error:
            tags["nbmlops.error"] = str(result.error.get("message") or json.dumps(result.error))
        start = _millis(result.started_at)
        child = self._client.create_run(self._experiment_id, start, _tags(tags), result.stage)
        child_id = str(child.info.run_id)
        try:
            self._log_stage_data(child_id, result)
        except mlflow_api().errors:
            raise  # the store failed: the run stays RUNNING, and log_run redoes it
        except Exception as exc:  # something in this stage MLflow cannot take
            # End the run: a RUNNING run would read as "still going" forever, and the store works.
            what = f"{type(exc).__name__}: {exc}"
            self._client.set_tag(child_id, "nbmlops.recording", _clip(f"incomplete: {what}", 500))
            self._client.set_terminated(child_id, "FAILED", end_time=_millis(result.finished_at))
            self._not_recorded.append(f"stage {result.stage}: {what}")
            _log.warning("stage %s: MLflow run %s incomplete (%s)", result.stage, child_id, what)
        return child_id

    def _log_stage_data(self, child_id: str, result: StageResult) -> None:
        metrics = {"nbmlops.duration_s": result.duration_s}
        if result.status in ("succeeded", "failed"):
            numeric, other = split_scraps(result.scraps)
            self._batch(child_id, metrics=metrics | numeric, params=result.params)
            if result.declared_inputs:
                self._client.log_inputs(child_id, datasets=dataset_inputs(result.declared_inputs))
            self._upload(child_id, _stage_files(result, other))
            for path in (result.executed_notebook, result.html):
                if path and Path(path).is_file():
                    self._client.log_artifact(child_id, path, "notebook")
                elif path:
                    self._not_recorded.append(f"stage {result.stage}: {path} (file not found)")
        else:
            self._batch(child_id, metrics=metrics, params=result.params)
        end = _millis(result.finished_at)
        self._client.set_terminated(child_id, _STATUS[result.status], end_time=end)

    def _end(self, record: RunRecord, ledger_head: str | None) -> None:
        tags = {"nbmlops.status": record.status, "nbmlops.force": str(record.force).lower()}
        tags["nbmlops.jobs"] = str(record.jobs)
        if record.selection:
            tags["nbmlops.selection"] = ",".join(record.selection)
        if record.environment_mismatch:
            tags["nbmlops.environment_mismatch"] = "\n".join(record.environment_mismatch)
        if ledger_head:
            tags["nbmlops.ledger_head"] = ledger_head
        parent = str(self._parent)
        self._batch(parent, metrics={"nbmlops.duration_s": record.duration_s}, tags=tags)
        self._upload(parent, {"run_record.json": record.to_dict()})
        end = _millis(record.finished_at)
        self._client.set_terminated(parent, _STATUS[record.status], end_time=end)

    def _batch(
        self,
        run_id: str,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, JSON] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        api, now = mlflow_api(), int(time.time() * 1000)
        m = [api.Metric(k, float(v), now, 0) for k, v in _clean_keys(metrics or {}).items()]
        p = [api.Param(k, v) for k, v in _clean_keys(_param_texts(params or {})).items()]
        t = [api.RunTag(k, v) for k, v in _tags(tags or {}).items()]
        while m or p or t:  # MLflow's limits per batch: 100 params, 100 tags, 1000 entries
            self._client.log_batch(run_id, m[:800], p[:100], t[:100], synchronous=True)
            m, p, t = m[800:], p[100:], t[100:]

    def _upload(self, run_id: str, files: Mapping[str, JSON]) -> None:
        with tempfile.TemporaryDirectory(prefix="nbmlops-mlflow-") as folder:
            for name, data in files.items():
                text = json.dumps(data, indent=1, sort_keys=True, default=str)
                target = Path(folder) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            self._client.log_artifacts(run_id, folder)


def log_run(
    record: RunRecord, *, uri: str | None = None, ledger_head: str | None = None
) -> RunRecord:
    """Record a finished run exactly once; return it with the MLflow run ids filled in.

    A parent run already tagged with ``record.run_id`` is reused with its finished stage runs, and
    only what is missing is added. Never raises for an unwritable store: read
    ``tracking_problem`` on the result. Two replays of one record at the very same moment can
    still both create it: MLflow has no unique constraint to lean on.

    Parameters
    ----------
    record : RunRecord
        A finished run, e.g. one kept locally while the server was down.
    uri : str, optional
        Tracking URI; by default :func:`tracking_uri` of ``record.project_root``.
    ledger_head : str, optional
        Hash of the ledger entry for this run, kept as the ``nbmlops.ledger_head`` tag.

    Examples
    --------
    >>> record = log_run(kept_record)  # doctest: +SKIP
    >>> record.mlflow_run_id, record.tracking_problem
    ('5c0e3d...', None)
    """
    if uri is None:
        recorder = MlflowRecorder.for_project(Path(record.project_root), record.pipeline)
    else:
        recorder = MlflowRecorder(uri=uri, experiment=experiment_name(record.pipeline))
    recorder.start_record(record)
    for result in record.stages:
        recorder.stage(result)
    return recorder.finish(record, ledger_head=ledger_head)


def _is_store_error(exc: Exception) -> bool:
    """Whether ``exc`` is what an unwritable or unreachable store raises (or a damaged store's
    :class:`TrackingError`, or MLflow missing), rather than a bug."""
    try:
        return isinstance(exc, (*mlflow_api().errors, TrackingError))
    except ImportError:
        return True


def _millis(timestamp: str | None) -> int | None:
    if not timestamp:
        return None
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def _stage_files(result: StageResult, other_scraps: Mapping[str, JSON]) -> dict[str, JSON]:
    names = sorted({*result.products, *result.product_digests})
    files: dict[str, JSON] = {
        "params.json": result.params,
        "products.json": {
            n: {"path": result.products.get(n), "digest": result.product_digests.get(n)}
            for n in names
        },
    }
    # a review result logged inside the stage (``result.log()``) gets a file of its own
    reviews = {
        k: v for k, v in other_scraps.items() if k.startswith("review.") and "." not in k[7:]
    }
    for key, value in reviews.items():
        files[f"review/{key.removeprefix('review.')}.json"] = value
    rest = {k: v for k, v in other_scraps.items() if k not in reviews}
    if rest:
        files["scraps.json"] = rest
    if result.error:
        files["error.json"] = result.error
    return files


def _param_texts(params: Mapping[str, JSON]) -> dict[str, str]:
    texts = {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in params.items()
    }
    return {k: _clip(v, _MAX_PARAM) for k, v in texts.items()}


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: _clip(v, _MAX_TAG) for k, v in _clean_keys(tags).items()}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CLIPPED)] + _CLIPPED


def _clean_keys(values: Mapping[str, _T]) -> dict[str, _T]:
    """Keys MLflow takes on every platform (no ':', '/' or leading '..'), unique by suffix."""
    clean: dict[str, _T] = {}
    for key, value in values.items():
        base = (_BAD_KEY.sub("_", key).lstrip(".") or "_")[: _MAX_KEY - 4]
        name, n = base, 1
        while name in clean:
            n += 1
            name = f"{base}_{n}"
        clean[name] = value
    return clean
