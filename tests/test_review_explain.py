"""nbmlops.review.explain: numbers match shap called directly, rows stay private, views react."""

from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import render_cell
from scipy.stats import percentileofscore
from sklearn.compose import make_column_transformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from nbmlops.demo.datasets import synthetic_patients
from nbmlops.errors import InvalidInputError
from nbmlops.review.explain import PERMUTATIONS, ExplainResult, explain
from nbmlops.review.explain_view import SORTS, patient_order

NUMERIC = [
    "age",
    "comorbidity_count",
    "prior_pdc",
    "refill_gap_days",
    "n_medications",
    "monthly_copay",
]
CATEGORIES = ["payer", "primary_dx"]
OUTCOME = "stopped_refilling"


def _shap() -> Any:
    with warnings.catch_warnings():  # shap's colour maps call a matplotlib API marked for removal
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


@functools.cache
def _data(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """Numeric features plus one-hot payer columns, indexed by MRN (as real extracts often are)."""
    frame = synthetic_patients(rows, seed=seed)
    features = frame[NUMERIC].join(pd.get_dummies(frame["payer"], prefix="payer", dtype=float))
    features[OUTCOME] = frame[OUTCOME]
    return features.set_axis(frame["mrn"].to_numpy(), axis=0)


def _features(rows: int = 400) -> pd.DataFrame:
    return _data(rows).drop(columns=[OUTCOME])


@functools.cache
def _gbc(rows: int = 400) -> GradientBoostingClassifier:
    data = _data(rows)
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)
    return model.fit(data.drop(columns=[OUTCOME]), data[OUTCOME])


@functools.cache
def _logistic(rows: int = 400) -> LogisticRegression:
    data = _data(rows)
    return LogisticRegression(max_iter=2000).fit(data[NUMERIC], data[OUTCOME])


@functools.cache
def _tree_result(rows: int = 150) -> ExplainResult:
    """Every row explained and kept as a patient, so patient i is row i of X."""
    return explain(_gbc(), _features().iloc[:rows], n_patients=rows)


def test_tree_importance_equals_shap_tree_explainer() -> None:
    X = _features()
    result = explain(_gbc(), X, max_rows=len(X))
    explainer = _shap().TreeExplainer(_gbc())
    expected = np.abs(explainer.shap_values(X)).mean(axis=0)
    assert result.explainer == "TreeExplainer"
    assert result.output_space == "log-odds"
    assert result.n_explained == result.n_rows == len(X)
    assert list(result.importance) == [X.columns[j] for j in np.argsort(-expected, kind="stable")]
    for j, name in enumerate(X.columns):
        assert result.importance[name] == pytest.approx(expected[j], rel=1e-9, abs=1e-12)
    assert result.base_value == pytest.approx(float(np.ravel(explainer.expected_value)[0]))
    table = result.importance_frame()
    assert list(table["feature"]) == list(result.importance)
    assert table["mean_abs_shap"].is_monotonic_decreasing


def test_tree_additivity_gives_the_model_log_odds_and_probability() -> None:
    result, X, model = _tree_result(), _features().iloc[:150], _gbc()
    log_odds, probability = model.decision_function(X), model.predict_proba(X)[:, 1]
    shap_values = np.array(result.patients.shap_values)
    n_features = len(result.feature_names)
    assert shap_values.shape == (150, n_features)
    # each value is rounded to 4 decimals, so the sum may be off by n_features * 0.5e-4
    assert result.base_value + shap_values.sum(axis=1) == pytest.approx(
        log_odds, abs=n_features * 5e-5 + 1e-9
    )
    assert np.array(result.patients.output) == pytest.approx(log_odds, abs=5e-5 + 1e-9)
    assert np.array(result.patients.probability) == pytest.approx(probability, abs=5e-5 + 1e-9)
    # percentile ranks are scipy's "mean" percentile of the value among the explained rows
    j = result.feature_names.index("monthly_copay")
    copay = X["monthly_copay"].to_numpy()
    expected = [round(percentileofscore(copay, v, kind="mean")) for v in copay]
    assert [row[j] for row in result.patients.percentile] == expected


