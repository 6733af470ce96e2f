"""A pipeline run recorded in a real MLflow store (SQLite), end to end through run_pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import MakeProject

from nbmlops.authoring.pipeline import discover
from nbmlops.authoring.stage import set_stage
from nbmlops.errors import KernelNotFoundError, RunInProgressError
from nbmlops.records.ledger import read_entries, verify_ledger
from nbmlops.run.execute import run_pipeline
from nbmlops.run.lock import hold_run_lock, name_run, run_holder


def _client(root: Path):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")


def test_parent_and_child_runs_hold_the_records(make_project: MakeProject) -> None:
    root = make_project("load", "double")
    spec = discover(root / "notebooks", name="demo")
    record = run_pipeline(spec, params={"double": {"scale": 3}})
    assert record.status == "succeeded" and record.tracking_problem is None
    client = _client(root)
    parent = client.get_run(record.mlflow_run_id)
    assert parent.data.tags["nbmlops.run_id"] == record.run_id
    assert parent.data.tags["nbmlops.kind"] == "pipeline"
    assert parent.data.params["double.scale"] == "3"
    assert record.overrides == {"double": {"scale": 3}}
    assert parent.info.status == "FINISHED"
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    *_, head, archived = read_entries(root)  # the run's archive is named after it finished
    assert (head.event, archived.event) == ("run_finished", "evidence_archived")
    assert head.hash in parent.data.tags.values()  # the ledger head is anchored in MLflow

    double = client.get_run(record.stage("double").mlflow_run_id or "")
    assert double.data.tags["mlflow.parentRunId"] == record.mlflow_run_id
    assert double.data.metrics["total"] == 30.0
    assert double.data.params["scale"] == "3"
    artifacts = {a.path for a in client.list_artifacts(double.info.run_id, "notebook")}
    assert {"notebook/double.ipynb", "notebook/double.html"} <= artifacts
    assert any(k.startswith("nbmlops.digest") for k in double.data.tags)

    # nothing changed -> no MLflow run at all; a change downstream -> skipped upstream points back
    assert run_pipeline(spec, params={"double": {"scale": 3}}).status == "up_to_date"
    again = run_pipeline(spec, params={"double": {"scale": 4}})
    load = again.stage("load")
    assert load.status == "skipped"
    assert load.produced_by == record.run_id
    assert load.produced_by_mlflow == record.stage("load").mlflow_run_id
    skipped = client.get_run(load.mlflow_run_id or "")
    assert skipped.data.tags["nbmlops.status"] == "skipped"
    assert verify_ledger(root).ok


def test_unwritable_store_still_finishes_and_says_what_was_not_recorded(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project("load", "double")
    blocker = root / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    record = run_pipeline(discover(root / "notebooks"))
    assert record.status == "succeeded"
    assert [s.status for s in record.stages] == ["succeeded", "succeeded"]
    assert record.tracking_problem and "not recorded" in record.tracking_problem.lower()
    assert record.mlflow_run_id is None
    kept = json.loads((root / ".nbmlops" / "runs" / f"{record.run_id}.json").read_text())
    assert kept["status"] == "succeeded"
    assert Path(record.stage("double").products["out"]).is_file()


class _Unexpected(Exception):
    """Not an MLflow, SQL or OS error: what a bug in MLflow or in nbmlops would raise."""


def test_an_unexpected_mlflow_failure_still_finishes_the_run_and_names_it(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    def faulty(self: MlflowClient, *args: object, **kwargs: object) -> None:  # injected fault
        raise _Unexpected("artifact upload failed in an unforeseen way")

    monkeypatch.setattr(MlflowClient, "log_artifacts", faulty)
    root = make_project("load", "double")
    record = run_pipeline(discover(root / "notebooks"))
    assert record.status == "succeeded"
    assert record.tracking_problem is not None
    assert "_Unexpected: artifact upload failed" in record.tracking_problem
    kept = json.loads((root / ".nbmlops" / "runs" / f"{record.run_id}.json").read_text())
    assert kept["tracking_problem"] == record.tracking_problem
    finished = [e for e in read_entries(root) if e.event == "run_finished"]
    assert kept["ledger_head"] == finished[-1].hash
    assert verify_ledger(root).ok


def test_jobs_run_independent_stages_at_the_same_time(make_project: MakeProject) -> None:
    root = make_project("load", "double", "branch")
    record = run_pipeline(discover(root / "notebooks"), jobs=2, tracking=False)

    def span(name: str) -> tuple[datetime, datetime]:
        r = record.stage(name)
        return (
            datetime.fromisoformat(r.started_at or ""),
            datetime.fromisoformat(r.finished_at or ""),
        )

    (a0, a1), (b0, b1) = span("double"), span("branch")
    assert a0 < b1 and b0 < a1, "double and branch did not overlap with --jobs 2"


def test_a_stage_runs_on_its_own_named_kernel(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "kernels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(prefix),
            "--name",
            "nbmlops-test",
            "--display-name",
            "nbmlops test",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    root = make_project("load")
    set_stage(root / "notebooks" / "load.ipynb", kernel="nbmlops-test")
    record = run_pipeline(discover(root / "notebooks"), tracking=False)
    assert record.stage("load").status == "succeeded"
    assert record.stage("load").kernel == "nbmlops-test"
    executed = json.loads(Path(record.stage("load").executed_notebook or "").read_text())
    assert executed["metadata"]["kernelspec"]["name"] == "nbmlops-test"

    set_stage(root / "notebooks" / "load.ipynb", kernel="no-such-kernel")
    with pytest.raises(KernelNotFoundError) as err:
        run_pipeline(discover(root / "notebooks"), tracking=False)
    assert err.value.kernel == "no-such-kernel"
    assert os.environ["JUPYTER_PATH"]  # the fixture's kernel path was in force


def test_a_stage_that_glues_with_scrapbook_itself_is_recorded(make_project: MakeProject) -> None:
    """Why scrapbook is a dependency: notebooks written for it (``scrapbook.glue``) need no
    change to have their values recorded as a stage's scraps and MLflow metrics."""
    root = make_project()
    nb = root / "notebooks" / "glued.ipynb"
    nb.write_bytes((Path(__file__).parent / "notebooks" / "untagged.ipynb").read_bytes())
    set_stage(nb, stage="glued", products={"out": "out.txt"})
    data = json.loads(nb.read_text())
    data["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "glue",
            "metadata": {},
            "outputs": [],
            "source": [
                "import scrapbook as sb\n",
                "sb.glue('auroc', 0.81)\n",
                "sb.glue('model', 'gradient boosting')\n",
                "open(product['out'], 'w').write('ok')\n",
            ],
        }
    )
    nb.write_text(json.dumps(data))
    record = run_pipeline(discover(root / "notebooks"))
    glued = record.stage("glued")
    assert glued.status == "succeeded", glued.error
    assert glued.scraps == {"auroc": 0.81, "model": "gradient boosting"}
    child = _client(root).get_run(glued.mlflow_run_id or "")
    assert child.data.metrics["auroc"] == 0.81 and "model" not in child.data.metrics


