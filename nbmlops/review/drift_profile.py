"""The data side of a drift test: column typing, seeded samples, distributions under the small-cell
rule, and the on-disk cache of a prepared reference.

A *profile* is what :func:`nbmlops.review.drift.drift` needs of a frame: its used columns in
canonical form (numbers as numpy arrays, categories as categoricals of sorted string labels),
sampled when the frame is large, and, for the reference, each column's binning and counts. The
reference's profile can be cached (:func:`reference_profile`); the current frame's never is.

Distributions are aggregate counts of the compared (sampled) rows. A numeric column gets up to
:data:`N_BINS` bins whose edges are the reference's quantiles rounded to two significant digits
(whole numbers for integer columns), never a data point such as a minimum or a maximum: the outer
bins are open (``< x``, ``>= y``). A categorical column gets its categories. Missing values are
a cell of their own, ``(missing)``.

Small-cell rule: no cell holding 1 to ``min_count - 1`` rows of either frame is shown. A small
numeric bin merges with a neighbour (the one that makes it large enough) until every cell is empty
or holds at least ``min_count`` rows of each frame; rare categories pool into ``(other)``,
and while ``(other)`` is itself small the least frequent category shown joins it. When nothing but
a small cell remains, the column's distribution is suppressed.

The cache holds row-level data (the reference sample). It is local working data: one ``.npz``
per reference (no pickles), written atomically with mode ``0600`` in a folder made ``0700``,
never logged or reported. An entry that cannot be read, or is not the expected reference's, is
ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.demo.datasets import IDENTIFIER_COLUMNS
from nbmlops.errors import InvalidInputError

__all__ = [
    "N_BINS",
    "ReferenceProfile",
    "column_types",
    "current_distribution",
    "current_frame",
    "reference_profile",
    "sample_positions",
    "used_columns",
]

N_BINS = 20
"""Most bins of a numeric column (fewer when quantiles coincide, e.g. many zeros)."""

MISSING, OTHER = "(missing)", "(other)"
_CACHE_FORMAT = 1  # bump when the cached arrays or the summaries change shape or meaning
_STREAMS = {"reference": 0, "current": 1}  # independent random streams of one seed


@dataclass(frozen=True)
class ReferenceProfile:
    """The prepared reference: canonical (sampled) frame, full row count, per-column summary."""

    frame: Any
    n_rows: int
    summary: dict[str, dict[str, Any]]


def used_columns(reference: Any, current: Any, columns: Sequence[str] | None) -> list[str]:
    """The columns to test (default: those both frames share, in ``reference`` order); refuses
    identifiers (:data:`nbmlops.demo.datasets.IDENTIFIER_COLUMNS`)."""
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame) or frame.shape[0] == 0:
            raise InvalidInputError(
                f"{name} must be a pandas DataFrame with at least one row", argument=name
            )
    if columns is None:
        shared = set(current.columns)
        used = [str(c) for c in reference.columns if c in shared]
    else:
        used = [str(c) for c in columns]
        missing = [c for c in used if c not in reference.columns or c not in current.columns]
        if missing:
            raise InvalidInputError(
                f"columns {missing} are not in both reference and current", argument="columns"
            )
    if not used or len(set(used)) != len(used):
        raise InvalidInputError(
            f"columns must name at least one column, each once, not {used!r}", argument="columns"
        )
    identifiers = [c for c in used if c in IDENTIFIER_COLUMNS]
    if identifiers:
        raise InvalidInputError(
            f"columns {identifiers} are direct identifiers: drop them (or de-identify the frames "
            "with nbmlops.privacy.deid first) before testing drift",
            argument="columns",
        )
    return used


def column_types(
    reference: Any,
    current: Any,
    used: list[str],
    categorical: Sequence[str] | None,
    numerical: Sequence[str] | None,
) -> dict[str, str]:
    """``"numerical"`` or ``"categorical"`` per used column: given, else numeric dtypes (not
    bool) are numerical. Dates and durations are refused."""
    import pandas as pd

    given = {str(c): "categorical" for c in categorical or ()}
    for c in numerical or ():
        if str(c) in given:
            raise InvalidInputError(
                f"column {c!r} is in both categorical and numerical", argument="numerical"
            )
        given[str(c)] = "numerical"
    unknown = sorted(set(given) - set(used))
    if unknown:
        raise InvalidInputError(
            f"categorical/numerical name columns that are not tested: {unknown}",
            argument="categorical"
            if set(unknown) & set(map(str, categorical or ()))
            else "numerical",
        )
    types: dict[str, str] = {}
    for c in used:
        dtypes = (reference[c].dtype, current[c].dtype)
        if any(pd.api.types.is_datetime64_any_dtype(d) or d.kind == "m" for d in dtypes):
            raise InvalidInputError(
                f"column {c!r} holds dates or durations: derive a number or drop it",
                argument="columns",
            )
        numeric = pd.api.types.is_numeric_dtype(dtypes[0])
        inferred = "numerical" if numeric and not pd.api.types.is_bool_dtype(dtypes[0]) else ""
        types[c] = given.get(c) or inferred or "categorical"
        if types[c] == "numerical" and not all(pd.api.types.is_numeric_dtype(d) for d in dtypes):
            raise InvalidInputError(
                f"column {c!r} is numerical but holds non-numbers in one frame",
                argument="numerical" if c in map(str, numerical or ()) else "columns",
            )
    return types


def sample_positions(n: int, sample: int | None, seed: int, stream: str) -> Any:
    """Rows of a seeded uniform sample of ``sample`` rows, in frame order, or ``None`` (all rows)
    when the frame is not larger: ``numpy.random.default_rng([seed, s]).choice(n, sample,
    replace=False)``, sorted, with stream ``s`` 0 for the reference and 1 for the current frame."""
    import numpy as np

    if sample is None or n <= sample:
        return None
    rng = np.random.default_rng([seed, _STREAMS[stream]])
    return np.sort(rng.choice(n, sample, replace=False))


def current_frame(current: Any, types: Mapping[str, str], sample: int | None, seed: int) -> Any:
    """The current frame's used columns, sampled and in canonical form."""
    return _canonical(current, types, sample_positions(len(current), sample, seed, "current"))


