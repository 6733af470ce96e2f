"""Benchmark: ``nbmlops reproduce`` of the demo run against the run itself, in the same run.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_reproduce.py [--repeat N] [--max-load 3]

It copies ``notebooks/``, ``pipelines/`` and ``uv.lock`` into a fresh temporary project under
git (one commit), then, repeat by repeat, measures the original run as a user makes it
(``nbmlops run demo --force``, tracked in the project's MLflow store, which the first repeat
creates) and right after it ``nbmlops reproduce latest`` of that run (a scratch worktree at the
commit, the inputs checked, every stage run again without MLflow, every product compared).
The target is reproduce <= 1.3x the original run. Both are subprocesses (the CLI users run) with
the same environment; the table shows medians and minima, and every sample, the verdict of each
reproduction and the machine's load go to ``bench/results/reproduce-<timestamp>.json``.

The machine is shared: with a 1-minute load above ``--max-load`` (default 3) it measures nothing
and says so, since the two figures would be disturbed unequally.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_run import bench_env  # a sibling script, not a package

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.3


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def _project(folder: Path) -> Path:
    root = folder / "demo"
    root.mkdir()
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    (root / ".gitignore").write_text("/build/\n/.nbmlops/\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "demo")
    return root


def _timed(argv: list[str], root: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=root, env=bench_env(), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=3.0)
    args = parser.parse_args()
    load = os.getloadavg()
    if load[0] > args.max_load:
        print(f"not measured: 1-minute load {load[0]:.2f} > {args.max_load:g} (shared machine)")
        return 0
    nbmlops = str(Path(sys.executable).parent / "nbmlops")
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reproduce-") as folder:
        root = _project(Path(folder))
        for n in range(args.repeat):
            print(f"repeat {n + 1}/{args.repeat} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
            original, _ = _timed([nbmlops, "run", "demo", "--force"], root)
            reproduce, _ = _timed([nbmlops, "reproduce", "latest"], root)
            kept = sorted((root / ".nbmlops" / "reproductions").glob("*/*.json"))[-1]
            verdict = json.loads(kept.read_text())["verdict"]
            samples.append(
                {"original_s": original, "reproduce_s": reproduce, "verdict": verdict,
                 "load": os.getloadavg()[0]}
            )  # fmt: skip
    originals = [s["original_s"] for s in samples]
    reproduces = [s["reproduce_s"] for s in samples]
    ratio = statistics.median(reproduces) / statistics.median(originals)
    print(f"{'':<28}{'median':>9}{'min':>9}")
    print(f"{'nbmlops run demo --force':<28}{statistics.median(originals):>8.1f}s"
          f"{min(originals):>8.1f}s")  # fmt: skip
    print(f"{'nbmlops reproduce latest':<28}{statistics.median(reproduces):>8.1f}s"
          f"{min(reproduces):>8.1f}s")  # fmt: skip
    verdicts = sorted({s["verdict"] for s in samples})
    print(f"reproduce / run: {ratio:.2f}x (target <= {TARGET}x); verdicts: {', '.join(verdicts)}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "samples": samples,
        "ratio": ratio,
        "target": TARGET,
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    (out_dir / f"reproduce-{stamp}.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0 if ratio <= TARGET and verdicts == ["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
