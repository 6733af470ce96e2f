"""nbmlops.demo.datasets: the synthetic patients are well formed, reproducible, and hold the truths
the
module docstring promises (outcome model, label bias in one subgroup, drift that grows)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from nbmlops.demo.datasets import (
    BIASED_GROUP,
    IDENTIFIER_COLUMNS,
    OUTCOME_MODEL,
    synthetic_patients,
)
from nbmlops.errors import InvalidInputError

EXPECTED_DTYPES = {
    "patient_name": "object",
    "mrn": "object",
    "birth_date": "datetime64[ns]",
    "zip_code": "object",
    "phone": "object",
    "email": "object",
    "ssn": "object",
    "service_date": "datetime64[ns]",
    "last_fill_date": "datetime64[ns]",
    "age": "int64",
    "sex": "category",
    "race_ethnicity": "category",
    "payer": "category",
    "region": "category",
    "site": "category",
    "primary_dx": "category",
    "comorbidity_count": "int64",
    "prior_pdc": "float64",
    "refill_gap_days": "int64",
    "n_medications": "int64",
    "monthly_copay": "float64",
    "stopped_refilling": "int64",
}
# ZIP3 areas with fewer than 20,000 people, which Safe Harbor requires to be blanked to 000
SPARSE_ZIP3 = ["036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831"]
SPARSE_ZIP3 += ["878", "879", "884", "890", "893"]
SAFE_HARBOR_KINDS = {"name", "geographic", "date", "phone", "email", "ssn", "mrn"}


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return synthetic_patients()


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return synthetic_patients(50_000, seed=7)


def fitted_probability(frame: pd.DataFrame) -> np.ndarray:
    terms = OUTCOME_MODEL.terms(frame)
    model = LogisticRegression(C=np.inf, max_iter=1000).fit(terms, frame["stopped_refilling"])
    return model.predict_proba(terms)[:, 1]


def completed_years(born: pd.Series, on: pd.Series) -> pd.Series:
    before_birthday = (on.dt.month * 100 + on.dt.day) < (born.dt.month * 100 + born.dt.day)
    return on.dt.year - born.dt.year - before_birthday.astype(int)


# -- shape -----------------------------------------------------------------------------------------


def test_columns_and_dtypes(patients: pd.DataFrame) -> None:
    assert len(patients) == 5000
    assert {c: str(t) for c, t in patients.dtypes.items()} == EXPECTED_DTYPES
    assert patients.notna().all().all()
    assert list(patients["payer"].cat.categories) == ["commercial", "medicare", "medicaid", "cash"]
    assert list(patients["region"].cat.categories) == ["northeast", "midwest", "south", "west"]
    assert set(patients["primary_dx"].cat.categories) == {"E11", "I10", "E78", "J45", "F32"}
    assert set(patients["sex"].cat.categories) == {"F", "M"}


def test_identifier_columns_name_every_identifier_with_a_safe_harbor_kind(
    patients: pd.DataFrame,
) -> None:
    assert set(IDENTIFIER_COLUMNS) <= set(patients.columns)
    assert set(IDENTIFIER_COLUMNS.values()) == SAFE_HARBOR_KINDS
    dates = {c for c, kind in IDENTIFIER_COLUMNS.items() if kind == "date"}
    assert dates == {"birth_date", "service_date", "last_fill_date"}


@pytest.mark.parametrize(
    ("arguments"), [{}, {"rows": 300, "seed": 3, "bias": 0.4, "drift": 0.7}, {"rows": 1}]
)
def test_same_arguments_give_the_same_frame(arguments: dict[str, float]) -> None:
    pd.testing.assert_frame_equal(synthetic_patients(**arguments), synthetic_patients(**arguments))


def test_different_seeds_give_different_patients() -> None:
    first, second = synthetic_patients(500, seed=1), synthetic_patients(500, seed=2)
    assert not first["mrn"].isin(second["mrn"]).any()
    assert (first["age"] != second["age"]).mean() > 0.9
    assert (first["stopped_refilling"] != second["stopped_refilling"]).any()


# -- identifiers -----------------------------------------------------------------------------------


def test_mrns_are_unique_and_formatted(large: pd.DataFrame) -> None:
    assert large["mrn"].is_unique
    assert large["mrn"].str.fullmatch(r"MRN\d{8}").all()


def test_ssns_use_only_numbers_never_issued(large: pd.DataFrame) -> None:
    ssn = large["ssn"]
    assert ssn.is_unique
    assert ssn.str.fullmatch(r"9\d\d-\d\d-\d{4}").all()
    assert not ssn.str.startswith(("000", "666")).any()
    assert ssn.str[4:6].astype(int).between(1, 49).all()  # groups ITINs never use
    assert (ssn.str[7:] != "0000").all()


def test_names_phones_and_emails_look_real_but_are_fictional(patients: pd.DataFrame) -> None:
    assert patients["patient_name"].str.fullmatch(r"[A-Z][A-Za-z]+ [A-Z][A-Za-z]+").all()
    assert patients["patient_name"].nunique() > 2000
    phones = patients["phone"]
    assert phones.str.fullmatch(r"(\(\d{3}\) |\d{3}[-.]|\+1 \d{3} )555[-. ]01\d\d").all()
    assert phones.str.startswith("(").any() and phones.str.startswith("+1").any()
    assert patients["email"].str.fullmatch(r"[a-z._]+\d{0,2}@example\.(com|org|net)").all()


def test_zip_codes_are_five_digit_strings_with_some_in_sparse_areas(patients: pd.DataFrame) -> None:
    zip_code = patients["zip_code"]
    assert zip_code.map(type).eq(str).all()
    assert zip_code.str.fullmatch(r"\d{5}").all()
    sparse = zip_code.str[:3].isin(SPARSE_ZIP3)
    assert 0.005 < sparse.mean() < 0.05
    assert zip_code.str.startswith("0").any()  # leading zeros kept (New England, New Jersey)


def test_region_follows_the_zip_code(large: pd.DataFrame) -> None:
    # Census regions by ZIP prefix ranges (first digits follow the states, roughly east to west)
    regions = {
        "northeast": [(10, 196)],
        "south": [(197, 429), (700, 799)],  # 400-427 is Kentucky
        "midwest": [(430, 589), (600, 693)],
        "west": [(590, 599), (800, 999)],
    }
    zip3 = large["zip_code"].str[:3].astype(int)
    for region, ranges in regions.items():
        inside = np.logical_or.reduce([zip3.between(low, high) for low, high in ranges])
        assert (large.loc[inside, "region"] == region).all(), region
        assert (large.loc[~inside, "region"] != region).all(), region
    share = large["region"].value_counts(normalize=True)
    assert share["south"] > share["west"] > share["northeast"]


def test_dates_and_ages_agree(patients: pd.DataFrame) -> None:
    assert (
        completed_years(patients["birth_date"], patients["service_date"]) == patients["age"]
    ).all()
    supply = (patients["service_date"] - patients["last_fill_date"]).dt.days
    assert (supply - patients["refill_gap_days"]).isin([30, 90]).all()
    assert patients["service_date"].dt.year.eq(2023).all()


def test_some_patients_are_over_89_at_default_rows(patients: pd.DataFrame) -> None:
    assert (patients["age"] > 89).sum() >= 20
    assert patients["age"].between(18, 105).all()


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 300), seed=st.integers(0, 2**32), drift=st.floats(0, 1))
def test_invariants_hold_for_any_small_batch(rows: int, seed: int, drift: float) -> None:
    frame = synthetic_patients(rows, seed=seed, drift=drift)
    assert len(frame) == rows
    assert frame["mrn"].is_unique and frame["ssn"].is_unique
    assert (completed_years(frame["birth_date"], frame["service_date"]) == frame["age"]).all()
    assert frame["prior_pdc"].between(0, 1).all() and (frame["monthly_copay"] >= 0).all()
    assert (frame["n_medications"] >= 1).all() and (frame["refill_gap_days"] >= 0).all()
    assert frame["stopped_refilling"].isin([0, 1]).all()


# -- the outcome model -----------------------------------------------------------------------------


def test_base_rate(large: pd.DataFrame) -> None:
    assert 0.25 <= large["stopped_refilling"].mean() <= 0.35


def test_a_logistic_regression_recovers_the_documented_model(large: pd.DataFrame) -> None:
    terms = OUTCOME_MODEL.terms(large)
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(terms, large["stopped_refilling"])
    fitted = dict(zip(terms.columns, fit.coef_[0], strict=True))
    for term, truth in OUTCOME_MODEL.coefficients.items():
        if truth == 0:
            assert abs(fitted[term]) < 0.06, term
        else:
            assert np.sign(fitted[term]) == np.sign(truth), term
            assert fitted[term] == pytest.approx(truth, rel=0.3), term
    assert fit.intercept_[0] == pytest.approx(OUTCOME_MODEL.intercept, abs=0.4)
    assert roc_auc_score(large["stopped_refilling"], OUTCOME_MODEL.log_odds(large)) > 0.7


def test_the_outcome_model_is_documented_in_the_module_docstring() -> None:
    import nbmlops.demo.datasets

    doc = nbmlops.demo.datasets.__doc__ or ""
    assert f"= {OUTCOME_MODEL.intercept} " in doc
    for term, coefficient in OUTCOME_MODEL.coefficients.items():
        column = term.removeprefix("log1p_")
        assert re.search(rf"{abs(coefficient)} \* [^\n]*{column}", doc) or term == "dx_depression"


# -- bias ------------------------------------------------------------------------------------------


def test_bias_flips_outcomes_to_1_in_the_documented_subgroup_only() -> None:
    column, value = BIASED_GROUP
    assert (column, value) == ("payer", "medicaid")
    clean, biased = synthetic_patients(20_000, seed=4), synthetic_patients(20_000, seed=4, bias=0.5)
    others = clean.columns.drop("stopped_refilling")
    pd.testing.assert_frame_equal(clean[others], biased[others])
    group = clean[column] == value
    pd.testing.assert_series_equal(
        clean.loc[~group, "stopped_refilling"], biased.loc[~group, "stopped_refilling"]
    )
    changed = clean["stopped_refilling"] != biased["stopped_refilling"]
    assert (biased.loc[changed, "stopped_refilling"] == 1).all()
    before = clean.loc[group, "stopped_refilling"].mean()
    after = biased.loc[group, "stopped_refilling"].mean()
    assert after == pytest.approx(before + (1 - before) * 0.5, abs=0.03)


def test_bias_degrades_a_model_for_the_subgroup() -> None:
    results = {}
    for bias in (0.0, 0.5):
        frame = synthetic_patients(30_000, seed=5, bias=bias)
        y, probability = frame["stopped_refilling"].to_numpy(), fitted_probability(frame)
        group = (frame["payer"] == "medicaid").to_numpy()
        flagged = probability >= 0.3
        fpr = [flagged[(y == 0) & g].mean() for g in (group, ~group)]
        results[bias] = {
            "auc_group": roc_auc_score(y[group], probability[group]),
            "auc_others": roc_auc_score(y[~group], probability[~group]),
            "fpr_gap": fpr[0] - fpr[1],
            "under_prediction": y[group].mean() - probability[group].mean(),
        }
        print(f"bias={bias}: {results[bias]}")
    clean, biased = results[0.0], results[0.5]
    assert abs(clean["auc_group"] - clean["auc_others"]) < 0.04
    assert biased["auc_group"] < clean["auc_group"] - 0.1
    assert biased["auc_others"] > clean["auc_others"] - 0.05
    assert biased["fpr_gap"] > clean["fpr_gap"] + 0.3
    assert abs(clean["under_prediction"]) < 0.02
    assert biased["under_prediction"] > 0.08


# -- drift -----------------------------------------------------------------------------------------


def test_drift_shifts_the_documented_distributions_more_as_it_grows() -> None:
    batches = {d: synthetic_patients(20_000, seed=6, drift=d) for d in (0.0, 0.5, 1.0)}
    summary = pd.DataFrame(
        {
            d: {
                "copay": b["monthly_copay"].mean(),
                "age": b["age"].mean(),
                "pdc": b["prior_pdc"].mean(),
                "medicare": (b["payer"] == "medicare").mean(),
                "medicaid": (b["payer"] == "medicaid").mean(),
                "cash": (b["payer"] == "cash").mean(),
                "rate": b["stopped_refilling"].mean(),
            }
            for d, b in batches.items()
        }
    ).T
    print(summary)
    for rising in ("copay", "age", "medicare", "cash"):
        assert summary[rising].is_monotonic_increasing, rising
    for falling in ("pdc", "medicaid"):
        assert summary[falling].is_monotonic_decreasing, falling
    full = summary.loc[1.0] - summary.loc[0.0]
    assert full["age"] == pytest.approx(6, abs=0.5)
    assert summary.loc[1.0, "copay"] / summary.loc[0.0, "copay"] > 1.3
    assert full["medicaid"] < -0.08
    assert summary["rate"].between(0.25, 0.35).all()
    shift = batches[1.0]["service_date"] - batches[0.0]["service_date"]
    assert (shift == pd.Timedelta(days=365)).all()


def test_drift_changes_the_copay_relationship(large: pd.DataFrame) -> None:
    later = synthetic_patients(50_000, seed=7, drift=1.0)
    coefficient = {}
    for name, frame in (("reference", large), ("later", later)):
        terms = OUTCOME_MODEL.terms(frame)
        fit = LogisticRegression(C=np.inf, max_iter=1000).fit(terms, frame["stopped_refilling"])
        coefficient[name] = dict(zip(terms.columns, fit.coef_[0], strict=True))
    assert coefficient["reference"]["log1p_monthly_copay"] == pytest.approx(0.45, abs=0.1)
    assert abs(coefficient["later"]["log1p_monthly_copay"]) < 0.1
    assert coefficient["later"]["prior_pdc"] == pytest.approx(-4.0, rel=0.3)
    assert OUTCOME_MODEL.at(0.0) == OUTCOME_MODEL
    assert OUTCOME_MODEL.at(1.0).coefficients["log1p_monthly_copay"] == 0.0


# -- arguments, size and import cost ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": 2.5}, "rows"),
        ({"rows": True}, "rows"),
        ({"rows": 10**9}, "rows"),
        ({"seed": -1}, "seed"),
        ({"bias": 1.5}, "bias"),
        ({"bias": -0.1}, "bias"),
        ({"bias": float("nan")}, "bias"),
        ({"drift": "0.5"}, "drift"),
        ({"drift": 2}, "drift"),
    ],
)
def test_invalid_arguments_are_refused_by_name(arguments: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{named} must be") as refused:
        synthetic_patients(**arguments)  # type: ignore[arg-type]
    assert refused.value.argument == named


def test_the_outcome_model_of_a_batch_refuses_a_drift_outside_0_to_1() -> None:
    with pytest.raises(InvalidInputError) as refused:
        OUTCOME_MODEL.at(1.5)
    assert refused.value.argument == "drift"


def test_numpy_integers_and_floats_are_accepted() -> None:
    frame = synthetic_patients(np.int64(3), seed=np.int32(1), bias=np.float64(0.5))
    assert len(frame) == 3


def test_a_million_rows_generate() -> None:
    start = time.perf_counter()
    frame = synthetic_patients(1_000_000, seed=1)
    seconds = time.perf_counter() - start
    print(f"1,000,000 rows in {seconds:.2f} s, {frame.memory_usage(deep=True).sum() / 1e6:.0f} MB")
    assert len(frame) == 1_000_000
    assert frame["mrn"].is_unique and frame["ssn"].is_unique


def test_importing_the_module_imports_neither_numpy_nor_pandas() -> None:
    code = (
        "import sys, time; start = time.perf_counter(); import nbmlops.demo.datasets; "
        "print(time.perf_counter() - start, 'numpy' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1:] == ["False", "False"]
    print(f"import nbmlops.demo.datasets: {float(out[0]) * 1000:.0f} ms")
