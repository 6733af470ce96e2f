"""Fairness of a binary classifier across groups of patients, with small groups suppressed.

:func:`fairness` computes, once, what a reviewer needs to sign off a model: per-group selection
rate, true- and false-positive rate, precision and (given scores) AUROC, each with a seeded
percentile-bootstrap interval; the gap (max - min) and ratio (min / max) of every metric between
groups, fairlearn's equalized-odds and demographic-parity differences, and checks. A gap's interval
is that of the difference between the two groups that define it (see
:mod:`nbmlops.review.fairness_bootstrap`); with fewer than two groups reported a gap is not
assessable (NaN), and so is every check on it.

Groups with fewer than ``min_group_size`` rows are suppressed, the small-cell rule of health
statistics: their metrics and counts are not reported, and they take no part in gaps, ratios or
checks. Nothing row-level is kept: the result holds group labels, counts and aggregates only.
How a result looks (static HTML, the widget) is :mod:`nbmlops.review.fairness_view`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from nbmlops.errors import InvalidInputError
from nbmlops.review.fairness_bootstrap import LABEL_METRICS
from nbmlops.review.fairness_bootstrap import bootstrap as _bootstrap
from nbmlops.review.fairness_bootstrap import intervals as _intervals
from nbmlops.review.fairness_bootstrap import pair_interval as _pair_interval
from nbmlops.review.fairness_result import METRICS, Check, FairnessResult, GroupTable, Pair

__all__ = ["DEFAULT_CHECKS", "LABEL_METRICS", "Check", "FairnessResult", "GroupTable", "fairness"]

DEFAULT_CHECKS: Mapping[str, float] = MappingProxyType(
    {"equalized_odds_difference": 0.1, "demographic_parity_difference": 0.1}
)
"""Checks run when none are named: each value must be at most its limit."""

_MISSING = "(missing)"

FloatArray = Any  # numpy arrays; kept loose because pandas and fairlearn have no stubs here
Grouping = tuple[tuple[str, ...], FloatArray, list[tuple[str, ...]]]
"""Features grouped by, each row's group number, and the group labels in sorted order."""


