"""One pipeline run per project at a time: the run lock ``.nbmlops/run.lock``.

Two runs in one project share ``build/<pipeline>/`` (products are promoted there, the executed
notebook the records thread logs is read from there), the stage states and the MLflow store. Run
side by side they mix up: one run's MLflow child run got the other's executed notebook. So every
run, from the command line or from JupyterLab, holds this lock from planning to its last record::

    with hold_run_lock(root, wait=60):      # RunInProgressError after 60 s, naming the holder
        ...

The lock is an OS file lock (``flock`` through :mod:`filelock`): the kernel drops it when its
process ends, so a run killed with ``kill -9`` or by a power cut never leaves the project locked.
Beside it, ``run.lock.json`` names the holder (run id, pid, host, user, since when, command) for
whoever is refused, and for the Jupyter server, which reads it to know what is running (so its
one-run rule survives a restart and sees runs started from a terminal). That file is written after
the lock is taken and removed before it is released; a crashed holder leaves it behind, and the next
holder overwrites it. :func:`run_holder` ignores such a leftover when its pid is gone on this host.

Nested holds in one thread (the server's runner, then ``run_pipeline`` inside it) are counted, not
deadlocked; another thread of the same process is refused like another process.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import RUN_HOLDER, RUN_LOCK
from nbmlops._core.user import current_host, current_user
from nbmlops.errors import RunInProgressError

__all__ = ["RunHolder", "hold_run_lock", "holding_run_lock", "name_run", "run_holder"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class RunHolder:
    """Who holds a project's run lock."""

    run_id: str | None
    """The pipeline run id, once the run has one (``None`` while it plans)."""
    pid: int
    host: str
    user: str
    since: str
    """UTC time the lock was taken (ISO 8601)."""
    command: str
    """What was started, with ``--param`` values left out (they may be patient data)."""
    server_run: str | None = None
    """The Jupyter server's handle when the run was started from JupyterLab."""

    @property
    def alive(self) -> bool | None:
        """Whether its process still exists: ``None`` when it runs on another host."""
        if self.host != current_host():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def error(self) -> RunInProgressError:
        """The refusal a second run gets while this one holds the project."""
        return RunInProgressError(
            handle=self.run_id or self.server_run or f"pid {self.pid}",
            pid=self.pid,
            host=self.host,
            user=self.user,
            since=self.since,
            command=self.command,
        )


@dataclass
class _Held:
    lock: Any
    holder: RunHolder
    count: int = 1


_held: dict[tuple[Path, int], _Held] = {}  # by lock file and thread
_held_guard = threading.Lock()


def run_holder(root: Path) -> RunHolder | None:
    """The run holding ``root``'s run lock, from ``run.lock.json``; None if no run holds it.

    Reads only (it never takes the lock, so asking never delays a run that starts). A holder
    whose process is gone from this host is a crash's leftover and reads as None.

    Examples
    --------
    >>> holder = run_holder(Path("."))  # doctest: +SKIP
    >>> holder.run_id, holder.pid, holder.user  # doctest: +SKIP
    ('20261202T101500Z-3fa2c1', 41234, 'analyst')
    """
    holder = _read_holder(root)
    if holder is None or holder.alive is False:
        return None
    return holder


