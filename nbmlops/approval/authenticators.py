"""The pluggable part of electronic signatures: who signed (:class:`Signer`), how a record was
signed (:class:`Signature`), and the base of identity providers (:class:`Authenticator`), with
their registry.

A site registers an :class:`Authenticator` for its identity provider; the embedded default is
:class:`nbmlops.approval.signing.LocalSignerRegistry`. Every provider's
:meth:`Authenticator.verify` applies
the same controls, so none can skip them: the lockout after repeated refusals (11.300(d), see
:mod:`nbmlops.approval.signing_attempts`), a ledger entry for every refusal with unknown ids
written only as
keyed digests, and a signer's printed name and title as the ledger recorded them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from nbmlops._core.ids import utc_now
from nbmlops.approval.signer_ledger import SignerBook
from nbmlops.approval.signing_attempts import attempt_lock, lockout_policy, loggable_id
from nbmlops.approval.signing_keys import check_signature_value
from nbmlops.errors import SignatureError
from nbmlops.records import ledger

__all__ = [
    "Authenticator",
    "Signature",
    "Signer",
    "check_signature",
    "get_authenticator",
    "register_authenticator",
]


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
    applies the lockout and records every refusal in the project's ledger (11.300(d)) so no
    provider can skip either.
    """

    name: ClassVar[str] = ""

    def __init__(self, project_root: Path) -> None:
        self.root = Path(project_root)

    @abstractmethod
    def authenticate(self, signer_id: str, password: str) -> Signer:
        """Check the credentials; return the signer, or raise :class:`SignatureError`."""

    def verify(self, signer_id: str, password: str) -> Signer:
        """Verify a signer's id and password at the moment of signing.

        A signer locked after too many refused attempts is refused without checking the
        password (see :mod:`nbmlops.approval.signing_attempts`); an id the ledger does not know is
        recorded only as a keyed digest, in case it was a password typed in the wrong field.

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
            The credentials were refused, or the signer is locked; a ``signature_refused`` ledger
            entry records it (and ``signer_locked`` when this refusal locks the signer).

        Examples
        --------
        >>> get_authenticator("local", root).verify("jdoe", "correct horse battery")
        Signer(id='jdoe', printed_name='Jane Doe', title='QA')
        """
        policy = lockout_policy(self.root)
        with attempt_lock(self.root):
            book = SignerBook.read(self.root)
            logged = loggable_id(self.root, signer_id, known=signer_id in book.signers)
            failures = self._lift_expired_lock(book, logged)
            try:
                signer = self.authenticate(signer_id, password)
                _check_against_ledger(signer, book)
            except SignatureError as refused:
                self._refused(logged, refused.reason)
                reason = refused.reason
                if failures + 1 >= policy.max_failed_attempts:
                    until = _after_minutes(policy.lockout_minutes)
                    data = {"signer": logged, "failures": failures + 1, "until": until}
                    ledger.append(self.root, "signer_locked", data=data)
                    reason += f"; after {failures + 1} refused attempts it is locked until {until}"
                raise SignatureError(signer=logged, reason=reason) from None
            if failures:
                data = {"signer": logged, "failures": failures}
                ledger.append(self.root, "signer_attempts_reset", data=data)
            return signer

    def _lift_expired_lock(self, book: SignerBook, logged: str) -> int:
        """The failures counted so far; refuses (unchecked) while a lock lasts, records its end."""
        lock = book.locked_until(logged)
        if lock is None:
            return book.failures.get(logged, 0)
        if utc_now() < lock[1]:
            reason = (
                f"locked until {lock[1]} after too many refused attempts (ledger seq {lock[0]}); "
                "wait, or ask an administrator to run `nbmlops signer unlock`"
            )
            data = {"signer": logged, "reason": reason, "via": self.name, "while_locked": True}
            ledger.append(self.root, "signature_refused", data=data)
            raise SignatureError(signer=logged, reason=reason)
        ledger.append(self.root, "signer_unlocked", data={"signer": logged, "by": "expiry"})
        return 0

    def _refused(self, logged: str, reason: str) -> None:
        data = {"signer": logged, "reason": reason, "via": self.name}
        ledger.append(self.root, "signature_refused", data=data)

    def sign_as(self, signer: Signer, password: str, digest: str) -> Signature:
        """Sign ``digest`` for a signer :meth:`verify` has just accepted with ``password``.

        The base implementation binds the record to the signer through the digest alone, which
        the hash-chained ledger then protects (``algorithm="sha256"``); providers that hold a
        key per signer override it to add a cryptographic signature (the local registry does).
        A signer the ledger binds to a key never signs this way.
        """
        bound = SignerBook.read(self.root).signers.get(signer.id)
        if bound is not None:
            reason = f"the ledger binds this signer to an {bound.algorithm} key; sign with it"
            self._refused(signer.id, reason)
            raise SignatureError(signer=signer.id, reason=reason)
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
    """The authenticator registered as ``name`` for a project. The built-in ``"local"`` provider
    is registered by :mod:`nbmlops.approval.signing`, which re-exports this function: call it
    from there.

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


def _check_against_ledger(signer: Signer, book: SignerBook) -> None:
    """Refuse a signer whose name or title differs from the ledger's record of them."""
    bound = book.signers.get(signer.id)
    if bound is None:
        return  # an external provider's signer; its decisions are digest-only
    if (signer.printed_name, signer.title) != (bound.printed_name, bound.title):
        reason = (
            f"the provider names this signer '{signer.printed_name}, {signer.title}' but the "
            f"ledger recorded '{bound.printed_name}, {bound.title}' (seq {bound.seq})"
        )
        raise SignatureError(signer=signer.id, reason=reason)
    if not bound.active:
        raise SignatureError(signer=signer.id, reason="the signer is deactivated")


def _after_minutes(minutes: float) -> str:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_signature(signature: Signature, digest: str, public_key: str) -> bool:
    """Whether ``signature`` signs ``digest`` under ``public_key``: the key the ledger bound to
    the signer. A digest-only ``sha256`` signature (an external provider's) has an empty value;
    which algorithm a signer may use is :func:`nbmlops.approval.decision.verify_decisions`'
    check."""
    if signature.algorithm == "sha256":
        return not signature.value and not signature.key_id
    if signature.algorithm == "ed25519":
        return check_signature_value(public_key, signature.value, digest)
    return False
