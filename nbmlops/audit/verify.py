"""The whole project's audit: the ledger checked against every copy of its hashes kept outside it.

A hash chain with a head file shows a careless edit, but whoever can write ``.nbmlops/`` can
recompute the chain and the head after changing, cutting or removing entries. What they must also
find and rewrite are the *anchors*: places that hold a ledger hash (or a run id the ledger must
know) and are written by other code, at other times, sometimes on other machines.
:func:`verify_project` checks each of them against the chain:

==============  ================================================================================
check           what must agree with the ledger
==============  ================================================================================
ledger          the chain and its head (:func:`nbmlops.records.ledger.verify_ledger`); not missing
or
                empty while runs, stage states, MLflow runs or evidence exist
decisions       every ``review_signed`` entry: signature, signed record, archived evidence
                (:func:`nbmlops.approval.decision.verify_decisions`); every signed record in
                ``.nbmlops/decisions/`` is named by one
run records     ``.nbmlops/runs/<id>.json`` names its ``run_finished`` entry (``ledger_seq``,
                ``ledger_head``): that hash must be at that seq
stage states    ``build/<pipeline>/<stage>/.nbmlops-state.json`` names the run that made the
                products: the ledger must know that run
mlflow          each pipeline run's ``nbmlops.ledger_head`` tag: the hash of that run's
                ``run_finished`` entry
evidence        every file archived in ``.nbmlops/evidence/`` is named by a ``review_signed``
                entry still in the chain (a removed decision leaves its evidence behind)
anchors         each ``{"seq", "hash"}`` line of a file given with ``--anchor`` (written by
                ``nbmlops audit anchor --append``): that hash must be at that seq
open runs       a ``run_started`` without its ``run_finished`` (killed, crashed, or still
                running): a warning, not a failure
==============  ================================================================================

Threat model (what each kind of person can do unnoticed):

- **A careless edit** (a text editor, a script that re-serialises JSON, a restored old copy) breaks
  the chain or disagrees with the head: detected, and the first bad line is named.
- **A user with write access to** ``.nbmlops/`` who recomputes the chain and the head must also
  rewrite every run record, the stage states under ``build/``, the ``nbmlops.ledger_head`` tags in
  MLflow (with the default store, ``.nbmlops/mlflow.db``, that is within their reach; with an MLflow
  server, only if they hold write access to its experiments) and must not leave orphan evidence.
  Doing all of it consistently is possible: these checks raise the cost and catch the incomplete
  forgery, they do not make one impossible. Entries appended after the newest anchor (a refused
  signature at the very end) can be cut with nothing left to disagree.
- **An administrator of the machine** can rewrite the ledger, the run records, ``build/`` and the
  MLflow store together. Nothing on the machine can reveal that. Only an anchor kept elsewhere,
  where they cannot rewrite history - ``nbmlops audit anchor --append`` into a file committed to a
  git remote with protected history, or sent to a team server, on a schedule - shows it:
  the anchored hash is then no longer at its seq.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import LedgerError, LedgerTamperedError
from nbmlops.records.ledger import GENESIS, LedgerEntry, LedgerReport, read_entries
from nbmlops.records.model import utc_now

__all__ = [
    "CHECKS",
    "Anchor",
    "AuditCheck",
    "AuditReport",
    "Finding",
    "append_anchor",
    "ledger_anchor",
    "verify_project",
]

CHECKS = (
    "ledger",
    "decisions",
    "run records",
    "stage states",
    "mlflow",
    "evidence",
    "anchors",
    "open runs",
)
"""The kinds of check :func:`verify_project` runs, in the order it reports them."""

_RUNS = Path(".nbmlops") / "runs"
_EVIDENCE = Path(".nbmlops") / "evidence"
_DECISIONS = Path(".nbmlops") / "decisions"  # nbmlops.approval.decision.DECISION_FILES
_STATE = ".nbmlops-state.json"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One disagreement (or, as a warning, one thing to look at).

    ``subject`` names what disagrees with the ledger (a file, an MLflow run, an anchor line) and
    ``seq`` the ledger entry concerned, when there is one.
    """

    kind: str
    subject: str
    message: str
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "seq": self.seq,
            "message": self.message,
        }

    def __str__(self) -> str:
        at = f" (ledger seq {self.seq})" if self.seq is not None else ""
        return f"{self.subject}{at}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class AuditCheck:
    """The outcome of one kind of check: how many items it compared, what disagreed."""

    kind: str
    checked: int
    failures: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    note: str = ""
    """Why the check could not run, or what it covered (e.g. ``not checked: no MLflow store``)."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "checked": self.checked,
            "note": self.note,
            "failures": [f.to_dict() for f in self.failures],
            "warnings": [w.to_dict() for w in self.warnings],
        }


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """What :func:`verify_project` found; ``ok`` is False when any check failed."""

    root: Path
    ledger: LedgerReport
    checks: tuple[AuditCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.checks for f in c.failures)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(w for c in self.checks for w in c.warnings)

    def check(self, kind: str) -> AuditCheck:
        return next(c for c in self.checks if c.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "ok": self.ok,
            "ledger": {
                "path": str(self.ledger.path),
                "entries": self.ledger.entries,
                "head": self.ledger.head,
            },
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True, kw_only=True)
class Anchor:
    """The ledger's head at one moment, to keep where the ledger's writers cannot rewrite it."""

    seq: int
    hash: str
    at: str
    """When it was taken (UTC, ISO 8601)."""
    entries: int

    def to_line(self) -> str:
        data = {"at": self.at, "entries": self.entries, "hash": self.hash, "seq": self.seq}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


class _Index:
    """What the cross-checks need from one pass over the chain (about 100 bytes per entry)."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.seq_of: dict[str, int] = {}
        self.started: dict[str, tuple[int, str]] = {}
        self.finished: dict[str, tuple[int, str]] = {}
        self.runs: set[str] = set()
        self.evidence: set[str] = set()
        self.decision_hashes: set[str] = set()
        self.decision_files: set[str] = set()  # record digests of review_signed entries
        self.decisions = 0

    def add(self, entry: LedgerEntry) -> None:
        self.seq_of[entry.hash] = len(self.hashes)
        self.hashes.append(entry.hash)
        if entry.run_id is not None:
            self.runs.add(entry.run_id)
            if entry.event == "run_started":
                self.started[entry.run_id] = (entry.seq, entry.ts)
            elif entry.event == "run_finished":
                self.finished[entry.run_id] = (entry.seq, entry.hash)
        if entry.event == "review_signed":
            self.decisions += 1
            self.decision_hashes.add(entry.hash)
            self.decision_files.add(f"{entry.data.get('record_digest')}.json")
            evidence = entry.data.get("evidence")  # a forged entry may hold anything here
            items = evidence.get("items") if isinstance(evidence, dict) else None
            if isinstance(items, list):
                self.evidence.update(str(i.get("digest")) for i in items if isinstance(i, dict))

    def at(self, seq: object, digest: object, what: str) -> str | None:
        """Why ``digest`` is not the ledger's entry at ``seq`` (None when it is)."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            return f"{what} names no valid ledger seq ({seq!r})"
        if not isinstance(digest, str) or len(digest) != len(GENESIS):
            return f"{what} names no valid entry hash ({digest!r})"
        if seq >= len(self.hashes):
            return (
                f"{what} names entry seq {seq} (hash {digest[:16]}…), past the end of the ledger "
                f"({len(self.hashes)} entries): entries were removed"
            )
        if self.hashes[seq] != digest:
            elsewhere = self.seq_of.get(digest)
            moved = f"; that hash is at seq {elsewhere}" if elsewhere is not None else ""
            return (
                f"{what} names entry seq {seq} with hash {digest[:16]}…, the ledger holds "
                f"{self.hashes[seq][:16]}… there{moved}: the ledger was rewritten"
            )
        return None


def verify_project(
    root: str | os.PathLike[str],
    *,
    anchors: Sequence[str | os.PathLike[str]] = (),
    mlflow: bool = True,
) -> AuditReport:
    """Check the ledger and every anchor of it the project holds; see the module docstring.

    Parameters
    ----------
    root : path
        The project folder (holds ``.nbmlops/``).
    anchors : sequence of paths
        Files of anchors kept elsewhere (``nbmlops audit anchor --append FILE``).
    mlflow : bool
        Read the ``nbmlops.ledger_head`` tags from the project's MLflow store (imports MLflow).

    Returns
    -------
    AuditReport
        One :class:`AuditCheck` per kind in :data:`CHECKS`; ``ok`` is False on any failure.

    Raises
    ------
    LedgerError
        The ledger cannot be read at all (permissions, I/O).

    Examples
    --------
    >>> report = verify_project(root, anchors=["/mnt/team/anchors/study.jsonl"])
    >>> report.ok, [(c.kind, c.checked) for c in report.checks][:3]
    (True, [('ledger', 41), ('decisions', 1), ('run records', 9)])
    """
    root = Path(root)
    index, ledger_report = _scan(root)
    checks = [
        _decisions(root, index, ledger_report),
        _run_records(root, index),
        _stage_states(root, index),
        _mlflow(root, index) if mlflow else AuditCheck(kind="mlflow", checked=0, note="skipped"),
        _evidence(root, index),
        _anchor_files(index, anchors),
        _open_runs(index),
    ]
    checks.insert(0, _ledger(ledger_report, checks))
    return AuditReport(root=root, ledger=ledger_report, checks=tuple(checks))


def ledger_anchor(root: str | os.PathLike[str]) -> Anchor:
    """The ledger's current head as an :class:`Anchor`, after verifying the chain.

    Raises
    ------
    LedgerTamperedError
        The ledger does not verify: anchoring it would vouch for a damaged chain.
    LedgerError
        It is empty or cannot be read.
    """
    index, report = _scan(Path(root))
    if report.problem is not None:
        raise report.problem
    if not index.hashes:
        raise LedgerError(f"{report.path}: the ledger is empty; there is no head to anchor.",
                          path=report.path)  # fmt: skip
    return Anchor(seq=len(index.hashes) - 1, hash=report.head, at=utc_now(), entries=report.entries)


def append_anchor(root: str | os.PathLike[str], file: str | os.PathLike[str]) -> Anchor:
    """Append the current head to ``file`` (one JSON line, flushed to disk) and return it.

    Keep ``file`` where the ledger's writers cannot rewrite history: commit it to a git remote
    with protected branches, or append to a file on a team server. ``nbmlops audit verify
    --anchor FILE`` then checks every line of it.
    """
    anchor = ledger_anchor(root)
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(anchor.to_line() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return anchor


# -- the checks ----------------------------------------------------------------------------------


def _scan(root: Path) -> tuple[_Index, LedgerReport]:
    """One pass over the chain: the index of what verified, and the chain's own verdict."""
    from nbmlops.records.ledger import _ledger_path

    index, path = _Index(), _ledger_path(root)
    head, problem = GENESIS, None
    try:
        for entry in read_entries(root):
            index.add(entry)
            head = entry.hash
    except LedgerTamperedError as found:
        problem = found
    report = LedgerReport(path=path, entries=len(index.hashes), head=head, problem=problem)
    return index, report


