"""A stage's declared inputs as MLflow dataset inputs: name, our digest and the path as source.

Only metadata is logged, never a row: MLflow's ``Dataset`` entity with source type ``local`` and
source ``{"uri": <absolute path>}`` (what ``mlflow.data`` resolves a local path to). MLflow keeps
at most 36 characters of a dataset digest, so ``digest`` is the first 36 hex digits of the
input's SHA-256; the whole SHA-256 is the input tag ``nbmlops.sha256`` and the dataset's profile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["DIGEST_CHARS", "dataset_inputs"]

DIGEST_CHARS = 36
"""MLflow's longest dataset digest (``mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE``)."""


def dataset_inputs(declared: Mapping[str, Mapping[str, str]]) -> list[Any]:
    """``mlflow.entities.DatasetInput`` values for a stage result's ``declared_inputs``."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    found = []
    for name, item in sorted(declared.items()):
        sha256 = item.get("sha256", "")
        dataset = Dataset(
            name=name,
            digest=sha256[:DIGEST_CHARS] or "unknown",
            source_type="local",
            source=json.dumps({"uri": item.get("source", "")}),
            profile=json.dumps({"sha256": sha256, "path": item.get("path", "")}),
        )
        tags = [
            InputTag(key="mlflow.data.context", value="input"),
            InputTag(key="nbmlops.input", value=name),
            InputTag(key="nbmlops.sha256", value=sha256),
        ]
        found.append(DatasetInput(dataset=dataset, tags=tags))
    return found
