"""The Jupyter server extension's handlers, in a real jupyter_server (pytest-jupyter)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import tornado.web
from conftest import FIXTURES, REPO
from error_samples import CATEGORY, SAMPLES, STATUS_BEFORE_CATEGORIES
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from nbmlops.server.handlers import NbmlopsHandler

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ROUTES = [
    ("GET", "nbmlops/pipeline", None),
    ("POST", "nbmlops/stage/validate", "[]"),
    ("POST", "nbmlops/stage/context", "[]"),
    ("POST", "nbmlops/stage/paths", "[]"),
    ("POST", "nbmlops/runs", "[]"),  # with the token: 400 (a bad body), never a started run
    ("GET", "nbmlops/runs", None),
    ("GET", "nbmlops/runs/20260101T000000Z-abcdef", None),
    ("GET", "nbmlops/sweeps", None),
    ("GET", "nbmlops/sweeps/demo/grid", None),
]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops.server": True}}}


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    (jp_root_dir / "notebooks").mkdir()
    shutil.copy(REPO / "uv.lock", jp_root_dir / "uv.lock")
    for name in ("load", "double"):
        shutil.copy(FIXTURES / f"{name}.ipynb", jp_root_dir / "notebooks" / f"{name}.ipynb")
    return jp_root_dir


async def _json(jp_fetch: Any, *path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch(*path, **kw)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


@pytest.mark.parametrize("request_line", ROUTES)
async def test_every_route_refuses_a_request_without_a_token(
    jp_fetch: Any, jp_base_url: str, jp_http_port: int, request_line: tuple[str, str, str | None]
) -> None:
    method, route, body = request_line
    url = f"http://localhost:{jp_http_port}{jp_base_url}{route}"
    with pytest.raises(HTTPClientError) as refused:
        await AsyncHTTPClient().fetch(url, method=method, body=body)
    assert refused.value.code == 403
    # the same request with the token (jp_fetch adds it) is accepted by the auth layer
    code, _ = await _json(jp_fetch, *route.split("/"), method=method, body=body)
    assert code != 403


async def test_pipeline_lists_stages_with_their_state(jp_fetch: Any, project: Path) -> None:
    code, answer = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": "notebooks"})
    assert code == 200
    by = {s["stage"]: s for s in answer["stages"]}
    assert set(by) == {"load", "double"}
    assert by["double"]["upstream"] == ["load"]
    assert answer["edges"] == [["load", "double"]]
    assert {s["state"] for s in by.values()} == {"never_run"}
    never = {"kind": "never_run", "subject": None, "text": "never run"}
    assert by["load"]["reasons"] == [never] and by["double"]["reasons"] == [never]
    assert by["load"]["notebook"] == "notebooks/load.ipynb"


@pytest.mark.parametrize(
    ("folder", "status", "error"),
    [("nowhere", 404, "PipelineNotFoundError"), ("../..", 400, None)],
)
async def test_pipeline_bad_folders(
    jp_fetch: Any, project: Path, folder: str, status: int, error: str | None
) -> None:
    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("nbmlops", "pipeline", params={"folder": folder})
    assert failed.value.code == status
    if error:
        assert failed.value.response is not None
        assert json.loads(failed.value.response.body)["error"] == error


async def test_a_cycle_is_a_conflict_naming_the_stages(jp_fetch: Any, project: Path) -> None:
    for name in ("cycle_a", "cycle_b"):
        shutil.copy(FIXTURES / f"{name}.ipynb", project / "notebooks" / f"{name}.ipynb")
    code, answer = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": "notebooks"})
    assert code == 409
    assert answer["error"] == "CycleError" and "cycle" in answer


@pytest.mark.parametrize(
    ("metadata", "status", "field"),
    [
        ({"stage": "triple", "upstream": ["double"]}, 200, None),
        ({"stage": "Bad Name"}, 400, "stage"),
        ({"stage": "load"}, 400, "stage"),  # another notebook declares it
        ({"stage": "triple", "params": {"n": {"a": [1, None]}}}, 200, None),
        ({"stage": "triple", "upstream": ["nope"]}, 400, None),
        ({"stage": "triple", "kernel": 3}, 400, "kernel"),
    ],
)
async def test_stage_validation_uses_the_cli_checks(
    jp_fetch: Any, project: Path, metadata: dict[str, Any], status: int, field: str | None
) -> None:
    body = json.dumps({"path": "notebooks/triple.ipynb", "metadata": metadata})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "validate", method="POST", body=body)
    assert code == status, answer
    if status == 200:
        assert answer["ok"] is True and answer["stage"] == "triple"
        assert answer["metadata"] == metadata
    else:
        assert answer["message"]
        if field:
            assert answer["field"] == field


@pytest.mark.parametrize(
    ("metadata", "field", "says"),
    [
        ({"stage": "Bad Name"}, "stage", "A stage name uses only lowercase letters"),
        ({"stage": "load"}, "stage", "load.ipynb already declares stage 'load'"),
        ({"stage": "triple", "params": {"1st": 1}}, "params", "like a Python variable"),
        ({"stage": "triple", "products": {"m": "../m.pkl"}}, "products.m", "without '..'"),
    ],
)
async def test_the_stage_form_hears_a_plain_sentence(
    jp_fetch: Any, project: Path, metadata: dict[str, Any], field: str, says: str
) -> None:
    body = json.dumps({"path": "notebooks/triple.ipynb", "metadata": metadata})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "validate", method="POST", body=body)
    assert code == 400 and answer["field"] == field, answer
    message = answer["message"]
    assert says in message
    # no regex, no class name, no pointer to the form the person is in, no path
    for jargon in ("^[", "]*$", "does not match", "Error", "Stage form", "stage set", "notebooks/"):
        assert jargon not in message, message


@pytest.mark.parametrize("body", ["not json", "[1]", json.dumps({"path": "../x.ipynb"})])
async def test_stage_validation_bad_bodies(jp_fetch: Any, project: Path, body: str) -> None:
    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("nbmlops", "stage", "validate", method="POST", body=body)
    assert failed.value.code == 400


def _parameters_source(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    return "".join(cell["source"])


@pytest.mark.parametrize("upstream", [["load"], []])
async def test_validation_answers_the_parameters_cell_set_stage_would_write(
    jp_fetch: Any, project: Path, tmp_path: Path, upstream: list[str]
) -> None:
    from nbmlops.authoring.stage import set_stage

    metadata = {
        "stage": "double",
        "upstream": upstream,
        "params": {"scale": 3, "note": "x", "weights": [0.5, 1]},
    }
    source = _parameters_source(project / "notebooks" / "double.ipynb")
    body = json.dumps(
        {"path": "notebooks/double.ipynb", "metadata": metadata, "parameters_source": source}
    )
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "validate", method="POST", body=body)
    assert code == 200, answer
    copy = tmp_path / "double.ipynb"
    shutil.copy(project / "notebooks" / "double.ipynb", copy)
    set_stage(copy, replace=True, **metadata)  # type: ignore[arg-type]
    assert answer["parameters_source"] == _parameters_source(copy)
    assert ("upstream = None" in answer["parameters_source"]) is bool(upstream)


async def test_stage_context_lists_neighbours_and_the_cells_parameters(
    jp_fetch: Any, project: Path
) -> None:
    shutil.copy(FIXTURES / "bad_metadata.ipynb", project / "notebooks" / "bad_metadata.ipynb")
    source = 'n = 5\nlabel: str = "x"\nupstream = None\nproduct = None\nf = compute()\nt = (1, 2)'
    body = json.dumps({"path": "notebooks/new.ipynb", "parameters_source": source})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "context", method="POST", body=body)
    assert code == 200, answer
    assert answer["stages"] == [
        {"name": "double", "notebook": "notebooks/double.ipynb", "upstream": ["load"]},
        {"name": "load", "notebook": "notebooks/load.ipynb", "upstream": []},
    ]
    assert [p["notebook"] for p in answer["problems"]] == ["notebooks/bad_metadata.ipynb"]
    assert "Train!" in answer["problems"][0]["message"]
    assert answer["cell_params"] == {"n": 5, "label": "x", "f": None, "t": None}
    assert answer["cell_types"] == {"n": "int", "label": "str"}
    # the notebook's own stage is not an upstream choice
    body = json.dumps({"path": "notebooks/double.ipynb", "parameters_source": None})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "context", method="POST", body=body)
    assert [s["name"] for s in answer["stages"]] == ["load"] and answer["cell_params"] == {}


@pytest.mark.parametrize("route", ["context", "validate"])
async def test_a_parameters_cell_that_is_not_python_is_a_400_naming_the_line(
    jp_fetch: Any, project: Path, route: str
) -> None:
    body = json.dumps(
        {"path": "notebooks/new.ipynb", "parameters_source": "n = 1\nm = ("}
        | ({"metadata": {"stage": "new"}} if route == "validate" else {})
    )
    code, answer = await _json(jp_fetch, "nbmlops", "stage", route, method="POST", body=body)
    assert code == 400, answer
    assert answer["error"] == "ParametersCellError" and "line 2" in answer["message"]


async def test_a_run_started_from_the_server_runs_in_the_background(
    jp_fetch: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps({"folder": "notebooks"})
    code, started = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 202 and started["status"] == "running"
    code, runs = await _json(jp_fetch, "nbmlops", "runs")
    assert runs["runs"] == [started["id"]]
    assert runs["active"]["id"] == started["id"] and runs["active"]["folder"] == "notebooks"
    code, busy = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 409 and busy["error"] == "RunInProgressError"
    for _ in range(240):  # the server answers while the run goes on
        code, status = await _json(jp_fetch, "nbmlops", "runs", started["id"])
        assert code == 200
        if status["status"] != "running":
            break
        await asyncio.sleep(0.5)
    assert status["status"] == "succeeded", status
    finished = [e for e in status["events"] if e["kind"] == "stage_finished"]
    assert [(e["stage"], e["status"]) for e in finished] == [
        ("load", "succeeded"),
        ("double", "succeeded"),
    ]
    last = status["events"][-1]
    assert last["kind"] == "finished" and last["status"] == "succeeded"
    said = "\n".join(status["log_tail"])  # the panel's log: one readable line per event
    assert "stage load started" in said and "stage double succeeded in" in said
    assert f"run {last['run_id']} succeeded" in said
    record = json.loads((project / ".nbmlops" / "runs" / f"{last['run_id']}.json").read_text())
    assert record["mlflow_run_id"] and all(s["mlflow_run_id"] for s in record["stages"])
    code, runs = await _json(jp_fetch, "nbmlops", "runs")
    assert runs["active"] is None and runs["runs"] == [started["id"]]
    code, answer = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": "notebooks"})
    assert {s["state"] for s in answer["stages"]} == {"up_to_date"} and answer["active_run"] is None
    # each stage: its executed notebook, its MLflow run (in the project's store) and the run
    from mlflow.tracking import MlflowClient

    from nbmlops.records.tracking import tracking_uri

    client = MlflowClient(tracking_uri(project))
    for stage in answer["stages"]:
        assert (project / stage["executed_notebook"]).is_file()
        assert stage["last_run_id"] == last["run_id"] and stage["finished_at"]
        run = client.get_run(stage["mlflow_run_id"])
        assert run.data.tags["nbmlops.stage"] == stage["stage"]
        assert stage["mlflow_url"] is None  # no MLflow UI known: no link, no MLflow import
    monkeypatch.setenv("NBMLOPS_MLFLOW_UI", "http://127.0.0.1:5000/")
    code, answer = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": "notebooks"})
    for stage in answer["stages"]:
        experiment = client.get_run(stage["mlflow_run_id"]).info.experiment_id
        assert stage["mlflow_url"] == (
            f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{stage['mlflow_run_id']}"
        )


class _Raises(NbmlopsHandler):
    """A probe route that raises the sample error it is named after, through the extension's own
    base handler (the error-to-status mapping every route shares)."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        raise SAMPLES[name]


