"""Stage metadata on a notebook: read, validate and write it, with the parameters cell kept in
step (:mod:`nbmlops.authoring.parameters_cell`).

A notebook becomes a pipeline stage when its notebook-level metadata holds an ``nbmlops`` object
that satisfies ``nbmlops/schema/stage.v2.json`` (the contract with the JupyterLab extension). v2
is v1 with ``inputs`` (raw data the stage reads, digested by content): every v1 object is valid v2.

Reading needs no nbformat: a notebook is JSON, and ``import nbformat`` costs over a second on these
machines. Writing keeps nbformat's own layout (``indent=1``, sorted keys, a trailing newline) so a
tagged notebook diffs cleanly in git, and it is atomic: a crash never leaves half a notebook.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.notebooks import read_notebook
from nbmlops.authoring.cell_code import check_parameters_not_reassigned, is_injected
from nbmlops.authoring.parameters_cell import (
    RESERVED_PARAMS,
    JSONValue,
    literal_type,
    read_parameters_cell,
    sync_parameters_cell,
)
from nbmlops.authoring.stage_problems import plain_problem
from nbmlops.errors import (
    NotebookError,
    ParametersCellError,
    StageMetadataError,
)

__all__ = [
    "METADATA_KEY",
    "RESERVED_PARAMS",
    "StageSpec",
    "load_stage",
    "read_notebook",
    "read_stage",
    "set_stage",
    "validate_stage_metadata",
    "write_notebook",
]

METADATA_KEY = "nbmlops"

DEFAULT_KERNEL = "python3"
DEFAULT_ENVIRONMENT = "uv.lock"
SCHEMA = "stage.v2.json"
"""The stage metadata schema in ``nbmlops/schema/``; ``stage.v1.json`` stays for reference."""


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    """One tagged notebook, validated: everything needed to plan and run it."""

    name: str
    path: Path
    """The source notebook (absolute). A run never writes it."""
    upstream: tuple[str, ...] = ()
    products: dict[str, str] = field(default_factory=dict)
    """Product name -> path relative to the stage's product folder."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Declared input name -> path of a file or folder relative to the project root."""
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
            "inputs": dict(self.inputs),
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
    index, assigned = read_parameters_cell(nb, path)
    params: dict[str, JSONValue] = dict(meta.get("params", {}))
    declared = set(params)
    inputs = dict(meta.get("inputs", {}))
    # reserved only where inputs are declared: a v1 stage may have a parameter named ``inputs``
    in_cell = set(assigned) - set(RESERVED_PARAMS) - ({"inputs"} if inputs else set())
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
    _check_reserved(
        path, assigned, has_upstream=bool(meta.get("upstream")), has_inputs=bool(inputs)
    )
    check_parameters_not_reassigned(
        nb["cells"], set(params), stage=meta["stage"], path=path, after=index
    )
    for name, value in params.items():
        if type(value) is int and literal_type(assigned[name]) is float:
            # JupyterLab writes notebook JSON from JavaScript numbers: a default of 1.0 saved
            # there reads back as 1. The parameters cell's literal keeps the type.
            params[name] = float(value)
    return StageSpec(
        name=meta["stage"],
        path=path,
        upstream=tuple(meta.get("upstream", [])),
        products=dict(meta.get("products", {})),
        inputs=inputs,
        params=params,
        kernel=meta.get("kernel", DEFAULT_KERNEL),
        environment=meta.get("environment", DEFAULT_ENVIRONMENT),
        source_digest=source_digest(nb),
        parameters_cell=index,
        cell_params=assigned,
    )


def _check_reserved(
    path: Path, assigned: Mapping[str, str], *, has_upstream: bool, has_inputs: bool
) -> None:
    """``product`` (``upstream`` when there are upstream stages, ``inputs`` when inputs are
    declared) must be declared as ``None``.

    Ploomber passes exactly these names and refuses a parameters cell that does not declare them
    (or declares ``upstream`` for a stage without upstream), so this keeps every tagged notebook
    runnable by plain ``ploomber build`` as well as by nbmlops. A cell assigning ``inputs`` in a
    stage without declared inputs is a parameter like any other (v1 metadata allowed one).
    """
    if has_inputs and "inputs" not in assigned:
        raise ParametersCellError(
            f"{path}: the 'parameters' cell must declare `inputs = None` (the runner injects the "
            f"declared inputs' paths there). Add it, or run `nbmlops stage set {path}`.",
            path=path,
            param="inputs",
        )
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
        resources.files("nbmlops").joinpath(f"schema/{SCHEMA}").read_text(encoding="utf-8")
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
        raise StageMetadataError(path=path, field=where, detail=plain_problem(err))
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
    JupyterLab does not make its stage stale; the stage's own metadata is covered elsewhere. So
    is a cell tagged ``injected-parameters`` (the paths "Load stage paths" inserts): no run
    executes it.
    """
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        if is_injected(cell):
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        tags = cell.get("metadata", {}).get("tags", [])
        h.update(json.dumps([cell.get("cell_type"), text, tags]).encode())
    return h.hexdigest()


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
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, JSONValue] | None = None,
    kernel: str | None = None,
    environment: str | None = None,
    replace: bool = False,
) -> StageSpec:
    """Tag a notebook as a stage, or update its tag, and keep the ``parameters`` cell in step.

    Fields left as ``None`` keep their current value (all of them are reset with
    ``replace=True``). ``params`` are merged into the existing ones: each name is also assigned in
    the ``parameters`` cell (created at the top when missing), so the notebook still runs by hand.
    Cells tagged ``injected-parameters`` (paths loaded for a run by hand) are dropped, as the Stage
    form's save drops them. Nothing is written unless the result validates.

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
    ...           products={"model": "model.skops"}, params={"seed": 42},
    ...           inputs={"extract": "data/extract.parquet"})  # doctest: +SKIP
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
    if inputs is not None:
        meta["inputs"] = {**meta.get("inputs", {}), **inputs}
    if params is not None:
        meta["params"] = {**meta.get("params", {}), **params}
    if kernel is not None:
        meta["kernel"] = kernel
    if environment is not None:
        meta["environment"] = environment
    validate_stage_metadata(meta, path=path)
    # the paths "Load stage paths" inserted are for this session only: saving the tag drops them,
    # as the Stage form's save does, so they are never committed by accident
    nb["cells"] = [cell for cell in nb.get("cells", []) if not is_injected(cell)]
    sync_parameters_cell(
        nb,
        meta.get("params", {}),
        path,
        upstream=bool(meta.get("upstream")),
        inputs=bool(meta.get("inputs")),
    )
    metadata[METADATA_KEY] = meta
    spec = _spec_from(nb, meta, path)
    write_notebook(path, nb)
    return spec
