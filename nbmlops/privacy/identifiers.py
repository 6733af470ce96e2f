"""The project's own identifiers, kept as keyed hashes, so that every PHI scan finds them by value.

A pattern scan finds what *looks like* an identifier (an SSN's shape, a date); it cannot know that
``Ann Lee`` or ``A-0042`` is one of this project's patients. :func:`register_identifiers` (called
by :func:`nbmlops.privacy.deid.deidentify` for every column it removes, or by you at ingest) keeps a
keyed hash of each value under ``.nbmlops/``; :meth:`IdentifierRegistry.spans` then finds those
values wherever they appear in text: notebook outputs, scraps, error messages, parameter values.

- **Keyed** (HMAC-SHA256, truncated to 64 bits) with a per-project secret,
  ``.nbmlops/identifiers.key`` (32 random bytes, mode 0600, created on first use). Without the
  key the hashes cannot be tested against guesses (an SSN has only 10^9 values, a name far fewer),
  so the registry file holds nothing a reader can turn back into a patient.
- **Normalised**: case-folded, whitespace collapsed. Names are also kept as single tokens
  (``ann``, ``lee``) and as unordered token pairs (``ann lee`` matches "Lee, Ann" too). Other
  kinds (MRN, SSN, e-mail, ...) are kept as the whole value, matched against single tokens of the
  text (a token: letters and digits joined by ``- . @ ' +``, e.g. ``MRN08784650``,
  ``123-45-6789``, ``ann.lee@example.org``).
- **Matching**: a token pair of a registered name is always a finding (``Ann Lee``,
  ``lee, ann``); a single name token only where the text writes it capitalised (``Adeyemi``,
  ``ADEYEMI``) and it is rare, i.e. not in the 1990 Census name lists nor an everyday word left
  out of them (:func:`nbmlops.privacy.names.census_names`): a patient called "White" or "Young" must
  not
  turn a race column or every sentence into findings, and a common surname alone identifies
  nobody. Identifier values (MRN, SSN, ...) match as one token.
- **Store**: ``.nbmlops/identifiers.bin`` (mode 0600), 9-byte records: the 8-byte digest and one
  byte for the kind. Appended, never rewritten; duplicates are not written twice.

A 64-bit truncation keeps the file small (1M patients' names, tokens and pairs: ~40 MB) and the
chance that an unrelated token collides with one of N registered values is N / 2^64.
"""

from __future__ import annotations

import hmac
import itertools
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nbmlops._core.atomic import secret_file
from nbmlops._core.digests import canonical_json
from nbmlops._core.paths import STATE_DIR

__all__ = [
    "IDENTIFIER_KINDS",
    "LEDGER_DIGEST",
    "IdentifierRegistry",
    "ledger_digest",
    "project_registry",
    "register_identifiers",
]

KEY_FILE = "identifiers.key"
STORE_FILE = "identifiers.bin"

IDENTIFIER_KINDS: tuple[str, ...] = (
    "name",  # a whole name or a pair of its tokens
    "name_token",  # one token of a name: matched only where written capitalised
    "ssn",
    "mrn",
    "email",
    "phone",
    "other_id",
)
"""Kinds a registry record can have; its byte in the store is the index here."""