def fairness(
    *,
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    threshold: float = 0.5,
    sensitive_features: Any,
    min_group_size: int = 30,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    checks: Mapping[str, float] = DEFAULT_CHECKS,
) -> FairnessResult:
    """Compute group fairness metrics, bootstrap intervals and checks for a binary classifier.

    Point estimates are fairlearn's ``MetricFrame`` (one per grouping: the intersection and each
    feature alone); the equalized-odds and demographic-parity differences are fairlearn's
    definitions (the largest between-group difference of TPR and FPR; of selection rate) over the
    intersection's reported groups, taken from that same frame rather than computed again.

    Parameters
    ----------
    y_true : array-like of 0/1
        Recorded outcomes.
    y_pred, y_score : array-like, optional
        Predicted labels (0/1) and/or scores. At least one is needed; with only scores the labels
        are ``y_score >= threshold``. AUROC is reported only when scores are given.
    threshold : float
        Cut-off applied to ``y_score`` when ``y_pred`` is not given.
    sensitive_features : DataFrame, Series or mapping of name to array-like
        Group membership; several columns are intersected, as fairlearn does, and each is also
        reported alone. Values are shown as text; missing values form their own group,
        ``"(missing)"``.
    min_group_size : int
        Groups with fewer rows are suppressed (not shown, not compared).
    n_bootstrap : int
        Bootstrap replicates for the intervals; 0 skips them (intervals are NaN).
    ci : float
        Coverage of the percentile intervals, between 0 and 1.
    seed : int
        Seed of the bootstrap: the same seed gives the same intervals.
    checks : mapping of check name to limit
        ``equalized_odds_difference``, ``demographic_parity_difference`` or
        ``<metric>_difference`` must be at most their limit; ``<metric>_ratio`` at least.

    Returns
    -------
    FairnessResult

    Raises
    ------
    InvalidInputError
        If the inputs disagree in length, labels are not 0/1, or a setting or check is unknown or
        out of range; ``argument`` names the argument.

    Examples
    --------
    >>> result = fairness(y_true=[0, 1] * 40, y_pred=[0, 1, 1, 1] * 20,
    ...                   sensitive_features={"sex": ["F", "M"] * 40}, n_bootstrap=0)
    >>> result.by_group.values["selection_rate"]
    (0.75, 0.75)
    """
    import numpy as np

    truth, pred, scores = _arrays(y_true, y_pred, y_score, threshold)
    columns = _feature_columns(sensitive_features, len(truth))
    _settings(min_group_size, n_bootstrap, ci, seed)
    metrics = LABEL_METRICS + (("auroc",) if scores is not None else ())
    limits = _check_specs(checks, metrics)

    groupings = _groupings(columns, len(truth))  # "": the intersection, then each feature
    reps = _bootstrap(
        truth,
        pred,
        scores,
        groupings,
        min_group_size=min_group_size,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    frames = {key: _metric_frame(truth, pred, scores, g[1]) for key, g in groupings.items()}
    tables = {
        key: _table(frames[key].by_group, g, reps[key], min_group_size, ci)
        for key, g in groupings.items()
    }
    intersection = tables.pop("")
    gap = intersection.difference
    # fairlearn's equalized-odds difference: the larger of the two rate gaps (NaN-skipping)
    odds = max(("true_positive_rate", "false_positive_rate"), key=lambda m: np.nan_to_num(gap[m]))
    eod, dpd = (
        float(np.fmax(gap["true_positive_rate"], gap["false_positive_rate"])),
        gap["selection_rate"],
    )
    values = {
        "equalized_odds_difference": eod,
        "demographic_parity_difference": dpd,
        **{f"{m}_difference": intersection.difference[m] for m in metrics},
        **{f"{m}_ratio": intersection.ratio[m] for m in metrics},
    }
    return FairnessResult(
        n_rows=len(truth),
        threshold=float(threshold) if y_pred is None else None,
        min_group_size=min_group_size,
        n_bootstrap=n_bootstrap,
        ci=ci,
        seed=seed,
        overall=MappingProxyType({str(m): float(v) for m, v in frames[""].overall.items()}),
        by_group=intersection,
        by_feature=MappingProxyType(tables),
        equalized_odds_difference=eod,
        equalized_odds_difference_ci=intersection.difference_ci[odds],
        equalized_odds_between=intersection.difference_between[odds],
        demographic_parity_difference=dpd,
        demographic_parity_difference_ci=intersection.difference_ci["selection_rate"],
        checks=MappingProxyType(
            {
                name: Check(name=name, value=values[name], limit=limit, at_most=at_most)
                for name, (limit, at_most) in limits.items()
            }
        ),
    )


def _arrays(
    y_true: Any, y_pred: Any, y_score: Any, threshold: float
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    import numpy as np

    truth = _binary("y_true", y_true)
    scores = None
    if y_score is not None:
        scores = np.asarray(y_score, dtype=float).ravel()
        if not np.isfinite(scores).all():
            raise InvalidInputError(
                "y_score must be finite numbers; drop or impute missing scores", argument="y_score"
            )
    if y_pred is not None:
        pred = _binary("y_pred", y_pred)
    elif scores is not None:
        if not (isinstance(threshold, int | float) and math.isfinite(threshold)):
            raise InvalidInputError(
                f"threshold must be a finite number, not {threshold!r}", argument="threshold"
            )
        pred = (scores >= threshold).astype(np.int64)
    else:
        raise InvalidInputError("give y_pred or y_score (or both)", argument="y_pred")
    for name, arr in (("y_pred", pred), ("y_score", scores)):
        if arr is not None and len(arr) != len(truth):
            raise InvalidInputError(
                f"{name} has {len(arr)} values but y_true has {len(truth)}", argument=name
            )
    if len(truth) == 0:
        raise InvalidInputError("y_true is empty", argument="y_true")
    return truth, pred, scores


def _binary(name: str, values: Any) -> FloatArray:
    import numpy as np

    arr = np.asarray(values).ravel()
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.isin(arr, [0, 1]).all():
        raise InvalidInputError(f"{name} must hold only 0 and 1 (or booleans)", argument=name)
    return arr.astype(np.int64)


def _feature_columns(features: Any, n: int) -> dict[str, Any]:
    """The sensitive features as name -> 1-D values (not copied)."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

    if isinstance(features, pd.DataFrame):
        columns = {str(c): features.iloc[:, i] for i, c in enumerate(features.columns)}
        width = features.shape[1]
    elif isinstance(features, pd.Series):
        columns = {"sensitive_feature" if features.name is None else str(features.name): features}
        width = 1
    elif isinstance(features, Mapping):
        columns = {str(k): np.asarray(v).ravel() for k, v in features.items()}
        width = len(features)
    else:
        raise InvalidInputError(
            "sensitive_features must be a DataFrame, a Series or a mapping",
            argument="sensitive_features",
        )
    lengths = sorted({len(v) for v in columns.values()})
    if lengths != [n] or len(columns) != width or "" in columns:
        raise InvalidInputError(
            "sensitive_features must have at least one column, distinct non-empty names and "
            f"{n} rows (like y_true), not {width} columns of {lengths} rows",
            argument="sensitive_features",
        )
    return columns


def _settings(min_group_size: int, n_bootstrap: int, ci: float, seed: int) -> None:
    for name, value, low in (
        ("min_group_size", min_group_size, 1),
        ("n_bootstrap", n_bootstrap, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(
                f"{name} must be an integer of at least {low}, not {value!r}", argument=name
            )
    if not (isinstance(ci, int | float) and 0 < ci < 1):
        raise InvalidInputError(f"ci must be a number between 0 and 1, not {ci!r}", argument="ci")


def _check_specs(
    checks: Mapping[str, float], metrics: tuple[str, ...]
) -> dict[str, tuple[float, bool]]:
    known = {"equalized_odds_difference": True, "demographic_parity_difference": True}
    known |= {f"{m}_difference": True for m in metrics} | {f"{m}_ratio": False for m in metrics}
    specs = {}
    for name, limit in checks.items():
        if name not in known:
            raise InvalidInputError(
                f"unknown check {name!r}; choose from {sorted(known)}", argument="checks"
            )
        if not (isinstance(limit, int | float) and math.isfinite(limit)):
            raise InvalidInputError(
                f"the limit of check {name!r} must be a finite number", argument="checks"
            )
        specs[name] = (float(limit), known[name])
    return specs


def _groupings(columns: Mapping[str, Any], n: int) -> dict[str, Grouping]:
    """The intersection of all columns (key ``""``) and each column alone, coded once.

    Labels are the values as text (missing: ``"(missing)"``), and values that read alike are one
    group; codes follow the sorted labels, so the intersection's are in tuple order.
    """
    import numpy as np
    import pandas as pd

    alone: dict[str, Grouping] = {}
    for name, column in columns.items():
        values = column
        if pd.api.types.is_object_dtype(column):  # 2 and 2.0 are equal but read differently
            values = pd.Series(column).map(str, na_action="ignore")
        codes, uniques = pd.factorize(values)  # missing values are coded -1
        texts = [str(u) for u in uniques] + ([_MISSING] if (codes < 0).any() else [])
        ordered = sorted(set(texts))
        position = {text: i for i, text in enumerate(ordered)}
        remap = np.array([position[t] for t in texts], dtype=np.int64)
        codes = remap[np.where(codes < 0, len(texts) - 1, codes)]
        alone[name] = ((name,), codes, [(t,) for t in ordered])
    combined = np.zeros(n, dtype=np.int64)
    labels: list[tuple[str, ...]] = [()]
    for _, codes, names in alone.values():
        present, combined = np.unique(combined * len(names) + codes, return_inverse=True)
        labels = [labels[p // len(names)] + names[p % len(names)] for p in present.tolist()]
    return {"": (tuple(columns), combined.astype(np.int64), labels), **alone}


def _auroc(y_true: Any, y_pred: Any, y_score: Any) -> float:
    """AUROC of the scores (``y_pred`` is unused: scores come in as a fairlearn sample param)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        return math.nan
    return float(roc_auc_score(y_true, y_score))


def _metric_frame(truth: Any, pred: Any, scores: Any, group: Any) -> Any:
    """fairlearn's MetricFrame of every metric, over rows labelled by group number."""
    import pandas as pd
    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    metrics: dict[str, Any] = {
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "precision": functools.partial(precision_score, zero_division=0),
    }
    params = None
    if scores is not None:
        metrics["auroc"], params = _auroc, {"auroc": {"y_score": scores}}
    return MetricFrame(
        metrics=metrics,
        y_true=truth,
        y_pred=pred,
        sensitive_features=pd.Series(group, name="group"),
        sample_params=params,
    )


def _table(
    by_group: Any,
    grouping: Grouping,
    replicates: Mapping[str, FloatArray],
    min_group_size: int,
    ci: float,
) -> GroupTable:
    """Point estimates from fairlearn's ``by_group``, masked where suppressed, with intervals;
    each metric's gap between the highest and the lowest reported group, NaN with fewer than
    two."""
    import numpy as np

    features, group, labels = grouping
    sizes = np.bincount(group, minlength=len(labels))
    shown = sizes >= min_group_size
    point_of = by_group.reindex(range(len(labels)))
    metrics = tuple(m for m in METRICS if m in point_of.columns)
    values, low, high, diff, diff_ci, ratio = {}, {}, {}, {}, {}, {}
    between: dict[str, Pair | None] = {}
    for m in metrics:
        point = np.where(shown, point_of[m].to_numpy(dtype=float), math.nan)
        per_group = replicates[m]
        bounds = _intervals(per_group, ci) if per_group.size else np.full((2, len(labels)), np.nan)
        bounds[:, ~shown] = math.nan
        values[m], low[m], high[m] = (tuple(a.tolist()) for a in (point, *bounds))
        pair = _extremes(point)
        if pair is None:  # fewer than two groups reported: no gap to measure
            diff[m], ratio[m], diff_ci[m], between[m] = math.nan, math.nan, (math.nan,) * 2, None
            continue
        top, bottom = pair
        diff[m] = float(point[top] - point[bottom])
        ratio[m] = float(point[bottom] / point[top]) if point[top] > 0 else math.nan
        diff_ci[m] = _pair_interval(per_group, top, bottom, ci)
        between[m] = (labels[top], labels[bottom])
    return GroupTable(
        features=features,
        metrics=metrics,
        groups=tuple(labels),
        counts=tuple(int(s) if keep else None for s, keep in zip(sizes, shown, strict=True)),
        values=MappingProxyType(values),
        ci_low=MappingProxyType(low),
        ci_high=MappingProxyType(high),
        difference=MappingProxyType(diff),
        difference_ci=MappingProxyType(diff_ci),
        difference_between=MappingProxyType(between),
        ratio=MappingProxyType(ratio),
    )


def _extremes(point: FloatArray) -> tuple[int, int] | None:
    """Positions of the highest and the lowest value (NaN skipped; distinct positions when all
    are equal), or None with fewer than two values."""
    import numpy as np

    finite = np.flatnonzero(~np.isnan(point))
    if finite.size < 2:
        return None
    top = int(finite[np.argmax(point[finite])])
    bottom = int(finite[np.argmin(point[finite])])
    if top == bottom:  # all equal: any two groups define the gap of 0
        bottom = int(finite[-1] if finite[0] == top else finite[0])
    return top, bottom
