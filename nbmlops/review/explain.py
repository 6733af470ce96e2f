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
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

from nbmlops.review.rendering import ReviewResult, json_float

__all__ = ["ALGORITHMS", "PERMUTATIONS", "ExplainResult", "PatientExplanations", "explain"]

ALGORITHMS = ("auto", "tree", "permutation")
"""``"tree"``: shap's TreeExplainer; ``"permutation"``: model-agnostic; ``"auto"``: tree if it
applies."""

PERMUTATIONS = 10
"""Antithetic permutations per row of the permutation explainer:
``max_evals = PERMUTATIONS * (2 * n_features + 1)``."""

_SPACES = {"log_odds": "log-odds", "probability": "probability"}
_DECIMALS = 4


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
            raise ValueError(f"data has kind {data.get('kind')!r}, not {cls.kind!r}")
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
    ValueError
        The model is not a fitted binary classifier, ``algorithm="tree"`` is asked of a model
        TreeExplainer does not support, or an argument is out of range; the message names it.

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
        raise ValueError("model must be a fitted binary classifier with predict_proba")
    tree = _tree_parts(model)
    if algorithm == "tree" and tree is None:
        raise ValueError(
            f"algorithm='tree' needs a scikit-learn tree model (or a Pipeline ending in one), "
            f"not {_describe(model)}; use algorithm='permutation' or 'auto'"
        )
    rng = np.random.default_rng(seed)
    rows = _sample(rng, len(frame), max_rows)
    explained = frame.iloc[rows] if rows is not None else frame
    tree = None if algorithm == "permutation" else tree
    if tree is not None:
        run = _tree_shap(tree, explained, background, max_background, rng)
    else:
        bg_source = frame if background is None else _frame(background, list(frame.columns))
        run = _permutation_shap(
            model, explained, bg_source, max_background=max_background, rng=rng, seed=seed
        )
    values, base, names, shown, space, perturbation, n_bg = run
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    pick = _sample(rng, len(explained), n_patients)
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


# -- explainers ------------------------------------------------------------------------------

_Run = tuple[Any, float, list[str], Any, str, str, int | None]
"""SHAP values (rows x features), base value, feature names, the explained features as a frame,
output space, feature perturbation, background rows used."""


def _tree_shap(
    tree: tuple[Any, Any], explained: Any, background: Any, max_background: int, rng: Any
) -> _Run:
    import numpy as np
    import pandas as pd

    estimator, prefix = tree
    data, names = _tree_input(prefix, explained)
    shap = _shap()
    n_bg = None
    if background is None:
        explainer = shap.TreeExplainer(estimator)
    else:
        bg, _ = _tree_input(prefix, _frame(background, list(explained.columns)))
        bg_rows = _sample(rng, len(bg), max_background)
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


def _permutation_shap(
    model: Any, explained: Any, bg_source: Any, *, max_background: int, rng: Any, seed: int
) -> _Run:
    import numpy as np

    names = [str(c) for c in explained.columns]
    codes = _codes(explained, bg_source)
    bg_rows = _sample(rng, len(bg_source), max_background)
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
        elif not _numeric(frames[0][c]):
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


# -- inputs ----------------------------------------------------------------------------------


def _shap() -> Any:
    with warnings.catch_warnings():  # shap's colour maps use a matplotlib API marked for removal
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import shap
    return shap


def _tree_parts(model: Any) -> tuple[Any, Any] | None:
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


def _frame(X: Any, feature_names: Sequence[str] | None) -> Any:
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if feature_names is not None and [str(c) for c in X.columns] != list(feature_names):
            raise ValueError("feature_names must equal the columns of X (a DataFrame)")
        frame = X.reset_index(drop=True)
    else:
        try:
            frame = pd.DataFrame(X, columns=None if feature_names is None else list(feature_names))
        except ValueError as exc:
            raise ValueError(f"X must be 2-D and match feature_names: {exc}") from None
        if feature_names is None:
            frame.columns = [f"x{j}" for j in range(frame.shape[1])]
    if frame.ndim != 2 or len(frame) == 0 or frame.shape[1] == 0:
        raise ValueError("X must be a non-empty 2-D table of model inputs")
    if len(set(map(str, frame.columns))) != frame.shape[1]:
        raise ValueError("X (or feature_names) has duplicate column names")
    return frame


def _model_input(model: Any, frame: Any) -> Any:
    return frame if hasattr(model, "feature_names_in_") else frame.to_numpy()


def _check_settings(algorithm: str, show: bool, **counts: int) -> None:
    for name, value in counts.items():
        low = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    if not isinstance(show, bool):
        raise ValueError(f"show_values must be True or False, not {show!r}")


def _sample(rng: Any, n: int, limit: int) -> Any:
    """Sorted positions of a seeded sample of ``limit`` of ``n`` rows; ``None``: take them all."""
    import numpy as np

    return None if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


def _numeric(column: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column.dtype)) and column.dtype != bool


def _percentiles(shown: Any, pick: Any) -> tuple[tuple[int | None, ...], ...]:
    """Mid-rank percentile of each picked value among all explained rows (ties share a rank)."""
    import numpy as np

    ranks = np.full((len(pick), shown.shape[1]), -1, dtype=np.int64)
    for j, c in enumerate(shown.columns):
        full = shown[c].to_numpy(dtype=float, na_value=np.nan) if _numeric(shown[c]) else None
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
        [None if pd.isna(v) else float(v) if _numeric(rows[c]) else str(v) for v in rows[c]]
        for c in rows.columns
    ]
    return tuple(zip(*columns, strict=True))


def _describe(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return "Pipeline(" + " → ".join(type(s).__name__ for _, s in steps) + ")"
    return type(model).__name__


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
