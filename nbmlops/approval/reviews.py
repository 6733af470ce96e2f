"""Where each reviewable run stands: unreviewed, approved, rejected, changes requested, superseded.

:func:`list_reviews` reads the run records (``.nbmlops/runs/``) and the ledger's ``review_signed``
entries; it never opens MLflow. A run is reviewable when its review stage succeeded (or reused
products that were up to date). Its status is its latest signed decision; an approval is
``superseded`` once a later run of the same pipeline is approved (the registry's ``approved``
alias moved on). A run nobody decided on is ``unreviewed``, or ``unavailable`` when a product of
its review stage is neither in ``build/`` as the run made it nor in the evidence archive (a run
from before the archive, overwritten since).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.digests import file_digest
from nbmlops._core.paths import EVIDENCE_STORE, RUNS
from nbmlops.approval.decision import DECISIONS, EVENT
from nbmlops.records.archive import DATA_SUFFIXES
from nbmlops.records.ledger import read_entries

__all__ = ["RunReview", "list_reviews"]

_REVIEWABLE = ("succeeded", "skipped")


@dataclass(frozen=True, kw_only=True)
class RunReview:
    """One reviewable run and where its review stands."""

    run_id: str
    pipeline: str
    finished_at: str
    status: str
    """``unreviewed``, ``unavailable``, ``approved``, ``rejected``, ``changes requested`` or
    ``superseded``."""
    decided_by: str | None = None
    decided_at: str | None = None
    decisions: int = 0
    """How many decisions were signed on this run (the status is the latest)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_reviews(root: Path, *, stage: str = "review") -> list[RunReview]:
    """The project's reviewable runs with their status, newest first.

    Parameters
    ----------
    root : Path
        The project folder.
    stage : str
        The stage whose products are the review.

    Raises
    ------
    LedgerTamperedError
        The ledger does not verify (its decisions cannot be trusted).

    Examples
    --------
    >>> [(r.run_id, r.status) for r in list_reviews(root)]  # doctest: +SKIP
    [('20261203T090000Z-1a2b3c', 'unreviewed'), ('20261202T170000Z-4d5e6f', 'approved')]
    """
    records = _reviewable_records(Path(root), stage)
    signed: dict[str, list[dict[str, Any]]] = {}
    for entry in read_entries(root):
        record = entry.data.get("record") if entry.event == EVENT else None
        if isinstance(record, dict) and entry.run_id is not None:
            signed.setdefault(entry.run_id, []).append(record)
    approved = sorted(
        (str(d.get("signed_at")), str(d.get("pipeline")), run_id)
        for run_id, decisions in signed.items()
        for d in decisions[-1:]
        if d.get("decision") == "approve"
    )
    latest_approval = {pipeline: run_id for _, pipeline, run_id in approved}
    digests: dict[Path, str] = {}
    reviews = []
    for record in records:
        run_id, pipeline = str(record["run_id"]), str(record.get("pipeline"))
        decisions = signed.get(run_id, [])
        if decisions:
            last = decisions[-1]
            status = DECISIONS.get(str(last.get("decision")), str(last.get("decision")))
            if status == "approved" and latest_approval.get(pipeline) != run_id:
                status = "superseded"
            signer = last.get("signer")
            reviews.append(
                RunReview(
                    run_id=run_id,
                    pipeline=pipeline,
                    finished_at=str(record.get("finished_at", "")),
                    status=status,
                    decided_by=str(signer.get("id")) if isinstance(signer, dict) else None,
                    decided_at=str(last.get("signed_at")),
                    decisions=len(decisions),
                )
            )
            continue
        available = _evidence_available(Path(root), record, stage, digests)
        reviews.append(
            RunReview(
                run_id=run_id,
                pipeline=pipeline,
                finished_at=str(record.get("finished_at", "")),
                status="unreviewed" if available else "unavailable",
            )
        )
    return reviews


def _reviewable_records(root: Path, stage: str) -> list[dict[str, Any]]:
    """Records whose ``stage`` has a result, newest first (run ids start with their UTC time)."""
    folder = root / RUNS
    found = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # `nbmlops audit verify` reports an unreadable record
        stages = record.get("stages", []) if isinstance(record, dict) else []
        if any(s.get("stage") == stage and s.get("status") in _REVIEWABLE for s in stages):
            found.append(record)
    return found


def _evidence_available(
    root: Path, record: dict[str, Any], stage: str, digests: dict[Path, str]
) -> bool:
    """Whether every reviewable product of ``stage`` is still in ``build/`` as the run made it or
    archived (existence in the archive only: ``audit verify`` re-hashes it)."""
    for result in record.get("stages", []):
        if result.get("stage") != stage:
            continue
        for product, digest in result.get("product_digests", {}).items():
            path = Path(result.get("products", {}).get(product, ""))
            if path.suffix in DATA_SUFFIXES or (root / EVIDENCE_STORE / digest).is_file():
                continue
            if not path.is_file():
                return False
            if path not in digests:
                digests[path] = file_digest(path)
            if digests[path] != digest:
                return False
    return True
