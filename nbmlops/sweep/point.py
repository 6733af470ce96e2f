"""One sweep point: the stages its parameters reach, each an attempt in its own folder.

A point's stages run with :func:`nbmlops.run.attempt.attempt_stage`, the attempt a pipeline run
makes, on a pipeline whose point stages live under ``build/<pipeline>/sweeps/<sweep>/<point>/``
(:attr:`~nbmlops.authoring.pipeline.PipelineSpec.stage_folders`): their upstream products come
from there when the upstream is a point stage too, and from the normal build when it is shared.
Each attempt promotes its products and writes its build state in the point's folder, never in the
normal build. ``point.log`` beside them says what ran, when, and how it ended.

Nothing here writes MLflow or the ledger: the outcome goes back to the sweep's one recording
thread (:mod:`nbmlops.sweep.records`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from nbmlops._core.ids import new_run_id, utc_now
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.records.model import JSON, StageResult
from nbmlops.run.attempt import attempt_stage
from nbmlops.run.kernel import KernelPool
from nbmlops.run.plan import current_inputs
from nbmlops.sweep.spec import Point, SweepSpec
from nbmlops.sweep.state import sweep_products

__all__ = ["PointOutcome", "append_log", "point_pipeline", "run_point"]


@dataclass(frozen=True, kw_only=True)
class PointOutcome:
    """What one point did: its stages' results, as the recording thread receives them."""

    point: Point
    run_id: str
    status: Literal["succeeded", "failed"]
    started_at: str
    finished_at: str
    duration_s: float
    stages: tuple[StageResult, ...]
    folder: str
    """``build/<pipeline>/sweeps/<sweep>/<point>/``: its stages' products and ``point.log``."""

    @property
    def error(self) -> dict[str, JSON] | None:
        """The first failed stage's error (type, message, stage, cell), if any."""
        for result in self.stages:
            if result.error:
                return dict(result.error)
        return None

    @property
    def metrics(self) -> dict[str, JSON]:
        """Every scrap its stages recorded, as ``<stage>.<name>``."""
        return {f"{r.stage}.{k}": v for r in self.stages for k, v in r.scraps.items()}


def point_pipeline(sweep: SweepSpec, point: str) -> PipelineSpec:
    """The pipeline as one point sees it: its stages' folders under the point's folder."""
    spec = sweep.pipeline
    folder = sweep_products(spec.build_dir, sweep.name, point)
    return replace(spec, stage_folders=tuple((s, folder / s) for s in sweep.point_stages))


def run_point(
    sweep: SweepSpec,
    point: Point,
    *,
    params: dict[str, dict[str, JSON]],
    pool: KernelPool,
) -> PointOutcome:
    """Run ``point``'s stages in order on kernels from ``pool``; a stage whose upstream failed
    does not run. Never raises for a stage's failure: it is in the outcome."""
    spec = point_pipeline(sweep, point.id)
    folder = sweep_products(sweep.pipeline.build_dir, sweep.name, point.id)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    started, t0 = utc_now(), time.perf_counter()
    log = _Log(folder)
    log.write(f"point {point.id} run {run_id}")
    locks: dict[Path, str | None] = {}
    done: dict[str, StageResult] = {}
    for name in sweep.point_stages:
        stage = spec.stage(name)
        failed = [u for u in stage.upstream if u in done and done[u].status != "succeeded"]
        if failed:
            done[name] = StageResult(
                stage=name,
                status="not_run",
                kernel=stage.kernel,
                params=params[name],
                reason=f"upstream {', '.join(failed)} failed",
            )
            log.write(f"{name}: not run (upstream {', '.join(failed)} failed)")
            continue
        log.write(f"{name}: started")
        done[name] = attempt_stage(
            spec,
            name,
            run_id=run_id,
            params=params[name],
            inputs=current_inputs(spec, stage, params[name], locks),
            reason=f"sweep {sweep.name} point {point.id}",
            pool=pool,
        )
        result = done[name]
        message = (result.error or {}).get("message")
        log.write(f"{name}: {result.status} in {result.duration_s:.2f}s" + (
            f": {message}" if message else ""))  # fmt: skip
    results = tuple(done[n] for n in sweep.point_stages)
    ok = all(r.status == "succeeded" for r in results)
    log.write(f"point {'succeeded' if ok else 'failed'}")
    return PointOutcome(
        point=point,
        run_id=run_id,
        status="succeeded" if ok else "failed",
        started_at=started,
        finished_at=utc_now(),
        duration_s=time.perf_counter() - t0,
        stages=results,
        folder=str(folder),
    )


class _Log:
    """``point.log``: one line per event, appended and flushed as it happens (a killed sweep
    keeps what happened up to then). Parameter values are not written: the point id names them.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, line: str) -> None:
        append_log(self.folder, line)


def append_log(folder: Path, line: str) -> None:
    """Add ``line`` (with the time) to the ``point.log`` of the point whose folder is ``folder``."""
    with (folder / "point.log").open("a", encoding="utf-8") as fh:
        fh.write(f"{utc_now()} {line}\n")
