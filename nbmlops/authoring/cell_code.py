"""What a notebook's code cells assign, read statically with ``ast`` (nothing is run).

Two readers: the ``parameters`` cell's top-level assignments with their value's source text (what
a stage declares, in time linear in the cell's size: the Jupyter server parses it for every
keystroke of the Stage form), and the names later code cells bind again in the notebook's global
scope (a declared parameter assigned after the ``parameters`` cell silently replaces the value a
run injects).

A cell tagged ``injected-parameters`` is papermill's: the values a run injects, or (inserted by
"Load stage paths" for a run by hand) the paths a run would inject. No run executes such a cell
from the source notebook (papermill replaces it, nbmlops and Ploomber drop it), so it is not the
notebook's code: it is left out of the checks here and of the stage's source digest.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nbmlops.errors import ParameterReassignedError, ParametersCellError

__all__ = [
    "INJECTED_TAG",
    "assigned_values",
    "assignments",
    "check_parameters_not_reassigned",
    "is_injected",
    "line_assignments",
    "parse_cell",
    "split_lines",
]

INJECTED_TAG = "injected-parameters"
"""papermill's tag of the cell that holds injected values (Ploomber uses it too)."""


def is_injected(cell: Mapping[str, Any]) -> bool:
    """Whether ``cell`` is tagged ``injected-parameters`` (never the notebook's own code)."""
    metadata = cell.get("metadata")
    tags = metadata.get("tags", []) if isinstance(metadata, Mapping) else []
    return isinstance(tags, list) and INJECTED_TAG in tags


def parse_cell(text: str, *, path: Path, cell: str = "the 'parameters' cell") -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise ParametersCellError(
            f"{path}: {cell} is not valid Python: {exc.msg} on line {exc.lineno}.",
            path=path,
        ) from None


def assignments(tree: ast.Module, text: str) -> dict[str, str]:
    segment = _SourceSegments(text)
    return {name: segment(value) for name, value in assigned_values(tree).items()}


def assigned_values(tree: ast.Module) -> dict[str, ast.expr]:
    """Name -> value node, for each top-level ``name = value`` / ``name: T = value``."""
    assigned: dict[str, ast.expr] = {}
    for node in tree.body:
        targets: Sequence[ast.expr]
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                assigned[target.id] = value
    return assigned


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""The tokenizer's line breaks (``str.splitlines`` also splits at form feeds and Unicode line
separators, which may sit inside a string literal)."""


def split_lines(text: str) -> list[str]:
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines and not lines[-1] else lines


def line_assignments(tree: ast.Module) -> dict[int, tuple[str, ...]]:
    """Line index -> the names a statement alone on that line assigns (``n = 1``, ``n: int = 1``):
    the lines :func:`sync_parameters_source` may rewrite."""
    statements: dict[int, int] = {}
    for node in tree.body:
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            statements[line] = statements.get(line, 0) + 1
    found: dict[int, tuple[str, ...]] = {}
    for node in tree.body:
        if node.end_lineno != node.lineno or statements[node.lineno] != 1:
            continue
        if isinstance(node, ast.Assign):
            names = tuple(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = (node.target.id,)
        else:
            continue
        found[node.lineno - 1] = names
    return found


class _SourceSegments:
    """``ast.get_source_segment`` in linear time: it splits the whole source again on every call,
    which made a 42 KB parameters cell take seconds to read (and the server wait with it)."""

    def __init__(self, text: str) -> None:
        # the same line breaks as the tokenizer (and get_source_segment): not str.splitlines()
        self._lines = [m.group().encode() for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)?", text)]

    def __call__(self, node: ast.expr) -> str:
        if node.end_lineno is None or node.end_col_offset is None:
            return ""
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self._lines[first][node.col_offset : node.end_col_offset].decode()
        parts = [self._lines[first][node.col_offset :], *self._lines[first + 1 : last]]
        return b"".join([*parts, self._lines[last][: node.end_col_offset]]).decode()


def check_parameters_not_reassigned(
    cells: Sequence[Mapping[str, Any]],
    params: set[str],
    *,
    stage: str,
    path: Path,
    after: int,
) -> None:
    """Refuse a code cell after the ``parameters`` cell (index ``after``) that binds a declared
    parameter again at the notebook's top level: papermill injects values after the
    ``parameters`` cell, so a later ``min_auroc = 0.7`` silently replaces ``--param``'s value.

    Assignments of every form count (``=``, ``+=``, annotated, unpacking, ``for``, ``with ... as``,
    ``import ... as``, ``except ... as``, ``:=``, ``del``, ``global`` in a function); names bound
    inside a function or class body do not. IPython's line magics are skipped; a cell that is not
    Python even then (a cell magic such as ``%%bash``) is not checked.

    Raises
    ------
    ParameterReassignedError
        The first such assignment: its cell (0-based) and line.
    """
    if not params:
        return
    for index in range(after + 1, len(cells)):
        cell = cells[index]
        if cell.get("cell_type") != "code" or is_injected(cell):
            continue
        source = cell.get("source", "")
        tree = _parse_code_cell("".join(source) if isinstance(source, list) else str(source))
        if tree is None:
            continue
        found = [(line, name) for name, line in _module_bindings(tree) if name in params]
        if found:
            line, name = min(found)
            raise ParameterReassignedError(
                path=path, stage=stage, param=name, cell_index=index, line=line
            )


def _bound_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return node.id
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return node.name
    return node.rest if isinstance(node, ast.MatchMapping) else None


_MAGIC_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_]\w*)\s*=\s*[!%]")


def _parse_code_cell(text: str) -> ast.Module | None:
    """A code cell as Python, with IPython's line magics and shell escapes made inert (kept as
    lines, so line numbers hold); ``None`` for a cell magic or a cell that is not Python."""
    if text.lstrip().startswith("%%"):
        return None
    lines = []
    for line in split_lines(text):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if magic := _MAGIC_ASSIGNMENT.match(line):  # `files = !ls` binds `files`
            lines.append(f"{magic.group(1)}{magic.group(2)} = None")
        elif stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped):
            lines.append(f"{indent}pass")
        else:
            lines.append(line)
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _module_bindings(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """``(name, line)`` for every name the cell binds in the notebook's global scope."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name, node.lineno
            for inner in ast.walk(node):  # `global p` makes the function's `p = ...` global
                if isinstance(inner, ast.Global):
                    yield from ((name, inner.lineno) for name in inner.names)
            continue  # defaults and decorators cannot bind a name except with `:=`
        if isinstance(
            node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
        ):
            todo += [n for n in ast.walk(node) if isinstance(n, ast.NamedExpr)]
            continue  # their own names are local; only `:=` reaches the global scope
        if isinstance(node, ast.AnnAssign) and node.value is None:
            continue  # `p: float` binds nothing
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                yield (alias.asname or alias.name.partition(".")[0]), node.lineno
        elif (name := _bound_name(node)) is not None:
            yield name, getattr(node, "lineno", 0)
        todo += ast.iter_child_nodes(node)
