"""Review of a fitted model: what a human looks at, and signs, before a model is used.

- :func:`fairness` - per-group metrics with bootstrap intervals, gaps and pass/fail checks.
- :func:`explain` - SHAP importance, beeswarm and per-patient explanations.
- :func:`drift` - evidently data drift between training-time and current data.
- :func:`session` - one run's evidence in a tabbed widget, ending in a signed decision.

Each result shows as an ipywidgets view in a live kernel and as static HTML in saved notebooks
and exports, serialises to JSON and logs to MLflow (``result.log()``). Submodules import their
heavy libraries lazily, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["drift", "explain", "fairness", "session"]

_HOMES = {
    "drift": "nbmlops.review.drift",
    "explain": "nbmlops.review.explain",
    "fairness": "nbmlops.review.fairness",
    "session": "nbmlops.review.session",
}


def __getattr__(name: str) -> Any:
    # `nbmlops.review.fairness` is both a submodule and its verb: the verb wins, as documented
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'nbmlops.review' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
