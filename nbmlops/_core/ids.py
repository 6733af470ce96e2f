"""Run ids and UTC time stamps, each made in one place.

A run id is the UTC second it was made and six random hex digits (``20261123T233235Z-d2772c``):
sorting ids sorts runs by time (``latest`` is the last), and two runs started in one second
still differ. Pipeline runs and the runs JupyterLab starts (their handles) share the format, and
the server's routes match it with :data:`RUN_ID_PATTERN`.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

__all__ = ["RUN_ID_PATTERN", "is_run_id", "new_run_id", "utc_now"]

RUN_ID_PATTERN = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}"
"""What :func:`new_run_id` makes, as a regular expression (no anchors: a route embeds it)."""

_RUN_ID = re.compile(RUN_ID_PATTERN)


def new_run_id() -> str:
    """A new run id: ``<UTC time, %Y%m%dT%H%M%SZ>-<6 hex digits>``.

    Examples
    --------
    >>> is_run_id(new_run_id())
    True
    """
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def is_run_id(text: str) -> bool:
    """Whether ``text`` is a run id as :func:`new_run_id` makes them."""
    return _RUN_ID.fullmatch(text) is not None


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with a ``Z`` suffix (ledger and records).

    Examples
    --------
    >>> utc_now()  # doctest: +SKIP
    '2026-11-23T23:32:35.123Z'
    """
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
