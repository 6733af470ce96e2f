"""nbmlops.review.drift: scores match evidently, the generator's shifts are found, samples and
the reference cache behave, small cells and raw rows never show."""

from __future__ import annotations

import functools
import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import render_cell

from nbmlops.demo.datasets import IDENTIFIER_COLUMNS, synthetic_patients
from nbmlops.errors import InvalidInputError
from nbmlops.review.drift import DriftResult, drift
from nbmlops.review.drift_profile import current_distribution

FEATURES = [
    "age",
    "sex",
    "race_ethnicity",
    "payer",
    "region",
    "site",
    "primary_dx",
    "comorbidity_count",
    "prior_pdc",
    "refill_gap_days",
    "n_medications",
    "monthly_copay",
]
NUMERICAL = ["age", "comorbidity_count", "prior_pdc", "refill_gap_days", "n_medications"]
NUMERICAL += ["monthly_copay"]
SHIFTED = {"age", "monthly_copay", "prior_pdc", "payer"}  # what drift= moves (datasets.py)


@functools.cache
def _frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    return synthetic_patients(rows, seed=seed, drift=shift)[FEATURES]


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame, **preset: Any) -> dict[str, Any]:
    """evidently called directly, column types given as the wrapper infers them."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=NUMERICAL,
        categorical_columns=[c for c in FEATURES if c not in NUMERICAL],
        text_columns=[],
        datetime_columns=[],
        unknown_columns=[],
        list_columns=[],
    )
    report = Report([DataDriftPreset(**preset)], include_tests=True)
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    found = snapshot.dict()
    failed = {
        t["metric_config"]["params"].get("column"): t["status"].value == "FAIL"
        for t in found["tests"]
    }
    columns = {
        m["config"]["column"]: (m["config"]["method"], m["value"], m["config"]["threshold"])
        for m in found["metrics"]
        if "column" in m["config"]
    }
    return {"columns": columns, "failed": failed, "count": found["metrics"][0]["value"]}


@pytest.mark.parametrize(
    ("sample", "settings"),
    [
        (None, {}),
        (1500, {"drift_share": 0.25}),
        (None, {"method": "psi", "threshold": 0.05}),
        (None, {"per_column_method": {"payer": "chisquare", "age": "psi"}}),
    ],
)
def test_scores_equal_evidently_called_directly(sample: int | None, settings: Any) -> None:
    ref, cur = _frame(3000, 1, 0.0), _frame(3000, 2, 0.6)
    result = drift(ref, cur, sample=sample, seed=5, **settings)
    if sample is not None:  # the documented sampling rule, applied by hand
        pick = [
            np.sort(np.random.default_rng([5, stream]).choice(3000, sample, replace=False))
            for stream in (0, 1)
        ]
        ref, cur = ref.take(pick[0]), cur.take(pick[1])
    expected = _evidently(ref, cur, **settings)
    assert [c.name for c in result.columns] == FEATURES
    for column in result.columns:
        method, score, threshold = expected["columns"][column.name]
        assert column.stattest == method
        assert column.score == pytest.approx(score, rel=1e-9, abs=1e-12)
        assert column.threshold == threshold
        assert column.drifted is expected["failed"][column.name]
    assert result.n_drifted == expected["count"]["count"] == sum(c.drifted for c in result.columns)
    assert result.share_drifted == pytest.approx(expected["count"]["share"])
    share = settings.get("drift_share", 0.5)
    assert result.dataset_drift is (expected["failed"][None]) is (result.share_drifted >= share)
    assert result.n_reference_sampled == len(ref) and result.n_current_sampled == len(cur)
    if "method" in settings:
        assert {c.stattest for c in result.columns} == {"psi"}
        assert {c.threshold for c in result.columns} == {0.05}


@pytest.fixture(scope="module")
def shifted() -> DriftResult:
    """The generator's later batch (drift=1) against its reference population."""
    return drift(_frame(3000, 1, 0.0), _frame(3000, 2, 1.0))


