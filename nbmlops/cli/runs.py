"""``nbmlops status`` and ``nbmlops run``: which stages are stale, running them with progress and
the run's table."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.cli.arguments import names
from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

if TYPE_CHECKING:
    from rich.console import Console

    from nbmlops.records.model import RunRecord
    from nbmlops.run.options import ProgressEvent

__all__ = ["cmd_run", "cmd_status"]


def _load(target: str) -> Any:
    from nbmlops.authoring.pipeline import load_pipeline
    from nbmlops.authoring.project import require_project

    require_project(Path(target) if Path(target).exists() else Path.cwd())
    spec, stale = load_pipeline(target)
    if stale:
        _console().print(
            _styled(
                "[yellow]note[/] {} no longer matched the notebooks' stage metadata; "
                "regenerated it.",
                os.path.relpath(spec.compiled_path),
            )
        )
    return spec


def cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from nbmlops.authoring.parameters import parse_overrides
    from nbmlops.run.execute import plan_pipeline

    spec = _load(args.target)
    plans = plan_pipeline(spec, params=parse_overrides(args.param or ()))
    if args.json:
        stages = [
            {
                "stage": plan.stage,
                "up_to_date": plan.up_to_date,
                "reasons": [reason.to_dict() for reason in plan.reasons],
                "made_by_run": plan.state.run_id if plan.state else None,
            }
            for plan in plans
        ]
        sys.stdout.write(json.dumps({"pipeline": spec.name, "stages": stages}, indent=2) + "\n")
        return 0
    table = Table("stage", "state", "why", "made by run")
    for plan in plans:
        state = _styled("[green]up to date[/]" if plan.up_to_date else "[yellow]stale[/]")
        made = plan.state.run_id if plan.state else "-"
        table.add_row(plan.stage, state, plan.reason_text or "-", made)
    _console().print(table)
    return 0


class _Progress:
    """Prints one line per stage as it starts and finishes (CI logs and notebooks read it too)."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.finished = 0

    def __call__(self, event: ProgressEvent) -> None:
        c = self.console
        if event.kind == "run_started":
            c.print(_styled("[bold]run[/] {}", event.message))
        elif event.kind == "stage_started":
            c.print(_styled("  [cyan]>[/] {:<20} running ...", event.stage))
        elif event.kind == "stage_finished" and event.result is not None:
            self.finished += 1
            r = event.result
            mark = {
                "succeeded": "[green]ok[/]",
                "skipped": "[dim]--[/]",
                "failed": "[red]FAIL[/]",
                "not_run": "[yellow]--[/]",
            }[r.status]
            detail = {
                "succeeded": f"{r.duration_s:.1f} s",
                "failed": (r.error or {}).get("error", "failed"),
            }.get(r.status, r.reason)
            c.print(
                _styled(
                    f"  {mark} {{:<20}} {{:<9}} {{}}  [dim]({self.finished}/{self.total})[/]",
                    r.stage,
                    r.status,
                    detail,
                )
            )
        elif event.kind == "note":
            c.print(_styled("  [yellow]note[/] {}", event.message))


def _print_record(console: Console, record: RunRecord) -> None:
    from rich.table import Table

    table = Table(
        "stage",
        "status",
        "duration",
        "MLflow run",
        "note",
        title=f"{record.pipeline} run {record.run_id}: {record.status}",
    )
    for r in record.stages:
        colour = {"succeeded": "green", "failed": "red", "skipped": "dim", "not_run": "yellow"}
        mlflow_id = r.mlflow_run_id or (
            f"(made by {r.produced_by_mlflow})" if r.produced_by_mlflow else "-"
        )
        note = f"{r.error['error']} (below)" if r.error else r.reason
        table.add_row(
            r.stage,
            _styled(f"[{colour[r.status]}]{{}}[/]", r.status),
            f"{r.duration_s:.1f} s" if r.duration_s else "-",
            mlflow_id,
            note,
        )
    console.print(table)
    for r in record.stages:
        if r.error:
            console.print(_styled("[red]{}[/]: {}", r.stage, r.error["message"]))
    build = os.path.relpath(Path(record.project_root) / "build" / record.pipeline)
    console.print(f"executed notebooks and products: {build}/<stage>/")
    if record.mlflow_run_id:
        console.print(_styled("MLflow parent run {} -> [bold]nbmlops ui[/]", record.mlflow_run_id))
    if record.tracking_problem:
        console.print(
            _styled(
                "[red]MLflow: not recorded[/] - {}\nthe run's full record is kept in "
                ".nbmlops/runs/{}.json; `nbmlops records replay` records it once the store is back",
                record.tracking_problem,
                record.run_id,
            )
        )
    for note in record.notes:
        console.print(_styled("[yellow]note[/] {}", note))
    console.print("audit ledger: .nbmlops/ledger.jsonl (check it with `nbmlops audit verify`)")


def cmd_run(args: argparse.Namespace) -> int:
    from nbmlops.authoring.parameters import parse_overrides
    from nbmlops.run.execute import run_pipeline

    console = _console()
    spec = _load(args.target)
    overrides = parse_overrides(args.param or ())
    record = run_pipeline(
        spec,
        params=overrides,
        stages=names(args.stage) or (),
        downstream=args.downstream,
        force=args.force,
        jobs=args.jobs,
        allow_env_mismatch=args.allow_env_mismatch,
        progress=_Progress(console, len(spec.stages)),
        tracking=not args.no_tracking,
        phi_policy=args.phi_policy,
        wait=args.wait,
    )
    if record.provenance.git_note:
        console.print(_styled("[yellow]note[/] {}", record.provenance.git_note))
    if record.status == "up_to_date":
        console.print(
            _styled(
                "[green]nothing to do[/]: every stage of {} is up to date "
                "(recorded in the ledger as run {})",
                spec.name,
                record.run_id,
            )
        )
        return 0
    _print_record(console, record)
    return 1 if record.status == "failed" else 0