def _ledger(report: LedgerReport, others: Iterable[AuditCheck]) -> AuditCheck:
    failures = []
    if report.problem is not None:
        failures.append(
            Finding(
                kind="ledger",
                subject=str(report.path),
                seq=report.problem.line - 1,
                message=f"{report.problem} (An incomplete last line left by a crash is what "
                "`nbmlops audit repair` moves aside, recorded; anything else is tampering.)",
            )
        )
    elif report.entries == 0:
        exist = [f"{c.checked} {c.kind}" for c in others if c.kind in _RECORDS and c.checked]
        if exist:
            failures.append(
                Finding(
                    kind="ledger",
                    subject=str(report.path),
                    message=f"the ledger is missing or empty, but {', '.join(exist)} exist: it "
                    "was deleted or replaced; restore it from a backup",
                )
            )
    return AuditCheck(kind="ledger", checked=report.entries, failures=tuple(failures))


_RECORDS = ("run records", "stage states", "mlflow", "evidence")


def _decisions(root: Path, index: _Index, report: LedgerReport) -> AuditCheck:
    if report.problem is not None:
        return AuditCheck(kind="decisions", checked=0, note="not checked: the ledger fails")
    from nbmlops.approval.decision import verify_decisions

    try:
        problems = verify_decisions(root)
    except LedgerError:
        raise
    except Exception as exc:  # a malformed entry must be a finding, never a traceback
        message = (
            f"the decisions cannot be checked ({type(exc).__name__}: {exc}): an entry is malformed"
        )
        failure = Finding(kind="decisions", subject="review_signed entries", message=message)
        return AuditCheck(kind="decisions", checked=index.decisions, failures=(failure,))
    failures = tuple(
        Finding(kind="decisions", subject="review_signed entry", seq=seq, message=problem)
        for seq, problem in problems
    ) + _orphan_decision_files(root, index)
    return AuditCheck(kind="decisions", checked=index.decisions, failures=failures)


