"""Declared inputs, through the real command line on a project of a user's own (not
``notebooks/``): a stage declares ``inputs`` (a raw extract, a folder of files), gets them as
absolute paths, is stale when one changes, and its run record holds what it read. Every bad input
is refused with a message naming the stage, the input and what to do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clinical import REPO, nbmlops_cli, stage_notebook, write_notebook

from nbmlops.authoring.stage import load_stage, set_stage
from nbmlops.errors import ParametersCellError, StageMetadataError

COHORT = """\
import json
from pathlib import Path

import pandas as pd

assert Path(inputs["extract"]).is_absolute() and Path(inputs["codes"]).is_absolute()
raw = pd.read_parquet(inputs["extract"])
codes = sorted(p.name for p in Path(inputs["codes"]).iterdir())
adults = raw[raw["age"] >= min_age]
made = {"patients": len(adults), "codes": codes, "cwd": str(Path.cwd())}
json.dump(made, open(product["cohort"], "w"))
"""


def _project(root: Path, code: str = COHORT, **params: Any) -> Path:
    from nbmlops.demo.datasets import synthetic_patients

    (root / "data" / "codes").mkdir(parents=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    synthetic_patients(200, seed=3).to_parquet(root / "data" / "extract.parquet", index=False)
    (root / "data" / "codes" / "icd.txt").write_text("E11\nI10\n")
    notebook = stage_notebook(
        "cohort",
        code,
        params={"min_age": 18, **params},
        products={"cohort": "cohort.json"},
        inputs={"extract": "data/extract.parquet", "codes": "data/codes"},
    )
    write_notebook(root / "analysis" / "cohort.ipynb", notebook)
    return root


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _reasons(root: Path) -> list[dict[str, Any]]:
    status = json.loads(_ok(nbmlops_cli(root, "status", "analysis", "--json")))
    [stage] = status["stages"] if isinstance(status, dict) else status
    return list(stage["reasons"])


def _record(root: Path) -> dict[str, Any]:
    records = sorted((root / ".nbmlops" / "runs").glob("*.json"))
    return dict(json.loads(records[-1].read_text()))


def test_a_changed_input_makes_its_stage_stale_and_the_record_holds_its_digest(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path)
    _ok(nbmlops_cli(root, "run", "analysis"))
    made = json.loads((root / "build/analysis/cohort/cohort.json").read_text())
    assert made["codes"] == ["icd.txt"] and made["patients"] > 0
    assert made["cwd"] == str(root / "analysis")  # the decided working directory: its folder
    stage = _record(root)["stages"][0]
    extract = root / "data" / "extract.parquet"
    assert stage["declared_inputs"]["extract"] == {
        "path": "data/extract.parquet",
        "source": str(extract),
        "sha256": _sha256(extract),
    }
    assert stage["inputs"]["input:extract"] == _sha256(extract)
    assert _datasets(_record(root), "cohort") == {
        "codes": (stage["declared_inputs"]["codes"]["sha256"], str(root / "data" / "codes")),
        "extract": (_sha256(extract), str(extract)),
    }
    assert _reasons(root) == []

    # the same bytes written again (a new inode and mtime): still up to date
    data = extract.read_bytes()
    extract.unlink()
    extract.write_bytes(data)
    assert _reasons(root) == []

    from nbmlops.demo.datasets import synthetic_patients

    synthetic_patients(150, seed=4).to_parquet(extract, index=False)
    assert _reasons(root) == [
        {"kind": "input_changed", "subject": "extract", "text": "input extract changed"}
    ]
    assert "input extract changed" in _ok(nbmlops_cli(root, "status", "analysis"))
    (root / "data" / "codes" / "atc.txt").write_text("A10\n")  # a file added to a folder input
    assert [r["subject"] for r in _reasons(root)] == ["codes", "extract"]

    _ok(nbmlops_cli(root, "run", "analysis"))
    rerun = _record(root)["stages"][0]
    assert rerun["status"] == "succeeded"
    assert rerun["declared_inputs"]["extract"]["sha256"] == _sha256(extract)
    assert _datasets(_record(root), "cohort")["extract"] == (_sha256(extract), str(extract))
    assert json.loads((root / "build/analysis/cohort/cohort.json").read_text())["codes"] == [
        "atc.txt",
        "icd.txt",
    ]
    assert _reasons(root) == []


def _datasets(record: dict[str, Any], stage: str) -> dict[str, tuple[str, str]]:
    """The MLflow dataset inputs of a stage's run: name -> (whole SHA-256, source path); checks
    that the dataset's digest is the SHA-256's first 36 hex digits (MLflow's longest)."""
    from nbmlops.records.tracking import open_client

    [child] = [s["mlflow_run_id"] for s in record["stages"] if s["stage"] == stage]
    run = open_client(record["tracking_uri"]).get_run(child)
    found = {}
    for given in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in given.tags}
        sha256 = tags["nbmlops.sha256"]
        assert given.dataset.digest == sha256[:36]
        assert given.dataset.source_type == "local"
        assert json.loads(given.dataset.profile)["sha256"] == sha256
        found[given.dataset.name] = (sha256, json.loads(given.dataset.source)["uri"])
    return found


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("bad", ["missing", "dangling", "symlink_file", "symlink_in_folder"])
def test_an_input_that_cannot_be_read_stops_the_run_before_any_kernel(
    tmp_path: Path, bad: str
) -> None:
    root = _project(tmp_path / "project")
    outside = tmp_path / "elsewhere.parquet"
    shutil.copy(root / "data" / "extract.parquet", outside)
    extract = root / "data" / "extract.parquet"
    extract.unlink()
    if bad == "dangling":
        extract.symlink_to(root / "data" / "gone.parquet")
    elif bad == "symlink_file":
        extract.symlink_to(outside)
    elif bad == "symlink_in_folder":
        shutil.copy(outside, extract)
        (root / "data" / "codes" / "more.txt").symlink_to(outside)
    done = nbmlops_cli(root, "run", "analysis")
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "stage 'cohort': input" in message
    if bad in ("missing", "dangling"):
        assert "'extract' (data/extract.parquet) does not exist" in message
        assert "--input extract=PATH" in message
        assert [r["kind"] for r in _reasons(root)] == ["never_run"]
    else:
        assert "symbolic link that leads out of the project" in message
        assert "Copy the data into the project" in message
    assert not (root / "build").exists() and not (root / ".nbmlops" / "runs").exists()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/etc/passwd", "inputs.extract"),
        ("../outside.csv", "inputs.extract"),
        ("data/../../outside.csv", "inputs.extract"),
    ],
)
def test_an_input_path_escaping_the_project_is_refused_when_declared(
    tmp_path: Path, path: str, field: str
) -> None:
    root = _project(tmp_path)
    notebook = root / "analysis" / "cohort.ipynb"
    before = notebook.read_text()
    done = nbmlops_cli(root, "stage", "set", str(notebook), "--input", f"extract={path}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert field in done.stdout + done.stderr
    assert notebook.read_text() == before
    with pytest.raises(StageMetadataError) as caught:
        set_stage(notebook, inputs={"extract": path})
    assert caught.value.field == field


def test_an_input_needs_an_identifier_for_a_name(tmp_path: Path) -> None:
    root = _project(tmp_path)
    with pytest.raises(StageMetadataError) as caught:
        set_stage(root / "analysis" / "cohort.ipynb", inputs={"raw extract": "data/x.csv"})
    assert caught.value.field == "inputs"


def test_a_stage_that_writes_into_its_input_fails_naming_it(tmp_path: Path) -> None:
    writes = COHORT + '\nopen(Path(inputs["codes"]) / "scratch.txt", "w").write("x")\n'
    root = _project(tmp_path, code=writes)
    done = nbmlops_cli(root, "run", "analysis")
    assert done.returncode == 1
    [stage] = _record(root)["stages"]
    assert stage["status"] == "failed"
    assert stage["error"]["error"] == "InputChangedError"
    assert stage["error"]["input"] == "codes"
    assert "input 'codes' (data/codes) changed while the stage ran" in stage["error"]["message"]
    assert "not into inputs['codes']" in stage["error"]["message"]
    assert not (root / "build/analysis/cohort/cohort.json").exists()  # nothing promoted


def test_an_input_changed_by_another_program_while_its_stage_runs_fails_it(
    tmp_path: Path,
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    waits = (
        f'open({str(started)!r}, "w").close()\n'
        "import time\n"
        f"while not Path({str(release)!r}).exists():\n"
        "    time.sleep(0.1)\n"
    )
    root = _project(tmp_path / "project", code=COHORT + waits)
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "nbmlops"), "run", "analysis"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not started.exists():
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.1)
    extract = root / "data" / "extract.parquet"
    extract.write_bytes(extract.read_bytes() + b"appended")
    release.touch()
    out, err = run.communicate(timeout=180)
    assert run.returncode == 1, out + err
    [stage] = _record(root)["stages"]
    assert stage["error"]["error"] == "InputChangedError"
    assert stage["error"]["input"] == "extract"
    assert stage["error"]["after"] == _sha256(extract) != stage["error"]["before"]


