"""The REST contract between the server extension and the JupyterLab frontend.

Every route of ``nbmlops/server`` is called in a real jupyter_server (pytest-jupyter, as
``test_server.py`` does) on a project made here, in the states a user meets: clean, during a
background run, after a run, stale for every reason the pipeline view gives, after a failed
stage, broken by a cycle; and for the errors the frontend shows. Each answer is normalised (the
project root, run ids, MLflow run ids, times, pids) and compared with its committed fixture in
``extension/test/fixtures/rest/<name>.json``: the same keys and JSON value types, recursively.
Every enumerated value (stage state, stale reason, run state, event kind, stage status,
parameter type) the server can return must appear in the fixtures, and the fixtures must hold
no other. The frontend's vitest suite (``extension/test/restContract.test.ts``) validates the
same fixtures with the runtime guards beside ``api.ts``'s types, and fails on a key or value
those types do not know. So a change of the server's answers fails here until the fixtures are
rewritten, and then fails there until ``api.ts`` says the same.

Rewrite the fixtures from the real answers (and review the diff) with::

    NBMLOPS_UPDATE_REST_FIXTURES=1 .venv/bin/pytest tests/test_rest_contract.py
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import platform
import re
import shutil
import sys
import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO
from test_server import _json, _wait

import nbmlops
from nbmlops.sweep.state import PointStatus

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REST_FIXTURES = REPO / "extension" / "test" / "fixtures" / "rest"
UPDATE = os.environ.get("NBMLOPS_UPDATE_REST_FIXTURES") == "1"
FOLDER = "analysis"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops.server": True}}}


# -- what the server can answer ----------------------------------------------------------------


def _literals(hint: Any) -> set[str]:
    values = typing.get_args(hint)
    assert values and all(isinstance(v, str) for v in values), hint
    return set(values)


def _hints(of: Any) -> dict[str, Any]:
    return typing.get_type_hints(of)


def declared_values() -> dict[str, set[str]]:
    """Every enumerated value the REST answers can hold, reached from the annotations of the
    package's public verbs (so a module moving inside nbmlops changes nothing here), less the
    values no route can return, and plus the values the server writes itself."""
    plan = typing.get_args(_hints(nbmlops.plan_pipeline)["return"])[0]
    reason = typing.get_args(_hints(plan)["reasons"])[0]
    run = _hints(nbmlops.run_pipeline)
    record = _hints(run["return"])
    result = typing.get_args(record["stages"])[0]
    callback = typing.get_args(run["progress"])[0]
    event = typing.get_args(callback)[0][0]
    outcomes = _literals(record["status"])
    return {
        # views.pipeline_view names these three; it has no type of its own to read them from
        "stage state": {"up_to_date", "stale", "never_run"},
        # `forced` is a run's reason: the pipeline view plans without force
        "stale reason": _literals(_hints(reason)["kind"]) - {"forced"},
        # runs.BackgroundRuns.status: running, or how the run ended
        "run state": {"running"} | outcomes,
        # `note` only says a run goes on despite an environment mismatch, which the server's
        # runner never allows; `finished` and `error` are the runner's own last events
        "run event": _literals(_hints(event)["kind"]) - {"note"} | {"finished", "error"},
        "stage status": _literals(_hints(result)["status"]),
        "run outcome": outcomes,
        # stage.parameter_types: the Python types a parameters cell's literal can have
        "parameter type": {"int", "float", "str", "bool", "list", "dict"},
        # a point's status in its file (no sweep writes `skipped` yet)
        "point status": _literals(PointStatus) - {"skipped"},
    }


def enum_values(answers: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """The enumerated values the answers hold, by the names of :func:`declared_values`."""
    seen: dict[str, set[str]] = defaultdict(set)
    for answer in answers:
        kind, body = answer["answer"], answer["body"]
        if kind == "Pipeline":
            for stage in body["stages"]:
                seen["stage state"].add(stage["state"])
                seen["stale reason"].update(r["kind"] for r in stage.get("reasons", []))
        elif kind == "StageContext":
            seen["parameter type"].update(body["cell_types"].values())
        elif kind == "RunStarted":
            seen["run state"].add(body["status"])
        elif kind == "Sweep":
            seen["point status"].update(p["status"] for p in body["points"])
        runs = [body] if kind == "RunStatus" else []
        if kind == "RunList" and body["active"] is not None:
            runs.append(body["active"])
        for run in runs:
            seen["run state"].add(run["status"])
            for event in run["events"]:
                seen["run event"].add(event["kind"])
                if event["kind"] == "stage_finished":
                    seen["stage status"].add(event["status"])
                elif event["kind"] == "finished":
                    seen["run outcome"].add(event["status"])
    return dict(seen)


# -- comparing answers with fixtures -----------------------------------------------------------


def shape(value: Any) -> Any:
    """The JSON type of ``value``, recursively: objects keep their keys, a list is the set of
    its items' shapes (its length is data, not contract)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return [json.loads(s) for s in sorted(shapes)]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):  # JavaScript has one number type
        return "number"
    assert isinstance(value, str), value
    return "string"


