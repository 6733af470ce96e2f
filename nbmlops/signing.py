"""Electronic-signature authentication for review decisions (21 CFR 11.100, 11.200, 11.300).

A review decision is signed by a *signer*: someone who proves who they are with an id and a
password at the moment of signing. Who may sign, and how they prove it, is pluggable - a site
registers an :class:`Authenticator` for its identity provider; the embedded default,
:class:`LocalSignerRegistry`, keeps signers in ``<project>/.nbmlops/signers.json``::

    from pathlib import Path
    from nbmlops.signing import LocalSignerRegistry, get_authenticator

    LocalSignerRegistry(Path(".")).add("jdoe", "Jane Doe", "correct horse battery", title="QA")
    signer = get_authenticator("local", Path(".")).verify("jdoe", "correct horse battery")

Passwords are never stored or logged: the file holds a scrypt record per signer (salt, cost
parameters and hash, so the cost can be raised later without breaking old records). Every signer
added or deactivated, and every refused verification, is appended to the project's ledger.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock

from nbmlops import ledger
from nbmlops.atomic import write_bytes_atomic
from nbmlops.errors import SignatureError
from nbmlops.records import utc_now

__all__ = [
    "Authenticator",
    "LocalSignerRegistry",
    "Signature",
    "Signer",
    "check_signature",
    "get_authenticator",
    "register_authenticator",
]

SIGNERS_PATH = Path(".nbmlops") / "signers.json"
MIN_PASSWORD_LENGTH = 12
SIGNER_ID = re.compile(r"[a-z][a-z0-9._-]{1,31}")
# scrypt cost recommended for interactive logins (RFC 7914 section 2); ~50 ms per hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
_BAD_CREDENTIALS = "unknown signer or wrong password"


@dataclass(frozen=True, kw_only=True)
class Signature:
    """How a record was signed: ``algorithm`` (``ed25519``, or ``sha256`` for a digest bound only
    by the ledger's chain), the signing key's id and the signature (hex)."""

    algorithm: str
    key_id: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "key_id": self.key_id, "value": self.value}


@dataclass(frozen=True, kw_only=True)
class Signer:
    """A person whose identity was just verified; what a signed record names (11.50(a))."""

    id: str
    printed_name: str
    title: str = ""


class Authenticator(ABC):
    """Base of the ways a signer proves who they are; one subclass per identity provider.

    Subclasses set ``name`` and implement :meth:`authenticate`. Callers use :meth:`verify`, which
    records every refusal in the project's ledger (11.300(d)) so no provider can skip it.
    """

    name: ClassVar[str] = ""

    def __init__(self, project_root: Path) -> None:
        self.root = Path(project_root)

    @abstractmethod
    def authenticate(self, signer_id: str, password: str) -> Signer:
        """Check the credentials; return the signer, or raise :class:`SignatureError`."""

    def verify(self, signer_id: str, password: str) -> Signer:
        """Verify a signer's id and password at the moment of signing.

        Parameters
        ----------
        signer_id : str
            The signer's id, e.g. ``"jdoe"``.
        password : str
            Their password; never stored or logged.

        Returns
        -------
        Signer
            Who signed, to be named in the signed record.

        Raises
        ------
        SignatureError
            The credentials were refused; a ``signature_refused`` ledger entry records it.

        Examples
        --------
        >>> get_authenticator("local", root).verify("jdoe", "correct horse battery")
        Signer(id='jdoe', printed_name='Jane Doe', title='QA')
        """
        try:
            return self.authenticate(signer_id, password)
        except SignatureError as refused:
            data = {"signer": _loggable_id(signer_id), "reason": refused.reason}
            ledger.append(self.root, "signature_refused", data={**data, "via": self.name})
            raise

    def sign(self, signer_id: str, password: str, digest: str) -> tuple[Signer, Signature]:
        """Verify the signer (as :meth:`verify`), then sign ``digest`` (a record's hex SHA-256)."""
        signer = self.verify(signer_id, password)
        return signer, self.sign_as(signer, password, digest)

    def sign_as(self, signer: Signer, password: str, digest: str) -> Signature:
        """Sign ``digest`` for a signer :meth:`verify` has just accepted with ``password``.

        The base implementation binds the record to the signer through the digest alone, which
        the hash-chained ledger then protects (``algorithm="sha256"``); providers that hold a
        key per signer override it to add a cryptographic signature (the local registry does).
        """
        return Signature(algorithm="sha256", key_id="", value="")


_FACTORIES: dict[str, Callable[[Path], Authenticator]] = {}


def register_authenticator(name: str, factory: Callable[[Path], Authenticator]) -> None:
    """Make an identity provider available as ``name``; a later call with that name replaces it.

    Examples
    --------
    >>> register_authenticator("ldap", lambda root: LdapAuthenticator(root, server="ldap.corp"))
    """
    _FACTORIES[name] = factory


def get_authenticator(name: str, project_root: Path) -> Authenticator:
    """The authenticator registered as ``name`` (``"local"`` is built in) for a project.

    Raises
    ------
    SignatureError
        No authenticator has that name (``signer`` is empty).

    Examples
    --------
    >>> get_authenticator("local", root).name
    'local'
    """
    if name not in _FACTORIES:
        known = ", ".join(sorted(_FACTORIES))
        reason = f"no authenticator named '{name}' is registered (registered: {known})"
        raise SignatureError(signer="", reason=reason)
    return _FACTORIES[name](Path(project_root))


class LocalSignerRegistry(Authenticator):
    """Signers kept in ``<project>/.nbmlops/signers.json`` (mode 0600), passwords as scrypt hashes.

    Examples
    --------
    >>> signers = LocalSignerRegistry(root)
    >>> signers.add("jdoe", "Jane Doe", "correct horse battery", title="QA reviewer")
    Signer(id='jdoe', printed_name='Jane Doe', title='QA reviewer')
    >>> signers.verify("jdoe", "correct horse battery").printed_name
    'Jane Doe'
    """

    name = "local"

    def __init__(self, project_root: Path) -> None:
        super().__init__(project_root)
        self.path = self.root / SIGNERS_PATH

    def add(self, signer_id: str, printed_name: str, password: str, *, title: str = "") -> Signer:
        """Register a new, active signer.

        Raises
        ------
        SignatureError
            The id is malformed or taken, the printed name is empty, or the password is shorter
            than ``MIN_PASSWORD_LENGTH``; nothing is written.
        """
        if not SIGNER_ID.fullmatch(signer_id):
            reason = "ids are 2-32 characters: a lowercase letter, then a-z, 0-9, '.', '_', '-'"
            raise SignatureError(signer=_loggable_id(signer_id), reason=reason)
        if not printed_name.strip():
            raise SignatureError(signer=signer_id, reason="the printed name is empty")
        if len(password) < MIN_PASSWORD_LENGTH:
            reason = f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
            raise SignatureError(signer=signer_id, reason=reason)
        signer = Signer(id=signer_id, printed_name=printed_name.strip(), title=title.strip())
        public_key, private_pem = _new_keypair(password)
        with self._locked():
            signers = self._load()
            if signer_id in signers:
                raise SignatureError(signer=signer_id, reason="a signer with this id exists")
            signers[signer_id] = {
                "id": signer.id, "printed_name": signer.printed_name, "title": signer.title,
                "created": utc_now(), "active": True, "password_hash": _hash_password(password),
                "public_key": public_key, "private_key": private_pem,
            }  # fmt: skip
            self._save(signers)
        # The public key goes into the ledger: signatures are checked against what the chain
        # holds, not against a registry file that an administrator can rewrite.
        data = {
            "signer": signer.id, "printed_name": signer.printed_name, "title": signer.title,
            "public_key": public_key, "key_id": _key_id(public_key),
        }  # fmt: skip
        ledger.append(self.root, "signer_added", data=data)
        return signer

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
                raise SignatureError(signer=_loggable_id(signer_id), reason="no such signer")
            if not record["active"]:
                raise SignatureError(signer=signer_id, reason="the signer is already deactivated")
            record.update(active=False, deactivated=utc_now())
            self._save(signers)
        ledger.append(self.root, "signer_deactivated", data={"signer": signer_id, "reason": reason})

    def list(self, *, include_inactive: bool = False) -> _Signers:
        """The signers, by id; deactivated ones only with ``include_inactive``."""
        return [
            _signer(record)
            for _, record in sorted(self._load().items())
            if record["active"] or include_inactive
        ]

    def authenticate(self, signer_id: str, password: str) -> Signer:
        """Check a password against the stored scrypt record, in constant time."""
        record = self._load().get(signer_id)
        # An unknown id still costs one hash, so timing does not tell which ids exist.
        stored = record["password_hash"] if record else _dummy_hash()
        matches = _check_password(password, stored)
        if record is None or not matches:
            raise SignatureError(signer=_loggable_id(signer_id), reason=_BAD_CREDENTIALS)
        if not record["active"]:
            raise SignatureError(signer=signer_id, reason="the signer is deactivated")
        return _signer(record)

    def sign_as(self, signer: Signer, password: str, digest: str) -> Signature:
        """Sign ``digest`` with the signer's Ed25519 key, which only their password decrypts.

        The private key is stored encrypted with the signer's password, so nobody else - not an
        administrator who can edit the registry or the ledger - can produce their signature.
        """
        record = self._load()[signer.id]
        if "private_key" not in record:
            reason = "this signer has no signing key (added by an older nbmlops); add them again"
            raise SignatureError(signer=signer.id, reason=reason)
        value = _ed25519_sign(record["private_key"], password, digest)
        return Signature(algorithm="ed25519", key_id=_key_id(record["public_key"]), value=value)

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
        text = json.dumps({"version": 1, "signers": signers}, indent=2, sort_keys=True) + "\n"
        write_bytes_atomic(self.path, text.encode("utf-8"), mode=0o600)


_Signers = list[Signer]  # a method named `list` hides the builtin inside the class body
register_authenticator(LocalSignerRegistry.name, LocalSignerRegistry)


def _signer(record: dict[str, Any]) -> Signer:
    return Signer(id=record["id"], printed_name=record["printed_name"], title=record["title"])


def _hash_password(
    password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN)
    return {"algorithm": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(), "hash": digest.hex()}


def _check_password(password: str, stored: dict[str, Any]) -> bool:
    expected = bytes.fromhex(stored["hash"])
    n, r, p = stored["n"], stored["r"], stored["p"]
    actual = _scrypt(password, bytes.fromhex(stored["salt"]), n=n, r=r, p=p, dklen=len(expected))
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL refuses above 32 MiB by default; allow what the stored parameters need.
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )


def _loggable_id(signer_id: str) -> str:
    # People type passwords into the id field; only a well-formed id goes into the ledger.
    return signer_id if SIGNER_ID.fullmatch(signer_id) else "<malformed id>"


@functools.cache
def _dummy_hash() -> dict[str, Any]:
    return _hash_password(secrets.token_hex(16))


def check_signature(signature: Signature, digest: str, public_key: str) -> bool:
    """Whether ``signature`` signs ``digest``; ``public_key`` is the one the ledger recorded when
    the signer was added (not used for digest-only ``sha256`` signatures)."""
    if signature.algorithm == "sha256":
        return not signature.value
    if signature.algorithm == "ed25519":
        return _ed25519_ok(public_key, signature.value, digest)
    return False


def _new_keypair(password: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair: the raw public key (hex) and the private key as PKCS#8 PEM
    encrypted with the password."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )
    return public.hex(), private.decode("ascii")


def _key_id(public_key: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]


def _ed25519_sign(private_pem: str, password: str, digest: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password.encode("utf-8"))
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(signer="", reason="the stored signing key is not an Ed25519 key")
    return key.sign(bytes.fromhex(digest)).hex()


def _ed25519_ok(public_key: str, signature: str, digest: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), bytes.fromhex(digest))
    except (InvalidSignature, ValueError):
        return False
    return True