def test_v1_metadata_loads_and_a_v1_parameter_named_inputs_stays_a_parameter(
    tmp_path: Path,
) -> None:
    path = write_notebook(
        tmp_path / "old.ipynb", stage_notebook("old", "print(inputs)", params={"inputs": 3})
    )
    spec = load_stage(path)
    assert spec.inputs == {} and spec.params == {"inputs": 3}
    assert spec.metadata()["inputs"] == {}
    with pytest.raises(StageMetadataError) as caught:  # reserved once inputs are declared
        set_stage(path, inputs={"extract": "x.csv"})
    assert caught.value.field == "params"


def test_stage_set_declares_inputs_and_the_parameters_cell_follows(tmp_path: Path) -> None:
    root = tmp_path
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    notebook = write_notebook(root / "analysis" / "s.ipynb", stage_notebook("s", "x = 1"))
    _ok(nbmlops_cli(root, "stage", "set", str(notebook), "--input", "extract=data/e.csv"))
    cell = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    assert "inputs = None" in cell.splitlines()
    shown = json.loads(_ok(nbmlops_cli(root, "stage", "show", str(notebook), "--json")))
    assert shown[0]["inputs"] == {"extract": "data/e.csv"}
    table = nbmlops_cli(root, "stage", "show", "analysis/s.ipynb", env={"COLUMNS": "200"})
    assert "extract: data/e.csv" in _ok(table)
    # declared inputs need `inputs = None` in the parameters cell, as Ploomber passes them
    nb = json.loads(notebook.read_text())
    nb["cells"][0]["source"] = "product = None"
    notebook.write_text(json.dumps(nb))
    with pytest.raises(ParametersCellError) as caught:
        load_stage(notebook)
    assert caught.value.param == "inputs"


