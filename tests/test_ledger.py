"""The audit ledger: chaining, tamper and truncation detection, parallel writers, plain JSON."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from nbmlops.errors import LedgerError, LedgerRepairError, LedgerTamperedError
from nbmlops.records.ledger import (
    GENESIS,
    REPAIRED,
    LedgerEntry,
    append,
    read_entries,
    repair_ledger,
    verify_ledger,
)

Lines = list[bytes]


def _ledger(root: Path) -> Path:
    return root / ".nbmlops" / "ledger.jsonl"


def _head(root: Path) -> Path:
    return root / ".nbmlops" / "ledger.head"


def _canonical(obj: dict[str, Any]) -> bytes:
    """The documented canonical form (RFC 8785, by the reference package rather than nbmlops's
    own code), so the tests check the format itself."""
    return rfc8785.dumps(obj)


def _rehashed(raw: bytes, **changes: Any) -> bytes:
    """The line with ``changes`` applied and its hash recomputed, as a careful forger would."""
    obj = {k: v for k, v in json.loads(raw).items() if k != "hash"} | changes
    return _canonical({**obj, "hash": hashlib.sha256(_canonical(obj)).hexdigest()}) + b"\n"


def _rewrite(root: Path, change: Callable[[Lines], None]) -> None:
    lines = _ledger(root).read_bytes().splitlines(keepends=True)
    change(lines)
    _ledger(root).write_bytes(b"".join(lines))


@pytest.fixture
def six(tmp_path: Path) -> Path:
    """A project whose ledger holds six entries: seq 0..5 on lines 1..6."""
    for i in range(6):
        append(tmp_path, "stage_finished", run_id=f"run-{i}", data={"stage": f"s{i}", "n": i})
    return tmp_path


def test_appended_entries_chain_and_verify(six: Path) -> None:
    entries = list(read_entries(six))
    report = verify_ledger(six)

    assert [e.seq for e in entries] == list(range(6))
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert entries[3].data == {"stage": "s3", "n": 3}
    assert entries[3].run_id == "run-3"
    assert all(e.ts.endswith("Z") and e.who and e.host for e in entries)
    assert (report.ok, report.entries, report.head, report.problem) == (
        True,
        6,
        entries[-1].hash,
        None,
    )
    assert json.loads(_head(six).read_bytes()) == {"seq": 5, "hash": entries[-1].hash}


def test_append_returns_what_reads_back(tmp_path: Path) -> None:
    written = append(tmp_path, "run_started", data={"grid": (1, 2)}, run_id="abc")
    assert written.data == {"grid": [1, 2]}  # as JSON will give it back
    assert list(read_entries(tmp_path)) == [written]


@pytest.mark.parametrize("where", ["root", "ledger file", ".nbmlops folder"])
def test_verify_accepts_root_or_file(six: Path, where: str) -> None:
    target = {"root": six, "ledger file": _ledger(six), ".nbmlops folder": six / ".nbmlops"}
    report = verify_ledger(target[where])
    assert report.ok
    assert report.entries == 6
    assert report.path == _ledger(six)


def test_missing_ledger_is_empty_and_intact(tmp_path: Path) -> None:
    report = verify_ledger(tmp_path)
    assert (report.ok, report.entries, report.head) == (True, 0, GENESIS)
    assert list(read_entries(tmp_path)) == []
    assert not (tmp_path / ".nbmlops").exists()  # verifying creates nothing


def _swap(lines: Lines, i: int, j: int) -> None:
    lines[i], lines[j] = lines[j], lines[i]


# (tamper, the 1-based line verification must name)
LINE_TAMPERS: dict[str, tuple[Callable[[Lines], None], int]] = {
    "edit a field": (lambda ls: ls.__setitem__(2, ls[2].replace(b'"s2"', b'"sX"')), 3),
    "edit a field and its hash": (lambda ls: ls.__setitem__(2, _rehashed(ls[2], data={"n": 9})), 4),
    "delete a middle line": (lambda ls: ls.__delitem__(2), 3),
    "delete the last line": (lambda ls: ls.__delitem__(5), 6),
    "delete every line": (lambda ls: ls.clear(), 1),
    "insert a copied line": (lambda ls: ls.insert(3, ls[2]), 4),
    "swap two lines": (lambda ls: _swap(ls, 1, 3), 2),
    "garbage line": (lambda ls: ls.__setitem__(3, b"this is not json\n"), 4),
    "garbage last line": (lambda ls: ls.__setitem__(5, b"{oops\n"), 6),
    "blank line": (lambda ls: ls.insert(2, b"\n"), 3),
    "cut-off last line": (lambda ls: ls.__setitem__(5, ls[5][:40]), 6),
    "re-serialized line": (
        lambda ls: ls.__setitem__(1, json.dumps(json.loads(ls[1])).encode() + b"\n"),
        2,
    ),
}


@pytest.mark.parametrize("kind", LINE_TAMPERS)
def test_tampered_line_is_named(six: Path, kind: str) -> None:
    tamper, line = LINE_TAMPERS[kind]
    _rewrite(six, tamper)

    report = verify_ledger(six)

    assert not report.ok
    assert isinstance(report.problem, LedgerTamperedError)
    assert report.problem.line == line
    assert report.problem.path == _ledger(six)
    assert report.entries == line - 1  # everything before the bad line verified
    seen: list[LedgerEntry] = []
    with pytest.raises(LedgerTamperedError) as raised:
        seen.extend(read_entries(six))
    assert raised.value.line == line
    assert len(seen) == line - 1


def _head_of(root: Path, seq: int) -> bytes:
    entry = list(read_entries(root))[seq]
    return _canonical({"hash": entry.hash, "seq": entry.seq}) + b"\n"


@pytest.mark.parametrize(
    ("kind", "line"),
    [("deleted", 2), ("damaged", 7), ("an older copy", 6), ("hash changed", 6)],
)
def test_tampered_head_is_detected(six: Path, kind: str, line: int) -> None:
    head = _head(six)
    if kind == "deleted":
        head.unlink()
    elif kind == "damaged":
        head.write_bytes(b"{not json")
    elif kind == "an older copy":
        head.write_bytes(_head_of(six, 3))
    else:
        head.write_bytes(head.read_bytes().replace(b'"hash":"', b'"hash":"f'))

    problem = verify_ledger(six).problem

    assert isinstance(problem, LedgerTamperedError)
    assert problem.line == line


def test_head_one_behind_is_an_interrupted_append_not_tampering(six: Path) -> None:
    _head(six).write_bytes(_head_of(six, 4))  # died after writing line 6, before the head

    assert verify_ledger(six).ok
    assert append(six, "run_finished").seq == 6
    assert verify_ledger(six).entries == 7


def test_rewriting_chain_and_head_is_not_detected_locally(six: Path) -> None:
    """The documented limit: only a head hash anchored elsewhere (MLflow) shows this."""
    anchored = verify_ledger(six).head
    lines, prev = [], GENESIS
    for raw in _ledger(six).read_bytes().splitlines(keepends=True):
        lines.append(_rehashed(raw, event="forged", prev=prev))
        prev = json.loads(lines[-1])["hash"]
    _ledger(six).write_bytes(b"".join(lines))
    _head(six).write_bytes(_canonical({"hash": prev, "seq": 5}) + b"\n")

    report = verify_ledger(six)

    assert report.ok
    assert report.head != anchored


@pytest.mark.parametrize(
    "kind", ["garbage last line", "cut-off last line", "delete the last line", "delete every line"]
)
def test_append_refuses_to_chain_onto_a_damaged_end(six: Path, kind: str) -> None:
    _rewrite(six, LINE_TAMPERS[kind][0])
    before = (_ledger(six).read_bytes(), _head(six).read_bytes())

    with pytest.raises(LedgerError) as raised:
        append(six, "run_started")

    assert raised.value.path == _ledger(six)
    assert (_ledger(six).read_bytes(), _head(six).read_bytes()) == before


def test_long_last_line_is_found_from_the_end(tmp_path: Path) -> None:
    append(tmp_path, "stage_finished", data={"blob": "x" * 300_000})  # several tail blocks
    assert append(tmp_path, "run_finished").seq == 1
    assert verify_ledger(tmp_path).entries == 2


def test_unicode_round_trips(tmp_path: Path) -> None:
    data = {"note": "Zoë Ångström — 東京 🩺", "ключ": ["é", "\u0000", "\u2028"]}
    append(tmp_path, "review_signed", data=data)

    assert next(read_entries(tmp_path)).data == data
    assert "東京 🩺".encode() in _ledger(tmp_path).read_bytes()  # stored as UTF-8, not escaped
    assert verify_ledger(tmp_path).ok


@pytest.mark.parametrize(
    "data",
    [
        {"value": object()},
        {"value": float("nan")},
        {"value": {1, 2}},
        {"value": Path("model.skops")},
        {1: "int and", "str": "keys mixed"},
        {"value": "\ud800"},  # a lone surrogate cannot be written as UTF-8
        ["not", "a", "mapping"],
    ],
    ids=["object", "nan", "set", "path", "mixed keys", "lone surrogate", "list"],
)
def test_non_json_data_is_refused_before_writing(six: Path, data: Any) -> None:
    before = (_ledger(six).read_bytes(), _head(six).read_bytes())

    with pytest.raises(LedgerError) as raised:
        append(six, "stage_finished", data=data)

    assert raised.value.path == _ledger(six)
    assert (_ledger(six).read_bytes(), _head(six).read_bytes()) == before


def test_non_json_data_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(LedgerError):
        append(tmp_path, "run_started", data={"when": object()})
    assert not (tmp_path / ".nbmlops").exists()


@pytest.mark.parametrize(("event", "run_id"), [("", None), ("run_started", 42)])
def test_bad_event_or_run_id_is_refused(tmp_path: Path, event: str, run_id: Any) -> None:
    with pytest.raises(LedgerError):
        append(tmp_path, event, run_id=run_id)
    assert not _ledger(tmp_path).exists()


def _append_many(root: Path, worker: int, count: int) -> None:
    for i in range(count):
        append(root, "stage_finished", run_id=f"worker-{worker}", data={"i": i})


def test_parallel_writers_never_fork_the_chain(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_append_many, args=(tmp_path, w, 50)) for w in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * 8

    report = verify_ledger(tmp_path)
    entries = list(read_entries(tmp_path))

    assert report.ok
    assert report.entries == 400
    assert [e.seq for e in entries] == list(range(400))
    written = sorted((e.run_id or "", e.data["i"]) for e in entries)
    assert written == sorted((f"worker-{w}", i) for w in range(8) for i in range(50))


# -- a full disk and a damaged tail ---------------------------------------------------------------


def _full_disk_for(monkeypatch: pytest.MonkeyPatch, ledger: Path, after: int) -> list[int]:
    """Make ``os.write`` to ``ledger`` write ``after`` bytes, then fail with ENOSPC, as a disk
    that fills up mid-line does; writes to every other file go through untouched."""
    import errno
    import os

    real, written = os.write, [0]

    def write(fd: int, data: Any) -> int:
        if os.path.realpath(f"/proc/self/fd/{fd}") != str(ledger.resolve()):
            return real(fd, data)
        room = after - written[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        done = real(fd, bytes(data)[:room])
        written[0] += done
        return done

    monkeypatch.setattr(os, "write", write)
    return written


@pytest.mark.parametrize("after", [0, 1, 40])
def test_a_full_disk_leaves_no_partial_line(
    six: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    before = (_ledger(six).read_bytes(), _head(six).read_bytes())
    written = _full_disk_for(monkeypatch, _ledger(six), after)

    with pytest.raises(LedgerError) as raised:
        append(six, "run_started", run_id="full", data={"pipeline": "p"})

    assert written[0] == after  # the line really was cut off on disk before the failure
    assert raised.value.path == _ledger(six)
    assert "No space left" in str(raised.value)
    assert (_ledger(six).read_bytes(), _head(six).read_bytes()) == before
    monkeypatch.undo()
    assert append(six, "run_started", run_id="later").seq == 6
    assert verify_ledger(six).ok


def test_messages_name_commands_that_exist(six: Path) -> None:
    _ledger(six).write_bytes(_ledger(six).read_bytes() + b'{"cut')

    with pytest.raises(LedgerError) as raised:
        append(six, "run_started")

    assert "nbmlops verify" not in str(raised.value)
    assert "nbmlops audit repair" in str(raised.value)


def test_repair_quarantines_a_cut_off_tail_and_records_it(six: Path) -> None:
    good = _ledger(six).read_bytes()
    torn = b'{"data":{"stage":"s6"},"ev'
    _ledger(six).write_bytes(good + torn)

    done = repair_ledger(six)

    assert done.quarantine is not None and done.entry is not None
    assert done.quarantine.parent == six / ".nbmlops" / "ledger.quarantine"
    assert done.quarantine.read_bytes() == torn
    assert (done.length, done.sha256) == (len(torn), hashlib.sha256(torn).hexdigest())
    assert done.entry.seq == 6
    assert done.entry.event == REPAIRED
    assert done.entry.data == {
        "quarantine": ".nbmlops/ledger.quarantine/" + done.quarantine.name,
        "sha256": done.sha256,
        "length": len(torn),
        "line": 7,
    }
    assert _ledger(six).read_bytes().startswith(good)
    assert verify_ledger(six).entries == 7
    assert repair_ledger(six).quarantine is None  # nothing left to repair


def test_repair_quarantines_the_zeros_a_power_loss_leaves(six: Path) -> None:
    _ledger(six).write_bytes(_ledger(six).read_bytes() + b"\0" * 4096)
    assert repair_ledger(six).length == 4096
    assert verify_ledger(six).ok


@pytest.mark.parametrize(
    ("kind", "line"),
    [("edit a field", 3), ("garbage last line", 6), ("delete a middle line", 3)],
)
def test_repair_refuses_what_a_crash_cannot_leave(six: Path, kind: str, line: int) -> None:
    _rewrite(six, LINE_TAMPERS[kind][0])
    before = (_ledger(six).read_bytes(), _head(six).read_bytes())

    with pytest.raises(LedgerRepairError) as raised:
        repair_ledger(six)

    assert raised.value.line == line
    assert "tamper" in raised.value.reason
    assert (_ledger(six).read_bytes(), _head(six).read_bytes()) == before
    assert not (six / ".nbmlops" / "ledger.quarantine").exists()


def test_repair_refuses_a_tail_cut_behind_a_rewritten_head(six: Path) -> None:
    _rewrite(six, LINE_TAMPERS["delete the last line"][0])
    _ledger(six).write_bytes(_ledger(six).read_bytes() + b'{"cut')

    with pytest.raises(LedgerRepairError) as raised:
        repair_ledger(six)

    assert "removed from the end" in raised.value.reason


# -- the whole project's audit (fast cases; tests/test_attacks_ledger.py runs real projects) -----


def test_anchors_are_checked_line_by_line(six: Path, tmp_path: Path) -> None:
    from nbmlops.audit.verify import append_anchor, verify_project

    anchors = tmp_path / "kept" / "anchors.jsonl"
    first = append_anchor(six, anchors)
    append(six, "run_started", run_id="r7")
    second = append_anchor(six, anchors)
    with anchors.open("a") as out:
        out.write("# comments and blank lines are fine\n\n")
        out.write(json.dumps({"seq": 3, "hash": first.hash}) + "\n")  # at the wrong seq
        out.write(json.dumps({"seq": 99, "hash": first.hash}) + "\n")  # past the end
        out.write("not an anchor\n")

    check = verify_project(six, anchors=[anchors], mlflow=False).check("anchors")

    assert (first.seq, second.seq, second.entries) == (5, 6, 7)
    assert check.checked == 5
    assert [(f.subject, f.seq) for f in check.failures] == [
        (f"{anchors}:5", 3),
        (f"{anchors}:6", 99),
        (f"{anchors}:7", None),
    ]
    assert "that hash is at seq 5" in check.failures[0].message
    assert "entries were removed" in check.failures[1].message


def test_a_missing_anchor_file_fails(six: Path, tmp_path: Path) -> None:
    from nbmlops.audit.verify import verify_project

    report = verify_project(six, anchors=[tmp_path / "nowhere.jsonl"], mlflow=False)

    assert not report.ok
    assert report.check("anchors").failures[0].subject == str(tmp_path / "nowhere.jsonl")


def test_an_empty_ledger_cannot_be_anchored(tmp_path: Path) -> None:
    from nbmlops.audit.verify import ledger_anchor

    with pytest.raises(LedgerError):
        ledger_anchor(tmp_path)


def test_stage_states_and_evidence_must_be_known_to_the_ledger(six: Path) -> None:
    from nbmlops.audit.verify import verify_project

    state = six / "build" / "p" / "train" / ".nbmlops-state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"run_id": "run-3"}))
    other = state.parent.parent / "score" / ".nbmlops-state.json"
    other.parent.mkdir()
    other.write_text(json.dumps({"run_id": "never-seen"}))
    store = six / ".nbmlops" / "evidence"
    store.mkdir()
    (store / ("a" * 64)).write_text("orphan")
    (store / ("b" * 64 + ".partial")).write_text("half")

    report = verify_project(six, mlflow=False)

    states, evidence = report.check("stage states"), report.check("evidence")
    assert states.checked == 2
    assert [f.subject for f in states.failures] == ["build/p/score/.nbmlops-state.json"]
    assert [f.subject for f in evidence.failures] == [f".nbmlops/evidence/{'a' * 64}"]
    assert [w.subject for w in evidence.warnings] == [f".nbmlops/evidence/{'b' * 64}.partial"]


def test_a_missing_ledger_where_runs_exist_fails(tmp_path: Path) -> None:
    from nbmlops.audit.verify import verify_project

    runs = tmp_path / ".nbmlops" / "runs"
    runs.mkdir(parents=True)
    (runs / "r1.json").write_text(
        json.dumps({"run_id": "r1", "ledger_seq": 4, "ledger_head": "c" * 64})
    )

    report = verify_project(tmp_path, mlflow=False)

    assert not report.ok
    [ledger_failure] = report.check("ledger").failures
    assert "1 run records" in ledger_failure.message
    [record] = report.check("run records").failures
    assert (record.subject, record.seq) == (".nbmlops/runs/r1.json", 4)


def test_an_empty_project_verifies(tmp_path: Path) -> None:
    from nbmlops.audit.verify import CHECKS, verify_project

    report = verify_project(tmp_path)

    assert report.ok
    assert [c.kind for c in report.checks] == list(CHECKS)
    assert not (tmp_path / ".nbmlops").exists()  # verifying creates nothing


def test_a_head_that_cannot_be_written_undoes_the_line(
    six: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from nbmlops.records import ledger_file

    before = (_ledger(six).read_bytes(), _head(six).read_bytes())

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ledger_file, "write_bytes_atomic", full)
    with pytest.raises(LedgerError):
        append(six, "run_started")

    assert (_ledger(six).read_bytes(), _head(six).read_bytes()) == before
    monkeypatch.undo()
    assert append(six, "run_started").seq == 6
    assert verify_ledger(six).ok


def test_audit_anchor_prints_the_head_and_appends_it(
    six: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nbmlops.cli.main import main

    kept = tmp_path / "team" / "anchors.jsonl"
    head = list(read_entries(six))[-1]

    assert main(["audit", "anchor", "--root", str(six)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert main(["audit", "anchor", "--root", str(six), "--append", str(kept)]) == 0
    assert main(["audit", "anchor", "--root", str(six), "--append", str(kept)]) == 0

    assert (printed["seq"], printed["hash"], printed["entries"]) == (5, head.hash, 6)
    assert printed["at"].endswith("Z")
    assert [json.loads(line)["hash"] for line in kept.read_text().splitlines()] == [head.hash] * 2
    assert main(["audit", "verify", "--root", str(six), "--anchor", str(kept)]) == 0


def test_a_malformed_decision_entry_does_not_stop_the_audit(six: Path) -> None:
    from nbmlops.audit.verify import verify_project

    append(six, "review_signed", run_id="run-1", data={"evidence": "not a list of items"})

    report = verify_project(six, mlflow=False)

    assert not report.ok  # verify_decisions names it; the other checks still ran
    assert report.check("decisions").failures
    assert report.check("evidence").checked == 0


# -- formats: RFC 8785 (v2) and the ledgers nbmlops 0.1 wrote (v1) ---------------------------------


def _legacy(obj: dict[str, Any]) -> bytes:
    """The canonical form of nbmlops 0.1 (format 1), written out here as it was."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# where the two forms part ways: non-integral and exponent numbers, a key beyond the BMP (it
