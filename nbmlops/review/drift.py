"""Data drift between a reference (training-time) frame and a current frame, with evidently.

:func:`drift` runs evidently's ``DataDriftPreset`` once over the chosen columns and keeps what a
reviewer needs: per column the statistical test evidently chose (or was told to use), its score
and threshold and whether the column drifted; the share of drifted columns and whether that makes
the dataset drift (share >= ``drift_share``); and, for the view, each column's distribution in
both frames as aggregate counts (:mod:`nbmlops.review.drift_profile` computes them, with the
sampling and the cache; :mod:`nbmlops.review.drift_view` draws them).

Large frames are sampled: above ``sample`` rows a seeded uniform sample (without replacement) of
``sample`` rows stands in for the frame, for the test and for the distributions alike. The
reference's preparation (sample, column typing, binning) can be cached on disk, keyed by a digest
of its content, so the next batch compared with the same reference skips it.

Privacy: the result holds no row-level value. Distributions are counts over bins and categories,
and the small-cell rule applies: no cell with 1 to ``min_count - 1`` rows in either frame is shown
(numeric bins are merged with their neighbours, rare categories pooled into ``(other)``); bin
edges are quantiles rounded to two significant digits, not data points. evidently's own HTML
embeds data and is never saved. The *cache* does hold rows (the reference sample): it is local
working data, written ``0600``, never logged or reported; keep it out of shared folders.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from nbmlops.errors import InvalidInputError
from nbmlops.review.rendering import ReviewResult, stable_float

__all__ = ["DEFAULT_SAMPLE", "MIN_COUNT", "ColumnDrift", "Distribution", "DriftResult", "drift"]

DEFAULT_SAMPLE = 100_000
"""Rows per frame above which a seeded sample is compared. On 2 cores (bench_review_drift.py,
30 columns) evidently takes ~4 s and ~1 GB for 100,000 rows against 100,000, against 35-50 s and
1.7 GB for 1,000,000 against 1,000,000: a 1M batch is tested in well under a minute. Power is
kept: above 1,000 rows evidently scores with distances (normed Wasserstein, Jensen-Shannon) that
it compares with a fixed 0.1, so more rows only shrink their sampling error, already small here
(the bench's sampled scores were within 0.0073 of the full-data ones, with no verdict changed);
a p-value test chosen with ``method=`` (e.g. Kolmogorov-Smirnov, whose critical distance at the
5 % level is 0.006 for two samples of 100,000) keeps more power than a practical review needs."""

MIN_COUNT = 10
"""Small-cell rule: distribution cells with fewer rows than this (but some) are not shown."""


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """A column's distribution in both frames, after the small-cell rule.

    ``labels`` name the cells (numeric bins like ``"[0.5, 0.55)"``, or categories);
    ``reference`` and ``current`` hold their row counts. ``suppressed`` (all cells small, e.g. a
    tiny frame) leaves the counts empty.
    """

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    suppressed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "reference": list(self.reference),
            "current": list(self.current),
            "suppressed": self.suppressed,
        }


@dataclass(frozen=True, kw_only=True)
class ColumnDrift:
    """One column's drift test: evidently's test name, score and threshold, and its verdict."""

    name: str
    type: str  # "numerical" or "categorical"
    stattest: str
    score: float
    threshold: float
    drifted: bool
    distribution: Distribution

    @property
    def severity(self) -> float:
        """The score relative to its threshold, > 1 when drifted, for p-values (drift below the
        threshold) and distances (drift at or above it) alike; what tables are sorted by."""
        if math.isnan(self.score) or math.isnan(self.threshold):
            return 0.0
        higher_drifts = self.drifted == (self.score >= self.threshold)
        if higher_drifts:
            return self.score / self.threshold if self.threshold else math.inf
        return self.threshold / self.score if self.score else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stattest": self.stattest,
            "score": stable_float(self.score),
            "threshold": stable_float(self.threshold),
            "drifted": self.drifted,
            "distribution": self.distribution.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class DriftResult(ReviewResult):
    """What :func:`drift` found; ``columns`` keep the order they were tested in."""

    kind: ClassVar[str] = "drift"

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    n_drifted: int
    share_drifted: float
    dataset_drift: bool
    n_reference: int
    n_current: int
    n_reference_sampled: int
    n_current_sampled: int
    sample: int | None
    seed: int
    min_count: int
    cache_hit: bool | None  # None: no cache was given
    evidently_version: str

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted columns, most severe first."""
        return tuple(c.name for c in self.ranked() if c.drifted)

    @property
    def sampled(self) -> bool:
        """Whether either frame was replaced by a sample."""
        return (self.n_reference_sampled, self.n_current_sampled) != (
            self.n_reference,
            self.n_current,
        )

    def ranked(self) -> list[ColumnDrift]:
        """Columns sorted drifted first, then by :attr:`ColumnDrift.severity`."""
        return sorted(self.columns, key=lambda c: (not c.drifted, -c.severity, c.name))

    def column(self, name: str) -> ColumnDrift:
        """The drift of the column ``name``; an :class:`~nbmlops.errors.InvalidInputError` when
        it was not tested."""
        for c in self.columns:
            if c.name == name:
                return c
        tested = ", ".join(c.name for c in self.columns)
        raise InvalidInputError(
            f"column {name!r} was not tested (tested: {tested})", argument="name"
        )

    def to_dict(self) -> dict[str, Any]:
        """Settings and aggregates. Scores, thresholds and the share drifted are rounded to 10
        significant digits (:func:`~nbmlops.review.rendering.stable_float`, already when the
        result is made, so it equals the one rebuilt from its JSON), and whether the
        reference came from the cache is left out: the same data, settings and seed give the
        same JSON bytes, cache or not."""
        data = {"kind": self.kind} | {f: getattr(self, f) for f in _SCALARS}
        data["share_drifted"] = stable_float(self.share_drifted)
        return data | {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. a pipeline stage's JSON)."""
        columns = tuple(
            ColumnDrift(
                name=c["name"],
                type=c["type"],
                stattest=c["stattest"],
                score=math.nan if c["score"] is None else float(c["score"]),
                threshold=math.nan if c["threshold"] is None else float(c["threshold"]),
                drifted=bool(c["drifted"]),
                distribution=Distribution(
                    labels=tuple(c["distribution"]["labels"]),
                    reference=tuple(c["distribution"]["reference"]),
                    current=tuple(c["distribution"]["current"]),
                    suppressed=bool(c["distribution"]["suppressed"]),
                ),
            )
            for c in data["columns"]
        )
        scalars: dict[str, Any] = {f: data[f] for f in _SCALARS}
        scalars["cache_hit"] = data.get("cache_hit")  # not saved: how, not what, was computed
        if scalars["share_drifted"] is None:
            scalars["share_drifted"] = math.nan
        return cls(columns=columns, **scalars)

    def headline(self) -> dict[str, float]:
        return {
            "share_drifted": self.share_drifted,
            "n_drifted": float(self.n_drifted),
            "dataset_drift": float(self.dataset_drift),
            "n_columns": float(len(self.columns)),
        }

    def to_html(self) -> str:
        from nbmlops.review.drift_view import render_html

        return render_html(self)

    def widget(self) -> Any:
        from nbmlops.review.drift_view import build_widget

        return build_widget(self)


_SCALARS = tuple(f.name for f in fields(DriftResult) if f.name not in ("columns", "cache_hit"))


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    numerical: Sequence[str] | None = None,
    sample: int | None = DEFAULT_SAMPLE,
    seed: int = 0,
    cache: str | Path | None = None,
    drift_share: float = 0.5,
    method: str | None = None,
    per_column_method: Mapping[str, str] | None = None,
    threshold: float | None = None,
    min_count: int = MIN_COUNT,
) -> DriftResult:
    """Test every column of ``current`` for drift from ``reference`` with evidently.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        Training-time and current data. Identifier columns must be dropped first.
    columns : sequence of str, optional
        Columns to test; default: the columns both frames share, in ``reference`` order.
    categorical, numerical : sequence of str, optional
        Column types that override inference (numeric dtypes are numerical; category, object,
        string and bool are categorical). Dates are refused: derive a number from them.
    sample : int or None
        Frames with more rows are replaced by a seeded uniform sample of this many rows
        (:data:`DEFAULT_SAMPLE`); ``None`` compares every row.
    seed : int
        Seed of the samples: the same seed and data give the same result.
    cache : path, optional
        Folder (e.g. ``.nbmlops/cache/drift``) keeping the prepared reference, keyed by a digest
        of its content and the settings. It holds the reference sample, so it is written ``0600``
        and must stay local. A corrupt entry is rebuilt.
    drift_share : float
        The dataset drifts when at least this share of columns drift (0 to 1).
    method, per_column_method, threshold
        evidently's stat test for all columns or by column, and the threshold of all columns;
        left out, evidently picks them by column type and size.
    min_count : int
        Small-cell rule of the distributions (module docstring).

    Returns
    -------
    DriftResult

    Raises
    ------
    InvalidInputError
        A frame is empty or not a DataFrame, a column is missing, an identifier, a date or of
        contradictory type, or a setting is out of range; ``argument`` names the argument, the
        message the value. (Also a ``ValueError``.)

    Examples
    --------
    >>> from nbmlops.demo.datasets import synthetic_patients
    >>> drop = ["patient_name", "mrn", "birth_date", "zip_code", "phone", "email", "ssn",
    ...         "service_date", "last_fill_date"]
    >>> ref = synthetic_patients(5000, seed=1).drop(columns=drop)
    >>> cur = synthetic_patients(5000, seed=2, drift=1.0).drop(columns=drop)
    >>> "monthly_copay" in drift(ref, cur).drifted_columns  # doctest: +SKIP
    True
    """
    from nbmlops.review import drift_profile as profile

    _check_settings(sample, seed, drift_share, threshold, min_count)
    used = profile.used_columns(reference, current, columns)
    types = profile.column_types(reference, current, used, categorical, numerical)
    if per_column_method is not None and not set(per_column_method) <= set(used):
        unknown = sorted(set(per_column_method) - set(used))
        raise InvalidInputError(
            f"per_column_method names columns that are not tested: {unknown}",
            argument="per_column_method",
        )
    ref, hit = profile.reference_profile(reference, types, sample=sample, seed=seed, cache=cache)
    cur = profile.current_frame(current, types, sample, seed)
    tested = _run_evidently(
        ref.frame,
        cur,
        types,
        drift_share=drift_share,
        method=method,
        per_column_method=per_column_method,
        threshold=threshold,
    )
    out = tuple(
        ColumnDrift(
            name=name,
            type=types[name],
            distribution=Distribution(
                **profile.current_distribution(ref.summary[name], cur[name], min_count)
            ),
            **_rounded(tested["columns"][name], "score", "threshold"),
        )
        for name in used
    )
    return DriftResult(
        columns=out,
        drift_share=float(drift_share),
        n_drifted=tested["n_drifted"],
        share_drifted=_rounded(tested, "share_drifted")["share_drifted"],
        dataset_drift=tested["share_drifted"] >= drift_share,  # evidently's rule
        n_reference=ref.n_rows,
        n_current=len(current),
        n_reference_sampled=len(ref.frame),
        n_current_sampled=len(cur),
        sample=sample,
        seed=seed,
        min_count=min_count,
        cache_hit=None if cache is None else hit,
        evidently_version=tested["version"],
    )


def _rounded(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """``values`` with ``names`` rounded as the JSON holds them (:func:`stable_float`), so a
    result and the one rebuilt from its JSON are equal."""
    rounded = {n: stable_float(values[n]) for n in names}
    return {**values, **{n: math.nan if v is None else v for n, v in rounded.items()}}


def _check_settings(
    sample: Any, seed: Any, drift_share: Any, threshold: Any, min_count: Any
) -> None:
    for name, value, low in (("seed", seed, 0), ("min_count", min_count, 1), ("sample", sample, 1)):
        if name == "sample" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(
                f"{name} must be an integer of at least {low}, not {value!r}", argument=name
            )
    number = isinstance(drift_share, int | float) and not isinstance(drift_share, bool)
    if not number or not 0 <= drift_share <= 1:
        raise InvalidInputError(
            f"drift_share must be a number from 0 to 1, not {drift_share!r}",
            argument="drift_share",
        )
    if threshold is not None and not (
        isinstance(threshold, int | float) and math.isfinite(threshold) and threshold > 0
    ):
        raise InvalidInputError(
            f"threshold must be a positive number, not {threshold!r}", argument="threshold"
        )


def _run_evidently(
    ref: Any,
    cur: Any,
    types: dict[str, str],
    *,
    drift_share: float,
    method: str | None,
    per_column_method: Mapping[str, str] | None,
    threshold: float | None,
) -> dict[str, Any]:
    """Run ``DataDriftPreset`` with the column types given outright (no inference) and read the
    per-column scores, thresholds and test verdicts from the snapshot's ``dict()``."""
    with _quiet_evidently():
        from evidently import DataDefinition, Dataset, Report, __version__
        from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "numerical"],
        categorical_columns=[c for c, t in types.items() if t == "categorical"],
        text_columns=[],
        datetime_columns=[],
        unknown_columns=[],
        list_columns=[],
    )
    preset = DataDriftPreset(
        columns=list(types),
        drift_share=drift_share,
        method=method,
        per_column_method=dict(per_column_method) if per_column_method else None,
        threshold=threshold,
    )
    with _quiet_evidently():
        snapshot = Report([preset], include_tests=True).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
    found = snapshot.dict()
    verdicts = {
        t["metric_config"]["params"]["column"]: str(t["status"].value) == "FAIL"
        for t in found["tests"]
        if t["metric_config"]["params"]["type"].endswith(":ValueDrift")
    }
    columns = {
        m["config"]["column"]: {
            "stattest": str(m["config"]["method"]),
            "score": float(m["value"]),
            "threshold": float(m["config"]["threshold"]),
            "drifted": verdicts[m["config"]["column"]],
        }
        for m in found["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    count = next(
        m for m in found["metrics"] if m["config"]["type"].endswith(":DriftedColumnsCount")
    )
    return {
        "columns": columns,
        "n_drifted": int(count["value"]["count"]),
        "share_drifted": float(count["value"]["share"]),
        "version": str(__version__),
    }


@contextlib.contextmanager
def _quiet_evidently() -> Iterator[None]:
    """Silence what evidently 0.7.23 itself trips over: deprecations in its imports (numpy.core,
    litestar's ``Dependency``), and the divisions by zero of a chi-square or PSI when a category
    is absent from one frame (the score is then reported as evidently computed it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "numpy.core is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", ".*Deprecated in litestar", DeprecationWarning)
        warnings.filterwarnings("ignore", "divide by zero encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        yield
