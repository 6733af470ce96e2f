"""A real Dask cluster on 127.0.0.1 for tests: ``dask scheduler`` and ``dask worker`` processes of
this environment, started by :func:`dask_cluster` and stopped by it, even on failure.

Each worker is one process with one thread (``--nworkers 1 --nthreads 1``) under its nanny, which
restarts it if it dies; no dashboards; every process in its own session, so stopping one stops
the processes it started (a worker's kernels die with it). Logs go to files in the cluster's
folder: a worker is known to be up when its log says it registered with the scheduler.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Worker:
    """One ``dask worker`` command (a nanny and the worker process it keeps alive)."""

    process: subprocess.Popen[bytes]
    log: Path

    def addresses(self) -> list[str]:
        """Every address a worker process of this nanny started at (a restart adds one)."""
        return re.findall(r"Start worker at:\s+(tcp://\S+)", self.log.read_text(errors="replace"))

    def registrations(self) -> int:
        """How many times a worker process of this nanny registered with the scheduler."""
        return self.log.read_text(errors="replace").count("Registered to:")


@dataclass(frozen=True)
class Cluster:
    address: str  # tcp://127.0.0.1:PORT
    scheduler: subprocess.Popen[bytes]
    workers: tuple[Worker, ...]
    folder: Path

    def addresses(self) -> set[str]:
        return {a for w in self.workers for a in w.addresses()}


def _wait(check: object, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.2)


def wait_registered(worker: Worker, times: int, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until ``worker``'s nanny has had a worker process register ``times`` times."""
    _wait(lambda: worker.registrations() >= times, f"worker never registered {times}x "
          f"(log: {worker.log})", timeout)  # fmt: skip


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DASK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=_environment(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's session (the nanny closes its worker), SIGKILL if it lingers."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with suppress(ProcessLookupError):  # whatever is left in its session (an orphaned kernel)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@contextmanager
def dask_cluster(folder: Path, *, workers: int = 2) -> Iterator[Cluster]:
    """A scheduler on a free 127.0.0.1 port, ``workers`` one-thread workers registered with it."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    with ExitStack() as stack:
        scheduler = _start(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            folder / "scheduler.log", folder,
        )  # fmt: skip
        stack.callback(_stop, scheduler)
        _wait(scheduler_file.is_file, f"the scheduler did not start (log: {folder}/scheduler.log)")
        _wait(lambda: json.loads(scheduler_file.read_text() or "{}").get("address"),
              "the scheduler file has no address")  # fmt: skip
        address = json.loads(scheduler_file.read_text())["address"]
        started = []
        for n in range(workers):
            local = folder / f"worker-{n}"
            local.mkdir()
            log = folder / f"worker-{n}.log"
            process = _start(
                [str(DASK), "worker", "--scheduler-file", str(scheduler_file), "--host",
                 "127.0.0.1", "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                 "--name", f"w{n}", "--local-directory", str(local)],
                log, local,
            )  # fmt: skip
            stack.callback(_stop, process)
            started.append(Worker(process=process, log=log))
        for worker in started:
            wait_registered(worker, 1)
        yield Cluster(address=address, scheduler=scheduler, workers=tuple(started), folder=folder)
