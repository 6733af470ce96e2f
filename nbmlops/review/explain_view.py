"""How an :class:`~nbmlops.review.explain.ExplainResult` looks: static HTML and the ipywidgets view.

Plots are drawn with matplotlib from what the result holds (so a result rebuilt from JSON draws
the same): the global importance bar plot, a beeswarm of the sampled patients' SHAP values
coloured by each value's percentile rank, and a waterfall of one patient's contributions.
Patients are named by their position in the sample; their feature values show as percentile
ranks unless the result was made with ``show_values=True``.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from nbmlops.errors import InvalidInputError
from nbmlops.review.rendering import figure_png, fmt, html_table, img_tag, section

if TYPE_CHECKING:
    from nbmlops.review.explain_result import ExplainResult

__all__ = [
    "SORTS",
    "beeswarm_png",
    "build_widget",
    "importance_png",
    "importance_table",
    "patient_order",
    "patient_png",
    "patient_table",
    "render_html",
]

SORTS = ("highest risk first", "lowest risk first", "sample order")
"""Orders of the patient picker; risk is the predicted probability of the positive class."""

TOP_BARS = 20
TOP_SWARM = 15
TOP_PATIENT = 10
_UP, _DOWN = "#d6604d", "#4393c3"  # pushes towards / away from the positive class


def render_html(result: ExplainResult) -> str:
    """The whole static view, wrapped by :func:`~nbmlops.review.rendering.section`."""
    bar, swarm = result._global_pngs
    who = result.default_patient
    return section(
        "explain",
        "Explanations (SHAP)",
        _summary(result),
        "<h4>Global importance</h4>",
        img_tag(bar, "Mean absolute SHAP value per feature"),
        importance_table(result),
        "<h4>Beeswarm</h4>",
        _swarm_caption(result),
        img_tag(swarm, "SHAP values of the sampled patients per feature"),
        f"<h4>Patient {who} (highest predicted risk in the sample)</h4>",
        img_tag(patient_png(result, who), f"Contributions for patient {who}"),
        patient_table(result, who),
        _privacy_note(result),
    )


def build_widget(result: ExplainResult) -> Any:
    """Tabs "Global importance", "Beeswarm" and "Patient" (picker and sort order)."""
    import ipywidgets as w

    bar, swarm = result._global_pngs
    global_tab = w.VBox(
        [
            w.HTML(_summary(result)),
            w.Image(value=bar, format="png"),
            w.HTML(importance_table(result)),
        ]
    )
    swarm_tab = w.VBox([w.HTML(_swarm_caption(result)), w.Image(value=swarm, format="png")])
    sort = w.Dropdown(options=list(SORTS), value=SORTS[0], description="Order")
    picker = w.Dropdown(options=_options(result, SORTS[0]), description="Patient")
    first = int(picker.value)
    image = w.Image(value=patient_png(result, first), format="png")
    table = w.HTML(patient_table(result, first))
    shown = [first]

    def show(position: int) -> None:
        if position != shown[0]:
            shown[0] = position
            image.value = patient_png(result, position)
            table.value = patient_table(result, position)

    def on_pick(change: dict[str, Any]) -> None:
        if change["new"] is not None:
            show(int(change["new"]))

    def on_sort(change: dict[str, Any]) -> None:
        picker.options = _options(result, str(change["new"]))  # selects the new order's first
        show(int(picker.value))

    picker.observe(on_pick, names="value")
    sort.observe(on_sort, names="value")
    patient_tab = w.VBox([w.HBox([sort, picker]), image, table, w.HTML(_privacy_note(result))])
    view = w.Tab(children=[global_tab, swarm_tab, patient_tab])
    view.titles = ("Global importance", "Beeswarm", "Patient")
    return view


# -- tables ----------------------------------------------------------------------------------


def importance_table(result: ExplainResult) -> str:
    """Rank, feature and mean |SHAP| for every feature, largest first."""
    rows = [
        (str(rank), html.escape(name), fmt(value, 4))
        for rank, (name, value) in enumerate(result.importance.items(), start=1)
    ]
    return html_table(("rank", "feature", "mean |SHAP|"), rows, escape_cells=False)


def patient_table(result: ExplainResult, position: int, top: int = TOP_PATIENT) -> str:
    """One patient's largest contributions, with percentile ranks (or values, if kept)."""
    p = result.patients
    shap_row = p.shap_values[position]
    order = sorted(range(len(shap_row)), key=lambda j: -abs(shap_row[j]))[:top]
    third = "value" if p.values is not None else "percentile in sample"
    rows = [
        (html.escape(result.feature_names[j]), fmt(shap_row[j], 4), _shown(p, position, j))
        for j in order
    ]
    head = (
        f"<p>Patient {position}: predicted risk {fmt(p.probability[position])}; output "
        f"{fmt(p.output[position], 4)} ({html.escape(result.output_space)}) = base "
        f"{fmt(result.base_value, 4)} + sum of contributions.</p>"
    )
    return head + html_table(("feature", "SHAP", third), rows, escape_cells=False)


