"""nbmlops.privacy.deid: each Safe Harbor kind's action, the ZIP3 table, the report, and no value
left."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmlops.demo.datasets import IDENTIFIER_COLUMNS, synthetic_patients
from nbmlops.errors import InvalidInputError, PhiDetectedError
from nbmlops.privacy.deid import Identifier, deidentify, safe_harbor_zip3
from nbmlops.privacy.phi import scan_text

AS_OF = datetime.date(2025, 6, 30)


@pytest.fixture(autouse=True)
def _outside_any_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deidentify() registers what it removes in the project around the working directory:
    never the repository's own."""
    monkeypatch.chdir(tmp_path)


ZIP3_FILE = Path(__file__).parent.parent / "nbmlops" / "data" / "safe_harbor_zip3.json"
RESTRICTED = json.loads(ZIP3_FILE.read_text(encoding="utf-8"))["restricted_zip3"]

SAMPLE: dict[Identifier, list[Any]] = {
    Identifier.NAME: ["Ann Lee", "Bo Chen"],
    Identifier.GEOGRAPHIC: ["12 Elm St, Springfield", "4 Oak Ave"],
    Identifier.DATE: ["2024-03-05", "1950-12-31"],
    Identifier.PHONE: ["(617) 555-0123", "617-555-0199"],
    Identifier.FAX: ["617-555-0100", "617-555-0101"],
    Identifier.EMAIL: ["ann@example.org", "bo@example.com"],
    Identifier.SSN: ["219-09-9999", "078-05-1120"],
    Identifier.MRN: ["MRN0012345", "MRN0054321"],
    Identifier.HEALTH_PLAN: ["1EG4-TE5-MK73", "W123456789"],
    Identifier.ACCOUNT: ["ACCT-99812", "ACCT-12345"],
    Identifier.LICENSE: ["D1234567", "S7654321"],
    Identifier.VEHICLE: ["1HGCM82633A004352", "7ABC123"],
    Identifier.DEVICE: ["(01)00643169001763", "SN-883-2211"],
    Identifier.URL: ["https://example.org/ann", "https://example.org/bo"],
    Identifier.IP: ["10.0.0.12", "192.168.1.7"],
    Identifier.BIOMETRIC: ["a1b2c3d4", "e5f6a7b8"],
    Identifier.PHOTO: ["photos/ann.jpg", "photos/bo.jpg"],
    Identifier.OTHER_ID: ["P-0001", "P-0002"],
}


