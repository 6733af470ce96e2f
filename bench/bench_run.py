"""Benchmark: what running the demo pipeline costs with nbmlops, with Ploomber, and as plain Python.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_run.py [--repeat N] [--keep]

It copies ``notebooks/`` and ``uv.lock`` into a fresh temporary project, compiles the pipeline
there, and measures every scenario in the same run, interleaved repeat by repeat so that a change
in the machine's load hits all of them alike:

floor
    the notebooks' code cells as plain Python scripts, the parameters cell replaced by the values
    nbmlops would inject (parameter defaults, ``product`` and ``upstream`` paths), one
    ``python script.py`` per stage, run one after the other: the work itself plus one interpreter
    start per stage, and no notebook machinery.
ploomber
    plain ``ploomber build -e pipelines/demo/pipeline.yaml``, cold (no ``build/``) and again
    with nothing changed.
nbmlops
    ``nbmlops run demo`` (the CLI users run) cold (no ``build/``, no ``.nbmlops/``: includes
    creating the MLflow SQLite store) and again with nothing changed; and ``--no-tracking`` cold,
    which shows MLflow's share.
start-up
    ``nbmlops --help`` and ``python -c pass``.

Every scenario runs as a subprocess with Ploomber's and MLflow's telemetry and version checks off
and ``MLFLOW_TRACKING_URI`` unset. The table shows the median and the minimum of ``--repeat`` runs
next to the targets; the same figures, every sample and the machine's load go to
``bench/results/run-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
"""The venv's bin folder: ``nbmlops``, ``ploomber`` and the kernel's python all live there."""
PIPELINE = "demo"
TIMEOUT_S = 600

TARGET_HELP_S = 0.5
TARGET_NOTHING_CHANGED_S = 1.0
TARGET_COLD_VS_FLOOR = 2.0


@dataclass
class Scenario:
    """One row of the table: its samples (seconds) and what it is compared with."""

    key: str
    label: str
    samples: list[float] = field(default_factory=list)
    target: str = ""
    detail: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)


# -- the temporary project -----------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        PLOOMBER_STATS_ENABLED="false",
        PLOOMBER_VERSION_CHECK_DISABLED="true",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


def run(argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str]) -> tuple[float, str]:
    """Run a command; its wall time and stdout. A failure stops the benchmark, showing why."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise SystemExit(f"bench: `{' '.join(map(str, argv))}` exited {proc.returncode}\n{tail}")
    return elapsed, proc.stdout


def make_project(env: Mapping[str, str]) -> Path:
    project = Path(tempfile.mkdtemp(prefix="nbmlops-bench-"))
    shutil.copytree(REPO / "notebooks", project / "notebooks")
    shutil.copy2(REPO / "uv.lock", project / "uv.lock")
    run([BIN / "nbmlops", "compile", "notebooks", "--name", PIPELINE], cwd=project, env=env)
    return project


def clean(project: Path) -> None:
    for name in ("build", ".nbmlops"):
        shutil.rmtree(project / name, ignore_errors=True)


# -- the floor: the same code as plain scripts ---------------------------------------------------


def write_floor_scripts(project: Path) -> list[tuple[Path, Path]]:
    """One script per stage, in run order, with the values nbmlops would inject; (script, cwd).

    Paths are the products' final places, ``build/<pipeline>/<stage>/<file>`` (where Ploomber
    writes them and where nbmlops moves them after a stage succeeds), and each script runs in
    the notebook's folder, as the stage's kernel does.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # as the CLI does
    from nbmlops.authoring.pipeline import load_pipeline

    spec, _ = load_pipeline(PIPELINE, root=project)
    out = project / "floor"
    out.mkdir()
    scripts = []
    for stage in spec.stages:
        stage_dir = spec.stage_dir(stage.name)
        injected: dict[str, Any] = dict(stage.params)
        injected["product"] = {
            "nb": str(stage_dir / f"{stage.name}.ipynb"),
            **{k: str(stage_dir / v) for k, v in stage.products.items()},
        }
        if stage.upstream:
            injected["upstream"] = {
                up: {
                    "nb": str(spec.stage_dir(up) / f"{up}.ipynb"),
                    **{k: str(spec.stage_dir(up) / v) for k, v in spec.stage(up).products.items()},
                }
                for up in stage.upstream
            }
        nb = json.loads(stage.path.read_text(encoding="utf-8"))
        chunks = []
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if index == stage.parameters_cell:
                chunks.append("\n".join(f"{k} = {v!r}" for k, v in injected.items()))
            else:
                chunks.append("".join(cell["source"]))
        script = out / f"{stage.name}.py"
        script.write_text("\n\n".join(chunks) + "\n", encoding="utf-8")
        scripts.append((script, stage.path.parent))
    return scripts


def run_floor(
    project: Path, scripts: Sequence[tuple[Path, Path]], env: Mapping[str, str]
) -> tuple[float, dict[str, float]]:
    """Total wall time of the scripts run one after the other, and each script's."""
    each: dict[str, float] = {}
    t0 = time.perf_counter()
    for script, cwd in scripts:
        (project / "build" / PIPELINE / script.stem).mkdir(parents=True, exist_ok=True)
        each[script.stem] = run([sys.executable, script], cwd=cwd, env=env)[0]
    return time.perf_counter() - t0, each


