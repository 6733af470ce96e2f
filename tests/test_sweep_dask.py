"""``nbmlops sweep --executor dask`` through the real command line, on a real Dask cluster.

The cluster is ``tests/dask_cluster.py``'s: a ``dask scheduler`` and two ``dask worker``
processes of this environment on 127.0.0.1 (one process, one thread each), started for this
module and stopped at its end. The project is ``tests/test_sweep.py``'s clinical one, on this
machine's filesystem, which the workers share.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clinical import nbmlops_cli
from tests.dask_cluster import Cluster, dask_cluster, wait_registered
from tests.team import free_port
from tests.test_sweep import _by_seed, _ledger, _out, _points, _project, _start, _wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("dask") / "cluster", workers=2) as running:
        yield running


def _on_dask(cluster: Cluster) -> tuple[str, ...]:
    return ("--executor", "dask", "--scheduler", cluster.address)


def _workers_named(log: str, cluster: Cluster) -> set[str]:
    return {a for a in cluster.addresses() if f"on Dask worker {a} " in log}


def test_a_sweep_on_dask_runs_every_point_on_the_workers_and_the_parent_records_them(
    tmp_path: Path, cluster: Cluster
) -> None:
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "study")
    argv = ("sweep", "analysis", "--grid", "model.seed=1..4", "--name", "d", *_on_dask(cluster))
    done = nbmlops_cli(root, *argv)
    assert done.returncode == 0, _out(done)
    assert f"on the Dask cluster at {cluster.address}" in done.stdout
    assert "4 done, 0 failed" in done.stdout

    points = _points(root, "d")
    assert len(points) == 4 and {p["status"] for p in points.values()} == {"succeeded"}
    ran_on: set[str] = set()
    for point in points.values():
        folder = Path(point["folder"])
        assert (folder / "model" / "model.skops").is_file()  # the shared project folder
        assert not (folder / ".dask-attempt.json").exists()
        log = (folder / "point.log").read_text()
        assert "point succeeded" in log
        [worker] = _workers_named(log, cluster)
        ran_on.add(worker)
        assert 0.5 < point["metrics"]["model.auroc"] <= 1.0
    assert len(ran_on) == 2  # both workers took points

    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name.endswith("analysis")]
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    point_runs = [r for r in runs if r.data.tags.get("nbmlops.kind") == "sweep_point"]
    assert sorted(r.info.run_id for r in point_runs) == sorted(
        p["mlflow_run_id"] for p in points.values()
    )
    stage_runs = {r.data.tags.get("mlflow.parentRunId") for r in runs
                  if r.data.tags.get("nbmlops.kind") == "stage"}  # fmt: skip
    assert {r.info.run_id for r in point_runs} <= stage_runs  # each point's stage nested in it
    assert len(_ledger(root, "sweep_point_finished")) == 4
    assert nbmlops_cli(root, "audit", "verify").returncode == 0

    again = nbmlops_cli(root, *argv)  # resumed on the cluster: nothing left to run
    assert again.returncode == 0 and "to run now: 0, finished: 4" in again.stdout, _out(again)


def test_an_unreachable_scheduler_fails_in_seconds_naming_it_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    t0 = time.monotonic()
    done = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.seed=1..2", "--name", "u",
                       "--executor", "dask", "--scheduler", address)  # fmt: skip
    took = time.monotonic() - t0
    assert done.returncode == 2, _out(done)
    text = " ".join(done.stdout.split())
    assert f"cannot use the Dask scheduler at {address}: no answer within 5 s" in text
    assert "nothing ran and the sweep's points are as they were" in text
    assert f"`dask worker {address}`" in text
    assert took < 60, took  # the connect timeout, not distributed's 30 s nor a hang
    assert not (root / "build").exists()  # not even the shared stage ran
    assert not (root / ".nbmlops" / "sweeps").exists()
    assert not (root / ".nbmlops" / "ledger.jsonl").exists()


def test_a_lock_the_workers_environment_does_not_match_fails_every_point_listing_it(
    tmp_path: Path, cluster: Cluster
) -> None:
    root = _project(tmp_path / "study")
    lock = root / "uv.lock"
    pinned = 'name = "toolz"\nversion = "1.2.0"\n'
    assert pinned in lock.read_text()  # installed here, on the workers, at 1.2.0
    lock.write_text(lock.read_text().replace(pinned, 'name = "toolz"\nversion = "0.12.1"\n'))
    done = nbmlops_cli(root, "sweep", "analysis", "--grid", "cohort.min_age=30,60", "--name",
                       "env", *_on_dask(cluster))  # fmt: skip
    assert done.returncode == 1, _out(done)
    points = _points(root, "env")
    assert len(points) == 2
    for point in points.values():
        assert point["status"] == "failed"
        error = point["error"]
        assert error["type"] == "EnvironmentMismatchError" and error["stage"] == "cohort"
        assert "toolz: installed 1.2.0, locked 0.12.1" in error["message"]
        [worker] = _workers_named(error["message"], cluster)
        folder = Path(point["folder"])
        assert not (folder / "cohort").exists()  # not run: no kernel started, no product
        assert f"not run: on Dask worker {worker}" in (folder / "point.log").read_text()
        [stage] = point["record"]["stages"]
        assert stage["error"]["differences"] == ["toolz: installed 1.2.0, locked 0.12.1"]
    entries = _ledger(root, "sweep_point_finished")
    assert sorted(e["data"]["status"] for e in entries) == ["failed", "failed"]

    anyway = nbmlops_cli(
        root, "sweep", "analysis", "--grid", "cohort.min_age=30,60", "--name", "env",
        "--retry-failed", "--allow-env-mismatch", *_on_dask(cluster),
    )  # fmt: skip
    assert anyway.returncode == 0, _out(anyway)  # asked for: run, and the log says so
    for point in _points(root, "env").values():
        assert point["status"] == "succeeded"
        log = (Path(point["folder"]) / "point.log").read_text()
        assert "run anyway (--allow-env-mismatch)" in log
        assert "toolz: installed 1.2.0, locked 0.12.1" in log


def _parent(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


def test_a_worker_killed_mid_point_fails_that_point_and_the_others_finish(
    tmp_path: Path, cluster: Cluster
) -> None:
    root = _project(tmp_path / "study")
    hold = tmp_path / "hold"
    hold.write_text("held")
    before = {w.log: w.registrations() for w in cluster.workers}
    sweep = _start(
        root, "sweep", "analysis", "--grid", "model.seed=1..4", "--grid", f"model.hold={hold}",
        "--grid", "model.hold_seed=2", "--name", "k", *_on_dask(cluster),
    )  # fmt: skip
    pid_file = Path(f"{hold}.pid")
    _wait_for(pid_file, sweep)
    kernel = int(pid_file.read_text())
    worker = _parent(kernel)  # the worker process running point seed=2
    nanny = _parent(worker)  # the `dask worker` command, which starts a new worker process
    os.kill(worker, signal.SIGKILL)
    os.kill(kernel, signal.SIGKILL)  # the orphan would exit on its own within seconds
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 1, out + err
    points = _by_seed(_points(root, "k"))
    assert {s: p["status"] for s, p in points.items()} == {
        1: "succeeded", 2: "failed", 3: "succeeded", 4: "succeeded",
    }  # fmt: skip
    killed: dict[str, Any] = points[2]
    assert killed["error"]["type"] == "WorkerDiedError"
    message = " ".join(killed["error"]["message"].split())
    assert f"died while running point {killed['point']}" in message
    assert "--retry-failed" in message
    folder = Path(killed["folder"])
    log = (folder / "point.log").read_text()
    assert log.count("model: started") == 1  # not run a second time
    assert "died; not run again" in log
    assert not (folder / ".dask-attempt.json").exists()
    [entry] = [e for e in _ledger(root, "sweep_point_finished")
               if e["data"]["point"] == killed["point"]]  # fmt: skip
    assert entry["data"]["status"] == "failed"
    for w in cluster.workers:  # the nanny restarted the killed worker: the cluster is whole
        wait_registered(w, before[w.log] + (1 if w.process.pid == nanny else 0))


def test_a_worker_that_cannot_see_the_project_folder_fails_the_point_naming_it(
    tmp_path: Path,
) -> None:
    """What a worker does (``run_task``, called here as Dask calls it) when the parent's project
    path is not there for it: a worker on another machine without the shared filesystem."""
    from nbmlops.sweep.dask_executor import PointTask, run_task
    from nbmlops.sweep.execute import plan_sweep

    root = _project(tmp_path / "study")
    sweep = plan_sweep("analysis", grid=["model.seed=1"], name="away", root=root)
    root.rename(tmp_path / "elsewhere")  # the path the parent sent is not a folder here
    [point] = sweep.points
    task = PointTask(sweep=sweep, point=point, params={"model": {"seed": 1}}, locks={},
                     allow_env_mismatch=False, token="run-1", more=False)  # noqa: S106  # fmt: skip
    outcome = run_task(task)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["error"] == "ProjectNotVisibleError"
    assert outcome.error["path"] == str(root)
    message = " ".join(str(outcome.error["message"]).split())
    assert f"cannot see the project folder {root}" in message
    assert "shared filesystem" in message and "--retry-failed" in message
    assert not root.exists()  # nothing made at the parent's path


def test_a_scheduler_without_workers_is_refused_before_anything_runs(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    with dask_cluster(tmp_path / "cluster", workers=0) as empty:
        done = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.seed=1", "--name", "e",
                           "--executor", "dask", "--scheduler", empty.address)  # fmt: skip
    assert done.returncode == 2, _out(done)
    text = " ".join(done.stdout.split())
    assert f"cannot use the Dask scheduler at {empty.address}: it has no workers" in text
    assert not (root / "build").exists() and not (root / ".nbmlops" / "sweeps").exists()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (("--scheduler", "tcp://127.0.0.1:8786"), "use it with --executor dask"),
        (("--executor", "dask", "--workers", "2"), "as many points as its workers have threads"),
        (("--executor", "dask"), "--executor dask needs the scheduler's address"),
    ],
)
def test_options_of_the_other_executor_are_refused(
    tmp_path: Path, options: tuple[str, ...], says: str
) -> None:
    root = _project(tmp_path / "study")
    done = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.seed=1", *options)
    assert done.returncode == 2, _out(done)
    assert says in " ".join(done.stdout.split())
    assert not (root / "build").exists() and not (root / ".nbmlops" / "sweeps").exists()


def test_a_scheduler_lost_mid_sweep_fails_the_running_point_and_leaves_the_rest_pending(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    hold = tmp_path / "hold"
    hold.write_text("held")
    with dask_cluster(tmp_path / "cluster", workers=1) as one:
        sweep = _start(
            root, "sweep", "analysis", "--grid", "model.seed=1..3", "--grid", f"model.hold={hold}",
            "--grid", "model.hold_seed=1", "--name", "lost", *_on_dask(one),
        )  # fmt: skip
        _wait_for(Path(f"{hold}.pid"), sweep)  # point seed=1 runs; the others wait their turn
        one.scheduler.kill()
        out, err = sweep.communicate(timeout=300)
        hold.unlink()
    assert sweep.returncode == 2, out + err
    text = " ".join(out.split())
    assert f"cannot use the Dask scheduler at {one.address}: the connection was lost" in text
    assert "2 point(s) not started stay pending" in text
    points = _by_seed(_points(root, "lost"))
    assert sorted(points) == [1]  # seeds 2 and 3 never started: no point file, pending
    assert points[1]["status"] == "failed"
    assert "lost the connection to the scheduler" in points[1]["error"]["message"]
    again = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.seed=1..3", "--grid",
                        f"model.hold={hold}", "--grid", "model.hold_seed=1", "--name", "lost",
                        "--dry-run")  # fmt: skip
    assert "to run now: 2, finished: 0, failed: 1" in again.stdout, _out(again)
