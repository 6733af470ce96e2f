"""A team's shared tracking server, for real: PostgreSQL started by the test on 127.0.0.1, an
``mlflow server`` on it with basic-auth on and a shared artifact root (``team_server`` in
conftest.py, built by tests/team.py), and the real ``nbmlops`` command line recording to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from clinical import clinical_project, nbmlops_cli
from dask_cluster import Cluster, dask_cluster
from team import Team, TeamSetupError, add_user, free_port, postgres_bindir

pytestmark = pytest.mark.slow

ANALYST, ANALYST_PASSWORD = "analyst", "correct horse battery staple"


@pytest.fixture(scope="module")
def team(team_server: Team) -> Team:
    """The session's server with an ``analyst`` account, who records every run here."""
    add_user(team_server, ANALYST, ANALYST_PASSWORD)
    return team_server


@pytest.fixture
def as_analyst(team: Team, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An ``MlflowClient`` on the team server with the analyst's credentials (environment)."""
    from mlflow.tracking import MlflowClient

    for name, value in team.credentials(ANALYST, ANALYST_PASSWORD).items():
        monkeypatch.setenv(name, value)
    yield MlflowClient(team.url)


def _record(root: Path) -> dict[str, Any]:
    [path] = (root / ".nbmlops" / "runs").glob("*.json")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def _stage_runs(client: Any, parent_id: str) -> dict[str, Any]:
    parent = client.get_run(parent_id)
    where = f"tags.`mlflow.parentRunId` = '{parent_id}'"
    children = client.search_runs([parent.info.experiment_id], where)
    return {run.data.tags["nbmlops.stage"]: run for run in children}


def _rows(team: Team, sql: str, *values: str) -> list[tuple[Any, ...]]:
    """What PostgreSQL itself holds (the server's backend store, not a file beside it)."""
    import psycopg

    dsn = f"host=127.0.0.1 port={team.postgres.port} dbname=mlflow user=nbmlops"
    with psycopg.connect(dsn, password=team.postgres.password) as connection:
        return list(connection.execute(sql, values).fetchall())


def test_a_run_records_its_parent_and_stage_runs_to_the_team_server(
    tmp_path: Path, team: Team, as_analyst: Any
) -> None:
    root = clinical_project(tmp_path / "study")
    ran = nbmlops_cli(root, "run", "analysis", env=team.credentials(ANALYST, ANALYST_PASSWORD))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "not recorded" not in ran.stdout
    record = _record(root)
    assert record["tracking_problem"] is None
    assert record["tracking_uri"] == team.url
    assert not (root / ".nbmlops" / "mlflow.db").exists()  # nothing went to a local store

    parent = as_analyst.get_run(record["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nbmlops.run_id"] == record["run_id"]
    assert parent.data.tags["mlflow.user"]
    stages = _stage_runs(as_analyst, parent.info.run_id)
    assert sorted(stages) == ["cohort", "model"]
    assert all(run.info.status == "FINISHED" for run in stages.values())
    model = stages["model"]
    assert model.data.params["C"] == "1.0"
    assert 0.5 < model.data.metrics["auroc"] <= 1.0
    assert stages["cohort"].data.metrics["patients"] > 0
    assert {s["mlflow_run_id"] for s in record["stages"]} == {
        r.info.run_id for r in stages.values()
    }
    files = {f.path for f in as_analyst.list_artifacts(model.info.run_id, "notebook")}
    assert files == {"notebook/model.ipynb", "notebook/model.html"}
    assert model.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    stored = list(team.artifacts.rglob("model.ipynb"))
    assert [p for p in stored if model.info.run_id in p.parts]  # under the shared root
    in_postgres = _rows(team, "SELECT status FROM runs WHERE run_uuid = %s", parent.info.run_id)
    assert in_postgres == [("FINISHED",)]


def test_two_projects_running_at_once_are_both_recorded(
    tmp_path: Path, team: Team, as_analyst: Any
) -> None:
    roots = [clinical_project(tmp_path / name, seed=n) for n, name in enumerate(["a", "b"])]
    env = team.credentials(ANALYST, ANALYST_PASSWORD)
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda root: nbmlops_cli(root, "run", "analysis", env=env), roots))
    for ran in done:
        assert ran.returncode == 0, ran.stdout + ran.stderr
    records = [_record(root) for root in roots]
    assert [r["tracking_problem"] for r in records] == [None, None]
    for record in records:  # 0 lost: every parent and every stage run is on the server
        stages = _stage_runs(as_analyst, record["mlflow_run_id"])
        assert sorted(stages) == ["cohort", "model"]
        assert {r.info.status for r in stages.values()} == {"FINISHED"}
        assert stages["model"].data.tags["nbmlops.run_id"] == record["run_id"]


