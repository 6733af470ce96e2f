"""Who may sign, with which key, and who is locked out - as the project's ledger recorded it.

The ledger, not ``signers.json``, is the authority on signers: :class:`SignerBook` replays its
signer events in order and holds, at every point, each signer's printed name, title, signature
algorithm and public key, whether they are active or an administrator, and their failed
attempts and lockout. Signing checks the registry file against the book before it signs;
:func:`nbmlops.approval.decision.verify_decisions` replays the book beside the decisions, so each
decision is checked against the key bound to its signer *when it was signed*.

Signer events (``data`` fields):

- ``signer_added`` (signer, printed_name, title, algorithm, public_key, key_id, authorisation):
  the project's first signer is its first administrator and needs no authorisation; every later
  one is authorised by an administrator's signature. An id that exists cannot be added again.
- ``signer_rekeyed`` (signer, algorithm, public_key, key_id, previous_key_id, authorisation):
  signed with the signer's previous key, or by an administrator.
- ``signer_admin_granted`` (signer, authorisation): by an administrator.
- ``signer_endorsed`` (signer, authorisation): an administrator confirms a signer that an older
  nbmlops added without authorisation (such an addition is usable but reported until then).
- ``signer_deactivated`` (signer, reason): ``reason`` is a keyed digest
  (:func:`nbmlops.privacy.identifiers.ledger_digest`) of the text kept in ``signers.json``; ledgers
  written by nbmlops before 0.2 hold the text itself.
- ``signature_refused`` (signer, reason, via, while_locked), ``signer_locked`` (signer,
  failures, until), ``signer_unlocked`` (signer, by: ``"expiry"`` or an administrator,
  authorisation), ``signer_attempts_reset`` (signer, failures): the lockout of 11.300(d).

An ``authorisation`` is ``{"by", "algorithm", "key_id", "value"}``: the authoriser's Ed25519
signature of :func:`statement_digest` of what they authorise. An event that fails its checks
is reported as a problem and not applied, so nothing after it can lean on it.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from nbmlops._core.digests import FORMAT, canonical_digest, legacy_json_v1
from nbmlops.approval.signing_keys import check_signature_value, key_id
from nbmlops.records import ledger
from nbmlops.records.ledger import LedgerEntry

__all__ = ["SignerBook", "SignerRecord", "statement_digest"]

ADMIN_EVENTS = ("signer_added", "signer_rekeyed", "signer_admin_granted", "signer_unlocked")


@dataclass(frozen=True, kw_only=True)
class SignerRecord:
    """A signer as the ledger holds them; ``seq`` is the entry that bound the current key."""

    id: str
    printed_name: str
    title: str
    algorithm: str
    public_key: str
    key_id: str
    seq: int
    active: bool = True
    admin: bool = False


def statement_digest(event: str, fields: Mapping[str, Any], *, v: int = FORMAT) -> str:
    """The hex SHA-256 of what an authorisation signs: the event name and its fields.

    ``v`` is the format of the ledger entry the authorisation is in: RFC 8785 canonical JSON
    for format 2, the sorted ASCII JSON of nbmlops 0.1 for format 1.
    """
    statement = {"event": event, **fields}
    if v == 1:
        return hashlib.sha256(legacy_json_v1(statement, ascii_only=True)).hexdigest()
    return canonical_digest(statement)


def rekey_statement(signer: str, public_key: str, previous_key_id: str) -> dict[str, str]:
    return {"signer": signer, "public_key": public_key, "previous_key_id": previous_key_id}


def add_statement(signer: str, printed_name: str, title: str, public_key: str) -> dict[str, str]:
    return {
        "signer": signer,
        "printed_name": printed_name,
        "title": title,
        "public_key": public_key,
    }


def grant_statement(signer: str, signer_key_id: str) -> dict[str, str]:
    return {"signer": signer, "key_id": signer_key_id}


def endorse_statement(signer: str, signer_key_id: str) -> dict[str, str]:
    return {"signer": signer, "key_id": signer_key_id}


def unlock_statement(signer: str, lock_seq: int) -> dict[str, Any]:
    return {"signer": signer, "lock_seq": lock_seq}


@dataclass
class SignerBook:
    """The signer state replayed from a ledger; :meth:`apply` one entry at a time, in order."""

    signers: dict[str, SignerRecord] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    locks: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (lock seq, until)
    problems: list[tuple[int, str]] = field(default_factory=list)
    unendorsed: dict[str, int] = field(default_factory=dict)  # id -> seq of its signer_added

    @property
    def all_problems(self) -> list[tuple[int, str]]:
        """``problems``, and every signer an older nbmlops added that no administrator endorsed."""
        pending = [
            (seq, f"signer {who}: added at ledger seq {seq} without an administrator's signature "
             f"(by nbmlops before 0.2, or forged); if this signer is genuine, an administrator "
             f"endorses them with `nbmlops signer endorse {who} --by ADMIN`")
            for who, seq in self.unendorsed.items()
        ]  # fmt: skip
        return sorted(self.problems + pending)

    @classmethod
    def read(cls, root: Path) -> SignerBook:
        """The book of a project's whole ledger (signer problems in ``problems``).

        One signing reads the book several times; while the ledger file is unchanged (same
        inode, size and modification time) the replay is reused, as a copy.
        """
        path = Path(root) / ledger.LEDGER_PATH
        try:
            st = path.stat()
            key: tuple[int, ...] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        cached = _READ_CACHE.get(path)
        if key is not None and cached is not None and cached[0] == key:
            return copy.deepcopy(cached[1])
        book = cls.of(ledger.read_entries(root))
        if key is not None:
            _READ_CACHE[path] = (key, copy.deepcopy(book))
        return book

    @classmethod
    def of(cls, entries: Iterable[LedgerEntry]) -> SignerBook:
        book = cls()
        for entry in entries:
            book.apply(entry)
        return book

    def locked_until(self, signer: str) -> tuple[int, str] | None:
        """The lock's ledger seq and its end (ISO UTC), while one is recorded for ``signer``."""
        return self.locks.get(signer)

    def apply(self, entry: LedgerEntry) -> None:
        """Update the state by one ledger entry; problems go to ``problems``."""
        data, seq = entry.data, entry.seq
        who = str(data.get("signer", ""))
        handler = getattr(self, f"_on_{entry.event}", None)
        if handler is None or not who:
            return
        problem: str | None = handler(entry, who)
        if problem:
            self.problems.append((seq, f"signer {who}: {problem}"))

    # -- events ------------------------------------------------------------------------------

    def _on_signer_added(self, entry: LedgerEntry, who: str) -> str | None:
        data = entry.data
        if who in self.signers:
            first = self.signers[who].seq
            return (
                f"added again at ledger seq {entry.seq} (first added at seq {first}) without a "
                "signed re-key; the key bound earlier stays the signer's key"
            )
        public_key = str(data.get("public_key", ""))
        first_signer = not self.signers
        legacy = "algorithm" not in data and "authorisation" not in data
        if not first_signer and legacy:
            # written by nbmlops before signers were authorised: usable, but reported until an
            # administrator endorses it (a forger can write this form too, and verify says so)
            self.unendorsed[who] = entry.seq
        elif not first_signer:
            statement = add_statement(
                who, str(data.get("printed_name", "")), str(data.get("title", "")), public_key
            )
            if (why := self._authorised(entry, "signer_added", statement, admin=True)) is not None:
                return (
                    f"added at ledger seq {entry.seq} without an administrator's signature ({why})"
                )
        self.signers[who] = SignerRecord(
            id=who,
            printed_name=str(data.get("printed_name", "")),
            title=str(data.get("title", "")),
            algorithm=str(data.get("algorithm", "ed25519" if public_key else "")),
            public_key=public_key,
            key_id=key_id(public_key) if public_key else "",
            seq=entry.seq,
            admin=first_signer,  # the project's first signer administers the others
        )
        return None

    def _on_signer_rekeyed(self, entry: LedgerEntry, who: str) -> str | None:
        current = self.signers.get(who)
        if current is None:
            return f"re-keyed at ledger seq {entry.seq}, but was never added"
        public_key = str(entry.data.get("public_key", ""))
        statement = rekey_statement(who, public_key, current.key_id)
        by = str(entry.data.get("authorisation", {}).get("by", ""))
        why = self._authorised(entry, "signer_rekeyed", statement, admin=by != who)
        if why is not None:
            return f"re-keyed at ledger seq {entry.seq} without authorisation ({why})"
        self.signers[who] = replace(
            current,
            algorithm=str(entry.data.get("algorithm", "ed25519")),
            public_key=public_key,
            key_id=key_id(public_key),
            seq=entry.seq,
        )
        self.failures.pop(who, None)
        self.locks.pop(who, None)
        return None

    def _on_signer_admin_granted(self, entry: LedgerEntry, who: str) -> str | None:
        current = self.signers.get(who)
        if current is None:
            return f"made administrator at ledger seq {entry.seq}, but was never added"
        statement = grant_statement(who, current.key_id)
        if (
            why := self._authorised(entry, "signer_admin_granted", statement, admin=True)
        ) is not None:
            return f"made administrator at ledger seq {entry.seq} without authorisation ({why})"
        self.signers[who] = replace(current, admin=True)
        return None

    def _on_signer_endorsed(self, entry: LedgerEntry, who: str) -> str | None:
        current = self.signers.get(who)
        if current is None or who not in self.unendorsed:
            return (
                f"endorsed at ledger seq {entry.seq}, but there is no unendorsed signer to endorse"
            )
        statement = endorse_statement(who, current.key_id)
        if (why := self._authorised(entry, "signer_endorsed", statement, admin=True)) is not None:
            return f"endorsed at ledger seq {entry.seq} without authorisation ({why})"
        del self.unendorsed[who]
        return None

    def _on_signer_deactivated(self, entry: LedgerEntry, who: str) -> str | None:
        if who in self.signers:
            self.signers[who] = replace(self.signers[who], active=False)
        return None

    def _on_signature_refused(self, entry: LedgerEntry, who: str) -> str | None:
        if not entry.data.get("while_locked"):
            self.failures[who] = self.failures.get(who, 0) + 1
        return None

    def _on_signer_locked(self, entry: LedgerEntry, who: str) -> str | None:
        self.locks[who] = (entry.seq, str(entry.data.get("until", "")))
        return None

    def _on_signer_attempts_reset(self, entry: LedgerEntry, who: str) -> str | None:
        self.failures.pop(who, None)
        return None

    def _on_signer_unlocked(self, entry: LedgerEntry, who: str) -> str | None:
        lock = self.locks.get(who)
        by = str(entry.data.get("by", ""))
        problem = None
        if lock is None:
            problem = None  # nothing to lift; harmless
        elif by == "expiry":
            if _parse(entry.ts) < _parse(lock[1]):
                problem = f"unlocked at ledger seq {entry.seq} before its lock expired ({lock[1]})"
        else:
            statement = unlock_statement(who, lock[0])
            if (
                why := self._authorised(entry, "signer_unlocked", statement, admin=True)
            ) is not None:
                problem = f"unlocked at ledger seq {entry.seq} without authorisation ({why})"
        if problem is None:
            self.locks.pop(who, None)
            self.failures.pop(who, None)
        return problem

    # -- authorisations -----------------------------------------------------------------------

    def _authorised(
        self, entry: LedgerEntry, event: str, statement: Mapping[str, Any], *, admin: bool
    ) -> str | None:
        """Why the entry's authorisation does not hold (None: it does)."""
        auth = entry.data.get("authorisation")
        if not isinstance(auth, Mapping):
            return "no authorisation recorded"
        by = str(auth.get("by", ""))
        authoriser = self.signers.get(by)
        if authoriser is None or not authoriser.active:
            return f"'{by}' is not an active signer"
        if admin and not authoriser.admin:
            return f"'{by}' is not an administrator"
        if auth.get("algorithm") != authoriser.algorithm or auth.get("key_id") != authoriser.key_id:
            return f"not signed with the key the ledger binds to '{by}'"
        digest = statement_digest(event, statement, v=entry.v)
        if not check_signature_value(authoriser.public_key, str(auth.get("value", "")), digest):
            return f"the signature of '{by}' does not verify"
        return None


_READ_CACHE: dict[Path, tuple[tuple[int, ...], SignerBook]] = {}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
