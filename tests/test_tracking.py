"""nbmlops.records.tracking against real MLflow stores: SQLite files in tmp_path and one real
server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from nbmlops.errors import TrackingError
from nbmlops.records.model import Provenance, RunRecord, StageResult
from nbmlops.records.tracking import (
    MlflowRecorder,
    artifact_root,
    experiment_name,
    log_run,
    prepare,
    tracking_uri,
)
from nbmlops.records.tracking_store import ui_command

PROVENANCE = Provenance(
    git_commit="0123456789abcdef0123456789abcdef01234567",
    git_dirty=False,
    python="3.11.7",
    platform="Linux-test",
    nbmlops_version="0.1.0",
    user="analyst",
    hostname="ward-7",
)
_MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER",
)


@pytest.fixture(autouse=True)
def _clean_env() -> Iterator[None]:
    """The recorder sets MLflow variables in os.environ; no test may see another's."""
    saved = dict(os.environ)
    for name in _MLFLOW_ENV:
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _stage(root: Path, name: str, status: str = "succeeded", **fields: Any) -> StageResult:
    folder = root / "build" / "demo" / name
    folder.mkdir(parents=True, exist_ok=True)
    notebook, html, data = folder / f"{name}.ipynb", folder / f"{name}.html", folder / "data.csv"
    notebook.write_text(json.dumps({"cells": [], "nbformat": 4}), encoding="utf-8")
    html.write_text("<html>done</html>", encoding="utf-8")
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    values: dict[str, Any] = {
        "stage": name,
        "status": status,
        "started_at": "2026-01-05T10:00:00.000Z",
        "finished_at": "2026-01-05T10:00:02.500Z",
        "duration_s": 2.5,
        "params": {"seed": 7, "columns": ["age", "sex"], "label": "readmitted"},
        "fingerprint": f"fp-{name}",
        "inputs": {"source": f"sha256:src-{name}", "upstream:prep.data": "sha256:up"},
        "products": {"nb": str(notebook), "data": str(data)},
        "product_digests": {"nb": "sha256:nb", "data": "sha256:data"},
        "executed_notebook": str(notebook),
        "html": str(html),
        "scraps": {"auc": 0.81, "n_rows": 120, "converged": True, "classes": ["no", "yes"]},
        "reason": "never run",
    }
    values.update(fields)
    return StageResult(**values)


def _record(root: Path, stages: tuple[StageResult, ...], run_id: str = "r-0001abcd") -> RunRecord:
    failed = any(s.status == "failed" for s in stages)
    return RunRecord(
        run_id=run_id,
        pipeline="demo",
        project_root=str(root),
        started_at="2026-01-05T10:00:00.000Z",
        finished_at="2026-01-05T10:00:09.000Z",
        status="failed" if failed else "succeeded",
        provenance=PROVENANCE,
        lock_digest="sha256:lock",
        overrides={"train": {"seed": 7, "columns": ["age", "sex"]}},
        stages=stages,
    )


def _client(root: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri(root))
    experiment = client.get_experiment_by_name(experiment_name("demo"))
    assert experiment is not None
    return client, experiment.experiment_id


def _children(client: MlflowClient, experiment_id: str, parent: str) -> dict[str, Any]:
    runs = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {run.info.run_name: run for run in runs}


def _artifact_json(client: MlflowClient, run_id: str, path: str, tmp: Path) -> Any:
    return json.loads(Path(client.download_artifacts(run_id, path, str(tmp))).read_text())


