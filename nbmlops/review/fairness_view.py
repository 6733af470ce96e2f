"""How a :class:`~nbmlops.review.fairness.FairnessResult` looks: static HTML and the widget.

Plots are drawn with matplotlib from what the result holds (so a result rebuilt from JSON draws
the same): each group's metric as a point with its bootstrap interval as an error bar, the
overall value as a dashed line. Suppressed groups keep their row, marked "suppressed", with
nothing plotted. Labels are escaped in HTML; only group labels, counts and aggregates appear.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbmlops.review.rendering import figure_png, fmt, html_table, img_tag, section

if TYPE_CHECKING:
    from nbmlops.review.fairness_result import FairnessResult, GroupTable, Pair

__all__ = [
    "EQUALIZED_ODDS",
    "METRIC_NAMES",
    "build_widget",
    "checks_table",
    "group_table",
    "groupings",
    "metric_png",
    "metric_table",
    "render_html",
]

METRIC_NAMES = {
    "selection_rate": "selection rate",
    "true_positive_rate": "true positive rate",
    "false_positive_rate": "false positive rate",
    "precision": "precision",
    "auroc": "AUROC",
}
"""How each metric is named in tables, plots and the metric picker."""

EQUALIZED_ODDS = ("true_positive_rate", "false_positive_rate")
"""The static view's plot: equalized odds asks both rates to be equal across groups."""

_POINT, _MUTED = "#2b6cb0", "#8a8a8a"
_MARKS = {
    "passed": "<span class='pass'>✔ pass</span>",
    "failed": "<span class='fail'>✘ fail</span>",
    "not assessable": "<span class='na'>not assessable</span>",
}
_BY = " \u00d7 "  # joins the labels of an intersection group, as in "F x medicaid"
_NOT_ASSESSABLE = "<span class='na'>not assessable</span>"


def render_html(result: FairnessResult) -> str:
    """The whole static view, wrapped by :func:`~nbmlops.review.rendering.section`."""
    e = html.escape
    table = result.by_group
    parts = [
        _summary(result),
        img_tag(metric_png(result, table, EQUALIZED_ODDS), _alt(table)),
        group_table(table, result.min_group_size),
        _gaps(table),
        _verdict(result),
        checks_table(result),
    ]
    if len(result.by_feature) > 1:
        for feature, alone in result.by_feature.items():
            parts += [
                f"<h4>By {e(feature)} alone</h4>",
                img_tag(metric_png(result, alone, EQUALIZED_ODDS), _alt(alone)),
                group_table(alone, result.min_group_size),
                _gaps(alone),
            ]
    return section("fairness", f"Fairness by {_BY.join(table.features)}", *parts)


def build_widget(result: FairnessResult) -> Any:
    """The checks and the gaps they look at, then grouping and metric pickers over the
    interval plot and its table."""
    import ipywidgets as w

    tables = groupings(result)
    names = list(tables)
    metrics = result.by_group.metrics
    grouping = w.Dropdown(options=names, value=names[0], description="Grouping")
    metric = w.Dropdown(
        options=[(METRIC_NAMES[m], m) for m in metrics],
        value=metrics[0],
        description="Metric",
    )
    image = w.Image(value=b"", format="png")
    table = w.HTML()

    def draw(_change: Any = None) -> None:
        chosen = tables[grouping.value]
        image.value = metric_png(result, chosen, (metric.value,))
        shown = metric_table(chosen, metric.value, result.min_group_size)
        table.value = f"<div class='nbmlops-review'>{shown}</div>"  # styled by the head's CSS

    draw()
    grouping.observe(draw, names="value")
    metric.observe(draw, names="value")
    by = _BY.join(result.by_group.features)
    head = section(  # the checks, and the gaps between the intersection's groups they look at
        "fairness",
        f"Fairness by {by}",
        _summary(result),
        _verdict(result),
        checks_table(result),
        f"<h4>Gaps between the groups of {html.escape(by)}</h4>",
        _gaps(result.by_group),
    )
    return w.VBox([w.HTML(head), w.HBox([grouping, metric]), image, table])


