"""``nbmlops env``, ``nbmlops audit``, ``nbmlops records`` and ``nbmlops ui``: the pinned
environment, the ledger and its anchors, the run records MLflow missed, the MLflow UI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

__all__ = [
    "cmd_audit_anchor",
    "cmd_audit_repair",
    "cmd_audit_verify",
    "cmd_env_check",
    "cmd_env_export",
    "cmd_records_replay",
    "cmd_ui",
]


def cmd_env_check(args: argparse.Namespace) -> int:
    from nbmlops.run.environment import check_environment

    report = check_environment(kernel=args.kernel, lock=Path(args.lock))
    console = _console()
    if not report.differences:
        console.print(
            _styled(
                "[green]ok[/] kernel '{}' ({}) matches {}", args.kernel, report.python, args.lock
            )
        )
        return 0
    console.print(
        _styled(
            "[red]{} difference(s)[/] between kernel '{}' and {}:",
            len(report.differences),
            args.kernel,
            args.lock,
        )
    )
    for diff in report.differences:
        console.print(f"  {diff}")
    return 1


def cmd_env_export(args: argparse.Namespace) -> int:
    from nbmlops._core.atomic import write_text_atomic
    from nbmlops.run.environment import export_conda_environment

    text = export_conda_environment(Path(args.lock))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(Path(args.output), text)
        _console().print(f"wrote {args.output} from {args.lock}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from nbmlops.audit.verify import verify_project

    report = verify_project(Path(args.root), anchors=args.anchor or (), mlflow=not args.no_mlflow)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=1) + "\n")
        return 0 if report.ok else 1
    console = _console()
    for check in report.checks:
        word, colour = ("FAILED", "red") if check.failures else ("ok", "green")
        if check.warnings and not check.failures:
            word, colour = "warn", "yellow"
        counts = f"{check.checked} checked"
        if check.kind == "ledger":
            last = f"seq {report.ledger.entries - 1} " if report.ledger.entries else ""
            counts = f"{report.ledger.entries} entries, head {last}{report.ledger.head}"
        counts += f", {len(check.failures)} failed" if check.failures else ""
        counts += f", {len(check.warnings)} warning(s)" if check.warnings else ""
        note = f" ({check.note})" if check.note else ""
        template = f"{{:<13}} [{colour}]{{:<7}}[/] {{}}[dim]{{}}[/]"
        console.print(_styled(template, check.kind, word, counts, note))
        for finding in check.failures:
            # a decision's line reads as it always has (scripts and people grep for it)
            text = str(finding)
            if finding.kind == "decisions" and finding.seq is not None:
                text = f"signed decision at ledger entry {finding.seq} FAILED: {finding.message}"
            console.print(_styled("  [red]x[/] {}", text))
        for finding in check.warnings:
            console.print(_styled("  [yellow]![/] {}", finding))
    if not report.ok:
        console.print(
            _styled("[red]audit FAILED[/]: {} disagreement(s) above", len(report.failures))
        )
        return 1
    console.print(
        _styled("[green]ledger intact[/]: {} entries, every anchor agrees", report.ledger.entries)
    )
    return 0


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from nbmlops.audit.verify import append_anchor, ledger_anchor

    root = Path(args.root)
    anchor = append_anchor(root, args.append) if args.append else ledger_anchor(root)
    sys.stdout.write(anchor.to_line() + "\n")
    if args.append:
        sys.stderr.write(f"anchored seq {anchor.seq} in {args.append}\n")
    return 0


def cmd_audit_repair(args: argparse.Namespace) -> int:
    from nbmlops.records.ledger import repair_ledger

    done = repair_ledger(Path(args.root))
    console = _console()
    if done.quarantine is None or done.entry is None:
        console.print("nothing to repair: the ledger has no damaged tail")
        return 0
    console.print(
        f"moved the damaged tail ({done.length} bytes, sha256 {done.sha256}) to "
        f"{done.quarantine}; recorded as ledger entry {done.entry.seq} "
        f"({done.entry.event}). Check the rest with `nbmlops audit verify`."
    )
    return 0


def cmd_records_replay(args: argparse.Namespace) -> int:
    from nbmlops.run.replay import ReplayOutcome, replay_records

    console = _console()

    def show(outcome: ReplayOutcome) -> None:
        if outcome.status == "failed":
            console.print(
                _styled("[red]not recorded[/] run {}: {}", outcome.run_id, outcome.problem)
            )
            return
        how = "recorded" if outcome.status == "recorded" else "completed (it was partly there)"
        console.print(
            _styled(
                "[green]{}[/] run {} -> MLflow run {} at {}",
                how,
                outcome.run_id,
                outcome.mlflow_run_id,
                outcome.uri,
            )
        )
        for note in outcome.notes:
            console.print(_styled("  [yellow]note[/] {}", note))

    outcomes = replay_records(Path(args.root), uri=args.uri, wait=args.wait, progress=show)
    failed = sum(o.status == "failed" for o in outcomes)
    if not outcomes:
        console.print("every run record in .nbmlops/runs/ is already in MLflow: nothing to replay")
    elif failed:
        console.print(
            _styled("[red]{} of {} run(s) still not recorded[/]; run again", failed, len(outcomes))
        )
    return 1 if failed else 0


def cmd_ui(args: argparse.Namespace) -> int:
    from nbmlops.records.tracking_store import ui_command

    argv = ui_command(Path(args.root).absolute(), port=args.port)
    _console().print(f"MLflow UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process with mlflow's own server
