"""What :func:`nbmlops.review.explain` found: global importance, per-patient explanations, and
their JSON form. How a result looks (static HTML, the widget) is :mod:`nbmlops.review.explain_view`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

from nbmlops.errors import InvalidInputError
from nbmlops.review.rendering import ReviewResult, json_float

__all__ = ["ExplainResult", "PatientExplanations"]


@dataclass(frozen=True, kw_only=True)
class PatientExplanations:
    """Per-patient explanations of a sample of the explained rows, patient ``i`` at position ``i``.

    ``shap_values[i][j]`` is feature ``j``'s contribution (4 decimals); ``output[i]`` the model's
    output in the result's output space, base value + sum of SHAP values (shap checks that this
    is what the model computes); ``probability[i]`` the predicted probability of the positive
    class (the output itself, or its logistic for log-odds); ``percentile[i][j]`` the rank
    (0-100) of the patient's value of feature ``j`` among all explained rows (``None`` if missing
    or not numeric); ``values`` the exact values, only with ``show_values=True``.
    """

    shap_values: tuple[tuple[float, ...], ...]
    output: tuple[float, ...]
    probability: tuple[float, ...]
    percentile: tuple[tuple[int | None, ...], ...]
    values: tuple[tuple[float | str | None, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.output)


@dataclass(frozen=True, kw_only=True)
class ExplainResult(ReviewResult):
    """What :func:`explain` found. ``importance`` maps feature to mean |SHAP|, largest first."""

    kind: ClassVar[str] = "explain"

    explainer: str
    algorithm: str
    output_space: str
    feature_perturbation: str
    model: str
    positive_class: str
    base_value: float
    feature_names: tuple[str, ...]
    importance: Mapping[str, float]
    n_rows: int
    n_explained: int
    n_background: int | None
    seed: int
    show_values: bool
    patients: PatientExplanations

    @property
    def default_patient(self) -> int:
        """The patient the static view explains: the highest-risk one of the sample."""
        risk = self.patients.probability
        return max(range(len(risk)), key=risk.__getitem__)

    def importance_frame(self) -> Any:
        """Global importance as a ``pandas.DataFrame`` (``feature``, ``mean_abs_shap``), sorted."""
        import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

        return pd.DataFrame(
            {"feature": list(self.importance), "mean_abs_shap": list(self.importance.values())}
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return data | {
            "kind": self.kind,
            "base_value": json_float(self.base_value),
            "feature_names": list(self.feature_names),
            "importance": [
                {"feature": f, "mean_abs_shap": json_float(v)} for f, v in self.importance.items()
            ],
            "patients": {
                f.name: _lists(getattr(self.patients, f.name)) for f in fields(PatientExplanations)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExplainResult:
        """Rebuild a result from :meth:`to_dict` (e.g. the JSON a review stage wrote)."""
        if data.get("kind", cls.kind) != cls.kind:
            raise InvalidInputError(
                f"data has kind {data.get('kind')!r}, not {cls.kind!r}", argument="data"
            )
        plain = {f.name: data[f.name] for f in fields(cls)}
        rows = {f.name: _tuples(data["patients"].get(f.name)) for f in fields(PatientExplanations)}
        return cls(
            **plain
            | {
                "base_value": math.nan if data["base_value"] is None else data["base_value"],
                "feature_names": tuple(data["feature_names"]),
                "importance": MappingProxyType(
                    {r["feature"]: _float(r["mean_abs_shap"]) for r in data["importance"]}
                ),
                "patients": PatientExplanations(**rows),
            }
        )

    def headline(self) -> dict[str, float]:
        """Rows explained, the top importance, and the importance of the top five features
        (``importance.<feature>``, the name reduced to characters MLflow accepts)."""
        out = {
            "n_explained": float(self.n_explained),
            "top_feature_importance": max(self.importance.values(), default=math.nan),
        }
        for feature, value in list(self.importance.items())[:5]:
            key = "importance." + re.sub(r"[^A-Za-z0-9_\-./ ]", "_", feature)
            while key in out:
                key += "_"
            out[key] = value
        return out

    def to_html(self) -> str:
        """Static HTML: importance table and bar plot, beeswarm, and the highest-risk patient."""
        from nbmlops.review.explain_view import render_html

        return render_html(self)

    def widget(self) -> Any:
        """Tabs: global importance, beeswarm, and a patient picker with a sort order."""
        from nbmlops.review.explain_view import build_widget

        return build_widget(self)

    @functools.cached_property
    def _global_pngs(self) -> tuple[bytes, bytes]:
        # the bar plot and beeswarm are drawn once, whether for HTML, the widget or both
        from nbmlops.review.explain_view import beeswarm_png, importance_png

        return importance_png(self), beeswarm_png(self)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
