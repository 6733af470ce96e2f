"""A fitted model saved with skops, as the same bytes for the same model.

``skops.io.dump`` names each array file after ``id()`` of the object it came from and stamps every
zip entry with the current time, so two fits of the same seeded model on the same data differ byte
for byte: the evidence archive stores both, and a reviewer cannot tell from the digests that
nothing changed. :func:`save_model` writes skops' own format with those two accidents removed:
node ids renumbered in the order they first appear in ``schema.json``, entries in name order, each
dated 1980-01-01 (the zip epoch). ``skops.io.load`` reads the result like any skops file; nothing
about what a model holds, or how it is inspected before loading, changes.

skops is imported on the first call: a stage that saves no model never pays for it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_bytes_atomic

__all__ = ["canonical_skops", "save_model"]

_SCHEMA = "schema.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# the two places skops writes an object's id(): a node's "__id__" and an array's file name
_ID = re.compile(r'("__id__": )(\d+)|("file": ")(\d+)(\.npy")')


def canonical_skops(data: bytes) -> bytes:
    """The skops file ``data`` with ids renumbered, entries sorted and timestamps fixed."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {info.filename: (info, archive.read(info)) for info in archive.infolist()}
    schema = entries[_SCHEMA][1].decode("utf-8")
    numbers: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        old = match.group(2) or match.group(4)
        new = numbers.setdefault(old, str(len(numbers)))
        if match.group(1):
            return f"{match.group(1)}{new}"
        return f"{match.group(3)}{new}{match.group(5)}"

    schema = _ID.sub(renumber, schema)
    renamed = {_SCHEMA: (entries[_SCHEMA][0], schema.encode("utf-8"))}
    for name, entry in entries.items():
        if name == _SCHEMA:
            continue
        stem, dot, suffix = name.partition(".")
        if stem not in numbers:
            raise ValueError(f"skops file entry {name!r} is not named in its schema")
        renamed[f"{numbers[stem]}{dot}{suffix}"] = entry
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in sorted(renamed):
            info, payload = renamed[name]
            fixed = zipfile.ZipInfo(name, date_time=_EPOCH)
            fixed.compress_type = info.compress_type
            fixed.external_attr = 0o644 << 16
            archive.writestr(fixed, payload)
    return out.getvalue()


def save_model(model: Any, path: str | Path) -> Path:
    """Save a fitted model with skops (never pickle), the same bytes for the same model.

    Parameters
    ----------
    model
        A fitted scikit-learn estimator or pipeline (anything ``skops.io.dumps`` accepts).
    path
        Where to write, usually ``product["model"]``; written atomically.

    Returns
    -------
    Path
        ``path``. Load it with ``skops.io.load(path, trusted=...)`` as any skops file.

    Examples
    --------
    >>> from nbmlops import save_model                  # doctest: +SKIP
    >>> save_model(fitted, product["model"])             # doctest: +SKIP
    """
    import skops.io as sio

    target = Path(path)
    write_bytes_atomic(target, canonical_skops(sio.dumps(model)))
    return target
