"""Electronic signatures: local signers, refusals in the ledger, the pluggable authenticators."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nbmlops.approval import authenticators, signing, signing_attempts, signing_keys
from nbmlops.approval.signing import (
    Authenticator,
    LocalSignerRegistry,
    Signature,
    Signer,
    get_authenticator,
    register_authenticator,
)
from nbmlops.errors import SignatureError
from nbmlops.records.ledger import read_entries, verify_ledger

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential


@pytest.fixture
def signers(tmp_path: Path) -> LocalSignerRegistry:
    """A registry with one active signer, ``jdoe``."""
    registry = LocalSignerRegistry(tmp_path)
    registry.add("jdoe", "Jane Doe", PASSWORD, title="QA reviewer")
    return registry


def _sign(
    auth: Authenticator, signer_id: str, password: str, digest: str
) -> tuple[Signer, Signature]:
    """Verify the signer, then sign ``digest`` (a record's hex SHA-256): the two calls
    :func:`nbmlops.approval.decision.sign_decision` makes, without a decision around them."""
    signer = auth.verify(signer_id, password)
    return signer, auth.sign_as(signer, password, digest)


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
    signer, signature = _sign(signers, "jdoe", PASSWORD, digest)
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
        _sign(signers, "jdoe", "wrong password!", digest)


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
        del authenticators._FACTORIES[Directory.name]
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
    from nbmlops.approval.decision import record_digest
    from nbmlops.approval.evidence import evidence_digest
    from nbmlops.records import ledger

    evidence: dict[str, object] = {"run_id": "r1", "pipeline": "p", "stage": "review", "items": []}
    evidence["digest"] = record["evidence_digest"] = evidence_digest(evidence)
    data = {"record": record, "record_digest": record_digest(record), "signature": signature,
            "evidence": evidence}  # fmt: skip
    ledger.append(root, "review_signed", run_id="r1", data=data)


JDOE = {"id": "jdoe", "printed_name": "Jane Doe", "title": "QA reviewer"}


def test_a_digest_only_decision_for_a_keyed_signer_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions

    _append_decision(tmp_path, _decision_record(JDOE), {"algorithm": "sha256", "key_id": "",
                                                        "value": ""})  # fmt: skip
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == 1
    assert "jdoe" in problem and "sha256" in problem and "ed25519" in problem


def test_a_decision_signed_with_another_signers_key_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import record_digest, verify_decisions

    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    record = _decision_record(JDOE)
    _append_decision(tmp_path, record, {})  # fixes the evidence digest into the record
    digest = record_digest(record)
    _, signature = _sign(signers, "asmith", PASSWORD, digest)
    _append_decision(tmp_path, record, signature.to_dict())
    problems = verify_decisions(tmp_path)
    assert [seq for seq, _ in problems][-1] == 3
    assert "jdoe" in problems[-1][1] and signature.key_id in problems[-1][1]


def test_a_second_signer_added_for_an_existing_id_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions
    from nbmlops.records import ledger

    other = signing_keys.new_keypair()[0]
    data = {"signer": "jdoe", "printed_name": "Jane Doe", "title": "QA reviewer",
            "public_key": other, "key_id": signing_keys.key_id(other)}  # fmt: skip
    ledger.append(tmp_path, "signer_added", data=data)
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == 1 and "jdoe" in problem and "added again" in problem
    # and the key the ledger binds stays the first one: the registry still signs and verifies
    assert signers.verify("jdoe", PASSWORD).id == "jdoe"


def test_a_signer_rekeys_with_their_old_key_and_an_admin_rekeys_anyone(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions

    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    old_key = _sign(signers, "asmith", PASSWORD, "ab" * 32)[1].key_id
    signers.rekey("asmith", "a brand new password", by="asmith", by_password=PASSWORD)
    with pytest.raises(SignatureError):
        signers.verify("asmith", PASSWORD)
    _, signature = _sign(signers, "asmith", "a brand new password", "ab" * 32)
    assert signature.key_id != old_key
    # the password is lost: an administrator re-keys
    signers.rekey("asmith", "third password ok", by="jdoe", by_password=PASSWORD)
    assert signers.verify("asmith", "third password ok").id == "asmith"
    rekeys = [data for event, data in _events(tmp_path) if event == "signer_rekeyed"]
    assert [r["authorisation"]["by"] for r in rekeys] == ["asmith", "jdoe"]
    assert verify_decisions(tmp_path) == []


def test_a_non_admin_cannot_rekey_others_add_signers_or_grant_the_role(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions

    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    before = _events(tmp_path)
    with pytest.raises(SignatureError, match="not an administrator"):
        signers.rekey("jdoe", "a takeover password", by="asmith", by_password=PASSWORD)
    with pytest.raises(SignatureError, match="not an administrator"):
        signers.add("mallory", "Mal Lory", PASSWORD, by="asmith", by_password=PASSWORD)
    with pytest.raises(SignatureError, match="administrator"):
        signers.add("mallory", "Mal Lory", PASSWORD)
    with pytest.raises(SignatureError, match="not an administrator"):
        signers.grant_admin("asmith", by="asmith", by_password=PASSWORD)
    assert [e for e, _ in _events(tmp_path)] == [e for e, _ in before]
    signers.grant_admin("asmith", by="jdoe", by_password=PASSWORD)
    signers.add("bnew", "Bea New", PASSWORD, by="asmith", by_password=PASSWORD)
    assert verify_decisions(tmp_path) == []


def test_an_unauthorised_rekey_or_signer_appended_to_the_ledger_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions
    from nbmlops.records import ledger

    mine = signing_keys.new_keypair()[0]
    forged = {"by": "jdoe", "algorithm": "ed25519", "key_id": "0" * 16, "value": "00" * 64}
    ledger.append(tmp_path, "signer_rekeyed", data={
        "signer": "jdoe", "algorithm": "ed25519", "public_key": mine,
        "key_id": signing_keys.key_id(mine), "authorisation": forged,
    })  # fmt: skip
    ledger.append(tmp_path, "signer_added", data={
        "signer": "mallory", "printed_name": "Jane Doe", "title": "QA reviewer",
        "public_key": mine, "key_id": signing_keys.key_id(mine),
    })  # fmt: skip
    problems = verify_decisions(tmp_path)
    assert [seq for seq, _ in problems] == [1, 2]
    assert "signer jdoe: re-keyed at ledger seq 1 without authorisation" in problems[0][1]
    assert "signer mallory: added at ledger seq 2 without an administrator" in problems[1][1]
    # neither was applied: jdoe keeps their key, mallory cannot sign
    assert _sign(signers, "jdoe", PASSWORD, "ab" * 32)[1].key_id != signing_keys.key_id(mine)


def _edit_signers(root: Path, signer: str, **changes: object) -> None:
    path = root / ".nbmlops" / "signers.json"
    data = json.loads(path.read_text())
    data["signers"][signer].update(changes)
    path.write_text(json.dumps(data))


def test_an_edited_printed_name_is_refused_at_signing_and_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import record_digest, verify_decisions

    _edit_signers(
        tmp_path, "jdoe", printed_name="Dr. Jane Doe-Smith", title="Chief Medical Officer"
    )
    with pytest.raises(SignatureError, match="disagrees with the ledger") as refused:
        _sign(signers, "jdoe", PASSWORD, "ab" * 32)
    assert "printed_name" in refused.value.reason and "title" in refused.value.reason
    assert signers.list()[0].printed_name == "Jane Doe"  # the ledger's name, not the file's
    _edit_signers(tmp_path, "jdoe", printed_name="Jane Doe", title="QA reviewer")
    # jdoe's own key signs a record whose manifestation shows another name: verify says so
    record = _decision_record({**JDOE, "printed_name": "Dr. Jane Doe-Smith"})
    _append_decision(tmp_path, record, {})
    _, signature = _sign(signers, "jdoe", PASSWORD, record_digest(record))
    _append_decision(tmp_path, record, signature.to_dict())
    _, last = verify_decisions(tmp_path)[-1]
    assert "Dr. Jane Doe-Smith" in last and "'Jane Doe, QA reviewer'" in last


def test_a_swapped_key_is_refused_before_anything_is_signed(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    own = json.loads(signers.path.read_text())["signers"]["jdoe"]
    mallory = LocalSignerRegistry(tmp_path / "elsewhere")
    mallory.add("jdoe", "Jane Doe", "mallorys password", title="QA reviewer")
    theirs = json.loads(mallory.path.read_text())["signers"]["jdoe"]
    # all of it: the attacker's password hash and key pair under jdoe's name
    _edit_signers(tmp_path, "jdoe", **{k: theirs[k] for k in
                                       ("password_hash", "public_key", "private_key")})  # fmt: skip
    with pytest.raises(SignatureError, match="public_key"):
        _sign(signers, "jdoe", "mallorys password", "ab" * 32)
    # only the key pair (the password hash stays jdoe's): refused when the key is opened
    original = LocalSignerRegistry(tmp_path / "again")
    original.add("jdoe", "Jane Doe", PASSWORD, title="QA reviewer")
    other = json.loads(original.path.read_text())["signers"]["jdoe"]
    ledger_key = _events(tmp_path)[0][1]["public_key"]
    _edit_signers(
        tmp_path, "jdoe", password_hash=own["password_hash"], public_key=ledger_key,
        private_key=other["private_key"],
    )  # fmt: skip
    with pytest.raises(SignatureError, match="does not open"):
        _sign(signers, "jdoe", PASSWORD, "ab" * 32)
    assert "review_signed" not in [e for e, _ in _events(tmp_path)]


def test_the_private_key_is_under_scrypt_at_least_as_costly_as_the_password_hash(
    signers: LocalSignerRegistry,
) -> None:
    record = json.loads(signers.path.read_text())["signers"]["jdoe"]
    kdf, hashed = record["private_key"]["kdf"], record["password_hash"]
    assert kdf["algorithm"] == "scrypt"
    assert (kdf["n"], kdf["r"], kdf["p"]) >= (hashed["n"], hashed["r"], hashed["p"])
    assert kdf["n"] * kdf["r"] >= hashed["n"] * hashed["r"]
    assert kdf["salt"] != hashed["salt"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"format": "pkcs12"}, "unknown key format 'pkcs12'"),
        ({"kdf": {"algorithm": "pbkdf2"}}, "unknown key format"),
        ({"nonce": "not hex"}, "damaged"),
    ],
)
def test_a_stored_key_of_another_format_or_damaged_is_refused_naming_it(
    signers: LocalSignerRegistry, change: dict[str, Any], said: str
) -> None:
    record = json.loads(signers.path.read_text())["signers"]["jdoe"]
    stored = {**record["private_key"], **change}
    with pytest.raises(SignatureError, match=said) as refused:
        signing_keys.decrypt_private_key(
            stored, PASSWORD, signer_id="jdoe", public_key=record["public_key"]
        )
    assert refused.value.signer == "jdoe" and "re-key the signer" in refused.value.reason


def _legacy_signer(root: Path, signer_id: str = "old") -> str:
    """A signer as nbmlops wrote them before issue 10: the private key as PKCS#8 PEM under
    ``BestAvailableEncryption`` (PBKDF2, 2,048 iterations), no administrator field."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from nbmlops.records import ledger

    key = Ed25519PrivateKey.generate()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    ).decode()
    record = {
        "id": signer_id, "printed_name": "Olga Old", "title": "", "active": True,
        "created": "2026-01-01T00:00:00Z", "password_hash": signing._hash_password(PASSWORD),
        "public_key": public, "private_key": pem,
    }  # fmt: skip
    path = root / ".nbmlops" / "signers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    signers = json.loads(path.read_text())["signers"] if path.exists() else {}
    path.write_text(json.dumps({"version": 1, "signers": {**signers, signer_id: record}}))
    ledger.append(root, "signer_added", data={
        "signer": signer_id, "printed_name": "Olga Old", "title": "", "public_key": public,
        "key_id": signing_keys.key_id(public),
    })  # fmt: skip
    return public


