"""Signed review decisions: approve, reject or request changes, bound to the evidence reviewed.

A decision follows 21 CFR Part 11's rules for electronic signatures:

- **11.50 manifestation**: the signed record names the signer's printed name (and title), the
  date and time in UTC, and the meaning of the signature (a statement the signer writes, e.g.
  "I approve this model for the adherence outreach pilot"); :meth:`ReviewDecision.manifestation`
  is how it is shown everywhere.
- **11.70 linking**: the record holds the digest of the evidence reviewed (run record, result
  files, metrics, model) and its own SHA-256 is signed with the signer's key (Ed25519 for the
  local registry; the private key is encrypted with their password), so a signature cannot be
  moved to another record nor a record changed without detection.
- **11.200 components**: each signing takes the signer id and the password, verified at that
  moment; a refusal is itself a ledger entry.

The decision is appended to the ledger (``review_signed``) before anything else; MLflow then
gets it as tags, and an approval sets the model-version alias ``approved``. If MLflow cannot be
written the decision stands and says what was not recorded.

The meaning and comment are free text (a reviewer may type a patient's MRN into them), and the
ledger is append-only and copied around: they pass the project's PHI policy when typed, and the
ledger entry holds the record *without* them. The full signed record (meaning, comment and a
random ``nonce``) is written first, read-only, to ``.nbmlops/decisions/<record_digest>.json``;
the ledger binds it by ``record_digest``, whose value the signature signs. The nonce keeps the
digest from being tested against guessed comments. Entries written before this (the record
inline) still verify.

``record_digest`` is the SHA-256 of the full record's RFC 8785 canonical JSON; the record holds
``"v": 2``. Records nbmlops 0.1 signed (no ``"v"``) were hashed over Python's sorted compact JSON
(non-ASCII as UTF-8) and still verify that way.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._core.digests import FORMAT, canonical_digest, legacy_json_v1
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import DECISION_FILES
from nbmlops.approval.evidence import Evidence, archive_evidence, check_evidence
from nbmlops.approval.signing import Signature, check_signature, get_authenticator
from nbmlops.errors import InvalidInputError, ReviewError
from nbmlops.records import ledger

if TYPE_CHECKING:
    from nbmlops.approval.signer_ledger import SignerBook

__all__ = [
    "DECISIONS",
    "DECISION_FILES",
    "CardWriter",
    "ReviewDecision",
    "read_decision",
    "record_digest",
    "sign_decision",
    "verify_decisions",
]

DECISIONS: Mapping[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "request_changes": "changes requested",
}
"""Decision -> how it reads in a sentence."""

CardWriter = Callable[[Path, str, str], Sequence[Path]]
"""``card(root, run_id, model_product)``: writes a run's model card, returns its files (Markdown
first). The card is built above this layer (``nbmlops.report.card.card_for_approval``), so the
caller that can see it hands it in."""

EVENT = "review_signed"
FREE_TEXT = ("meaning", "comment", "nonce")
"""Fields of a signed record kept in its decision file only, never in the ledger."""
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, kw_only=True)
class ReviewDecision:
    """A signed decision, as appended to the ledger (``record`` is what was signed)."""

    record: Mapping[str, Any]
    record_digest: str
    signature: Signature
    evidence: Mapping[str, Any]
    ledger_entry: str
    model_version: str | None = None
    not_recorded: tuple[str, ...] = field(default=())

    @property
    def decision(self) -> str:
        return str(self.record["decision"])

    def manifestation(self) -> str:
        """The signature as a person reads it (11.50): name, title, UTC time, meaning."""
        r, s = self.record, self.record["signer"]
        title = f", {s['title']}" if s.get("title") else ""
        when = datetime.fromisoformat(r["signed_at"].replace("Z", "+00:00"))
        return (
            f"{DECISIONS[r['decision']].capitalize()} - electronically signed by "
            f"{s['printed_name']}{title} ({s['id']}) on {when:%Y-%m-%d %H:%M:%S} UTC. "
            f"Meaning: {r['meaning']}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": dict(self.record),
            "record_digest": self.record_digest,
            "signature": self.signature.to_dict(),
            "evidence": dict(self.evidence),
            "ledger_entry": self.ledger_entry,
            "model_version": self.model_version,
            "not_recorded": list(self.not_recorded),
        }

    def to_html(self) -> str:
        e = html.escape
        rows = [
            ("Decision", DECISIONS[self.decision]),
            ("Signed", self.manifestation()),
            ("Comment", str(self.record["comment"])),
            ("Run", str(self.record["run_id"])),
            ("Evidence digest", str(self.record["evidence_digest"])),
            ("Record digest", self.record_digest),
            ("Signature", f"{self.signature.algorithm} key {self.signature.key_id}"),
            ("Ledger entry", self.ledger_entry),
        ]
        if self.model_version:
            rows.append(("Model version", self.model_version))
        rows += [("Not recorded", note) for note in self.not_recorded]
        body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
        return f"<table class='nbmlops-decision'><tbody>{body}</tbody></table>"


def record_digest(record: Mapping[str, Any]) -> str:
    """The hex SHA-256 a decision's signature signs: of the record's RFC 8785 canonical JSON, or,
    for a record without ``"v"`` (signed by nbmlops 0.1), of its sorted compact JSON.

    Raises
    ------
    InvalidInputError
        ``v`` is not a format this nbmlops knows, or the record is not plain JSON.

    Examples
    --------
    >>> record_digest({"v": 2, "decision": "approve"}) == canonical_digest(
    ...     {"v": 2, "decision": "approve"})
    True
    """
    version = record.get("v", 1)
    if version == 1:
        return hashlib.sha256(legacy_json_v1(record, ascii_only=False)).hexdigest()
    if version != FORMAT:
        raise InvalidInputError(
            f"decision record format v={version!r} is not one this nbmlops reads (1 or "
            f"{FORMAT}); upgrade nbmlops",
            argument="record",
        )
    return canonical_digest(record)


def sign_decision(
    root: Path,
    evidence: Evidence,
    *,
    decision: str,
    meaning: str,
    comment: str,
    signer_id: str,
    password: str,
    authenticator: str = "local",
    model_product: str = "model",
    model_name: str | None = None,
    card: CardWriter | None = None,
) -> ReviewDecision:
    """Sign a review decision on ``evidence`` and record it.

    Parameters
    ----------
    root : Path
        The project folder (its ledger and signer registry).
    evidence : Evidence
        What was reviewed, from :func:`nbmlops.approval.evidence.collect_evidence`.
    decision : {"approve", "reject", "request_changes"}
    meaning : str
        What the signature means, in the signer's words (required).
    comment : str
        The reviewer's reasons (required).
    signer_id, password : str
        Verified now; the password is used for nothing else and kept nowhere.
    authenticator : str
        The registered identity provider (``"local"``: the project's signer registry).
    model_product : str
        Name of the product that is the model; an approval registers it in MLflow.
    model_name : str, optional
        Registered-model name; default the pipeline's name.
    card : callable, optional
        ``card(root, run_id, model_product)`` writes the run's model card and returns its files
        (``nbmlops.report.card.card_for_approval``); an approval logs them with the model
        version in MLflow.

    Returns
    -------
    ReviewDecision

    Raises
    ------
    ReviewError
        Unknown decision, empty meaning or comment, or the evidence changed; nothing is signed.
    SignatureError
        The credentials were refused; the attempt is in the ledger, nothing is signed.
    """
    if decision not in DECISIONS:
        reason = f"unknown decision '{decision}'; choose one of {', '.join(DECISIONS)}"
        raise ReviewError(run_id=evidence.run_id, reason=reason)
    for name, text in (("meaning", meaning), ("comment", comment)):
        if not text.strip():
            reason = f"the {name} is required: say what this signature means and why"
            raise ReviewError(run_id=evidence.run_id, reason=reason)
    meaning, comment = (
        _without_phi(root, evidence.run_id, name, text.strip())
        for name, text in (("meaning", meaning), ("comment", comment))
    )  # before the password is checked: a refusal here is no failed attempt
    auth = get_authenticator(authenticator, root)
    signer = auth.verify(signer_id, password)
    archive_evidence(root, evidence)  # refuses if a file changed since the review opened
    evidence_dict = {**evidence.to_dict(), "digest": evidence.digest}
    record = {
        "v": FORMAT,
        "decision": decision,
        "meaning": meaning,
        "comment": comment,
        "signer": {"id": signer.id, "printed_name": signer.printed_name, "title": signer.title},
        "signed_at": utc_now(),
        "run_id": evidence.run_id,
        "pipeline": evidence.pipeline,
        "evidence_digest": evidence.digest,
        "authenticator": auth.name,
        "nonce": secrets.token_hex(16),
    }
    digest = record_digest(record)
    signature = auth.sign_as(signer, password, digest)  # verified above: one password check
    path = _write_decision_file(root, record, digest, signature)
    try:
        entry = ledger.append(
            root,
            EVENT,
            run_id=evidence.run_id,
            data={
                "record": _public(record),
                "record_digest": digest,
                "decision_file": path.relative_to(root).as_posix(),
                "signature": signature.to_dict(),
                "evidence": evidence_dict,
            },
        )
    except BaseException:
        path.unlink(missing_ok=True)  # not recorded, so not signed: audit must find no orphan
        raise
    signed = ReviewDecision(
        record=record,
        record_digest=digest,
        signature=signature,
        evidence=evidence_dict,
        ledger_entry=entry.hash,
    )
    from nbmlops.approval.registry import record_in_mlflow

    run_id = evidence.run_id
    return record_in_mlflow(
        evidence.record,
        signed,
        model_product=model_product,
        model_name=model_name or evidence.pipeline,
        card=None if card is None else lambda: card(root, run_id, model_product),
    )


def _without_phi(root: Path, run_id: str, name: str, text: str) -> str:
    from nbmlops.privacy.phi import check_free_text

    try:
        return check_free_text(root, text, field=name, subject=f"the decision on run {run_id}")
    except ValueError as exc:  # an unknown phi_policy setting
        raise ReviewError(run_id=run_id, reason=str(exc)) from None


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """The signed record as the ledger holds it: without its free text (see the module doc)."""
    return {k: v for k, v in record.items() if k not in FREE_TEXT}


def _decision_path(root: Path, digest: object) -> Path | None:
    """The decision file of ``digest``; None for a value that is not a SHA-256 (a forged entry
    must not name a path of its own)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return None
    return Path(root) / DECISION_FILES / f"{digest}.json"


def _write_decision_file(
    root: Path, record: Mapping[str, Any], digest: str, signature: Signature
) -> Path:
    from nbmlops._core.atomic import write_bytes_atomic

    path = Path(root) / DECISION_FILES / f"{digest}.json"  # digest: record_digest()'s hex
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"record": dict(record), "record_digest": digest, "signature": signature.to_dict()}
    text = json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"), mode=0o444)
    return path