def _orphan_decision_files(root: Path, index: _Index) -> tuple[Finding, ...]:
    """Signed records in ``.nbmlops/decisions/`` that no ``review_signed`` entry names."""
    folder = root / _DECISIONS
    message = (
        "a signed decision's record that no review_signed entry in the ledger names: the "
        "decision was removed from the ledger (or a signing died before recording it)"
    )
    return tuple(
        Finding(kind="decisions", subject=path.relative_to(root).as_posix(), message=message)
        for path in (sorted(folder.glob("*.json")) if folder.is_dir() else [])
        if path.name not in index.decision_files
    )


def _run_records(root: Path, index: _Index) -> AuditCheck:
    folder = root / _RUNS
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    failures = []
    for path in paths:
        subject = os.path.relpath(path, root)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            run_id = str(record["run_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            failures.append(Finding(kind="run records", subject=subject, message=f"unreadable "
                                    f"({type(exc).__name__}: {exc})"))  # fmt: skip
            continue
        if record.get("ledger_head") is not None:
            seq = record.get("ledger_seq")
            why = index.at(seq, record["ledger_head"], f"the record of run {run_id}")
            if why is not None:
                failures.append(Finding(kind="run records", subject=subject, seq=_int(seq),
                                        message=why))  # fmt: skip
        elif run_id not in index.finished:  # a record written before records held the hash
            message = f"run {run_id} has no run_finished entry in the ledger: it was removed"
            failures.append(Finding(kind="run records", subject=subject, message=message))
    return AuditCheck(kind="run records", checked=len(paths), failures=tuple(failures))


