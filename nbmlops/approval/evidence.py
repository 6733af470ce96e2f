"""The evidence a reviewer sees, pinned by digest, and kept so a signature can be checked later.

:func:`collect_evidence` gathers, for one pipeline run, the files a review rests on: the run record
(``.nbmlops/runs/<run_id>.json``, which holds the digest of every product of every stage, data
included) and the reviewable products of the review stage and of the stages it reads from - result
JSON, metrics, tables, plots, the model - each with its SHA-256. Data files (Parquet, Feather,
Arrow) are bound through the record's digests but not copied: they hold patient rows.

Every run archives its reviewable products and its record into a content-addressed, read-only
store (``.nbmlops/evidence/<sha256>``, see :mod:`nbmlops.records.archive`) when it finishes. A
product a later run overwrote in ``build/`` is read from that store, so any past run can be reviewed
and signed; its items then name the archived copies. Before a decision is signed,
:func:`archive_evidence` makes sure every item is in the store (runs from before the archive, a
record replay rewrote); :func:`check_evidence` is what ``nbmlops audit verify`` runs against it.

The evidence list's ``digest`` (:func:`evidence_digest`) is the SHA-256 of the RFC 8785 canonical
JSON of ``{"v": 2, "run_id", "pipeline", "stage", "items": [[name, digest], ...]}``, the items
sorted; lists written by nbmlops 0.1 (no ``"v"``) were hashed without ``v`` over Python's sorted
ASCII JSON, and still verify that way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops._core.digests import FORMAT, canonical_digest, file_digest, legacy_json_v1
from nbmlops._core.paths import EVIDENCE_STORE, RUNS, run_record_path
from nbmlops.errors import EvidenceChangedError, InvalidInputError, ReviewError
from nbmlops.records.archive import DATA_SUFFIXES, ArchiveError, archive_file, archived_copy

__all__ = [
    "EVIDENCE_STORE",
    "Evidence",
    "EvidenceItem",
    "archive_evidence",
    "check_evidence",
    "collect_evidence",
    "evidence_digest",
    "no_review_reason",
]

_REVIEWABLE = ("succeeded", "skipped")


@dataclass(frozen=True, kw_only=True)
class EvidenceItem:
    """One file of evidence: ``name`` (``run_record`` or ``<stage>.<product>``), where it was
    read and the SHA-256 of its bytes."""

    name: str
    path: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "digest": self.digest}


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Everything one review rests on; ``digest`` covers the run and every item's digest."""

    run_id: str
    pipeline: str
    stage: str
    mlflow_run_id: str | None
    items: tuple[EvidenceItem, ...]
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The run record, parsed from the very bytes the ``run_record`` item's digest covers."""
    v: int = FORMAT
    """The format of the list's digest (see the module docstring)."""

    @property
    def digest(self) -> str:
        return evidence_digest(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "stage": self.stage,
            "mlflow_run_id": self.mlflow_run_id,
            "items": [item.to_dict() for item in self.items],
        }


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    """SHA-256 over what identifies the evidence: its format, run, stage and each item's name
    and digest (not where the files were read from, so the archived copies verify the same).

    Parameters
    ----------
    evidence : Mapping
        An evidence list as :meth:`Evidence.to_dict` gives it (or a ledger entry holds it);
        without ``"v"`` it is a format-1 list and is hashed as nbmlops 0.1 did.

    Raises
    ------
    InvalidInputError
        ``v`` is not a format this nbmlops knows.

    Examples
    --------
    >>> evidence_digest({"v": 2, "run_id": "r", "pipeline": "p", "stage": "review",
    ...                  "items": [{"name": "run_record", "digest": "ab"}]})  # doctest: +SKIP
    '3f1c...'
    """
    version = evidence.get("v", 1)
    core: dict[str, Any] = {
        "run_id": evidence["run_id"],
        "pipeline": evidence["pipeline"],
        "stage": evidence["stage"],
        "items": sorted((i["name"], i["digest"]) for i in evidence["items"]),
    }
    if version == 1:
        return hashlib.sha256(legacy_json_v1(core, ascii_only=True)).hexdigest()
    if version != FORMAT:
        raise InvalidInputError(
            f"evidence list format v={version!r} is not one this nbmlops reads (1 or {FORMAT}); "
            "upgrade nbmlops",
            argument="evidence",
        )
    return canonical_digest({"v": version, **core})


