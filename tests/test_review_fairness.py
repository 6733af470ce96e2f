"""nbmlops.review.fairness: numbers match fairlearn, small groups are hidden, bias is found."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score

from nbmlops.datasets import BIASED_GROUP, synthetic_patients
from nbmlops.review.fairness import fairness

FEATURES = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]


@functools.cache
def _scored(bias: float) -> tuple[pd.DataFrame, np.ndarray]:
    frame = synthetic_patients(20_000, seed=1, bias=bias)
    model = LogisticRegression(max_iter=1000).fit(frame[FEATURES], frame["stopped_refilling"])
    return frame, model.predict_proba(frame[FEATURES])[:, 1]


def _small(n: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.45, 0.05])
    truth = rng.integers(0, 2, n)
    score = np.clip(0.3 * truth + rng.random(n) * 0.7, 0, 1)
    return {"group": group, "sex": rng.choice(["F", "M"], n), "y": truth, "score": score}


@pytest.mark.parametrize("kind", ["series", "frame", "mapping"])
def test_metrics_equal_fairlearn_metric_frame(kind: str) -> None:
    frame, score = _scored(0.6)
    pred = (score >= 0.5).astype(int)
    payer = frame["payer"]
    sf = {"series": payer, "frame": frame[["payer"]], "mapping": {"payer": payer.to_numpy()}}[kind]
    result = fairness(
        y_true=frame["stopped_refilling"], y_score=score, sensitive_features=sf, n_bootstrap=0
    )
    expected = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": functools.partial(precision_score, zero_division=0),
        },
        y_true=frame["stopped_refilling"],
        y_pred=pred,
        sensitive_features=payer,
    ).by_group
    table = result.by_feature["payer"]
    for i, (label,) in enumerate(table.groups):
        for metric in expected.columns:
            assert table.values[metric][i] == pytest.approx(expected.loc[label, metric])
    y = frame["stopped_refilling"]
    assert result.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=payer)
    )
    assert result.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=payer)
    )


def test_intersection_matches_fairlearn_and_features_reported_alone() -> None:
    data = _small(2000)
    sf = pd.DataFrame({"group": data["group"], "sex": data["sex"]})
    pred = (data["score"] >= 0.5).astype(int)
    result = fairness(
        y_true=data["y"], y_pred=pred, sensitive_features=sf, n_bootstrap=0, min_group_size=1
    )
    expected = MetricFrame(
        metrics=selection_rate, y_true=data["y"], y_pred=pred, sensitive_features=sf
    ).by_group
    assert result.by_group.features == ("group", "sex")
    for i, label in enumerate(result.by_group.groups):
        assert result.by_group.values["selection_rate"][i] == pytest.approx(expected.loc[label])
    assert set(result.by_feature) == {"group", "sex"}
    assert result.by_feature["sex"].groups == (("F",), ("M",))
    assert result.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(data["y"], pred, sensitive_features=sf)
    )


def test_small_group_is_suppressed_and_left_out_of_gaps() -> None:
    data = _small()
    result = fairness(
        y_true=data["y"],
        y_score=data["score"],
        sensitive_features={"group": data["group"]},
        min_group_size=50,
        n_bootstrap=50,
    )
    table = result.by_group
    assert table.suppressed == (("c",),)
    c = table.groups.index(("c",))
    assert table.counts[c] is None
    assert all(np.isnan(table.values[m][c]) for m in table.metrics)
    assert all(np.isnan(table.ci_low[m][c]) for m in table.metrics)
    shown = [v for v in table.values["selection_rate"] if not np.isnan(v)]
    assert table.difference["selection_rate"] == pytest.approx(max(shown) - min(shown))
    kept = data["group"] != "c"
    pred = (data["score"] >= 0.5).astype(int)
    assert result.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(
            data["y"][kept], pred[kept], sensitive_features=data["group"][kept]
        )
    )
    exported = result.to_dict()["by_group"]
    assert exported["suppressed"] == [["c"]]
    assert "metrics" not in exported["groups"][c]
    assert exported["groups"][c]["n"] is None


def test_bootstrap_intervals_contain_estimate_and_repeat_for_a_seed() -> None:
    data = _small(1500)
    kwargs = {
        "y_true": data["y"],
        "y_score": data["score"],
        "sensitive_features": {"group": data["group"]},
        "n_bootstrap": 100,
    }
    first, again = fairness(**kwargs, seed=3), fairness(**kwargs, seed=3)
    other = fairness(**kwargs, seed=4)
    table = first.by_group
    for m in table.metrics:
        for i, n in enumerate(table.counts):
            if n is not None:
                assert table.ci_low[m][i] <= table.values[m][i] <= table.ci_high[m][i]
        low, high = table.difference_ci[m]
        assert low <= high
    assert first.to_dict() == again.to_dict()
    assert first.to_dict() != other.to_dict()
    low, high = first.equalized_odds_difference_ci
    assert low <= first.equalized_odds_difference <= high


def test_label_bias_against_medicaid_is_found() -> None:
    column, value = BIASED_GROUP
    frame, score = _scored(0.6)
    biased = fairness(
        y_true=frame["stopped_refilling"], y_score=score, sensitive_features=frame[[column]]
    )
    table = biased.by_feature[column]
    fpr = dict(zip(table.groups, table.values["false_positive_rate"], strict=True))
    assert fpr[(value,)] > max(v for k, v in fpr.items() if k != (value,))
    assert not biased.checks["equalized_odds_difference"].passed
    assert not biased.passed

    # Medicaid against everyone else: payer alone also differs by age (Medicare), not bias
    def versus_rest(bias: float) -> tuple[float, float]:
        data, scores = _scored(bias)
        result = fairness(
            y_true=data["stopped_refilling"],
            y_score=scores,
            sensitive_features={value: data[column] == value},
            n_bootstrap=0,
        )
        return result.equalized_odds_difference, result.demographic_parity_difference

    biased_eod, biased_dpd = versus_rest(0.6)
    clean_eod, clean_dpd = versus_rest(0.0)
    assert biased_eod > 0.1 > clean_eod
    assert clean_dpd < biased_dpd


def test_html_has_the_table_and_no_row_level_values() -> None:
    frame, score = _scored(0.6)
    labels = frame["payer"].astype(str).where(frame["payer"] != "cash", "<b>cash</b>")
    result = fairness(
        y_true=frame["stopped_refilling"],
        y_score=score,
        sensitive_features={"payer": labels},
        n_bootstrap=20,
    )
    page = result._repr_html_()
    assert page == result.to_html()
    assert "<table>" in page and "false positive rate" in page and "medicaid" in page
    assert "&lt;b&gt;cash&lt;/b&gt;" in page and "<b>cash</b>" not in page
    assert "<script" not in page.lower() and "http" not in page
    assert "fail" in page
    for row_value in [*frame["mrn"].head(50), *frame["patient_name"].head(50)]:
        assert str(row_value) not in page
    assert not any(f"{s:.6f}" in page for s in score[:200])


def test_to_dict_round_trips_through_json() -> None:
    data = _small()
    result = fairness(
        y_true=data["y"],
        y_score=data["score"],
        sensitive_features=pd.DataFrame({"group": data["group"], "sex": data["sex"]}),
        min_group_size=40,
        n_bootstrap=30,
        checks={"selection_rate_ratio": 0.8, "auroc_difference": 0.2},
    )
    exported = result.to_dict()
    assert json.loads(json.dumps(exported, allow_nan=False)) == exported
    assert set(exported["checks"]) == {"selection_rate_ratio", "auroc_difference"}
    assert exported["passed"] == result.passed
    assert result.to_frame().shape[0] == len(result.by_group.groups)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"y_pred": None}, "y_pred or y_score"),
        ({"checks": {"accuracy_gap": 0.1}}, "unknown check"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"ci": 1.5}, "ci"),
        ({"y_true": [0, 1, 2] * 10}, "y_true"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], word: str) -> None:
    base: dict[str, object] = {
        "y_true": [0, 1, 1] * 10,
        "y_pred": [1, 1, 0] * 10,
        "sensitive_features": {"g": ["a", "b", "c"] * 10},
    }
    with pytest.raises(ValueError, match=word):
        fairness(**(base | kwargs))  # type: ignore[arg-type]
