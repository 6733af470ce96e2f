"""Errors of the audit report: a run named that was never recorded."""

from __future__ import annotations

from pathlib import Path

from nbmlops.errors.categories import NotFoundError

__all__ = ["RecordedRunNotFoundError"]


class RecordedRunNotFoundError(NotFoundError):
    """``RUN|latest|approved`` names no recorded run of this project.

    ``run`` is what was asked for, ``reason`` why nothing matches and ``path`` the folder of run
    records searched.
    """

    def __init__(self, *, run: str, reason: str, path: Path | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(f"no recorded run '{run}': {reason}{where}")
        self.run = run
        self.reason = reason
        self.path = path
