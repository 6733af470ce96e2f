"""Attack probes on electronic signatures (issue 10, section 1), through the real command line.

One module-level project is run once with ``nbmlops run`` (the review fixture notebooks: a model
stage and a review stage, a real MLflow SQLite store) and gets a signer with ``nbmlops signer
add``; each probe works on its own copy, attacks it as someone with write access to
``.nbmlops/`` would, and checks what ``nbmlops review --decision approve`` and ``nbmlops audit
verify`` then do - and that no MLflow alias was set by a refused signature.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clinical import nbmlops_cli, private_copy, signed_up_project
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from nbmlops.records import ledger
from nbmlops.records.ledger import read_entries

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential
MEANING = "I approve this model for the adherence outreach pilot"


@pytest.fixture(scope="module")
def signed_up(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project run once by ``nbmlops run notebooks``; ``jdoe`` is its first signer."""
    root = tmp_path_factory.mktemp("attacks-sign") / "project"
    return root, signed_up_project(root, PASSWORD)


@pytest.fixture
def project(signed_up: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the project, its run record pointing at the copy's files and store."""
    root, run_id = signed_up
    return private_copy(root, tmp_path / "project", run_id), run_id


def _approve(root: Path, run_id: str, password: str = PASSWORD, signer: str = "jdoe") -> object:
    return nbmlops_cli(
        root, "review", run_id, "--decision", "approve", "--meaning", MEANING,
        "--comment", "Within limits.", "--signer", signer, "--password-stdin",
        input=password + "\n",
    )  # fmt: skip


def _alias_set(root: Path, run_id: str) -> bool:
    record = json.loads((root / ".nbmlops" / "runs" / f"{run_id}.json").read_text())
    try:
        MlflowClient(record["tracking_uri"]).get_model_version_by_alias(
            record["pipeline"], "approved"
        )
    except MlflowException:
        return False
    return True


def _events(root: Path) -> list[str]:
    return [entry.event for entry in read_entries(root)]


def _edit_signers(root: Path, **changes: object) -> None:
    path = root / ".nbmlops" / "signers.json"
    data = json.loads(path.read_text())
    data["signers"]["jdoe"].update(changes)
    path.write_text(json.dumps(data))


def test_a_forged_digest_only_decision_fails_audit_verify(project: tuple[Path, str]) -> None:
    from nbmlops.approval.decision import record_digest
    from nbmlops.approval.evidence import archive_evidence
    from nbmlops.review.session import session

    root, run_id = project
    evidence = session(run_id, root=root).evidence
    archive_evidence(root, evidence)  # as signing would: only the signature is forged
    record = {
        "decision": "approve", "meaning": MEANING, "comment": "forged",
        "signer": {"id": "jdoe", "printed_name": "Jane Doe", "title": "Clinical QA"},
        "signed_at": "2026-01-01T00:00:00.000Z", "run_id": run_id, "pipeline": evidence.pipeline,
        "evidence_digest": evidence.digest, "authenticator": "local",
    }  # fmt: skip
    forged = ledger.append(root, "review_signed", run_id=run_id, data={
        "record": record, "record_digest": record_digest(record),
        "signature": {"algorithm": "sha256", "key_id": "", "value": ""},
        "evidence": {**evidence.to_dict(), "digest": evidence.digest},
    })  # fmt: skip
    assert ledger.verify_ledger(root).ok  # the chain itself is intact
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 1
    assert f"ledger entry {forged.seq} FAILED" in verified.stdout
    assert "jdoe" in verified.stdout and "sha256" in verified.stdout


def test_a_second_signer_added_for_jdoe_fails_audit_verify(project: tuple[Path, str]) -> None:
    from nbmlops.approval.signing_keys import key_id, new_keypair

    root, _ = project
    mine = new_keypair()[0]
    again = ledger.append(root, "signer_added", data={
        "signer": "jdoe", "printed_name": "Jane Doe", "title": "Clinical QA",
        "algorithm": "ed25519", "public_key": mine, "key_id": key_id(mine),
    })  # fmt: skip
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 1
    assert f"ledger entry {again.seq} FAILED" in verified.stdout
    assert "signer jdoe: added again" in verified.stdout


def test_an_edited_printed_name_is_refused_and_the_ledger_name_is_shown(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    _edit_signers(root, printed_name="Dr. Gregory House", title="Chief Medical Officer")
    refused = _approve(root, run_id)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "disagrees with the ledger" in refused.stdout
    assert "review_signed" not in _events(root)
    assert not _alias_set(root, run_id)
    listed = nbmlops_cli(root, "signer", "list")
    assert "Jane Doe" in listed.stdout and "House" not in listed.stdout


def test_a_swapped_key_gets_no_approval_and_no_alias(
    project: tuple[Path, str], tmp_path: Path
) -> None:
    root, run_id = project
    elsewhere = tmp_path / "mallory"
    elsewhere.mkdir()
    made = nbmlops_cli(
        elsewhere, "signer", "add", "jdoe", "--name", "Jane Doe", "--title", "Clinical QA",
        "--password-stdin", input="mallorys own password\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    theirs = json.loads((elsewhere / ".nbmlops" / "signers.json").read_text())["signers"]["jdoe"]
    _edit_signers(root, **{k: theirs[k] for k in ("password_hash", "public_key", "private_key")})
    refused = _approve(root, run_id, password="mallorys own password")  # noqa: S106
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "signature refused" in refused.stdout and "ledger" in refused.stdout
    assert "review_signed" not in _events(root)
    assert not _alias_set(root, run_id)
    assert nbmlops_cli(root, "audit", "verify").returncode == 0  # nothing was signed


def test_five_wrong_passwords_lock_jdoe_and_the_right_one_is_refused(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    for attempt in range(5):
        wrong = _approve(root, run_id, password=f"wrong password {attempt}")
        assert wrong.returncode == 2
    assert "locked until" in wrong.stdout
    right = _approve(root, run_id)
    assert right.returncode == 2 and "locked until" in right.stdout
    events = _events(root)
    assert events.count("signer_locked") == 1
    assert "review_signed" not in events
    assert not _alias_set(root, run_id)
    assert nbmlops_cli(root, "audit", "verify").returncode == 0


def test_rekey_admin_commands_and_then_an_approval_that_verifies(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    rekeyed = nbmlops_cli(
        root, "signer", "rekey", "jdoe", "--password-stdin",
        input=f"{PASSWORD}\nmy new long password\n",
    )  # fmt: skip
    assert rekeyed.returncode == 0, rekeyed.stdout + rekeyed.stderr
    unauthorised = nbmlops_cli(
        root, "signer", "add", "asmith", "--name", "Al Smith", "--password-stdin",
        input="als long password\n",
    )  # fmt: skip
    assert unauthorised.returncode == 2 and "administrator" in unauthorised.stdout
    added = nbmlops_cli(
        root, "signer", "add", "asmith", "--name", "Al Smith", "--by", "jdoe",
        "--password-stdin", input="my new long password\nals long password\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    granted = nbmlops_cli(
        root, "signer", "grant-admin", "asmith", "--by", "jdoe", "--password-stdin",
        input="my new long password\n",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stdout + granted.stderr
    (root / "pyproject.toml").write_text("[tool.nbmlops.signing]\nmax_failed_attempts = 2\n")
    for _ in range(2):
        assert _approve(root, run_id, password="the old one, wrong").returncode == 2  # noqa: S106
    unlocked = nbmlops_cli(
        root, "signer", "unlock", "jdoe", "--by", "asmith", "--password-stdin",
        input="als long password\n",
    )  # fmt: skip
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    approved = _approve(root, run_id, password="my new long password")  # noqa: S106
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "electronically signed by Jane Doe, Clinical QA (jdoe)" in approved.stdout
    assert _alias_set(root, run_id)
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 0, verified.stdout


def test_a_password_typed_as_the_signer_id_is_written_nowhere(project: tuple[Path, str]) -> None:
    root, run_id = project
    typed = "hunter2hunter2"
    refused = _approve(root, run_id, signer=typed)
    assert refused.returncode == 2
    assert typed not in refused.stdout + refused.stderr
    refused = nbmlops_cli(root, "signer", "deactivate", typed)
    assert refused.returncode == 2
    # the ledger, signers.json, the MLflow store and its artifacts, run records, logs
    for path in root.rglob("*"):
        if path.is_file():
            assert typed.encode() not in path.read_bytes(), path
