"""Electronic signatures: local signers, refusals in the ledger, the pluggable authenticators."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nbmlops import signing, signing_attempts, signing_keys
from nbmlops.errors import SignatureError
from nbmlops.ledger import read_entries, verify_ledger
from nbmlops.signing import (
    Authenticator,
    LocalSignerRegistry,
    Signer,
    get_authenticator,
    register_authenticator,
)

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential


@pytest.fixture
def signers(tmp_path: Path) -> LocalSignerRegistry:
    """A registry with one active signer, ``jdoe``."""
    registry = LocalSignerRegistry(tmp_path)
    registry.add("jdoe", "Jane Doe", PASSWORD, title="QA reviewer")
    return registry


def _events(root: Path) -> list[tuple[str, dict[str, object]]]:
    return [(entry.event, entry.data) for entry in read_entries(root)]


def test_added_signer_verifies(signers: LocalSignerRegistry, tmp_path: Path) -> None:
    signer = get_authenticator("local", tmp_path).verify("jdoe", PASSWORD)
    assert signer == Signer(id="jdoe", printed_name="Jane Doe", title="QA reviewer")
    assert signers.list() == [signer]
    [(event, data)] = _events(tmp_path)
    assert event == "signer_added"
    assert {k: data[k] for k in ("signer", "printed_name", "title")} == {
        "signer": "jdoe",
        "printed_name": "Jane Doe",
        "title": "QA reviewer",
    }
    # the public key is in the ledger, the private key only encrypted in the registry
    stored = json.loads((tmp_path / ".nbmlops" / "signers.json").read_text())["signers"]["jdoe"]
    assert data["public_key"] == stored["public_key"]
    key = stored["private_key"]
    assert key["format"] == signing_keys.KEY_FORMAT and key["cipher"] == "aes-256-gcm"
    assert "BEGIN" not in json.dumps(key)


def test_signatures_verify_against_the_ledger_key_and_only_for_their_digest(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    digest = "ab" * 32
    signer, signature = signers.sign("jdoe", PASSWORD, digest)
    assert signer.id == "jdoe"
    assert signature.algorithm == "ed25519"
    public_key = str(_events(tmp_path)[0][1]["public_key"])
    assert signing.check_signature(signature, digest, public_key)
    assert not signing.check_signature(signature, "cd" * 32, public_key)
    other = LocalSignerRegistry(tmp_path)
    other.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    other_key = str(_events(tmp_path)[-1][1]["public_key"])
    assert not signing.check_signature(signature, digest, other_key)
    with pytest.raises(SignatureError):
        signers.sign("jdoe", "wrong password!", digest)


def test_wrong_password_and_unknown_signer_are_refused_alike(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    with pytest.raises(SignatureError) as wrong:
        signers.verify("jdoe", "not the password")
    with pytest.raises(SignatureError) as unknown:
        signers.verify("nobody", PASSWORD)
    # an id the ledger does not know may be a password typed in the wrong field: only its
    # keyed digest is written, the same one each time so repeated attempts stay visible
    digest = signing_attempts.loggable_id(tmp_path, "nobody", known=False)
    assert digest.startswith("unknown-") and "nobody" not in digest
    assert (wrong.value.signer, unknown.value.signer) == ("jdoe", digest)
    assert wrong.value.reason == unknown.value.reason
    refused = [data for event, data in _events(tmp_path) if event == "signature_refused"]
    assert [r["signer"] for r in refused] == ["jdoe", digest]
    assert all(r["via"] == "local" for r in refused)


def test_a_password_typed_as_the_id_stays_out_of_the_ledger(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    with pytest.raises(SignatureError) as refused:
        signers.verify("Correct Horse!", PASSWORD)
    assert refused.value.signer.startswith("unknown-")
    assert "Correct Horse" not in (tmp_path / ".nbmlops" / "ledger.jsonl").read_text()


@pytest.mark.parametrize(
    ("signer_id", "name", "password"),
    [
        ("jdoe", "Another Jane", PASSWORD),  # duplicate
        ("asmith", "Al Smith", "short pass1"),  # 11 characters
        ("A.Smith", "Al Smith", PASSWORD),  # uppercase
        ("a", "Al Smith", PASSWORD),  # too short
        ("asmith", "  ", PASSWORD),  # no printed name
    ],
)
def test_add_refuses_bad_signers(
    signers: LocalSignerRegistry, signer_id: str, name: str, password: str
) -> None:
    before = signers.path.read_bytes()
    with pytest.raises(SignatureError):
        signers.add(signer_id, name, password)
    assert signers.path.read_bytes() == before


def test_signers_file_holds_no_password_and_is_private(signers: LocalSignerRegistry) -> None:
    text = signers.path.read_text()
    assert PASSWORD not in text
    assert stat.S_IMODE(signers.path.stat().st_mode) == 0o600
    record = json.loads(text)["signers"]["jdoe"]
    assert record["active"] is True
    assert record["created"].endswith("Z")
    hashed = record["password_hash"]
    assert (hashed["algorithm"], hashed["n"], hashed["r"], hashed["p"]) == ("scrypt", 2**14, 8, 1)
    assert len(bytes.fromhex(hashed["salt"])) == 16
    assert len(bytes.fromhex(hashed["hash"])) == signing.SCRYPT_DKLEN


def test_same_password_gets_a_different_salt(signers: LocalSignerRegistry) -> None:
    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    records = json.loads(signers.path.read_text())["signers"]
    salts = {r["password_hash"]["salt"] for r in records.values()}
    hashes = {r["password_hash"]["hash"] for r in records.values()}
    assert len(salts) == len(hashes) == 2


def test_deactivated_signer_is_refused(signers: LocalSignerRegistry, tmp_path: Path) -> None:
    signers.deactivate("jdoe", reason="left the company")
    with pytest.raises(SignatureError) as refused:
        signers.verify("jdoe", PASSWORD)
    assert refused.value.signer == "jdoe"
    with pytest.raises(SignatureError):
        signers.deactivate("jdoe")
    assert signers.list() == []
    assert [s.id for s in signers.list(include_inactive=True)] == ["jdoe"]
    assert [event for event, _ in _events(tmp_path)] == [
        "signer_added",
        "signer_deactivated",
        "signature_refused",
    ]


def test_custom_authenticator_is_registered_and_audited(tmp_path: Path) -> None:
    class Directory(Authenticator):
        name = "test-directory"

        def authenticate(self, signer_id: str, password: str) -> Signer:
            if password != PASSWORD:
                raise SignatureError(signer=signer_id, reason="directory said no")
            return Signer(id=signer_id, printed_name=signer_id.title())

    register_authenticator(Directory.name, Directory)
    try:
        directory = get_authenticator("test-directory", tmp_path)
        assert isinstance(directory, Directory)
        assert directory.verify("bob", PASSWORD) == Signer(id="bob", printed_name="Bob")
        with pytest.raises(SignatureError):
            directory.verify("bob", "guess")
    finally:
        del signing._FACTORIES[Directory.name]
    assert _events(tmp_path) == [
        (
            "signature_refused",
            {
                "signer": signing_attempts.loggable_id(tmp_path, "bob", known=False),
                "reason": "directory said no",
                "via": Directory.name,
            },
        )
    ]


def test_unknown_authenticator_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as missing:
        get_authenticator("kerberos", tmp_path)
    assert missing.value.signer == ""
    assert "local" in missing.value.reason


def test_ledger_verifies_after_signer_lifecycle(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    signers.add("asmith", "Al Smith", PASSWORD + "!", by="jdoe", by_password=PASSWORD)
    with pytest.raises(SignatureError):
        signers.verify("asmith", PASSWORD)
    signers.deactivate("asmith")
    assert signers.verify("jdoe", PASSWORD).id == "jdoe"
    report = verify_ledger(tmp_path)
    assert report.ok
    assert report.entries == 4
    assert PASSWORD not in (tmp_path / ".nbmlops" / "ledger.jsonl").read_text()


# -- issue 10, section 1: signatures bound to what the ledger recorded --------------------------


def _decision_record(signer: dict[str, str], *, authenticator: str = "local") -> dict[str, object]:
    return {
        "decision": "approve", "meaning": "I approve", "comment": "forged", "signer": signer,
        "signed_at": "2026-01-01T00:00:00Z", "run_id": "r1", "pipeline": "p",
        "evidence_digest": "", "authenticator": authenticator,
    }  # fmt: skip


def _append_decision(root: Path, record: dict[str, object], signature: dict[str, str]) -> None:
    """Append a ``review_signed`` entry as anyone with write access can (the chain stays valid)."""
    from nbmlops import ledger
    from nbmlops.review.decision import record_digest
    from nbmlops.review.evidence import evidence_digest

    evidence: dict[str, object] = {"run_id": "r1", "pipeline": "p", "stage": "review", "items": []}
    evidence["digest"] = record["evidence_digest"] = evidence_digest(evidence)
    data = {"record": record, "record_digest": record_digest(record), "signature": signature,
            "evidence": evidence}  # fmt: skip
    ledger.append(root, "review_signed", run_id="r1", data=data)


JDOE = {"id": "jdoe", "printed_name": "Jane Doe", "title": "QA reviewer"}


def test_a_digest_only_decision_for_a_keyed_signer_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.review.decision import verify_decisions

    _append_decision(tmp_path, _decision_record(JDOE), {"algorithm": "sha256", "key_id": "",
                                                        "value": ""})  # fmt: skip
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == 1
    assert "jdoe" in problem and "sha256" in problem and "ed25519" in problem


def test_a_decision_signed_with_another_signers_key_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.review.decision import record_digest, verify_decisions

    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    record = _decision_record(JDOE)
    _append_decision(tmp_path, record, {})  # fixes the evidence digest into the record
    digest = record_digest(record)
    _, signature = signers.sign("asmith", PASSWORD, digest)
    _append_decision(tmp_path, record, signature.to_dict())
    problems = verify_decisions(tmp_path)
    assert [seq for seq, _ in problems][-1] == 3
    assert "jdoe" in problems[-1][1] and signature.key_id in problems[-1][1]


def test_a_second_signer_added_for_an_existing_id_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops import ledger
    from nbmlops.review.decision import verify_decisions

    other = signing_keys.new_keypair()[0]
    data = {"signer": "jdoe", "printed_name": "Jane Doe", "title": "QA reviewer",
            "public_key": other, "key_id": signing_keys.key_id(other)}  # fmt: skip
    ledger.append(tmp_path, "signer_added", data=data)
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == 1 and "jdoe" in problem and "added again" in problem
    # and the key the ledger binds stays the first one: the registry still signs and verifies
    assert signers.verify("jdoe", PASSWORD).id == "jdoe"
