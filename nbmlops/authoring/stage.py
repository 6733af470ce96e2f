"""Stage metadata on a notebook: read, validate and write it; keep the parameters cell in step.

A notebook becomes a pipeline stage when its notebook-level metadata holds an ``nbmlops`` object
that satisfies ``nbmlops/schema/stage.v1.json`` (the contract with the JupyterLab extension).

Reading needs no nbformat: a notebook is JSON, and ``import nbformat`` costs over a second on these
machines. Writing keeps nbformat's own layout (``indent=1``, sorted keys, a trailing newline) so a
tagged notebook diffs cleanly in git, and it is atomic: a crash never leaves half a notebook.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.notebooks import read_notebook
from nbmlops.authoring.cell_code import (
    assigned_values,
    assignments,
    check_parameters_not_reassigned,
    line_assignments,
    parse_cell,
    split_lines,
)
from nbmlops.errors import (
    NotebookError,
    ParametersCellError,
    StageMetadataError,
)

__all__ = [
    "METADATA_KEY",
    "RESERVED_PARAMS",
    "StageSpec",
    "assigned_names",
    "load_stage",
    "parameter_types",
    "parameters_in_source",
    "read_notebook",
    "read_stage",
    "set_stage",
    "sync_parameters_source",
    "validate_stage_metadata",
    "write_notebook",
]

METADATA_KEY = "nbmlops"
RESERVED_PARAMS = ("upstream", "product")
"""Injected by the runner (paths of upstream products and of this stage's products)."""

DEFAULT_KERNEL = "python3"
DEFAULT_ENVIRONMENT = "uv.lock"

JSONValue = Any


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    """One tagged notebook, validated: everything needed to plan and run it."""

    name: str
    path: Path
    """The source notebook (absolute). A run never writes it."""
    upstream: tuple[str, ...] = ()
    products: dict[str, str] = field(default_factory=dict)
    """Product name -> path relative to the stage's product folder."""
    params: dict[str, JSONValue] = field(default_factory=dict)
    kernel: str = DEFAULT_KERNEL
    environment: str = DEFAULT_ENVIRONMENT
    source_digest: str = ""
    """SHA-256 of the cells' types and sources: outputs and execution counts do not count."""
    parameters_cell: int | None = None
    """Index of the cell tagged ``parameters``."""
    cell_params: dict[str, str] = field(default_factory=dict)
    """Names the parameters cell assigns, with their source text (``"42"``, ``"None"``)."""

    def metadata(self) -> dict[str, JSONValue]:
        """The ``nbmlops`` metadata object this spec was read from (defaults filled in)."""
        return {
            "stage": self.name,
            "upstream": list(self.upstream),
            "products": dict(self.products),
            "params": dict(self.params),
            "kernel": self.kernel,
            "environment": self.environment,
        }


# -- reading -------------------------------------------------------------------------------------


def read_stage(path: Path) -> StageSpec | None:
    """The stage a notebook declares, or ``None`` when it carries no ``nbmlops`` metadata.

    Raises
    ------
    MalformedNotebookError, StageMetadataError, ParametersCellError

    Examples
    --------
    >>> spec = read_stage(Path("notebooks/train.ipynb"))  # doctest: +SKIP
    >>> spec.name, spec.upstream                           # doctest: +SKIP
    ('train', ('features',))
    """
    path = Path(path).absolute()
    nb = read_notebook(path)
    meta = nb.get("metadata", {}).get(METADATA_KEY)
    if meta is None:
        return None
    return _spec_from(nb, meta, path)


def load_stage(path: Path) -> StageSpec:
    """Like :func:`read_stage`, but a notebook without stage metadata is an error."""
    spec = read_stage(path)
    if spec is None:
        raise NotebookError(
            f"{path}: not tagged as a pipeline stage. Tag it with "
            f"`nbmlops stage set {path} --stage NAME`.",
            path=Path(path),
        )
    return spec


def _spec_from(nb: Mapping[str, JSONValue], meta: JSONValue, path: Path) -> StageSpec:
    validate_stage_metadata(meta, path=path)
    index, assigned = _parameters_cell(nb, path)
    params: dict[str, JSONValue] = dict(meta.get("params", {}))
    declared = set(params)
    in_cell = set(assigned) - set(RESERVED_PARAMS)
    for name in sorted(declared - in_cell):
        raise ParametersCellError(
            f"{path}: parameter '{name}' is declared in the stage metadata but not assigned in "
            f"the 'parameters' cell. Add `{name} = {json.dumps(params[name])}` to that cell.",
            path=path,
            param=name,
        )
    for name in sorted(in_cell - declared):
        raise ParametersCellError(
            f"{path}: the 'parameters' cell assigns '{name}', which the stage metadata does not "
            f"declare. Declare it with `nbmlops stage set {path} --param {name}=VALUE` or "
            "remove it from the cell.",
            path=path,
            param=name,
        )
    _check_reserved(path, assigned, has_upstream=bool(meta.get("upstream")))
    check_parameters_not_reassigned(
        nb["cells"], set(params), stage=meta["stage"], path=path, after=index
    )
    for name, value in params.items():
        if type(value) is int and _literal_type(assigned[name]) is float:
            # JupyterLab writes notebook JSON from JavaScript numbers: a default of 1.0 saved
            # there reads back as 1. The parameters cell's literal keeps the type.
            params[name] = float(value)
    return StageSpec(
        name=meta["stage"],
        path=path,
        upstream=tuple(meta.get("upstream", [])),
        products=dict(meta.get("products", {})),
        params=params,
        kernel=meta.get("kernel", DEFAULT_KERNEL),
        environment=meta.get("environment", DEFAULT_ENVIRONMENT),
        source_digest=source_digest(nb),
        parameters_cell=index,
        cell_params=assigned,
    )


def _check_reserved(path: Path, assigned: Mapping[str, str], *, has_upstream: bool) -> None:
    """``product`` (and ``upstream`` when there are upstream stages) must be declared as ``None``.

    Ploomber passes exactly these names and refuses a parameters cell that does not declare them
    (or declares ``upstream`` for a stage without upstream), so this keeps every tagged notebook
    runnable by plain ``ploomber build`` as well as by nbmlops.
    """
    wanted = {"product": True, "upstream": has_upstream}
    for name, required in wanted.items():
        if required and name not in assigned:
            raise ParametersCellError(
                f"{path}: the 'parameters' cell must declare `{name} = None` (the runner injects "
                f"the {name} paths there). Add it, or run `nbmlops stage set {path}`.",
                path=path,
                param=name,
            )
        if not required and name in assigned:
            raise ParametersCellError(
                f"{path}: the 'parameters' cell declares `{name}`, but the stage has no upstream "
                "stages; remove that line (Ploomber refuses undeclared parameters).",
                path=path,
                param=name,
            )


@cache
def _validator() -> Any:
    import jsonschema  # ~0.2 s once the CLI has disabled the rfc3987 grammar build

    schema = json.loads(
        resources.files("nbmlops").joinpath("schema/stage.v1.json").read_text(encoding="utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_stage_metadata(meta: JSONValue, *, path: Path) -> None:
    """Check an ``nbmlops`` metadata object against the stage schema and the JSON-only rule.

    Raises
    ------
    StageMetadataError
        With ``field`` naming the first offending field (``params.seed``, ``upstream[1]``...).
    """
    errors = sorted(_validator().iter_errors(meta), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path)
        raise StageMetadataError(path=path, field=where, detail=err.message)
    for name, value in meta.get("params", {}).items():
        problem = json_problem(value)
        if problem:
            raise StageMetadataError(path=path, field=f"params.{name}", detail=problem)


def json_problem(value: JSONValue) -> str | None:
    """Why ``value`` is not plain JSON (NaN, infinities, non-string keys), or ``None``."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"not plain JSON ({exc})"
    return None


def source_digest(nb: Mapping[str, JSONValue]) -> str:
    """SHA-256 of what the notebook would execute and show: cell types, sources and tags.

    Outputs, execution counts and other metadata are left out, so running a notebook by hand in
    JupyterLab does not make its stage stale; the stage's own metadata is covered elsewhere.
    """
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        tags = cell.get("metadata", {}).get("tags", [])
        h.update(json.dumps([cell.get("cell_type"), text, tags]).encode())
    return h.hexdigest()


def _cell_text(cell: Mapping[str, JSONValue]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _find_parameters_cell(nb: Mapping[str, JSONValue]) -> int | None:
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get(
            "tags", []
        ):
            return i
    return None


def _parameters_cell(nb: Mapping[str, JSONValue], path: Path) -> tuple[int, dict[str, str]]:
    index = _find_parameters_cell(nb)
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

    The runner's reserved names (``upstream``, ``product``) are left out; a value that is not a
    JSON-compatible literal (an expression, a tuple, ``None``) is ``None``. ``text=None`` (no
    such cell) gives ``{}``.

    Raises
    ------
    ParametersCellError
    """
    if text is None:
        return {}
    found: dict[str, JSONValue] = {}
    for name, node in assigned_values(parse_cell(text, path=path)).items():
        if name in RESERVED_PARAMS:
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
) -> str:
    """A ``parameters`` cell's source with every declared parameter assigned.

    Also declares ``product = None`` and, for a stage with upstream stages, ``upstream = None``
    (and drops ``upstream`` from a stage without). Lines already assigning the same value are
    kept as they are; ``text=None`` (no such cell yet) starts from an empty cell. This is what
    :func:`set_stage` writes and what the JupyterLab form writes into the open notebook.

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
    kept = [
        (i, line)
        for i, line in enumerate(split_lines(current))
        if upstream or "upstream" not in by_line.get(i, ())
    ]
    lines = [line for _, line in kept]
    # which line first assigns each name, from one parse of the cell: linear in its size
    first_line: dict[str, int] = {}
    for new, (old, _) in enumerate(kept):
        for name in by_line.get(old, ()):
            first_line.setdefault(name, new)
    for name, value in {**reserved, **params}.items():
        if name in RESERVED_PARAMS and name in assigned and name in reserved:
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


# -- writing -------------------------------------------------------------------------------------


def write_notebook(path: Path, nb: Mapping[str, JSONValue]) -> None:
    """Write notebook JSON atomically, in nbformat's own layout so that git diffs stay small."""
    write_text_atomic(
        Path(path), json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    )


def set_stage(
    path: Path,
    *,
    stage: str | None = None,
    upstream: Sequence[str] | None = None,
    products: Mapping[str, str] | None = None,
    params: Mapping[str, JSONValue] | None = None,
    kernel: str | None = None,
    environment: str | None = None,
    replace: bool = False,
) -> StageSpec:
    """Tag a notebook as a stage, or update its tag, and keep the ``parameters`` cell in step.

    Fields left as ``None`` keep their current value (all of them are reset with
    ``replace=True``). ``params`` are merged into the existing ones: each name is also assigned in
    the ``parameters`` cell (created at the top when missing), so the notebook still runs by hand.
    Nothing is written unless the result validates.

    Returns
    -------
    StageSpec
        The stage as read back from the written notebook.

    Raises
    ------
    MalformedNotebookError, StageMetadataError, ParametersCellError

    Examples
    --------
    >>> set_stage(Path("notebooks/train.ipynb"), stage="train", upstream=["features"],
    ...           products={"model": "model.skops"}, params={"seed": 42})  # doctest: +SKIP
    """
    path = Path(path).absolute()
    nb = read_notebook(path)
    metadata = nb.setdefault("metadata", {})
    current = {} if replace else dict(metadata.get(METADATA_KEY) or {})
    meta: dict[str, JSONValue] = dict(current)
    if stage is not None:
        meta["stage"] = stage
    if upstream is not None:
        meta["upstream"] = list(upstream)
    if products is not None:
        meta["products"] = {**meta.get("products", {}), **products}
    if params is not None:
        meta["params"] = {**meta.get("params", {}), **params}
    if kernel is not None:
        meta["kernel"] = kernel
    if environment is not None:
        meta["environment"] = environment
    validate_stage_metadata(meta, path=path)
    _sync_parameters_cell(nb, meta.get("params", {}), path, upstream=bool(meta.get("upstream")))
    metadata[METADATA_KEY] = meta
    spec = _spec_from(nb, meta, path)
    write_notebook(path, nb)
    return spec


def _sync_parameters_cell(
    nb: dict[str, JSONValue],
    params: Mapping[str, JSONValue],
    path: Path,
    *,
    upstream: bool,
) -> None:
    """Assign every declared parameter in the ``parameters`` cell, creating the cell if needed.

    Also declares ``product = None`` and, for a stage with upstream stages, ``upstream = None``.
    """
    index = _find_parameters_cell(nb)
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
        index = _find_parameters_cell(nb)
        assert index is not None  # noqa: S101 - just inserted
    cell = nb["cells"][index]
    _parameters_cell(nb, path)  # a syntax error is reported with the cell's number
    text = sync_parameters_source(_cell_text(cell), params, upstream=upstream, path=path)
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


def _literal_type(source: str) -> type | None:
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
