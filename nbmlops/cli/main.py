"""The ``nbmlops`` command: its arguments, and the exit code. Imports nothing heavy until a
subcommand needs it: --help is instant. Each subcommand is a ``cmd_*`` function in
:mod:`~nbmlops.cli.project`, :mod:`~nbmlops.cli.stages`, :mod:`~nbmlops.cli.runs`,
:mod:`~nbmlops.cli.records` or :mod:`~nbmlops.cli.review`.

Exit codes: 0 success (or nothing to do), 1 a stage failed / verification failed, 2 an nbmlops
error of any category (:mod:`nbmlops.errors`: the message names the file, stage or parameter and
what to do), 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

from nbmlops.cli import project, records, runs, stages
from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled
from nbmlops.privacy.telemetry import PHI_POLICIES

__all__ = ["main"]


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=-1.0,
        default=0.0,
        metavar="SECONDS",
        help="if another run holds this project, wait for it (up to SECONDS; no value: as long "
        "as it takes) instead of stopping at once",
    )


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one statement per option
    p = argparse.ArgumentParser(
        prog="nbmlops",
        description="Tagged Jupyter notebooks become pinned, tracked, auditable pipeline runs.",
        epilog="Start with `nbmlops init` (a project), then `nbmlops stage set`, `nbmlops run`.",
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "init",
        help="make a project: pyproject.toml, uv.lock, an example stage (adds only what is "
        "missing)",
    )
    s.add_argument("dir", nargs="?", default=".", help="project folder (default: this one)")
    s.add_argument(
        "--nbmlops-source",
        metavar="PATH|URL",
        help="where uv gets nbmlops: a wheel, a source folder or a URL (default: the package "
        "index, this version)",
    )
    s.set_defaults(func=project.cmd_init)

    stage = sub.add_parser("stage", help="tag notebooks as pipeline stages, show the tags")
    stage_sub = stage.add_subparsers(dest="stage_command", required=True, metavar="ACTION")
    s = stage_sub.add_parser("set", help="tag a notebook (or update its tag)")
    s.add_argument("notebook")
    s.add_argument(
        "--stage",
        help="stage name: lowercase letters, digits and underscores, starting with a letter "
        "(e.g. train_model)",
    )
    s.add_argument(
        "--upstream",
        action="append",
        metavar="STAGE",
        help="an upstream stage (repeat, or comma-separate)",
    )
    s.add_argument("--no-upstream", action="store_true", help="clear the upstream list")
    s.add_argument(
        "--product",
        action="append",
        metavar="NAME=PATH",
        help="a product, path relative to the stage's build folder (repeatable)",
    )
    s.add_argument(
        "--input",
        action="append",
        metavar="NAME=PATH",
        help="a declared input: a file or folder, path relative to the project root; digested "
        "by content, injected as inputs[NAME] (repeatable)",
    )
    s.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter default, JSON (text if not JSON); repeatable",
    )
    s.add_argument("--kernel", help="Jupyter kernel name (default python3)")
    s.add_argument("--environment", help="lock file the kernel must match (default uv.lock)")
    s.add_argument("--replace", action="store_true", help="replace the tag instead of merging")
    s.set_defaults(func=stages.cmd_stage_set)
    s = stage_sub.add_parser("show", help="show the stages of notebooks or folders")
    s.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=stages.cmd_stage_show)
    s = stage_sub.add_parser(
        "paths",
        help="print the paths a run would inject (upstream products, inputs, a scratch product "
        "folder) as a cell to run the notebook by hand",
    )
    s.add_argument("notebook")
    s.add_argument("--pipeline", help="the compiled pipeline (default: as `nbmlops run` sees it)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=stages.cmd_stage_paths)

    s = sub.add_parser("compile", help="compile a folder of tagged notebooks to pipeline.yaml")
    s.add_argument("folder")
    s.add_argument("--name", help="pipeline name (default: the folder's name)")
    s.set_defaults(func=stages.cmd_compile)

    for name, func, text in (
        ("run", runs.cmd_run, "run the pipeline's stale stages, tracked and audited"),
        ("status", runs.cmd_status, "show which stages are up to date, and why the others are not"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument(
            "target",
            help="pipeline name (pipelines/NAME), pipeline.yaml, or folder (a folder one "
            "compiled pipeline is built from means that pipeline)",
        )
        s.add_argument(
            "--param",
            action="append",
            metavar="STAGE.NAME=VALUE",
            help="override a parameter (type-checked against its default)",
        )
        s.set_defaults(func=func)
        if name == "status":
            s.add_argument(
                "--json", action="store_true", help="print JSON: each stage's reasons by kind"
            )
        if name == "run":
            s.add_argument(
                "--stage", action="append", metavar="NAME", help="run only this stage (repeatable)"
            )
            s.add_argument(
                "--downstream",
                action="store_true",
                help="with --stage: also run every stage downstream of it",
            )
            s.add_argument("--force", action="store_true", help="run even if up to date")
            _add_wait(s)
            s.add_argument(
                "--jobs",
                "-j",
                type=int,
                default=1,
                metavar="N",
                help="run up to N independent stages at once",
            )
            s.add_argument(
                "--allow-env-mismatch",
                action="store_true",
                help="run even if a kernel differs from its lock (recorded)",
            )
            s.add_argument(
                "--no-tracking",
                action="store_true",
                help="do not record in MLflow (the ledger still records the run)",
            )
            s.add_argument(
                "--phi-policy",
                choices=PHI_POLICIES,
                help="what MLflow gets of an executed notebook whose outputs look like patient "
                "identifiers: nothing (refuse, the default), a redacted copy, or the notebook",
            )

    env = sub.add_parser("env", help="pinned environments: check a kernel, export for conda")
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    s = env_sub.add_parser("check", help="compare a kernel's installed packages with the lock")
    s.add_argument("--kernel", default="python3")
    s.add_argument("--lock", default="uv.lock")
    s.set_defaults(func=records.cmd_env_check)
    s = env_sub.add_parser("export-conda", help="write environment.yml with the lock's pins")
    s.add_argument("--lock", default="uv.lock")
    s.add_argument("--output", "-o", default="environment.yml")
    s.set_defaults(func=records.cmd_env_export)

    audit = sub.add_parser("audit", help="the tamper-evident ledger")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    s = audit_sub.add_parser(
        "verify",
        help="exit 0 if the ledger, every signed decision and every anchor of the ledger (run "
        "records, stage states, MLflow tags, evidence, --anchor files) agree; 1 naming what not",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument(
        "--anchor",
        action="append",
        metavar="FILE",
        help="also check the heads kept in FILE by `nbmlops audit anchor --append` (repeatable)",
    )
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument(
        "--no-mlflow", action="store_true", help="skip the MLflow ledger-head tags (faster)"
    )
    s.set_defaults(func=records.cmd_audit_verify)
    s = audit_sub.add_parser(
        "anchor",
        help="print the ledger's head (seq, hash, UTC time) as a JSON line, to keep elsewhere",
    )
    s.add_argument("--append", metavar="FILE", help="append the line to FILE (e.g. in a git repo)")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=records.cmd_audit_anchor)
    s = audit_sub.add_parser(
        "repair",
        help="move an interrupted append's incomplete last line to .nbmlops/ledger.quarantine/ "
        "and record that (refuses any other damage)",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=records.cmd_audit_repair)

    records_cmd = sub.add_parser("records", help="the run records kept in .nbmlops/runs/")
    records_sub = records_cmd.add_subparsers(
        dest="records_command", required=True, metavar="ACTION"
    )
    s = records_sub.add_parser(
        "replay",
        help="record in MLflow, exactly once, every run that did not reach it (store down)",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI or the project's)")
    _add_wait(s)
    s.set_defaults(func=records.cmd_records_replay)

    from nbmlops.cli.card import add_parser as add_card_parser
    from nbmlops.cli.report import add_parser as add_report_parser
    from nbmlops.cli.reproduce import add_parser as add_reproduce_parser
    from nbmlops.cli.review import add_parsers
    from nbmlops.cli.sweep import add_parser as add_sweep_parser

    add_parsers(sub)
    add_card_parser(sub)
    add_sweep_parser(sub, PHI_POLICIES)
    add_report_parser(sub)
    add_reproduce_parser(sub)

    s = sub.add_parser("ui", help="serve the MLflow UI for this project on 127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=records.cmd_ui)
    return p


def _version() -> str:
    from nbmlops import __version__

    return f"nbmlops {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nbmlops`` command."""
    # jsonschema builds an IRI grammar at import (~1-2 s) only for its `iri` format checker,
    # which the stage schema does not use; this process is ours, so skip it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    args = _parser().parse_args(argv)
    from nbmlops.errors import NbmlopsError

    # MLflow would install its own INFO-level log handler (store migrations interleave with our
    # progress lines); without it, only its warnings and errors reach stderr.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")

    try:
        code: int = args.func(args)
    except NbmlopsError as exc:
        _console().print(_styled("[red]error:[/] {}", exc))
        return 2
    except KeyboardInterrupt:
        _console().print(_styled("[yellow]interrupted[/]"))
        return 130
    finally:
        if argv is None:  # the `nbmlops` command, whose process ends next
            # Python's shutdown collects garbage over every object still alive, several times:
            # ~1.2 s after a run has imported MLflow, papermill and nbconvert. Frozen, they are
            # left to the operating system; reference counting still closes what it closes.
            gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