def _canonical(frame: Any, types: Mapping[str, str], positions: Any) -> Any:
    """Only the used columns of the sampled rows are copied. The cached reference decodes to
    exactly this form, so warm and cold runs test the same data."""
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for c, kind in types.items():
        s = frame[c] if positions is None else frame[c].take(positions)
        if kind == "numerical":
            plain = isinstance(s.dtype, np.dtype) and s.dtype.kind in "iuf"
            out[c] = s.to_numpy() if plain else s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            names = np.array([str(u) for u in uniques], dtype=object)
            labels, remap = np.unique(names, return_inverse=True)
            codes = np.where(codes < 0, -1, remap.reshape(-1)[np.maximum(codes, 0)])
            out[c] = pd.Categorical.from_codes(codes, categories=list(labels))
    return pd.DataFrame(out)


def reference_profile(
    reference: Any,
    types: dict[str, str],
    *,
    sample: int | None,
    seed: int,
    cache: str | Path | None,
) -> tuple[ReferenceProfile, bool]:
    """The reference's profile, from ``cache`` when an entry for this content and these
    settings exists (second value ``True``), else built (and stored when ``cache`` is given)."""
    path, key = None, ""
    if cache is not None:
        key = _digest(reference, types, sample, seed)
        path = Path(cache) / f"reference-{key[:40]}.npz"
        loaded = _load(path, key, types)
        if loaded is not None:
            return loaded, True
    positions = sample_positions(len(reference), sample, seed, "reference")
    frame = _canonical(reference, types, positions)
    summary = {c: _summary(frame[c], kind) for c, kind in types.items()}
    profile = ReferenceProfile(frame=frame, n_rows=len(reference), summary=summary)
    if path is not None:
        _store(path, key, profile, types)
    return profile, False


def _summary(values: Any, kind: str) -> dict[str, Any]:
    """A reference column's binning and counts (JSON, kept in the cache)."""
    import numpy as np

    if kind == "numerical":
        integer = np.asarray(values).dtype.kind in "iub"
        data = np.asarray(values, dtype=np.float64)
        finite = data[np.isfinite(data)]
        edges: list[float] = []
        if finite.size:
            quantiles = np.quantile(finite, np.linspace(0, 1, N_BINS + 1)[1:-1])
            if integer:  # whole-number edges: such bins read as "3" or "4-6"
                quantiles = np.round(quantiles)
            edges = sorted({float(f"{q:.2g}") + 0.0 for q in quantiles})  # + 0.0: no "-0"
        counts = _bin_counts(data, edges)
        return {"kind": kind, "integer": integer, "edges": edges, "counts": counts}
    by_label = _category_counts(values)
    return {"kind": kind, "labels": list(by_label), "counts": list(by_label.values())}


