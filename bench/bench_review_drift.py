"""Benchmark: ``nbmlops.review.drift`` against evidently called directly, 1M x 30 vs 1M x 30.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_review_drift.py                 # full size, ~4 min on 2 cores
    .venv/bin/python bench/bench_review_drift.py --skip-full     # without (a), ~1.5 min
    .venv/bin/python bench/bench_review_drift.py --rows 20000 --sample 5000   # smoke run

Data: a reference of ``--rows`` patients (``synthetic_patients(seed=1)``) and a current batch
(``seed=2, drift=--drift``), each widened to 30 columns (:func:`wide_patients`): the generator's
12 non-identifier columns plus 18 derived ones, 11 numerical and 7 categorical (see there). The
parent writes both to Parquet once; every measurement then runs in a fresh interpreter that reads
them, imports evidently and nbmlops, and only then starts the clock, so the rows compare the same
work (data loading and the ~5 s evidently import are not in the times). Peak RSS is the child's
resident set size while the measured call runs (sampled every 5 ms); "data MB" is what the
process held before it (the two frames), "maxrss MB" the process's ``ru_maxrss``.

(a) evidently ``DataDriftPreset`` directly on the full frames (column types given explicitly,
    as the wrapper does); ``--skip-full`` leaves it out.
(b) evidently directly on the sample the wrapper uses (the documented rule: seeded
    ``choice(n, sample, replace=False)`` per frame), sampling included in the time.
(c) ``drift(reference, current, sample=..., cache=<empty folder>)``: cold cache, which also
    hashes the reference, bins both frames and writes the cache entry.
(d) the same call again in a new process: warm cache.

"overhead" is (c) against (b), the target < 10 %; (c) must finish within 60 s. On a shared
machine the processes' times swing with the load, so the child also times evidently's
calls (``Dataset.from_pandas``, ``Report.run``, ``Snapshot.dict``) inside each measurement: the
rest of (c) and (d) is the wrapper's own work, a figure the load barely moves. The table also
shows how far the sampled scores are from the full-data scores of (a), and that (b), (c) and (d)
give the same scores (to float rounding). Figures and every sample go to
``bench/results/drift-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BASE = ["age", "sex", "race_ethnicity", "payer", "region", "site", "primary_dx"]
BASE += ["comorbidity_count", "prior_pdc", "refill_gap_days", "n_medications", "monthly_copay"]
TARGET_S, TARGET_OVERHEAD = 60.0, 0.10


def wide_patients(rows: int, seed: int, drift: float) -> Any:
    """``synthetic_patients`` widened to 30 columns, all non-identifying.

    The 12 non-identifier columns, and 18 derived as a feature pipeline would: numerical
    ``log1p_monthly_copay``, ``annual_copay``, ``copay_per_medication``, ``pdc_shortfall`` (1 -
    PDC), ``days_between_fills`` (service date minus last fill date, in days: an interval, not a
    date), ``days_supply`` (that minus the refill gap), ``age_squared_100``,
    ``meds_per_condition``, ``outcome_log_odds`` (the generator's true linear predictor),
    ``late_over_30`` (0/1) and ``copay_vs_payer_median``; categorical ``age_band``, ``pdc_band``,
    ``copay_band``, ``payer_region``, ``dx_sex`` (crossed categories), and the booleans
    ``polypharmacy`` (5+ medications) and ``late_refill`` (gap over 7 days).
    """
    import numpy as np
    import pandas as pd

    from nbmlops.demo.datasets import OUTCOME_MODEL, synthetic_patients

    f = synthetic_patients(rows, seed=seed, drift=drift)
    out = f[BASE].copy()
    copay, meds, pdc = f["monthly_copay"], f["n_medications"], f["prior_pdc"]
    between = (f["service_date"] - f["last_fill_date"]).dt.days
    out["log1p_monthly_copay"] = np.log1p(copay)
    out["annual_copay"] = copay * 12
    out["copay_per_medication"] = copay / meds
    out["pdc_shortfall"] = 1 - pdc
    out["days_between_fills"] = between
    out["days_supply"] = between - f["refill_gap_days"]
    out["age_squared_100"] = f["age"] ** 2 / 100
    out["meds_per_condition"] = meds / (1 + f["comorbidity_count"])
    out["outcome_log_odds"] = OUTCOME_MODEL.log_odds(f)
    out["late_over_30"] = (f["refill_gap_days"] > 30).astype(np.int64)
    payer_median = copay.groupby(f["payer"], observed=True).transform("median")
    out["copay_vs_payer_median"] = copay / payer_median
    out["age_band"] = pd.cut(
        f["age"], [0, 44, 64, 79, 200], labels=["18-44", "45-64", "65-79", "80+"]
    )
    out["pdc_band"] = pd.cut(pdc, [-1, 0.5, 0.8, 2], labels=["<0.5", "0.5-0.8", ">=0.8"])
    out["copay_band"] = pd.cut(
        copay, [-1, 10, 50, 100, 1e9], labels=["<10", "10-50", "50-100", "100+"]
    )
    out["payer_region"] = (f["payer"].astype(str) + "/" + f["region"].astype(str)).astype(
        "category"
    )
    out["dx_sex"] = (f["primary_dx"].astype(str) + "/" + f["sex"].astype(str)).astype("category")
    out["polypharmacy"] = meds >= 5
    out["late_refill"] = f["refill_gap_days"] > 7
    return out


# -- child side: one measurement per process -------------------------------------------------


def _evidently(ref: Any, cur: Any) -> dict[str, float]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = [
        c
        for c in ref.columns
        if pd.api.types.is_numeric_dtype(ref[c]) and not pd.api.types.is_bool_dtype(ref[c])
    ]
    definition = DataDefinition(
        numerical_columns=numerical,
        categorical_columns=[c for c in ref.columns if c not in numerical],
        text_columns=[],
        datetime_columns=[],
        unknown_columns=[],
        list_columns=[],
    )
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    return {
        m["config"]["column"]: float(m["value"])
        for m in snapshot.dict()["metrics"]
        if "column" in m["config"]
    }


class PeakRss:
    """Highest resident set size while the block runs, sampled from ``/proc/self/statm`` every
    5 ms: ``ru_maxrss`` alone would show reading the Parquet files, not the computation."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def now() -> float:
        with Path("/proc/self/statm").open() as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def child(mode: str, data: Path, sample: int, cache: Path) -> dict[str, Any]:
    import resource
    import warnings

    import numpy as np
    import pandas as pd

    with warnings.catch_warnings():  # evidently's own import-time deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        import evidently.presets  # noqa: F401

    from evidently import Dataset, Report
    from evidently.core.report import Snapshot

    from nbmlops.review.drift import drift

    inside = [0.0]  # seconds spent in evidently (building datasets, running, reading results)

    def timed(owner: Any, name: str) -> None:
        call = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - start

        setattr(owner, name, wrapper)

    for owner, name in ((Report, "run"), (Dataset, "from_pandas"), (Snapshot, "dict")):
        timed(owner, name)
    ref = pd.read_parquet(data / "reference.parquet")
    cur = pd.read_parquet(data / "current.parquet")
    data_mb = PeakRss.now()
    extra: dict[str, Any] = {}
    with PeakRss() as rss:
        start = time.perf_counter()
        if mode == "full":
            scores = _evidently(ref, cur)
        elif mode == "sampled":
            picks = [
                np.sort(np.random.default_rng([0, stream]).choice(len(f), sample, replace=False))
                if len(f) > sample
                else np.arange(len(f))
                for stream, f in enumerate((ref, cur))
            ]
            scores = _evidently(ref.take(picks[0]), cur.take(picks[1]))
        else:
            result = drift(ref, cur, sample=sample, seed=0, cache=cache)
            scores = {c.name: c.score for c in result.columns}
            extra = {"cache_hit": result.cache_hit, "n_drifted": result.n_drifted}
        seconds = time.perf_counter() - start
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "evidently_seconds": inside[0],
        "peak_mb": rss.peak,
        "data_mb": data_mb,
        "maxrss_mb": maxrss_mb,
        "scores": scores,
    } | extra


