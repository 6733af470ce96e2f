"""The summary's plot: one metric against a sweep's swept parameters, as inline SVG.

One swept parameter: a line over a numeric parameter (log axis when its positive values span
two decades or more), a point per value over a categorical one. Two: a heatmap (first parameter
down, second across; a cell per pair, its value written in it). Three or more: parallel
coordinates (an axis per parameter and one for the metric; a line per point, coloured by its
value).

A point without a value (failed, pending) is drawn as such (a red cross on the line's axis, the
word in its heatmap cell, a dashed line through its parameters), never dropped.

Drawn with matplotlib's object API (no pyplot, no global figure state), text kept as SVG
``<text>`` (escaped by matplotlib's XML writer; mathtext off, so a ``$`` in a value is a dollar),
no date in the file. The SVG holds no script and loads nothing.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PlotPoint", "is_number", "label", "metric_plot"]

_RC: Any = {"svg.fonttype": "none", "svg.hashsalt": "nbmlops-sweep", "text.parse_math": False}
_FAILED, _PENDING = "#cf222e", "#8c959f"
_WRITTEN = 150  # heatmap cells up to which each value is written in its cell


@dataclass(frozen=True, kw_only=True)
class PlotPoint:
    """One point as the plot sees it: its swept values, its status and the metric's value."""

    values: Mapping[str, Any]
    status: str
    value: float | None


def is_number(value: object) -> bool:
    """An int or a finite float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def label(value: object) -> str:
    """A parameter value as text: strings as they are, other JSON as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, sort_keys=True)


def metric_plot(params: Sequence[str], points: Sequence[PlotPoint], metric: str) -> tuple[str, str]:
    """The plot's kind (``line``, ``points``, ``heatmap``, ``parallel``) and its SVG text."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(_RC):
        if len(params) == 1 and _numeric(points, params[0]):
            kind, fig = "line", Figure(figsize=(7, 4))
            _line(fig, params[0], points, metric)
        elif len(params) == 1:
            kind, fig = "points", Figure(figsize=(7, 4))
            _points(fig, params[0], points, metric)
        elif len(params) == 2:
            kind, fig = "heatmap", Figure(figsize=(7, 5))
            _heatmap(fig, params, points, metric)
        else:
            kind, fig = "parallel", Figure(figsize=(max(7.0, 1.6 * (len(params) + 1)), 4.5))
            _parallel(fig, params, points, metric)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return kind, text[text.index("<svg") :]


def _numeric(points: Sequence[PlotPoint], param: str) -> bool:
    return all(is_number(p.values.get(param)) for p in points)


def _order(points: Sequence[PlotPoint], param: str) -> list[str]:
    """A parameter's distinct values as labels: sorted when all numeric, else first seen."""
    values: list[Any] = [p.values.get(param) for p in points]
    if all(is_number(v) for v in values):
        values = sorted(set(values))
    return list(dict.fromkeys(label(v) for v in values))


def _no_value(ax: Any, xs: Sequence[float], points: Sequence[PlotPoint]) -> None:
    """Points without a value on the x axis: a cross (failed), a circle (pending or running),
    a square (succeeded without this metric)."""

    def group(status: str) -> str:
        return status if status in ("failed", "succeeded") else "not finished"

    marks = (
        ("failed", _FAILED, "x"),
        ("not finished", _PENDING, "o"),
        ("succeeded", _PENDING, "s"),
    )
    for status, colour, marker in marks:
        at = [x for x, p in zip(xs, points, strict=True)
              if p.value is None and group(p.status) == status]  # fmt: skip
        if at:
            ax.scatter(at, [0.0] * len(at), transform=ax.get_xaxis_transform(), marker=marker,
                       color=colour, s=60, clip_on=False, zorder=3,
                       label=f"{status} (no value)")  # fmt: skip


def _line(fig: Any, param: str, points: Sequence[PlotPoint], metric: str) -> None:
    ax = fig.add_subplot()
    ordered = sorted(points, key=lambda p: float(p.values[param]))
    xs = [float(p.values[param]) for p in ordered]
    done = [(x, p.value) for x, p in zip(xs, ordered, strict=True) if p.value is not None]
    if done:
        ax.plot([x for x, _ in done], [y for _, y in done], marker="o", color="#0969da",
                label=metric)  # fmt: skip
    _no_value(ax, xs, ordered)
    positive = [x for x in xs if x > 0]
    if len(positive) == len(xs) and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    ticks = {float(p.values[param]): label(p.values[param]) for p in ordered}
    if len(ticks) <= 12:  # the swept values themselves, as typed (no 10^k mathtext)
        ax.set_xticks(list(ticks), list(ticks.values()))
        ax.minorticks_off()
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    _legend(ax)


