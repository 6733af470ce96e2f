"""Benchmark: what ``nbmlops.review.explain`` adds to a direct shap TreeExplainer call.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_review_explain.py [--rows 10000] [--repeat 3]

A GradientBoostingClassifier (scikit-learn defaults, seed 0) is fitted once, in this process, on
``synthetic_patients(rows, seed=1)``'s numeric features; the model and ``synthetic_patients(rows,
seed=0)``'s features are pickled to a temporary folder. Each measurement then runs in a fresh
interpreter that imports numpy, pandas, shap and nbmlops and loads the pickle *before* the clock
starts, so every row times the same work and nothing else:

direct
    ``shap.TreeExplainer(model).shap_values(X)`` and ``np.abs(values).mean(axis=0)``: the
    global importance with shap alone (the baseline).
explain
    ``explain(model, X, max_rows=rows)``: the same SHAP values, plus the per-patient sample
    (500 rows: rounding, percentile ranks, probabilities) and the result object.
explain + HTML
    the same, then ``result.to_html()`` (three matplotlib PNGs and the tables), timed apart.

Scenarios are interleaved repeat by repeat, so a change in the machine's load hits all alike.
The table shows the median and the minimum of the compute wall times with the overhead of each
against the direct row's, then the median CPU time of the timed work and its overhead. Peak
memory is the child's own ``ru_maxrss`` (imports included; "+MB" is its growth during the timed
work). Every sample goes to ``bench/results/explain-<timestamp>.json``. Goal: the wrapper's
compute adds less than 10 % to the direct call (rendering is reported apart). Almost all of the
time is shap's C kernel (``dense_tree_shap``), whose speed follows the machine's load: use
``--repeat 5`` or more on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FEATURES = [
    "age",
    "comorbidity_count",
    "prior_pdc",
    "refill_gap_days",
    "n_medications",
    "monthly_copay",
]
GOAL_OVERHEAD = 0.10

CHILD = r"""
import json, pickle, resource, sys, time, warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import numpy as np, pandas, shap
from nbmlops.review.explain import explain

scenario, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as handle:
    model, X = pickle.load(handle)

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

before = rss_mb()
start, cpu = time.perf_counter(), time.process_time()
if scenario == "direct":
    values = shap.TreeExplainer(model).shap_values(X)
    importance = np.abs(values).mean(axis=0)
    top = X.columns[int(np.argmax(importance))]
else:
    result = explain(model, X, max_rows=len(X))
    top = next(iter(result.importance))
compute, cpu = time.perf_counter() - start, time.process_time() - cpu
render = None
if scenario == "html":
    start = time.perf_counter()
    page = result.to_html()
    render = time.perf_counter() - start
print(json.dumps({"compute": compute, "cpu": cpu, "render": render, "top": str(top),
                  "rss_before_mb": before, "peak_mb": rss_mb()}))
"""

SCENARIOS = {
    "direct": "direct (shap only)",
    "explain": "explain()",
    "html": "explain() + to_html()",
}


def _prepare(rows: int, folder: Path) -> Path:
    from sklearn.ensemble import GradientBoostingClassifier

    from nbmlops.demo.datasets import synthetic_patients

    train = synthetic_patients(rows, seed=1)
    model = GradientBoostingClassifier(random_state=0)
    model.fit(train[FEATURES], train["stopped_refilling"])
    path = folder / "model_and_rows.pkl"
    X = synthetic_patients(rows, seed=0)[FEATURES]
    path.write_bytes(pickle.dumps((model, X)))
    return path


def _child(scenario: str, path: Path) -> dict[str, Any]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, scenario, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="nbmlops-bench-explain-") as folder:
        path = _prepare(args.rows, Path(folder))
        for n in range(args.repeat):
            print(f"repeat {n + 1}/{args.repeat} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
            for key in SCENARIOS:
                samples[key].append(_child(key, path))

    tops = {s["top"] for runs in samples.values() for s in runs}
    base = _median(samples["direct"], "compute")
    base_min = min(s["compute"] for s in samples["direct"])
    base_cpu = _median(samples["direct"], "cpu")
    header = f"{'scenario':<24}  {'median s':>8}  {'min s':>6}  {'overhead':>8}  {'(min)':>7}  "
    header += f"{'cpu s':>6}  {'(cpu)':>6}  {'render s':>8}  {'peak MB':>7}  {'+MB':>4}"
    print(f"\nSHAP global importance, {args.rows:,} rows, GradientBoostingClassifier; "
          f"{args.repeat} fresh processes per scenario\n")  # fmt: skip
    print(header)
    print("-" * len(header))
    for key, label in SCENARIOS.items():
        runs = samples[key]
        compute, fastest = _median(runs, "compute"), min(s["compute"] for s in runs)
        render = f"{_median(runs, 'render'):.3f}" if key == "html" else ""
        grow = statistics.median(s["peak_mb"] - s["rss_before_mb"] for s in runs)
        over = "" if key == "direct" else f"{(compute - base) / base:+.1%}"
        over_min = "" if key == "direct" else f"{(fastest - base_min) / base_min:+.1%}"
        cpu = _median(runs, "cpu")
        over_cpu = "" if key == "direct" else f"{(cpu - base_cpu) / base_cpu:+.1%}"
        print(
            f"{label:<24}  {compute:>8.3f}  {fastest:>6.3f}  {over:>8}  {over_min:>7}  "
            f"{cpu:>6.3f}  {over_cpu:>6}  {render:>8}  {_median(runs, 'peak_mb'):>7.0f}  "
            f"{grow:>4.0f}"
        )
    wall = (_median(samples["explain"], "compute") - base) / base
    cpu = (_median(samples["explain"], "cpu") - base_cpu) / base_cpu
    verdicts = ["met" if x < GOAL_OVERHEAD else "NOT met" for x in (wall, cpu)]
    print(
        f"\ngoal: explain() compute < +{GOAL_OVERHEAD:.0%} over direct: wall medians "
        f"{wall:+.1%} ({verdicts[0]}), CPU medians {cpu:+.1%} ({verdicts[1]})"
    )
    print(f"top feature in every run: {', '.join(sorted(tops))}")

    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"explain-{stamp}.json"
    meta = {
        "rows": args.rows,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_after": os.getloadavg(),
    }
    out.write_text(json.dumps({"meta": meta, "samples": samples}, indent=2) + "\n", "utf-8")
    print(f"results: {os.path.relpath(out)}")
    return 0 if len(tops) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
