"""Benchmark: 16 points of a trivial one-stage notebook, three ways, side by side in one run.

- papermill CLI loop: ``papermill in.ipynb out-N.ipynb -p alpha V`` once per point (no records);
- ``nbmlops run`` loop: ``nbmlops run bench --param point.alpha=V --force`` once per point,
  tracking on (the shell loop a user wrote before sweeps existed);
- ``nbmlops sweep bench --grid point.alpha=... --workers 2``, tracking on.

Each way runs in a fresh copy of the same project (same notebook, same ``uv.lock``), one after
the other, and prints points/min. The issue's target: the sweep >= 80 points/min on 2 cores. The
machine's load average is printed before and after: on a shared machine the figures move with it.

Run from the repository root::

    .venv/bin/python bench/bench_sweep.py              # 16 points
    .venv/bin/python bench/bench_sweep.py --points 32
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags":
         ["parameters"]}, "outputs": [], "source": "alpha = 0.5\nproduct = None"},
        {"cell_type": "code", "execution_count": None, "id": "w", "metadata": {}, "outputs": [],
         "source": "from nbmlops.records.scraps import record\nrecord('score', alpha * 2)"},
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "nbmlops": {"stage": "point", "upstream": [], "products": {}, "params": {"alpha": 0.5},
                    "kernel": "python3"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}  # fmt: skip


def _project(folder: Path) -> Path:
    (folder / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "uv.lock", folder / "uv.lock")
    (folder / "notebooks" / "point.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    _run(folder, [str(BIN / "nbmlops"), "compile", "notebooks", "--name", "bench"])
    return folder


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PLOOMBER_STATS_ENABLED="false")
    return env


def _run(cwd: Path, argv: list[str]) -> None:
    done = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


def _papermill(root: Path, values: list[float]) -> None:
    source = root / "notebooks" / "point.ipynb"
    for i, value in enumerate(values):
        out = root / f"out-{i}.ipynb"
        _run(root, [str(BIN / "papermill"), str(source), str(out), "-p", "alpha", str(value),
                    "--no-progress-bar"])  # fmt: skip


def _run_loop(root: Path, values: list[float]) -> None:
    for value in values:
        _run(root, [str(BIN / "nbmlops"), "run", "bench", "--param", f"point.alpha={value}",
                    "--force"])  # fmt: skip


def _sweep(root: Path, values: list[float]) -> None:
    grid = "point.alpha=" + ",".join(str(v) for v in values)
    _run(root, [str(BIN / "nbmlops"), "sweep", "bench", "--grid", grid, "--workers", "2",
                "--name", "bench"])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    args = parser.parse_args()
    values = [round(0.01 * (i + 1), 2) for i in range(args.points)]
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nbmlops-bench-sweep-") as tmp:
        for label, how in (
            ("papermill CLI loop", _papermill),
            ("nbmlops run --force loop (tracking on)", _run_loop),
            ("nbmlops sweep --workers 2 (tracking on)", _sweep),
        ):
            root = _project(Path(tmp) / label.split()[1])
            t0 = time.perf_counter()
            how(root, values)
            seconds = time.perf_counter() - t0
            rows.append((label, seconds, args.points / seconds * 60))
            print(f"{label:<42} {seconds:7.1f} s  {rows[-1][2]:6.1f} points/min", flush=True)
    print(f"load average after: {os.getloadavg()}")
    sweep, loop = rows[2][2], rows[1][2]
    print(f"sweep / run loop: {sweep / loop:.1f}x; target: sweep >= 80 points/min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