# -- plots -----------------------------------------------------------------------------------


def importance_png(result: ExplainResult, top: int = TOP_BARS) -> bytes:
    """Horizontal bars of mean |SHAP|, the most important feature on top."""
    import matplotlib.pyplot as plt

    names = list(result.importance)[:top][::-1]
    values = [result.importance[n] for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(names) + 1.0))
    ax.barh(range(len(names)), values, color=_UP)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel(f"mean |SHAP value| ({result.output_space})")
    ax.spines[["top", "right"]].set_visible(False)
    return figure_png(fig)


def beeswarm_png(result: ExplainResult, top: int = TOP_SWARM) -> bytes:
    """Each sampled patient's SHAP value per top feature, swarmed, coloured by percentile rank."""
    import matplotlib.pyplot as plt
    import numpy as np

    p = result.patients
    values = np.asarray(p.shap_values, dtype=float).reshape(len(p), len(result.feature_names))
    ranks = np.array(
        [[np.nan if r is None else r for r in row] for row in p.percentile], dtype=float
    ).reshape(values.shape)
    index = {n: j for j, n in enumerate(result.feature_names)}
    names = list(result.importance)[:top]
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(names) + 1.3))
    cmap = plt.get_cmap("coolwarm")
    points = None
    for row, name in enumerate(names):
        j, y = index[name], len(names) - 1 - row
        x, colour = values[:, j], ranks[:, j]
        known = ~np.isnan(colour)
        offsets = y + _swarm(x)
        ax.scatter(x[~known], offsets[~known], s=8, color="#999999", linewidths=0)
        points = ax.scatter(
            x[known], offsets[known], s=8, c=colour[known], cmap=cmap, vmin=0, vmax=100,
            linewidths=0,
        )  # fmt: skip
    ax.axvline(0, color="#777777", linewidth=0.8)
    ax.set_yticks(range(len(names)), names[::-1], fontsize=8)
    ax.set_xlabel(f"SHAP value (impact on {result.output_space})")
    ax.spines[["top", "right"]].set_visible(False)
    if points is not None:
        bar = fig.colorbar(points, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("value percentile in sample", fontsize=8)
    return figure_png(fig)


def patient_png(result: ExplainResult, position: int, top: int = TOP_PATIENT) -> bytes:
    """A waterfall: from the base value, each top contribution in turn, the rest as one bar."""
    import matplotlib.pyplot as plt

    p = result.patients
    shap_row = p.shap_values[position]
    order = sorted(range(len(shap_row)), key=lambda j: -abs(shap_row[j]))
    steps = [
        (f"{result.feature_names[j]} ({_shown(p, position, j)})", shap_row[j]) for j in order[:top]
    ]
    if len(order) > top:
        steps.append((f"{len(order) - top} other features", sum(shap_row[j] for j in order[top:])))
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(steps) + 1.4))
    level = result.base_value
    for row, (_, value) in enumerate(steps):
        y = len(steps) - 1 - row
        ax.barh(y, value, left=level, color=_UP if value >= 0 else _DOWN, height=0.7)
        ax.annotate(
            f"{value:+.3f}", (level + value, y), xytext=(3 if value >= 0 else -3, 0),
            textcoords="offset points", va="center", ha="left" if value >= 0 else "right",
            fontsize=7,
        )  # fmt: skip
        level += value
    ax.margins(x=0.12)
    ax.axvline(result.base_value, color="#777777", linestyle="--", linewidth=0.8)
    ax.axvline(level, color="#222222", linewidth=0.8)
    ax.set_yticks(range(len(steps)), [label for label, _ in steps][::-1], fontsize=8)
    ax.set_xlabel(
        f"{result.output_space}: base {result.base_value:.3f} (dashed) → "
        f"patient {position} {p.output[position]:.3f} (solid)"
    )
    ax.set_title(f"Patient {position}, predicted risk {p.probability[position]:.3f}", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_png(fig)


# -- pieces ----------------------------------------------------------------------------------


def _swarm(x: Any, bins: int = 60, width: float = 0.4) -> Any:
    """Vertical offsets that spread points sharing a bin of ``x`` up and down, as a beeswarm."""
    import numpy as np

    if x.size == 0:
        return np.zeros(0)
    span = float(x.max() - x.min()) or 1.0
    binned = np.rint((x - x.min()) / span * bins).astype(int)
    order = np.argsort(binned, kind="stable")
    starts = np.searchsorted(binned[order], binned[order], side="left")
    rank = np.empty(x.size, dtype=int)
    rank[order] = np.arange(x.size) - starts
    offset = np.ceil(rank / 2) * np.where(rank % 2 == 0, 1.0, -1.0)
    return offset * (width / max(1.0, float(np.abs(offset).max())))


def _shown(p: Any, position: int, j: int) -> str:
    """A feature value as shown: the exact value when kept, else its percentile rank."""
    if p.values is not None:
        value = p.values[position][j]
        if value is None:
            return "missing"
        return html.escape(value) if isinstance(value, str) else f"{value:g}"
    rank = p.percentile[position][j]
    return "not ranked" if rank is None else f"p{rank}"


def patient_order(result: ExplainResult, sort: str) -> list[int]:
    """Patient positions in one of :data:`SORTS`; risk is the predicted probability."""
    risk = result.patients.probability
    positions = list(range(len(risk)))
    if sort not in SORTS:
        raise InvalidInputError(f"sort must be one of {SORTS}, not {sort!r}", argument="sort")
    if sort == "sample order":
        return positions
    sign = -1.0 if sort == "highest risk first" else 1.0
    return sorted(positions, key=lambda i: sign * risk[i])


def _options(result: ExplainResult, sort: str) -> list[tuple[str, int]]:
    risk = result.patients.probability
    return [(f"patient {i} · risk {risk[i]:.3f}", i) for i in patient_order(result, sort)]


def _summary(result: ExplainResult) -> str:
    e = html.escape
    background = "" if result.n_background is None else f", {result.n_background} background rows"
    sampled = (
        f"a seeded sample of {result.n_explained} of {result.n_rows} rows"
        if result.n_explained < result.n_rows
        else f"all {result.n_rows} rows"
    )
    return (
        f"<p>{e(result.explainer)} ({e(result.feature_perturbation)}{background}) on "
        f"{e(result.model)}, positive class {e(result.positive_class)}; SHAP values in "
        f"<b>{e(result.output_space)}</b> space, base value {fmt(result.base_value, 4)}. "
        f"Explained {sampled} (seed {result.seed}); {len(result.patients)} patients kept for "
        "per-patient views, numbered by position in the sample.</p>"
    )


def _swarm_caption(result: ExplainResult) -> str:
    return (
        f"<p>{len(result.patients)} sampled patients; colour: the value's percentile rank among "
        "the explained rows (blue low, red high, grey not ranked).</p>"
    )


def _privacy_note(result: ExplainResult) -> str:
    if result.show_values:
        return (
            "<p><b>Shows exact feature values</b> (made with <code>show_values=True</code>): "
            "this view holds row-level data.</p>"
        )
    return (
        "<p>Feature values are shown as percentile ranks among the explained rows "
        "(<code>p50</code>: the median), not as values.</p>"
    )
