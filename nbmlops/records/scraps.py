"""Values a notebook records while it runs ("scraps"), and reading them back from the executed file.

A stage notebook calls :func:`record` for every value worth keeping (a metric, a row count, a small
table); after papermill has run it, :func:`read_scraps` reads them from the executed ``.ipynb`` and
:func:`split_scraps` splits them into MLflow metrics and the rest.

The format is scrapbook's, not ours: a scrap is a ``display_data`` output such as ::

    {"output_type": "display_data",
     "data": {"application/scrapbook.scrap.json+json":
                  {"name": "auc", "data": 0.91, "encoder": "json", "version": 1}},
     "metadata": {"scrapbook": {"name": "auc", "data": true, "display": false}}}

(strings use ``application/scrapbook.scrap.text+json`` and ``"encoder": "text"``, as
``scrapbook.glue`` does by default). So ``scrapbook.read_notebook(path).scraps`` reads what
:func:`record` writes, :func:`read_scraps` reads what ``scrapbook.glue`` writes, and
``tests/test_scraps.py`` checks both against scrapbook 0.5 itself, in a real kernel.

Why scrapbook is not imported here: ``import scrapbook`` takes ~3 s (it imports pandas, papermill
and jsonschema), and it would run in every stage's kernel and in every process that reads results —
longer than most stages' own cells. This module imports only the standard library; inside a kernel
:func:`record` uses IPython, which the kernel has already loaded.

Three deliberate differences from ``scrapbook.glue`` (each makes it refuse, never write
differently):

- Non-finite floats are refused. JSON has no NaN or infinity; ``glue`` silently records the
  *string* ``"nan"`` (after a serialisation warning on stderr), which would turn a broken metric
  into a missing one. :func:`record` raises instead, naming the scrap.
- Integers beyond a double's range (about 1.8e308) are refused: MLflow metrics are doubles, and
  ``10**400`` once left a stage's MLflow run RUNNING and switched MLflow off for the rest of the
  run. Record such a value as text (``str(n)``). Integers beyond 2**53 are kept exactly in the
  scrap and the run record; as MLflow metrics they are rounded to the nearest double.
- numpy scalars and arrays are converted to plain Python first (``glue`` refuses ``numpy.int64``
  and arrays). Other non-JSON values (pandas objects, datetimes, ``None`` at the top level, which
  scrapbook's payload schema forbids) are refused with a hint.

And one when reading: scrapbook lets a ``display=True`` output of ``glue`` replace the scrap's
data with ``None``; :func:`read_scraps` ignores display outputs, which carry no value.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import InvalidInputError, MalformedNotebookError

__all__ = ["Scraps", "numeric_scraps", "other_scraps", "read_scraps", "record", "split_scraps"]

SCRAP_MIMETYPE_PREFIX = "application/scrapbook.scrap"
"""Every scrap output's data key starts with this; scrapbook adds ``.<encoder>+json``."""

PAYLOAD_VERSION = 1
"""scrapbook's ``LATEST_SCRAP_VERSION`` (unchanged since scrapbook 0.3)."""

_READABLE_ENCODERS = frozenset({"json", "text"})
_MAX_INT = int(sys.float_info.max)
"""The largest integer a double can hold (rounded): MLflow metrics are doubles."""


# -- writing, inside a notebook -------------------------------------------------------------------


def record(name: str, value: object) -> None:
    """Record a JSON value in the running notebook, exactly as ``scrapbook.glue(name, value)`` does.

    Call it inside a notebook; the value is stored as a hidden output of the cell and read back
    from the executed notebook by :func:`read_scraps` (or by scrapbook). Recording a name again
    replaces the earlier value.

    Parameters
    ----------
    name : str
        Non-empty name of the scrap; numeric scraps become MLflow metrics under this name.
    value : str, int, float, bool, list or dict
        Plain JSON (``None`` only inside lists and dicts; dict keys are strings). numpy scalars and
        arrays are converted with ``.tolist()``; tuples become lists.

    Raises
    ------
    InvalidInputError
        ``argument="name"``: ``name`` is not a string, or empty. ``argument="value"``: ``value``
        (or anything inside it) is not JSON, holds NaN or infinity (JSON has neither), or is a
        list or dict that contains itself; the message names the scrap and where in the value
        the problem is. (Also a ``ValueError``.)

    Warns
    -----
    UserWarning
        Outside IPython (plain ``python``), where there is no notebook to record into; nothing is
        written.

    Examples
    --------
    In a stage notebook::

        from nbmlops.records.scraps import record
        record("auc", roc_auc_score(y_test, proba))    # a numpy float is fine
        record("confusion", {"tp": 41, "fp": 3, "fn": 5, "tn": 51})
    """
    data, metadata = _display_bundle(name, value)
    if not _in_ipython():
        warnings.warn(
            f"record({name!r}): not running in a notebook (no IPython shell), so the scrap is "
            "not saved. Run the notebook with `nbmlops run` or papermill to record it.",
            UserWarning,
            stacklevel=2,
        )
        return
    from IPython.display import display

    # the same call as scrapbook.glue; IPython's display() has no annotations
    display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]