# Safe Harbor kinds that register_identifiers keeps as-is; any other identifier is "other_id"
_AS_IS = {"name", "ssn", "mrn", "email", "phone"}
_TOKEN = re.compile(r"[^\W_]+(?:['.@+-][^\W_]+)*")
_GAP = re.compile(r"[\s,]{1,3}\Z")  # what may stand between two tokens of a name
_JOINERS = "'.@+-"  # what may stand inside a token (see _TOKEN)
_SEPARATORS = str.maketrans(
    {chr(c): " " for c in range(128) if not chr(c).isalnum() and chr(c) not in _JOINERS}
)
_NUMBER = re.compile(r"\d*\.\d+")  # 0.8731, 1.5: measurements, not ids
_MIN_ID_LENGTH = 4  # shorter values (a site code, "F") are not identifying on their own
_MIN_NAME_TOKEN = 2


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True, kw_only=True)
class IdentifierRegistry:
    """A project's registered identifiers (keyed digests) and the key that makes them.

    Build it with :func:`project_registry`; it is a snapshot of the store when it was read.
    """

    root: Path
    key: bytes = field(repr=False)
    digests: dict[bytes, int] = field(repr=False)
    seen: dict[str, int | None] = field(default_factory=dict, repr=False, compare=False)
    """Digest look-ups already made (normalised text -> record kind index or None)."""

    def __len__(self) -> int:
        return len(self.digests)

    def digest(self, normalised: str) -> bytes:
        """The 8-byte keyed digest of an already normalised value."""
        return hmac.digest(self.key, normalised.encode("utf-8"), "sha256")[:8]

    def spans(self, text: str) -> Iterator[tuple[str, int, int]]:
        """``(kind, start, end)`` of every registered value in ``text``, left to right.

        ``kind`` is ``"name"`` for names and name tokens, else the registered kind.
        """
        if not self.digests or not self._anything_in(text):
            return
        previous: re.Match[str] | None = None
        for match in _TOKEN.finditer(text):
            token = match.group()
            if (
                previous is not None
                and _GAP.fullmatch(text, previous.end(), match.start())
                and self._pair(previous.group(), token)
            ):
                yield "name", previous.start(), match.end()
                previous = None
                continue
            kind = self._single(token)
            if kind is not None:
                yield kind, match.start(), match.end()
            previous = match

    def _anything_in(self, text: str) -> bool:
        """A quick first look: any registered token or name pair at all? (Most text has none.)

        ``translate`` and ``split`` run in C (a regex over every token of a 5 MB notebook does
        not), and repeated tokens are looked up once; the positional pass then runs only over
        text that has a hit.
        """
        words = [w.strip(_JOINERS) for w in text.translate(_SEPARATORS).split()]
        if any(self._single(word) for word in set(words) if word):
            return True
        return any(self._pair(a, b) for a, b in set(itertools.pairwise(words)))

    def _pair(self, first: str, second: str) -> bool:
        if not (first and second and first.isalpha() and second.isalpha()):
            return False
        key = " ".join(sorted((first.casefold(), second.casefold())))
        return self._memo(key) == 0  # index 0: "name", a name's token pair

    def _single(self, token: str) -> str | None:
        if not token:
            return None
        if token.isalpha():
            if not token[:1].isupper():  # names count where written as names
                return None
        elif len(token) < _MIN_ID_LENGTH or _NUMBER.fullmatch(token):
            return None
        index = self._memo(token.casefold())
        if index is None:
            return None
        kind = IDENTIFIER_KINDS[index]
        if kind == "name_token":
            # One token of a name counts where it is written as a name ("Adeyemi", "ADEYEMI", not
            # "adeyemi") and is rare: a common one alone ("White", "Young", "Will") is an everyday
            # word or shared by thousands, and would flag "White" in a race column.
            from nbmlops.privacy.names import census_names

            return None if census_names().is_common(token) else "name"
        return "name" if kind == "name" else kind

    def _memo(self, normalised: str) -> int | None:
        seen = self.seen
        if normalised not in seen:
            if len(seen) > 200_000:  # bounded: a scan of endless distinct tokens stays flat
                seen.clear()
            seen[normalised] = self.digests.get(self.digest(normalised))
        return seen[normalised]


_CACHE: dict[Path, tuple[tuple[int, int], IdentifierRegistry]] = {}
_LOCK = threading.Lock()


def project_registry(root: Path, *, create: bool = False) -> IdentifierRegistry | None:
    """The registry of the project at ``root``, or ``None`` when it has none (and not ``create``).

    Read once and cached until the store changes (its size and mtime), so calling it for every
    scan costs one ``stat``.
    """
    folder = Path(root) / STATE_DIR
    store = folder / STORE_FILE
    try:
        info = store.stat()
        stamp = (info.st_size, info.st_mtime_ns)
    except FileNotFoundError:
        if not create:
            return None
        stamp = (-1, -1)
    with _LOCK:
        cached = _CACHE.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        key = _key(folder)
        digests: dict[bytes, int] = {}
        if stamp[0] > 0:
            data = store.read_bytes()
            usable = len(data) - len(data) % 9  # a torn last record is ignored
            for offset in range(0, usable, 9):
                digests[data[offset : offset + 8]] = data[offset + 8]
        registry = IdentifierRegistry(root=Path(root), key=key, digests=digests)
        _CACHE[folder] = (stamp, registry)
        return registry


def _key(folder: Path) -> bytes:
    """The project's secret, created (mode 0600) on first use."""
    return secret_file(folder / KEY_FILE)