def test_permutation_importance_equals_seeded_shap_permutation_explainer() -> None:
    X, model = _data()[NUMERIC].iloc[:40], _logistic()
    background = _data()[NUMERIC].iloc[200:230]
    result = explain(model, X, background=background, max_background=30, seed=7)

    def positive(rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(pd.DataFrame(rows, columns=NUMERIC))[:, 1]

    shap = _shap()
    direct = shap.PermutationExplainer(positive, background.to_numpy(dtype=float), seed=7)
    found = direct(
        X.to_numpy(dtype=float), max_evals=PERMUTATIONS * (2 * len(NUMERIC) + 1), silent=True
    )
    expected = np.abs(found.values).mean(axis=0)
    assert (result.explainer, result.output_space) == ("PermutationExplainer", "probability")
    assert result.n_background == 30
    for j, name in enumerate(NUMERIC):
        assert result.importance[name] == pytest.approx(expected[j], rel=1e-9, abs=1e-12)
    assert result.base_value == pytest.approx(positive(background.to_numpy()).mean())
    # the permutation explainer is additive on the probability too
    shap_values = np.array(result.patients.shap_values)
    assert result.base_value + shap_values.sum(axis=1) == pytest.approx(
        model.predict_proba(X)[:, 1], abs=len(NUMERIC) * 5e-5 + 1e-9
    )


def test_pipelines_with_categorical_inputs() -> None:
    frame = synthetic_patients(300, seed=5)
    X, y = frame[NUMERIC + CATEGORIES], frame[OUTCOME]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORIES), remainder="passthrough"
    )
    tree = make_pipeline(encode, GradientBoostingClassifier(n_estimators=20, random_state=0))
    tree.fit(X, y)
    result = explain(tree, X)
    # a tree Pipeline is explained on the features its trees see
    transformed = tree[:-1].transform(X)
    expected = np.abs(_shap().TreeExplainer(tree[-1]).shap_values(transformed)).mean(axis=0)
    names = list(tree[:-1].get_feature_names_out())
    assert result.explainer == "TreeExplainer"
    assert list(result.feature_names) == names
    for j, name in enumerate(names):
        assert result.importance[name] == pytest.approx(expected[j], rel=1e-9, abs=1e-12)
    # a linear Pipeline, model-agnostically, on its raw inputs (categories permuted whole)
    linear = make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(X, y)
    agnostic = explain(linear, X.iloc[:25], n_patients=5)
    assert agnostic.explainer == "PermutationExplainer"
    assert set(agnostic.feature_names) == set(NUMERIC + CATEGORIES)
    payer = agnostic.feature_names.index("payer")
    assert all(row[payer] is None for row in agnostic.patients.percentile)  # not ranked
    shap_values = np.array(agnostic.patients.shap_values)
    assert np.abs(shap_values[:, payer]).sum() > 0


def test_rows_beyond_max_rows_are_sampled_with_the_seed() -> None:
    X = _features()
    result = explain(_gbc(), X, max_rows=120, n_patients=50, seed=1)
    assert (result.n_rows, result.n_explained, len(result.patients)) == (400, 120, 50)
    assert explain(_gbc(), X, max_rows=120, n_patients=50, seed=1) == result
    other = explain(_gbc(), X, max_rows=120, n_patients=50, seed=2)
    assert other.importance != result.importance
    # the importance is that of the sampled rows: bounded by what shap gives on all rows
    full = np.abs(_shap().TreeExplainer(_gbc()).shap_values(X))
    assert result.importance["prior_pdc"] <= full[:, X.columns.get_loc("prior_pdc")].max()
    everything = explain(_gbc(), X, max_rows=10_000, n_patients=10_000)
    assert (everything.n_explained, len(everything.patients)) == (400, 400)


def test_round_trip_through_json_keeps_views_working() -> None:
    result = _tree_result()
    data = json.loads(result.to_json())
    rebuilt = ExplainResult.from_dict(data)
    assert rebuilt.to_dict() == result.to_dict()
    assert rebuilt == result
    assert rebuilt.to_html() == result.to_html()
    assert rebuilt.widget().titles == ("Global importance", "Beeswarm", "Patient")
    with pytest.raises(InvalidInputError, match="kind") as refused:
        ExplainResult.from_dict({**data, "kind": "drift"})
    assert refused.value.argument == "data"


def _raw_values(X: pd.DataFrame) -> list[str]:
    """Distinctive raw values: copays with cents and ten dollars or more, as they would print."""
    copays = X["monthly_copay"].to_numpy()
    picked = [v for v in copays if v >= 10 and round(v * 100) % 100 != 0][:25]
    assert len(picked) >= 10
    return [f"{v:.2f}" for v in picked] + [repr(float(v)) for v in picked]


