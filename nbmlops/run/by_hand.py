"""Stage paths for a run by hand: what a pipeline run would inject into a stage notebook, so it
runs top to bottom in JupyterLab (or any front end) without ``nbmlops run``.

A stage's ``parameters`` cell declares ``upstream = None`` and ``product = None`` (and
``inputs = None`` where inputs are declared); only a run fills them. :func:`stage_paths` gives
the values instead: the latest promoted products of each upstream stage
(``build/<pipeline>/<upstream>/``), the declared inputs as absolute paths, and a scratch product
folder, ``build/<pipeline>/<stage>/scratch/``, so a run by hand never overwrites the products a
pipeline run promoted (nor their digests, which the next plan checks). The values go into a cell
tagged ``injected-parameters`` after the ``parameters`` cell (:attr:`StagePaths.cell_source`):
papermill replaces such a cell, nbmlops and Ploomber drop it, and the stage's source digest
leaves it out (:mod:`nbmlops.authoring.cell_code`).

The pipeline a notebook belongs to is the one ``nbmlops run`` would run for its folder
(:func:`nbmlops.authoring.pipeline.pipeline_of`), unless one is named.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.authoring.pipeline import PipelineSpec, load_pipeline, pipeline_of
from nbmlops.authoring.stage import load_stage
from nbmlops.errors import UnknownStageError

__all__ = ["SCRATCH", "StagePaths", "stage_paths"]

SCRATCH = "scratch"
"""The folder, inside a stage's build folder, that a run by hand writes its products into."""


@dataclass(frozen=True, kw_only=True)
class StagePaths:
    """What a run would inject into one stage notebook, for a run by hand; absolute paths."""

    pipeline: str
    stage: str
    notebook: Path
    upstream: dict[str, dict[str, str]]
    """Upstream stage -> product name -> path of its latest promoted product (``nb``: the
    executed notebook)."""
    product: dict[str, str]
    """Product name -> path in the scratch folder (``nb``: where an executed copy would go)."""
    inputs: dict[str, str]
    """Declared input name -> path (empty when the stage declares none)."""
    missing: tuple[str, ...]
    """``upstream.product`` of every upstream product not on disk yet (that stage never ran)."""

    @property
    def values(self) -> dict[str, Any]:
        """The injected names and their values, as papermill would inject them."""
        values: dict[str, Any] = {}
        if self.upstream:
            values["upstream"] = self.upstream
        values["product"] = self.product
        if self.inputs:
            values["inputs"] = self.inputs
        return values

    @property
    def cell_source(self) -> str:
        """The source of the ``injected-parameters`` cell that holds :attr:`values`."""
        lines = [
            f"# Stage paths for a run by hand (nbmlops, pipeline {self.pipeline}): the latest",
            "# upstream products and a scratch product folder. Runs ignore this cell and the",
            "# Stage form's save removes it.",
        ]
        for name, value in self.values.items():
            lines.append(f"{name} = {pprint.pformat(value, width=96, sort_dicts=False)}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """As JSON (for the CLI's ``--json`` and the Jupyter server)."""
        return {
            "pipeline": self.pipeline,
            "stage": self.stage,
            "notebook": str(self.notebook),
            "upstream": self.upstream,
            "product": self.product,
            "inputs": self.inputs,
            "missing": list(self.missing),
            "source": self.cell_source,
        }


def stage_paths(notebook: str | Path, *, pipeline: str | None = None) -> StagePaths:
    """The values a pipeline run would inject into ``notebook``, for running it by hand.

    Creates the scratch product folder (and the folders its products need) so the notebook can
    write its products at once; writes nothing else.

    Parameters
    ----------
    notebook : str or Path
        A tagged stage notebook.
    pipeline : str, optional
        The compiled pipeline it belongs to (a name, as ``nbmlops run`` takes it); by default the
        one ``nbmlops run`` would run for the notebook's folder.

    Returns
    -------
    StagePaths
        ``cell_source`` is the cell to insert after the ``parameters`` cell.

    Raises
    ------
    NotebookError
        The notebook is not a tagged stage (or cannot be read).
    UnknownStageError
        The named pipeline has no such stage.
    PipelineError
        The pipeline is not a valid DAG.

    Examples
    --------
    >>> paths = stage_paths("notebooks/train.ipynb")  # doctest: +SKIP
    >>> paths.upstream["features"]["features"]          # doctest: +SKIP
    '/home/me/project/build/demo/features/features.parquet'
    """
    path = Path(notebook).absolute()
    stage = load_stage(path)
    spec: PipelineSpec
    if pipeline is None:
        spec = pipeline_of(path)
    else:
        spec, _ = load_pipeline(pipeline, root=_project_of(path))
    found = next((s for s in spec.stages if s.path.resolve() == path.resolve()), None)
    if found is None:
        raise UnknownStageError(stage=stage.name, known=spec.names)
    stage = found
    upstream: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for up in stage.upstream:
        folder = spec.stage_dir(up)
        products = {"nb": folder / f"{up}.ipynb"}
        products |= {k: folder / v for k, v in spec.stage(up).products.items()}
        upstream[up] = {k: str(v) for k, v in products.items()}
        missing += [f"{up}.{k}" for k, v in products.items() if not v.exists()]
    scratch = spec.stage_dir(stage.name) / SCRATCH
    product = {"nb": scratch / f"{stage.name}.ipynb"}
    product |= {k: scratch / v for k, v in stage.products.items()}
    for target in product.values():
        target.parent.mkdir(parents=True, exist_ok=True)
    # ``inputs`` arrive with declared inputs (stage metadata v2); older specs have none
    declared: dict[str, str] = dict(getattr(stage, "inputs", None) or {})
    return StagePaths(
        pipeline=spec.name,
        stage=stage.name,
        notebook=path,
        upstream=upstream,
        product={k: str(v) for k, v in product.items()},
        inputs={name: str(spec.root / rel) for name, rel in declared.items()},
        missing=tuple(missing),
    )


def _project_of(path: Path) -> Path:
    from nbmlops._core.paths import find_project_root

    return find_project_root(path.parent)
