"""The ``nbmlops`` command. Imports nothing heavy until a subcommand needs it: --help is instant.

Exit codes: 0 success (or nothing to do), 1 a stage failed / verification failed, 2 bad input
(the message names the file, stage or parameter and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.cli.output import console as _console
from nbmlops.cli.output import styled as _styled

if TYPE_CHECKING:
    from rich.console import Console

    from nbmlops.records.model import RunRecord
    from nbmlops.run.execute import ProgressEvent

__all__ = ["main"]


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"nbmlops: --{what} '{item}': expected NAME=VALUE")
        out[key.strip()] = value
    return out


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _names(values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


# -- stage ---------------------------------------------------------------------------------------


def cmd_stage_set(args: argparse.Namespace) -> int:
    from nbmlops.authoring.stage import set_stage

    upstream = [] if args.no_upstream else _names(args.upstream)
    params = {k: _json_or_text(v) for k, v in _kv(args.param, "param").items()}
    spec = set_stage(
        Path(args.notebook),
        stage=args.stage,
        upstream=upstream,
        products=_kv(args.product, "product") or None,
        params=params or None,
        kernel=args.kernel,
        environment=args.environment,
        replace=args.replace,
    )
    _console().print(_styled("[green]tagged[/] {} as stage [bold]{}[/]", args.notebook, spec.name))
    _print_stages([spec])
    return 0


def _print_stages(specs: Sequence[Any]) -> None:
    from rich.table import Table

    table = Table("stage", "notebook", "upstream", "products", "params", "kernel")
    for s in specs:
        table.add_row(
            s.name,
            os.path.relpath(s.path),
            ", ".join(s.upstream) or "-",
            "\n".join(f"{k}: {v}" for k, v in s.products.items()) or "-",
            "\n".join(f"{k} = {json.dumps(v)}" for k, v in s.params.items()) or "-",
            s.kernel,
        )
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


# -- compile / status / run ----------------------------------------------------------------------


def cmd_compile(args: argparse.Namespace) -> int:
    from nbmlops.authoring.pipeline import compile_pipeline

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


def _load(target: str) -> Any:
    from nbmlops.authoring.pipeline import load_pipeline

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
        stages=_names(args.stage) or (),
        downstream=args.downstream,
        force=args.force,
        jobs=args.jobs,
        allow_env_mismatch=args.allow_env_mismatch,
        progress=_Progress(console, len(spec.stages)),
        tracking=not args.no_tracking,
        phi_policy=args.phi_policy,
        wait=args.wait,
    )
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


# -- environment, ledger, ui ---------------------------------------------------------------------


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
    from nbmlops.records.tracking import ui_command

    argv = ui_command(Path(args.root).absolute(), port=args.port)
    _console().print(f"MLflow UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process with mlflow's own server


# -- parser --------------------------------------------------------------------------------------


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
        epilog="Start with `nbmlops stage set`, then `nbmlops compile` and `nbmlops run`.",
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stage = sub.add_parser("stage", help="tag notebooks as pipeline stages, show the tags")
    stage_sub = stage.add_subparsers(dest="stage_command", required=True, metavar="ACTION")
    s = stage_sub.add_parser("set", help="tag a notebook (or update its tag)")
    s.add_argument("notebook")
    s.add_argument("--stage", help="stage name: [a-z][a-z0-9_]*")
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
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter default, JSON (text if not JSON); repeatable",
    )
    s.add_argument("--kernel", help="Jupyter kernel name (default python3)")
    s.add_argument("--environment", help="lock file the kernel must match (default uv.lock)")
    s.add_argument("--replace", action="store_true", help="replace the tag instead of merging")
    s.set_defaults(func=cmd_stage_set)
    s = stage_sub.add_parser("show", help="show the stages of notebooks or folders")
    s.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_stage_show)

    s = sub.add_parser("compile", help="compile a folder of tagged notebooks to pipeline.yaml")
    s.add_argument("folder")
    s.add_argument("--name", help="pipeline name (default: the folder's name)")
    s.set_defaults(func=cmd_compile)

    for name, func, text in (
        ("run", cmd_run, "run the pipeline's stale stages, tracked and audited"),
        ("status", cmd_status, "show which stages are up to date, and why the others are not"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("target", help="pipeline name (pipelines/NAME), pipeline.yaml, or folder")
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
                choices=("refuse", "redact", "off"),
                help="what MLflow gets of an executed notebook whose outputs look like patient "
                "identifiers: nothing (refuse, the default), a redacted copy, or the notebook",
            )

    env = sub.add_parser("env", help="pinned environments: check a kernel, export for conda")
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    s = env_sub.add_parser("check", help="compare a kernel's installed packages with the lock")
    s.add_argument("--kernel", default="python3")
    s.add_argument("--lock", default="uv.lock")
    s.set_defaults(func=cmd_env_check)
    s = env_sub.add_parser("export-conda", help="write environment.yml with the lock's pins")
    s.add_argument("--lock", default="uv.lock")
    s.add_argument("--output", "-o", default="environment.yml")
    s.set_defaults(func=cmd_env_export)

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
    s.set_defaults(func=cmd_audit_verify)
    s = audit_sub.add_parser(
        "anchor",
        help="print the ledger's head (seq, hash, UTC time) as a JSON line, to keep elsewhere",
    )
    s.add_argument("--append", metavar="FILE", help="append the line to FILE (e.g. in a git repo)")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=cmd_audit_anchor)
    s = audit_sub.add_parser(
        "repair",
        help="move an interrupted append's incomplete last line to .nbmlops/ledger.quarantine/ "
        "and record that (refuses any other damage)",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=cmd_audit_repair)

    records = sub.add_parser("records", help="the run records kept in .nbmlops/runs/")
    records_sub = records.add_subparsers(dest="records_command", required=True, metavar="ACTION")
    s = records_sub.add_parser(
        "replay",
        help="record in MLflow, exactly once, every run that did not reach it (store down)",
    )
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI or the project's)")
    _add_wait(s)
    s.set_defaults(func=cmd_records_replay)

    from nbmlops.cli.review import add_parsers

    add_parsers(sub)

    s = sub.add_parser("ui", help="serve the MLflow UI for this project on 127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=cmd_ui)
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
    return code


if __name__ == "__main__":
    sys.exit(main())