def current_distribution(summary: Mapping[str, Any], values: Any, min_count: int) -> dict[str, Any]:
    """Reference and current counts in shared cells, small cells merged (module docstring), as
    the keyword arguments of :class:`nbmlops.review.drift.Distribution`."""
    labels: list[str]
    if summary["kind"] == "numerical":
        edges = list(summary["edges"])
        now = _bin_counts(values, edges)
        cells = [
            ((i, i), r, c) for i, (r, c) in enumerate(zip(summary["counts"], now, strict=True))
        ]
        merged = _merge_ordered([cell for cell in cells if cell[1] or cell[2]], min_count)
        integer = bool(summary.get("integer"))
        labels = [_bin_label(edges, first, last, integer) for (first, last), _, _ in merged or ()]
    else:
        ref = dict(zip(summary["labels"], summary["counts"], strict=True))
        cur = _category_counts(values)
        names = list(ref) + sorted(set(cur) - set(ref))
        merged = _merge_pooled([(n, ref.get(n, 0), cur.get(n, 0)) for n in names], min_count)
        labels = [str(name) for name, _, _ in merged or ()]
    if merged is None:
        return {"labels": (), "reference": (), "current": (), "suppressed": True}
    return {
        "labels": tuple(labels),
        "reference": tuple(int(r) for _, r, _ in merged),
        "current": tuple(int(c) for _, _, c in merged),
        "suppressed": False,
    }


def _bin_counts(values: Any, edges: list[float]) -> list[int]:
    """Counts of the bins ``< e0``, ``[e0, e1)`` ... ``>= e_last``, then of missing values."""
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(data)
    cells = np.searchsorted(np.asarray(edges, dtype=np.float64), data[finite], side="right")
    counts = np.bincount(cells, minlength=len(edges) + 1)
    return [int(n) for n in counts] + [int((~finite).sum())]


def _category_counts(values: Any) -> dict[str, int]:
    import pandas as pd

    counts = pd.Series(values).value_counts(dropna=False, sort=True)
    return {MISSING if pd.isna(k) else str(k): int(n) for k, n in counts.items() if n}


Cell = tuple[Any, int, int]  # (bin range or label, reference count, current count)


def _small(cell: Cell, min_count: int) -> bool:
    return 0 < cell[1] < min_count or 0 < cell[2] < min_count


def _join(a: Cell, b: Cell) -> Cell:
    return ((a[0][0], b[0][1]), a[1] + b[1], a[2] + b[2])


def _merge_ordered(cells: list[Cell], min_count: int) -> list[Cell] | None:
    """Merge neighbouring ``((first, last), ref, cur)`` bins until no cell is small: the smallest
    small cell joins the neighbour that makes it large enough (of two that do, the smaller one; of
    none, the larger), so one stray bin does not swallow a run of bins empty in one frame."""
    groups = list(cells)
    while small := [i for i, g in enumerate(groups) if _small(g, min_count)]:
        if len(groups) == 1:
            return None
        i = min(small, key=lambda k: groups[k][1] + groups[k][2])
        sides = [j for j in (i - 1, i + 1) if 0 <= j < len(groups)]
        pairs = [(j, _join(groups[min(i, j)], groups[max(i, j)])) for j in sides]
        j, merged = min(pairs, key=lambda p: (_small(p[1], min_count), p[1][1] + p[1][2]))
        if all(_small(m, min_count) for _, m in pairs):
            j, merged = max(pairs, key=lambda p: p[1][1] + p[1][2])
        groups[min(i, j) : max(i, j) + 1] = [merged]
    return groups or None


