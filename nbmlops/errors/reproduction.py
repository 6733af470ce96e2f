"""Errors of reproducing a recorded run: the run, its commit, its lock, its inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from nbmlops.errors.categories import NotFoundError, RefusedError

__all__ = ["RecordedRunNotFoundError", "ReproductionError", "ReproductionRefusal"]

ReproductionRefusal = Literal[
    "no_commit",
    "commit_not_found",
    "run_dirty",
    "run_failed",
    "lock_changed",
    "lock_not_installable",
    "input_missing",
    "input_changed",
    "not_run",
]


class RecordedRunNotFoundError(NotFoundError):
    """No run record ``.nbmlops/runs/<id>.json`` matches what was named (``run``: a run id, a
    prefix, ``latest`` or ``approved``); ``reason`` says why, when more is known (a prefix that
    matches several runs, no approved run, a record that cannot be read)."""

    def __init__(self, *, run: str, root: Path, reason: str | None = None) -> None:
        why = reason or (
            "name a run id (or a unique prefix of one) listed there, `latest` or `approved`"
        )
        super().__init__(f"no recorded run {run!r} in {Path(root) / '.nbmlops' / 'runs'}: {why}")
        self.run = run
        self.root = root
        self.reason = reason


class ReproductionError(RefusedError):
    """A recorded run cannot be reproduced; nothing was run and nothing was written.

    ``run_id`` is the run, ``reason`` one of :data:`ReproductionRefusal` and ``subject`` what it
    names: the commit, the lock file, or the ``<stage>.<input>`` whose data changed.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        reason: ReproductionRefusal,
        subject: str,
        path: Path | None = None,
    ) -> None:
        super().__init__(f"cannot reproduce run {run_id}: {message}; nothing was run or written")
        self.run_id = run_id
        self.reason = reason
        self.subject = subject
        self.path = path
