"""What the REST handlers answer, as plain JSON: one function per endpoint, no tornado here.

Kept apart from the handlers so the answers are testable without a server and the handlers stay
three lines: parse, call, serialise.

MLflow links: a stage's ``mlflow_url`` is a browser link to its MLflow run when a UI is known —
``NBMLOPS_MLFLOW_UI`` (e.g. ``http://127.0.0.1:5000``; ``make lab`` starts ``mlflow ui`` and sets
it) or an ``http(s)`` tracking URI (an ``mlflow server`` serves its UI too). Otherwise it is
``null`` and MLflow is not imported at all, so the pipeline view stays fast.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["context_view", "mlflow_ui_base", "paths_view", "pipeline_view", "validate_view"]

UI_ENV = "NBMLOPS_MLFLOW_UI"


def pipeline_view(target: str, *, root: Path, active_run: str | None = None) -> dict[str, Any]:
    """The stages of ``target`` as a checked DAG, each with its state, the reasons, its executed
    notebook and its MLflow run. ``target`` is what ``nbmlops run`` takes (a folder of notebooks
    relative to ``root``, the server's root, or a compiled pipeline's name); a folder that one
    compiled pipeline is built from shows that pipeline. Paths in the answer are relative to
    ``root``.

    Raises what :func:`nbmlops.authoring.pipeline.load_pipeline` raises (cycle, unknown upstream,
    ...).
    """
    from nbmlops.authoring.pipeline import load_pipeline
    from nbmlops.records.tracking import tracking_uri
    from nbmlops.run.plan import plan_pipeline

    spec, _ = load_pipeline(target, root=root, prefer_compiled=True)
    plans = {plan.stage: plan for plan in plan_pipeline(spec)}
    uri = tracking_uri(spec.root)
    base = mlflow_ui_base(uri)
    stages = []
    for stage in spec.stages:
        plan = plans[stage.name]
        state = "up_to_date" if plan.up_to_date else "never_run" if plan.state is None else "stale"
        executed = spec.stage_dir(stage.name) / f"{stage.name}.ipynb"
        last = plan.state
        run = last.mlflow_run_id if last else None
        stages.append(
            {
                **stage.metadata(),
                "notebook": _rel(stage.path, root),
                "state": state,
                "reasons": [reason.to_dict() for reason in plan.reasons],
                "executed_notebook": _rel(executed, root) if executed.is_file() else None,
                "mlflow_run_id": run,
                "mlflow_url": _run_url(base, tracking_uri(spec.root), run)
                if base and run
                else None,
                "last_run_id": last.run_id if last else None,
                "finished_at": last.finished_at if last else None,
            }
        )
    return {
        "name": spec.name,
        "root": str(spec.root),
        "folder": target,
        "source": _rel(spec.source_dir, root),
        "active_run": active_run,
        "stages": stages,
        "edges": [[up, s.name] for s in spec.stages for up in s.upstream],
    }


def mlflow_ui_base(uri: str) -> str | None:
    """The MLflow UI's base URL for links, or ``None`` when no UI is known (see the module doc)."""
    configured = os.environ.get(UI_ENV, "").strip()
    if configured:
        return configured.rstrip("/")
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return None


def _run_url(base: str, uri: str, run_id: str) -> str | None:
    experiment = _experiment_of(uri, run_id)
    return f"{base}/#/experiments/{experiment}/runs/{run_id}" if experiment else None


@cache
def _experiment_of(uri: str, run_id: str) -> str | None:
    """The experiment a run belongs to (a run never moves, so one lookup per run)."""
    from nbmlops.records.tracking import open_client

    try:
        return str(open_client(uri).get_run(run_id).info.experiment_id)
    except Exception:  # a missing link must not break the pipeline view
        return None


def context_view(path: Path, parameters_source: str | None, *, root: Path) -> dict[str, Any]:
    """What the stage form of the notebook at ``path`` offers: the other stages in its folder
    (upstream choices; a broken neighbour is listed under ``problems``, never fatal) and the
    parameters its ``parameters`` cell source assigns, with their literal types (``cell_types``:
    JSON cannot tell ``1.0`` from ``1``, the form can).

    Raises
    ------
    ParametersCellError
        ``parameters_source`` is not valid Python.
    """
    from nbmlops.authoring.parameters_cell import parameter_types, parameters_in_source

    cell_params = parameters_in_source(parameters_source, path=path)
    cell_types = parameter_types(parameters_source, path=path, values=cell_params)
    others, problems = _neighbours(path, root)
    stages = [
        {"name": s.name, "notebook": _rel(s.path, root), "upstream": list(s.upstream)}
        for s in sorted(others, key=lambda s: s.name)
    ]
    answer = {"stages": stages, "problems": problems, "cell_params": cell_params}
    return answer | {"cell_types": cell_types}