def _display_bundle(name: str, value: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``(data, metadata)`` pair that ``scrapbook.glue`` hands to IPython's ``display``."""
    if not isinstance(name, str):
        raise InvalidInputError(
            f"scrap name must be a string, not {type(name).__name__} ({name!r})", argument="name"
        )
    if not name:
        raise InvalidInputError("scrap name must not be empty", argument="name")
    plain = _plain_json(name, value, "value", ())
    if plain is None:
        raise InvalidInputError(
            f"scrap {name!r}: value is None, which scrapbook's format cannot hold at the top "
            "level. Leave the scrap out, or record a string that says why there is no value.",
            argument="value",
        )
    # glue picks its text encoder for strings and its json encoder for everything else.
    encoder = "text" if isinstance(plain, str) else "json"
    payload = {"name": name, "data": plain, "encoder": encoder, "version": PAYLOAD_VERSION}
    data = {f"{SCRAP_MIMETYPE_PREFIX}.{encoder}+json": payload}
    metadata = {"scrapbook": {"name": name, "data": True, "display": False}}
    return data, metadata


def _plain_json(name: str, value: object, where: str, parents: tuple[int, ...]) -> Any:
    """``value`` as plain JSON types, or an error naming the scrap and the place inside it."""
    value = _from_numpy(name, value, where)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise InvalidInputError(
                f"scrap {name!r}: {where} is an integer beyond the range of a double "
                "(about 1.8e308), which MLflow metrics, JavaScript and most JSON readers use for "
                f"numbers. Record it as text instead: record({name!r}, str(n)).",
                argument="value",
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(
                f"scrap {name!r}: {where} is {value!r}, and JSON has no NaN or infinity. "
                "Find out why it is not finite; if a missing value is expected, record a string "
                "such as 'not computed' instead.",
                argument="value",
            )
        return float(value)
    if isinstance(value, str):
        # str.__str__ keeps the characters of str subclasses; str() of a (str, Enum) member does not
        return str.__str__(value)
    if isinstance(value, list | tuple | dict):
        if id(value) in parents:
            raise InvalidInputError(f"scrap {name!r}: {where} contains itself", argument="value")
        inner = (*parents, id(value))
        if isinstance(value, dict):
            return {
                _plain_key(name, key, where): _plain_json(name, item, f"{where}[{key!r}]", inner)
                for key, item in value.items()
            }
        return [_plain_json(name, item, f"{where}[{i}]", inner) for i, item in enumerate(value)]
    kind = type(value)
    raise InvalidInputError(
        f"scrap {name!r}: {where} is a {kind.__module__}.{kind.__qualname__}, which is not JSON. "
        "Record str, int, float, bool, list or dict (e.g. float(x), df.to_dict(), ts.isoformat()).",
        argument="value",
    )


def _plain_key(name: str, key: object, where: str) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    raise InvalidInputError(
        f"scrap {name!r}: {where} has the key {key!r} of type {type(key).__name__}; "
        "JSON object keys are strings, so convert the keys with str() first.",
        argument="value",
    )


def _from_numpy(name: str, value: object, where: str) -> object:
    """numpy scalars and arrays as Python objects, detected without importing numpy."""
    if type(value).__module__.partition(".")[0] != "numpy" or not hasattr(value, "tolist"):
        return value
    # .tolist() turns nanosecond datetimes into bare ints: refuse them rather than lose the unit.
    if getattr(getattr(value, "dtype", None), "kind", "") in ("M", "m"):
        raise InvalidInputError(
            f"scrap {name!r}: {where} is a numpy datetime/timedelta, which is not JSON. "
            "Record it as an ISO 8601 string (str(x)) or as a number with its unit in the name.",
            argument="value",
        )
    return value.tolist()


def _in_ipython() -> bool:
    # Any IPython shell will do: a Jupyter kernel (papermill, nbclient) or an in-process shell such
    # as ploomber-engine's, which collects display outputs without a kernel. Any of them has
    # imported IPython already, so plain Python need not pay for the import to find out.
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None


# -- reading, after the run -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scraps:
    """The scraps of one executed notebook: their values, and those nbmlops cannot decode.

    Treat both mappings as read-only: they are handed on to tracking and the run record.

    Attributes
    ----------
    values : dict[str, Any]
        Scrap name -> value, for scraps written by :func:`record` or by ``scrapbook.glue`` with
        its ``json`` or ``text`` encoder. Later scraps of the same name replace earlier ones.
    unsupported : dict[str, str]
        Scrap name -> encoder, for scraps whose value needs scrapbook to decode (``glue`` of a
        DataFrame uses the ``pandas`` encoder) or that use a newer payload version. A name is in
        one of the two mappings, never both: the scrap recorded last decides.
    """

    values: dict[str, Any]
    unsupported: dict[str, str]


def read_scraps(notebook: Path | str | Mapping[str, Any]) -> Scraps:
    """Read the scraps recorded in an executed notebook, as plain JSON and without scrapbook.

    Parameters
    ----------
    notebook : Path, str or Mapping
        Path of an ``.ipynb`` file (nbformat 4), or the notebook already parsed from JSON.

    Returns
    -------
    Scraps
        ``values`` holds every scrap that plain JSON can represent; ``unsupported`` names the rest.

    Raises
    ------
    NotebookError
        If the file cannot be read.
    MalformedNotebookError
        If it is not nbformat-4 JSON, or a scrap output breaks scrapbook's payload schema
        (``detail`` says which cell and output).

    Examples
    --------
    >>> nb = {"nbformat": 4, "cells": [{"cell_type": "code", "outputs": [{
    ...     "output_type": "display_data", "metadata": {},
    ...     "data": {"application/scrapbook.scrap.json+json": {
    ...         "name": "auc", "data": 0.91, "encoder": "json", "version": 1}}}]}]}
    >>> read_scraps(nb)
    Scraps(values={'auc': 0.91}, unsupported={})
    """
    if isinstance(notebook, Mapping):
        # an in-memory notebook has no path; errors still need one to name
        path, parsed = Path("<notebook>"), notebook
    else:
        path = Path(notebook)
        parsed = _load(path)
    values: dict[str, Any] = {}
    unsupported: dict[str, str] = {}
    for where, payload in _scrap_payloads(path, parsed):
        name, encoder, value = _decode(path, where, payload)
        if encoder in _READABLE_ENCODERS:
            values[name] = value
            unsupported.pop(name, None)
        else:
            unsupported[name] = encoder
            values.pop(name, None)
    return Scraps(values=values, unsupported=unsupported)


def _load(path: Path) -> Mapping[str, Any]:
    from nbmlops._core.notebooks import read_notebook

    return read_notebook(path)


def _scrap_payloads(path: Path, notebook: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(where, payload)`` for every scrap output, in notebook order."""
    if notebook.get("nbformat") != 4:
        raise MalformedNotebookError(
            path=path,
            detail=f"nbformat {notebook.get('nbformat')!r}; only nbformat 4 is read "
            "(papermill writes nbformat 4)",
        )
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise MalformedNotebookError(path=path, detail="'cells' is not a list")
    found: list[tuple[str, Any]] = []
    for cell_index, cell in enumerate(cells):
        outputs = cell.get("outputs", []) if isinstance(cell, Mapping) else None
        if not isinstance(outputs, list):
            raise MalformedNotebookError(
                path=path, detail=f"cell {cell_index}: the cell or its 'outputs' is malformed"
            )
        for output_index, output in enumerate(outputs):
            data = output.get("data", {}) if isinstance(output, Mapping) else None
            if not isinstance(data, Mapping):
                raise MalformedNotebookError(
                    path=path,
                    detail=f"cell {cell_index}, output {output_index}: the output is malformed",
                )
            where = f"cell {cell_index}, output {output_index}"
            found.extend(
                (where, payload)
                for mimetype, payload in data.items()
                if mimetype.startswith(SCRAP_MIMETYPE_PREFIX)
            )
    return found


def _decode(path: Path, where: str, payload: Any) -> tuple[str, str, Any]:
    """``(name, encoder, value)`` of one payload, checked as scrapbook's v1 payload schema does.

    For encoders other than ``json`` and ``text`` the value is ``None`` (not decoded).
    """
    problem = _payload_problem(payload)
    if problem:
        raise MalformedNotebookError(path=path, detail=f"{where}: scrap payload {problem}")
    name: str = payload["name"]
    encoder: str = payload["encoder"]
    data = payload["data"]
    if payload["version"] > PAYLOAD_VERSION:
        return name, f"{encoder} (payload version {payload['version']})", None
    # The two decoders below are scrapbook's JsonEncoder.decode and TextEncoder.decode.
    if encoder == "json" and isinstance(data, str):
        with contextlib.suppress(json.JSONDecodeError):  # else a plain string, kept as is
            data = json.loads(data)
    elif encoder == "text" and not isinstance(data, str):
        data = str(data)
    return name, encoder, data


def _payload_problem(payload: Any) -> str:
    """What breaks scrapbook's payload schema (``schemas/scrap.v1.json``), or ``""``."""
    if not isinstance(payload, Mapping):
        return "is not a JSON object"
    missing = [key for key in ("name", "data", "encoder", "version") if key not in payload]
    if missing:
        return f"has no {', '.join(missing)}"
    version = payload["version"]
    checks = (
        (not isinstance(payload["name"], str), "has a name that is not a string"),
        (not isinstance(payload["encoder"], str), "has an encoder that is not a string"),
        (
            isinstance(version, bool) or not isinstance(version, int) or version < PAYLOAD_VERSION,
            f"has an invalid version {version!r}",
        ),
        # data of a newer payload version is not checked: such scraps are reported as unsupported
        (version == PAYLOAD_VERSION and payload["data"] is None, "has null data"),
    )
    return next((problem for failed, problem in checks if failed), "")


# -- splitting for tracking -----------------------------------------------------------------------


def split_scraps(scraps: Scraps | Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """The scraps split into MLflow metrics and the rest, in one place for every reader.

    A metric is a finite ``int`` or ``float`` a double can hold (``bool`` is not a measurement);
    everything else - strings, bools, lists, dicts, and numbers MLflow cannot hold (NaN, an
    infinity, an int beyond a double, which ``scrapbook.glue`` can record) - is the rest.

    Parameters
    ----------
    scraps : Scraps or Mapping[str, Any]
        What :func:`read_scraps` returned, or its ``values``.

    Returns
    -------
    tuple[dict[str, float], dict[str, Any]]
        ``(metrics, rest)``: scrap name -> value as a float, and scrap name -> value, each in
        the order of ``scraps``. Every scrap is in exactly one of the two.

    Examples
    --------
    >>> split_scraps({"auc": 0.91, "n": 3, "ok": True, "bad": float("nan")})
    ({'auc': 0.91, 'n': 3.0}, {'ok': True, 'bad': nan})
    """
    values = scraps.values if isinstance(scraps, Scraps) else scraps
    metrics: dict[str, float] = {}
    rest: dict[str, Any] = {}
    for name, value in values.items():
        metric = _as_metric(value)
        if metric is None:
            rest[name] = value
        else:
            metrics[name] = metric
    return metrics, rest


def numeric_scraps(scraps: Scraps | Mapping[str, Any]) -> dict[str, float]:
    """The metrics of :func:`split_scraps`.

    Examples
    --------
    >>> numeric_scraps({"auc": 0.91, "n": 3, "ok": True, "label": "x", "bad": float("nan")})
    {'auc': 0.91, 'n': 3.0}
    """
    return split_scraps(scraps)[0]


def other_scraps(scraps: Scraps | Mapping[str, Any]) -> dict[str, Any]:
    """The rest of :func:`split_scraps` (strings, bools, lists, dicts ...).

    Examples
    --------
    >>> other_scraps({"auc": 0.91, "ok": True, "table": {"a": [1, 2]}})
    {'ok': True, 'table': {'a': [1, 2]}}
    """
    return split_scraps(scraps)[1]


def _as_metric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        metric = float(value)
    except OverflowError:  # an int beyond a double's range
        return None
    return metric if math.isfinite(metric) else None
