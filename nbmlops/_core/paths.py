"""Where a project is (its root, found from any folder inside it) and where nbmlops keeps its
files there, each path spelled once. Paths are relative to the project root."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DECISION_FILES",
    "EVIDENCE_STORE",
    "LEDGER_PATH",
    "LEDGER_QUARANTINE",
    "MLFLOW_ARTIFACTS",
    "MLFLOW_DB",
    "REPORTS",
    "REPRODUCTIONS",
    "ROOT_MARKERS",
    "RUNS",
    "RUN_HOLDER",
    "RUN_LOCK",
    "SECRET_KEY",
    "SERVER_RUNS",
    "SIGNERS",
    "SIGNING_LOCK",
    "STAGE_STATE",
    "STATE_DIR",
    "find_project_root",
    "run_record_path",
]

STATE_DIR = Path(".nbmlops")
"""Everything nbmlops keeps in a project, beside its notebooks."""
RUNS = STATE_DIR / "runs"
"""One record per pipeline run, ``<run id>.json``."""
LEDGER_PATH = STATE_DIR / "ledger.jsonl"
"""The hash-chained ledger; its head is ``ledger.head`` and its lock ``ledger.jsonl.lock``."""
LEDGER_QUARANTINE = STATE_DIR / "ledger.quarantine"
"""Torn ledger tails moved aside by ``nbmlops audit repair``."""
EVIDENCE_STORE = STATE_DIR / "evidence"
"""Evidence of signed decisions, content-addressed (``<sha256>``, read-only)."""
DECISION_FILES = STATE_DIR / "decisions"
"""Each signed decision record in full, ``<record digest>.json`` (read-only)."""
RUN_LOCK = STATE_DIR / "run.lock"
"""The operating-system lock that lets one pipeline run at a time."""
RUN_HOLDER = STATE_DIR / "run.lock.json"
"""Who holds :data:`RUN_LOCK` (run id, pid, host, user, since when)."""
SERVER_RUNS = STATE_DIR / "server-runs"
"""Runs started from JupyterLab: ``<handle>/`` with the request, events and log."""
MLFLOW_DB = STATE_DIR / "mlflow.db"
"""The project's own MLflow store, when ``MLFLOW_TRACKING_URI`` is not set."""
MLFLOW_ARTIFACTS = STATE_DIR / "mlartifacts"
"""Artifacts of the project's own MLflow store."""
SIGNERS = STATE_DIR / "signers.json"
"""The local signer registry's secrets (password hashes, sealed keys)."""
SECRET_KEY = STATE_DIR / "secret.key"
"""The project's secret: keyed digests of unknown signer ids."""
SIGNING_LOCK = STATE_DIR / "signing.lock"
"""Held by a signing attempt from reading the lockout state to writing its outcome."""
REPRODUCTIONS = STATE_DIR / "reproductions"
"""Reproduction checks of recorded runs: ``<run id>/<reproduction id>.json``."""
REPORTS = Path("reports")
"""Audit reports and model cards, ``reports/<run id>/`` at the project's root."""
STAGE_STATE = ".nbmlops-state.json"
"""A stage's build state, in its folder ``build/<pipeline>/<stage>/``."""

ROOT_MARKERS = ("uv.lock", "pyproject.toml", STATE_DIR.name, ".git")


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with uv.lock, pyproject.toml, .nbmlops or .git."""
    start = Path(start).absolute()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return Path.cwd().absolute()


def run_record_path(root: Path, run_id: str) -> Path:
    """Where the record of pipeline run ``run_id`` is kept in project ``root``."""
    return Path(root) / RUNS / f"{run_id}.json"
