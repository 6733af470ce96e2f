"""Nothing leaves the machine: telemetry off, and a policy for text that shows identifiers.

Every dependency's telemetry is switched off by nbmlops itself.

Applied when ``nbmlops`` is imported, before any of these libraries is, and inherited by the
kernels, ``mlflow ui`` and every other process nbmlops starts. The values are forced, not
defaulted: a regulated deployment must not start phoning home because someone's shell profile
set a variable the other way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from nbmlops.errors import InvalidInputError

__all__ = ["PHI_POLICIES", "TELEMETRY_SWITCHES", "PhiPolicy", "disable_telemetry", "phi_policy"]

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


PhiPolicy = Literal["refuse", "redact", "off"]
PHI_POLICIES: tuple[PhiPolicy, ...] = ("refuse", "redact", "off")


def phi_policy(project_root: Path, given: str | None = None) -> PhiPolicy:
    """What to do with an executed notebook (or scrap, or error text) that shows identifiers.

    ``refuse`` (the default) logs no copy of it to MLflow, ``redact`` logs a copy with each
    identifier replaced by ``[REDACTED:<kind>]``, ``off`` logs it as it is. The local executed
    notebook under ``build/`` is kept either way. Chosen by, first to last: ``given`` (the
    ``--phi-policy`` option), ``NBMLOPS_PHI_POLICY``, ``[tool.nbmlops] phi_policy`` in the
    project's ``pyproject.toml``.

    Raises
    ------
    InvalidInputError
        The chosen value is not one of :data:`PHI_POLICIES` (``argument="phi_policy"``; also a
        ``ValueError``).
    """
    value = given or os.environ.get("NBMLOPS_PHI_POLICY") or _project_setting(project_root)
    value = (value or "refuse").strip().lower()
    if value not in PHI_POLICIES:
        raise InvalidInputError(
            f"PHI policy {value!r} is not one of {', '.join(PHI_POLICIES)} "
            "(set by --phi-policy, NBMLOPS_PHI_POLICY or [tool.nbmlops] phi_policy).",
            argument="phi_policy",
        )
    return value


def _project_setting(project_root: Path) -> str | None:
    import tomllib

    try:
        with (project_root / "pyproject.toml").open("rb") as fh:
            tool = tomllib.load(fh).get("tool", {}).get("nbmlops", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = tool.get("phi_policy")
    return str(value) if value is not None else None