def _record_path(root: Path, run_id: str, stage: str | None) -> Path:
    """Where run ``run_id``'s record is; ``latest`` is the newest run (run ids start with their
    UTC time) in which ``stage`` succeeded or was up to date (a run of a few other stages is not
    one to review)."""
    folder = Path(root) / RUNS
    if run_id == "latest":
        records = sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []
        for path in records:
            if stage is None or _has_result(path, stage):
                return path
        if stage is None:
            raise ReviewError(run_id=run_id, reason="no pipeline run recorded yet; run it first")
        raise ReviewError(run_id=run_id, reason=no_review_reason(root, stage))
    path = run_record_path(root, run_id)
    if not path.is_file():
        raise ReviewError(
            run_id=run_id,
            reason="no such run (`nbmlops status` and the run table name the run ids)",
            path=path,
        )
    return path


def no_review_reason(root: Path, stage: str) -> str:
    """Why no recorded run has a result of ``stage`` to review, and what to do: run the pipeline,
    or, when no run has a stage of that name (a project whose review stage is called something
    else), name the stage that computed the review."""
    folder = Path(root) / RUNS
    seen: dict[str, None] = {}  # stage names, newest run first, each once
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            stages = json.loads(path.read_text(encoding="utf-8")).get("stages", [])
        except (OSError, ValueError, AttributeError):
            continue  # `nbmlops audit verify` reports an unreadable record
        seen.update((str(s.get("stage")), None) for s in stages if isinstance(s, dict))
    if stage in seen or not seen:
        return (
            f"no pipeline run with a result of stage '{stage}' recorded yet; run the pipeline first"
        )
    return (
        f"no recorded run has a stage '{stage}' (their stages: {', '.join(seen)}); name the "
        "stage that computed the review (--stage)"
    )


