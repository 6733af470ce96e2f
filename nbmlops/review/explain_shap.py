"""The two SHAP explainers :func:`nbmlops.review.explain` runs: shap's TreeExplainer on scikit-learn
tree models (and Pipelines ending in one), and the model-agnostic permutation explainer on the
predicted probability, with non-numeric columns coded so that its masker can do arithmetic.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = [
    "PERMUTATIONS",
    "Run",
    "is_numeric",
    "permutation_shap",
    "sample_rows",
    "tree_parts",
    "tree_shap",
]

PERMUTATIONS = 10
"""Antithetic permutations per row of the permutation explainer:
``max_evals = PERMUTATIONS * (2 * n_features + 1)``."""

_SPACES = {"log_odds": "log-odds", "probability": "probability"}

Run = tuple[Any, float, list[str], Any, str, str, int | None]
"""SHAP values (rows x features), base value, feature names, the explained features as a frame,
output space, feature perturbation, background rows used."""


def tree_shap(
    tree: tuple[Any, Any], explained: Any, background: Any, max_background: int, rng: Any
) -> Run:
    """TreeExplainer's run; ``background`` (a frame like ``explained``, or ``None``) makes it
    interventional."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

    estimator, prefix = tree
    data, names = _tree_input(prefix, explained)
    shap = _shap()
    n_bg = None
    if background is None:
        explainer = shap.TreeExplainer(estimator)
    else:
        bg, _ = _tree_input(prefix, background)
        bg_rows = sample_rows(rng, len(bg), max_background)
        bg = bg if bg_rows is None else bg[bg_rows]
        n_bg = len(bg)
        explainer = shap.TreeExplainer(estimator, data=bg, feature_perturbation="interventional")
    values = np.asarray(explainer.shap_values(data))
    if values.ndim == 3:  # one slice per class: keep the positive class's
        values = values[:, :, 1]
    base = float(np.ravel(explainer.expected_value)[-1])
    space = _SPACES.get(str(getattr(explainer.model, "tree_output", "")), "raw")
    shown = pd.DataFrame(data, columns=names, copy=False)
    return values, base, names, shown, space, str(explainer.feature_perturbation), n_bg


def permutation_shap(
    model: Any, explained: Any, bg_source: Any, *, max_background: int, rng: Any, seed: int
) -> Run:
    """The permutation explainer's run, with ``max_background`` rows drawn from ``bg_source``."""
    import numpy as np

    names = [str(c) for c in explained.columns]
    codes = _codes(explained, bg_source)
    bg_rows = sample_rows(rng, len(bg_source), max_background)
    bg = bg_source.iloc[bg_rows] if bg_rows is not None else bg_source
    plain = not codes and not hasattr(model, "feature_names_in_")

    def positive(matrix: Any) -> Any:  # what the explainer evaluates: P(positive) of coded rows
        rows = matrix if plain else _decode(matrix, explained, codes)
        return model.predict_proba(rows)[:, 1]

    shap = _shap()
    state = np.random.get_state()  # shap seeds numpy's global generator: leave it as it was
    try:
        explainer = shap.PermutationExplainer(positive, _encode(bg, codes), seed=seed)
        evals = PERMUTATIONS * (2 * len(names) + 1)
        found = explainer(_encode(explained, codes), max_evals=evals, silent=True)
    finally:
        np.random.set_state(state)
    base = float(np.ravel(found.base_values)[0])
    return np.asarray(found.values), base, names, explained, "probability", "permutation", len(bg)


def _codes(*frames: Any) -> dict[Any, Any]:
    """Categories of each non-numeric column: the permutation masker does arithmetic on rows."""
    import pandas as pd

    out = {}
    for c in frames[0].columns:
        dtype = frames[0][c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[c] = dtype.categories.to_numpy(dtype=object)
        elif not is_numeric(frames[0][c]):
            together = pd.concat([f[c] for f in frames], ignore_index=True)
            out[c] = pd.unique(together.astype(object))
    return out


def _encode(frame: Any, codes: Mapping[Any, Any]) -> Any:
    import numpy as np
    import pandas as pd

    out = np.empty(frame.shape)
    for j, c in enumerate(frame.columns):
        if c in codes:  # -1: missing (or a category the columns' dtype does not know)
            out[:, j] = pd.Index(codes[c]).get_indexer(frame[c].astype(object))
        else:
            out[:, j] = frame[c].to_numpy(dtype=float, na_value=np.nan)
    return out


def _decode(matrix: Any, like: Any, codes: Mapping[Any, Any]) -> Any:
    """Coded rows back to a frame with ``like``'s columns and dtypes, for the model."""
    import pandas as pd

    columns: dict[Any, Any] = {}
    for j, (c, dtype) in enumerate(like.dtypes.items()):
        column = matrix[:, j]
        if isinstance(dtype, pd.CategoricalDtype):
            columns[c] = pd.Categorical.from_codes(column.astype(int), dtype=dtype)
        elif c in codes:
            columns[c] = codes[c][column.astype(int)].astype(dtype)
        else:
            columns[c] = column.astype(dtype)
    return pd.DataFrame(columns, copy=False)


def _shap() -> Any:
    with warnings.catch_warnings():  # shap's colour maps use a matplotlib API marked for removal
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import shap
    return shap


def tree_parts(model: Any) -> tuple[Any, Any] | None:
    """(tree estimator, the transformers before it or None), if TreeExplainer applies."""
    from sklearn import ensemble, tree

    trees = (  # tree.ExtraTreeClassifier is a DecisionTreeClassifier
        ensemble.GradientBoostingClassifier,
        ensemble.HistGradientBoostingClassifier,
        ensemble.RandomForestClassifier,
        ensemble.ExtraTreesClassifier,
        tree.DecisionTreeClassifier,
    )
    steps = getattr(model, "steps", None)
    estimator = steps[-1][1] if steps else model
    prefix = model[:-1] if steps and len(steps) > 1 else None
    return (estimator, prefix) if isinstance(estimator, trees) else None


def _tree_input(prefix: Any, frame: Any) -> tuple[Any, list[str]]:
    """The matrix the trees see, and its column names."""
    import numpy as np

    if prefix is None:
        return frame.to_numpy(dtype=float, na_value=np.nan), [str(c) for c in frame.columns]
    data = prefix.transform(frame)
    data = data.toarray() if hasattr(data, "toarray") else np.asarray(data, dtype=float)
    try:
        names = [str(n) for n in prefix.get_feature_names_out()]
    except (AttributeError, ValueError):  # a step that cannot name its outputs
        names = [f"x{j}" for j in range(data.shape[1])]
    return np.asarray(data, dtype=float), names


def sample_rows(rng: Any, n: int, limit: int) -> Any:
    """Sorted positions of a seeded sample of ``limit`` of ``n`` rows; ``None``: take them all."""
    import numpy as np

    return None if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


def is_numeric(column: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column.dtype)) and column.dtype != bool
