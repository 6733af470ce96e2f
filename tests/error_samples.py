"""One instance of every error class nbmlops exports, with the category and REST status each
had before the categories existed (the REST status must not change)."""

from __future__ import annotations

from pathlib import Path

from nbmlops import errors
from nbmlops.errors import NbmlopsError

NB = Path("notebooks/train.ipynb")

SAMPLES: dict[str, NbmlopsError] = {
    "InvalidInputError": errors.InvalidInputError("n must be positive", argument="n"),
    "NotFoundError": errors.NotFoundError("no such thing"),
    "ConflictError": errors.ConflictError("clashes"),
    "SetupError": errors.SetupError("not set up"),
    "IntegrityError": errors.IntegrityError("does not add up"),
    "RefusedError": errors.RefusedError("refused"),
    "ServiceError": errors.ServiceError("MLflow is down"),
    "ExecutionError": errors.ExecutionError("failed"),
    "NotebookError": errors.NotebookError("unusable", path=NB),
    "MalformedNotebookError": errors.MalformedNotebookError(path=NB, detail="bad JSON"),
    "StageMetadataError": errors.StageMetadataError(path=NB, field="stage", detail="empty"),
    "ParametersCellError": errors.ParametersCellError("no cell", path=NB, param="seed"),
    "ParameterReassignedError": errors.ParameterReassignedError(
        path=NB, stage="train", param="seed", cell_index=3, line=2
    ),
    "PipelineError": errors.PipelineError("not a DAG"),
    "DuplicateStageError": errors.DuplicateStageError(stage="train", paths=[NB, NB]),
    "DuplicateProductError": errors.DuplicateProductError(path="m.pkl", stages=["a", "b"]),
    "UnknownUpstreamError": errors.UnknownUpstreamError(
        stage="train", upstream="nope", known=["load"], path=NB
    ),
    "CycleError": errors.CycleError(cycle=["a", "b"]),
    "UnknownStageError": errors.UnknownStageError(stage="nope", known=["load"]),
    "PipelineNotFoundError": errors.PipelineNotFoundError("none here", path=Path("nowhere")),
    "ParameterError": errors.ParameterError("wrong type", stage="train", param="seed"),
    "EnvironmentMismatchError": errors.EnvironmentMismatchError(
        kernel="python3", lock=Path("uv.lock"), differences=["numpy 1 != 2"]
    ),
    "KernelNotFoundError": errors.KernelNotFoundError(kernel="r", available=["python3"]),
    "LockFileError": errors.LockFileError(path=Path("uv.lock"), detail="missing"),
    "StageExecutionError": errors.StageExecutionError("disk full", stage="train", path=None),
    "CellExecutionError": errors.CellExecutionError(
        stage="train", path=NB, cell_index=2, ename="ValueError", evalue="bad"
    ),
    "KernelDiedError": errors.KernelDiedError(stage="train", path=NB, cell_index=None),
    "MissingProductError": errors.MissingProductError(
        stage="train", path=NB, product="model", expected=Path("build/model.pkl")
    ),
    "StageInputError": errors.StageInputError(
        stage="cohort", input="extract", path="data/x.parquet", reason="missing", root=Path("p")
    ),
    "InputChangedError": errors.InputChangedError(
        stage="cohort",
        path=NB,
        input="extract",
        input_path="data/x",
        before="a" * 64,
        after="b" * 64,
    ),
    "UpstreamProductsMissingError": errors.UpstreamProductsMissingError(
        stage="train", upstream="load"
    ),
    "PhiDetectedError": errors.PhiDetectedError(
        path=NB, findings=[{"kind": "ssn", "cell_index": 1, "output_index": 0}]
    ),
    "TrackingError": errors.TrackingError("cannot write", uri="sqlite:///mlflow.db"),
    "SignatureError": errors.SignatureError(signer="jdoe", reason="bad credentials"),
    "ReviewError": errors.ReviewError(run_id="r-1", reason="no such run"),
    "EvidenceChangedError": errors.EvidenceChangedError(
        run_id="r-1", reason="it changed", path=Path("build/x.json")
    ),
    "PhiInTextError": errors.PhiInTextError(field="comment", subject="the run", kinds=["mrn"]),
    "RunInProgressError": errors.RunInProgressError(handle="r-0"),
    "SweepError": errors.SweepError("point 2 of 4: wrong type", sweep="s", point="2"),
    "SweepInProgressError": errors.SweepInProgressError(pipeline="demo", sweep="s", pid=1),
    "ClusterUnreachableError": errors.ClusterUnreachableError(
        address="tcp://127.0.0.1:8786", detail="no answer within 5 s"
    ),
    "ProjectNotVisibleError": errors.ProjectNotVisibleError(
        path=Path("/srv/study"), worker="tcp://10.0.0.2:40000", host="node2"
    ),
    "WorkerDiedError": errors.WorkerDiedError(
        point="0123456789ab", worker="tcp://10.0.0.2:40000", host="node2", since="2026-12-03"
    ),
    "UnknownRunError": errors.UnknownRunError(handle="20260101T000000Z-abcdef"),
    "UnknownSweepError": errors.UnknownSweepError(pipeline="demo", sweep="s"),
    "RecordedRunNotFoundError": errors.RecordedRunNotFoundError(
        run="20260101T000000Z", root=Path("/srv/study")
    ),
    "ReproductionError": errors.ReproductionError(
        "its declared input fit.raw changed",
        run_id="r-1",
        reason="input_changed",
        subject="fit.raw",
        path=Path("data/raw.csv"),
    ),
    "NotAProjectError": errors.NotAProjectError(path=Path("/tmp/empty")),
    "ProjectConflictError": errors.ProjectConflictError(
        path=Path("pyproject.toml"), reason="no nbmlops dependency", fix="add it"
    ),
    "ProjectNotWritableError": errors.ProjectNotWritableError(
        path=Path("/srv/ro"), detail="permission denied"
    ),
    "LedgerError": errors.LedgerError("cannot write", path=Path(".nbmlops/ledger.jsonl")),
    "LedgerTamperedError": errors.LedgerTamperedError(
        path=Path(".nbmlops/ledger.jsonl"), line=3, reason="hash"
    ),
    "LedgerRepairError": errors.LedgerRepairError(
        path=Path(".nbmlops/ledger.jsonl"), line=3, reason="not the last line"
    ),
}
"""Every exported error class but the root, by name."""