def test_a_sweep_of_8_points_over_2_dask_workers_records_every_point_and_stage(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, team: Team, as_analyst: Any
) -> None:
    """The workers have no MLflow settings at all: every record reaches the team server from
    the sweep's one recording thread, in the parent."""
    root = clinical_project(tmp_path / "study")
    values = "0.01,0.03,0.1,0.3,1,3,10,30"
    cluster: Cluster
    with dask_cluster(tmp_path_factory.mktemp("dask") / "cluster", workers=2) as cluster:
        done = nbmlops_cli(
            root, "sweep", "analysis", "--grid", f"model.C={values}", "--name", "team8",
            "--executor", "dask", "--scheduler", cluster.address,
            env=team.credentials(ANALYST, ANALYST_PASSWORD),
        )  # fmt: skip
        workers = cluster.addresses()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not recorded" not in done.stdout
    folder = root / ".nbmlops" / "sweeps" / "analysis" / "team8" / "points"
    points = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert len(points) == 8 and {p["status"] for p in points} == {"succeeded"}
    assert {p["tracking_problem"] for p in points} == {None}
    used = {w for p in points for w in workers
            if f"on Dask worker {w} " in Path(p["log"]).read_text()}  # fmt: skip
    assert used == workers  # both workers ran points

    first = as_analyst.get_run(points[0]["mlflow_run_id"])
    sweep_run_id = first.data.tags["mlflow.parentRunId"]
    assert as_analyst.get_run(sweep_run_id).data.tags["nbmlops.kind"] == "sweep"
    experiment = [first.info.experiment_id]
    point_runs = as_analyst.search_runs(
        experiment, f"tags.`mlflow.parentRunId` = '{sweep_run_id}'", max_results=100
    )
    assert len(point_runs) == 8  # 0 lost
    assert sorted(r.info.run_id for r in point_runs) == sorted(p["mlflow_run_id"] for p in points)
    for run in point_runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["nbmlops.kind"] == "sweep_point"
        assert 0.5 < run.data.metrics["model.auroc"] <= 1.0
        stages = _stage_runs(as_analyst, run.info.run_id)
        assert sorted(stages) == ["model"]  # every point stage, nested under its point
        assert stages["model"].info.status == "FINISHED"
        assert "C" in stages["model"].data.params
    in_postgres = _rows(
        team, "SELECT count(*) FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s",
        sweep_run_id,
    )  # fmt: skip
    assert in_postgres == [(8,)]


