"""Where a reproduction runs: a scratch git worktree at the recorded commit, the recorded run's
declared inputs placed in it (checked against their recorded digests), and, with ``--fresh-env``,
a virtual environment installed from the commit's lock by uv, offline.

The worktree is made with ``git worktree add --detach`` in a temporary folder outside the project
(so the project's ``build/``, stage states, ledger and MLflow store are never touched) and removed
with ``git worktree remove --force`` when the reproduction ends, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.digests import canonical_digest, file_digest
from nbmlops.errors import ReproductionError

__all__ = ["Scratch", "check_inputs", "fresh_environment", "place_inputs", "scratch_worktree"]


@dataclass(frozen=True)
class Scratch:
    """A scratch worktree: its top folder and the project inside it (same relative place)."""

    top: Path
    project: Path
    folder: Path
    """The temporary folder holding the worktree (and a fresh environment, if any)."""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@contextmanager
def scratch_worktree(root: Path, commit: str, run_id: str) -> Iterator[Scratch]:
    """A detached worktree of ``root``'s repository at ``commit``, removed on exit.

    Raises
    ------
    ReproductionError
        ``commit_not_found``: the repository does not hold ``commit`` (a shallow clone, a
        rewritten branch, another repository).
    """
    if shutil.which("git") is None:
        raise ReproductionError(
            f"it was made at commit {commit}, and git is not installed here to check it out",
            run_id=run_id, reason="commit_not_found", subject=commit,
        )  # fmt: skip
    found = _git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    if found.returncode != 0:
        raise ReproductionError(
            f"it was made at commit {commit}, which the git repository at {root} does not hold "
            "(a shallow clone, a rebased or deleted branch?); fetch that commit "
            f"(`git fetch origin {commit}`) and reproduce again",
            run_id=run_id,
            reason="commit_not_found",
            subject=commit,
        )
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="nbmlops-reproduce-"))
    top = folder / "worktree"
    added = _git(root, "worktree", "add", "--detach", str(top), commit)
    if added.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ReproductionError(
            f"git could not make a scratch worktree at commit {commit}: {added.stderr.strip()}",
            run_id=run_id,
            reason="commit_not_found",
            subject=commit,
        )
    try:
        yield Scratch(top=top, project=top / prefix if prefix else top, folder=folder)
    finally:
        _git(root, "worktree", "remove", "--force", str(top))
        _git(root, "worktree", "prune")
        shutil.rmtree(folder, ignore_errors=True)


def _digest(path: Path) -> str:
    """A declared input's digest as a run takes it (:func:`nbmlops.run.inputs.digest_inputs`)."""
    if path.is_dir():
        entries = sorted(
            (f.relative_to(path).as_posix(), file_digest(f)) for f in path.rglob("*") if f.is_file()
        )
        return canonical_digest(entries, strict=False)
    return file_digest(path)


def check_inputs(root: Path, stages: list[Mapping[str, Any]], run_id: str) -> dict[str, str]:
    """Every declared input the run read, hashed again in ``root`` and compared with the digest
    it recorded.

    Returns
    -------
    dict
        ``<stage>.<input>`` -> its path relative to the project, for every input checked.

    Raises
    ------
    ReproductionError
        ``input_missing`` or ``input_changed``, naming the stage's input and its path.
    """
    checked: dict[str, str] = {}
    for result in stages:
        for name, declared in sorted((result.get("declared_inputs") or {}).items()):
            subject = f"{result['stage']}.{name}"
            rel, recorded = declared.get("path", ""), declared.get("sha256", "")
            if not rel or not recorded:
                continue
            source = root / rel
            if not source.exists():
                raise ReproductionError(
                    f"its declared input {subject} ({rel}) is no longer in the project; put "
                    f"back the data with SHA-256 {recorded}",
                    run_id=run_id, reason="input_missing", subject=subject, path=source,
                )  # fmt: skip
            now = _digest(source)
            if now != recorded:
                raise ReproductionError(
                    f"its declared input {subject} ({rel}) changed since the run: SHA-256 "
                    f"{now}, the run read {recorded}; restore the data the run read",
                    run_id=run_id, reason="input_changed", subject=subject, path=source,
                )  # fmt: skip
            checked[subject] = rel
    return checked


def place_inputs(root: Path, project: Path, inputs: Mapping[str, str]) -> None:
    """Copy the checked inputs (``<stage>.<input>`` -> relative path) from ``root`` into
    ``project``, replacing what the commit holds there: the run read the project's copy.

    A copy that no longer has the recorded digest (changed since it was checked) fails the
    reproduced stage's own input digest, which its run record keeps.
    """
    for rel in sorted(set(inputs.values())):
        source, target = root / rel, project / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False)
        else:
            shutil.copyfile(source, target)


def fresh_environment(project: Path, folder: Path, run_id: str) -> Path:
    """A virtual environment in ``folder`` installed from ``project``'s ``uv.lock`` by
    ``uv sync --frozen --offline`` (uv's cache only, never the network); returns its ``bin``.

    Raises
    ------
    ReproductionError
        ``lock_not_installable``: uv could not install the lock offline (its message is kept),
        or the environment it made has no ``nbmlops`` to run the pipeline with.
    """
    from uv import find_uv_bin

    venv = folder / "venv"
    lock = project / "uv.lock"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PYTHON"}}
    env.update(
        UV_PROJECT_ENVIRONMENT=str(venv),
        UV_PYTHON=os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        UV_PYTHON_DOWNLOADS="never",
        UV_OFFLINE="1",
    )
    done = subprocess.run(
        [find_uv_bin(), "sync", "--frozen", "--offline", "--no-progress"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        said = [line for line in done.stderr.strip().splitlines() if line.strip()][-6:]
        raise ReproductionError(
            f"its lock {lock} cannot be installed offline into a fresh environment (uv: "
            + " / ".join(s.strip() for s in said)
            + "); fill uv's cache on a machine that can reach the index (`uv sync --frozen`), "
            "or reproduce without --fresh-env",
            run_id=run_id, reason="lock_not_installable", subject="uv.lock", path=lock,
        )  # fmt: skip
    if not (venv / "bin" / "nbmlops").is_file():
        raise ReproductionError(
            f"the environment installed from {lock} has no nbmlops to run the pipeline with; "
            "add nbmlops to the project's dependencies",
            run_id=run_id, reason="lock_not_installable", subject="uv.lock", path=lock,
        )  # fmt: skip
    return venv / "bin"
