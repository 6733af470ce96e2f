"""README's "Your own project", as a new user follows it: nbmlops installed from its built wheel
into a fresh virtual environment, then ``nbmlops init`` in an empty folder, ``uv sync``, a run of
the example stage (MLflow, ledger, run record), a signed review and ``nbmlops audit verify``.

Packages come from the package index through uv's cache (no offline mode: the lock of a new
project is resolved from the index). The uv used is the one the wheel depends on, installed in
the user's environment; no other uv is on the path of any command here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test signer's password


def _env(user_bin: Path) -> dict[str, str]:
    """A shell a user opens after activating their environment: its bin first on PATH, none of
    this test run's virtual environment or MLflow store."""
    drop = {
        "VIRTUAL_ENV",
        "MLFLOW_TRACKING_URI",
        "UV_PYTHON",
        "PYTHONPATH",
        "UV_PROJECT_ENVIRONMENT",
    }
    env = {k: v for k, v in os.environ.items() if k not in drop}
    here = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != here]
    env["PATH"] = os.pathsep.join([str(user_bin), *path])
    # never download an interpreter (only package registries are reachable): use this one
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_PYTHON"] = os.path.realpath(sys._base_executable)
    return env


def _sh(
    args: list[str], cwd: Path, env: dict[str, str], *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_empty_folder_becomes_a_reviewed_run_with_the_installed_wheel(tmp_path: Path) -> None:
    started = time.monotonic()
    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]

    # the user's environment: a fresh venv with nbmlops from the wheel (uv arrives with it)
    from uv import find_uv_bin

    user = tmp_path / "user-env"
    env = _env(user / "bin")
    _sh([find_uv_bin(), "venv", "--quiet", str(user)], tmp_path, env)
    _sh(
        [
            find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(user / "bin" / "python"),
            str(wheel),
        ],
        tmp_path,
        env,
    )
    assert (user / "bin" / "uv").is_file()  # uv is a dependency: no other uv is needed

    # README: nbmlops init study --nbmlops-source WHEEL; cd study; uv sync; uv run nbmlops ...
    made = _sh(["nbmlops", "init", "study", "--nbmlops-source", str(wheel)], tmp_path, env)
    study = tmp_path / "study"
    for name in ("README.md", ".gitignore", "pyproject.toml", "notebooks/example.ipynb", "uv.lock"):
        assert f"wrote {name}" in made.stdout and (study / name).is_file()
    lock = (study / "uv.lock").read_text()
    assert f'source = {{ path = "{wheel}" }}' in lock  # nbmlops from the wheel, as declared
    _sh(["uv", "sync", "--quiet"], study, env)

    ran = _sh(["uv", "run", "nbmlops", "run", "notebooks"], study, env)
    assert "not a git repository: no commit recorded for this run (git: none)" in ran.stdout
    [path] = (study / ".nbmlops" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "succeeded" and record["provenance"]["git"] == "none"
    [stage] = record["stages"]
    assert stage["stage"] == "example" and stage["mlflow_run_id"] and record["mlflow_run_id"]
    assert (
        stage["scraps"]["mean"]
        == json.loads(Path(stage["products"]["summary"]).read_text())["mean"]
    )
    assert record["environment_mismatch"] == []  # the kernel is the project's locked .venv
    assert (study / ".nbmlops" / "mlflow.db").is_file()

    # sign a review of the run, then verify the ledger against every copy of its hashes
    _sh(
        ["uv", "run", "nbmlops", "signer", "add", "jdoe", "--name", "Jane Doe",
         "--title", "Statistician", "--password-stdin"],
        study, env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    signed = _sh(
        ["uv", "run", "nbmlops", "review", "latest", "--stage", "example", "--decision",
         "approve", "--meaning", "I approve these results", "--comment", "summary checked",
         "--signer", "jdoe", "--password-stdin"],
        study, env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert "Approved - electronically signed by Jane Doe" in signed.stdout
    verified = _sh(["uv", "run", "nbmlops", "audit", "verify"], study, env)
    assert "every anchor agrees" in verified.stdout

    again = _sh(["nbmlops", "init", "study"], tmp_path, env)  # nothing left to add
    assert "wrote" not in again.stdout and "kept  uv.lock" in again.stdout
    print(f"wheel to verified review: {time.monotonic() - started:.0f} s")
