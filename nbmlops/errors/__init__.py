"""Every error nbmlops raises on purpose.

Each error carries structured fields (``stage``, ``path``, ``param``, ``cell_index`` ...) so
that the CLI, the Jupyter server extension and tests can act on them without parsing prose,
and its message says what to do next. Anything else escaping nbmlops is a bug.

Every error belongs to one category (:mod:`nbmlops.errors.categories`), which decides its REST
status (``http_status``, in brackets); where an error also has a domain base, the category is
its first base. Import every name from ``nbmlops.errors``; the submodules hold them by domain.

::

    NbmlopsError
    ├── InvalidInputError [400]        a value given cannot be used              (argument)
    │   │                              (also a ValueError)
    │   ├── NotebookError              a notebook file cannot be used            (path)
    │   │   ├── MalformedNotebookError   not valid notebook JSON                 (path, detail)
    │   │   ├── StageMetadataError       metadata fails the schema         (path, field, detail)
    │   │   └── ParametersCellError      no / unreadable ``parameters`` cell,    (path, param)
    │   │       │                        or it disagrees with the declared params
    │   │       └── ParameterReassignedError  a later cell assigns a declared (stage, param,
    │   │                                parameter again                  cell_index, line)
    │   ├── PipelineError              the set of stages is not a valid DAG
    │   │   ├── UnknownUpstreamError     a stage names a stage that does not  (stage, upstream)
    │   │   │                            exist
    │   │   ├── DuplicateStageError      (ConflictError)                         see below
    │   │   ├── DuplicateProductError    (ConflictError)                         see below
    │   │   ├── CycleError               (ConflictError)                         see below
    │   │   ├── UnknownStageError        (NotFoundError)                         see below
    │   │   └── PipelineNotFoundError    (NotFoundError)                         see below
    │   ├── ParameterError             a run-time parameter is unknown, of the   (stage, param)
    │   │                              wrong type, or not plain JSON
    │   ├── StageInputError            a declared input is missing, outside the  (stage, input,
    │   │                              project or a symlink out of it             path, reason)
    │   └── SweepError                 a sweep's grid, file or a point's value   (sweep, point,
    │                                  cannot be used; nothing ran                argument)
    ├── NotFoundError [404]            something named does not exist
    │   ├── UnknownStageError          a selected stage does not exist           (stage)
    │   ├── PipelineNotFoundError      no compiled pipeline / no stages found    (path)
    │   ├── UnknownRunError            no such run was started from this server  (handle)
    │   ├── UnknownSweepError          no sweep of that name in the project      (pipeline, sweep)
    │   └── RecordedRunNotFoundError   no run record matches RUN|latest|approved (run, root,
    │                                  (report, card, reproduce)                   reason)
    ├── ConflictError [409]            the request contradicts the project as it stands
    │   ├── DuplicateStageError        two notebooks declare one stage name      (stage, paths)
    │   ├── DuplicateProductError      two stages write one product path         (path, stages)
    │   ├── CycleError                 the DAG has a cycle                       (cycle)
    │   ├── ProjectConflictError       `nbmlops init` would overwrite a file     (path, reason)
    │   │                              (a pyproject.toml of another project)
    │   ├── RunInProgressError         another run holds the project's run lock  (handle, pid,
    │   │                              (.nbmlops/run.lock)                        host, user, since)
    │   └── SweepInProgressError       a sweep of that name is running           (pipeline, sweep,
    │                                                                             pid, host, user)
    ├── SetupError [400]               the machine is not as the project requires
    │   ├── EnvironmentMismatchError   kernel packages differ from the lock  (kernel, differences)
    │   ├── ProjectNotVisibleError     a Dask worker cannot see the project      (path, worker,
    │   │                              folder (a sweep point's failure)            host)
    │   ├── KernelNotFoundError        no Jupyter kernel of that name            (kernel)
    │   ├── NotAProjectError           no pyproject.toml or uv.lock at the       (path)
    │   │                              project root: run `nbmlops init`
    │   ├── ProjectNotWritableError    `nbmlops init` cannot write the folder    (path, detail)
    │   └── LockFileError              the lock file is missing, unreadable or   (path, detail)
    │                                  not a uv.lock nbmlops understands
    ├── IntegrityError [400]           the audit records cannot be trusted or kept as they are
    │   ├── LedgerError                the ledger cannot be read or written      (path)
    │   │   ├── LedgerTamperedError    verification found a bad entry            (line, reason)
    │   │   └── LedgerRepairError      repair refused: the damage is not an      (line, reason)
    │   │                              interrupted append's incomplete last line
    │   └── EvidenceChangedError       a file a review rests on changed since    (run_id, reason,
    │                                  its run (also a ReviewError)                path)
    ├── RefusedError [400]             refused on purpose; nothing was kept
    │   ├── SignatureError             an electronic signature or signer was     (signer, reason)
    │   │                              refused (bad credentials, inactive, ...)
    │   ├── ReviewError                a run cannot be reviewed or a decision    (run_id, reason,
    │   │   │                          not signed (missing evidence, an empty      path)
    │   │   │                          meaning, an unknown decision)
    │   │   └── EvidenceChangedError   (IntegrityError)                          see above
    │   ├── PhiDetectedError           notebook outputs, a frame or a parameter  (path, findings,
    │   │                              value hold what looks like PHI; nothing    stage, param)
    │   │                              was logged
    │   ├── PhiInTextError             a decision's meaning or comment, or a      (field, subject,
    │   │                              deactivation reason, looks like PHI;        kinds)
    │   │                              nothing was signed or recorded
    │   └── ReproductionError          a recorded run cannot be reproduced: its  (run_id, reason,
    │                                  commit, dirty worktree, lock or an input    subject, path)
    ├── ServiceError [400]             a service nbmlops records into failed
    │   ├── TrackingError              MLflow could not be written               (uri)
    │   └── ClusterUnreachableError    the Dask scheduler did not answer, or has (address, detail)
    │                                  no workers; nothing ran
    └── ExecutionError [400]           a stage cannot run, or failed while it ran
        ├── StageExecutionError        a stage failed while it ran               (stage, path)
        │   ├── CellExecutionError     a cell raised                             (cell_index, ename)
        │   ├── KernelDiedError        the kernel died mid-stage                 (cell_index)
        │   ├── MissingProductError    the stage finished without a product      (product)
        │   └── InputChangedError      a declared input changed while the stage  (input,
        │                              ran (it wrote into it, or another did)     before, after)
        ├── UpstreamProductsMissingError  a selected stage's upstream never ran  (stage, upstream)
        └── WorkerDiedError            the Dask worker running a sweep point     (point, worker,
                                       died; the point failed, not rerun           host, since)
"""