def test_no_raw_values_or_index_labels_unless_show_values() -> None:
    X = _features().iloc[:150]
    result = _tree_result()
    text = result.to_json() + result.to_html()
    assert not [v for v in _raw_values(X) if v in text]
    assert not [mrn for mrn in X.index if mrn in text]
    assert result.patients.values is None

    shown = explain(_gbc(), X, n_patients=150, show_values=True)
    data = shown.to_dict()
    copay = shown.feature_names.index("monthly_copay")
    assert [row[copay] for row in data["patients"]["values"]] == list(X["monthly_copay"])
    top = shown.default_patient
    assert f"{X['monthly_copay'].iloc[top]:g}" in shown.to_html()
    assert "show_values=True" in shown.to_html()
    assert not [mrn for mrn in X.index if mrn in shown.to_json()]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"algorithm": "tree"}, "algorithm"),
        ({"algorithm": "deep"}, "algorithm"),
        ({"max_rows": 0}, "max_rows"),
        ({"n_patients": 0}, "n_patients"),
        ({"max_background": 2.5}, "max_background"),
        ({"seed": -1}, "seed"),
        ({"show_values": "yes"}, "show_values"),
        ({"feature_names": ["a", "b"]}, "feature_names"),
        ({"background": pd.DataFrame({"a": [1.0]})}, "background"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        explain(_logistic(), _data()[NUMERIC], **kwargs)
    assert refused.value.argument == argument


def test_not_a_binary_classifier_raises_and_forced_permutation_runs() -> None:
    X = _data()[NUMERIC]
    three = LogisticRegression(max_iter=2000).fit(X, np.digitize(X["age"], [40, 65]))
    with pytest.raises(InvalidInputError, match="model") as refused:
        explain(three, X)
    assert refused.value.argument == "model"
    forced = explain(_gbc(), _features().iloc[:15], algorithm="permutation", max_background=20)
    assert (forced.explainer, forced.output_space) == ("PermutationExplainer", "probability")
    array = explain(_gbc(), _features().to_numpy(), feature_names=list(_features().columns))
    assert array.importance == explain(_gbc(), _features()).importance


def test_headline_keys_are_mlflow_metric_names() -> None:
    X = _data()[NUMERIC].rename(columns={"monthly_copay": "copay ($/month)"})
    model = GradientBoostingClassifier(n_estimators=10, random_state=0)
    result = explain(model.fit(X, _data()[OUTCOME]), X)
    headline = result.headline()
    assert headline["n_explained"] == 400
    assert headline["top_feature_importance"] == max(result.importance.values())
    top5 = list(result.importance.items())[:5]
    assert sorted(v for k, v in headline.items() if k.startswith("importance.")) == sorted(
        v for _, v in top5
    )
    assert all(re.fullmatch(r"[A-Za-z0-9_\-./ ]+", key) for key in headline)


def test_widget_patient_picker_and_sort_redraw() -> None:
    result = _tree_result()
    view = result.widget()
    assert view.titles == ("Global importance", "Beeswarm", "Patient")
    patient = view.children[2]
    sort, picker = patient.children[0].children
    image, table = patient.children[1], patient.children[2]
    assert picker.value == result.default_patient
    before_image, before_table = image.value, table.value
    risks = result.patients.probability
    assert [risks[v] for _, v in picker.options] == sorted(risks, reverse=True)

    picker.value = picker.options[5][1]
    assert image.value != before_image
    assert table.value != before_table
    assert f"Patient {picker.value}:" in table.value

    sort.value = "lowest risk first"
    lowest = min(range(len(risks)), key=risks.__getitem__)
    assert picker.value == lowest
    assert f"Patient {lowest}:" in table.value
    assert [risks[v] for _, v in picker.options] == sorted(risks)
    sort.value = SORTS[2]
    assert [v for _, v in picker.options] == list(range(len(risks)))
    with pytest.raises(InvalidInputError, match="sort must be one of") as refused:
        patient_order(result, "by name")
    assert refused.value.argument == "sort"


def test_static_rendering_in_an_executed_notebook_and_nbconvert(tmp_path: Path) -> None:
    code = (
        "from sklearn.ensemble import GradientBoostingClassifier\n"
        "from nbmlops.demo.datasets import synthetic_patients\n"
        "from nbmlops.review.explain import explain\n"
        "frame = synthetic_patients(300, seed=11)\n"
        f"X = frame[{NUMERIC!r}]\n"
        "model = GradientBoostingClassifier(n_estimators=20, random_state=0)\n"
        "model.fit(X, frame['stopped_refilling'])\n"
        "explain(model, X, n_patients=300)"
    )
    shown = render_cell(tmp_path, code, "explain")
    executed, data = shown.executed, shown.data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<th>mean |SHAP|</th>" in data["text/html"]
    assert "data:image/png;base64," in data["text/html"]

    raw = synthetic_patients(300, seed=11)
    exported = shown.plain_html
    assert not [v for v in _raw_values(raw) if v in exported]
    assert not [mrn for mrn in raw["mrn"] if mrn in exported]
    # nbclient stores widget state in the notebook, and nbconvert then prefers the widget view
    # (drawn by JavaScript) to the static HTML of the same output. Without the state, as a
    # notebook saved from a closed kernel, the export shows the static tables and plots.
    assert "widgets" in executed.metadata
    static = shown.pipeline_html  # what a pipeline run exports: no saved widget state
    assert "<th>mean |SHAP|</th>" in static
    assert static.count("data:image/png;base64,") >= 3
    assert not [v for v in _raw_values(raw) if v in static]
    assert not [mrn for mrn in raw["mrn"] if mrn in static]
