"""What a pipeline run produced: immutable values handed from execution to tracking and the ledger.

``execute`` builds a :class:`RunRecord` (one :class:`StageResult` per stage); ``tracking`` writes it
to MLflow and ``ledger`` appends its digests. Neither changes it: a later step that learns something
(an MLflow run id) returns a new value made with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from nbmlops._core.user import current_host, current_user
from nbmlops.errors import InvalidInputError

__all__ = [
    "JSON",
    "GitState",
    "Provenance",
    "RunRecord",
    "StageResult",
    "StageStatus",
    "collect_provenance",
]

JSON = Any  # a value that json.dumps accepts; kept loose because JSON is recursive

GitState = Literal["repository", "none", "unavailable", "unknown"]
"""Whether a run's project was under git (see :attr:`Provenance.git`)."""

StageStatus = Literal["succeeded", "failed", "skipped", "not_run"]
"""``skipped``: up to date, products reused; ``not_run``: an upstream failed or was not selected."""


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """The outcome of one stage in one pipeline run."""

    stage: str
    status: StageStatus
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float = 0.0
    kernel: str = "python3"
    params: dict[str, JSON] = field(default_factory=dict)
    fingerprint: str = ""
    """SHA-256 over source, parameters, upstream product digests and lock digest."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Digests of what went in: ``source``, ``environment``, ``upstream:<stage>.<product>``,
    ``input:<name>``."""
    declared_inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    """The stage's declared inputs: name -> ``path`` (as declared, relative to the project root),
    ``source`` (the absolute path the stage read) and ``sha256`` (of its content)."""
    products: dict[str, str] = field(default_factory=dict)
    """Product name -> absolute path (the executed notebook is ``nb``)."""
    product_digests: dict[str, str] = field(default_factory=dict)
    executed_notebook: str | None = None
    html: str | None = None
    scraps: dict[str, JSON] = field(default_factory=dict)
    error: dict[str, JSON] | None = None
    reason: str = ""
    """Why it ran (``never run``, ``parameters changed: seed`` ...) or why it did not."""
    produced_by: str | None = None
    """For a skipped stage: the pipeline run id whose products are reused."""
    produced_by_mlflow: str | None = None
    """For a skipped stage: the MLflow run id of the stage run that made the products."""
    mlflow_run_id: str | None = None

    def to_dict(self) -> dict[str, JSON]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where and from what a run was made."""

    git_commit: str | None
    git_dirty: bool | None
    python: str
    platform: str
    nbmlops_version: str
    user: str
    hostname: str
    git: GitState = "unknown"
    """``repository`` (``git_commit`` set, or None before a first commit), ``none`` (the project
    is in no git repository), ``unavailable`` (no ``git`` program); ``unknown`` in records made
    before this field."""

    def to_dict(self) -> dict[str, JSON]:
        return asdict(self)

    @property
    def git_note(self) -> str | None:
        """One line for a run's output when no commit can be recorded, else None."""
        if self.git == "none":
            return "not a git repository: no commit recorded for this run (git: none)"
        if self.git == "unavailable":
            return "git is not installed: no commit recorded for this run (git: unavailable)"
        if self.git == "repository" and self.git_commit is None:
            return "the git repository has no commit yet: none recorded for this run"
        return None


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One pipeline run: its provenance, options and the result of every stage."""

    run_id: str
    pipeline: str
    project_root: str
    started_at: str
    finished_at: str
    status: Literal["succeeded", "failed", "up_to_date"]
    provenance: Provenance
    lock_digest: str | None
    overrides: dict[str, dict[str, JSON]] = field(default_factory=dict)
    """``--param`` values given for this run, by stage."""
    selection: tuple[str, ...] = ()
    """Stages asked for with ``--stage`` (empty: all)."""
    force: bool = False
    jobs: int = 1
    environment_mismatch: tuple[str, ...] = ()
    """Differences from the lock that ``--allow-env-mismatch`` let through."""
    stages: tuple[StageResult, ...] = ()
    mlflow_run_id: str | None = None
    tracking_uri: str | None = None
    tracking_problem: str | None = None
    """Set when MLflow could not be written: what was not recorded and why."""
    notes: tuple[str, ...] = ()
    """Bookkeeping that failed without failing the run (an HTML export, a record)."""
    ledger_seq: int | None = None
    ledger_head: str | None = None
    """Seq and hash of this run's ``run_finished`` ledger entry (also the MLflow tag
    ``nbmlops.ledger_head``): an anchor ``nbmlops audit verify`` checks against the chain."""

    @property
    def duration_s(self) -> float:
        start = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.finished_at.replace("Z", "+00:00"))
        return (end - start).total_seconds()

    def stage(self, name: str) -> StageResult:
        """The result of the stage ``name``; an :class:`~nbmlops.errors.InvalidInputError` when
        this run did not select it."""
        for result in self.stages:
            if result.stage == name:
                return result
        stages = ", ".join(r.stage for r in self.stages) or "none"
        raise InvalidInputError(
            f"run {self.run_id} has no stage {name!r} (its stages: {stages})", argument="name"
        )

    def to_dict(self) -> dict[str, JSON]:
        data = asdict(self)
        data["duration_s"] = self.duration_s
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, default=str)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def collect_provenance(root: Path) -> Provenance:
    """Git commit and dirty flag of ``root``, interpreter, platform, user and nbmlops version."""
    from nbmlops import __version__

    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    git: GitState = "repository" if inside == "true" else "none"
    if inside is None and shutil.which("git") is None:
        git = "unavailable"
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD") if git == "repository" else None
    status = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    return Provenance(
        git=git,
        git_commit=commit,
        git_dirty=None if status is None else bool(status),
        python=sys.version.split()[0],
        platform=platform.platform(),
        nbmlops_version=__version__,
        user=current_user(),
        hostname=current_host(),
    )