from __future__ import annotations

from nbmlops.errors.approval import (
    EvidenceChangedError,
    PhiInTextError,
    ReviewError,
    SignatureError,
)
from nbmlops.errors.categories import (
    CATEGORIES,
    ConflictError,
    ExecutionError,
    IntegrityError,
    InvalidInputError,
    NbmlopsError,
    NotFoundError,
    RefusedError,
    ServiceError,
    SetupError,
    category_of,
)
from nbmlops.errors.pipelines import (
    CycleError,
    DuplicateProductError,
    DuplicateStageError,
    MalformedNotebookError,
    NotebookError,
    ParameterError,
    ParameterReassignedError,
    ParametersCellError,
    PipelineError,
    PipelineNotFoundError,
    StageInputError,
    StageMetadataError,
    UnknownStageError,
    UnknownUpstreamError,
)
from nbmlops.errors.projects import (
    NotAProjectError,
    ProjectConflictError,
    ProjectNotWritableError,
)
from nbmlops.errors.records import (
    LedgerError,
    LedgerRepairError,
    LedgerTamperedError,
    PhiDetectedError,
    TrackingError,
)
from nbmlops.errors.reproduction import RecordedRunNotFoundError, ReproductionError
from nbmlops.errors.runs import (
    CellExecutionError,
    ClusterUnreachableError,
    EnvironmentMismatchError,
    InputChangedError,
    KernelDiedError,
    KernelNotFoundError,
    LockFileError,
    MissingProductError,
    ProjectNotVisibleError,
    RunInProgressError,
    StageExecutionError,
    SweepError,
    SweepInProgressError,
    UnknownRunError,
    UnknownSweepError,
    UpstreamProductsMissingError,
    WorkerDiedError,
)

__all__ = [
    "CATEGORIES",
    "CellExecutionError",
    "ClusterUnreachableError",
    "ConflictError",
    "CycleError",
    "DuplicateProductError",
    "DuplicateStageError",
    "EnvironmentMismatchError",
    "EvidenceChangedError",
    "ExecutionError",
    "InputChangedError",
    "IntegrityError",
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
    "NotAProjectError",
    "NotFoundError",
    "NotebookError",
    "ParameterError",
    "ParameterReassignedError",
    "ParametersCellError",
    "PhiDetectedError",
    "PhiInTextError",
    "PipelineError",
    "PipelineNotFoundError",
    "ProjectConflictError",
    "ProjectNotVisibleError",
    "ProjectNotWritableError",
    "RecordedRunNotFoundError",
    "RefusedError",
    "ReproductionError",
    "ReviewError",
    "RunInProgressError",
    "ServiceError",
    "SetupError",
    "SignatureError",
    "StageExecutionError",
    "StageInputError",
    "StageMetadataError",
    "SweepError",
    "SweepInProgressError",
    "TrackingError",
    "UnknownRunError",
    "UnknownStageError",
    "UnknownSweepError",
    "UnknownUpstreamError",
    "UpstreamProductsMissingError",
    "WorkerDiedError",
    "category_of",
]
