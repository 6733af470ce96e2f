"""``nbmlops report RUN|latest|approved [--pipeline P] [--pdf]``: the audit report of a recorded
run, with a line per step; exit 1 when the report says the ledger failed verification or the
evidence is incomplete (the report is still written: it is how the auditor learns why)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_report"]


def add_parser(sub: Any) -> None:
    """Register ``nbmlops report``."""
    s = sub.add_parser(
        "report",
        help="write the audit report of a recorded run (reports/<run>/report.ipynb, .html, "
        "--pdf) from the records alone",
    )
    s.add_argument(
        "run", nargs="?", default="latest", help="RUN id (or a unique prefix), latest, approved"
    )
    s.add_argument("--pipeline", help="choose RUN among this pipeline's runs")
    s.add_argument("--pdf", action="store_true", help="also print report.pdf (headless Chromium)")
    s.add_argument("--root", default=".", help="project folder (default: found from here)")
    s.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from nbmlops._core.paths import find_project_root
    from nbmlops.cli.output import console as _console
    from nbmlops.cli.output import styled as _styled
    from nbmlops.report.build import build_report

    console = _console()
    started = time.perf_counter()

    def progress(line: str) -> None:
        console.print(_styled("[dim]{}s[/] {}", f"{time.perf_counter() - started:5.1f}", line))

    root = find_project_root(Path(args.root))
    files = build_report(root, args.run, pipeline=args.pipeline, pdf=args.pdf, progress=progress)
    summary = files.summary
    for failure in summary.get("verification_failures", []):
        console.print(_styled("[bold red]verification FAILED:[/] {}", failure))
    for problem in summary.get("evidence_problems", []):
        console.print(_styled("[bold red]evidence incomplete:[/] {}", problem))
    console.print(_styled("decision status: [bold]{}[/]", summary.get("status", "unknown")))
    for path in (files.notebook, files.html, files.pdf):
        if path is not None:
            console.print(_styled("wrote {}", path))
    console.print(_styled("[dim]done in {}s[/]", f"{time.perf_counter() - started:.1f}"))
    return 0 if files.verification_ok and files.evidence_complete else 1
