"""``nbmlops reproduce`` (issue 14): a recorded run of a project made here (git, a declared input
that git does not hold, a skops model saved by ``save_model`` and one by plain ``skops.io.dump``,
JSON, Parquet and CSV products) executed again through the real command line, and each bad input
refused naming what is wrong with nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import REPO

from nbmlops.cli.main import main
from nbmlops.errors import RecordedRunNotFoundError, ReproductionError
from nbmlops.records.ledger import read_entries
from nbmlops.report.reproduce import latest_reproduction, reproduce_run, verify_reproduction

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

FIT = """\
import json
from pathlib import Path
import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from nbmlops import save_model

df = pd.read_csv(inputs["raw"])
model = LogisticRegression(C=C).fit(df[["a", "b"]], df["y"])
save_model(model, product["model"])
sio.dump(model, product["raw_model"])  # skops alone: not byte-stable
score = float(model.score(df[["a", "b"]], df["y"]))
Path(product["metrics"]).write_text(json.dumps({"accuracy": score}, sort_keys=True))
df.assign(p=model.predict_proba(df[["a", "b"]])[:, 1]).to_parquet(product["scored"])
"""
TABLE = """\
import json
from pathlib import Path

metrics = json.loads(Path(upstream["fit"]["metrics"]).read_text())
rows = "".join(f"{k},{v}\\n" for k, v in sorted(metrics.items()))
Path(product["table"]).write_text("metric,value\\n" + rows)
"""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _notebook(path: Path, params: str, code: str, meta: dict[str, Any]) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["nbmlops"] = meta
    nbformat.write(nb, path)


def _project(root: Path) -> Path:
    """A committed project: a fit stage reading data/raw.csv (declared, not in git) and a table
    stage after it, compiled to pipelines/study."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    (root / ".gitignore").write_text("/data/\n/build/\n/.nbmlops/\n")
    rows = "".join(f"{i},{(i * 7) % 5},{(i * 3) % 4 > 1:d}\n" for i in range(200))
    (root / "data" / "raw.csv").write_text("a,b,y\n" + rows)
    _notebook(
        root / "notebooks" / "fit.ipynb",
        "C = 1.0\nproduct = None\ninputs = None",
        FIT,
        {
            "stage": "fit", "kernel": "python3", "params": {"C": 1.0}, "upstream": [],
            "inputs": {"raw": "data/raw.csv"},
            "products": {"model": "model.skops", "metrics": "metrics.json",
                         "scored": "scored.parquet", "raw_model": "raw_model.skops"},
        },
    )  # fmt: skip
    _notebook(
        root / "notebooks" / "table.ipynb",
        "upstream = None\nproduct = None",
        TABLE,
        {"stage": "table", "kernel": "python3", "params": {}, "upstream": ["fit"],
         "products": {"table": "table.csv"}},
    )  # fmt: skip
    assert main(["compile", str(root / "notebooks"), "--name", "study"]) == 0
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "study")
    return root


def _run(root: Path, *args: str) -> dict[str, Any]:
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert main(["run", "study", "--no-tracking", *args]) == 0
    finally:
        os.chdir(cwd)
    latest = sorted((root / ".nbmlops" / "runs").glob("*.json"))[-1]
    record: dict[str, Any] = json.loads(latest.read_text())
    return record


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = _project(tmp_path_factory.mktemp("reproduce") / "study")
    return root, _run(root, "--param", "fit.C=0.5")


def _untouched(root: Path) -> tuple[int, bool, str]:
    """What a refused reproduction must leave as it was: the ledger's length, no reproduction
    kept, the repository's worktrees."""
    return (
        len(list(read_entries(root))),
        (root / ".nbmlops" / "reproductions").exists(),
        _git(root, "worktree", "list"),
    )


