"""One ledger line: the fields of an entry, how its hash is computed, and how a line is read back.

Format 2 (written since nbmlops 0.2). A line is one JSON object, serialised in RFC 8785 (JCS)
canonical form and ended by ``\\n``::

    {"data":{...},"event":"run_started","hash":"<64 hex>","host":"ws-12","prev":"<64 hex>",
     "run_id":"20261123T233235Z-d2772c","seq":0,"ts":"2026-11-23T23:32:35.123Z","v":2,"who":"analyst"}

``hash`` is the SHA-256 (hex) of the JCS serialisation of every other field, ``v`` included;
``prev`` is the previous line's ``hash`` (64 zeros for the first line); ``seq`` counts from 0.
Any RFC 8785 implementation recomputes it: drop ``hash`` from the parsed line, serialise the rest,
hash the bytes (see :mod:`nbmlops._core.digests`).

Format 1 (nbmlops 0.1) has no ``v`` field and was serialised with Python's
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``. Such lines are still
read and verified with that serialisation (:func:`~nbmlops._core.digests.legacy_json_v1`); every
new line is format 2, so a ledger started by 0.1 becomes a v1 -> v2 chain on its first append.
The two forms agree byte for byte on most entries (they differ on non-integral numbers, on
integers beyond 2**53 and on keys beyond the Unicode BMP); each line is checked in its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from nbmlops._core.digests import FORMAT, canonical_json, legacy_json_v1, parse_canonical
from nbmlops.errors import InvalidInputError

__all__ = [
    "FORMAT",
    "GENESIS",
    "LedgerEntry",
    "entry_hash",
    "entry_line",
    "head_line",
    "parse_head",
    "parse_line",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int, "ts": str, "who": str, "host": str, "event": str,
    "run_id": (str, type(None)), "data": dict, "prev": str, "hash": str,
}  # fmt: skip
_V1_FIELDS = frozenset(_TYPES)
_V2_FIELDS = _V1_FIELDS | {"v"}
_HASH_KEY = b',"hash":"'
_HOST_KEY = b'","host":'


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One ledger line. ``hash`` covers every other field; ``prev`` is the previous line's hash.

    ``v`` is the line's format: 2 for lines hashed over RFC 8785, 1 for lines nbmlops 0.1 wrote
    (which have no ``v`` field).
    """

    seq: int
    ts: str
    who: str
    host: str
    event: str
    run_id: str | None
    data: dict[str, Any]
    prev: str
    hash: str
    v: int = field(default=1)

    def to_dict(self) -> dict[str, Any]:
        """The entry's fields as its line holds them (no ``v`` on a format-1 line)."""
        fields = asdict(self)
        if self.v == 1:
            del fields["v"]
        return fields


def entry_hash(fields: Mapping[str, Any]) -> str:
    """The ``hash`` of an entry with these fields (any ``hash`` among them is left out); the
    format is ``fields["v"]``, 1 when absent."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(_serialise(body, body.get("v", 1))).hexdigest()


def entry_line(entry: LedgerEntry) -> bytes:
    """The entry's line, without its newline: exactly what :func:`parse_line` accepts."""
    return _serialise(entry.to_dict(), entry.v)


