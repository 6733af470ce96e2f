"""Which Safe Harbor identifier kind a column holds: by its name, its CDISC variable name, or its
values (see :mod:`nbmlops.privacy.deid` for the rules in words)."""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING

from nbmlops.privacy.phi.patterns import find_spans

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "AGE",
    "CONTENT_SAMPLE",
    "CONTENT_SHARE",
    "Identifier",
    "column_words",
    "is_birth",
    "kind_by_cdisc",
    "kind_by_content",
    "kind_by_name",
    "units_per_year",
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

# -- detection by CDISC variable name -------------------------------------------------------------
# SDTM/ADaM variables are upper case, at most 8 characters: USUBJID and SUBJID identify the
# subject; every --DT (ADaM date), --DTC (SDTM ISO 8601 date/time) and --DTM (ADaM datetime) is a
# date. Their words do not split (``BRTHDTC``), so the name rules cannot see them.
_CDISC_ID = re.compile(r"U?SUBJID")
_CDISC_DATE = re.compile(r"[A-Z][A-Z0-9]{0,4}(?:DT|DTC|DTM)")


def kind_by_cdisc(column: object) -> str | None:
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


def kind_by_content(series: pd.Series) -> str | None:
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


def column_words(column: object) -> tuple[str, ...]:
    """``"PatientDOB"`` -> ``("patient", "dob")``; ``"zip_code5"`` -> ``("zip", "code", "5")``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return tuple(re.findall(r"[a-z]+|\d+", text.lower()))


def kind_by_name(words: tuple[str, ...]) -> str | None:
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


def is_birth(column: object) -> bool:
    words = column_words(column)
    return (
        bool(set(words) & {"birth", "dob", "born", "birthdate", "birthday", "yob"})
        or "dateofbirth" in "".join(words)
        or str(column).startswith("BRTH")  # CDISC BRTHDT, BRTHDTC
    )


def units_per_year(column: object) -> float:
    """How many of an age column's units make a year, by its name: 12 for ``age_months``."""
    return next((f for word, f in _AGE_UNITS.items() if word in column_words(column)), 1.0)
