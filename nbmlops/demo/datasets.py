"""Seeded synthetic patient records with a known truth, for the example, the tests and benchmarks.

One row is one patient of a patient-support programme on a chronic medication, as of an index
dispensing (``service_date``); ``stopped_refilling`` says whether they stopped refilling within the
next 90 days. Nobody real is in it: names come from embedded lists, SSNs use the 9xx area the SSA
never issues (with groups 01-49, which ITINs never use), phone numbers are the 555-01XX lines kept
for fiction, and e-mail addresses are at ``example.com/.org/.net`` (RFC 2606).

The outcome is drawn from :data:`OUTCOME_MODEL`, a logistic model over columns of the frame
(``[F32]`` is 1 when ``primary_dx == "F32"``, depression)::

    logit P(stopped_refilling = 1) = 1.8 - 4.0 * prior_pdc + 0.04 * refill_gap_days
        + 0.45 * ln(1 + monthly_copay) + 0.12 * n_medications - 0.03 * age + 0.6 * [F32]
        + 0.0 * comorbidity_count

so that fairness, explanation and drift views have something true to find. ``comorbidity_count``
(correlated with ``n_medications`` and ``age``) and ``sex``, ``race_ethnicity``, ``payer``,
``region`` and ``site`` have no effect of their own (payer acts only through copay). The base rate
is ~30 %. Two switches, 0 by default, each add one documented kind of damage:

``bias``: label bias in one subgroup, :data:`BIASED_GROUP` (``payer == "medicaid"``). A recorded 0
    becomes 1 with probability ``bias``, whatever the features. The story is Medicaid churn: a
    patient who loses coverage goes on filling under a payer whose claims this feed never sees, so
    they look as if they stopped. No other row changes. A model fitted on such labels ranks
    Medicaid patients worse (its AUC within the group falls), under-predicts their recorded rate,
    and, since copay stands in for payer, shifts its error rates by group: at ``bias=0.5`` the
    Medicaid false-positive rate goes from about half the others' to about twice theirs.
``drift``: a later batch. Service dates ``365 * drift`` days later; patients ``6 * drift`` years
    older (so more on Medicare); copays multiplied by ``1 + 0.3 * drift`` and prior PDC by ``1 -
    0.15 * drift`` (refill gaps grow with it); Medicaid "unwinding": ``0.5 * drift`` of
    would-be Medicaid patients on cash (3/5) or commercial (2/5) cover instead; and concept drift,
    a copay-assistance card making copay matter less: the copay coefficient becomes ``0.45 * (1 -
    drift)``, pivoting at a $5 copay (:meth:`OutcomeModel.at` gives the batch's model).

Every variable draws from its own random stream, derived from ``seed`` and the variable's name, so
``bias`` changes nothing but Medicaid outcomes and ``drift`` moves the same patients' values
smoothly: the shifts grow monotonically with ``drift`` for one seed. The identifiers themselves
are made in :mod:`nbmlops.demo.identities`.
"""

from __future__ import annotations

import math
import numbers
import operator
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nbmlops.demo.identities import REGIONS, identifiers, zip_codes
from nbmlops.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

__all__ = [
    "BIASED_GROUP",
    "DIAGNOSES",
    "IDENTIFIER_COLUMNS",
    "MAX_ROWS",
    "OUTCOME_MODEL",
    "OutcomeModel",
    "synthetic_patients",
]

MAX_ROWS = 10_000_000
"""Beyond this the unused SSN space (4.9e7 numbers) crowds and a frame needs more than 5 GB."""

IDENTIFIER_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "patient_name": "name",
        "mrn": "mrn",
        "birth_date": "date",
        "zip_code": "geographic",
        "phone": "phone",
        "email": "email",
        "ssn": "ssn",
        "service_date": "date",
        "last_fill_date": "date",
    }
)
"""Each direct-identifier column and its HIPAA Safe Harbor kind, as ``nbmlops.privacy.deid`` names
them.
``age`` is not an identifier, but Safe Harbor still requires ages over 89 to be aggregated."""