# sorts before U+FB01 in UTF-16 order, after it by code point), text that is not ASCII
V1_DATA: list[dict[str, Any]] = [
    {"pipeline": "study", "threshold": 1.0, "alpha": 1e-07, "name": "Zoë Åström"},
    {"\U0001d538": "math A", "\ufb01": "ligature", "n": 3},
    {"stage": "train", "auc": 0.91, "big": 1e16},
]


def _write_v1_ledger(root: Path, datas: list[dict[str, Any]]) -> list[bytes]:
    """A ledger as nbmlops 0.1 wrote it: no ``v``, hashed and written in its canonical form."""
    prev, lines = GENESIS, []
    for seq, data in enumerate(datas):
        fields = {"seq": seq, "ts": f"2026-01-0{seq + 1}T00:00:00.000Z", "who": "analyst",
                  "host": "ws-12", "event": "stage_finished", "run_id": f"r{seq}", "data": data,
                  "prev": prev}  # fmt: skip
        prev = hashlib.sha256(_legacy(fields)).hexdigest()
        lines.append(_legacy({**fields, "hash": prev}) + b"\n")
    _ledger(root).parent.mkdir(parents=True, exist_ok=True)
    _ledger(root).write_bytes(b"".join(lines))
    _head(root).write_bytes(_legacy({"hash": prev, "seq": len(datas) - 1}) + b"\n")
    return lines


