"""Digests, each written once: a file's SHA-256, and the SHA-256 of a JSON value in RFC 8785 form.

Every JSON value nbmlops hashes or signs - ledger entries, signed decision records, evidence
lists, signer statements, stage-state fingerprints, the ledger's keyed digests of free text - is
first serialised with the JSON Canonicalization Scheme (RFC 8785, "JCS"): object keys sorted by
their UTF-16 code units, no whitespace, UTF-8, minimal string escapes, numbers as ECMAScript
prints them (``1.0`` is ``1``, ``1e-7`` is ``1e-7``). Any conforming implementation produces the
same bytes, so an auditor recomputes a digest with another tool::

    import hashlib, json, rfc8785
    entry = json.loads(line)            # one line of .nbmlops/ledger.jsonl with "v": 2
    claimed = entry.pop("hash")
    assert hashlib.sha256(rfc8785.dumps(entry)).hexdigest() == claimed

Records written before JCS (format 1: ledger entries, decision records and evidence lists
without a ``"v"`` field) were hashed over Python's ``json.dumps`` with sorted keys and no spaces.
:func:`legacy_json_v1` reproduces that serialisation, for verifying those records and nothing
else: new records are always hashed with :func:`canonical_json`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import rfc8785

from nbmlops.errors import InvalidInputError

__all__ = [
    "FORMAT",
    "NOT_JCS",
    "canonical_digest",
    "canonical_json",
    "file_digest",
    "legacy_json_v1",
    "parse_canonical",
]

FORMAT = 2
"""The ``"v"`` of records hashed over RFC 8785; a record without ``"v"`` is format 1."""

NOT_JCS = b"nbmlops:not-jcs\x00"
"""What starts the bytes :func:`canonical_json` hashes, with ``strict=False``, for a value JCS
cannot represent; no JCS text starts with it, so the two can never give the same digest."""

_CHUNK = 1 << 20
_SAFE_INT = 2**53 - 1  # JCS numbers are IEEE 754 doubles: larger integers are not exact
# The C encoder gives JCS's exact bytes for strings, ints, booleans, null, lists and objects whose
# keys have no character beyond the BMP (where code-point order is UTF-16 order): the escapes of
# both are '"', '\\', \b \f \n \r \t and \u00xx for the other control characters, nothing else.
_FAST = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_LEGACY = {
    ascii_only: json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)
    for ascii_only in (False, True)
}
_TAGGED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file's bytes, read in 1 MiB chunks.

    Raises
    ------
    OSError
        The file cannot be read.

    Examples
    --------
    >>> file_digest(Path("uv.lock"))  # doctest: +SKIP
    '9f2c...'
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(value: object, *, strict: bool = True) -> bytes:
    """``value`` serialised as RFC 8785 (JCS) canonical JSON, the bytes nbmlops hashes.

    Parameters
    ----------
    value : JSON value
        ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``, ``float``, ``bool``, None.
    strict : bool
        True for what is chained or signed (ledger entries, decisions, evidence): a value JCS
        cannot represent raises. False for cache keys and keyed digests of a user's values: such
        a value (an integer beyond 2**53, a file name that is not UTF-8) is serialised as
        :data:`NOT_JCS` followed by Python's sorted, ASCII-escaped JSON, so hashing it never
        stops a run.

    Returns
    -------
    bytes
        UTF-8; identical to ``rfc8785.dumps(value)`` whenever that succeeds.

    Raises
    ------
    InvalidInputError
        ``strict`` and the value is outside JCS: NaN or an infinity, an integer beyond
        ±(2**53 - 1), a key that is not a string, an unpaired surrogate, a type JSON lacks.

    Examples
    --------
    >>> canonical_json({"b": 1.0, "a": "é"})
    b'{"a":"\\xc3\\xa9","b":1}'
    """
    if _plain(value):
        try:
            return _FAST.encode(value).encode("utf-8")
        except UnicodeEncodeError:  # an unpaired surrogate: JCS refuses it too
            pass
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]  # checked by rfc8785 itself
    except (rfc8785.CanonicalizationError, TypeError, RecursionError) as exc:
        if not strict:
            return _tagged(value, exc)
        raise _not_jcs(exc) from None


def _tagged(value: object, cause: Exception) -> bytes:
    try:
        return NOT_JCS + _TAGGED.encode(value).encode("ascii")
    except (TypeError, ValueError, RecursionError):  # not JSON at all
        raise _not_jcs(cause) from None


def _not_jcs(exc: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"not representable as RFC 8785 canonical JSON ({type(exc).__name__}: {exc}); use "
        "finite numbers, integers within ±(2**53 - 1) (larger ones as text), string keys "
        "and valid Unicode text",
        argument="value",
    )


def canonical_digest(value: object, *, strict: bool = True) -> str:
    """SHA-256 hex of :func:`canonical_json` of ``value`` (``strict`` as there).

    Examples
    --------
    >>> canonical_digest({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()
    True
    """
    return hashlib.sha256(canonical_json(value, strict=strict)).hexdigest()


def parse_canonical(text: str | bytes) -> Any:
    """Parse JSON as RFC 8785 reads numbers: all are doubles, so an integer beyond ±(2**53 - 1)
    (JCS prints ``1e16`` as ``10000000000000000``) is the float it stands for, and serialising
    the result again gives the same bytes. NaN and infinities are refused.

    Raises
    ------
    ValueError
        Not JSON (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes).

    Examples
    --------
    >>> parse_canonical(canonical_json({"big": 1e16}))
    {'big': 1e+16}
    """
    return _DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)


def legacy_json_v1(value: Any, *, ascii_only: bool) -> bytes:
    """The serialisation format-1 records were hashed over; for verifying them only.

    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)`` as
    UTF-8: ledger entries and decision records used ``ascii_only=False``, evidence lists and
    signer statements ``True``.
    """
    return _LEGACY[ascii_only].encode(value).encode("utf-8")


def _number(text: str) -> int | float:
    number = int(text)
    return number if -_SAFE_INT <= number <= _SAFE_INT else float(text)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_int=_number, parse_constant=_no_constant)


def _plain(value: object) -> bool:
    """Whether the C encoder's output is JCS's for ``value``. Exact types only: a subclass, a
    float (ECMAScript prints numbers its own way) or anything unusual goes through ``rfc8785``."""
    if value is None or type(value) is str or type(value) is bool:
        return True
    if isinstance(value, int) and type(value) is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict) and type(value) is dict:
        return all(
            type(key) is str and (key.isascii() or max(key) <= "\uffff") and _plain(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple) and type(value) in (list, tuple):
        return all(_plain(item) for item in value)
    return False
