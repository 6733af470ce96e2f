"""What ``nbmlops sweep TARGET`` names: a pipeline (as ``nbmlops run`` reads it) or one notebook.

A notebook with a ``parameters`` cell can be swept on its own, tagged or not: an untagged one is
a one-stage pipeline named after the file, its parameters and their types read from its
``parameters`` cell (a value that is not a JSON literal there takes any JSON value); a tagged one
is its stage in the pipeline ``nbmlops run`` would see (its upstream products come from there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nbmlops._core.notebooks import read_notebook
from nbmlops._core.paths import find_project_root
from nbmlops.authoring.parameters_cell import (
    find_parameters_cell,
    parameters_in_source,
    read_parameters_cell,
)
from nbmlops.authoring.pipeline import PipelineSpec, load_pipeline, pipeline_of
from nbmlops.authoring.stage import StageSpec, read_stage, source_digest
from nbmlops.errors import ParametersCellError

__all__ = ["SweepTarget", "sweep_target"]


@dataclass(frozen=True, kw_only=True)
class SweepTarget:
    """The pipeline to sweep and, for a notebook, its stage (what ``-p NAME=...`` means)."""

    pipeline: PipelineSpec
    notebook_stage: str | None = None


def sweep_target(target: str | Path, *, root: Path | None = None) -> SweepTarget:
    """Resolve a pipeline name, folder, ``pipeline.yaml`` or a notebook (``*.ipynb``).

    Raises
    ------
    PipelineNotFoundError, NotebookError, PipelineError
        As :func:`nbmlops.authoring.pipeline.load_pipeline`.
    ParametersCellError
        A notebook has no ``parameters`` cell: there is nothing to sweep.
    """
    root = Path(root or Path.cwd()).absolute()
    path = Path(target) if Path(target).is_absolute() else root / target
    if path.suffix != ".ipynb" or not path.is_file():
        return SweepTarget(pipeline=load_pipeline(target, root=root)[0])
    path = path.absolute()
    tagged = read_stage(path)
    if tagged is not None:
        return SweepTarget(pipeline=pipeline_of(path), notebook_stage=tagged.name)
    nb = read_notebook(path)
    if find_parameters_cell(nb) is None:
        raise ParametersCellError(
            f"{path}: no cell tagged 'parameters', so there is nothing to sweep. Tag the cell "
            "holding the defaults 'parameters' (JupyterLab: Property Inspector > Cell Tags).",
            path=path,
        )
    index, assigned = read_parameters_cell(nb, path)
    cells = nb.get("cells", [])
    source = cells[index].get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    name = re.sub(r"[^a-z0-9_]", "_", path.stem.lower()).strip("_") or "notebook"
    if not name[0].isalpha():
        name = f"nb_{name}"
    stage = StageSpec(
        name=name,
        path=path,
        params=parameters_in_source(text, path=path),
        source_digest=source_digest(nb),
        parameters_cell=index,
        cell_params=assigned,
        kernel=str(nb.get("metadata", {}).get("kernelspec", {}).get("name") or "python3"),
    )
    project = find_project_root(path.parent)
    pipeline = PipelineSpec(name=name, root=project, source_dir=path.parent, stages=(stage,))
    return SweepTarget(pipeline=pipeline, notebook_stage=name)