def read_decision(root: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    """The full signed record of a ``review_signed`` entry's ``data``, meaning and comment included.

    Entries written before decision files existed hold it inline. When the decision file is
    missing or does not match the ledger, the meaning and comment say so (``nbmlops audit
    verify`` names the problem).

    Examples
    --------
    >>> read_decision(root, entry.data)["meaning"]  # doctest: +SKIP
    'I approve this model for the adherence outreach pilot'
    """
    record = dict(data.get("record", {}))
    if "decision_file" not in data:
        return record
    full, problem = _decision_file(root, data)
    if full is None:
        note = f"[not available: {problem}]"
        return {**record, "meaning": note, "comment": note}
    return full


def _decision_file(root: Path, data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The full record from the entry's decision file, or None and why not."""
    path = _decision_path(root, data.get("record_digest"))
    if path is None:
        return None, "the entry's record digest is not a SHA-256"
    name = path.relative_to(root).as_posix()
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        record = body["record"]
    except FileNotFoundError:
        return None, f"its decision file {name} is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"its decision file {name} cannot be read ({type(exc).__name__})"
    problem = _file_record_problem(record, data, name)
    return (None, problem) if problem else (record, "")


def _file_record_problem(record: object, data: Mapping[str, Any], name: str) -> str:
    """How a decision file's record disagrees with its ledger entry (empty: it agrees)."""
    changed = f"its decision file {name} was changed (its digest is not the ledger's)"
    if not isinstance(record, dict):
        return changed
    try:
        if record_digest(record) != data.get("record_digest"):
            return changed
    except InvalidInputError as exc:
        return f"its decision file {name} cannot be checked ({exc})"
    if _public(record) != data.get("record"):
        return f"the signed record was changed (the ledger's copy disagrees with {name})"
    return ""


def verify_decisions(root: Path) -> list[tuple[int, str]]:
    """Check every signer change and signed decision in the ledger.

    Signer changes are replayed as :class:`nbmlops.approval.signer_ledger.SignerBook` does (a second
    ``signer_added`` for an id, or an unauthorised re-key, is a problem and is not applied).
    Each decision is checked against the signer as the ledger held them when it was signed: the
    algorithm and key bound to them, the printed name and title its manifestation shows, and
    that they were active; then its record digest, signature and archived evidence.

    Returns
    -------
    list of (ledger seq, problem)
        Empty when everything verifies; each problem names the signer.

    Examples
    --------
    >>> verify_decisions(root)
    []
    """
    from nbmlops.approval.signer_ledger import SignerBook

    book = SignerBook()
    problems: list[tuple[int, str]] = []
    for entry in ledger.read_entries(root):
        book.apply(entry)
        if entry.event != EVENT:
            continue
        problems.extend((entry.seq, f"decision signed by {_who(entry.data)}: {p}")
                        for p in _decision_problems(root, entry.data, book))  # fmt: skip
    problems.extend(book.all_problems)
    return sorted(problems, key=lambda problem: problem[0])


def _who(data: Mapping[str, Any]) -> str:
    return str(data.get("record", {}).get("signer", {}).get("id", "?"))


def _decision_problems(root: Path, data: Mapping[str, Any], book: SignerBook) -> list[str]:
    record = data.get("record", {})
    problems = []
    if "decision_file" in data:  # the full record is in its file; the ledger holds the rest
        full, problem = _decision_file(root, data)
        if full is None:
            problems.append(problem)
    else:
        try:
            if record_digest(record) != data.get("record_digest"):
                return ["the signed record was changed"]
        except InvalidInputError as exc:
            return [f"the signed record cannot be checked ({exc})"]
    if record.get("evidence_digest") != data.get("evidence", {}).get("digest"):
        problems.append("the evidence list was changed")
    try:
        signature = Signature(**data.get("signature", {}))
    except TypeError:
        return [*problems, "the signature is malformed"]
    signer_problems = _signer_problems(record, signature, book)
    problems += signer_problems
    if not signer_problems and not check_signature(
        signature, str(data["record_digest"]), _bound_key(record, book)
    ):
        problems.append("the signature does not verify")
    return problems + check_evidence(root, data.get("evidence", {}))


def _bound_key(record: Mapping[str, Any], book: SignerBook) -> str:
    bound = book.signers.get(_who({"record": record}))
    return bound.public_key if bound else ""


def _signer_problems(
    record: Mapping[str, Any], signature: Signature, book: SignerBook
) -> list[str]:
    """How the decision disagrees with what the ledger recorded for its signer at that point."""
    shown = record.get("signer", {})
    bound = book.signers.get(str(shown.get("id", "")))
    if bound is None:
        # a signer of an external identity provider: no key of theirs is in the ledger, so the
        # decision can only be bound by its digest (and the chain); never for the local registry
        if record.get("authenticator") == "local" or signature.algorithm != "sha256":
            return [f"the ledger records no such signer (signed with {signature.algorithm})"]
        return []
    problems = []
    if (signature.algorithm, signature.key_id) != (bound.algorithm, bound.key_id):
        problems.append(
            f"signed with {signature.algorithm} key '{signature.key_id}', but the ledger binds "
            f"this signer to {bound.algorithm} key '{bound.key_id}' (seq {bound.seq})"
        )
    if (shown.get("printed_name"), shown.get("title", "")) != (bound.printed_name, bound.title):
        problems.append(
            f"the manifestation names '{shown.get('printed_name')}, {shown.get('title', '')}' "
            f"but the ledger recorded '{bound.printed_name}, {bound.title}' (seq {bound.seq})"
        )
    if not bound.active:
        problems.append("the signer was deactivated before this decision")
    return problems