def groupings(result: FairnessResult) -> dict[str, GroupTable]:
    """The picker's choices: the intersection first, then each feature alone (if several)."""
    tables = {_BY.join(result.by_group.features): result.by_group}
    if len(result.by_feature) > 1:
        tables |= {f"{feature} alone": t for feature, t in result.by_feature.items()}
    return tables


# -- tables ----------------------------------------------------------------------------------


def group_table(table: GroupTable, min_group_size: int) -> str:
    """One row per group: labels, n, and every metric with its interval; suppressed groups say
    so instead."""
    header = [*table.features, "n", *(METRIC_NAMES[m] for m in table.metrics)]
    rows = []
    for i, (label, n) in enumerate(zip(table.groups, table.counts, strict=True)):
        cells = [html.escape(part) for part in label]
        if n is None:
            cells += [f"&lt;&nbsp;{min_group_size}", "suppressed"]
            cells += [""] * (len(table.metrics) - 1)
        else:
            cells += [str(n), *(_with_interval(table, m, i) for m in table.metrics)]
        rows.append(cells)
    return html_table(header, rows, escape_cells=False) + _suppressed(table, min_group_size)


def metric_table(table: GroupTable, metric: str, min_group_size: int) -> str:
    """One metric by group with its interval, and its gap and ratio between groups."""
    name = METRIC_NAMES[metric]
    rows = [
        [
            *(html.escape(part) for part in label),
            f"&lt;&nbsp;{min_group_size}" if n is None else str(n),
            "suppressed" if n is None else _with_interval(table, metric, i),
        ]
        for i, (label, n) in enumerate(zip(table.groups, table.counts, strict=True))
    ]
    if table.difference_between[metric] is None:
        gap = f"<p>{html.escape(name)}: difference and ratio {_NOT_ASSESSABLE}.</p>"
    else:
        gap = (
            f"<p>{html.escape(name)}: difference (max &minus; min) {_gap_cell(table, metric)}, "
            f"{_pair(table.difference_between[metric])}; ratio (min / max) "
            f"{fmt(table.ratio[metric])}.</p>"
        )
    header = [*table.features, "n", name]
    return html_table(header, rows, escape_cells=False) + gap


def checks_table(result: FairnessResult) -> str:
    """Each check's value, limit and a pass/fail mark, by name."""
    rows = [
        [
            html.escape(c.name),
            fmt(c.value),
            f"{'≤' if c.at_most else '≥'} {c.limit:g}",
            _MARKS[c.status],
        ]
        for _, c in sorted(result.checks.items())  # by name, as JSON (sorted keys) keeps them
    ]
    return html_table(["check", "value", "limit", "result"], rows, escape_cells=False)


def _gaps(table: GroupTable) -> str:
    if sum(n is not None for n in table.counts) < 2:
        return (
            "<p>Gaps and ratios between groups: <b>not assessable</b> &ndash; fewer than two "
            "groups are left after suppression (no gap is measured, which is not the same as no "
            "gap).</p>"
        )
    rows = [
        [
            METRIC_NAMES[m],
            _gap_cell(table, m),
            _pair(table.difference_between[m]),
            fmt(table.ratio[m]),
        ]
        for m in table.metrics
    ]
    header = ["metric", "difference (max \u2212 min)", "between", "ratio (min / max)"]
    return html_table(header, rows, escape_cells=False)


def _gap_cell(table: GroupTable, metric: str) -> str:
    if table.difference_between[metric] is None:
        return _NOT_ASSESSABLE
    low, high = table.difference_ci[metric]
    return f"{fmt(table.difference[metric])} <small>[{fmt(low)}, {fmt(high)}]</small>"


def _pair(between: Pair | None) -> str:
    if between is None:
        return _NOT_ASSESSABLE
    high, low = (html.escape(_BY.join(g)) for g in between)
    return f"{high} (highest) &minus; {low} (lowest)"