def _stage_states(root: Path, index: _Index) -> AuditCheck:
    paths = sorted((root / "build").glob(f"*/*/{_STATE}"))
    failures = []
    for path in paths:
        subject = os.path.relpath(path, root)
        try:
            run_id = str(json.loads(path.read_text(encoding="utf-8"))["run_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            message = f"unreadable ({type(exc).__name__}: {exc})"
            failures.append(Finding(kind="stage states", subject=subject, message=message))
            continue
        if run_id not in index.runs:
            message = f"made by run {run_id}, which the ledger does not mention: it was removed"
            failures.append(Finding(kind="stage states", subject=subject, message=message))
    return AuditCheck(kind="stage states", checked=len(paths), failures=tuple(failures))


@dataclass(frozen=True, kw_only=True)
class _Tagged:
    """What one MLflow run or model version says about the ledger."""

    subject: str
    run_id: str | None = None
    """``nbmlops.run_id`` of a pipeline run (None for a model version)."""
    head: str | None = None
    """``nbmlops.ledger_head``: the hash of the run's ``run_finished`` entry."""
    decision: str | None = None
    """``nbmlops.review.ledger_entry``: the hash of a ``review_signed`` entry."""


def _mlflow(root: Path, index: _Index) -> AuditCheck:
    from nbmlops.records.tracking import tracking_uri

    shared = bool(os.environ.get("MLFLOW_TRACKING_URI", "").strip())
    if not shared and not (root / ".nbmlops" / "mlflow.db").is_file():
        return AuditCheck(kind="mlflow", checked=0, note="no MLflow store in this project")
    try:
        # a shared server's registry holds other projects' models, which no run id ties to ours
        tagged = list(_mlflow_tags(tracking_uri(root), registry=not shared))
    except Exception as exc:  # any store failure (MLflow's, SQL's, HTTP's): not checked
        note = f"not checked: the MLflow store cannot be read ({type(exc).__name__}: {exc})"
        warning = Finding(kind="mlflow", subject="MLflow store", message=note)
        return AuditCheck(kind="mlflow", checked=0, warnings=(warning,), note=note)
    checked, failures, warnings = 0, list[Finding](), list[Finding]()
    known = index.runs | _record_ids(root)
    for item in tagged:
        if shared and item.run_id is not None and item.run_id not in known:
            continue  # a shared server holds other projects' runs; only this project's count
        checked += 1
        if item.run_id is not None and (found := _head_finding(item, item.run_id, index)):
            (failures if found[0] else warnings).append(found[1])
        if item.decision is not None and item.decision not in index.decision_hashes:
            at = index.seq_of.get(item.decision)
            what = (
                f"the ledger's entry {at}, not a review_signed entry"
                if at is not None
                else "which is not in the ledger: a signed decision was removed or rewritten"
            )
            message = f"tagged nbmlops.review.ledger_entry {item.decision[:16]}…, {what}"
            failures.append(Finding(kind="mlflow", subject=item.subject, seq=at, message=message))
    note = "shared store: runs this project knows" if shared else ""
    return AuditCheck(kind="mlflow", checked=checked, failures=tuple(failures),
                      warnings=tuple(warnings), note=note)  # fmt: skip


def _head_finding(item: _Tagged, run_id: str, index: _Index) -> tuple[bool, Finding] | None:
    """(is a failure, why) a pipeline run's ``nbmlops.ledger_head`` disagrees with the chain;
    None when it agrees."""
    finished, head = index.finished.get(run_id), item.head
    if head is None:
        if run_id not in index.runs:
            message = "the ledger does not mention this run: its entries were removed"
            return True, Finding(kind="mlflow", subject=item.subject, message=message)
        message = "no nbmlops.ledger_head tag: the run's end was not recorded in MLflow"
        return False, Finding(kind="mlflow", subject=item.subject, message=message)
    if finished is not None and finished[1] == head:
        return None
    at = index.seq_of.get(head)
    if at is not None:
        message = (
            f"tagged nbmlops.ledger_head {head[:16]}…, the ledger's entry {at}, which is not "
            "this run's run_finished entry"
        )
    else:
        message = f"tagged nbmlops.ledger_head {head[:16]}…, which is not in the ledger: " + (
            "the ledger was rewritten" if finished is not None else "its entries were removed"
        )
    seq = finished[0] if finished is not None else at
    return True, Finding(kind="mlflow", subject=item.subject, message=message, seq=seq)


def _mlflow_tags(uri: str, *, registry: bool) -> Iterator[_Tagged]:
    """Every pipeline run (deleted ones too) and, with ``registry``, every model version."""
    from mlflow.entities import ViewType

    from nbmlops.records.tracking import open_client

    client = open_client(uri)
    experiments = [
        e.experiment_id
        for e in client.search_experiments(view_type=ViewType.ALL)
        if str(e.name).startswith("nbmlops/")
    ]
    token = None
    while experiments:
        page = client.search_runs(
            experiments,
            "tags.`nbmlops.kind` = 'pipeline'",
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            tags, run_id = run.data.tags, run.data.tags.get("nbmlops.run_id", "?")
            yield _Tagged(
                subject=f"MLflow run {run.info.run_id} (run {run_id})",
                run_id=run_id,
                head=tags.get("nbmlops.ledger_head"),
                decision=tags.get("nbmlops.review.ledger_entry"),
            )
        token = page.token
        if not token:
            break
    token = None
    while registry:
        versions = client.search_model_versions(max_results=10000, page_token=token)
        for version in versions:
            decision = version.tags.get("nbmlops.review.ledger_entry")
            if decision is not None:
                # a search leaves aliases out; the version itself names them
                full = client.get_model_version(version.name, version.version)
                aliases = ", ".join(getattr(full, "aliases", None) or [])
                shown = f" (alias {aliases})" if aliases else ""
                subject = f"MLflow model {version.name} version {version.version}{shown}"
                yield _Tagged(subject=subject, decision=decision)
        token = versions.token
        if not token:
            return


def _record_ids(root: Path) -> set[str]:
    folder = root / _RUNS
    return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()


def _evidence(root: Path, index: _Index) -> AuditCheck:
    store = root / _EVIDENCE
    files = sorted(p for p in store.iterdir() if p.is_file()) if store.is_dir() else []
    failures, warnings = [], []
    for path in files:
        subject = os.path.relpath(path, root)
        if path.suffix == ".partial":
            message = "an interrupted archive copy: no decision was signed on it"
            warnings.append(Finding(kind="evidence", subject=subject, message=message))
        elif path.name not in index.evidence:
            message = (
                "archived evidence that no review_signed entry in the ledger names: a signed "
                "decision was removed (or a signing died between archiving and recording it)"
            )
            failures.append(Finding(kind="evidence", subject=subject, message=message))
    return AuditCheck(kind="evidence", checked=len(files), failures=tuple(failures),
                      warnings=tuple(warnings))  # fmt: skip


def _anchor_files(index: _Index, files: Sequence[str | os.PathLike[str]]) -> AuditCheck:
    checked, failures = 0, []
    for file in files:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            message = f"the anchor file cannot be read ({exc})"
            failures.append(Finding(kind="anchors", subject=str(file), message=message))
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            checked += 1
            subject = f"{file}:{number}"
            try:
                anchor = json.loads(line)
                seq, digest = anchor["seq"], anchor["hash"]
            except (ValueError, KeyError, TypeError):
                message = 'not an anchor line (expected {"seq": N, "hash": "<64 hex>", ...})'
                failures.append(Finding(kind="anchors", subject=subject, message=message))
                continue
            when = f" (taken {anchor['at']})" if isinstance(anchor.get("at"), str) else ""
            why = index.at(seq, digest, f"the anchor{when}")
            if why is not None:
                failures.append(Finding(kind="anchors", subject=subject, seq=_int(seq),
                                        message=why))  # fmt: skip
    note = "" if files else "none given: --anchor FILE"
    return AuditCheck(kind="anchors", checked=checked, failures=tuple(failures), note=note)


def _open_runs(index: _Index) -> AuditCheck:
    warnings = tuple(
        Finding(
            kind="open runs",
            subject=f"run {run_id}",
            seq=seq,
            message=f"started at {ts} and never finished: it was killed or crashed, or it is "
            "still running",
        )
        for run_id, (seq, ts) in index.started.items()
        if run_id not in index.finished
    )
    return AuditCheck(kind="open runs", checked=len(index.started), warnings=warnings)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
