"""Every error nbmlops raises on purpose.

Each error carries structured fields (``stage``, ``path``, ``param``, ``cell_index`` ...) so
that the CLI, the Jupyter server extension and tests can act on them without parsing prose,
and its message says what to do next. Anything else escaping nbmlops is a bug.

::

    NbmlopsError
    ├── InvalidInputError              a value given to a public function cannot (argument)
    │                                  be used (also a ValueError)
    ├── NotebookError                  a notebook file cannot be used            (path)
    │   ├── MalformedNotebookError     not valid notebook JSON                   (path, detail)
    │   ├── StageMetadataError         metadata fails the schema             (path, field, detail)
    │   └── ParametersCellError        no / unreadable ``parameters`` cell,      (path, param)
    │       │                          or it disagrees with the declared params
    │       └── ParameterReassignedError  a later cell assigns a declared     (stage, param,
    │                                  parameter again                      cell_index, line)
    ├── PipelineError                  the set of stages is not a valid DAG
    │   ├── DuplicateStageError        two notebooks declare one stage name      (stage, paths)
    │   ├── DuplicateProductError      two stages write one product path         (path, stages)
    │   ├── UnknownUpstreamError       a stage names a stage that does not exist (stage, upstream)
    │   ├── CycleError                 the DAG has a cycle                       (cycle)
    │   ├── UnknownStageError          a selected stage does not exist           (stage)
    │   └── PipelineNotFoundError      no compiled pipeline / no stages found    (path)
    ├── ParameterError                 a run-time parameter is unknown, of the   (stage, param)
    │                                  wrong type, or not plain JSON
    ├── EnvironmentMismatchError       kernel packages differ from the lock  (kernel, differences)
    ├── KernelNotFoundError            no Jupyter kernel of that name            (kernel)
    ├── LockFileError                  the lock file is missing, unreadable or   (path, detail)
    │                                  not a uv.lock nbmlops understands
    ├── StageExecutionError            a stage failed while it ran               (stage, path)
    │   ├── CellExecutionError         a cell raised                             (cell_index, ename)
    │   ├── KernelDiedError            the kernel died mid-stage                 (cell_index)
    │   └── MissingProductError        the stage finished without a product      (product)
    ├── UpstreamProductsMissingError   a selected stage's upstream never ran     (stage, upstream)
    ├── PhiDetectedError               notebook outputs, a frame or a parameter  (path, findings,
    │                                  value hold what looks like PHI; nothing    stage, param)
    │                                  was logged
    ├── TrackingError                  MLflow could not be written               (uri)
    ├── SignatureError                 an electronic signature or signer was     (signer, reason)
    │                                  refused (bad credentials, inactive, ...)
    ├── ReviewError                    a run cannot be reviewed or a decision    (run_id, reason,
    │                                  not signed (missing or changed evidence,   path)
    │                                  an empty meaning, an unknown decision)
    ├── PhiInTextError                 a decision's meaning or comment, or a      (field, subject,
    │                                  deactivation reason, looks like PHI;        kinds)
    │                                  nothing was signed or recorded
    ├── RunInProgressError             another run holds the project's run lock  (handle, pid,
    │                                  (.nbmlops/run.lock)                        host, user, since)
    ├── UnknownRunError                no such run was started from this server  (handle)
    └── LedgerError                    the ledger cannot be read or written      (path)
        ├── LedgerTamperedError        verification found a bad entry            (line, reason)
        └── LedgerRepairError          repair refused: the damage is not an      (line, reason)
                                       interrupted append's incomplete last line
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "CellExecutionError",
    "CycleError",
    "DuplicateProductError",
    "DuplicateStageError",
    "EnvironmentMismatchError",
    "InvalidInputError",
    "KernelDiedError",
    "KernelNotFoundError",
    "LedgerError",
    "LedgerRepairError",
    "LedgerTamperedError",
    "LockFileError",
    "MalformedNotebookError",
    "MissingProductError",
    "NbmlopsError",
    "NotebookError",
    "ParameterError",
    "ParameterReassignedError",
    "ParametersCellError",
    "PhiDetectedError",
    "PipelineError",
    "PipelineNotFoundError",
    "ReviewError",
    "RunInProgressError",
    "SignatureError",
    "StageExecutionError",
    "StageMetadataError",
    "TrackingError",
    "UnknownRunError",
    "UnknownStageError",
    "UnknownUpstreamError",
    "UpstreamProductsMissingError",
]


class NbmlopsError(Exception):
    """Base of every error nbmlops raises on purpose; ``str(err)`` is the user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The error as JSON-able data (type, message and structured fields), for REST and logs."""
        fields = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(self).items()
            if k != "message" and not k.startswith("_")
        }
        return {"error": type(self).__name__, "message": self.message, **fields}


class InvalidInputError(NbmlopsError, ValueError):
    """A value given to a public function cannot be used (a wrong shape, an unknown option, an
    empty set): ``argument`` names it. Also a ``ValueError``, so code written before this class
    existed (``except ValueError``) keeps working."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