def _merge_pooled(cells: list[Cell], min_count: int) -> list[Cell] | None:
    """Pool small ``(label, ref, cur)`` categories into ``(other)`` (module docstring)."""
    shown = [c for c in cells if (c[1] or c[2]) and not _small(c, min_count)]
    pooled = [c for c in cells if _small(c, min_count)]
    other: Cell = (OTHER, sum(c[1] for c in pooled), sum(c[2] for c in pooled))
    while pooled and _small(other, min_count) and shown:
        smallest = min(shown, key=lambda c: (c[1] + c[2], c[0]))
        shown.remove(smallest)
        pooled.append(smallest)
        other = (OTHER, other[1] + smallest[1], other[2] + smallest[2])
    if (pooled and _small(other, min_count)) or not (shown or pooled):
        return None
    return shown + ([other] if pooled else [])


def _bin_label(edges: list[float], first: int, last: int, integer: bool) -> str:
    """``[a, b)``, ``< b`` or ``>= a`` for bins ``first..last`` (whole numbers: ``a``,
    ``a-c``, ``<= c``); the missing cell is number ``len(edges) + 1``."""
    k = len(edges)
    if first == k + 1:
        return MISSING
    low = edges[first - 1] if first > 0 else None
    high = edges[last] if last < k else None
    if low is None:
        label = "all values" if high is None else (f"≤ {high - 1:g}" if integer else f"< {high:g}")
    elif high is None:
        label = f"≥ {low:g}"
    elif integer:
        label = f"{low:g}" if high == low + 1 else f"{low:g}-{high - 1:g}"
    else:
        label = f"[{low:g}, {high:g})"
    return label + (" or missing" if last == k + 1 else "")


def _digest(reference: Any, types: dict[str, str], sample: int | None, seed: int) -> str:
    """sha256 of the settings and of the reference's used columns: pandas' per-row hashes of each
    column, folded into one 64-bit hash per row (order-sensitive), so the sha256 reads 8 bytes
    per row rather than 8 per cell."""
    import numpy as np
    import pandas as pd

    h = hashlib.sha256()
    settings = {
        "format": [_CACHE_FORMAT, N_BINS],
        "columns": list(types),
        "types": types,
        "dtypes": [str(reference[c].dtype) for c in types],
        "rows": len(reference),
        "sample": sample,
        "seed": seed,
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    rows = np.zeros(len(reference), dtype=np.uint64)
    for c in types:
        rows *= np.uint64(0x100000001B3)  # FNV-1a's prime; wraps modulo 2**64
        rows ^= pd.util.hash_pandas_object(reference[c], index=False).to_numpy()
    h.update(rows.tobytes())
    return h.hexdigest()


def _store(path: Path, key: str, profile: ReferenceProfile, types: dict[str, str]) -> None:
    """Values or category codes as arrays, and JSON metadata (key, labels, summary), written to
    an owner-only temporary file and renamed into place. No fsync: an entry that a crash leaves
    torn or missing is simply rebuilt."""
    import numpy as np

    arrays: dict[str, Any] = {}
    labels: dict[str, list[str]] = {}
    for i, c in enumerate(types):
        s = profile.frame[c]
        if types[c] == "categorical":
            arrays[f"c{i}"] = np.asarray(s.cat.codes)
            labels[c] = [str(x) for x in s.cat.categories]
        else:
            arrays[f"c{i}"] = np.asarray(s)
    meta = {"key": key, "rows": profile.n_rows, "labels": labels, "summary": profile.summary}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(prefix=".reference-", suffix=".tmp", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, types: dict[str, str]) -> ReferenceProfile | None:
    """The cached profile, or ``None`` when absent, unreadable or not this reference's."""
    import numpy as np
    import pandas as pd

    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes().decode())
            if meta["key"] != key or list(meta["summary"]) != list(types):
                return None
            columns: dict[str, Any] = {}
            for i, (c, kind) in enumerate(types.items()):
                values = stored[f"c{i}"]
                if kind == "categorical":
                    columns[c] = pd.Categorical.from_codes(values, categories=meta["labels"][c])
                else:
                    columns[c] = values
        summary = meta["summary"]
        if not all(isinstance(s["counts"], list) for s in summary.values()):
            return None
        return ReferenceProfile(
            frame=pd.DataFrame(columns), n_rows=int(meta["rows"]), summary=summary
        )
    except Exception:  # any damage (truncated zip, bad JSON, missing arrays): rebuild the entry
        return None
