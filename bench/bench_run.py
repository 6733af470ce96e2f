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

``--only nbmlops`` (or ``--only ploomber,untracked`` ...) measures the floor and only those groups:
the quick loop for one change to nbmlops. ``--against REF`` adds a cold ``nbmlops run`` of the
package as it is at git ``REF`` (``git archive`` put first on ``PYTHONPATH``, for the CLI and
the kernels alike), interleaved with the others: a change measured against its parent in one run.

After the table it prints the floor and the cold ``nbmlops run`` (tracking on) stage by stage,
side by side, with the time outside any stage; and every row's CPU seconds (the command and the
processes it waited for), which a busy machine disturbs far less than wall time.

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
import resource
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
TARGET_COLD_VS_FLOOR = 1.3
"""Issue 13: a cold ``nbmlops run`` with tracking on within 1.3x the plain-Python floor."""
GROUPS = ("ploomber", "nbmlops", "untracked", "startup")
"""What ``--only`` selects from; the floor always runs (every ratio is to it)."""


@dataclass
class Scenario:
    """One row of the table: its samples (seconds) and what it is compared with."""

    key: str
    label: str
    samples: list[float] = field(default_factory=list)
    target: str = ""
    detail: dict[str, list[Any]] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)
    """CPU seconds (user + system) of the command and the processes it waited for (kernels)."""

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


@dataclass(frozen=True)
class Ran:
    """One command's wall time, stdout, and CPU seconds (user + system) of it and of the
    processes it waited for (a run's kernels)."""

    seconds: float
    out: str
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str]) -> Ran:
    """Run a command: its wall time, stdout and CPU time. A failure stops the benchmark."""
    cpu0 = _children_cpu()
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
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise SystemExit(f"bench: `{' '.join(map(str, argv))}` exited {proc.returncode}\n{tail}")
    return Ran(elapsed, proc.stdout, cpu)


