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
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import stat
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from nbmlops._core.atomic import write_bytes_atomic
from nbmlops.errors import LedgerError, LedgerRepairError, LedgerTamperedError
from nbmlops.records.model import utc_now

__all__ = [
    "GENESIS",
    "REPAIRED",
    "LedgerEntry",
    "LedgerRepair",
    "LedgerReport",
    "append",
    "read_entries",
    "repair_ledger",
    "verify_ledger",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

LEDGER_PATH = Path(".nbmlops") / "ledger.jsonl"
QUARANTINE = Path(".nbmlops") / "ledger.quarantine"
REPAIRED = "ledger_repaired"
"""The event :func:`repair_ledger` appends: what it quarantined (file, SHA-256, length)."""
LOCK_TIMEOUT_S = 120.0
_TAIL_BLOCK = 64 * 1024
_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int, "ts": str, "who": str, "host": str, "event": str,
    "run_id": (str, type(None)), "data": dict, "prev": str, "hash": str,
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One ledger line. ``hash`` covers every other field; ``prev`` is the previous line's hash."""

    seq: int
    ts: str
    who: str
    host: str
    event: str
    run_id: str | None
    data: dict[str, Any]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    payload = _plain_json(ledger, event, run_id, {} if data is None else data)
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        lock = _acquire(ledger)
        try:
            return _append_locked(ledger, event, run_id, payload)
        finally:
            lock.release()
    except OSError as exc:
        raise LedgerError(
            f"{ledger}: cannot write the ledger ({exc}); nothing was appended and the ledger is "
            f"as it was. Check that you may write to {ledger.parent} and that its disk has room.",
            path=ledger,
        ) from exc


def _append_locked(
    ledger: Path, event: str, run_id: str | None, payload: dict[str, Any]
) -> LedgerEntry:
    """Chain and write one entry; the caller holds the ledger lock."""
    seq, prev = _next_link(ledger)
    fields: dict[str, Any] = {
        "seq": seq, "ts": utc_now(), "who": _who(), "host": _host(),
        "event": event, "run_id": run_id, "data": payload, "prev": prev,
    }  # fmt: skip
    entry = LedgerEntry(**fields, hash=_digest(fields))
    before = _write_line(ledger, _canonical(entry.to_dict()) + b"\n")
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
    ledger = _ledger_path(path_or_root)
    count, head = 0, GENESIS
    try:
        for entry in _scan(ledger):
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
    yield from _scan(_ledger_path(path_or_root))


def repair_ledger(path_or_root: str | os.PathLike[str]) -> LedgerRepair:
    """Move an interrupted append's incomplete last line to a quarantine file, and record that.

    Only a damaged *tail* is repaired: bytes after the last intact entry that do not end with a
    newline (a crash or power loss mid-append; a full disk no longer leaves them, see
    :func:`append`). They are copied, byte for byte, to
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
    ledger = _ledger_path(path_or_root)
    if not ledger.is_file():
        return LedgerRepair(path=ledger)
    try:
        lock = _acquire(ledger)
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
            for last in _checked_lines(ledger, lines, size):
                good += len(_canonical(last.to_dict())) + 1
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
        head = _parse_head(_read_head(ledger))
    except ValueError as exc:
        reason = f"the head file {_head_path(ledger)} is damaged ({exc})"
        raise LedgerRepairError(path=ledger, line=line + 1, reason=reason) from None
    if (found := _head_problem(last, head)) is not None:
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
    entry = _append_locked(ledger, REPAIRED, None, data)
    return LedgerRepair(
        path=ledger, quarantine=quarantine, length=len(tail), sha256=digest, entry=entry
    )


def _quarantine(ledger: Path, tail: bytes) -> Path:
    """Keep ``tail`` in a new read-only file beside the ledger, on disk before the ledger is cut."""
    folder = ledger.parent / QUARANTINE.name
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


# -- reading -------------------------------------------------------------------------------------


def _scan(ledger: Path) -> Iterator[LedgerEntry]:
    head_raw, size = _snapshot(ledger)
    last: LedgerEntry | None = None
    if size:
        try:
            with ledger.open("rb") as lines:
                for last in _checked_lines(ledger, lines, size):
                    yield last
        except OSError as exc:
            raise LedgerError(f"{ledger}: cannot read the ledger ({exc}).", path=ledger) from exc
    try:
        head = _parse_head(head_raw)
    except ValueError as exc:
        line = 1 if last is None else last.seq + 2
        reason = f"the head file {_head_path(ledger)} is damaged ({exc})"
        raise LedgerTamperedError(path=ledger, line=line, reason=reason) from None
    if (found := _head_problem(last, head)) is not None:
        raise LedgerTamperedError(path=ledger, line=found[0], reason=found[1])


def _checked_lines(ledger: Path, lines: Iterator[bytes], size: int) -> Iterator[LedgerEntry]:
    """Entries of the first ``size`` bytes, each checked alone and against the one before it."""
    read, prev = 0, GENESIS
    for line, raw in enumerate(lines, start=1):
        if read >= size:  # appended after the snapshot; the next verification covers it
            return
        read += len(raw)
        try:
            entry = _entry_from_line(raw)
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


def _entry_from_line(raw: bytes) -> LedgerEntry:
    """Parse one line and check it against its own hash; ValueError says what is wrong."""
    if not raw.endswith(b"\n"):
        raise ValueError("the line is cut off (no newline at its end): an append was interrupted")
    if not raw.strip():
        raise ValueError("the line is empty")
    try:
        obj = _DECODER.decode(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"the line is not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.keys() != _TYPES.keys():
        raise ValueError(f"the line is not a ledger entry (fields: {', '.join(_TYPES)})")
    wrong = [k for k, t in _TYPES.items() if not isinstance(obj[k], t)]
    if wrong or isinstance(obj["seq"], bool):
        raise ValueError(f"field(s) {', '.join(wrong or ['seq'])} of the entry have the wrong type")
    digest: str = obj.pop("hash")
    body = _canonical(obj)
    if hashlib.sha256(body).hexdigest() != digest:
        raise ValueError("hash does not match its contents")
    if not _is_body_with_hash(raw, body, digest):
        raise ValueError("the line is not in canonical form: it was re-serialized or hand-edited")
    return LedgerEntry(**obj, hash=digest)


def _is_body_with_hash(raw: bytes, body: bytes, digest: str) -> bool:
    """Whether ``raw`` is ``body`` with ``,"hash":"<digest>"`` where sorted keys put it.

    One serialisation per line instead of two (the 100k-entry verify is dominated by them). The
    last structural ``,"hash":"`` is the top-level key: JSON strings escape their quotes, and
    every top-level value after ``data`` is a string, a number or null.
    """
    cut = raw.rfind(_HASH_KEY)
    start = cut + len(_HASH_KEY)
    end = start + len(digest)
    return (
        cut >= 0
        and raw[start:end] == digest.encode()
        and raw[end : end + len(_HOST_KEY)] == _HOST_KEY
        and raw[:cut] == body[:cut]
        and raw[end + 1 : -1] == body[cut:]
        and raw.endswith(b"}\n")
    )


def _head_problem(last: LedgerEntry | None, head: tuple[int, str]) -> tuple[int, str] | None:
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
        lock: FileLock | None = _acquire(ledger)
    except OSError:  # a read-only copy: no writer there to wait for
        lock = None
    try:
        return _read_head(ledger), (ledger.stat().st_size if ledger.exists() else 0)
    except OSError as exc:
        raise LedgerError(f"{ledger}: cannot read the ledger ({exc}).", path=ledger) from exc
    finally:
        if lock is not None:
            lock.release()


def _parse_head(raw: bytes | None) -> tuple[int, str]:
    if raw is None:  # no head yet: as if it recorded the genesis link
        return -1, GENESIS
    obj = json.loads(raw)
    seq, digest = (obj.get("seq"), obj.get("hash")) if isinstance(obj, dict) else (None, None)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(digest, str):
        raise ValueError("expected {'seq': int, 'hash': str}")
    return seq, digest


# -- writing -------------------------------------------------------------------------------------


def _next_link(ledger: Path) -> tuple[int, str]:
    """The seq and prev of the next entry; refuses to chain onto a damaged or shortened end."""
    raw = _last_line(ledger)
    todo = (
        "Nothing was appended. `nbmlops audit verify` names what disagrees; restore the ledger "
        "from a backup"
    )
    try:
        last = None if raw is None else _entry_from_line(raw)
        head = _parse_head(_read_head(ledger))
    except ValueError as exc:
        cut = (
            ", or, if an append was interrupted (a crash, a full disk), run `nbmlops audit "
            "repair`: it moves the incomplete last line to a quarantine file and records that"
        )
        raise LedgerError(
            f"{ledger}: its end is damaged: {exc}. {todo}{cut}.", path=ledger
        ) from None
    if (found := _head_problem(last, head)) is not None:
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
        _head_path(ledger),
        _canonical({"seq": entry.seq, "hash": entry.hash}) + b"\n",
        mode=stat.S_IMODE(ledger.stat().st_mode),
    )


def _acquire(ledger: Path) -> FileLock:
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


def _plain_json(ledger: Path, event: str, run_id: object, data: object) -> dict[str, Any]:
    """``data`` as it will read back (keys as strings, tuples as lists), checked before writing."""
    try:
        if not isinstance(event, str) or not event:
            raise TypeError(f"event must be a non-empty string, not {event!r}")
        if run_id is not None and not isinstance(run_id, str):
            raise TypeError(f"run_id must be a string or None, not {run_id!r}")
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping, not {type(data).__name__}")
        plain: dict[str, Any] = json.loads(_canonical(dict(data)))
    except (TypeError, ValueError) as exc:
        raise LedgerError(
            f"{ledger}: event {event!r} was not recorded: {exc}. Data must be plain JSON (dicts "
            "with str keys, lists, str, finite numbers, bools, None); convert paths, dates and "
            "numpy values first. Nothing was written.",
            path=ledger,
        ) from None
    return plain


# -- small pieces --------------------------------------------------------------------------------


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(obj).encode()


def _digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in fields.items() if k != "hash"})).hexdigest()


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# one encoder and decoder for every line: json.dumps/loads build a new one per call with options
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_HASH_KEY = b',"hash":"'
_HOST_KEY = b'","host":'


def _ledger_path(path_or_root: str | os.PathLike[str]) -> Path:
    path = Path(path_or_root)
    if path.suffix == ".jsonl" or path.is_file():
        return path
    # the .nbmlops folder itself is a likely slip; verifying a nonexistent file there would pass
    return path / LEDGER_PATH.name if path.name == LEDGER_PATH.parent.name else path / LEDGER_PATH


def _head_path(ledger: Path) -> Path:
    return ledger.with_suffix(".head")


def _lock_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".lock")


def _read_head(ledger: Path) -> bytes | None:
    head = _head_path(ledger)
    return head.read_bytes() if head.exists() else None


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER/LOGNAME, as in some containers
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _host() -> str:
    return socket.gethostname() or "unknown"
