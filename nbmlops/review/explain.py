"""SHAP explanations of a fitted binary classifier: what drives the model, overall and per patient.

:func:`explain` computes, once, SHAP values of the positive class for (a seeded sample of) the
model's inputs and keeps what a clinical reviewer looks at: the global importance of each feature
(mean |SHAP|), and the explanations of a bounded sample of patients. Which explainer ran, and in
which output space its values add up (``"log-odds"`` for gradient boosting, ``"probability"`` for
random forests, single trees and the model-agnostic explainer), are part of the result.

Privacy: patients are numbered by their position in the sample (0..n-1), never by the index labels
of ``X`` (which could be MRNs). Their feature values are not kept: each value becomes its
percentile rank (0-100) among the explained rows. Only ``show_values=True`` keeps exact values,
and then they are row-level data in the JSON and HTML. SHAP values, model outputs and percentile
ranks are row-level derived values, kept for ``n_patients`` patients at most.

The explainers themselves are :mod:`nbmlops.review.explain_shap`; the result and its JSON form
:mod:`nbmlops.review.explain_result`; how it looks :mod:`nbmlops.review.explain_view`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from nbmlops.errors import InvalidInputError
from nbmlops.review.explain_result import ExplainResult, PatientExplanations
from nbmlops.review.explain_shap import (
    PERMUTATIONS,
    is_numeric,
    permutation_shap,
    sample_rows,
    tree_parts,
    tree_shap,
)

__all__ = ["ALGORITHMS", "PERMUTATIONS", "ExplainResult", "PatientExplanations", "explain"]

ALGORITHMS = ("auto", "tree", "permutation")
"""``"tree"``: shap's TreeExplainer; ``"permutation"``: model-agnostic; ``"auto"``: tree if it
applies."""

_DECIMALS = 4


def explain(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    background: Any = None,
    max_rows: int = 2000,
    max_background: int = 100,
    n_patients: int = 500,
    seed: int = 0,
    algorithm: str = "auto",
    show_values: bool = False,
) -> ExplainResult:
    """Explain a fitted binary classifier's positive class with SHAP values.

    Parameters
    ----------
    model : scikit-learn classifier or Pipeline
        Fitted, with ``predict_proba`` and two classes; the second of ``classes_`` is explained.
    X : DataFrame or 2-D array
        Model inputs. Its index is never read: patients are numbered by position in the sample.
    feature_names : sequence of str, optional
        Column names for an array ``X``; with a DataFrame they must equal its columns.
    background : DataFrame or array, optional
        Rows that stand in for "feature unknown": the permutation explainer draws
        ``max_background`` of them (default: from ``X``). Given with a tree model, TreeExplainer
        runs "interventional" against them instead of following the trees' own cover.
    max_rows : int
        At most this many rows of ``X`` (a seeded sample) are explained.
    max_background : int
        Background rows, sampled with ``seed`` when more are given.
    n_patients : int
        Explained rows kept as per-patient explanations (a seeded sample).
    seed : int
        Seed of every sample and of the permutation explainer.
    algorithm : {"auto", "tree", "permutation"}
        ``"auto"`` uses shap's TreeExplainer for scikit-learn tree models (gradient boosting,
        histogram gradient boosting, random forest, extra trees, decision tree), and for a
        Pipeline of transformers ending in one: there it explains the transformed features the
        trees see (exact and fast, named by ``get_feature_names_out``). Anything else gets the
        model-agnostic permutation explainer on the predicted probability, over the raw inputs
        (categorical columns are permuted as whole values). That one calls the model
        ``PERMUTATIONS`` times per explained row, on ``(2 * n_features + 1) * max_background``
        rows each time (5-40 ms a row for small scikit-learn models): keep ``max_rows`` modest.
    show_values : bool
        Keep patients' exact values of the explained features (for a tree Pipeline, the
        transformed ones). They are row-level data and then appear in the JSON, the HTML and
        anything logged; by default only percentile ranks are kept.

    Returns
    -------
    ExplainResult

    Raises
    ------
    InvalidInputError
        The model is not a fitted binary classifier, ``algorithm="tree"`` is asked of a model
        TreeExplainer does not support, or an argument is out of range; ``argument`` names it.

    Examples
    --------
    >>> result = explain(model, frame[features], n_patients=200)  # doctest: +SKIP
    >>> list(result.importance)[:3]  # doctest: +SKIP
    ['prior_pdc', 'refill_gap_days', 'monthly_copay']
    """
    import numpy as np

    _check_settings(
        algorithm,
        show_values,
        max_rows=max_rows,
        max_background=max_background,
        n_patients=n_patients,
        seed=seed,
    )
    frame = _frame(X, feature_names)
    classes = getattr(model, "classes_", None)
    if not hasattr(model, "predict_proba") or classes is None or len(classes) != 2:
        raise InvalidInputError(
            "model must be a fitted binary classifier with predict_proba", argument="model"
        )
    tree = tree_parts(model)
    if algorithm == "tree" and tree is None:
        raise InvalidInputError(
            f"algorithm='tree' needs a scikit-learn tree model (or a Pipeline ending in one), "
            f"not {_describe(model)}; use algorithm='permutation' or 'auto'",
            argument="algorithm",
        )
    rng = np.random.default_rng(seed)
    rows = sample_rows(rng, len(frame), max_rows)
    explained = frame.iloc[rows] if rows is not None else frame
    columns = list(frame.columns)
    bg_frame = None if background is None else _frame(background, columns, argument="background")
    tree = None if algorithm == "permutation" else tree
    if tree is not None:
        run = tree_shap(tree, explained, bg_frame, max_background, rng)
    else:
        bg_source = frame if bg_frame is None else bg_frame
        run = permutation_shap(
            model, explained, bg_source, max_background=max_background, rng=rng, seed=seed
        )
    values, base, names, shown, space, perturbation, n_bg = run
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    pick = sample_rows(rng, len(explained), n_patients)
    pick = np.arange(len(explained)) if pick is None else pick
    output = base + values[pick].sum(axis=1)  # the model's output: SHAP values are additive
    if space == "log-odds":
        probability = 1.0 / (1.0 + np.exp(-output))
    elif space == "probability":
        probability = output
    else:
        probability = model.predict_proba(_model_input(model, explained.iloc[pick]))[:, 1]
    return ExplainResult(
        explainer="PermutationExplainer" if tree is None else "TreeExplainer",
        algorithm="permutation" if tree is None else "tree",
        output_space=space,
        feature_perturbation=perturbation,
        model=_describe(model),
        positive_class=str(classes[1]),
        base_value=float(base),
        feature_names=tuple(names),
        importance=MappingProxyType({names[j]: float(importance[j]) for j in order}),
        n_rows=len(frame),
        n_explained=len(explained),
        n_background=n_bg,
        seed=seed,
        show_values=show_values,
        patients=PatientExplanations(
            shap_values=tuple(map(tuple, np.round(values[pick], _DECIMALS).tolist())),
            output=tuple(np.round(output, _DECIMALS).tolist()),
            probability=tuple(np.round(probability, _DECIMALS).tolist()),
            percentile=_percentiles(shown, pick),
            values=_exact_values(shown, pick) if show_values else None,
        ),
    )


def _frame(X: Any, feature_names: Sequence[str] | None, *, argument: str = "X") -> Any:
    """``X`` (or, with ``argument="background"``, the background rows) as a checked frame."""
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

    names = "feature_names" if argument == "X" else argument
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and [str(c) for c in X.columns] != list(feature_names):
            raise InvalidInputError(
                "feature_names must equal the columns of X (a DataFrame)", argument=names
            )
        frame = X.reset_index(drop=True)
    else:
        try:
            frame = pd.DataFrame(X, columns=None if feature_names is None else list(feature_names))
        except ValueError as exc:
            raise InvalidInputError(
                f"X must be 2-D and match feature_names: {exc}", argument=argument
            ) from None
        if feature_names is None:
            frame.columns = [f"x{j}" for j in range(frame.shape[1])]
    if frame.ndim != 2 or len(frame) == 0 or frame.shape[1] == 0:
        raise InvalidInputError(
            "X must be a non-empty 2-D table of model inputs", argument=argument
        )
    if len(set(map(str, frame.columns))) != frame.shape[1]:
        raise InvalidInputError(
            "X (or feature_names) has duplicate column names", argument=argument
        )
    return frame


def _model_input(model: Any, frame: Any) -> Any:
    return frame if hasattr(model, "feature_names_in_") else frame.to_numpy()


def _check_settings(algorithm: str, show: bool, **counts: int) -> None:
    for name, value in counts.items():
        low = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(
                f"{name} must be an integer >= {low}, not {value!r}", argument=name
            )
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}", argument="algorithm"
        )
    if not isinstance(show, bool):
        raise InvalidInputError(
            f"show_values must be True or False, not {show!r}", argument="show_values"
        )


def _percentiles(shown: Any, pick: Any) -> tuple[tuple[int | None, ...], ...]:
    """Mid-rank percentile of each picked value among all explained rows (ties share a rank)."""
    import numpy as np

    ranks = np.full((len(pick), shown.shape[1]), -1, dtype=np.int64)
    for j, c in enumerate(shown.columns):
        full = shown[c].to_numpy(dtype=float, na_value=np.nan) if is_numeric(shown[c]) else None
        known = np.empty(0) if full is None else np.sort(full[~np.isnan(full)])
        if full is not None and known.size:
            mine = full[pick]
            below = np.searchsorted(known, mine, "left") + np.searchsorted(known, mine, "right")
            ranks[:, j] = np.where(np.isnan(mine), -1, np.rint(50.0 * below / known.size))
    return tuple(tuple(None if r < 0 else r for r in row) for row in ranks.tolist())


def _exact_values(shown: Any, pick: Any) -> tuple[tuple[float | str | None, ...], ...]:
    import pandas as pd

    rows = shown.iloc[pick]
    columns = [
        [None if pd.isna(v) else float(v) if is_numeric(rows[c]) else str(v) for v in rows[c]]
        for c in rows.columns
    ]
    return tuple(zip(*columns, strict=True))


def _describe(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return "Pipeline(" + " → ".join(type(s).__name__ for _, s in steps) + ")"
    return type(model).__name__
