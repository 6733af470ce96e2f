"""Errors of running a pipeline: the machine it needs, a stage that failed, the run lock; a
sweep's definition and its lock."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nbmlops.errors.categories import (
    ConflictError,
    ExecutionError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
    SetupError,
)

__all__ = [
    "CellExecutionError",
    "ClusterUnreachableError",
    "EnvironmentMismatchError",
    "InputChangedError",
    "KernelDiedError",
    "KernelNotFoundError",
    "LockFileError",
    "MissingProductError",
    "ProjectNotVisibleError",
    "RunInProgressError",
    "StageExecutionError",
    "SweepError",
    "SweepInProgressError",
    "UnknownRunError",
    "UnknownSweepError",
    "UpstreamProductsMissingError",
    "WorkerDiedError",
]


# -- the machine ---------------------------------------------------------------------------------


class EnvironmentMismatchError(SetupError):
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


class KernelNotFoundError(SetupError):
    def __init__(self, *, kernel: str, available: Sequence[str]) -> None:
        super().__init__(
            f"no Jupyter kernel named '{kernel}' (installed: {', '.join(available) or 'none'}). "
            "Install it with `python -m ipykernel install --user --name NAME`, or change the "
            "stage's kernel."
        )
        self.kernel = kernel


class LockFileError(SetupError):
    """The lock file is missing, unreadable, or not a ``uv.lock`` that nbmlops understands."""

    def __init__(self, *, path: Path, detail: str) -> None:
        super().__init__(
            f"{path}: cannot use this lock file ({detail}). Create or repair it with `uv lock` "
            "in the project, or point the stage's `environment` at the project's uv.lock."
        )
        self.path = path
        self.detail = detail


# -- stages --------------------------------------------------------------------------------------


class StageExecutionError(ExecutionError):
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


class InputChangedError(StageExecutionError):
    """A declared input's digest at the end of its stage differs from the one at its start: the
    stage wrote into it, or something else changed it while the stage read it."""

    def __init__(
        self, *, stage: str, path: Path | None, input: str, input_path: str, before: str, after: str
    ) -> None:
        super().__init__(
            f"stage '{stage}': input '{input}' ({input_path}) changed while the stage ran "
            f"(sha256 {before[:12]}… at the start, {after[:12]}… at the end). A stage must only "
            f"read its inputs: write what it makes to product[...], not into inputs['{input}']; "
            "if another program was updating the data, let it finish and run again. The previous "
            "products are untouched.",
            stage=stage,
            path=path,
        )
        self.input = input
        self.input_path = input_path
        self.before = before
        self.after = after


class UpstreamProductsMissingError(ExecutionError):
    def __init__(self, *, stage: str, upstream: str) -> None:
        super().__init__(
            f"stage '{stage}' needs the products of '{upstream}', which has not run successfully. "
            f"Run it first (`nbmlops run ... --stage {upstream} --downstream`)."
        )
        self.stage = stage
        self.upstream = upstream


# -- one run per project -------------------------------------------------------------------------


class RunInProgressError(ConflictError):
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


class UnknownRunError(NotFoundError):
    def __init__(self, *, handle: str) -> None:
        super().__init__(f"no run {handle} was started from this server; start one first")
        self.handle = handle


# -- sweeps --------------------------------------------------------------------------------------


class SweepError(InvalidInputError):
    """A sweep cannot be run as defined: an empty or malformed grid, a sweep file that cannot be
    read, a point whose value is of the wrong type (``point`` names it: its number and its
    parameters), a sweep of that name defined with other points, or too many points without
    ``--yes``. Nothing has run."""

    def __init__(
        self,
        message: str,
        *,
        sweep: str | None,
        point: str | None = None,
        argument: str | None = None,
    ) -> None:
        super().__init__(message, argument=argument)
        self.sweep = sweep
        self.point = point


class UnknownSweepError(NotFoundError):
    """No sweep of that name in the project (``.nbmlops/sweeps/<pipeline>/<sweep>/sweep.json``)."""

    def __init__(self, *, pipeline: str, sweep: str) -> None:
        super().__init__(
            f"no sweep '{sweep}' of pipeline '{pipeline}' in this project; `nbmlops sweep` "
            "starts one (GET /nbmlops/sweeps lists those there are)"
        )
        self.pipeline = pipeline
        self.sweep = sweep


class SweepInProgressError(ConflictError):
    """A sweep of this name is running (``.nbmlops/sweeps/<pipeline>/<sweep>/sweep.lock``);
    nothing was started. ``pid``, ``host``, ``user`` and ``since`` name it when known."""

    def __init__(
        self,
        *,
        pipeline: str,
        sweep: str,
        pid: int | None = None,
        host: str | None = None,
        user: str | None = None,
        since: str | None = None,
    ) -> None:
        who = f" (pid {pid} on {host}, started by {user} at {since})" if pid else ""
        super().__init__(
            f"sweep '{sweep}' of pipeline '{pipeline}' is already running{who}. Wait for it to "
            "finish, or give this one another name with --name; rerunning it afterwards resumes "
            "it (finished points are skipped)."
        )
        self.pipeline = pipeline
        self.sweep = sweep
        self.pid = pid
        self.host = host
        self.user = user
        self.since = since


# -- sweeps on a Dask cluster --------------------------------------------------------------------


class ClusterUnreachableError(ServiceError):
    """The Dask scheduler of ``nbmlops sweep --executor dask`` cannot be used (``address``):
    nothing answered within the connect timeout, or it has no workers (then nothing ran and
    nothing was recorded), or the connection was lost mid-sweep (``detail`` says which)."""

    def __init__(self, *, address: str, detail: str) -> None:
        super().__init__(
            f"cannot use the Dask scheduler at {address}: {detail}. Start it (`dask scheduler`) "
            f"and its workers (`dask worker {address}`) where the project folder is visible, or "
            "give the address it listens on with --scheduler tcp://HOST:8786."
        )
        self.address = address
        self.detail = detail


class ProjectNotVisibleError(SetupError):
    """A Dask worker cannot see the project folder at ``path``: workers read notebooks and
    upstream products and write a point's products there, so they must run where that path is
    the same folder (this machine, or a shared filesystem mounted at the same path)."""

    def __init__(self, *, path: Path, worker: str, host: str) -> None:
        super().__init__(
            f"the Dask worker {worker} on {host} cannot see the project folder {path}; the point "
            "was not run. Start the workers on a machine where that folder is visible at the same "
            f"path (a shared filesystem mounted at {path}), then run the sweep again with "
            "--retry-failed."
        )
        self.path = path
        self.worker = worker
        self.host = host


class WorkerDiedError(ExecutionError):
    """The Dask worker running a point died mid-point (killed, out of memory). Dask hands such a
    task to another worker; nbmlops fails the point there instead of running it again, because
    the dead attempt's kernel may still be writing into the point's folder."""

    def __init__(self, *, point: str, worker: str, host: str, since: str) -> None:
        super().__init__(
            f"the Dask worker {worker} on {host} died while running point {point} (started "
            f"{since}): killed, or out of memory. The point was not run again on another worker; "
            "run the sweep again with --retry-failed to rerun it."
        )
        self.point = point
        self.worker = worker
        self.host = host
        self.since = since