def test_the_forms_differ_on_the_v1_fixture() -> None:
    """Otherwise the tests below would not tell the two readers apart."""
    assert all(_legacy(data) != _canonical(data) for data in V1_DATA)


def test_a_ledger_written_by_nbmlops_0_1_verifies_and_grows_in_rfc_8785(tmp_path: Path) -> None:
    written = [*V1_DATA, {"seed": 2**60}]  # 0.1 kept integers beyond 2**53 exact
    _write_v1_ledger(tmp_path, written)
    old = list(read_entries(tmp_path))
    assert verify_ledger(tmp_path).ok
    assert [e.v for e in old] == [1, 1, 1, 1]
    assert [e.data for e in old] == written

    new = append(tmp_path, "run_finished", run_id="r3", data={"auc": 0.91, "ratio": 1.0})
    assert (new.v, new.seq, new.prev) == (2, 4, old[-1].hash)
    append(tmp_path, "run_started", run_id="r4", data={"name": "Zoë", "big": 1e16, **V1_DATA[1]})
    report = verify_ledger(tmp_path)
    assert (report.ok, report.entries) == (True, 6)
    assert [e.v for e in read_entries(tmp_path)] == [1, 1, 1, 1, 2, 2]
    lines = _ledger(tmp_path).read_bytes().splitlines(keepends=True)
    assert b'"ratio":1}' in lines[4] and b'"v":2' in lines[4]  # JCS numbers, the version
    assert list(read_entries(tmp_path))[-1].data["big"] == 1e16  # read back as the double

    from nbmlops.audit.verify import verify_project

    assert verify_project(tmp_path, mlflow=False).ok


