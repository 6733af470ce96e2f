"""`nbmlops.save_model`: skops' format, the same bytes for the same model (issue 12)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from nbmlops import save_model
from nbmlops.records.model_file import canonical_skops


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 6))
    y = (x[:, 0] + 0.5 * x[:, 3] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    return x, y


def _boosted(seed: int = 3) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(n_estimators=20, random_state=seed).fit(*_data())


def test_two_fits_of_the_same_seeded_model_are_the_same_bytes(tmp_path: Path) -> None:
    one, two = _boosted(), _boosted()
    assert sio.dumps(one) != sio.dumps(two)  # skops alone: ids (and times) differ
    a = save_model(one, tmp_path / "a.skops").read_bytes()
    b = save_model(two, tmp_path / "b.skops").read_bytes()
    assert a == b
    assert save_model(_boosted(seed=4), tmp_path / "c.skops").read_bytes() != a


def test_the_file_loads_with_skops_and_predicts_as_the_model(tmp_path: Path) -> None:
    x, y = _data()
    scaler = StandardScaler()
    # the same fitted object twice: skops' memo (one id, one array file) survives renumbering
    shared = make_pipeline(FeatureUnion([("a", scaler), ("b", scaler)]), LogisticRegression())
    for model in (_boosted(), shared.fit(x, y)):
        path = save_model(model, tmp_path / "model.skops")
        loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_entries_are_numbered_sorted_and_dated_the_zip_epoch(tmp_path: Path) -> None:
    path = save_model(_boosted(), tmp_path / "model.skops")
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        schema = archive.read("schema.json").decode()
    names = [i.filename for i in infos]
    assert names == sorted(names) and "schema.json" in names
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    arrays = sorted(int(n.removesuffix(".npy")) for n in names if n.endswith(".npy"))
    assert arrays and max(arrays) < 10_000  # renumbered from 0, not id() values
    assert all(f'"file": "{n}.npy"' in schema for n in arrays)


def test_a_file_skops_did_not_write_is_refused_not_rewritten() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", '{"__id__": 1, "file": "1.npy"}')
        archive.writestr("stray.npy", b"")
    with pytest.raises(ValueError, match=r"'stray\.npy' is not named in its schema"):
        canonical_skops(out.getvalue())
