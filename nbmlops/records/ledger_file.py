"""The ledger file on disk: its lock, all-or-nothing appends, its head file, chained reading.

Writers hold an exclusive lock (``ledger.jsonl.lock``) while they read the tail and append, so
parallel stages, processes and users of a shared project folder neither corrupt the file nor fork
the chain. Readers take the same lock only for an instant, to see the head and the file's length
as one consistent state, then stream the file in constant memory. The public verbs are in
:mod:`nbmlops.records.ledger`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from nbmlops._core.atomic import write_bytes_atomic
from nbmlops._core.digests import FORMAT, canonical_json, parse_canonical
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import LEDGER_PATH, STATE_DIR
from nbmlops._core.user import current_host, current_user
from nbmlops.errors import LedgerError, LedgerTamperedError
from nbmlops.records.ledger_format import (
    GENESIS,
    LedgerEntry,
    entry_hash,
    entry_line,
    head_line,
    parse_head,
    parse_line,
)

__all__ = [
    "LOCK_TIMEOUT_S",
    "acquire",
    "append_locked",
    "checked_lines",
    "head_path",
    "head_problem",
    "ledger_path",
    "plain_data",
    "read_head",
    "scan",
]

LOCK_TIMEOUT_S = 120.0
_TAIL_BLOCK = 64 * 1024


def ledger_path(path_or_root: str | os.PathLike[str]) -> Path:
    """The ledger file of a project folder, or the file itself when given one."""
    path = Path(path_or_root)
    if path.suffix == ".jsonl" or path.is_file():
        return path
    # the .nbmlops folder itself is a likely slip; verifying a nonexistent file there would pass
    return path / LEDGER_PATH.name if path.name == STATE_DIR.name else path / LEDGER_PATH


def head_path(ledger: Path) -> Path:
    return ledger.with_suffix(".head")


def read_head(ledger: Path) -> bytes | None:
    head = head_path(ledger)
    return head.read_bytes() if head.exists() else None


def acquire(ledger: Path) -> FileLock:
    """The ledger's lock, held; :class:`LedgerError` after :data:`LOCK_TIMEOUT_S`."""
    lock = FileLock(_lock_path(ledger))
    try:
        lock.acquire(timeout=LOCK_TIMEOUT_S)
    except Timeout:
        raise LedgerError(
            f"{ledger}: could not lock {_lock_path(ledger)} within {LOCK_TIMEOUT_S:.0f} s; another "
            "nbmlops process keeps writing the ledger. Retry when it has finished.",
            path=ledger,
        ) from None
    return lock


# -- writing -------------------------------------------------------------------------------------


def append_locked(
    ledger: Path, event: str, run_id: str | None, payload: dict[str, Any]
) -> LedgerEntry:
    """Chain and write one entry (format :data:`~nbmlops._core.digests.FORMAT`); the caller
    holds the ledger lock and has checked ``payload`` with :func:`plain_data`."""
    seq, prev = _next_link(ledger)
    fields: dict[str, Any] = {
        "seq": seq, "ts": utc_now(), "who": current_user(), "host": current_host(),
        "event": event, "run_id": run_id, "data": payload, "prev": prev, "v": FORMAT,
    }  # fmt: skip
    entry = LedgerEntry(**fields, hash=entry_hash(fields))
    before = _write_line(ledger, entry_line(entry) + b"\n")
    try:
        _write_head(ledger, entry)
    except BaseException:
        # all or nothing: a head left behind twice in a row would read as tampering
        fd = os.open(ledger, os.O_WRONLY)
        try:
            _cut_back(ledger, fd, before)
        finally:
            os.close(fd)
        raise
    return entry


def plain_data(ledger: Path, event: str, run_id: object, data: object) -> dict[str, Any]:
    """``data`` as it will read back (keys as strings, tuples as lists, numbers as JCS writes
    them), checked before anything is written."""
    try:
        if not isinstance(event, str) or not event:
            raise TypeError(f"event must be a non-empty string, not {event!r}")
        if run_id is not None and not isinstance(run_id, str):
            raise TypeError(f"run_id must be a string or None, not {run_id!r}")
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping, not {type(data).__name__}")
        plain: dict[str, Any] = parse_canonical(canonical_json(dict(data)))
    except (TypeError, ValueError) as exc:
        raise LedgerError(
            f"{ledger}: event {event!r} was not recorded: {exc}. Data must be plain JSON (dicts "
            "with str keys, lists, str, finite numbers, integers within ±(2**53 - 1), bools, "
            "None); convert paths, dates and numpy values first. Nothing was written.",
            path=ledger,
        ) from None
    return plain


def _next_link(ledger: Path) -> tuple[int, str]:
    """The seq and prev of the next entry; refuses to chain onto a damaged or shortened end."""
    raw = _last_line(ledger)
    todo = (
        "Nothing was appended. `nbmlops audit verify` names what disagrees; restore the ledger "
        "from a backup"
    )
    try:
        last = None if raw is None else parse_line(raw)
        head = parse_head(read_head(ledger))
    except ValueError as exc:
        cut = (
            ", or, if an append was interrupted (a crash, a full disk), run `nbmlops audit "
            "repair`: it moves the incomplete last line to a quarantine file and records that"
        )
        raise LedgerError(
            f"{ledger}: its end is damaged: {exc}. {todo}{cut}.", path=ledger
        ) from None
    if (found := head_problem(last, head)) is not None:
        raise LedgerError(f"{ledger}: line {found[0]}: {found[1]}. {todo}.", path=ledger)
    return (0, GENESIS) if last is None else (last.seq + 1, last.hash)


