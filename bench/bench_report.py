"""Benchmark: `nbmlops report` of the demo run, HTML and PDF, against a baseline in the same run.

Run from the repository root with the project's interpreter, after `make demo`::

    .venv/bin/python bench/bench_report.py [--run RUN] [--repeat R]

Interleaved ``--repeat`` times so that load from other work hits every row alike:

baseline: jupyter nbconvert --execute, empty notebook
    the floor of any executed-notebook report: an interpreter, nbconvert, a kernel started and
    one empty cell run (``jupyter nbconvert --to notebook --execute`` of a notebook with one empty
    code cell)
nbmlops report RUN (HTML)
    the command a user runs, as a subprocess: resolve the run, execute the report notebook (the
    records read, the project verified, every section drawn), export the one HTML file
nbmlops report RUN --pdf
    the same, and the PDF printed by headless Chromium

It prints the median and minimum of each row in seconds, and the targets of issue 14: HTML
<= 15 s on 2 cores, the PDF <= 10 s more than the HTML. It refuses to measure while the load
average is above ``--max-load`` (figures taken on a busy machine would say nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HTML_TARGET_S = 15.0
PDF_EXTRA_TARGET_S = 10.0


def _timed(argv: Sequence[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the report was written and says something failed
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return elapsed


def _empty_notebook(folder: Path) -> Path:
    path = folder / "empty.ipynb"
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": "empty", "metadata": {},
             "outputs": [], "source": ""},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(nb))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="latest", help="the run to report on (default: latest)")
    parser.add_argument("--pipeline", default="demo")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-load", type=float, default=3.0)
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    if load > args.max_load:
        print(f"not measured: load average {load:.1f} > {args.max_load} (other work running)")
        return 3
    from nbmlops.report.runs import resolve_run

    run_id = resolve_run(REPO, args.run, pipeline=args.pipeline)
    nbmlops = str(BIN / "nbmlops")
    with tempfile.TemporaryDirectory() as scratch:
        empty = _empty_notebook(Path(scratch))
        rows: dict[str, list[float]] = {"baseline": [], "html": [], "pdf": []}
        commands = {
            "baseline": [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                         "--output", str(Path(scratch) / "out.ipynb"), str(empty)],
            "html": [nbmlops, "report", run_id],
            "pdf": [nbmlops, "report", run_id, "--pdf"],
        }  # fmt: skip
        for _ in range(args.repeat):
            for name, command in commands.items():
                rows[name].append(_timed(command, REPO))
    median = {name: statistics.median(times) for name, times in rows.items()}
    print(f"report of {args.pipeline} run {run_id}, {args.repeat} repeats, load {load:.1f}")
    labels = {
        "baseline": "jupyter nbconvert --execute, empty notebook",
        "html": "nbmlops report RUN (HTML)",
        "pdf": "nbmlops report RUN --pdf",
    }
    for name, label in labels.items():
        print(f"  {label:45s} median {median[name]:6.2f} s  min {min(rows[name]):6.2f} s")
    extra = median["pdf"] - median["html"]
    print(
        f"  HTML {median['html']:.1f} s (target <= {HTML_TARGET_S:.0f} s) = "
        f"{median['html'] / median['baseline']:.1f}x the baseline; PDF +{extra:.1f} s "
        f"(target <= +{PDF_EXTRA_TARGET_S:.0f} s)"
    )
    ok = median["html"] <= HTML_TARGET_S and extra <= PDF_EXTRA_TARGET_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