# -- measuring -----------------------------------------------------------------------------------


def metrics_of(project: Path) -> dict[str, Any]:
    path = project / "build" / PIPELINE / "evaluate" / "metrics.json"
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


STAGE_LINE = re.compile(r"ok (\w+)\s+succeeded\s+([\d.]+) s")


def measure_once(
    project: Path,
    scripts: Sequence[tuple[Path, Path]],
    rows: Mapping[str, Scenario],
    env: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """One repeat of every scenario; returns the metrics each way of running produced."""
    nbmlops, ploomber = BIN / "nbmlops", BIN / "ploomber"
    yaml = Path("pipelines") / PIPELINE / "pipeline.yaml"
    produced: dict[str, dict[str, Any]] = {}

    clean(project)
    total, each = run_floor(project, scripts, env)
    rows["floor"].samples.append(total)
    rows["floor"].detail.setdefault("stage_seconds", []).append(each)
    produced["floor"] = metrics_of(project)

    clean(project)
    for key in ("ploomber_cold", "ploomber_nothing"):
        elapsed, out = run([ploomber, "build", "-e", yaml], cwd=project, env=env)
        rows[key].samples.append(elapsed)
        if key == "ploomber_nothing" and re.search(r"\bTrue\b", out):
            raise SystemExit(f"bench: the second `ploomber build` ran a task again:\n{out}")
    produced["ploomber"] = metrics_of(project)

    clean(project)
    elapsed, out = run([nbmlops, "run", PIPELINE], cwd=project, env=env)
    rows["nbmlops_cold"].samples.append(elapsed)
    stages = {name: float(s) for name, s in STAGE_LINE.findall(out)}
    rows["nbmlops_cold"].detail.setdefault("stage_seconds", []).append(stages)
    expected = sorted(script.stem for script, _ in scripts)
    if sorted(stages) != expected:
        raise SystemExit(f"bench: expected stages {expected} to run, got {sorted(stages)}:\n{out}")
    produced["nbmlops"] = metrics_of(project)
    elapsed, out = run([nbmlops, "run", PIPELINE], cwd=project, env=env)
    if "nothing to do" not in out:
        raise SystemExit(f"bench: the second `nbmlops run` was not a no-op:\n{out}")
    rows["nbmlops_nothing"].samples.append(elapsed)

    clean(project)
    elapsed, _ = run([nbmlops, "run", PIPELINE, "--no-tracking"], cwd=project, env=env)
    rows["nbmlops_cold_untracked"].samples.append(elapsed)

    rows["help"].samples.append(run([nbmlops, "--help"], cwd=project, env=env)[0])
    rows["python"].samples.append(run([sys.executable, "-c", "pass"], cwd=project, env=env)[0])
    return produced


def scenarios(n_stages: int) -> dict[str, Scenario]:
    cold = f"<= {TARGET_COLD_VS_FLOOR:g}x floor"
    nothing = f"<= {TARGET_NOTHING_CHANGED_S:g} s"
    rows = [
        Scenario("floor", f"(a) floor: plain python scripts, {n_stages} stages"),
        Scenario("ploomber_cold", "(b) ploomber build, cold"),
        Scenario("ploomber_nothing", "(b) ploomber build, nothing changed"),
        Scenario("nbmlops_cold", "(c) nbmlops run, cold (MLflow store created)", target=cold),
        Scenario("nbmlops_nothing", "(c) nbmlops run, nothing changed", target=nothing),
        Scenario("nbmlops_cold_untracked", "(d) nbmlops run --no-tracking, cold", target=cold),
        Scenario("help", "(e) nbmlops --help", target=f"<= {TARGET_HELP_S:g} s"),
        Scenario("python", "(e) python -c pass"),
    ]
    return {row.key: row for row in rows}


# -- reporting -----------------------------------------------------------------------------------


def verdict(row: Scenario, floor: float) -> tuple[str, str]:
    """(ratio to the floor for cold runs, "ok"/"MISSED" against the target on the median)."""
    checks: dict[str, Callable[[], bool]] = {
        "help": lambda: row.median <= TARGET_HELP_S,
        "nbmlops_nothing": lambda: row.median <= TARGET_NOTHING_CHANGED_S,
        "nbmlops_cold": lambda: row.median <= TARGET_COLD_VS_FLOOR * floor,
        "nbmlops_cold_untracked": lambda: row.median <= TARGET_COLD_VS_FLOOR * floor,
    }
    ratio = f"{row.median / floor:.1f}x" if row.key.endswith(("cold", "untracked")) else ""
    met = checks.get(row.key)
    return ratio, "" if met is None else ("ok" if met() else "MISSED")


def table(rows: Mapping[str, Scenario]) -> str:
    floor = rows["floor"].median
    head = ("scenario", "median s", "min s", "/ floor", "target", "met")
    lines = [head]
    for row in rows.values():
        ratio, met = verdict(row, floor)
        lines.append((row.label, f"{row.median:.2f}", f"{row.minimum:.2f}", ratio, row.target, met))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i in (0, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def stage_medians(row: Scenario) -> dict[str, float]:
    runs = row.detail.get("stage_seconds", [])
    names = runs[0].keys() if runs else ()
    return {name: statistics.median(r[name] for r in runs) for name in names}


def write_results(rows: Mapping[str, Scenario], meta: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"run-{stamp}.json"
    floor = rows["floor"].median
    body = {
        **meta,
        "targets": {
            "help_s": TARGET_HELP_S,
            "nothing_changed_s": TARGET_NOTHING_CHANGED_S,
            "cold_vs_floor": TARGET_COLD_VS_FLOOR,
        },
        "scenarios": {
            key: {
                **asdict(row),
                "median_s": row.median,
                "min_s": row.minimum,
                "ratio_to_floor": row.median / floor,
                "met": verdict(row, floor)[1] or None,
            }
            for key, row in rows.items()
        },
        "floor_stage_median_s": stage_medians(rows["floor"]),
        "nbmlops_cold_stage_median_s": stage_medians(rows["nbmlops_cold"]),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = bench_env()
    started_utc = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    started = time.perf_counter()
    project = make_project(env)
    try:
        scripts = write_floor_scripts(project)
        rows = scenarios(len(scripts))
        produced: list[dict[str, dict[str, Any]]] = []
        for n in range(args.repeat):
            print(f"repeat {n + 1}/{args.repeat} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
            produced.append(measure_once(project, scripts, rows, env))
    finally:
        if args.keep:
            print(f"kept the project at {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)

    same = all(len({json.dumps(m, sort_keys=True) for m in p.values()}) == 1 for p in produced)
    meta = {
        "started_utc": started_utc,
        "repeat": args.repeat,
        "wall_s": time.perf_counter() - started,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "same_metrics_every_way": same,
        "metrics": produced[0]["nbmlops"],
    }
    path = write_results(rows, meta, args.results)

    print()
    print(table(rows))
    print()
    for key, what in (("floor", "floor"), ("nbmlops_cold", "nbmlops run, cold")):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in stage_medians(rows[key]).items())
        print(f"{what}, per stage (median s): {stages}")
    print(
        f"{args.repeat} repeat(s) on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {meta['loadavg_after'][0]:.2f} after"
    )
    print(
        "metrics identical for floor, ploomber and nbmlops: "
        f"{'yes' if same else 'NO'} (AUROC {meta['metrics']['auroc']:.3f})"
    )
    print(f"results: {os.path.relpath(path)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
