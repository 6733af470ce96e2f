"""Which recorded run ``RUN|latest|approved`` names: resolved once, for the report, the model card
and the reproduction.

- a run id (``20261203T170000Z-1a2b3c``), or a prefix of exactly one run id;
- ``latest``: the newest recorded run (run ids start with their UTC time);
- ``approved``: the newest run whose latest signed decision is an approval that no later approval
  of the same pipeline superseded (the registry's ``approved`` alias).

``pipeline`` narrows each to the runs of one pipeline. Only run records
(``.nbmlops/runs/<id>.json``) and, for ``approved``, the ledger's decisions are read.
"""

from __future__ import annotations

import json
from pathlib import Path

from nbmlops._core.paths import RUNS, run_record_path
from nbmlops.errors import RecordedRunNotFoundError

__all__ = ["SPECIAL", "resolve_run"]

SPECIAL = ("latest", "approved")
"""The names that are not run ids."""


def _pipeline_of(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # `nbmlops audit verify` reports an unreadable record
    return str(data.get("pipeline")) if isinstance(data, dict) else None


def resolve_run(root: Path, which: str, *, pipeline: str | None = None) -> str:
    """The run id ``which`` names in project ``root``.

    Parameters
    ----------
    root : Path
        The project folder.
    which : str
        A run id, a unique prefix of one, ``"latest"`` or ``"approved"``.
    pipeline : str, optional
        Only runs of this pipeline.

    Returns
    -------
    str
        The full run id; its record is ``.nbmlops/runs/<id>.json``.

    Raises
    ------
    RecordedRunNotFoundError
        Nothing recorded matches (or a prefix matches several runs: they are named).
    LedgerTamperedError
        ``approved`` asked for and the ledger does not verify: its decisions cannot be trusted.

    Examples
    --------
    >>> resolve_run(root, "latest", pipeline="demo")  # doctest: +SKIP
    '20261203T170000Z-1a2b3c'
    """
    folder = Path(root) / RUNS
    where = f" of pipeline '{pipeline}'" if pipeline else ""
    if which == "approved":
        return _approved(Path(root), pipeline, where, folder)
    records = sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []
    if pipeline is not None:
        records = [p for p in records if _pipeline_of(p) == pipeline]
    if which == "latest":
        if not records:
            reason = f"no run{where} recorded yet; run the pipeline first (`nbmlops run`)"
            raise RecordedRunNotFoundError(run=which, root=root, reason=reason)
        return records[0].stem
    exact = run_record_path(Path(root), which)
    if exact.is_file() and (pipeline is None or _pipeline_of(exact) == pipeline):
        return which
    matches = [p.stem for p in records if p.stem.startswith(which)] if which else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        reason = f"the prefix matches {len(matches)} runs{where} ({shown}); give more of the id"
    else:
        reason = (
            f"no run{where} has that id; `nbmlops review list` and `nbmlops status` name the "
            "recorded runs"
        )
    raise RecordedRunNotFoundError(run=which, root=root, reason=reason)


def _approved(root: Path, pipeline: str | None, where: str, folder: Path) -> str:
    from nbmlops.approval.reviews import list_reviews

    for review in list_reviews(root):  # newest first
        if review.status == "approved" and (pipeline is None or review.pipeline == pipeline):
            return review.run_id
    reason = f"no run{where} is approved (`nbmlops review list` shows where each run stands)"
    raise RecordedRunNotFoundError(run="approved", root=root, reason=reason)
