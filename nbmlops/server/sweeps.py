"""What the Pipeline panel shows of the project's sweeps, read from their files (no MLflow).

A sweep is ``.nbmlops/sweeps/<pipeline>/<sweep>/`` (:mod:`nbmlops.sweep.state`): its definition
``sweep.json`` lists every point, ``points/<point>.json`` says how each went. A point without a
file has not started (``pending``). Whether a sweep runs now is read from its lock's holder file
``sweep.lock.json``, never by taking the lock (asking must not refuse a sweep that starts that
instant); a holder whose process is gone from this host is a killed sweep's leftover. A point a
killed sweep left ``running`` counts as ``pending``: nothing runs it, and a rerun starts it again.

The panel asks every 2 s while a sweep runs, and a sweep may have thousands of points: a file is
parsed again only when its ``stat`` changed (every state file is replaced by a rename, so a
rewrite is a new inode), and only the fields answered are kept in memory.

Only counts, ids, times, parameters and numeric metrics are answered: no error text, no scraps
other than numbers (either may hold what a notebook printed about a patient).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbmlops._core.user import current_host
from nbmlops.errors import UnknownSweepError
from nbmlops.sweep.state import SWEEPS, points_dir, sweep_dir

__all__ = ["STATUSES", "sweep_view", "sweeps_view"]

STATUSES = ("pending", "running", "succeeded", "failed", "skipped")
SUMMARY = "summary.html"
"""``build/<pipeline>/sweeps/<sweep>/summary.html``: the sweep's summary page (written by the
sweep's parent process when a run of it ends, and by ``nbmlops sweep results SWEEP --html``)."""

_Stamp = tuple[int, int, int]  # mtime_ns, size, inode
_parsed: dict[str, tuple[_Stamp, Any]] = {}  # by file path
_parsed_guard = threading.Lock()


def sweeps_view(root: Path) -> dict[str, Any]:
    """Every sweep of the project at ``root``, newest first: its points counted by status,
    whether it runs now, when it was created and last finished, its MLflow run and summary
    page (paths relative to ``root``)."""
    folder = root / SWEEPS
    found, listed = [], []
    for pipeline in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ():
        for sweep in sorted(s for s in pipeline.iterdir() if (s / "sweep.json").is_file()):
            overview = _overview(root, pipeline.name, sweep.name)
            if overview is not None:
                found.append(overview[0])
                listed.append(f"{sweep_dir(root, pipeline.name, sweep.name)}{os.sep}")
    with _parsed_guard:  # forget the files of sweeps that were removed
        for path in [p for p in _parsed if not p.startswith(tuple(listed))]:
            del _parsed[path]
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
    overview = _overview(root, pipeline, sweep) if named else None
    if overview is None:
        raise UnknownSweepError(pipeline=pipeline, sweep=sweep)
    summary, definition, known = overview
    points = []
    for entry in definition["points"]:
        fields = known.get(entry["id"], _NOT_STARTED)
        status = _status(fields, running=summary["running"])
        points.append({"id": entry["id"], "parameters": entry["overrides"], "status": status}
                      | {k: fields[k] for k in _POINT_FIELDS})  # fmt: skip
    return {**summary, "swept": definition["swept"], "points": points}


_POINT_FIELDS = (
    "started_at", "duration_s", "metrics", "failed_stage", "error_type", "mlflow_run_id", "log"
)  # fmt: skip
_NOT_STARTED: dict[str, Any] = dict.fromkeys(_POINT_FIELDS) | {"metrics": {}}


def _overview(
    root: Path, pipeline: str, sweep: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The sweep's summary, its definition and its points' fields by id; None: no such sweep."""
    definition = _cached(
        str(sweep_dir(root, pipeline, sweep) / "sweep.json"), _definition_fields, root
    )
    if definition is None:
        return None
    running = _running(root, pipeline, sweep)
    known = _points(root, pipeline, sweep)
    counts = dict.fromkeys(STATUSES, 0)
    for entry in definition["points"]:
        counts[_status(known.get(entry["id"], {}), running=running)] += 1
    page = root / "build" / pipeline / "sweeps" / sweep / SUMMARY
    summary = {
        "pipeline": pipeline,
        "sweep": sweep,
        "total": sum(counts.values()),
        "counts": counts,
        "running": running,
        "created_at": definition["created_at"],
        "finished_at": definition["finished_at"],
        "mlflow_run_id": definition["mlflow_run_id"],
        "summary": _relative(page, root) if page.is_file() else None,
    }
    return summary, definition, known


def _definition_fields(data: dict[str, Any], root: Path) -> dict[str, Any]:
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict)]
    finished = [r["finished_at"] for r in runs if r.get("finished_at")]
    return {
        "points": [
            {"id": str(p["id"]), "overrides": p.get("overrides") or {}}
            for p in data.get("points") or []
            if isinstance(p, dict) and "id" in p
        ],
        "swept": list(data.get("swept") or []),
        "created_at": data.get("created_at"),
        "finished_at": finished[-1] if finished else None,
        "mlflow_run_id": next(
            (r["mlflow_run_id"] for r in reversed(runs) if r.get("mlflow_run_id")), None
        ),
    }


def _point_fields(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """What the views answer of a point file: no error text, numeric metrics only."""
    given = data.get("error")
    error: dict[str, Any] = given if isinstance(given, dict) else {}
    log = Path(str(data.get("log") or ""))
    return {
        "status": str(data.get("status") or "pending"),
        "started_at": data.get("started_at"),
        "duration_s": data.get("duration_s"),
        "metrics": {
            str(k): v
            for k, v in (data.get("metrics") or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        "failed_stage": error.get("stage"),
        "error_type": error.get("type"),
        "mlflow_run_id": data.get("mlflow_run_id"),
        "log": _relative(log, root) if data.get("log") and log.is_file() else None,
    }


def _points(root: Path, pipeline: str, sweep: str) -> dict[str, dict[str, Any]]:
    try:
        entries = [
            e for e in os.scandir(points_dir(root, pipeline, sweep)) if e.name.endswith(".json")
        ]
    except OSError:  # no point has started
        return {}
    found = {}
    for entry in entries:
        fields = _cached(entry.path, _point_fields, root, entry)
        if fields is not None:
            found[entry.name.removesuffix(".json")] = fields
    return found


def _cached(
    path: str,
    fields: Callable[[dict[str, Any], Path], dict[str, Any]],
    root: Path,
    entry: os.DirEntry[str] | None = None,
) -> Any:
    """``fields`` of the JSON object in ``path``, parsed again only when its stat changed; None
    when it is missing or not a JSON object."""
    try:
        stat = entry.stat() if entry is not None else Path(path).stat()
    except OSError:
        with _parsed_guard:
            _parsed.pop(path, None)
        return None
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _parsed_guard:
        kept = _parsed.get(path)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    value = fields(data, root) if isinstance(data, dict) else None
    with _parsed_guard:
        _parsed[path] = (stamp, value)
    return value


def _status(fields: dict[str, Any], *, running: bool) -> str:
    status = str(fields.get("status") or "pending")
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