def test_the_generators_shifts_are_found_and_a_clean_batch_is_not(shifted: DriftResult) -> None:
    assert set(shifted.drifted_columns) >= SHIFTED
    assert shifted.drifted_columns[0] in SHIFTED
    assert shifted.cache_hit is None  # no cache given
    clean = drift(_frame(3000, 1, 0.0), _frame(3000, 3, 0.0))
    assert clean.n_drifted <= 1
    assert not set(clean.drifted_columns) & SHIFTED
    assert not clean.dataset_drift
    assert clean.headline() == {
        "share_drifted": clean.share_drifted,
        "n_drifted": float(clean.n_drifted),
        "dataset_drift": 0.0,
        "n_columns": 12.0,
    }


def test_sampling_bounds_the_sizes_and_repeats_for_a_seed(shifted: DriftResult) -> None:
    ref, cur = _frame(6000, 1, 0.0), _frame(5000, 2, 0.5)
    first = drift(ref, cur, sample=2000, seed=1)
    assert (first.n_reference, first.n_current) == (6000, 5000)
    assert (first.n_reference_sampled, first.n_current_sampled) == (2000, 2000)
    assert first.to_dict() == drift(ref, cur, sample=2000, seed=1).to_dict()
    other = drift(ref, cur, sample=2000, seed=2)
    assert [c.score for c in other.columns] != [c.score for c in first.columns]
    for column in first.columns:  # distributions count the compared rows
        assert sum(column.distribution.reference) == sum(column.distribution.current) == 2000
    assert "a seeded uniform sample of 2,000 compared (seed 1)" in first.to_html()
    assert (shifted.n_reference_sampled, shifted.n_current_sampled) == (3000, 3000)
    assert "3,000 rows, all compared" in shifted.to_html()


def test_reference_cache_hit_gives_the_same_result(tmp_path: Path) -> None:
    folder = tmp_path / ".nbmlops" / "cache" / "drift"
    ref, cur = _frame(3000, 1, 0.0), _frame(3000, 2, 0.5)
    cold = drift(ref, cur, sample=2000, cache=folder)
    (entry,) = folder.glob("reference-*.npz")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    warm = drift(ref, cur, sample=2000, cache=folder)
    assert (cold.cache_hit, warm.cache_hit) == (False, True)
    assert warm.to_json() == cold.to_json()  # the same bytes: how it was computed is not saved