# -- parent side -----------------------------------------------------------------------------


def measure(mode: str, data: Path, sample: int, cache: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, "--data", str(data)]
    argv += ["--sample", str(sample), "--cache", str(cache)]
    env = dict(os.environ, DO_NOT_TRACK="1")
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=REPO)
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=None, help="default: DEFAULT_SAMPLE")
    parser.add_argument("--drift", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3, help="runs of (b), (c) and (d)")
    parser.add_argument("--skip-full", action="store_true", help="leave out (a)")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.sample, args.cache)))
        return 0

    from nbmlops.review.drift import DEFAULT_SAMPLE

    sample = args.sample or DEFAULT_SAMPLE
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="nbmlops-bench-drift-") as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        wide_patients(args.rows, 1, 0.0).to_parquet(data / "reference.parquet")
        wide_patients(args.rows, 2, args.drift).to_parquet(data / "current.parquet")
        print(
            f"data: 2 x {args.rows:,} x 30 in {time.perf_counter() - start:.1f} s; load average "
            f"{os.getloadavg()} on {os.cpu_count()} CPUs"
        )
        if not args.skip_full:
            rows["a"] = [measure("full", data, sample, data / "unused")]
        for k in range(args.repeat):
            cache = data / f"cache-{k}"
            rows.setdefault("b", []).append(measure("sampled", data, sample, cache))
            rows.setdefault("c", []).append(measure("wrapper", data, sample, cache))
            rows.setdefault("d", []).append(measure("wrapper", data, sample, cache))
    if any(r["cache_hit"] is not False for r in rows["c"]) or not all(
        r["cache_hit"] for r in rows["d"]
    ):
        raise SystemExit("the cache did not miss in (c) and hit in (d)")
    print(report(rows, args.rows, sample))
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}, on {os.cpu_count()} CPUs")
    meta = {
        "rows": args.rows,
        "sample": sample,
        "drift": args.drift,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.results / f"drift-{stamp}.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    print(f"results: {os.path.relpath(path, REPO)}")
    return 0


def report(rows: dict[str, list[dict[str, Any]]], n: int, sample: int) -> str:
    labels = {
        "a": f"(a) evidently, full {n:,} vs {n:,}",
        "b": f"(b) evidently, sample {min(n, sample):,} vs {min(n, sample):,}",
        "c": "(c) nbmlops drift(), cold cache",
        "d": "(d) nbmlops drift(), warm cache",
    }
    head = ("row", "median s", "min s", "peak MB", "data MB", "maxrss MB", "vs (b) med", "min")
    widths = (40, 9, 7, 8, 8, 10, 11, 7)
    lines = [
        " ".join(
            f"{h:>{w}}" if i else f"{h:<{w}}"
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("-" * len(lines[0]))
    base = statistics.median(r["seconds"] for r in rows["b"])
    base_min = min(r["seconds"] for r in rows["b"])
    for key, runs in rows.items():
        med = statistics.median(r["seconds"] for r in runs)
        lowest = min(r["seconds"] for r in runs)
        vs, vs_min = (
            ("", "")
            if key in {"a", "b"}
            else (
                f"{(med - base) / base:+.1%}",
                f"{(lowest - base_min) / base_min:+.1%}",
            )
        )
        cells = (
            labels[key],
            f"{med:.2f}",
            f"{lowest:.2f}",
            f"{max(r['peak_mb'] for r in runs):.0f}",
            f"{max(r['data_mb'] for r in runs):.0f}",
            f"{max(r['maxrss_mb'] for r in runs):.0f}",
            vs,
            vs_min,
        )
        lines.append(
            " ".join(
                f"{c:>{w}}" if i else f"{c:<{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    cold = statistics.median(r["seconds"] for r in rows["c"])
    overhead = (cold - base) / base
    reference = rows["b"][0]["scores"]
    worst = max(
        abs(r["scores"][c] - v) / max(abs(v), 1e-12)
        for r in rows["b"] + rows["c"] + rows["d"]
        for c, v in reference.items()
    )
    lines.append("")
    lines.append(
        f"(c) {cold:.1f} s: {'meets' if cold < TARGET_S else 'MISSES'} the {TARGET_S:.0f} s target;"
        f" overhead vs (b) {overhead:+.1%}: "
        f"{'meets' if overhead < TARGET_OVERHEAD else 'MISSES'} the < {TARGET_OVERHEAD:.0%} target"
    )
    for key in ("c", "d"):
        own = [r["seconds"] - r["evidently_seconds"] for r in rows[key]]
        share = [o / r["evidently_seconds"] for o, r in zip(own, rows[key], strict=True)]
        lines.append(
            f"({key}) nbmlops' own work (time outside evidently's calls, same process): median "
            f"{statistics.median(own):.2f} s, {statistics.median(share):.1%} of its evidently time"
        )
    lines.append(f"(b), (c) and (d) scores agree to a relative {worst:.1e}")
    if "a" in rows:
        full, sampled = rows["a"][0]["scores"], rows["c"][0]["scores"]
        gap = max(abs(full[c] - sampled[c]) for c in full)
        flips = sum((full[c] >= 0.1) != (sampled[c] >= 0.1) for c in full)
        lines.append(
            f"sampled vs full-data scores: largest difference {gap:.4f} over {len(full)} columns;"
            f" columns whose verdict at 0.1 differs: {flips}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
