"""Percentile-bootstrap intervals of :func:`nbmlops.review.fairness.fairness`, vectorised.

A group's metric gets the percentile interval of its resampled values. A gap between groups does
not: the resampled max - min of noisy groups is biased upward (the largest of several noisy
values), so its percentile interval can lie wholly above the observed gap. The gap's interval is
instead the percentile interval of the resampled difference between the two groups that define
the observed gap (:data:`GAP_INTERVAL`), a smooth statistic for which the percentile method holds.

A resample is a row of weights (how often each row was drawn), so confusion counts are weighted
sums and AUROC a weighted Mann-Whitney statistic; all groupings share the same resamples, drawn in
chunks so memory stays bounded (~32 MB a chunk) whatever the number of rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = [
    "GAP_INTERVAL",
    "LABEL_METRICS",
    "OLD_GAP_INTERVAL",
    "bootstrap",
    "interval",
    "intervals",
    "pair_interval",
]

LABEL_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
"""Metrics of the predicted labels, in table order; ``auroc`` follows when scores are given."""
GAP_INTERVAL = (
    "percentile bootstrap of the difference between the two groups that define the observed gap"
)
"""How a gap's interval is computed, as the views and the JSON name it."""
OLD_GAP_INTERVAL = "percentile bootstrap of the max \u2212 min gap (biased upward)"
"""How results saved before :data:`GAP_INTERVAL` computed a gap's interval (JSON without
``gap_interval``), named so that a view of an old result says what its intervals are."""
_BOOTSTRAP_CELLS = 4_000_000  # replicates x rows held at once: bounds memory at ~32 MB a chunk

FloatArray = Any  # numpy arrays
Grouping = tuple[tuple[str, ...], FloatArray, list[tuple[str, ...]]]


def bootstrap(
    truth: Any,
    pred: Any,
    scores: Any,
    groupings: Mapping[str, Grouping],
    *,
    min_group_size: int,
    n_bootstrap: int,
    seed: int,
) -> dict[str, dict[str, FloatArray]]:
    """Per grouping and metric: the (resamples x groups) values, NaN where a group is suppressed.

    All groupings share the same resamples. A resample is a row of weights (how often each row
    was drawn), so confusion counts are weighted sums and AUROC a weighted Mann-Whitney statistic;
    what these need besides the weights is worked out once per grouping, by :func:`_plan`.
    """
    import numpy as np

    n, metrics = len(truth), LABEL_METRICS + (("auroc",) if scores is not None else ())
    if n_bootstrap == 0:
        return {key: {m: np.empty((0, 0)) for m in metrics} for key in groupings}
    plans = {key: _plan(truth, pred, scores, g, min_group_size) for key, g in groupings.items()}
    parts: dict[str, list[dict[str, FloatArray]]] = {key: [] for key in plans}
    chunk, rng = max(1, _BOOTSTRAP_CELLS // n), np.random.default_rng(seed)
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        draws = rng.integers(0, n, (size, n)) + (np.arange(size) * n)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        del draws  # 8 bytes a cell, as much again as the weights
        for key, plan in plans.items():
            parts[key].append(_replicate_metrics(plan, weights))
    return {
        key: {m: np.concatenate([c[m] for c in chunks]) for m in metrics}
        for key, chunks in parts.items()
    }


def _plan(
    truth: Any, pred: Any, scores: Any, grouping: Grouping, min_group_size: int
) -> dict[str, Any]:
    """What every resample of one grouping reuses: each row's confusion cell and, for AUROC, the
    rows in (group, score) order with each row's block of tied scores and its group's start."""
    import numpy as np

    _, group, labels = grouping
    n_groups = len(labels)
    plan: dict[str, Any] = {
        "cell": group * 4 + truth * 2 + pred,  # cells per group: TN, FP, FN, TP
        "n_groups": n_groups,
        "shown": np.bincount(group, minlength=n_groups) >= min_group_size,
    }
    if scores is None:
        return plan
    order = np.lexsort((scores, group))
    g, s = group[order], scores[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_block = new_group | np.r_[True, s[1:] != s[:-1]]
    block_starts, group_starts = np.flatnonzero(new_block), np.flatnonzero(new_group)
    block = np.cumsum(new_block) - 1
    return plan | {
        "order": order,
        "positive": truth[order] == 1,
        "block_start": block_starts[block],
        "block_end": np.r_[block_starts[1:], len(order)][block],
        "group_start": group_starts[np.cumsum(new_group) - 1],
        "group_starts": group_starts,
        "groups": g[group_starts],
    }


def _replicate_metrics(plan: Mapping[str, Any], weights: Any) -> dict[str, FloatArray]:
    import numpy as np

    n_groups, size, cell = plan["n_groups"], len(weights), plan["cell"]
    counts = np.stack([np.bincount(cell, weights=w, minlength=n_groups * 4) for w in weights])
    tn, fp, fn, tp = np.moveaxis(counts.reshape(size, n_groups, 4), 2, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "selection_rate": (fp + tp) / (tn + fp + fn + tp),
            "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn),
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
        }
    if "order" in plan:
        out["auroc"] = _weighted_auroc(plan, weights[:, plan["order"]])
    for v in out.values():
        v[:, ~plan["shown"]] = math.nan
    return out


def _weighted_auroc(plan: Mapping[str, Any], weights: Any) -> FloatArray:
    """Each group's AUROC under each row of ``weights`` (columns in the plan's order):
    P(score of a positive > a negative's), ties counting half."""
    import numpy as np

    pos = weights * plan["positive"]
    neg = weights - pos
    below = np.zeros((len(weights), weights.shape[1] + 1))  # weight of negatives before a row
    np.cumsum(neg, axis=1, out=below[:, 1:])
    start = below[:, plan["block_start"]]
    wins = pos * (start - below[:, plan["group_start"]])
    wins += 0.5 * pos * (below[:, plan["block_end"]] - start)
    starts = plan["group_starts"]
    pairs = np.add.reduceat(pos, starts, axis=1) * np.add.reduceat(neg, starts, axis=1)
    auc = np.full((len(weights), plan["n_groups"]), math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.add.reduceat(wins, starts, axis=1) / pairs
    auc[:, plan["groups"]] = np.where(pairs > 0, ratio, math.nan)
    return auc


def intervals(reps: FloatArray, ci: float) -> FloatArray:
    import numpy as np

    tail = (1 - ci) / 2
    with warnings.catch_warnings():  # a column of NaN (suppressed group) gives a NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(reps, [tail, 1 - tail], axis=0)


def interval(reps: FloatArray, ci: float) -> tuple[float, float]:
    if reps.size == 0:
        return math.nan, math.nan
    low, high = intervals(reps[:, None], ci)[:, 0]
    return float(low), float(high)


def pair_interval(reps: FloatArray, high: int, low: int, ci: float) -> tuple[float, float]:
    """The :data:`GAP_INTERVAL` of a gap: the percentile interval of group ``high``'s resampled
    value minus group ``low``'s (columns of ``reps``); NaN without resamples."""
    if reps.size == 0:
        return math.nan, math.nan
    return interval(reps[:, high] - reps[:, low], ci)
