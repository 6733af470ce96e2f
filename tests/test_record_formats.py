"""Signed records in both formats: what nbmlops 0.1 wrote (format 1) keeps verifying beside what
is written now (format 2, RFC 8785), tampering is caught in either, and an auditor recomputes
every format-2 digest with the reference ``rfc8785`` package instead of nbmlops."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from nbmlops.approval.decision import read_decision, verify_decisions
from nbmlops.approval.evidence import evidence_digest
from nbmlops.approval.signing_keys import check_signature_value, key_id, new_keypair, sign_digest
from nbmlops.audit.verify import verify_project
from nbmlops.records import ledger
from nbmlops.records.ledger import read_entries, verify_ledger

Entry = dict[str, Any]


def _v1(obj: Any, *, ascii_only: bool) -> bytes:
    """nbmlops 0.1's canonical JSON: ledger lines and decision records kept UTF-8, evidence
    lists and signer statements were ASCII-escaped."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Signer:
    def __init__(self, signer_id: str, printed_name: str, title: str) -> None:
        self.id, self.printed_name, self.title = signer_id, printed_name, title
        self.public_key, self._private = new_keypair()
        self.key_id = key_id(self.public_key)

    def sign(self, digest: str) -> dict[str, str]:
        return {"algorithm": "ed25519", "key_id": self.key_id,
                "value": sign_digest(self._private, digest)}  # fmt: skip

    def added(self) -> dict[str, str]:
        return {"signer": self.id, "printed_name": self.printed_name, "title": self.title,
                "algorithm": "ed25519", "public_key": self.public_key,
                "key_id": self.key_id}  # fmt: skip

    def shown(self) -> dict[str, str]:
        return {"id": self.id, "printed_name": self.printed_name, "title": self.title}


JDOE = Signer("jdoe", "Zoë Åström", "QA lead")  # the first signer: the administrator
ASMITH = Signer("asmith", "Ana Smith-Ölund", "Clinician")  # added in format 1
BNEW = Signer("bnew", "Bea Ñew", "Statistician")  # added in format 2


def _statement(signer: Signer) -> dict[str, str]:
    keys = ("printed_name", "title", "public_key")
    return {"event": "signer_added", "signer": signer.id, **{k: signer.added()[k] for k in keys}}


def _archive(root: Path, name: str, content: bytes) -> dict[str, str]:
    digest = _sha(content)
    store = root / ".nbmlops" / "evidence"
    store.mkdir(parents=True, exist_ok=True)
    (store / digest).write_bytes(content)
    return {"name": name, "path": f"build/p/review/{name}", "digest": digest}


def _decision(root: Path, signer: Signer, evidence: Entry, digest_of: Callable[[Entry], str],
              extra: Entry) -> Entry:  # fmt: skip
    """A signed decision's ledger data, its full record written to its decision file."""
    record = {**extra, "decision": "approve", "meaning": f"Ich genehmige — {signer.printed_name}",
              "comment": "naïve ok", "signer": signer.shown(), "signed_at": "2026-01-02T03:04:05Z",
              "run_id": "r1", "pipeline": "p", "evidence_digest": evidence["digest"],
              "authenticator": "local", "nonce": "ab" * 16}  # fmt: skip
    digest = digest_of(record)
    path = root / ".nbmlops" / "decisions" / f"{digest}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"record": record, "record_digest": digest, "signature": signer.sign(digest)}
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False), encoding="utf-8")
    public = {k: v for k, v in record.items() if k not in ("meaning", "comment", "nonce")}
    return {"record": public, "record_digest": digest, "signature": body["signature"],
            "decision_file": path.relative_to(root).as_posix(), "evidence": evidence}  # fmt: skip


