"""A project of a user's own on data shaped unlike the example: a CDISC ADaM subject-level table
(ADSL), from ``nbmlops init`` to a signed review of a past run, through the real command line only.

A biostatistician's generated extract ``data/adsl.csv`` (``USUBJID``, ``SITEID``, ``TRTSDT``,
``AGE``, ``AGEGR1``, ``SEX``, ``RACE``, baseline covariates, the discontinuation flag ``DCSFL``) is
read by two stages the test writes and tags with ``nbmlops stage set``: ``prepare`` (declared input
``adsl``, the subject identifier dropped, a features Parquet product) and ``model`` (a seeded
logistic regression, its fairness across ``AGEGR1`` and ``SEX`` logged as the demo's review stage
does). The raw file changes twice: clinical values (both stages run again, the status naming input
``adsl``), then only the subject numbering (``prepare`` runs, ``model`` is skipped: what it reads is
the same bytes). The first run is reviewed and signed after the later ones exist, and no
``USUBJID`` reaches anything nbmlops wrote.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from clinical import REPO, nbmlops_cli

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test signer's password

PREPARE = """\
from pathlib import Path

import pandas as pd

from nbmlops.records.scraps import record

assert Path(inputs["adsl"]).is_absolute()
adsl = pd.read_csv(inputs["adsl"], dtype={"SITEID": str}, parse_dates=["TRTSDT"])
# the subject identifier stays in the raw extract: nothing downstream needs it
features = adsl.drop(columns=["USUBJID"])
features["TRTSDY"] = (features["TRTSDT"] - features["TRTSDT"].min()).dt.days
features["FEMALE"] = (features["SEX"] == "F").astype(int)
features["DISCONT"] = (features["DCSFL"] == "Y").astype(int)
features = features.drop(columns=["TRTSDT", "DCSFL"])
features.to_parquet(product["features"], index=False)
record("subjects", len(features))
record("discontinued", int(features["DISCONT"].sum()))
"""

MODEL = """\
import json

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from skops.io import dump

from nbmlops.records.scraps import record
from nbmlops.review import fairness

data = pd.read_parquet(upstream["prepare"]["features"])
columns = ["AGE", "BMIBL", "EGFRBL", "FEMALE", "TRTSDY"]
train, test = train_test_split(
    data, test_size=test_share, random_state=seed, stratify=data["DISCONT"]
)
model = LogisticRegression(max_iter=1000).fit(train[columns], train["DISCONT"])
dump(model, product["model"])
risk = model.predict_proba(test[columns])[:, 1]
auroc = float(roc_auc_score(test["DISCONT"], risk))
with open(product["metrics"], "w") as fh:
    json.dump({"auroc": round(auroc, 6), "test_rows": len(test)}, fh, sort_keys=True)
