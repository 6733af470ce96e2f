"""The root of the error tree and its categories: what kind of failure, decided once.

Every error nbmlops raises derives from exactly one category (listed first among its bases when
it also derives from a domain base such as :class:`~nbmlops.errors.PipelineError`), and the
category alone decides what callers do with it: the HTTP status the Jupyter server extension
answers with (``http_status``), and what a caller may catch (``except NotFoundError``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "CATEGORIES",
    "ConflictError",
    "ExecutionError",
    "IntegrityError",
    "InvalidInputError",
    "NbmlopsError",
    "NotFoundError",
    "RefusedError",
    "ServiceError",
    "SetupError",
    "category_of",
]


class NbmlopsError(Exception):
    """Base of every error nbmlops raises on purpose; ``str(err)`` is the user-facing message."""

    http_status: ClassVar[int] = 400
    """The status a REST answer carries for this error (its category's)."""

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
    existed (``except ValueError``) keeps working.

    The category of everything a user wrote that nbmlops cannot use: a notebook, its stage
    metadata, a pipeline's stages, a parameter.
    """

    http_status: ClassVar[int] = 400
    argument: str | None = None
    """The argument at fault. Only set when given: the errors of this category that name their
    value by their own fields (``path``, ``param`` ...) leave it out of :meth:`to_dict`."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        if argument is not None:
            self.argument = argument


class NotFoundError(NbmlopsError):
    """Something named does not exist: a pipeline, a stage, a run."""

    http_status: ClassVar[int] = 404


class ConflictError(NbmlopsError):
    """The request contradicts the project as it stands: stages that clash (a cycle, a name or
    a product declared twice), another run holding the project."""

    http_status: ClassVar[int] = 409


class SetupError(NbmlopsError):
    """The machine is not as the project requires: a kernel missing, installed packages that
    differ from the lock, a lock file nbmlops cannot use."""

    http_status: ClassVar[int] = 400


class IntegrityError(NbmlopsError):
    """The audit records cannot be trusted or kept as they are: the ledger is damaged or cannot
    be written, an entry or a piece of evidence disagrees with its hash."""

    http_status: ClassVar[int] = 400


class RefusedError(NbmlopsError):
    """nbmlops refused on purpose and kept nothing: a signature, a decision, text or outputs
    that look like PHI."""

    http_status: ClassVar[int] = 400


class ServiceError(NbmlopsError):
    """A service nbmlops records into (the MLflow tracking store) could not be used."""

    http_status: ClassVar[int] = 400


class ExecutionError(NbmlopsError):
    """A stage cannot run, or failed while it ran."""

    http_status: ClassVar[int] = 400


CATEGORIES: tuple[type[NbmlopsError], ...] = (
    InvalidInputError,
    NotFoundError,
    ConflictError,
    SetupError,
    IntegrityError,
    RefusedError,
    ServiceError,
    ExecutionError,
)
"""Every category, each a direct subclass of :class:`NbmlopsError`."""


def category_of(error: type[NbmlopsError]) -> type[NbmlopsError] | None:
    """The category of an error class: the first category in its method resolution order (the
    one whose ``http_status`` it has); ``None`` for :class:`NbmlopsError` itself."""
    return next((c for c in error.__mro__ if c in CATEGORIES), None)