def _frame(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(columns)


# -- each kind ------------------------------------------------------------------------------------


def test_there_are_the_18_safe_harbor_kinds() -> None:
    assert len(Identifier) == 18
    assert set(SAMPLE) == set(Identifier)


@pytest.mark.parametrize(
    "kind", [k for k in Identifier if k not in (Identifier.DATE, Identifier.GEOGRAPHIC)]
)
def test_direct_identifiers_are_removed(kind: Identifier) -> None:
    frame = _frame(x=SAMPLE[kind], hba1c=[7.1, 6.4])
    result = deidentify(frame, identifiers={"x": kind}, as_of=AS_OF)
    assert list(result.frame.columns) == ["hba1c"]
    (x, hba1c) = result.report.columns
    assert (x.kind, x.action, x.rows_changed, x.output, x.detected_by) == (
        kind.value,
        "removed",
        2,
        None,
        "given",
    )
    assert (hba1c.action, hba1c.rule) == ("kept", "kept (not an identifier by name or content)")


def test_geography_other_than_zip_is_removed() -> None:
    frame = _frame(home=SAMPLE[Identifier.GEOGRAPHIC], city=["Springfield", "Salem"])
    result = deidentify(frame, identifiers={"home": "geographic"}, as_of=AS_OF)
    assert result.frame.columns.empty
    assert [(c.kind, c.action, c.detected_by) for c in result.report.columns] == [
        ("geographic", "removed", "given"),
        ("geographic", "removed", "name"),
    ]


def test_dates_become_years_in_place() -> None:
    frame = _frame(
        mrn=["MRN1", "MRN2", "MRN3"],
        admission_date=pd.to_datetime(["2024-03-05", None, "2023-12-31 23:59"], format="mixed"),
        discharge=["2024-03-09", "03/01/2023", "March 7, 2022"],  # text, declared below
        visit_dt=pd.to_datetime(["2024-03-05 10:00", "2024-01-01 00:00", None], utc=True),
        los_days=[4, 2, 7],
    )
    result = deidentify(frame, identifiers={"discharge": "date"}, as_of=AS_OF)
    assert list(result.frame.columns) == [
        "admission_date_year",
        "discharge_year",
        "visit_dt_year",
        "los_days",
    ]
    assert result.frame["admission_date_year"].tolist() == [2024, pd.NA, 2023]
    assert result.frame["discharge_year"].tolist() == [2024, 2023, 2022]
    assert result.frame["visit_dt_year"].tolist() == [2024, 2024, pd.NA]
    assert all(result.frame[c].dtype == "Int64" for c in result.frame.columns[:3])
    dates = {c.column: c for c in result.report.columns if c.kind == "date"}
    assert dates["admission_date"].rows_changed == 2
    assert dates["admission_date"].detected_by == "dtype"


def test_keep_year_false_removes_dates() -> None:
    frame = _frame(dob=pd.to_datetime(["1960-01-02"]), age=[64])
    result = deidentify(frame, keep_year=False, as_of=AS_OF)
    assert list(result.frame.columns) == ["age"]
    assert result.report.columns[0].rule == "removed (keep_year=False)"


def test_numeric_years_stay_years_and_other_numbers_are_not_dates() -> None:
    frame = _frame(birth_year=[1950, 1930], date_diff_days=[3, 10])
    result = deidentify(frame, as_of=AS_OF)
    assert result.frame["birth_year_year"].tolist() == [1950, pd.NA]  # 1930: 95 by 2025
    (_, diff) = result.report.columns
    assert (diff.action, diff.rule) == (
        "kept",
        "kept (named like a date, but no value reads as one)",
    )


def test_ages_over_89_become_90_and_stay_numeric() -> None:
    frame = _frame(age=[34, 89, 90, 104], weight=[70.0, 60.5, 55.1, 48.0])
    result = deidentify(frame, as_of=AS_OF)
    assert result.frame["age"].tolist() == [34, 89, 90, 90]
    assert result.frame["age"].dtype == np.int64
    age = result.report.columns[0]
    assert (age.kind, age.action, age.rows_changed) == ("date", "generalised", 2)
    floats = deidentify(_frame(age=[89.0, 89.5, np.nan]), as_of=AS_OF).frame["age"]
    assert floats.tolist()[:2] == [89.0, 90.0]
    assert np.isnan(floats.iloc[2])


def test_ages_declared_in_text_or_in_months() -> None:
    frame = _frame(
        age_at_death=["95", "70", "unknown"],
        infant_age_months=[3, 1100, 14],
        yrs=[91, 40, 20],
    )
    result = deidentify(frame, identifiers={"yrs": "age"}, as_of=AS_OF)
    assert result.frame["age_at_death"].tolist()[:2] == [90, 70]
    assert pd.isna(result.frame["age_at_death"].iloc[2])
    assert result.frame["infant_age_months"].tolist() == [3, 1080, 14]
    assert result.frame["yrs"].tolist() == [90, 40, 20]


def test_birth_year_is_blanked_for_everyone_who_is_or_could_be_over_89() -> None:
    frame = _frame(
        birth_date=pd.to_datetime(["1931-05-01", "1940-05-01", "1935-07-01", "1936-01-01"]),
        admission_date=pd.to_datetime(["2021-01-01"] * 4),
        age=[89, 95, 85, 84],  # rows 0 and 2: 90+ by AS_OF; row 1: the age column says so
    )
    result = deidentify(frame, as_of=AS_OF)
    assert result.frame["birth_date_year"].tolist() == [pd.NA, pd.NA, pd.NA, 1936]
    assert result.frame["admission_date_year"].tolist() == [2021] * 4  # not a birth date
    assert result.frame["age"].tolist() == [89, 90, 85, 84]
    birth = result.report.columns[0]
    assert (
        birth.rule == "year only; 3 blanked (born in 1935 or before, or over 89 by an age column)"
    )


@pytest.mark.parametrize("prefix", RESTRICTED)
def test_restricted_zip3_areas_become_000(prefix: str) -> None:
    frame = _frame(zip_code=[f"{prefix}42", f"{prefix}01-1234", "02138"])
    result = deidentify(frame, as_of=AS_OF)
    assert result.frame["zip_code"].tolist() == ["000", "000", "021"]


def test_zip_codes_keep_three_digits() -> None:
    frame = _frame(
        zip=["02138", "90210-1234", " 10001 ", "n/a", None, "148"],
        postal_code=[2138, 90210, 3601, None, 10001, 99950],
    )
    result = deidentify(frame, as_of=AS_OF)
    assert result.frame["zip"].tolist() == ["021", "902", "100", None, None, "148"]
    assert result.frame["postal_code"].tolist() == ["021", "902", "000", None, "100", "999"]
    (zip_report, _) = result.report.columns
    assert zip_report.rows_changed == 4  # "148" was already three digits; missing stays missing
    assert zip_report.rule.endswith("values that are not ZIP codes become missing")


def test_the_zip3_table_is_versioned_data_with_its_source() -> None:
    table = safe_harbor_zip3()
    assert table.restricted == frozenset(RESTRICTED)
    assert len(RESTRICTED) == 17
    assert "HHS" in table.source
    assert table.census == 2000
    report = deidentify(_frame(zip=["03601"]), as_of=AS_OF).report
    assert report.zip3_version == table.version
    assert report.to_dict()["zip3_version"] == table.version


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("patient_name", "name"),
        ("PatientName", "name"),
        ("first_name", "name"),
        ("surname", "name"),
        ("employer", "name"),
        ("MRN", "mrn"),
        ("medical_record_number", "mrn"),
        ("SSN", "ssn"),
        ("ssn_last4", "ssn"),
        ("social_security_number", "ssn"),
        ("home_phone", "phone"),
        ("PhoneNumber", "phone"),
        ("telephone", "phone"),
        ("mobile", "phone"),
        ("fax_number", "fax"),
        ("email", "email"),
        ("e_mail", "email"),
        ("EmailAddress", "email"),
        ("zip", "geographic"),
        ("ZIPCode", "geographic"),
        ("postal_code", "geographic"),
        ("street_address", "geographic"),
        ("city", "geographic"),
        ("county_name", "geographic"),
        ("latitude", "geographic"),
        ("dob", "date"),
        ("DateOfBirth", "date"),
        ("birth_year", "date"),
        ("admission_date", "date"),
        ("discharge_dt", "date"),
        ("admitted_at", "date"),
        ("ip_address", "ip"),
        ("url", "url"),
        ("vin", "vehicle"),
        ("license_plate", "vehicle"),
        ("device_serial", "device"),
        ("udi", "device"),
        ("member_id", "health_plan"),
        ("medicare_number", "health_plan"),
        ("account_number", "account"),
        ("drivers_license", "license"),
        ("passport", "license"),
        ("fingerprint", "biometric"),
        ("face_image", "photo"),
        ("patient_id", "other_id"),
        ("encounter_id", "other_id"),
        ("id", "other_id"),
        # not identifiers: described, or things rather than people, or allowed codes
        ("drug_name", None),
        ("site_name", None),
        ("phone_type", None),
        ("has_email", None),
        ("zip_count", None),
        ("ip_visits", None),  # inpatient
        ("birth_weight", None),
        ("time_to_event", None),
        ("discharge_disposition", None),
        ("deceased", None),
        ("state", None),
        ("study_id", None),
        ("subject_key", None),
        ("stage", None),
        ("cell_count", None),
    ],
)
def test_detection_by_name(column: str, kind: str | None) -> None:
    frame = pd.DataFrame({column: pd.Series(["x"], dtype=object)})
    found = deidentify(frame, as_of=AS_OF, strict=False).report.columns[0]
    assert found.kind == kind
    assert found.detected_by == ("name" if kind else None)


