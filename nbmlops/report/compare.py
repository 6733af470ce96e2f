"""One product of a recorded run against the same product made again.

Identical bytes are the goal (and what the example pipeline gets). When the bytes differ, a
format whose content can be read is compared by content: JSON after RFC 8785 canonical
serialisation, then number by number within :data:`~nbmlops.report.reproduction.TOLERANCE`; a
skops model after canonical serialisation, then its schema and every array within tolerance (the
parameters its predictions are computed from); a CSV or Parquet table cell by cell within
tolerance; an executed notebook without its run metadata (times, durations). The scratch
project's folder is read as the project's own in text (injected paths), so a path is no
difference. Anything else that differs is ``different``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbmlops._core.digests import canonical_json, file_digest
from nbmlops.report.reproduction import TOLERANCE, ProductCheck

__all__ = ["compare_product"]

_Outcome = tuple[bool, str]


def compare_product(
    *,
    stage: str,
    product: str,
    recorded_digest: str,
    original: Path | None,
    new: Path | None,
    paths: tuple[str, str],
) -> ProductCheck:
    """Compare the product the run recorded (``original``: its bytes, when still kept, else None)
    with the one the reproduction made (``new``; None or absent: ``missing``).

    ``paths`` is (scratch project folder, project folder): the first is read as the second in
    text formats.
    """

    def check(verdict: Any, new_digest: str | None, detail: str) -> ProductCheck:
        return ProductCheck(
            stage=stage,
            product=product,
            recorded_digest=recorded_digest,
            new_digest=new_digest,
            verdict=verdict,
            detail=detail,
        )

    if new is None or not new.is_file():
        return check("missing", None, "the reproduction did not produce it")
    digest = file_digest(new)
    if digest == recorded_digest:
        return check("identical", digest, "")
    if original is None:
        return check(
            "different",
            digest,
            "bytes differ; the recorded bytes are no longer kept (build/ replaced, not archived), "
            "so the content was not compared",
        )
    compare = _BY_SUFFIX.get(new.suffix.lower())
    if compare is None:
        return check("different", digest, f"bytes differ ({new.suffix or 'no suffix'}: no content "
                     "comparison)")  # fmt: skip
    try:
        same, detail = compare(original.read_bytes(), new.read_bytes(), paths)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        return check("different", digest, f"bytes differ; content unreadable: {exc}")
    return check("equivalent" if same else "different", digest, detail)


# -- numbers ----------------------------------------------------------------------------------


def _numbers_close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOLERANCE["atol"] + TOLERANCE["rtol"] * abs(a)


def _walk(a: Any, b: Any, where: str, worst: list[float]) -> str | None:
    """Where ``a`` and ``b`` differ beyond tolerance (None: nowhere); ``worst`` keeps the largest
    numeric difference seen."""
    if isinstance(a, dict) and isinstance(b, dict):
        return _walk_dict(a, b, where, worst)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}/ (length {len(a)} vs {len(b)})"
        found = (
            _walk(x, y, f"{where}/{i}", worst) for i, (x, y) in enumerate(zip(a, b, strict=True))
        )
        return next((f for f in found if f), None)
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        if a != b:
            worst[0] = max(worst[0], abs(float(a) - float(b)))
        return None if _numbers_close(float(a), float(b)) else where or "/"
    return None if a == b else where or "/"


def _walk_dict(a: dict[str, Any], b: dict[str, Any], where: str, worst: list[float]) -> str | None:
    if sorted(a) != sorted(b):
        return f"{where}/ (keys {sorted(set(a) ^ set(b))[:5]})"
    found = (_walk(a[key], b[key], f"{where}/{key}", worst) for key in sorted(a))
    return next((f for f in found if f), None)


def _tolerance_text() -> str:
    return f"rtol={TOLERANCE['rtol']:g}, atol={TOLERANCE['atol']:g}"


def _compare_values(a: Any, b: Any, what: str) -> _Outcome:
    if canonical_json(a, strict=False) == canonical_json(b, strict=False):
        return True, f"{what} equal after canonical serialisation (RFC 8785)"
    worst = [0.0]
    where = _walk(a, b, "", worst)
    if where is None:
        return True, f"{what} equal within {_tolerance_text()} (largest difference {worst[0]:.3g})"
    return False, f"{what} differ at {where}"


# -- formats ----------------------------------------------------------------------------------


def _text(data: bytes, paths: tuple[str, str]) -> str:
    return data.decode("utf-8").replace(paths[0], paths[1])


def _json(a: bytes, b: bytes, paths: tuple[str, str]) -> _Outcome:
    return _compare_values(json.loads(_text(a, paths)), json.loads(_text(b, paths)), "values")


def _without_run_metadata(nb: dict[str, Any]) -> dict[str, Any]:
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("papermill", None)
        meta.pop("execution", None)
    return nb


def _notebook(a: bytes, b: bytes, paths: tuple[str, str]) -> _Outcome:
    left = _without_run_metadata(json.loads(_text(a, paths)))
    right = _without_run_metadata(json.loads(_text(b, paths)))
    same, detail = _compare_values(left, right, "cells and outputs")
    return same, detail + " (run times left out)"


def _csv(a: bytes, b: bytes, paths: tuple[str, str]) -> _Outcome:
    left = list(csv.reader(io.StringIO(_text(a, paths))))
    right = list(csv.reader(io.StringIO(_text(b, paths))))
    return _compare_values(_cells(left), _cells(right), "table cells")


def _cells(rows: list[list[str]]) -> list[list[Any]]:
    def value(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    return [[value(cell) for cell in row] for row in rows]


def _parquet(a: bytes, b: bytes, paths: tuple[str, str]) -> _Outcome:
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the lock

    left, right = pd.read_parquet(io.BytesIO(a)), pd.read_parquet(io.BytesIO(b))
    try:
        pd.testing.assert_frame_equal(
            left, right, check_exact=False, rtol=TOLERANCE["rtol"], atol=TOLERANCE["atol"]
        )
    except AssertionError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "values differ"
        return False, f"tables differ ({left.shape} vs {right.shape}): {first}"
    rows = left.shape[0]
    return True, f"tables equal within {_tolerance_text()} ({rows} rows; file metadata differs)"


def _skops(a: bytes, b: bytes, paths: tuple[str, str]) -> _Outcome:
    from nbmlops.records.model_file import canonical_skops

    left_bytes, right_bytes = canonical_skops(a), canonical_skops(b)
    if left_bytes == right_bytes:
        return True, "the same model after canonical serialisation (skops ids, entry order, dates)"
    with (
        zipfile.ZipFile(io.BytesIO(left_bytes)) as left,
        zipfile.ZipFile(io.BytesIO(right_bytes)) as right,
    ):
        if sorted(left.namelist()) != sorted(right.namelist()):
            return False, "the models hold different entries"
        if left.read("schema.json") != right.read("schema.json"):
            return False, "the models' schemas differ (another estimator or other settings)"
        return _arrays(left, right)


def _arrays(left: zipfile.ZipFile, right: zipfile.ZipFile) -> _Outcome:
    import numpy as np

    worst = 0.0
    for name in sorted(n for n in left.namelist() if n.endswith(".npy")):
        x = np.load(io.BytesIO(left.read(name)), allow_pickle=False)
        y = np.load(io.BytesIO(right.read(name)), allow_pickle=False)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False, f"array {name} differs in shape or type"
        if x.dtype.kind not in "fc":
            if not np.array_equal(x, y):
                return False, f"array {name} differs"
            continue
        if not np.allclose(x, y, rtol=TOLERANCE["rtol"], atol=TOLERANCE["atol"], equal_nan=True):
            return False, f"array {name} differs beyond {_tolerance_text()}"
        if x.size:
            worst = max(worst, float(np.nanmax(np.abs(x - y))))
    return True, (
        f"the same estimator with every parameter array within {_tolerance_text()} (largest "
        f"difference {worst:.3g}): its predictions are computed from these"
    )


_BY_SUFFIX: dict[str, Callable[[bytes, bytes, tuple[str, str]], _Outcome]] = {
    ".json": _json,
    ".ipynb": _notebook,
    ".csv": _csv,
    ".parquet": _parquet,
    ".skops": _skops,
}
