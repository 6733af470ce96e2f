"""Failed signing attempts (21 CFR 11.300(d)): the lockout policy, the attempt lock, and how an
id that may be a mistyped password is written down.

After ``max_failed_attempts`` consecutive refusals a signer is locked for ``lockout_minutes``;
both come from the project's ``pyproject.toml``::

    [tool.nbmlops.signing]
    max_failed_attempts = 5   # default
    lockout_minutes = 15      # default; a number, fractions allowed

The count lives in the ledger (``signature_refused`` entries since the last reset, lock or
unlock), and every attempt holds ``.nbmlops/signing.lock`` from reading that count to writing
its outcome, so neither a new process nor two processes guessing at once get more tries.

People type passwords into the id field. An id the ledger knows as a signer is written as it
is; any other id is written only as ``unknown-`` and 16 hex digits of its HMAC-SHA256 under the
project's secret (``.nbmlops/secret.key``, mode 0600, made on first use): repeated attempts on
one unknown id stay recognisable in the ledger, and the text typed is nowhere.
"""

from __future__ import annotations

import hmac
import tomllib
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from nbmlops._core.atomic import secret_file
from nbmlops._core.paths import SECRET_KEY, SIGNING_LOCK
from nbmlops.errors import SignatureError
from nbmlops.records import ledger

__all__ = ["LockoutPolicy", "attempt_lock", "lockout_policy", "loggable_id", "project_secret"]

SECRET_PATH = SECRET_KEY
ATTEMPT_LOCK_PATH = SIGNING_LOCK


@dataclass(frozen=True, kw_only=True)
class LockoutPolicy:
    """How many consecutive refusals lock a signer, and for how long."""

    max_failed_attempts: int = 5
    lockout_minutes: float = 15.0


def lockout_policy(root: Path) -> LockoutPolicy:
    """The project's policy from ``[tool.nbmlops.signing]`` in its ``pyproject.toml``.

    Raises
    ------
    SignatureError
        A value is not a positive number (``max_failed_attempts`` a whole one).

    Examples
    --------
    >>> lockout_policy(root)
    LockoutPolicy(max_failed_attempts=5, lockout_minutes=15.0)
    """
    try:
        with (Path(root) / "pyproject.toml").open("rb") as fh:
            table = tomllib.load(fh).get("tool", {}).get("nbmlops", {}).get("signing", {})
    except (OSError, tomllib.TOMLDecodeError):
        return LockoutPolicy()
    attempts = table.get("max_failed_attempts", 5)
    minutes = table.get("lockout_minutes", 15.0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        reason = "[tool.nbmlops.signing] max_failed_attempts must be a whole number >= 1"
        raise SignatureError(signer="", reason=reason)
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
        reason = "[tool.nbmlops.signing] lockout_minutes must be a number > 0"
        raise SignatureError(signer="", reason=reason)
    return LockoutPolicy(max_failed_attempts=attempts, lockout_minutes=float(minutes))


def attempt_lock(root: Path) -> FileLock:
    """The lock every signing attempt holds from counting failures to recording its outcome."""
    path = Path(root) / ATTEMPT_LOCK_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=ledger.LOCK_TIMEOUT_S)


def project_secret(root: Path) -> bytes:
    """The project's 32-byte secret for keyed digests, made (mode 0600) on first use."""
    return secret_file(Path(root) / SECRET_PATH)


def loggable_id(root: Path, signer_id: str, *, known: bool) -> str:
    """``signer_id`` if ``known`` (the ledger names such a signer), else its keyed digest."""
    if known:
        return signer_id
    mac = hmac.new(project_secret(root), b"signer-id\x00" + signer_id.encode("utf-8"), "sha256")
    return f"unknown-{mac.hexdigest()[:16]}"
