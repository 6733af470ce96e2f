"""``nbmlops sweep``: define and type-check the points, say what runs, run them with a live bar,
and print the table of points; ``nbmlops sweep results SWEEP`` prints (and writes) that table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.cli.arguments import names
from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

if TYPE_CHECKING:
    from rich.console import Console

    from nbmlops.sweep.execute import SweepEvent
    from nbmlops.sweep.spec import SweepSpec
    from nbmlops.sweep.summary import SweepSummary

__all__ = ["add_parser", "cmd_sweep"]

_SHOWN = 20  # points listed before a dry run's list is cut short
_METRICS = 6  # metric columns in the final table (all of them in `sweep results --csv`)


def add_parser(sub: Any, phi_policies: tuple[str, ...]) -> None:
    """Register ``nbmlops sweep`` (and ``nbmlops sweep results``)."""
    s = sub.add_parser(
        "sweep",
        help="rerun a pipeline (or a notebook) over a grid of parameters, resumable, every "
        "point recorded; `nbmlops sweep results SWEEP` prints the table",
    )
    s.add_argument(
        "target",
        help="pipeline name, folder, pipeline.yaml or a notebook (.ipynb); `results` prints a "
        "sweep's table, `replay` records in MLflow the points it missed",
    )
    s.add_argument("sweep", nargs="?", help="with `results` or `replay`: the sweep's name")
    s.add_argument(
        "--grid",
        "-p",
        action="append",
        metavar="STAGE.PARAM=V1,V2|A..B",
        help="values of one parameter (repeat for a grid; a notebook's own: -p PARAM=...)",
    )
    s.add_argument(
        "--name", help="the sweep's name; a sweep file pipelines/PIPELINE/sweeps/NAME.yaml"
    )
    s.add_argument("--stage", action="append", metavar="NAME", help="select stages (repeatable)")
    s.add_argument("--downstream", action="store_true", help="with --stage: and downstream")
    s.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    s.add_argument("--yes", "-y", action="store_true", help="do not ask before a huge sweep")
    s.add_argument("--retry-failed", action="store_true", help="rerun points that failed")
    s.add_argument("--max-failures", type=int, metavar="N", help="stop after N failed points")
    s.add_argument("--workers", type=int, metavar="N", help="points at once (default: cores)")
    s.add_argument(
        "--executor",
        choices=("local", "dask"),  # nbmlops.sweep.executors.EXECUTORS (not imported to parse)
        default="local",
        help="where points run: this machine (local) or a Dask cluster (dask, with --scheduler)",
    )
    s.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="with --executor dask: the scheduler's address (default: DASK_SCHEDULER_ADDRESS)",
    )
    s.add_argument("--no-tracking", action="store_true", help="do not record in MLflow")
    s.add_argument("--allow-env-mismatch", action="store_true", help="as for `nbmlops run`")
    s.add_argument("--phi-policy", choices=phi_policies, help="as for `nbmlops run`")
    s.add_argument("--pipeline", help="with `results`, `replay`: the pipeline of the sweep")
    s.add_argument("--csv", metavar="FILE", help="with `results`: write the table as CSV")
    s.add_argument("--parquet", metavar="FILE", help="with `results`: write it as Parquet")
    s.add_argument(
        "--metric",
        metavar="STAGE.NAME",
        help="the metric the summary page plots (default: the first numeric one of the last "
        "stage the points rerun)",
    )
    s.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="PATH",
        help="with `results`: write the summary page (default build/PIPELINE/sweeps/SWEEP/"
        "summary.html)",
    )
    s.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.target == "results" and args.sweep:
        return _cmd_results(args)
    if args.target == "replay" and args.sweep:
        return _cmd_replay(args)
    if args.sweep:
        raise SystemExit(f"nbmlops sweep: unexpected argument {args.sweep!r}")
    from nbmlops.authoring.project import require_project
    from nbmlops.errors import SweepError
    from nbmlops.sweep.execute import CONFIRM_AT, plan_sweep, run_sweep, to_run

    target = Path(args.target)
    require_project(target if target.exists() else Path.cwd())
    console = _console()
    sweep = plan_sweep(
        args.target,
        grid=args.grid or (),
        name=args.name,
        stages=names(args.stage) or (),
        downstream=args.downstream,
    )
    points, status = to_run(sweep, retry_failed=args.retry_failed)
    _describe(console, sweep, status, len(points))
    if args.dry_run:
        return 0
    if args.executor == "dask":
        console.print(
            _styled("  on the Dask cluster at {}", args.scheduler or "DASK_SCHEDULER_ADDRESS")
        )
    if len(sweep.points) >= CONFIRM_AT and not args.yes:
        if not sys.stdin.isatty():
            raise SweepError(
                f"{len(sweep.points)} points: a sweep of {CONFIRM_AT} points or more starts "
                "only when confirmed; pass --yes (or --dry-run to see it first).",
                sweep=sweep.name,
                argument="yes",
            )
        answer = input(f"run {len(sweep.points)} points? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            console.print("nothing started")
            return 1
    bar = _Bar(console, len(points))
    with bar:
        outcome = run_sweep(
            sweep,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
            max_failures=args.max_failures,
            tracking=not args.no_tracking,
            phi_policy=args.phi_policy,
            allow_env_mismatch=args.allow_env_mismatch,
            progress=bar,
            metric=args.metric,
        )
    _print_table(console, sweep.pipeline.root, sweep.pipeline.name, sweep.name)
    counts = ", ".join(f"{v} {k}" for k, v in outcome.counts.items() if v)
    console.print(_styled("sweep [bold]{}[/]: {} ({})", sweep.name, outcome.status, counts))
    if outcome.mlflow_run_id:
        console.print(f"MLflow sweep run {outcome.mlflow_run_id} (a child run per point)")
    if outcome.tracking_problem:
        console.print(
            _styled(
                "[red]MLflow: not recorded[/] - {}\nthe points ran and their records are kept in "
                ".nbmlops/sweeps/{}/{}/points/",
                outcome.tracking_problem,
                sweep.pipeline.name,
                sweep.name,
            )
        )
    _print_summary(console, outcome.summary, outcome.summary_problem)
    if outcome.status == "stopped":
        console.print("stopped at --max-failures; run it again to go on (finished points skip)")
    return 0 if outcome.status == "succeeded" and not outcome.summary_problem else 1


def _describe(console: Console, sweep: SweepSpec, status: dict[str, str], runs: int) -> None:
    spec = sweep.pipeline
    folder = os.path.relpath(spec.build_dir / "sweeps" / sweep.name)
    done = sum(1 for s in status.values() if s == "succeeded")
    failed = sum(1 for s in status.values() if s == "failed")
    console.print(
        _styled(
            "sweep [bold]{}[/] of {}: {} point(s) ({}); to run now: {}, finished: {}, failed: {}",
            sweep.name, spec.name, len(sweep.points), sweep.source, runs, done, failed,
        )
    )  # fmt: skip
    shared = ", ".join(sweep.shared_stages) or "none"
    console.print(f"  run once (shared, into build/{spec.name}/): {shared}")
    console.print(f"  each point reruns: {', '.join(sweep.point_stages)} (into {folder}/<point>/)")
    for point in sweep.points[:_SHOWN]:
        console.print(
            _styled("  {:>5} {} {:<9} {}", point.index, point.id, status[point.id], point.label)
        )
    if len(sweep.points) > _SHOWN:
        console.print(f"  ... and {len(sweep.points) - _SHOWN} more")


class _Bar:
    """The live bar (done / failed / running, rate, ETA) and a line per finished point."""

    def __init__(self, console: Console, total: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console, self.total = console, total
        self.done = self.failed = self.running = 0
        self.t0 = time.monotonic()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("points", total=total, counts="")

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: SweepEvent) -> None:
        if event.kind == "shared_finished" and event.record is not None:
            r = event.record
            self.progress.console.print(f"shared stages: {r.status} (run {r.run_id})")
            return
        if event.kind == "point_started":
            self.running += 1
        elif event.kind == "point_recorded":
            self.running = max(0, self.running - 1)
            data = event.data
            ok = data["status"] == "succeeded"
            self.done += ok
            self.failed += not ok
            error = data.get("error") or {}
            detail = f"{data.get('duration_s') or 0:.1f} s" if ok else error.get("type", "")
            mark = "[green]ok[/]" if ok else "[red]FAIL[/]"
            self.progress.console.print(
                _styled(f"  {mark} {{}} {{:<9}} {{}}", data["point"], data["status"], detail)
            )
            self.progress.advance(self.task)
        minutes = max(time.monotonic() - self.t0, 1e-6) / 60
        rate = (self.done + self.failed) / minutes
        counts = f"{self.done} done, {self.failed} failed, {self.running} running, {rate:.1f}/min"
        self.progress.update(self.task, counts=counts)


def _print_table(console: Console, root: Path, pipeline: str, sweep: str) -> None:
    from rich.table import Table

    from nbmlops.sweep.results import sweep_rows
    from nbmlops.sweep.state import read_sweep

    rows = sweep_rows(root, pipeline, sweep)
    params = list((read_sweep(root, pipeline, sweep) or {}).get("swept") or [])
    fixed = {"point", "index", "status", "duration_s", "mlflow_run_id", "run_id", "error",
             "folder", *params}  # fmt: skip
    metrics = sorted({k for r in rows for k in r if k not in fixed})
    table = Table("#", "point", *params, "status", "duration", *metrics[:_METRICS],
                  title=f"sweep {sweep} of {pipeline}")  # fmt: skip
    for r in rows:
        colour = {"succeeded": "green", "failed": "red"}.get(r["status"], "dim")
        table.add_row(
            str(r["index"]), r["point"], *(_cell(r.get(k)) for k in params),
            _styled(f"[{colour}]{{}}[/]", r["status"]),
            f"{r['duration_s']:.1f} s" if r.get("duration_s") else "-",
            *(_cell(r.get(k)) for k in metrics[:_METRICS]),
        )  # fmt: skip
    console.print(table)
    if len(metrics) > _METRICS:
        console.print(f"{len(metrics) - _METRICS} more metric(s): `nbmlops sweep results --csv`")


def _print_summary(console: Console, page: SweepSummary | None, problem: str | None) -> None:
    if problem:
        console.print(_styled("[red]summary[/]: {}", problem))
    if page is not None and page.path is not None:
        what = f"plot of {page.metric}" if page.plot else "no plot: no numeric metric yet"
        console.print(f"summary: {os.path.relpath(page.path)} ({what})")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cmd_results(args: argparse.Namespace) -> int:
    from nbmlops._core.paths import find_project_root
    from nbmlops.sweep.results import find_sweep, sweep_results

    root = find_project_root(Path.cwd())
    pipeline = find_sweep(root, args.sweep, args.pipeline)
    if args.html is not None or args.metric:
        from nbmlops.sweep.summary import write_summary

        path = Path(args.html) if args.html else None
        page = write_summary(root, pipeline, args.sweep, metric=args.metric, path=path)
        _print_summary(_console(), page, None)
    _print_table(_console(), root, pipeline, args.sweep)
    if args.csv or args.parquet:
        table = sweep_results(pipeline, args.sweep, root=root)
        if args.csv:
            table.to_csv(args.csv, index=False)
            _console().print(f"wrote {args.csv}")
        if args.parquet:
            table.to_parquet(args.parquet, index=False)
            _console().print(f"wrote {args.parquet}")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from nbmlops._core.paths import find_project_root
    from nbmlops.sweep.replay import replay_sweep
    from nbmlops.sweep.results import find_sweep
    from nbmlops.sweep.state import read_points

    root = find_project_root(Path.cwd())
    pipeline = find_sweep(root, args.sweep, args.pipeline)
    done = replay_sweep(root, pipeline, args.sweep)
    for data in done:
        _console().print(f"  recorded point {data['point']}: MLflow run {data['mlflow_run_id']}")
    left = [
        p for p in read_points(root, pipeline, args.sweep).values() if p.get("tracking_problem")
    ]
    _console().print(f"{len(done)} point(s) recorded, {len(left)} still not recorded")
    return 1 if left else 0