CATEGORY = {
    **{c: c for c in ("InvalidInputError", "NotFoundError", "ConflictError", "SetupError")},
    **{c: c for c in ("IntegrityError", "RefusedError", "ServiceError", "ExecutionError")},
    **dict.fromkeys(
        (
            "NotebookError", "MalformedNotebookError", "StageMetadataError", "ParametersCellError",
            "ParameterReassignedError", "PipelineError", "UnknownUpstreamError", "ParameterError",
            "StageInputError", "SweepError",
        ),
        "InvalidInputError",
    ),
    **dict.fromkeys(
        (
            "UnknownStageError", "PipelineNotFoundError", "UnknownRunError", "UnknownSweepError",
            "RecordedRunNotFoundError",
        ),
        "NotFoundError",
    ),
    **dict.fromkeys(
        (
            "DuplicateStageError", "DuplicateProductError", "CycleError", "RunInProgressError",
            "ProjectConflictError", "SweepInProgressError",
        ),
        "ConflictError",
    ),
    **dict.fromkeys(
        (
            "EnvironmentMismatchError", "KernelNotFoundError", "LockFileError", "NotAProjectError",
            "ProjectNotWritableError", "ProjectNotVisibleError",
        ),
        "SetupError",
    ),
    **dict.fromkeys(
        ("LedgerError", "LedgerTamperedError", "LedgerRepairError", "EvidenceChangedError"),
        "IntegrityError",
    ),
    **dict.fromkeys(
        ("SignatureError", "ReviewError", "PhiDetectedError", "PhiInTextError",
         "ReproductionError"),
        "RefusedError",
    ),
    "TrackingError": "ServiceError",
    "ClusterUnreachableError": "ServiceError",
    **dict.fromkeys(
        (
            "StageExecutionError", "CellExecutionError", "KernelDiedError", "MissingProductError",
            "UpstreamProductsMissingError", "InputChangedError", "WorkerDiedError",
        ),
        "ExecutionError",
    ),
}  # fmt: skip
"""The category of every exported error class."""

STATUS_BEFORE_CATEGORIES = {
    name: 404
    if name in ("PipelineNotFoundError", "UnknownStageError", "UnknownRunError")
    else 409
    if name in ("CycleError", "DuplicateStageError", "DuplicateProductError", "RunInProgressError")
    else 400
    for name in SAMPLES
    # new: nothing raised them before
    if name
    not in (
        "NotFoundError",
        "UnknownSweepError",
        "ConflictError",
        "ProjectConflictError",
        "SweepError",
        "SweepInProgressError",
        "ClusterUnreachableError",
        "ProjectNotVisibleError",
        "WorkerDiedError",
        "RecordedRunNotFoundError",
        "ReproductionError",
    )
}
"""The REST status of each class as the server's handler decided it before the categories (two
tuples of classes, everything else 400): the categories must answer the same."""
