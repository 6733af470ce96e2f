"""nbmlops.review.fairness: numbers match fairlearn, small groups are hidden, bias is found."""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import render_cell
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, roc_auc_score

from nbmlops.demo.datasets import BIASED_GROUP, synthetic_patients
from nbmlops.errors import InvalidInputError
from nbmlops.review.fairness import FairnessResult, _groupings, fairness
from nbmlops.review.fairness_bootstrap import _plan, _replicate_metrics

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
    assert "<script" not in page.lower() and "http" not in _without_images(page)
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
    ("kwargs", "argument"),
    [
        ({"y_pred": None}, "y_pred"),
        ({"y_pred": [1, 0]}, "y_pred"),
        ({"y_pred": None, "y_score": [0.5, float("nan"), 0.1] * 10}, "y_score"),
        ({"y_pred": None, "y_score": [0.5] * 30, "threshold": math.inf}, "threshold"),
        ({"checks": {"accuracy_gap": 0.1}}, "checks"),
        ({"checks": {"selection_rate_ratio": math.nan}}, "checks"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"ci": 1.5}, "ci"),
        ({"y_true": [0, 1, 2] * 10}, "y_true"),
        ({"y_true": [], "y_pred": [], "sensitive_features": {"g": []}}, "y_true"),
        ({"sensitive_features": ["a", "b", "c"] * 10}, "sensitive_features"),
        ({"sensitive_features": {"g": ["a"]}}, "sensitive_features"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], argument: str) -> None:
    base: dict[str, object] = {
        "y_true": [0, 1, 1] * 10,
        "y_pred": [1, 1, 0] * 10,
        "sensitive_features": {"g": ["a", "b", "c"] * 10},
    }
    with pytest.raises(InvalidInputError) as refused:
        fairness(**(base | kwargs))  # type: ignore[arg-type]
    assert refused.value.argument == argument


