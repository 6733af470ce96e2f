"""Benchmark: the PHI detectors' false positives, recall and speed.

Run from the repository root after ``make demo`` (which executes ``notebooks/*.ipynb`` into
``build/demo/`` and, through the demo's ``deidentify`` stage, fills the project's identifier
registry under ``.nbmlops/``)::

    .venv/bin/python bench/bench_phi.py [--rows 1000000]

It prints:

- false positives on the example's own executed notebooks: every finding of the name detector
  (1990 Census lists) and of the project's identifier registry in their outputs, with the number
  of words and capitalised word pairs tested (the demo prints no patient-level row, so every
  finding there is a false positive);
- recall of the name detector on the synthetic patients' names of :mod:`nbmlops.demo.datasets`
  (10,000 rows), and on those names once registered (the registry's recall);
- the time to scan the demo notebooks, with and without the registry;
- the CPU time to scan a 5 MB notebook of result tables with a 10,000-patient registry, next to
  the same scan without it (the baseline, measured in the same run);
- ``deidentify()`` on ``--rows`` rows: content detection of an unnamed name column, and
  registration of the names, MRNs and SSNs it removes (in a throw-away project).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nbmlops.demo.datasets import synthetic_patients
from nbmlops.privacy.deid import deidentify
from nbmlops.privacy.identifiers import project_registry, register_identifiers
from nbmlops.privacy.phi import census_names, scan_notebook, scan_text
from nbmlops.privacy.phi.notebooks import _output_texts
from nbmlops.privacy.phi.patterns import _NAME_CANDIDATE


def demo_false_positives(root: Path) -> None:
    paths = sorted((root / "build" / "demo").glob("*/*.ipynb"))
    if not paths:
        print("no build/demo/*/*.ipynb: run `make demo` first")
        return
    registry = project_registry(root)
    words = pairs = chars = 0
    for path in paths:
        for *_, text in _output_texts(path, json.loads(path.read_text(encoding="utf-8"))):
            chars += len(text)
            words += len(re.findall(r"[A-Za-z]+", text))
            position = 0
            while (match := _NAME_CANDIDATE.search(text, position)) is not None:
                pairs += 1
                position = match.start("last")
    census_names()
    started = time.perf_counter()
    plain = [f for path in paths for f in scan_notebook(path, identifiers=None)]
    without = time.perf_counter() - started
    started = time.perf_counter()
    found = [f for path in paths for f in scan_notebook(path, identifiers=registry)]
    with_registry = time.perf_counter() - started
    size = len(registry) if registry else 0
    print(
        f"demo outputs: {len(paths)} notebooks, {chars:,} characters, {words:,} words, {pairs} "
        f"capitalised word pairs tested by the name detector"
    )
    print(f"  name findings (census lists): {sum(f.kind == 'name' for f in plain)}")
    print(
        f"  findings with the registry ({size:,} hashes): {len(found)} "
        f"({', '.join(sorted({f.kind for f in found})) or 'none'})"
    )
    for finding in found:
        print(f"    cell {finding.cell_index}: {finding.kind}: {finding.excerpt}")
    print(f"  scan time: {without:.2f} s without the registry, {with_registry:.2f} s with it")


def recall(rows: int = 10_000) -> None:
    names = synthetic_patients(rows, seed=1)["patient_name"].astype(str)
    hits = sum(bool(scan_text(name, identifiers=None)) for name in names)
    print(f"name detector recall on {rows:,} synthetic names: {hits / rows:.1%}")
    with tempfile.TemporaryDirectory() as folder:
        register_identifiers(Path(folder), names, kind="name")
        registry = project_registry(Path(folder))
        found = sum(bool(scan_text(f"row: {n}", identifiers=registry)) for n in names)
        print(f"registry recall on the same names once registered: {found / rows:.1%}")


def large_frame(rows: int) -> None:
    patients = synthetic_patients(min(rows, 100_000), seed=1)
    frame = pd.DataFrame(
        {
            "nombre": np.resize(patients["patient_name"].to_numpy(), rows),
            "mrn": np.resize(patients["mrn"].to_numpy(), rows),
            "ssn": np.resize(patients["ssn"].to_numpy(), rows),
            "hba1c": 7.0,
        }
    )
    as_of = datetime.date(2026, 1, 1)
    started = time.perf_counter()
    deidentify(frame, as_of=as_of, strict=False, register=False)
    print(
        f"deidentify() of {rows:,} rows, content detection, no registry: "
        f"{time.perf_counter() - started:.2f} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / ".nbmlops").mkdir()
        here = Path.cwd()
        os.chdir(folder)
        try:
            started = time.perf_counter()
            result = deidentify(frame, as_of=as_of, strict=False)
            took = time.perf_counter() - started
        finally:
            os.chdir(here)
        kept = sum(c.registered for c in result.report.columns)
        store = Path(folder) / ".nbmlops" / "identifiers.bin"
        print(
            f"  with registration ({kept:,} hashes of {len(patients):,} distinct patients, "
            f"{store.stat().st_size / 1e6:.1f} MB): {took:.2f} s"
        )


def registry_on_a_large_notebook(patients: int = 10_000) -> None:
    table = "<tr><td>feature_12</td><td>0.8731</td><td>1234</td><td>-0.0123</td><td>2024</td></tr>"
    prose = "Fitted a Logistic Regression on the training split; Brier score 0.18.\n"
    output = {"output_type": "display_data", "metadata": {}}
    output["data"] = {"text/html": table * 1000, "text/plain": prose * 80}
    cell = {"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1}
    cells = [dict(cell, outputs=[output]) for _ in range(60)]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    size = len(json.dumps(notebook)) / 1e6
    census_names()
    with tempfile.TemporaryDirectory() as folder:
        rows = synthetic_patients(patients, seed=1)
        register_identifiers(Path(folder), rows["patient_name"], kind="name")
        register_identifiers(Path(folder), rows["mrn"], kind="mrn")
        registry = project_registry(Path(folder))

        def cpu(identifiers: object) -> float:
            started = time.process_time()
            scan_notebook(notebook, identifiers=identifiers)  # type: ignore[arg-type]
            return time.process_time() - started

        without = min(cpu(None) for _ in range(3))
        with_registry = min(cpu(registry) for _ in range(3))
    print(
        f"{size:.1f} MB notebook, CPU seconds (best of 3): {without:.2f} without a registry "
        f"(baseline), {with_registry:.2f} with {patients:,} patients registered "
        f"(x{with_registry / without:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    demo_false_positives(Path.cwd())
    recall()
    registry_on_a_large_notebook()
    large_frame(args.rows)


if __name__ == "__main__":
    main()
