"""What a reviewer sees of a drift result: static HTML with embedded plots, and the ipywidgets
view. The distributions it draws are aggregate counts, already under the small-cell rule
(:mod:`nbmlops.review.drift_profile`); nothing here sees row-level data.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbmlops.review.rendering import figure_png, fmt, html_table, img_tag, section

if TYPE_CHECKING:
    from nbmlops.review.drift import ColumnDrift, DriftResult

__all__ = [
    "build_widget",
    "distribution_figure",
    "distribution_png",
    "render_html",
    "small_multiples_figure",
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
    # turned labels end at their tick (anchor mode); level ones are centred under it
    turned = len(d.labels) > 4 or max(map(len, d.labels), default=0) > 12
    ax.set_xticklabels(
        d.labels,
        rotation=60 if turned else 0,
        ha="right" if turned else "center",
        rotation_mode="anchor",
        fontsize=7,
    )
    ax.set_ylabel("share of rows", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7)


def distribution_png(column: ColumnDrift, min_count: int) -> bytes:
    """One column's reference-vs-current distribution as a PNG."""
    return figure_png(distribution_figure(column, min_count))


def distribution_figure(column: ColumnDrift, min_count: int) -> Any:
    """The figure of :func:`distribution_png`, laid out so every label lies inside it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, _height(column)), layout="constrained")
    _draw(fig.subplots(), column, min_count)
    return fig


def small_multiples_png(columns: list[ColumnDrift], min_count: int) -> bytes:
    """Up to :data:`MAX_PLOTS` columns' distributions side by side, three per row."""
    return figure_png(small_multiples_figure(columns, min_count))


def small_multiples_figure(columns: list[ColumnDrift], min_count: int) -> Any:
    """The figure of :func:`small_multiples_png`: each row as tall as its longest labels need,
    laid out so no label is cut or runs into the row below."""
    from matplotlib.figure import Figure

    shown = columns[:MAX_PLOTS]
    across = min(3, len(shown))
    rows = [shown[i : i + across] for i in range(0, len(shown), across)]
    heights = [max(_height(c) for c in row) for row in rows]
    fig = Figure(figsize=(4.4 * across, sum(heights)), layout="constrained")
    axes = fig.subplots(len(rows), across, squeeze=False, height_ratios=heights).ravel()
    for ax, column in zip(axes, shown, strict=False):
        _draw(ax, column, min_count)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    return fig


def _height(column: ColumnDrift) -> float:
    """Inches for one plot: 3.4 for the bars and title, plus room for turned labels (about
    0.06 inch a character at 7 points, turned 60 degrees)."""
    labels = column.distribution.labels
    if column.distribution.suppressed or not labels:
        return 3.4
    return 3.4 + 0.055 * max(len(label) for label in labels)


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
    # scaled to the view's width rather than cut by it; the PNG holds every label
    image = w.Image(
        value=_png(result, everything[0]),
        format="png",
        layout=w.Layout(max_width="100%", height="auto"),
    )
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
