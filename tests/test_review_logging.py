"""ReviewResult.log(): into a given MLflow run outside a pipeline, refused without one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from nbmlops.demo.datasets import synthetic_patients
from nbmlops.errors import InvalidInputError
from nbmlops.review import fairness
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


def test_log_outside_a_stage_needs_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBMLOPS_STAGE", raising=False)
    with pytest.raises(InvalidInputError, match="run_id") as refused:
        _result().log()
    assert refused.value.argument == "run_id"
