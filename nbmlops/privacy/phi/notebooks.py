"""Scanning and redacting the outputs of a notebook's code cells."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import MalformedNotebookError
from nbmlops.privacy.phi.patterns import Identifiers, PhiKind, current_registry
from nbmlops.privacy.phi.text import joined, json_strings, redact_json, redact_text, scan_text

__all__ = ["NotebookFinding", "load_notebook", "redact_notebook", "scan_notebook"]


@dataclass(frozen=True, kw_only=True)
class NotebookFinding:
    """A :class:`PhiFinding` in one output of one code cell.

    Attributes
    ----------
    cell_index : int
        Index of the cell in the notebook, from 0, markdown cells included.
    output_index : int
        Index of the output in the cell, from 0.
    source : str
        Which part of the output: ``"stream:stdout"``, ``"error"``, or the MIME type
        (``"text/plain"``, ``"text/html"`` ...). JSON data, and an error's value and traceback,
        are scanned one string at a time.
    kind, line, column, excerpt
        As in :class:`PhiFinding`, with lines counted within that part (or that string).
    """

    cell_index: int
    output_index: int
    source: str
    kind: PhiKind
    line: int
    column: int
    excerpt: str

    def to_dict(self) -> dict[str, object]:
        """Where and what, without the excerpt: safe for logs, errors and the ledger."""
        return {
            "kind": self.kind,
            "cell_index": self.cell_index,
            "output_index": self.output_index,
            "source": self.source,
            "line": self.line,
        }


def scan_notebook(
    notebook: Mapping[str, Any] | Path | str, *, identifiers: Identifiers = "project"
) -> tuple[NotebookFinding, ...]:
    """Find what looks like PHI in the outputs of a notebook's code cells.

    Only outputs are read (see the module docstring for which); cell sources, the papermill
    ``parameters`` cell's text and the notebook's metadata are not.

    Parameters
    ----------
    notebook : Mapping, Path or str
        The notebook parsed from JSON, or the path of an ``.ipynb`` file.

    Returns
    -------
    tuple of NotebookFinding
        In notebook order; empty for a clean notebook.

    Raises
    ------
    NotebookError
        If the file cannot be read.
    MalformedNotebookError
        If it is not JSON, or its cells or outputs are not where nbformat 4 puts them.

    Examples
    --------
    >>> nb = {"nbformat": 4, "cells": [{"cell_type": "code", "source": "print(row)",
    ...     "outputs": [{"output_type": "stream", "name": "stdout", "text": "Ann 617-555-0123"}]}]}
    >>> [(f.cell_index, f.output_index, f.kind) for f in scan_notebook(nb)]
    [(0, 0, 'phone')]
    """
    path, parsed = _notebook(notebook)
    registry = current_registry() if identifiers == "project" else identifiers
    return tuple(
        NotebookFinding(
            cell_index=cell_index,
            output_index=output_index,
            source=source,
            kind=finding.kind,
            line=finding.line,
            column=finding.column,
            excerpt=finding.excerpt,
        )
        for cell_index, output_index, source, text in _output_texts(path, parsed)
        for finding in scan_text(text, identifiers=registry)
    )


def redact_notebook(
    notebook: Mapping[str, Any] | Path | str, *, identifiers: Identifiers = "project"
) -> dict[str, Any]:
    """A copy of the notebook with every finding in its code cells' outputs redacted.

    The input is not changed. Text kept as a list of lines stays a list of lines; JSON data is
    redacted inside its strings and stays JSON.

    Raises
    ------
    NotebookError, MalformedNotebookError
        As :func:`scan_notebook`.

    Examples
    --------
    >>> out = {"output_type": "stream", "name": "stdout", "text": ["SSN 219-09-9999\\n"]}
    >>> nb = {"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": [out]}]}
    >>> redact_notebook(nb)["cells"][0]["outputs"][0]["text"]
    ['SSN [REDACTED:ssn]\\n']
    """
    path, parsed = _notebook(notebook)
    ids = current_registry() if identifiers == "project" else identifiers
    copied: dict[str, Any] = copy.deepcopy(dict(parsed))
    for cell in _code_cells(path, copied):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and "text" in output:
                output["text"] = _redact_lines(output["text"], ids)
            elif output.get("output_type") == "error":
                for key in ("evalue", "traceback"):
                    if key in output:
                        output[key] = redact_json(output[key], ids)
            elif isinstance(output.get("data"), Mapping):
                for mimetype, payload in output["data"].items():
                    if _scanned(mimetype) and mimetype.startswith("text/"):
                        output["data"][mimetype] = _redact_lines(payload, ids)
                    elif _scanned(mimetype):
                        output["data"][mimetype] = redact_json(payload, ids)
    return copied


def _notebook(notebook: Mapping[str, Any] | Path | str) -> tuple[Path, Mapping[str, Any]]:
    if isinstance(notebook, Mapping):
        return Path("<notebook>"), notebook
    return Path(notebook), load_notebook(Path(notebook))


def load_notebook(path: Path) -> Mapping[str, Any]:
    from nbmlops._core.notebooks import read_notebook

    return read_notebook(path)


def _code_cells(path: Path, notebook: Mapping[str, Any]) -> Iterator[Any]:
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise MalformedNotebookError(path=path, detail="'cells' is not a list")
    for index, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or not isinstance(cell.get("outputs", []), list):
            raise MalformedNotebookError(path=path, detail=f"cell {index} is malformed")
        yield cell if cell.get("cell_type") == "code" else {}


def _output_texts(path: Path, notebook: Mapping[str, Any]) -> Iterator[tuple[int, int, str, str]]:
    """``(cell_index, output_index, source, text)`` for every scanned part of every output."""
    for cell_index, cell in enumerate(_code_cells(path, notebook)):
        for output_index, output in enumerate(cell.get("outputs", [])):
            if not isinstance(output, Mapping):
                raise MalformedNotebookError(
                    path=path, detail=f"cell {cell_index}, output {output_index} is malformed"
                )
            kind = output.get("output_type")
            if kind == "stream":
                source = f"stream:{output.get('name', 'stdout')}"
                yield cell_index, output_index, source, joined(output.get("text", ""))
            elif kind == "error":
                parts = [output.get("evalue", ""), output.get("traceback", [])]
                for text in json_strings(parts):
                    yield cell_index, output_index, "error", text
            elif isinstance(output.get("data"), Mapping):
                for mimetype, payload in output["data"].items():
                    if _scanned(mimetype) and mimetype.startswith("text/"):
                        yield cell_index, output_index, mimetype, joined(payload)
                    elif _scanned(mimetype):
                        for text in json_strings(payload):
                            yield cell_index, output_index, mimetype, text


def _scanned(mimetype: str) -> bool:
    if mimetype.startswith("text/"):
        return True
    # scrapbook scraps (application/scrapbook.scrap.*+json) included: a value recorded on
    # purpose is still an identifier if it is one, and it is logged as a scrap artifact too
    return mimetype.startswith("application/") and (
        mimetype == "application/json" or mimetype.endswith("+json")
    )


def _redact_lines(text: object, identifiers: Identifiers) -> str | list[str]:
    if isinstance(text, list):
        return redact_text(joined(text), identifiers=identifiers).splitlines(keepends=True)
    return redact_text(str(text), identifiers=identifiers)
