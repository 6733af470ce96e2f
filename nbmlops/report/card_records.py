"""What the records say about a run's model, for its model card: the model file, the metrics a
stage recorded (with an interval only where one was recorded), the data each side of the model
saw (declared inputs and products by digest, row counts the stages recorded) and the fairness
results a review stage saved. Read from the run record and the products it names, a product
only when its bytes still have the digest the run recorded (else its archived copy, else it is
named as changed); nothing is recomputed and nothing is filled in.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.digests import file_digest
from nbmlops.records.archive import archived_copy

__all__ = ["DataItem", "Metric", "RecordFacts", "read_facts", "recorded_interval"]

_MAX_JSON = 20 * 1024 * 1024  # a fairness result holds aggregates only; anything bigger is not one


@dataclass(frozen=True, kw_only=True)
class Metric:
    stage: str
    name: str
    value: int | float
    interval: tuple[float, float] | None


@dataclass(frozen=True, kw_only=True)
class DataItem:
    stage: str
    name: str
    kind: str
    """``input`` (declared input), ``product`` or ``upstream``."""
    path: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class RecordFacts:
    """The facts of one run a card shows; see the module doc."""

    model_stage: str | None
    model_path: Path | None
    model_digest: str | None
    model_class: str | None
    hyperparameters: Mapping[str, Any]
    metrics: tuple[Metric, ...]
    training: tuple[DataItem, ...]
    evaluation: tuple[DataItem, ...]
    row_counts: tuple[tuple[str, str, int], ...]
    fairness: tuple[tuple[str, Mapping[str, Any]], ...]
    """(``stage.product``, the saved fairness result as JSON)."""
    changed: tuple[str, ...]
    """Products not read: their bytes no longer have the recorded digest and no archived copy
    has it."""


def read_facts(root: Path, record: Mapping[str, Any], *, model_product: str) -> RecordFacts:
    """The facts of run ``record`` (as ``.nbmlops/runs/<id>.json`` holds it) in project ``root``;
    ``model_product`` names the product that is the model."""
    stages = [s for s in record.get("stages") or () if isinstance(s, Mapping)]
    model = next((s for s in reversed(stages) if model_product in (s.get("products") or {})), None)
    changed: list[str] = []
    model_path = model_digest = model_class = None
    if model is not None:
        model_digest = (model.get("product_digests") or {}).get(model_product)
        model_path = _trusted(root, model["products"][model_product], model_digest)
        if model_path is None:
            changed.append(f"{model['stage']}.{model_product}")
        else:
            model_class = _skops_class(model_path)
    upstream = _upstream(stages)
    before = _ancestors(model["stage"], upstream) | {model["stage"]} if model else set()
    after = {
        s["stage"] for s in stages if model and model["stage"] in _ancestors(s["stage"], upstream)
    }
    fairness: list[tuple[str, Mapping[str, Any]]] = []
    for stage in stages:
        for name, path, digest in _json_products(stage):
            found = _trusted(root, path, digest)
            if found is None:
                changed.append(f"{stage['stage']}.{name}")
                continue
            data = _load_json(found)
            if isinstance(data, Mapping) and data.get("kind") == "fairness":
                fairness.append((f"{stage['stage']}.{name}", data))
    return RecordFacts(
        model_stage=str(model["stage"]) if model else None,
        model_path=model_path,
        model_digest=str(model_digest) if model_digest else None,
        model_class=model_class,
        hyperparameters=dict(model.get("params") or {}) if model else {},
        metrics=tuple(_metrics(stages)),
        training=tuple(i for s in stages if s["stage"] in before for i in _items(s)),
        evaluation=tuple(i for s in stages if s["stage"] in after for i in _items(s)),
        row_counts=tuple(_rows(stages)),
        fairness=tuple(fairness),
        changed=tuple(changed),
    )  # fmt: skip


def _upstream(stages: list[Mapping[str, Any]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for stage in stages:
        ups = edges.setdefault(str(stage.get("stage")), set())
        for key in stage.get("inputs") or {}:
            if str(key).startswith("upstream:"):
                ups.add(str(key).removeprefix("upstream:").rsplit(".", 1)[0])
    return edges


def _ancestors(name: str, upstream: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(upstream.get(name, ()))
    while todo:
        up = todo.pop()
        if up not in seen:
            seen.add(up)
            todo.extend(upstream.get(up, ()))
    return seen


def _items(stage: Mapping[str, Any]) -> Iterator[DataItem]:
    name = str(stage["stage"])
    for key, item in sorted((stage.get("declared_inputs") or {}).items()):
        if isinstance(item, Mapping):
            yield DataItem(
                stage=name, name=str(key), kind="input", path=str(item.get("path", "")),
                sha256=str(item.get("sha256", "")),
            )  # fmt: skip
    for key, digest in sorted((stage.get("inputs") or {}).items()):
        if str(key).startswith("upstream:"):
            what = str(key).removeprefix("upstream:")
            yield DataItem(stage=name, name=what, kind="upstream", path="", sha256=str(digest))
    digests = stage.get("product_digests") or {}
    for key, path in sorted((stage.get("products") or {}).items()):
        if key in digests:
            yield DataItem(
                stage=name, name=str(key), kind="product", path=Path(str(path)).name,
                sha256=str(digests[key]),
            )  # fmt: skip


def _metrics(stages: list[Mapping[str, Any]]) -> Iterator[Metric]:
    for stage in stages:
        scraps = stage.get("scraps") or {}
        for key, value in scraps.items():
            if not _number(value) or str(key).endswith(("_ci_low", "_ci_high")):
                continue
            yield Metric(
                stage=str(stage["stage"]), name=str(key), value=value,
                interval=recorded_interval(scraps, str(key)),
            )  # fmt: skip


def recorded_interval(scraps: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    """``<key>_ci`` as ``[low, high]``, or ``<key>_ci_low`` and ``<key>_ci_high``: only an
    interval the stage recorded."""
    pair = scraps.get(f"{key}_ci")
    if isinstance(pair, list | tuple) and len(pair) == 2 and all(_number(x) for x in pair):
        return float(pair[0]), float(pair[1])
    low, high = scraps.get(f"{key}_ci_low"), scraps.get(f"{key}_ci_high")
    if isinstance(low, int | float) and isinstance(high, int | float) and _number(low + high):
        return float(low), float(high)
    return None


def _rows(stages: list[Mapping[str, Any]]) -> Iterator[tuple[str, str, int]]:
    for stage in stages:
        for key, value in (stage.get("scraps") or {}).items():
            if "rows" in str(key) and isinstance(value, int) and not isinstance(value, bool):
                yield str(stage["stage"]), str(key), value


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _json_products(stage: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    digests = stage.get("product_digests") or {}
    for name, path in (stage.get("products") or {}).items():
        if str(path).endswith(".json"):
            yield str(name), str(path), digests.get(name)


def _trusted(root: Path, path: str, digest: str | None) -> Path | None:
    """``path`` when its bytes have ``digest``, else the archived copy with that digest, else
    None (and a product the run recorded no digest of is never trusted)."""
    if not digest:
        return None
    candidate = Path(path)
    try:
        if candidate.is_file() and file_digest(candidate) == digest:
            return candidate
        return archived_copy(root, str(digest))  # re-hashed: a damaged copy is not used
    except OSError:
        return None


def _load_json(path: Path) -> Any:
    try:
        if path.stat().st_size > _MAX_JSON:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _skops_class(path: Path) -> str | None:
    """The fitted model's class from a skops archive's schema, without loading the model (a
    skops load of unreviewed types would run nothing, but it needs them trusted first)."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if not isinstance(schema, Mapping):
        return None
    module, cls = schema.get("__module__"), schema.get("__class__")
    return f"{module}.{cls}" if module and cls else None