def checkout(ref: str) -> Path:
    """``nbmlops/`` as it is at git ``ref``, in a temporary folder to put first on PYTHONPATH."""
    folder = Path(tempfile.mkdtemp(prefix="nbmlops-bench-ref-"))
    archive = subprocess.run(
        ["git", "archive", ref, "nbmlops"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


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


def write_floor_scripts(
    project: Path,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stages: Sequence[str] | None = None,
    folder: str = "floor",
) -> list[tuple[Path, Path]]:
    """One script per stage, in run order, with the values nbmlops would inject; (script, cwd).

    Paths are the products' final places, ``build/<pipeline>/<stage>/<file>`` (where Ploomber
    writes them and where nbmlops moves them after a stage succeeds), and each script runs in
    the notebook's folder, as the stage's kernel does. ``overrides`` (``{stage: {param: value}}``)
    replace parameter defaults, ``stages`` keeps only those stages, ``folder`` is where under
    ``project`` the scripts go.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # as the CLI does
    from nbmlops.authoring.pipeline import load_pipeline

    spec, _ = load_pipeline(PIPELINE, root=project)
    out = project / folder
    out.mkdir(parents=True)
    scripts = []
    for stage in spec.stages:
        if stages is not None and stage.name not in stages:
            continue
        stage_dir = spec.stage_dir(stage.name)
        injected: dict[str, Any] = {**stage.params, **(overrides or {}).get(stage.name, {})}
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
) -> tuple[Ran, dict[str, float]]:
    """The scripts run one after the other (wall and CPU time), and each script's wall time."""
    each: dict[str, float] = {}
    cpu = 0.0
    t0 = time.perf_counter()
    for script, cwd in scripts:
        (project / "build" / PIPELINE / script.stem).mkdir(parents=True, exist_ok=True)
        ran = run([sys.executable, script], cwd=cwd, env=env)
        each[script.stem] = ran.seconds
        cpu += ran.cpu
    return Ran(time.perf_counter() - t0, "", cpu), each


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
    against: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """One repeat of every scenario in ``rows``; returns the metrics each way of running made."""
    nbmlops, ploomber = BIN / "nbmlops", BIN / "ploomber"
    yaml = Path("pipelines") / PIPELINE / "pipeline.yaml"
    produced: dict[str, dict[str, Any]] = {}

    def sample(key: str, ran: Ran) -> str:
        rows[key].samples.append(ran.seconds)
        rows[key].cpu.append(ran.cpu)
        return ran.out

    clean(project)
    total, each = run_floor(project, scripts, env)
    sample("floor", total)
    rows["floor"].detail.setdefault("stage_seconds", []).append(each)
    produced["floor"] = metrics_of(project)

    if "ploomber_cold" in rows:
        clean(project)
        for key in ("ploomber_cold", "ploomber_nothing"):
            out = sample(key, run([ploomber, "build", "-e", yaml], cwd=project, env=env))
            if key == "ploomber_nothing" and re.search(r"\bTrue\b", out):
                raise SystemExit(f"bench: the second `ploomber build` ran a task again:\n{out}")
        produced["ploomber"] = metrics_of(project)

    def cold(key: str, env: Mapping[str, str]) -> None:
        clean(project)
        out = sample(key, run([nbmlops, "run", PIPELINE], cwd=project, env=env))
        stages = {name: float(s) for name, s in STAGE_LINE.findall(out)}
        rows[key].detail.setdefault("stage_seconds", []).append(stages)
        expected = sorted(script.stem for script, _ in scripts)
        if sorted(stages) != expected:
            raise SystemExit(
                f"bench: expected stages {expected} to run, got {sorted(stages)}:\n{out}"
            )
        produced[key] = metrics_of(project)

    if against is not None:
        cold("against_cold", {**env, "PYTHONPATH": str(against)})

    if "nbmlops_cold" in rows:
        cold("nbmlops_cold", env)
        out = sample("nbmlops_nothing", run([nbmlops, "run", PIPELINE], cwd=project, env=env))
        if "nothing to do" not in out:
            raise SystemExit(f"bench: the second `nbmlops run` was not a no-op:\n{out}")

    if "nbmlops_cold_untracked" in rows:
        clean(project)
        untracked: list[str | Path] = [nbmlops, "run", PIPELINE, "--no-tracking"]
        sample("nbmlops_cold_untracked", run(untracked, cwd=project, env=env))

    if "help" in rows:
        sample("help", run([nbmlops, "--help"], cwd=project, env=env))
        sample("python", run([sys.executable, "-c", "pass"], cwd=project, env=env))
    return produced


def scenarios(
    n_stages: int, groups: Sequence[str] = GROUPS, against: str | None = None
) -> dict[str, Scenario]:
    cold = f"<= {TARGET_COLD_VS_FLOOR:g}x floor"
    nothing = f"<= {TARGET_NOTHING_CHANGED_S:g} s"
    rows = [
        ("", Scenario("floor", f"(a) floor: plain python scripts, {n_stages} stages")),
        ("against", Scenario("against_cold", f"(c) nbmlops run, cold, as at {against}")),
        ("ploomber", Scenario("ploomber_cold", "(b) ploomber build, cold")),
        ("ploomber", Scenario("ploomber_nothing", "(b) ploomber build, nothing changed")),
        (
            "nbmlops",
            Scenario("nbmlops_cold", "(c) nbmlops run, cold (MLflow store created)", target=cold),
        ),
        (
            "nbmlops",
            Scenario("nbmlops_nothing", "(c) nbmlops run, nothing changed", target=nothing),
        ),
        ("untracked", Scenario("nbmlops_cold_untracked", "(d) nbmlops run --no-tracking, cold")),
        ("startup", Scenario("help", "(e) nbmlops --help", target=f"<= {TARGET_HELP_S:g} s")),
        ("startup", Scenario("python", "(e) python -c pass")),
    ]
    chosen = [*groups, *(["against"] if against else [])]
    return {row.key: row for group, row in rows if not group or group in chosen}


# -- reporting -----------------------------------------------------------------------------------


def verdict(row: Scenario, floor: float) -> tuple[str, str]:
    """(ratio to the floor for cold runs, "ok"/"MISSED" against the target on the median)."""
    checks: dict[str, Callable[[], bool]] = {
        "help": lambda: row.median <= TARGET_HELP_S,
        "nbmlops_nothing": lambda: row.median <= TARGET_NOTHING_CHANGED_S,
        "nbmlops_cold": lambda: row.median <= TARGET_COLD_VS_FLOOR * floor,
    }
    ratio = f"{row.median / floor:.2f}x" if row.key.endswith(("cold", "untracked")) else ""
    met = checks.get(row.key)
    return ratio, "" if met is None else ("ok" if met() else "MISSED")


def table(rows: Mapping[str, Scenario]) -> str:
    floor = rows["floor"].median
    head = ("scenario", "median s", "min s", "/ floor", "CPU s", "target", "met")
    lines = [head]
    for row in rows.values():
        ratio, met = verdict(row, floor)
        cpu = f"{statistics.median(row.cpu):.1f}"
        median, minimum = f"{row.median:.2f}", f"{row.minimum:.2f}"
        lines.append((row.label, median, minimum, ratio, cpu, row.target, met))
    return _columns(lines, left=(0, 5))


def _columns(lines: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> str:
    """A plain-text table: the first line is the header, ``left`` the left-aligned columns."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def stage_table(rows: Mapping[str, Scenario]) -> str:
    """The floor and the cold tracked ``nbmlops run`` side by side, stage by stage (medians),
    with what the run spent outside its stages (start-up, the records of the last stage, exit);
    with ``--against``, that version's column too."""
    runs = [k for k in ("against_cold", "nbmlops_cold") if k in rows]
    floor = stage_medians(rows["floor"])
    ours = {k: stage_medians(rows[k]) for k in runs}
    names = {"against_cold": "at ref s", "nbmlops_cold": "nbmlops s"}
    lines = [("stage", "floor s", *(names[k] for k in runs), "+ s", "x")]

    def line(name: str, base: float, values: list[float], ratio: bool = True) -> None:
        last = values[-1]
        cells = [f"{v:.2f}" for v in values]
        x = f"{last / base:.2f}" if ratio and base else ""
        lines.append((name, f"{base:.2f}", *cells, f"{last - base:+.2f}", x))

    for name, base in floor.items():
        line(name, base, [ours[k][name] for k in runs])
    outside = [rows[k].median - sum(ours[k].values()) for k in runs]
    line("outside stages", rows["floor"].median - sum(floor.values()), outside, ratio=False)
    line("total", rows["floor"].median, [rows[k].median for k in runs])
    return _columns(lines)


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
                "cpu_median_s": statistics.median(row.cpu),
                "met": verdict(row, floor)[1] or None,
            }
            for key, row in rows.items()
        },
        "floor_stage_median_s": stage_medians(rows["floor"]),
        **{
            f"{key}_stage_median_s": stage_medians(rows[key])
            for key in ("nbmlops_cold", "against_cold")
            if key in rows
        },
        "against": meta.get("against"),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups to measure besides the floor, of {', '.join(GROUPS)} "
        "(default all); e.g. --only nbmlops for a quick check of one change",
    )
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also run nbmlops as it is at this git ref (e.g. HEAD~1), cold, in the same run",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := sorted(set(groups) - set(GROUPS)):
        parser.error(
            f"--only: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}"
        )

    env = bench_env()
    started_utc = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    started = time.perf_counter()
    project = make_project(env)
    against = checkout(args.against) if args.against else None
    try:
        scripts = write_floor_scripts(project)
        rows = scenarios(len(scripts), groups, args.against)
        produced: list[dict[str, dict[str, Any]]] = []
        for n in range(args.repeat):
            print(f"repeat {n + 1}/{args.repeat} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
            produced.append(measure_once(project, scripts, rows, env, against))
    finally:
        if against is not None:
            shutil.rmtree(against, ignore_errors=True)
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
        "against": args.against,
        "metrics": produced[0]["floor"],
    }
    path = write_results(rows, meta, args.results)

    print()
    print(table(rows))
    if "nbmlops_cold" in rows:
        print()
        print("per stage, floor vs cold nbmlops run with tracking on (medians):")
        print(stage_table(rows))
    print()
    print(
        f"{args.repeat} repeat(s) on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {meta['loadavg_after'][0]:.2f} after"
    )
    print(
        f"metrics identical for {', '.join(produced[0])}: "
        f"{'yes' if same else 'NO'} (AUROC {meta['metrics']['auroc']:.3f})"
    )
    print(f"results: {os.path.relpath(path)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
