"""ReviewResult.log(): into a given MLflow run outside a pipeline; without one, nothing is
recorded and a warning says how to record it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from nbmlops.demo.datasets import synthetic_patients
from nbmlops.errors import InvalidInputError
from nbmlops.review import NotLoggedWarning, fairness
from nbmlops.review.fairness import FairnessResult


def _result() -> FairnessResult:
    frame = synthetic_patients(1500, seed=5)
    score = (frame["prior_pdc"].rank(pct=True)).to_numpy()
    return fairness(
        y_true=frame["stopped_refilling"],
        y_score=score,
        sensitive_features=frame[["sex"]],
        n_bootstrap=0,
    )


def test_log_to_a_given_run_writes_json_html_and_headline_metrics(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("review", artifact_location=str(tmp_path / "art"))
    run = client.create_run(experiment).info.run_id
    result = _result()
    result.log(run, tracking_uri=uri)
    files = {a.path for a in client.list_artifacts(run, "review")}
    assert files == {"review/fairness.json", "review/fairness.html"}
    local = Path(client.download_artifacts(run, "review/fairness.json", str(tmp_path)))
    assert json.loads(local.read_text()) == result.to_dict()
    metrics = client.get_run(run).data.metrics
    assert metrics["review.fairness.equalized_odds_difference"] == pytest.approx(
        result.equalized_odds_difference
    )


def test_log_outside_a_stage_records_nothing_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBMLOPS_STAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(NotLoggedWarning, match="Run it as one") as warned:
        assert _result().log() is None
    assert issubclass(warned[0].category, UserWarning)
    assert "fairness" in str(warned[0].message)
    assert warned[0].filename == __file__  # points at the caller's line, not ours
    assert list(tmp_path.iterdir()) == []  # no store, no file: nothing recorded


def test_results_of_one_kind_logged_under_their_own_names_are_all_kept(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("review", artifact_location=str(tmp_path / "art"))
    run = client.create_run(experiment).info.run_id
    result = _result()
    result.log(run, tracking_uri=uri)
    result.log(run, tracking_uri=uri, name="fairness_by_sex")
    files = {a.path for a in client.list_artifacts(run, "review")}
    names = ("fairness", "fairness_by_sex")
    assert files == {f"review/{name}.{ext}" for name in names for ext in ("json", "html")}
    metrics = client.get_run(run).data.metrics
    assert {"review.fairness.passed", "review.fairness_by_sex.passed"} <= set(metrics)
    with pytest.raises(InvalidInputError) as raised:
        result.log(run, tracking_uri=uri, name="../elsewhere")
    assert raised.value.argument == "name"