def _profile(frame: pd.DataFrame, folder: Path, sample: int = 2000) -> tuple[Any, bool]:
    from nbmlops.review.drift_profile import column_types, reference_profile

    types = column_types(frame, frame, FEATURES, None, None)
    return reference_profile(frame, types, sample=sample, seed=0, cache=folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_reference"])
def test_reference_cache_keys_and_a_corrupt_entry_is_rebuilt(tmp_path: Path, damage: str) -> None:
    ref = _frame(3000, 1, 0.0)
    cold, hit = _profile(ref, tmp_path)
    assert not hit
    (entry,) = tmp_path.glob("reference-*.npz")
    warm, hit = _profile(ref, tmp_path)
    assert hit
    pd.testing.assert_frame_equal(warm.frame, cold.frame)
    assert (warm.summary, warm.n_rows) == (cold.summary, 3000)
    assert not _profile(ref, tmp_path, sample=1000)[1]  # other settings: another entry
    changed = ref.assign(age=ref["age"].where(ref.index != 7, 200))  # one value differs
    assert not _profile(changed, tmp_path)[1]
    assert len(list(tmp_path.glob("reference-*.npz"))) == 3

    good = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    else:  # a valid entry of another reference, under this reference's name
        other = next(p for p in tmp_path.glob("reference-*.npz") if p != entry)
        entry.write_bytes(other.read_bytes())
    rebuilt, hit = _profile(ref, tmp_path)
    assert not hit
    pd.testing.assert_frame_equal(rebuilt.frame, cold.frame)
    assert _profile(ref, tmp_path)[1]
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


@pytest.mark.parametrize("columns", [None, ["age", "ssn"]])
def test_identifier_columns_are_refused(columns: list[str] | None) -> None:
    frame = synthetic_patients(200, seed=1)
    with pytest.raises(InvalidInputError, match="identifiers: drop them") as caught:
        drift(frame, frame, columns=columns)
    named = "ssn" if columns else "patient_name"
    assert named in str(caught.value) and caught.value.argument == "columns"
    assert set(IDENTIFIER_COLUMNS) & set(frame.columns)


@pytest.mark.parametrize(
    ("kwargs", "word", "argument"),
    [
        ({"sample": 0}, "sample", "sample"),
        ({"seed": -1}, "seed", "seed"),
        ({"drift_share": 1.5}, "drift_share", "drift_share"),
        ({"threshold": -0.1}, "threshold", "threshold"),
        ({"columns": ["age", "nope"]}, "not in both", "columns"),
        ({"categorical": ["nope"]}, "not tested", "categorical"),
        ({"categorical": ["age"], "numerical": ["age"]}, "both categorical", "numerical"),
        ({"numerical": ["payer"]}, "non-numbers", "numerical"),
        ({"per_column_method": {"bmi": "ks"}}, "per_column_method", "per_column_method"),
        ({"reference": "not a frame"}, "reference", "reference"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], word: str, argument: str) -> None:
    frame = _frame(300, 1, 0.0)
    args = {"reference": frame, "current": frame} | kwargs
    with pytest.raises(InvalidInputError, match=word) as refused:
        drift(**args)
    assert refused.value.argument == argument


def test_dates_are_refused() -> None:
    frame = synthetic_patients(200, seed=1)[["age", "service_date"]].rename(
        columns={"service_date": "index_day"}
    )
    with pytest.raises(InvalidInputError, match="'index_day' holds dates") as refused:
        drift(frame, frame)
    assert refused.value.argument == "columns"


def test_small_cells_are_merged_pooled_or_suppressed() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(50, 10, 995), [1e6, 2e6, 3e6, 4e6, 5e6]])
    cats = np.array(["A"] * 600 + ["B"] * 390 + ["C"] * 10)
    ref = pd.DataFrame({"x": values, "c": cats})
    now = ["A"] * 500 + ["B"] * 490 + ["C"] * 7 + ["new"] * 3  # small cells on the current side
    cur = pd.DataFrame({"x": rng.normal(52, 10, 1000), "c": now})
    result = drift(ref, cur)
    for column in result.columns:
        d = column.distribution
        assert not d.suppressed
        assert all(n == 0 or n >= 10 for n in (*d.reference, *d.current))
    c = result.column("c").distribution
    assert c.labels == ("A", "B", "(other)")
    assert (c.reference, c.current) == ((600, 390, 10), (500, 490, 10))
    x = result.column("x").distribution
    with pytest.raises(InvalidInputError, match="'nope' was not tested"):
        result.column("nope")
    assert x.labels[-1].startswith("≥") and x.reference[-1] >= 10  # outliers joined a bin
    assert "1e+06" not in "".join(x.labels)

    tiny = drift(ref.head(8), cur.head(8))
    assert all(c.distribution.suppressed for c in tiny.columns)
    assert all(c.distribution.reference == () for c in tiny.columns)


def test_pooled_other_that_stays_small_takes_the_smallest_category() -> None:
    summary = {"kind": "categorical", "labels": ["A", "B", "C", "D"], "counts": [500, 40, 30, 4]}
    values = ["A"] * 520 + ["B"] * 35 + ["C"] * 33 + ["D"] * 12
    out = current_distribution(summary, pd.Series(values), 10)
    assert out["labels"] == ("A", "B", "(other)")
    assert out["reference"] == (500, 40, 34) and out["current"] == (520, 35, 45)
    numeric = {"kind": "numerical", "integer": False, "edges": [1.0, 2.0], "counts": [5, 5, 50, 3]}
    merged = current_distribution(numeric, pd.Series([0.5] * 20 + [1.5] * 2 + [2.5] * 30), 10)
    assert merged["labels"] == ("< 2", "≥ 2 or missing")
    assert merged["reference"] == (10, 53) and merged["current"] == (22, 30)
    flat = {"kind": "numerical", "integer": False, "edges": [1.0, 2.0], "counts": [50, 50, 50, 0]}
    sparse = current_distribution(flat, pd.Series([0.5] * 30 + [1.5] * 4 + [2.5] * 30), 10)
    assert sparse["labels"] == ("< 2", "≥ 2")
    assert sparse["reference"] == (100, 50) and sparse["current"] == (34, 30)
    # a stray small bin next to bins one frame leaves empty joins the side that fixes it
    tail = {
        "kind": "numerical",
        "integer": True,
        "edges": [1.0, 2.0, 3.0],
        "counts": [80] * 4 + [0],
    }
    kept = current_distribution(tail, pd.Series([0] * 40 + [1] * 60 + [2] * 5), 10)
    assert kept["labels"] == ("≤ 0", "1-2", "≥ 3")
    assert kept["reference"] == (80, 160, 80) and kept["current"] == (40, 65, 0)


