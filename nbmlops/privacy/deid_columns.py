"""What Safe Harbor does to one column: remove it, generalise it (ages, dates, ZIP codes) or
keep it, scanned for what looks like PHI; and the report of what was done, which holds no value.
"""

from __future__ import annotations

import bisect
import datetime
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from nbmlops.privacy.deid_detect import AGE, Identifier, column_words, is_birth, units_per_year
from nbmlops.privacy.phi.patterns import find_spans

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "Action",
    "ColumnPlan",
    "ColumnReport",
    "Zip3Table",
    "ages",
    "apply_plan",
    "safe_harbor_zip3",
]

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
        For removed identifier columns: the keyed hashes of its values the project's identifier
        registry holds (see :func:`nbmlops.privacy.phi.register_identifiers`, ``count="held"``;
        added by this call or an earlier one, so the same data reports the same number), so that
        later scans of outputs, scraps, errors and parameters find these values.
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


# -- the actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnPlan:
    """One input column and the kind :func:`nbmlops.privacy.deid.deidentify` decided it holds."""

    column: Any
    kind: Identifier | None
    role: str  # an Identifier value, AGE, or "" (keep)
    detected_by: str | None


def apply_plan(
    plan: ColumnPlan, series: pd.Series, over_89: pd.Series, as_of: datetime.date, keep_year: bool
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


def _report(
    plan: ColumnPlan, action: Action, changed: int, output: object, rule: str
) -> ColumnReport:
    return ColumnReport(
        column=str(plan.column),
        kind=plan.kind.value if plan.kind else None,
        action=action,
        rows_changed=int(changed),
        output=None if output is None else str(output),
        detected_by=plan.detected_by,
        rule=f"{rule} (detected by content)" if plan.detected_by == "content" else rule,
    )


def _removed(plan: ColumnPlan, series: pd.Series, rule: str) -> ColumnReport:
    return _report(plan, "removed", series.notna().sum(), None, rule)


def _kept(plan: ColumnPlan, series: pd.Series, rule: str) -> tuple[pd.Series, ColumnReport]:
    import dataclasses

    rows, kinds = _flagged(series)
    report = _report(plan, "kept", 0, plan.column, rule)
    if rows:
        report = dataclasses.replace(report, flagged_rows=rows, flagged_kinds=kinds)
    return series.copy(), report


def ages(series: pd.Series, column: object) -> tuple[pd.Series | None, pd.Series]:
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
    per_year = units_per_year(column)
    return numbers, (numbers > 89 * per_year).fillna(False).astype(bool)


def _age_column(plan: ColumnPlan, series: pd.Series) -> tuple[pd.Series, ColumnReport]:
    numbers, over = ages(series, plan.column)
    if numbers is None:
        return _kept(plan, series, "kept (named like an age, but holds no numbers: check it)")
    per_year = units_per_year(plan.column)
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
    plan: ColumnPlan, series: pd.Series, over_89: pd.Series, as_of: datetime.date
) -> tuple[pd.Series | None, ColumnReport]:
    import pandas as pd

    years = _years(series)
    if years is None:
        if plan.detected_by == "name":
            return _kept(plan, series, "kept (named like a date, but no value reads as one)")
        return None, _removed(plan, series, "removed (no value reads as a date or a year)")
    rule = "year only"
    if is_birth(plan.column):
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


def _zip_column(plan: ColumnPlan, series: pd.Series) -> tuple[pd.Series | None, ColumnReport]:
    import pandas as pd

    zips = _zip3(series)
    zip_named = bool(set(column_words(plan.column)) & {"zip", "zipcode", "postal", "postcode"})
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