def _leaky_stage(root: Path) -> None:
    """A stage whose outputs, scraps and (with fail=1) exception show patient identifiers."""
    nb = root / "notebooks" / "leaky.ipynb"
    nb.write_bytes((Path(__file__).parent / "notebooks" / "untagged.ipynb").read_bytes())
    set_stage(nb, stage="leaky", products={"out": "out.txt"}, params={"fail": 0})
    data = json.loads(nb.read_text())
    data["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "leak",
            "metadata": {},
            "outputs": [],
            "source": [
                "from nbmlops.records.scraps import record\n",
                "# values as they come out of a data frame, not literals in the source\n",
                "mrn, phone, seen = '4821' + '3377', '(617) 555-' + '0123', '2024-03-' + '05'\n",
                "print(f'patient MRN: {mrn}, phone {phone}, seen {seen}')\n",
                "record('example', f'call {phone}')\n",
                "record('auroc', 0.8)\n",
                "open(product['out'], 'w').write('ok')\n",
                "if fail:\n",
                "    raise KeyError('123-45-' + '6789')\n",
            ],
        }
    )
    nb.write_text(json.dumps(data))


def _artifact_text(client, run_id: str) -> str:  # type: ignore[no-untyped-def]
    from mlflow.artifacts import download_artifacts

    folder = Path(download_artifacts(run_id=run_id, tracking_uri=client.tracking_uri))
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("policy", ["refuse", "redact"])
def test_phi_never_leaves_in_mlflow_or_the_ledger(make_project: MakeProject, policy: str) -> None:
    root = make_project()
    _leaky_stage(root)
    record = run_pipeline(discover(root / "notebooks"), phi_policy=policy)
    leaky = record.stage("leaky")
    assert leaky.status == "succeeded"
    local = Path(leaky.executed_notebook or "").read_text()
    assert "555-0123" in local  # the local executed notebook keeps what the notebook printed
    if policy == "redact":
        assert leaky.scraps["example"] == "call [REDACTED:phone]"
    else:  # refuse: a text that looks like PHI is not recorded at all
        assert leaky.scraps["example"].startswith("[WITHHELD: looked like PHI (phone)")
    assert leaky.scraps["auroc"] == 0.8
    client = _client(root)
    logged = _artifact_text(client, leaky.mlflow_run_id or "")
    for value in ("48213377", "555-0123", "2024-03-05"):
        assert value not in logged
    names = {a.path for a in client.list_artifacts(leaky.mlflow_run_id, "notebook")}
    if policy == "refuse":
        assert names == set()
        assert any("NOT logged to MLflow" in n for n in record.notes)
    else:
        assert names == {"notebook/leaky.ipynb", "notebook/leaky.html"}
        assert "[REDACTED:phone]" in logged

    failed = run_pipeline(discover(root / "notebooks"), params={"leaky": {"fail": 1}})
    assert failed.stage("leaky").status == "failed"
    ledger_text = (root / ".nbmlops" / "ledger.jsonl").read_text()
    for value in ("123-45-6789", "555-0123", "48213377"):
        assert value not in ledger_text
    parent_text = _artifact_text(client, failed.mlflow_run_id or "")
    assert "123-45-6789" not in parent_text
    assert verify_ledger(root).ok


