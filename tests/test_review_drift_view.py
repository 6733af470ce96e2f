"""The drift plots keep every label inside the picture (nothing clipped, nothing run into the row
below), on a clinical batch with long category names, tested by real evidently; and a recorded
count reads as an integer."""

from __future__ import annotations

import datetime
import functools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from nbmlops.demo.datasets import IDENTIFIER_COLUMNS, synthetic_patients
from nbmlops.privacy.deid import deidentify
from nbmlops.review.drift import DriftResult, drift
from nbmlops.review.drift_view import distribution_figure, small_multiples_figure
from nbmlops.review.rendering import fmt_number

COLUMNS = ["race_ethnicity", "age", "prior_pdc", "monthly_copay", "payer", "primary_dx", "sex"]


@functools.cache
def _shifted() -> DriftResult:
    def batch(seed: int, shift: float, year: int) -> object:
        raw = synthetic_patients(3000, seed=seed, drift=shift)
        frame = deidentify(raw, identifiers=IDENTIFIER_COLUMNS, as_of=datetime.date(year, 1, 1))
        return frame.frame[COLUMNS]

    return drift(batch(1, 0.0, 2026), batch(8, 1.0, 2027))


def _texts_inside(fig: object) -> list[str]:
    """Draw ``fig`` for real and assert that everything drawn (titles, tick and axis labels,
    legends) lies within the figure, without the PNG's tight crop; the x tick labels drawn."""
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # type: ignore[attr-defined]
    width, height = fig.get_size_inches()  # type: ignore[attr-defined]
    tolerance = 0.01  # inches
    assert drawn.x0 >= -tolerance and drawn.y0 >= -tolerance, drawn
    assert drawn.x1 <= width + tolerance and drawn.y1 <= height + tolerance, drawn
    return [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]  # type: ignore[attr-defined]


def test_every_label_of_a_column_plot_lies_inside_the_figure() -> None:
    result = _shifted()
    for name in ("race_ethnicity", "prior_pdc", "payer", "sex"):
        shown = _texts_inside(distribution_figure(result.column(name), result.min_count))
        assert shown == list(result.column(name).distribution.labels)


def test_small_multiples_keep_labels_inside_and_off_the_row_below() -> None:
    result = _shifted()
    columns = sorted(result.columns, key=lambda c: c.name != "race_ethnicity")[:6]
    fig = small_multiples_figure(columns, result.min_count)
    _texts_inside(fig)
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.axison]
    rows_below = [
        (upper, lower) for upper in axes for lower in axes if lower.bbox.y1 < upper.bbox.y0
    ]
    assert rows_below  # six columns: two rows
    for upper, lower in rows_below:
        title = lower.title if lower.title.get_text() else lower._left_title
        below = title.get_window_extent(renderer)
        for label in upper.get_xticklabels():
            assert not label.get_window_extent(renderer).overlaps(below), label.get_text()


def test_the_widget_scales_the_plot_rather_than_cutting_it() -> None:
    image = _shifted().widget().children[2]
    assert (image.layout.max_width, image.layout.height) == ("100%", "auto")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (6509, "6509"),
        (6509.0, "6509"),
        (65090, "65090"),
        (1.0, "1"),
        (0.0, "0"),
        (0.8123, "0.8123"),
    ],
)
def test_a_count_reads_as_an_integer(value: float, shown: str) -> None:
    assert fmt_number(value) == shown