def test_detection_finds_the_synthetic_identifiers() -> None:
    patients = synthetic_patients(300, seed=4)
    result = deidentify(patients, as_of=AS_OF)
    detected = {c.column: c.kind for c in result.report.columns if c.kind and c.column != "age"}
    assert detected == dict(IDENTIFIER_COLUMNS)
    declared = deidentify(patients, identifiers=IDENTIFIER_COLUMNS, as_of=AS_OF)
    pd.testing.assert_frame_equal(declared.frame, result.frame)


def test_declared_none_keeps_a_column_detection_would_remove() -> None:
    frame = _frame(product_url=["https://example.org/drug"], dose=[5])
    result = deidentify(frame, identifiers={"product_url": None}, as_of=AS_OF)
    assert list(result.frame.columns) == ["product_url", "dose"]
    assert result.report.columns[0].rule == "kept (declared not an identifier)"


# -- the frame, the index, the report --------------------------------------------------------------


def test_the_input_frame_is_not_changed() -> None:
    patients = synthetic_patients(200, seed=2)
    before = patients.copy(deep=True)
    result = deidentify(patients, as_of=AS_OF)
    pd.testing.assert_frame_equal(patients, before)
    assert result.frame is not patients
    result.frame.iloc[0, 0] = 0
    pd.testing.assert_frame_equal(patients, before)


