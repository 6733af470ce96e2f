"""Review sessions and signed decisions, on a real two-stage pipeline run (real kernels, MLflow).

One module-level run produces the evidence; each test works on its own copy of the project, so
signatures, tampering and refusals never leak between tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from clinical import private_copy
from conftest import FIXTURES, REPO
from mlflow.tracking import MlflowClient

from nbmlops.approval.decision import read_decision, verify_decisions
from nbmlops.approval.evidence import EVIDENCE_STORE
from nbmlops.approval.signing import LocalSignerRegistry
from nbmlops.errors import EvidenceChangedError, ReviewError, SignatureError
from nbmlops.records.ledger import read_entries, verify_ledger
from nbmlops.review.session import session, write_review_notebook

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential
MEANING = "I approve this model for the adherence outreach pilot"


@pytest.fixture(scope="module")
def reviewed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project whose pipeline (model -> review) ran once; a signer ``jdoe`` exists."""
    from nbmlops.authoring.pipeline import discover
    from nbmlops.run.execute import run_pipeline

    root = tmp_path_factory.mktemp("review") / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    for name in ("review_model", "review_results"):
        shutil.copy(FIXTURES / f"{name}.ipynb", root / "notebooks" / f"{name}.ipynb")
    record = run_pipeline(discover(root / "notebooks", name="demo"))
    assert record.status == "succeeded", record
    LocalSignerRegistry(root).add("jdoe", "Jane Doe", PASSWORD, title="Clinical QA")
    return root, record.run_id


