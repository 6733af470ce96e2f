"""HIPAA Safe Harbor de-identification of a pandas DataFrame (45 CFR 164.514(b)(2)).

:func:`deidentify` maps each column to one of the 18 Safe Harbor identifier kinds
(:class:`Identifier`) - as you declare it, or else by its name or dtype - and applies:

=========================  ===================================================================
kind                       action
=========================  ===================================================================
``date``                   generalised: the year only, as a nullable ``Int64`` column
                           ``<column>_year`` in the column's place (removed with
                           ``keep_year=False``). A birth date's year is also blanked (``<NA>``)
                           for everyone who is or could be over 89: an age column says so, or
                           the year is ``as_of.year - 90`` or earlier (a year alone tells the age
                           to within one year, so the cut is on the safe side).
age (part of ``date``)     generalised: values over 89 become 90, which reads "90 or older".
                           The column stays numeric (and its dtype), so models keep working.
``geographic``             ZIP codes are generalised to their first three digits, ``"000"`` for
                           the sparsely populated three-digit areas (see below); values that are
                           not ZIP codes become missing. Other geography smaller than a state
                           (address, street, city, county, coordinates) is removed.
every other kind           removed: names, phone, fax, e-mail, SSN, MRN, health plan, account,
                           certificate/license, vehicle and device numbers, URLs, IP
                           addresses, biometrics, photographs, other unique identifiers.
not an identifier          kept, and reported as such so that you can check it.
=========================  ===================================================================

Kept text columns are scanned with :mod:`nbmlops.privacy.phi`; with ``strict=True`` (the default) a
value that looks like an SSN, MRN, phone, e-mail, full date or ZIP+4 refuses the frame. The
index is treated like the columns when it is named or not plain integers, and the input frame is
never changed. :attr:`DeidResult.report` says, per column, what was done and to how many rows,
and never holds a value.

Detection by name splits a column name into words (``PatientDOB`` -> ``patient dob``,
``zip_code`` -> ``zip code``) and looks for words such as name/surname, ssn, mrn, phone/tel,
fax, email, zip/postal/address/city/county, dob/birth date/``*_date``/``*_dt``/``*_at``,
ip address, url, vin, serial/imei/device id, member/policy id, account, license/passport,
photo, fingerprint, patient/encounter id, age. A word that describes rather than holds the
value (``phone_type``, ``has_email``, ``zip_count``) keeps the column, and so do names of
things, not people (``drug_name``, ``site_name``). A random study key (``study_id``,
``subject_key``) is kept: Safe Harbor allows a re-identification code that is not derived from
the identifiers (164.514(c)). Any ``datetime64`` column is a date whatever its name. Check the
report's ``detected_by == "name"`` rows; declare what detection gets wrong with
``identifiers={"column": kind}``, or ``None`` for "not an identifier".

CDISC SDTM/ADaM variable names are known too: ``USUBJID`` and ``SUBJID`` are subject
identifiers (``other_id``), every ``--DT``, ``--DTC`` and ``--DTM`` (``BRTHDTC``, ``TRTSDT``) is a
date. A text column that no name rule recognises is read: a sample of
:data:`CONTENT_SAMPLE` values (fixed seed) is classified value by value as a person's name
(1990 Census lists, :func:`nbmlops.privacy.phi.census_names`), e-mail, phone, SSN, MRN-like id
(letters then 5-12 digits, nearly all distinct) or full date, and a kind that at least
:data:`CONTENT_SHARE` of them have makes the column an identifier "detected by content"
(``detected_by == "content"``). ``strict=True`` refuses such a column (declare it with
``identifiers=``); ``strict=False`` treats it by its kind and reports it.

Every removed name, SSN, MRN, e-mail, phone or other id column is registered (when the working
directory is inside a project with a ``.nbmlops/`` folder): keyed hashes of its values go into the
project's identifier registry (:mod:`nbmlops.privacy.identifiers`), and every later PHI scan of
outputs, scraps, errors and parameters finds those values by value. The report's
``registered`` says how many hashes each column added.

The restricted three-digit ZIP areas are data, not code: ``nbmlops/data/safe_harbor_zip3.json``
names its source (HHS OCR's 2012 de-identification guidance, section 3.4, from the 2000
Census) and has a version that every report records. The rule itself asks for "the current
publicly available data from the Bureau of the Census", and HHS warns not to rely on its list
once newer figures are published. When HHS (or your privacy officer, from a newer census)
updates the list: edit ``restricted_zip3`` and ``census`` in that file, bump ``version``, note
the new source, and run ``tests/test_deid.py``, which checks every listed prefix.

What this does not do: find identifiers inside free text (notes) beyond the pattern scan of
kept columns, in numeric columns (an SSN stored as an integer), or in column names; and Safe
Harbor also requires that you have no actual knowledge that what remains could identify
someone. It is a tool for that judgement, not a replacement for it.
"""