def test_wrong_credentials_stop_recording_at_the_first_answer_and_the_run_is_kept(
    tmp_path: Path, team: Team, as_analyst: Any
) -> None:
    root = clinical_project(tmp_path / "study")
    refused_before = team.log.read_text().count(" 401 Unauthorized")
    wrong = team.credentials(ANALYST, "not the password")
    ran = nbmlops_cli(root, "run", "analysis", env=wrong)
    assert ran.returncode == 0, ran.stdout + ran.stderr  # the pipeline ran; MLflow did not take it
    text = " ".join(ran.stdout.split())
    assert f"The MLflow server at {team.url} refused the credentials (401 Unauthorized" in text
    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in text
    assert "not the password" not in ran.stdout + ran.stderr
    # one request, answered 401, and none after it (MLflow retries neither 401 nor 403)
    assert team.log.read_text().count(" 401 Unauthorized") == refused_before + 1

    record = _record(root)
    assert record["status"] == "succeeded" and record["mlflow_run_id"] is None
    assert "401 Unauthorized" in record["tracking_problem"]
    assert Path(record["stages"][-1]["products"]["model"]).is_file()
    assert nbmlops_cli(root, "audit", "verify").returncode == 0

    right = team.credentials(ANALYST, ANALYST_PASSWORD)
    replayed = nbmlops_cli(root, "records", "replay", env=right)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    after = _record(root)
    assert after["tracking_problem"] is None
    assert sorted(_stage_runs(as_analyst, after["mlflow_run_id"])) == ["cohort", "model"]


def test_a_user_without_permission_is_told_to_ask_for_it(
    tmp_path: Path, team: Team, as_analyst: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """basic-auth's default permission is READ: a second user may not add runs to the
    analyst's experiment (403), and is told whom to ask."""
    from nbmlops.records.model import Provenance, RunRecord, StageResult
    from nbmlops.records.tracking import log_run

    add_user(team, "visitor", "visitor's password")
    as_analyst.create_experiment("nbmlops/analyst-only")
    for name, value in team.credentials("visitor", "visitor's password").items():
        monkeypatch.setenv(name, value)
    provenance = Provenance(git_commit=None, git_dirty=None, python="3", platform="p",
                            nbmlops_version="0", user="visitor", hostname="h")  # fmt: skip
    record = RunRecord(run_id="r-403", pipeline="analyst-only", project_root=str(tmp_path),
                       started_at="2026-01-05T10:00:00Z", finished_at="2026-01-05T10:00:01Z",
                       status="succeeded", provenance=provenance, lock_digest=None,
                       stages=(StageResult(stage="s", status="succeeded"),))  # fmt: skip
    done = log_run(record, uri=team.url)
    problem = str(done.tracking_problem)
    assert "refused the credentials (403 Forbidden; user 'visitor')" in problem
    assert "EDIT permission" in problem


def test_an_unreachable_server_fails_fast_and_says_where_it_tried(tmp_path: Path) -> None:
    root = clinical_project(tmp_path / "study")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": ANALYST,
           "MLFLOW_TRACKING_PASSWORD": ANALYST_PASSWORD}  # fmt: skip
    ran = nbmlops_cli(root, "run", "analysis", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    text = " ".join(ran.stdout.split())
    assert f"Check that the MLflow server at {url} is running and reachable" in text
    record = _record(root)
    assert record["status"] == "succeeded" and record["mlflow_run_id"] is None
    assert record["tracking_problem"]

    # kept and replayable: into another store, with the executed notebooks the PHI policy lets out
    store = f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}"
    replayed = nbmlops_cli(root, "records", "replay", "--uri", store)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    from mlflow.tracking import MlflowClient

    stages = _stage_runs(MlflowClient(store), _record(root)["mlflow_run_id"])
    files = {f.path for f in MlflowClient(store).list_artifacts(stages["model"].info.run_id)}
    assert "notebook" in files


def test_a_machine_without_postgresql_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "15" / "bin").mkdir(parents=True)  # a client-only install: no initdb, no pg_ctl
    monkeypatch.setenv("PG_BINDIR", str(tmp_path / "no-postgres"))
    with pytest.raises(TeamSetupError) as missing:
        postgres_bindir(tmp_path)
    assert "apt-get install postgresql" in str(missing.value)
    assert str(tmp_path / "no-postgres") in str(missing.value)
    monkeypatch.delenv("PG_BINDIR")
    assert postgres_bindir().name == "bin"  # this machine has the server (CI installs it)