def differences(real: Any, fixture: Any, path: str = "body") -> Iterator[str]:
    """Where the real answer's shape and the fixture's differ, one line each."""
    if isinstance(real, dict) and isinstance(fixture, dict):
        for key in sorted(real.keys() - fixture.keys()):
            yield f"{path}.{key}: the server answers it, the fixture lacks it"
        for key in sorted(fixture.keys() - real.keys()):
            yield f"{path}.{key}: in the fixture, the server no longer answers it"
        for key in sorted(real.keys() & fixture.keys()):
            yield from differences(real[key], fixture[key], f"{path}.{key}")
    elif isinstance(real, list) and isinstance(fixture, list):
        # each item shape one side lacks, against the closest item shape of the other side
        for items, others, flip in ((real, fixture, False), (fixture, real, True)):
            for item in (i for i in items if i not in others):
                if not others:
                    side = "the server answers" if not flip else "the fixture has"
                    yield f"{path}[]: {side} items, the other side none"
                    continue
                closest = min(others, key=lambda o: len(list(differences(item, o))))
                pair = (closest, item) if flip else (item, closest)
                yield from differences(*pair, f"{path}[]")
    elif real != fixture:
        yield f"{path}: the server answers {real}, the fixture has {fixture}"


@dataclass
class Answers:
    """The answers a test collected, by fixture name, normalised."""

    root: Path
    jp_fetch: Any
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def get(
        self, name: str, answer: str, route: str, status: int = 200, **kw: Any
    ) -> dict[str, Any]:
        """GET ``/nbmlops/<route>``; keep the answer as fixture ``name`` of the frontend's
        type ``answer``; return it as the server gave it."""
        return await self._call(name, answer, "GET", route, status, **kw)

    async def post(
        self, name: str, answer: str, route: str, body: Any, status: int = 200
    ) -> dict[str, Any]:
        """POST ``body`` to ``/nbmlops/<route>``, as :meth:`get` does."""
        return await self._call(name, answer, "POST", route, status, body=body)

    async def _call(
        self,
        name: str,
        answer: str,
        method: str,
        route: str,
        status: int,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        # the first answer that imports MLflow (mlflow-links) took over the default 20 s at load 11
        kw: dict[str, Any] = {"method": method, "request_timeout": 120}
        if params:
            kw["params"] = params
        if body is not None:
            kw["body"] = json.dumps(body)
        code, got = await _json(self.jp_fetch, "nbmlops", *route.split("/"), **kw)
        assert code == status, (name, code, got)
        query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
        request: dict[str, Any] = {"method": method, "route": f"/nbmlops/{route}{query}"}
        if body is not None and name != "error-body-too-large":  # not a megabyte of "#"
            request["body"] = body
        assert name not in self.answers, name
        self.answers[name] = {
            "request": self.normalise(request),
            "status": code,
            "answer": answer,
            "body": self.normalise(got),
        }
        return got

    def normalise(self, value: Any, key: str = "") -> Any:
        """The answer without what changes from run to run (fixtures stay stable)."""
        if isinstance(value, dict):
            return {k: self.normalise(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normalise(v, key) for v in value]
        if key in _VOLATILE_NUMBERS and isinstance(value, int | float):
            return type(value)(0)
        if key in ("host", "user") and isinstance(value, str):
            return f"<{key}>"
        if not isinstance(value, str):
            return value
        for root in {str(self.root.resolve()), str(self.root)}:
            value = value.replace(root, "<root>")
        value = value.replace(sys.executable, "<python>")
        value = value.replace(platform.node(), "<host>")
        value = value.replace(f" by {getpass.getuser()} ", " by <user> ")
        for pattern, placeholder in _VOLATILE_TEXT:
            value = pattern.sub(placeholder, value)
        return value


_VOLATILE_NUMBERS = {"pid", "duration_s"}
_VOLATILE_TEXT = [
    (re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}"), "<run-id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"(?m)^\d{2}:\d{2}:\d{2} "), "<clock> "),
    (re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"), "<time>"),  # MLflow's log lines
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<mlflow-run-id>"),
    (re.compile(r"\bin \d+\.\d s\b"), "in <seconds> s"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\x1b\[[0-9;]*m"), ""),  # a traceback's colours
]


def check_against_fixtures(answers: dict[str, dict[str, Any]]) -> None:
    fixtures = {p.stem: json.loads(p.read_text("utf-8")) for p in REST_FIXTURES.glob("*.json")}
    problems = [
        f"{n}: no fixture (rewrite the fixtures)" for n in sorted(answers.keys() - fixtures)
    ]
    problems += [f"{n}: a fixture no answer has" for n in sorted(fixtures.keys() - answers.keys())]
    for name in sorted(answers.keys() & fixtures.keys()):
        real, fixture = answers[name], fixtures[name]
        for key in ("status", "answer"):
            if real[key] != fixture[key]:
                problems.append(f"{name}: {key} {real[key]!r}, the fixture says {fixture[key]!r}")
        found = differences(shape(real["body"]), shape(fixture["body"]))
        problems += [f"{name}: {line}" for line in dict.fromkeys(found)]
    real_values, fixture_values = enum_values(answers.values()), enum_values(fixtures.values())
    for kind in sorted(real_values.keys() | fixture_values.keys()):
        new = real_values.get(kind, set()) - fixture_values.get(kind, set())
        gone = fixture_values.get(kind, set()) - real_values.get(kind, set())
        problems += [f"{kind} {value!r}: answered, in no fixture" for value in sorted(new)]
        problems += [f"{kind} {value!r}: in a fixture, never answered" for value in sorted(gone)]
    assert not problems, (
        "the server's answers no longer match extension/test/fixtures/rest/ (rewrite them with "
        "NBMLOPS_UPDATE_REST_FIXTURES=1, then make extension/src/api.ts say the same):\n"
        + "\n".join(problems)
    )


def write_fixtures(answers: dict[str, dict[str, Any]]) -> None:
    REST_FIXTURES.mkdir(parents=True, exist_ok=True)
    for old in REST_FIXTURES.glob("*.json"):
        if old.stem not in answers:
            old.unlink()
    for name, answer in answers.items():
        text = json.dumps(answer, indent=2, ensure_ascii=False) + "\n"
        (REST_FIXTURES / f"{name}.json").write_text(text, "utf-8")


# -- the project and the scenario --------------------------------------------------------------

COHORT = """\
import json
sites = open(inputs["sites"]).read().split()
json.dump([[i, sites[i % len(sites)]] for i in range(rows)], open(product["cohort"], "w"))"""
MODEL = """\
import json
rows = json.load(open(upstream["cohort"]["cohort"]))
json.dump({"C": C, "n": len(rows)}, open(product["model"], "w"))"""
REPORT = """\
import json, time
from nbmlops import record
time.sleep(nap)  # long enough to look at the run while it goes on (a sweep: < 0 fails)
model = json.load(open(upstream["model"]["model"]))
open(product["report"], "w").write(f"n={model['n']}")
record("rows", model["n"])"""


def write_project(root: Path) -> None:
    from clinical import stage_notebook, write_notebook

    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    (root / "data").mkdir()
    (root / "data" / "sites.txt").write_text("A\nB\n", "utf-8")
    notebooks = {
        "cohort": stage_notebook(
            "cohort",
            COHORT,
            params={"rows": 5},
            products={"cohort": "cohort.json"},
            inputs={"sites": "data/sites.txt"},
        ),
        "model": stage_notebook(
            "model", MODEL, params={"C": 1.0}, upstream=["cohort"], products={"model": "model.json"}
        ),
        "report": stage_notebook(
            "report", REPORT, params={"nap": 6}, upstream=["model"], products={"report": "rep.txt"}
        ),
    }
    for name, notebook in notebooks.items():
        write_notebook(root / FOLDER / f"{name}.ipynb", notebook)


def edit_notebook(path: Path, *, code: str | None = None, **metadata: Any) -> str:
    """Change the notebook's last code cell or its stage metadata; return its text before."""
    before = path.read_text("utf-8")
    notebook = json.loads(before)
    if code is not None:
        notebook["cells"][-1]["source"] = code
    notebook["metadata"]["nbmlops"].update(metadata)
    path.write_text(json.dumps(notebook, indent=1) + "\n", "utf-8")
    return before


def stage_dir(root: Path, stage: str) -> Path:
    [found] = root.glob(f"build/*/{stage}")
    return found


async def _until(check: Any, what: str, tries: int = 240) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"never happened: {what}")


async def _run(answers: Answers, name: str, status: str) -> None:
    """Start a run of the folder, wait until it ends with ``status``, keep its answer."""
    body = json.dumps({"folder": FOLDER})
    code, started = await _json(answers.jp_fetch, "nbmlops", "runs", method="POST", body=body)
    assert code == 202, started
    assert (await _wait(answers.jp_fetch, started["id"]))["status"] == status
    await answers.get(name, "RunStatus", f"runs/{started['id']}")


async def _sweep(root: Path, *grid: str, name: str) -> asyncio.subprocess.Process:
    """Start ``nbmlops sweep analysis`` over ``grid`` (one point at a time) as a user would."""
    from clinical import NBMLOPS

    argv = [a for g in grid for a in ("--grid", g)] + ["--name", name, "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return await asyncio.create_subprocess_exec(
        str(NBMLOPS), "sweep", FOLDER, *argv, cwd=root, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def sweeps(answers: Answers) -> None:
    """A finished sweep with a failed point (``time.sleep(-1)`` raises), then a sweep looked at
    while its first point runs and its second waits; an unknown sweep."""
    root, get = answers.root, answers.get
    finished = await _sweep(root, "report.nap=-1,0", name="naps")
    out, _ = await finished.communicate()
    assert finished.returncode == 1, out.decode()  # a point failed
    summary = root / "build" / FOLDER / "sweeps" / "naps" / "summary.html"
    if not summary.is_file():  # the sweep writes it once nbmlops.sweep.summary has landed
        summary.write_text("<!doctype html><title>naps</title>", "utf-8")
    await get("sweeps-finished", "SweepList", "sweeps")
    await get("sweep-finished", "Sweep", f"sweeps/{FOLDER}/naps")
    running = await _sweep(root, "report.nap=4,5", name="long")

    async def point_running() -> bool:
        _, answer = await _json(answers.jp_fetch, "nbmlops", "sweeps", FOLDER, "long")
        return answer.get("counts", {}).get("running") == 1

    await _until(point_running, "the sweep `long` runs its first point", tries=720)
    await get("sweeps-running", "SweepList", "sweeps")
    await get("sweep-running", "Sweep", f"sweeps/{FOLDER}/long")
    out, _ = await running.communicate()
    assert running.returncode == 0, out.decode()
    await get("error-unknown-sweep", "ErrorBody", f"sweeps/{FOLDER}/nosuch", 404)


async def collect_answers(answers: Answers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route, in every state the frontend shows (see the module docstring)."""
    root, get, post = answers.root, answers.get, answers.post
    notebooks = root / FOLDER
    cohort_nb, model_nb = notebooks / "cohort.ipynb", notebooks / "model.ipynb"

    async def pipeline(name: str) -> None:
        await get(name, "Pipeline", "pipeline", params={"folder": FOLDER})

    # a clean project: nothing ran
    await pipeline("pipeline-never-run")
    await get("sweeps-none", "SweepList", "sweeps")
    await get("runs-none", "RunList", "runs")
    shutil.copy(FIXTURES / "bad_metadata.ipynb", notebooks / "bad_metadata.ipynb")
    source = 'n = 5\nscale = 1.5\nlabel = "x"\nflag = True\ngrid = [1, 2]\nopts = {"a": 1}\nf = g()'
    context = {"path": f"{FOLDER}/summary.ipynb", "parameters_source": source}
    await post("stage-context", "StageContext", "stage/context", context)
    (notebooks / "bad_metadata.ipynb").unlink()
    metadata = {
        "stage": "summary",
        "upstream": ["report"],
        "products": {"table": "table.csv"},
        "inputs": {"codes": "data/codes.csv"},
        "params": {"top": 5, "label": "x"},
        "kernel": "python3",
    }
    cells = [
        {"cell_type": "code", "source": "top = 3", "metadata": {"tags": ["parameters"]}},
        {"cell_type": "code", "source": "print(top)", "metadata": {}},
    ]
    valid = {"path": context["path"], "metadata": metadata, "parameters_source": "top = 3"}
    await post("stage-validate", "Validated", "stage/validate", valid | {"cells": cells})

    # the errors the frontend shows
    error = "ErrorBody"
    await get("error-pipeline-not-found", error, "pipeline", 404, params={"folder": "nowhere"})
    bad_name = valid | {"metadata": {"stage": "Bad Name"}}
    await post("error-stage-metadata", error, "stage/validate", bad_name, 400)
    unknown = valid | {"metadata": metadata | {"upstream": ["nope"]}}
    await post("error-unknown-upstream", error, "stage/validate", unknown, 400)
    again = [*cells, {"cell_type": "code", "source": "top = 1", "metadata": {}}]
    await post("error-parameter-reassigned", error, "stage/validate", valid | {"cells": again}, 400)
    broken = {"path": context["path"], "parameters_source": "n = ("}
    await post("error-parameters-cell", error, "stage/context", broken, 400)
    await post("error-bad-request", error, "runs", {"folder": FOLDER, "forse": True}, 400)
    big = {"path": context["path"], "parameters_source": "#" * (1 << 20)}
    await post("error-body-too-large", error, "stage/context", big, 413)
    await get("error-unknown-run", error, "runs/20260101T000000Z-abcdef", 404)

    # a run in the background, looked at while `report` sleeps
    started = await post("run-started", "RunStarted", "runs", {"folder": FOLDER}, 202)

    async def report_running() -> bool:
        _, runs = await _json(answers.jp_fetch, "nbmlops", "runs")
        _, run = await _json(answers.jp_fetch, "nbmlops", "runs", started["id"])
        last = run["events"][-1] if run["events"] else {}
        return (
            bool(runs["holder"])
            and last.get("kind") == "stage_started"
            and (last["stage"] == "report")
        )

    await _until(report_running, "the run holds the project and runs `report`")
    await get("run-running", "RunStatus", f"runs/{started['id']}")
    await get("runs-running", "RunList", "runs")
    await pipeline("pipeline-running")
    await post("error-run-in-progress", error, "runs", {"folder": FOLDER}, 409)
    assert (await _wait(answers.jp_fetch, started["id"]))["status"] == "succeeded"
    await get("run-succeeded", "RunStatus", f"runs/{started['id']}")
    await get("runs-after-run", "RunList", "runs")
    await pipeline("pipeline-up-to-date")
    paths = {"path": f"{FOLDER}/report.ipynb"}
    await post("stage-paths", "StagePaths", "stage/paths", paths)
    monkeypatch.setenv("NBMLOPS_MLFLOW_UI", "http://127.0.0.1:5000")
    await pipeline("pipeline-mlflow-links")
    monkeypatch.delenv("NBMLOPS_MLFLOW_UI")
    await _run(answers, "run-up-to-date", "up_to_date")  # nothing to do
    await sweeps(answers)

    # stale for every reason the pipeline view gives
    before = edit_notebook(cohort_nb, code=COHORT + "\n# edited")
    await pipeline("pipeline-source-changed")
    cohort_nb.write_text(before, "utf-8")

    lock = (root / "uv.lock").read_text("utf-8")
    (root / "uv.lock").write_text(lock + "\n# edited\n", "utf-8")
    before_cohort = edit_notebook(cohort_nb, params={"rows": 6})
    before_model = edit_notebook(model_nb, products={"model": "model-v2.json"})
    (stage_dir(root, "report") / "rep.txt").write_text("edited", "utf-8")
    sites = root / "data" / "sites.txt"
    sites.write_text("A\nC\n", "utf-8")
    await pipeline("pipeline-inputs-changed")
    sites.unlink()
    (root / "uv.lock").write_text(lock, "utf-8")
    cohort_nb.write_text(before_cohort, "utf-8")
    model_nb.write_text(before_model, "utf-8")

    (stage_dir(root, "cohort") / "cohort.json").unlink()
    (stage_dir(root, "model") / "model.json").write_text('{"edited": true}', "utf-8")
    # a state an older or newer nbmlops wrote: an input this one does not know
    state_file = stage_dir(root, "report") / ".nbmlops-state.json"
    state = json.loads(state_file.read_text("utf-8"))
    state["inputs"]["seed"] = "0" * 64
    state_file.write_text(json.dumps(state), "utf-8")
    await pipeline("pipeline-products-changed")
    sites.write_text("A\nB\n", "utf-8")

    # a failing stage: `report` after it does not run
    edit_notebook(model_nb, code='raise ValueError("the model input is empty")')
    await _run(answers, "run-failed", "failed")
    await pipeline("pipeline-after-failure")

    # a cycle: the pipeline cannot be shown, a run stops before any stage
    from clinical import stage_notebook, write_notebook

    for name, up in (("loop_a", "loop_b"), ("loop_b", "loop_a")):
        write_notebook(notebooks / f"{name}.ipynb", stage_notebook(name, "x = 1", upstream=[up]))
    await get("error-cycle", error, "pipeline", 409, params={"folder": FOLDER})
    await _run(answers, "run-stopped", "failed")


async def test_the_rest_answers_match_the_frontends_fixtures(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(jp_root_dir)
    answers = Answers(root=jp_root_dir, jp_fetch=jp_fetch)
    await collect_answers(answers, monkeypatch)
    assert enum_values(answers.answers.values()) == declared_values(), (
        "the scenario no longer makes the server answer every value it can: extend it"
    )
    if UPDATE:
        write_fixtures(answers.answers)
    check_against_fixtures(answers.answers)


# -- the comparison itself can fail --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda body: body["stages"][0].update(paused=True),
            "body.stages[].paused: the server answers it",
        ),
        (lambda body: body["stages"][0].pop("reasons"), "body.stages[].reasons: in the fixture"),
        (lambda body: body.update(active_run=7), "body.active_run: the server answers number"),
        (lambda body: body["stages"][0].update(state="paused"), "stage state 'paused': answered"),
        (
            lambda body: body["stages"][0]["reasons"].append(
                {"kind": "moon_phase", "subject": None, "text": "the moon changed"}
            ),
            "stale reason 'moon_phase': answered",
        ),
    ],
)
def test_a_changed_answer_fails_the_comparison(change: Any, expected: str) -> None:
    fixtures = {p.stem: json.loads(p.read_text("utf-8")) for p in REST_FIXTURES.glob("*.json")}
    real = json.loads(json.dumps(fixtures))
    change(real["pipeline-never-run"]["body"])
    with pytest.raises(AssertionError, match=re.escape(expected)):
        check_against_fixtures(real)
    check_against_fixtures(fixtures)  # unchanged, they pass
