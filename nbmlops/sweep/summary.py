"""A sweep's summary page: one metric plotted against the swept parameters, and the table of points.

``build/<pipeline>/sweeps/<sweep>/summary.html`` (:func:`summary_path`), written by the sweep's
parent process when a sweep run ends (after every point is recorded) and by ``nbmlops sweep
results SWEEP --html``; the sweep's MLflow run gets it as the artifact ``summary.html``.

The page is one file that loads nothing and runs nothing: inline SVG (:mod:`.summary_plot`),
inline CSS, every string escaped; JupyterLab's sandboxed HTML viewer shows it as a browser does.
It is built from the point files alone (:func:`~nbmlops.sweep.results.sweep_rows`), and shows
only the swept parameters, each point's status, duration, error type and numeric metrics: no
error text, no non-numeric scrap, nothing a point's data held.

The metric: ``metric`` when given (an unknown one is refused with the list of recorded ones),
else the first numeric metric by name of the last stage the points rerun (then the stage before
it, ...). The highest and lowest values among succeeded points are marked; which is best is the
reader's call (nbmlops does not know whether a metric is a score or a loss).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.ids import utc_now
from nbmlops.errors import SweepError
from nbmlops.sweep.results import sweep_rows
from nbmlops.sweep.state import read_sweep
from nbmlops.sweep.summary_plot import PlotPoint, is_number, label, metric_plot

__all__ = ["SUMMARY", "SweepSummary", "choose_metric", "preload", "summary_path", "sweep_summary",
           "write_summary"]  # fmt: skip

SUMMARY = "summary.html"
"""The page's file name, on disk and as the MLflow artifact."""

