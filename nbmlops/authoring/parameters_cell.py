"""The ``parameters`` cell of a stage notebook: where it is, what it assigns and the types of
its literals, and its source kept in step with the parameters the stage metadata declares.

The stage metadata's ``params`` and the cell must agree (:func:`nbmlops.authoring.stage.read_stage`
checks it): papermill injects run-time values after this cell, and the notebook must still run
by hand with the defaults. The cell's source is read statically
(:mod:`nbmlops.authoring.cell_code`), never run.
"""

from __future__ import annotations

import ast
import json
import math
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbmlops.authoring.cell_code import (
    assigned_values,
    assignments,
    line_assignments,
    parse_cell,
    split_lines,
)
from nbmlops.errors import ParametersCellError

__all__ = [
    "RESERVED_PARAMS",
    "assigned_names",
    "find_parameters_cell",
    "literal_type",
    "parameter_types",
    "parameters_in_source",
    "read_parameters_cell",
    "sync_parameters_cell",
    "sync_parameters_source",
]

RESERVED_PARAMS = ("upstream", "product")
"""Injected by the runner (paths of upstream products and of this stage's products). ``inputs``
(the declared inputs' paths) is injected too, and reserved in a stage that declares inputs."""

JSONValue = Any


def _cell_text(cell: Mapping[str, JSONValue]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def find_parameters_cell(nb: Mapping[str, JSONValue]) -> int | None:
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get(
            "tags", []
        ):
            return i
    return None


def read_parameters_cell(nb: Mapping[str, JSONValue], path: Path) -> tuple[int, dict[str, str]]:
    index = find_parameters_cell(nb)
    if index is None:
        raise ParametersCellError(
            f"{path}: no cell tagged 'parameters'. Add a code cell with the parameter defaults "
            "and give it the tag 'parameters' (JupyterLab: Property Inspector > Cell Tags), or "
            f"run `nbmlops stage set {path} --stage NAME` to create one.",
            path=path,
        )
    text = _cell_text(nb["cells"][index])
    return index, assigned_names(text, path=path, cell=f"the 'parameters' cell (cell {index})")


def assigned_names(text: str, *, path: Path, cell: str = "the 'parameters' cell") -> dict[str, str]:
    """Names a parameters cell's source assigns at top level, each with its value's source text.

    Raises
    ------
    ParametersCellError
        The source is not valid Python (the message names ``path``, ``cell`` and the line).
    """
    return assignments(parse_cell(text, path=path, cell=cell), text)


def parameters_in_source(text: str | None, *, path: Path) -> dict[str, JSONValue]:
    """The parameters a ``parameters`` cell's source defines, as JSON values where it can tell.

    The runner's reserved names (``upstream``, ``product``, ``inputs``) are left out; a value
    that is not a JSON-compatible literal (an expression, a tuple, ``None``) is ``None``.
    ``text=None`` (no such cell) gives ``{}``.

    Raises
    ------
    ParametersCellError
    """
    if text is None:
        return {}
    found: dict[str, JSONValue] = {}
    for name, node in assigned_values(parse_cell(text, path=path)).items():
        if name in (*RESERVED_PARAMS, "inputs"):
            continue
        try:
            value = ast.literal_eval(node)  # the parsed node: no second parse of its text
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        found[name] = value if _is_json(value) else None
    return found


def _is_json(value: JSONValue) -> bool:
    """Whether a literal is JSON as it stands (a tuple or set would change type on the way)."""
    if isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def sync_parameters_source(
    text: str | None,
    params: Mapping[str, JSONValue],
    *,
    upstream: bool,
    path: Path,
    inputs: bool = False,
) -> str:
    """A ``parameters`` cell's source with every declared parameter assigned.

    Also declares ``product = None``, for a stage with upstream stages ``upstream = None`` (and
    drops ``upstream`` from a stage without), and for a stage with declared inputs
    ``inputs = None`` (dropped when there are none). Lines already assigning the same value are
    kept as they are; ``text=None`` (no such cell yet) starts from an empty cell. This is what
    :func:`~nbmlops.authoring.stage.set_stage` writes and what the JupyterLab form writes into
    the open notebook.

    Raises
    ------
    ParametersCellError
        ``text`` is not valid Python.
    """
    current = text or ""
    tree = parse_cell(current, path=path)
    assigned = assignments(tree, current)
    by_line = line_assignments(tree)
    reserved: dict[str, JSONValue] = {"product": None}
    if upstream:
        reserved = {"upstream": None, **reserved}
    if inputs:
        reserved = {"inputs": None, **reserved}
    dropped = {name for name, keep in (("upstream", upstream), ("inputs", inputs)) if not keep}
    dropped -= set(params)  # a v1 stage may have a parameter named ``inputs``
    kept = [
        (i, line)
        for i, line in enumerate(split_lines(current))
        if not dropped.intersection(by_line.get(i, ()))
    ]
    lines = [line for _, line in kept]
    # which line first assigns each name, from one parse of the cell: linear in its size
    first_line: dict[str, int] = {}
    for new, (old, _) in enumerate(kept):
        for name in by_line.get(old, ()):
            first_line.setdefault(name, new)
    for name, value in {**reserved, **params}.items():
        if name in (*RESERVED_PARAMS, "inputs") and name in assigned and name in reserved:
            continue
        if name in assigned and _same_value(assigned[name], value):
            continue
        new_line = f"{name} = {_python_literal(value)}"
        if name in first_line:
            lines[first_line[name]] = new_line
        else:
            first_line[name] = len(lines)
            lines.append(new_line)
    return "\n".join(lines)


def sync_parameters_cell(
    nb: dict[str, JSONValue],
    params: Mapping[str, JSONValue],
    path: Path,
    *,
    upstream: bool,
    inputs: bool = False,
) -> None:
    """Assign every declared parameter in the ``parameters`` cell, creating the cell if needed.

    Also declares ``product = None``, ``upstream = None`` for a stage with upstream stages and
    ``inputs = None`` for a stage with declared inputs.
    """
    index = find_parameters_cell(nb)
    if index is None:
        new_cell: dict[str, JSONValue] = {
            "cell_type": "code",
            "execution_count": None,
            "id": uuid.uuid4().hex[:8],
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "source": [],
        }
        nb["cells"].insert(_first_code_cell(nb), new_cell)
        index = find_parameters_cell(nb)
        assert index is not None  # noqa: S101 - just inserted
    cell = nb["cells"][index]
    read_parameters_cell(nb, path)  # a syntax error is reported with the cell's number
    text = sync_parameters_source(
        _cell_text(cell), params, upstream=upstream, path=path, inputs=inputs
    )
    lines = split_lines(text)
    cell["source"] = [line + "\n" for line in lines[:-1]] + lines[-1:] if lines else []


def _first_code_cell(nb: Mapping[str, JSONValue]) -> int:
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            return i
    return len(nb["cells"])


def _python_literal(value: JSONValue) -> str:
    """A JSON value as a Python literal in ruff/black's style (double-quoted strings), so that
    formatting the notebook does not change its source and make the stage stale."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{_python_literal(k)}: {_python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(value)


def _same_value(source: str, value: JSONValue) -> bool:
    """Whether the cell's source text for a parameter already evaluates to ``value`` (an integral
    float literal such as ``1.0`` matches ``1``: JSON written by JupyterLab cannot tell them)."""
    try:
        current = ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return False
    same_type = type(current) is type(value) or (type(current) is float and type(value) is int)
    return same_type and bool(current == value)


def literal_type(source: str) -> type | None:
    try:
        return type(ast.literal_eval(source))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def parameter_types(
    text: str | None, *, path: Path, values: Mapping[str, JSONValue] | None = None
) -> dict[str, str]:
    """The type of each literal a ``parameters`` cell assigns (``int``, ``float``, ``str``,
    ``bool``, ``list``, ``dict``): what a form shows, since JSON cannot tell ``1.0`` from ``1``.
    ``values``: what :func:`parameters_in_source` already read from ``text`` (not read again)."""
    if values is None:
        values = parameters_in_source(text, path=path)
    return {name: _TYPE_NAMES[type(v)] for name, v in values.items() if type(v) in _TYPE_NAMES}
