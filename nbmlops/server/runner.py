"""A pipeline run in its own process, for the server extension: progress as JSON lines.

``python -m nbmlops.server.runner FOLDER --events FILE [--server-run HANDLE] [--stage S ...]
[--downstream] [--force]``
runs the pipeline of FOLDER (relative to the working directory, the project root; or a compiled
pipeline's name; a folder one compiled pipeline is built from means that pipeline) as
``nbmlops run`` does and appends one JSON object per progress event to FILE (``run_started``,
``stage_started``, ``stage_finished`` with status and duration, ``note``, then ``finished`` with
the run's id and status, or ``error``). The server
reads FILE; it never runs a pipeline in its own process, so it stays responsive. The run holds the
project's run lock naming HANDLE, so a restarted server finds it again.

Progress events carry a stage's result before the run record applies the PHI policy to it (an
exception message can quote a patient's name or MRN), and FILE and the log are shown in
JupyterLab and kept under ``.nbmlops/server-runs/``: every text of an event passes the project's
PHI policy (as :mod:`nbmlops.records.writer` applies it to the run record) before it is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _writer(path: Path) -> Any:
    def write(event: dict[str, Any]) -> None:
        with path.open("a", encoding="utf-8") as fh:  # one line per event, flushed at once
            fh.write(json.dumps(event, sort_keys=True) + "\n")

    return write


def _say(event: dict[str, Any]) -> None:
    """The event as a line of the run's log (what JupyterLab's panel shows as the log's tail)."""
    now = datetime.now().strftime("%H:%M:%S")  # the reader's wall clock
    stage = f"stage {event['stage']}" if event.get("stage") else "run"
    if event["kind"] == "stage_finished":
        text = f"{stage} {event['status']} in {event['duration_s']:.1f} s"
        if event.get("reason"):
            text += f" ({event['reason']})"
        if event.get("error"):
            error = event["error"]
            text += f": {error.get('message', error) if isinstance(error, dict) else error}"
    elif event["kind"] == "stage_started":
        text = f"{stage} started"
    elif event["kind"] == "finished":
        text = f"run {event['run_id']} {event['status']}"
    elif event["kind"] == "error":
        text = f"run stopped: {event['error']}: {event['message']}"
    else:
        text = f"{event['kind'].replace('_', ' ')} {event.get('message') or ''}".rstrip()
    sys.stdout.write(f"{now} {text}\n")
    sys.stdout.flush()


def _policy(root: Path) -> tuple[str, Any]:
    """The project's PHI policy and identifier registry."""
    from nbmlops.privacy.identifiers import project_registry
    from nbmlops.privacy.telemetry import phi_policy

    try:
        policy: str = phi_policy(root)
    except ValueError:
        policy = "refuse"  # run_pipeline refuses the setting too; until then, the strictest
    return policy, project_registry(root)


def _without_phi(event: dict[str, Any], policy: tuple[str, Any]) -> dict[str, Any]:
    """The event as it may be written: ``refuse`` withholds each text holding PHI, ``redact``
    redacts it, ``off`` keeps it (numbers, ids and statuses are unchanged)."""
    mode, registry = policy
    if mode == "off":
        return event
    from nbmlops.privacy.phi import apply_policy

    free = {k: v for k, v in event.items() if k in _FREE_TEXT and v}
    shown, _ = apply_policy(free, policy=mode, identifiers=registry)  # type: ignore[arg-type]
    return {**event, **shown}


_FREE_TEXT = ("message", "error", "reason")
"""Event fields that can hold text from a stage or an exception."""


def main(argv: list[str] | None = None) -> int:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    parser = argparse.ArgumentParser(prog="python -m nbmlops.server.runner")
    parser.add_argument("folder")
    parser.add_argument("--events", required=True)
    parser.add_argument("--server-run", help="the server's handle, named in the run lock")
    parser.add_argument("--stage", action="append", default=[])
    parser.add_argument("--downstream", action="store_true")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    write = _writer(Path(args.events))

    policy = [_policy(Path.cwd())]  # the server starts the runner in the project root

    def emit(event: dict[str, Any]) -> None:
        event = _without_phi(event, policy[0])
        write(event)
        _say(event)

    from nbmlops.authoring.pipeline import load_pipeline
    from nbmlops.errors import NbmlopsError
    from nbmlops.run.execute import ProgressEvent, run_pipeline
    from nbmlops.run.lock import hold_run_lock

    def progress(event: ProgressEvent) -> None:
        line: dict[str, Any] = {"kind": event.kind, "stage": event.stage, "message": event.message}
        if event.result is not None:
            r = event.result
            line |= {"status": r.status, "duration_s": r.duration_s, "reason": r.reason}
            line |= {"mlflow_run_id": r.mlflow_run_id, "error": r.error}
        emit(line)

    try:
        spec, _ = load_pipeline(args.folder, prefer_compiled=True)  # as the panel shows it
        policy[0] = _policy(spec.root)  # the run's own settings, as run_pipeline reads them
        with hold_run_lock(spec.root, server_run=args.server_run):  # run_pipeline re-enters it
            record = run_pipeline(
                spec, stages=args.stage, downstream=args.downstream, force=args.force,
                progress=progress,
            )  # fmt: skip
    except NbmlopsError as exc:
        emit({"kind": "error", "error": type(exc).__name__, "message": str(exc)})
        return 2
    emit({"kind": "finished", "run_id": record.run_id, "status": record.status})
    return 0 if record.status != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
