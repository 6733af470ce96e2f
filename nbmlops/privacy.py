"""Nothing leaves the machine: every dependency's telemetry is switched off by nbmlops itself.

Applied when ``nbmlops`` is imported, before any of these libraries is, and inherited by the
kernels, ``mlflow ui`` and every other process nbmlops starts. The values are forced, not
defaulted: a regulated deployment must not start phoning home because someone's shell profile
set a variable the other way.
"""

from __future__ import annotations

import os

__all__ = ["TELEMETRY_SWITCHES", "disable_telemetry"]

TELEMETRY_SWITCHES: dict[str, str] = {
    # MLflow 3.x sends usage data by default (a DNS query was seen under strace without this).
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # The cross-tool convention; Evidently's and MLflow's UI telemetry honour it.
    "DO_NOT_TRACK": "1",
    # Evidently's own switch for its usage statistics.
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    # ploomber-core: no usage statistics (they include argv and exception text) ...
    "PLOOMBER_STATS_ENABLED": "false",
    # ... and no version check against the package index on start-up.
    "PLOOMBER_VERSION_CHECK_DISABLED": "true",
    # Hugging Face hubs (pulled in indirectly by some explainers): never reach out.
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def disable_telemetry() -> None:
    """Set every switch in :data:`TELEMETRY_SWITCHES` in this process's environment."""
    os.environ.update(TELEMETRY_SWITCHES)