def register_identifiers(
    root: Path, values: Iterable[object], *, kind: str, count: Literal["new", "held"] = "new"
) -> int:
    """Keep keyed digests of identifier values, so that every later PHI scan finds them.

    Parameters
    ----------
    root : Path
        The project folder (its ``.nbmlops/`` holds the key and the store).
    values : iterable
        The values (a column, a list); missing values (``None``, NaN) are skipped.
    kind : str
        A Safe Harbor kind (``"name"``, ``"mrn"``, ``"ssn"``, ``"email"``, ``"phone"``; any
        other kind is kept as ``"other_id"``).

    count : ``"new"`` or ``"held"``
        What to return: the digests this call added, or every digest of ``values`` the registry
        holds once it returns (added now or before) - the same for the same values whatever
        earlier runs registered, which is what a de-identification report can state reproducibly.

    Returns
    -------
    int
        How many new digests were written (``count="new"``), or how many the values have
        (``count="held"``).

    Examples
    --------
    >>> register_identifiers(root, raw["patient_name"], kind="name")  # doctest: +SKIP
    1203
    """
    registry = project_registry(root, create=True)
    assert registry is not None  # noqa: S101 - create=True always makes one
    kind = kind if kind in _AS_IS else "other_id"
    records: dict[bytes, int] = {}
    held: set[bytes] = set()
    for value in {str(v) for v in values if not _missing(v) and not _flag(v)}:
        for normalised, record_kind in _keys(value, kind):
            digest = registry.digest(normalised)
            held.add(digest)
            if digest not in registry.digests and digest not in records:
                records[digest] = IDENTIFIER_KINDS.index(record_kind)
    answer = len(held) if count == "held" else len(records)
    if not records:
        return answer
    store = Path(root) / STATE_DIR / STORE_FILE
    payload = b"".join(digest + bytes([index]) for digest, index in records.items())
    fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        torn = os.fstat(fd).st_size % 9
        if torn:  # a write cut short (disk full): drop its tail so records stay aligned
            os.ftruncate(fd, os.fstat(fd).st_size - torn)
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    return answer


def _flag(value: object) -> bool:
    """True/False (Python's or numpy's) are flags, not identifiers, whatever column holds them."""
    return type(value).__name__ in ("bool", "bool_")  # numpy 2 names its scalar "bool" too


def _missing(value: object) -> bool:
    """None, NaN, pandas' NA and NaT: what a column holds where it has no value."""
    if value is None:
        return True
    try:
        return bool(value != value)  # noqa: PLR0124 - NaN and NaT are not equal to themselves
    except (TypeError, ValueError):  # pandas.NA refuses to be a bool
        return True


def _keys(value: str, kind: str) -> Iterator[tuple[str, str]]:
    """The normalised strings to keep for one value, with the record kind of each."""
    if kind != "name":
        normalised = _normalise(value)
        if len(normalised) >= _MIN_ID_LENGTH:
            yield normalised, kind
        return
    tokens = [t.casefold() for t in _TOKEN.findall(value)]
    for token in tokens:
        if len(token) >= _MIN_NAME_TOKEN:
            yield token, "name_token"
    for i, first in enumerate(tokens):
        for second in tokens[i + 1 :]:
            yield " ".join(sorted((first, second))), "name"


LEDGER_DIGEST = "hmac-sha256"
"""The key of a digest in a ledger entry: ``{"hmac-sha256": "<64 hex digits>"}``."""


def ledger_digest(root: Path, value: object) -> dict[str, str]:
    """A keyed digest of free text (an error, parameter values) for the ledger, in its place.

    The ledger is append-only and copied around: it must hold no text that can carry PHI. The
    text lives in the run record (``.nbmlops/runs/<id>.json``, which the PHI policy covers and
    which can be redacted without breaking the chain); the ledger binds it with HMAC-SHA256 over
    its RFC 8785 canonical JSON (:func:`nbmlops._core.digests.canonical_json`; ledgers written by
    nbmlops 0.1 used sorted compact JSON, UTF-8), keyed with a key derived from the
    project's secret. Keyed, because an SSN or a birth date has few enough values that a plain
    SHA-256 of it could be reversed by trying them all. ``verify`` recomputes it on the machine
    that holds ``.nbmlops/identifiers.key``.

    Examples
    --------
    >>> ledger_digest(root, {"message": "bad age"})  # doctest: +SKIP
    {'hmac-sha256': '5b0c...'}
    """
    key = hmac.digest(_key(Path(root) / STATE_DIR), b"nbmlops ledger digest v1", "sha256")
    # not strict: an override of 2**64 or an error quoting a file name that is not UTF-8 is
    # still bound (see canonical_json), never a run that fails to start
    canonical = canonical_json(value, strict=False)
    return {LEDGER_DIGEST: hmac.new(key, canonical, "sha256").hexdigest()}