def _read_record(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The record's bytes (what its evidence digest covers) and its content, read once."""
    try:
        raw = path.read_bytes()
        record: dict[str, Any] = json.loads(raw)
    except (OSError, ValueError) as exc:
        reason = f"its record cannot be read ({exc})"
        raise ReviewError(run_id=path.stem, reason=reason, path=path) from exc
    return raw, record


def _has_result(path: Path, stage: str) -> bool:
    try:
        stages = json.loads(path.read_text(encoding="utf-8")).get("stages", [])
    except (OSError, ValueError):
        return False
    return any(s.get("stage") == stage and s.get("status") in _REVIEWABLE for s in stages)


def collect_evidence(root: Path, run_id: str, *, stage: str = "review") -> Evidence:
    """Pin the evidence of run ``run_id`` for a review of its stage ``stage``.

    Parameters
    ----------
    root : Path
        The project folder.
    run_id : str
        A pipeline run id, or ``"latest"``.
    stage : str
        The stage whose products are the review (``review`` in the example pipeline).

    Returns
    -------
    Evidence

    Raises
    ------
    ReviewError
        The run has no such stage, or the stage did not produce its products.
    EvidenceChangedError
        A product changed since the run (a later run overwrote it) and no archived copy of what
        the run produced exists (a run from before the archive): review that later run instead.
        Also a :class:`ReviewError`.
    """
    record_path = _record_path(root, run_id, stage)
    raw, record = _read_record(record_path)
    run_id = str(record["run_id"])
    stages = {str(s["stage"]): s for s in record.get("stages", [])}
    if stage not in stages:
        names = ", ".join(stages) or "none"
        reason = (
            f"the run has no stage '{stage}' (its stages: {names}); name the stage that "
            "computed the review (--stage)"
        )
        raise ReviewError(run_id=run_id, reason=reason)
    if stages[stage]["status"] not in _REVIEWABLE:
        status = stages[stage]["status"]
        reason = f"stage '{stage}' {status} in this run; there is nothing to review"
        raise ReviewError(run_id=run_id, reason=reason)
    digest = hashlib.sha256(raw).hexdigest()
    items = [EvidenceItem(name="run_record", path=str(record_path), digest=digest)]
    for name in _reviewed_stages(stages, stage):
        items.extend(_stage_items(Path(root), run_id, stages[name]))
    return Evidence(
        run_id=run_id,
        pipeline=str(record["pipeline"]),
        stage=stage,
        mlflow_run_id=record.get("mlflow_run_id"),
        items=tuple(items),
        record=record,
    )


def _reviewed_stages(stages: Mapping[str, Mapping[str, Any]], stage: str) -> list[str]:
    """The review stage and the stages it reads from (their digests are its inputs)."""
    upstream = {
        key.split(":", 1)[1].split(".", 1)[0]
        for key in stages[stage].get("inputs", {})
        if key.startswith("upstream:")
    }
    return [stage, *sorted(upstream & set(stages))]


def _stage_items(root: Path, run_id: str, result: Mapping[str, Any]) -> Iterable[EvidenceItem]:
    """Each reviewable product as the run made it: the file in ``build/`` while it still holds
    those bytes, else its archived copy."""
    digests: Mapping[str, str] = result.get("product_digests", {})
    for product, location in sorted(result.get("products", {}).items()):
        path = Path(location)
        if product not in digests or path.suffix in DATA_SUFFIXES:
            continue  # the executed notebook (no digest) and patient-level data stay out
        name, digest = f"{result['stage']}.{product}", digests[product]
        if not (path.is_file() and file_digest(path) == digest):
            archived = archived_copy(root, digest)
            if archived is None and not path.is_file():
                reason = f"product {name} is missing and was never archived; rerun the pipeline"
                raise ReviewError(run_id=run_id, reason=reason, path=path)
            if archived is None:
                reason = (
                    f"product {name} changed since this run (a later run overwrote it) and this "
                    "run's copy was never archived (it predates the archive); review a later run"
                )
                raise EvidenceChangedError(run_id=run_id, reason=reason, path=path)
            path = archived
        yield EvidenceItem(name=name, path=str(path), digest=digest)


def archive_evidence(root: Path, evidence: Evidence) -> None:
    """Copy every item into ``.nbmlops/evidence/<sha256>`` (read-only), checking its digest.

    Raises
    ------
    ReviewError
        A file vanished since the evidence was collected; nothing may be signed.
    EvidenceChangedError
        A file changed since the evidence was collected (also a :class:`ReviewError`).
    """
    for item in evidence.items:
        try:
            archive_file(root, Path(item.path), item.digest, verify=True)
        except ArchiveError as exc:
            reason = f"evidence {item.name} {exc}"
            if exc.changed:
                reason = f"evidence {item.name} changed after the review opened; reopen it"
                raise EvidenceChangedError(
                    run_id=evidence.run_id, reason=reason, path=Path(item.path)
                ) from exc
            raise ReviewError(run_id=evidence.run_id, reason=reason, path=Path(item.path)) from exc


def check_evidence(root: Path, evidence: Mapping[str, Any]) -> list[str]:
    """Problems with the archived copy of a signed decision's evidence (empty: intact)."""
    problems = []
    if "digest" in evidence:
        try:
            if evidence_digest(evidence) != evidence["digest"]:
                problems.append("the evidence list does not match its digest")
        except InvalidInputError as exc:
            problems.append(str(exc))
    for item in evidence.get("items", []):
        stored = Path(root) / EVIDENCE_STORE / str(item["digest"])
        if not stored.is_file():
            problems.append(f"evidence {item['name']} is missing from {EVIDENCE_STORE}")
        elif file_digest(stored) != item["digest"]:
            problems.append(f"evidence {item['name']} was changed after signing ({stored})")
    return problems
