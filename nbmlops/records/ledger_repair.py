"""Repair of the one damage a crash can leave: an incomplete last line, moved to a quarantine.

:func:`repair_ledger` (``nbmlops audit repair``) copies the torn tail byte for byte to
``.nbmlops/ledger.quarantine/<UTC time>.jsonl`` (read-only, never deleted), cuts it from the
ledger and records that as a ``ledger_repaired`` entry. Any other damage is tampering, refused
untouched.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from nbmlops._core.ids import utc_now
from nbmlops._core.paths import LEDGER_QUARANTINE
from nbmlops.errors import LedgerError, LedgerRepairError, LedgerTamperedError
from nbmlops.records.ledger_file import (
    acquire,
    append_locked,
    checked_lines,
    head_path,
    head_problem,
    ledger_path,
    read_head,
)
from nbmlops.records.ledger_format import LedgerEntry, entry_line, parse_head

__all__ = ["REPAIRED", "LedgerRepair", "repair_ledger"]

REPAIRED = "ledger_repaired"
"""The event :func:`repair_ledger` appends: what it quarantined (file, SHA-256, length)."""


@dataclass(frozen=True, kw_only=True)
class LedgerRepair:
    """What :func:`repair_ledger` did: the damaged tail's new home and the entry recording it.

    ``quarantine`` is None (and ``entry`` too) when the ledger had no damaged tail.
    """

    path: Path
    quarantine: Path | None = None
    length: int = 0
    sha256: str = ""
    entry: LedgerEntry | None = None


def repair_ledger(path_or_root: str | os.PathLike[str]) -> LedgerRepair:
    """Move an interrupted append's incomplete last line to a quarantine file, and record that.

    Only a damaged *tail* is repaired: bytes after the last intact entry that do not end with a
    newline (a crash or power loss mid-append; a full disk no longer leaves them, see
    :func:`nbmlops.records.ledger.append`). They are copied, byte for byte, to
    ``.nbmlops/ledger.quarantine/<UTC time>.jsonl`` (read-only, never deleted), cut from the
    ledger, and a ``ledger_repaired`` entry records the quarantined bytes' SHA-256 and length.
    Anything else - a bad line with intact lines after it, a complete line that fails its hash, a
    head that disagrees - is not what a crash leaves, and is refused untouched.

    Parameters
    ----------
    path_or_root : path
        The project folder, or the ledger file itself.

    Returns
    -------
    LedgerRepair
        With ``quarantine`` None when there was nothing to repair.

    Raises
    ------
    LedgerRepairError
        The damage is not a damaged tail; nothing was changed.
    LedgerError
        The ledger cannot be locked, read or written.

    Examples
    --------
    >>> done = repair_ledger(root)
    >>> done.quarantine, done.length, done.entry.event
    (PosixPath('.../.nbmlops/ledger.quarantine/20260102T030405Z.jsonl'), 37, 'ledger_repaired')
    """
    ledger = ledger_path(path_or_root)
    if not ledger.is_file():
        return LedgerRepair(path=ledger)
    try:
        lock = acquire(ledger)
        try:
            return _repair_locked(ledger)
        finally:
            lock.release()
    except OSError as exc:
        raise LedgerError(f"{ledger}: cannot repair the ledger ({exc}).", path=ledger) from exc


def _repair_locked(ledger: Path) -> LedgerRepair:
    size = ledger.stat().st_size
    good, last, line = 0, None, 0
    with ledger.open("rb") as lines:
        try:
            for last in checked_lines(ledger, lines, size):
                good += len(entry_line(last)) + 1
                line += 1
        except LedgerTamperedError as bad:
            lines.seek(good)
            tail = lines.read()
            if b"\n" in tail:
                reason = (
                    f"{bad.reason}, and it is a complete line"
                    + (" with more lines after it" if tail.index(b"\n") < len(tail) - 1 else "")
                    + ": an edit (tampering), not an interrupted append"
                )
                raise LedgerRepairError(path=ledger, line=bad.line, reason=reason) from None
        else:
            tail = b""
    try:
        head = parse_head(read_head(ledger))
    except ValueError as exc:
        reason = f"the head file {head_path(ledger)} is damaged ({exc})"
        raise LedgerRepairError(path=ledger, line=line + 1, reason=reason) from None
    if (found := head_problem(last, head)) is not None:
        raise LedgerRepairError(path=ledger, line=found[0], reason=found[1])
    if not tail:
        return LedgerRepair(path=ledger)
    quarantine = _quarantine(ledger, tail)
    with ledger.open("r+b") as f:
        f.truncate(good)
        f.flush()
        os.fsync(f.fileno())
    digest = hashlib.sha256(tail).hexdigest()
    where = quarantine.relative_to(ledger.parent.parent).as_posix()
    data = {"quarantine": where, "sha256": digest, "length": len(tail), "line": line + 1}
    entry = append_locked(ledger, REPAIRED, None, data)
    return LedgerRepair(
        path=ledger, quarantine=quarantine, length=len(tail), sha256=digest, entry=entry
    )


def _quarantine(ledger: Path, tail: bytes) -> Path:
    """Keep ``tail`` in a new read-only file beside the ledger, on disk before the ledger is cut."""
    folder = ledger.parent / LEDGER_QUARANTINE.name
    folder.mkdir(exist_ok=True)
    stamp = utc_now().replace("-", "").replace(":", "").replace(".", "")
    for n in range(1000):
        target = folder / (f"{stamp}.jsonl" if n == 0 else f"{stamp}-{n}.jsonl")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            continue
        try:
            view = memoryview(tail)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return target
    raise LedgerError(f"{folder}: cannot name a new quarantine file.", path=ledger)