DIAGNOSES: Mapping[str, str] = MappingProxyType(
    {
        "E11": "type 2 diabetes mellitus",
        "I10": "essential (primary) hypertension",
        "E78": "disorders of lipoprotein metabolism (hyperlipidemia)",
        "J45": "asthma",
        "F32": "depressive episode",
    }
)
"""``primary_dx`` values: ICD-10-CM three-character categories, and what they mean."""

BIASED_GROUP: tuple[str, str] = ("payer", "medicaid")
"""(column, value) of the subgroup whose recorded outcome ``bias`` corrupts."""


@dataclass(frozen=True, kw_only=True)
class OutcomeModel:
    """The logistic model that ``stopped_refilling`` is drawn from.

    ``coefficients`` are log-odds per unit of each term. Terms are columns of the frame, except
    ``log1p_monthly_copay`` (``ln(1 + monthly_copay)``: a copay's effect saturates) and
    ``dx_depression`` (1 when ``primary_dx == "F32"``). ``drift`` scales the coefficient of
    ``drifting_term`` by ``1 - drift`` around ``drift_pivot`` (a $5 copay): the intercept takes up
    the difference, so a patient paying $5 keeps their risk and at ``drift=1`` everyone's copay
    acts like $5, as a copay card would make it.

    Examples
    --------
    >>> OUTCOME_MODEL.at(0.5).coefficients["log1p_monthly_copay"]
    0.225
    >>> round(OUTCOME_MODEL.at(0.5).intercept, 3)  # 1.8 + 0.225 * ln(1 + 5)
    2.203
    """

    intercept: float
    coefficients: Mapping[str, float]
    drifting_term: str = "log1p_monthly_copay"
    drift_pivot: float = math.log1p(5.0)

    def at(self, drift: float) -> OutcomeModel:
        """The model of the batch generated with this ``drift`` (``at(0)`` equals ``self``)."""
        scaled, drift = dict(self.coefficients), _fraction("drift", drift)
        taken = scaled[self.drifting_term] * drift
        scaled[self.drifting_term] -= taken
        return replace(
            self,
            intercept=self.intercept + taken * self.drift_pivot,
            coefficients=MappingProxyType(scaled),
        )

    def terms(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The terms of a :func:`synthetic_patients` frame, one column each, in model order.

        An unpenalised ``LogisticRegression(C=numpy.inf)`` fitted on them recovers
        :attr:`coefficients`.
        """
        import pandas as pd

        return pd.DataFrame(_term_values(frame), index=frame.index)[list(self.coefficients)]

    def log_odds(self, frame: pd.DataFrame) -> pd.Series:
        """Each row's true log-odds of stopping (what ``bias`` leaves aside)."""
        return self.terms(frame) @ list(self.coefficients.values()) + self.intercept


OUTCOME_MODEL = OutcomeModel(
    intercept=1.8,
    coefficients=MappingProxyType(
        {
            "prior_pdc": -4.0,
            "refill_gap_days": 0.04,
            "log1p_monthly_copay": 0.45,
            "n_medications": 0.12,
            "age": -0.03,
            "dx_depression": 0.6,
            "comorbidity_count": 0.0,
        }
    ),
)
"""The reference population's outcome model (the module docstring writes it as a formula)."""

_SITES = {"northeast": 2, "midwest": 2, "south": 3, "west": 2}  # clinics S01..S09, by region
_RACES = {  # OMB SPD 15 (2024) categories, roughly the US mix
    "American Indian or Alaska Native": 0.01,
    "Asian": 0.06,
    "Black or African American": 0.12,
    "Hispanic or Latino": 0.18,
    "Middle Eastern or North African": 0.01,
    "Native Hawaiian or Pacific Islander": 0.005,
    "White": 0.565,
    "Multiracial": 0.02,
    "Unknown": 0.03,
}
_PAYERS = ("commercial", "medicare", "medicaid", "cash")
_PAYER_MIX = (0.58, 0.05, 0.27, 0.10)  # under 65 (Medicare there is disability); 65+: 90 % Medicare
_COPAY_MEDIAN = (28.0, 12.0, 3.0, 55.0)  # USD a month, by payer
_DX_MIX = (0.22, 0.30, 0.25, 0.10, 0.13)  # in DIAGNOSES order


def synthetic_patients(
    rows: int = 5000, *, seed: int = 0, bias: float = 0.0, drift: float = 0.0
) -> pd.DataFrame:
    """Generate ``rows`` synthetic patients; the same arguments give the same frame.

    Parameters
    ----------
    rows : int
        Number of patients, 1 to :data:`MAX_ROWS`; a million take ~2 s and ~0.5 GB.
    seed : int
        Non-negative seed. For an independent later batch change it along with ``drift``.
    bias : float
        0 to 1: probability that a Medicaid patient's recorded 0 becomes 1 (module docstring).
    drift : float
        0 to 1: how far this batch is shifted from the reference population (module docstring).

    Returns
    -------
    pandas.DataFrame
        Identifiers (:data:`IDENTIFIER_COLUMNS`): ``object`` strings and ``datetime64[ns]`` dates
        (``last_fill_date`` is the fill before the index one, which was due 30 or 90 days later);
        ``age`` (int64, completed years at ``service_date``, ~1.5 % over 89); categorical ``sex``,
        ``race_ethnicity``, ``payer``, ``region`` (the ZIP's Census region), ``site`` (a clinic in
        that region) and ``primary_dx`` (:data:`DIAGNOSES`); int64 ``comorbidity_count``,
        ``refill_gap_days`` (days late at the index fill) and ``n_medications``; float64
        ``prior_pdc`` (0-1, 3 decimals) and ``monthly_copay`` (USD); int64 ``stopped_refilling``.

    Raises
    ------
    InvalidInputError
        If an argument is not a number in its range; ``argument`` names it.

    Examples
    --------
    >>> reference = synthetic_patients(20_000, seed=1)
    >>> later = synthetic_patients(20_000, seed=2, drift=0.5)
    >>> bool(later["monthly_copay"].mean() > reference["monthly_copay"].mean())
    True
    """
    n = _whole("rows", rows, 1, MAX_ROWS)
    seed = _whole("seed", seed, 0, None)
    bias, drift = _fraction("bias", bias), _fraction("drift", drift)
    import numpy as np
    import pandas as pd

    def draw(name: str) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(name.encode())])

    female = draw("sex").random(n) < 0.55
    age_years = np.clip(57 + 15 * draw("age").standard_normal(n) + 6 * drift, 18, 104.99)
    service = np.datetime64("2023-01-01") + draw("service").integers(0, 365, n) + round(365 * drift)
    age_days = np.floor((age_years + draw("birthday").random(n) / 365) * 365.2425)
    birth = service - age_days.astype("m8[D]")
    age = _completed_years(np, birth, service)

    commercial, medicare, medicaid, cash = range(len(_PAYERS))
    payer = draw("payer_mix").choice(len(_PAYERS), n, p=_PAYER_MIX)
    payer = np.where((age >= 65) & (draw("payer").random(n) < 0.9), medicare, payer)
    unwind = draw("unwind").random(n)
    unwound = np.where(unwind < 0.3 * drift, cash, commercial)
    payer = np.where((payer == medicaid) & (unwind < 0.5 * drift), unwound, payer)

    region, zip_code = zip_codes(np, draw, n)
    per_region = np.array(list(_SITES.values()))
    site = (np.cumsum(per_region) - per_region)[region]
    site += (draw("site").random(n) * per_region[region]).astype(np.int64)

    dx = draw("dx").choice(len(DIAGNOSES), n, p=_DX_MIX)
    comorbidity = draw("comorbidity").poisson(0.4 + 0.045 * np.maximum(age - 35, 0))
    n_meds = 1 + draw("n_medications").poisson(0.8 + 0.5 * comorbidity)
    pdc = np.round(draw("pdc").beta(4.5, 1.3, n) * (1 - 0.15 * drift), 3)
    gap = np.ceil(draw("gap").gamma(1.3, 5 + 25 * (1 - pdc)))
    gap = np.where(draw("on_time").random(n) < 0.35, 0, gap).astype(np.int64)
    copay = np.array(_COPAY_MEDIAN)[payer] * draw("copay").lognormal(0.0, 0.55, n)
    copay = np.round(copay * (1 + 0.3 * drift), 2)
    supply = np.where(draw("supply").random(n) < 0.6, 30, 90)

    model = OUTCOME_MODEL.at(drift)
    terms = _term_values(
        {
            "prior_pdc": pdc,
            "refill_gap_days": gap,
            "monthly_copay": copay,
            "n_medications": n_meds,
            "age": age,
            "primary_dx": np.array(list(DIAGNOSES), dtype=object)[dx],
            "comorbidity_count": comorbidity,
        }
    )
    logit = model.intercept + sum(c * terms[t] for t, c in model.coefficients.items())
    stopped = draw("outcome").random(n) < 1 / (1 + np.exp(-logit))
    stopped |= (payer == medicaid) & (draw("bias").random(n) < bias)  # BIASED_GROUP

    def category(codes: np.ndarray[Any, Any], names: Any) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(names))

    ident = identifiers(np, draw, n, female)
    return pd.DataFrame(
        {
            "patient_name": ident["patient_name"],
            "mrn": ident["mrn"],
            "birth_date": birth.astype("M8[ns]"),
            "zip_code": zip_code,
            "phone": ident["phone"],
            "email": ident["email"],
            "ssn": ident["ssn"],
            "service_date": service.astype("M8[ns]"),
            "last_fill_date": (service - (supply + gap).astype("m8[D]")).astype("M8[ns]"),
            "age": age,
            "sex": category(np.where(female, 0, 1), ("F", "M")),
            "race_ethnicity": category(
                draw("race").choice(len(_RACES), n, p=[*_RACES.values()]), _RACES
            ),
            "payer": category(payer, _PAYERS),
            "region": category(region, REGIONS),
            "site": category(site, [f"S{k:02d}" for k in range(1, sum(_SITES.values()) + 1)]),
            "primary_dx": category(dx, DIAGNOSES),
            "comorbidity_count": comorbidity,
            "prior_pdc": pdc,
            "refill_gap_days": gap,
            "n_medications": n_meds,
            "monthly_copay": copay,
            "stopped_refilling": stopped.astype(np.int64),
        }
    )


