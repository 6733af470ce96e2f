"""Which stages of a pipeline are up to date, and why the others are stale.

Planning only reads: stage states under ``build/``, the lock files, the products on disk. It never
imports papermill or MLflow, so ``nbmlops status`` and a run with nothing to do stay instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nbmlops._core.digests import file_digest
from nbmlops.authoring.parameters import resolve_params
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import UpstreamProductsMissingError
from nbmlops.records.model import JSON
from nbmlops.run.inputs import digest_inputs
from nbmlops.run.state import (
    StageState,
    StaleReason,
    fingerprint,
    product_digest,
    read_state,
    stage_inputs,
    stale_reasons,
)

__all__ = [
    "StagePlan",
    "check_upstream_available",
    "current_inputs",
    "plan_pipeline",
    "plan_stages",
    "select_stages",
]


@dataclass(frozen=True, kw_only=True)
class StagePlan:
    """A stage's state before the run: up to date, or stale and why."""

    stage: str
    selected: bool
    reasons: tuple[StaleReason, ...]
    state: StageState | None = field(repr=False, default=None)

    @property
    def up_to_date(self) -> bool:
        return not self.reasons

    @property
    def reason_text(self) -> str:
        """The reasons for people, ``; ``-separated (``""`` when up to date)."""
        return "; ".join(r.text for r in self.reasons)

    @property
    def ran_because(self) -> str:
        """The reasons as a run records them once the stage ran (``upstream X ran``, where the
        plan said ``upstream X will run``): the run record, the CLI and MLflow's
        ``nbmlops.reason`` tag speak after the fact."""
        return "; ".join(
            f"upstream {r.subject} ran" if r.kind == "upstream_will_run" else r.text
            for r in self.reasons
        )


def select_stages(spec: PipelineSpec, stages: Iterable[str], downstream: bool) -> tuple[str, ...]:
    wanted: set[str] = set()
    for name in stages:
        wanted.update(spec.downstream(name) if downstream else (spec.stage(name).name,))
    return tuple(n for n in spec.names if n in wanted) if wanted else spec.names


def _lock_digest(spec: PipelineSpec, stage: StageSpec, cache: dict[Path, str | None]) -> str | None:
    path = spec.root / stage.environment
    if path not in cache:
        cache[path] = file_digest(path) if path.is_file() else None
    return cache[path]


def _upstream_digests(spec: PipelineSpec, stage: StageSpec) -> dict[str, str | None]:
    digests: dict[str, str | None] = {}
    for up in stage.upstream:
        up_dir = spec.stage_dir(up)
        state = read_state(up_dir)
        for name in spec.stage(up).products:
            record = state.products.get(name) if state else None
            digests[f"{up}.{name}"] = product_digest(up_dir, record) if record else None
    return digests


def current_inputs(
    spec: PipelineSpec, stage: StageSpec, params: Mapping[str, JSON], locks: dict[Path, str | None]
) -> dict[str, str]:
    declared: dict[str, str | None] = {}
    if stage.inputs:
        state = read_state(spec.stage_dir(stage.name))
        declared, _ = digest_inputs(spec.root, stage, state.input_files if state else {})
    return stage_inputs(
        stage,
        params=params,
        lock_digest=_lock_digest(spec, stage, locks),
        upstream=_upstream_digests(spec, stage),
        declared=declared,
    )


def plan_pipeline(
    spec: PipelineSpec,
    *,
    params: Mapping[str, Mapping[str, JSON]] | None = None,
    stages: Iterable[str] = (),
    downstream: bool = False,
    force: bool = False,
) -> tuple[StagePlan, ...]:
    """Which stages are up to date and why the others are stale, without running anything.

    A stage downstream of a stale one is reported stale too ("upstream X will run"); at run time
    it is skipped after all if the rerun upstream produced identical products.
    """
    return plan_stages(
        spec,
        params=resolve_params(spec, params or {}),
        selected=select_stages(spec, stages, downstream),
        force=force,
    )


def plan_stages(
    spec: PipelineSpec,
    *,
    params: Mapping[str, Mapping[str, JSON]],
    selected: Iterable[str],
    force: bool,
) -> tuple[StagePlan, ...]:
    """:func:`plan_pipeline` for parameters already resolved (every stage's effective values)."""
    effective, selected = params, set(selected)
    locks: dict[Path, str | None] = {}
    plans: dict[str, StagePlan] = {}
    for stage in spec.stages:
        stage_dir = spec.stage_dir(stage.name)
        state = read_state(stage_dir)
        inputs = current_inputs(spec, stage, effective[stage.name], locks)
        reasons = stale_reasons(state, inputs, stage_dir, params=effective[stage.name])
        if state is not None and state.fingerprint != fingerprint(inputs) and not reasons:
            reasons = [StaleReason(kind="inputs_changed", text="inputs changed")]
        if force and stage.name in selected:
            reasons = [StaleReason(kind="forced", text="forced"), *reasons]
        if not reasons:  # stale only through its upstream: say which will run first
            reasons = [
                StaleReason(kind="upstream_will_run", subject=up, text=f"upstream {up} will run")
                for up in stage.upstream
                if not plans[up].up_to_date and plans[up].selected
            ]
        plans[stage.name] = StagePlan(
            stage=stage.name, selected=stage.name in selected, reasons=tuple(reasons), state=state
        )
    return tuple(plans[n] for n in spec.names)


_PRODUCTS_GONE = frozenset({"never_run", "product_missing"})
"""Reasons that leave an upstream stage without products to hand on."""


def check_upstream_available(spec: PipelineSpec, plans: Mapping[str, StagePlan]) -> None:
    for plan in plans.values():
        if not plan.selected:
            continue
        for up in spec.stage(plan.stage).upstream:
            up_plan = plans[up]
            if not up_plan.selected and (
                up_plan.state is None or any(r.kind in _PRODUCTS_GONE for r in up_plan.reasons)
            ):
                raise UpstreamProductsMissingError(stage=plan.stage, upstream=up)
