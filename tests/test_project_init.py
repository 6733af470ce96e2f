"""``nbmlops init`` on folders that already hold something, ``run``/``status``/``compile`` outside
a project, and a run outside git: each through the real command line. (From an empty folder to a
recorded run, through the built wheel in a fresh environment: ``test_project_wheel.py``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clinical import NBMLOPS, REPO, nbmlops_cli, stage_notebook, write_notebook


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


OTHER_PROJECT = """\
[project]
name = "someone-elses"
version = "1.0"
dependencies = ["pandas>=2"]
"""


@pytest.mark.parametrize(
    ("pyproject", "said"),
    [
        (OTHER_PROJECT, "does not depend on nbmlops"),
        (  # a typo nbmlops would silently ignore: phi-policy is not phi_policy
            OTHER_PROJECT.replace('"pandas>=2"', '"nbmlops"')
            + '[tool.nbmlops]\nphi-policy = "off"\n',
            "unknown setting 'phi-policy'",
        ),
        (
            OTHER_PROJECT.replace('"pandas>=2"', '"nbmlops"')
            + "[tool.nbmlops.signing]\nlockout_minutes = 0\n",
            "signing.lockout_minutes must be a number > 0",
        ),
        ("[project\nname = ", "cannot be read as TOML"),
    ],
    ids=["no-nbmlops-dependency", "unknown-setting", "bad-setting", "not-toml"],
)
def test_init_refuses_a_conflicting_pyproject_and_writes_nothing(
    tmp_path: Path, pyproject: str, said: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "analysis.py").write_text("print('mine')\n")
    before = _tree(tmp_path)
    done = nbmlops_cli(tmp_path, "init")
    assert done.returncode == 2, done.stdout + done.stderr
    out = " ".join(done.stdout.split())  # rich wraps long lines
    assert f"{tmp_path / 'pyproject.toml'}:" in out and said in out
    assert "Nothing was written" in out and "nbmlops init" in out
    assert _tree(tmp_path) == before


def test_init_in_a_folder_with_work_in_it_adds_only_what_is_missing(tmp_path: Path) -> None:
    """A user's own notebooks, README and lock stay as they are; ``notebooks/`` gets no example
    stage (it would join their pipeline); .gitignore gains the entries it lacked."""
    (tmp_path / "pyproject.toml").write_text(
        OTHER_PROJECT.replace('"pandas>=2"', '"nbmlops>=0.1", "pandas>=2"')
        + '[tool.nbmlops]\nphi_policy = "redact"\n'
    )
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    (tmp_path / "README.md").write_text("# My study\n")
    (tmp_path / ".gitignore").write_text("*.pyc\n/build\n")
    write_notebook(tmp_path / "notebooks" / "mine.ipynb", stage_notebook("mine", "x = 1"))
    before = _tree(tmp_path)
    done = nbmlops_cli(tmp_path, "init", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    after = _tree(tmp_path)
    assert sorted(after) == sorted(before)  # nothing new: every file a project needs was there
    assert {k: v for k, v in after.items() if k != ".gitignore"} == {
        k: v for k, v in before.items() if k != ".gitignore"
    }
    ignored = after[".gitignore"].decode()
    assert ignored.startswith("*.pyc\n/build\n")  # kept as it was, entries appended
    assert ignored.splitlines()[-2:] == [".nbmlops/", ".venv/"]
    lines = done.stdout.splitlines()
    for kept in ("README.md", "pyproject.toml", "uv.lock", "notebooks/"):
        assert any(line.split()[:2] == ["kept", kept] for line in lines), done.stdout
    assert not any(line.strip().startswith("wrote") for line in lines)
    assert "added .nbmlops/ .venv/ to .gitignore" in done.stdout
    again = nbmlops_cli(tmp_path, "init")  # a second time: nothing to add at all
    assert again.returncode == 0 and _tree(tmp_path) == after


def test_init_refuses_a_source_other_than_the_one_its_kept_pyproject_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(OTHER_PROJECT.replace('"pandas>=2"', '"nbmlops"'))
    wheel = tmp_path / "nbmlops-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    before = _tree(tmp_path)
    done = nbmlops_cli(tmp_path, "init", "--nbmlops-source", str(wheel))
    assert done.returncode == 2 and "[tool.uv.sources]" in done.stdout
    assert _tree(tmp_path) == before


def _without_root_powers() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere (CAP_DAC_OVERRIDE):
    as root, a folder's mode bits alone would not stop a write."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: mode bits cannot refuse a write")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def test_init_into_a_read_only_folder_says_so_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n1,2\n")
    folder.chmod(0o555)
    try:
        done = subprocess.run(
            [*_without_root_powers(), str(NBMLOPS), "init", str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        out = " ".join(done.stdout.split())
        assert f"cannot write {folder}" in out and "nothing was written" in out
        assert sorted(p.name for p in folder.iterdir()) == ["data.csv"]
        done = subprocess.run(  # a project in a new folder under it: the same answer
            [*_without_root_powers(), str(NBMLOPS), "init", str(folder / "study")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2 and f"cannot write {folder}" in " ".join(done.stdout.split())
        assert sorted(p.name for p in folder.iterdir()) == ["data.csv"]
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("command", ["run", "status", "compile"])
def test_outside_a_project_run_status_and_compile_say_to_init(tmp_path: Path, command: str) -> None:
    """No pyproject.toml or uv.lock: one message naming `nbmlops init`, exit 2, nothing made
    (before, a run stopped on the missing uv.lock after making .nbmlops/)."""
    write_notebook(tmp_path / "nb" / "a.ipynb", stage_notebook("a", "x = 1"))
    before = _tree(tmp_path)
    done = nbmlops_cli(tmp_path, command, "nb")
    assert done.returncode == 2, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert out.startswith(f"error: {tmp_path / 'nb'} is not in an nbmlops project")
    assert "`nbmlops init`" in out and "uv.lock" in out
    assert done.stdout.count("error:") == 1
    assert _tree(tmp_path) == before and not (tmp_path / ".nbmlops").exists()


def test_a_run_outside_git_says_so_in_one_line_and_records_git_none(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project = tmp_path / "project"  # tmp_path is in no git repository; nor is this folder
    write_notebook(project / "nb" / "a.ipynb", stage_notebook("a", "x = 1"))
    shutil.copy(REPO / "uv.lock", project / "uv.lock")
    done = nbmlops_cli(project, "run", "nb", "--no-tracking")
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line for line in done.stdout.splitlines() if "git" in line]
    assert said == ["note not a git repository: no commit recorded for this run (git: none)"]
    [record] = (project / ".nbmlops" / "runs").glob("*.json")
    provenance = json.loads(record.read_text())["provenance"]
    assert provenance["git"] == "none" and provenance["git_commit"] is None

    # the same project under git, committed: the commit is recorded and nothing is said
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}
    for args in (["init", "-q"], ["add", "nb", "uv.lock"], ["commit", "-qm", "start"]):
        subprocess.run(
            ["git", *args], cwd=project, check=True, env={**os.environ, **env}, timeout=30
        )
    done = nbmlops_cli(project, "run", "nb", "--no-tracking", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "git" not in done.stdout
    newest = sorted((project / ".nbmlops" / "runs").glob("*.json"))[-1]
    provenance = json.loads(newest.read_text())["provenance"]
    assert provenance["git"] == "repository" and len(provenance["git_commit"]) == 40


def test_init_keeps_a_dangling_symlink_and_a_file_in_place_of_the_folder_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(OTHER_PROJECT.replace('"pandas>=2"', '"nbmlops"'))
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    (tmp_path / "README.md").symlink_to(tmp_path / "elsewhere" / "README.md")
    done = nbmlops_cli(tmp_path, "init")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "README.md").is_symlink() and not (tmp_path / "elsewhere").exists()
    assert "kept  README.md" in done.stdout

    (tmp_path / "afile").write_text("x\n")
    done = nbmlops_cli(tmp_path, "init", "afile")
    assert done.returncode == 2 and "is a file, not a folder" in done.stdout
    assert (tmp_path / "afile").read_text() == "x\n"
