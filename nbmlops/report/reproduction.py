"""A reproduction check of a recorded run, as a value and as the file that keeps it.

:func:`nbmlops.report.reproduce.reproduce_run` re-executes a run and builds a
:class:`Reproduction`: one :class:`ProductCheck` per product the run recorded (identical bytes,
equivalent within :data:`TOLERANCE`, different, or missing) and the overall verdict. It is kept in
``.nbmlops/reproductions/<run id>/<reproduction id>.json`` (written atomically) and named by a
``run_reproduced`` ledger entry; :func:`latest_reproduction` reads the newest one back for the
audit report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.paths import REPRODUCTIONS

__all__ = [
    "TOLERANCE",
    "EnvMode",
    "ProductCheck",
    "Reproduction",
    "Verdict",
    "latest_reproduction",
    "reproduction_path",
    "verify_reproduction",
    "write_reproduction",
]

Verdict = Literal["identical", "equivalent", "different", "missing"]
"""``identical``: the same bytes; ``equivalent``: the same content within :data:`TOLERANCE`
(numbers), after canonical serialisation (JSON, skops) or without run metadata (notebooks);
``different``; ``missing``: the reproduction did not produce it."""

EnvMode = Literal["checked", "fresh"]
"""``checked``: the current environment, checked against the recorded lock; ``fresh``: a new
virtual environment installed from the lock (offline)."""

TOLERANCE: dict[str, float] = {"rtol": 1e-9, "atol": 1e-12}
"""Two numbers ``a`` (recorded) and ``b`` (reproduced) are equal when
``|a - b| <= atol + rtol * |a|`` (numpy's ``isclose``): metrics, model parameters, table cells."""

_ORDER: dict[str, int] = {"identical": 0, "equivalent": 1, "missing": 2, "different": 3}


@dataclass(frozen=True, kw_only=True)
class ProductCheck:
    """One product of the recorded run against what the reproduction made."""

    stage: str
    product: str
    recorded_digest: str
    new_digest: str | None
    verdict: Verdict
    detail: str = ""
    """Why it is equivalent or different (what was compared, the largest difference)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "product": self.product,
            "recorded_digest": self.recorded_digest,
            "new_digest": self.new_digest,
            "verdict": self.verdict,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    """A recorded run executed again and every product compared; ``verdict`` is the worst row's
    (``identical`` < ``equivalent`` < ``missing`` < ``different``; no rows: ``different``)."""

    reproduction_id: str
    run_id: str
    pipeline: str
    commit: str
    env: EnvMode
    started_at: str
    duration_s: float
    new_run_id: str | None
    new_run_status: str
    rows: tuple[ProductCheck, ...] = ()
    tolerance: dict[str, float] = field(default_factory=lambda: dict(TOLERANCE))
    lock_digest: str | None = None
    ledger_seq: int | None = None
    ledger_head: str | None = None
    """Seq and hash of this reproduction's ``run_reproduced`` ledger entry."""

    @property
    def verdict(self) -> Verdict:
        if not self.rows:
            return "different"
        worst = max(self.rows, key=lambda r: _ORDER[r.verdict]).verdict
        return worst

    @property
    def counts(self) -> dict[str, int]:
        """How many products got each verdict (all four keys)."""
        counts = dict.fromkeys(_ORDER, 0)
        for row in self.rows:
            counts[row.verdict] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "reproduction_id": self.reproduction_id,
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "commit": self.commit,
            "env": self.env,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "new_run_id": self.new_run_id,
            "new_run_status": self.new_run_status,
            "verdict": self.verdict,
            "counts": self.counts,
            "tolerance": dict(self.tolerance),
            "lock_digest": self.lock_digest,
            "ledger_seq": self.ledger_seq,
            "ledger_head": self.ledger_head,
            "rows": [row.to_dict() for row in self.rows],
        }

    def ledger_data(self) -> dict[str, Any]:
        """What its ``run_reproduced`` ledger entry holds: ids, digests, verdicts and counts (the
        details, free text, stay in the file)."""
        return {
            "reproduction_id": self.reproduction_id,
            "commit": self.commit,
            "env": self.env,
            "lock_digest": self.lock_digest,
            "new_run_id": self.new_run_id,
            "verdict": self.verdict,
            "counts": self.counts,
            "tolerance": dict(self.tolerance),
            "products": {
                f"{row.stage}.{row.product}": {
                    "recorded": row.recorded_digest,
                    "new": row.new_digest,
                    "verdict": row.verdict,
                }
                for row in self.rows
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reproduction:
        return cls(
            reproduction_id=data["reproduction_id"],
            run_id=data["run_id"],
            pipeline=data["pipeline"],
            commit=data["commit"],
            env=data["env"],
            started_at=data["started_at"],
            duration_s=float(data["duration_s"]),
            new_run_id=data.get("new_run_id"),
            new_run_status=data.get("new_run_status", ""),
            rows=tuple(ProductCheck(**row) for row in data.get("rows", ())),
            tolerance=dict(data.get("tolerance", TOLERANCE)),
            lock_digest=data.get("lock_digest"),
            ledger_seq=data.get("ledger_seq"),
            ledger_head=data.get("ledger_head"),
        )


def reproduction_path(root: Path, run_id: str, reproduction_id: str) -> Path:
    """``.nbmlops/reproductions/<run id>/<reproduction id>.json`` under ``root``."""
    return Path(root) / REPRODUCTIONS / run_id / f"{reproduction_id}.json"


def write_reproduction(root: Path, reproduction: Reproduction) -> Path:
    """Keep ``reproduction`` in its file (atomically); returns the path."""
    path = reproduction_path(root, reproduction.run_id, reproduction.reproduction_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(reproduction.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


def latest_reproduction(root: Path, run_id: str) -> Reproduction | None:
    """The newest reproduction check of run ``run_id`` in project ``root``, or None.

    Reproduction ids start with their UTC time, so the newest is the last by name. A file that
    cannot be read is skipped (the ledger's ``run_reproduced`` entry still names it).

    Examples
    --------
    >>> check = latest_reproduction(root, "20261203T101500Z-3fa2b1")   # doctest: +SKIP
    >>> check.verdict if check else "never reproduced"                  # doctest: +SKIP
    'identical'
    """
    folder = Path(root) / REPRODUCTIONS / run_id
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            return Reproduction.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def verify_reproduction(root: Path, reproduction: Reproduction) -> str | None:
    """Why ``reproduction`` (as its file says) is not what its ``run_reproduced`` ledger entry
    recorded, or None when it is: the entry at its ``ledger_seq`` must have its hash, name its
    run and hold the same ids, digests, verdicts and counts. A report shows a reproduction's
    verdict only with this answer beside it.

    Raises
    ------
    LedgerError
        The ledger cannot be read.
    """
    from nbmlops.errors import LedgerTamperedError
    from nbmlops.records.ledger import read_entries

    seq, where = reproduction.ledger_seq, f"reproduction {reproduction.reproduction_id}"
    if seq is None or reproduction.ledger_head is None:
        return f"{where} names no ledger entry"
    try:
        entry = next((e for e in read_entries(root) if e.seq == seq), None)
    except LedgerTamperedError as exc:
        return f"{where}: the ledger does not verify up to its entry ({exc})"
    if entry is None or entry.hash != reproduction.ledger_head:
        return f"{where} names ledger entry {seq}, which the ledger does not hold with its hash"
    if entry.event != "run_reproduced" or entry.run_id != reproduction.run_id:
        return f"{where}: ledger entry {seq} is not the run_reproduced entry of its run"
    if entry.data != reproduction.ledger_data():
        return f"{where}: its file differs from ledger entry {seq} (verdicts or digests changed)"
    return None
