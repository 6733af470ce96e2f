"""Attack probes, section 4 of issue 10: runs that are never lost or mixed up.

Each probe drives the real ``nbmlops`` command line in separate processes (as users, cron jobs and
the JupyterLab server start it) over a project made in the test, and counts what reached a real
MLflow store afterwards. The project has one trivial stage (``score``) so that a run is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from clinical import NBMLOPS, REPO, stage_notebook, write_notebook

pytestmark = pytest.mark.slow

SCORE_CODE = """\
import time
from pathlib import Path

time.sleep(nap)
Path(product["out"]).write_text(f"score from x={x}", encoding="utf-8")
print(f"this notebook ran with x={x}")
"""


def _project(root: Path) -> Path:
    notebook = stage_notebook(
        "score", SCORE_CODE, params={"x": 0, "nap": 0.0}, products={"out": "out.txt"}
    )
    write_notebook(root / "analysis" / "score.ipynb", notebook)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    return root


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return environment | dict(extra or {})


def _start(root: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``nbmlops run analysis *args`` in ``root``, in its own process group (kill -9 takes its
    kernel too)."""
    return subprocess.Popen(
        [str(NBMLOPS), "run", "analysis", *args],
        cwd=root,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(procs: Sequence[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, outputs, strict=True)]


def _records(root: Path) -> list[dict[str, Any]]:
    folder = root / ".nbmlops" / "runs"
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]


def _pipeline_runs(uri: str) -> dict[str, Any]:
    """MLflow parent runs by nbmlops run id, in every experiment of the store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, "tags.`nbmlops.kind` = 'pipeline'", max_results=1000)
    return {r.data.tags["nbmlops.run_id"]: r for r in runs}


def _own_store(root: Path) -> str:
    return f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}"


def test_eight_runs_at_once_in_one_project_lose_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    outcomes = _finish([_start(root, "--force") for _ in range(8)])

    finished = [code for code, _ in outcomes if code == 0]
    refused = [out for code, out in outcomes if code != 0]
    assert finished, outcomes
    for out in refused:  # each refusal names the run that holds the project, and who started it
        assert "Traceback" not in out, out
        assert "is running in this project" in out and "pid" in out, out
    records = _records(root)
    assert len(records) == len(finished)  # a refused run left no record: it never started
    recorded = _pipeline_runs(_own_store(root))
    lost = [r["run_id"] for r in records if r["run_id"] not in recorded or r["tracking_problem"]]
    assert lost == [], (lost, outcomes)
    assert all(r.info.status == "FINISHED" for r in recorded.values())

    # the store is not left broken for later runs
    code, out = _finish([_start(root, "--force")])[0]
    assert code == 0, out
    assert len(_pipeline_runs(_own_store(root))) == len(finished) + 1


def test_eight_projects_sharing_one_fresh_store_lose_nothing(tmp_path: Path) -> None:
    store = tmp_path / "shared" / "shared.db"
    store.parent.mkdir()
    uri = f"sqlite:///{store}"
    roots = [_project(tmp_path / f"study{n}") for n in range(8)]
    outcomes = _finish([_start(root, env={"MLFLOW_TRACKING_URI": uri}) for root in roots])

    assert [code for code, _ in outcomes] == [0] * 8, outcomes
    run_ids = [r["run_id"] for root in roots for r in _records(root)]
    assert len(run_ids) == 8
    problems = [r["tracking_problem"] for root in roots for r in _records(root)]
    assert problems == [None] * 8, problems
    assert sorted(_pipeline_runs(uri)) == sorted(run_ids)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_concurrent_runs_never_mix_their_products(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "study")
    values = (11, 22)
    outcomes = _finish([_start(root, "--param", f"score.x={x}", "--wait", "200") for x in values])
    assert [code for code, _ in outcomes] == [0, 0], outcomes

    client = MlflowClient(_own_store(root))
    records = _records(root)
    assert sorted(r["overrides"]["score"]["x"] for r in records) == sorted(values)
    for record in records:
        x = record["overrides"]["score"]["x"]
        (score,) = record["stages"]
        # the product this run recorded is the one computed from this run's own input ...
        assert score["product_digests"]["out"] == _sha256(f"score from x={x}"), (x, score)
        # ... and the executed notebook in its MLflow child run is this run's, not another's
        child = client.get_run(score["mlflow_run_id"])
        assert child.data.params["x"] == str(x)
        folder = client.download_artifacts(child.info.run_id, "notebook", str(tmp_path / str(x)))
        logged = (Path(folder) / "score.ipynb").read_text("utf-8")
        assert f"this notebook ran with x={x}" in logged
        assert not [y for y in values if y != x and f"ran with x={y}" in logged]


def _wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_crashed_run_does_not_keep_the_project_locked(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    stage_runs = root / "build" / "analysis" / "score" / "runs"
    first = _start(root, "--param", "score.nap=60")
    try:
        _wait_for(stage_runs.is_dir, "the first run's stage to start", timeout=120)
        # while it runs, a second run is refused at once, naming the first one
        began = time.monotonic()
        code, out = _finish([_start(root, "--force")])[0]
        assert code == 2, out
        assert f"pid {first.pid}" in out and "is running in this project" in out, out
        assert time.monotonic() - began < 30
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the run and its kernel, as a power cut would
        first.communicate()

    code, out = _finish([_start(root, "--force")])[0]
    assert code == 0, out
    (record,) = _records(root)  # the crashed run left none
    assert record["status"] == "succeeded" and record["tracking_problem"] is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_records_replay_puts_a_run_missed_during_an_outage_into_mlflow_exactly_once(
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    from nbmlops.records.ledger import read_entries

    root = _project(tmp_path / "study")
    down = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}"}
    code, out = _finish([_start(root, env=down)])[0]
    assert code == 0, out  # the run itself stands; MLflow was not written
    (missed,) = _records(root)
    assert missed["tracking_problem"] and missed["mlflow_run_id"] is None
    code, out = _finish([_start(root, "--force")])[0]  # a later run, recorded normally
    assert code == 0, out

    store = _own_store(root)
    replay = [str(NBMLOPS), "records", "replay", "--uri", store]
    first, second = (
        subprocess.run(replay, check=False, cwd=root, env=_env(), capture_output=True, text=True)
        for _ in range(2)
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert missed["run_id"] in first.stdout and "recorded" in first.stdout  # progress per record

    runs = _pipeline_runs(store)
    assert sorted(runs) == sorted(r["run_id"] for r in _records(root))  # each once, none twice
    replayed = runs[missed["run_id"]]
    assert replayed.info.status == "FINISHED"
    finished = [e for e in read_entries(root) if e.event == "run_finished"]
    head = next(e.hash for e in finished if e.run_id == missed["run_id"])
    assert replayed.data.tags["nbmlops.ledger_head"] == head
    client = MlflowClient(store)
    children = client.search_runs(
        [replayed.info.experiment_id], f"tags.`mlflow.parentRunId` = '{replayed.info.run_id}'"
    )
    assert [c.data.tags["nbmlops.stage"] for c in children] == ["score"]
    # build/ now holds the later run's notebook: it is not logged as the missed run's
    assert client.list_artifacts(children[0].info.run_id, "notebook") == []
    now = next(r for r in _records(root) if r["run_id"] == missed["run_id"])
    assert now["mlflow_run_id"] == replayed.info.run_id and now["tracking_problem"] is None
    assert now["stages"][0]["mlflow_run_id"] == children[0].info.run_id
