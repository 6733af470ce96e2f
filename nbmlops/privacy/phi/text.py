"""Scanning and redacting one text, and every string of a JSON value."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nbmlops.privacy.phi.patterns import Identifiers, PhiKind, find_spans

__all__ = [
    "EXCERPT_CONTEXT",
    "PhiFinding",
    "joined",
    "json_strings",
    "redact_json",
    "redact_text",
    "scan_text",
]

EXCERPT_CONTEXT = 20
"""Characters of context kept on each side of a finding in its excerpt (digits masked)."""

_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, kw_only=True)
class PhiFinding:
    """One piece of text that looks like PHI: its kind and place, never its value.

    Attributes
    ----------
    kind : str
        ``"ssn"``, ``"mrn"``, ``"phone"``, ``"email"``, ``"date"``, ``"geographic"``,
        ``"name"`` or ``"other_id"``.
    start, end : int
        Offsets of the value in the scanned text (``text[start:end]``).
    line, column : int
        Where it starts, both counted from 1.
    excerpt : str
        Up to :data:`EXCERPT_CONTEXT` characters either side on the same line, with every
        finding replaced by ``[REDACTED:<kind>]`` and the remaining digits masked as ``#``.
        Letters are kept, so a name next to the value is shown: show excerpts to the person
        fixing the notebook, and keep them out of logs.
    """

    kind: PhiKind
    start: int
    end: int
    line: int
    column: int
    excerpt: str


def scan_text(text: str, *, identifiers: Identifiers = "project") -> tuple[PhiFinding, ...]:
    """Find what looks like PHI in ``text`` (see the module docstring for what is found).

    Parameters
    ----------
    text : str
        Any text: a notebook output, a log, a file about to be logged.

    Returns
    -------
    tuple of PhiFinding
        In the order they occur; empty when nothing was found.

    Examples
    --------
    >>> found = scan_text("auc 0.91\\nMRN: 0012345 seen 3/5/2024")
    >>> [(f.kind, f.line, f.column) for f in found]
    [('mrn', 2, 6), ('date', 2, 19)]
    >>> found[0].excerpt
    'MRN: [REDACTED:mrn] seen [REDACTED:date]'
    >>> scan_text("fitted 2024 model, AUROC 0.873, shape (5000, 22)")
    ()
    """
    spans = list(find_spans(text, identifiers))
    if not spans:
        return ()
    findings, line, counted = [], 1, 0
    for index, (kind, start, end) in enumerate(spans):
        line += text.count("\n", counted, start)  # spans come in order: count each stretch once
        counted = start
        findings.append(
            PhiFinding(
                kind=kind,
                start=start,
                end=end,
                line=line,
                column=start - text.rfind("\n", 0, start),
                excerpt=_excerpt(text, spans, index),
            )
        )
    return tuple(findings)


def _excerpt(text: str, spans: list[tuple[PhiKind, int, int]], index: int) -> str:
    _, start, end = spans[index]
    low = max(text.rfind("\n", 0, start) + 1, start - EXCERPT_CONTEXT)
    newline = text.find("\n", end)
    high = min(len(text) if newline < 0 else newline, end + EXCERPT_CONTEXT)
    first, last = index, index
    while first and spans[first - 1][2] > low:
        first -= 1
    while last + 1 < len(spans) and spans[last + 1][1] < high:
        last += 1
    pieces, position = [], low
    for kind, s, e in spans[first : last + 1]:
        pieces.append(_DIGIT.sub("#", text[position : max(s, position)]))
        pieces.append(f"[REDACTED:{kind}]")
        position = max(e, position)
    pieces.append(_DIGIT.sub("#", text[position:high]))
    return "".join(pieces).strip()


def redact_text(text: str, *, identifiers: Identifiers = "project") -> str:
    """``text`` with every finding of :func:`scan_text` replaced by ``[REDACTED:<kind>]``.

    Labels are kept (``MRN: [REDACTED:mrn]``), and so are line breaks.

    Examples
    --------
    >>> redact_text("call (617) 555-0123 or mail a.b@example.org; born March 5, 1950")
    'call [REDACTED:phone] or mail [REDACTED:email]; born [REDACTED:date]'
    """
    pieces, position = [], 0
    for kind, start, end in find_spans(text, identifiers):
        pieces.append(text[position:start])
        pieces.append(f"[REDACTED:{kind}]")
        position = end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def joined(text: object) -> str:
    return "".join(str(line) for line in text) if isinstance(text, list) else str(text)


# JSON data (and a traceback's lines) is scanned one string at a time, keys included, so that
# scanning and redacting see exactly the same texts.


def json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from json_strings(item)


def redact_json(value: object, identifiers: Identifiers) -> Any:
    if isinstance(value, str):
        return redact_text(value, identifiers=identifiers)
    if isinstance(value, list):
        return [redact_json(item, identifiers) for item in value]
    if isinstance(value, Mapping):
        redacted: dict[str, Any] = {}
        for key, item in value.items():
            new_key = redact_text(str(key), identifiers=identifiers)
            while new_key in redacted:  # two keys redacted alike: keep both values
                new_key += "'"
            redacted[new_key] = redact_json(item, identifiers)
        return redacted
    return value
