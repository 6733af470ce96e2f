"""Benchmark: the demo's training grid (2 models x 4 seeds) as a sweep, beside its Python floor.

Issue 13's target: the sweep's wall time <= 1.2 x (the points' own stage time / workers) + the
shared stages once. Both sides are measured in the same run, in a fresh copy of ``notebooks/``:

floor
    the demo's stages as plain Python scripts (``bench_run.write_floor_scripts``: the code cells,
    the parameters cell replaced by the values nbmlops would inject): the shared stages (ingest,
    deidentify, features) once, then every point's stages (train, evaluate, review) with its
    ``train.model`` and ``train.seed``, one point after the other. "Points' own stage time" is
    the sum of the points' script times; divided by the workers, it is what a perfect scheduler
    with no bookkeeping would take.
sweep
    ``nbmlops sweep demo --grid train.model=logistic,gradient_boosting --grid train.seed=1..4
    --workers 2``, cold (no ``build/``, no ``.nbmlops/``: it creates the MLflow SQLite store and
    runs the shared stages first), tracking on.

It prints both, the target, the ratio, each point's stage durations as the sweep recorded them
and the machine's load before and after (on a shared machine the figures move with it)::

    .venv/bin/python bench/bench_sweep_demo.py [--workers 2] [--seeds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import (  # a sibling script, not a package
    BIN,
    PIPELINE,
    bench_env,
    clean,
    make_project,
    run,
    write_floor_scripts,
)

SHARED = ("ingest", "deidentify", "features")
POINT_STAGES = ("train", "evaluate", "review")
MODELS = ("logistic", "gradient_boosting")
SLACK = 1.2


def floor(project: Path, points: list[dict[str, Any]], env: dict[str, str]) -> tuple[float, float]:
    """Seconds for the shared stages once and for every point's stages, as plain scripts."""
    shared = write_floor_scripts(project, stages=SHARED, folder="floor/shared")
    shared_s = sum(_script(project, script, cwd, env) for script, cwd in shared)
    points_s = 0.0
    for i, point in enumerate(points):
        scripts = write_floor_scripts(
            project, overrides={"train": point}, stages=POINT_STAGES, folder=f"floor/point-{i}"
        )
        points_s += sum(_script(project, script, cwd, env) for script, cwd in scripts)
    return shared_s, points_s


def _script(project: Path, script: Path, cwd: Path, env: dict[str, str]) -> float:
    (project / "build" / PIPELINE / script.stem).mkdir(parents=True, exist_ok=True)
    return run([sys.executable, script], cwd=cwd, env=env).seconds


def sweep(project: Path, seeds: int, workers: int, env: dict[str, str]) -> float:
    argv = [BIN / "nbmlops", "sweep", PIPELINE, "--name", "grid", "--workers", str(workers),
            "--grid", "train.model=" + ",".join(MODELS), "--grid", f"train.seed=1..{seeds}",
            "--yes"]  # fmt: skip
    return run(argv, cwd=project, env=env).seconds


def recorded(project: Path) -> list[tuple[str, dict[str, float], str]]:
    """Each point's stage durations and status as its point file says."""
    rows = []
    folder = project / ".nbmlops" / "sweeps" / PIPELINE / "grid" / "points"
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        stages = {s["stage"]: float(s.get("duration_s") or 0.0) for s in data.get("stages", [])}
        rows.append((data["point"], stages, data["status"]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    env = bench_env()
    points = [{"model": m, "seed": s} for m in MODELS for s in range(1, args.seeds + 1)]
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}", flush=True)
    project = make_project(env)
    try:
        shared_s, points_s = floor(project, points, env)
        shutil.rmtree(project / "floor")
        clean(project)
        print(f"floor: shared stages {shared_s:.1f} s; "
              f"{len(points)} points' stages {points_s:.1f} s", flush=True)  # fmt: skip
        wall = sweep(project, args.seeds, args.workers, env)
        rows = recorded(project)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    target = SLACK * points_s / args.workers + shared_s
    ideal = points_s / args.workers + shared_s
    print(f"\n{'point':<14}{'status':<11}" + "".join(f"{s:>10}" for s in POINT_STAGES))
    for point, stages, status in rows:
        each = "".join(f"{stages.get(s, 0):>9.1f}s" for s in POINT_STAGES)
        print(f"{point:<14}{status:<11}{each}")
    print(f"\nsweep wall time ({args.workers} workers, cold, tracking on): {wall:.1f} s")
    print(f"floor: shared {shared_s:.1f} s + points {points_s:.1f} s / {args.workers} "
          f"= {ideal:.1f} s")  # fmt: skip
    print(f"target (shared + {SLACK} x points / workers): {target:.1f} s -> "
          f"{'met' if wall <= target else 'NOT met'} ({wall / ideal:.2f}x the floor)")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
