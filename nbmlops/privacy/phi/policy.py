"""The PHI policy applied to what is kept: executed notebooks, recorded values, typed free text.

``refuse`` (the default) refuses what looks like PHI, ``redact`` keeps it redacted, ``off`` keeps
it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import InvalidInputError, PhiDetectedError
from nbmlops.privacy.phi.notebooks import (
    NotebookFinding,
    load_notebook,
    redact_notebook,
    scan_notebook,
)
from nbmlops.privacy.phi.patterns import Identifiers, PhiKind, current_registry, find_spans
from nbmlops.privacy.phi.text import joined, json_strings, redact_json, redact_text, scan_text
from nbmlops.privacy.telemetry import PHI_POLICIES, PhiPolicy

__all__ = [
    "WITHHELD",
    "NotebookCheck",
    "Policy",
    "apply_policy",
    "check_free_text",
    "check_notebook",
    "redact_injected_parameters",
    "scan_value",
]

Policy = PhiPolicy  # the one definition is the setting's (privacy/telemetry.py)


@dataclass(frozen=True, kw_only=True)
class NotebookCheck:
    """What :func:`check_notebook` decided for one notebook.

    Attributes
    ----------
    path : Path
    policy : str
        ``"refuse"``, ``"redact"`` or ``"off"``.
    findings : tuple of NotebookFinding
        Empty when the policy is ``"off"`` (nothing was scanned) or nothing was found.
    redacted : dict or None
        With ``"redact"`` and findings: the notebook to log instead of the file. Otherwise
        ``None``, and the file itself may be logged.
    """

    path: Path
    policy: Policy
    findings: tuple[NotebookFinding, ...]
    redacted: dict[str, Any] | None


def check_notebook(
    path: Path | str, *, policy: Policy, identifiers: Identifiers = "project"
) -> NotebookCheck:
    """Apply a PHI policy to an executed notebook before it is logged.

    Parameters
    ----------
    path : Path or str
        The executed ``.ipynb``.
    policy : {"refuse", "redact", "off"}
        ``"refuse"`` raises if any output looks like PHI; ``"redact"`` hands back a redacted
        copy to log instead; ``"off"`` does not scan.

    Returns
    -------
    NotebookCheck

    Raises
    ------
    PhiDetectedError
        With ``"refuse"``, when outputs look like PHI: ``findings`` name the kind, cell and
        output of each, never the value.
    NotebookError, MalformedNotebookError
        As :func:`scan_notebook`.
    InvalidInputError
        If ``policy`` is not one of the three (``argument == "policy"``).

    Examples
    --------
    In the tracking code::

        check = check_notebook(executed, policy="redact")
        if check.redacted is not None:
            artifact = write_json(check.redacted)  # log this copy, not the file
    """
    if policy not in PHI_POLICIES:
        raise InvalidInputError(
            f"policy must be 'refuse', 'redact' or 'off', not {policy!r}", argument="policy"
        )
    path = Path(path)
    if policy == "off":
        return NotebookCheck(path=path, policy=policy, findings=(), redacted=None)
    parsed = load_notebook(path)
    registry = current_registry() if identifiers == "project" else identifiers
    findings = scan_notebook(parsed, identifiers=registry)
    if findings and policy == "refuse":
        raise PhiDetectedError(path=path, findings=[finding.to_dict() for finding in findings])
    redacted = redact_notebook(parsed, identifiers=registry) if findings else None
    return NotebookCheck(path=path, policy=policy, findings=findings, redacted=redacted)


# -- values: parameters, error texts, scraps ------------------------------------------------------
# What is recorded besides notebooks: a run-time parameter value, an exception's message, a value
# a notebook chose to record(). Each goes to MLflow and the run record, so each passes the policy.

WITHHELD = "[WITHHELD: looked like PHI ({kinds}); see the executed notebook under build/]"
"""What ``refuse`` records in place of a text that looks like PHI (an error message, a scrap)."""


def scan_value(value: object, *, identifiers: Identifiers = "project") -> tuple[PhiKind, ...]:
    """The kinds of PHI found in every string of a JSON value (object keys included).

    Examples
    --------
    >>> scan_value({"note": "seen 2024-03-05", "n": 3}, identifiers=None)
    ('date',)
    """
    registry = current_registry() if identifiers == "project" else identifiers
    kinds: dict[PhiKind, None] = {}
    for text in json_strings([value]):
        for kind, _, _ in find_spans(text, registry):
            kinds[kind] = None
    return tuple(kinds)


def apply_policy(
    value: Any, *, policy: Policy, identifiers: Identifiers = "project"
) -> tuple[Any, tuple[PhiKind, ...]]:
    """``value`` as the policy lets it be recorded, and the kinds of PHI found in it.

    ``redact`` replaces each finding in each string by ``[REDACTED:<kind>]``; ``refuse``
    replaces each string that holds a finding by :data:`WITHHELD`; ``off`` changes nothing.
    Numbers, booleans and ``None`` are never changed.

    Examples
    --------
    >>> apply_policy({"message": "bad age for MRN 0012345"}, policy="redact", identifiers=None)
    ({'message': 'bad age for MRN [REDACTED:mrn]'}, ('mrn',))
    """
    if policy == "off":
        return value, ()
    registry = current_registry() if identifiers == "project" else identifiers
    kinds = scan_value(value, identifiers=registry)
    if not kinds:
        return value, ()
    if policy == "redact":
        return redact_json(value, registry), kinds

    def withhold(item: Any) -> Any:
        if isinstance(item, str):
            found = {kind: None for kind, _, _ in find_spans(item, registry)}
            return WITHHELD.format(kinds=", ".join(found)) if found else item
        if isinstance(item, list):
            return [withhold(i) for i in item]
        if isinstance(item, Mapping):
            return {redact_text(str(k), identifiers=registry): withhold(v) for k, v in item.items()}
        return item

    return withhold(value), kinds


def check_free_text(root: Path, text: str, *, field: str, subject: str) -> str:
    """Apply the project's PHI policy to free text a person types for a kept record.

    A reviewer's meaning and comment are signed and archived (they cannot be redacted later
    without breaking the signature), and a deactivation reason is kept in the signer registry;
    so they pass the policy when they are typed: ``refuse`` (the default) refuses text that looks
    like PHI, ``redact`` returns it redacted, ``off`` as it is. The project's registered
    identifiers are matched too.

    Parameters
    ----------
    root : Path
        The project (its ``phi_policy`` setting and identifier registry).
    text : str
    field, subject : str
        What the text is and what it is for, for the error (``"comment"``, ``"the decision
        on run R"``).

    Returns
    -------
    str
        The text as it may be recorded.

    Raises
    ------
    PhiInTextError
        Under ``refuse``, when the text looks like PHI; it names the field and the kinds found,
        never the text.
    ValueError
        The project's PHI policy setting is not a known policy.

    Examples
    --------
    >>> check_free_text(root, "Calibration within limits", field="comment", subject="a decision")
    'Calibration within limits'
    """
    from nbmlops.errors import PhiInTextError
    from nbmlops.privacy.identifiers import project_registry
    from nbmlops.privacy.telemetry import phi_policy

    policy = phi_policy(Path(root))
    if policy == "off" or not text:
        return text
    registry = project_registry(Path(root))
    kinds = tuple(dict.fromkeys(f.kind for f in scan_text(text, identifiers=registry)))
    if not kinds:
        return text
    if policy == "refuse":
        raise PhiInTextError(field=field, subject=subject, kinds=kinds)
    return redact_text(text, identifiers=registry)


def redact_injected_parameters(path: Path, *, identifiers: Identifiers = "project") -> bool:
    """Redact the papermill ``injected-parameters`` cell of an executed notebook, in place.

    The values papermill keeps in the notebook's metadata (``papermill.parameters``) too.

    The kernel ran with the real values; the file that is kept and logged shows them redacted.
    Returns whether anything was changed.
    """
    import json

    from nbmlops._core.atomic import write_text_atomic

    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    changed = False
    for cell in notebook.get("cells", []):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = joined(cell.get("source", ""))
        redacted = redact_text(source, identifiers=identifiers)
        if redacted != source:
            cell["source"] = redacted
            changed = True
    # papermill also keeps the values it injected in the notebook's metadata
    papermill = notebook.get("metadata", {}).get("papermill", {})
    if isinstance(papermill.get("parameters"), dict):
        redacted_values = redact_json(papermill["parameters"], identifiers)
        changed = changed or redacted_values != papermill["parameters"]
        papermill["parameters"] = redacted_values
    if changed:
        write_text_atomic(Path(path), json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed
