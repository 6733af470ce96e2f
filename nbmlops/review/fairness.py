"""Fairness of a binary classifier across groups of patients, with small groups suppressed.

:func:`fairness` computes, once, what a reviewer needs to sign off a model: per-group selection
rate, true- and false-positive rate, precision and (given scores) AUROC, each with a seeded
percentile-bootstrap interval; the gap (max - min) and ratio (min / max) of every metric between
groups, fairlearn's equalized-odds and demographic-parity differences, and pass/fail checks.

Groups with fewer than ``min_group_size`` rows are suppressed, the small-cell rule of health
statistics: their metrics and counts are not reported, and they take no part in gaps, ratios or
checks. Nothing row-level is kept: the result holds group labels, counts and aggregates only.
"""

from __future__ import annotations

import functools
import html
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_CHECKS", "LABEL_METRICS", "Check", "FairnessResult", "GroupTable", "fairness"]

LABEL_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
"""Metrics of the predicted labels, in table order; ``auroc`` follows when scores are given."""

DEFAULT_CHECKS: Mapping[str, float] = MappingProxyType(
    {"equalized_odds_difference": 0.1, "demographic_parity_difference": 0.1}
)
"""Checks run when none are named: each value must be at most its limit."""

_MISSING = "(missing)"
_BOOTSTRAP_CELLS = 4_000_000  # replicates x rows held at once: bounds memory at ~32 MB a chunk

FloatArray = Any  # numpy arrays; kept loose because pandas and fairlearn have no stubs here


@dataclass(frozen=True, kw_only=True)
class Check:
    """One threshold check: ``value`` must be at most (``_difference``) or at least
    (``_ratio``) ``limit``. A value that cannot be computed (NaN) fails."""

    name: str
    value: float
    limit: float
    at_most: bool

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "limit": self.limit,
            "rule": "at_most" if self.at_most else "at_least",
            "passed": self.passed,
        }


@dataclass(frozen=True, kw_only=True)
class GroupTable:
    """Per-group metrics for one grouping (one feature, or the intersection of several).

    ``values``, ``ci_low`` and ``ci_high`` hold one float per group, NaN where suppressed;
    ``counts`` is ``None`` for a suppressed group (its size is withheld too).
    """

    features: tuple[str, ...]
    metrics: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    counts: tuple[int | None, ...]
    values: Mapping[str, tuple[float, ...]]
    ci_low: Mapping[str, tuple[float, ...]]
    ci_high: Mapping[str, tuple[float, ...]]
    difference: Mapping[str, float]
    difference_ci: Mapping[str, tuple[float, float]]
    ratio: Mapping[str, float]

    @property
    def suppressed(self) -> tuple[tuple[str, ...], ...]:
        """Labels of the groups too small to report."""
        return tuple(g for g, c in zip(self.groups, self.counts, strict=True) if c is None)

    def to_frame(self) -> Any:
        """A ``pandas.DataFrame``: one row per group; ``n``, ``suppressed``, each metric and its
        ``_ci_low`` / ``_ci_high``."""
        import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

        columns: dict[str, Any] = {
            "n": pd.array(self.counts, dtype="Int64"),
            "suppressed": [c is None for c in self.counts],
        }
        for m in self.metrics:
            columns[m] = self.values[m]
            columns[f"{m}_ci_low"] = self.ci_low[m]
            columns[f"{m}_ci_high"] = self.ci_high[m]
        index = pd.MultiIndex.from_tuples(self.groups, names=self.features)
        return pd.DataFrame(columns, index=index)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for i, (label, n) in enumerate(zip(self.groups, self.counts, strict=True)):
            row: dict[str, Any] = {"group": dict(zip(self.features, label, strict=True))}
            row["n"], row["suppressed"] = n, n is None
            if n is not None:
                row["metrics"] = {
                    m: {
                        "value": _json_float(self.values[m][i]),
                        "ci": [_json_float(self.ci_low[m][i]), _json_float(self.ci_high[m][i])],
                    }
                    for m in self.metrics
                }
            rows.append(row)
        return {
            "features": list(self.features),
            "groups": rows,
            "suppressed": [list(g) for g in self.suppressed],
            "difference": {
                m: {"value": _json_float(v), "ci": [_json_float(x) for x in self.difference_ci[m]]}
                for m, v in self.difference.items()
            },
            "ratio": {m: _json_float(v) for m, v in self.ratio.items()},
        }


@dataclass(frozen=True, kw_only=True)
class FairnessResult:
    """What :func:`fairness` found. ``by_group`` is over the intersection of all the sensitive
    features (fairlearn's grouping); ``by_feature`` has one table per feature."""

    n_rows: int
    threshold: float | None
    min_group_size: int
    n_bootstrap: int
    ci: float
    seed: int
    overall: Mapping[str, float]
    by_group: GroupTable
    by_feature: Mapping[str, GroupTable]
    equalized_odds_difference: float
    equalized_odds_difference_ci: tuple[float, float]
    demographic_parity_difference: float
    demographic_parity_difference_ci: tuple[float, float]
    checks: Mapping[str, Check]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks.values())

    def to_frame(self) -> Any:
        """The intersection table as a ``pandas.DataFrame`` (see :meth:`GroupTable.to_frame`)."""
        return self.by_group.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (NaN becomes ``None``): settings, aggregates, labels, counts."""
        return {
            "n_rows": self.n_rows,
            "threshold": self.threshold,
            "min_group_size": self.min_group_size,
            "n_bootstrap": self.n_bootstrap,
            "ci": self.ci,
            "seed": self.seed,
            "overall": {m: _json_float(v) for m, v in self.overall.items()},
            "by_group": self.by_group.to_dict(),
            "by_feature": {f: t.to_dict() for f, t in self.by_feature.items()},
            "equalized_odds_difference": {
                "value": _json_float(self.equalized_odds_difference),
                "ci": [_json_float(x) for x in self.equalized_odds_difference_ci],
            },
            "demographic_parity_difference": {
                "value": _json_float(self.demographic_parity_difference),
                "ci": [_json_float(x) for x in self.demographic_parity_difference_ci],
            },
            "checks": {n: c.to_dict() for n, c in self.checks.items()},
            "passed": self.passed,
        }

    def to_html(self) -> str:
        """Static HTML (no script, no external resources, labels escaped) for notebooks and
        nbconvert: per-group metrics with intervals, suppressed groups, gaps and checks."""
        return _render_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()


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
        reported alone. Missing values form their own group, ``"(missing)"``.
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
    ValueError
        If the inputs disagree in length, labels are not 0/1, or a setting or check is unknown or
        out of range; the message names the argument.

    Examples
    --------
    >>> result = fairness(y_true=[0, 1] * 40, y_pred=[0, 1, 1, 1] * 20,
    ...                   sensitive_features={"sex": ["F", "M"] * 40}, n_bootstrap=0)
    >>> result.by_group.values["selection_rate"]
    (0.75, 0.75)
    """
    import numpy as np

    truth, pred, scores = _arrays(y_true, y_pred, y_score, threshold)
    frame = _feature_frame(sensitive_features, len(truth))
    _settings(min_group_size, n_bootstrap, ci, seed)
    metrics = LABEL_METRICS + (("auroc",) if scores is not None else ())
    limits = _check_specs(checks, metrics)

    tables = {"": list(frame.columns)} | {c: [c] for c in frame.columns}
    codes = {k: _group_codes(frame, cols) for k, cols in tables.items()}
    replicates = _bootstrap(
        truth=truth,
        pred=pred,
        scores=scores,
        codes=codes,
        min_group_size=min_group_size,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    built = {
        key: _table(
            frame=frame,
            columns=cols,
            truth=truth,
            pred=pred,
            scores=scores,
            codes=codes[key],
            replicates=replicates[key],
            min_group_size=min_group_size,
            ci=ci,
        )
        for key, cols in tables.items()
    }
    intersection = built.pop("")

    kept = np.isin(codes[""][0], [i for i, n in enumerate(intersection.counts) if n is not None])
    eod, dpd = _fairlearn_gaps(truth[kept], pred[kept], frame[kept])
    eod_reps = np.fmax(
        replicates[""]["true_positive_rate"][1], replicates[""]["false_positive_rate"][1]
    )
    dpd_reps = replicates[""]["selection_rate"][1]
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
        overall=MappingProxyType(_overall(truth, pred, scores, frame)),
        by_group=intersection,
        by_feature=MappingProxyType(built),
        equalized_odds_difference=eod,
        equalized_odds_difference_ci=_interval(eod_reps, ci),
        demographic_parity_difference=dpd,
        demographic_parity_difference_ci=_interval(dpd_reps, ci),
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
            raise ValueError("y_score must be finite numbers; drop or impute missing scores")
    if y_pred is not None:
        pred = _binary("y_pred", y_pred)
    elif scores is not None:
        if not (isinstance(threshold, int | float) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number, not {threshold!r}")
        pred = (scores >= threshold).astype(np.int64)
    else:
        raise ValueError("give y_pred or y_score (or both)")
    for name, arr in (("y_pred", pred), ("y_score", scores)):
        if arr is not None and len(arr) != len(truth):
            raise ValueError(f"{name} has {len(arr)} values but y_true has {len(truth)}")
    if len(truth) == 0:
        raise ValueError("y_true is empty")
    return truth, pred, scores


def _binary(name: str, values: Any) -> FloatArray:
    import numpy as np

    arr = np.asarray(values).ravel()
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.isin(arr, [0, 1]).all():
        raise ValueError(f"{name} must hold only 0 and 1 (or booleans)")
    return arr.astype(np.int64)


def _feature_frame(features: Any, n: int) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(features, pd.DataFrame):
        frame = features.copy()
    elif isinstance(features, pd.Series):
        name = "sensitive_feature" if features.name is None else features.name
        frame = features.to_frame(name=name)
    elif isinstance(features, Mapping):
        frame = pd.DataFrame({str(k): np.asarray(v).ravel() for k, v in features.items()})
    else:
        raise ValueError("sensitive_features must be a DataFrame, a Series or a mapping")
    if frame.shape[1] == 0 or len(frame) != n:
        raise ValueError(
            f"sensitive_features must have at least one column and {n} rows (like y_true), "
            f"not {frame.shape[1]} columns and {len(frame)} rows"
        )
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    for c in frame.columns:  # plain string labels: JSON-able and the same in every table
        col = frame[c].astype(object)
        frame[c] = col.where(col.notna(), _MISSING).astype(str)
    return frame


def _settings(min_group_size: int, n_bootstrap: int, ci: float, seed: int) -> None:
    for name, value, low in (
        ("min_group_size", min_group_size, 1),
        ("n_bootstrap", n_bootstrap, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer of at least {low}, not {value!r}")
    if not (isinstance(ci, int | float) and 0 < ci < 1):
        raise ValueError(f"ci must be a number between 0 and 1, not {ci!r}")


def _check_specs(
    checks: Mapping[str, float], metrics: tuple[str, ...]
) -> dict[str, tuple[float, bool]]:
    known = {"equalized_odds_difference": True, "demographic_parity_difference": True}
    known |= {f"{m}_difference": True for m in metrics} | {f"{m}_ratio": False for m in metrics}
    specs = {}
    for name, limit in checks.items():
        if name not in known:
            raise ValueError(f"unknown check {name!r}; choose from {sorted(known)}")
        if not (isinstance(limit, int | float) and math.isfinite(limit)):
            raise ValueError(f"the limit of check {name!r} must be a finite number")
        specs[name] = (float(limit), known[name])
    return specs


def _group_codes(frame: Any, columns: list[str]) -> tuple[FloatArray, list[tuple[str, ...]]]:
    """Each row's group number and the sorted group labels (the order fairlearn uses)."""
    import numpy as np

    grouped = frame.groupby(columns, sort=True)
    labels = [k if isinstance(k, tuple) else (k,) for k in grouped.groups]
    return np.asarray(grouped.ngroup(), dtype=np.int64), sorted(labels)


def _auroc(y_true: Any, y_score: Any) -> float:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        return math.nan
    return float(roc_auc_score(y_true, y_score))


def _metric_frames(truth: Any, pred: Any, scores: Any, features: Any) -> list[Any]:
    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    label_metrics = {
        "count": count,
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "precision": functools.partial(precision_score, zero_division=0),
    }
    frames = [
        MetricFrame(metrics=label_metrics, y_true=truth, y_pred=pred, sensitive_features=features)
    ]
    if scores is not None:
        frames.append(
            MetricFrame(
                metrics={"auroc": _auroc}, y_true=truth, y_pred=scores, sensitive_features=features
            )
        )
    return frames


def _overall(truth: Any, pred: Any, scores: Any, frame: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for mf in _metric_frames(truth, pred, scores, frame):
        out |= {str(k): float(v) for k, v in mf.overall.items()}
    return out


def _table(
    *,
    frame: Any,
    columns: list[str],
    truth: Any,
    pred: Any,
    scores: Any,
    codes: tuple[FloatArray, list[tuple[str, ...]]],
    replicates: Mapping[str, tuple[FloatArray, FloatArray]],
    min_group_size: int,
    ci: float,
) -> GroupTable:
    """Point estimates from fairlearn's MetricFrame, masked where suppressed, with intervals."""
    import numpy as np

    labels = codes[1]
    by_group = [mf.by_group for mf in _metric_frames(truth, pred, scores, frame[columns])]
    merged = by_group[0].join(by_group[1]) if len(by_group) > 1 else by_group[0]
    rows = [merged.loc[lab if len(columns) > 1 else lab[0]] for lab in labels]
    shown = [int(r["count"]) >= min_group_size for r in rows]
    counts = tuple(int(r["count"]) if keep else None for r, keep in zip(rows, shown, strict=True))
    metrics = tuple(m for m in (*LABEL_METRICS, "auroc") if m in merged.columns)
    values, low, high, diff, diff_ci, ratio = {}, {}, {}, {}, {}, {}
    for m in metrics:
        point = np.array(
            [float(r[m]) if keep else math.nan for r, keep in zip(rows, shown, strict=True)]
        )
        per_group, gaps = replicates[m]
        bounds = (
            _intervals(per_group, ci) if per_group.size else np.full((2, len(labels)), math.nan)
        )
        values[m] = tuple(float(v) for v in point)
        low[m] = tuple(
            float(v) if keep else math.nan for v, keep in zip(bounds[0], shown, strict=True)
        )
        high[m] = tuple(
            float(v) if keep else math.nan for v, keep in zip(bounds[1], shown, strict=True)
        )
        finite = point[~np.isnan(point)]
        diff[m] = float(finite.max() - finite.min()) if finite.size else math.nan
        ratio[m] = (
            float(finite.min() / finite.max()) if finite.size and finite.max() > 0 else math.nan
        )
        diff_ci[m] = _interval(gaps, ci)
    return GroupTable(
        features=tuple(columns),
        metrics=metrics,
        groups=tuple(labels),
        counts=counts,
        values=MappingProxyType(values),
        ci_low=MappingProxyType(low),
        ci_high=MappingProxyType(high),
        difference=MappingProxyType(diff),
        difference_ci=MappingProxyType(diff_ci),
        ratio=MappingProxyType(ratio),
    )


def _fairlearn_gaps(truth: Any, pred: Any, features: Any) -> tuple[float, float]:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    if len(truth) == 0:
        return math.nan, math.nan
    return (
        float(equalized_odds_difference(truth, pred, sensitive_features=features)),
        float(demographic_parity_difference(truth, pred, sensitive_features=features)),
    )


def _bootstrap(
    *,
    truth: Any,
    pred: Any,
    scores: Any,
    codes: Mapping[str, tuple[FloatArray, list[tuple[str, ...]]]],
    min_group_size: int,
    n_bootstrap: int,
    seed: int,
) -> dict[str, dict[str, tuple[FloatArray, FloatArray]]]:
    """Per table and metric: (replicates x groups) values and the replicates' max - min gap.

    All tables share the same resamples. A resample is a row of weights (how often each row was
    drawn), so confusion counts are weighted sums and AUROC a weighted Mann-Whitney statistic.
    """
    import numpy as np

    n = len(truth)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    rng = np.random.default_rng(seed)
    parts: dict[str, dict[str, list[FloatArray]]] = {k: {} for k in codes}
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        draws = rng.integers(0, n, (size, n)) + (np.arange(size) * n)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        for key, (group, labels) in codes.items():
            sizes = np.bincount(group, minlength=len(labels))
            stats = _replicate_metrics(
                truth=truth,
                pred=pred,
                scores=scores,
                group=group,
                shown=sizes >= min_group_size,
                weights=weights,
            )
            for m, v in stats.items():
                parts[key].setdefault(m, []).append(v)
    metrics = (*LABEL_METRICS, *(("auroc",) if scores is not None else ()))
    out: dict[str, dict[str, tuple[FloatArray, FloatArray]]] = {}
    for key in codes:
        out[key] = {}
        for m in metrics:
            reps = np.concatenate(parts[key][m]) if parts[key] else np.empty((0, 0))
            out[key][m] = (reps, _spread(reps))
    return out


def _replicate_metrics(
    *, truth: Any, pred: Any, scores: Any, group: Any, shown: Any, weights: Any
) -> dict[str, FloatArray]:
    import numpy as np

    n_groups = len(shown)
    cell = group * 4 + truth * 2 + pred  # cells per group: TN, FP, FN, TP
    order = np.argsort(cell, kind="stable")
    present, starts = np.unique(cell[order], return_index=True)
    counts = np.zeros((weights.shape[0], n_groups * 4))
    counts[:, present] = np.add.reduceat(weights[:, order], starts, axis=1)
    tn, fp, fn, tp = np.moveaxis(counts.reshape(-1, n_groups, 4), 2, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "selection_rate": (fp + tp) / (tn + fp + fn + tp),
            "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn),
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
        }
    if scores is not None:
        auc = np.full((weights.shape[0], n_groups), math.nan)
        for g in np.flatnonzero(shown):
            rows = group == g
            auc[:, g] = _weighted_auroc(scores[rows], truth[rows], weights[:, rows])
        out["auroc"] = auc
    for v in out.values():
        v[:, ~shown] = math.nan
    return out


def _weighted_auroc(scores: Any, truth: Any, weights: Any) -> FloatArray:
    """AUROC of each row of ``weights``: P(score of a positive > a negative's), ties count half."""
    import numpy as np

    order = np.argsort(scores, kind="stable")
    scores, truth, weights = scores[order], truth[order], weights[:, order]
    _, first, size = np.unique(scores, return_index=True, return_counts=True)
    block_start = np.repeat(first, size)
    block_end = block_start + np.repeat(size, size)
    neg, pos = weights * (truth == 0), weights * (truth == 1)
    below = np.concatenate([np.zeros((len(weights), 1)), np.cumsum(neg, axis=1)], axis=1)
    lower, tied = below[:, block_start], below[:, block_end] - below[:, block_start]
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (pos * (lower + 0.5 * tied)).sum(axis=1) / pairs, math.nan)


def _spread(reps: FloatArray) -> FloatArray:
    """Each replicate's max - min over the groups that have a value."""
    import numpy as np

    if reps.size == 0:
        return np.empty(0)
    with warnings.catch_warnings():  # all-NaN replicates (every group suppressed) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(reps, axis=1) - np.nanmin(reps, axis=1)


def _intervals(reps: FloatArray, ci: float) -> FloatArray:
    import numpy as np

    tail = (1 - ci) / 2
    with warnings.catch_warnings():  # a column of NaN (suppressed group) gives a NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(reps, [tail, 1 - tail], axis=0)


def _interval(reps: FloatArray, ci: float) -> tuple[float, float]:
    if reps.size == 0:
        return math.nan, math.nan
    low, high = _intervals(reps[:, None], ci)[:, 0]
    return float(low), float(high)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _fmt(value: float) -> str:
    return "&ndash;" if math.isnan(value) else f"{value:.3f}"


def _render_table(table: GroupTable, min_group_size: int) -> list[str]:
    e = html.escape
    head = "".join(f"<th>{e(f)}</th>" for f in table.features) + "<th>n</th>"
    head += "".join(f"<th>{e(m.replace('_', ' '))}</th>" for m in table.metrics)
    out = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for i, (label, n) in enumerate(zip(table.groups, table.counts, strict=True)):
        cells = "".join(f"<td>{e(part)}</td>" for part in label)
        if n is None:
            span = len(table.metrics)
            cells += f"<td>&lt;&nbsp;{min_group_size}</td><td colspan='{span}'>suppressed</td>"
        else:
            cells += f"<td>{n}</td>" + "".join(
                f"<td>{_fmt(table.values[m][i])} <small>[{_fmt(table.ci_low[m][i])}, "
                f"{_fmt(table.ci_high[m][i])}]</small></td>"
                for m in table.metrics
            )
        out.append(f"<tr>{cells}</tr>")
    gaps = "".join(
        f"<tr><td>{e(m.replace('_', ' '))}</td><td>{_fmt(table.difference[m])} <small>["
        f"{_fmt(table.difference_ci[m][0])}, {_fmt(table.difference_ci[m][1])}]</small></td>"
        f"<td>{_fmt(table.ratio[m])}</td></tr>"
        for m in table.metrics
    )
    out.append("</tbody></table>")
    if table.suppressed:
        listed = "; ".join(" &times; ".join(map(e, g)) for g in table.suppressed)
        out.append(f"<p>Suppressed (fewer than {min_group_size} rows): {listed}</p>")
    out.append(
        "<table><thead><tr><th>metric</th><th>difference (max &minus; min)</th>"
        f"<th>ratio (min / max)</th></tr></thead><tbody>{gaps}</tbody></table>"
    )
    return out


def _render_html(result: FairnessResult) -> str:
    e = html.escape
    table = result.by_group
    cut = "" if result.threshold is None else f", threshold {result.threshold:g}"
    out = [
        "<div class='nbmlops-fairness'>",
        "<style>.nbmlops-fairness table{border-collapse:collapse;margin:4px 0 10px}"
        ".nbmlops-fairness td,.nbmlops-fairness th{border:1px solid #ccc;padding:2px 6px}"
        ".nbmlops-fairness .pass{color:#1a7f37}.nbmlops-fairness .fail{color:#cf222e}</style>",
        f"<h4>Fairness by {' &times; '.join(map(e, table.features))}</h4>",
        f"<p>{result.n_rows} rows{cut}; {round(result.ci * 100)}% percentile intervals from "
        f"{result.n_bootstrap} bootstrap resamples (seed {result.seed}).</p>",
        *_render_table(table, result.min_group_size),
    ]
    verdict = "all checks passed" if result.passed else "some checks failed"
    out.append(f"<h4>Checks: {verdict}</h4>")
    out.append("<table><thead><tr><th>check</th><th>value</th><th>limit</th><th>result</th>")
    out.append("</tr></thead><tbody>")
    for check in result.checks.values():
        rule = "≤" if check.at_most else "≥"
        mark = (
            "<span class='pass'>✔ pass</span>"
            if check.passed
            else "<span class='fail'>✘ fail</span>"
        )
        out.append(
            f"<tr><td>{e(check.name)}</td><td>{_fmt(check.value)}</td>"
            f"<td>{rule} {check.limit:g}</td><td>{mark}</td></tr>"
        )
    out.append("</tbody></table>")
    if len(result.by_feature) > 1:
        for feature, by_feature in result.by_feature.items():
            out.append(f"<h4>By {e(feature)} alone</h4>")
            out.extend(_render_table(by_feature, result.min_group_size))
    out.append("</div>")
    return "".join(out)
