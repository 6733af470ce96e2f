"""A past run can be reviewed: every run archives its evidence by content when it finishes, so
``nbmlops review <run>`` and signing work after later runs overwrote ``build/``, and
``nbmlops review list`` says where each run's review stands. Through the real command line, on a
project of the user's own (``tests/clinical.py``), not the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clinical import nbmlops_cli, signed_up_project

from nbmlops._core.paths import EVIDENCE_STORE
from nbmlops.records.ledger import read_entries

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test signer's password


def _cli(root: Path, *args: str, stdin: str | None = None) -> str:
    done = nbmlops_cli(root, *args, input=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _sign(root: Path, run_id: str, decision: str) -> None:
    _cli(
        root, "review", run_id, "--decision", decision, "--meaning", f"I {decision} this model",
        "--comment", "fairness as reviewed", "--signer", "jdoe", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip


def _statuses(root: Path) -> list[tuple[str, str]]:
    listed: list[dict[str, Any]] = json.loads(_cli(root, "review", "list", "--json"))
    return [(r["run_id"], r["status"]) for r in listed]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A project run once, then again with a changed parameter (every product rewritten)."""
    root = tmp_path_factory.mktemp("past") / "study"
    first = signed_up_project(root, PASSWORD)
    _cli(root, "run", "notebooks", "--param", "model.rows=2000")
    [second] = {p.stem for p in (root / ".nbmlops" / "runs").glob("*.json")} - {first}
    return root, first, second


def test_every_finished_run_names_its_archived_evidence_in_the_ledger(
    two_runs: tuple[Path, str, str],
) -> None:
    root, first, second = two_runs
    entries = read_entries(root)
    archived = {e.run_id: e.data["items"] for e in entries if e.event == "evidence_archived"}
    assert set(archived) == {first, second}
    for run_id, items in archived.items():
        record = json.loads((root / ".nbmlops" / "runs" / f"{run_id}.json").read_bytes())
        names = [i["name"] for i in items]
        assert names == ["run_record", "model.metrics", "model.model", "review.fairness"]
        for item in items:
            stored = root / EVIDENCE_STORE / item["digest"]
            assert stored.is_file() and stored.stat().st_mode & 0o222 == 0  # read-only
        by_stage = {s["stage"]: s["product_digests"] for s in record["stages"]}
        assert {i["digest"] for i in items[1:]} == {
            d for digests in by_stage.values() for d in digests.values()
        }
    # the second run changed every product: nothing of the first is left in build/
    first_fairness = next(i for i in archived[first] if i["name"] == "review.fairness")
    second_fairness = next(i for i in archived[second] if i["name"] == "review.fairness")
    assert first_fairness["digest"] != second_fairness["digest"]


def test_a_past_run_is_reviewed_and_signed_from_its_archive(
    two_runs: tuple[Path, str, str],
) -> None:
    from nbmlops.review.session import session

    root, first, second = two_runs
    assert _statuses(root) == [(second, "unreviewed"), (first, "unreviewed")]

    shown = _cli(root, "review", first)
    assert (root / "reviews" / f"review-{first}.ipynb").is_file(), shown
    review = session(first, root=root)
    store = (root / EVIDENCE_STORE).resolve()
    fairness = next(i for i in review.evidence.items if i.name == "review.fairness")
    assert Path(fairness.path).parent.resolve() == store  # build/ holds the second run's file
    assert review.results["fairness"].to_dict()["n_rows"] == 2000

    _sign(root, first, "approve")
    assert _statuses(root) == [(second, "unreviewed"), (first, "approved")]
    _cli(root, "audit", "verify")

    signed = [e for e in read_entries(root) if e.event == "review_signed"]
    assert [e.run_id for e in signed] == [first]
    assert signed[0].data["evidence"]["digest"] == review.evidence.digest


def test_review_list_shows_each_runs_latest_decision_newest_first(
    two_runs: tuple[Path, str, str],
) -> None:
    root, first, second = two_runs
    if ("review_signed", first) not in {(e.event, e.run_id) for e in read_entries(root)}:
        _sign(root, first, "approve")
    _sign(root, second, "request_changes")
    assert _statuses(root) == [(second, "changes requested"), (first, "approved")]
    _sign(root, second, "approve")  # a later approval moves the registry's alias on
    assert _statuses(root) == [(second, "approved"), (first, "superseded")]
    _sign(root, first, "reject")
    assert _statuses(root) == [(second, "approved"), (first, "rejected")]

    table = _cli(root, "review", "list")
    assert table.index(second) < table.index(first)
    assert "rejected" in table and "jdoe" in table
    listed = json.loads(_cli(root, "review", "list", "--json"))
    assert listed[0]["decisions"] == 2 and listed[0]["decided_by"] == "jdoe"
    _cli(root, "audit", "verify")


