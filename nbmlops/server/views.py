"""What the REST handlers answer, as plain JSON: one function per endpoint, no tornado here.

Kept apart from the handlers so the answers are testable without a server and the handlers stay
three lines: parse, call, serialise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["pipeline_view", "validate_view"]


def pipeline_view(folder: Path) -> dict[str, Any]:
    """The stages of ``folder`` as a checked DAG, each with its state and the reasons.

    Raises what :func:`nbmlops.pipeline.discover` raises (cycle, unknown upstream, ...).
    """
    from nbmlops.pipeline import discover
    from nbmlops.plan import plan_pipeline

    spec = discover(folder)
    plans = {plan.stage: plan for plan in plan_pipeline(spec)}
    stages = []
    for stage in spec.stages:
        plan = plans[stage.name]
        state = "up_to_date" if plan.up_to_date else "never_run" if plan.state is None else "stale"
        stages.append(
            {
                **stage.metadata(),
                "notebook": str(stage.path.relative_to(spec.root)),
                "state": state,
                "reasons": list(plan.reasons),
            }
        )
    return {
        "name": spec.name,
        "root": str(spec.root),
        "stages": stages,
        "edges": [[up, s.name] for s in spec.stages for up in s.upstream],
    }


def validate_view(path: Path, metadata: Any) -> dict[str, Any]:
    """Check stage ``metadata`` for the notebook at ``path`` as ``nbmlops stage set`` would:
    the schema, and that every upstream stage exists beside it.

    Raises
    ------
    StageMetadataError, UnknownUpstreamError
    """
    from nbmlops.errors import StageMetadataError, UnknownUpstreamError
    from nbmlops.pipeline import discover
    from nbmlops.stage import validate_stage_metadata

    validate_stage_metadata(metadata, path=path)  # an object with a valid "stage" from here on
    meta: dict[str, Any] = dict(metadata)
    name = str(meta["stage"])
    others = [s for s in discover(path.parent).stages if s.path != path]
    for other in others:
        if other.name == name:
            detail = f"{other.path.name} already declares stage '{name}'; choose another name"
            raise StageMetadataError(path=path, field="stage", detail=detail)
    known = sorted(s.name for s in others)
    for upstream in meta.get("upstream", []):
        if upstream not in known:
            raise UnknownUpstreamError(stage=name, upstream=str(upstream), known=known, path=path)
    return {"ok": True, "stage": name}
