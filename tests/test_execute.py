"""Running pipelines in real kernels: incremental runs, selection, failures, nothing lost.

Tracking is off here (tests/test_run_tracking.py covers MLflow); the ledger is always written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import MakeProject

from nbmlops.authoring.pipeline import PipelineSpec, discover
from nbmlops.errors import (
    EnvironmentMismatchError,
    InvalidInputError,
    ParameterError,
    UpstreamProductsMissingError,
)
from nbmlops.records.ledger import read_entries, verify_ledger
from nbmlops.run.execute import plan_pipeline, run_pipeline


def _spec(root: Path) -> PipelineSpec:
    return discover(root / "notebooks", name="t")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.ipynb")}


def test_run_then_nothing_changed_then_param_change(make_project: MakeProject) -> None:
    root = make_project("load", "double")
    sources = _digests(root / "notebooks")
    events: list[str] = []
    first = run_pipeline(_spec(root), tracking=False, progress=lambda e: events.append(e.kind))
    assert first.status == "succeeded"
    assert [s.status for s in first.stages] == ["succeeded", "succeeded"]
    double = first.stage("double")
    assert json.loads(Path(double.products["out"]).read_text()) == [0, 2, 4, 6, 8]
    assert double.scraps == {"total": 20, "label": "doubled"}
    assert Path(double.executed_notebook or "").name == "double.ipynb"
    assert Path(double.html or "").is_file()
    assert (
        "https://" not in Path(double.html or "").read_text().split("<body")[0].split("<style")[0]
    )
    assert double.inputs["upstream:load.data"] == first.stage("load").product_digests["data"]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    with pytest.raises(InvalidInputError, match="has no stage 'nope'") as unknown:
        first.stage("nope")
    assert unknown.value.argument == "name"

    second = run_pipeline(_spec(root), tracking=False)
    assert second.status == "up_to_date"
    assert {s.status for s in second.stages} == {"skipped"}
    assert second.stage("double").produced_by == first.run_id

    third = run_pipeline(_spec(root), tracking=False, params={"double": {"scale": 3}})
    assert [s.status for s in third.stages] == ["skipped", "succeeded"]
    assert third.stage("double").reason == "parameter scale changed"
    assert json.loads(Path(third.stage("double").products["out"]).read_text())[-1] == 12

    assert _digests(root / "notebooks") == sources, "a run modified a source notebook"
    report = verify_ledger(root)
    assert report.ok
    events_seen = [e.event for e in read_entries(root)]
    assert events_seen.count("run_up_to_date") == 1
    assert (root / ".nbmlops" / "runs" / f"{first.run_id}.json").is_file()


def test_upstream_rerun_with_identical_products_skips_downstream(make_project: MakeProject) -> None:
    root = make_project("load", "double")
    run_pipeline(_spec(root), tracking=False)
    again = run_pipeline(_spec(root), tracking=False, stages=["load"], downstream=True, force=True)
    # --force reruns both selected stages; without it, an identical upstream result keeps
    # downstream up to date:
    assert [s.status for s in again.stages] == ["succeeded", "succeeded"]
    nb = root / "notebooks" / "load.ipynb"
    data = json.loads(nb.read_text())
    data["cells"][-1]["source"].append("\n# a comment changes the source, not the products")
    nb.write_text(json.dumps(data))
    third = run_pipeline(_spec(root), tracking=False)
    assert third.stage("load").status == "succeeded"
    assert third.stage("load").reason == "notebook source changed"
    assert third.stage("double").status == "skipped"


def test_modified_product_makes_stage_stale(make_project: MakeProject) -> None:
    root = make_project("load", "double")
    first = run_pipeline(_spec(root), tracking=False)
    Path(first.stage("double").products["out"]).write_text("[999]")
    plans = {p.stage: p for p in plan_pipeline(_spec(root))}
    assert plans["load"].up_to_date
    assert [(r.kind, r.subject) for r in plans["double"].reasons] == [("product_changed", "out")]


def test_stage_selection_and_missing_upstream(make_project: MakeProject) -> None:
    root = make_project("load", "double")
    with pytest.raises(UpstreamProductsMissingError) as err:
        run_pipeline(_spec(root), tracking=False, stages=["double"])
    assert (err.value.stage, err.value.upstream) == ("double", "load")
    only = run_pipeline(_spec(root), tracking=False, stages=["load"])
    assert [s.stage for s in only.stages] == ["load"]
    assert not (root / "build/t/double").exists()


def test_failure_stops_branch_keeps_partial_notebook_and_other_branch(
    make_project: MakeProject,
) -> None:
    root = make_project("load", "double", "branch")
    good = run_pipeline(_spec(root), tracking=False)
    old_out = Path(good.stage("double").products["out"]).read_bytes()
    # break `double`'s notebook: now a cell raises
    nb = root / "notebooks" / "double.ipynb"
    data = json.loads(nb.read_text())
    data["cells"].insert(
        3,
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "boom",
            "metadata": {},
            "outputs": [],
            "source": ["raise KeyError('patient_id')"],
        },
    )
    nb.write_text(json.dumps(data))
    source_before = nb.read_bytes()
    (root / "notebooks" / "failing_cell.ipynb").write_bytes(
        (Path(__file__).parent / "notebooks" / "failing_cell.ipynb").read_bytes()
    )
    record = run_pipeline(_spec(root), tracking=False, force=True, jobs=2)
    assert record.status == "failed"
    by = {s.stage: s for s in record.stages}
    assert by["load"].status == "succeeded" and by["branch"].status == "succeeded"
    assert by["double"].status == "failed"
    err = by["double"].error or {}
    assert err["error"] == "CellExecutionError"
    assert err["cell_index"] == 3 and err["ename"] == "KeyError"
    partial = Path(by["double"].executed_notebook or "")
    assert partial.is_file() and "runs" in partial.parts
    assert "patient_id" in partial.read_text()
    failing = by["failing"]
    assert failing.status == "failed" and (failing.error or {})["cell_index"] == 4
    # the previous good products are untouched, and the source was not modified
    assert Path(good.stage("double").products["out"]).read_bytes() == old_out
    assert nb.read_bytes() == source_before


def test_dead_kernel_and_missing_product(make_project: MakeProject) -> None:
    root = make_project("kill_kernel", "missing_product")
    record = run_pipeline(_spec(root), tracking=False, jobs=2)
    by = {s.stage: s for s in record.stages}
    killed = by["killed"].error or {}
    assert killed["error"] == "KernelDiedError"
    assert killed["cell_index"] == 3  # markdown, parameters, print, kill
    partial = json.loads(Path(by["killed"].executed_notebook or "").read_text())
    statuses = [c["metadata"]["papermill"]["status"] for c in partial["cells"]]
    assert statuses[-2:] == ["failed", "pending"]
    missing = by["forgetful"].error or {}
    assert missing["error"] == "MissingProductError" and missing["product"] == "out"
    assert verify_ledger(root).ok


def test_a_running_notebook_is_written_less_often_and_kept_whole(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill writes the executed notebook as every cell starts and ends; nbmlops spaces
    those writes (each holds the whole notebook), and papermill's last write keeps it whole."""
    from papermill import engines

    writes: list[str] = []
    write = engines.write_ipynb

    def counted(nb: object, path: str) -> None:  # papermill's own write, counted
        writes.append(path)
        write(nb, path)

    monkeypatch.setattr(engines, "write_ipynb", counted)
    root = make_project("load")
    record = run_pipeline(_spec(root), tracking=False)
    executed = json.loads(Path(record.stage("load").executed_notebook or "").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    # papermill alone: once as the notebook starts, twice per cell (injected one included), once
    # as it ends; a cell's end and the next one's start are never 2 s apart
    assert 2 <= len(writes) < 2 * len(code) + 2
    assert [c["metadata"]["papermill"]["status"] for c in code] == ["completed"] * len(code)
    assert all(c["metadata"]["papermill"]["end_time"] for c in code)
    assert executed["metadata"]["papermill"]["end_time"]


def test_without_its_papermill_engine_a_stage_fails_saying_to_install_nbmlops(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from papermill.engines import papermill_engines

    # what an environment where nbmlops's `papermill.engine` entry point is not installed has
    monkeypatch.delitem(papermill_engines._engines, "nbmlops")
    root = make_project("load")
    record = run_pipeline(_spec(root), tracking=False)
    error = record.stage("load").error or {}
    assert record.status == "failed" and error["error"] == "SetupError"
    assert "entry point is missing" in error["message"]


def test_downstream_of_failure_is_not_run(make_project: MakeProject) -> None:
    root = make_project("load", "failing_cell")
    nb = root / "notebooks" / "after.ipynb"
    data = json.loads((Path(__file__).parent / "notebooks" / "branch.ipynb").read_text())
    data["metadata"]["nbmlops"].update({"stage": "after", "upstream": ["failing"]})
    data["cells"][-1]["source"] = [
        "x = upstream['failing']['out']\n",
        "open(product['summary'], 'w').write(x)",
    ]
    data["cells"][1]["source"] = ["upstream = None\n", "product = None"]
    nb.write_text(json.dumps(data))
    record = run_pipeline(_spec(root), tracking=False)
    by = {s.stage: s for s in record.stages}
    assert by["after"].status == "not_run"
    assert by["after"].reason == "upstream failing failed"


def test_wrong_parameter_fails_before_any_kernel(make_project: MakeProject) -> None:
    root = make_project("load")
    with pytest.raises(ParameterError) as err:
        run_pipeline(_spec(root), tracking=False, params={"load": {"n": "five"}})
    assert (err.value.stage, err.value.param) == ("load", "n")
    assert not (root / "build").exists()
    # no ledger, no record: only the (empty) run lock file, kept between runs as flock needs
    assert [p.name for p in (root / ".nbmlops").iterdir()] == ["run.lock"]
    with pytest.raises(ParameterError, match="PHI policy 'warn'") as err:
        run_pipeline(_spec(root), tracking=False, phi_policy="warn")
    assert (err.value.stage, err.value.param) == (None, "phi_policy")


def test_environment_mismatch_stops_or_is_recorded(make_project: MakeProject) -> None:
    root = make_project("load")
    lock = root / "uv.lock"
    text = lock.read_text()
    marker = 'name = "rich"\nversion = "'
    start = text.index(marker) + len(marker)
    end = text.index('"', start)
    lock.write_text(text[:start] + "0.0.1" + text[end:])
    with pytest.raises(EnvironmentMismatchError) as err:
        run_pipeline(_spec(root), tracking=False)
    assert any(d.startswith("rich:") for d in err.value.differences)
    assert not (root / "build").exists()
    record = run_pipeline(_spec(root), tracking=False, allow_env_mismatch=True)
    assert record.status == "succeeded"
    assert any("rich" in d for d in record.environment_mismatch)


def test_full_disk_fails_the_stage_cleanly_and_keeps_earlier_products(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import papermill.iorw

    root = make_project("load", "double")
    good = run_pipeline(_spec(root), tracking=False)
    before = Path(good.stage("double").products["out"]).read_bytes()
    real_write = papermill.iorw.write_ipynb

    def full_disk(nb: object, path: str, *args: object, **kwargs: object) -> None:
        if "/double/" in str(path):  # the disk fills up while `double` is being written
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(nb, path, *args, **kwargs)

    monkeypatch.setattr(papermill.iorw, "write_ipynb", full_disk)
    monkeypatch.setattr("papermill.execute.write_ipynb", full_disk)
    record = run_pipeline(_spec(root), tracking=False, force=True)
    by = {s.stage: s for s in record.stages}
    assert by["load"].status == "succeeded"
    assert by["double"].status == "failed"
    err = by["double"].error or {}
    assert err["error"] == "StageExecutionError" and err["stage"] == "double"
    assert "No space left on device" in err["message"]
    assert Path(good.stage("double").products["out"]).read_bytes() == before
    assert verify_ledger(root).ok


def _probe_pipeline(root: Path, fill: int = 0) -> None:
    """``prep`` (a parameter whose name holds "missing") -> ``use``."""
    from clinical import stage_notebook, write_notebook

    prep = 'import json\njson.dump([fill_missing] * 3, open(product["data"], "w"))'
    use = (
        "import json\n"
        'total = sum(json.load(open(upstream["prep"]["data"])))\n'
        'json.dump(total, open(product["total"], "w"))'
    )
    write_notebook(
        root / "notebooks" / "prep.ipynb",
        stage_notebook("prep", prep, params={"fill_missing": fill}, products={"data": "d.json"}),
    )
    write_notebook(
        root / "notebooks" / "use.ipynb",
        stage_notebook("use", use, upstream=["prep"], products={"total": "t.json"}),
    )


def test_stale_reasons_are_structured_not_prose(make_project: MakeProject) -> None:
    """A parameter named ``fill_missing`` once made an up-to-date upstream look "missing"."""
    from nbmlops.run.state import StaleReason

    root = make_project()
    _probe_pipeline(root)
    assert {p.reasons for p in plan_pipeline(_spec(root))} == {
        (StaleReason(kind="never_run", text="never run"),)
    }
    run_pipeline(_spec(root), tracking=False)
    changed = {"prep": {"fill_missing": 1}}
    plans = {p.stage: p for p in plan_pipeline(_spec(root), params=changed)}
    assert [(r.kind, r.subject) for r in plans["prep"].reasons] == [
        ("params_changed", "fill_missing")
    ]
    assert [(r.kind, r.subject) for r in plans["use"].reasons] == [("upstream_will_run", "prep")]
    # `use` alone: prep's products are there (only its parameter changed), so this runs
    record = run_pipeline(_spec(root), tracking=False, params=changed, stages=["use"])
    assert record.status == "up_to_date"
    Path(root / "build" / "t" / "prep" / "d.json").unlink()
    plans = {p.stage: p for p in plan_pipeline(_spec(root))}
    assert [(r.kind, r.subject) for r in plans["prep"].reasons] == [("product_missing", "data")]
    assert [(r.kind, r.subject) for r in plans["use"].reasons] == [
        ("upstream_missing", "prep.data")
    ]
    with pytest.raises(UpstreamProductsMissingError) as err:
        run_pipeline(_spec(root), tracking=False, stages=["use"])
    assert (err.value.stage, err.value.upstream) == ("use", "prep")


def test_a_product_edited_in_place_with_size_and_mtime_restored_is_noticed(
    make_project: MakeProject,
) -> None:
    """Size and mtime alone once vouched for a product: the edit went unnoticed downstream."""
    import os

    root = make_project("load", "double")
    first = run_pipeline(_spec(root), tracking=False)
    out = Path(first.stage("double").products["out"])
    before = out.stat()
    edited = out.read_text().replace("8]", "9]")
    assert len(edited) == before.st_size
    out.write_text(edited)
    os.utime(out, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (out.stat().st_size, out.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    plans = {p.stage: p for p in plan_pipeline(_spec(root))}
    assert [(r.kind, r.subject) for r in plans["double"].reasons] == [("product_changed", "out")]
    again = run_pipeline(_spec(root), tracking=False)
    assert again.stage("double").status == "succeeded"
    assert json.loads(out.read_text())[-1] == 8