@contextmanager
def hold_run_lock(
    root: Path, *, wait: float = 0.0, run_id: str | None = None, server_run: str | None = None
) -> Iterator[RunHolder]:
    """Hold ``root``'s run lock for the ``with`` block, waiting up to ``wait`` seconds for it.

    Parameters
    ----------
    root : Path
        Project root (holds ``.nbmlops/``).
    wait : float
        Seconds to wait for a run in progress to finish; ``0`` refuses at once, a negative
        value waits as long as it takes.
    run_id, server_run : str, optional
        Named in ``run.lock.json`` for whoever is refused (see :func:`name_run` to add the run
        id later).

    Yields
    ------
    RunHolder
        What ``run.lock.json`` says about this holder.

    Raises
    ------
    RunInProgressError
        Another run held the lock for longer than ``wait``; its fields name that run.

    Examples
    --------
    >>> with hold_run_lock(Path("."), wait=300):  # doctest: +SKIP
    ...     record = run_pipeline(spec)
    """
    from filelock import FileLock, Timeout

    key = ((root / RUN_LOCK).resolve(), threading.get_ident())
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
    if held is not None:  # this process holds it already: the runner, then run_pipeline
        try:
            if run_id and held.holder.run_id != run_id:
                name_run(root, run_id)
            yield held.holder
        finally:
            with _held_guard:
                held.count -= 1
        return
    key[0].parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(key[0], thread_local=False)  # its own descriptor: other threads wait for it
    try:
        lock.acquire(timeout=wait if wait >= 0 else -1)
    except Timeout:
        raise _refusal(root) from None
    holder = RunHolder(
        run_id=run_id,
        pid=os.getpid(),
        host=current_host(),
        user=current_user(),
        since=utc_now(),
        command=_command(sys.argv),
        server_run=server_run,
    )
    held = _Held(lock=lock, holder=holder)
    with _held_guard:
        _held[key] = held
    try:
        _write_holder(root, holder)
        yield holder
    finally:
        with _held_guard:
            del _held[key]
        # gone before the lock is free, so it never removes the next holder's file
        (root / RUN_HOLDER).unlink(missing_ok=True)
        lock.release()


def holding_run_lock(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Decorate ``run_pipeline(spec, *, wait=0.0, ...)``: the call holds ``spec.root``'s run lock.

    The call's ``wait`` keyword (default 0: refuse at once) is how long it waits for a run in
    progress; the decorated function receives it too.
    """

    @functools.wraps(func)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        spec = args[0] if args else kwargs["spec"]
        wait = kwargs.get("wait", 0.0)
        with hold_run_lock(spec.root, wait=float(wait)):  # type: ignore[attr-defined,arg-type]
            return func(*args, **kwargs)

    return locked


def name_run(root: Path, run_id: str) -> None:
    """Name the run id in ``run.lock.json`` once the run holding the lock has one.

    Does nothing when this thread does not hold ``root``'s run lock: there is no holder to name.
    """
    key = ((root / RUN_LOCK).resolve(), threading.get_ident())
    with _held_guard:
        held = _held.get(key)
        if held is None:
            return
        held.holder = replace(held.holder, run_id=run_id)
        holder = held.holder
    _write_holder(root, holder)


def _refusal(root: Path) -> RunInProgressError:
    """Who holds the lock: its file can lag the lock by an instant, so read it a few times."""
    holder = None
    for _ in range(10):
        holder = _read_holder(root)
        if holder is not None and holder.alive is not False:
            return holder.error()
        time.sleep(0.1)
    lock = root / RUN_LOCK
    if holder is not None:  # the file names a process that is gone: not the one holding it now
        return RunInProgressError(handle=f"unknown (not pid {holder.pid}, which has ended)")
    return RunInProgressError(handle=f"unknown (another process holds {lock})")


def _read_holder(root: Path) -> RunHolder | None:
    try:
        data = json.loads((root / RUN_HOLDER).read_text("utf-8"))
        return RunHolder(**data)
    except (OSError, ValueError, TypeError):  # none, half-written by an old version, or foreign
        return None


def _write_holder(root: Path, holder: RunHolder) -> None:
    write_text_atomic(root / RUN_HOLDER, json.dumps(holder.to_dict(), indent=1, sort_keys=True))


def _command(argv: list[str]) -> str:
    """``nbmlops run analysis --param model.C=…``: a ``NAME=VALUE`` word loses its value."""
    words = [Path(argv[0]).name if argv else "python", *argv[1:]]
    return " ".join(w.split("=", 1)[0] + "=…" if "=" in w else w for w in words)