def _whole(name: str, value: Any, low: int, high: int | None) -> int:
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        limits = f"from {low:,} to {high:,}" if high is not None else f"of at least {low}"
        raise InvalidInputError(f"{name} must be an integer {limits}, not {value!r}", argument=name)
    return number


def _fraction(name: str, value: object) -> float:
    number = (
        float(value) if not isinstance(value, bool) and isinstance(value, numbers.Real) else -1.0
    )
    if not 0 <= number <= 1:  # NaN fails this too
        raise InvalidInputError(
            f"{name} must be a number from 0 to 1, not {value!r}", argument=name
        )
    return number


def _term_values(columns: Any) -> dict[str, np.ndarray[Any, Any]]:
    """:class:`OutcomeModel`'s terms from a frame, or from a dict of the same columns' arrays."""
    import numpy as np

    def values(name: str) -> np.ndarray[Any, Any]:
        return np.asarray(columns[name], dtype=np.float64)

    depression = np.asarray(columns["primary_dx"], dtype=object) == "F32"
    return {
        "prior_pdc": values("prior_pdc"),
        "refill_gap_days": values("refill_gap_days"),
        "log1p_monthly_copay": np.log1p(values("monthly_copay")),
        "n_medications": values("n_medications"),
        "age": values("age"),
        "dx_depression": depression.astype(np.float64),
        "comorbidity_count": values("comorbidity_count"),
    }


def _completed_years(np: Any, birth: Any, on: Any) -> Any:
    """Age in completed years on a date (born on 29 February: a year older on 1 March)."""

    def year_and_day(dates: Any) -> tuple[Any, Any]:
        year, month = dates.astype("M8[Y]"), dates.astype("M8[M]")
        month_day = (month - year).astype(np.int64) * 32 + (dates - month).astype(np.int64)
        return year.astype(np.int64), month_day

    (birth_year, birth_day), (year, day) = year_and_day(birth), year_and_day(on)
    return year - birth_year - (day < birth_day)