def test_an_older_signers_file_still_signs_and_its_key_is_migrated(tmp_path: Path) -> None:
    public = _legacy_signer(tmp_path)
    registry = LocalSignerRegistry(tmp_path)
    _, first = _sign(registry, "old", PASSWORD, "ab" * 32)
    assert signing.check_signature(first, "ab" * 32, public)
    stored = json.loads(registry.path.read_text())["signers"]["old"]["private_key"]
    assert stored["format"] == signing_keys.KEY_FORMAT  # re-encrypted after it opened
    _, second = _sign(registry, "old", PASSWORD, "cd" * 32)
    assert signing.check_signature(second, "cd" * 32, public)
    assert PASSWORD not in registry.path.read_text()


def test_an_older_signers_file_that_fails_to_open_is_left_as_it_was(tmp_path: Path) -> None:
    _legacy_signer(tmp_path)
    registry = LocalSignerRegistry(tmp_path)
    before = registry.path.read_bytes()
    # the password hash accepts it, the key does not open with it: a damaged pair stays as is
    _edit_signers(tmp_path, "old", password_hash=signing._hash_password("another password"))
    edited = registry.path.read_bytes()
    with pytest.raises(SignatureError):
        _sign(registry, "old", "another password", "ab" * 32)
    assert registry.path.read_bytes() == edited != before