# every category's status through the real server; for the classes that existed before the
# categories, the status the server answered then
_STATUSES = {
    **STATUS_BEFORE_CATEGORIES,
    "NotFoundError": 404,
    "ConflictError": 409,
    # newer than the categories: their category's status
    "ProjectConflictError": 409,
    "SweepError": 400,
    "SweepInProgressError": 409,
    "UnknownSweepError": 404,
    "ClusterUnreachableError": 400,
    "ProjectNotVisibleError": 400,
    "WorkerDiedError": 400,
    "RecordedRunNotFoundError": 404,
    "ReproductionError": 400,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_every_error_is_answered_with_its_category_s_status_and_a_json_body(
    jp_fetch: Any, jp_serverapp: Any, jp_base_url: str, name: str
) -> None:
    route = url_path_join(jp_base_url, "nbmlops-test", "raise", "([A-Za-z]+)")
    jp_serverapp.web_app.add_handlers(".*$", [(route, _Raises)])
    code, answer = await _json(jp_fetch, "nbmlops-test", "raise", name)
    assert (code, answer["error"]) == (_STATUSES[name], name)
    assert code == {"InvalidInputError": 400, "NotFoundError": 404, "ConflictError": 409}.get(
        CATEGORY[name], 400
    )
    assert answer["message"] == str(SAMPLES[name])
    if name == "InvalidInputError":
        assert answer["argument"] == "n"  # the argument at fault travels with it


async def test_run_requests_that_cannot_be_served(jp_fetch: Any, project: Path) -> None:
    code, answer = await _json(jp_fetch, "nbmlops", "runs", "20260101T000000Z-abcdef")
    assert code == 404 and answer["error"] == "UnknownRunError"
    for body in ({"stages": "load"}, {"folder": "../.."}):
        with pytest.raises(HTTPClientError) as failed:
            await jp_fetch("nbmlops", "runs", method="POST", body=json.dumps(body))
        assert failed.value.code == 400


async def _wait(jp_fetch: Any, handle: str) -> dict[str, Any]:
    for _ in range(240):
        code, status = await _json(jp_fetch, "nbmlops", "runs", handle)
        assert code == 200
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.5)
    raise AssertionError(f"run {handle} still running: {status}")