# -- notebooks -----------------------------------------------------------------------------------


class NotebookError(NbmlopsError):
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
    """The notebook's ``nbmlops`` metadata does not satisfy the stage schema."""

    def __init__(self, *, path: Path, field: str, detail: str) -> None:
        where = f" (field '{field}')" if field else ""
        super().__init__(
            f"{path}: stage metadata is invalid{where}: {detail}. "
            "Fix it with `nbmlops stage set` or the Stage form in JupyterLab.",
            path=path,
        )
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


class PipelineError(NbmlopsError):
    """The stages do not form a valid pipeline."""


class DuplicateStageError(PipelineError):
    def __init__(self, *, stage: str, paths: Sequence[Path]) -> None:
        names = ", ".join(str(p) for p in paths)
        super().__init__(
            f"stage '{stage}' is declared by more than one notebook: {names}. "
            "Stage names must be unique; rename one with `nbmlops stage set NOTEBOOK --stage NEW`."
        )
        self.stage = stage
        self.paths = [str(p) for p in paths]


class DuplicateProductError(PipelineError):
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


class CycleError(PipelineError):
    def __init__(self, *, cycle: Sequence[str]) -> None:
        loop = " -> ".join([*cycle, cycle[0]])
        super().__init__(
            f"the stages form a cycle: {loop}. Remove one of these upstream links to make a DAG."
        )
        self.cycle = list(cycle)


class UnknownStageError(PipelineError):
    def __init__(self, *, stage: str, known: Sequence[str]) -> None:
        super().__init__(
            f"no stage named '{stage}' in this pipeline (stages: {', '.join(sorted(known))})."
        )
        self.stage = stage


class PipelineNotFoundError(PipelineError):
    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


# -- running -------------------------------------------------------------------------------------


