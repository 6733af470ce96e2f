"""The review benchmarks of issue 4, side by side in one run: each prints its figures next to the
same computation done directly with the library (fairlearn, shap, evidently), measured in fresh
processes of this run, with the memory peak.

    .venv/bin/python bench/bench_review.py            # full size (about 8 min on 2 cores)
    .venv/bin/python bench/bench_review.py --quick    # small sizes, a smoke run (~1 min)

Full size: fairness for 3 sensitive features x 5 metrics on 1,000,000 rows; SHAP global
importance on 10,000 rows; drift on 1,000,000 x 30 against 1,000,000 x 30.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "bench_review_fairness.py": ["--rows", "1000000"],
    "bench_review_explain.py": ["--rows", "10000", "--repeat", "3"],
    "bench_review_drift.py": ["--rows", "1000000", "--repeat", "3"],
}
QUICK = {
    "bench_review_fairness.py": ["--rows", "20000"],
    "bench_review_explain.py": ["--rows", "2000", "--repeat", "1"],
    "bench_review_drift.py": ["--rows", "20000", "--repeat", "1", "--skip-full"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    failed = []
    for script, extra in (QUICK if args.quick else FULL).items():
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *extra], check=False)
        print(f"=== {script}: {time.perf_counter() - start:.0f} s, exit {done.returncode}")
        if done.returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
