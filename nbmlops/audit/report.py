"""What an audit found: one finding per disagreement, one check per kind, the whole report; and
an anchor, the ledger's head kept elsewhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.records.ledger import LedgerReport

__all__ = ["Anchor", "AuditCheck", "AuditReport", "Finding"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One disagreement (or, as a warning, one thing to look at).

    ``subject`` names what disagrees with the ledger (a file, an MLflow run, an anchor line) and
    ``seq`` the ledger entry concerned, when there is one.
    """

    kind: str
    subject: str
    message: str
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "seq": self.seq,
            "message": self.message,
        }

    def __str__(self) -> str:
        at = f" (ledger seq {self.seq})" if self.seq is not None else ""
        return f"{self.subject}{at}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class AuditCheck:
    """The outcome of one kind of check: how many items it compared, what disagreed."""

    kind: str
    checked: int
    failures: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    note: str = ""
    """Why the check could not run, or what it covered (e.g. ``not checked: no MLflow store``)."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "checked": self.checked,
            "note": self.note,
            "failures": [f.to_dict() for f in self.failures],
            "warnings": [w.to_dict() for w in self.warnings],
        }


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """What :func:`verify_project` found; ``ok`` is False when any check failed."""

    root: Path
    ledger: LedgerReport
    checks: tuple[AuditCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.checks for f in c.failures)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(w for c in self.checks for w in c.warnings)

    def check(self, kind: str) -> AuditCheck:
        return next(c for c in self.checks if c.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "ok": self.ok,
            "ledger": {
                "path": str(self.ledger.path),
                "entries": self.ledger.entries,
                "head": self.ledger.head,
            },
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True, kw_only=True)
class Anchor:
    """The ledger's head at one moment, to keep where the ledger's writers cannot rewrite it."""

    seq: int
    hash: str
    at: str
    """When it was taken (UTC, ISO 8601)."""
    entries: int

    def to_line(self) -> str:
        data = {"at": self.at, "entries": self.entries, "hash": self.hash, "seq": self.seq}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