def test_a_recorded_run_reproduces_through_the_command_line(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, record = recorded
    states = sorted(p.read_bytes() for p in (root / "build").rglob(".nbmlops-state.json"))
    entries = len(list(read_entries(root)))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbmlops"), "reproduce", record["run_id"][:12]],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equivalent: run" in done.stdout and "rtol=1e-09" in done.stdout

    check = latest_reproduction(root, record["run_id"])
    assert check is not None and check.verdict == "equivalent" and check.env == "checked"
    assert check.commit == record["provenance"]["git_commit"]
    verdicts = {(r.stage, r.product): r.verdict for r in check.rows}
    assert verdicts == {
        ("fit", "metrics"): "identical", ("fit", "model"): "identical",
        ("fit", "raw_model"): "equivalent", ("fit", "scored"): "identical",
        ("table", "table"): "identical",
    }  # fmt: skip
    [raw] = [r for r in check.rows if r.product == "raw_model"]
    assert raw.new_digest != raw.recorded_digest and "canonical serialisation" in raw.detail
    for row in check.rows:
        assert (row.new_digest == row.recorded_digest) == (row.verdict == "identical")
        stage = next(s for s in record["stages"] if s["stage"] == row.stage)
        assert row.recorded_digest == stage["product_digests"][row.product]
    assert check.new_run_id and check.new_run_id != record["run_id"]
    # the file keeps what the report shows
    data = check.to_dict()
    assert set(data["rows"][0]) == {
        "stage", "product", "recorded_digest", "new_digest", "verdict", "detail",
    }  # fmt: skip
    assert data["counts"] == {"identical": 4, "equivalent": 1, "missing": 0, "different": 0}

    # one ledger entry of digests and counts, which the audit accepts
    new_entries = list(read_entries(root))[entries:]
    assert [e.event for e in new_entries] == ["run_reproduced"]
    entry = new_entries[0]
    assert entry.run_id == record["run_id"] and (check.ledger_seq, check.ledger_head) == (
        entry.seq, entry.hash,
    )  # fmt: skip
    assert entry.data["counts"] == data["counts"] and entry.data["verdict"] == "equivalent"
    assert entry.data["products"]["fit.raw_model"] == {
        "recorded": raw.recorded_digest, "new": raw.new_digest, "verdict": "equivalent",
    }  # fmt: skip
    assert "detail" not in json.dumps(entry.data)
    assert main(["audit", "verify", "--root", str(root), "--no-mlflow"]) == 0
    assert verify_reproduction(root, check) is None

    # a reproduction file edited to say more than was found disagrees with its ledger entry
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    [kept] = (copy / ".nbmlops" / "reproductions").glob("*/*.json")
    edited = json.loads(kept.read_text())
    for row in edited["rows"]:
        row["verdict"], row["new_digest"] = "identical", row["recorded_digest"]
    kept.write_text(json.dumps(edited))
    forged = latest_reproduction(copy, record["run_id"])
    assert forged is not None and forged.verdict == "identical"
    problem = verify_reproduction(copy, forged)
    assert problem is not None and f"ledger entry {check.ledger_seq}" in problem
    # the project's build and stage states are as they were; the scratch worktree is gone
    assert sorted(p.read_bytes() for p in (root / "build").rglob(".nbmlops-state.json")) == states
    assert _git(root, "worktree", "list").count("\n") == 0


def test_a_run_that_does_not_exist_is_named(recorded: tuple[Path, dict[str, Any]]) -> None:
    root, _ = recorded
    with pytest.raises(RecordedRunNotFoundError) as caught:
        reproduce_run(root, "19990101T000000Z-000000")
    assert caught.value.run == "19990101T000000Z-000000"


@pytest.mark.parametrize("change", ["input_changed", "input_missing"])
def test_a_changed_or_missing_input_stops_it_naming_the_input(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path, change: str
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(recorded[0], root, symlinks=True)
    before = _untouched(root)
    raw = root / "data" / "raw.csv"
    if change == "input_missing":
        raw.unlink()
    else:
        with raw.open("a") as f:
            f.write("1,1,1\n")
    with pytest.raises(ReproductionError) as caught:
        reproduce_run(root, recorded[1]["run_id"])
    err = caught.value
    assert (err.reason, err.subject, err.path) == (change, "fit.raw", raw)
    assert "fit.raw" in str(err) and "data/raw.csv" in str(err)
    assert _untouched(root) == before


def test_a_lock_the_commit_does_not_hold_is_named(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    with (root / ".gitignore").open("a") as f:
        f.write("/uv.lock\n")  # the lock kept out of git: the run is clean, its lock in no commit
    _git(root, "rm", "-q", "--cached", "uv.lock")
    _git(root, "commit", "-qam", "uv.lock not versioned")
    record = _run(root)
    assert record["provenance"]["git_dirty"] is False and record["lock_digest"]
    before = _untouched(root)
    with pytest.raises(ReproductionError) as caught:
        reproduce_run(root, "latest")
    err = caught.value
    assert (err.reason, err.subject) == ("lock_changed", "uv.lock")
    assert record["lock_digest"] in str(err)
    assert _untouched(root) == before


@pytest.mark.parametrize("made", ["dirty", "outside_git"])
def test_a_run_recorded_dirty_or_without_a_commit_is_refused(tmp_path: Path, made: str) -> None:
    root = _project(tmp_path / "study")
    if made == "dirty":
        with (root / "notebooks" / "table.ipynb").open("a") as f:
            f.write("\n")  # an uncommitted change to tracked code
    else:
        shutil.rmtree(root / ".git")
    record = _run(root)
    before = _untouched(root) if made == "dirty" else None
    with pytest.raises(ReproductionError) as caught:
        reproduce_run(root, "latest")
    err = caught.value
    if made == "dirty":
        assert record["provenance"]["git_dirty"] is True
        assert (err.reason, err.subject) == ("run_dirty", record["provenance"]["git_commit"])
        assert "uncommitted changes" in str(err)
        assert _untouched(root) == before
    else:
        assert record["provenance"]["git"] == "none"
        assert (err.reason, err.subject) == ("no_commit", "none")
        assert not (root / ".nbmlops" / "reproductions").exists()


def test_a_commit_the_repository_no_longer_holds_is_named(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(recorded[0], root, symlinks=True)
    commit = recorded[1]["provenance"]["git_commit"]
    # history rewritten: the run's commit replaced by another one and collected
    _git(root, "checkout", "-q", "--orphan", "rewritten")
    _git(root, "commit", "-qm", "rewritten history")
    _git(root, "branch", "-D", "master" if "master" in _git(root, "branch") else "main")
    _git(root, "reflog", "expire", "--expire=now", "--all")
    _git(root, "gc", "-q", "--prune=now")
    before = _untouched(root)
    with pytest.raises(ReproductionError) as caught:
        reproduce_run(root, recorded[1]["run_id"])
    err = caught.value
    assert (err.reason, err.subject) == ("commit_not_found", commit)
    assert commit in str(err)
    assert _untouched(root) == before


UNINSTALLABLE_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "study"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "nbmlops-absent-from-every-cache" },
]

[package.metadata]
requires-dist = [{ name = "nbmlops-absent-from-every-cache", specifier = "==1.0" }]

[[package]]
name = "nbmlops-absent-from-every-cache"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.pythonhosted.org/packages/00/00/nbmlops_absent_from_every_cache-1.0-py3-none-any.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000", size = 1000 },
]
"""  # noqa: E501 - a lock's lines are what uv writes


def test_a_lock_that_cannot_be_installed_offline_is_named(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "study"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["nbmlops-absent-from-every-cache==1.0"]\n'
    )
    (root / "uv.lock").write_text(UNINSTALLABLE_LOCK)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a lock no cache holds")
    record = _run(root, "--allow-env-mismatch")
    before = _untouched(root)
    with pytest.raises(ReproductionError) as caught:
        reproduce_run(root, record["run_id"], fresh_env=True)
    err = caught.value
    assert (err.reason, err.subject) == ("lock_not_installable", "uv.lock")
    assert err.path is not None and err.path.name == "uv.lock"
    assert "nbmlops-absent-from-every-cache" in str(err) and "offline" in str(err)
    assert _untouched(root) == before


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_fresh_environment_from_the_lock_reproduces_a_user_project(tmp_path: Path) -> None:
    """README's "Your own project" (nbmlops from its wheel, `nbmlops init`, a run under git), then
    `nbmlops reproduce latest --fresh-env`: the lock installed offline into a new environment,
    whose own nbmlops and kernel run the stage."""
    from test_project_wheel import _env, _sh
    from uv import find_uv_bin

    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    done = _sh([sys.executable, "-c", build, str(tmp_path)], REPO, dict(os.environ))
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    user = tmp_path / "user-env"
    env = _env(user / "bin")
    _sh([find_uv_bin(), "venv", "--quiet", str(user)], tmp_path, env)
    _sh([find_uv_bin(), "pip", "install", "--quiet", "--python", str(user / "bin" / "python"),
         str(wheel)], tmp_path, env)  # fmt: skip
    _sh(["nbmlops", "init", "study", "--nbmlops-source", str(wheel)], tmp_path, env)
    study = tmp_path / "study"
    _sh(["uv", "sync", "--quiet"], study, env)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "study")):
        _git(study, *args)
    _sh(["uv", "run", "nbmlops", "run", "notebooks", "--no-tracking"], study, env)

    done = _sh(["uv", "run", "nbmlops", "reproduce", "latest", "--fresh-env"], study, env)
    assert "(fresh environment)" in done.stdout, done.stdout
    assert "fresh environment: " in done.stdout  # its own run's progress, passed on
    [kept] = (study / ".nbmlops" / "reproductions").glob("*/*.json")
    check = json.loads(kept.read_text())
    assert check["env"] == "fresh" and check["new_run_status"] == "succeeded"
    assert check["verdict"] == "identical" and check["counts"]["identical"] >= 1


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_demo_run_reproduces_byte_for_byte(tmp_path: Path) -> None:
    """The example pipeline, copied into a git project made here and run with parameter
    overrides (fewer rows), reproduced: every product identical, the overrides replayed."""
    root = tmp_path / "demo"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    (root / ".gitignore").write_text("/build/\n/.nbmlops/\n")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "demo")):
        _git(root, *args)
    nbmlops = str(Path(sys.executable).parent / "nbmlops")
    overrides = ["--param", "ingest.rows=3000", "--param", "review.current_rows=3000"]
    for argv in (["run", "demo", "--no-tracking", *overrides], ["reproduce", "latest", "--json"]):
        done = subprocess.run(
            [nbmlops, *argv], cwd=root, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    [path] = (root / ".nbmlops" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    check = latest_reproduction(root, record["run_id"])
    assert check is not None and check.verdict == "identical", check.to_dict()
    assert json.loads(done.stdout) == check.to_dict()  # --json prints what the file keeps
    expected = {
        (s["stage"], p) for s in record["stages"] for p in s["product_digests"]
    }  # every product the run recorded, of every stage
    assert {(r.stage, r.product) for r in check.rows} == expected and len(expected) == 14
    assert record["overrides"] == {"ingest": {"rows": 3000}, "review": {"current_rows": 3000}}
