"""``nbmlops init``: a project from an empty (or half-made) folder, and what to type next."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

__all__ = ["cmd_init"]


def cmd_init(args: argparse.Namespace) -> int:
    from nbmlops.authoring.project import init_project

    console = _console()
    console.print(_styled("[bold]init[/] {} (locking with uv may take a minute)", args.dir))
    result = init_project(Path(args.dir), nbmlops_source=args.nbmlops_source)
    for name in result.written:
        console.print(_styled("  [green]wrote[/] {}", name))
    if result.gitignore_added:
        console.print(
            _styled("  [green]added[/] {} to .gitignore", " ".join(result.gitignore_added))
        )
    for name in result.kept:
        shown = "notebooks/" if name.startswith("notebooks/") else name
        console.print(_styled("  [dim]kept[/]  {} (already there, left as it is)", shown))
    where = os.path.relpath(result.root)
    cd = "" if where == "." else f"cd {shlex.quote(where)} && "
    console.print(
        _styled(
            "next: [bold]{}uv sync[/] (the locked environment), then "
            "[bold]uv run nbmlops run notebooks[/]",
            cd,
        )
    )
    return 0