def test_an_identifying_index_is_deidentified_like_a_column() -> None:
    frame = _frame(mrn=["MRN1", "MRN2"], hba1c=[7.1, 6.4]).set_index("mrn")
    assert isinstance(deidentify(frame, as_of=AS_OF).frame.index, pd.RangeIndex)
    by_date = _frame(visit_date=pd.to_datetime(["2024-03-05", "2023-01-02"]), x=[1, 2])
    result = deidentify(by_date.set_index("visit_date"), as_of=AS_OF)
    assert result.frame.index.name == "visit_date_year"
    assert result.frame.index.tolist() == [2024, 2023]
    filtered = _frame(x=[1, 2, 3]).iloc[[0, 2]]
    assert deidentify(filtered, as_of=AS_OF).frame.index.tolist() == [0, 2]


def test_the_report_holds_no_values_and_is_json() -> None:
    patients = synthetic_patients(200, seed=3)
    report = deidentify(patients, as_of=AS_OF).report
    text = json.dumps(report.to_dict())
    identifiers = patients[list(IDENTIFIER_COLUMNS)].astype(str)
    for value in identifiers.to_numpy().ravel():
        assert value not in text
    assert report.to_dict()["as_of_year"] == 2025
    assert scan_text(text) == ()  # printing the report in a notebook trips no PHI scan
    assert scan_text(report.to_frame().to_string()) == ()
    table = report.to_frame()
    assert list(table.columns[:4]) == ["column", "kind", "action", "rows_changed"]
    assert len(table) == patients.shape[1]


