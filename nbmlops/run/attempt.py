"""One attempt at a stage: its notebook run in ``build/<pipeline>/<stage>/runs/<run>/``, its
products checked, then promoted into the stage folder and its state written.

A failed attempt keeps its partial executed notebook in its ``runs/<run>/`` folder and leaves the
last good products untouched; only a stage that succeeded and wrote every declared product
replaces them (see :func:`attempt_stage`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

from nbmlops._core.ids import utc_now
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import (
    InputChangedError,
    MissingProductError,
    NbmlopsError,
    StageExecutionError,
)
from nbmlops.records.model import JSON, StageResult
from nbmlops.run.inputs import INPUT_KEY, digest_inputs, input_paths, input_records
from nbmlops.run.kernel import KernelPool, run_notebook
from nbmlops.run.state import (
    ProductRecord,
    StageState,
    fingerprint,
    read_state,
    record_products,
    write_state,
)

__all__ = ["attempt_stage"]


def attempt_stage(
    spec: PipelineSpec,
    name: str,
    *,
    run_id: str,
    params: dict[str, JSON],
    inputs: dict[str, str],
    reason: str,
    pool: KernelPool,
) -> StageResult:
    """Run stage ``name`` of run ``run_id`` on a kernel from ``pool``; promote its products.

    ``inputs`` are the stage's input digests as the run found them (they become its fingerprint
    and state), ``reason`` why it runs. Returns the stage's result, ``succeeded`` or ``failed``
    with the error as data: an :class:`~nbmlops.errors.NbmlopsError` of the stage, or a write
    that failed (a full disk) as a :class:`~nbmlops.errors.StageExecutionError`.
    """
    stage = spec.stage(name)
    stage_dir = spec.stage_dir(name)
    attempt = stage_dir / "runs" / run_id
    base = StageResult(
        stage=name,
        status="failed",
        kernel=stage.kernel,
        params=params,
        fingerprint=fingerprint(inputs),
        inputs=inputs,
        declared_inputs=input_records(spec.root, stage, inputs),
        reason=reason,
        started_at=utc_now(),
    )
    t0 = time.perf_counter()
    executed = attempt / f"{name}.ipynb"
    try:
        attempt.mkdir(parents=True, exist_ok=True)
        products = {k: attempt / v for k, v in stage.products.items()}
        for path in products.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        run_notebook(
            stage,
            executed,
            params=params,
            products=products,
            upstream=_upstream_paths(spec, stage),
            pool=pool,
            inputs=input_paths(spec.root, stage),
        )
        for product, path in products.items():
            if not path.exists():
                raise MissingProductError(stage=name, path=executed, product=product, expected=path)
        input_files = _check_inputs_unchanged(spec, stage, inputs, executed)
        records = _promote(spec, stage, attempt, executed, run_id)
    except NbmlopsError as exc:
        return replace(
            base,
            finished_at=utc_now(),
            duration_s=time.perf_counter() - t0,
            error=exc.to_dict(),
            executed_notebook=str(executed) if executed.exists() else None,
        )
    except OSError as exc:
        err = StageExecutionError(
            f"stage '{name}' could not write its outputs ({exc.strerror or exc}: "
            f"{exc.filename or attempt}). Free disk space or fix permissions, then rerun; "
            "the previous products are untouched.",
            stage=name,
            path=executed,
        )
        return replace(
            base,
            finished_at=utc_now(),
            duration_s=time.perf_counter() - t0,
            error=err.to_dict(),
        )
    final_nb = stage_dir / f"{name}.ipynb"
    state = StageState(
        fingerprint=base.fingerprint,
        inputs=inputs,
        products=records,
        run_id=run_id,
        finished_at=utc_now(),
        params=params,
        input_files=input_files,
    )
    write_state(stage_dir, state)
    from nbmlops.records.scraps import read_scraps

    return replace(
        base,
        status="succeeded",
        finished_at=state.finished_at,
        duration_s=time.perf_counter() - t0,
        products={
            "nb": str(final_nb),
            **{k: str(stage_dir / v) for k, v in stage.products.items()},
        },
        product_digests={k: r.sha256 for k, r in records.items()},
        executed_notebook=str(final_nb),
        scraps=read_scraps(final_nb).values,
    )


def _check_inputs_unchanged(
    spec: PipelineSpec, stage: StageSpec, inputs: dict[str, str], executed: Path
) -> dict[str, ProductRecord]:
    """Digest the declared inputs again after the stage ran; one that differs from its digest at
    the start fails the stage (it wrote into it, or something else changed it meanwhile).
    Returns the files' records for the stage's state."""
    if not stage.inputs:
        return {}
    previous = read_state(spec.stage_dir(stage.name))
    after, files = digest_inputs(spec.root, stage, previous.input_files if previous else {})
    for input_name, rel in stage.inputs.items():
        before = inputs.get(f"{INPUT_KEY}{input_name}", "")
        now = after.get(input_name) or "missing"
        if now != before:
            raise InputChangedError(
                stage=stage.name,
                path=executed,
                input=input_name,
                input_path=rel,
                before=before,
                after=now,
            )
    return files


def _upstream_paths(spec: PipelineSpec, stage: StageSpec) -> dict[str, dict[str, str]]:
    out = {}
    for up in stage.upstream:
        up_dir = spec.stage_dir(up)
        out[up] = {
            "nb": str(up_dir / f"{up}.ipynb"),
            **{k: str(up_dir / v) for k, v in spec.stage(up).products.items()},
        }
    return out


def _promote(
    spec: PipelineSpec, stage: StageSpec, attempt: Path, executed: Path, run_id: str
) -> dict[str, ProductRecord]:
    """Move a successful attempt's products into the stage folder, replacing the old ones."""
    stage_dir = spec.stage_dir(stage.name)
    for rel in stage.products.values():
        src, dst = attempt / rel, stage_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir() and not dst.is_symlink():
            trash = dst.with_name(f".{dst.name}.old-{run_id}")
            dst.rename(trash)
            src.rename(dst)
            shutil.rmtree(trash)
        else:
            src.replace(dst)
    executed.replace(stage_dir / f"{stage.name}.ipynb")
    shutil.rmtree(attempt, ignore_errors=True)
    runs = attempt.parent
    if runs.is_dir() and not any(runs.iterdir()):
        runs.rmdir()
    return record_products(stage_dir, stage.products)
