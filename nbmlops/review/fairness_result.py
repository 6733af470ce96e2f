"""What :func:`nbmlops.review.fairness` found: per-group tables, gaps, checks, and their JSON form.

A result holds group labels, counts and aggregates only, never a row. How it looks (static HTML,
the widget) is :mod:`nbmlops.review.fairness_view`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from nbmlops.errors import InvalidInputError
from nbmlops.review.fairness_bootstrap import GAP_INTERVAL, LABEL_METRICS, OLD_GAP_INTERVAL
from nbmlops.review.rendering import ReviewResult, json_float

__all__ = ["METRICS", "NOT_ASSESSABLE", "Check", "FairnessResult", "GroupTable", "Pair"]

METRICS = (*LABEL_METRICS, "auroc")
"""Every per-group metric, in report order; AUROC only when scores were given."""

NOT_ASSESSABLE = "not assessable"
"""A check's status when its value cannot be computed, e.g. fewer than two groups are left after
suppression: no gap is measured, which is not the same as no gap."""

Pair = tuple[tuple[str, ...], tuple[str, ...]]
"""The groups a gap is between: (highest, lowest)."""

_SETTINGS = ("n_rows", "threshold", "min_group_size", "n_bootstrap", "ci", "seed")


def _nan(value: float | None) -> float:
    """A float from JSON: ``None`` (how :func:`json_float` writes NaN) back to NaN."""
    return math.nan if value is None else float(value)


def _gap_to_dict(value: float, ci: tuple[float, float], between: Pair | None) -> dict[str, Any]:
    pair = None if between is None else [list(g) for g in between]
    return {"value": json_float(value), "ci": [json_float(x) for x in ci], "between": pair}


def _gap_from_dict(data: Mapping[str, Any]) -> tuple[float, tuple[float, float], Pair | None]:
    low, high = data["ci"]
    pair = data.get("between")  # absent from results saved before the pair was recorded
    between = None if not pair else (tuple(pair[0]), tuple(pair[1]))
    return _nan(data["value"]), (_nan(low), _nan(high)), between


@dataclass(frozen=True, kw_only=True)
class Check:
    """One threshold check: ``value`` must be at most (``_difference``) or at least
    (``_ratio``) ``limit``. A value that cannot be computed (NaN, e.g. one group left after
    suppression) is :data:`NOT_ASSESSABLE`: it does not pass, and it is not reported as failed."""

    name: str
    value: float
    limit: float
    at_most: bool

    @property
    def assessable(self) -> bool:
        return not math.isnan(self.value)

    @property
    def passed(self) -> bool:
        if not self.assessable:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` or ``"not assessable"``."""
        if not self.assessable:
            return NOT_ASSESSABLE
        return "passed" if self.passed else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": json_float(self.value),
            "limit": self.limit,
            "rule": "at_most" if self.at_most else "at_least",
            "passed": self.passed,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            name=data["name"],
            value=_nan(data["value"]),
            limit=float(data["limit"]),
            at_most=data["rule"] == "at_most",
        )


