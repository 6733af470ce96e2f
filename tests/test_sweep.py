"""``nbmlops sweep`` through the real command line, on a clinical project made in the test.

Real kernels, the project's own SQLite MLflow store, the real ledger. The project is
``tests/clinical.py``'s (a ``cohort`` stage de-identifying a synthetic extract, a ``model``
stage fitting a logistic regression that records ``auroc``), with two more parameters on
``model``: ``seed`` (swept), and ``hold``, a file that makes the point whose seed is
``hold_seed`` write its kernel's pid beside it and wait while the file exists (so a test can kill
that kernel mid-point, or hold a sweep running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.clinical import (
    MODEL_CODE,
    NBMLOPS,
    clinical_project,
    nbmlops_cli,
    stage_notebook,
    write_notebook,
)

HOLD_CODE = """\
import os, time
from pathlib import Path

if hold and seed == hold_seed and Path(hold).exists():
    Path(hold + ".pid").write_text(str(os.getpid()))
    for _ in range(1200):
        if not Path(hold).exists():
            break
        time.sleep(0.1)
"""


def _project(root: Path) -> Path:
    clinical_project(root, rows=200)
    write_notebook(
        root / "analysis" / "model.ipynb",
        stage_notebook(
            "model",
            [HOLD_CODE, MODEL_CODE],
            params={"C": 1.0, "seed": 0, "hold": "", "hold_seed": -1},
            upstream=["cohort"],
            products={"model": "model.skops"},
        ),
    )
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project for the tests that run nothing (each of them checks nothing was written)."""
    return _project(tmp_path_factory.mktemp("sweep") / "study")