def _raw_values(frame: pd.DataFrame) -> list[str]:
    """Distinctive row-level values: copays with cents over $100, as the frame holds them."""
    copays = frame["monthly_copay"]
    return [f"{v:.2f}" for v in copays[(copays > 100) & (copays * 100 % 10 != 0)].head(200)]


def test_json_and_html_hold_no_raw_rows_and_round_trip(
    tmp_path: Path, shifted: DriftResult
) -> None:
    ref, cur, result = _frame(3000, 1, 0.0), _frame(3000, 2, 1.0), shifted
    raw = _raw_values(ref) + _raw_values(cur)
    assert len(raw) > 50
    text = result.to_json(tmp_path / "drift.json")
    page = result.to_html()
    assert not [v for v in raw if v in text or v in page]
    assert "<script" not in page.lower() and "http" not in page
    assert page.count("data:image/png;base64,") == 1
    assert "<th>threshold</th>" in page and "✔ yes" in page and "✘ no" in page
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    assert [r.split("<td>")[1].split("</td>")[0] for r in rows[: result.n_drifted]] == list(
        result.drifted_columns
    )

    rebuilt = DriftResult.from_dict(json.loads((tmp_path / "drift.json").read_text()))
    assert rebuilt.to_dict() == result.to_dict()
    assert rebuilt == result
    assert rebuilt.to_html() == page
    assert rebuilt.widget() is not None


def test_widget_picks_a_column_and_filters_to_drifted(shifted: DriftResult) -> None:
    result = shifted
    view = result.widget()
    summary, controls, image, table = view.children
    picker, only = controls.children
    assert "columns drifted" in summary.value
    assert list(picker.options) == [c.name for c in result.ranked()]
    first = image.value
    picker.value = "sex"
    assert image.value != first
    assert "<td>sex</td>" in table.value

    only.value = True
    assert list(picker.options) == list(result.drifted_columns)
    assert picker.value == result.drifted_columns[0]  # "sex" did not drift
    assert "<td>sex</td>" not in table.value
    assert table.value.count("✔ yes") == result.n_drifted
    only.value = False
    assert len(picker.options) == 12 and "<td>sex</td>" in table.value


def test_static_rendering_in_an_executed_notebook_and_nbconvert(tmp_path: Path) -> None:
    code = (
        "from nbmlops.demo.datasets import synthetic_patients\n"
        "from nbmlops.review.drift import drift\n"
        f"features = {FEATURES!r}\n"
        "reference = synthetic_patients(3000, seed=1)[features]\n"
        "current = synthetic_patients(3000, seed=2, drift=1.0)[features]\n"
        "drift(reference, current, sample=2500)"
    )
    shown = render_cell(tmp_path, code, "drift")
    executed, data = shown.executed, shown.data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<th>drifted</th>" in data["text/html"]
    assert "data:image/png;base64," in data["text/html"]

    raw = _raw_values(_frame(3000, 1, 0.0)) + _raw_values(_frame(3000, 2, 1.0))
    exported = shown.plain_html
    assert not [v for v in raw if v in exported]
    # with the widget state saved, nbconvert shows the widget view; without it (a notebook saved
    # from a closed kernel) it shows the static HTML of the same output
    assert "widgets" in executed.metadata
    static = shown.pipeline_html  # what a pipeline run exports: no saved widget state
    assert "<th>drifted</th>" in static and "seeded uniform sample of 2,500" in static
    assert "data:image/png;base64," in static
    assert not [v for v in raw if v in static]
