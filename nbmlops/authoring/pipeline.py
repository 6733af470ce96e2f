"""PipelineSpec: the tagged notebooks of a folder, checked as a DAG, and compiled for Ploomber.

``discover`` reads every tagged notebook below a folder; ``PipelineSpec`` holds the stages in a
deterministic topological order after checking names, upstream links and cycles.
``compile_pipeline`` writes ``pipelines/<name>/pipeline.yaml``, a plain Ploomber spec
(``ploomber build -e ...`` runs it)
whose header records where the notebooks live, so ``nbmlops run <name>`` finds them again.

The notebooks stay the single source of truth: loading a compiled pipeline re-reads them and
regenerates the YAML when it no longer matches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.paths import STATE_DIR, find_project_root
from nbmlops.authoring.stage import StageSpec, read_stage
from nbmlops.errors import (
    CycleError,
    DuplicateProductError,
    DuplicateStageError,
    PipelineNotFoundError,
    UnknownStageError,
    UnknownUpstreamError,
)

__all__ = [
    "PipelineSpec",
    "compile_pipeline",
    "discover",
    "find_project_root",
    "load_pipeline",
    "notebooks_in",
    "pipeline_of",
    "render_ploomber_yaml",
]

_SKIP_DIRS = {".ipynb_checkpoints", "build", STATE_DIR.name, ".venv", "node_modules", ".git"}
SOURCE_HEADER = "# nbmlops-source: "
NAME_HEADER = "# nbmlops-pipeline: "


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """A checked DAG of stages; ``stages`` is in a deterministic topological order."""

    name: str
    root: Path
    """Project root: holds ``build/``, ``pipelines/`` and ``.nbmlops/``."""
    source_dir: Path
    stages: tuple[StageSpec, ...]
    stage_folders: tuple[tuple[str, Path], ...] = ()
    """Stages whose folder is not ``build/<pipeline>/<stage>/``: a sweep point's stages write
    (and their downstream read) under ``build/<pipeline>/sweeps/<sweep>/<point>/``."""

    def __post_init__(self) -> None:
        _check(self.stages)

    @property
    def build_dir(self) -> Path:
        return self.root / "build" / self.name

    @property
    def compiled_path(self) -> Path:
        return self.root / "pipelines" / self.name / "pipeline.yaml"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> StageSpec:
        for spec in self.stages:
            if spec.name == name:
                return spec
        raise UnknownStageError(stage=name, known=self.names)

    def stage_dir(self, name: str) -> Path:
        """Where a stage's products and executed notebook land."""
        for stage, folder in self.stage_folders:
            if stage == name:
                return folder
        return self.build_dir / self.stage(name).name

    def downstream(self, name: str) -> tuple[str, ...]:
        """``name`` and every stage that depends on it, in topological order."""
        self.stage(name)
        reached = {name}
        for spec in self.stages:
            if reached.intersection(spec.upstream):
                reached.add(spec.name)
        return tuple(s.name for s in self.stages if s.name in reached)


def _check(stages: Sequence[StageSpec]) -> None:
    by_name: dict[str, StageSpec] = {}
    for spec in stages:
        if spec.name in by_name:
            raise DuplicateStageError(stage=spec.name, paths=[by_name[spec.name].path, spec.path])
        by_name[spec.name] = spec
    for spec in stages:
        for up in spec.upstream:
            if up not in by_name:
                raise UnknownUpstreamError(
                    stage=spec.name, upstream=up, known=list(by_name), path=spec.path
                )
        seen: dict[str, str] = {}
        for product, rel in spec.products.items():
            key = os.path.normpath(rel)
            if key in seen:
                raise DuplicateProductError(
                    path=f"{spec.name}/{rel}", stages=[f"{spec.name}.{seen[key]}", product]
                )
            seen[key] = product
    cycle = _find_cycle({s.name: s.upstream for s in stages})
    if cycle:
        raise CycleError(cycle=cycle)


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    """One cycle of the upstream graph, in dependency order, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for up in sorted(graph[node]):
            if state.get(up) == 1:
                loop = path[path.index(up) :]
                return list(reversed(loop))
            if up not in state and (found := visit(up)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _toposort(stages: Iterable[StageSpec]) -> tuple[StageSpec, ...]:
    """Kahn's algorithm, ties broken by name, so the order is the same on every machine."""
    pending = {s.name: s for s in stages}
    done: list[StageSpec] = []
    placed: set[str] = set()
    while pending:
        ready = sorted(n for n, s in pending.items() if placed.issuperset(s.upstream))
        if not ready:  # a cycle; _check names it
            return tuple(done) + tuple(pending[n] for n in sorted(pending))
        for name in ready:
            done.append(pending.pop(name))
            placed.add(name)
    return tuple(done)


