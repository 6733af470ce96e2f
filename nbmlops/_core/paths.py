"""Where a project is: its root, found from any folder inside it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT_MARKERS", "find_project_root"]

ROOT_MARKERS = ("uv.lock", "pyproject.toml", ".nbmlops", ".git")


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with uv.lock, pyproject.toml, .nbmlops or .git."""
    start = Path(start).absolute()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return Path.cwd().absolute()