def _without_images(page: str) -> str:
    """The page with embedded PNGs cut out: base64 text can spell anything by chance."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


def _mixed() -> FairnessResult:
    """Two features, a suppressed group, a group with no positives (NaN TPR) and ratio checks."""
    data = _small(900, seed=5)
    truth = data["y"].copy()
    truth[data["group"] == "b"] = 0  # "b" has no positives: its TPR and AUROC cannot be computed
    return fairness(
        y_true=truth,
        y_score=data["score"],
        sensitive_features=pd.DataFrame({"sex": data["sex"], "group": data["group"]}),
        min_group_size=40,
        n_bootstrap=25,
        checks={"selection_rate_ratio": 0.5, "equalized_odds_difference": 0.2},
    )


def test_from_dict_rebuilds_the_same_result() -> None:
    result = _mixed()
    exported = result.to_dict()
    assert exported["kind"] == "fairness"
    assert result.by_group.suppressed and np.isnan(result.by_feature["group"].values["auroc"][1])
    rebuilt = FairnessResult.from_dict(exported)
    assert rebuilt.to_dict() == exported
    assert rebuilt.to_html() == result.to_html()
    # through JSON text, as a later review session reads it (keys come back sorted)
    from_json = FairnessResult.from_dict(json.loads(result.to_json()))
    assert from_json.to_dict() == exported
    assert list(from_json.by_feature) == ["sex", "group"]
    assert from_json.by_group.metrics == result.by_group.metrics
    assert from_json.headline() == result.headline()
    assert "<table>" in from_json.to_html()
    assert from_json.widget().children
    with pytest.raises(InvalidInputError, match="drift") as refused:
        FairnessResult.from_dict(exported | {"kind": "drift"})
    assert refused.value.argument == "data"

    labels_only = fairness(  # no scores: no AUROC, no threshold; one feature, no bootstrap
        y_true=[0, 1, 1, 0] * 20,
        y_pred=[0, 1, 0, 0] * 20,
        sensitive_features={"g": list("ab" * 40)},
        n_bootstrap=0,
    )
    again = FairnessResult.from_dict(json.loads(labels_only.to_json()))
    assert again.to_dict() == labels_only.to_dict()
    assert again.threshold is None and "auroc" not in again.by_group.metrics
    assert again.to_html() == labels_only.to_html()


def test_headline_reports_the_gaps_and_the_checks() -> None:
    data = _small(1200, seed=2)
    pred = (data["score"] >= 0.5).astype(int)
    sf = pd.DataFrame({"group": data["group"], "sex": data["sex"]})
    loose = {"equalized_odds_difference": 1.0, "demographic_parity_difference": 1.0}
    strict = {"equalized_odds_difference": 1.0, "demographic_parity_difference": 0.0}
    kwargs = {"y_true": data["y"], "y_pred": pred, "sensitive_features": sf, "n_bootstrap": 0}
    passing = fairness(**kwargs, min_group_size=1, checks=loose).headline()
    failing = fairness(**kwargs, min_group_size=1, checks=strict).headline()
    assert set(passing) == {
        "equalized_odds_difference",
        "demographic_parity_difference",
        "passed",
        "n_checks_failed",
        "n_checks_not_assessable",
    }
    assert passing["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(data["y"], pred, sensitive_features=sf)
    )
    assert passing["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(data["y"], pred, sensitive_features=sf)
    )
    assert (passing["passed"], passing["n_checks_failed"]) == (1.0, 0.0)
    assert (failing["passed"], failing["n_checks_failed"]) == (0.0, 1.0)
    assert passing["n_checks_not_assessable"] == failing["n_checks_not_assessable"] == 0.0


def test_one_resample_equals_the_metrics_of_the_resampled_rows() -> None:
    """The bootstrap's weighted counts and weighted AUROC (with tied scores) are what fairlearn
    and scikit-learn give on the rows a resample drew, repeated as often as drawn."""
    rng = np.random.default_rng(7)
    n = 500
    group = rng.choice(["a", "b", "c"], n)
    truth = rng.integers(0, 2, n)
    score = np.round(0.3 * truth + 0.7 * rng.random(n), 1)  # few distinct values: many ties
    pred = (score >= 0.5).astype(np.int64)
    grouping = _groupings({"group": group}, n)["group"]
    drawn = rng.integers(0, n, n)
    weights = np.bincount(drawn, minlength=n).astype(float)[None, :]
    stats = _replicate_metrics(_plan(truth, pred, score, grouping, 1), weights)
    expected = MetricFrame(
        metrics={"selection_rate": selection_rate, "false_positive_rate": false_positive_rate},
        y_true=truth[drawn],
        y_pred=pred[drawn],
        sensitive_features=group[drawn],
    ).by_group
    for i, (label,) in enumerate(grouping[2]):
        rows = group[drawn] == label
        assert stats["auroc"][0, i] == pytest.approx(
            roc_auc_score(truth[drawn][rows], score[drawn][rows])
        )
        for metric in expected.columns:
            assert stats[metric][0, i] == pytest.approx(expected.loc[label, metric])


def test_labels_are_text_and_missing_values_a_group_of_their_own() -> None:
    n = 300
    kind = np.array(["x", None, "y"] * (n // 3), dtype=object)
    level = np.array([1, 2.0, 2] * (n // 3), dtype=object)  # 2.0 and 2 read differently
    truth = np.array([0, 1, 1, 0, 1] * (n // 5))
    pred = np.array([1, 1, 0] * (n // 3))
    result = fairness(
        y_true=truth,
        y_pred=pred,
        sensitive_features={"kind": kind, "level": level},
        n_bootstrap=0,
        min_group_size=1,
    )
    assert result.by_feature["kind"].groups == (("(missing)",), ("x",), ("y",))
    assert result.by_feature["level"].groups == (("1",), ("2",), ("2.0",))
    assert result.by_group.groups == (("(missing)", "2.0"), ("x", "1"), ("y", "2"))
    text = pd.DataFrame(
        {"kind": [str(k) if k else "(missing)" for k in kind], "level": level.astype(str)}
    )
    expected = MetricFrame(
        metrics=selection_rate, y_true=truth, y_pred=pred, sensitive_features=text
    ).by_group
    for i, label in enumerate(result.by_group.groups):
        assert result.by_group.values["selection_rate"][i] == pytest.approx(expected.loc[label])
    assert result.by_group.counts == (100, 100, 100)


def test_widget_redraws_plot_and_table_for_the_chosen_grouping_and_metric() -> None:
    result = _mixed()
    view = result.widget()
    head, controls, image, table = view.children
    grouping, metric = controls.children
    assert list(grouping.options) == ["sex \u00d7 group", "sex alone", "group alone"]
    assert [value for _, value in metric.options] == [
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
        "precision",
        "auroc",
    ]
    assert metric.value == "selection_rate"
    assert "<th>selection rate</th>" in table.value and "suppressed" in table.value
    assert bytes(image.value).startswith(b"\x89PNG")
    first_image, first_table = image.value, table.value

    metric.value = "auroc"
    assert image.value != first_image
    assert "<th>AUROC</th>" in table.value and "<th>selection rate</th>" not in table.value
    auroc_image = image.value

    grouping.value = "sex alone"
    assert image.value != auroc_image
    assert "<th>sex</th>" in table.value and "<th>group</th>" not in table.value
    assert table.value != first_table
    assert "suppressed" not in table.value  # both sexes are large enough

    assert "900 rows" in head.value and "<td>AUROC</td>" in head.value  # the gaps table
    assert [c.passed for c in result.checks.values()] == [True, False]
    for check in result.checks.values():
        mark = "✔ pass" if check.passed else "✘ fail"
        assert f"<td>{check.name}</td><td>{check.value:.3f}</td>" in head.value
        assert head.value.count(mark) == 1


def test_static_rendering_in_an_executed_notebook_and_nbconvert(tmp_path: Path) -> None:
    code = (
        "from sklearn.linear_model import LogisticRegression\n"
        "from nbmlops.demo.datasets import synthetic_patients\n"
        "from nbmlops.review.fairness import fairness\n"
        f"features = {FEATURES!r}\n"
        "frame = synthetic_patients(3000, seed=8, bias=0.6)\n"
        "y = frame['stopped_refilling']\n"
        "model = LogisticRegression(max_iter=1000).fit(frame[features], y)\n"
        "result = fairness(\n"
        "    y_true=y,\n"
        "    y_score=model.predict_proba(frame[features])[:, 1],\n"
        "    sensitive_features=frame[['sex', 'payer']],\n"
        "    n_bootstrap=30,\n"
        ")\n"
        "result.to_json('fairness.json')\n"
        "result"
    )
    shown = render_cell(tmp_path, code, "fairness")
    executed, data = shown.executed, shown.data
    assert "application/vnd.jupyter.widget-view+json" in data
    table_rows = ["<td>F</td><td>medicaid</td>", "<td>M</td><td>commercial</td>"]
    assert all(row in data["text/html"] for row in table_rows)
    assert "<th>false positive rate</th>" in data["text/html"]
    assert "data:image/png;base64," in data["text/html"]

    frame = synthetic_patients(3000, seed=8, bias=0.6)
    model = LogisticRegression(max_iter=1000).fit(frame[FEATURES], frame["stopped_refilling"])
    scores = model.predict_proba(frame[FEATURES])[:, 1]
    raw = [
        *frame["mrn"].head(300),
        *frame["patient_name"].head(300),
        *frame["email"].head(300),
        *(f"{s:.6f}" for s in scores[:300]),
    ]
    saved = (tmp_path / "fairness.json").read_text()
    assert not [v for v in raw if v in saved]

    exported = shown.plain_html
    assert not [v for v in raw if v in exported]
    # with the widget state saved, nbconvert shows the widget view; without it (a notebook saved
    # from a closed kernel) it shows the static HTML of the same output
    assert "widgets" in executed.metadata
    static = shown.pipeline_html  # what a pipeline run exports: no saved widget state
    assert all(row in static for row in table_rows)
    plots = re.findall(r"<img[^>]*src=.data:image/png;base64,", static)
    assert len(plots) == 3  # the intersection, sex alone, payer alone
    assert not [v for v in raw if v in static]
    assert "3000 rows, threshold 0.5" in static
