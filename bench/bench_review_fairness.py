"""Benchmark: what ``nbmlops.review.fairness`` costs over fairlearn called directly, on 1M rows.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_review_fairness.py [--rows N] [--repeat N] [--fairlearn-boot K]

The data: ``synthetic_patients(rows, seed=0, bias=0.5)``; a LogisticRegression fitted on the
first 50,000 rows scores every row; labels are ``score >= 0.5``; the sensitive features are
``race_ethnicity``, ``sex`` and ``payer`` (72 intersection groups). It is made once, in its own
subprocess, and saved as Parquet; every measurement then runs in a fresh subprocess that loads
it and times the computation alone (wall clock), and reports its peak RSS (``ru_maxrss``) and
what it held before the computation started (the loaded data).

fairlearn, direct (the baseline)
    ``MetricFrame(metrics={5 metrics}, y_true, y_pred, sensitive_features=3 columns)``, the
    intersection, with AUROC taking the scores through ``sample_params``; the same MetricFrame
    per feature alone; ``equalized_odds_difference`` and ``demographic_parity_difference``:
    every number the wrapper reports, computed directly.
nbmlops, n_bootstrap=0
    ``fairness(y_true=..., y_score=..., sensitive_features=..., n_bootstrap=0,
    min_group_size=1)`` (no group suppressed, so the numbers are the same); the row is checked
    against the baseline's numbers, and the run fails if any differs by more than 1e-12.
nbmlops, n_bootstrap=200
    The same with 200 bootstrap resamples (percentile intervals for every group, metric and gap).
fairlearn, MetricFrame n_boot=K
    fairlearn's own bootstrap for the four MetricFrames (it recomputes each frame per resample),
    with a small K; the table extrapolates it linearly to 200 resamples.

The table shows the median of ``--repeat`` runs and the overhead against the baseline; every
sample goes to ``bench/results/review-fairness-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SENSITIVE = ["race_ethnicity", "sex", "payer"]
FEATURES = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
N_BOOTSTRAP = 200
TARGET_OVERHEAD = 0.10
TIMEOUT_S = 3600

PREPARE = """
from sklearn.linear_model import LogisticRegression
from nbmlops.demo.datasets import synthetic_patients
frame = synthetic_patients({rows}, seed=0, bias=0.5)
fit_rows = frame.iloc[:50_000]
model = LogisticRegression(max_iter=1000).fit(fit_rows[{features!r}], fit_rows["stopped_refilling"])
out = frame[{sensitive!r} + ["stopped_refilling"]].copy()
out["score"] = model.predict_proba(frame[{features!r}])[:, 1]
out.to_parquet({path!r})
"""

# Each measurement: load, then time only the computation; print one JSON line.
CHILD_HEAD = """
import json, resource, sys, time
import numpy as np
import pandas as pd
data = pd.read_parquet({path!r})
y_true = data["stopped_refilling"].to_numpy()
score = data["score"].to_numpy()
sensitive = data[{sensitive!r}]
loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

CHILD_TAIL = """
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb, "loaded_mb": loaded_mb,
                  "numbers": numbers}}))
"""

DIRECT = """
import functools
from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
    equalized_odds_difference, false_positive_rate, selection_rate, true_positive_rate)
from sklearn.metrics import precision_score, roc_auc_score

def auroc(y_true, y_pred, y_score):
    return roc_auc_score(y_true, y_score)

metrics = {{
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "precision": functools.partial(precision_score, zero_division=0),
    "auroc": auroc,
}}
boot = {{}}
if {n_boot}:
    boot = {{"n_boot": {n_boot}, "ci_quantiles": [0.025, 0.975], "random_state": 0}}
started = time.perf_counter()
y_pred = (score >= 0.5).astype(int)
params = {{"auroc": {{"y_score": score}}}}
frames = {{"": MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred,
                          sensitive_features=sensitive, sample_params=params, **boot)}}
for column in sensitive.columns:
    frames[column] = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred,
                                 sensitive_features=sensitive[column], sample_params=params, **boot)
eod = equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive)
dpd = demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive)
seconds = time.perf_counter() - started
numbers = {{"equalized_odds_difference": float(eod), "demographic_parity_difference": float(dpd)}}
for key, frame in frames.items():
    for label, row in frame.by_group.dropna(how="all").iterrows():
        label = label if isinstance(label, tuple) else (label,)
        for metric, value in row.items():
            numbers[" | ".join([key, *map(str, label), metric])] = float(value)
"""

WRAPPER = """
import fairlearn.metrics, sklearn.metrics  # imported before the clock starts, as in DIRECT
from nbmlops.review.fairness import fairness
started = time.perf_counter()
result = fairness(y_true=y_true, y_score=score, sensitive_features=sensitive,
                  n_bootstrap={n_boot}, min_group_size=1)
seconds = time.perf_counter() - started
numbers = {{"equalized_odds_difference": result.equalized_odds_difference,
           "demographic_parity_difference": result.demographic_parity_difference}}
for key, table in {{"": result.by_group, **result.by_feature}}.items():
    for i, label in enumerate(table.groups):
        for metric in table.metrics:
            numbers[" | ".join([key, *label, metric])] = table.values[metric][i]
"""