def _out(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _points(root: Path, sweep: str, pipeline: str = "analysis") -> dict[str, dict[str, Any]]:
    folder = root / ".nbmlops" / "sweeps" / pipeline / sweep / "points"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def _by_seed(points: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {p["overrides"]["model"]["seed"]: p for p in points.values()}


def _ledger(root: Path, event: str) -> list[dict[str, Any]]:
    lines = (root / ".nbmlops" / "ledger.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]


def _nothing_ran(root: Path) -> None:
    assert not (root / "build").exists()
    assert not (root / ".nbmlops" / "sweeps").exists()
    assert not (root / ".nbmlops" / "ledger.jsonl").exists()


# -- before anything runs ------------------------------------------------------------------------


def test_a_dry_run_names_the_points_and_what_each_reruns_and_writes_nothing(
    project: Path,
) -> None:
    done = nbmlops_cli(
        project, "sweep", "analysis", "--grid", "model.C=0.1,1", "--grid", "model.seed=1..3",
        "--dry-run",
    )  # fmt: skip
    assert done.returncode == 0, _out(done)
    assert "6 point(s)" in done.stdout
    assert "run once (shared, into build/analysis/): cohort" in done.stdout
    assert "each point reruns: model" in done.stdout
    assert "model.C=0.1 model.seed=3" in done.stdout
    _nothing_ran(project)


@pytest.mark.parametrize(
    ("grid", "says"),
    [
        ("model.C=", "an empty value"),
        ("model.C=0.1,,1", "an empty value"),
        ("modelC=1", "expected STAGE.PARAM=V1,V2"),
        ("model.seed=5..1", "the range 5..1 is empty"),
        ("nosuch.C=1", "nosuch"),
        ("model.gamma=1", "has no parameter 'gamma'"),
    ],
)
def test_an_empty_malformed_or_unknown_grid_is_refused_before_anything_runs(
    project: Path, grid: str, says: str
) -> None:
    done = nbmlops_cli(project, "sweep", "analysis", "--grid", grid)
    assert done.returncode == 2, _out(done)
    assert says in done.stdout
    _nothing_ran(project)


def test_no_grid_and_no_sweep_file_is_refused(project: Path) -> None:
    done = nbmlops_cli(project, "sweep", "analysis", "--name", "nope")
    assert done.returncode == 2, _out(done)
    assert "nothing to sweep" in done.stdout and "sweeps/nope.yaml" in done.stdout
    _nothing_ran(project)


def test_a_value_of_the_wrong_type_in_one_point_is_refused_naming_the_point(
    project: Path,
) -> None:
    done = nbmlops_cli(project, "sweep", "analysis", "--grid", "model.C=0.1,high,10")
    assert done.returncode == 2, _out(done)
    assert "point 2 of 3 (model.C=high)" in done.stdout
    assert "expects number" in done.stdout and "No point has run" in done.stdout
    _nothing_ran(project)  # not even the shared cohort stage


def test_a_phi_looking_value_is_refused_even_under_redact_naming_the_parameter_not_the_value(
    project: Path,
) -> None:
    ssn = "219-09-9999"
    grid = f"cohort.extract=data/extract.parquet,{ssn}"
    for policy in ("refuse", "redact"):  # a point is its values: they cannot be recorded redacted
        done = nbmlops_cli(project, "sweep", "analysis", "--grid", grid, "--phi-policy", policy)
        assert done.returncode == 2, _out(done)
        assert "cohort.extract" in done.stdout + done.stderr
        assert ssn not in done.stderr and ssn not in done.stdout.split("error:", 1)[-1]
        _nothing_ran(project)


def test_ten_thousand_points_without_yes_ask_and_refuse_without_a_terminal(
    project: Path,
) -> None:
    done = nbmlops_cli(
        project, "sweep", "analysis", "--grid", "model.seed=1..100", "--grid",
        "cohort.min_age=1..100", input="",
    )  # fmt: skip
    assert done.returncode == 2, _out(done)
    assert "10000 points" in done.stdout and "--yes" in done.stdout
    _nothing_ran(project)


def test_a_sweep_file_defines_a_random_sweep(project: Path) -> None:
    folder = project / "pipelines" / "analysis" / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "search.yaml").write_text(
        "random:\n  samples: 5\n  seed: 3\n  params:\n"
        "    model.C: {low: 0.01, high: 10, log: true}\n    model.seed: [1, 2]\n"
    )
    first = nbmlops_cli(project, "sweep", "analysis", "--name", "search", "--dry-run")
    again = nbmlops_cli(project, "sweep", "analysis", "--name", "search", "--dry-run")
    assert first.returncode == 0, _out(first)
    assert "sweep search of analysis: 5 point(s)" in first.stdout
    assert first.stdout == again.stdout  # seeded: the same points, the same ids
    (folder / "search.yaml").write_text("grid: {}\n")
    empty = nbmlops_cli(project, "sweep", "analysis", "--name", "search", "--dry-run")
    assert empty.returncode == 2 and "the grid is empty" in empty.stdout, _out(empty)
    (folder / "search.yaml").unlink()


# -- running -------------------------------------------------------------------------------------


def test_shared_stages_run_once_each_point_into_its_own_folder_recorded_and_resumed(
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "study")
    argv = ("sweep", "analysis", "--grid", "model.seed=1..2", "--grid", "model.C=0.5",
            "--name", "seeds", "--workers", "2")  # fmt: skip
    done = nbmlops_cli(root, *argv)
    assert done.returncode == 0, _out(done)
    assert "2 done, 0 failed" in done.stdout and "model.auroc" in done.stdout

    points = _points(root, "seeds")
    assert len(points) == 2 and {p["status"] for p in points.values()} == {"succeeded"}
    for pid, point in points.items():
        folder = root / "build" / "analysis" / "sweeps" / "seeds" / pid
        assert (folder / "model" / "model.skops").is_file()
        assert (folder / "model" / "model.ipynb").is_file()
        assert "point succeeded" in (folder / "point.log").read_text()
        assert 0.5 < point["metrics"]["model.auroc"] <= 1.0
    assert not (root / "build" / "analysis" / "model").exists()  # the normal build: cohort only
    assert (root / "build" / "analysis" / "cohort" / "cohort.parquet").is_file()

    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name.endswith("analysis")]
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    by_kind: dict[str, list[Any]] = {}
    for run in runs:
        by_kind.setdefault(run.data.tags.get("nbmlops.kind", ""), []).append(run)
    [sweep_run] = by_kind["sweep"]
    point_runs = by_kind["sweep_point"]
    assert sorted(r.info.run_id for r in point_runs) == sorted(
        p["mlflow_run_id"] for p in points.values()
    )
    for run in point_runs:
        assert run.data.tags["mlflow.parentRunId"] == sweep_run.info.run_id
        assert "model.auroc" in run.data.metrics
        stage_runs = [
            r for r in by_kind["stage"]
            if r.data.tags["mlflow.parentRunId"] == run.info.run_id
        ]  # fmt: skip
        assert [r.data.tags["nbmlops.stage"] for r in stage_runs] == ["model"]
    assert len(by_kind["pipeline"]) == 1  # the shared cohort stage, as a normal run

    entries = _ledger(root, "sweep_point_finished")
    assert sorted(e["data"]["point"] for e in entries) == sorted(points)
    assert all("hmac-sha256" in e["data"]["overrides"] for e in entries)  # no values in clear
    verified = nbmlops_cli(root, "audit", "verify")
    assert verified.returncode == 0, _out(verified)

    again = nbmlops_cli(root, *argv)  # resumed: nothing left to run
    assert again.returncode == 0, _out(again)
    assert "to run now: 0, finished: 2" in again.stdout
    assert len(_ledger(root, "sweep_point_finished")) == 2

    table = nbmlops_cli(root, "sweep", "results", "seeds", "--csv", "seeds.csv")
    assert table.returncode == 0, _out(table)
    import pandas as pd

    import nbmlops

    frame = nbmlops.sweep_results("analysis", "seeds", root=root)
    assert list(frame["model.seed"]) == [1, 2] and set(frame["status"]) == {"succeeded"}
    assert set(frame["mlflow_run_id"]) == {r.info.run_id for r in point_runs}
    written = pd.read_csv(root / "seeds.csv")
    assert list(written["point"]) == list(frame["point"])
    assert list(written["model.auroc"]) == pytest.approx(list(frame["model.auroc"]))


def test_a_point_reruns_every_stage_its_parameter_reaches_reading_its_own_upstream(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    done = nbmlops_cli(
        root, "sweep", "analysis", "--grid", "cohort.min_age=30,60", "--name", "ages",
        "--workers", "2", "--no-tracking",
    )  # fmt: skip
    assert done.returncode == 0, _out(done)
    assert "run once (shared, into build/analysis/): none" in done.stdout
    assert "each point reruns: cohort, model" in done.stdout
    assert not (root / "build" / "analysis" / "cohort").exists()  # nothing shared ran
    points = {p["overrides"]["cohort"]["min_age"]: p for p in _points(root, "ages").values()}
    assert points[30]["metrics"]["cohort.patients"] > points[60]["metrics"]["cohort.patients"]
    for point in points.values():
        folder = Path(point["folder"])
        model = json.loads((folder / "model" / "model.ipynb").read_text())
        injected = next(
            "".join(c["source"]) for c in model["cells"]
            if "injected-parameters" in c["metadata"].get("tags", [])
        )  # fmt: skip
        assert str(folder / "cohort" / "cohort.parquet") in injected  # its own cohort
        assert point["metrics"]["model.auroc"] > 0.5


def test_a_failing_point_never_stops_the_others_and_retry_failed_reruns_only_it(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    argv = ("sweep", "analysis", "--grid", "model.C=-1,1", "--name", "c", "--workers", "2")
    done = nbmlops_cli(root, *argv)
    assert done.returncode == 1, _out(done)
    points = {p["overrides"]["model"]["C"]: p for p in _points(root, "c").values()}
    assert points[1.0]["status"] == "succeeded"
    bad = points[-1.0]
    assert bad["status"] == "failed" and bad["error"]["type"] == "CellExecutionError"
    assert bad["error"]["stage"] == "model"
    assert (Path(bad["folder"]) / "point.log").read_text().count("model: failed") == 1
    assert bad["mlflow_run_id"]  # a failed point is recorded too

    again = nbmlops_cli(root, *argv)
    assert again.returncode == 1 and "to run now: 0" in again.stdout, _out(again)
    retried = nbmlops_cli(root, *argv, "--retry-failed")
    assert "to run now: 1" in retried.stdout, _out(retried)
    assert (Path(bad["folder"]) / "point.log").read_text().count("model: failed") == 2
    assert len(_ledger(root, "sweep_point_finished")) == 3


def test_max_failures_stops_starting_points_and_a_rerun_goes_on(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    argv = ("sweep", "analysis", "--grid", "model.C=-1,-2,1", "--name", "m", "--workers", "1")
    done = nbmlops_cli(root, *argv, "--max-failures", "1")
    assert done.returncode == 1, _out(done)
    assert "stopped at --max-failures" in done.stdout
    statuses = sorted(p["status"] for p in _points(root, "m").values())
    assert statuses == ["failed"]  # the others never started: pending, no file
    rest = nbmlops_cli(root, *argv)
    assert "to run now: 2" in rest.stdout, _out(rest)
    statuses = sorted(p["status"] for p in _points(root, "m").values())
    assert statuses == ["failed", "failed", "succeeded"]


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the sweep ended first:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [str(NBMLOPS), *args], cwd=root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_kernel_killed_mid_point_fails_that_point_and_the_others_finish(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    hold = tmp_path / "hold"
    hold.write_text("held")
    first = _start(
        root, "sweep", "analysis", "--grid", "model.seed=1..3", "--grid", f"model.hold={hold}",
        "--grid", "model.hold_seed=2", "--name", "k", "--workers", "2",
    )  # fmt: skip
    pid_file = Path(f"{hold}.pid")
    _wait_for(pid_file, first)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the kernel running point seed=2
    out, err = first.communicate(timeout=600)
    assert first.returncode == 1, out + err
    points = _by_seed(_points(root, "k"))
    assert points[1]["status"] == points[3]["status"] == "succeeded"
    killed = points[2]
    assert killed["status"] == "failed" and killed["error"]["type"] == "KernelDiedError"
    assert "model: failed" in (Path(killed["folder"]) / "point.log").read_text()
    [entry] = [
        e for e in _ledger(root, "sweep_point_finished") if e["data"]["point"] == killed["point"]
    ]
    assert entry["data"]["status"] == "failed"


def test_two_sweeps_of_one_name_at_once_the_second_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    hold = tmp_path / "hold"
    hold.write_text("held")
    argv = ("sweep", "analysis", "--grid", "model.seed=1", "--grid", f"model.hold={hold}",
            "--grid", "model.hold_seed=1", "--name", "same", "--no-tracking")  # fmt: skip
    first = _start(root, *argv)
    _wait_for(Path(f"{hold}.pid"), first)
    second = nbmlops_cli(root, *argv)
    assert second.returncode == 2, _out(second)
    assert "sweep 'same' of pipeline 'analysis' is already running" in second.stdout
    assert f"pid {first.pid}" in second.stdout
    hold.unlink()
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    assert [p["status"] for p in _points(root, "same").values()] == ["succeeded"]


def test_points_still_run_when_the_tracking_server_is_down_and_replay_records_them_once(
    tmp_path: Path,
) -> None:
    import socket

    root = _project(tmp_path / "study")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    t0 = time.monotonic()
    done = nbmlops_cli(
        root, "sweep", "analysis", "--grid", "model.seed=1..2", "--name", "down", env=down
    )
    assert done.returncode == 0, _out(done)
    assert time.monotonic() - t0 < 300  # failing fast: no 100 s of retries per point
    assert "MLflow: not recorded" in done.stdout
    points = _points(root, "down")
    assert {p["status"] for p in points.values()} == {"succeeded"}
    for point in points.values():
        assert point["mlflow_run_id"] is None and point["tracking_problem"]
        assert point["record"]["stages"][0]["scraps"]["auroc"] > 0.5  # kept for a replay
    assert len(_ledger(root, "sweep_point_finished")) == 2

    replayed = nbmlops_cli(root, "sweep", "replay", "down")  # the project's own store is up
    assert replayed.returncode == 0, _out(replayed)
    assert "2 point(s) recorded, 0 still not recorded" in replayed.stdout
    points = _points(root, "down")
    assert all(p["mlflow_run_id"] and p["tracking_problem"] is None for p in points.values())
    again = nbmlops_cli(root, "sweep", "replay", "down")
    assert "0 point(s) recorded" in again.stdout, _out(again)  # exactly once
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    runs = {p["mlflow_run_id"]: client.get_run(p["mlflow_run_id"]) for p in points.values()}
    [sweep_run] = {r.data.tags["mlflow.parentRunId"] for r in runs.values()}
    assert client.get_run(sweep_run).data.tags["nbmlops.kind"] == "sweep"
    definition = json.loads((root / ".nbmlops/sweeps/analysis/down/sweep.json").read_text())
    assert [r["mlflow_run_id"] for r in definition["runs"]] == [sweep_run]  # the panel's link
    assert all(r.info.status == "FINISHED" and "model.auroc" in r.data.metrics
               for r in runs.values())  # fmt: skip
    assert len(_ledger(root, "sweep_point_replayed")) == 2
    assert nbmlops_cli(root, "audit", "verify").returncode == 0


def test_a_plain_notebook_with_a_parameters_cell_is_swept(tmp_path: Path) -> None:
    from tests.clinical import REPO

    root = tmp_path / "study"
    root.mkdir()
    (root / "uv.lock").write_bytes((REPO / "uv.lock").read_bytes())
    notebook = stage_notebook("x", "from nbmlops.records.scraps import record\n"
                              "record('risk', alpha * 2)", params={"alpha": 0.5})  # fmt: skip
    del notebook["metadata"]["nbmlops"]  # untagged: only its parameters cell
    notebook["cells"][0]["source"] = "alpha = 0.5"
    write_notebook(root / "explore" / "risk score.ipynb", notebook)
    wrong = nbmlops_cli(root, "sweep", "explore/risk score.ipynb", "-p", "alpha=0.1,x")
    assert wrong.returncode == 2 and "point 2 of 2" in wrong.stdout, _out(wrong)
    done = nbmlops_cli(root, "sweep", "explore/risk score.ipynb", "-p", "alpha=0.1,0.2",
                       "--name", "a")  # fmt: skip
    assert done.returncode == 0, _out(done)
    import nbmlops

    frame = nbmlops.sweep_results(None, "a", root=root)
    assert list(frame["risk_score.alpha"]) == [0.1, 0.2]
    assert list(frame["risk_score.risk"]) == pytest.approx([0.2, 0.4])
