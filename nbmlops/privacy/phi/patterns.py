"""What is found: the patterns of each PHI kind, person names, and the project's registered values.

:func:`find_spans` is the one scanner every other part of :mod:`nbmlops.privacy.phi` calls: it
reads a text once for each family of patterns and gives back where each finding is and its kind.
The module docstring of :mod:`nbmlops.privacy.phi` lists what is found and what is not, and why.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from nbmlops.privacy.names import CensusNames, census_names

if TYPE_CHECKING:
    from nbmlops.privacy.identifiers import IdentifierRegistry

__all__ = [
    "Identifiers",
    "PhiKind",
    "current_registry",
    "find_spans",
    "register_identifiers",
]

PhiKind = Literal["ssn", "mrn", "phone", "email", "date", "geographic", "name", "other_id"]
Identifiers: TypeAlias = "IdentifierRegistry | Literal['project'] | None"
"""Whose registered identifiers a scan also finds: a registry, ``None`` (none), or ``"project"``
(the default: the registry of the project around the working directory, if it has one)."""

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


def find_spans(
    text: str, identifiers: IdentifierRegistry | Literal["project"] | None = "project"
) -> list[tuple[PhiKind, int, int]]:
    """``(kind, start, end)`` of every finding in ``text``, left to right, never overlapping.

    ``identifiers``: the registry whose values are findings too; ``"project"`` (the default)
    is that of the project around the working directory, if it has one.
    """
    text = _mask_data_uris(text)
    found: list[tuple[int, int, PhiKind]] = []
    found.extend(_names(text))
    registry = current_registry() if identifiers == "project" else identifiers
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


def current_registry() -> IdentifierRegistry | None:
    """The identifier registry of the project around the working directory, if any."""
    from nbmlops._core.paths import find_project_root
    from nbmlops.privacy.identifiers import project_registry

    return project_registry(find_project_root(Path.cwd()))
