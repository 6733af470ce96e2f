"""Attack probes on the audit trail, through the real CLI on a new user's project with real runs.

Each probe rewrites what a user with write access to ``.nbmlops/`` can rewrite (the ledger and its
head, recomputed so that the chain alone is consistent) and checks that ``nbmlops audit verify``
fails and names what disagrees: an MLflow run's ``nbmlops.ledger_head`` tag, a run record in
``.nbmlops/runs/``, an archived evidence file, or an anchor kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from tests.clinical import NBMLOPS, clinical_project, nbmlops_cli, stage_notebook, write_notebook

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throw-away test credential
Lines = list[dict[str, Any]]


def _canonical(obj: dict[str, Any]) -> bytes:
    """RFC 8785, as the ledger's format (``"v": 2``) documents it: a forger needs no nbmlops."""
    return rfc8785.dumps(obj)


def _entries(root: Path) -> Lines:
    raw = (root / ".nbmlops" / "ledger.jsonl").read_bytes()
    return [json.loads(line) for line in raw.splitlines()]


def _rechain(root: Path, change: Callable[[Lines], Lines]) -> None:
    """Apply ``change`` to the entries, then renumber, re-chain, rehash and re-head them all:
    what a forger who read ``ledger.py`` writes. The chain and its head then agree."""
    entries, prev, lines = change(_entries(root)), "0" * 64, []
    for seq, entry in enumerate(entries):
        fields = {k: v for k, v in entry.items() if k != "hash"} | {"seq": seq, "prev": prev}
        prev = hashlib.sha256(_canonical(fields)).hexdigest()
        lines.append(_canonical({**fields, "hash": prev}) + b"\n")
    (root / ".nbmlops" / "ledger.jsonl").write_bytes(b"".join(lines))
    head = _canonical({"hash": prev, "seq": len(entries) - 1}) + b"\n"
    (root / ".nbmlops" / "ledger.head").write_bytes(head)


def _verify(root: Path, *args: str, text: bool = False) -> tuple[int, str, dict[str, Any]]:
    """Exit code and --json report of `audit verify` (and, with ``text``, its printed lines)."""
    machine = nbmlops_cli(root, "audit", "verify", "--json", *args)
    out = ""
    if text:
        shown = nbmlops_cli(root, "audit", "verify", *args)
        assert shown.returncode == machine.returncode, shown.stdout + shown.stderr
        out = shown.stdout + shown.stderr
    return machine.returncode, out or machine.stderr, json.loads(machine.stdout)


def _failures(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for c in report["checks"] if c["kind"] == kind for f in c["failures"]]