@dataclass(frozen=True, kw_only=True)
class GroupTable:
    """Per-group metrics for one grouping (one feature, or the intersection of several).

    ``values``, ``ci_low`` and ``ci_high`` hold one float per group, NaN where suppressed;
    ``counts`` is ``None`` for a suppressed group (its size is withheld too). A gap
    (``difference``, ``ratio``) is NaN with fewer than two reported groups (not assessable);
    ``difference_between`` names the two groups that define it (highest, lowest), whose resampled
    difference gives ``difference_ci``.
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
    difference_between: Mapping[str, Pair | None]
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
                        "value": json_float(self.values[m][i]),
                        "ci": [json_float(self.ci_low[m][i]), json_float(self.ci_high[m][i])],
                    }
                    for m in self.metrics
                }
            rows.append(row)
        return {
            "features": list(self.features),
            "groups": rows,
            "suppressed": [list(g) for g in self.suppressed],
            "difference": {
                m: _gap_to_dict(v, self.difference_ci[m], self.difference_between[m])
                for m, v in self.difference.items()
            },
            "ratio": {m: json_float(v) for m, v in self.ratio.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupTable:
        features = tuple(data["features"])
        metrics = tuple(m for m in METRICS if m in data["difference"])  # JSON may sort keys
        rows = data["groups"]

        def column(m: str, pick: int | None) -> tuple[float, ...]:
            cells = [r["metrics"][m] if "metrics" in r else None for r in rows]
            return tuple(
                math.nan if c is None else _nan(c["value"] if pick is None else c["ci"][pick])
                for c in cells
            )

        gaps = {m: _gap_from_dict(data["difference"][m]) for m in metrics}
        return cls(
            features=features,
            metrics=metrics,
            groups=tuple(tuple(r["group"][f] for f in features) for r in rows),
            counts=tuple(r["n"] for r in rows),
            values=MappingProxyType({m: column(m, None) for m in metrics}),
            ci_low=MappingProxyType({m: column(m, 0) for m in metrics}),
            ci_high=MappingProxyType({m: column(m, 1) for m in metrics}),
            difference=MappingProxyType({m: gaps[m][0] for m in metrics}),
            difference_ci=MappingProxyType({m: gaps[m][1] for m in metrics}),
            difference_between=MappingProxyType({m: gaps[m][2] for m in metrics}),
            ratio=MappingProxyType({m: _nan(data["ratio"][m]) for m in metrics}),
        )


@dataclass(frozen=True, kw_only=True)
class FairnessResult(ReviewResult):
    """What :func:`fairness` found. ``by_group`` is over the intersection of all the sensitive
    features (fairlearn's grouping); ``by_feature`` has one table per feature. ``gap_interval``
    names how the intervals of gaps were computed."""

    kind: ClassVar[str] = "fairness"

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
    equalized_odds_between: Pair | None
    demographic_parity_difference: float
    demographic_parity_difference_ci: tuple[float, float]
    checks: Mapping[str, Check]
    gap_interval: str = GAP_INTERVAL

    @property
    def passed(self) -> bool:
        """Whether every check passed (a check that is not assessable has not)."""
        return all(c.passed for c in self.checks.values())

    @property
    def assessable(self) -> bool:
        """Whether at least two groups of the intersection are reported, so gaps exist."""
        return sum(n is not None for n in self.by_group.counts) >= 2

    def to_frame(self) -> Any:
        """The intersection table as a ``pandas.DataFrame`` (see :meth:`GroupTable.to_frame`)."""
        return self.by_group.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (NaN becomes ``None``): settings, aggregates, labels, counts."""
        return {
            "kind": self.kind,
            **{name: getattr(self, name) for name in _SETTINGS},
            "overall": {m: json_float(v) for m, v in self.overall.items()},
            "by_group": self.by_group.to_dict(),
            "by_feature": {f: t.to_dict() for f, t in self.by_feature.items()},
            "gap_interval": self.gap_interval,
            "equalized_odds_difference": _gap_to_dict(
                self.equalized_odds_difference,
                self.equalized_odds_difference_ci,
                self.equalized_odds_between,
            ),
            "demographic_parity_difference": _gap_to_dict(
                self.demographic_parity_difference,
                self.demographic_parity_difference_ci,
                self.by_group.difference_between.get("selection_rate"),
            ),
            "checks": {n: c.to_dict() for n, c in self.checks.items()},
            "passed": self.passed,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessResult:
        """Rebuild a result from :meth:`to_dict` (e.g. the JSON a review stage wrote)."""
        if data.get("kind", cls.kind) != cls.kind:
            raise InvalidInputError(
                f"data holds a {data.get('kind')!r} result, not {cls.kind!r}", argument="data"
            )
        by_group = GroupTable.from_dict(data["by_group"])
        eod, eod_ci, eod_between = _gap_from_dict(data["equalized_odds_difference"])
        dpd, dpd_ci, _ = _gap_from_dict(data["demographic_parity_difference"])
        return cls(
            **{name: data[name] for name in _SETTINGS},
            overall=MappingProxyType({m: _nan(v) for m, v in data["overall"].items()}),
            by_group=by_group,
            by_feature=MappingProxyType(  # in the features' order, whatever JSON did to keys
                {f: GroupTable.from_dict(data["by_feature"][f]) for f in by_group.features}
            ),
            equalized_odds_difference=eod,
            equalized_odds_difference_ci=eod_ci,
            equalized_odds_between=eod_between,
            demographic_parity_difference=dpd,
            demographic_parity_difference_ci=dpd_ci,
            checks=MappingProxyType({n: Check.from_dict(c) for n, c in data["checks"].items()}),
            gap_interval=data.get("gap_interval", OLD_GAP_INTERVAL),
        )

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` (a check failed) or ``"not assessable"`` (none failed,
        but at least one could not be computed)."""
        statuses = {c.status for c in self.checks.values()}
        if "failed" in statuses:
            return "failed"
        return NOT_ASSESSABLE if NOT_ASSESSABLE in statuses else "passed"

    def headline(self) -> dict[str, float]:
        """The two gaps, ``passed`` (1 or 0), ``n_checks_failed`` and
        ``n_checks_not_assessable``."""
        statuses = [c.status for c in self.checks.values()]
        return {
            "equalized_odds_difference": self.equalized_odds_difference,
            "demographic_parity_difference": self.demographic_parity_difference,
            "passed": float(self.passed),
            "n_checks_failed": float(statuses.count("failed")),
            "n_checks_not_assessable": float(statuses.count(NOT_ASSESSABLE)),
        }

    def to_html(self) -> str:
        """Static HTML (no script, no external resources, labels escaped) for notebooks and
        nbconvert: TPR and FPR by group as a plot with intervals, per-group metrics, suppressed
        groups, gaps and checks."""
        from nbmlops.review.fairness_view import render_html

        return render_html(self)

    def widget(self) -> Any:
        """The checks and gaps, then grouping and metric pickers over an interval plot and its
        table (see :func:`nbmlops.review.fairness_view.build_widget`)."""
        from nbmlops.review.fairness_view import build_widget

        return build_widget(self)
