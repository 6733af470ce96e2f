"""Signers' Ed25519 key pairs, and the private key's protection by the signer's password.

A private key is kept encrypted with AES-256-GCM under a key derived from the password with
scrypt - memory-hard, at no less than the cost of the password hash itself, with its own salt -
so the key file is no easier to attack than the password record beside it. The KDF parameters
are stored with the key, so the cost can rise later without breaking older keys; the
authenticated data binds the ciphertext to its signer and public key, so a key cannot be moved
to another signer's record. Keys written by older nbmlops (PKCS#8 PEM under PBKDF2 with 2,048
iterations, via ``BestAvailableEncryption``) still load; :func:`needs_upgrade` tells the caller
to re-encrypt them.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from nbmlops.errors import SignatureError

__all__ = [
    "KEY_FORMAT",
    "check_signature_value",
    "decrypt_private_key",
    "encrypt_private_key",
    "key_id",
    "needs_upgrade",
    "new_keypair",
    "public_key_of",
    "scrypt",
    "sign_digest",
]

KEY_FORMAT = "nbmlops-ed25519-aesgcm-v2"
# RFC 7914 section 2's interactive cost; the password hash uses the same, and the KDF of the key
# never uses less (KEY_SCRYPT_* >= the password hash's n, r, p).
KEY_SCRYPT_N, KEY_SCRYPT_R, KEY_SCRYPT_P = 2**14, 8, 1


def scrypt(password: str, salt: bytes, *, n: int, r: int, p: int, dklen: int) -> bytes:
    """scrypt with enough memory allowed for the given cost (OpenSSL's default cap is 32 MiB)."""
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )


def new_keypair() -> tuple[str, bytes]:
    """A fresh Ed25519 key pair: the raw public key (hex) and the raw 32-byte private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return public_key_of(_raw_private(key)), _raw_private(key)


def public_key_of(private: bytes) -> str:
    """The raw public key (hex) of a raw Ed25519 private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.from_private_bytes(private).public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(public_key: str) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]


def encrypt_private_key(
    private: bytes,
    password: str,
    *,
    signer_id: str,
    public_key: str,
    n: int = KEY_SCRYPT_N,
    r: int = KEY_SCRYPT_R,
    p: int = KEY_SCRYPT_P,
) -> dict[str, Any]:
    """The private key encrypted with the password, as stored in ``signers.json``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kek = scrypt(password, salt, n=n, r=r, p=p, dklen=32)
    sealed = AESGCM(kek).encrypt(nonce, private, _bound_to(signer_id, public_key))
    return {
        "format": KEY_FORMAT,
        "kdf": {"algorithm": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex()},
        "cipher": "aes-256-gcm",
        "nonce": nonce.hex(),
        "ciphertext": sealed.hex(),
    }


def decrypt_private_key(
    stored: str | dict[str, Any], password: str, *, signer_id: str, public_key: str
) -> bytes:
    """The raw private key from its stored form (this format, or an older PEM).

    Raises
    ------
    SignatureError
        The password does not open it, or the stored key is damaged or of an unknown format.
    """
    if isinstance(stored, str):  # nbmlops < issue 10: PKCS#8 PEM, PBKDF2 2,048 iterations
        return _decrypt_pem(stored, password, signer_id=signer_id)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        if stored.get("format") != KEY_FORMAT or stored["kdf"]["algorithm"] != "scrypt":
            reason = (
                f"the stored signing key is damaged (unknown key format "
                f"{stored.get('format')!r}); re-key the signer"
            )
            raise SignatureError(signer=signer_id, reason=reason)
        kdf = stored["kdf"]
        kek = scrypt(
            password, bytes.fromhex(kdf["salt"]), n=kdf["n"], r=kdf["r"], p=kdf["p"], dklen=32
        )
        return AESGCM(kek).decrypt(
            bytes.fromhex(stored["nonce"]),
            bytes.fromhex(stored["ciphertext"]),
            _bound_to(signer_id, public_key),
        )
    except InvalidTag:
        reason = "the signing key does not open with this password, or belongs to another signer"
        raise SignatureError(signer=signer_id, reason=reason) from None
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"the stored signing key is damaged ({exc}); re-key the signer"
        raise SignatureError(signer=signer_id, reason=reason) from None


def needs_upgrade(stored: str | dict[str, Any]) -> bool:
    """Whether a stored key is in an older format or below today's KDF cost."""
    if isinstance(stored, str):
        return True
    kdf = stored.get("kdf", {})
    return bool(
        stored.get("format") != KEY_FORMAT
        or kdf.get("n", 0) < KEY_SCRYPT_N
        or kdf.get("r", 0) < KEY_SCRYPT_R
        or kdf.get("p", 0) < KEY_SCRYPT_P
    )


def sign_digest(private: bytes, digest: str) -> str:
    """The Ed25519 signature (hex) of a hex digest."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(private).sign(bytes.fromhex(digest)).hex()


def check_signature_value(public_key: str, signature: str, digest: str) -> bool:
    """Whether ``signature`` (hex) is the Ed25519 signature of ``digest`` under ``public_key``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), bytes.fromhex(digest))
    except (InvalidSignature, ValueError):
        return False
    return True


def _bound_to(signer_id: str, public_key: str) -> bytes:
    return f"nbmlops signing key|{signer_id}|{public_key}".encode()


def _raw_private(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw


def _decrypt_pem(pem: str, password: str, *, signer_id: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password.encode("utf-8"))
    except (ValueError, TypeError):
        reason = "the signing key does not open with this password"
        raise SignatureError(signer=signer_id, reason=reason) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(signer=signer_id, reason="the stored signing key is not Ed25519")
    return _raw_private(key)