def _points(fig: Any, param: str, points: Sequence[PlotPoint], metric: str) -> None:
    ax = fig.add_subplot()
    names = _order(points, param)
    xs = [float(names.index(label(p.values.get(param)))) for p in points]
    done = [(x, p.value) for x, p in zip(xs, points, strict=True) if p.value is not None]
    if done:
        ax.plot([x for x, _ in done], [y for _, y in done], "o", markersize=8,
                color="#0969da", label=metric)  # fmt: skip
    _no_value(ax, xs, points)
    tilted = len(names) > 4 or sum(len(n) for n in names) > 60
    ax.set_xticks(range(len(names)), names, rotation=25 if tilted else 0,
                  ha="right" if tilted else "center")  # fmt: skip
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    _legend(ax)


def _legend(ax: Any) -> None:
    """Above the plot, where it never covers a point."""
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncols=3, fontsize=8, frameon=False)


def _heatmap(fig: Any, params: Sequence[str], points: Sequence[PlotPoint], metric: str) -> None:
    import numpy as np

    down, across = params
    rows, cols = _order(points, down), _order(points, across)
    grid = np.full((len(rows), len(cols)), np.nan)
    words: dict[tuple[int, int], str] = {}
    for p in points:
        i, j = rows.index(label(p.values.get(down))), cols.index(label(p.values.get(across)))
        if p.value is None:
            words[i, j] = "no value" if p.status == "succeeded" else p.status
        else:
            grid[i, j] = p.value
            words[i, j] = f"{p.value:.4g}"
    ax = fig.add_subplot()
    cmap = _colormap("viridis")
    cmap.set_bad("#eaeef2")
    edges_x, edges_y = np.arange(len(cols) + 1) - 0.5, np.arange(len(rows) + 1) - 0.5
    mesh = ax.pcolormesh(edges_x, edges_y, np.ma.masked_invalid(grid), cmap=cmap,
                         edgecolors="white", linewidth=1)  # fmt: skip
    low, high = (np.nanmin(grid), np.nanmax(grid)) if np.isfinite(grid).any() else (0, 1)
    for (i, j), word in words.items() if grid.size <= _WRITTEN else ():
        value = grid[i, j]
        dark = not math.isnan(value) and (high == low or (value - low) / (high - low) < 0.6)
        colour = "white" if dark else (_FAILED if word == "failed" else "#24292f")
        ax.text(j, i, word, ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(len(cols)), cols, rotation=30 if len(cols) > 4 else 0)
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlabel(across)
    ax.set_ylabel(down)
    fig.colorbar(mesh, ax=ax, label=metric)


def _axis_position(points: Sequence[PlotPoint], param: str) -> tuple[dict[str, float], list[str]]:
    """Where each value sits on its axis (0 to 1) and the tick labels to write beside it."""
    values: list[Any] = [p.values.get(param) for p in points]
    if all(is_number(v) for v in values):
        low, high = min(values), max(values)
        span = high - low
        at = {label(v): 0.5 if span == 0 else (v - low) / span for v in values}
        return at, sorted({label(low), label(high)}, key=lambda t: at[t])
    names = _order(points, param)
    step = 1 / (len(names) - 1) if len(names) > 1 else 0.0
    return {n: 0.5 if len(names) == 1 else i * step for i, n in enumerate(names)}, names


def _parallel(fig: Any, params: Sequence[str], points: Sequence[PlotPoint], metric: str) -> None:
    from matplotlib.colors import Normalize

    ax = fig.add_subplot()
    axes = [_axis_position(points, p) for p in params]
    valued = [p.value for p in points if p.value is not None]
    norm = Normalize(min(valued, default=0.0), max(valued, default=1.0))
    cmap = _colormap("viridis")
    k = len(params)
    for p in points:
        ys = [at[label(p.values.get(name))] for name, (at, _) in zip(params, axes, strict=True)]
        if p.value is None:
            colour = _FAILED if p.status == "failed" else _PENDING
            ax.plot(range(k), ys, linestyle="--", color=colour, alpha=0.9, zorder=3)
            ax.text(k - 1 + 0.1, ys[-1], p.status, color=colour, fontsize=8, va="bottom")
        else:
            y_metric = 0.5 if norm.vmin == norm.vmax else float(norm(p.value))
            ax.plot(range(k + 1), [*ys, y_metric], color=cmap(norm(p.value)), alpha=0.9)
    for i, (_, ticks) in enumerate(axes):
        ax.axvline(i, color="#57606a", linewidth=1)
        at = axes[i][0]
        for tick in ticks:
            ax.text(i - 0.04, at[tick], tick, ha="right", va="center", fontsize=8)
    ax.axvline(k, color="#57606a", linewidth=1)
    for end, value in (("bottom", norm.vmin), ("top", norm.vmax)):
        if valued:
            ax.text(k + 0.04, 0.0 if end == "bottom" else 1.0, f"{value:.4g}", va="center",
                    fontsize=8)  # fmt: skip
    ax.set_xticks(range(k + 1), [*params, metric])
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.set_xlim(-0.5, k + 0.5)
    ax.set_ylim(-0.08, 1.08)
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)


def _colormap(name: str) -> Any:
    """A copy of a registered colormap (setting its 'bad' colour must not change the shared one)."""
    import matplotlib as mpl

    return mpl.colormaps[name].copy()