record("auroc", auroc)
"""

FAIRNESS = """\
fair = fairness(
    y_true=test["DISCONT"],
    y_score=risk,
    threshold=threshold,
    sensitive_features=test[["AGEGR1", "SEX"]],
    min_group_size=min_group_size,
    n_bootstrap=n_bootstrap,
    seed=seed,
)
fair.to_json(product["fairness"])
fair.log()
fair
"""

AGE_GROUPS = ("<65", "65-80", ">80")


def _adsl(rows: int, seed: int) -> Any:
    """A subject-level analysis table as an ADaM ADSL extract holds it: discontinuation
    (``DCSFL``) more likely with age, a higher BMI and a lower eGFR at baseline."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    site = rng.choice(["101", "102", "103", "104", "105", "106"], size=rows)
    age = np.clip(rng.normal(68, 10, size=rows).round(), 40, 92).astype(int)
    bmi = rng.normal(28, 4.5, size=rows).round(1)
    egfr = np.clip(rng.normal(72, 18, size=rows), 15, 120).round(0)
    risk = -1.0 + 0.07 * (age - 68) + 0.12 * (bmi - 28) - 0.04 * (egfr - 72)
    discontinued = rng.random(rows) < 1 / (1 + np.exp(-risk))
    start = np.datetime64("2025-01-06") + rng.integers(0, 300, size=rows)
    return pd.DataFrame(
        {
            "USUBJID": [f"STUDY01-{s}-{n:04d}" for n, s in enumerate(site, start=1)],
            "SITEID": site,
            "TRTSDT": pd.to_datetime(start).strftime("%Y-%m-%d"),
            "AGE": age,
            "AGEGR1": pd.cut(age, [0, 64, 80, 200], labels=AGE_GROUPS).astype(str),
            "SEX": rng.choice(["F", "M"], size=rows),
            "RACE": rng.choice(
                ["WHITE", "BLACK OR AFRICAN AMERICAN", "ASIAN", "AMERICAN INDIAN OR ALASKA NATIVE"],
                p=[0.7, 0.15, 0.1, 0.05],
                size=rows,
            ),
            "BMIBL": bmi,
            "EGFRBL": egfr,
            "DCSFL": np.where(discontinued, "Y", "N"),
        }
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _notebook(path: Path, *cells: str) -> None:
    """A plain notebook of code cells, untagged: ``nbmlops stage set`` tags it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"{path.stem}-{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _status(root: Path) -> dict[str, list[dict[str, Any]]]:
    status = json.loads(_ok(nbmlops_cli(root, "status", "analysis", "--json")))
    return {stage["stage"]: stage["reasons"] for stage in status["stages"]}


def _run(root: Path, before: set[str]) -> dict[str, Any]:
    """``nbmlops run analysis``; the record of the run it made."""
    _ok(nbmlops_cli(root, "run", "analysis"))
    [new] = set((root / ".nbmlops" / "runs").glob("*.json")) - before
    record: dict[str, Any] = json.loads(new.read_text())
    assert record["status"] == "succeeded", record
    return record


def _stages(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["stage"]: stage for stage in record["stages"]}


def _contents(path: Path) -> bytes:
    """What a file holds, as bytes a search can find a value in: Parquet decoded (its pages are
    compressed), a zip's members (a skops model) read out, anything else as it is."""
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv(index=False).encode()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return b"\n".join(archive.read(name) for name in archive.namelist())
    return path.read_bytes()


def _runs(root: Path) -> set[Path]:
    return set((root / ".nbmlops" / "runs").glob("*.json"))


def test_an_adsl_extract_goes_from_init_to_a_signed_review_of_a_past_run(tmp_path: Path) -> None:
    started = time.monotonic()
    root = tmp_path / "adsl-study"
    root.mkdir()
    # this checkout's lock: the environment the kernel under test runs in (a fresh `uv lock`
    # resolves today's index, which only a fresh environment matches: test_project_wheel.py)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    made = _ok(nbmlops_cli(tmp_path, "init", root.name, "--nbmlops-source", str(REPO)))
    for name in ("README.md", ".gitignore", "pyproject.toml"):
        assert f"wrote {name}" in made and (root / name).is_file()
    assert "kept  uv.lock" in made
    assert f'nbmlops = {{ path = "{REPO}" }}' in (root / "pyproject.toml").read_text()

    adsl = root / "data" / "adsl.csv"
    adsl.parent.mkdir()
    first = _adsl(320, seed=12)
    first.to_csv(adsl, index=False)
    subjects = set(first["USUBJID"])

    _notebook(root / "analysis" / "prepare.ipynb", PREPARE)
    _notebook(root / "analysis" / "model.ipynb", MODEL, FAIRNESS)
    _ok(
        nbmlops_cli(
            root, "stage", "set", "analysis/prepare.ipynb", "--stage", "prepare",
            "--input", "adsl=data/adsl.csv", "--product", "features=features.parquet",
        )
    )  # fmt: skip
    _ok(
        nbmlops_cli(
            root, "stage", "set", "analysis/model.ipynb", "--stage", "model",
            "--upstream", "prepare", "--product", "model=model.skops",
            "--product", "metrics=metrics.json", "--product", "fairness=fairness.json",
            "--param", "seed=7", "--param", "test_share=0.4", "--param", "threshold=0.4",
            "--param", "min_group_size=10", "--param", "n_bootstrap=50",
        )
    )  # fmt: skip
    shown = json.loads(_ok(nbmlops_cli(root, "stage", "show", "analysis", "--json")))
    assert [(s["stage"], s["inputs"], s["upstream"]) for s in shown] == [
        ("prepare", {"adsl": "data/adsl.csv"}, []),
        ("model", {}, ["prepare"]),
    ]
    _ok(nbmlops_cli(root, "compile", "analysis"))
    assert (root / "pipelines" / "analysis" / "pipeline.yaml").is_file()

    # 1. the first run: both stages, the input's digest recorded
    one = _run(root, set())
    stages = _stages(one)
    assert [s["status"] for s in stages.values()] == ["succeeded", "succeeded"]
    assert stages["prepare"]["declared_inputs"]["adsl"] == {
        "path": "data/adsl.csv",
        "source": str(adsl),
        "sha256": _sha256(adsl),
    }
    assert stages["prepare"]["inputs"]["input:adsl"] == _sha256(adsl)
    assert stages["prepare"]["scraps"]["subjects"] == 320
    assert stages["model"]["scraps"]["auroc"] > 0.65  # the outcome depends on the covariates
    assert _status(root) == {"prepare": [], "model": []}
    first_fairness = stages["model"]["product_digests"]["fairness"]

    # 2. rows altered: prepare is stale through its input, model through prepare; both run
    second = first.copy()  # 30 late discontinuations, found when the database was locked
    second.loc[second.index[second["DCSFL"] == "N"][:30], "DCSFL"] = "Y"
    second.to_csv(adsl, index=False)
    assert _status(root) == {
        "prepare": [{"kind": "input_changed", "subject": "adsl", "text": "input adsl changed"}],
        "model": [
            {"kind": "upstream_will_run", "subject": "prepare", "text": "upstream prepare will run"}
        ],
    }
    assert "input adsl changed" in _ok(nbmlops_cli(root, "status", "analysis"))
    two = _run(root, _runs(root))
    stages = _stages(two)
    assert [s["status"] for s in stages.values()] == ["succeeded", "succeeded"]
    assert stages["prepare"]["declared_inputs"]["adsl"]["sha256"] == _sha256(adsl)
    assert stages["model"]["product_digests"]["fairness"] != first_fairness

    # 3. only the subject numbering changed: prepare runs, its features are the same bytes, and
    # model, stale only through prepare, is skipped
    third = second.assign(USUBJID=[u.replace("STUDY01-", "STUDY01-R") for u in second["USUBJID"]])
    third.to_csv(adsl, index=False)
    subjects |= set(third["USUBJID"])
    three = _run(root, _runs(root))
    stages = _stages(three)
    assert {k: s["status"] for k, s in stages.items()} == {
        "prepare": "succeeded",
        "model": "skipped",
    }
    assert stages["prepare"]["declared_inputs"]["adsl"]["sha256"] == _sha256(adsl)
    assert _status(root) == {"prepare": [], "model": []}

    # 4. review the first run after the later ones rewrote build/, sign it, verify
    ids = [one["run_id"], two["run_id"], three["run_id"]]
    listed = json.loads(_ok(nbmlops_cli(root, "review", "list", "--stage", "model", "--json")))
    assert [(r["run_id"], r["status"]) for r in listed] == [
        (run_id, "unreviewed") for run_id in reversed(ids)
    ]
    assert _sha256(root / "build" / "analysis" / "model" / "fairness.json") != first_fairness
    said = _ok(nbmlops_cli(root, "review", ids[0], "--stage", "model"))
    assert (root / "reviews" / f"review-{ids[0]}.ipynb").is_file(), said
    _ok(
        nbmlops_cli(
            root, "signer", "add", "mstat", "--name", "Maria Statistician",
            "--title", "Trial Statistician", "--password-stdin", input=PASSWORD + "\n",
        )
    )  # fmt: skip
    signed = _ok(
        nbmlops_cli(
            root, "review", ids[0], "--stage", "model", "--decision", "approve",
            "--meaning", "I approve this model", "--comment", "fairness by AGEGR1 and SEX read",
            "--signer", "mstat", "--password-stdin", input=PASSWORD + "\n",
        )
    )  # fmt: skip
    assert "Approved - electronically signed by Maria Statistician" in signed
    assert "every anchor agrees" in _ok(nbmlops_cli(root, "audit", "verify"))
    listed = json.loads(_ok(nbmlops_cli(root, "review", "list", "--stage", "model", "--json")))
    assert [(r["run_id"], r["status"], r["decided_by"]) for r in listed] == [
        (ids[2], "unreviewed", None),
        (ids[1], "unreviewed", None),
        (ids[0], "approved", "mstat"),
    ]
    table = _ok(nbmlops_cli(root, "review", "list", "--stage", "model"))
    assert all(run_id in table for run_id in ids) and "approved" in table

    # 5. no subject identifier in anything nbmlops (or the stages) wrote: only the raw extract
    written = [p for p in root.rglob("*") if p.is_file() and p != adsl]
    for where in ("build", ".nbmlops/evidence", ".nbmlops/mlartifacts", ".nbmlops/runs"):
        assert any(p.is_relative_to(root / where) for p in written), f"nothing in {where}"
    usubjids = [s.encode() for s in subjects]
    leaked = {
        p.relative_to(root).as_posix(): [i for i in usubjids if i in data][:3]
        for p in written
        for data in [_contents(p)]
        if any(i in data for i in usubjids)
    }
    assert leaked == {}
    assert sum(i in _contents(adsl) for i in usubjids) == 320  # the scan finds what is there
    print(f"ADSL project, init to verified review: {time.monotonic() - started:.0f} s")
