"""The audit's check of MLflow against the chain: each pipeline run's ``nbmlops.ledger_head`` tag
and every ``nbmlops.review.ledger_entry`` (runs and model versions). MLflow is imported only here,
and only when the check runs; a store that cannot be read is a warning, not a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nbmlops._core.paths import MLFLOW_DB
from nbmlops.audit.chain_index import ChainIndex
from nbmlops.audit.checks import record_ids
from nbmlops.audit.report import AuditCheck, Finding

__all__ = ["check_mlflow"]


@dataclass(frozen=True, kw_only=True)
class _Tagged:
    """What one MLflow run or model version says about the ledger."""

    subject: str
    run_id: str | None = None
    """``nbmlops.run_id`` of a pipeline run (None for a model version)."""
    head: str | None = None
    """``nbmlops.ledger_head``: the hash of the run's ``run_finished`` entry."""
    decision: str | None = None
    """``nbmlops.review.ledger_entry``: the hash of a ``review_signed`` entry."""


def check_mlflow(root: Path, index: ChainIndex) -> AuditCheck:
    from nbmlops.records.tracking import tracking_uri

    shared = bool(os.environ.get("MLFLOW_TRACKING_URI", "").strip())
    if not shared and not (root / MLFLOW_DB).is_file():
        return AuditCheck(kind="mlflow", checked=0, note="no MLflow store in this project")
    try:
        # a shared server's registry holds other projects' models, which no run id ties to ours
        tagged = list(_mlflow_tags(tracking_uri(root), registry=not shared))
    except Exception as exc:  # any store failure (MLflow's, SQL's, HTTP's): not checked
        note = f"not checked: the MLflow store cannot be read ({type(exc).__name__}: {exc})"
        warning = Finding(kind="mlflow", subject="MLflow store", message=note)
        return AuditCheck(kind="mlflow", checked=0, warnings=(warning,), note=note)
    checked, failures, warnings = 0, list[Finding](), list[Finding]()
    known = index.runs | record_ids(root)
    for item in tagged:
        if shared and item.run_id is not None and item.run_id not in known:
            continue  # a shared server holds other projects' runs; only this project's count
        checked += 1
        if item.run_id is not None and (found := _head_finding(item, item.run_id, index)):
            (failures if found[0] else warnings).append(found[1])
        if item.decision is not None and item.decision not in index.decision_hashes:
            at = index.seq_of.get(item.decision)
            what = (
                f"the ledger's entry {at}, not a review_signed entry"
                if at is not None
                else "which is not in the ledger: a signed decision was removed or rewritten"
            )
            message = f"tagged nbmlops.review.ledger_entry {item.decision[:16]}…, {what}"
            failures.append(Finding(kind="mlflow", subject=item.subject, seq=at, message=message))
    note = "shared store: runs this project knows" if shared else ""
    return AuditCheck(kind="mlflow", checked=checked, failures=tuple(failures),
                      warnings=tuple(warnings), note=note)  # fmt: skip


def _head_finding(item: _Tagged, run_id: str, index: ChainIndex) -> tuple[bool, Finding] | None:
    """(is a failure, why) a pipeline run's ``nbmlops.ledger_head`` disagrees with the chain;
    None when it agrees."""
    finished, head = index.finished.get(run_id), item.head
    if head is None:
        if run_id not in index.runs:
            message = "the ledger does not mention this run: its entries were removed"
            return True, Finding(kind="mlflow", subject=item.subject, message=message)
        message = "no nbmlops.ledger_head tag: the run's end was not recorded in MLflow"
        return False, Finding(kind="mlflow", subject=item.subject, message=message)
    if finished is not None and finished[1] == head:
        return None
    at = index.seq_of.get(head)
    if at is not None:
        message = (
            f"tagged nbmlops.ledger_head {head[:16]}…, the ledger's entry {at}, which is not "
            "this run's run_finished entry"
        )
    else:
        message = f"tagged nbmlops.ledger_head {head[:16]}…, which is not in the ledger: " + (
            "the ledger was rewritten" if finished is not None else "its entries were removed"
        )
    seq = finished[0] if finished is not None else at
    return True, Finding(kind="mlflow", subject=item.subject, message=message, seq=seq)


def _mlflow_tags(uri: str, *, registry: bool) -> Iterator[_Tagged]:
    """Every pipeline run (deleted ones too) and, with ``registry``, every model version."""
    from mlflow.entities import ViewType

    from nbmlops.records.tracking import open_client

    client = open_client(uri)
    experiments = [
        e.experiment_id
        for e in client.search_experiments(view_type=ViewType.ALL)
        if str(e.name).startswith("nbmlops/")
    ]
    token = None
    while experiments:
        page = client.search_runs(
            experiments,
            "tags.`nbmlops.kind` = 'pipeline'",
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            tags, run_id = run.data.tags, run.data.tags.get("nbmlops.run_id", "?")
            yield _Tagged(
                subject=f"MLflow run {run.info.run_id} (run {run_id})",
                run_id=run_id,
                head=tags.get("nbmlops.ledger_head"),
                decision=tags.get("nbmlops.review.ledger_entry"),
            )
        token = page.token
        if not token:
            break
    token = None
    while registry:
        versions = client.search_model_versions(max_results=10000, page_token=token)
        for version in versions:
            decision = version.tags.get("nbmlops.review.ledger_entry")
            if decision is not None:
                # a search leaves aliases out; the version itself names them
                full = client.get_model_version(version.name, version.version)
                aliases = ", ".join(getattr(full, "aliases", None) or [])
                shown = f" (alias {aliases})" if aliases else ""
                subject = f"MLflow model {version.name} version {version.version}{shown}"
                yield _Tagged(subject=subject, decision=decision)
        token = versions.token
        if not token:
            return