def test_strict_refuses_kept_text_that_looks_like_phi() -> None:
    frame = _frame(
        note=["seen 2024-03-05, call (617) 555-0123", "no show", "ok"],
        dx=["E11", "I10", "E11"],
    )
    with pytest.raises(PhiDetectedError) as caught:
        deidentify(frame, as_of=AS_OF)
    err = caught.value
    assert err.path is None
    assert err.findings == [
        {"column": "note", "kind": "date", "rows": 1},
        {"column": "note", "kind": "phone", "rows": 1},
    ]
    assert "555-0123" not in str(err)
    kept = deidentify(frame, as_of=AS_OF, strict=False)
    note = kept.report.columns[0]
    assert (note.action, note.flagged_rows, note.flagged_kinds) == ("kept", 1, ("date", "phone"))
    assert kept.frame["note"].tolist() == frame["note"].tolist()


@pytest.mark.parametrize(
    ("identifiers", "message"),
    [
        ({"nope": "name"}, "does not have"),
        ({"a": "nickname"}, "use one of"),
    ],
)
def test_bad_declarations(identifiers: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        deidentify(_frame(a=[1]), identifiers=identifiers)
    assert refused.value.argument == "identifiers"


@pytest.mark.parametrize(
    ("frame", "identifiers", "message"),
    [
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), None, "unique"),
        (pd.DataFrame([[1]], columns=pd.MultiIndex.from_tuples([("a", "b")])), None, "flatten"),
        (_frame(dob=["2020-01-01"], dob_year=[2020]), {"dob_year": None}, "clashes"),
        (pd.DataFrame({"a": [1]}, index=pd.Index(["x"], name="a")), None, "index"),
        ([{"name": "x"}], None, "DataFrame"),
    ],
)
def test_frames_it_refuses(frame: Any, identifiers: dict[str, None] | None, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        deidentify(frame, identifiers=identifiers)
    assert refused.value.argument == "frame"


# -- property: no identifier survives --------------------------------------------------------------

_LETTERS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9).map(str.capitalize)
_NAMES = st.tuples(_LETTERS, _LETTERS).map(" ".join)
_SSNS = st.tuples(
    st.integers(1, 899).filter(lambda a: a != 666), st.integers(1, 99), st.integers(1, 9999)
).map(lambda p: f"{p[0]:03d}-{p[1]:02d}-{p[2]:04d}")
_PHONES = st.tuples(
    st.integers(200, 999),
    st.integers(200, 999),
    st.integers(0, 9999),
    st.sampled_from(["({}) {}-{:04d}", "{}-{}-{:04d}", "{}.{}.{:04d}", "+1 {} {} {:04d}"]),
).map(lambda p: p[3].format(*p[:3]))
_EMAILS = st.from_regex(r"[a-z][a-z0-9.]{1,12}@[a-z]{2,10}\.(com|org|net)", fullmatch=True)
_MRNS = st.integers(0, 10**8 - 1).map(lambda n: f"MRN{n:08d}")
_DATES = st.dates(datetime.date(1915, 1, 1), datetime.date(2025, 6, 1))
_ZIPS = st.integers(0, 99999).map(lambda z: f"{z:05d}")

_COLUMN_NAMES = {
    "name": ["patient_name", "PatientName", "full_name", "surname"],
    "ssn": ["ssn", "SSN", "social_security_number"],
    "phone": ["phone", "home_phone", "telephone", "PhoneNumber"],
    "email": ["email", "e_mail", "EmailAddress"],
    "mrn": ["mrn", "MRN", "medical_record_number"],
    "date": ["dob", "birth_date", "admission_date", "DateOfBirth", "discharge_dt"],
    "zip": ["zip", "zip_code", "postal_code", "ZIPCode"],
}


