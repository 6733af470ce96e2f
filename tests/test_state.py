"""Build state digests: RFC 8785 over the stage's inputs; a state of the older format reruns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rfc8785

from nbmlops.authoring.stage import StageSpec
from nbmlops.run.state import (
    STATE_FILE,
    StageState,
    fingerprint,
    read_state,
    record_products,
    stage_inputs,
    write_state,
)


def _stage(tmp_path: Path) -> StageSpec:
    return StageSpec(name="train", path=tmp_path / "train.ipynb", upstream=("load",),
                     products={"model": "model.skops"}, source_digest="ab" * 32)  # fmt: skip


def test_the_fingerprint_and_input_digests_are_rfc_8785(tmp_path: Path) -> None:
    params = {"lr": 1.0, "name": "Zoë", "layers": [64, 32]}
    inputs = stage_inputs(_stage(tmp_path), params=params, lock_digest="cd" * 32,
                          upstream={"load.data": "ef" * 32, "load.gone": None})  # fmt: skip
    meta = {"products": {"model": "model.skops"}, "kernel": "python3", "upstream": ["load"]}
    assert inputs == {
        "source": "ab" * 32,
        "stage": hashlib.sha256(rfc8785.dumps(meta)).hexdigest(),
        "params": hashlib.sha256(rfc8785.dumps(params)).hexdigest(),
        "environment": "cd" * 32,
        "upstream:load.data": "ef" * 32,
        "upstream:load.gone": "missing",
    }
    expected = hashlib.sha256(rfc8785.dumps({"format": 2, **inputs})).hexdigest()
    assert fingerprint(inputs) == expected


def test_a_parameter_json_numbers_cannot_hold_exactly_still_has_its_own_digest(
    tmp_path: Path,
) -> None:
    stage = _stage(tmp_path)
    digests = {
        stage_inputs(stage, params={"seed": value}, lock_digest=None, upstream={})["params"]
        for value in (2**64, 2**64 + 1, float(2**64), str(2**64))
    }
    assert len(digests) == 4


def test_a_folder_product_is_hashed_over_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"a")
    (folder / "sub" / "b.png").write_bytes(b"b")
    [record] = record_products(tmp_path, {"plots": "plots"}).values()
    files = [["a.png", hashlib.sha256(b"a").hexdigest()],
             ["sub/b.png", hashlib.sha256(b"b").hexdigest()]]  # fmt: skip
    assert record.sha256 == hashlib.sha256(rfc8785.dumps(files)).hexdigest()


def test_a_state_of_format_1_reads_as_absent_so_the_stage_runs_once_more(tmp_path: Path) -> None:
    state = StageState(fingerprint="f", inputs={}, products={}, run_id="r", finished_at="t")
    write_state(tmp_path, state)
    assert read_state(tmp_path) == state
    written = json.loads((tmp_path / STATE_FILE).read_text())
    assert written["format"] == 2
    (tmp_path / STATE_FILE).write_text(json.dumps({**written, "format": 1}))
    assert read_state(tmp_path) is None