def test_parent_and_stage_runs_carry_the_documented_layout(tmp_path: Path) -> None:
    stages = (
        _stage(tmp_path, "train"),
        _stage(tmp_path, "evaluate", "failed", error={"message": "ZeroDivisionError: x"}),
        _stage(tmp_path, "report", "not_run", reason="upstream failed"),
    )
    record = _record(tmp_path, stages)
    done = log_run(record, ledger_head="sha256:head")

    assert done.tracking_problem is None
    assert done.tracking_uri == tracking_uri(tmp_path)
    client, experiment_id = _client(tmp_path)
    parent = client.get_run(str(done.mlflow_run_id))
    assert parent.info.run_name == "demo r-0001abcd"
    assert parent.info.status == "FAILED"
    assert parent.data.params == {"train.seed": "7", "train.columns": '["age", "sex"]'}
    assert parent.data.metrics == {"nbmlops.duration_s": 9.0}
    assert {
        "nbmlops.kind": "pipeline",
        "nbmlops.run_id": "r-0001abcd",
        "nbmlops.pipeline": "demo",
        "nbmlops.status": "failed",
        "nbmlops.git_dirty": "false",
        "nbmlops.lock_digest": "sha256:lock",
        "nbmlops.ledger_head": "sha256:head",
        "nbmlops.python": "3.11.7",
        "mlflow.user": "analyst",
        "mlflow.source.git.commit": PROVENANCE.git_commit,
    }.items() <= parent.data.tags.items()
    kept = _artifact_json(client, parent.info.run_id, "run_record.json", tmp_path / "dl")
    assert kept["stages"][0]["mlflow_run_id"] == done.stages[0].mlflow_run_id

    children = _children(client, experiment_id, parent.info.run_id)
    assert set(children) == {"train", "evaluate", "report"}
    assert {s.stage: s.mlflow_run_id for s in done.stages} == {
        name: run.info.run_id for name, run in children.items()
    }
    train = children["train"]
    assert train.info.status == "FINISHED"
    assert train.data.params == {
        "seed": "7",
        "columns": '["age", "sex"]',
        "label": "readmitted",
    }
    assert train.data.metrics == {"nbmlops.duration_s": 2.5, "auc": 0.81, "n_rows": 120.0}
    assert {
        "nbmlops.kind": "stage",
        "nbmlops.status": "succeeded",
        "nbmlops.fingerprint": "fp-train",
        "nbmlops.digest.source": "sha256:src-train",
        "nbmlops.digest.upstream_prep.data": "sha256:up",
        "nbmlops.product.data": "sha256:data",
        "nbmlops.run_id": "r-0001abcd",
    }.items() <= train.data.tags.items()
    files = {f.path for f in client.list_artifacts(train.info.run_id)}
    assert files == {"notebook", "params.json", "products.json", "scraps.json"}
    notebook_files = {f.path for f in client.list_artifacts(train.info.run_id, "notebook")}
    assert notebook_files == {"notebook/train.ipynb", "notebook/train.html"}
    scraps = _artifact_json(client, train.info.run_id, "scraps.json", tmp_path / "dl")
    assert scraps == {"converged": True, "classes": ["no", "yes"]}
    products = _artifact_json(client, train.info.run_id, "products.json", tmp_path / "dl")
    assert products["data"]["digest"] == "sha256:data"
    assert train.info.artifact_uri.startswith(str(artifact_root(tmp_path)))

    evaluate, report = children["evaluate"], children["report"]
    assert evaluate.info.status == "FAILED"
    assert evaluate.data.tags["nbmlops.error"] == "ZeroDivisionError: x"
    assert "error.json" in {f.path for f in client.list_artifacts(evaluate.info.run_id)}
    assert report.info.status == "KILLED"
    assert report.data.tags["nbmlops.reason"] == "upstream failed"
    assert client.list_artifacts(report.info.run_id) == []


