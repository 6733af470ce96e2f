"""Find and redact what looks like protected health information in text and notebook outputs.

A pattern scan, run before anything leaves the machine (an executed notebook logged to MLflow, a
text artifact): :func:`scan_text` / :func:`redact_text` for a string, :func:`scan_notebook` /
:func:`redact_notebook` for the outputs of a notebook's code cells, and :func:`check_notebook`,
which applies a policy (``"refuse"``, ``"redact"`` or ``"off"``) for the tracking code. A finding
says what kind of identifier it is and where, never the value: its excerpt has the value replaced
by ``[REDACTED:<kind>]`` and the digits around it masked.

What is found (``kind`` is the HIPAA Safe Harbor identifier kind of :mod:`nbmlops.privacy.deid`):

=============  ==============================================================================
``ssn``        ``123-45-6789`` (not area 000 or 666, group 00 or serial 0000; areas 9xx are
               kept because ITINs are identifying too); nine digits after an "SSN" label
``mrn``        a digit run (4-12 digits, up to 3 letters first) after "MRN", "MR#", "medical
               record number" or "patient ID", as in ``MRN08784650`` or ``MRN: 1234567``
``phone``      US numbers: ``(617) 555-0123``, ``617-555-0123``, ``617.555.0123`` (the same
               separator twice), ``+1 617 555 0123``, ``+16175550123``; ten bare digits after a
               "phone", "tel", "fax", "cell" or "mobile" label. Area and exchange start with 2-9
``email``      ``local@domain.tld``
``date``       full dates (day, month and year): ``2024-03-05``, ``2024/3/5``, ``3/5/2024``,
               ``05.03.2024``, ``3/5/24`` (slashes only), ``March 5, 2024``, ``5 Mar 2024``
``geographic`` ZIP+4 (``02138-4021``); a five-digit ZIP after a "ZIP" or "postal code" label
``name``       a person's name: a capitalised first name then a capitalised last name (an
               initial may stand between: ``Ann Lee``, ``JOHN A. SMITH``), both in the 1990
               US Census lists shipped in ``data/census_names_1990.json.gz`` (names covering
               90 % of the population; everyday words such as Will, May, Mark left out); and
               any name registered for the project (below)
``other_id``   a registered identifier of another kind (an account or member number ...)
=============  ==============================================================================

The project's own identifiers: what :func:`register_identifiers` (or
:func:`nbmlops.privacy.deid.deidentify`, for every column it removes) registered is found by value,
as
keyed hashes (:mod:`nbmlops.privacy.identifiers`): a patient's name or MRN wherever it is printed,
with
the kind it was registered as. Every scan uses the registry of the project around the working
directory unless given another (``identifiers=``), or none (``identifiers=None``).

The trade-offs, chosen so that typical model-training output (metrics, shapes, floats, versions,
years) is clean while a printed patient row is caught:

- Not flagged, by design: bare years (``2024``), month-year (``March 2024``), day-month
  (``March 5``), dates in ``.``-separated year-first form (CalVer versions such as
  ``certifi 2024.8.30`` would look like dates), and ISO 8601 timestamps with a ``T``, a time and
  a UTC offset or ``Z`` (``2024-03-05T10:00:00Z``): that form is what machines write (MLflow,
  papermill, Jupyter, loggers configured for UTC), and printed patient data almost never takes
  it. Every other full date is flagged, whoever it belongs to: ``data extracted on 2024-03-05``
  and a log line's ``2024-03-05 10:00:01,123`` are false positives (redact, or log the date as a
  year).
- Not found at all (false negatives), unless registered: names whose first or last name is not
  in the 1990 lists (names given since, e.g. Aaliyah; ~84 % of the synthetic patients' names
  are found), a surname alone, street addresses, cities, bare five-digit ZIPs, unlabelled nine-
  and ten-digit numbers (ids and timestamps look the same), account, plan, license, device and
  vehicle numbers, URLs and IP addresses (notebook servers print ``http://127.0.0.1``), and
  anything in images. Registered values are found whatever their shape; a registered name's
  single token only when it is written capitalised and is not itself a common name.
- Scanned outputs: stream text, error tracebacks, ``text/*`` and JSON (``application/json`` and
  ``application/*+json``) display data, scrapbook scraps included (a recorded value is logged
  too). Not scanned: images, PDFs, JavaScript and cell sources. HTML that embeds a JavaScript
  library (plotly's) is scanned and may give false positives from it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from nbmlops.errors import MalformedNotebookError, PhiDetectedError
from nbmlops.privacy.names import CensusNames, census_names

if TYPE_CHECKING:
    from nbmlops.privacy.identifiers import IdentifierRegistry

__all__ = [
    "CensusNames",
    "NotebookCheck",
    "NotebookFinding",
    "PhiFinding",
    "PhiKind",
    "apply_policy",
    "census_names",
    "check_free_text",
    "check_notebook",
    "redact_injected_parameters",
    "redact_notebook",
    "redact_text",
    "register_identifiers",
    "scan_notebook",
    "scan_text",
    "scan_value",
]

PhiKind = Literal["ssn", "mrn", "phone", "email", "date", "geographic", "name", "other_id"]
Policy = Literal["refuse", "redact", "off"]
Identifiers: TypeAlias = "IdentifierRegistry | Literal['project'] | None"
"""Whose registered identifiers a scan also finds: a registry, ``None`` (none), or ``"project"``
(the default: the registry of the project around the working directory, if it has one)."""

EXCERPT_CONTEXT = 20
"""Characters of context kept on each side of a finding in its excerpt (digits masked)."""

# -- the patterns ---------------------------------------------------------------------------------
# Speed matters (a notebook's outputs can be megabytes of HTML tables), and Python's `re` only skips
# quickly through text to a pattern whose first character is a plain character class. So the text
# is read three ways, each compiled once, and the spans are merged:
#
# - _LEADING: everything that starts with a digit, "(" or "+". The combined pattern reads that
#   first character (`lead`) and skips it at once when a digit comes before it (most digits in
#   a table of numbers); each rule then checks the character before it (`not_after`) and the
#   shape of the rest. Months, days, SSN parts and phone exchanges are checked in Python
#   (_valid), only on the rare matches.
# - _LABELLED: "SSN: 123456789", "MRN 1234567", "March 5, 2024" ... tried only where the lowered
#   text holds one of _KEYWORDS at the start of a word.
# - e-mails: tried only where the text holds an "@".
#
# A labelled value's own span is a group of its own, so redaction keeps the label. Values never
# span a newline, so redaction keeps the line structure.

_PHONE_END = r"(?![\w-]|\.\d)"
_NUMERIC_DATE_END = r"(?![\d/]|[.-]\d)"
_MACHINE_TIMESTAMP = r"T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})"
_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_YEAR = r"(?:19|20)\d{2}"

# name: (kind, lead, not_after, rest). Every not_after holds the digits, as the shared check needs.
_LEADING_RULES: dict[str, tuple[PhiKind, str, str, str]] = {
    "ssn": ("ssn", r"\d", r"[\d-]", r"\d{2}-\d{2}-\d{4}(?![\d-])"),
    "zip4": ("geographic", r"\d", r"[\d-]", r"\d{4}-\d{4}(?![\d-])"),
    "date_iso": (
        "date",
        r"\d",
        r"[\d/.-]",
        rf"\d{{3}}(?:-\d\d-\d\d(?!{_MACHINE_TIMESTAMP})|/\d\d?/\d\d?)(?![\d/]|-\d)",
    ),
    "date_num": (
        "date",
        r"\d",
        r"[\d/.-]",
        rf"\d?(?:(?P<sep>[/.-])\d\d?(?P=sep)\d{{4}}|/\d\d?/\d\d){_NUMERIC_DATE_END}",
    ),
    "date_day_first": (
        "date",
        r"\d",
        r"[\w.+-]",  # a day after "-", "." or "+" is the end of a number (1e-05 March 2024)
        rf"\d?(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?i:{_MONTH_NAME}),?[ \t]+{_YEAR}\b",
    ),
    "phone": ("phone", r"\d", r"[\w+.-]", rf"\d\d(?P<ps>[-.])\d{{3}}(?P=ps)\d{{4}}{_PHONE_END}"),
    "phone_1": (
        "phone",
        r"\d",
        r"[\w+.-]",
        rf"(?<=1)(?P<p1>[-.])\d{{3}}(?P=p1)\d{{3}}(?P=p1)\d{{4}}{_PHONE_END}",
    ),
    "phone_paren": ("phone", r"\(", r"[\w+.-]", rf"\d{{3}}\)[ ]?\d{{3}}[-. ]\d{{4}}{_PHONE_END}"),
    "phone_plus": (
        "phone",
        r"\+",
        r"[\w+.-]",
        rf"1[-. ]?(?:\(\d{{3}}\)[ ]?|\d{{3}}[-. ]?)\d{{3}}[-. ]?\d{{4}}{_PHONE_END}",
    ),
}


def _leading_pattern() -> re.Pattern[str]:
    by_lead: dict[str, list[str]] = {}
    for name, (_, lead, not_after, rest) in _LEADING_RULES.items():
        by_lead.setdefault(lead, []).append(f"(?P<{name}>(?<!{not_after}.){rest})")
    return re.compile(
        "|".join(f"{lead}(?<!\\d.)(?:{'|'.join(rules)})" for lead, rules in by_lead.items())
    )


_LEADING = _leading_pattern()

_LABELLED_RULES: dict[str, tuple[PhiKind, str]] = {
    "ssn_label": (
        "ssn",
        r"(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|\#))?)\s*[:\#]?\s*"
        r"(?P<ssn_v>\d{9}|\d{3}[ ]\d{2}[ ]\d{4})(?!\d)",
    ),
    "mrn_label": (
        "mrn",
        r"(?:mrn|mr[ \t]?\#|medical[ \t]+record(?:[ \t]+(?:number|no\.?|\#))?"
        r"|patient[ \t]*(?:id|\#|no\.?|number))\s*[:\#.]?\s*(?P<mrn_v>[a-z]{0,3}\d{4,12})\b",
    ),
    "phone_label": (
        "phone",
        r"(?:phone|tel|telephone|fax|cell|mobile)\b\.?[ \t]*(?:no\.?|number|\#)?\s*[:\#]?\s*"
        r"(?P<phone_v>\d{10})(?!\d)",
    ),
    "zip_label": (
        "geographic",
        r"(?:zip(?:[ \t]*code)?|postal[ \t]+code)\s*[:\#]?\s*(?P<zip_v>\d{5})(?![\d-])",
    ),
    "date_month_first": (
        "date",
        rf"{_MONTH_NAME}[ \t]+\d\d?(?:st|nd|rd|th)?,?[ \t]+{_YEAR}\b",
    ),
}
_LABELLED = re.compile(
    "(?i:" + "|".join(f"(?P<{name}>{rule})" for name, (_, rule) in _LABELLED_RULES.items()) + ")"
)
_KEYWORDS = re.compile(
    "ssn|social|mr|medical|patient|phone|tel|fax|cell|mobile|zip|postal"
    "|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_EMAIL_LOCAL = re.compile(r"[\w.%+-]{1,64}\Z")
_EMAIL_DOMAIN = re.compile(r"@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
_WORD_CHAR = re.compile(r"[\w.%+-]")
_KIND: dict[str, PhiKind] = {
    **{name: rule[0] for name, rule in _LEADING_RULES.items()},
    **{name: rule[0] for name, rule in _LABELLED_RULES.items()},
}
_VALUE_GROUP = {
    "ssn_label": "ssn_v",
    "mrn_label": "mrn_v",
    "phone_label": "phone_v",
    "zip_label": "zip_v",
}
_DIGIT = re.compile(r"\d")
_NUMBERS = re.compile(r"\d+")


def _valid(rule: str, value: str) -> bool:
    """The checks a shape cannot make: real months and days, plausible SSN and phone parts."""
    numbers = [int(n) for n in _NUMBERS.findall(value)]
    if rule == "ssn":
        area, group, serial = numbers
        return area not in (0, 666) and group != 0 and serial != 0
    if rule.startswith("phone"):
        digits = "".join(_NUMBERS.findall(value))[-10:]
        return digits[0] not in "01" and digits[3] not in "01"
    if rule == "date_iso":
        year, month, day = numbers
        return 1900 <= year < 2100 and 1 <= month <= 12 and 1 <= day <= 31
    if rule == "date_num":
        first, second, year = numbers
        fits = (1 <= first <= 12 and 1 <= second <= 31) or (1 <= first <= 31 and 1 <= second <= 12)
        return fits and (year < 100 or 1900 <= year < 2100)
    if rule == "date_day_first":
        return 1 <= numbers[0] <= 31
    return True


# An embedded image (``data:image/png;base64,...``): letters, digits and '/' that can spell a date
# or an id by chance. Masked with a character no rule matches, so positions stay those of ``text``.
_DATA_URI = re.compile(r"(data:[\w.+-]+/[\w.+-]+;base64,)([A-Za-z0-9+/=]+)")


def _mask_data_uris(text: str) -> str:
    if "base64," not in text:
        return text
    return _DATA_URI.sub(lambda m: m.group(1) + "~" * len(m.group(2)), text)


def _spans(
    text: str, identifiers: IdentifierRegistry | Literal["project"] | None = "project"
) -> list[tuple[PhiKind, int, int]]:
    """``(kind, start, end)`` of every finding in ``text``, left to right, never overlapping.

    ``identifiers``: the registry whose values are findings too; ``"project"`` (the default)
    is that of the project around the working directory, if it has one.
    """
    text = _mask_data_uris(text)
    found: list[tuple[int, int, PhiKind]] = []
    found.extend(_names(text))
    registry = _current_registry() if identifiers == "project" else identifiers
    if registry is not None:
        found.extend((start, end, kind) for kind, start, end in registry.spans(text))  # type: ignore[misc]
    for match in _LEADING.finditer(text):
        rule = match.lastgroup
        if rule is not None and _valid(rule, match.group()):
            found.append((match.start(), match.end(), _KIND[rule]))
    found.extend(_emails(text))
    lowered = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
    for keyword in _KEYWORDS.finditer(lowered):
        start = keyword.start()
        if start and lowered[start - 1].isalnum():
            continue
        labelled = _LABELLED.match(text, start)
        if labelled is not None and labelled.lastgroup is not None:
            rule = labelled.lastgroup
            found.append((*labelled.span(_VALUE_GROUP.get(rule, rule)), _KIND[rule]))
    spans: list[tuple[PhiKind, int, int]] = []
    for start, end, kind in sorted(found, key=lambda f: (f[0], -f[1])):  # longest first
        if not spans or start >= spans[-1][2]:
            spans.append((kind, start, end))
    return spans


def _emails(text: str) -> list[tuple[int, int, PhiKind]]:
    found: list[tuple[int, int, PhiKind]] = []
    at = text.find("@")
    while at >= 0:
        local = _EMAIL_LOCAL.search(text, max(0, at - 64), at)
        domain = _EMAIL_DOMAIN.match(text, at)
        if local and domain and not (local.start() and _WORD_CHAR.match(text[local.start() - 1])):
            found.append((local.start(), domain.end(), "email"))
        at = text.find("@", at + 1)
    return found


# -- person names ---------------------------------------------------------------------------------
# A name is a first-name token then a last-name token, both capitalised (``Ann Lee``, ``ANN LEE``,
# an optional middle initial between), both in the 1990 Census lists shipped in
# ``data/census_names_1990.json.gz``. Matching on the pair, never on one word, is what keeps
# "Random Forest" or "Mean Price" clean: the first word must be a first name that is not an
# everyday English word (the file lists the ones left out: Will, May, Mark, Grant ...).

_NAME_CANDIDATE = re.compile(
    # the capital first, then the look back: `re` skips fast to a plain character class only
    r"(?P<first>[A-Z](?<![\w'-].)(?:[a-z]+|[A-Z]+))"
    r"(?:[ \t]+[A-Z]\.?)?[ \t]+"
    r"(?P<last>(?:Ma?c|O'|D')?[A-Z](?:[a-z]+(?:[-'][A-Z][a-z]+)?|[A-Z]+))(?![\w'-])"
)


def _names(text: str) -> list[tuple[int, int, PhiKind]]:
    found: list[tuple[int, int, PhiKind]] = []
    names: CensusNames | None = None
    position = 0
    while (match := _NAME_CANDIDATE.search(text, position)) is not None:
        first, last = match.group("first"), match.group("last")
        names = names or census_names()
        if (
            first.isupper() == last.isupper()  # "AUC Score", "Ann SMITH": not written as names
            and first.lower() in names.first
            and all(part in names.last for part in last.lower().replace("'", "").split("-"))
        ):
            found.append((match.start(), match.end(), "name"))
            position = match.end()
        else:  # "Patient Ann Lee": the second word may start the name
            position = match.start("last")
    return found


def register_identifiers(values: Any, *, kind: str, root: Path | str | None = None) -> int:
    """Keep keyed hashes of identifier values, so that every PHI scan of the project finds them.

    Call it at ingest for identifiers that :func:`nbmlops.privacy.deid.deidentify` does not remove
    for you (it registers what it removes). ``root`` defaults to the project around the working
    directory (the nearest folder with ``.nbmlops``, ``uv.lock``, ``pyproject.toml`` or ``.git``).
    See :mod:`nbmlops.privacy.identifiers`; returns how many new hashes were kept.

    Examples
    --------
    >>> register_identifiers(raw["patient_name"], kind="name")  # doctest: +SKIP
    1203
    """
    from nbmlops._core.paths import find_project_root
    from nbmlops.privacy.identifiers import register_identifiers as register

    project = Path(root) if root is not None else find_project_root(Path.cwd())
    return register(project, values, kind=kind)


def _current_registry() -> IdentifierRegistry | None:
    """The identifier registry of the project around the working directory, if any."""
    from nbmlops._core.paths import find_project_root
    from nbmlops.privacy.identifiers import project_registry

    return project_registry(find_project_root(Path.cwd()))


# -- text -----------------------------------------------------------------------------------------


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
    spans = list(_spans(text, identifiers))
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
    for kind, start, end in _spans(text, identifiers):
        pieces.append(text[position:start])
        pieces.append(f"[REDACTED:{kind}]")
        position = end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


# -- notebooks ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NotebookFinding:
    """A :class:`PhiFinding` in one output of one code cell.

    Attributes
    ----------
    cell_index : int
        Index of the cell in the notebook, from 0, markdown cells included.
    output_index : int
        Index of the output in the cell, from 0.
    source : str
        Which part of the output: ``"stream:stdout"``, ``"error"``, or the MIME type
        (``"text/plain"``, ``"text/html"`` ...). JSON data, and an error's value and traceback,
        are scanned one string at a time.
    kind, line, column, excerpt
        As in :class:`PhiFinding`, with lines counted within that part (or that string).
    """

    cell_index: int
    output_index: int
    source: str
    kind: PhiKind
    line: int
    column: int
    excerpt: str

    def to_dict(self) -> dict[str, object]:
        """Where and what, without the excerpt: safe for logs, errors and the ledger."""
        return {
            "kind": self.kind,
            "cell_index": self.cell_index,
            "output_index": self.output_index,
            "source": self.source,
            "line": self.line,
        }


def scan_notebook(
    notebook: Mapping[str, Any] | Path | str, *, identifiers: Identifiers = "project"
) -> tuple[NotebookFinding, ...]:
    """Find what looks like PHI in the outputs of a notebook's code cells.

    Only outputs are read (see the module docstring for which); cell sources, the papermill
    ``parameters`` cell's text and the notebook's metadata are not.

    Parameters
    ----------
    notebook : Mapping, Path or str
        The notebook parsed from JSON, or the path of an ``.ipynb`` file.

    Returns
    -------
    tuple of NotebookFinding
        In notebook order; empty for a clean notebook.

    Raises
    ------
    NotebookError
        If the file cannot be read.
    MalformedNotebookError
        If it is not JSON, or its cells or outputs are not where nbformat 4 puts them.

    Examples
    --------
    >>> nb = {"nbformat": 4, "cells": [{"cell_type": "code", "source": "print(row)",
    ...     "outputs": [{"output_type": "stream", "name": "stdout", "text": "Ann 617-555-0123"}]}]}
    >>> [(f.cell_index, f.output_index, f.kind) for f in scan_notebook(nb)]
    [(0, 0, 'phone')]
    """
    path, parsed = _notebook(notebook)
    registry = _current_registry() if identifiers == "project" else identifiers
    return tuple(
        NotebookFinding(
            cell_index=cell_index,
            output_index=output_index,
            source=source,
            kind=finding.kind,
            line=finding.line,
            column=finding.column,
            excerpt=finding.excerpt,
        )
        for cell_index, output_index, source, text in _output_texts(path, parsed)
        for finding in scan_text(text, identifiers=registry)
    )


def redact_notebook(
    notebook: Mapping[str, Any] | Path | str, *, identifiers: Identifiers = "project"
) -> dict[str, Any]:
    """A copy of the notebook with every finding in its code cells' outputs redacted.

    The input is not changed. Text kept as a list of lines stays a list of lines; JSON data is
    redacted inside its strings and stays JSON.

    Raises
    ------
    NotebookError, MalformedNotebookError
        As :func:`scan_notebook`.

    Examples
    --------
    >>> out = {"output_type": "stream", "name": "stdout", "text": ["SSN 219-09-9999\\n"]}
    >>> nb = {"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": [out]}]}
    >>> redact_notebook(nb)["cells"][0]["outputs"][0]["text"]
    ['SSN [REDACTED:ssn]\\n']
    """
    path, parsed = _notebook(notebook)
    ids = _current_registry() if identifiers == "project" else identifiers
    copied: dict[str, Any] = copy.deepcopy(dict(parsed))
    for cell in _code_cells(path, copied):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and "text" in output:
                output["text"] = _redact_lines(output["text"], ids)
            elif output.get("output_type") == "error":
                for key in ("evalue", "traceback"):
                    if key in output:
                        output[key] = _redact_json(output[key], ids)
            elif isinstance(output.get("data"), Mapping):
                for mimetype, payload in output["data"].items():
                    if _scanned(mimetype) and mimetype.startswith("text/"):
                        output["data"][mimetype] = _redact_lines(payload, ids)
                    elif _scanned(mimetype):
                        output["data"][mimetype] = _redact_json(payload, ids)
    return copied


@dataclass(frozen=True, kw_only=True)
class NotebookCheck:
    """What :func:`check_notebook` decided for one notebook.

    Attributes
    ----------
    path : Path
    policy : str
        ``"refuse"``, ``"redact"`` or ``"off"``.
    findings : tuple of NotebookFinding
        Empty when the policy is ``"off"`` (nothing was scanned) or nothing was found.
    redacted : dict or None
        With ``"redact"`` and findings: the notebook to log instead of the file. Otherwise
        ``None``, and the file itself may be logged.
    """

    path: Path
    policy: Policy
    findings: tuple[NotebookFinding, ...]
    redacted: dict[str, Any] | None


def check_notebook(
    path: Path | str, *, policy: Policy, identifiers: Identifiers = "project"
) -> NotebookCheck:
    """Apply a PHI policy to an executed notebook before it is logged.

    Parameters
    ----------
    path : Path or str
        The executed ``.ipynb``.
    policy : {"refuse", "redact", "off"}
        ``"refuse"`` raises if any output looks like PHI; ``"redact"`` hands back a redacted
        copy to log instead; ``"off"`` does not scan.

    Returns
    -------
    NotebookCheck

    Raises
    ------
    PhiDetectedError
        With ``"refuse"``, when outputs look like PHI: ``findings`` name the kind, cell and
        output of each, never the value.
    NotebookError, MalformedNotebookError
        As :func:`scan_notebook`.
    ValueError
        If ``policy`` is not one of the three.

    Examples
    --------
    In the tracking code::

        check = check_notebook(executed, policy="redact")
        if check.redacted is not None:
            artifact = write_json(check.redacted)  # log this copy, not the file
    """
    if policy not in ("refuse", "redact", "off"):
        raise ValueError(f"policy must be 'refuse', 'redact' or 'off', not {policy!r}")
    path = Path(path)
    if policy == "off":
        return NotebookCheck(path=path, policy=policy, findings=(), redacted=None)
    parsed = _load(path)
    registry = _current_registry() if identifiers == "project" else identifiers
    findings = scan_notebook(parsed, identifiers=registry)
    if findings and policy == "refuse":
        raise PhiDetectedError(path=path, findings=[finding.to_dict() for finding in findings])
    redacted = redact_notebook(parsed, identifiers=registry) if findings else None
    return NotebookCheck(path=path, policy=policy, findings=findings, redacted=redacted)


def _notebook(notebook: Mapping[str, Any] | Path | str) -> tuple[Path, Mapping[str, Any]]:
    if isinstance(notebook, Mapping):
        return Path("<notebook>"), notebook
    return Path(notebook), _load(Path(notebook))


def _load(path: Path) -> Mapping[str, Any]:
    from nbmlops._core.notebooks import read_notebook

    return read_notebook(path)


def _code_cells(path: Path, notebook: Mapping[str, Any]) -> Iterator[Any]:
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise MalformedNotebookError(path=path, detail="'cells' is not a list")
    for index, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or not isinstance(cell.get("outputs", []), list):
            raise MalformedNotebookError(path=path, detail=f"cell {index} is malformed")
        yield cell if cell.get("cell_type") == "code" else {}


def _output_texts(path: Path, notebook: Mapping[str, Any]) -> Iterator[tuple[int, int, str, str]]:
    """``(cell_index, output_index, source, text)`` for every scanned part of every output."""
    for cell_index, cell in enumerate(_code_cells(path, notebook)):
        for output_index, output in enumerate(cell.get("outputs", [])):
            if not isinstance(output, Mapping):
                raise MalformedNotebookError(
                    path=path, detail=f"cell {cell_index}, output {output_index} is malformed"
                )
            kind = output.get("output_type")
            if kind == "stream":
                source = f"stream:{output.get('name', 'stdout')}"
                yield cell_index, output_index, source, _joined(output.get("text", ""))
            elif kind == "error":
                parts = [output.get("evalue", ""), output.get("traceback", [])]
                for text in _json_strings(parts):
                    yield cell_index, output_index, "error", text
            elif isinstance(output.get("data"), Mapping):
                for mimetype, payload in output["data"].items():
                    if _scanned(mimetype) and mimetype.startswith("text/"):
                        yield cell_index, output_index, mimetype, _joined(payload)
                    elif _scanned(mimetype):
                        for text in _json_strings(payload):
                            yield cell_index, output_index, mimetype, text


def _scanned(mimetype: str) -> bool:
    if mimetype.startswith("text/"):
        return True
    # scrapbook scraps (application/scrapbook.scrap.*+json) included: a value recorded on
    # purpose is still an identifier if it is one, and it is logged as a scrap artifact too
    return mimetype.startswith("application/") and (
        mimetype == "application/json" or mimetype.endswith("+json")
    )


def _joined(text: object) -> str:
    return "".join(str(line) for line in text) if isinstance(text, list) else str(text)


# JSON data (and a traceback's lines) is scanned one string at a time, keys included, so that
# scanning and redacting see exactly the same texts.


def _json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)


def _redact_json(value: object, identifiers: Identifiers) -> Any:
    if isinstance(value, str):
        return redact_text(value, identifiers=identifiers)
    if isinstance(value, list):
        return [_redact_json(item, identifiers) for item in value]
    if isinstance(value, Mapping):
        redacted: dict[str, Any] = {}
        for key, item in value.items():
            new_key = redact_text(str(key), identifiers=identifiers)
            while new_key in redacted:  # two keys redacted alike: keep both values
                new_key += "'"
            redacted[new_key] = _redact_json(item, identifiers)
        return redacted
    return value


def _redact_lines(text: object, identifiers: Identifiers) -> str | list[str]:
    if isinstance(text, list):
        return redact_text(_joined(text), identifiers=identifiers).splitlines(keepends=True)
    return redact_text(str(text), identifiers=identifiers)


# -- values: parameters, error texts, scraps ------------------------------------------------------
# What is recorded besides notebooks: a run-time parameter value, an exception's message, a value
# a notebook chose to record(). Each goes to MLflow and the run record, so each passes the policy.

WITHHELD = "[WITHHELD: looked like PHI ({kinds}); see the executed notebook under build/]"
"""What ``refuse`` records in place of a text that looks like PHI (an error message, a scrap)."""


def scan_value(value: object, *, identifiers: Identifiers = "project") -> tuple[PhiKind, ...]:
    """The kinds of PHI found in every string of a JSON value (object keys included).

    Examples
    --------
    >>> scan_value({"note": "seen 2024-03-05", "n": 3}, identifiers=None)
    ('date',)
    """
    registry = _current_registry() if identifiers == "project" else identifiers
    kinds: dict[PhiKind, None] = {}
    for text in _json_strings([value]):
        for kind, _, _ in _spans(text, registry):
            kinds[kind] = None
    return tuple(kinds)


def apply_policy(
    value: Any, *, policy: Policy, identifiers: Identifiers = "project"
) -> tuple[Any, tuple[PhiKind, ...]]:
    """``value`` as the policy lets it be recorded, and the kinds of PHI found in it.

    ``redact`` replaces each finding in each string by ``[REDACTED:<kind>]``; ``refuse``
    replaces each string that holds a finding by :data:`WITHHELD`; ``off`` changes nothing.
    Numbers, booleans and ``None`` are never changed.

    Examples
    --------
    >>> apply_policy({"message": "bad age for MRN 0012345"}, policy="redact", identifiers=None)
    ({'message': 'bad age for MRN [REDACTED:mrn]'}, ('mrn',))
    """
    if policy == "off":
        return value, ()
    registry = _current_registry() if identifiers == "project" else identifiers
    kinds = scan_value(value, identifiers=registry)
    if not kinds:
        return value, ()
    if policy == "redact":
        return _redact_json(value, registry), kinds

    def withhold(item: Any) -> Any:
        if isinstance(item, str):
            found = {kind: None for kind, _, _ in _spans(item, registry)}
            return WITHHELD.format(kinds=", ".join(found)) if found else item
        if isinstance(item, list):
            return [withhold(i) for i in item]
        if isinstance(item, Mapping):
            return {redact_text(str(k), identifiers=registry): withhold(v) for k, v in item.items()}
        return item

    return withhold(value), kinds


def check_free_text(root: Path, text: str, *, field: str, subject: str) -> str:
    """Apply the project's PHI policy to free text a person types for a kept record.

    A reviewer's meaning and comment are signed and archived (they cannot be redacted later
    without breaking the signature), and a deactivation reason is kept in the signer registry;
    so they pass the policy when they are typed: ``refuse`` (the default) refuses text that looks
    like PHI, ``redact`` returns it redacted, ``off`` as it is. The project's registered
    identifiers are matched too.

    Parameters
    ----------
    root : Path
        The project (its ``phi_policy`` setting and identifier registry).
    text : str
    field, subject : str
        What the text is and what it is for, for the error (``"comment"``, ``"the decision
        on run R"``).

    Returns
    -------
    str
        The text as it may be recorded.

    Raises
    ------
    PhiInTextError
        Under ``refuse``, when the text looks like PHI; it names the field and the kinds found,
        never the text.
    ValueError
        The project's PHI policy setting is not a known policy.

    Examples
    --------
    >>> check_free_text(root, "Calibration within limits", field="comment", subject="a decision")
    'Calibration within limits'
    """
    from nbmlops.errors import PhiInTextError
    from nbmlops.privacy.identifiers import project_registry
    from nbmlops.privacy.telemetry import phi_policy

    policy = phi_policy(Path(root))
    if policy == "off" or not text:
        return text
    registry = project_registry(Path(root))
    kinds = tuple(dict.fromkeys(f.kind for f in scan_text(text, identifiers=registry)))
    if not kinds:
        return text
    if policy == "refuse":
        raise PhiInTextError(field=field, subject=subject, kinds=kinds)
    return redact_text(text, identifiers=registry)


def redact_injected_parameters(path: Path, *, identifiers: Identifiers = "project") -> bool:
    """Redact the papermill ``injected-parameters`` cell of an executed notebook, in place.

    The values papermill keeps in the notebook's metadata (``papermill.parameters``) too.

    The kernel ran with the real values; the file that is kept and logged shows them redacted.
    Returns whether anything was changed.
    """
    import json

    from nbmlops._core.atomic import write_text_atomic

    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    changed = False
    for cell in notebook.get("cells", []):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = _joined(cell.get("source", ""))
        redacted = redact_text(source, identifiers=identifiers)
        if redacted != source:
            cell["source"] = redacted
            changed = True
    # papermill also keeps the values it injected in the notebook's metadata
    papermill = notebook.get("metadata", {}).get("papermill", {})
    if isinstance(papermill.get("parameters"), dict):
        redacted_values = _redact_json(papermill["parameters"], identifiers)
        changed = changed or redacted_values != papermill["parameters"]
        papermill["parameters"] = redacted_values
    if changed:
        write_text_atomic(Path(path), json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed
