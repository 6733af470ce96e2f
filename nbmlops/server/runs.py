"""Pipeline runs started from JupyterLab: one background process each, read back from files.

Each run gets ``.nbmlops/server-runs/<handle>/`` with ``request.json`` (what was asked),
``events.jsonl`` (written by :mod:`nbmlops.server.runner`) and ``log.txt`` (its output). One
run per project at a time: a second start while one runs is a conflict. A run outlives a server
restart (its process is in its own session), as a pipeline run should; its events and log stay
on disk.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbmlops.errors import RunInProgressError, UnknownRunError

__all__ = ["BackgroundRuns"]

FOLDER = Path(".nbmlops") / "server-runs"
_LOG_TAIL = 40


class BackgroundRuns:
    """The runs this server started in one project (``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def active(self) -> str | None:
        """The run still running, if any (one per project)."""
        return next((h for h, proc in self._procs.items() if proc.poll() is None), None)

    def handles(self) -> list[str]:
        """The runs this server started, newest first."""
        return sorted(self._procs, reverse=True)

    def start(
        self, folder: str, *, stages: list[str], downstream: bool, force: bool
    ) -> dict[str, Any]:
        running = self.active()
        if running is not None:
            raise RunInProgressError(handle=running)
        handle = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        where = self.root / FOLDER / handle
        where.mkdir(parents=True)
        request: dict[str, Any] = {"folder": folder, "stages": stages}
        request |= {"downstream": downstream, "force": force}
        (where / "request.json").write_text(json.dumps(request, indent=1), "utf-8")
        cmd = [sys.executable, "-m", "nbmlops.server.runner", folder]
        cmd += ["--events", str(where / "events.jsonl")]
        cmd += [a for s in stages for a in ("--stage", s)]
        cmd += ["--downstream"] * downstream + ["--force"] * force
        with (where / "log.txt").open("wb") as log:
            self._procs[handle] = subprocess.Popen(
                cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return {"id": handle, "status": "running", **request}

    def status(self, handle: str) -> dict[str, Any]:
        where = self.root / FOLDER / handle
        if handle not in self._procs or not where.is_dir():
            raise UnknownRunError(handle=handle)
        code = self._procs[handle].poll()
        events_file = where / "events.jsonl"
        events = [
            json.loads(line)
            for line in (
                events_file.read_text("utf-8").splitlines() if events_file.exists() else []
            )
            if line.strip()
        ]
        last = events[-1] if events else {}
        if code is None:
            status = "running"
        elif last.get("kind") == "finished":
            status = str(last["status"])
        else:
            status = "failed"
        log = (where / "log.txt").read_text("utf-8", errors="replace").splitlines()
        request = json.loads((where / "request.json").read_text("utf-8"))
        return {
            "id": handle,
            "status": status,
            "returncode": code,
            **request,
            "events": events,
            "log_tail": log[-_LOG_TAIL:],
        }
