"""PHI probes, end to end: a new user's clinical project run through the real CLI and MLflow store.

Each probe puts a real patient's identifier (from the project's own raw extract) or a typed one
where a careless user would, then reads the bytes of everything that is kept or shared: the
ledger, the MLflow store (SQLite file and artifact folder), the run record, the executed notebook
and its HTML. What is asked: the append-only ledger never holds the value, MLflow never holds it,
and the run record holds it only as the PHI policy says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.clinical import clinical_project, nbmlops_cli, stage_notebook, write_notebook

pytestmark = pytest.mark.slow


def _files_holding(folder: Path, value: str) -> list[str]:
    """Files below ``folder`` whose bytes hold ``value`` (UTF-8, as text or JSON-escaped)."""
    needles = {value.encode(), json.dumps(value)[1:-1].encode()}
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    )


def _mlflow_and_ledger(root: Path, value: str) -> list[str]:
    nbmlops = root / ".nbmlops"
    kept = ["ledger.jsonl", "ledger.head", "mlflow.db", "mlartifacts"]
    return [
        hit
        for hit in _files_holding(nbmlops, value)
        if any(hit == k or hit.startswith(k + "/") for k in kept)
    ]


def _run_record(root: Path) -> str:
    (record,) = (root / ".nbmlops" / "runs").glob("*.json")
    return record.read_text(encoding="utf-8")


def _first_patient(root: Path) -> pd.Series:
    return pd.read_parquet(root / "data" / "extract.parquet").iloc[0]


def _probe_stage(root: Path, code: str, params: dict[str, object] | None = None) -> None:
    write_notebook(
        root / "analysis" / "probe.ipynb",
        stage_notebook(
            "probe",
            code,
            params={"extract": str(root / "data" / "extract.parquet"), **(params or {})},
            upstream=["cohort"],  # after the cohort's deidentify() registered the identifiers
        ),
    )


# -- parameter values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [("219-09-9999", "ssn"), ("ann.lee@example.org", "email"), ("Margaret Thompson", "name")],
)
def test_param_with_phi_is_refused_before_any_kernel_starts(
    tmp_path: Path, value: str, kind: str
) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(root, "print(len(comment))", {"comment": "none"})
    done = nbmlops_cli(root, "run", "analysis", "--param", f"probe.comment={value}")
    assert done.returncode != 0
    assert "probe.comment" in done.stderr + done.stdout
    assert kind in done.stderr + done.stdout
    assert value not in done.stderr + done.stdout
    assert not (root / "build").exists()  # no stage ran
    assert _mlflow_and_ledger(root, value) == []


def test_param_with_phi_is_redacted_everywhere_under_redact(tmp_path: Path) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(root, "print(len(comment))", {"comment": "none"})
    value = "219-09-9999"
    done = nbmlops_cli(
        root, "run", "analysis", "--phi-policy", "redact", "--param", f"probe.comment={value}"
    )
    assert done.returncode == 0, done.stderr
    assert _mlflow_and_ledger(root, value) == []
    assert value not in _run_record(root)
    assert "[REDACTED:ssn]" in _run_record(root)
    executed = root / "build" / "analysis" / "probe" / "probe.ipynb"
    assert value not in executed.read_text(encoding="utf-8")
    assert "[REDACTED:ssn]" in executed.read_text(encoding="utf-8")
    assert value not in executed.with_suffix(".html").read_text(encoding="utf-8")
    assert "11" in executed.read_text(encoding="utf-8")  # the kernel got the real value


# -- error messages ------------------------------------------------------------------------------

RAISE_WITH_PATIENT = """\
import pandas as pd
row = pd.read_parquet(extract).iloc[0]
raise ValueError(f"bad age for {row.patient_name} {row.mrn}")
"""


@pytest.mark.parametrize("policy", ["refuse", "redact"])
def test_error_naming_a_patient_stays_out_of_ledger_and_mlflow(tmp_path: Path, policy: str) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(root, RAISE_WITH_PATIENT)
    patient = _first_patient(root)
    done = nbmlops_cli(root, "run", "analysis", "--phi-policy", policy)
    assert done.returncode != 0
    for value in (patient["patient_name"], patient["mrn"]):
        assert _mlflow_and_ledger(root, value) == [], value
        assert value not in _run_record(root)
    ledger = (root / ".nbmlops" / "ledger.jsonl").read_text(encoding="utf-8")
    entries = [json.loads(line) for line in ledger.splitlines()]
    (failed,) = [e for e in entries if e["data"].get("stage") == "probe"]
    assert set(failed["data"]["error"]) == {"hmac-sha256"}  # the text lives in the run record
    record = json.loads(_run_record(root))
    (probe,) = [s for s in record["stages"] if s["stage"] == "probe"]
    if policy == "redact":
        assert "[REDACTED:name]" in probe["error"]["message"]
    else:
        assert "WITHHELD" in probe["error"]["message"]


# -- outputs and scraps --------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["refuse", "redact"])
def test_printed_names_from_the_raw_extract_never_reach_mlflow(tmp_path: Path, policy: str) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(
        root,
        "import pandas as pd\nraw = pd.read_parquet(extract)\n"
        "print(raw[['mrn', 'patient_name']].head(20).to_string())",
    )
    done = nbmlops_cli(root, "run", "analysis", "--phi-policy", policy)
    assert done.returncode == 0, done.stderr
    raw = pd.read_parquet(root / "data" / "extract.parquet").head(20)
    for name in raw["patient_name"]:
        assert _mlflow_and_ledger(root, name) == [], name
    for last in {n.split()[-1] for n in raw["patient_name"]}:
        assert _mlflow_and_ledger(root, f" {last}\n") == [], last


@pytest.mark.parametrize("policy", ["refuse", "redact"])
def test_recorded_patient_name_is_not_a_scrap_anywhere(tmp_path: Path, policy: str) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(
        root,
        "import pandas as pd\nfrom nbmlops.records.scraps import record\n"
        "record('first_patient', str(pd.read_parquet(extract).iloc[0].patient_name))",
    )
    name = _first_patient(root)["patient_name"]
    done = nbmlops_cli(root, "run", "analysis", "--phi-policy", policy)
    assert done.returncode == 0, done.stderr
    assert _mlflow_and_ledger(root, name) == []
    assert name not in _run_record(root)


# -- de-identification ---------------------------------------------------------------------------


def test_a_renamed_name_column_is_refused_by_deidentify(tmp_path: Path) -> None:
    root = clinical_project(tmp_path / "study")
    _probe_stage(
        root,
        "import pandas as pd\nfrom nbmlops.privacy.deid import deidentify\n"
        "raw = pd.read_parquet(extract)[['patient_name', 'age']]\n"
        "deidentify(raw.rename(columns={'patient_name': 'nombre'}))",
    )
    done = nbmlops_cli(root, "run", "analysis")
    assert done.returncode != 0
    record = json.loads(_run_record(root))
    (probe,) = [s for s in record["stages"] if s["stage"] == "probe"]
    assert probe["status"] == "failed"
    assert "nombre" in probe["error"]["message"]
    assert "content" in probe["error"]["message"]


def test_printed_names_are_refused_even_before_any_identifier_is_registered(
    tmp_path: Path,
) -> None:
    # the first stage of a new project: nothing registered yet, so the census lists are what
    # find the printed names (no MRN, date or phone beside them), and the default policy keeps
    # them out of MLflow
    root = clinical_project(tmp_path / "study")
    write_notebook(
        root / "analysis" / "peek.ipynb",
        stage_notebook(
            "peek",
            "import pandas as pd\n"
            "print(pd.read_parquet(extract)[['patient_name']].head(5).to_string())",
            params={"extract": str(root / "data" / "extract.parquet")},
        ),
    )
    done = nbmlops_cli(root, "run", "analysis", "--stage", "peek")
    assert done.returncode == 0, done.stderr
    assert not (root / ".nbmlops" / "identifiers.bin").exists()
    for name in pd.read_parquet(root / "data" / "extract.parquet").head(5)["patient_name"]:
        assert _mlflow_and_ledger(root, name) == [], name
    assert "NOT logged to MLflow" in _run_record(root)
