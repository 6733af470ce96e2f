"""Errors of the project itself: no project where one is needed, or one ``nbmlops init`` cannot
complete without overwriting what is there."""

from __future__ import annotations

from pathlib import Path

from nbmlops.errors.categories import ConflictError, SetupError

__all__ = ["NotAProjectError", "ProjectConflictError", "ProjectNotWritableError"]


class NotAProjectError(SetupError):
    """No ``pyproject.toml`` or ``uv.lock`` at the project root found from ``path``."""

    def __init__(self, *, path: Path) -> None:
        super().__init__(
            f"{path} is not in an nbmlops project (no pyproject.toml or uv.lock there or in a "
            "folder above it). Make one with `nbmlops init` (in this folder or a new one), then "
            "`uv sync` in it, and run nbmlops from there."
        )
        self.path = path


class ProjectConflictError(ConflictError):
    """``nbmlops init`` found a file it would have to overwrite; nothing was written."""

    def __init__(self, *, path: Path, reason: str, fix: str) -> None:
        super().__init__(f"{path}: {reason}. Nothing was written. {fix}")
        self.path = path
        self.reason = reason


class ProjectNotWritableError(SetupError):
    """``nbmlops init`` cannot write into the folder it was given."""

    def __init__(self, *, path: Path, detail: str) -> None:
        super().__init__(
            f"cannot write {path} ({detail}). Choose a folder you can write to, or change its "
            "permissions, and run `nbmlops init` again (it adds only what is missing)."
        )
        self.path = path
        self.detail = detail
