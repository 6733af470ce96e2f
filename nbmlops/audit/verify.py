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
evidence        every file archived in ``.nbmlops/evidence/`` is named by a ``review_signed`` or
                ``evidence_archived`` entry still in the chain (a removed decision leaves its
                evidence behind)
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

import os
from collections.abc import Sequence
from pathlib import Path

from nbmlops._core.ids import utc_now
from nbmlops.audit.chain_index import scan_chain
from nbmlops.audit.checks import (
    check_anchor_files,
    check_decisions,
    check_evidence_store,
    check_ledger,
    check_open_runs,
    check_run_records,
    check_stage_states,
)
from nbmlops.audit.mlflow_tags import check_mlflow
from nbmlops.audit.report import Anchor, AuditCheck, AuditReport, Finding
from nbmlops.errors import LedgerError

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
    index, ledger_report = scan_chain(root)
    checks = [
        check_decisions(root, index, ledger_report),
        check_run_records(root, index),
        check_stage_states(root, index),
        check_mlflow(root, index)
        if mlflow
        else AuditCheck(kind="mlflow", checked=0, note="skipped"),
        check_evidence_store(root, index),
        check_anchor_files(index, anchors),
        check_open_runs(index),
    ]
    checks.insert(0, check_ledger(ledger_report, checks))
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
    index, report = scan_chain(Path(root))
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