def child(body: str, path: Path, n_boot: int) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON report."""
    head = CHILD_HEAD.format(path=str(path), sensitive=SENSITIVE)
    code = textwrap.dedent(head + body.format(n_boot=n_boot) + CHILD_TAIL.format())
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: a measurement failed:\n{proc.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def prepare(rows: int, folder: Path) -> Path:
    path = folder / f"patients-{rows}.parquet"
    code = PREPARE.format(rows=rows, features=FEATURES, sensitive=SENSITIVE, path=str(path))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=TIMEOUT_S)
    print(f"data: {rows:,} rows made and scored in {time.perf_counter() - started:.1f} s")
    return path


def largest_difference(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The largest absolute difference between two runs' numbers (NaN equal to NaN); a number
    that only one side has counts as infinitely different."""
    if set(a) != set(b):
        return float("inf")
    worst = 0.0
    for key, x in a.items():
        y = b[key]
        if x is None or y is None or x != x or y != y:  # noqa: PLR0124 - NaN test
            same = (x is None or x != x) and (y is None or y != y)  # noqa: PLR0124
            worst = max(worst, 0.0 if same else float("inf"))
        else:
            worst = max(worst, abs(x - y))
    return worst


def table(rows: Sequence[tuple[str, ...]]) -> str:
    head = ("measurement", "median s", "min s", "peak RSS MB", "data MB", "vs direct")
    lines = [head, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    parser.add_argument(
        "--fairlearn-boot",
        type=int,
        default=2,
        help="resamples of fairlearn's own bootstrap, extrapolated to 200 (0: skip; default 2)",
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    if args.rows < 1000 or args.repeat < 1 or args.fairlearn_boot < 0:
        parser.error("--rows must be at least 1000, --repeat at least 1, --fairlearn-boot >= 0")

    folder = Path(tempfile.mkdtemp(prefix="nbmlops-bench-fairness-"))
    load_before = os.getloadavg()
    plan = {
        "direct": (DIRECT, 0),
        "wrapper": (WRAPPER, 0),
        "wrapper_boot": (WRAPPER, N_BOOTSTRAP),
    }
    if args.fairlearn_boot:
        plan["direct_boot"] = (DIRECT, args.fairlearn_boot)
    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in plan}
    try:
        path = prepare(args.rows, folder)
        for n in range(args.repeat):  # interleaved, so the machine's load hits every row alike
            for key, (body, n_boot) in plan.items():
                print(f"repeat {n + 1}/{args.repeat}: {key} ...", flush=True)
                samples[key].append(child(body, path, n_boot))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def median(key: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[key])

    direct = median("direct", "seconds")
    same = largest_difference(samples["direct"][0]["numbers"], samples["wrapper"][0]["numbers"])
    boot_same = largest_difference(
        samples["wrapper"][0]["numbers"], samples["wrapper_boot"][0]["numbers"]
    )
    labels = {
        "direct": "fairlearn direct: 4 MetricFrames + EOD + DPD",
        "wrapper": "nbmlops fairness(n_bootstrap=0)",
        "wrapper_boot": f"nbmlops fairness(n_bootstrap={N_BOOTSTRAP})",
        "direct_boot": f"fairlearn 4 MetricFrames, n_boot={args.fairlearn_boot}",
    }
    rows = []
    for key in plan:
        seconds = median(key, "seconds")
        rows.append(
            (
                labels[key],
                f"{seconds:.2f}",
                f"{min(s['seconds'] for s in samples[key]):.2f}",
                f"{median(key, 'peak_mb'):.0f}",
                f"{median(key, 'loaded_mb'):.0f}",
                f"{(seconds / direct - 1) * 100:+.1f} %",
            )
        )
    extrapolated = None
    if args.fairlearn_boot:
        per_resample = (median("direct_boot", "seconds") - direct) / args.fairlearn_boot
        extrapolated = direct + per_resample * N_BOOTSTRAP
        rows.append(
            (
                f"  -> extrapolated to n_boot={N_BOOTSTRAP} (not run)",
                f"~{extrapolated:.0f}",
                "",
                "",
                "",
                f"{(extrapolated / direct - 1) * 100:+.0f} %",
            )
        )
    overhead = median("wrapper", "seconds") / direct - 1
    met = overhead < TARGET_OVERHEAD and same <= 1e-12

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"review-fairness-{stamp}.json"
    body = {
        "rows": args.rows,
        "repeat": args.repeat,
        "n_bootstrap": N_BOOTSTRAP,
        "fairlearn_boot": args.fairlearn_boot,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "largest_difference_direct_vs_wrapper": same,
        "overhead": overhead,
        "target_overhead": TARGET_OVERHEAD,
        "fairlearn_boot_extrapolated_s": extrapolated,
        "samples": {
            key: [{k: v for k, v in s.items() if k != "numbers"} for s in runs]
            for key, runs in samples.items()
        },
    }
    out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    print()
    print(table(rows))
    print()
    n_numbers = len(samples["direct"][0]["numbers"])
    print(
        f"numbers compared (per-group metrics of 4 groupings, EOD, DPD): {n_numbers}; "
        f"largest difference direct vs nbmlops {same:.1e}; n_bootstrap=0 vs 200 {boot_same:.1e}"
    )
    print(
        f"target: nbmlops n_bootstrap=0 within +{TARGET_OVERHEAD:.0%} of direct, same numbers: "
        f"{'met' if met else 'MISSED'} ({overhead:+.1%})"
    )
    print(
        f"{args.rows:,} rows, {args.repeat} repeat(s), {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; results: "
        f"{os.path.relpath(out)}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
