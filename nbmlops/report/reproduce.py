"""``nbmlops reproduce``: a recorded run executed again from its commit, lock, parameters and
inputs, every product compared with what the run recorded.

The steps, each refusing before anything runs (:class:`~nbmlops.errors.ReproductionError`, with
``reason`` and ``subject`` naming what is wrong):

1. the run record (``latest``, a run id or a unique prefix of one); a run recorded without a
   commit or with uncommitted changes (``git_dirty``) is refused: its code is in no commit;
2. every declared input the run read, digested again and compared with the digest it recorded;
3. a scratch ``git worktree`` at the commit (:mod:`nbmlops.report.scratch`), outside the project,
   whose ``uv.lock`` must be the lock the run recorded; the inputs are copied into it;
4. the environment: the current one, which the run checks against that lock as any run does
   (``env="checked"``), or with ``fresh_env`` a virtual environment installed from the lock by
   ``uv sync --frozen --offline`` (``env="fresh"``; the run then uses that environment's nbmlops
   and kernels);
5. the pipeline run there with the recorded parameter overrides, every stage forced, no MLflow
   (the scratch project's own ledger and records are thrown away with it);
6. each product the run recorded compared with the new one (:mod:`nbmlops.report.compare`).

The outcome is a :class:`Reproduction`, one ``run_reproduced`` ledger entry (digests, verdicts and
counts: no text) and its file, ``.nbmlops/reproductions/<run id>/<reproduction id>.json``. The
project's ``build/``, stage states and MLflow store are not touched.

The value and its file live in :mod:`nbmlops.report.reproduction`; they are re-exported here,
where the audit report imports :func:`latest_reproduction` from.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nbmlops._core.digests import file_digest
from nbmlops._core.ids import new_run_id, utc_now
from nbmlops._core.paths import RUNS, run_record_path
from nbmlops.errors import ReproductionError
from nbmlops.records import ledger
from nbmlops.records.archive import archived_copy
from nbmlops.report.compare import compare_product
from nbmlops.report.reproduction import (
    TOLERANCE,
    EnvMode,
    ProductCheck,
    Reproduction,
    latest_reproduction,
    verify_reproduction,
    write_reproduction,
)
from nbmlops.report.runs import resolve_run
from nbmlops.report.scratch import (
    Scratch,
    check_inputs,
    fresh_environment,
    place_inputs,
    scratch_worktree,
)
from nbmlops.run.options import Progress, ProgressEvent

__all__ = [
    "REPRODUCED_EVENT",
    "TOLERANCE",
    "ProductCheck",
    "Reproduction",
    "latest_reproduction",
    "read_run_record",
    "reproduce_run",
    "verify_reproduction",
]

REPRODUCED_EVENT = "run_reproduced"


def read_run_record(root: Path, run: str) -> dict[str, Any]:
    """The record of run ``run`` (an id, a unique prefix of one, ``latest`` or ``approved``: see
    :func:`nbmlops.report.runs.resolve_run`) in ``root``.

    Raises
    ------
    RecordedRunNotFoundError
        No record (or more than one) matches.
    """
    run_id = resolve_run(Path(root), run)
    data: dict[str, Any] = json.loads(run_record_path(root, run_id).read_text(encoding="utf-8"))
    return data


def reproduce_run(
    root: str | os.PathLike[str],
    run_id: str,
    *,
    fresh_env: bool = False,
    progress: Progress | None = None,
) -> Reproduction:
    """Execute a recorded run again and compare every product it recorded.

    Parameters
    ----------
    root
        The project (holds ``.nbmlops/``) inside a git repository.
    run_id
        A run id, a unique prefix of one, ``latest`` or ``approved``.
    fresh_env
        Install a new environment from the run's lock with uv, offline, instead of using (and
        checking) the current one.
    progress
        Called with the scratch run's :class:`~nbmlops.run.options.ProgressEvent` values, and a
        ``note`` event per reproduction step.

    Returns
    -------
    Reproduction
        Kept in ``.nbmlops/reproductions/<run id>/<reproduction id>.json`` and named by a
        ``run_reproduced`` ledger entry.

    Raises
    ------
    RecordedRunNotFoundError
        No such run record.
    ReproductionError
        The run cannot be reproduced (``reason``: ``no_commit``, ``run_dirty``,
        ``commit_not_found``, ``lock_changed``, ``lock_not_installable``, ``input_missing``,
        ``input_changed``; ``not_run``: the fresh environment's nbmlops refused to run it);
        nothing was written in the project.
    EnvironmentMismatchError
        Without ``fresh_env``: the current kernel differs from the run's lock.

    Examples
    --------
    >>> check = reproduce_run(".", "latest")                      # doctest: +SKIP
    >>> check.verdict, check.counts["identical"]                  # doctest: +SKIP
    ('identical', 12)
    """
    project = Path(root).absolute()
    notify = progress or (lambda event: None)
    record = read_run_record(project, run_id)
    run_id = record["run_id"]
    commit = _clean_commit(record)
    # every input before any worktree: a changed one stops here, naming it
    inputs = check_inputs(project, record["stages"], run_id)
    started, t0 = utc_now(), time.perf_counter()
    with scratch_worktree(project, commit, run_id) as scratch:
        notify(ProgressEvent(kind="note", message=f"scratch worktree at commit {commit[:12]}"))
        lock_digest = _check_lock(scratch, record)
        place_inputs(project, scratch.project, inputs)
        env: EnvMode = "fresh" if fresh_env else "checked"
        if fresh_env:
            notify(ProgressEvent(kind="note", message="installing the lock offline (uv sync)"))
            bin_dir = fresh_environment(scratch.project, scratch.folder, run_id)
            new = _run_in(bin_dir, scratch, record, notify)
        else:
            new = _run_here(scratch, record, notify)
        rows = _compare(project, scratch, record, new)
    reproduction = Reproduction(
        reproduction_id=new_run_id(),
        run_id=run_id,
        pipeline=record["pipeline"],
        commit=commit,
        env=env,
        started_at=started,
        duration_s=round(time.perf_counter() - t0, 3),
        new_run_id=new.get("run_id"),
        new_run_status=str(new.get("status", "")),
        rows=tuple(rows),
        lock_digest=lock_digest,
    )
    entry = ledger.append(project, REPRODUCED_EVENT, run_id=run_id, data=reproduction.ledger_data())
    reproduction = replace(reproduction, ledger_seq=entry.seq, ledger_head=entry.hash)
    write_reproduction(project, reproduction)
    return reproduction


def _clean_commit(record: Mapping[str, Any]) -> str:
    run_id, prov = record["run_id"], record.get("provenance") or {}
    commit = prov.get("git_commit")
    if not commit:
        raise ReproductionError(
            f"it recorded no git commit (git: {prov.get('git', 'unknown')}); only a run made "
            "from a committed git worktree can be reproduced",
            run_id=run_id, reason="no_commit", subject=str(prov.get("git", "unknown")),
        )  # fmt: skip
    if prov.get("git_dirty"):
        raise ReproductionError(
            f"it was made from a worktree with uncommitted changes (git_dirty) on top of commit "
            f"{commit}, so no commit holds the code it ran; commit the changes, run again and "
            "reproduce that run",
            run_id=run_id, reason="run_dirty", subject=commit,
        )  # fmt: skip
    return str(commit)


def _check_lock(scratch: Scratch, record: Mapping[str, Any]) -> str | None:
    recorded = record.get("lock_digest")
    lock = scratch.project / "uv.lock"
    found = file_digest(lock) if lock.is_file() else None
    if found != recorded:
        commit = record["provenance"]["git_commit"][:12]
        held = f"has SHA-256 {found}" if found else "does not exist"
        raise ReproductionError(
            f"the uv.lock at commit {commit} {held}, the run recorded {recorded}: the lock it "
            "ran with is not in that commit (version uv.lock with the code)",
            run_id=record["run_id"], reason="lock_changed", subject="uv.lock", path=lock,
        )  # fmt: skip
    return found


def _target(scratch: Scratch, pipeline: str) -> str:
    # a compiled pipeline, not merely the folder (it also holds the team's model_card.md)
    compiled = Path("pipelines") / pipeline / "pipeline.yaml"
    return str(compiled.parent) if (scratch.project / compiled).is_file() else pipeline


def _run_here(scratch: Scratch, record: Mapping[str, Any], notify: Progress) -> dict[str, Any]:
    from nbmlops.authoring.pipeline import load_pipeline
    from nbmlops.run.execute import run_pipeline

    spec, _ = load_pipeline(_target(scratch, record["pipeline"]), root=scratch.project)
    # every stage, not only a recorded --stage selection: upstream products must exist here too
    new = run_pipeline(
        spec,
        params=record.get("overrides") or {},
        force=True,
        jobs=int(record.get("jobs") or 1),
        progress=notify,
        tracking=False,
    )
    return new.to_dict()


def _run_in(
    bin_dir: Path, scratch: Scratch, record: Mapping[str, Any], notify: Progress
) -> dict[str, Any]:
    """The pipeline run by the fresh environment's own nbmlops (its kernels are its Python);
    each line it prints is passed on as a ``note``."""
    command = [
        str(bin_dir / "nbmlops"), "run", _target(scratch, record["pipeline"]), "--force",
        "--no-tracking", "--jobs", str(int(record.get("jobs") or 1)),
    ]  # fmt: skip
    for stage, values in sorted((record.get("overrides") or {}).items()):
        for name, value in sorted(values.items()):
            command += ["--param", f"{stage}.{name}={json.dumps(value)}"]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MLFLOW_TRACKING_URI"}}
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    said: list[str] = []
    with subprocess.Popen(
        command, cwd=scratch.project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as child:  # fmt: skip
        assert child.stdout is not None  # noqa: S101 - stdout=PIPE
        for line in child.stdout:
            if line.strip():
                said.append(line.strip())
                notify(ProgressEvent(kind="note", message=f"fresh environment: {line.strip()}"))
    runs = sorted((scratch.project / RUNS).glob("*.json"))
    if not runs:  # refused before it ran (a kernel that differs from the lock ...)
        raise ReproductionError(
            "the fresh environment's nbmlops did not run the pipeline: " + " / ".join(said[-6:]),
            run_id=record["run_id"], reason="not_run", subject=command[0],
        )  # fmt: skip
    data: dict[str, Any] = json.loads(runs[-1].read_text(encoding="utf-8"))
    return data


def _original(root: Path, location: str | None, digest: str) -> Path | None:
    """The recorded product's bytes: in ``build/`` while it holds them, else the archive's."""
    path = Path(location) if location else None
    if path is not None and path.is_file() and file_digest(path) == digest:
        return path
    return archived_copy(root, digest)


def _compare(
    root: Path, scratch: Scratch, record: Mapping[str, Any], new: Mapping[str, Any]
) -> list[ProductCheck]:
    made = {s["stage"]: s for s in new.get("stages", ())}
    paths = (str(scratch.project), str(record.get("project_root") or root))
    rows = []
    for result in record["stages"]:
        again = made.get(result["stage"], {})
        for product, digest in sorted((result.get("product_digests") or {}).items()):
            location = (again.get("products") or {}).get(product)
            rows.append(
                compare_product(
                    stage=result["stage"],
                    product=product,
                    recorded_digest=digest,
                    original=_original(root, (result.get("products") or {}).get(product), digest),
                    new=Path(location) if location else None,
                    paths=paths,
                )
            )
    return rows