@pytest.fixture
def project(reviewed_run: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the reviewed project (the MLflow store stays the module's)."""
    root, run_id = reviewed_run
    return private_copy(root, tmp_path / "project", run_id), run_id


def _sign(root: Path, run_id: str, decision: str = "approve", password: str = PASSWORD) -> object:
    return session(run_id, root=root).sign(
        decision,
        meaning=MEANING,
        comment="Gaps within limits.",
        signer_id="jdoe",
        password=password,
    )


def test_session_pins_evidence_and_rebuilds_results(project: tuple[Path, str]) -> None:
    root, run_id = project
    review = session("latest", root=root)
    assert review.run_id == run_id
    names = {item.name for item in review.evidence.items}
    assert names == {"run_record", "review.fairness", "model.model", "model.metrics"}
    assert set(review.results) == {"fairness"}
    html = review.to_html()
    assert review.evidence.digest in html
    assert "Fairness" in html and "<script" not in html
    assert "accuracy" in html  # performance: the model stage's numeric scraps
    tab = review.widget()
    assert list(tab.titles) == [
        "Summary",
        "Performance",
        "Fairness",
        "Explanations",
        "Drift",
        "Decision",
    ]


def test_approve_is_signed_ledgered_and_sets_the_mlflow_alias(project: tuple[Path, str]) -> None:
    root, run_id = project
    signed = session(run_id, root=root).sign(
        "approve", meaning=MEANING, comment="Fine.", signer_id="jdoe", password=PASSWORD
    )
    assert signed.not_recorded == ()
    text = signed.manifestation()
    assert "Jane Doe, Clinical QA (jdoe)" in text and "UTC" in text and MEANING in text
    entry = [e for e in read_entries(root) if e.event == "review_signed"][-1]
    assert entry.hash == signed.ledger_entry
    assert entry.data["record"]["evidence_digest"] == session(run_id, root=root).evidence.digest
    assert verify_decisions(root) == []

    uri = json.loads((root / ".nbmlops" / "runs" / f"{run_id}.json").read_text())["tracking_uri"]
    client = MlflowClient(uri)
    version = client.get_model_version_by_alias("demo", "approved")
    assert str(version.version) == signed.model_version
    assert version.tags["nbmlops.review.decision"] == "approve"
    assert version.tags["nbmlops.review.ledger_entry"] == signed.ledger_entry
    assert version.tags["nbmlops.review.evidence_digest"] == signed.record["evidence_digest"]

    rejected = session(run_id, root=root).sign(
        "reject", meaning="I reject this model", comment="Withdrawn.", signer_id="jdoe",
        password=PASSWORD,
    )  # fmt: skip
    assert rejected.model_version == signed.model_version
    with pytest.raises(Exception, match="alias"):
        client.get_model_version_by_alias("demo", "approved")
    tags = client.get_model_version("demo", str(signed.model_version)).tags
    assert tags["nbmlops.review.decision"] == "reject"


def test_wrong_password_is_refused_and_recorded(project: tuple[Path, str]) -> None:
    root, run_id = project
    with pytest.raises(SignatureError):
        _sign(root, run_id, password="not the password")  # noqa: S106
    events = [e.event for e in read_entries(root)]
    assert events[-1] == "signature_refused"
    assert "review_signed" not in events


@pytest.mark.parametrize(
    ("decision", "meaning", "comment"),
    [("approve", "", "ok"), ("approve", "I approve", " "), ("ship it", "I approve", "ok")],
)
def test_incomplete_decisions_are_refused(
    project: tuple[Path, str], decision: str, meaning: str, comment: str
) -> None:
    root, run_id = project
    with pytest.raises(ReviewError):
        session(run_id, root=root).sign(
            decision, meaning=meaning, comment=comment, signer_id="jdoe", password=PASSWORD
        )
    assert "review_signed" not in [e.event for e in read_entries(root)]


def _unarchive(root: Path, product: Path) -> None:
    """Remove ``product``'s archived copy, as for a run from before the archive."""
    from nbmlops._core.digests import file_digest

    (root / EVIDENCE_STORE / file_digest(product)).unlink()


def test_a_product_changed_after_the_run_is_reviewed_from_its_archived_copy(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    fairness = root / "build" / "demo" / "review" / "fairness.json"
    fairness.write_text(fairness.read_text().replace('"n_rows": 2000', '"n_rows": 2001'))
    review = session(run_id, root=root)
    assert review.results["fairness"].to_dict()["n_rows"] == 2000
    [item] = [i for i in review.evidence.items if i.name == "review.fairness"]
    assert Path(item.path).parent == root / EVIDENCE_STORE


def test_evidence_changed_after_the_run_and_never_archived_cannot_be_reviewed(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    fairness = root / "build" / "demo" / "review" / "fairness.json"
    _unarchive(root, fairness)
    fairness.write_text(fairness.read_text().replace('"n_rows": 2000', '"n_rows": 2001'))
    with pytest.raises(EvidenceChangedError) as refused:
        session(run_id, root=root)
    assert refused.value.path == fairness and isinstance(refused.value, ReviewError)


def test_evidence_changed_while_the_session_is_open_is_signed_as_archived(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    review = session(run_id, root=root)
    metrics = root / "build" / "demo" / "model" / "metrics.json"
    [item] = [i for i in review.evidence.items if i.name == "model.metrics"]
    metrics.write_text('{"accuracy": 0.99}')
    review.sign("approve", meaning=MEANING, comment="ok", signer_id="jdoe", password=PASSWORD)
    assert verify_decisions(root) == []
    stored = root / EVIDENCE_STORE / item.digest
    assert b"0.99" not in stored.read_bytes()  # what the reviewer saw, not what build/ holds now


def test_evidence_changed_while_the_session_is_open_and_never_archived_is_not_signed(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    metrics = root / "build" / "demo" / "model" / "metrics.json"
    _unarchive(root, metrics)
    review = session(run_id, root=root)
    metrics.write_text('{"accuracy": 0.99}')
    with pytest.raises(EvidenceChangedError, match="changed"):
        review.sign("approve", meaning=MEANING, comment="ok", signer_id="jdoe", password=PASSWORD)
    assert "review_signed" not in [e.event for e in read_entries(root)]


def _rewrite_decision(
    root: Path, change: Callable[[dict[str, object]], None], *, rechain: bool
) -> None:
    """Edit the signed decision in the ledger; with ``rechain``, as a forger with write access
    would, also recompute every hash after it and the head, so the chain verifies again."""
    from nbmlops.records.ledger_format import LedgerEntry, entry_hash, entry_line, head_line

    ledger = root / ".nbmlops" / "ledger.jsonl"
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    prev = entries[0]["prev"]
    for entry in entries:
        if entry["event"] == "review_signed":
            change(entry["data"])
        if rechain:
            entry["prev"] = prev
            entry["hash"] = prev = entry_hash(entry)
    ledger.write_bytes(b"".join(entry_line(LedgerEntry(**e)) + b"\n" for e in entries))
    if rechain:
        ledger.with_suffix(".head").write_bytes(head_line(LedgerEntry(**entries[-1])))


def _cli(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbmlops.cli.main", *args, "--root", str(root)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_audit_verify_detects_a_changed_signed_record(project: tuple[Path, str]) -> None:
    root, run_id = project
    _sign(root, run_id, "request_changes")
    assert _cli(root, "audit", "verify").returncode == 0

    def to_approve(data: dict[str, object]) -> None:
        record = data["record"]
        assert isinstance(record, dict)
        record["decision"] = "approve"

    _rewrite_decision(root, to_approve, rechain=False)
    assert not verify_ledger(root).ok  # the chain breaks at that line
    assert _cli(root, "audit", "verify").returncode == 1
    _rewrite_decision(root, lambda data: None, rechain=True)
    assert verify_ledger(root).ok  # a rebuilt chain verifies: the signed record does not
    [(_, problem)] = verify_decisions(root)
    assert problem.startswith("decision signed by jdoe: the signed record was changed")
    failed = _cli(root, "audit", "verify")
    assert failed.returncode == 1 and "the signed record was changed" in failed.stdout


def test_audit_verify_detects_a_forged_digest_and_changed_evidence(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    _sign(root, run_id)

    def forge(data: dict[str, object]) -> None:
        # the comment is in the decision file: edit it, recompute its digest in the file and
        # the ledger, and move the file to its new name - only the signature cannot follow
        from nbmlops.approval.decision import DECISION_FILES, record_digest

        old = root / DECISION_FILES / f"{data['record_digest']}.json"
        body = json.loads(old.read_text())
        body["record"]["comment"] = "Looks perfect."
        data["record_digest"] = body["record_digest"] = record_digest(body["record"])
        (root / DECISION_FILES / f"{data['record_digest']}.json").write_text(json.dumps(body))
        old.chmod(0o644)
        old.unlink()

    _rewrite_decision(root, forge, rechain=True)
    assert [p for _, p in verify_decisions(root)] == [
        "decision signed by jdoe: the signature does not verify"
    ]

    [signed] = [e for e in read_entries(root) if e.event == "review_signed"]
    stored = root / EVIDENCE_STORE / signed.data["evidence"]["items"][0]["digest"]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b" ")
    problems = [p for _, p in verify_decisions(root)]
    assert any("was changed after signing" in p for p in problems)


def test_a_decision_keeps_its_text_in_its_file_and_a_ledger_with_the_text_inline_verifies(
    project: tuple[Path, str],
) -> None:
    from nbmlops.approval.decision import DECISION_FILES

    root, run_id = project
    _sign(root, run_id)
    [entry] = [e for e in read_entries(root) if e.event == "review_signed"]
    assert "comment" not in entry.data["record"] and "meaning" not in entry.data["record"]
    assert read_decision(root, entry.data)["comment"] == "Gaps within limits."
    assert MEANING in session(run_id, root=root).to_html()  # the session reads the file

    def inline(data: dict[str, object]) -> None:  # as nbmlops wrote it before decision files
        path = root / DECISION_FILES / f"{data['record_digest']}.json"
        data["record"] = json.loads(path.read_text())["record"]
        del data["decision_file"]
        path.chmod(0o644)
        path.unlink()

    _rewrite_decision(root, inline, rechain=True)
    assert verify_decisions(root) == []
    assert MEANING in session(run_id, root=root).to_html()


def test_cli_writes_the_review_notebook_and_signs(project: tuple[Path, str]) -> None:
    root, run_id = project
    done = _cli(root, "review", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    notebook = write_review_notebook(root, run_id)
    assert notebook.is_file() and run_id in notebook.read_text()
    signed = _cli(
        root, "review", run_id, "--decision", "reject", "--meaning", "I reject this model",
        "--comment", "Too few Medicaid patients.", "--signer", "jdoe", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "Rejected - electronically signed by Jane Doe" in signed.stdout
    wrong = _cli(
        root, "review", run_id, "--decision", "approve", "--meaning", "m", "--comment", "c",
        "--signer", "jdoe", "--password-stdin", stdin="wrong password!\n",
    )  # fmt: skip
    assert wrong.returncode == 2 and "signature refused" in wrong.stdout
    said = " ".join(wrong.stdout.split())  # rich wraps the line
    assert "nbmlops signer add" in said and "LocalSignerRegistry" not in said


def test_cli_signer_add_needs_a_long_password(tmp_path: Path) -> None:
    short = _cli(tmp_path, "signer", "add", "asmith", "--name", "Al Smith", "--password-stdin",
                 stdin="short\n")  # fmt: skip
    assert short.returncode == 2
    said = " ".join(short.stdout.split())  # rich wraps the line
    assert "signer 'asmith' not added: the password is too short" in said, said
    assert "at least 12 characters" in said
    assert "signature refused" not in said
    added = _cli(tmp_path, "signer", "add", "asmith", "--name", "Al Smith", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "asmith" in _cli(tmp_path, "signer", "list").stdout


@pytest.mark.slow
def test_review_widget_in_jupyterlab_signs_a_decision(
    project: tuple[Path, str], tmp_path: Path
) -> None:
    """The generated review notebook, run in real JupyterLab in headless Chromium: six tabs,
    the fairness table, and a decision signed through the form."""
    from lab import JupyterLab, LabPage, launch_chromium
    from playwright.sync_api import sync_playwright

    root, run_id = project
    notebook = write_review_notebook(root, run_id)
    with JupyterLab(root, tmp_path / "lab") as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1400, "height": 1000}), lab)
            page.open(str(notebook.relative_to(root)))
            page.run_all()
            for title in ("Summary", "Performance", "Fairness", "Drift", "Decision"):
                page.tab(title).wait_for(timeout=60_000)
            page.tab("Fairness").click()
            page.page.locator("td:visible", has_text="selection rate").first.wait_for()
            page.tab("Decision").click()
            form = page.page.locator(".widget-vbox", has=page.page.get_by_text("Meaning")).last
            form.locator("textarea").nth(0).fill(MEANING)
            form.locator("textarea").nth(1).fill("Reviewed in the browser.")
            form.locator("input[type=text]").fill("jdoe")
            form.locator("input[type=password]").fill(PASSWORD)
            page.page.get_by_role("button", name="Sign").click()
            page.page.get_by_text("electronically signed by Jane Doe").first.wait_for()
        finally:
            browser.close()
    signed = [e for e in read_entries(root) if e.event == "review_signed"]
    comments = [read_decision(root, e.data)["comment"] for e in signed]
    assert comments == ["Reviewed in the browser."]
    assert signed[0].data["record"]["decision"] == "request_changes"  # the form's default
    assert verify_decisions(root) == []


def test_latest_is_the_newest_run_with_a_review(project: tuple[Path, str]) -> None:
    from nbmlops.authoring.pipeline import discover
    from nbmlops.run.execute import run_pipeline

    root, run_id = project
    spec = discover(root / "notebooks", name="demo")
    partial = run_pipeline(spec, stages=["model"], force=True, tracking=False)
    assert partial.status == "succeeded" and partial.run_id != run_id
    with pytest.raises(ReviewError, match="has no stage 'review'"):
        session(partial.run_id, root=root)
    # "latest" skips the partial run; it rewrote the model the review rests on (skops files
    # differ byte for byte between fits), so the review reads the model its run archived
    latest = session("latest", root=root)
    assert latest.run_id == run_id
    [model] = [i for i in latest.evidence.items if i.name == "model.model"]
    assert Path(model.path).parent == root / EVIDENCE_STORE


ASSESS_CODE = """\
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from nbmlops.demo.datasets import synthetic_patients
from nbmlops.records.scraps import record
from nbmlops.review import fairness

FEATURES = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
train, test = synthetic_patients(1500, seed=3), synthetic_patients(800, seed=4)
fitted = LogisticRegression(max_iter=500).fit(train[FEATURES], train["stopped_refilling"])
risk = fitted.predict_proba(test[FEATURES])[:, 1]
record("held_out_auroc", float(roc_auc_score(test["stopped_refilling"], risk)))
fairness(
    y_true=test["stopped_refilling"], y_score=risk, sensitive_features=test[["sex"]],
    n_bootstrap=0,
).to_json(product["fairness"])
"""


def test_the_performance_tab_shows_the_review_stages_own_numbers(tmp_path: Path) -> None:
    """A short pipeline whose review stage also measures the model (a user's own two-stage
    project): its numbers are in the Performance tab, not "no performance figures"."""
    from clinical import stage_notebook, write_notebook

    from nbmlops.authoring.pipeline import discover
    from nbmlops.run.execute import run_pipeline

    root = tmp_path / "project"
    notebook = stage_notebook("assess", ASSESS_CODE, products={"fairness": "fairness.json"})
    write_notebook(root / "analysis" / "assess.ipynb", notebook)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    record = run_pipeline(discover(root / "analysis", name="analysis"), tracking=False)
    assert record.status == "succeeded", record
    [stage] = record.stages
    auroc = float(stage.scraps["held_out_auroc"])
    review = session(record.run_id, root=root, stage="assess")
    html = review.to_html()
    assert "held_out_auroc" in html and f"{auroc:.4f}" in html
    assert "No performance figures" not in html