from __future__ import annotations

import bisect
import datetime
import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nbmlops.errors import PhiDetectedError
from nbmlops.privacy.phi.patterns import find_spans

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "ColumnReport",
    "DeidReport",
    "DeidResult",
    "Identifier",
    "Zip3Table",
    "deidentify",
    "safe_harbor_zip3",
]


class Identifier(enum.StrEnum):
    """The 18 identifier kinds of 45 CFR 164.514(b)(2)(i)(A)-(R), in the rule's order."""

    NAME = "name"  # (A) of the individual, relatives, employers, household members
    GEOGRAPHIC = "geographic"  # (B) smaller than a state; ZIP codes to 3 digits
    DATE = "date"  # (C) all but the year; ages over 89
    PHONE = "phone"  # (D)
    FAX = "fax"  # (E)
    EMAIL = "email"  # (F)
    SSN = "ssn"  # (G)
    MRN = "mrn"  # (H) medical record numbers
    HEALTH_PLAN = "health_plan"  # (I) health plan beneficiary numbers
    ACCOUNT = "account"  # (J)
    LICENSE = "license"  # (K) certificate / license numbers
    VEHICLE = "vehicle"  # (L) identifiers and serial numbers, license plates
    DEVICE = "device"  # (M) identifiers and serial numbers
    URL = "url"  # (N)
    IP = "ip"  # (O)
    BIOMETRIC = "biometric"  # (P) finger and voice prints
    PHOTO = "photo"  # (Q) full-face photographs and comparable images
    OTHER_ID = "other_id"  # (R) any other unique identifying number, characteristic or code


AGE = "age"
"""Declare an age column with ``identifiers={"age_years": "age"}``; it is part of ``date``."""

Action = Literal["removed", "generalised", "kept"]

# -- the restricted ZIP areas --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Zip3Table:
    """The three-digit ZIP areas Safe Harbor turns into ``"000"``, and where the list comes from."""

    version: str
    source: str
    census: int
    restricted: frozenset[str]


@cache
def safe_harbor_zip3() -> Zip3Table:
    """The shipped restricted-ZIP3 table (``nbmlops/data/safe_harbor_zip3.json``).

    Examples
    --------
    >>> table = safe_harbor_zip3()
    >>> table.census, len(table.restricted), "036" in table.restricted
    (2000, 17, True)
    """
    text = resources.files("nbmlops").joinpath("data/safe_harbor_zip3.json").read_text("utf-8")
    data = json.loads(text)
    restricted = frozenset(data["restricted_zip3"])
    if not all(isinstance(z, str) and re.fullmatch(r"\d{3}", z) for z in restricted):
        raise ValueError("safe_harbor_zip3.json: restricted_zip3 must list three-digit strings")
    return Zip3Table(
        version=str(data["version"]),
        source=str(data["source"]),
        census=int(data["census"]),
        restricted=restricted,
    )


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ColumnReport:
    """What :func:`deidentify` did to one input column (or index level). Never holds a value.

    Attributes
    ----------
    column : str
        The input column's name (``str()`` of it).
    kind : str or None
        The :class:`Identifier` value, or ``None`` when it is not an identifier.
    action : {"removed", "generalised", "kept"}
    rows_changed : int
        Rows whose value was removed or altered (missing values do not count).
    output : str or None
        The column's name in the output frame (``None`` when removed).
    detected_by : {"given", "name", "dtype", "content"} or None
        How the kind was decided: ``identifiers=``, the column name (CDISC variable names
        included), a datetime dtype, or the values themselves ("detected by content").
    rule : str
        The rule applied, in words.
    flagged_rows : int
        For kept text columns: rows whose value the PHI scan flags (0 otherwise) ...
    flagged_kinds : tuple of str
        ... and the kinds it found there (``"ssn"``, ``"date"`` ...).
    registered : int
        For removed identifier columns: new keyed hashes kept in the project's identifier
        registry (see :func:`nbmlops.privacy.phi.register_identifiers`), so that later scans of
        outputs, scraps, errors and parameters find these values.
    """

    column: str
    kind: str | None
    action: Action
    rows_changed: int
    output: str | None
    detected_by: str | None
    rule: str
    flagged_rows: int = 0
    flagged_kinds: tuple[str, ...] = ()
    registered: int = 0


