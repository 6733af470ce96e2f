"""Errors of what users write: notebooks, their stage metadata, pipelines, parameters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nbmlops.errors.categories import ConflictError, InvalidInputError, NotFoundError

__all__ = [
    "CycleError",
    "DuplicateProductError",
    "DuplicateStageError",
    "MalformedNotebookError",
    "NotebookError",
    "ParameterError",
    "ParameterReassignedError",
    "ParametersCellError",
    "PipelineError",
    "PipelineNotFoundError",
    "StageInputError",
    "StageMetadataError",
    "UnknownStageError",
    "UnknownUpstreamError",
]


# -- notebooks -----------------------------------------------------------------------------------


class NotebookError(InvalidInputError):
    """A notebook file cannot be used as a stage."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class MalformedNotebookError(NotebookError):
    """The file is not a readable Jupyter notebook (bad JSON or not nbformat 4)."""

    def __init__(self, *, path: Path, detail: str) -> None:
        super().__init__(
            f"{path}: not a valid Jupyter notebook ({detail}). "
            "Open it in JupyterLab to repair it, or restore it from version control.",
            path=path,
        )
        self.detail = detail


class StageMetadataError(NotebookError):
    """The notebook's ``nbmlops`` metadata does not satisfy the stage schema.

    ``detail`` is a plain sentence (no regex: see :mod:`nbmlops.authoring.stage_problems`).
    ``in_form``: the message is for the Stage form, where the person is fixing the field
    already: the sentence alone, without the notebook's path or a pointer to the form.
    """

    def __init__(self, *, path: Path, field: str, detail: str, in_form: bool = False) -> None:
        where = f" (field '{field}')" if field else ""
        message = (
            f"{detail}."
            if in_form
            else f"{path}: stage metadata is invalid{where}: {detail}. "
            "Fix it with `nbmlops stage set` or the Stage form in JupyterLab."
        )
        super().__init__(message, path=path)
        self.field = field
        self.detail = detail


class ParametersCellError(NotebookError):
    """The ``parameters`` cell is missing, unreadable, or disagrees with the declared params."""

    def __init__(self, message: str, *, path: Path, param: str | None = None) -> None:
        super().__init__(message, path=path)
        self.param = param


class ParameterReassignedError(ParametersCellError):
    """A code cell after the ``parameters`` cell assigns a declared parameter again, so a value
    given at run time would be replaced while MLflow records it as used.

    ``cell_index`` is 0-based (markdown cells included), ``line`` 1-based within that cell.
    """

    def __init__(self, *, path: Path, stage: str, param: str, cell_index: int, line: int) -> None:
        super().__init__(
            f"{path}: stage '{stage}' assigns its parameter '{param}' again in cell "
            f"{cell_index + 1} (counting from 1, markdown included), line {line}, after the "
            "'parameters' cell: a value given with --param would be silently replaced there "
            "while the run records it as used. Give the derived value another name (e.g. "
            f"`{param}_used = ...`), or change the parameter's default in the 'parameters' cell.",
            path=path,
            param=param,
        )
        self.stage = stage
        self.cell_index = cell_index
        self.line = line


# -- pipelines -----------------------------------------------------------------------------------


class PipelineError(InvalidInputError):
    """The stages do not form a valid pipeline."""


class DuplicateStageError(ConflictError, PipelineError):
    def __init__(self, *, stage: str, paths: Sequence[Path]) -> None:
        names = ", ".join(str(p) for p in paths)
        super().__init__(
            f"stage '{stage}' is declared by more than one notebook: {names}. "
            "Stage names must be unique; rename one with `nbmlops stage set NOTEBOOK --stage NEW`."
        )
        self.stage = stage
        self.paths = [str(p) for p in paths]


class DuplicateProductError(ConflictError, PipelineError):
    def __init__(self, *, path: str, stages: Sequence[str]) -> None:
        super().__init__(
            f"product '{path}' is written by more than one stage ({', '.join(stages)}); "
            "give each stage its own product names."
        )
        self.path = path
        self.stages = list(stages)


class UnknownUpstreamError(PipelineError):
    def __init__(self, *, stage: str, upstream: str, known: Sequence[str], path: Path) -> None:
        hint = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"{path}: stage '{stage}' names upstream '{upstream}', which no notebook declares "
            f"(known stages: {hint}). Fix the upstream list or tag the missing notebook."
        )
        self.stage = stage
        self.upstream = upstream
        self.path = path


class CycleError(ConflictError, PipelineError):
    def __init__(self, *, cycle: Sequence[str]) -> None:
        loop = " -> ".join([*cycle, cycle[0]])
        super().__init__(
            f"the stages form a cycle: {loop}. Remove one of these upstream links to make a DAG."
        )
        self.cycle = list(cycle)


class UnknownStageError(NotFoundError, PipelineError):
    def __init__(self, *, stage: str, known: Sequence[str]) -> None:
        super().__init__(
            f"no stage named '{stage}' in this pipeline (stages: {', '.join(sorted(known))})."
        )
        self.stage = stage


class PipelineNotFoundError(NotFoundError, PipelineError):
    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


# -- run-time parameters -------------------------------------------------------------------------


class ParameterError(InvalidInputError):
    """A run-time parameter is unknown, not plain JSON, or of a different type than its default."""

    def __init__(self, message: str, *, stage: str | None, param: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.param = param


class StageInputError(InvalidInputError):
    """A declared input cannot be read: ``reason`` is ``missing``, ``outside_project`` or
    ``symlink_outside`` (a link, or a link inside a folder input, that leads out of the project).
    ``path`` is the input's declared path, relative to the project root."""

    def __init__(self, *, stage: str, input: str, path: str, reason: str, root: Path) -> None:
        shown = f"stage '{stage}': input '{input}' ({path})"
        fix = (
            f"`nbmlops stage set NOTEBOOK --input {input}=PATH` (PATH relative to the project root)"
        )
        if reason == "missing":
            text = (
                f"{shown} does not exist under the project root {root}. Put the data there, or "
                f"declare where it is with {fix}."
            )
        elif reason == "symlink_outside":
            text = (
                f"{shown} is, or holds, a symbolic link that leads out of the project {root}: "
                "the data could change without the project knowing. Copy the data into the "
                f"project and declare it with {fix}."
            )
        else:
            text = (
                f"{shown} is outside the project root {root}: inputs live in the project so "
                f"every run reads and records the same data. Move it there and declare it with "
                f"{fix}."
            )
        super().__init__(text)
        self.stage = stage
        self.input = input
        self.path = path
        self.reason = reason