def parse_line(raw: bytes) -> LedgerEntry:
    """Parse one line (with its newline) and check it against its own hash.

    Raises
    ------
    InvalidInputError
        What is wrong with the line (its message is the reason a
        :class:`~nbmlops.errors.LedgerTamperedError` gives).
    """
    if not raw.endswith(b"\n"):
        raise _bad("the line is cut off (no newline at its end): an append was interrupted")
    if not raw.strip():
        raise _bad("the line is empty")
    try:
        obj = _decode(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _bad(f"the line is not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.keys() not in (_V1_FIELDS, _V2_FIELDS):
        raise _bad(f"the line is not a ledger entry (fields: {', '.join(_TYPES)}, v)")
    wrong = [k for k, t in _TYPES.items() if not isinstance(obj[k], t)]
    if wrong or isinstance(obj["seq"], bool):
        raise _bad(f"field(s) {', '.join(wrong or ['seq'])} of the entry have the wrong type")
    version = obj.get("v", 1)
    if "v" in obj and (type(version) is not int or version < 2):
        raise _bad(f"format v {version!r} is not a ledger format")
    if version > FORMAT:
        raise _bad(
            f"the line is in ledger format {version}, newer than this nbmlops reads "
            f"(up to {FORMAT}): upgrade nbmlops"
        )
    digest: str = obj.pop("hash")
    try:
        body = _serialise(obj, version)
    except ValueError as exc:  # outside JCS (an integer beyond 2**53, a lone surrogate)
        raise _bad(f"the line is not in canonical form ({exc})") from None
    if hashlib.sha256(body).hexdigest() != digest:
        raise _bad("hash does not match its contents")
    if not _is_body_with_hash(raw, body, digest):
        raise _bad("the line is not in canonical form: it was re-serialized or hand-edited")
    return LedgerEntry(**obj, hash=digest)


def head_line(entry: LedgerEntry) -> bytes:
    """The head file's content for ``entry`` as the last line: its seq and hash."""
    return canonical_json({"seq": entry.seq, "hash": entry.hash}) + b"\n"


def parse_head(raw: bytes | None) -> tuple[int, str]:
    """``(seq, hash)`` of a head file's content; ``(-1, GENESIS)`` when there is no head yet.

    Raises
    ------
    InvalidInputError
        The head is not ``{"seq": int, "hash": str}``.
    """
    if raw is None:  # no head yet: as if it recorded the genesis link
        return -1, GENESIS
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"not JSON ({exc})", argument="raw") from None
    seq, digest = (obj.get("seq"), obj.get("hash")) if isinstance(obj, dict) else (None, None)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(digest, str):
        raise _bad("expected {'seq': int, 'hash': str}", argument="raw")
    return seq, digest


def _serialise(fields: Mapping[str, Any], version: int) -> bytes:
    if version == 1:
        return legacy_json_v1(fields, ascii_only=False)
    return canonical_json(dict(fields))


def _is_body_with_hash(raw: bytes, body: bytes, digest: str) -> bool:
    """Whether ``raw`` is ``body`` with ``,"hash":"<digest>"`` where sorted keys put it.

    One serialisation per line instead of two (the 100k-entry verify is dominated by them). The
    last structural ``,"hash":"`` is the top-level key: JSON strings escape their quotes, and
    every top-level value after ``data`` is a string, a number or null. Both formats sort the
    top-level keys alike (they are ASCII): ``hash`` comes right before ``host``.
    """
    cut = raw.rfind(_HASH_KEY)
    start = cut + len(_HASH_KEY)
    end = start + len(digest)
    return (
        cut >= 0
        and raw[start:end] == digest.encode()
        and raw[end : end + len(_HOST_KEY)] == _HOST_KEY
        and raw[:cut] == body[:cut]
        and raw[end + 1 : -1] == body[cut:]
        and raw.endswith(b"}\n")
    )


def _bad(reason: str, *, argument: str = "raw") -> InvalidInputError:
    return InvalidInputError(reason, argument=argument)


def _decode(text: str) -> Any:
    """The line's JSON. Both formats read alike unless it holds an integer beyond ±(2**53 - 1):
    format 1 kept it exact (Python's json), format 2 reads it as the double it stands for."""
    try:
        return _SAFE_DECODER.decode(text)
    except _BigInteger:
        obj = _EXACT_DECODER.decode(text)
        return parse_canonical(text) if isinstance(obj, dict) and "v" in obj else obj


class _BigInteger(Exception):
    """Raised by :func:`_safe_int` to send :func:`_decode` to its slow path; never escapes."""


def _safe_int(text: str) -> int:
    number = int(text)
    if not -_SAFE_INT <= number <= _SAFE_INT:
        raise _BigInteger
    return number


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_SAFE_INT = 2**53 - 1
# one decoder each for every line: json.loads builds a new one per call with options
_SAFE_DECODER = json.JSONDecoder(parse_int=_safe_int, parse_constant=_no_constant)
_EXACT_DECODER = json.JSONDecoder(parse_constant=_no_constant)
