"""``nbmlops stage`` and ``nbmlops compile``: tagging notebooks as stages, compiling a folder."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbmlops.cli.arguments import json_or_text, key_values, names
from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

__all__ = ["cmd_compile", "cmd_stage_paths", "cmd_stage_set", "cmd_stage_show"]


def cmd_stage_set(args: argparse.Namespace) -> int:
    from nbmlops.authoring.stage import set_stage

    upstream = [] if args.no_upstream else names(args.upstream)
    params = {k: json_or_text(v) for k, v in key_values(args.param, "param").items()}
    spec = set_stage(
        Path(args.notebook),
        stage=args.stage,
        upstream=upstream,
        products=key_values(args.product, "product") or None,
        inputs=key_values(args.input, "input") or None,
        params=params or None,
        kernel=args.kernel,
        environment=args.environment,
        replace=args.replace,
    )
    _console().print(_styled("[green]tagged[/] {} as stage [bold]{}[/]", args.notebook, spec.name))
    _print_stages([spec])
    return 0


def _cells(s: Any) -> list[str]:
    return [
        s.name,
        os.path.relpath(s.path),
        ", ".join(s.upstream) or "-",
        "\n".join(f"{k}: {v}" for k, v in s.inputs.items()) or "-",
        "\n".join(f"{k}: {v}" for k, v in s.products.items()) or "-",
        "\n".join(f"{k} = {json.dumps(v)}" for k, v in s.params.items()) or "-",
        s.kernel,
    ]


_FIELDS = ("stage", "notebook", "upstream", "inputs", "products", "params", "kernel")


def _print_stages(specs: Sequence[Any]) -> None:
    """Each stage as field / value rows: a value is wrapped at the terminal's width, never cut."""
    from rich.table import Table

    for spec in specs:
        table = Table(show_header=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for field, value in zip(_FIELDS, _cells(spec), strict=True):
            table.add_row(field, value)
        _console().print(table)


def cmd_stage_show(args: argparse.Namespace) -> int:
    from nbmlops.authoring.pipeline import discover
    from nbmlops.authoring.stage import load_stage

    targets = [Path(p) for p in args.paths] or [
        Path("notebooks" if Path("notebooks").is_dir() else ".")
    ]
    specs: list[Any] = []
    for target in targets:
        if target.is_dir():
            specs.extend(discover(target).stages)
        else:
            specs.append(load_stage(target))
    if args.json:
        sys.stdout.write(
            json.dumps([{**s.metadata(), "path": str(s.path)} for s in specs], indent=2) + "\n"
        )
    else:
        _print_stages(specs)
    return 0


def cmd_stage_paths(args: argparse.Namespace) -> int:
    from nbmlops.run.by_hand import stage_paths

    paths = stage_paths(Path(args.notebook), pipeline=args.pipeline)
    if args.json:
        sys.stdout.write(json.dumps(paths.to_dict(), indent=2) + "\n")
        return 0
    # the cell as plain text (no markup): it is meant to be pasted after the parameters cell
    sys.stdout.write(paths.cell_source)
    if paths.missing:
        sys.stderr.write(
            f"note: not built yet: {', '.join(paths.missing)}. Run the upstream stages first "
            f"(`nbmlops run {paths.pipeline}`).\n"
        )
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from nbmlops.authoring.pipeline import compile_pipeline
    from nbmlops.authoring.project import require_project

    require_project(Path(args.folder))
    spec, path = compile_pipeline(Path(args.folder), name=args.name)
    _console().print(
        _styled(
            "[green]compiled[/] {} stages -> {}\nrun it with [bold]nbmlops run {}[/] "
            "(or plain `ploomber build -e {}`)",
            len(spec.stages),
            os.path.relpath(path),
            spec.name,
            os.path.relpath(path),
        )
    )
    return 0