def _two_runs_and_a_signer(root: Path) -> Path:
    clinical_project(root)
    for args in (("run", "analysis"), ("run", "analysis", "--param", "model.C=0.5")):
        done = nbmlops_cli(root, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    added = nbmlops_cli(
        root, "signer", "add", "qa1", "--name", "Quinn Auditor", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    return root


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clinical project after two real runs (the second with C=0.5) and a signer."""
    return _two_runs_and_a_signer(tmp_path_factory.mktemp("ran"))


@pytest.fixture
def project(ran: Path, tmp_path: Path) -> Path:
    """A private copy of ``ran``: its own ledger, run records, stage states and MLflow store.

    Not for signing: run records name their MLflow store and products by absolute path, so a
    decision signed in a copy would be mirrored into ``ran``'s store (see ``fresh``).
    """
    root = tmp_path / "copy"
    shutil.copytree(ran, root)
    return root


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A project of its own, made and run in place, for probes that sign decisions."""
    return _two_runs_and_a_signer(tmp_path / "fresh")


def _sign(root: Path, decision: str = "reject") -> None:
    done = nbmlops_cli(
        root, "review", "latest", "--stage", "model", "--decision", decision,
        "--meaning", f"I {decision} this model for the pilot", "--comment", "AUROC as reviewed",
        "--signer", "qa1", "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_untouched_project_verifies(project: Path) -> None:
    code, out, report = _verify(project)

    assert code == 0, out
    assert report["ok"] is True
    kinds = {c["kind"]: c for c in report["checks"]}
    assert kinds["run records"]["checked"] == 2
    assert kinds["mlflow"]["checked"] == 2
    assert kinds["stage states"]["checked"] == 2
    assert all(not c["failures"] for c in report["checks"])


def test_deleting_the_ledger_and_its_head_fails(project: Path) -> None:
    (project / ".nbmlops" / "ledger.jsonl").unlink()
    (project / ".nbmlops" / "ledger.head").unlink()

    code, out, report = _verify(project, text=True)

    assert code == 1, out
    assert "ledger intact" not in out
    records = _failures(report, "run records")
    assert len(records) == 2
    assert all(f["subject"].endswith(".json") for f in records)
    assert len(_failures(report, "mlflow")) == 2
    assert _failures(report, "ledger")  # a missing ledger where runs exist


def test_a_rechained_edit_with_a_rewritten_head_fails(project: Path) -> None:
    def edit(entries: Lines) -> Lines:
        started = next(e for e in entries if e["event"] == "run_started")
        started["data"]["pipeline"] = "something-else"
        return entries

    _rechain(project, edit)

    code, out, report = _verify(project, text=True)

    assert code == 1, out
    # every anchor taken after the edit disagrees: both runs' records and MLflow tags
    assert {f["seq"] for f in _failures(report, "run records")} == {
        e["seq"] for e in _entries(project) if e["event"] == "run_finished"
    }
    assert len(_failures(report, "mlflow")) == 2
    assert "run records" in out and "mlflow" in out


def test_a_consistent_shorter_ledger_fails(project: Path) -> None:
    last_finish = max(e["seq"] for e in _entries(project) if e["event"] == "run_finished")
    _rechain(project, lambda entries: entries[:last_finish])  # the second run's end cut off

    code, out, report = _verify(project)

    assert code == 1, out
    [record] = _failures(report, "run records")
    assert record["seq"] == last_finish
    assert "past the end" in record["message"] or "not in the ledger" in record["message"]
    assert len(_failures(report, "mlflow")) == 1


def test_removing_an_approval_fails_on_its_decision_file_and_mlflow(fresh: Path) -> None:
    _sign(fresh, "approve")
    assert _verify(fresh)[0] == 0
    _rechain(fresh, lambda es: [e for e in es if e["event"] != "review_signed"])

    code, out, report = _verify(fresh)

    assert code == 1, out
    # its evidence is the run's own archive (evidence_archived names it): its decision file is
    # what the removed entry left behind
    assert _failures(report, "evidence") == []
    orphans = _failures(report, "decisions")
    assert orphans
    decided = {p.name for p in (fresh / ".nbmlops" / "decisions").iterdir()}
    assert {Path(f["subject"]).name for f in orphans} <= decided
    # the MLflow run and the approved model version still name the removed decision
    subjects = [f["subject"] for f in _failures(report, "mlflow")]
    assert any(s.startswith("MLflow run ") for s in subjects), subjects
    assert any("version 1 (alias approved)" in s for s in subjects), subjects


def test_removing_a_refused_signature_fails_against_an_anchor(
    project: Path, tmp_path: Path
) -> None:
    refused = nbmlops_cli(
        project, "review", "latest", "--stage", "model", "--decision", "approve",
        "--meaning", "I approve", "--comment", "fine", "--signer", "qa1", "--password-stdin",
        input="wrong password\n",
    )  # fmt: skip
    assert refused.returncode == 2
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchored = nbmlops_cli(project, "audit", "anchor", "--append", str(anchors))
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    [line] = anchors.read_text().splitlines()
    anchor = json.loads(line)
    assert anchor["seq"] == len(_entries(project)) - 1
    assert anchor["hash"] == _entries(project)[-1]["hash"]
    assert anchor["at"].endswith("Z")
    assert _verify(project, "--anchor", str(anchors))[0] == 0

    _rechain(project, lambda es: [e for e in es if e["event"] != "signature_refused"])

    code, out, report = _verify(project, "--anchor", str(anchors))

    assert code == 1, out
    [failure] = _failures(report, "anchors")
    assert failure["seq"] == anchor["seq"]
    assert str(anchors) in failure["subject"]


def test_a_forged_mlflow_ledger_head_tag_fails(project: Path) -> None:
    from nbmlops.records.tracking import open_client, tracking_uri

    client = open_client(tracking_uri(project))
    [experiment] = [e for e in client.search_experiments() if e.name == "nbmlops/analysis"]
    runs = client.search_runs([experiment.experiment_id], "tags.`nbmlops.kind` = 'pipeline'")
    client.set_tag(runs[0].info.run_id, "nbmlops.ledger_head", "f" * 64)

    code, out, report = _verify(project)

    assert code == 1, out
    [failure] = _failures(report, "mlflow")
    assert runs[0].info.run_id in failure["subject"]


def test_a_run_that_never_finished_is_a_warning(project: Path) -> None:
    from nbmlops.records import ledger

    ledger.append(project, "run_started", run_id="20260101T000000Z-dead", data={})

    code, out, report = _verify(project, text=True)

    assert code == 0, out
    [warning] = [w for c in report["checks"] if c["kind"] == "open runs" for w in c["warnings"]]
    assert "20260101T000000Z-dead" in warning["subject"]
    assert "never finished" in out


def test_a_damaged_tail_is_quarantined_by_repair_and_runs_go_on(project: Path) -> None:
    ledger_file = project / ".nbmlops" / "ledger.jsonl"
    good = ledger_file.read_bytes()
    torn = b'{"data":{"pipeline":"analysis"},"event":"run_st'  # a crash mid-append
    ledger_file.write_bytes(good + torn)

    refused = nbmlops_cli(project, "run", "analysis", "--force")
    assert refused.returncode == 2
    assert "nbmlops verify" not in refused.stdout + refused.stderr
    assert "nbmlops audit repair" in refused.stdout + refused.stderr
    assert _verify(project)[0] == 1

    repaired = nbmlops_cli(project, "audit", "repair")

    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    [kept] = (project / ".nbmlops" / "ledger.quarantine").iterdir()
    assert kept.read_bytes() == torn
    last = _entries(project)[-1]
    assert last["event"] == "ledger_repaired"
    assert last["data"]["sha256"] == hashlib.sha256(torn).hexdigest()
    assert last["data"]["length"] == len(torn)
    assert ledger_file.read_bytes().startswith(good)
    assert _verify(project)[0] == 0
    assert nbmlops_cli(project, "run", "analysis", "--force").returncode == 0
    assert _verify(project)[0] == 0


def test_repair_refuses_a_bad_line_in_the_middle(project: Path) -> None:
    ledger_file = project / ".nbmlops" / "ledger.jsonl"
    lines = ledger_file.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"event":"', b'"event":"x', 1)
    ledger_file.write_bytes(b"".join(lines))
    before = ledger_file.read_bytes()

    repaired = nbmlops_cli(project, "audit", "repair")

    assert repaired.returncode == 2
    assert "line 3" in repaired.stdout
    assert "tamper" in repaired.stdout
    assert ledger_file.read_bytes() == before
    assert not (project / ".nbmlops" / "ledger.quarantine").exists()


def test_a_shared_store_counts_only_this_projects_runs(ran: Path, tmp_path: Path) -> None:
    """Another project's runs in a shared MLflow store are not this project's anchors."""
    other = tmp_path / "other"
    other.mkdir()
    shared = {"MLFLOW_TRACKING_URI": f"sqlite:///{ran / '.nbmlops' / 'mlflow.db'}"}

    done = nbmlops_cli(other, "audit", "verify", "--json", env=shared)

    assert done.returncode == 0, done.stdout + done.stderr
    mlflow = next(c for c in json.loads(done.stdout)["checks"] if c["kind"] == "mlflow")
    assert (mlflow["checked"], mlflow["note"]) == (0, "shared store: runs this project knows")


def test_a_killed_run_is_reported_as_never_finished(project: Path) -> None:
    write_notebook(
        project / "slow" / "hold.ipynb",
        stage_notebook("hold", "import time\ntime.sleep(300)", products={"x": "x.txt"}),
    )
    ledger_file = project / ".nbmlops" / "ledger.jsonl"
    before = len(_entries(project))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = subprocess.Popen(  # its own session: the kernel it starts is killed with it
        [str(NBMLOPS), "run", "slow"], cwd=project, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(ledger_file.read_bytes().splitlines()) == before:
            assert time.monotonic() < deadline, "the run never started"
            assert run.poll() is None, "the run ended early"
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    started = _entries(project)[-1]
    assert started["event"] == "run_started"

    code, out, report = _verify(project, text=True)

    assert code == 0, out
    warnings = [w for c in report["checks"] if c["kind"] == "open runs" for w in c["warnings"]]
    assert [(w["subject"], w["seq"]) for w in warnings] == [
        (f"run {started['run_id']}", started["seq"])
    ]
    assert "never finished" in out
