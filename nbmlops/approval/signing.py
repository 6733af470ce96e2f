"""Electronic-signature authentication for review decisions (21 CFR 11.100, 11.200, 11.300).

A review decision is signed by a *signer*: someone who proves who they are with an id and a
password at the moment of signing. Who may sign, and how they prove it, is pluggable - a site
registers an :class:`Authenticator` for its identity provider (see
:mod:`nbmlops.approval.authenticators`);
the embedded default, :class:`LocalSignerRegistry`, keeps signers' secrets in
``<project>/.nbmlops/signers.json`` and their public record in the ledger::

    from pathlib import Path
    from nbmlops.approval.signing import LocalSignerRegistry, get_authenticator

    signers = LocalSignerRegistry(Path("."))
    signers.add("jdoe", "Jane Doe", "correct horse battery", title="QA")  # first: administrator
    signers.add("asmith", "Al Smith", "another long password", by="jdoe",
                by_password="correct horse battery")
    signer = get_authenticator("local", Path(".")).verify("jdoe", "correct horse battery")

Passwords are never stored or logged: the file holds a scrypt record per signer (salt, cost
parameters and hash, so the cost can be raised later without breaking old records) and the
Ed25519 private key encrypted under a scrypt-derived key (:mod:`nbmlops.approval.signing_keys`). The
ledger holds each signer's printed name, title and public key
(:mod:`nbmlops.approval.signer_ledger`);
signing refuses when the file disagrees with it. Every signer change and every refused
verification is appended to the ledger.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from nbmlops._core.atomic import write_bytes_atomic
from nbmlops._core.ids import utc_now
from nbmlops._core.paths import SIGNERS
from nbmlops.approval.authenticators import (
    Authenticator,
    Signature,
    Signer,
    check_signature,
    get_authenticator,
    register_authenticator,
)
from nbmlops.approval.signer_ledger import (
    SignerBook,
    SignerRecord,
    add_statement,
    endorse_statement,
    grant_statement,
    rekey_statement,
    statement_digest,
    unlock_statement,
)
from nbmlops.approval.signing_attempts import loggable_id
from nbmlops.approval.signing_keys import (
    decrypt_private_key,
    encrypt_private_key,
    key_id,
    needs_upgrade,
    new_keypair,
    public_key_of,
    scrypt,
    sign_digest,
)
from nbmlops.errors import SignatureError
from nbmlops.records import ledger

__all__ = [
    "Authenticator",
    "LocalSignerRegistry",
    "Signature",
    "Signer",
    "check_signature",
    "get_authenticator",
    "register_authenticator",
]

SIGNERS_PATH = SIGNERS
MIN_PASSWORD_LENGTH = 12
SIGNER_ID = re.compile(r"[a-z][a-z0-9._-]{1,31}")
# scrypt cost recommended for interactive logins (RFC 7914 section 2); ~50 ms per hash. The
# private key's KDF (nbmlops.approval.signing_keys) never costs less.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
_BAD_CREDENTIALS = "unknown signer or wrong password"
_SHORT_PASSWORD = (
    f"the password is too short: a signer's password needs at least {MIN_PASSWORD_LENGTH} "
    "characters (a phrase of a few words is easy to remember)"
)


def _not_added(signer_id: str, reason: str) -> SignatureError:
    """Adding ``signer_id`` refused (not a signature): nothing was written."""
    return SignatureError(
        signer=signer_id,
        reason=reason,
        refused=f"signer '{signer_id}' not added",
        fix="Nothing was written; correct it and run `nbmlops signer add` again.",
    )


class LocalSignerRegistry(Authenticator):
    """Signers kept in ``<project>/.nbmlops/signers.json`` (mode 0600), passwords as scrypt hashes.

    The ledger is the authority on every signer's printed name, title and key (see
    :mod:`nbmlops.approval.signer_ledger`); the file only holds the secrets. The project's first
    signer is
    its first administrator; adding another signer, granting the administrator role, re-keying
    someone else and lifting a lock are each signed by an administrator.

    Examples
    --------
    >>> signers = LocalSignerRegistry(root)
    >>> signers.add("jdoe", "Jane Doe", "correct horse battery", title="QA reviewer")
    Signer(id='jdoe', printed_name='Jane Doe', title='QA reviewer')
    >>> signers.add("asmith", "Al Smith", "another long one", by="jdoe",
    ...             by_password="correct horse battery")
    Signer(id='asmith', printed_name='Al Smith', title='')
    >>> signers.verify("jdoe", "correct horse battery").printed_name
    'Jane Doe'
    """

    name = "local"

    def __init__(self, project_root: Path) -> None:
        super().__init__(project_root)
        self.path = self.root / SIGNERS_PATH

    def add(
        self,
        signer_id: str,
        printed_name: str,
        password: str,
        *,
        title: str = "",
        by: str | None = None,
        by_password: str | None = None,
    ) -> Signer:
        """Register a new, active signer; the project's first signer becomes its administrator.

        Parameters
        ----------
        signer_id, printed_name, password, title : str
            The new signer; name and title are what their signed records show.
        by, by_password : str, optional
            An administrator's id and password; required for every signer but the first.

        Raises
        ------
        SignatureError
            The id is malformed or taken, the printed name is empty, the password is shorter
            than ``MIN_PASSWORD_LENGTH``, or no administrator authorised it; nothing is written.
        """
        if not SIGNER_ID.fullmatch(signer_id):
            reason = (
                "a signer id has 2 to 32 characters: a lowercase letter, then lowercase letters, "
                "digits, '.', '_' or '-', e.g. jdoe"
            )
            raise _not_added(loggable_id(self.root, signer_id, known=False), reason)
        if not printed_name.strip():
            raise _not_added(signer_id, "the printed name (--name) is empty")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise _not_added(signer_id, _SHORT_PASSWORD)
        signer = Signer(id=signer_id, printed_name=printed_name.strip(), title=title.strip())
        book = SignerBook.read(self.root)
        if signer_id in book.signers or signer_id in self._load():
            raise _not_added(signer_id, "a signer with this id exists")
        public_key, private = new_keypair()
        data: dict[str, Any] = {
            "signer": signer.id, "printed_name": signer.printed_name, "title": signer.title,
            "algorithm": "ed25519", "public_key": public_key, "key_id": key_id(public_key),
        }  # fmt: skip
        if book.signers:
            statement = add_statement(signer.id, signer.printed_name, signer.title, public_key)
            data["authorisation"] = self._authorise(by, by_password, "signer_added", statement)
        else:
            data["administrator"] = True  # the first signer; see nbmlops.approval.signer_ledger
        with self._locked():
            now = SignerBook.read(self.root)
            if signer_id in now.signers or bool(now.signers) != bool(book.signers):
                reason = "the signers changed while this one was being added; try again"
                raise SignatureError(signer=signer_id, reason=reason)
            signers = self._load()
            if signer_id in signers:
                raise _not_added(signer_id, "a signer with this id exists")
            signers[signer_id] = {
                "id": signer.id, "printed_name": signer.printed_name, "title": signer.title,
                "created": utc_now(), "active": True, "password_hash": _hash_password(password),
                "public_key": public_key,
                "private_key": encrypt_private_key(
                    private, password, signer_id=signer.id, public_key=public_key
                ),
            }  # fmt: skip
            self._save(signers)
            # The public key goes into the ledger: signatures are checked against what the chain
            # holds, not against a registry file that anyone with write access can rewrite.
            # Appended under the registry's lock, so two "first" signers cannot both be admins.
            ledger.append(self.root, "signer_added", data=data)
        return signer

    def rekey(self, signer_id: str, password: str, *, by: str, by_password: str) -> Signer:
        """Give a signer a new key pair and password, as a signed ``signer_rekeyed`` entry.

        Parameters
        ----------
        signer_id : str
            Whose key changes.
        password : str
            Their new password (it encrypts the new private key).
        by, by_password : str
            The signer themself with their current password (the old key signs the new one), or
            an administrator (e.g. when the old password is lost).

        Raises
        ------
        SignatureError
            Unknown or inactive signer, a short password, or the authorisation was refused.
        """
        if len(password) < MIN_PASSWORD_LENGTH:
            raise SignatureError(
                signer=signer_id,
                reason=_SHORT_PASSWORD,
                refused=f"signer '{signer_id}' not re-keyed",
                fix="Nothing was changed; run `nbmlops signer rekey` again with a longer one.",
            )
        current = self._bound(signer_id)
        public_key, private = new_keypair()
        statement = rekey_statement(signer_id, public_key, current.key_id)
        admin = by != signer_id
        authorisation = self._authorise(by, by_password, "signer_rekeyed", statement, admin=admin)
        with self._locked():
            signers = self._load()
            signers[signer_id].update(
                password_hash=_hash_password(password),
                public_key=public_key,
                private_key=encrypt_private_key(
                    private, password, signer_id=signer_id, public_key=public_key
                ),
                rekeyed=utc_now(),
            )
            self._save(signers)
        data = {
            "signer": signer_id, "algorithm": "ed25519", "public_key": public_key,
            "key_id": key_id(public_key), "previous_key_id": current.key_id,
            "authorisation": authorisation,
        }  # fmt: skip
        ledger.append(self.root, "signer_rekeyed", data=data)
        return Signer(id=signer_id, printed_name=current.printed_name, title=current.title)

    def grant_admin(self, signer_id: str, *, by: str, by_password: str) -> None:
        """Make a signer an administrator, signed by an existing administrator.

        Raises
        ------
        SignatureError
            Unknown signer, already an administrator, or the authorisation was refused.
        """
        current = self._bound(signer_id)
        if current.admin:
            raise SignatureError(signer=signer_id, reason="the signer is an administrator already")
        statement = grant_statement(signer_id, current.key_id)
        authorisation = self._authorise(by, by_password, "signer_admin_granted", statement)
        data = {"signer": signer_id, "authorisation": authorisation}
        ledger.append(self.root, "signer_admin_granted", data=data)

    def endorse(self, signer_id: str, *, by: str, by_password: str) -> None:
        """Confirm, as an administrator, a signer an older nbmlops added without authorisation.

        Raises
        ------
        SignatureError
            The signer needs no endorsement, or the authorisation was refused.
        """
        book = SignerBook.read(self.root)
        if signer_id not in book.unendorsed:
            raise SignatureError(signer=signer_id, reason="this signer needs no endorsement")
        statement = endorse_statement(signer_id, book.signers[signer_id].key_id)
        authorisation = self._authorise(by, by_password, "signer_endorsed", statement)
        data = {"signer": signer_id, "authorisation": authorisation}
        ledger.append(self.root, "signer_endorsed", data=data)

    def unlock(self, signer_id: str, *, by: str, by_password: str) -> None:
        """Lift a signer's lockout before it expires, signed by an administrator.

        Raises
        ------
        SignatureError
            The signer is not locked, or the authorisation was refused.
        """
        lock = SignerBook.read(self.root).locked_until(signer_id)
        if lock is None or utc_now() >= lock[1]:
            raise SignatureError(signer=signer_id, reason="the signer is not locked")
        statement = unlock_statement(signer_id, lock[0])
        authorisation = self._authorise(by, by_password, "signer_unlocked", statement)
        data = {"signer": signer_id, "by": by, "authorisation": authorisation}
        ledger.append(self.root, "signer_unlocked", data=data)

    def deactivate(self, signer_id: str, *, reason: str = "") -> None:
        """Stop a signer from signing; the record is kept, as signed records still name it.

        Raises
        ------
        SignatureError
            No such signer, or it is already deactivated.
        """
        with self._locked():
            signers = self._load()
            record = signers.get(signer_id)
            if record is None:
                who = loggable_id(self.root, signer_id, known=False)
                raise SignatureError(signer=who, reason="no such signer")
            if not record["active"]:
                raise SignatureError(signer=signer_id, reason="the signer is already deactivated")
            # the reason is free text: it passes the PHI policy and stays here, where it can be
            # corrected; the append-only ledger gets a keyed digest of it
            from nbmlops.privacy.identifiers import ledger_digest
            from nbmlops.privacy.phi import check_free_text

            try:
                reason = check_free_text(
                    self.root, reason.strip(), field="reason", subject=f"deactivating {signer_id}"
                )
            except ValueError as exc:  # an unknown phi_policy setting
                raise SignatureError(signer=signer_id, reason=str(exc)) from None
            record.update(active=False, deactivated=utc_now(), deactivation_reason=reason)
            self._save(signers)
        data = {"signer": signer_id, "reason": ledger_digest(self.root, reason)}
        ledger.append(self.root, "signer_deactivated", data=data)

    def list(self, *, include_inactive: bool = False) -> _Signers:
        """The signers, by id, with the names the ledger recorded; deactivated ones only with
        ``include_inactive``."""
        return [
            Signer(id=bound.id, printed_name=bound.printed_name, title=bound.title)
            for _, bound in sorted(SignerBook.read(self.root).signers.items())
            if bound.active or include_inactive
        ]

    def authenticate(self, signer_id: str, password: str) -> Signer:
        """Check a password against the stored scrypt record, in constant time, and the record
        against the ledger: a signer is who the ledger says, with the key it bound."""
        record = self._load().get(signer_id)
        # An unknown id still costs one hash, so timing does not tell which ids exist.
        stored = record["password_hash"] if record else _dummy_hash()
        matches = _check_password(password, stored)
        if record is None or not matches:
            raise SignatureError(signer=signer_id, reason=_BAD_CREDENTIALS)
        if not record["active"]:
            raise SignatureError(signer=signer_id, reason="the signer is deactivated")
        bound = self._bound(signer_id)
        differ = [
            name
            for name, ours in (
                ("printed_name", bound.printed_name), ("title", bound.title),
                ("public_key", bound.public_key),
            )
            if record.get(name) != ours
        ]  # fmt: skip
        if differ:
            reason = (
                f"{self.path} disagrees with the ledger (seq {bound.seq}) on {', '.join(differ)}; "
                "the ledger's record stands. Restore signers.json from a backup, or re-key the "
                "signer (`nbmlops signer rekey`)"
            )
            raise SignatureError(signer=signer_id, reason=reason)
        return Signer(id=bound.id, printed_name=bound.printed_name, title=bound.title)

    def sign_as(self, signer: Signer, password: str, digest: str) -> Signature:
        """Sign ``digest`` with the signer's Ed25519 key, which only their password decrypts.

        The key is checked against the one the ledger binds to the signer before it signs; a
        key in an older, weaker format is re-encrypted in today's format after it opened.
        """
        bound = self._bound(signer.id)
        record = self._load()[signer.id]
        if "private_key" not in record or bound.algorithm != "ed25519":
            reason = "this signer has no signing key (added by an older nbmlops); re-key them"
            self._refused(signer.id, reason)
            raise SignatureError(signer=signer.id, reason=reason)
        stored = record["private_key"]
        try:
            private = decrypt_private_key(
                stored, password, signer_id=signer.id, public_key=record["public_key"]
            )
        except SignatureError as refused:
            self._refused(signer.id, refused.reason)
            raise
        if public_key_of(private) != bound.public_key:
            reason = (
                f"the signing key in {self.path} is not the key the ledger binds to this signer "
                f"(key {bound.key_id}, seq {bound.seq}); nothing was signed. Restore signers.json "
                "from a backup, or re-key the signer"
            )
            self._refused(signer.id, reason)
            raise SignatureError(signer=signer.id, reason=reason)
        if needs_upgrade(stored):
            self._upgrade_key(signer.id, stored, private, password)
        value = sign_digest(private, digest)
        return Signature(algorithm="ed25519", key_id=bound.key_id, value=value)

    def _bound(self, signer_id: str) -> SignerRecord:
        bound = SignerBook.read(self.root).signers.get(signer_id)
        if bound is None:
            reason = "the ledger has no such signer (signers.json and the ledger disagree)"
            raise SignatureError(
                signer=loggable_id(self.root, signer_id, known=False), reason=reason
            )
        if not bound.active:
            raise SignatureError(signer=signer_id, reason="the signer is deactivated")
        return bound

    def _authorise(
        self,
        by: str | None,
        by_password: str | None,
        event: str,
        statement: Mapping[str, Any],
        *,
        admin: bool = True,
    ) -> dict[str, str]:
        """``by``'s signature of the statement, after verifying them (and their role)."""
        if not by or by_password is None:
            reason = "an administrator must authorise this: give their id and password"
            raise SignatureError(signer="", reason=reason)
        signer = self.verify(by, by_password)
        if admin and not self._bound(by).admin:
            reason = "not an administrator (the first signer is; others by `signer grant-admin`)"
            raise SignatureError(signer=by, reason=reason)
        signature = self.sign_as(signer, by_password, statement_digest(event, statement))
        return {"by": by, **signature.to_dict()}

    def _upgrade_key(
        self, signer_id: str, stored: str | dict[str, Any], private: bytes, password: str
    ) -> None:
        with self._locked():
            signers = self._load()
            record = signers[signer_id]
            if record["private_key"] != stored:  # changed meanwhile: leave it alone
                return
            record["private_key"] = encrypt_private_key(
                private, password, signer_id=signer_id, public_key=record["public_key"]
            )
            self._save(signers)

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock", timeout=ledger.LOCK_TIMEOUT_S)

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            signers: dict[str, dict[str, Any]] = json.loads(self.path.read_text("utf-8"))["signers"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = f"{self.path} cannot be read ({exc}); restore it from a backup"
            raise SignatureError(signer="", reason=reason) from exc
        return signers

    def _save(self, signers: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": 2, "signers": signers}, indent=2, sort_keys=True) + "\n"
        write_bytes_atomic(self.path, text.encode("utf-8"), mode=0o600)


_Signers = list[Signer]  # a method named `list` hides the builtin inside the class body
register_authenticator(LocalSignerRegistry.name, LocalSignerRegistry)


def _hash_password(
    password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    digest = scrypt(password, salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN)
    return {"algorithm": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(), "hash": digest.hex()}


def _check_password(password: str, stored: dict[str, Any]) -> bool:
    expected = bytes.fromhex(stored["hash"])
    n, r, p = stored["n"], stored["r"], stored["p"]
    actual = scrypt(password, bytes.fromhex(stored["salt"]), n=n, r=r, p=p, dklen=len(expected))
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> dict[str, Any]:
    return _hash_password(secrets.token_hex(16))
