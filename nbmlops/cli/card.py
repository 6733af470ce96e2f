"""``nbmlops card RUN|latest|approved``: a recorded run's model card, Markdown and HTML."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_card"]


def cmd_card(args: argparse.Namespace) -> int:
    from nbmlops.cli.output import console as _console
    from nbmlops.cli.output import styled as _styled
    from nbmlops.report.card import write_model_card
    from nbmlops.report.runs import resolve_run

    root = Path(args.root).absolute()
    run_id = resolve_run(root, args.run, pipeline=args.pipeline)
    console = _console()
    try:
        files = write_model_card(root, run_id, model_product=args.model_product)
    except OSError as exc:  # reports/ not writable, or a file where its folder goes
        where = exc.filename or root / "reports"
        console.print(_styled("[red]error:[/] cannot write {}: {}", where, exc.strerror or exc))
        return 2
    console.print(f"model card of run {run_id}:")
    console.print(f"  {files.markdown.relative_to(root)}")
    console.print(f"  {files.html.relative_to(root)}")
    card = files.card
    if not card.exists:
        why = "does not exist" if not card.path.exists() else str(card.problem)
        console.print(
            _styled(
                "[yellow]the model-card file {} {}:[/] every section the team writes is marked "
                "not written (`nbmlops init` makes a template in a new project)",
                card.path.relative_to(root) if card.path.is_relative_to(root) else card.path,
                why,
            )
        )
    elif files.missing:
        console.print(
            _styled(
                "[yellow]not written in {} ({}):[/] {}",
                card.path.relative_to(root) if card.path.is_relative_to(root) else card.path,
                len(files.missing),
                ", ".join(files.missing),
            )
        )
    return 0


def add_parser(sub: Any) -> None:
    """Add ``card`` to the ``nbmlops`` command's subparsers."""
    s = sub.add_parser(
        "card",
        help="write a recorded run's model card (Markdown and HTML) into reports/RUN/",
        description="The model card of a recorded run: the sections of Mitchell et al. The "
        "team's sections come from pipelines/PIPELINE/model_card.md (one not written is "
        "marked so, never filled in); the model, metrics, data digests and fairness by "
        "subgroup come from the run's records. Writes reports/RUN/model_card.md and .html.",
    )
    s.add_argument("run", metavar="RUN", help="a run id (or a unique prefix), latest or approved")
    s.add_argument("--pipeline", help="only runs of this pipeline")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument(
        "--model-product", default="model", help="the product that is the model (default: model)"
    )
    s.set_defaults(func=cmd_card)
