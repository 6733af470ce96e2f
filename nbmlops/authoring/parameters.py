"""Run-time parameter overrides: parsed, type-checked against the stage defaults, JSON only.

papermill writes parameters into the notebook as code: values are escaped, names are not (a name
like ``a = 1; import os; b`` becomes executable). So every name must be a declared plain
identifier and every value plain JSON whose type matches the default, and all of it is checked
before any kernel starts.
"""

from __future__ import annotations

import json
import keyword
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.errors import ParameterError

if TYPE_CHECKING:
    from nbmlops.privacy.phi import Identifiers, Policy

__all__ = ["CliValue", "check_phi", "check_value", "parse_overrides", "resolve_params"]

JSONValue = Any


class CliValue(str):
    """Text typed on the command line, read against the default's type when it is checked.

    For a text default it is taken verbatim (``--param s.site=007`` stays ``"007"``); otherwise
    it must be JSON (``42``, ``0.5``, ``true``, ``[1, 2]``, ``{"a": 1}``).
    """

    __slots__ = ()


def parse_overrides(items: Iterable[str]) -> dict[str, dict[str, JSONValue]]:
    """Parse ``stage.name=value`` strings into ``{stage: {name: value}}``.

    Values stay text (:class:`CliValue`) until :func:`resolve_params` reads them against the
    stage's defaults, so ``--param train.model=forest`` needs no JSON quotes.

    Raises
    ------
    ParameterError
        An item is not of the form ``stage.name=value``.

    Examples
    --------
    >>> parse_overrides(["train.seed=7", "train.model=forest"])
    {'train': {'seed': '7', 'model': 'forest'}}
    """
    out: dict[str, dict[str, JSONValue]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        stage, dot, name = key.strip().partition(".")
        if not sep or not dot or not stage or not name:
            raise ParameterError(
                f"--param '{item}': expected STAGE.NAME=VALUE, e.g. --param train.seed=42.",
                stage=stage or None,
                param=name or key,
            )
        out.setdefault(stage.strip(), {})[name.strip()] = CliValue(raw)
    return out


def _from_cli(stage: str, name: str, raw: CliValue, default: JSONValue) -> JSONValue:
    text = str(raw)
    if isinstance(default, str):
        if text.startswith('"'):
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError:
                return text
            return decoded if isinstance(decoded, str) else text
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if default is None:
            return text
        raise ParameterError(
            f"parameter '{stage}.{name}' expects {_type_name(default)} (default "
            f"{json.dumps(default)}), got text {text!r} that is not JSON.",
            stage=stage,
            param=name,
        ) from None


def _type_name(value: JSONValue) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def check_value(stage: str, name: str, value: JSONValue, default: JSONValue) -> JSONValue:
    """Check one override against its default; return the value to inject.

    Rules: booleans only replace booleans (``True`` is not an integer here); an integer may
    replace a number (JSON does not tell ``1`` from ``1.0``) and becomes a float; a ``null``
    default accepts any JSON value; lists and objects must be plain JSON throughout.

    Raises
    ------
    ParameterError
        The name is not a plain identifier, or the value is not JSON or of another type.
    """
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise ParameterError(
            f"parameter name '{name}' of stage '{stage}' is not a plain identifier.",
            stage=stage,
            param=name,
        )
    if isinstance(value, CliValue):
        value = _from_cli(stage, name, value, default)
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(
            f"parameter '{stage}.{name}': {value} is not a JSON number.", stage=stage, param=name
        )
    try:
        same = json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"parameter '{stage}.{name}' is not plain JSON ({exc}).", stage=stage, param=name
        ) from None
    if not same:  # e.g. {1: "x"} or a tuple: JSON would hand the notebook something else
        raise ParameterError(
            f"parameter '{stage}.{name}' does not survive JSON unchanged (object keys must be "
            "text; use lists, not tuples).",
            stage=stage,
            param=name,
        )
    if default is None:
        return value
    if isinstance(default, float) and type(value) is int:
        return float(value)
    if type(value) is not type(default):
        raise ParameterError(
            f"parameter '{stage}.{name}' expects {_type_name(default)} (default "
            f"{json.dumps(default)}), got {_type_name(value)} {json.dumps(value)}.",
            stage=stage,
            param=name,
        )
    return value


def resolve_params(
    spec: PipelineSpec, overrides: Mapping[str, Mapping[str, JSONValue]]
) -> dict[str, dict[str, JSONValue]]:
    """Each stage's effective parameters: its defaults with the checked overrides applied.

    Raises
    ------
    UnknownStageError
        An override names a stage that does not exist.
    ParameterError
        An override names an undeclared parameter or has the wrong type.
    """
    effective = {stage.name: dict(stage.params) for stage in spec.stages}
    for stage_name, values in overrides.items():
        stage = spec.stage(stage_name)
        for name, value in values.items():
            if name not in stage.params:
                declared = ", ".join(sorted(stage.params)) or "none"
                raise ParameterError(
                    f"stage '{stage_name}' has no parameter '{name}' (declared: {declared}). "
                    f"Declare it with `nbmlops stage set {stage.path} --param {name}=VALUE`.",
                    stage=stage_name,
                    param=name,
                )
            effective[stage_name][name] = check_value(stage_name, name, value, stage.params[name])
    return effective


def check_phi(
    overrides: Mapping[str, Mapping[str, JSONValue]],
    *,
    policy: Policy,
    identifiers: Identifiers = "project",
) -> dict[str, dict[str, JSONValue]]:
    """Apply the PHI policy to run-time parameter values; return them as they may be recorded.

    Parameter values are recorded in MLflow, the run record and the executed notebook's injected
    cell, so a value that looks like PHI (an SSN, an e-mail, a date, a person's name, one of the
    project's registered identifiers) is refused before any kernel starts (``refuse``) or
    recorded redacted (``redact``); the kernel always gets the value as given. Defaults are not
    checked: they are the notebook's source, which nbmlops does not scan.

    Parameters
    ----------
    overrides : Mapping
        ``{stage: {name: value}}``, checked values (see :func:`resolve_params`).
    policy : {"refuse", "redact", "off"}
    identifiers
        As :func:`nbmlops.privacy.phi.scan_text`.

    Returns
    -------
    dict
        The overrides to record (redacted under ``redact``).

    Raises
    ------
    PhiDetectedError
        Under ``refuse``, for the first value that looks like PHI; ``stage``, ``param`` and the
        findings' ``kind`` say which and what, never the value.

    Examples
    --------
    >>> check_phi({"train": {"note": "219-09-9999"}}, policy="redact", identifiers=None)
    {'train': {'note': '[REDACTED:ssn]'}}
    """
    from nbmlops.errors import PhiDetectedError
    from nbmlops.privacy.phi import apply_policy

    recorded: dict[str, dict[str, JSONValue]] = {}
    for stage, values in overrides.items():
        for name, value in values.items():
            mode: Policy = "redact" if policy == "refuse" else policy  # refuse raises below
            shown, kinds = apply_policy(value, policy=mode, identifiers=identifiers)
            if kinds and policy == "refuse":
                findings = [{"kind": kind, "param": f"{stage}.{name}"} for kind in kinds]
                raise PhiDetectedError(path=None, findings=findings, stage=stage, param=name)
            recorded.setdefault(stage, {})[name] = shown
    return recorded
