"""Errors of what nbmlops keeps: PHI refused before it is kept, MLflow, the ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from nbmlops.errors.categories import IntegrityError, RefusedError, ServiceError

__all__ = [
    "LedgerError",
    "LedgerRepairError",
    "LedgerTamperedError",
    "PhiDetectedError",
    "TrackingError",
]


# -- protected health information ----------------------------------------------------------------


class PhiDetectedError(RefusedError):
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


# -- MLflow --------------------------------------------------------------------------------------


class TrackingError(ServiceError):
    def __init__(self, message: str, *, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


# -- the ledger ----------------------------------------------------------------------------------


class LedgerError(IntegrityError):
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
