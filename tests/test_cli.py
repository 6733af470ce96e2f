"""The `nbmlops` command: exit codes, messages that name what is wrong, and a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, MakeProject

from nbmlops.cli.main import main

HEAVY = ("mlflow", "papermill", "ploomber", "pandas", "nbformat", "jsonschema", "nbconvert", "rich")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom nbmlops.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "run" in done.stdout and "audit" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_stage_set_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    nb = tmp_path / "notebooks" / "x.ipynb"
    nb.parent.mkdir()
    nb.write_bytes((FIXTURES / "untagged.ipynb").read_bytes())
    code = main(
        [
            "stage",
            "set",
            str(nb),
            "--stage",
            "train",
            "--upstream",
            "features",
            "--product",
            "model=model.skops",
            "--param",
            "seed=42",
            "--param",
            "model=forest",
        ]
    )
    assert code == 0
    meta = json.loads(nb.read_text())["metadata"]["nbmlops"]
    assert meta == {
        "stage": "train",
        "upstream": ["features"],
        "products": {"model": "model.skops"},
        "params": {"seed": 42, "model": "forest"},
    }
    capsys.readouterr()
    assert main(["stage", "show", "--json", str(nb)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["stage"] == "train" and shown[0]["params"] == {"seed": 42, "model": "forest"}


def test_invalid_tag_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = tmp_path / "x.ipynb"
    nb.write_bytes((FIXTURES / "untagged.ipynb").read_bytes())
    before = nb.read_bytes()
    assert main(["stage", "set", str(nb), "--stage", "Bad Name"]) == 2
    out = capsys.readouterr().out
    assert "x.ipynb" in out and "'stage'" in out
    assert "e.g. train_model" in out and "does not match" not in out and "[a-z]" not in out
    assert nb.read_bytes() == before


def test_run_reports_failures_and_bad_params(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project("load", "failing_cell")
    monkeypatch.chdir(root)
    assert main(["compile", "notebooks", "--name", "demo"]) == 0
    assert main(["run", "demo", "--param", "load.n=many"]) == 2
    assert "load.n" in capsys.readouterr().out
    assert not (root / "build").exists()
    assert main(["run", "demo", "--no-tracking", "--param", "load.n=3"]) == 1
    kept = sorted((root / ".nbmlops" / "runs").glob("*.json"))[-1]
    assert json.loads(kept.read_text())["overrides"] == {"load": {"n": 3}}
    out = capsys.readouterr().out
    assert "failing" in out and "cell 5" in out and "ValueError" in out
    assert main(["status", "demo", "--param", "load.n=3"]) == 0
    status = capsys.readouterr().out
    assert "up to date" in status and "never run" in status


def test_audit_verify_detects_an_edit(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project("load")
    monkeypatch.chdir(root)
    assert main(["run", "notebooks", "--no-tracking"]) == 0
    assert main(["run", "notebooks", "--no-tracking"]) == 0
    assert main(["audit", "verify"]) == 0
    ledger = root / ".nbmlops" / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    lines[1] = lines[1].replace('"load"', '"LOAD"', 1)
    ledger.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "line 2" in capsys.readouterr().out


def test_status_json_gives_each_reason_its_kind_and_subject(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project("load", "double")
    monkeypatch.chdir(root)
    assert main(["status", "notebooks", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [s["stage"] for s in answer["stages"]] == ["load", "double"]
    assert answer["stages"][0]["reasons"] == [
        {"kind": "never_run", "subject": None, "text": "never run"}
    ]
    assert answer["stages"][0]["up_to_date"] is False


def test_a_folder_one_compiled_pipeline_is_built_from_is_that_pipeline(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project("load", "double")
    monkeypatch.chdir(root)
    assert main(["compile", "notebooks", "--name", "demo"]) == 0
    assert main(["run", "notebooks/", "--no-tracking"]) == 0
    assert (root / "build/demo/double/out.json").is_file()
    assert not (root / "build/notebooks").exists()
    capsys.readouterr()
    assert main(["status", "notebooks", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["pipeline"] == "demo"
    assert [s["up_to_date"] for s in answer["stages"]] == [True, True]
    assert main(["run", "demo", "--no-tracking"]) == 0
    assert "nothing to do" in capsys.readouterr().out

    # built from twice, the folder names no one pipeline: it is its own, named after it
    assert main(["compile", "notebooks", "--name", "other"]) == 0
    capsys.readouterr()
    assert main(["status", "notebooks", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pipeline"] == "notebooks"
