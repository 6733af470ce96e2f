"""Benchmark: `nbmlops audit verify` on a ledger of 100,000 entries, in both ledger formats.

Run from the repository root with the project's interpreter::

    .venv/bin/python bench/bench_audit.py [--entries N] [--repeat R] [--keep]

It writes two projects whose ledgers hold ``--entries`` entries shaped as real runs write them
(per run: ``run_started``, four ``stage_finished`` with input and product digests,
``run_finished``), one in format 1 (nbmlops 0.1: Python's sorted JSON, no ``"v"``) and one in
format 2 (RFC 8785, ``"v": 2``), each with one run record per run in ``.nbmlops/runs/`` anchoring
its ``run_finished`` entry and a stage state per stage in ``build/``. The entries are chained and
hashed exactly as :func:`nbmlops.records.ledger.append` does (format 1 as 0.1 did), but written in
one go (100,000 appends would time 100,000 fsyncs, not verification). Then, interleaved
``--repeat`` times so that load hits every row alike:

verify_ledger, format 1 / format 2
    the chain and head alone: the legacy reader, and RFC 8785
verify_project, format 1 / format 2 (no MLflow)
    the whole-project audit in-process: chain, decisions, run records, stage states, evidence,
    open runs
nbmlops audit verify (CLI), format 2
    the command a user runs, as a subprocess (interpreter start, imports, MLflow store absent)

It prints the median and minimum of each row in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbmlops.audit.verify import verify_project  # noqa: E402
from nbmlops.records.ledger import FORMAT, GENESIS, LedgerEntry, verify_ledger  # noqa: E402
from nbmlops.records.ledger_format import entry_hash, entry_line, head_line  # noqa: E402

STAGES = ("cohort", "features", "model", "review")


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(root: Path, entries: int, version: int) -> int:
    """Write the ledger (in format ``version``), head, run records and stage states; return the
    number of runs."""
    nb = root / ".nbmlops"
    (nb / "runs").mkdir(parents=True)
    seq, prev, runs = 0, GENESIS, 0
    with (nb / "ledger.jsonl").open("wb") as out:

        def put(event: str, run_id: str | None, data: dict[str, object]) -> dict[str, Any]:
            nonlocal seq, prev
            fields: dict[str, Any] = {
                "seq": seq, "ts": "2026-01-02T03:04:05.678Z", "who": "analyst", "host": "ws-12",
                "event": event, "run_id": run_id, "data": data, "prev": prev,
            }  # fmt: skip
            if version > 1:
                fields["v"] = version
            fields["hash"] = entry_hash(fields)
            out.write(entry_line(LedgerEntry(**fields)) + b"\n")
            prev, seq = str(fields["hash"]), seq + 1
            return fields

        while seq + 2 + len(STAGES) <= entries:
            run_id = f"20260102T{runs:06d}Z-{runs:08x}"
            put("run_started", run_id, {
                "pipeline": "study", "stages": list(STAGES), "environment_mismatch": [],
                "options": {"overrides": {}, "selection": [], "force": False, "jobs": 1,
                            "phi_policy": "refuse"},
            })  # fmt: skip
            for stage in STAGES:
                put("stage_finished", run_id, {
                    "stage": stage, "status": "succeeded", "reason": "never run",
                    "fingerprint": _h(f"{run_id}{stage}f"), "mlflow_run_id": None,
                    "inputs": {"source": _h(stage), "environment": _h("lock"),
                               "params": _h(f"{stage}p")},
                    "products": {"out": _h(f"{run_id}{stage}o")}, "produced_by": None,
                    "error": None,
                })  # fmt: skip
            finished = put("run_finished", run_id, {
                "status": "succeeded", "mlflow_run_id": None, "tracking_problem": None,
                "stages": dict.fromkeys(STAGES, "succeeded"),
            })  # fmt: skip
            record = {"run_id": run_id, "ledger_seq": finished["seq"],
                      "ledger_head": finished["hash"], "stages": []}  # fmt: skip
            (nb / "runs" / f"{run_id}.json").write_text(json.dumps(record))
            runs += 1
        while seq < entries:
            refused = {"signer": "unknown", "reason": "bad password"}
            finished = put("signature_refused", None, refused)
    (nb / "ledger.head").write_bytes(head_line(LedgerEntry(**finished)))
    last = f"20260102T{runs - 1:06d}Z-{runs - 1:08x}"
    for stage in STAGES:
        state = root / "build" / "study" / stage / ".nbmlops-state.json"
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"run_id": last}))
    return runs


def _cli(root: Path) -> None:
    exe = Path(sys.executable).parent / "nbmlops"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([str(exe), "audit", "verify", "--root", str(root)], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"audit verify failed:\n{done.stdout}{done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nbmlops-bench-audit-"))
    v1, v2 = base / "format1", base / "format2"
    try:
        for root, version in ((v1, 1), (v2, FORMAT)):
            started = time.perf_counter()
            runs = build(root, args.entries, version)
            size = (root / ".nbmlops" / "ledger.jsonl").stat().st_size
            print(f"format {version}: built {args.entries} entries ({size / 1e6:.1f} MB), {runs} "
                  f"run records in {time.perf_counter() - started:.1f} s: {root}")  # fmt: skip

        def checked(root: Path) -> None:
            if not verify_ledger(root).ok:
                raise SystemExit(f"verify_ledger failed on {root}")

        def audit(root: Path) -> None:
            report = verify_project(root, mlflow=False)
            if not report.ok or report.check("run records").checked != runs:
                raise SystemExit(f"verify_project failed: {[str(f) for f in report.failures]}")

        rows: dict[str, Callable[[], object]] = {
            "verify_ledger, format 1": lambda: checked(v1),
            "verify_ledger, format 2": lambda: checked(v2),
            "verify_project, format 1 (no MLflow)": lambda: audit(v1),
            "verify_project, format 2 (no MLflow)": lambda: audit(v2),
            "nbmlops audit verify (CLI), format 2": lambda: _cli(v2),
        }
        samples: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeat):
            for name, run in rows.items():
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
        print(f"\n{'row':<44} {'median s':>9} {'min s':>7}   (load {os.getloadavg()[0]:.1f})")
        for name, values in samples.items():
            print(f"{name:<44} {statistics.median(values):>9.2f} {min(values):>7.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
