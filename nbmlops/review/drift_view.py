"""What a reviewer sees of a drift result: static HTML with embedded plots, and the ipywidgets
view. The distributions it draws are aggregate counts, already under the small-cell rule
(:mod:`nbmlops.review.drift_profile`); nothing here sees row-level data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbmlops.review.rendering import figure_png, fmt, html_table, img_tag, section

if TYPE_CHECKING:
    from nbmlops.review.drift import ColumnDrift, DriftResult

__all__ = [
    "build_widget",
    "distribution_png",
    "render_html",
    "small_multiples_png",
    "summary_html",
    "table_html",
]

MAX_PLOTS = 6


def _draw(ax: Any, column: ColumnDrift, min_count: int) -> None:
    import numpy as np

    d = column.distribution
    verdict = "drifted" if column.drifted else "not drifted"
    ax.set_title(
        f"{column.name} ({verdict})\n{column.stattest}: {column.score:.3g}", fontsize=9, loc="left"
    )
    if d.suppressed:
        ax.text(0.5, 0.5, f"suppressed: fewer than {min_count} rows", ha="center", va="center")
        ax.set_axis_off()
        return
    x = np.arange(len(d.labels))
    for offset, counts, name, color in (
        (-0.2, d.reference, "reference", "#8c8c8c"),
        (0.2, d.current, "current", "#d9480f"),
    ):
        total = sum(counts) or 1
        ax.bar(x + offset, [n / total for n in counts], width=0.4, label=name, color=color)
    ax.set_xticks(x)
    ax.set_xticklabels(d.labels, rotation=60 if len(d.labels) > 4 else 0, ha="right", fontsize=7)
    ax.set_ylabel("share of rows", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7)


def distribution_png(column: ColumnDrift, min_count: int) -> bytes:
    """One column's reference-vs-current distribution as a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.4))
    _draw(fig.subplots(), column, min_count)
    return figure_png(fig)


def small_multiples_png(columns: list[ColumnDrift], min_count: int) -> bytes:
    """Up to :data:`MAX_PLOTS` columns' distributions side by side, three per row."""
    from matplotlib.figure import Figure

    shown = columns[:MAX_PLOTS]
    across = min(3, len(shown))
    down = math.ceil(len(shown) / across)
    fig = Figure(figsize=(4.4 * across, 3.4 * down))
    axes = fig.subplots(down, across, squeeze=False).ravel()
    for ax, column in zip(axes, shown, strict=False):
        _draw(ax, column, min_count)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return figure_png(fig)


# -- HTML ------------------------------------------------------------------------------------


def summary_html(result: DriftResult) -> str:
    share = f"share {fmt(result.share_drifted)}"
    verdict = "yes" if result.dataset_drift else "no"
    mark = "fail" if result.dataset_drift else "pass"
    sizes = "; ".join(
        f"{name} {n:,} rows"
        + (
            f", a seeded uniform sample of {m:,} compared (seed {result.seed})"
            if m != n
            else ", all compared"
        )
        for name, n, m in (
            ("reference", result.n_reference, result.n_reference_sampled),
            ("current", result.n_current, result.n_current_sampled),
        )
    )
    cache = {None: "", True: "; reference profile from cache", False: "; reference profile cached"}
    return (
        f"<p><b>{result.n_drifted} of {len(result.columns)} columns drifted</b> ({share}); "
        f"dataset drift: <span class='{mark}'>{verdict}</span> (when the share is at least "
        f"{result.drift_share:g}).</p><p>Sizes: {html.escape(sizes)}. evidently "
        f"{html.escape(result.evidently_version)}{cache[result.cache_hit]}.</p>"
    )


def table_html(result: DriftResult, *, only_drifted: bool = False) -> str:
    rows = []
    for c in result.ranked():
        if only_drifted and not c.drifted:
            continue
        mark = "<span class='fail'>✔ yes</span>" if c.drifted else "<span class='pass'>✘ no</span>"
        rows.append(
            [
                html.escape(c.name),
                c.type,
                html.escape(c.stattest),
                fmt(c.score, 4),
                fmt(c.threshold, 4),
                mark,
            ]
        )
    if not rows:
        return "<p>No column drifted.</p>"
    header = ["column", "type", "test", "score", "threshold", "drifted"]
    order = "<p><small>Drifted columns first, then by score relative to threshold.</small></p>"
    return html_table(header, rows, escape_cells=False) + order


def _notes(result: DriftResult) -> str:
    return (
        "<p><small>Distributions count the compared rows. Cells with 1 to "
        f"{result.min_count - 1} rows in either frame are not shown: numeric bins are merged "
        "with their neighbours, rare categories pooled into (other). Bin edges are rounded "
        "reference quantiles.</small></p>"
    )


def render_html(result: DriftResult) -> str:
    """Summary, the column table (drifted first) and the drifted columns' distributions."""
    ranked = result.ranked()
    drifted = [c for c in ranked if c.drifted]
    if drifted:
        top = min(len(drifted), MAX_PLOTS)
        caption = f"<h4>Distributions of the drifted columns (the {top} most drifted)</h4>"
    else:
        caption = "<h4>No column drifted; the three closest to their thresholds</h4>"
    plotted = drifted or ranked[:3]
    plot = img_tag(small_multiples_png(plotted, result.min_count), "drift distributions")
    return section(
        "drift",
        "Data drift",
        summary_html(result),
        table_html(result),
        caption,
        plot,
        _notes(result),
    )


# -- widget ----------------------------------------------------------------------------------


def build_widget(result: DriftResult) -> Any:
    """Summary, a toggle "only drifted", a column picker redrawing that column's distribution,
    and the column table."""
    import ipywidgets as w

    everything = [c.name for c in result.ranked()]
    drifted = list(result.drifted_columns)
    only = w.ToggleButton(value=False, description="only drifted", disabled=not drifted)
    pick = w.Dropdown(options=everything, value=everything[0], description="column")
    image = w.Image(value=_png(result, everything[0]), format="png")
    table = w.HTML(_styled(table_html(result)))

    def on_pick(change: Mapping[str, Any]) -> None:
        if change["new"] is not None:
            image.value = _png(result, change["new"])

    def on_only(change: Mapping[str, Any]) -> None:
        names = drifted if change["new"] else everything
        keep = pick.value if pick.value in names else names[0]
        pick.options = names
        pick.value = keep
        table.value = _styled(table_html(result, only_drifted=change["new"]))

    pick.observe(on_pick, names="value")
    only.observe(on_only, names="value")
    return w.VBox(
        [
            w.HTML(section("drift", "Data drift", summary_html(result))),
            w.HBox([pick, only]),
            image,
            table,
        ]
    )


def _styled(part: str) -> str:
    return f"<div class='nbmlops-review nbmlops-drift'>{part}</div>"


def _png(result: DriftResult, name: str) -> bytes:
    return distribution_png(result.column(name), result.min_count)
