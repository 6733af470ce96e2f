"""A new user's own project, made in the test: not ``notebooks/``, not ``tests/notebooks/``.

``clinical_project(root)`` writes a two-stage project in ``root/analysis/`` over a raw extract of
synthetic patients (``root/data/extract.parquet``: names, MRNs, SSNs, dates of birth beside the
clinical columns), shaped as a biostatistician's first pipeline is:

- ``cohort``: reads the extract (``extract`` parameter: its path), keeps adults, de-identifies
  with :func:`nbmlops.privacy.deid.deidentify`, writes ``cohort.parquet``;
- ``model``: a logistic regression of ``stopped_refilling`` on a few clinical columns, saved with
  skops, ``auroc`` recorded as a metric.

``nbmlops_cli(root, "run", "analysis")`` runs the real command line (this environment's
``nbmlops`` executable) in the project, as a user types it. ``stage_notebook`` makes any tagged
notebook from code cells, for a probe's own stage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "notebooks"
NBMLOPS = Path(sys.executable).parent / "nbmlops"

COHORT_CODE = """\
import datetime
from pathlib import Path

import pandas as pd

from nbmlops.privacy.deid import deidentify
from nbmlops.records.scraps import record

raw = pd.read_parquet(Path(extract))
adults = raw[raw["age"] >= min_age].copy()
adults.insert(0, "study_key", range(len(adults)))
result = deidentify(adults, as_of=datetime.date(2026, 1, 1))  # identifier columns found by name
result.frame.to_parquet(product["cohort"], index=False)
record("patients", len(result.frame))
"""

MODEL_CODE = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from skops.io import dump

from nbmlops.records.scraps import record

cohort = pd.read_parquet(upstream["cohort"]["cohort"])
features = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
model = LogisticRegression(C=C, max_iter=500).fit(cohort[features], cohort["stopped_refilling"])
dump(model, product["model"])
record("auroc", float(roc_auc_score(cohort["stopped_refilling"],
                                    model.predict_proba(cohort[features])[:, 1])))
"""


def stage_notebook(
    stage: str,
    code: str | Sequence[str],
    *,
    params: Mapping[str, Any] | None = None,
    upstream: Sequence[str] = (),
    products: Mapping[str, str] | None = None,
    kernel: str = "python3",
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A tagged notebook (nbformat 4.5 JSON): a ``parameters`` cell with ``params``' defaults and
    the papermill placeholders (``upstream``, ``product``, ``inputs``), then one code cell per
    ``code``."""
    params = dict(params or {})
    assignments = [f"{name} = {value!r}" for name, value in params.items()]
    if upstream:
        assignments.append("upstream = None")
    if inputs:
        assignments.append("inputs = None")
    assignments.append("product = None")
    cells = [_code_cell(f"{stage}-params", "\n".join(assignments), tags=["parameters"])]
    bodies = [code] if isinstance(code, str) else list(code)
    cells += [_code_cell(f"{stage}-{i}", body) for i, body in enumerate(bodies, start=1)]
    meta = {
        "stage": stage,
        "upstream": list(upstream),
        "products": dict(products or {}),
        "params": params,
        "kernel": kernel,
    }
    if inputs:
        meta["inputs"] = dict(inputs)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
            "nbmlops": meta,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: Path, notebook: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    return path


def clinical_project(root: Path, *, rows: int = 300, seed: int = 5) -> Path:
    """Write the project described in the module docstring into ``root``; return ``root``."""
    from nbmlops.demo.datasets import synthetic_patients

    (root / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    extract = root / "data" / "extract.parquet"
    synthetic_patients(rows, seed=seed).to_parquet(extract, index=False)
    write_notebook(
        root / "analysis" / "cohort.ipynb",
        stage_notebook(
            "cohort",
            COHORT_CODE,
            params={"extract": str(extract), "min_age": 18},
            products={"cohort": "cohort.parquet"},
        ),
    )
    write_notebook(
        root / "analysis" / "model.ipynb",
        stage_notebook(
            "model",
            MODEL_CODE,
            params={"C": 1.0},
            upstream=["cohort"],
            products={"model": "model.skops"},
        ),
    )
    return root


def signed_up_project(root: Path, password: str) -> str:
    """A project whose review fixtures (``tests/notebooks/review_model``, ``review_results``) ran
    once through ``nbmlops run notebooks``, with ``jdoe`` (Jane Doe, Clinical QA) its first
    signer; returns the run id."""
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    for name in ("review_model", "review_results"):
        shutil.copy(FIXTURES / f"{name}.ipynb", root / "notebooks" / f"{name}.ipynb")
    ran = nbmlops_cli(root, "run", "notebooks")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [record] = (root / ".nbmlops" / "runs").glob("*.json")
    added = nbmlops_cli(
        root, "signer", "add", "jdoe", "--name", "Jane Doe", "--title", "Clinical QA",
        "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    return record.stem


def private_copy(root: Path, copy: Path, run_id: str) -> Path:
    """A copy of a project with a recorded run, its run record pointing at the copy's products
    and the copy's own MLflow store (records hold absolute paths), so tampering with the copy
    never reaches the original, which other tests of a module share."""
    shutil.copytree(root, copy)
    record_path = copy / ".nbmlops" / "runs" / f"{run_id}.json"
    record = json.loads(record_path.read_text())
    for stage in record["stages"]:
        stage["products"] = {
            k: v.replace(str(root), str(copy)) for k, v in stage["products"].items()
        }
    record["tracking_uri"] = f"sqlite:///{copy / '.nbmlops' / 'mlflow.db'}"
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return copy


def nbmlops_cli(
    root: Path,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``nbmlops *args`` in ``root`` as a user would (a separate process, real exit code)."""
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    environment.update(env or {})  # the project's own store unless the test names another
    return subprocess.run(
        [str(NBMLOPS), *args],
        check=False,  # the exit code is what the probe checks
        cwd=root,
        input=input,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def _code_cell(cell_id: str, source: str, *, tags: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": [],
        "source": source,
    }
