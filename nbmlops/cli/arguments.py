"""Argument values of the ``nbmlops`` command turned into Python values (``NAME=VALUE`` pairs,
JSON-or-text, comma-separated names)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["json_or_text", "key_values", "names"]


def key_values(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"nbmlops: --{what} '{item}': expected NAME=VALUE")
        out[key.strip()] = value
    return out


def json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def names(values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]
