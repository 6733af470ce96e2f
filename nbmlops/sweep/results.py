"""A sweep's results as a table: one row per point, from its point files (no MLflow needed).

Columns: ``point`` (id), ``index``, the swept parameters as ``<stage>.<param>``, ``status``,
``duration_s``, every metric the points recorded as ``<stage>.<scrap>``, ``mlflow_run_id``,
``run_id``, ``error`` (type and message of the first failed stage) and ``folder`` (the point's
products and log). A point never started is a row with status ``pending``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._core.paths import find_project_root
from nbmlops.errors import SweepError
from nbmlops.sweep.state import SWEEPS, read_points, read_sweep

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["find_sweep", "sweep_results", "sweep_rows"]


def find_sweep(root: Path, sweep: str, pipeline: str | None = None) -> str:
    """The pipeline of sweep ``sweep`` (``pipeline`` when given and it has that sweep).

    Raises
    ------
    SweepError
        No such sweep, or several pipelines have one of that name (pass ``pipeline``).
    """
    folder = Path(root) / SWEEPS
    found = sorted(
        p.name
        for p in (folder.iterdir() if folder.is_dir() else ())
        if (p / sweep / "sweep.json").is_file() and pipeline in (None, p.name)
    )
    if len(found) == 1:
        return found[0]
    where = f" of pipeline '{pipeline}'" if pipeline else ""
    if not found:
        raise SweepError(
            f"no sweep '{sweep}'{where} in {root} (sweeps are kept in {SWEEPS}/<pipeline>/).",
            sweep=sweep,
            argument="sweep",
        )
    raise SweepError(
        f"pipelines {', '.join(found)} each have a sweep '{sweep}': pass --pipeline.",
        sweep=sweep,
        argument="pipeline",
    )


def sweep_rows(root: Path, pipeline: str, sweep: str) -> list[dict[str, Any]]:
    """The table's rows as plain dicts, in the sweep's point order."""
    definition = read_sweep(root, pipeline, sweep) or {}
    known = read_points(root, pipeline, sweep)
    rows = []
    for index, entry in enumerate(definition.get("points") or [], start=1):
        data = known.get(entry["id"], {})
        error = data.get("error") or {}
        row: dict[str, Any] = {"point": entry["id"], "index": index}
        for stage, given in sorted(entry["overrides"].items()):
            row.update({f"{stage}.{k}": v for k, v in sorted(given.items())})
        row.update(
            status=data.get("status", "pending"),
            duration_s=data.get("duration_s"),
            **(data.get("metrics") or {}),
            mlflow_run_id=data.get("mlflow_run_id"),
            run_id=data.get("run_id"),
            error=f"{error.get('type')}: {error.get('message')}" if error else None,
            folder=data.get("folder"),
        )
        rows.append(row)
    return rows


def sweep_results(pipeline: str | None, sweep: str, *, root: Path | None = None) -> pd.DataFrame:
    """One row per point of a sweep: its parameters, status, duration, metrics and MLflow run.

    Parameters
    ----------
    pipeline : str, optional
        The pipeline swept (a notebook swept alone: its stage name); found when only one
        pipeline has a sweep of that name.
    sweep : str
        The sweep's name (``--name``, or the ``grid-…`` name ``nbmlops sweep`` printed).
    root : Path, optional
        The project (default: the one holding the current folder).

    Returns
    -------
    pandas.DataFrame
        Indexed from 0 in the sweep's point order; columns as in the module docstring.

    Raises
    ------
    SweepError
        No such sweep.

    Examples
    --------
    >>> table = nbmlops.sweep_results("demo", "models")            # doctest: +SKIP
    >>> table.sort_values("evaluate.auroc").tail(1)[["train.C", "evaluate.auroc"]]
    """
    import pandas as pd

    root = find_project_root(Path(root or Path.cwd()))
    name = find_sweep(root, sweep, pipeline)
    return pd.DataFrame(sweep_rows(root, name, sweep))