# -- discovery -----------------------------------------------------------------------------------


def notebooks_in(folder: Path) -> Iterator[Path]:
    """Every ``.ipynb`` below ``folder`` in a stable order, skipping build output, checkpoints,
    environments and hidden folders."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if filename.endswith(".ipynb"):
                yield Path(dirpath) / filename


def discover(folder: Path, *, name: str | None = None, root: Path | None = None) -> PipelineSpec:
    """Read every tagged notebook below ``folder`` and check them as one pipeline.

    Untagged notebooks are ignored. ``name`` defaults to the folder's name and ``root`` to the
    project root above the folder.

    Raises
    ------
    PipelineNotFoundError
        The folder does not exist or holds no tagged notebook.
    NotebookError, PipelineError
        A notebook or the DAG is invalid (each error names the file or stage).

    Examples
    --------
    >>> spec = discover(Path("notebooks"), name="demo")  # doctest: +SKIP
    >>> spec.names                                       # doctest: +SKIP
    ('ingest', 'deidentify', 'features', 'train', 'evaluate')
    """
    folder = Path(folder).absolute()
    if not folder.is_dir():
        raise PipelineNotFoundError(f"{folder}: no such folder of notebooks.", path=folder)
    stages = [spec for nb in notebooks_in(folder) if (spec := read_stage(nb)) is not None]
    if not stages:
        raise PipelineNotFoundError(
            f"{folder}: no notebook there is tagged as a stage. Tag one with "
            "`nbmlops stage set NOTEBOOK --stage NAME`.",
            path=folder,
        )
    _check(stages)
    return PipelineSpec(
        name=name or _default_name(folder),
        root=(root or find_project_root(folder)).absolute(),
        source_dir=folder,
        stages=_toposort(stages),
    )


def _default_name(folder: Path) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in folder.name.lower())
    return cleaned or "pipeline"


# -- compiled Ploomber spec ----------------------------------------------------------------------


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def render_ploomber_yaml(spec: PipelineSpec) -> str:
    """The Ploomber ``pipeline.yaml`` for ``spec``, with its generated-file header.

    Paths are relative to the YAML's folder, as Ploomber resolves them; products land where
    ``nbmlops run`` puts them (``build/<pipeline>/<stage>/``) and each notebook runs in its own
    folder, as it does in JupyterLab. Declared inputs are passed as the parameter ``inputs``,
    absolute once Ploomber expands ``{{here}}``.
    """
    import yaml

    out_dir = spec.compiled_path.parent
    tasks: list[dict[str, Any]] = []
    for stage in spec.stages:
        stage_dir = spec.build_dir / stage.name
        product = {"nb": _rel(stage_dir / f"{stage.name}.ipynb", out_dir)}
        product.update({k: _rel(stage_dir / v, out_dir) for k, v in stage.products.items()})
        task: dict[str, Any] = {
            "source": _rel(stage.path, out_dir),
            "name": stage.name,
            "product": product,
            "kernelspec_name": stage.kernel,
            "local_execution": True,
        }
        if stage.upstream:
            task["upstream"] = list(stage.upstream)
        params: dict[str, Any] = dict(stage.params)
        if stage.inputs:
            # absolute once Ploomber expands {{here}} (this file's folder), as nbmlops injects them
            params["inputs"] = {
                k: "{{here}}/" + _rel(spec.root / v, out_dir) for k, v in stage.inputs.items()
            }
        if params:
            task["params"] = params
        tasks.append(task)
    body = yaml.safe_dump(
        {"meta": {"extract_upstream": False, "extract_product": False}, "tasks": tasks},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    source = _rel(spec.source_dir, out_dir)
    header = (
        "# Generated by nbmlops from the stage metadata of the notebooks below. Do not edit:\n"
        f"# regenerate with `nbmlops compile {_rel(spec.source_dir, spec.root)} "
        f"--name {spec.name}`.\n"
        "# Runs with `nbmlops run` (incremental, tracked, audited) or plain "
        f"`ploomber build -e {_rel(spec.compiled_path, spec.root)}`.\n"
        f"{NAME_HEADER}{spec.name}\n"
        f"{SOURCE_HEADER}{source}\n"
    )
    return header + body


def compile_pipeline(
    folder: Path, *, name: str | None = None, root: Path | None = None
) -> tuple[PipelineSpec, Path]:
    """Discover the stages below ``folder`` and write ``<root>/pipelines/<name>/pipeline.yaml``.

    Returns
    -------
    (PipelineSpec, Path)
        The checked pipeline and the path of the YAML written.

    Examples
    --------
    >>> spec, path = compile_pipeline(Path("notebooks"), name="demo")  # doctest: +SKIP
    >>> path                                                           # doctest: +SKIP
    PosixPath('.../pipelines/demo/pipeline.yaml')
    """
    spec = discover(folder, name=name, root=root)
    path = spec.compiled_path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_ploomber_yaml(spec))
    return spec, path


def _read_header(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            for key, prefix in (("name", NAME_HEADER), ("source", SOURCE_HEADER)):
                if line.startswith(prefix):
                    found[key] = line[len(prefix) :].strip()
    return found


def load_pipeline(
    target: str | Path, *, root: Path | None = None, prefer_compiled: bool = True
) -> tuple[PipelineSpec, bool]:
    """Resolve what the user named: a folder of notebooks, a compiled YAML, or a pipeline name.

    A name ``demo`` means ``<root>/pipelines/demo/pipeline.yaml``. A compiled pipeline is re-read
    from its notebooks; when the YAML no longer matches them it is regenerated. A folder of
    notebooks that exactly one compiled pipeline is built from *is* that pipeline (its name, its
    ``build/<name>/`` and stage states): ``nbmlops run notebooks``, ``nbmlops run demo`` and
    JupyterLab's Pipeline panel on ``notebooks`` all mean the same run. A folder no compiled
    pipeline (or more than one) is built from is a pipeline named after the folder; so is any
    folder with ``prefer_compiled=False``.

    Returns
    -------
    (PipelineSpec, bool)
        The pipeline, and whether its compiled YAML was stale and has been rewritten.
    """
    root = Path(root or Path.cwd()).absolute()
    candidate = Path(target)
    if not candidate.is_absolute():
        candidate = root / candidate
    if candidate.is_dir() and not (candidate / "pipeline.yaml").is_file():
        compiled = _compiled_from(candidate) if prefer_compiled else None
        if compiled is None:
            return discover(candidate, root=find_project_root(candidate)), False
        candidate = compiled
    if candidate.is_dir():
        candidate = candidate / "pipeline.yaml"
    if not candidate.is_file():
        candidate = root / "pipelines" / str(target) / "pipeline.yaml"
    if not candidate.is_file():
        raise PipelineNotFoundError(
            f"no pipeline '{target}': not a folder of notebooks, not a pipeline.yaml, and "
            f"{candidate} does not exist. Compile one with `nbmlops compile NOTEBOOKS --name "
            f"{target}`.",
            path=candidate,
        )
    header = _read_header(candidate)
    if "source" not in header:
        raise PipelineNotFoundError(
            f"{candidate}: not generated by nbmlops (no '{SOURCE_HEADER.strip()}' header line). "
            "Compile the notebooks with `nbmlops compile`.",
            path=candidate,
        )
    project = candidate.parent.parent.parent
    spec = discover(
        (candidate.parent / header["source"]).resolve(),
        name=header.get("name", candidate.parent.name),
        root=project,
    )
    stale = candidate.read_text(encoding="utf-8") != render_ploomber_yaml(spec)
    if stale:
        write_text_atomic(candidate, render_ploomber_yaml(spec))
    return spec, stale


def _compiled_from(folder: Path) -> Path | None:
    """The one compiled ``pipelines/*/pipeline.yaml`` whose source is ``folder``, if exactly one."""
    found = []
    for compiled in sorted((find_project_root(folder) / "pipelines").glob("*/pipeline.yaml")):
        source = _read_header(compiled).get("source")
        if source and (compiled.parent / source).resolve() == folder.resolve():
            found.append(compiled)
    return found[0] if len(found) == 1 else None


def pipeline_of(notebook: Path) -> PipelineSpec:
    """The pipeline a stage notebook belongs to, as ``nbmlops run`` sees it: the one compiled
    pipeline whose folder of notebooks holds it, else (none, or several) the pipeline of the
    notebook's own folder, named after it.

    Raises
    ------
    PipelineNotFoundError, NotebookError, PipelineError
        As :func:`load_pipeline` and :func:`discover`.
    """
    notebook = Path(notebook).absolute()
    found = []
    for compiled in sorted(
        (find_project_root(notebook.parent) / "pipelines").glob("*/pipeline.yaml")
    ):
        source = _read_header(compiled).get("source")
        if source and notebook.resolve().is_relative_to((compiled.parent / source).resolve()):
            found.append(compiled)
    if len(found) == 1:
        return load_pipeline(found[0])[0]
    return load_pipeline(notebook.parent)[0]