class ParameterError(NbmlopsError):
    """A run-time parameter is unknown, not plain JSON, or of a different type than its default."""

    def __init__(self, message: str, *, stage: str | None, param: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.param = param


class EnvironmentMismatchError(NbmlopsError):
    """The kernel's installed distributions differ from the lock file."""

    def __init__(self, *, kernel: str, lock: Path, differences: Sequence[str]) -> None:
        shown = "\n  ".join(differences[:40])
        more = f"\n  ... and {len(differences) - 40} more" if len(differences) > 40 else ""
        super().__init__(
            f"kernel '{kernel}' does not match {lock} ({len(differences)} package(s) differ):\n"
            f"  {shown}{more}\n"
            "Run `uv sync --frozen` to install the locked versions, or pass "
            "--allow-env-mismatch to run anyway (the mismatch is recorded)."
        )
        self.kernel = kernel
        self.lock = lock
        self.differences = list(differences)


class KernelNotFoundError(NbmlopsError):
    def __init__(self, *, kernel: str, available: Sequence[str]) -> None:
        super().__init__(
            f"no Jupyter kernel named '{kernel}' (installed: {', '.join(available) or 'none'}). "
            "Install it with `python -m ipykernel install --user --name NAME`, or change the "
            "stage's kernel."
        )
        self.kernel = kernel


class LockFileError(NbmlopsError):
    """The lock file is missing, unreadable, or not a ``uv.lock`` that nbmlops understands."""

    def __init__(self, *, path: Path, detail: str) -> None:
        super().__init__(
            f"{path}: cannot use this lock file ({detail}). Create or repair it with `uv lock` "
            "in the project, or point the stage's `environment` at the project's uv.lock."
        )
        self.path = path
        self.detail = detail


class StageExecutionError(NbmlopsError):
    """A stage failed while it ran; ``path`` is the partial executed notebook, kept for reading."""

    def __init__(self, message: str, *, stage: str, path: Path | None) -> None:
        super().__init__(message)
        self.stage = stage
        self.path = path


class CellExecutionError(StageExecutionError):
    def __init__(
        self, *, stage: str, path: Path | None, cell_index: int, ename: str, evalue: str
    ) -> None:
        super().__init__(
            f"stage '{stage}' failed in cell {cell_index + 1} (counting from 1, markdown "
            f"included): {ename}: {evalue}. "
            f"The partial executed notebook is kept at {path}.",
            stage=stage,
            path=path,
        )
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue


class KernelDiedError(StageExecutionError):
    def __init__(self, *, stage: str, path: Path | None, cell_index: int | None) -> None:
        where = f" while running cell {cell_index + 1}" if cell_index is not None else ""
        super().__init__(
            f"the kernel of stage '{stage}' died{where} (killed, or out of memory). "
            f"The partial executed notebook is kept at {path}; rerun with `nbmlops run`.",
            stage=stage,
            path=path,
        )
        self.cell_index = cell_index


class MissingProductError(StageExecutionError):
    def __init__(self, *, stage: str, path: Path | None, product: str, expected: Path) -> None:
        super().__init__(
            f"stage '{stage}' finished but did not write its product '{product}' "
            f"(expected at {expected}). Write it to product['{product}'] in the notebook, "
            "or remove it from the stage's products.",
            stage=stage,
            path=path,
        )
        self.product = product
        self.expected = expected


class UpstreamProductsMissingError(NbmlopsError):
    def __init__(self, *, stage: str, upstream: str) -> None:
        super().__init__(
            f"stage '{stage}' needs the products of '{upstream}', which has not run successfully. "
            f"Run it first (`nbmlops run ... --stage {upstream} --downstream`)."
        )
        self.stage = stage
        self.upstream = upstream


# -- protected health information ----------------------------------------------------------------


class PhiDetectedError(NbmlopsError):
    """Text about to be kept or logged looks like it holds PHI; it was refused, not written.

    ``path`` is the notebook (``None`` for a DataFrame or a parameter). Each of ``findings`` is a
    JSON-able dict with ``kind`` and where it is - ``cell_index`` (0-based, markdown cells
    included) and ``output_index`` for a notebook, ``column`` and ``rows`` for a frame,
    ``param`` for a run-time parameter value (then ``stage`` and ``param`` are set too) - never
    the value.
    """

    def __init__(
        self,
        *,
        path: Path | None,
        findings: Sequence[Mapping[str, object]],
        stage: str | None = None,
        param: str | None = None,
    ) -> None:
        self.stage, self.param = stage, param
        places: dict[str, list[str]] = {}
        for finding in findings:
            cell = finding.get("cell_index")
            where = (
                f"column {finding['column']!r}"
                if "column" in finding
                else f"cell {cell + 1 if isinstance(cell, int) else cell}"
            )
            if finding.get("detected_by") == "content":  # an identifier column by its values
                where += " (detected by content)"
            wheres = places.setdefault(str(finding.get("kind")), [])
            if where not in wheres:
                wheres.append(where)
        listed = "; ".join(f"{kind} in {', '.join(wheres)}" for kind, wheres in places.items())
        if param is not None:
            kinds = ", ".join(places)
            message = (
                f"parameter '{stage}.{param}' looks like it holds PHI ({kinds}), so the run was "
                "refused before any kernel started; parameter values are recorded in MLflow and "
                "the run record. Pass a de-identified value (a study key, a year), or run with "
                "--phi-policy redact to record it redacted."
            )
        elif path is None:
            message = (
                f"the de-identified frame still holds values that look like PHI ({listed}). "
                "Map those columns to their kind with identifiers={...}, drop them, or pass "
                "strict=False (columns detected by content are then treated as their kind, "
                "the others kept and flagged in the report)."
            )
        else:
            message = (
                f"{path}: outputs look like they hold PHI ({listed}; cells counted from 1, "
                "markdown included), so the notebook was not logged. Print aggregates instead "
                "of rows, de-identify the data first (nbmlops.privacy.deid), or log it with the "
                "'redact' PHI policy."
            )
        super().__init__(message)
        self.path = path
        self.findings = [dict(finding) for finding in findings]


# -- records -------------------------------------------------------------------------------------


class TrackingError(NbmlopsError):
    def __init__(self, message: str, *, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


class SignatureError(NbmlopsError):
    """An electronic signature, or a change to the signers, was refused.

    ``signer`` is the signer id as given (empty when there is none); ``reason`` says why, and
    never holds a password. A wrong password and an unknown signer give the same ``reason``.
    """

    def __init__(self, *, signer: str, reason: str) -> None:
        who = f" for '{signer}'" if signer else ""
        super().__init__(
            f"signature refused{who}: {reason}. Check the signer id and password; a signer "
            "administrator manages signers with `nbmlops signer`."
        )
        self.signer = signer
        self.reason = reason


class ReviewError(NbmlopsError):
    """A review session cannot open, or a decision cannot be signed; nothing was signed.

    ``run_id`` is the pipeline run under review, ``reason`` what is wrong and ``path`` the
    evidence file concerned, if any.
    """

    def __init__(self, *, run_id: str, reason: str, path: Path | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(f"review of run {run_id}: {reason}{where}")
        self.run_id = run_id
        self.reason = reason
        self.path = path


class PhiInTextError(NbmlopsError):
    """Free text typed for a signed or audited record looks like it holds PHI; nothing was kept.

    ``field`` names the text (``"meaning"``, ``"comment"``, ``"reason"``), ``subject`` what it was
    for (e.g. ``"the decision on run R"``) and ``kinds`` the kinds found - never the value.
    """

    def __init__(self, *, field: str, subject: str, kinds: Sequence[str]) -> None:
        found = ", ".join(kinds)
        super().__init__(
            f"the {field} for {subject} looks like it holds PHI ({found}), so nothing was signed "
            "or recorded: it would be kept in records that are signed and copied. Write it "
            "without patient identifiers (say 'the patient in row 12 of the holdout', not a "
            "name or MRN), or set phi_policy = 'redact' to record it redacted."
        )
        self.field = field
        self.subject = subject
        self.kinds = tuple(kinds)


class RunInProgressError(NbmlopsError):
    """Another run holds the project (``.nbmlops/run.lock``); nothing was started.

    ``handle`` names that run (its run id, else the Jupyter server's handle); ``pid``, ``host``,
    ``user``, ``since`` (UTC) and ``command`` say who started it, when it is known.
    """

    def __init__(
        self,
        *,
        handle: str,
        pid: int | None = None,
        host: str | None = None,
        user: str | None = None,
        since: str | None = None,
        command: str | None = None,
    ) -> None:
        who = f" (pid {pid} on {host}, started by {user} at {since}: {command})" if pid else ""
        super().__init__(
            f"run {handle} is running in this project{who}. Wait for it to finish "
            "(`nbmlops run --wait SECONDS` waits for you), then start again; one run at a time "
            "keeps runs from mixing their products."
        )
        self.handle = handle
        self.pid = pid
        self.host = host
        self.user = user
        self.since = since
        self.command = command


class UnknownRunError(NbmlopsError):
    def __init__(self, *, handle: str) -> None:
        super().__init__(f"no run {handle} was started from this server; start one first")
        self.handle = handle


class LedgerError(NbmlopsError):
    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class LedgerTamperedError(LedgerError):
    def __init__(self, *, path: Path, line: int, reason: str) -> None:
        super().__init__(
            f"{path}: ledger entry on line {line} fails verification: {reason}. "
            "The ledger after this point cannot be trusted; restore it from a backup and "
            "investigate who changed it.",
            path=path,
        )
        self.line = line
        self.reason = reason


class LedgerRepairError(LedgerError):
    def __init__(self, *, path: Path, line: int, reason: str) -> None:
        super().__init__(
            f"{path}: not repaired: line {line}: {reason}. `nbmlops audit repair` only moves "
            "the incomplete last line an interrupted append leaves; nothing was changed. Restore "
            "the ledger from a backup and investigate who changed it.",
            path=path,
        )
        self.line = line
        self.reason = reason