def _neighbours(path: Path, root: Path) -> tuple[list[Any], list[dict[str, str]]]:
    """The other stages in ``path``'s folder, each read on its own: a broken notebook is a
    problem to show, not a reason to refuse the form (the DAG is checked when it runs)."""
    from nbmlops.authoring.pipeline import notebooks_in
    from nbmlops.authoring.stage import read_stage
    from nbmlops.errors import NbmlopsError

    stages, problems = [], []
    for notebook in notebooks_in(path.parent):
        if notebook.resolve() == path.resolve():
            continue
        try:
            stage = read_stage(notebook)
        except NbmlopsError as exc:
            problems.append({"notebook": _rel(notebook, root), "message": str(exc)})
            continue
        if stage is not None:
            stages.append(stage)
    return stages, problems


def validate_view(
    path: Path,
    metadata: Any,
    parameters_source: str | None = None,
    *,
    root: Path,
    cells: list[Any] | None = None,
) -> dict[str, Any]:
    """Check stage ``metadata`` for the notebook at ``path`` as ``nbmlops stage set`` would:
    the schema, a unique name, that every upstream stage exists beside it, and that no code cell
    after the ``parameters`` cell assigns a declared parameter again. ``cells`` are the open
    notebook's cells (``cell_type``, ``source``, ``metadata.tags``); without them, the saved
    notebook's. The answer carries the ``parameters`` cell source with the metadata's params
    synced in, as ``set_stage`` writes.

    Raises
    ------
    StageMetadataError, UnknownUpstreamError, ParametersCellError, ParameterReassignedError
    """
    from nbmlops.authoring.parameters_cell import sync_parameters_source
    from nbmlops.authoring.stage import validate_stage_metadata
    from nbmlops.errors import StageMetadataError, UnknownUpstreamError

    try:
        validate_stage_metadata(metadata, path=path)  # an object with a valid "stage" from here on
    except StageMetadataError as exc:  # said to the person at that field of the Stage form
        raise StageMetadataError(
            path=path, field=exc.field, detail=exc.detail, in_form=True
        ) from None
    meta: dict[str, Any] = dict(metadata)
    name = str(meta["stage"])
    others, _ = _neighbours(path, root)
    for other in others:
        if other.name == name:
            detail = f"{other.path.name} already declares stage '{name}'; choose another name"
            raise StageMetadataError(path=path, field="stage", detail=detail, in_form=True)
    known = sorted(s.name for s in others)
    for upstream in meta.get("upstream", []):
        if upstream not in known:
            raise UnknownUpstreamError(stage=name, upstream=str(upstream), known=known, path=path)
    synced = sync_parameters_source(
        parameters_source,
        meta.get("params", {}),
        upstream=bool(meta.get("upstream")),
        inputs=bool(meta.get("inputs")),
        path=path,
    )
    _check_later_cells(path, name, set(meta.get("params", {})), cells)
    return {"ok": True, "stage": name, "metadata": meta, "parameters_source": synced}


def _check_later_cells(path: Path, stage: str, params: set[str], cells: list[Any] | None) -> None:
    from nbmlops._core.notebooks import read_notebook
    from nbmlops.authoring.cell_code import check_parameters_not_reassigned
    from nbmlops.errors import NbmlopsError

    if cells is None:
        try:
            cells = read_notebook(path)["cells"]
        except NbmlopsError:  # not saved yet: nothing to check
            return
    shaped: list[dict[str, Any]] = [
        {
            "cell_type": c.get("cell_type"),
            "source": c["source"] if isinstance(c.get("source"), str | list) else "",
            "metadata": c.get("metadata") if isinstance(c.get("metadata"), dict) else {},
        }
        for c in cells
        if isinstance(c, dict)
    ]
    tagged = [i for i, c in enumerate(shaped) if "parameters" in c["metadata"].get("tags", [])]
    code = [i for i, c in enumerate(shaped) if c["cell_type"] == "code"]
    # no parameters cell yet: the form inserts one before the first code cell
    after = tagged[0] if tagged else (code[0] - 1 if code else len(shaped))
    check_parameters_not_reassigned(shaped, params, stage=stage, path=path, after=after)


def paths_view(path: Path) -> dict[str, Any]:
    """The paths a run would inject into the stage notebook at ``path``, for a run by hand
    (:func:`nbmlops.run.by_hand.stage_paths`): ``source`` is the ``injected-parameters`` cell.

    Raises what :func:`~nbmlops.run.by_hand.stage_paths` raises (not a stage, a broken DAG).
    """
    from nbmlops.run.by_hand import stage_paths

    return stage_paths(path).to_dict()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