async def test_a_failing_stage_and_a_broken_pipeline_end_the_run_with_the_reason(
    jp_fetch: Any, project: Path
) -> None:
    shutil.copy(FIXTURES / "failing_cell.ipynb", project / "notebooks" / "failing_cell.ipynb")
    body = json.dumps({"folder": "notebooks", "stages": ["load"], "downstream": True})
    code, started = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 202 and started["stages"] == ["load"] and started["downstream"] is True
    status = await _wait(jp_fetch, started["id"])
    assert status["status"] == "failed" and status["returncode"] == 1, status
    finished = {e["stage"]: e for e in status["events"] if e["kind"] == "stage_finished"}
    assert finished["failing"]["status"] == "failed"
    assert "bad value in column age" in json.dumps(finished["failing"]["error"])
    assert finished["double"]["status"] == "succeeded"  # the other branch still ran
    # a cycle found when the run starts: one error event naming it, nothing run
    for name in ("cycle_a", "cycle_b"):
        shutil.copy(FIXTURES / f"{name}.ipynb", project / "notebooks" / f"{name}.ipynb")
    code, started = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    status = await _wait(jp_fetch, started["id"])
    assert status["status"] == "failed"
    assert [e["kind"] for e in status["events"]] == ["error"]
    assert status["events"][0]["error"] == "CycleError"


