"""What a caller gives a run (:class:`RunOptions`) and what it hears back (:class:`ProgressEvent`).

Kept apart from the scheduler (:mod:`nbmlops.run.execute`) so that the CLI's and the server's
progress printers name these types without importing the scheduler's dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nbmlops.privacy.telemetry import PhiPolicy
from nbmlops.records.model import JSON, StageResult

__all__ = ["Progress", "ProgressEvent", "RunOptions"]


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives, in order, from the scheduling thread."""

    kind: Literal["run_started", "stage_started", "stage_finished", "run_finished", "note"]
    stage: str | None = None
    result: StageResult | None = None
    message: str = ""


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What the caller asked of a run, as its ``run_started`` ledger entry records it."""

    overrides: dict[str, dict[str, JSON]]
    """The parameters given, as checked values passed through the PHI policy."""
    selection: tuple[str, ...]
    """The stages asked for (empty: all)."""
    force: bool
    jobs: int
    """As given; the scheduler runs at least one stage at a time."""
    phi_policy: PhiPolicy