def _last_line(ledger: Path) -> bytes | None:
    """The last line, read backwards from the end in blocks so appends stay O(1)."""
    if not ledger.exists():
        return None
    with ledger.open("rb") as f:
        pos, tail = f.seek(0, os.SEEK_END), b""
        while pos > 0:
            step = min(_TAIL_BLOCK, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            if (cut := tail.rfind(b"\n", 0, len(tail) - 1)) >= 0:
                return tail[cut + 1 :]
        return tail or None


def _write_line(ledger: Path, line: bytes) -> int:
    """Append ``line`` whole or not at all (the caller holds the lock); the length before it.

    A full disk or an I/O error can leave part of the line written; the file is cut back to its
    length before the write, so the next append (a later run) chains onto an intact end.
    """
    # O_APPEND and one write: even a writer that ignores the lock cannot interleave inside the line.
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        before = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            _cut_back(ledger, fd, before)
            raise
    finally:
        os.close(fd)
    return before


def _cut_back(ledger: Path, fd: int, length: int) -> None:
    try:
        os.ftruncate(fd, length)
        os.fsync(fd)
    except OSError as exc:  # the tail stays damaged: later appends refuse, repair quarantines it
        raise LedgerError(
            f"{ledger}: an append failed and its partial line could not be removed ({exc}). "
            "Free space, then run `nbmlops audit repair`, which quarantines the incomplete "
            "last line and records that.",
            path=ledger,
        ) from exc


def _write_head(ledger: Path, entry: LedgerEntry) -> None:
    # whoever may read the ledger must be able to read its head: same permission bits
    write_bytes_atomic(
        head_path(ledger), head_line(entry), mode=stat.S_IMODE(ledger.stat().st_mode)
    )


# -- reading -------------------------------------------------------------------------------------


def scan(ledger: Path) -> Iterator[LedgerEntry]:
    """Every entry, checked, then the end against the head; :class:`LedgerTamperedError` at the
    first problem, after the entries before it."""
    head_raw, size = _snapshot(ledger)
    last: LedgerEntry | None = None
    if size:
        try:
            with ledger.open("rb") as lines:
                for last in checked_lines(ledger, lines, size):
                    yield last
        except OSError as exc:
            raise LedgerError(f"{ledger}: cannot read the ledger ({exc}).", path=ledger) from exc
    try:
        head = parse_head(head_raw)
    except ValueError as exc:
        line = 1 if last is None else last.seq + 2
        reason = f"the head file {head_path(ledger)} is damaged ({exc})"
        raise LedgerTamperedError(path=ledger, line=line, reason=reason) from None
    if (found := head_problem(last, head)) is not None:
        raise LedgerTamperedError(path=ledger, line=found[0], reason=found[1])


def checked_lines(ledger: Path, lines: Iterator[bytes], size: int) -> Iterator[LedgerEntry]:
    """Entries of the first ``size`` bytes, each checked alone and against the one before it."""
    read, prev = 0, GENESIS
    for line, raw in enumerate(lines, start=1):
        if read >= size:  # appended after the snapshot; the next verification covers it
            return
        read += len(raw)
        try:
            entry = parse_line(raw)
        except ValueError as exc:
            raise LedgerTamperedError(path=ledger, line=line, reason=str(exc)) from None
        if entry.seq != line - 1:
            reason = f"seq {line - 1} expected, found {entry.seq}"
        elif entry.prev != prev:
            first = "prev of the first entry is not 64 zeros"
            reason = f"prev does not match the hash of line {line - 1}" if line > 1 else first
        else:
            yield entry
            prev = entry.hash
            continue
        raise LedgerTamperedError(path=ledger, line=line, reason=reason)


def head_problem(last: LedgerEntry | None, head: tuple[int, str]) -> tuple[int, str] | None:
    """The line and reason where the ledger's end disagrees with its head, if it does.

    The head may lag the ledger by one entry: an append that died between writing its line and
    replacing the head leaves exactly that, and the next append repairs it.
    """
    head_seq, head_hash = head
    last_seq = -1 if last is None else last.seq
    if last_seq < head_seq:
        ends = "is empty" if last is None else f"ends at seq {last_seq}"
        removed = "entries were removed from the end"
        return last_seq + 2, f"the ledger {ends} but its head records seq {head_seq} — {removed}"
    if last is None:
        return None
    if last_seq > head_seq + 1 and head_seq < 0:
        return 2, "the ledger holds more than one entry but has no head file — it was deleted"
    if last_seq > head_seq + 1:
        return head_seq + 3, (
            f"seq {head_seq + 2} lies more than one entry past the head (seq {head_seq}) — entries "
            "were written without the ledger lock, or the head was replaced by an older copy"
        )
    if (last.hash if last_seq == head_seq else last.prev) != head_hash:
        return (
            head_seq + 1,
            "its hash differs from the head's — the end of the ledger was rewritten",
        )
    return None


def _snapshot(ledger: Path) -> tuple[bytes | None, int]:
    """The head and the ledger's length as one consistent state (under the lock if we may)."""
    if not ledger.parent.is_dir():
        return None, 0
    try:
        lock: FileLock | None = acquire(ledger)
    except OSError:  # a read-only copy: no writer there to wait for
        lock = None
    try:
        return read_head(ledger), (ledger.stat().st_size if ledger.exists() else 0)
    except OSError as exc:
        raise LedgerError(f"{ledger}: cannot read the ledger ({exc}).", path=ledger) from exc
    finally:
        if lock is not None:
            lock.release()


def _lock_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".lock")
