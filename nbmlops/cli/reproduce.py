"""``nbmlops reproduce RUN|latest|approved [--fresh-env]``: a recorded run executed again, the
table of its products (identical / equivalent / different / missing)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_reproduce"]

_MARK = {
    "identical": "[green]identical[/]",
    "equivalent": "[cyan]equivalent[/]",
    "different": "[red]different[/]",
    "missing": "[red]missing[/]",
}


def add_parser(sub: Any) -> None:
    """Register ``nbmlops reproduce``."""
    s = sub.add_parser(
        "reproduce",
        help="run a recorded run again from its commit (a scratch git worktree), lock, "
        "parameters and inputs, and compare every product; kept in .nbmlops/reproductions/ and "
        "the ledger",
    )
    s.add_argument("run", help="a run id (or a unique prefix of one), `latest` or `approved`")
    s.add_argument(
        "--fresh-env",
        action="store_true",
        help="install a new environment from the run's uv.lock (uv, offline) instead of "
        "checking the current one against it",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument("--json", action="store_true", help="print the reproduction as JSON")
    s.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    import json
    import sys

    from rich.table import Table

    from nbmlops.cli.output import console as _console
    from nbmlops.cli.output import styled as _styled
    from nbmlops.cli.runs import _Progress
    from nbmlops.report.reproduce import read_run_record, reproduce_run

    console = _console()
    stages = len(read_run_record(Path(args.root), args.run)["stages"])
    progress = None if args.json else _Progress(console, stages)
    check = reproduce_run(Path(args.root), args.run, fresh_env=args.fresh_env, progress=progress)
    ok = check.verdict in ("identical", "equivalent")
    if args.json:
        sys.stdout.write(json.dumps(check.to_dict(), indent=1, sort_keys=True) + "\n")
        return 0 if ok else 1
    table = Table("stage", "product", "recorded", "new", "verdict", "detail")
    for row in check.rows:
        table.add_row(
            row.stage,
            row.product,
            row.recorded_digest[:12],
            (row.new_digest or "-")[:12],
            _styled(_MARK[row.verdict]),
            row.detail,
        )
    console.print(table)
    counts = ", ".join(f"{n} {v}" for v, n in check.counts.items() if n)
    tol = check.tolerance
    console.print(
        _styled(
            f"{_MARK.get(check.verdict, check.verdict)}: run {{}} at commit {{}} ({{}} "
            "environment) in {} s: {}; numbers compared with rtol={}, atol={}",
            check.run_id,
            check.commit[:12],
            check.env,
            f"{check.duration_s:.1f}",
            counts or "no products",
            f"{tol['rtol']:g}",
            f"{tol['atol']:g}",
        )
    )
    console.print(
        f"kept in .nbmlops/reproductions/{check.run_id}/{check.reproduction_id}.json "
        f"(ledger entry {check.ledger_seq})"
    )
    return 0 if ok else 1