@st.composite
def patient_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str]]:
    """A frame of generated identifiers under realistic names, and every identifying string."""
    rows = draw(st.integers(1, 12))
    names = {kind: draw(st.sampled_from(options)) for kind, options in _COLUMN_NAMES.items()}
    column = {
        "name": draw(st.lists(_NAMES, min_size=rows, max_size=rows)),
        "ssn": draw(st.lists(_SSNS, min_size=rows, max_size=rows)),
        "phone": draw(st.lists(_PHONES, min_size=rows, max_size=rows)),
        "email": draw(st.lists(_EMAILS, min_size=rows, max_size=rows)),
        "mrn": draw(st.lists(_MRNS, min_size=rows, max_size=rows)),
        "zip": draw(st.lists(_ZIPS, min_size=rows, max_size=rows)),
    }
    dates = draw(st.lists(_DATES, min_size=rows, max_size=rows))
    as_text = draw(st.sampled_from(["%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", None]))
    column["date"] = (
        [d.strftime(as_text) for d in dates] if as_text else list(pd.to_datetime(dates))
    )
    frame = pd.DataFrame({names[kind]: values for kind, values in column.items()})
    frame["age"] = draw(st.lists(st.integers(0, 110), min_size=rows, max_size=rows))
    frame["hba1c"] = draw(
        st.lists(st.integers(40, 140).map(lambda v: v / 10), min_size=rows, max_size=rows)
    )
    frame["dx"] = pd.Categorical(
        draw(st.lists(st.sampled_from(["E11", "I10"]), min_size=rows, max_size=rows))
    )
    secrets = [str(v) for kind, values in column.items() if kind != "date" for v in values]
    secrets += [d.isoformat() for d in dates] + [d.strftime("%m/%d/%Y") for d in dates]
    return frame.sample(frac=1, axis=1, random_state=rows), secrets


@settings(max_examples=150, deadline=None)
@given(patient_frames())
def test_no_identifier_value_survives(generated: tuple[pd.DataFrame, list[str]]) -> None:
    frame, secrets = generated
    result = deidentify(frame, as_of=AS_OF)  # strict: kept text holds no PHI either
    cells = [str(v) for v in result.frame.to_numpy().ravel()]
    cells += [str(c) for c in result.frame.columns] + [str(i) for i in result.frame.index]
    report = json.dumps(result.report.to_dict())
    for secret in secrets:
        assert all(secret not in cell for cell in cells), (
            secret,
            [c for c in cells if secret in c],
        )
        assert secret not in report
    assert (result.frame["age"] <= 90).all()
    assert set(result.frame.columns) >= {"age", "hba1c", "dx"}


def test_importing_deid_and_phi_does_not_import_pandas() -> None:
    code = "import sys, nbmlops.privacy.deid, nbmlops.privacy.phi; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- identifier columns found by content ----------------------------------------------------------


@pytest.mark.parametrize("column", ["patient", "full_nm", "nombre"])
def test_a_name_column_under_any_name_is_found_by_its_values(column: str) -> None:
    patients = synthetic_patients(300, seed=2)
    frame = pd.DataFrame({column: patients["patient_name"], "hba1c": 7.0})
    with pytest.raises(PhiDetectedError) as caught:
        deidentify(frame, as_of=AS_OF)
    assert caught.value.findings == [
        {"column": column, "kind": "name", "rows": 300, "detected_by": "content"}
    ]
    assert "detected by content" in str(caught.value)
    result = deidentify(frame, as_of=AS_OF, strict=False)
    assert list(result.frame.columns) == ["hba1c"]
    (report, _) = result.report.columns
    assert (report.kind, report.action, report.detected_by) == ("name", "removed", "content")
    assert "detected by content" in report.rule


@pytest.mark.parametrize(
    ("source", "kind"),
    [("email", "email"), ("phone", "phone"), ("ssn", "ssn"), ("mrn", "mrn")],
)
def test_identifier_columns_renamed_are_found_by_content(source: str, kind: str) -> None:
    patients = synthetic_patients(300, seed=2)
    frame = pd.DataFrame({"contact_value": patients[source], "hba1c": 7.0})
    result = deidentify(frame, as_of=AS_OF, strict=False)
    (report, _) = result.report.columns
    assert (report.kind, report.action, report.detected_by) == (kind, "removed", "content")


