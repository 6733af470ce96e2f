"""A sweep on disk: its definition, one status file per point, and the lock one sweep holds.

``.nbmlops/sweeps/<pipeline>/<sweep>/``

- ``sweep.json``: the definition (pipeline, sweep, points with their overrides, selection,
  which stages run once or per point), ``created_at``, the lock file's digest, and the MLflow run
  of the sweep once it has one;
- ``points/<point>.json``: the point's status (``pending``, ``running``, ``succeeded``,
  ``failed``, ``skipped``), started/finished, ``duration_s``, its stages' results with their
  metrics (scraps), its MLflow run id, an error summary, and the run record kept for replay;
- ``sweep.lock`` (an OS lock, dropped when its process dies) and ``sweep.lock.json`` (who holds
  it), as the project's run lock (:mod:`nbmlops.run.lock`).

Every file is written atomically (temp file, fsync, rename): a killed sweep leaves each file as
it was or as it became, never half-written. The point files are the contract the results table
and the JupyterLab panel read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import STATE_DIR
from nbmlops._core.user import current_host, current_user
from nbmlops.errors import SweepError, SweepInProgressError

__all__ = [
    "SWEEPS",
    "PointStatus",
    "check_same_definition",
    "hold_sweep_lock",
    "point_path",
    "points_dir",
    "read_point",
    "read_points",
    "read_sweep",
    "sweep_dir",
    "sweep_products",
    "write_point",
    "write_sweep",
]

PointStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]
SWEEPS = STATE_DIR / "sweeps"


def sweep_dir(root: Path, pipeline: str, sweep: str) -> Path:
    return Path(root) / SWEEPS / pipeline / sweep


def points_dir(root: Path, pipeline: str, sweep: str) -> Path:
    return sweep_dir(root, pipeline, sweep) / "points"


def point_path(root: Path, pipeline: str, sweep: str, point: str) -> Path:
    return points_dir(root, pipeline, sweep) / f"{point}.json"


def sweep_products(build_dir: Path, sweep: str, point: str) -> Path:
    """``build/<pipeline>/sweeps/<sweep>/<point>/``: the point's stage folders and its log."""
    return build_dir / "sweeps" / sweep / point


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_sweep(root: Path, pipeline: str, sweep: str) -> dict[str, Any] | None:
    """``sweep.json``, or None when the sweep was never started."""
    return _read(sweep_dir(root, pipeline, sweep) / "sweep.json")


def write_sweep(root: Path, pipeline: str, sweep: str, data: dict[str, Any]) -> None:
    _write(sweep_dir(root, pipeline, sweep) / "sweep.json", data)


def check_same_definition(
    existing: dict[str, Any] | None, definition: dict[str, Any], *, sweep: str
) -> None:
    """A sweep run again must be the same sweep: same points, same stages."""
    if existing is None:
        return
    keys = ("points", "selection", "point_stages", "shared_stages")
    if any(existing.get(k) != definition[k] for k in keys):
        raise SweepError(
            f"sweep '{sweep}' of pipeline '{definition['pipeline']}' was started with other "
            f"points or stages ({len(existing.get('points') or [])} point(s) then, "
            f"{len(definition['points'])} now). Give this one another --name (or remove "
            f"{SWEEPS / definition['pipeline'] / sweep} to start that sweep over).",
            sweep=sweep,
            argument="name",
        )


def read_point(root: Path, pipeline: str, sweep: str, point: str) -> dict[str, Any] | None:
    return _read(point_path(root, pipeline, sweep, point))


def read_points(root: Path, pipeline: str, sweep: str) -> dict[str, dict[str, Any]]:
    """Every point file of a sweep, by point id."""
    folder = points_dir(root, pipeline, sweep)
    found = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        data = _read(path)
        if data is not None:
            found[path.stem] = data
    return found


def write_point(root: Path, pipeline: str, sweep: str, data: dict[str, Any]) -> None:
    _write(point_path(root, pipeline, sweep, str(data["point"])), data)


@contextmanager
def hold_sweep_lock(root: Path, pipeline: str, sweep: str) -> Iterator[None]:
    """Hold the sweep's OS lock for the ``with`` block; refuse at once when another holds it.

    Raises
    ------
    SweepInProgressError
        Another process (or thread) runs this sweep; its fields name it when its holder file says.
    """
    from filelock import FileLock, Timeout

    folder = sweep_dir(root, pipeline, sweep)
    folder.mkdir(parents=True, exist_ok=True)
    holder = folder / "sweep.lock.json"
    lock = FileLock(folder / "sweep.lock", thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        known = _read(holder) or {}
        raise SweepInProgressError(
            pipeline=pipeline,
            sweep=sweep,
            pid=known.get("pid"),
            host=known.get("host"),
            user=known.get("user"),
            since=known.get("since"),
        ) from None
    try:
        _write(
            holder,
            {"pid": os.getpid(), "host": current_host(), "user": current_user(),
             "since": utc_now()},
        )  # fmt: skip
        yield
    finally:
        holder.unlink(missing_ok=True)  # before the lock is free: never the next holder's file
        lock.release()
