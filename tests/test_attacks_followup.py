"""Attack probes on free text in the audit trail (issue 10 follow-up), through the real CLI.

The ledger is append-only and copied around: a reviewer's meaning and comment, a signer's
deactivation reason and a stage's exception text must not reach it (nor the JupyterLab run log)
as text that can carry PHI. One project is run once with ``nbmlops run`` and gets a signer; each
probe works on its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clinical import nbmlops_cli, private_copy, signed_up_project, stage_notebook, write_notebook
from conftest import REPO

from nbmlops.records.ledger import LEDGER_PATH, read_entries

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential
MEANING = "I approve this model for the adherence outreach pilot"
CLEAN = "Calibration within limits on the holdout."
WITH_MRN = "patient MRN12345678 looked off"


@pytest.fixture(scope="module")
def signed_up(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project run once by ``nbmlops run notebooks``; ``jdoe`` is its first signer."""
    root = tmp_path_factory.mktemp("attacks-followup") / "project"
    return root, signed_up_project(root, PASSWORD)


@pytest.fixture
def project(signed_up: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the project, its run record pointing at the copy's files and store."""
    root, run_id = signed_up
    return private_copy(root, tmp_path / "project", run_id), run_id


def _sign(root: Path, run_id: str, *, comment: str, meaning: str = MEANING) -> object:
    return nbmlops_cli(
        root, "review", run_id, "--decision", "approve", "--meaning", meaning,
        "--comment", comment, "--signer", "jdoe", "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip


def test_a_comment_naming_a_patients_mrn_is_refused_and_nothing_is_signed(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    refused = _sign(root, run_id, comment=WITH_MRN)
    assert isinstance(refused, subprocess.CompletedProcess)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "comment" in said and "mrn" in said and "MRN12345678" not in said
    assert [e.event for e in read_entries(root) if e.event == "review_signed"] == []
    assert "MRN12345678" not in (root / LEDGER_PATH).read_text()
    archived = {  # what the run archived when it finished, and nothing for the refused signing
        str(i["digest"]) for e in read_entries(root) if e.event == "evidence_archived"
        for i in e.data["items"]
    }  # fmt: skip
    assert {p.name for p in (root / ".nbmlops" / "evidence").glob("*")} == archived
    assert not any((root / ".nbmlops" / "decisions").glob("*"))
    # the meaning is free text too
    refused = _sign(root, run_id, comment=CLEAN, meaning=f"Approved; see {WITH_MRN}")
    assert isinstance(refused, subprocess.CompletedProcess)
    assert refused.returncode != 0 and "meaning" in refused.stdout + refused.stderr


def test_under_redact_the_signed_comment_is_the_redacted_one(project: tuple[Path, str]) -> None:
    root, run_id = project
    signed = nbmlops_cli(
        root, "review", run_id, "--decision", "approve", "--meaning", MEANING,
        "--comment", WITH_MRN, "--signer", "jdoe", "--password-stdin",
        input=PASSWORD + "\n", env={"NBMLOPS_PHI_POLICY": "redact"},
    )  # fmt: skip
    assert signed.returncode == 0, signed.stdout + signed.stderr
    [decision] = (root / ".nbmlops" / "decisions").glob("*.json")
    assert json.loads(decision.read_text())["record"]["comment"] == (
        "patient MRN[REDACTED:mrn] looked off"
    )
    kept = b"".join(p.read_bytes() for p in (root / ".nbmlops").rglob("*") if p.is_file())
    assert b"12345678" not in kept  # not in the ledger, the decision file nor MLflow's store
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_signed_comment_is_in_the_decision_file_not_the_ledger(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    signed = _sign(root, run_id, comment=CLEAN)
    assert isinstance(signed, subprocess.CompletedProcess)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    ledger_bytes = (root / LEDGER_PATH).read_text()
    assert CLEAN not in ledger_bytes and MEANING not in ledger_bytes
    [entry] = [e for e in read_entries(root) if e.event == "review_signed"]
    decision = root / ".nbmlops" / "decisions" / f"{entry.data['record_digest']}.json"
    stored = json.loads(decision.read_text())
    assert stored["record"]["comment"] == CLEAN and stored["record"]["meaning"] == MEANING
    assert not os.access(decision, os.W_OK) or os.geteuid() == 0  # read-only
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # a signed record no ledger entry names (its entry removed) fails verify, naming the file
    orphan = decision.with_name("0" * 64 + ".json")
    shutil.copy(decision, orphan)
    failed = nbmlops_cli(root, "audit", "verify")
    assert failed.returncode == 1 and orphan.name in failed.stdout, failed.stdout
    orphan.chmod(0o644)
    orphan.unlink()

    # an edited decision file fails verify, naming the entry
    decision.chmod(0o644)
    stored["record"]["comment"] = "Looks perfect."
    decision.write_text(json.dumps(stored))
    failed = nbmlops_cli(root, "audit", "verify")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"seq {entry.seq}" in failed.stdout and "decision file" in failed.stdout
    # and so does a removed one
    decision.unlink()
    failed = nbmlops_cli(root, "audit", "verify")
    assert failed.returncode == 1 and "missing" in failed.stdout, failed.stdout


def test_a_deactivation_reason_is_not_written_into_the_ledger(project: tuple[Path, str]) -> None:
    root, _ = project
    reason = "moved to the cardiology outreach team"
    done = nbmlops_cli(root, "signer", "deactivate", "jdoe", "--reason", reason)
    assert done.returncode == 0, done.stdout + done.stderr
    assert reason not in (root / LEDGER_PATH).read_text()
    [entry] = [e for e in read_entries(root) if e.event == "signer_deactivated"]
    assert "reason" not in entry.data or not isinstance(entry.data["reason"], str)
    signers = json.loads((root / ".nbmlops" / "signers.json").read_text())
    assert reason in json.dumps(signers)  # the text is kept where it can be corrected
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_failing_stages_patient_name_stays_out_of_the_server_runs_events_and_log(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    write_notebook(
        root / "analysis" / "fails.ipynb",
        stage_notebook(
            "fails",
            'raise ValueError("bad age for patient MRN12345678 (Adeyemi, Ngozi) on 03/05/2024")',
            products={"out": "out.txt"},
        ),
    )
    where = root / ".nbmlops" / "server-runs" / "r1"
    where.mkdir(parents=True)
    runner = Path(sys.executable).parent / "python"
    with (where / "log.txt").open("wb") as log:
        done = subprocess.run(
            [str(runner), "-m", "nbmlops.server.runner", "analysis",
             "--events", str(where / "events.jsonl"), "--server-run", "r1"],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=600,
        )  # fmt: skip
    written = (where / "events.jsonl").read_text() + (where / "log.txt").read_text()
    assert done.returncode == 1, written
    assert "stage_finished" in written and "WITHHELD" in written
    assert "MRN12345678" not in written and "03/05/2024" not in written
