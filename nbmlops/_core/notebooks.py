"""The one notebook reader: a notebook is JSON; nbformat is not imported to read one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nbmlops.errors import MalformedNotebookError

__all__ = ["read_notebook"]


def read_notebook(path: Path) -> dict[str, Any]:
    """Read a notebook as plain JSON, checking only what nbmlops relies on.

    Raises
    ------
    MalformedNotebookError
        The file is missing, not JSON, or not an nbformat 4 notebook.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MalformedNotebookError(path=path, detail="file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedNotebookError(path=path, detail=f"cannot read: {exc}") from exc
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedNotebookError(
            path=path, detail=f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise MalformedNotebookError(path=path, detail="no list of cells")
    if nb.get("nbformat") != 4:
        raise MalformedNotebookError(
            path=path, detail=f"nbformat {nb.get('nbformat')!r}; only version 4 is supported"
        )
    if not isinstance(nb.get("metadata", {}), dict):
        raise MalformedNotebookError(path=path, detail="notebook metadata is not an object")
    return nb
