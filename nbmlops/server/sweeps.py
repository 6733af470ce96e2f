"""What the Pipeline panel shows of the project's sweeps, read from their files (no MLflow).

A sweep is ``.nbmlops/sweeps/<pipeline>/<sweep>/`` (:mod:`nbmlops.sweep.state`): its definition
``sweep.json`` lists every point, ``points/<point>.json`` says how each went. A point without a
file has not started (``pending``). Whether a sweep runs now is read from its lock's holder file
``sweep.lock.json``, never by taking the lock (asking must not refuse a sweep that starts that
instant); a holder whose process is gone from this host is a killed sweep's leftover. A point a
killed sweep left ``running`` counts as ``pending``: nothing runs it, and a rerun starts it again.

Only counts, ids, times, parameters and numeric metrics are answered: no error text, no scraps
other than numbers (either may hold what a notebook printed about a patient).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nbmlops._core.user import current_host
from nbmlops.errors import UnknownSweepError
from nbmlops.sweep.state import SWEEPS, read_points, read_sweep, sweep_dir

__all__ = ["STATUSES", "sweep_view", "sweeps_view"]

STATUSES = ("pending", "running", "succeeded", "failed", "skipped")
SUMMARY = "summary.html"
"""``build/<pipeline>/sweeps/<sweep>/summary.html``: the sweep's summary page (written by the
sweep's parent process when a run of it ends, and by ``nbmlops sweep results SWEEP --html``)."""


def sweeps_view(root: Path) -> dict[str, Any]:
    """Every sweep of the project at ``root``, newest first: its points counted by status,
    whether it runs now, when it was created and last finished, its MLflow run and summary
    page (paths relative to ``root``)."""
    folder = root / SWEEPS
    found = []
    for pipeline in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ():
        for sweep in sorted(s for s in pipeline.iterdir() if (s / "sweep.json").is_file()):
            summary = _summary(root, pipeline.name, sweep.name)
            if summary is not None:
                found.append(summary)
    found.sort(key=lambda s: s["created_at"] or "", reverse=True)
    return {"sweeps": found}


def sweep_view(root: Path, pipeline: str, sweep: str) -> dict[str, Any]:
    """One sweep as :func:`sweeps_view` gives it, with its points in the sweep's order: id,
    parameters, status, duration, numeric metrics, the failed stage and error type, and its log.

    Raises
    ------
    UnknownSweepError
        No such sweep in the project.
    """
    named = all(n not in ("", ".", "..") and not set(n) & set("/\\\x00") for n in (pipeline, sweep))
    summary = _summary(root, pipeline, sweep) if named else None
    if summary is None:
        raise UnknownSweepError(pipeline=pipeline, sweep=sweep)
    definition = read_sweep(root, pipeline, sweep) or {}
    known = read_points(root, pipeline, sweep)
    running = summary["running"]
    points = []
    for entry in definition.get("points") or []:
        data = known.get(entry["id"], {})
        error = data.get("error") or {}
        log = Path(str(data.get("log") or ""))
        points.append(
            {
                "id": entry["id"],
                "parameters": entry["overrides"],
                "status": _status(data, running=running),
                "started_at": data.get("started_at"),
                "duration_s": data.get("duration_s"),
                "metrics": {
                    k: v
                    for k, v in (data.get("metrics") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
                "failed_stage": error.get("stage"),
                "error_type": error.get("type"),
                "mlflow_run_id": data.get("mlflow_run_id"),
                "log": _relative(log, root) if data.get("log") and log.is_file() else None,
            }
        )
    return {**summary, "swept": definition.get("swept") or [], "points": points}


def _summary(root: Path, pipeline: str, sweep: str) -> dict[str, Any] | None:
    definition = read_sweep(root, pipeline, sweep)
    if definition is None:
        return None
    running = _running(root, pipeline, sweep)
    known = read_points(root, pipeline, sweep)
    counts = dict.fromkeys(STATUSES, 0)
    for entry in definition.get("points") or []:
        counts[_status(known.get(entry["id"], {}), running=running)] += 1
    runs = [r for r in definition.get("runs") or [] if isinstance(r, dict)]
    finished = [r for r in runs if r.get("finished_at")]
    mlflow = next((r["mlflow_run_id"] for r in reversed(runs) if r.get("mlflow_run_id")), None)
    page = root / "build" / pipeline / "sweeps" / sweep / SUMMARY
    return {
        "pipeline": pipeline,
        "sweep": sweep,
        "total": sum(counts.values()),
        "counts": counts,
        "running": running,
        "created_at": definition.get("created_at"),
        "finished_at": finished[-1]["finished_at"] if finished else None,
        "mlflow_run_id": mlflow,
        "summary": _relative(page, root) if page.is_file() else None,
    }


def _status(data: dict[str, Any], *, running: bool) -> str:
    status = str(data.get("status") or "pending")
    if status not in STATUSES or (status == "running" and not running):
        return "pending"
    return status


def _running(root: Path, pipeline: str, sweep: str) -> bool:
    """Whether a process holds the sweep's lock, from the holder file it writes while it does."""
    try:
        holder = json.loads((sweep_dir(root, pipeline, sweep) / "sweep.lock.json").read_text())
        pid, host = int(holder["pid"]), str(holder["host"])
    except (OSError, ValueError, TypeError, KeyError):
        return False
    if host != current_host():
        return True  # on another machine sharing the project: its file is all there is to go by
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # a killed sweep's leftover
    except PermissionError:  # alive, another user's
        return True
    return True


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # a point file written where the project was before it moved
        return None