_HOLDER = """
import sys, time
from pathlib import Path
from nbmlops.run.lock import hold_run_lock
with hold_run_lock(Path(sys.argv[1]), run_id="20260101T000000Z-f1r57a"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(root: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the project's run lock (as a run does) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_naming_the_first_and_writes_nothing(
    make_project: MakeProject,
) -> None:
    root = make_project("load")
    first = _holder(root, 60)
    try:
        with pytest.raises(RunInProgressError) as refused:
            run_pipeline(discover(root / "notebooks"))
    finally:
        first.kill()
        first.communicate()
    error = refused.value
    assert (error.handle, error.pid) == ("20260101T000000Z-f1r57a", first.pid)
    assert error.user and error.host and error.since and "-c" in str(error.command)
    assert "--wait" in error.message
    assert not (root / ".nbmlops" / "ledger.jsonl").exists()  # nothing planned, nothing run
    assert not (root / "build").exists()


def test_wait_lets_a_second_run_follow_the_first(make_project: MakeProject) -> None:
    root = make_project("load")
    first = _holder(root, 2)
    try:
        record = run_pipeline(discover(root / "notebooks"), wait=120, tracking=False)
    finally:
        first.communicate()
    assert first.returncode == 0 and record.status == "succeeded"
    assert run_holder(root) is None  # released, and its file removed
    assert not (root / ".nbmlops" / "run.lock.json").exists()


def test_the_lock_of_a_killed_run_is_free_and_its_leftover_file_ignored(
    make_project: MakeProject,
) -> None:
    root = make_project("load")
    crashed = _holder(root, 60)
    crashed.kill()  # SIGKILL: no cleanup ran, run.lock.json still names it
    crashed.communicate()
    assert json.loads((root / ".nbmlops" / "run.lock.json").read_text())["pid"] == crashed.pid
    assert run_holder(root) is None
    record = run_pipeline(discover(root / "notebooks"), tracking=False)
    assert record.status == "succeeded"


def test_the_holder_file_names_the_run_and_leaves_out_parameter_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["/usr/bin/nbmlops", "run", "study", "--param", "cohort.mrn=123-45-6789"]
    monkeypatch.setattr(sys, "argv", argv)
    with hold_run_lock(tmp_path, run_id="r-1") as holder:
        with hold_run_lock(tmp_path):  # nested in one thread: counted, not refused
            name_run(tmp_path, "r-2")
        shown = run_holder(tmp_path)
    assert holder.pid == os.getpid() and shown is not None and shown.run_id == "r-2"
    assert shown.command == "nbmlops run study --param cohort.mrn=…"
    assert run_holder(tmp_path) is None