async def test_a_folder_compiled_as_a_named_pipeline_shows_that_pipeline(
    jp_fetch: Any, project: Path
) -> None:
    """What `nbmlops run tiny` ran is what the panel shows for the notebooks folder."""
    from nbmlops.authoring.pipeline import compile_pipeline

    compile_pipeline(project / "notebooks", name="tiny", root=project)
    for target in ("notebooks", "tiny"):
        code, answer = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": target})
        assert code == 200, answer
        assert answer["name"] == "tiny" and answer["folder"] == target
        assert answer["source"] == "notebooks"
    body = json.dumps({"folder": "notebooks", "stages": ["load"]})
    code, started = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    status = await _wait(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert (project / "build" / "tiny" / "load" / "load.ipynb").is_file()
    assert not (project / "build" / "notebooks").exists()


_HOLDER = """
import sys, time
from pathlib import Path
from nbmlops.run.lock import hold_run_lock
with hold_run_lock(Path(sys.argv[1]), run_id="20260101T000000Z-c11c11"):
    print("held", flush=True)
    time.sleep(120)
"""


async def test_a_run_from_a_terminal_holds_the_project_for_the_server_too(
    jp_fetch: Any, project: Path
) -> None:
    import subprocess
    import sys

    cli = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(project)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert cli.stdout is not None and cli.stdout.readline().strip() == "held"
        body = json.dumps({"folder": "notebooks"})
        code, busy = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
        assert code == 409, busy
        assert busy["error"] == "RunInProgressError"
        assert busy["handle"] == "20260101T000000Z-c11c11" and busy["pid"] == cli.pid
        assert busy["user"] and busy["since"] and busy["host"]
        code, runs = await _json(jp_fetch, "nbmlops", "runs")
        assert runs["active"] is None  # not one of the server's runs, but it holds the project
        assert runs["holder"]["run_id"] == "20260101T000000Z-c11c11"
    finally:
        cli.kill()
        cli.communicate()
    code, runs = await _json(jp_fetch, "nbmlops", "runs")
    assert runs["holder"] is None  # its process is gone: the project is free again


async def test_the_one_run_rule_survives_a_server_restart(
    jp_fetch: Any, jp_serverapp: Any, project: Path
) -> None:
    from clinical import stage_notebook, write_notebook

    slow = stage_notebook("slow", "import time\ntime.sleep(nap)", params={"nap": 8})
    write_notebook(project / "notebooks" / "slow.ipynb", slow)
    body = json.dumps({"folder": "notebooks", "stages": ["slow"]})
    code, started = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 202, started
    for _ in range(120):  # until the run holds the project
        code, runs = await _json(jp_fetch, "nbmlops", "runs")
        if runs.get("holder"):
            break
        await asyncio.sleep(0.5)
    before = jp_serverapp.web_app.settings.pop("nbmlops_runs")  # what a restart forgets
    code, runs = await _json(jp_fetch, "nbmlops", "runs")
    assert runs["active"]["id"] == started["id"], runs
    assert runs["active"]["status"] == "running"
    code, busy = await _json(jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 409 and busy["error"] == "RunInProgressError"
    assert busy["pid"] == runs["holder"]["pid"]
    status = await _wait(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert before._procs[started["id"]].wait(timeout=30) == 0  # the old server's child, reaped


# -- bad input: sizes, types, slow parsing ------------------------------------------------------


async def _post(jp_fetch: Any, route: str, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return await _json(jp_fetch, "nbmlops", *route.split("/"), method="POST", body=text, **kw)


def _big_source(kilobytes: int) -> tuple[str, dict[str, int]]:
    lines = [f"param_{i:05d} = {i}" for i in range(kilobytes * 1024 // 18)]
    return "\n".join(lines), {line.split(" ")[0]: 1 for line in lines}


@pytest.mark.parametrize("route", ["stage/validate", "stage/context"])
async def test_a_200_kb_parameters_cell_is_parsed_in_linear_time(
    jp_fetch: Any, project: Path, route: str
) -> None:
    """A 42 KB parameters_source once held the IOLoop (every user) for ~40 s: quadratic parsing."""
    source, params = _big_source(200)
    changed = dict(list(params.items())[:200])  # rewritten in place, the rest kept as it is
    metadata = {"stage": "wide", "params": changed}
    body = {"path": "notebooks/wide.ipynb", "parameters_source": source}
    if route == "stage/validate":
        body["metadata"] = metadata
    warm = {k: v for k, v in body.items() if k != "parameters_source"}
    await _post(jp_fetch, route, warm)  # imports (jsonschema) are not parsing: not timed
    started = time.perf_counter()
    code, answer = await _post(jp_fetch, route, body)
    elapsed = time.perf_counter() - started
    assert code == 200, answer
    # ~0.25 s here; quadratic parsing took minutes for this size. The bound leaves room for a
    # loaded 2-core CI machine without letting a quadratic regression through.
    assert elapsed < 5.0, f"{route}: {elapsed:.2f} s for {len(source) // 1024} KB"
    if route == "stage/validate":
        lines = answer["parameters_source"].splitlines()
        assert len(lines) == len(params) + 1  # and `product = None`
        assert lines[0] == "param_00000 = 1" and lines[1000] == "param_01000 = 1000"
    else:
        assert len(answer["cell_params"]) == len(params)


@pytest.mark.parametrize(
    ("route", "limit"), [("stage/validate", 1 << 20), ("stage/context", 1 << 20), ("runs", 16384)]
)
async def test_a_body_over_the_route_limit_is_a_413_naming_the_limit(
    jp_fetch: Any, project: Path, route: str, limit: int
) -> None:
    """A 35 MB body once grew the server to 11 GB."""
    body = json.dumps({"path": "notebooks/x.ipynb", "parameters_source": "#" * limit})
    code, answer = await _post(jp_fetch, route, body, expect_100_continue=True)
    assert code == 413, answer
    assert answer["error"] == "RequestBodyTooLarge" and answer["limit"] == limit
    assert str(limit) in answer["message"]
    code, _ = await _json(jp_fetch, "nbmlops", "runs")  # the server is still fine
    assert code == 200


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("runs", {"folder": 123}),
        ("runs", {"folder": "notebooks", "downstream": "yes"}),
        ("runs", {"folder": "notebooks", "force": 1}),
        ("runs", {"folder": "notebooks", "stages": [1]}),
        ("runs", {"folder": "notebooks", "forse": True}),  # a typo is not silently ignored
        ("runs", {"folder": "note\u0000books"}),
        ("stage/validate", {"path": 7, "metadata": {"stage": "x"}}),
        ("stage/validate", {"path": "notebooks/x.ipynb", "metadata": "x"}),
        ("stage/validate", {"path": "notebooks/x\u0000.ipynb", "metadata": {"stage": "x"}}),
        ("stage/context", {"path": "notebooks/x.ipynb", "parameters_source": ["n = 1"]}),
        ("stage/context", {"path": None}),
        ("stage/context", "[" * 100_000 + "]" * 100_000),
        ("stage/context", b"\xff\xfe{}"),
    ],
)
async def test_wrong_json_types_and_nul_bytes_are_400_not_a_run_bound_to_fail(
    jp_fetch: Any, project: Path, route: str, body: Any
) -> None:
    code, answer = await _post(jp_fetch, route, body)
    assert code == 400, answer
    assert answer["message"]
    code, runs = await _json(jp_fetch, "nbmlops", "runs")
    assert runs["runs"] == []  # nothing was started


async def test_the_server_answers_others_while_a_slow_validation_runs(
    jp_fetch: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbmlops.server import views

    real = views.validate_view

    def slow(*args: Any, **kw: Any) -> Any:  # a slow validation, on purpose
        time.sleep(3)
        return real(*args, **kw)

    monkeypatch.setattr(views, "validate_view", slow)
    body = {"path": "notebooks/triple.ipynb", "metadata": {"stage": "triple"}}
    validation = asyncio.ensure_future(_post(jp_fetch, "stage/validate", body))
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    code, _ = await _json(jp_fetch, "nbmlops", "pipeline", params={"folder": "notebooks"})
    assert code == 200 and time.perf_counter() - started < 1.5
    assert not validation.done()
    code, answer = await validation
    assert code == 200 and answer["stage"] == "triple"


async def test_validation_refuses_a_parameter_assigned_again_in_a_later_cell(
    jp_fetch: Any, project: Path
) -> None:
    metadata = {"stage": "triple", "params": {"min_auroc": 0.8}}
    source = "min_auroc = 0.8\nproduct = None"
    cells = [
        {"cell_type": "markdown", "source": "# triple", "metadata": {}},
        {"cell_type": "code", "source": source, "metadata": {"tags": ["parameters"]}},
        {"cell_type": "code", "source": "x = 1\nmin_auroc = 0.7", "metadata": {}},
    ]
    body = {"path": "notebooks/triple.ipynb", "metadata": metadata, "parameters_source": source}
    code, answer = await _post(jp_fetch, "stage/validate", body | {"cells": cells})
    assert code == 400, answer
    assert answer["error"] == "ParameterReassignedError" and answer["param"] == "min_auroc"
    assert answer["stage"] == "triple" and "cell 3" in answer["message"]
    code, answer = await _post(jp_fetch, "stage/validate", body | {"cells": cells[:2]})
    assert code == 200, answer


async def test_stage_paths_gives_the_cell_for_a_run_by_hand(jp_fetch: Any, project: Path) -> None:
    body = json.dumps({"path": "notebooks/double.ipynb"})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "paths", method="POST", body=body)
    assert code == 200, answer
    assert answer["stage"] == "double" and answer["missing"] == ["load.nb", "load.data"]
    assert answer["upstream"]["load"]["data"] == str(project / "build/notebooks/load/data.json")
    assert answer["source"].count("upstream = {") == 1
    outside = json.dumps({"path": "../elsewhere.ipynb"})
    code, _ = await _json(jp_fetch, "nbmlops", "stage", "paths", method="POST", body=outside)
    assert code == 400
    untagged = json.dumps({"path": "notebooks/nope.ipynb"})
    code, answer = await _json(jp_fetch, "nbmlops", "stage", "paths", method="POST", body=untagged)
    assert code == 400 and answer["error"] == "MalformedNotebookError", answer


async def test_a_sweep_named_outside_the_sweeps_folder_is_not_found(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    sweep = jp_root_dir / ".nbmlops" / "sweeps" / "demo" / "grid"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text(json.dumps({"points": [], "created_at": "2026"}))
    (jp_root_dir / ".nbmlops" / "sweep.json").write_text("{}")  # what ../.. would reach
    code, listed = await _json(jp_fetch, "nbmlops", "sweeps")
    assert code == 200 and [s["sweep"] for s in listed["sweeps"]] == ["grid"]
    for pipeline, name in (("..", "sweeps"), ("demo", ".."), ("..%2F..", "grid")):
        code, answer = await _json(jp_fetch, "nbmlops", "sweeps", pipeline, name)
        assert (code, answer["error"]) == (404, "UnknownSweepError"), (pipeline, name)


def test_a_sweep_runs_while_its_holder_lives_and_a_changed_point_file_is_read_again(
    tmp_path: Path,
) -> None:
    """A killed sweep leaves its holder file and a point `running`: nothing runs, the point is
    pending again (a rerun starts it). A rewritten point file is read again (the files are
    cached by their stat)."""
    import os
    import subprocess
    import sys

    from nbmlops._core.atomic import write_text_atomic
    from nbmlops._core.user import current_host
    from nbmlops.server import sweeps as sweeps_module
    from nbmlops.server.sweeps import sweep_view, sweeps_view

    folder = tmp_path / ".nbmlops" / "sweeps" / "demo" / "grid"
    (folder / "points").mkdir(parents=True)
    points = [{"id": "aaaaaaaaaaaa", "overrides": {"t": {"s": 1}}},
              {"id": "bbbbbbbbbbbb", "overrides": {"t": {"s": 2}}}]  # fmt: skip
    (folder / "sweep.json").write_text(json.dumps({"points": points, "created_at": "2026"}))
    point = folder / "points" / "aaaaaaaaaaaa.json"
    write_text_atomic(point, json.dumps({"point": "aaaaaaaaaaaa", "status": "running"}))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder = {"pid": int(gone.stdout), "host": current_host(), "user": "u", "since": "2026"}
    (folder / "sweep.lock.json").write_text(json.dumps(holder))

    def counts() -> tuple[bool, dict[str, int]]:
        [sweep] = sweeps_view(tmp_path)["sweeps"]
        return sweep["running"], {k: v for k, v in sweep["counts"].items() if v}

    assert counts() == (False, {"pending": 2})  # the killed sweep's leftovers
    (folder / "sweep.lock.json").write_text(json.dumps(holder | {"pid": os.getpid()}))
    assert counts() == (True, {"running": 1, "pending": 1})
    done = {"point": "aaaaaaaaaaaa", "status": "succeeded", "error": None, "duration_s": 1.5,
            "metrics": {"t.auc": 0.8, "t.note": "x"}}  # fmt: skip
    write_text_atomic(point, json.dumps(done))
    assert counts() == (True, {"succeeded": 1, "pending": 1})
    [first, second] = sweep_view(tmp_path, "demo", "grid")["points"]
    shutil.rmtree(folder)  # removed: not listed, and its files are not kept parsed
    assert sweeps_view(tmp_path) == {"sweeps": []}
    assert not [p for p in sweeps_module._parsed if p.startswith(str(folder))]
    assert (first["status"], first["metrics"], first["duration_s"]) == (
        "succeeded",
        {"t.auc": 0.8},
        1.5,
    )
    assert (second["status"], second["parameters"], second["log"]) == (
        "pending",
        {"t": {"s": 2}},
        None,
    )
