"""Review of a fitted model: what a human looks at, and signs, before a model is used.

- :func:`fairness` - per-group metrics with bootstrap intervals, gaps and pass/fail checks.
- :func:`explain` - SHAP importance, beeswarm and per-patient explanations.
- :func:`drift` - evidently data drift between training-time and current data.
- :func:`session` - one run's evidence in a tabbed widget, ending in a signed decision.

Each result shows as an ipywidgets view in a live kernel and as static HTML in saved notebooks
and exports, serialises to JSON and logs to MLflow (``result.log()``; outside a pipeline stage
it records nothing and warns with :class:`NotLoggedWarning`). The submodules import
their heavy libraries (numpy, pandas, fairlearn, shap, evidently, ipywidgets) only when a verb
runs, so importing this package costs a few milliseconds.
"""

from __future__ import annotations

# Imported eagerly on purpose: each verb shares its name with its submodule, and a lazy lookup
# would hand out the module once anything had imported it (`from nbmlops.review import
# fairness` must always be the function). The price: `import nbmlops.review.fairness as m`
# binds the function too; import names from the submodule (`from nbmlops.review.fairness import
# FairnessResult`) instead.
from nbmlops.review.drift import drift
from nbmlops.review.explain import explain
from nbmlops.review.fairness import fairness
from nbmlops.review.rendering import NotLoggedWarning
from nbmlops.review.session import session

__all__ = ["NotLoggedWarning", "drift", "explain", "fairness", "session"]
