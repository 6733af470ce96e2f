"""One product against its recorded digest (``nbmlops.report.compare``): identical bytes, or the
same content within the stated tolerance for the formats whose bytes are not stable, else
different or missing. Every case is a real file of its format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier

from nbmlops._core.digests import file_digest
from nbmlops.report.compare import compare_product
from nbmlops.report.reproduction import TOLERANCE, ProductCheck, Reproduction

SCRATCH, PROJECT = "/tmp/nbmlops-reproduce-x/worktree", "/srv/study"


def _check(original: Path | None, new: Path | None, recorded: Path) -> ProductCheck:
    return compare_product(
        stage="s",
        product="p",
        recorded_digest=file_digest(recorded),
        original=original,
        new=new,
        paths=(SCRATCH, PROJECT),
    )


def _pair(tmp_path: Path, suffix: str, a: bytes, b: bytes) -> tuple[Path, Path]:
    """Two files of one name (as build/ and the scratch build hold them); an empty ``a`` writes
    only the second, in a folder of its own."""
    folder = tmp_path / str(len(list(tmp_path.iterdir())))
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    one, two = folder / "a" / f"x{suffix}", folder / "b" / f"x{suffix}"
    if a:
        one.write_bytes(a)
    two.write_bytes(b)
    return one, two


def test_the_same_bytes_are_identical(tmp_path: Path) -> None:
    one, two = _pair(tmp_path, ".png", b"\x89PNG same", b"\x89PNG same")
    check = _check(one, two, one)
    assert (check.verdict, check.new_digest) == ("identical", check.recorded_digest)


def test_json_within_tolerance_is_equivalent_and_beyond_it_different(tmp_path: Path) -> None:
    base = {"auroc": 0.8123456789, "by_group": [{"n": 10, "rate": 0.25}], "path": f"{PROJECT}/a"}
    noisy = {**base, "auroc": 0.8123456789 * (1 + TOLERANCE["rtol"] / 10)}
    noisy["path"] = f"{SCRATCH}/a"  # the scratch project's path is the project's
    one, two = _pair(tmp_path, ".json", json.dumps(base).encode(), json.dumps(noisy).encode())
    check = _check(one, two, one)
    assert check.verdict == "equivalent" and "rtol=1e-09" in check.detail

    # the same values in another key order and spacing: equal after canonical serialisation
    _, three = _pair(tmp_path, ".json", b"", json.dumps(base, indent=4, sort_keys=True).encode())
    assert "canonical" in _check(one, three, one).detail

    far = {**base, "auroc": 0.8124}
    _, four = _pair(tmp_path, ".json", b"", json.dumps(far).encode())
    check = _check(one, four, one)
    assert check.verdict == "different" and "/auroc" in check.detail


def test_two_raw_skops_dumps_of_one_fit_are_equivalent(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0).astype(int)
    fits = [GradientBoostingClassifier(n_estimators=5, random_state=3).fit(x, y) for _ in "ab"]
    one, two = _pair(tmp_path, ".skops", sio.dumps(fits[0]), sio.dumps(fits[1]))
    assert one.read_bytes() != two.read_bytes()  # skops alone: id() names, entry dates
    check = _check(one, two, one)
    assert check.verdict == "equivalent" and "canonical" in check.detail

    other = GradientBoostingClassifier(n_estimators=5, random_state=3).fit(x, 1 - y)
    _, three = _pair(tmp_path, ".skops", b"", sio.dumps(other))
    assert _check(one, three, one).verdict == "different"


def test_tables_compare_cell_by_cell(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "p": [0.1, 0.2]})
    one, two = _pair(tmp_path, ".parquet", b"", b"")
    frame.to_parquet(one)
    frame.to_parquet(two, compression="gzip")  # other bytes, the same table
    assert file_digest(one) != file_digest(two)
    assert _check(one, two, one).verdict == "equivalent"

    csv_one, csv_two = _pair(tmp_path, ".csv", b"t,v\n0.3,0.5\n", b"t,v\n0.30,0.5000000000001\n")
    assert _check(csv_one, csv_two, csv_one).verdict == "equivalent"
    _, csv_three = _pair(tmp_path, ".csv", b"", b"t,v\n0.3,0.6\n")
    assert _check(csv_one, csv_three, csv_one).verdict == "different"


def test_an_executed_notebook_without_its_run_times_is_equivalent(tmp_path: Path) -> None:
    def nb(start: str) -> bytes:
        meta = {"papermill": {"start_time": start}, "execution": {"t": start}}
        out = [{"data": {"text/plain": "2"}}]
        cell = {"cell_type": "code", "source": "1 + 1", "outputs": out, "metadata": meta}
        return json.dumps(
            {"cells": [cell], "metadata": {"papermill": {"start_time": start}}}
        ).encode()

    one, two = _pair(tmp_path, ".ipynb", nb("10:00"), nb("11:00"))
    assert _check(one, two, one).verdict == "equivalent"


@pytest.mark.parametrize("kept", [False, True])
def test_missing_and_unkept_originals(tmp_path: Path, kept: bool) -> None:
    one, two = _pair(tmp_path, ".bin", b"recorded", b"made again")
    assert _check(one, None, one).verdict == "missing"
    assert _check(one, tmp_path / "absent.bin", one).verdict == "missing"
    check = _check(one if kept else None, two, one)
    assert check.verdict == "different"
    assert ("no content comparison" if kept else "no longer kept") in check.detail


def test_the_overall_verdict_is_the_worst_row() -> None:
    def row(verdict: str) -> ProductCheck:
        return ProductCheck(stage="s", product=verdict, recorded_digest="d", new_digest="d",
                            verdict=verdict)  # type: ignore[arg-type]  # fmt: skip

    def overall(*verdicts: str) -> str:
        return Reproduction(
            reproduction_id="r", run_id="x", pipeline="p", commit="c", env="checked",
            started_at="t", duration_s=1.0, new_run_id="y", new_run_status="succeeded",
            rows=tuple(row(v) for v in verdicts),
        ).verdict  # fmt: skip

    assert overall("identical", "identical") == "identical"
    assert overall("identical", "equivalent") == "equivalent"
    assert overall("equivalent", "missing") == "missing"
    assert overall("missing", "different", "identical") == "different"
    assert overall() == "different"
    again = Reproduction.from_dict(
        Reproduction(
            reproduction_id="r", run_id="x", pipeline="p", commit="c", env="fresh",
            started_at="t", duration_s=1.0, new_run_id="y", new_run_status="succeeded",
            rows=(row("identical"),),
        ).to_dict()
    )  # fmt: skip
    assert again.verdict == "identical" and again.env == "fresh"