def _write_v1_project(root: Path) -> None:
    """The ledger, decision file and evidence archive of a project signed with nbmlops 0.1."""
    evidence: Entry = {"run_id": "r1", "pipeline": "p", "stage": "review", "mlflow_run_id": None,
                       "items": [_archive(root, "review.summary", b'{"auc": 0.8}')]}  # fmt: skip
    core = {k: evidence[k] for k in ("run_id", "pipeline", "stage")}
    core["items"] = sorted((i["name"], i["digest"]) for i in evidence["items"])
    evidence["digest"] = _sha(_v1(core, ascii_only=True))
    authorisation = {"by": "jdoe", **JDOE.sign(_sha(_v1(_statement(ASMITH), ascii_only=True)))}
    events = [
        ("signer_added", None, JDOE.added()),
        ("signer_added", None, {**ASMITH.added(), "authorisation": authorisation}),
        ("review_signed", "r1", _decision(
            root, ASMITH, evidence, lambda r: _sha(_v1(r, ascii_only=False)), {})),
    ]  # fmt: skip
    prev, lines = "0" * 64, []
    for seq, (event, run_id, data) in enumerate(events):
        fields = {"seq": seq, "ts": "2026-01-02T03:04:05.000Z", "who": "analyst", "host": "ws",
                  "event": event, "run_id": run_id, "data": data, "prev": prev}  # fmt: skip
        prev = _sha(_v1(fields, ascii_only=False))
        lines.append(_v1({**fields, "hash": prev}, ascii_only=False) + b"\n")
    (root / ".nbmlops" / "ledger.jsonl").write_bytes(b"".join(lines))
    head = _v1({"hash": prev, "seq": len(events) - 1}, ascii_only=False) + b"\n"
    (root / ".nbmlops" / "ledger.head").write_bytes(head)


def _append_v2(root: Path) -> None:
    """A signer and a decision appended now, as nbmlops signs them (format 2)."""
    from nbmlops.approval.signer_ledger import add_statement, statement_digest

    statement = add_statement(BNEW.id, BNEW.printed_name, BNEW.title, BNEW.public_key)
    authorisation = {"by": "jdoe", **JDOE.sign(statement_digest("signer_added", statement))}
    ledger.append(root, "signer_added", data={**BNEW.added(), "authorisation": authorisation})
    evidence: Entry = {"v": 2, "run_id": "r1", "pipeline": "p", "stage": "review",
                       "mlflow_run_id": None,
                       "items": [_archive(root, "review.fairness", b'{"gap": 0.02}')]}  # fmt: skip
    evidence["digest"] = evidence_digest(evidence)
    from nbmlops.approval.decision import record_digest

    ledger.append(root, "review_signed", run_id="r1",
                  data=_decision(root, BNEW, evidence, record_digest, {"v": 2}))  # fmt: skip


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    _write_v1_project(tmp_path)
    _append_v2(tmp_path)
    return tmp_path


def test_a_project_signed_by_nbmlops_0_1_still_verifies(tmp_path: Path) -> None:
    _write_v1_project(tmp_path)
    assert verify_ledger(tmp_path).ok
    assert verify_decisions(tmp_path) == []
    assert verify_project(tmp_path, mlflow=False).ok


def test_format_1_and_2_signed_records_verify_side_by_side(mixed: Path) -> None:
    entries = list(read_entries(mixed))
    assert [(e.event, e.v) for e in entries] == [
        ("signer_added", 1), ("signer_added", 1), ("review_signed", 1),
        ("signer_added", 2), ("review_signed", 2),
    ]  # fmt: skip
    assert verify_ledger(mixed).ok
    assert verify_decisions(mixed) == []
    report = verify_project(mixed, mlflow=False)
    assert report.ok, [str(f) for f in report.failures]
    assert report.check("decisions").checked == 2
    meanings = [read_decision(mixed, e.data)["meaning"] for e in entries if e.data.get("record")]
    assert meanings == ["Ich genehmige — Ana Smith-Ölund", "Ich genehmige — Bea Ñew"]


def test_an_auditor_recomputes_format_2_digests_with_rfc8785(mixed: Path) -> None:
    *_, added, signed = (e.data for e in read_entries(mixed))
    # the decision: its file's record, serialised by the reference package, is what was signed
    body = json.loads((mixed / signed["decision_file"]).read_text(encoding="utf-8"))
    digest = _sha(rfc8785.dumps(body["record"]))
    assert digest == signed["record_digest"] == body["record_digest"]
    assert check_signature_value(BNEW.public_key, signed["signature"]["value"], digest)
    # the evidence list: format, run, stage and the sorted (name, digest) pairs
    evidence = signed["evidence"]
    core = {"v": 2, "run_id": "r1", "pipeline": "p", "stage": "review",
            "items": sorted([i["name"], i["digest"]] for i in evidence["items"])}  # fmt: skip
    assert _sha(rfc8785.dumps(core)) == evidence["digest"] == signed["record"]["evidence_digest"]
    # the administrator's authorisation of a signer: the event name and the statement's fields
    statement = _statement(BNEW)
    value = added["authorisation"]["value"]
    assert check_signature_value(JDOE.public_key, value, _sha(rfc8785.dumps(statement)))
    # 0.1 escaped a statement's non-ASCII text: the two readers are told apart here
    assert _v1(statement, ascii_only=True) != rfc8785.dumps(statement)