def _lockout_policy(root: Path, attempts: int, minutes: float) -> None:
    (root / "pyproject.toml").write_text(
        f"[tool.nbmlops.signing]\nmax_failed_attempts = {attempts}\nlockout_minutes = {minutes}\n"
    )


def test_five_refusals_lock_the_signer_and_the_right_password_is_not_even_checked(
    signers: LocalSignerRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for attempt in range(5):
        with pytest.raises(SignatureError) as refused:
            signers.verify("jdoe", f"wrong password {attempt}")
    assert "locked until" in refused.value.reason
    events = _events(tmp_path)
    assert [e for e, _ in events[-6:]] == ["signature_refused"] * 5 + ["signer_locked"]
    assert events[-1][1]["signer"] == "jdoe" and events[-1][1]["failures"] == 5

    def no_check(*args: object, **kwargs: object) -> bool:
        raise AssertionError("a locked signer's password was checked")

    monkeypatch.setattr(signing, "_check_password", no_check)
    with pytest.raises(SignatureError, match="locked until"):
        signers.verify("jdoe", PASSWORD)
    assert _events(tmp_path)[-1][1]["while_locked"] is True


def test_a_success_resets_the_count_and_a_lock_expires(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions

    _lockout_policy(tmp_path, attempts=3, minutes=0.01)
    for _ in range(2):
        with pytest.raises(SignatureError):
            signers.verify("jdoe", "wrong password!")
    signers.verify("jdoe", PASSWORD)
    assert _events(tmp_path)[-1] == ("signer_attempts_reset", {"signer": "jdoe", "failures": 2})
    for _ in range(3):
        with pytest.raises(SignatureError):
            signers.verify("jdoe", "wrong password!")
    with pytest.raises(SignatureError, match="locked"):
        signers.verify("jdoe", PASSWORD)
    time.sleep(0.7)
    assert signers.verify("jdoe", PASSWORD).id == "jdoe"
    assert ("signer_unlocked", {"signer": "jdoe", "by": "expiry"}) in _events(tmp_path)
    assert verify_decisions(tmp_path) == []


def test_an_administrator_unlocks_and_a_forged_unlock_fails_verify(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    from nbmlops.approval.decision import verify_decisions
    from nbmlops.records import ledger

    signers.add("asmith", "Al Smith", PASSWORD, by="jdoe", by_password=PASSWORD)
    _lockout_policy(tmp_path, attempts=2, minutes=60)
    for _ in range(2):
        with pytest.raises(SignatureError):
            signers.verify("asmith", "wrong password!")
    with pytest.raises(SignatureError, match="locked until"):
        signers.unlock("asmith", by="asmith", by_password=PASSWORD)
    signers.unlock("asmith", by="jdoe", by_password=PASSWORD)
    assert signers.verify("asmith", PASSWORD).id == "asmith"
    assert verify_decisions(tmp_path) == []
    for _ in range(2):
        with pytest.raises(SignatureError):
            signers.verify("asmith", "wrong password!")
    # someone with write access lifts the lock by hand: more guesses, but verify reports it
    forged = ledger.append(tmp_path, "signer_unlocked", data={"signer": "asmith", "by": "expiry"})
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == forged.seq and "before its lock expired" in problem


def test_two_processes_guessing_at_once_get_no_more_tries_than_one(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from nbmlops.errors import SignatureError\n"
        "from nbmlops.approval.signing import LocalSignerRegistry\n"
        "registry = LocalSignerRegistry(Path(sys.argv[1]))\n"
        "while time.time() < float(sys.argv[2]): time.sleep(0.005)\n"
        "for i in range(5):\n"
        "    try: registry.verify('jdoe', f'guess {sys.argv[3]} {i} xxxx')\n"
        "    except SignatureError: pass\n"
    )
    start = str(time.time() + 3)
    guessers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), start, str(n)])
        for n in range(2)
    ]
    assert [g.wait(timeout=120) for g in guessers] == [0, 0]
    events = [(e, d) for e, d in _events(tmp_path) if d.get("signer") == "jdoe"]
    counted = [e for e, d in events if e == "signature_refused" and not d.get("while_locked")]
    assert len(counted) == 5
    assert [e for e, _ in events].count("signer_locked") == 1
    assert len(events) == 1 + 10 + 1  # added, ten attempts, one lock