@dataclass(frozen=True, kw_only=True)
class DeidReport:
    """The per-column report of one :func:`deidentify` call, for display and the audit record.

    ``as_of_year`` is the year of ``as_of``; ``zip3_version`` the version of the restricted-ZIP3
    table used. Neither this nor :class:`ColumnReport` holds a full date or any value.
    """

    columns: tuple[ColumnReport, ...]
    as_of_year: int
    keep_year: bool
    zip3_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the settings, the ZIP3 table's version, and one dict per column."""
        return {
            "as_of_year": self.as_of_year,
            "keep_year": self.keep_year,
            "zip3_version": self.zip3_version,
            "columns": [
                {**asdict(c), "flagged_kinds": list(c.flagged_kinds)} for c in self.columns
            ],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per input column, in input order."""
        import pandas as pd

        return pd.DataFrame([asdict(column) for column in self.columns])


@dataclass(frozen=True, kw_only=True)
class DeidResult:
    """The de-identified frame and its report. Treat ``frame`` as read-only: it is a result."""

    frame: pd.DataFrame
    report: DeidReport


# -- de-identifying -------------------------------------------------------------------------------


def deidentify(
    frame: pd.DataFrame,
    *,
    identifiers: Mapping[Any, Identifier | str | None] | None = None,
    keep_year: bool = True,
    as_of: datetime.date | None = None,
    strict: bool = True,
    register: bool = True,
) -> DeidResult:
    """De-identify ``frame`` by the HIPAA Safe Harbor rules (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        With unique, flat column names. Not changed.
    identifiers : Mapping, optional
        Column -> :class:`Identifier` (or its value, e.g. ``"name"``), ``"age"``, or ``None``
        for "not an identifier". Columns not listed are detected by name and dtype.
    keep_year : bool
        Keep dates' years (``<column>_year``); ``False`` removes date columns.
    as_of : datetime.date, optional
        The day ages are reckoned to when blanking birth years (default: today); only its year
        is used, and the report records it. Pass it to get the same output next year.
    strict : bool
        Refuse (raise) when a kept text column holds values that look like PHI, or when a
        column is an identifier only by its content (a name column called ``patient``): declare
        it with ``identifiers=``. With ``False`` the former are kept, and counted in the report's
        ``flagged_rows``; the latter are treated by their kind (``detected_by == "content"``).
    register : bool
        Keep keyed hashes of the removed identifiers' values (names, MRNs, SSNs, e-mails,
        phones, other ids) in the project's identifier registry, when the working directory is
        in a project that has a ``.nbmlops/`` folder: every later PHI scan of the project then
        finds those values wherever they are printed (see :mod:`nbmlops.privacy.identifiers`).

    Returns
    -------
    DeidResult
        ``frame`` (a new frame) and ``report``.

    Raises
    ------
    PhiDetectedError
        With ``strict=True``, naming the columns, kinds and row counts (not the values).
    ValueError
        If ``identifiers`` names a column the frame lacks or an unknown kind, if column names
        are not unique or not flat, or if two output columns would get the same name.

    Examples
    --------
    >>> import pandas as pd
    >>> patients = pd.DataFrame({"patient_name": ["Ann Lee"], "zip_code": ["03601"],
    ...     "dob": pd.to_datetime(["1931-02-03"]), "age": [92], "hba1c": [7.1]})
    >>> result = deidentify(patients, as_of=datetime.date(2024, 1, 1))
    >>> result.frame
      zip_code  dob_year  age  hba1c
    0      000      <NA>   90    7.1
    >>> result.report.to_frame()[["column", "kind", "action", "rows_changed"]]
             column        kind       action  rows_changed
    0  patient_name        name      removed             1
    1      zip_code  geographic  generalised             1
    2           dob        date  generalised             1
    3           age        date  generalised             1
    4         hba1c        None         kept             0
    """
    import pandas as pd

    declared = _declared(frame, identifiers)
    as_of = as_of or datetime.date.today()
    work, index_columns = _index_as_columns(frame)
    plans = [_plan(column, work[column], declared) for column in work.columns]
    over_89 = pd.Series(False, index=work.index)
    for plan in plans:
        if plan.role == AGE:
            over_89 |= _ages(work[plan.column], plan.column)[1]
    outputs: dict[Any, pd.Series] = {}
    reports: list[ColumnReport] = []
    for plan in plans:
        series, report = _apply(plan, work[plan.column], over_89, as_of, keep_year)
        if series is not None:
            if str(series.name) in (str(name) for name in outputs):
                raise ValueError(
                    f"de-identified column {report.output!r} (from {report.column!r}) clashes "
                    "with another output column; rename one of the input columns first"
                )
            outputs[series.name] = series
        reports.append(report)
    flagged = [r for r in reports if r.flagged_rows]
    by_content = [r for r in reports if r.detected_by == "content"]
    if strict and (flagged or by_content):
        findings = [
            {"column": r.column, "kind": kind, "rows": r.flagged_rows}
            for r in flagged
            for kind in r.flagged_kinds
        ] + [
            {"column": r.column, "kind": r.kind, "rows": r.rows_changed, "detected_by": "content"}
            for r in by_content
        ]
        raise PhiDetectedError(path=None, findings=findings)
    if register:
        reports = _register(plans, reports, work)
    result = pd.DataFrame(outputs, index=work.index)
    if index_columns is not None:
        produced = {plan.column: report.output for plan, report in zip(plans, reports, strict=True)}
        result = _columns_as_index(result, frame, [produced[c] for c in index_columns])
    summary = DeidReport(
        columns=tuple(reports),
        as_of_year=as_of.year,
        keep_year=keep_year,
        zip3_version=safe_harbor_zip3().version,
    )
    return DeidResult(frame=result, report=summary)


@dataclass(frozen=True)
class _Plan:
    column: Any
    kind: Identifier | None
    role: str  # an Identifier value, AGE, or "" (keep)
    detected_by: str | None


def _declared(
    frame: pd.DataFrame, identifiers: Mapping[Any, Identifier | str | None] | None
) -> dict[Any, str | None]:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"deidentify() takes a pandas DataFrame, not {type(frame).__name__}")
    if isinstance(frame.columns, pd.MultiIndex):
        raise ValueError("flatten the column names first (the columns are a MultiIndex)")
    if frame.columns.has_duplicates:
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ValueError(f"column names must be unique; repeated: {dupes}")
    known = {kind.value for kind in Identifier} | {AGE}
    declared: dict[Any, str | None] = {}
    for column, kind in (identifiers or {}).items():
        if column not in frame.columns:
            raise ValueError(f"identifiers names column {column!r}, which the frame does not have")
        if kind is not None and str(kind) not in known:
            raise ValueError(
                f"identifiers[{column!r}] is {kind!r}; use one of {sorted(known)} or None"
            )
        declared[column] = None if kind is None else str(kind)
    return declared


def _plan(column: Any, series: pd.Series, declared: Mapping[Any, str | None]) -> _Plan:
    import pandas as pd

    by: str | None
    if column in declared:
        role, by = declared[column] or "", "given"
    elif pd.api.types.is_datetime64_any_dtype(series.dtype):
        role, by = Identifier.DATE.value, "dtype"
    else:
        found = _kind_by_cdisc(column) or _kind_by_name(_words(column))
        role, by = found or "", ("name" if found else None)
        if not found and (found := _kind_by_content(series)):
            role, by = found, "content"
    kind = Identifier.DATE if role == AGE else (Identifier(role) if role else None)
    return _Plan(column, kind, role, by)


# Removed kinds whose values are kept in the registry: dates and places are found by their
# shape; URLs, IP addresses, images and biometrics are not text that a printed row shows.
_REGISTERED = {"name", "ssn", "mrn", "email", "phone", "fax", "health_plan", "account"}
_REGISTERED |= {"license", "vehicle", "device", "other_id"}


def _register(
    plans: list[_Plan], reports: list[ColumnReport], work: pd.DataFrame
) -> list[ColumnReport]:
    """Register the values of removed identifier columns; the reports with the counts."""
    import dataclasses

    from nbmlops._core.paths import find_project_root
    from nbmlops.privacy.identifiers import register_identifiers

    root = find_project_root(Path.cwd())
    if not (root / ".nbmlops").is_dir():  # not inside a project: nothing to keep it in
        return reports
    registered = []
    for plan, report in zip(plans, reports, strict=True):
        if report.action == "removed" and plan.role in _REGISTERED:
            kind = "phone" if plan.role == "fax" else plan.role
            count = register_identifiers(root, work[plan.column], kind=kind)
            registered.append(dataclasses.replace(report, registered=count))
        else:
            registered.append(report)
    return registered


# -- detection by CDISC variable name -------------------------------------------------------------
# SDTM/ADaM variables are upper case, at most 8 characters: USUBJID and SUBJID identify the
# subject; every --DT (ADaM date), --DTC (SDTM ISO 8601 date/time) and --DTM (ADaM datetime) is a
# date. Their words do not split (``BRTHDTC``), so the name rules cannot see them.
_CDISC_ID = re.compile(r"U?SUBJID")
_CDISC_DATE = re.compile(r"[A-Z][A-Z0-9]{0,4}(?:DT|DTC|DTM)")


def _kind_by_cdisc(column: object) -> str | None:
    name = str(column)
    if _CDISC_ID.fullmatch(name):
        return Identifier.OTHER_ID.value
    if len(name) <= 8 and _CDISC_DATE.fullmatch(name):
        return Identifier.DATE.value
    return None


# -- detection by content -------------------------------------------------------------------------
# A column whose name says nothing (``patient``, ``full_nm``, ``nombre``) is read: a sample of its
# values (CONTENT_SAMPLE rows, fixed seed, so large frames cost the same and results repeat) is
# classified value by value, and a kind that at least CONTENT_SHARE of them have decides.

CONTENT_SAMPLE = 1000
"""How many non-missing values of a column are read to detect identifiers by content."""
CONTENT_SHARE = 0.5
"""The share of sampled values that must look like one kind of identifier."""

_SSN_VALUE = re.compile(r"\d{3}-\d{2}-\d{4}")
_ID_VALUE = re.compile(r"[A-Za-z]{0,4}[-_ #]?\d{5,12}")  # MRN08784650, A-0042117, 004211873
_TIME_REST = re.compile(r"(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?")


def _kind_by_content(series: pd.Series) -> str | None:
    """The identifier kind most sampled values of a text column look like, if any."""
    import pandas as pd

    dtype = series.dtype
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return None
    present = series.dropna()
    if len(present) > CONTENT_SAMPLE:
        present = present.sample(CONTENT_SAMPLE, random_state=0)
    values = [str(v).strip() for v in present if isinstance(v, str)]
    if not values:
        return None
    counts: dict[str, int] = {}
    for value in values:
        kind = _value_kind(value)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return None
    kind, count = max(counts.items(), key=lambda item: item[1])
    if count < CONTENT_SHARE * len(values):
        return None
    if kind == Identifier.MRN and len(set(values)) < 0.9 * len(values):
        return None  # codes shared by many rows (a lab panel, a site) are not record numbers
    return kind


def _value_kind(value: str) -> str | None:
    """What one whole value looks like: a name, e-mail, phone, SSN, MRN-like id or date."""
    if _SSN_VALUE.fullmatch(value):
        return Identifier.SSN.value
    if _ID_VALUE.fullmatch(value):
        return Identifier.MRN.value
    for kind, start, end in find_spans(value, None):
        if start != 0:
            break
        if kind == "date" and _TIME_REST.fullmatch(value, end):
            return Identifier.DATE.value
        if end == len(value) and kind in ("name", "email", "phone", "ssn"):
            return kind
    return None


# -- detection by name ----------------------------------------------------------------------------


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_ID = "id identifier number no num nbr key uid guid uuid"
# (kind, any of these words, or one word from each side of a pair, or a piece of the joined name)
_BY_NAME: tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    ("email", "", (("mail", "address"),), ("email",)),
    ("fax", "fax facsimile", (), ()),
    ("phone", "tel pager", (("cell mobile", _ID),), ("phone",)),
    ("ssn", "ssn ssns", (), ("socialsecurity",)),
    ("ip", "ipv", (("ip", "address addr client remote login host user"),), ("ipaddr",)),
    ("url", "url urls uri website webpage homepage weblink", (("web", "address page"),), ()),
    ("vehicle", "vin vehicle vehicles", (("plate", "license licence number"),), ("licenseplate",)),
    (
        "device",
        "udi imei meid imsi serial serialnumber",
        (("device", _ID), ("mac", "address")),
        ("macaddress",),
    ),
    (
        "health_plan",
        "beneficiary mbi hicn",
        (("member subscriber policy insurance insured medicare medicaid enrollee", _ID),),
        (),
    ),
    ("account", "account accounts acct iban", (("card", f"{_ID} credit debit"),), ()),
    ("license", "license licence licenses certificate passport", (("cert", _ID),), ()),
    ("mrn", "mrn mrns", (("chart", _ID), ("medical", "record")), ("medicalrecord",)),
    (
        "biometric",
        "biometric biometrics fingerprint fingerprints voiceprint faceprint palmprint",
        (
            (
                "retina retinal iris face facial voice finger palm",
                "scan print template embedding encoding signature",
            ),
        ),
        (),
    ),
    (
        "photo",
        "photo photos photograph headshot selfie portrait mugshot",
        (("face facial", "image img picture pic"),),
        (),
    ),
    (
        "geographic",
        "zip zipcode postal postcode postalcode address addr street city county town township "
        "municipality neighborhood neighbourhood precinct tract geocode geohash latitude "
        "longitude lat lon lng borough village",
        (),
        ("zipcode",),
    ),
    (
        "name",
        "name names firstname lastname fullname surname givenname familyname middlename "
        "maidenname nickname fname lname mname forename employer patientname",
        (),
        (),
    ),
    (
        "date",
        "date dates dt dob dod datetime timestamp birthdate birthday dateofbirth yob",
        (("birth death born died", "year yr day"),),
        ("dateofbirth",),
    ),
    (
        "other_id",
        "guid uuid tin itin taxid nationalid",
        (
            (
                "patient person pt pat individual client customer resident encounter visit "
                "admission guarantor household tax national",
                _ID,
            ),
        ),
        (),
    ),
    (AGE, "age ages", (), ()),
)
# Words that describe an identifier rather than hold it: `phone_type`, `has_email`, `zip_count`.
_DESCRIBES = _wordset(
    "type types status category class kind count counts cnt n flag is has state country "
    "verified valid missing length len format source domain unit units group"
)
# Things, not people, whose names are not identifiers: `drug_name`, `site_name`.
_NOT_PEOPLE = _wordset(
    "drug drugs medication med meds product site facility hospital clinic practice file model "
    "feature column col test lab procedure dx diagnosis brand generic plan payer insurer org "
    "organization department dept ward program study trial pharmacy manufacturer vendor item "
    "code event stage step metric variable var field table dataset host server machine"
)
_AGE_UNITS = {"month": 12.0, "months": 12.0, "mo": 12.0, "mos": 12.0, "week": 52.1775}
_AGE_UNITS |= {"weeks": 52.1775, "wk": 52.1775, "wks": 52.1775, "day": 365.25, "days": 365.25}


def _words(column: object) -> tuple[str, ...]:
    """``"PatientDOB"`` -> ``("patient", "dob")``; ``"zip_code5"`` -> ``("zip", "code", "5")``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return tuple(re.findall(r"[a-z]+|\d+", text.lower()))


def _kind_by_name(words: tuple[str, ...]) -> str | None:
    found, joined = set(words), "".join(words)
    if not words or found & _DESCRIBES:
        return None
    alone = {("id",): "other_id", ("ip",): "ip", ("mobile",): "phone", ("cell",): "phone"}
    if words in alone:
        return alone[words]
    if words[-1] == "at" and len(words) > 1:  # admitted_at, discharged_at
        return Identifier.DATE.value
    for kind, any_of, pairs, pieces in _BY_NAME:
        hit = (
            bool(found & _wordset(any_of))
            or any(found & _wordset(a) and found & _wordset(b) for a, b in pairs)
            or any(piece in joined for piece in pieces)
        )
        if hit and not (kind == "name" and found & _NOT_PEOPLE):
            return kind
    return None


def _is_birth(column: object) -> bool:
    words = _words(column)
    return (
        bool(set(words) & {"birth", "dob", "born", "birthdate", "birthday", "yob"})
        or "dateofbirth" in "".join(words)
        or str(column).startswith("BRTH")  # CDISC BRTHDT, BRTHDTC
    )


# -- the actions ----------------------------------------------------------------------------------


def _apply(
    plan: _Plan, series: pd.Series, over_89: pd.Series, as_of: datetime.date, keep_year: bool
) -> tuple[pd.Series | None, ColumnReport]:
    """The output column (``None`` when removed) and the report of one planned column."""
    if plan.role == AGE:
        return _age_column(plan, series)
    if plan.role == Identifier.DATE and keep_year:
        return _date_column(plan, series, over_89, as_of)
    if plan.role == Identifier.GEOGRAPHIC:
        return _zip_column(plan, series)
    if plan.role:
        rule = "removed (keep_year=False)" if plan.role == Identifier.DATE else "removed"
        return None, _removed(plan, series, rule)
    why = (
        "declared not an identifier" if plan.detected_by else "not an identifier by name or content"
    )
    return _kept(plan, series, f"kept ({why})")


def _report(plan: _Plan, action: Action, changed: int, output: object, rule: str) -> ColumnReport:
    return ColumnReport(
        column=str(plan.column),
        kind=plan.kind.value if plan.kind else None,
        action=action,
        rows_changed=int(changed),
        output=None if output is None else str(output),
        detected_by=plan.detected_by,
        rule=f"{rule} (detected by content)" if plan.detected_by == "content" else rule,
    )


def _removed(plan: _Plan, series: pd.Series, rule: str) -> ColumnReport:
    return _report(plan, "removed", series.notna().sum(), None, rule)


def _kept(plan: _Plan, series: pd.Series, rule: str) -> tuple[pd.Series, ColumnReport]:
    import dataclasses

    rows, kinds = _flagged(series)
    report = _report(plan, "kept", 0, plan.column, rule)
    if rows:
        report = dataclasses.replace(report, flagged_rows=rows, flagged_kinds=kinds)
    return series.copy(), report


def _ages(series: pd.Series, column: object) -> tuple[pd.Series | None, pd.Series]:
    """The ages as numbers (``None`` if none is one) and where they are over 89 years."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return None, pd.Series(False, index=series.index)
    numbers = (
        series
        if pd.api.types.is_numeric_dtype(series.dtype)
        else pd.to_numeric(series.astype(object), errors="coerce")
    )
    if numbers.notna().sum() == 0 and series.notna().sum():
        return None, pd.Series(False, index=series.index)
    per_year = next((f for word, f in _AGE_UNITS.items() if word in _words(column)), 1.0)
    return numbers, (numbers > 89 * per_year).fillna(False).astype(bool)


def _age_column(plan: _Plan, series: pd.Series) -> tuple[pd.Series, ColumnReport]:
    numbers, over = _ages(series, plan.column)
    if numbers is None:
        return _kept(plan, series, "kept (named like an age, but holds no numbers: check it)")
    per_year = next((f for word, f in _AGE_UNITS.items() if word in _words(plan.column)), 1.0)
    cap = 90 * per_year
    capped = numbers.mask(over, round(cap) if cap == round(cap) else cap)
    failed = series.notna() & numbers.isna()
    unit = "" if per_year == 1 else f" (in {round(per_year, 2)}ths of a year)"
    rule = f"ages over 89 years{unit} become 90 ('90 or older')"
    if failed.any():
        rule += "; values that are not numbers become missing"
    return capped.rename(plan.column), _report(
        plan, "generalised", over.sum() + failed.sum(), plan.column, rule
    )


def _date_column(
    plan: _Plan, series: pd.Series, over_89: pd.Series, as_of: datetime.date
) -> tuple[pd.Series | None, ColumnReport]:
    import pandas as pd

    years = _years(series)
    if years is None:
        if plan.detected_by == "name":
            return _kept(plan, series, "kept (named like a date, but no value reads as one)")
        return None, _removed(plan, series, "removed (no value reads as a date or a year)")
    rule = "year only"
    if _is_birth(plan.column):
        blank = (over_89 | (years <= as_of.year - 90).fillna(False)) & years.notna()
        years = years.mask(blank, pd.NA)
        # the year only: a full date in the report would trip the PHI scan of notebook outputs
        rule += (
            f"; {int(blank.sum())} blanked (born in {as_of.year - 90} or before, or over 89 "
            "by an age column)"
        )
    changed = series.notna().sum()
    output = f"{plan.column}_year"
    return years.rename(output), _report(plan, "generalised", changed, output, rule)


def _years(series: pd.Series) -> pd.Series | None:
    """Each value's year as ``Int64`` (``<NA>`` where none reads), or ``None`` if none does."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return series.dt.year.astype("Int64")
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        # a number is a date only as a year (epoch seconds and Excel serials are ambiguous)
        present = series.dropna()
        if present.empty or not ((present % 1 == 0) & present.between(1000, 2999)).all():
            return None
        return series.astype("Int64")
    present = series.dropna()
    texts = present.astype(str).unique()
    parsed = pd.to_datetime(pd.Series(texts), errors="coerce", format="mixed", utc=True)
    if parsed.notna().sum() == 0:
        return None
    by_text = dict(zip(texts, parsed.dt.year.astype("Int64"), strict=True))
    return present.astype(str).map(by_text).reindex(series.index).astype("Int64")


_ZIP = re.compile(r"(\d{3})(?:\d{2}(?:[- ]?\d{4})?)?")


def _zip_column(plan: _Plan, series: pd.Series) -> tuple[pd.Series | None, ColumnReport]:
    import pandas as pd

    zips = _zip3(series)
    zip_named = bool(set(_words(plan.column)) & {"zip", "zipcode", "postal", "postcode"})
    if not zip_named and (zips.isna() & series.notna()).any():
        return None, _removed(plan, series, "removed (geography smaller than a state)")
    restricted = safe_harbor_zip3().restricted
    zips = zips.mask(zips.isin(restricted), "000").astype(object)
    zips = zips.where(zips.notna(), None)
    before = series.astype(str).where(series.notna(), None)
    changed = (series.notna() & (zips.isna() | (zips != before))).sum()
    rule = f"first 3 ZIP digits; 000 for the {len(restricted)} restricted areas"
    if (zips.isna() & series.notna()).any():
        rule += "; values that are not ZIP codes become missing"
    return pd.Series(zips, index=series.index, name=plan.column), _report(
        plan, "generalised", changed, plan.column, rule
    )


def _zip3(series: pd.Series) -> pd.Series:
    """The first three digits of each ZIP code, ``None`` where a value is not one."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):

        def digits(value: float) -> str | None:
            if math.isnan(value) or value % 1 or not 0 <= value <= 999_999_999:
                return None
            return f"{int(value):05d}"[:3] if value <= 99_999 else f"{int(value):09d}"[:3]

        return series.map(digits, na_action="ignore")

    def text(value: object) -> str | None:
        match = _ZIP.fullmatch(str(value).strip())
        return match.group(1) if match else None

    return series.astype(object).map(text, na_action="ignore")


def _flagged(series: pd.Series) -> tuple[int, tuple[str, ...]]:
    """Rows of a text column whose value the PHI scan flags, and the kinds found."""
    import pandas as pd

    dtype = series.dtype
    if not (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return 0, ()
    counts = series.dropna().astype(str).value_counts(sort=False)
    texts = list(counts.index)
    # one scan over all distinct values; NUL keeps a match inside one value (no pattern spans it)
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + 1
    hits, kinds = set(), set()
    for kind, start, _ in find_spans("\0".join(texts)):
        hits.add(bisect.bisect_right(starts, start) - 1)
        kinds.add(kind)
    return int(counts.iloc[sorted(hits)].sum()), tuple(sorted(kinds))


# -- the index ------------------------------------------------------------------------------------


def _index_as_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Any] | None]:
    """The frame with a named or non-integer index moved into columns, and their names."""
    import pandas as pd

    index = frame.index
    plain = index.nlevels == 1 and index.name is None and pd.api.types.is_integer_dtype(index)
    if plain:
        return frame, None
    try:
        work = frame.reset_index()
    except ValueError as err:
        raise ValueError(
            f"the index is de-identified like a column, but its name clashes with one ({err}); "
            "rename the index or the column"
        ) from err
    return work, list(work.columns[: index.nlevels])


def _columns_as_index(
    result: pd.DataFrame, frame: pd.DataFrame, outputs: list[str | None]
) -> pd.DataFrame:
    """Put the index levels that survived back as the index, under their own names."""
    kept = [(name, out) for name, out in zip(frame.index.names, outputs, strict=True) if out]
    if not kept:
        return result.reset_index(drop=True)
    result = result.set_index([out for _, out in kept])
    result.index.names = [name if name is None else str(out) for name, out in kept]
    return result
