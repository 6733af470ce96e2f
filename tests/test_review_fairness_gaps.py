"""Gaps between groups in nbmlops.review.fairness: an interval that holds its own estimate, the
method named, and "not assessable" (never gap 0 / ratio 1) when suppression leaves one group."""

from __future__ import annotations

import html
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from nbmlops.review.fairness import _groupings, fairness
from nbmlops.review.fairness_bootstrap import (
    GAP_INTERVAL,
    LABEL_METRICS,
    OLD_GAP_INTERVAL,
    bootstrap,
    intervals,
)
from nbmlops.review.fairness_result import NOT_ASSESSABLE, FairnessResult

CHECKS = {
    "equalized_odds_difference": 0.1,
    "demographic_parity_difference": 0.1,
    "selection_rate_ratio": 0.8,
    "auroc_difference": 0.1,
}


def _clinics(n_clinics: int = 16, per_clinic: int = 60, seed: int = 11) -> pd.DataFrame:
    """A readmission model scored in ``n_clinics`` clinics that it treats alike: in every clinic
    20 of 60 patients are readmitted, the model flags 12 of them and 6 of the 40 others (one
    clinic flags one more of each), so the rates differ by a few points between clinics while
    each clinic's resampled rates spread widely."""
    rng = np.random.default_rng(seed)
    frames = []
    for clinic in range(n_clinics):
        extra = 1 if clinic == 0 else 0
        truth = np.r_[np.ones(20), np.zeros(per_clinic - 20)].astype(int)
        flagged = np.r_[
            np.ones(12 + extra), np.zeros(8 - extra), np.ones(6 + extra), np.zeros(34 - extra)
        ]
        score = np.where(flagged == 1, 0.5 + 0.5 * rng.random(per_clinic), 0.5 * rng.random(60))
        frames.append(
            pd.DataFrame(
                {
                    "clinic": f"clinic {clinic:02d}",
                    "sex": rng.choice(["F", "M"], per_clinic),
                    "age": rng.integers(40, 90, per_clinic),
                    "readmitted_30d": truth,
                    "risk": score,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _max_minus_min_interval(frame: pd.DataFrame, metric: str, seed: int) -> tuple[float, float]:
    """What a percentile bootstrap of max - min over the groups gives (the old interval), from
    the same resamples :func:`fairness` draws."""
    truth = frame["readmitted_30d"].to_numpy()
    pred = (frame["risk"] >= 0.5).to_numpy().astype(int)
    groupings = _groupings({"clinic": frame["clinic"]}, len(frame))
    reps = bootstrap(truth, pred, None, groupings, min_group_size=30, n_bootstrap=400, seed=seed)[
        ""
    ][metric]
    spread = np.nanmax(reps, axis=1) - np.nanmin(reps, axis=1)
    low, high = intervals(spread[:, None], 0.95)[:, 0]
    return float(low), float(high)


def test_a_gap_lies_inside_its_interval_where_max_minus_min_did_not() -> None:
    frame = _clinics()
    result = fairness(
        y_true=frame["readmitted_30d"],
        y_score=frame["risk"],
        sensitive_features=frame[["clinic"]],
        n_bootstrap=400,
        seed=2,
        checks=CHECKS,
    )
    table = result.by_group
    for metric in LABEL_METRICS:
        old_low, _ = _max_minus_min_interval(frame, metric, seed=2)
        assert table.difference[metric] < old_low, metric  # the data shows the old fault
    for metric in table.metrics:
        low, high = table.difference_ci[metric]
        assert low <= table.difference[metric] <= high, metric
        top, bottom = table.difference_between[metric]
        values = dict(zip(table.groups, table.values[metric], strict=True))
        assert values[top] - values[bottom] == pytest.approx(table.difference[metric])
        assert values[top] == max(values.values()) and values[bottom] == min(values.values())
    for gap, (low, high) in (
        (result.equalized_odds_difference, result.equalized_odds_difference_ci),
        (result.demographic_parity_difference, result.demographic_parity_difference_ci),
    ):
        assert low <= gap <= high
    assert result.equalized_odds_between in {
        table.difference_between["true_positive_rate"],
        table.difference_between["false_positive_rate"],
    }


def test_the_interval_method_is_named_in_the_view_and_the_json() -> None:
    frame = _clinics(n_clinics=4)
    result = fairness(
        y_true=frame["readmitted_30d"],
        y_score=frame["risk"],
        sensitive_features=frame[["clinic", "sex"]],
        min_group_size=20,
        n_bootstrap=50,
    )
    data = json.loads(result.to_json())
    assert data["gap_interval"] == GAP_INTERVAL
    pair = data["by_group"]["difference"]["selection_rate"]["between"]
    assert [tuple(g) for g in pair] == list(result.by_group.difference_between["selection_rate"])
    page = result.to_html()
    assert html.escape(GAP_INTERVAL) in page
    top, _ = result.by_group.difference_between["precision"]
    label = " \u00d7 ".join(top)
    assert f"{html.escape(label)} (highest)" in page
    head, _, _, table = result.widget().children
    assert html.escape(GAP_INTERVAL) in head.value and "(highest)" in table.value
    again = FairnessResult.from_dict(data)
    assert again.to_dict() == result.to_dict()
    # a result saved before the method was recorded says what its intervals were
    del data["gap_interval"]
    old = FairnessResult.from_dict(data)
    assert old.gap_interval == OLD_GAP_INTERVAL
    assert html.escape(OLD_GAP_INTERVAL) in old.to_html()


@pytest.mark.parametrize("left", [1, 0])
def test_with_fewer_than_two_groups_left_gaps_are_not_assessable(left: int) -> None:
    frame = _clinics(n_clinics=3)
    sizes = {"clinic 00": 60 if left else 20, "clinic 01": 20, "clinic 02": 20}
    frame = pd.concat(
        [frame[frame["clinic"] == c].head(n) for c, n in sizes.items()], ignore_index=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no all-NaN or empty-slice warnings reach the user
        result = fairness(
            y_true=frame["readmitted_30d"],
            y_score=frame["risk"],
            sensitive_features=frame[["clinic"]],
            min_group_size=30,
            n_bootstrap=50,
            checks=CHECKS,
        )
    table = result.by_group
    assert sum(n is not None for n in table.counts) == left
    for metric in table.metrics:
        assert math.isnan(table.difference[metric]) and math.isnan(table.ratio[metric])
        assert table.difference_between[metric] is None
        assert all(math.isnan(x) for x in table.difference_ci[metric])
    assert math.isnan(result.equalized_odds_difference)
    assert math.isnan(result.demographic_parity_difference)
    assert {c.status for c in result.checks.values()} == {NOT_ASSESSABLE}
    assert not result.passed and not result.assessable
    assert result.status == NOT_ASSESSABLE
    head = result.headline()
    assert (head["n_checks_failed"], head["n_checks_not_assessable"]) == (0.0, len(CHECKS))

    data = json.loads(result.to_json())
    assert data["status"] == NOT_ASSESSABLE
    assert {c["status"] for c in data["checks"].values()} == {NOT_ASSESSABLE}
    assert {c["value"] for c in data["checks"].values()} == {None}
    assert data["by_group"]["difference"]["selection_rate"] == {
        "value": None,
        "ci": [None, None],
        "between": None,
    }
    assert FairnessResult.from_dict(data).to_dict() == data

    page = result.to_html()
    assert "Checks: not assessable" in page
    assert "fewer than two groups" in page
    assert "1.000" not in page and "0.000 <small>" not in page  # no gap 0 / ratio 1 shown
    assert "✔ pass" not in page and "✘ fail" not in page
    head, _, _, table = result.widget().children  # the widget says so too
    assert "Checks: not assessable" in head.value and "difference and ratio" in table.value
    assert "not assessable" in table.value


def test_a_failed_check_names_the_groups_that_define_its_gap() -> None:
    frame = _clinics(n_clinics=3)
    frame.loc[frame["clinic"] == "clinic 02", "risk"] = 0.9  # every patient there is flagged
    result = fairness(
        y_true=frame["readmitted_30d"],
        y_score=frame["risk"],
        sensitive_features=frame[["clinic"]],
        n_bootstrap=0,
    )
    assert result.status == "failed"
    page = result.to_html()
    assert "Checks: some checks failed" in page
    assert (
        "demographic_parity_difference failed (between clinic 02 (highest) &minus; clinic 01 "
        "(lowest))" in page
    )