def test_a_digest_recomputed_with_rfc8785_equals_the_ledgers(tmp_path: Path) -> None:
    """What an auditor does with another tool: parse a line (numbers as doubles, as RFC 8785 and
    JavaScript read them), drop ``hash``, serialise in RFC 8785, SHA-256."""
    for data in V1_DATA:
        append(tmp_path, "stage_finished", run_id="r", data=data)
    for raw in _ledger(tmp_path).read_bytes().splitlines():
        entry = json.loads(raw, parse_int=float)
        claimed = entry.pop("hash")
        assert entry["v"] == 2
        assert hashlib.sha256(rfc8785.dumps(entry)).hexdigest() == claimed
        assert rfc8785.dumps({**entry, "hash": claimed}) == raw  # the line is JCS itself
    head = json.loads(_head(tmp_path).read_bytes())
    assert head["hash"] == claimed and head["seq"] == len(V1_DATA) - 1


def _tamper_mixed(kind: str, lines: Lines) -> None:
    """Edit a ``v`` 1 line (index 1) or a ``v`` 2 line (index 4) of the mixed fixture."""
    if kind == "v1: edit a value":
        lines[1] = lines[1].replace(b'"ligature"', b'"LIGATURE"')
    elif kind == "v1: re-serialised in RFC 8785":
        lines[1] = _canonical(json.loads(lines[1])) + b"\n"
    elif kind == "v1: claims v 2":
        lines[1] = _canonical({**json.loads(lines[1]), "v": 2}) + b"\n"
    elif kind == "v2: edit a value":
        lines[4] = lines[4].replace(b'"auc":0.5', b'"auc":0.9')
    elif kind == "v2: re-serialised in the 0.1 form":
        lines[4] = _legacy(json.loads(lines[4])) + b"\n"
    elif kind == "v2: drops its v":
        lines[4] = _canonical({k: v for k, v in json.loads(lines[4]).items() if k != "v"}) + b"\n"
    elif kind == "v2: claims v 3 and is rehashed":
        entry = {k: v for k, v in json.loads(lines[4]).items() if k != "hash"} | {"v": 3}
        lines[4] = _canonical({**entry, "hash": hashlib.sha256(_canonical(entry)).hexdigest()})
        lines[4] += b"\n"