def test_skipped_stage_points_to_the_run_that_made_its_products(tmp_path: Path) -> None:
    first = log_run(_record(tmp_path, (_stage(tmp_path, "train"),), run_id="r-first"))
    producer = first.stages[0]
    skipped = replace(
        producer,
        status="skipped",
        reason="up to date",
        duration_s=0.0,
        produced_by="r-first",
        produced_by_mlflow=producer.mlflow_run_id,
        mlflow_run_id=None,
    )
    second = log_run(_record(tmp_path, (skipped,), run_id="r-second"))

    client, _ = _client(tmp_path)
    run = client.get_run(str(second.stages[0].mlflow_run_id))
    assert run.info.status == "FINISHED"
    assert run.data.tags["nbmlops.status"] == "skipped"
    assert run.data.tags["nbmlops.produced_by"] == "r-first"
    assert run.data.tags["nbmlops.produced_by_mlflow"] == producer.mlflow_run_id
    assert run.data.tags["nbmlops.product.data"] == "sha256:data"
    assert run.data.metrics == {"nbmlops.duration_s": 0.0}
    assert client.list_artifacts(run.info.run_id) == []


def test_log_run_records_a_run_exactly_once_and_completes_a_partial_one(tmp_path: Path) -> None:
    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    record = _record(tmp_path, stages)
    live = MlflowRecorder.for_project(tmp_path, "demo")
    live.start(run_id=record.run_id, pipeline="demo", provenance=PROVENANCE)
    live.stage(stages[0])  # then the process died: no second stage, parent still RUNNING

    once = log_run(record)
    twice = log_run(record)

    client, experiment_id = _client(tmp_path)
    parents = client.search_runs([experiment_id], "tags.`nbmlops.kind` = 'pipeline'")
    assert [p.info.run_id for p in parents] == [live.run_id]
    assert parents[0].info.status == "FINISHED"
    children = _children(client, experiment_id, str(live.run_id))
    assert sorted(children) == ["prep", "train"]
    assert once == twice
    assert once.mlflow_run_id == live.run_id
    assert once.stages[0].mlflow_run_id == children["prep"].info.run_id


_WORKER = """
import sys
from nbmlops.records.model import Provenance, RunRecord, StageResult
from nbmlops.records.tracking import log_run
root, worker = sys.argv[1], sys.argv[2]
prov = Provenance(git_commit=None, git_dirty=None, python="3", platform="p",
                  nbmlops_version="0", user="u", hostname="h")
for i in range(5):
    stages = tuple(StageResult(stage=f"s{j}", status="succeeded", params={"j": j},
                               scraps={"score": j / 10}) for j in range(3))
    record = RunRecord(run_id=f"w{worker}-{i}", pipeline="demo", project_root=root,
                       started_at="2026-01-05T10:00:00Z", finished_at="2026-01-05T10:00:01Z",
                       status="succeeded", provenance=prov, lock_digest=None, stages=stages)
    done = log_run(record)
    assert done.tracking_problem is None, done.tracking_problem
"""