def test_a_run_whose_evidence_is_gone_is_listed_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "study"
    first = signed_up_project(root, PASSWORD)
    record = json.loads((root / ".nbmlops" / "runs" / f"{first}.json").read_bytes())
    [review] = [s for s in record["stages"] if s["stage"] == "review"]
    digest = review["product_digests"]["fairness"]
    (root / EVIDENCE_STORE / digest).unlink()  # as a run from before the archive
    Path(review["products"]["fairness"]).write_text("{}")

    assert _statuses(root) == [(first, "unavailable")]
    refused = nbmlops_cli(root, "review", first)
    assert refused.returncode != 0
    assert "never archived" in refused.stdout + refused.stderr


def test_without_a_stage_named_review_review_says_to_name_the_review_stage(
    tmp_path: Path,
) -> None:
    """A project whose review stage has another name: `review list`, `review latest` and a named
    run say which stages the runs have and to name the review stage, not to run the pipeline
    (it ran); `--stage` then finds the run."""
    from clinical import REPO, stage_notebook, write_notebook

    root = tmp_path / "study"
    (root / "analysis").mkdir(parents=True)
    (root / "uv.lock").write_bytes((REPO / "uv.lock").read_bytes())
    code = 'open(product["summary"], "w").write("{}")'
    notebook = stage_notebook("assess", code, products={"summary": "summary.json"})
    write_notebook(root / "analysis" / "assess.ipynb", notebook)
    _cli(root, "run", "analysis", "--no-tracking")
    [run_id] = [p.stem for p in (root / ".nbmlops" / "runs").glob("*.json")]

    said = " ".join(_cli(root, "review", "list").split())
    assert said == (
        "no recorded run has a stage 'review' (their stages: assess); name the stage that "
        "computed the review (--stage)"
    )
    for which in ("latest", run_id):
        refused = nbmlops_cli(root, "review", which)
        assert refused.returncode == 2 and "(--stage)" in refused.stdout, refused.stdout
        assert "assess" in refused.stdout and "run the pipeline" not in refused.stdout
    assert _cli(root, "review", "list", "--stage", "assess").count(run_id) == 1
    _cli(root, "review", "latest", "--stage", "assess")
    assert (root / "reviews" / f"review-{run_id}.ipynb").is_file()

    empty = tmp_path / "empty"  # no run at all: run the pipeline first, as before
    empty.mkdir()
    assert "run the pipeline first" in _cli(empty, "review", "list")


REVIEW_CODE = """\
from pathlib import Path

from sklearn.ensemble import GradientBoostingClassifier

from nbmlops import find_project_root
from nbmlops.demo.datasets import synthetic_patients
from nbmlops.review import drift, explain, fairness

FEATURES = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
COLUMNS = [*FEATURES, "sex", "payer", "region", "comorbidity_count"]
train, held_out = synthetic_patients(3000, seed=3), synthetic_patients(1500, seed=4)
fitted = GradientBoostingClassifier(n_estimators=30, random_state=0)
fitted.fit(train[FEATURES], train["stopped_refilling"])
fairness(
    y_true=held_out["stopped_refilling"],
    y_score=fitted.predict_proba(held_out[FEATURES])[:, 1],
    sensitive_features=held_out[["sex", "payer"]],
    n_bootstrap=40,
    seed=0,
).to_json(product["fairness"])
explain(fitted, held_out[FEATURES], max_rows=300, seed=0).to_json(product["explain"])
later = synthetic_patients(3000, seed=8, drift=1.0)
drift(
    train[COLUMNS],
    later[COLUMNS],
    cache=find_project_root(Path.cwd()) / ".nbmlops" / "cache" / "drift",
).to_json(product["drift"])
"""


def test_the_same_review_on_the_same_inputs_is_the_same_bytes(tmp_path: Path) -> None:
    """Two runs of a demo-like review stage (fairness with bootstrap, SHAP, drift with the
    reference cache cold and then warm) in fresh kernels give byte-identical products."""
    from clinical import REPO, stage_notebook, write_notebook

    root = tmp_path / "study"
    (root / "review").mkdir(parents=True)
    (root / "uv.lock").write_bytes((REPO / "uv.lock").read_bytes())
    products = {"fairness": "fairness.json", "explain": "explain.json", "drift": "drift.json"}
    notebook = stage_notebook("review", REVIEW_CODE, products=products)
    write_notebook(root / "review" / "review.ipynb", notebook)
    _cli(root, "run", "review")
    _cli(root, "run", "review", "--force")

    records = sorted((root / ".nbmlops" / "runs").glob("*.json"))
    first, second = ({s["stage"]: s for s in json.loads(p.read_bytes())["stages"]} for p in records)
    assert first["review"]["status"] == second["review"]["status"] == "succeeded"
    assert first["review"]["product_digests"] == second["review"]["product_digests"]
    assert set(first["review"]["product_digests"]) == set(products)
    # the cache was cold for the first run and warm for the second: its hit is not in the JSON
    assert any((root / ".nbmlops" / "cache" / "drift").glob("reference-*"))
