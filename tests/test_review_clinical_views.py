"""What a clinical reviewer reads of a run, on a project made here and run through the real CLI:
every drift result the review stage saved (two), counts as integers, and a fairness check that
suppression left with one group said to be "not assessable" in the review session, the audit
report and the model card."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clinical import clinical_project, nbmlops_cli, stage_notebook, write_notebook

from nbmlops.review.session import session

REVIEW_CODE = """\
import pandas as pd
import skops.io as sio

from nbmlops.records.scraps import record
from nbmlops.review import drift, fairness

cohort = pd.read_parquet(upstream["cohort"]["cohort"])
path = upstream["model"]["model"]
model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
features = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
risk = model.predict_proba(cohort[features])[:, 1]
largest = int(cohort["payer"].value_counts().iloc[0])  # only the largest payer group is reported
fair = fairness(
    y_true=cohort["stopped_refilling"], y_score=risk, threshold=0.3,
    sensitive_features=cohort[["payer"]], min_group_size=largest, n_bootstrap=50,
)
fair.to_json(product["fairness"])
earlier, later = cohort.iloc[::2], cohort.iloc[1::2]
for name, columns in (("drift", ["age", "prior_pdc", "payer"]),
                      ("drift_outcomes", ["refill_gap_days", "region"])):
    shift = drift(earlier[columns], later[columns], min_count=5)
    shift.to_json(product[name])
    shift.log(name=name)
record("patients_scored", len(cohort))
"""


def _ok(done: object) -> str:
    assert getattr(done, "returncode", None) == 0, f"{done.stdout}{done.stderr}"  # type: ignore[attr-defined]
    return str(done.stdout)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    root = clinical_project(tmp_path_factory.mktemp("views") / "study", rows=800)
    write_notebook(
        root / "analysis" / "review.ipynb",
        stage_notebook(
            "review",
            REVIEW_CODE,
            upstream=["cohort", "model"],
            products={
                "fairness": "fairness.json",
                "drift": "drift.json",
                "drift_outcomes": "drift_outcomes.json",
            },
        ),
    )
    _ok(nbmlops_cli(root, "run", "analysis"))
    [path] = (root / ".nbmlops" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    review = next(s for s in record["stages"] if s["stage"] == "review")
    assert {"review.drift.n_drifted", "review.drift_outcomes.n_drifted"} <= set(review["scraps"])
    return root, path.stem, review["scraps"]["patients_scored"]


def test_the_session_shows_every_drift_result_counts_and_a_check_not_assessable(
    reviewed: tuple[Path, str, int],
) -> None:
    root, run_id, patients = reviewed
    review = session(run_id, root=root)
    assert list(review.of_kind("drift")) == ["drift", "drift_outcomes"]
    assert list(review.of_kind("fairness")) == ["fairness"]
    page = review.to_html()
    assert page.count("class='nbmlops-review nbmlops-drift'") == 2
    assert "Product <code>drift</code>" in page and "Product <code>drift_outcomes</code>" in page
    assert "refill_gap_days" in page and "prior_pdc" in page  # columns of each
    assert isinstance(patients, int) and patients > 100
    assert f"<td>patients_scored</td><td>{patients}</td>" in page  # not {patients}.0000
    assert not re.search(r"<td>[1-9]\d*\.0000</td>", page)  # no count with decimals anywhere
    assert "Checks: not assessable" in page
    assert "✘ fail" not in page and "✔ pass" not in page

    tabs = review.widget()
    drift_tab = tabs.children[list(tabs.titles).index("Drift")]
    assert len(drift_tab.children) == 4  # a label and a view for each drift result
    assert "drift_outcomes" in drift_tab.children[2].value
    assert {"fairness.passed", "drift.n_drifted", "drift_outcomes.n_drifted"} <= set(
        review.headline()
    )


def test_the_report_and_the_card_show_both_drift_results_and_say_not_assessable(
    reviewed: tuple[Path, str, int],
) -> None:
    root, run_id, patients = reviewed
    _ok(nbmlops_cli(root, "report", run_id))
    page = (root / "reports" / run_id / "report.html").read_text()
    assert "id='review-drift'" in page or 'id="review-drift"' in page
    assert "review-drift-2" in page
    assert "review.drift_outcomes" in page
    assert "Checks: not assessable" in page
    assert "6.509e" not in page and f"{patients}.0" not in page

    _ok(nbmlops_cli(root, "card", run_id))
    card = (root / "reports" / run_id / "model_card.md").read_text()
    rows = [line for line in card.splitlines() if line.startswith("| demographic")]
    assert rows and all("not assessable" in row and "FAILED" not in row for row in rows)
    assert "a gap's interval: percentile bootstrap of the difference" in card