def test_plain_ploomber_build_gets_the_inputs_as_absolute_paths(tmp_path: Path) -> None:
    import os

    root = _project(tmp_path)
    _ok(nbmlops_cli(root, "compile", "analysis", "--name", "study"))
    compiled = (root / "pipelines/study/pipeline.yaml").read_text()
    assert "{{here}}/../../data/extract.parquet" in compiled
    env = {**os.environ, "PLOOMBER_STATS_ENABLED": "false"}
    env["PLOOMBER_VERSION_CHECK_DISABLED"] = "true"
    ploomber = str(Path(sys.executable).parent / "ploomber")
    done = subprocess.run(
        [ploomber, "build", "-e", "pipelines/study/pipeline.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    made = json.loads((root / "build/study/cohort/cohort.json").read_text())
    assert made["codes"] == ["icd.txt"]
    assert made["cwd"] == str(root / "analysis")  # as under nbmlops run and in JupyterLab


def test_the_review_summary_shows_each_stage_s_declared_inputs(tmp_path: Path) -> None:
    from nbmlops.review import session

    root = tmp_path
    (root / "notebooks").mkdir()
    (root / "data").mkdir()
    (root / "data" / "registry.csv").write_text("site,n\nA,3\n")
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    for name in ("review_model", "review_results"):
        shutil.copy(REPO / "tests/notebooks" / f"{name}.ipynb", root / "notebooks")
    model = "notebooks/review_model.ipynb"
    _ok(nbmlops_cli(root, "stage", "set", model, "--input", "registry=data/registry.csv"))
    _ok(nbmlops_cli(root, "run", "notebooks"))
    summary = session("latest", root=root)._summary_html()
    assert "<h4>Declared inputs</h4>" in summary
    assert "<td>registry</td><td>data/registry.csv</td>" in summary
    assert _sha256(root / "data" / "registry.csv") in summary