def test_a_password_typed_as_an_unknown_id_is_written_nowhere(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    typed = "hunter2hunter2"  # well-formed as an id: the old check let it through verbatim
    with pytest.raises(SignatureError) as refused:
        signers.verify(typed, PASSWORD)
    assert typed not in str(refused.value)
    secret = tmp_path / ".nbmlops" / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert typed.encode() not in path.read_bytes(), path


def test_signers_an_older_nbmlops_added_sign_and_are_reported_until_endorsed(
    tmp_path: Path,
) -> None:
    from nbmlops.approval.decision import verify_decisions

    _legacy_signer(tmp_path, "old")
    _legacy_signer(tmp_path, "older")  # no authorisation existed then
    registry = LocalSignerRegistry(tmp_path)
    assert _sign(registry, "older", PASSWORD, "ab" * 32)[1].algorithm == "ed25519"
    [(seq, problem)] = verify_decisions(tmp_path)
    assert seq == 1 and "nbmlops signer endorse older" in problem
    with pytest.raises(SignatureError, match="not an administrator"):
        registry.endorse("older", by="older", by_password=PASSWORD)
    registry.endorse("older", by="old", by_password=PASSWORD)
    assert verify_decisions(tmp_path) == []


def test_a_provider_cannot_sign_digest_only_for_a_signer_the_ledger_holds_a_key_for(
    signers: LocalSignerRegistry, tmp_path: Path
) -> None:
    class Directory(Authenticator):
        name = "test-directory-2"

        def authenticate(self, signer_id: str, password: str) -> Signer:
            return Signer(id=signer_id, printed_name="Jane Doe", title="QA reviewer")

    directory = Directory(tmp_path)
    with pytest.raises(SignatureError, match="ed25519 key"):
        _sign(directory, "jdoe", "anything at all", "ab" * 32)
    # a provider that names the signer otherwise than the ledger is refused before that
    renamed = Signer(id="jdoe", printed_name="J. Doe", title="")
    directory.authenticate = lambda signer_id, password: renamed  # type: ignore[method-assign]
    with pytest.raises(SignatureError, match="ledger recorded 'Jane Doe, QA reviewer'"):
        directory.verify("jdoe", "anything at all")