def _verdict(result: FairnessResult) -> str:
    """Which checks failed or could not be assessed, and between which groups."""
    if result.status == "passed":
        return "<h4>Checks: all checks passed</h4>"
    said = []
    for name, check in sorted(result.checks.items()):
        if check.status == "passed":
            continue
        where = _check_pair(result, name)
        said.append(f"{html.escape(name)} {check.status}" + (f" ({where})" if where else ""))
    title = "some checks failed" if result.status == "failed" else "not assessable"
    return f"<h4>Checks: {title}</h4><p>{'; '.join(said)}.</p>"


def _check_pair(result: FairnessResult, name: str) -> str:
    table = result.by_group
    if name == "equalized_odds_difference":
        between = result.equalized_odds_between
    else:
        metric = name.removesuffix("_difference").removesuffix("_ratio")
        metric = "selection_rate" if name == "demographic_parity_difference" else metric
        between = table.difference_between.get(metric)
    if between is None:
        return "fewer than two groups left after suppression" if not result.assessable else ""
    return f"between {_pair(between)}"


def _with_interval(table: GroupTable, metric: str, i: int) -> str:
    low, high = table.ci_low[metric][i], table.ci_high[metric][i]
    return f"{fmt(table.values[metric][i])} <small>[{fmt(low)}, {fmt(high)}]</small>"


def _suppressed(table: GroupTable, min_group_size: int) -> str:
    if not table.suppressed:
        return ""
    listed = "; ".join(" &times; ".join(map(html.escape, g)) for g in table.suppressed)
    return f"<p>Suppressed (fewer than {min_group_size} rows): {listed}</p>"


def _summary(result: FairnessResult) -> str:
    cut = "" if result.threshold is None else f", threshold {result.threshold:g}"
    intervals = (
        f"{round(result.ci * 100)}% percentile intervals from {result.n_bootstrap} bootstrap "
        f"resamples (seed {result.seed}); a gap's interval: "
        f"<span class='gap-interval'>{html.escape(result.gap_interval)}</span>"
        if result.n_bootstrap
        else "no bootstrap intervals (n_bootstrap=0)"
    )
    return (
        f"<p>{result.n_rows} rows{cut}; {intervals}. Groups with fewer than "
        f"{result.min_group_size} rows are suppressed.</p>"
    )


def _alt(table: GroupTable) -> str:
    return f"True and false positive rate by {_BY.join(table.features)}, with intervals"


# -- plots -----------------------------------------------------------------------------------


def metric_png(result: FairnessResult, table: GroupTable, metrics: Sequence[str]) -> bytes:
    """One panel per metric: each group's value and interval (error bar), first group on top,
    the overall value dashed; suppressed groups are labelled, not plotted."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import transforms

    shown = np.array([n is not None for n in table.counts])
    y = np.arange(len(table.groups))[::-1]
    labels = [_BY.join(g).replace("$", r"\$") for g in table.groups]  # "$" starts mathtext
    fig, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(1.6 + 3.4 * len(metrics), 0.8 + 0.27 * len(labels)),
        sharey=True,
        squeeze=False,
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        value = np.array(table.values[metric], dtype=float)
        low = np.array(table.ci_low[metric], dtype=float)
        high = np.array(table.ci_high[metric], dtype=float)
        drawn = shown & ~np.isnan(value)
        errors = np.nan_to_num(np.vstack([value - low, high - value])[:, drawn]).clip(min=0)
        ax.errorbar(
            value[drawn], y[drawn], xerr=errors, fmt="o", color=_POINT, ms=4, capsize=3, lw=1
        )
        overall = result.overall.get(metric, math.nan)
        title = METRIC_NAMES[metric]
        if not math.isnan(overall):
            ax.axvline(overall, color=_MUTED, linestyle="--", lw=1)
            title += f"\n(overall {overall:.3f}, dashed)"
        mark = transforms.blended_transform_factory(ax.transAxes, ax.transData)
        for row in y[~shown]:
            ax.text(0.02, row, "suppressed", transform=mark, color=_MUTED, fontsize=7, va="center")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", color="#eeeeee")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_yticks(y, labels, fontsize=7)
    for tick, keep in zip(axes[0][0].get_yticklabels(), shown, strict=True):
        tick.set_color("black" if keep else _MUTED)
    return figure_png(fig)
