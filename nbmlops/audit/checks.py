"""The audit's checks of what the project holds on disk against the chain: the ledger itself,
signed decisions, run records, stage states, archived evidence, anchor files and open runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from nbmlops._core.paths import DECISION_FILES, EVIDENCE_STORE, RUNS, STAGE_STATE
from nbmlops.audit.chain_index import ChainIndex
from nbmlops.audit.report import AuditCheck, Finding
from nbmlops.errors import LedgerError
from nbmlops.records.ledger import LedgerReport

__all__ = [
    "RECORDS",
    "check_anchor_files",
    "check_decisions",
    "check_evidence_store",
    "check_ledger",
    "check_open_runs",
    "check_run_records",
    "check_stage_states",
    "record_ids",
]

RECORDS = ("run records", "stage states", "mlflow", "evidence")
"""Checks whose items exist only if the ledger had entries: any of them with an empty ledger
means the ledger was deleted or replaced."""


def check_ledger(report: LedgerReport, others: Iterable[AuditCheck]) -> AuditCheck:
    failures = []
    if report.problem is not None:
        failures.append(
            Finding(
                kind="ledger",
                subject=str(report.path),
                seq=report.problem.line - 1,
                message=f"{report.problem} (An incomplete last line left by a crash is what "
                "`nbmlops audit repair` moves aside, recorded; anything else is tampering.)",
            )
        )
    elif report.entries == 0:
        exist = [f"{c.checked} {c.kind}" for c in others if c.kind in RECORDS and c.checked]
        if exist:
            failures.append(
                Finding(
                    kind="ledger",
                    subject=str(report.path),
                    message=f"the ledger is missing or empty, but {', '.join(exist)} exist: it "
                    "was deleted or replaced; restore it from a backup",
                )
            )
    return AuditCheck(kind="ledger", checked=report.entries, failures=tuple(failures))


def check_decisions(root: Path, index: ChainIndex, report: LedgerReport) -> AuditCheck:
    if report.problem is not None:
        return AuditCheck(kind="decisions", checked=0, note="not checked: the ledger fails")
    from nbmlops.approval.decision import verify_decisions

    try:
        problems = verify_decisions(root)
    except LedgerError:
        raise
    except Exception as exc:  # a malformed entry must be a finding, never a traceback
        message = (
            f"the decisions cannot be checked ({type(exc).__name__}: {exc}): an entry is malformed"
        )
        failure = Finding(kind="decisions", subject="review_signed entries", message=message)
        return AuditCheck(kind="decisions", checked=index.decisions, failures=(failure,))
    failures = tuple(
        Finding(kind="decisions", subject="review_signed entry", seq=seq, message=problem)
        for seq, problem in problems
    ) + _orphan_decision_files(root, index)
    return AuditCheck(kind="decisions", checked=index.decisions, failures=failures)


def _orphan_decision_files(root: Path, index: ChainIndex) -> tuple[Finding, ...]:
    """Signed records in ``.nbmlops/decisions/`` that no ``review_signed`` entry names."""
    folder = root / DECISION_FILES
    message = (
        "a signed decision's record that no review_signed entry in the ledger names: the "
        "decision was removed from the ledger (or a signing died before recording it)"
    )
    return tuple(
        Finding(kind="decisions", subject=path.relative_to(root).as_posix(), message=message)
        for path in (sorted(folder.glob("*.json")) if folder.is_dir() else [])
        if path.name not in index.decision_files
    )


def check_run_records(root: Path, index: ChainIndex) -> AuditCheck:
    folder = root / RUNS
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    failures = []
    for path in paths:
        subject = os.path.relpath(path, root)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            run_id = str(record["run_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            failures.append(Finding(kind="run records", subject=subject, message=f"unreadable "
                                    f"({type(exc).__name__}: {exc})"))  # fmt: skip
            continue
        if record.get("ledger_head") is not None:
            seq = record.get("ledger_seq")
            why = index.at(seq, record["ledger_head"], f"the record of run {run_id}")
            if why is not None:
                failures.append(Finding(kind="run records", subject=subject, seq=_int(seq),
                                        message=why))  # fmt: skip
        elif run_id not in index.finished:  # a record written before records held the hash
            message = f"run {run_id} has no run_finished entry in the ledger: it was removed"
            failures.append(Finding(kind="run records", subject=subject, message=message))
    return AuditCheck(kind="run records", checked=len(paths), failures=tuple(failures))


def check_stage_states(root: Path, index: ChainIndex) -> AuditCheck:
    paths = sorted((root / "build").glob(f"*/*/{STAGE_STATE}"))
    failures = []
    for path in paths:
        subject = os.path.relpath(path, root)
        try:
            run_id = str(json.loads(path.read_text(encoding="utf-8"))["run_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            message = f"unreadable ({type(exc).__name__}: {exc})"
            failures.append(Finding(kind="stage states", subject=subject, message=message))
            continue
        if run_id not in index.runs:
            message = f"made by run {run_id}, which the ledger does not mention: it was removed"
            failures.append(Finding(kind="stage states", subject=subject, message=message))
    return AuditCheck(kind="stage states", checked=len(paths), failures=tuple(failures))


def record_ids(root: Path) -> set[str]:
    folder = root / RUNS
    return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()


def check_evidence_store(root: Path, index: ChainIndex) -> AuditCheck:
    store = root / EVIDENCE_STORE
    files = sorted(p for p in store.iterdir() if p.is_file()) if store.is_dir() else []
    failures, warnings = [], []
    for path in files:
        subject = os.path.relpath(path, root)
        if path.suffix == ".partial":
            message = "an interrupted archive copy: no decision was signed on it"
            warnings.append(Finding(kind="evidence", subject=subject, message=message))
        elif path.name not in index.evidence:
            message = (
                "archived evidence that no review_signed or evidence_archived entry in the "
                "ledger names: a signed decision or a run's archive entry was removed (or a "
                "signing or run died between archiving and recording it)"
            )
            failures.append(Finding(kind="evidence", subject=subject, message=message))
    return AuditCheck(kind="evidence", checked=len(files), failures=tuple(failures),
                      warnings=tuple(warnings))  # fmt: skip


def check_anchor_files(index: ChainIndex, files: Sequence[str | os.PathLike[str]]) -> AuditCheck:
    checked, failures = 0, []
    for file in files:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            message = f"the anchor file cannot be read ({exc})"
            failures.append(Finding(kind="anchors", subject=str(file), message=message))
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            checked += 1
            subject = f"{file}:{number}"
            try:
                anchor = json.loads(line)
                seq, digest = anchor["seq"], anchor["hash"]
            except (ValueError, KeyError, TypeError):
                message = 'not an anchor line (expected {"seq": N, "hash": "<64 hex>", ...})'
                failures.append(Finding(kind="anchors", subject=subject, message=message))
                continue
            when = f" (taken {anchor['at']})" if isinstance(anchor.get("at"), str) else ""
            why = index.at(seq, digest, f"the anchor{when}")
            if why is not None:
                failures.append(Finding(kind="anchors", subject=subject, seq=_int(seq),
                                        message=why))  # fmt: skip
    note = "" if files else "none given: --anchor FILE"
    return AuditCheck(kind="anchors", checked=checked, failures=tuple(failures), note=note)


def check_open_runs(index: ChainIndex) -> AuditCheck:
    warnings = tuple(
        Finding(
            kind="open runs",
            subject=f"run {run_id}",
            seq=seq,
            message=f"started at {ts} and never finished: it was killed or crashed, or it is "
            "still running",
        )
        for run_id, (seq, ts) in index.started.items()
        if run_id not in index.finished
    )
    return AuditCheck(kind="open runs", checked=len(index.started), warnings=warnings)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
