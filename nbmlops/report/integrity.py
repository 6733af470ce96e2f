"""What the report says about whether its records can be trusted: the project's verification, the
run's evidence file by file, and the signed decisions with their manifestations.

Nothing here raises on damage: damage is what the report must show. A ledger that fails
verification is read up to its first bad line as verified; the lines after it are read as plain
JSON and marked unverified, so a decision after a tampered line still shows, flagged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.digests import file_digest
from nbmlops._core.paths import EVIDENCE_STORE, LEDGER_PATH

__all__ = [
    "Decision",
    "EvidenceFile",
    "LedgerView",
    "Verification",
    "check_run_evidence",
    "read_ledger",
    "signed_decisions",
    "verify",
]

_DECIDED = {"approve": "approved", "reject": "rejected", "request_changes": "changes requested"}


@dataclass(frozen=True, kw_only=True)
class Verification:
    """``nbmlops audit verify`` of the whole project, as the cover reports it."""

    ok: bool
    failures: tuple[str, ...]
    """Each failure as one sentence naming what disagrees and the ledger entry (seq)."""
    warnings: tuple[str, ...]
    entries: int
    """Entries that verified (all of them when ``ok``)."""
    head: str


@dataclass(frozen=True, kw_only=True)
class EvidenceFile:
    """One file the run's evidence names, and whether its recorded bytes are still there."""

    name: str
    """``run_record`` or ``<stage>.<product>``."""
    digest: str
    path: str | None
    """Where the recorded bytes are now (``build/`` or the archive); None when nowhere."""
    problem: str | None = None
    """What is wrong (names the file), or None."""
    note: str | None = None
    """What a reader should know though nothing is missing: the file named by the records was
    rewritten since the run (a records replay rewrites a run record) and its archived copy is
    what the digest covers."""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One signed decision on the run, with its 21 CFR 11.50 manifestation."""

    decision: str
    """``approved``, ``rejected`` or ``changes requested``."""
    printed_name: str
    title: str
    signer_id: str
    signed_at: str
    meaning: str
    comment: str
    evidence_digest: str
    record_digest: str
    seq: int
    entry_hash: str
    verified: bool
    """False when the entry sits after the ledger's first bad line."""
    evidence_problems: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LedgerView:
    """The ledger's entries as dicts (``seq``, ``event``, ``run_id``, ``data``, ``hash``),
    ``verified`` up to ``bad_line`` (1-based; None when the whole chain verifies)."""

    entries: tuple[Mapping[str, Any], ...]
    bad_line: int | None
    problem: str | None

    @property
    def bad_entry(self) -> str | None:
        """The first bad line as a reader names it: line, seq, event and run (as far as the
        line still reads), and why it fails; None when the chain verifies."""
        if self.bad_line is None:
            return None
        seq = self.bad_line - 1
        found = next((e for e in self.entries if e.get("seq") == seq), None)
        what = ""
        if found is not None:
            what = f", event '{found.get('event')}'"
            what += f" of run {found.get('run_id')}" if found.get("run_id") else ""
        return f"ledger line {self.bad_line} (entry seq {seq}{what}): {self.problem}"

    def verified(self, entry: Mapping[str, Any]) -> bool:
        return self.bad_line is None or int(entry.get("seq", 0)) < self.bad_line - 1


def verify(root: Path) -> Verification:
    """The project's audit (:func:`nbmlops.audit.verify.verify_project`) as sentences."""
    from nbmlops.audit.verify import verify_project

    report = verify_project(root)
    return Verification(
        ok=report.ok,
        failures=tuple(_sentence(f.subject, f.seq, f.message) for f in report.failures),
        warnings=tuple(_sentence(w.subject, w.seq, w.message) for w in report.warnings),
        entries=report.ledger.entries,
        head=report.ledger.head,
    )


def _sentence(subject: str, seq: int | None, message: str) -> str:
    at = f" (ledger entry seq {seq})" if seq is not None else ""
    return f"{subject}{at}: {message}"