MIXED_TAMPERS = [
    "v1: edit a value",
    "v1: re-serialised in RFC 8785",
    "v1: claims v 2",
    "v2: edit a value",
    "v2: re-serialised in the 0.1 form",
    "v2: drops its v",
    "v2: claims v 3 and is rehashed",
]


@pytest.mark.parametrize("kind", MIXED_TAMPERS)
def test_tampering_is_caught_in_either_format(tmp_path: Path, kind: str) -> None:
    _write_v1_ledger(tmp_path, V1_DATA)
    append(tmp_path, "stage_finished", data={"auc": 0.5, "alpha": 1e-7})  # 1e-07 in 0.1's form
    append(tmp_path, "stage_finished", data={"auc": 0.5, "alpha": 2e-7})
    assert verify_ledger(tmp_path).ok
    _rewrite(tmp_path, lambda lines: _tamper_mixed(kind, lines))
    report = verify_ledger(tmp_path)
    assert not report.ok and report.problem is not None
    assert report.problem.line == (2 if kind.startswith("v1") else 5)
    if kind == "v2: claims v 3 and is rehashed":
        assert "upgrade nbmlops" in report.problem.reason


def test_data_rfc_8785_cannot_hold_is_refused_before_writing(six: Path) -> None:
    before = _ledger(six).read_bytes()
    with pytest.raises(LedgerError) as refused:
        append(six, "run_started", data={"seed": 2**53})
    assert "2**53" in str(refused.value)
    assert _ledger(six).read_bytes() == before
