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
``registered`` says how many hashes each column's values have in the registry (added now or by an
earlier run): the same data gives the same report. It used to count only the hashes a call
added, so a second run of the same de-identification in the same project wrote another report
(0 where the first said 17,065) and a reproduction of a run could not match it.

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

Which kind a column holds is decided in :mod:`nbmlops.privacy.deid_detect`; what is done to one
column, and its report, in :mod:`nbmlops.privacy.deid_columns`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import InvalidInputError, PhiDetectedError
from nbmlops.privacy.deid_columns import (
    ColumnPlan,
    ColumnReport,
    Zip3Table,
    ages,
    apply_plan,
    safe_harbor_zip3,
)
from nbmlops.privacy.deid_detect import (
    AGE,
    CONTENT_SAMPLE,
    CONTENT_SHARE,
    Identifier,
    column_words,
    kind_by_cdisc,
    kind_by_content,
    kind_by_name,
)

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "CONTENT_SAMPLE",
    "CONTENT_SHARE",
    "ColumnReport",
    "DeidReport",
    "DeidResult",
    "Identifier",
    "Zip3Table",
    "deidentify",
    "safe_harbor_zip3",
]


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
    InvalidInputError
        If ``frame`` is not a DataFrame, its column names are not unique or not flat, or two
        output columns would get the same name (``argument == "frame"``); or if ``identifiers``
        names a column the frame lacks or an unknown kind (``argument == "identifiers"``).

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
            over_89 |= ages(work[plan.column], plan.column)[1]
    outputs: dict[Any, pd.Series] = {}
    reports: list[ColumnReport] = []
    for plan in plans:
        series, report = apply_plan(plan, work[plan.column], over_89, as_of, keep_year)
        if series is not None:
            if str(series.name) in (str(name) for name in outputs):
                raise InvalidInputError(
                    f"de-identified column {report.output!r} (from {report.column!r}) clashes "
                    "with another output column; rename one of the input columns first",
                    argument="frame",
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


def _declared(
    frame: pd.DataFrame, identifiers: Mapping[Any, Identifier | str | None] | None
) -> dict[Any, str | None]:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"deidentify() takes a pandas DataFrame, not {type(frame).__name__}", argument="frame"
        )
    if isinstance(frame.columns, pd.MultiIndex):
        raise InvalidInputError(
            "flatten the column names first (the columns are a MultiIndex)", argument="frame"
        )
    if frame.columns.has_duplicates:
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidInputError(f"column names must be unique; repeated: {dupes}", argument="frame")
    known = {kind.value for kind in Identifier} | {AGE}
    declared: dict[Any, str | None] = {}
    for column, kind in (identifiers or {}).items():
        if column not in frame.columns:
            raise InvalidInputError(
                f"identifiers names column {column!r}, which the frame does not have",
                argument="identifiers",
            )
        if kind is not None and str(kind) not in known:
            raise InvalidInputError(
                f"identifiers[{column!r}] is {kind!r}; use one of {sorted(known)} or None",
                argument="identifiers",
            )
        declared[column] = None if kind is None else str(kind)
    return declared


def _plan(column: Any, series: pd.Series, declared: Mapping[Any, str | None]) -> ColumnPlan:
    import pandas as pd

    by: str | None
    if column in declared:
        role, by = declared[column] or "", "given"
    elif pd.api.types.is_datetime64_any_dtype(series.dtype):
        role, by = Identifier.DATE.value, "dtype"
    else:
        found = kind_by_cdisc(column) or kind_by_name(column_words(column))
        role, by = found or "", ("name" if found else None)
        if not found and (found := kind_by_content(series)):
            role, by = found, "content"
    kind = Identifier.DATE if role == AGE else (Identifier(role) if role else None)
    return ColumnPlan(column, kind, role, by)


# Removed kinds whose values are kept in the registry: dates and places are found by their
# shape; URLs, IP addresses, images and biometrics are not text that a printed row shows.
_REGISTERED = {"name", "ssn", "mrn", "email", "phone", "fax", "health_plan", "account"}
_REGISTERED |= {"license", "vehicle", "device", "other_id"}


def _register(
    plans: list[ColumnPlan], reports: list[ColumnReport], work: pd.DataFrame
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
            count = register_identifiers(root, work[plan.column], kind=kind, count="held")
            registered.append(dataclasses.replace(report, registered=count))
        else:
            registered.append(report)
    return registered


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
        raise InvalidInputError(
            f"the index is de-identified like a column, but its name clashes with one ({err}); "
            "rename the index or the column",
            argument="frame",
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
