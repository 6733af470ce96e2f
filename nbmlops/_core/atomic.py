"""Atomic file writes: a reader sees the old file or the new one, never half of either.

papermill and Ploomber write their outputs with a plain ``open(..., "w")``; a crash or a full disk
mid-write leaves truncated JSON where a good file was (STACK-NOTES). Everything nbmlops writes that
another step reads back goes through here: temp file in the same folder, fsync, ``os.replace``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_text_atomic"]


def write_bytes_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    The new file keeps the old file's permission bits (or gets ``mode``, or what ``open()``
    would give a new file); the folder is fsynced so the rename survives a power cut.

    Raises
    ------
    OSError
        The write failed (e.g. the disk is full); ``path`` is unchanged and no temp file remains.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            tmp.chmod(mode)
        elif path.exists():
            tmp.chmod(path.stat().st_mode & 0o777)
        else:  # mkstemp makes 0600; a new file gets the permissions open() would have given it
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text_atomic(path: Path, text: str) -> None:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def secret_file(path: Path, *, size: int = 32) -> bytes:
    """The random secret kept in ``path`` (mode 0600), made on first use.

    Written whole under a private name, then linked into place: ``os.link`` never overwrites, so
    processes racing to make it all end up reading the one complete secret that won.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:  # another process made it first: theirs is the secret
        pass
    finally:
        draft.unlink()
    return path.read_bytes()