def test_a_text_date_column_renamed_is_generalised_by_content() -> None:
    frame = pd.DataFrame({"seen": ["2024-03-05", "2023-11-30 10:15:00", None], "x": 1})
    result = deidentify(frame, as_of=AS_OF, strict=False)
    assert result.frame["seen_year"].tolist() == [2024, 2023, pd.NA]
    assert result.report.columns[0].detected_by == "content"


def test_clinical_and_coded_columns_are_not_identifiers_by_content() -> None:
    patients = synthetic_patients(2000, seed=2)
    kept = ["sex", "race_ethnicity", "payer", "region", "site", "primary_dx"]
    result = deidentify(patients[kept], as_of=AS_OF)
    assert [c.action for c in result.report.columns] == ["kept"] * len(kept)


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("USUBJID", "other_id"),
        ("SUBJID", "other_id"),
        ("BRTHDTC", "date"),
        ("TRTSDT", "date"),
        ("ASTDTM", "date"),
    ],
)
def test_cdisc_variable_names_are_known(column: str, kind: str) -> None:
    values = ["STUDY1-001-0001", "STUDY1-001-0002"] if kind != "date" else ["2024-03-05"] * 2
    result = deidentify(pd.DataFrame({column: values}), as_of=AS_OF)
    (report,) = result.report.columns
    assert (report.kind, report.detected_by) == (kind, "name")


def test_declared_columns_are_not_second_guessed_by_content() -> None:
    frame = pd.DataFrame({"clinician": ["Margaret Thompson", "John Smith"]})
    result = deidentify(frame, identifiers={"clinician": None}, as_of=AS_OF, strict=False)
    (report,) = result.report.columns
    assert (report.action, report.detected_by) == ("kept", "given")


def test_content_detection_reads_a_sample_of_a_large_frame() -> None:
    import time

    patients = synthetic_patients(1000, seed=2)
    big = pd.DataFrame({"nombre": np.resize(patients["patient_name"].to_numpy(), 1_000_000)})
    started = time.perf_counter()
    result = deidentify(big, as_of=AS_OF, strict=False, register=False)
    assert result.report.columns[0].detected_by == "content"
    assert time.perf_counter() - started < 10  # ~1 s here; dropping the column is most of it


# -- the project's identifier registry ------------------------------------------------------------


def test_removed_identifiers_are_registered_and_found_by_later_scans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "study"
    (root / ".nbmlops").mkdir(parents=True)
    monkeypatch.chdir(root)
    frame = pd.DataFrame(
        {"patient_name": ["Chioma Adeyemi", "Ann Lee"], "mrn": ["MRN0042117", "MRN0042118"]}
    )
    result = deidentify(frame, as_of=AS_OF)
    assert [c.registered > 0 for c in result.report.columns] == [True, True]
    assert [f.kind for f in scan_text("print(row) -> Adeyemi MRN0042117")] == ["name", "mrn"]
    assert [f.kind for f in scan_text("Ann Lee")] == ["name"]


def test_the_same_data_de_identified_twice_in_a_project_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report counts the hashes the registry holds for a column, not those a call added: a
    second run (or a reproduction, in a fresh project) of the same data reports the same."""
    root = tmp_path / "study"
    (root / ".nbmlops").mkdir(parents=True)
    monkeypatch.chdir(root)
    frame = pd.DataFrame(
        {"patient_name": ["Chioma Adeyemi", "Ann Lee"], "mrn": ["MRN0042117", "MRN0042118"]}
    )
    first = deidentify(frame, as_of=AS_OF).report.columns
    second = deidentify(frame, as_of=AS_OF).report.columns
    assert [c.registered for c in second] == [c.registered for c in first]
    assert first[1].registered == 2  # two MRNs, one hash each


def test_outside_a_project_nothing_is_registered(tmp_path: Path) -> None:
    frame = pd.DataFrame({"patient_name": ["Chioma Adeyemi"]})
    result = deidentify(frame, as_of=AS_OF)
    assert result.report.columns[0].registered == 0
    assert not (tmp_path / ".nbmlops").exists()