def read_ledger(root: Path) -> LedgerView:
    """Every entry: verified ones through :func:`~nbmlops.records.ledger.read_entries`, the rest
    (after the first bad line) parsed as plain JSON where they parse at all."""
    from nbmlops.errors import LedgerTamperedError
    from nbmlops.records.ledger import read_entries

    entries: list[Mapping[str, Any]] = []
    try:
        entries.extend(e.to_dict() for e in read_entries(root))
    except LedgerTamperedError as exc:
        path = Path(root) / LEDGER_PATH
        lines = path.read_bytes().splitlines()
        for raw in lines[exc.line - 1 :]:
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if isinstance(data, dict):
                entries.append(data)
        return LedgerView(entries=tuple(entries), bad_line=exc.line, problem=exc.reason)
    return LedgerView(entries=tuple(entries), bad_line=None, problem=None)


def check_run_evidence(
    root: Path, record: Mapping[str, Any], record_path: Path, ledger: LedgerView
) -> tuple[EvidenceFile, ...]:
    """Each file the run's ``evidence_archived`` entry names (else each reviewable product of
    its record), found as the run made it in ``build/`` or in the archive, or reported."""
    from nbmlops.records.archive import ARCHIVED_EVENT, DATA_SUFFIXES

    run_id = str(record.get("run_id"))
    named: dict[str, str] = {}
    for entry in ledger.entries:
        if entry.get("event") == ARCHIVED_EVENT and entry.get("run_id") == run_id:
            data = entry.get("data") or {}
            named.update((str(i["name"]), str(i["digest"])) for i in data.get("items", []))
    where: dict[str, Path] = {"run_record": record_path}
    for stage in record.get("stages", []):
        for product, digest in sorted((stage.get("product_digests") or {}).items()):
            location = Path(str((stage.get("products") or {}).get(product, "")))
            if location.suffix in DATA_SUFFIXES or not location.name:
                continue
            name = f"{stage['stage']}.{product}"
            where[name] = location
            named.setdefault(name, str(digest))
    return tuple(_locate(root, name, named[name], where.get(name)) for name in sorted(named))


def _locate(root: Path, name: str, digest: str, path: Path | None) -> EvidenceFile:
    stored = Path(root) / EVIDENCE_STORE / digest
    if path is not None and path.is_file() and file_digest(path) == digest:
        return EvidenceFile(name=name, digest=digest, path=str(path))
    if stored.is_file() and file_digest(stored) == digest:
        note = None
        if name == "run_record" and path is not None and path.is_file():
            note = (
                f"{path} differs from the run record archived when the run finished ({stored}): "
                "it was rewritten since (`nbmlops records replay` does), or edited"
            )
        return EvidenceFile(name=name, digest=digest, path=str(stored), note=note)
    if stored.is_file():
        problem = f"{name}: the archived copy {stored} was changed (its SHA-256 differs)"
    elif path is not None and path.is_file():
        problem = f"{name}: {path} was changed since the run and no archived copy is left"
    else:
        shown = path if path is not None else stored
        problem = f"{name}: {shown} was deleted and no archived copy is left"
    return EvidenceFile(name=name, digest=digest, path=None, problem=problem)


def signed_decisions(root: Path, run_id: str, ledger: LedgerView) -> tuple[Decision, ...]:
    """Every ``review_signed`` entry on ``run_id``, oldest first, with its full record (meaning
    and comment from the decision file) and the problems of its archived evidence."""
    from nbmlops.approval.decision import EVENT, read_decision
    from nbmlops.approval.evidence import check_evidence

    found = []
    for entry in ledger.entries:
        if entry.get("event") != EVENT or entry.get("run_id") != run_id:
            continue
        data: Mapping[str, Any] = entry.get("data") or {}
        record = read_decision(root, data)
        signer: Mapping[str, Any] = record.get("signer") or {}
        evidence = data.get("evidence") or {}
        problems: Sequence[str] = check_evidence(root, evidence) if evidence else ()
        found.append(
            Decision(
                decision=_DECIDED.get(str(record.get("decision")), str(record.get("decision"))),
                printed_name=str(signer.get("printed_name", "")),
                title=str(signer.get("title") or ""),
                signer_id=str(signer.get("id", "")),
                signed_at=str(record.get("signed_at", "")),
                meaning=str(record.get("meaning", "")),
                comment=str(record.get("comment", "")),
                evidence_digest=str(record.get("evidence_digest", "")),
                record_digest=str(data.get("record_digest", "")),
                seq=int(entry.get("seq", -1)),
                entry_hash=str(entry.get("hash", "")),
                verified=ledger.verified(entry),
                evidence_problems=tuple(problems),
            )
        )
    return tuple(found)
