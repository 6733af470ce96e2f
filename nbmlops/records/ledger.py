"""Append-only, hash-chained audit ledger: who did what, when, to which run.

Runs, stages and review decisions each append one JSON line to ``<project>/.nbmlops/ledger.jsonl``.
Every line holds the SHA-256 of the line before it, and a small head file (``ledger.head``) records
the seq and hash of the last line::

    from pathlib import Path
    from nbmlops.records.ledger import append, read_entries, verify_ledger

    entry = append(Path("."), "run_started", run_id="4f2a", data={"pipeline": "readmission"})
    report = verify_ledger(Path("."))
    assert report.ok and report.head == entry.hash
    events = [e.event for e in read_entries(Path("."))]

Threat model. This module alone detects a careless edit: an edited, deleted, inserted or
reordered entry, a line that is not JSON or was cut off, a line re-serialised by another JSON
writer, and entries removed from the end (which a chain alone cannot show; the head file can). It
does not stop a user with write access to ``.nbmlops/`` who recomputes the whole chain *and* the
head: :func:`nbmlops.audit.verify.verify_project` (``nbmlops audit verify``) then compares the
chain with
every copy of its hashes kept outside it (run records, stage states, MLflow's
``nbmlops.ledger_head`` tags, archived evidence, anchor files). An administrator who rewrites all
of those together is revealed only by an anchor kept where they cannot rewrite history
(``nbmlops audit anchor --append FILE`` into a protected git remote or onto a team server).

An append is all or nothing: a write or fsync that fails (a full disk) cuts the file back to its
length before the append, under the lock, and the head is not advanced. A tail damaged anyway (a
crash or power loss mid-write) is moved to ``.nbmlops/ledger.quarantine/`` by
:func:`repair_ledger` (``nbmlops audit repair``), which records that act as a ``ledger_repaired``
entry; it refuses any damage that is not such a tail.

Writers hold an exclusive lock (``ledger.jsonl.lock``) while they read the tail and append, so
parallel stages, processes and users of a shared project folder neither corrupt the file nor fork
the chain. Readers take the same lock only for an instant, to see the head and the file's length
as one consistent state, then stream the file in constant memory.

The line format (format 2: RFC 8785 canonical JSON, ``"v": 2``; format 1 lines, written by
nbmlops 0.1, still verify) is :mod:`nbmlops.records.ledger_format`; the file, its lock and head
:mod:`nbmlops.records.ledger_file`; repair :mod:`nbmlops.records.ledger_repair`. This module holds
the verbs, and every public name of the three.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.paths import LEDGER_PATH
from nbmlops.errors import LedgerError, LedgerTamperedError
from nbmlops.records.ledger_file import (
    LOCK_TIMEOUT_S,
    acquire,
    append_locked,
    ledger_path,
    plain_data,
    scan,
)
from nbmlops.records.ledger_format import FORMAT, GENESIS, LedgerEntry
from nbmlops.records.ledger_repair import REPAIRED, LedgerRepair, repair_ledger

__all__ = [
    "FORMAT",
    "GENESIS",
    "LEDGER_PATH",
    "LOCK_TIMEOUT_S",
    "REPAIRED",
    "LedgerEntry",
    "LedgerRepair",
    "LedgerReport",
    "append",
    "ledger_path",
    "read_entries",
    "repair_ledger",
    "verify_ledger",
]


@dataclass(frozen=True, kw_only=True)
class LedgerReport:
    """The outcome of :func:`verify_ledger`.

    ``entries`` and ``head`` describe the entries that verified, up to the first problem;
    ``problem`` is that problem (its ``line`` is 1-based), or None for an intact ledger.
    """

    path: Path
    entries: int
    head: str
    problem: LedgerTamperedError | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def append(
    root: Path, event: str, *, run_id: str | None = None, data: Mapping[str, Any] | None = None
) -> LedgerEntry:
    """Append one event to the project's ledger, chained to the entry before it.

    Parameters
    ----------
    root : Path
        Project folder; the ledger is ``root/.nbmlops/ledger.jsonl`` (created when missing).
    event : str
        What happened, e.g. ``"run_started"``, ``"stage_finished"``, ``"review_signed"``.
    run_id : str, optional
        The MLflow run the event belongs to.
    data : Mapping, optional
        Plain JSON details (digests, signer, parameters); stored as given, keys sorted.

    Returns
    -------
    LedgerEntry
        The entry written; its ``hash`` is what to anchor elsewhere (e.g. an MLflow tag).

    Raises
    ------
    LedgerError
        ``data`` is not plain JSON (nothing is written), the ledger's end is damaged or disagrees
        with its head (nothing is appended), or the file cannot be locked or written.

    Examples
    --------
    >>> entry = append(root, "stage_finished", run_id="4f2a", data={"stage": "train"})
    >>> entry.seq, entry.prev == GENESIS
    (0, True)
    """
    ledger = Path(root) / LEDGER_PATH
    payload = plain_data(ledger, event, run_id, {} if data is None else data)
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        lock = acquire(ledger)
        try:
            return append_locked(ledger, event, run_id, payload)
        finally:
            lock.release()
    except OSError as exc:
        raise LedgerError(
            f"{ledger}: cannot write the ledger ({exc}); nothing was appended and the ledger is "
            f"as it was. Check that you may write to {ledger.parent} and that its disk has room.",
            path=ledger,
        ) from exc


def verify_ledger(path_or_root: str | os.PathLike[str]) -> LedgerReport:
    """Check every entry, the chain between them and the head; stop at the first problem.

    Parameters
    ----------
    path_or_root : path
        The project folder, or the ledger file itself. A missing ledger is intact and empty.

    Returns
    -------
    LedgerReport
        ``ok`` is True for an intact ledger; otherwise ``problem`` is a
        :class:`~nbmlops.errors.LedgerTamperedError` naming the first bad line and why.

    Raises
    ------
    LedgerError
        The ledger cannot be read (permissions, I/O), or it is locked for too long.

    Examples
    --------
    >>> report = verify_ledger(root)
    >>> report.ok, report.entries
    (True, 12)
    >>> if not report.ok:
    ...     raise report.problem
    """
    ledger = ledger_path(path_or_root)
    count, head = 0, GENESIS
    try:
        for entry in scan(ledger):
            count, head = entry.seq + 1, entry.hash
    except LedgerTamperedError as problem:
        return LedgerReport(path=ledger, entries=count, head=head, problem=problem)
    return LedgerReport(path=ledger, entries=count, head=head)


def read_entries(path_or_root: str | os.PathLike[str]) -> Iterator[LedgerEntry]:
    """The ledger's entries in order, each verified as it is read.

    Parameters
    ----------
    path_or_root : path
        The project folder, or the ledger file itself. A missing ledger has no entries.

    Yields
    ------
    LedgerEntry
        One per line, oldest first.

    Raises
    ------
    LedgerTamperedError
        At the first entry that fails verification, after yielding the ones before it.
    LedgerError
        The ledger cannot be read.

    Examples
    --------
    >>> [(e.seq, e.event) for e in read_entries(root)]
    [(0, 'run_started'), (1, 'stage_finished')]
    """
    yield from scan(ledger_path(path_or_root))
