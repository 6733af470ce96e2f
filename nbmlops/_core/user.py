"""Who and where: the user and host name nbmlops records (ledger entries, run records, run lock)."""

from __future__ import annotations

import getpass
import os
import platform

__all__ = ["current_host", "current_user"]


def current_user() -> str:
    """The login name (``LOGNAME``, ``USER``, ``LNAME``, ``USERNAME``, then the password
    database); ``uid <n>`` where there is none, as in some containers.

    Examples
    --------
    >>> current_user()  # doctest: +SKIP
    'analyst'
    """
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER/LOGNAME set
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_host() -> str:
    """This machine's network name, or ``unknown`` when it has none."""
    return platform.node() or "unknown"
