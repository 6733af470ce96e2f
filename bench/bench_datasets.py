"""Benchmark: how long ``synthetic_patients`` takes and how much memory it needs.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_datasets.py [--repeat N] [--rows 1000 100000 1000000]

For each size it prints the median and minimum wall time of ``--repeat`` calls, the peak memory
Python allocated during one more call (``tracemalloc``, which sees numpy's and pandas' buffers),
and the frame's own size (``memory_usage(deep=True)``). The baseline, measured in the same run, is
what formatting just two identifier columns (MRN and SSN) row by row with f-strings costs: the
approach the generator avoids.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from nbmlops.demo.datasets import synthetic_patients

WIDTHS = (10, 9, 7, 8, 8, 16)


def _row_by_row_ids(rows: int) -> None:
    draw = random.Random(0)
    mrn = [f"MRN{draw.randrange(10**8):08d}" for _ in range(rows)]
    ssn = [
        f"9{draw.randrange(100):02d}-{draw.randrange(1, 50):02d}-{draw.randrange(1, 10**4):04d}"
        for _ in range(rows)
    ]
    del mrn, ssn


def _seconds(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    args = parser.parse_args()
    synthetic_patients(10)  # imports numpy and pandas outside the timings

    columns = ("rows", "median s", "min s", "peak MB", "frame MB", "row-by-row ids s")
    header = "  ".join(f"{name:>{width}}" for name, width in zip(columns, WIDTHS, strict=True))
    print(header)
    print("-" * len(header))
    for rows in args.rows:
        samples = _seconds(partial(synthetic_patients, rows), args.repeat)
        baseline = _seconds(partial(_row_by_row_ids, rows), 1)[0]
        tracemalloc.start()
        frame = synthetic_patients(rows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        frame_mb = frame.memory_usage(deep=True).sum() / 1e6
        print(
            f"{rows:>10,}  {statistics.median(samples):>9.3f}  {min(samples):>7.3f}  "
            f"{peak / 1e6:>8.0f}  {frame_mb:>8.0f}  {baseline:>16.3f}"
        )


if __name__ == "__main__":
    main()