def test_four_processes_log_into_a_store_prepared_once(tmp_path: Path) -> None:
    prepare(
        tracking_uri(tmp_path), experiment_name("demo"), artifact_location=artifact_root(tmp_path)
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs

    client, experiment_id = _client(tmp_path)
    runs = client.search_runs([experiment_id], max_results=1000)
    kinds = [r.data.tags["nbmlops.kind"] for r in runs if r.info.status == "FINISHED"]
    assert (kinds.count("pipeline"), kinds.count("stage")) == (20, 60)


def _store_under_a_file(tmp_path: Path) -> MlflowRecorder:
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    return MlflowRecorder(uri=f"sqlite:///{tmp_path}/afile/mlflow.db", experiment="nbmlops/demo")


def _store_is_a_folder(tmp_path: Path) -> MlflowRecorder:
    # MLflow alone retries a database it cannot open for ~100 s
    (tmp_path / "adir").mkdir()
    return MlflowRecorder(uri=f"sqlite:///{tmp_path}/adir", experiment="nbmlops/demo")


@pytest.mark.parametrize("unwritable", [_store_under_a_file, _store_is_a_folder])
def test_unwritable_store_leaves_the_run_alone_and_says_what_is_missing(
    tmp_path: Path, unwritable: Any
) -> None:
    recorder = unwritable(tmp_path)
    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    began = time.monotonic()
    assert recorder.start(run_id="r-1", pipeline="demo", provenance=PROVENANCE) is None
    assert [recorder.stage(s) for s in stages] == [None, None]
    done = recorder.finish(_record(tmp_path, stages))
    assert time.monotonic() - began < 10

    assert recorder.not_recorded == ("pipeline run", "stage prep", "stage train")
    assert recorder.problem is not None
    assert str(tmp_path) in recorder.problem
    assert "nbmlops records replay" in recorder.problem
    assert done.mlflow_run_id is None
    assert done.tracking_problem is not None
    assert "stage train" in done.tracking_problem


def test_artifact_store_failing_mid_run_stops_recording_after_the_parent(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    recorder = MlflowRecorder(
        uri=tracking_uri(tmp_path),
        experiment="nbmlops/demo",
        artifact_location=(tmp_path / "afile").as_uri(),
    )
    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    assert recorder.start(run_id="r-1", pipeline="demo", provenance=PROVENANCE) is not None
    for result in stages:
        recorder.stage(result)
    done = recorder.finish(_record(tmp_path, stages))

    assert recorder.not_recorded == ("stage prep", "stage train", "pipeline run end")
    assert recorder.problem is not None
    assert "stage prep" in recorder.problem
    assert done.mlflow_run_id == recorder.run_id


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_server_fails_fast_with_a_clear_problem(tmp_path: Path) -> None:
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "7"  # a user's own setting is kept
    uri = f"http://analyst:s3cret@127.0.0.1:{_closed_port()}"
    recorder = MlflowRecorder(uri=uri, experiment="nbmlops/demo")
    began = time.monotonic()
    recorder.start(run_id="r-1", pipeline="demo", provenance=PROVENANCE)
    recorder.stage(_stage(tmp_path, "prep"))
    done = recorder.finish(_record(tmp_path, (_stage(tmp_path, "prep"),)))
    assert time.monotonic() - began < 30  # a hang guard: it takes well under a second here

    assert recorder.not_recorded == ("pipeline run", "stage prep")
    problem = str(recorder.problem)
    assert "is running and reachable" in problem
    assert "s3cret" not in problem
    assert "s3cret" not in str(done.tracking_uri)
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    with pytest.raises(TrackingError) as raised:
        prepare(uri, "nbmlops/demo")
    assert raised.value.uri == uri.replace("s3cret", "***")


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real `mlflow server` (SQLite backend, proxied artifacts) on a free loopback port."""
    port, artifacts, log = _closed_port(), tmp_path / "server-artifacts", tmp_path / "server.log"
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{tmp_path}/server.db"]
    argv += ["--artifacts-destination", str(artifacts), "--workers", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow server did not answer in 90 s:\n{log.read_text()}")
        yield f"http://127.0.0.1:{port}", artifacts
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_real_mlflow_server_receives_runs_and_artifacts(
    tmp_path: Path, mlflow_server: tuple[str, Path]
) -> None:
    uri, artifacts = mlflow_server
    record = _record(tmp_path, (_stage(tmp_path, "prep"), _stage(tmp_path, "train")))
    done = log_run(record, uri=uri)

    assert done.tracking_problem is None
    client = MlflowClient(uri)
    parent = client.get_run(str(done.mlflow_run_id))
    assert parent.info.status == "FINISHED"
    children = _children(client, parent.info.experiment_id, parent.info.run_id)
    assert sorted(children) == ["prep", "train"]
    train = children["train"].info.run_id
    assert {f.path for f in client.list_artifacts(train, "notebook")} == {
        "notebook/train.ipynb",
        "notebook/train.html",
    }
    assert list(artifacts.rglob("train.ipynb"))
    assert log_run(record, uri=uri) == done


def test_ui_command_serves_the_project_store_on_loopback(tmp_path: Path) -> None:
    argv = ui_command(tmp_path, 5123)
    assert argv[:4] == [sys.executable, "-m", "mlflow", "ui"]
    options = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert options == {
        "--backend-store-uri": f"sqlite:///{tmp_path.resolve()}/.nbmlops/mlflow.db",
        "--host": "127.0.0.1",
        "--port": "5123",
        "--default-artifact-root": (tmp_path.resolve() / ".nbmlops" / "mlartifacts").as_uri(),
    }
    os.environ["MLFLOW_TRACKING_URI"] = "https://mlflow.hospital.example"
    assert tracking_uri(tmp_path) == "https://mlflow.hospital.example"
    assert artifact_root(tmp_path) is None
    with pytest.raises(TrackingError):
        ui_command(tmp_path, 5123)


def test_odd_keys_and_long_values_are_made_acceptable(tmp_path: Path) -> None:
    result = _stage(
        tmp_path,
        "train",
        params={"notes": "x" * 7000},
        scraps={"../auc": 0.5, "auc/test": 0.6, "auc:test": 0.7},
        inputs={"upstream:a.b": "d1", "upstream/a.b": "d2"},
    )
    done = log_run(_record(tmp_path, (result,)))
    assert done.tracking_problem is None
    client, _ = _client(tmp_path)
    run = client.get_run(str(done.stages[0].mlflow_run_id))
    assert len(run.data.params["notes"]) == 6000
    assert set(run.data.metrics) == {"nbmlops.duration_s", "_auc", "auc_test", "auc_test_2"}
    assert run.data.tags["nbmlops.digest.upstream_a.b"] == "d1"
    assert run.data.tags["nbmlops.digest.upstream_a.b_2"] == "d2"
    full = _artifact_json(client, run.info.run_id, "params.json", tmp_path / "dl")
    assert full == {"notes": "x" * 7000}


_FRESH_WORKER = """
import sys
from nbmlops.records.model import Provenance, RunRecord, StageResult
from nbmlops.records.tracking import MlflowRecorder, log_run
uri, worker = sys.argv[1], sys.argv[2]
prov = Provenance(git_commit=None, git_dirty=None, python="3", platform="p",
                  nbmlops_version="0", user="u", hostname="h")
record = RunRecord(run_id=f"fresh-{worker}", pipeline="demo", project_root=".",
                   started_at="2026-01-05T10:00:00Z", finished_at="2026-01-05T10:00:01Z",
                   status="succeeded", provenance=prov, lock_digest=None,
                   stages=(StageResult(stage="s", status="succeeded"),))
done = log_run(record, uri=uri)
assert done.tracking_problem is None, done.tracking_problem
"""


def test_processes_creating_one_fresh_store_at_once_all_record(tmp_path: Path) -> None:
    """No prepare() in a parent: each process finds the store missing and creates it."""
    uri = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _FRESH_WORKER, uri, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(5)
    ]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * 5, outputs
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("nbmlops/demo")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`nbmlops.kind` = 'pipeline'")
    assert sorted(r.data.tags["nbmlops.run_id"] for r in runs) == [f"fresh-{n}" for n in range(5)]
    assert (tmp_path / "fresh" / "mlflow.db.lock").exists()  # the lock lives beside the file


def _half_migrated(db: Path, *, runs: int) -> str:
    """A store as processes racing through its migration left it: a revision half-way and
    ``_alembic_tmp_*`` tables (MLflow alone then refuses it for good: "out-of-date schema")."""
    import sqlite3

    uri = f"sqlite:///{db}"
    recorder = MlflowRecorder(uri=uri, experiment="nbmlops/demo")
    for n in range(runs):
        recorder.start(run_id=f"old-{n}", pipeline="demo", provenance=PROVENANCE)
    prepare(uri, "nbmlops/demo")
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE _alembic_tmp_runs (run_uuid VARCHAR(32))")
        connection.execute("UPDATE alembic_version SET version_num = 'a8c4a736bde6'")
    return uri


def test_a_half_migrated_store_without_runs_is_made_anew(tmp_path: Path) -> None:
    db = tmp_path / "other" / "mlflow.db"
    db.parent.mkdir()
    uri = _half_migrated(db, runs=0)
    # a new process (MLflow keeps one engine per URI in a process)
    code = f"from nbmlops.records.tracking import prepare; print(prepare({uri!r}, 'nbmlops/demo'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "half-migrated" in done.stderr and "moved to" in done.stderr
    (aside,) = db.parent.glob("mlflow.db.half-migrated-*")  # kept, not deleted
    import sqlite3

    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "runs" in tables and not [t for t in tables if t.startswith("_alembic_tmp_")]
    assert aside.stat().st_size > 0


def test_a_half_migrated_store_with_runs_is_reported_naming_the_file(tmp_path: Path) -> None:
    db = tmp_path / "kept" / "mlflow.db"
    db.parent.mkdir()
    uri = _half_migrated(db, runs=2)
    code = f"from nbmlops.records.tracking import prepare; prepare({uri!r}, 'nbmlops/demo')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "TrackingError" in done.stderr and str(db) in done.stderr
    assert "_alembic_tmp_runs" in done.stderr and "2 run(s)" in done.stderr
    assert "nbmlops records replay" in done.stderr
    assert not list(db.parent.glob("*.half-migrated-*"))  # left exactly as it was


def _kept_record(
    root: Path, stages: tuple[StageResult, ...], run_id: str, uri: str | None = None
) -> tuple[Path, str]:
    """A run as ``run_pipeline`` leaves it when MLflow was down: its ledger entries and
    ``.nbmlops/runs/<id>.json`` with a tracking problem. Returns the record's path and the
    hash of its ``run_finished`` entry."""
    from nbmlops.records import ledger
    from nbmlops.run.state import StageState, write_state

    for result in stages:
        write_state(
            root / "build" / "demo" / result.stage,
            StageState(fingerprint="f", inputs={}, products={}, run_id=run_id, finished_at="t"),
        )
    ledger.append(root, "run_started", run_id=run_id, data={"options": {"phi_policy": "off"}})
    head = ledger.append(root, "run_finished", run_id=run_id, data={"status": "succeeded"})
    record = replace(
        _record(root, stages, run_id=run_id),
        tracking_uri=uri or tracking_uri(root),
        tracking_problem="MLflow could not be written (the disk was full)",
    )
    path = root / ".nbmlops" / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.to_json(), encoding="utf-8")
    return path, head.hash


def test_replay_completes_a_partly_recorded_run_once_and_marks_it_done(tmp_path: Path) -> None:
    from nbmlops.records.ledger import read_entries
    from nbmlops.run.replay import replay_records

    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    path, head = _kept_record(tmp_path, stages, "r-partial1")
    live = MlflowRecorder.for_project(tmp_path, "demo")  # the parent and one stage got through
    live.start(run_id="r-partial1", pipeline="demo", provenance=PROVENANCE)
    live.stage(stages[0])
    _kept_record(tmp_path, (_stage(tmp_path, "prep"),), "r-untouched")  # done, then left alone
    untouched = tmp_path / ".nbmlops" / "runs" / "r-untouched.json"
    untouched.write_text(
        json.dumps(json.loads(untouched.read_text()) | {"tracking_problem": None}), "utf-8"
    )
    seen: list[str] = []

    first = replay_records(tmp_path, progress=lambda o: seen.append(o.run_id))
    second = replay_records(tmp_path)

    assert [(o.run_id, o.status) for o in first] == [("r-partial1", "completed")]
    assert seen == ["r-partial1"] and second == ()
    client, experiment_id = _client(tmp_path)
    parents = client.search_runs([experiment_id], "tags.`nbmlops.kind` = 'pipeline'")
    assert [p.info.run_id for p in parents] == [live.run_id]  # completed, not duplicated
    assert parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["nbmlops.ledger_head"] == head
    children = _children(client, experiment_id, str(live.run_id))
    assert sorted(children) == ["prep", "train"]
    train = children["train"].info.run_id  # this run's own notebook: logged
    assert {f.path for f in client.list_artifacts(train, "notebook")} == {
        "notebook/train.ipynb",
        "notebook/train.html",
    }
    kept = json.loads(path.read_text())
    assert kept["tracking_problem"] is None and kept["mlflow_run_id"] == live.run_id
    assert [s["mlflow_run_id"] for s in kept["stages"]] == [
        children["prep"].info.run_id,
        train,
    ]
    assert "nbmlops records replay" in kept["notes"][-1]
    assert "the disk was full" in kept["notes"][-1]  # the original problem stays on record
    replayed = [e for e in read_entries(tmp_path) if e.event == "run_replayed"]
    assert [(e.run_id, e.data["mlflow_run_id"]) for e in replayed] == [("r-partial1", live.run_id)]


def test_replay_leaves_out_a_notebook_a_later_run_replaced(tmp_path: Path) -> None:
    from nbmlops.run.replay import replay_records
    from nbmlops.run.state import StageState, write_state

    path, _ = _kept_record(tmp_path, (_stage(tmp_path, "prep"),), "r-earlier")
    later = StageState(fingerprint="f", inputs={}, products={}, run_id="r-later", finished_at="t")
    write_state(tmp_path / "build" / "demo" / "prep", later)

    (outcome,) = replay_records(tmp_path)

    assert outcome.status == "recorded"
    assert "r-later" in outcome.notes[0]
    client, _ = _client(tmp_path)
    child = json.loads(path.read_text())["stages"][0]["mlflow_run_id"]
    assert client.list_artifacts(child, "notebook") == []


def test_replay_into_a_real_mlflow_server_after_an_outage(
    tmp_path: Path, mlflow_server: tuple[str, Path]
) -> None:
    from nbmlops.run.replay import replay_records

    uri, _ = mlflow_server
    _kept_record(tmp_path, (_stage(tmp_path, "prep"),), "r-outage", uri=uri)
    # no uri given: the store the run was meant for, not the project's own
    assert [(o.status, o.uri) for o in replay_records(tmp_path)] == [("recorded", uri)]
    assert replay_records(tmp_path) == ()
    assert not (tmp_path / ".nbmlops" / "mlflow.db").exists()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("nbmlops/demo")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`nbmlops.kind` = 'pipeline'")
    assert [r.data.tags["nbmlops.run_id"] for r in runs] == ["r-outage"]


def test_scraps_mlflow_cannot_take_go_to_scraps_json_and_recording_goes_on(
    tmp_path: Path,
) -> None:
    """A notebook written by scrapbook.glue (not nbmlops.record) can hold 10**400 or NaN: once an
    OverflowError left the stage's child run RUNNING and MLflow off for the rest of the run."""
    huge = {"huge": 10**400, "nan": float("nan"), "auc": 0.8}
    stages = (_stage(tmp_path, "prep", scraps=huge), _stage(tmp_path, "train"))
    recorder = MlflowRecorder.for_project(tmp_path, "demo")
    recorder.start(run_id="r-huge", pipeline="demo", provenance=PROVENANCE)
    for result in stages:
        assert recorder.stage(result) is not None
    recorder.finish(_record(tmp_path, stages))
    assert recorder.problem is None and recorder.not_recorded == ()
    client, experiment = _client(tmp_path)
    children = _children(client, experiment, str(recorder.run_id))
    assert {run.info.status for run in children.values()} == {"FINISHED"}
    prep = children["prep"]
    assert "huge" not in prep.data.metrics and "nan" not in prep.data.metrics
    assert prep.data.metrics["auc"] == 0.8
    kept = Path(client.download_artifacts(prep.info.run_id, "scraps.json", str(tmp_path)))
    assert str(10**400) in kept.read_text()


def test_a_stage_that_cannot_be_logged_ends_its_child_run_and_the_others_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbmlops.records import tracking

    real = tracking._stage_files

    def faulty(result: StageResult, other: Any) -> Any:  # a fault injected on purpose
        if result.stage == "prep":
            raise ValueError("a value MLflow cannot take")
        return real(result, other)

    monkeypatch.setattr(tracking, "_stage_files", faulty)
    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    recorder = MlflowRecorder.for_project(tmp_path, "demo")
    recorder.start(run_id="r-fault", pipeline="demo", provenance=PROVENANCE)
    ids = [recorder.stage(result) for result in stages]
    done = recorder.finish(_record(tmp_path, stages))
    client, experiment = _client(tmp_path)
    children = _children(client, experiment, str(recorder.run_id))
    assert children["prep"].info.status == "FAILED"
    assert "ValueError" in children["prep"].data.tags["nbmlops.recording"]
    assert children["train"].info.status == "FINISHED" and all(ids)
    assert client.get_run(str(recorder.run_id)).info.status == "FINISHED"
    assert recorder.not_recorded == ("stage prep: ValueError: a value MLflow cannot take",)
    assert done.tracking_problem is not None and "stage prep" in done.tracking_problem


class _Unexpected(Exception):
    """Not an MLflow, SQL or OS error: what a bug in MLflow or in nbmlops would raise."""


@pytest.mark.parametrize("method", ["create_run", "log_batch", "set_terminated"])
def test_an_unexpected_exception_breaks_the_recorder_and_is_never_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    def faulty(self: MlflowClient, *args: Any, **kwargs: Any) -> Any:  # injected on purpose
        raise _Unexpected(f"injected into {method}")

    monkeypatch.setattr(MlflowClient, method, faulty)
    stages = (_stage(tmp_path, "prep"), _stage(tmp_path, "train"))
    done = log_run(_record(tmp_path, stages), ledger_head="sha256:head")  # must not raise
    assert done.tracking_problem is not None
    assert f"_Unexpected: injected into {method}" in done.tracking_problem
    assert "Not recorded" in done.tracking_problem
    recorder = MlflowRecorder.for_project(tmp_path, "demo")
    recorder.start(run_id="r-2", pipeline="demo", provenance=PROVENANCE)
    for result in stages:
        recorder.stage(result)
    recorder.finish(_record(tmp_path, stages, run_id="r-2"))
    assert recorder.problem is not None and "_Unexpected" in recorder.problem
    assert recorder.not_recorded[-1] in ("stage train", "pipeline run end")


def test_a_new_store_has_mlflows_own_schema_and_leaves_no_temporary_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """nbmlops makes a new SQLite store with MLflow's migrations on a temporary file (no flush
    per statement) renamed into place: the same tables, indexes and pragmas as a store MLflow
    made itself, and a crashed creation's leftover is cleared."""
    import sqlite3

    ours, theirs = tmp_path / "ours" / "mlflow.db", tmp_path / "theirs" / "mlflow.db"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    (ours.parent / ".mlflow.db.new-99999").write_bytes(b"half made")  # a crash left it
    with caplog.at_level("DEBUG", logger="nbmlops.records.tracking_store"):
        prepare(f"sqlite:///{ours}", "nbmlops/demo")
    assert "in place" not in caplog.text  # made beside it and renamed, not MLflow's fallback
    MlflowClient(f"sqlite:///{theirs}").get_experiment_by_name("Default")  # MLflow's own

    def schema(db: Path) -> tuple[list[Any], dict[str, Any]]:
        # MLflow's batch migrations order a table's constraints differently from run to run
        # (set order): each statement is compared as its set of lines
        with sqlite3.connect(db) as connection:
            master = sorted(
                (kind, name, table, sorted(line.strip(" \t,") for line in (sql or "").split("\n")))
                for kind, name, table, sql in connection.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master"
                )
            )
            pragmas = ("journal_mode", "page_size", "user_version", "auto_vacuum", "encoding")
            values = {p: connection.execute(f"PRAGMA {p}").fetchall() for p in pragmas}
            values["revision"] = connection.execute("SELECT * FROM alembic_version").fetchall()
        return master, values

    assert schema(ours) == schema(theirs)
    assert sorted(p.name for p in ours.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]
