"""The records thread: each finished stage's HTML export, MLflow child run and ledger entry.

It runs beside the scheduler, so a stage's bookkeeping overlaps with the next stage's kernel. A
failure here never loses a stage result: it becomes a note (or the tracking problem) on the run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from queue import Queue
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.privacy.identifiers import ledger_digest, project_registry
from nbmlops.privacy.telemetry import PhiPolicy
from nbmlops.records import ledger
from nbmlops.records.model import JSON, Provenance, RunRecord, StageResult

__all__ = ["RecordsThread", "export_html"]

_OPEN = "open"
"""Queued by :meth:`RecordsThread.open_tracking`: open MLflow before the next record."""


def _is_scrap(output: Mapping[str, Any]) -> bool:
    data = output.get("data") or {}
    return bool(data) and all(k.startswith("application/scrapbook.scrap.") for k in data)


def export_html(notebook: Path) -> Path:
    """Render an executed notebook to standalone HTML next to it, fetching nothing from the web.

    nbconvert's templates load require.js and MathJax from public CDNs; opening such a report
    would tell a third party that (and from where) someone is reading it, so both are left out.
    """

    import nbformat
    from nbconvert import HTMLExporter

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    # nbmlops's papermill engine saves no widget state; a notebook executed otherwise (an older
    # nbmlops, plain papermill) may hold it, and nbconvert would then draw each widget with a
    # script from a CDN instead of the static HTML beside it in the same output.
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        # scraps are data for the run record, invisible in JupyterLab; keep them out of the view
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not _is_scrap(o)]
    exporter = HTMLExporter(embed_images=True)  # type: ignore[no-untyped-call]
    exporter.require_js_url = ""
    exporter.mathjax_url = ""
    exporter.widget_renderer_url = ""
    node = nbformat.reads(json.dumps(nb), as_version=4)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(node)
    html = notebook.with_suffix(".html")
    write_text_atomic(html, body)
    return html


class RecordsThread:
    """The records thread: HTML export, MLflow child runs and ledger entries, in arrival order.

    It overlaps with the next stage's kernel, so a stage's bookkeeping costs the run little.
    """

    def __init__(
        self,
        *,
        spec: PipelineSpec,
        run_id: str,
        started_at: str,
        provenance: Provenance,
        lock_digest: str | None,
        overrides: Mapping[str, Mapping[str, JSON]],
        tracking: bool,
        phi_policy: PhiPolicy = "refuse",
        on_tracked: Callable[[StageResult], None] | None = None,
    ) -> None:
        """``on_tracked`` is called (on this thread) with each result MLflow recorded, carrying
        its ``mlflow_run_id``: the scheduler links its build state there (it owns that state)."""
        self.spec = spec
        self.on_tracked = on_tracked
        self.phi_policy = phi_policy
        self.run_id = run_id
        self.started_at = started_at
        self.provenance = provenance
        self.lock_digest = lock_digest
        self.overrides = overrides
        self.queue: Queue[StageResult | str | None] = Queue()
        self.final: dict[str, StageResult] = {}
        self.mlflow: Any = None
        self.uri: str | None = None
        self.problem: str | None = None
        self.parent_run_id: str | None = None
        self.started = False
        self.notes: list[str] = []
        if tracking:
            from nbmlops.records.tracking import MlflowRecorder

            self.mlflow = MlflowRecorder.for_project(spec.root, spec.name)
            self.uri = self.mlflow.uri
        self.thread = threading.Thread(target=self._work, name="nbmlops-records", daemon=True)
        self.thread.start()

    def submit(self, result: StageResult) -> None:
        self.queue.put(result)

    def open_tracking(self) -> None:
        """Import MLflow and open the store on this thread now, not at the first record.

        Meant for when the first stage's kernel is up and running its cells: the parent process
        idles then, while at the very start MLflow's import would slow papermill's and the first
        kernel's boot. Any thread may call it; only the first call counts."""
        self.queue.put(_OPEN)

    def close(self) -> dict[str, StageResult]:
        self.queue.put(None)
        self.thread.join()
        return self.final

    def _work(self) -> None:
        while (result := self.queue.get()) is not None:
            if isinstance(result, str):  # _OPEN
                if self.mlflow is not None:
                    self.mlflow.open()
                continue
            try:
                result = self._record(result)
            except Exception as exc:
                self.notes.append(f"{result.stage}: could not record ({type(exc).__name__}: {exc})")
            self.final[result.stage] = result

    def _record(self, result: StageResult) -> StageResult:
        result = self._without_phi_in_values(result)
        if result.status == "succeeded" and result.executed_notebook:
            try:
                result = replace(result, html=str(export_html(Path(result.executed_notebook))))
            except (OSError, ValueError) as exc:  # the run stands; its HTML view is missing
                self.notes.append(f"{result.stage}: HTML export failed ({exc})")
        if self.mlflow is not None:
            try:
                result = self._track(result, self._for_mlflow(result))
            except Exception as exc:
                self.problem = (
                    f"MLflow failed unexpectedly ({type(exc).__name__}: {exc}); not recorded: "
                    f"stage {result.stage} and everything after it in this run."
                )
                self.mlflow = None
        ledger.append(
            self.spec.root,
            "stage_finished",
            run_id=self.run_id,
            data={
                "stage": result.stage,
                "status": result.status,
                "reason": result.reason,
                "fingerprint": result.fingerprint,
                "inputs": result.inputs,
                "products": result.product_digests,
                "mlflow_run_id": result.mlflow_run_id,
                "produced_by": result.produced_by,
                # error texts can quote patients: the ledger binds the run record's text
                "error": result.error and ledger_digest(self.spec.root, result.error),
            },
        )
        return result

    def _without_phi_in_values(self, result: StageResult) -> StageResult:
        """Apply the PHI policy to what is recorded everywhere: error texts, scraps, parameters.

        An exception message can quote a value (``KeyError: '123-45-6789'``, a patient's name)
        and a scrap is any value a notebook chose to record; both reach the run record and
        MLflow. ``redact`` records them redacted, ``refuse`` withholds each text that holds
        PHI. Under ``redact`` the parameter values and the executed notebook's injected cell
        are redacted too (under ``refuse`` a run with such a value never started).
        """
        if self.phi_policy == "off":
            return result
        from nbmlops.privacy.phi import apply_policy, redact_injected_parameters

        ids = project_registry(self.spec.root)
        error, _ = apply_policy(result.error, policy=self.phi_policy, identifiers=ids)
        scraps, kinds = apply_policy(result.scraps, policy=self.phi_policy, identifiers=ids)
        if kinds:
            done = "redacted from" if self.phi_policy == "redact" else "withheld:"
            self.notes.append(f"{result.stage}: identifiers ({', '.join(kinds)}) {done} scraps")
        params = result.params
        if self.phi_policy == "redact":
            params, _ = apply_policy(result.params, policy="redact", identifiers=ids)
            notebook = result.executed_notebook  # this run's (a skipped stage's is older)
            if result.status in ("succeeded", "failed") and notebook and Path(notebook).is_file():
                redact_injected_parameters(Path(notebook), identifiers=ids)
        return replace(result, error=error, scraps=scraps, params=params)

    def _for_mlflow(self, result: StageResult) -> StageResult:
        """The result as MLflow gets it: its executed notebook and HTML only if the PHI policy
        lets them leave ``build/`` as they are, as redacted copies, or not at all."""
        notebook = result.executed_notebook
        if self.phi_policy == "off" or not notebook or not Path(notebook).is_file():
            return result
        from nbmlops.errors import PhiDetectedError
        from nbmlops.privacy.phi import check_notebook

        try:
            check = check_notebook(
                Path(notebook), policy=self.phi_policy, identifiers=project_registry(self.spec.root)
            )
        except PhiDetectedError as exc:
            self.notes.append(
                f"{result.stage}: executed notebook NOT logged to MLflow: {exc.message} "
                f"It stays at {notebook}; stop printing identifiers, or set phi_policy = 'redact'."
            )
            return replace(result, executed_notebook=None, html=None)
        if check.redacted is None:
            return result
        folder = Path(notebook).parent / ".redacted"
        folder.mkdir(exist_ok=True)
        copy = folder / Path(notebook).name
        write_text_atomic(copy, json.dumps(check.redacted, indent=1, ensure_ascii=False))
        self.notes.append(f"{result.stage}: identifiers redacted from the notebook sent to MLflow")
        return replace(result, executed_notebook=str(copy), html=str(export_html(copy)))

    def _track(self, result: StageResult, for_mlflow: StageResult) -> StageResult:
        assert self.mlflow is not None  # noqa: S101 - checked by the caller
        if not self.started:
            self.started = True
            self.parent_run_id = self.mlflow.start(
                run_id=self.run_id,
                pipeline=self.spec.name,
                provenance=self.provenance,
                lock_digest=self.lock_digest,
                overrides=self.overrides,
                started_at=self.started_at,
            )
        run_id = self.mlflow.stage(for_mlflow)
        self.problem = self.mlflow.problem
        if run_id is None:
            return result
        tracked = replace(result, mlflow_run_id=run_id)
        if self.on_tracked is not None:
            self.on_tracked(tracked)
        return tracked

    def finish(self, record: RunRecord, *, ledger_head: str) -> RunRecord:
        """End the MLflow parent run, anchoring the ledger head in it; the record, completed."""
        if self.mlflow is None or not self.started:
            return replace(record, tracking_problem=record.tracking_problem or self.problem)
        finished: RunRecord = self.mlflow.finish(record, ledger_head=ledger_head)
        return finished