def _edit_decision_file(root: Path, index: int, change: Callable[[Entry], None]) -> None:
    path = sorted((root / ".nbmlops" / "decisions").glob("*.json"))
    entries = [e for e in read_entries(root) if e.event == "review_signed"]
    target = root / entries[index].data["decision_file"]
    assert target in path
    body = json.loads(target.read_text(encoding="utf-8"))
    change(body["record"])
    target.chmod(0o644)
    target.write_text(json.dumps(body), encoding="utf-8")


def _rechain(root: Path, seq: int, change: Callable[[Entry], None]) -> None:
    """Edit entry ``seq``'s data, then rehash every line in its own format and the head: what a
    forger with write access does, so that the chain alone verifies again."""
    path = root / ".nbmlops" / "ledger.jsonl"
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    change(entries[seq]["data"])
    prev, lines = "0" * 64, []
    for entry in entries:
        fields = {k: v for k, v in entry.items() if k != "hash"} | {"prev": prev}
        form = rfc8785.dumps if "v" in fields else _v1_ledger
        prev = _sha(form(fields))
        lines.append(form({**fields, "hash": prev}) + b"\n")
    path.write_bytes(b"".join(lines))
    head = rfc8785.dumps({"hash": prev, "seq": len(entries) - 1}) + b"\n"
    (root / ".nbmlops" / "ledger.head").write_bytes(head)


def _v1_ledger(obj: Any) -> bytes:
    return _v1(obj, ascii_only=False)


def _shift_item(data: Entry) -> None:
    data["evidence"]["items"][0]["name"] = "review.other"


# (tamper, the ledger seq of the decision or signer event verify must name, words of its problem)
TAMPERS: dict[str, tuple[Callable[[Path], None], int, str]] = {
    "v1 decision file: meaning edited": (
        lambda r: _edit_decision_file(r, 0, lambda rec: rec.update(meaning="I reject")), 2,
        "was changed"),
    "v2 decision file: meaning edited": (
        lambda r: _edit_decision_file(r, 1, lambda rec: rec.update(meaning="I reject")), 4,
        "was changed"),
    "v2 decision file: its v removed": (
        lambda r: _edit_decision_file(r, 1, lambda rec: rec.pop("v")), 4, "was changed"),
    "v2 decision file: claims v 3": (
        lambda r: _edit_decision_file(r, 1, lambda rec: rec.update(v=3)), 4, "upgrade nbmlops"),
    "v1 evidence list: an item renamed, rechained": (
        lambda r: _rechain(r, 2, _shift_item), 2, "evidence list does not match its digest"),
    "v2 evidence list: an item renamed, rechained": (
        lambda r: _rechain(r, 4, _shift_item), 4, "evidence list does not match its digest"),
    "v1 signer statement: title edited, rechained": (
        lambda r: _rechain(r, 1, lambda d: d.update(title="Chief Medical Officer")), 1,
        "without an administrator's signature"),
    "v2 signer statement: name edited, rechained": (
        lambda r: _rechain(r, 3, lambda d: d.update(printed_name="Bea New")), 3,
        "without an administrator's signature"),
}  # fmt: skip


@pytest.mark.parametrize("kind", TAMPERS)
def test_tampering_with_a_signed_record_is_caught_in_either_format(mixed: Path, kind: str) -> None:
    tamper, seq, words = TAMPERS[kind]
    tamper(mixed)
    assert verify_ledger(mixed).ok  # the chain alone says nothing: the signed records do
    problems = verify_decisions(mixed)
    assert any(at == seq and words in problem for at, problem in problems), problems
    assert not verify_project(mixed, mlflow=False).ok
