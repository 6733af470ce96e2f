"""nbmlops.privacy.phi: what the scan finds, what it leaves alone, and notebooks redacted or
refused."""

from __future__ import annotations

import copy
import datetime
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmlops.errors import (
    InvalidInputError,
    MalformedNotebookError,
    NotebookError,
    PhiDetectedError,
)
from nbmlops.privacy.phi import (
    census_names,
    check_notebook,
    redact_notebook,
    redact_text,
    scan_notebook,
    scan_text,
)


@pytest.fixture(autouse=True)
def _outside_any_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans default to the registry of the project around the working directory: none here."""
    monkeypatch.chdir(tmp_path)


# -- known strings --------------------------------------------------------------------------------

PHI = [
    ("SSN 219-09-9999", "ssn", "219-09-9999"),
    ("ssn: 219099999", "ssn", "219099999"),
    ("Social Security Number 219 09 9999", "ssn", "219 09 9999"),
    ("synthetic 969-35-7748", "ssn", "969-35-7748"),  # 9xx areas: ITINs and test data
    ("MRN08784650", "mrn", "08784650"),
    ("MRN: 1234567", "mrn", "1234567"),
    ("mrn #A1234567", "mrn", "A1234567"),
    ("Medical record number: 445566", "mrn", "445566"),
    ("Patient ID: 445566", "mrn", "445566"),
    ("(201) 555-0188", "phone", "(201) 555-0188"),
    ("call 201-555-0188.", "phone", "201-555-0188"),
    ("201.555.0188", "phone", "201.555.0188"),
    ("+1 201 555 0188", "phone", "+1 201 555 0188"),
    ("+1 201-555-0188", "phone", "+1 201-555-0188"),
    ("1-201-555-0188", "phone", "1-201-555-0188"),
    ("+12015550188", "phone", "+12015550188"),
    ("Fax: 2015550188", "phone", "2015550188"),
    ("natalie.fisher@example.org", "email", "natalie.fisher@example.org"),
    ("<j_doe+rx@mail.hospital.net>", "email", "j_doe+rx@mail.hospital.net"),
    ("2024-03-05", "date", "2024-03-05"),
    ("admitted 2023-09-18 14:30:00", "date", "2023-09-18"),
    ("2024/3/5", "date", "2024/3/5"),
    ("03/05/2024", "date", "03/05/2024"),
    ("31/12/1950", "date", "31/12/1950"),
    ("3/5/24", "date", "3/5/24"),
    ("05.03.2024", "date", "05.03.2024"),
    ("12-31-1999", "date", "12-31-1999"),
    ("March 5, 2024", "date", "March 5, 2024"),
    ("born Sept. 5th, 1931", "date", "Sept. 5th, 1931"),
    ("5 Mar 2024", "date", "5 Mar 2024"),
    ("the 5th of March 2024", "date", "5th of March 2024"),
    ("02138-4021", "geographic", "02138-4021"),
    ("ZIP code: 02138", "geographic", "02138"),
]

SAFE = [
    "AUROC: 0.873 (95% CI 0.851-0.894)",
    "X_train.shape = (5000, 22)",
    "trained 2024, evaluated 2025",
    "fiscal years 2023-2024",
    "March 2024 cohort",
    "certifi==2024.8.30 tzdata 2024.2 fsspec-2024.6.1",
    "numpy 2.4.6, pandas 2.3.3, python 3.11.9",
    "Jupyter Server is running at http://127.0.0.1:8888/lab",
    "run 3f2a9c0d1e4b4a6f8e7d6c5b4a3f2e1d finished",
    "started 2024-03-05T10:00:00Z, ended 2024-03-05T10:02:13.512+00:00",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "Epoch 10/100 - loss: 0.1234 - val_auc: 0.8812",
    "split 70/15/15, lr 1e-05, batch 256",
    "[ 200  300 4000]",
    "took 00:01:23.45",
    "RangeIndex: 5000 entries, 0 to 4999",
    "dtypes: category(6), float64(2), int64(10)",
    "p = 0.0012345, n = 123456789",
    "      precision    recall  f1-score   support\n"
    "   macro avg       0.81      0.79      0.80      1000",
    "zip_code\n021\n000\n148",
    "dropped columns: patient_name, mrn, phone, email, ssn",
    "age 90 means 90 or older",
    "10.1.1.2024 is not a date",
    "decision threshold 0.35; summary by month",
    "lr 1e-05 March 2024 sweep, v2.05 May 2024",
    "coef -4.0021, intercept 0.8000, 1234-5678",
    "000-12-3456 666-12-3456 123-00-4567 123-45-0000",
]


@pytest.mark.parametrize(("text", "kind", "value"), PHI)
def test_finds_each_form(text: str, kind: str, value: str) -> None:
    findings = scan_text(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [(kind, value)]
    assert value not in redact_text(text)
    assert f"[REDACTED:{kind}]" in redact_text(text)
    assert value not in findings[0].excerpt


@pytest.mark.parametrize("text", SAFE)
def test_typical_model_output_is_clean(text: str) -> None:
    assert scan_text(text) == ()
    assert redact_text(text) == text


def test_finding_says_where_and_masks_its_context() -> None:
    text = "auc 0.91\nrow: Ann Lee, MRN 7654321, born 1950-02-03 in 02138-4021"
    findings = scan_text(text)
    assert [(f.kind, f.line, f.column) for f in findings] == [
        ("name", 2, 6),
        ("mrn", 2, 19),
        ("date", 2, 33),
        ("geographic", 2, 47),
    ]
    excerpt = ", MRN [REDACTED:mrn], born [REDACTED:date] in [REDACTED:geographic]"
    assert findings[2].excerpt == excerpt


def test_redaction_keeps_labels_and_lines() -> None:
    text = "SSN: 219099999\nphone (617) 555-0123\n"
    assert redact_text(text) == "SSN: [REDACTED:ssn]\nphone [REDACTED:phone]\n"


# -- generated identifiers in generated text ------------------------------------------------------

_MONTH_FORMATS = ["%B %d, %Y", "%d %b %Y", "%b. %d, %Y", "%d %B %Y"]
_NUMERIC_FORMATS = ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%m/%d/%y", "%m-%d-%Y", "%Y/%m/%d"]


@st.composite
def identifiers(draw: st.DrawFn) -> tuple[str, str, str]:
    """``(text, kind, secret)``: an identifier as it is written, and the part that must go."""
    kind = draw(st.sampled_from(["ssn", "mrn", "phone", "email", "date", "zip4"]))
    if kind == "ssn":
        area = draw(st.integers(1, 999).filter(lambda a: a != 666))
        value = f"{area:03d}-{draw(st.integers(1, 99)):02d}-{draw(st.integers(1, 9999)):04d}"
        return value, "ssn", value
    if kind == "mrn":
        digits = str(draw(st.integers(1000, 10**10)))
        label = draw(st.sampled_from(["MRN", "MRN:", "MRN #", "mrn", "Medical record number:"]))
        return f"{label}{'' if label == 'MRN' else ' '}{digits}", "mrn", digits
    if kind == "phone":
        area, exchange = draw(st.integers(200, 999)), draw(st.integers(200, 999))
        line = f"{draw(st.integers(0, 9999)):04d}"
        form = draw(
            st.sampled_from(
                ["({a}) {e}-{n}", "{a}-{e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "1-{a}-{e}-{n}"]
            )
        )
        value = form.format(a=area, e=exchange, n=line)
        return value, "phone", value
    if kind == "email":
        local = draw(st.from_regex(r"[a-z][a-z0-9._+-]{0,20}", fullmatch=True))
        domain = draw(st.from_regex(r"[a-z][a-z0-9-]{0,12}[a-z0-9]", fullmatch=True))
        tld = draw(st.sampled_from(["com", "org", "net", "health", "io"]))
        value = f"{local}@{domain}.{tld}"
        return value, "email", value
    if kind == "zip4":
        value = f"{draw(st.integers(0, 99999)):05d}-{draw(st.integers(0, 9999)):04d}"
        return value, "geographic", value
    day = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)))
    value = day.strftime(draw(st.sampled_from(_MONTH_FORMATS + _NUMERIC_FORMATS)))
    return value, "date", value


# Surrounding text as a notebook prints it: words, metrics, shapes, years, log lines.
_FILLER = st.lists(
    st.sampled_from(
        [
            "auc",
            "0.873",
            "loss:",
            "(5000, 22)",
            "2024",
            "n=120",
            "Epoch",
            "3/10",
            "patient",
            "rows",
            "dropped",
            "mean",
            "-0.0123",
            "1e-05",
            "INFO",
            "[",
            "]",
            ",",
            ";",
            "March",
            "zip",
            "ssn",
            "phone:",
            "\n",
            "\t",
            "label",
            "|",
            "ok",
            "90+",
        ]
    ),
    max_size=8,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(before=_FILLER, identifier=identifiers(), after=_FILLER)
def test_scan_finds_and_redaction_removes_generated_identifiers(
    before: str, identifier: tuple[str, str, str], after: str
) -> None:
    value, kind, secret = identifier
    text = f"{before} {value} {after}"
    begin = len(before) + 1
    findings = scan_text(text)
    inside = [f for f in findings if begin <= f.start and f.end <= begin + len(value)]
    assert [f.kind for f in inside] == [kind], (text, findings)
    assert all(begin <= f.start and f.end <= begin + len(value) for f in findings), findings
    redacted = redact_text(text)
    assert redacted.startswith(f"{before} ")
    assert redacted.endswith(f" {after}")
    assert secret not in redacted[len(before) + 1 : len(redacted) - len(after) - 1]
    assert all(secret not in f.excerpt for f in findings)


# -- notebooks ------------------------------------------------------------------------------------


def _notebook(*cells: dict[str, Any]) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def _code(source: str, *outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {},
        "source": source,
        "outputs": list(outputs),
    }


def _stream(text: str | list[str]) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _display(data: dict[str, Any], kind: str = "display_data") -> dict[str, Any]:
    return {"output_type": kind, "data": data, "metadata": {}}


_ROW = "   patient_name          mrn  birth_date  zip_code           phone\n0  Ann Lee  MRN08784650  1986-03-11     49964  (201) 555-0188\n"  # noqa: E501

_METRICS_HTML = (
    "<table><tr><th>model</th><th>AUROC</th><th>Brier</th><th>n</th></tr>"
    "<tr><td>logreg</td><td>0.8731</td><td>0.1542</td><td>5000</td></tr>"
    "<tr><td>gbm</td><td>0.8812</td><td>0.1490</td><td>5000</td></tr></table>"
)


def _ml_notebook() -> dict[str, Any]:
    """What a training stage prints: parameters, shapes, metrics, versions, a plot, a scrap."""
    return _notebook(
        {"cell_type": "markdown", "metadata": {}, "source": "# Train (data as of 2024-03-05)"},
        _code("seed = 42  # MRN 1234567 in a comment is source, not output"),
        _code("X.shape", _display({"text/plain": "(5000, 22)"}, "execute_result")),
        _code(
            "metrics",
            _display({"text/plain": "AUROC 0.8731\nBrier 0.1542", "text/html": _METRICS_HTML}),
        ),
        _code(
            "print(versions)",
            _stream(["numpy 2.4.6\n", "scikit-learn 1.7.2\n", "trained in 2024 on 2023 data\n"]),
        ),
        _code(
            "plot",
            _display({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"}),
        ),
        _code("record('auroc', auroc)", _scrap("auroc", 0.8731)),
        _code(
            "log",
            _stream("INFO 2024-03-05T10:00:00Z fit done in 12.3 s, 100 trees, depth 6\n"),
        ),
    )


def _scrap(name: str, value: object) -> dict[str, Any]:
    encoder = "text" if isinstance(value, str) else "json"
    payload = {"name": name, "data": value, "encoder": encoder, "version": 1}
    return _display({f"application/scrapbook.scrap.{encoder}+json": payload})


def _phi_notebook() -> dict[str, Any]:
    nb = _ml_notebook()
    nb["cells"].insert(3, _code("patients.head(1)", _stream(_ROW)))
    nb["cells"].append(
        _code(
            "lookup(mrn)",
            {
                "output_type": "error",
                "ename": "KeyError",
                "evalue": "'MRN: 7654321'",
                "traceback": ["KeyError: 'MRN: 7654321'"],
            },
        )
    )
    nb["cells"].append(
        _code("summary", _display({"application/json": {"contact": {"email": "a.b@example.org"}}}))
    )
    # a scrap is a value recorded on purpose, and it is logged: it is scanned like any output
    nb["cells"].append(_code("record('seen', seen)", _scrap("seen", "last seen 2024-03-05")))
    return nb


def test_a_clean_training_notebook_has_no_findings() -> None:
    assert scan_notebook(_ml_notebook()) == ()


def test_a_printed_patient_row_is_found_in_its_cell() -> None:
    findings = scan_notebook(_phi_notebook())
    where = sorted({(f.cell_index, f.output_index, f.source, f.kind) for f in findings})
    assert where == [
        (3, 0, "stream:stdout", "date"),
        (3, 0, "stream:stdout", "mrn"),
        (3, 0, "stream:stdout", "name"),
        (3, 0, "stream:stdout", "phone"),
        (9, 0, "error", "mrn"),
        (10, 0, "application/json", "email"),
        (11, 0, "application/scrapbook.scrap.text+json", "date"),
    ]
    assert all("7654321" not in f.excerpt and "8784650" not in f.excerpt for f in findings)


def test_redacted_notebook_is_clean_keeps_shape_and_leaves_the_input_alone() -> None:
    original = _phi_notebook()
    before = copy.deepcopy(original)
    redacted = redact_notebook(original)
    assert original == before
    assert scan_notebook(redacted) == ()
    text = json.dumps(redacted)
    for value in ("MRN08784650", "1986-03-11", "555-0188", "7654321", "a.b@example.org"):
        assert value not in text
    assert redacted["cells"][3]["outputs"][0]["text"].startswith("   patient_name")
    assert redacted["cells"][5] == before["cells"][5]
    assert redacted["cells"][10]["outputs"][0]["data"]["application/json"] == {
        "contact": {"email": "[REDACTED:email]"}
    }
    scrap = redacted["cells"][11]["outputs"][0]["data"]["application/scrapbook.scrap.text+json"]
    assert scrap["data"] == "last seen [REDACTED:date]"
    assert redacted["cells"][7] == before["cells"][7]  # the numeric scrap is as it was


def test_lists_of_lines_stay_lists() -> None:
    nb = _notebook(_code("", _stream(["ok\n", "SSN 219-09-9999\n", "done\n"])))
    assert redact_notebook(nb)["cells"][0]["outputs"][0]["text"] == [
        "ok\n",
        "SSN [REDACTED:ssn]\n",
        "done\n",
    ]


def _write(tmp_path: Path, nb: dict[str, Any]) -> Path:
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_refuse_names_file_kinds_and_cells_but_no_value(tmp_path: Path) -> None:
    path = _write(tmp_path, _phi_notebook())
    with pytest.raises(PhiDetectedError) as caught:
        check_notebook(path, policy="refuse")
    err = caught.value
    assert err.path == path
    assert {(f["cell_index"], f["kind"]) for f in err.findings} == {
        (3, "date"),
        (3, "mrn"),
        (3, "name"),
        (3, "phone"),
        (9, "mrn"),
        (10, "email"),
        (11, "date"),
    }
    for value in ("8784650", "1986", "555", "7654321", "example.org", "Ann"):
        assert value not in str(err)
        assert value not in json.dumps(err.to_dict())
    assert "cell 4" in str(err)  # counted from 1 in the message, like CellExecutionError


def test_redact_policy_hands_back_a_copy_to_log(tmp_path: Path) -> None:
    path = _write(tmp_path, _phi_notebook())
    check = check_notebook(path, policy="redact")
    assert check.findings
    assert check.redacted is not None
    assert scan_notebook(check.redacted) == ()
    assert json.loads(path.read_text(encoding="utf-8")) == _phi_notebook()


def test_clean_notebook_and_off_policy_need_no_copy(tmp_path: Path) -> None:
    clean = check_notebook(_write(tmp_path, _ml_notebook()), policy="refuse")
    assert (clean.findings, clean.redacted) == ((), None)
    off = check_notebook(_write(tmp_path, _phi_notebook()), policy="off")
    assert (off.findings, off.redacted) == ((), None)
    with pytest.raises(InvalidInputError) as refused:
        check_notebook(tmp_path / "train.ipynb", policy="warn")  # type: ignore[arg-type]
    assert refused.value.argument == "policy"


def test_unreadable_notebooks(tmp_path: Path) -> None:
    with pytest.raises(NotebookError):
        check_notebook(tmp_path / "missing.ipynb", policy="refuse")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(MalformedNotebookError):
        scan_notebook(bad)
    with pytest.raises(MalformedNotebookError):
        scan_notebook({"nbformat": 4, "cells": {}})


def test_a_5_mb_notebook_is_scanned_in_well_under_a_second() -> None:
    table = "<tr><td>feature_12</td><td>0.8731</td><td>1234</td><td>-0.0123</td><td>2024</td></tr>"
    cells = [
        _code("", _display({"text/html": table * 1000, "text/plain": "AUROC 0.873\n" * 400}))
        for _ in range(60)
    ]
    nb = _notebook(*cells)
    assert len(json.dumps(nb)) > 5_000_000
    census_names()  # loaded once per process (~0.1 s), not per scan
    started = time.process_time()  # CPU time: other work on the machine does not count
    assert scan_notebook(nb) == ()
    # ~0.25 s on a laptop core; the margin absorbs a slow CI core
    assert time.process_time() - started < 1.5


def test_embedded_images_are_not_scanned_but_text_beside_them_is() -> None:
    # base64 is letters, digits and '/': an image can spell a date by chance (seen in a review
    # notebook's plots), which must not get the whole notebook refused
    html = '<img src="data:image/png;base64,iVBORw0KGgo+12/01/2023+AAAA"/>'
    assert scan_text(html) == ()
    (finding,) = scan_text(html + " seen 12/01/2023")
    assert finding.kind == "date" and finding.start == len(html) + 6


# -- person names (1990 Census lists) --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["seen by Margaret Thompson today", "MARGARET THOMPSON", "John A. Smith", "Mary O'Brien"],
)
def test_a_person_name_is_found_by_its_first_and_last_name(text: str) -> None:
    assert [f.kind for f in scan_text(text, identifiers=None)] == ["name"]


@pytest.mark.parametrize(
    "text",
    [
        "Will Smith said",  # "Will" is an everyday word, left out of the first names
        "May Green",
        "Random Forest beats Logistic Regression",
        "Grant Program",
        "margaret thompson",  # not written as a name
        "AUC Score",
        "Ann SMITH",
    ],
)
def test_everyday_words_and_lower_case_are_not_names(text: str) -> None:
    assert scan_text(text, identifiers=None) == ()


def test_the_census_lists_say_where_they_come_from() -> None:
    names = census_names()
    assert names.version == "1990.1"
    assert "public domain" in names.licence and "1990" in names.source
    assert len(names.first) > 4000 and len(names.last) > 80000
    assert "will" not in names.first and "will" in names.common_words


# -- the project's own identifiers ----------------------------------------------------------------


def test_registered_identifiers_are_found_wherever_they_appear(tmp_path: Path) -> None:
    from nbmlops.privacy.identifiers import project_registry, register_identifiers

    root = tmp_path / "study"
    (root / ".nbmlops").mkdir(parents=True)
    assert register_identifiers(root, ["Chioma Adeyemi", "Ann Lee", None], kind="name") > 0
    assert register_identifiers(root, ["A-0042117", float("nan")], kind="mrn") == 1
    registry = project_registry(root)
    found = {
        text: [f.kind for f in scan_text(text, identifiers=registry)]
        for text in (
            "first row: Adeyemi",  # a rare surname alone (not in the 1990 Census lists)
            "lee, ann",  # a registered pair, any case and order
            "looked up A-0042117 in the EHR",
            "adeyemi",  # a single token in lower case is not written as a name
            "Lee",  # a common surname alone identifies nobody
        )
    }
    assert found == {
        "first row: Adeyemi": ["name"],
        "lee, ann": ["name"],
        "looked up A-0042117 in the EHR": ["mrn"],
        "adeyemi": [],
        "Lee": [],
    }
    assert redact_text("Adeyemi, Chioma", identifiers=registry) == "[REDACTED:name]"


def test_the_registry_keeps_keyed_hashes_only_readable_by_the_owner(tmp_path: Path) -> None:
    from nbmlops.privacy.identifiers import register_identifiers

    root = tmp_path / "study"
    register_identifiers(root, ["Chioma Adeyemi"], kind="name")
    key, store = root / ".nbmlops" / "identifiers.key", root / ".nbmlops" / "identifiers.bin"
    assert key.stat().st_mode & 0o777 == 0o600
    assert store.stat().st_mode & 0o777 == 0o600
    assert b"adeyemi" not in store.read_bytes().lower()
    size = store.stat().st_size
    assert register_identifiers(root, ["Chioma Adeyemi"], kind="name") == 0  # nothing twice
    assert store.stat().st_size == size


def test_scans_use_the_registry_of_the_project_they_run_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbmlops.privacy.phi import register_identifiers

    root = tmp_path / "study"
    (root / "build" / "stage").mkdir(parents=True)
    (root / "uv.lock").write_text("")
    monkeypatch.chdir(root / "build" / "stage")  # where a stage's kernel runs
    assert scan_text("Adeyemi") == ()
    register_identifiers(["Chioma Adeyemi"], kind="name")
    assert [f.kind for f in scan_text("Adeyemi")] == ["name"]


def test_ledger_digests_are_keyed_per_project(tmp_path: Path) -> None:
    from nbmlops.privacy.identifiers import ledger_digest

    one, two = tmp_path / "one", tmp_path / "two"
    value = {"message": "bad age for Ann Lee"}
    assert ledger_digest(one, value) == ledger_digest(one, dict(value))
    assert ledger_digest(one, value) != ledger_digest(two, value)
    assert set(ledger_digest(one, value)) == {"hmac-sha256"}


def test_a_5_mb_notebook_with_a_registry_of_10000_patients_finds_the_one_registered_name(
    tmp_path: Path,
) -> None:
    # the registry's cost next to the plain scan is a benchmark (bench/bench_phi.py
    # `registry_on_a_large_notebook`); here: it finds what it must, nothing else, in bounded CPU
    from nbmlops.demo.datasets import synthetic_patients
    from nbmlops.privacy.identifiers import project_registry, register_identifiers

    patients = synthetic_patients(10_000, seed=1)
    register_identifiers(tmp_path, patients["patient_name"], kind="name")
    register_identifiers(tmp_path, patients["mrn"], kind="mrn")
    register_identifiers(tmp_path, ["Chioma Adeyemi"], kind="name")  # in no census list
    registry = project_registry(tmp_path)
    table = "<tr><td>feature_12</td><td>0.8731</td><td>1234</td><td>-0.0123</td><td>2024</td></tr>"
    prose = "Fitted a Logistic Regression on the training split; Brier score 0.18.\n"
    cells = [
        _code("", _display({"text/html": table * 1000, "text/plain": prose * 80}))
        for _ in range(60)
    ]
    census_names()
    started = time.process_time()  # CPU time: other work on the machine does not count
    assert scan_notebook(_notebook(*cells), identifiers=registry) == ()
    # ~0.6 s here; only a scan that went quadratic or regex-per-hash would pass this ceiling
    assert time.process_time() - started < 6

    cells[30] = _code("", _display({"text/plain": prose * 40 + "seen by Adeyemi\n" + prose * 40}))
    assert scan_notebook(_notebook(*cells), identifiers=None) == ()
    found = scan_notebook(_notebook(*cells), identifiers=registry)
    assert [(f.cell_index, f.kind, f.line) for f in found] == [(30, "name", 41)]


# -- values: parameters, errors, scraps -----------------------------------------------------------


def test_refuse_withholds_and_redact_redacts_each_text_that_holds_phi() -> None:
    from nbmlops.privacy.phi import apply_policy

    error = {"error": "CellExecutionError", "message": "bad age for Margaret Thompson", "n": 3}
    withheld, kinds = apply_policy(error, policy="refuse", identifiers=None)
    assert kinds == ("name",)
    assert withheld["message"].startswith("[WITHHELD") and "Thompson" not in withheld["message"]
    assert withheld["error"] == "CellExecutionError" and withheld["n"] == 3
    redacted, _ = apply_policy(error, policy="redact", identifiers=None)
    assert redacted["message"] == "bad age for [REDACTED:name]"
    assert apply_policy(error, policy="off", identifiers=None) == (error, ())


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("219-09-9999", "ssn"),
        ("ann.lee@example.org", "email"),
        ("(617) 555-0123", "phone"),
        ("2024-03-05", "date"),
        ("Margaret Thompson", "name"),
        (["ok", {"who": "Margaret Thompson"}], "name"),
    ],
)
def test_a_parameter_value_with_phi_is_refused_naming_parameter_and_kind(
    value: object, kind: str
) -> None:
    from nbmlops.authoring.parameters import check_phi

    with pytest.raises(PhiDetectedError) as caught:
        check_phi({"train": {"note": value}}, policy="refuse", identifiers=None)
    err = caught.value
    assert (err.stage, err.param, err.path) == ("train", "note", None)
    assert [f["kind"] for f in err.findings] == [kind]
    assert "Thompson" not in str(err) and "219-09" not in str(err)
    recorded = check_phi({"train": {"note": value, "seed": 7}}, policy="redact", identifiers=None)
    assert f"[REDACTED:{kind}]" in json.dumps(recorded) and recorded["train"]["seed"] == 7


def test_flags_and_short_values_are_never_registered(tmp_path: Path) -> None:
    import numpy as np

    from nbmlops.privacy.identifiers import register_identifiers

    assert register_identifiers(tmp_path, [True, np.bool_(False), None], kind="name") == 0
    assert register_identifiers(tmp_path, ["A1", "007"], kind="mrn") == 0  # under 4 characters


def test_a_torn_record_is_dropped_before_the_next_append(tmp_path: Path) -> None:
    from nbmlops.privacy.identifiers import project_registry, register_identifiers

    register_identifiers(tmp_path, ["QX-77120435"], kind="account")
    store = tmp_path / ".nbmlops" / "identifiers.bin"
    with store.open("ab") as fh:
        fh.write(b"\x01\x02\x03")  # a write cut short
    register_identifiers(tmp_path, ["QX-77120436"], kind="account")
    assert store.stat().st_size == 18
    registry = project_registry(tmp_path)
    assert scan_text("QX-77120435 QX-77120436", identifiers=None) == ()  # no pattern finds them
    found = scan_text("QX-77120435 QX-77120436", identifiers=registry)
    assert [f.kind for f in found] == ["other_id", "other_id"]


def test_free_text_for_a_kept_record_passes_the_project_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbmlops.errors import PhiInTextError
    from nbmlops.privacy.phi import check_free_text

    text = "patient MRN12345678 looked off"
    monkeypatch.delenv("NBMLOPS_PHI_POLICY", raising=False)
    with pytest.raises(PhiInTextError) as refused:  # refuse, the default
        check_free_text(tmp_path, text, field="comment", subject="the decision on run R")
    assert (refused.value.field, refused.value.kinds) == ("comment", ("mrn",))
    assert "MRN12345678" not in str(refused.value) and "comment" in str(refused.value)
    clean = "Calibration within limits."
    assert check_free_text(tmp_path, clean, field="comment", subject="a decision") == clean
    (tmp_path / "pyproject.toml").write_text('[tool.nbmlops]\nphi_policy = "redact"\n')
    redacted = check_free_text(tmp_path, text, field="comment", subject="a decision")
    assert redacted == "patient MRN[REDACTED:mrn] looked off"
    monkeypatch.setenv("NBMLOPS_PHI_POLICY", "off")
    assert check_free_text(tmp_path, text, field="comment", subject="a decision") == text
