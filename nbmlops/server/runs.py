"""Pipeline runs started from JupyterLab: one background process each, read back from files.

Each run gets ``.nbmlops/server-runs/<handle>/`` with ``request.json`` (what was asked),
``events.jsonl`` (written by :mod:`nbmlops.server.runner`) and ``log.txt`` (its output). One
run per project at a time, by the project's run lock (:mod:`nbmlops.run.lock`) that every run
holds, whoever started it: a start while a run from JupyterLab *or a terminal* holds the project
is a conflict naming that run. A run outlives a server restart (its process is in its own
session), as a pipeline run should; a restarted server finds it again through the lock, which
names the server's handle, and reads its events and log from disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from nbmlops._core.ids import new_run_id
from nbmlops._core.paths import SERVER_RUNS
from nbmlops.errors import RunInProgressError, UnknownRunError
from nbmlops.run.lock import RunHolder, run_holder

__all__ = ["BackgroundRuns"]

FOLDER = SERVER_RUNS
_LOG_TAIL = 40


class BackgroundRuns:
    """The runs this server started in one project (``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def holder(self) -> RunHolder | None:
        """The run holding the project now, from JupyterLab or a terminal (None: free)."""
        return run_holder(self.root)

    def active(self) -> str | None:
        """The run started from JupyterLab still running, if any (one per project), also one
        started before this server restarted."""
        started = next((h for h, proc in self._procs.items() if proc.poll() is None), None)
        if started is not None:  # its runner may not hold the lock yet
            return started
        holder = self.holder()
        if holder is not None and holder.server_run:
            return holder.server_run if (self.root / FOLDER / holder.server_run).is_dir() else None
        return None

    def handles(self) -> list[str]:
        """The runs started from JupyterLab in this project (by this server or before its
        restart), newest first."""
        folder = self.root / FOLDER
        kept = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
        return sorted(kept | set(self._procs), reverse=True)

    def start(
        self, folder: str, *, stages: list[str], downstream: bool, force: bool
    ) -> dict[str, Any]:
        holder = self.holder()
        if holder is not None:
            raise holder.error()
        running = self.active()
        if running is not None:  # started a moment ago; its runner has not taken the lock yet
            raise RunInProgressError(handle=running)
        handle = new_run_id()
        where = self.root / FOLDER / handle
        where.mkdir(parents=True)
        request: dict[str, Any] = {"folder": folder, "stages": stages}
        request |= {"downstream": downstream, "force": force}
        (where / "request.json").write_text(json.dumps(request, indent=1), "utf-8")
        cmd = [sys.executable, "-m", "nbmlops.server.runner", folder]
        cmd += ["--events", str(where / "events.jsonl"), "--server-run", handle]
        cmd += [a for s in stages for a in ("--stage", s)]
        cmd += ["--downstream"] * downstream + ["--force"] * force
        with (where / "log.txt").open("wb") as log:
            self._procs[handle] = subprocess.Popen(
                cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return {"id": handle, "status": "running", **request}

    def status(self, handle: str) -> dict[str, Any]:
        where = self.root / FOLDER / handle
        if not (where / "request.json").is_file():
            raise UnknownRunError(handle=handle)
        proc = self._procs.get(handle)
        code = proc.poll() if proc is not None else None
        if proc is None:  # started before a restart: running while its runner holds the lock
            holder = self.holder()
            running = holder is not None and holder.server_run == handle
        else:
            running = code is None
        events_file = where / "events.jsonl"
        events = [
            json.loads(line)
            for line in (
                events_file.read_text("utf-8").splitlines() if events_file.exists() else []
            )
            if line.strip()
        ]
        last = events[-1] if events else {}
        if running:
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