_NOT_METRICS = {"point", "index", "status", "duration_s", "mlflow_run_id", "run_id", "error",
                "folder"}  # fmt: skip
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#24292f;margin:24px;
max-width:1100px}
h1{font-size:20px;margin:0 0 8px}code{font-size:13px;background:#f6f8fa;padding:0 3px}
figure{margin:12px 0}figure svg{max-width:100%;height:auto}
div.points{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin-top:8px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fff5f5}.failed .status{color:#cf222e;font-weight:600}
.pending .status{color:#57606a}.problem{color:#cf222e}.note{color:#57606a;font-size:12px}
"""


def preload() -> None:
    """Import matplotlib (1-5 s) in a thread while the points run, so the page costs the end of
    a sweep only its drawing (the import lock makes the page wait for it, never import twice)."""
    threading.Thread(target=_import_matplotlib, name="nbmlops-sweep-summary", daemon=True).start()


def _import_matplotlib() -> None:
    try:
        import matplotlib.backends.backend_svg
        import matplotlib.figure  # noqa: F401
    except Exception:  # noqa: S110 - the page imports it again and reports what fails
        pass


def summary_path(root: Path, pipeline: str, sweep: str) -> Path:
    """``build/<pipeline>/sweeps/<sweep>/summary.html``."""
    return Path(root) / "build" / pipeline / "sweeps" / sweep / SUMMARY


@dataclass(frozen=True, kw_only=True)
class SweepSummary:
    """A sweep's summary page, built (:func:`sweep_summary`) and perhaps written."""

    pipeline: str
    sweep: str
    metric: str | None
    """The metric plotted; None while no point has recorded a numeric one."""
    metrics: tuple[str, ...]
    """Every numeric metric the points recorded, by name."""
    chosen: bool
    """True when the caller named ``metric``; False when the default rule chose it."""
    plot: str | None
    """``line``, ``points``, ``heatmap`` or ``parallel``; None without a plot."""
    html: str
    problem: str | None = None
    """Why another metric than the one asked is plotted (``strict=False``)."""
    path: Path | None = None
    """Where :func:`write_summary` wrote it."""


def choose_metric(
    metrics: Sequence[str], point_stages: Sequence[str], metric: str | None, *, sweep: str
) -> str | None:
    """``metric`` if recorded (else :class:`SweepError` listing them), or the default one."""
    if metric is not None:
        if metric in metrics:
            return metric
        known = ", ".join(metrics) or "none yet (no point has recorded a numeric metric)"
        raise SweepError(
            f"sweep '{sweep}' has no metric '{metric}'; its points recorded: {known}. "
            "Give --metric as STAGE.NAME.",
            sweep=sweep,
            argument="metric",
        )
    for stage in reversed(point_stages):
        mine = [m for m in metrics if m.split(".", 1)[0] == stage]
        if mine:
            return mine[0]
    return metrics[0] if metrics else None


def sweep_summary(
    root: Path, pipeline: str, sweep: str, *, metric: str | None = None, strict: bool = True
) -> SweepSummary:
    """Build the summary page of a sweep from its point files (nothing is written).

    ``strict=False``: a ``metric`` no point recorded gives the default one, and the page and
    ``problem`` say so (a sweep that ended must still get its page).

    Raises
    ------
    SweepError
        ``metric`` was not recorded by any point (the message lists those that were).
    """
    definition = read_sweep(root, pipeline, sweep) or {}
    rows = sweep_rows(root, pipeline, sweep)
    params = [str(p) for p in definition.get("swept") or []]
    metrics = sorted(
        {k for r in rows for k, v in r.items() if k not in _NOT_METRICS
         and k not in params and is_number(v)}
    )  # fmt: skip
    stages = [str(s) for s in definition.get("point_stages") or []]
    problem = None
    try:
        shown = choose_metric(metrics, stages, metric, sweep=sweep)
    except SweepError as exc:
        if strict:
            raise
        problem, metric = str(exc), None
        shown = choose_metric(metrics, stages, None, sweep=sweep)
    plot, svg = None, ""
    if shown is not None and params and rows:
        points = [
            PlotPoint(values={p: r.get(p) for p in params}, status=str(r["status"]),
                      value=float(r[shown]) if is_number(r.get(shown)) else None)
            for r in rows
        ]  # fmt: skip
        plot, svg = metric_plot(params, points, shown)
    page = _page(
        pipeline=pipeline, sweep=sweep, definition=definition, rows=rows, params=params,
        metrics=metrics, metric=shown, chosen=metric is not None, plot=plot, svg=svg,
        problem=problem,
    )  # fmt: skip
    return SweepSummary(pipeline=pipeline, sweep=sweep, metric=shown, metrics=tuple(metrics),
                        chosen=metric is not None, plot=plot, html=page,
                        problem=problem)  # fmt: skip


def write_summary(
    root: Path,
    pipeline: str,
    sweep: str,
    *,
    metric: str | None = None,
    path: Path | None = None,
    strict: bool = True,
) -> SweepSummary:
    """Build the summary page and write it (atomically) to ``path`` (default
    :func:`summary_path`). ``strict`` and raises as :func:`sweep_summary`."""
    summary = sweep_summary(root, pipeline, sweep, metric=metric, strict=strict)
    target = Path(path) if path is not None else summary_path(root, pipeline, sweep)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, summary.html)
    return SweepSummary(**{**summary.__dict__, "path": target})


def _page(
    *,
    pipeline: str,
    sweep: str,
    definition: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    metrics: Sequence[str],
    metric: str | None,
    chosen: bool,
    plot: str | None,
    svg: str,
    problem: str | None,
) -> str:
    e = html.escape
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    said = ", ".join(f"{n} {e(s)}" for s, n in sorted(counts.items()))
    stages = ", ".join(e(str(s)) for s in definition.get("point_stages") or []) or "&ndash;"
    parts = [
        f"<h1>Sweep <code>{e(sweep)}</code> of <code>{e(pipeline)}</code></h1>",
        f"<p>{len(rows)} point(s): {said or 'none'}. Swept: "
        f"{', '.join(f'<code>{e(p)}</code>' for p in params) or '&ndash;'}; each point "
        f"reruns: {stages}.</p>",
    ]
    if problem:
        parts.append(f"<p class='problem'>{e(problem)} The default is shown.</p>")
    if metric is None:
        parts.append("<p>No plot: no point has recorded a numeric metric yet.</p>")
    else:
        how = (
            "chosen with <code>--metric</code>"
            if chosen
            else "the default: the first numeric metric (by name) of the last stage the points "
            "rerun; choose another with <code>--metric STAGE.NAME</code>"
        )
        others = ", ".join(f"<code>{e(m)}</code>" for m in metrics)
        parts.append(f"<p>Plotted: <b>{e(metric)}</b> ({how}). Recorded: {others}.</p>")
    if plot is not None:
        parts.append(f"<figure class='plot' data-kind='{e(plot)}'>{svg}</figure>")
    if metric is not None:
        parts.append(
            f"<p class='note'>&#9650; highest and &#9660; lowest {e(metric)} among succeeded "
            "points. nbmlops does not know whether higher is better for this metric.</p>"
        )
    parts.append(_table(rows, params, metrics, metric))
    parts.append(
        f"<p class='note'>Written {e(utc_now())} from <code>.nbmlops/sweeps/{e(pipeline)}/"
        f"{e(sweep)}/points/</code>: swept parameters, statuses, durations, error types and "
        "numeric metrics only.</p>"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Sweep {e(sweep)} of {e(pipeline)}</title><style>{_CSS}</style></head>"
        f"<body class='nbmlops-sweep-summary'>{''.join(parts)}</body></html>\n"
    )


def _table(
    rows: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    metrics: Sequence[str],
    metric: str | None,
) -> str:
    e = html.escape
    valued = [float(r[metric]) for r in rows
              if metric and r["status"] == "succeeded" and is_number(r.get(metric))]  # fmt: skip
    high, low = (max(valued), min(valued)) if valued else (None, None)
    metrics = [*(m for m in metrics if m == metric), *(m for m in metrics if m != metric)]
    head = ["#", "point", *params, "status", "duration", *metrics]
    body = []
    for r in rows:
        status = str(r["status"])
        text = status
        if r.get("error"):
            text += f" ({str(r['error']).split(':', 1)[0]})"  # the type only, never the text
        cells = [
            f"<td class='num'>{e(str(r['index']))}</td>",
            f"<td><code>{e(r['point'])}</code></td>",
        ]
        cells += [f"<td>{e(label(r[p])) if p in r else '&ndash;'}</td>" for p in params]
        cells.append(f"<td class='status'>{e(text)}</td>")
        duration = r.get("duration_s")
        cells.append(
            f"<td class='num'>{f'{duration:.1f} s' if is_number(duration) else '&ndash;'}</td>"
        )
        for m in metrics:
            value = r.get(m)
            shown = _number(value)
            if m == metric and status == "succeeded" and is_number(value) and valued:
                shown += " &#9650;" if value == high else ""
                shown += " &#9660;" if value == low and high != low else ""
            cells.append(f"<td class='num'>{shown}</td>")
        body.append(f"<tr class='{e(status)}'>{''.join(cells)}</tr>")
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    return (
        f"<div class='points'><table><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _number(value: object) -> str:
    if isinstance(value, int) and is_number(value):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) and is_number(value) else "&ndash;"
