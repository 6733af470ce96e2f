"""The evidence archive: every run's reviewable files, kept by content when the run finishes.

A later run overwrites ``build/``; a run can be reviewed (and signed) long after only if what its
review rests on is kept. When a run finishes, :func:`archive_products` copies each product a
succeeded or reused stage recorded with a digest - result JSON, metrics, tables, plots, the model -
into ``.nbmlops/evidence/<sha256>`` (read-only), and :func:`archive_run` adds the run record once it
is written and names every archived digest in one ``evidence_archived`` ledger entry (so
``nbmlops audit verify`` can tell an archived file from one a removed decision left behind).

Files are stored under their SHA-256, so identical bytes from many runs are stored once: a run that
reproduces its predecessor's results costs only its run record. Patient-level data (Parquet,
Feather, Arrow) is never copied: the run record binds it by digest. Archiving never fails a run: a
file that cannot be copied is a note in the run record (or, for the record itself, a progress note).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from nbmlops._core.digests import file_digest
from nbmlops._core.paths import EVIDENCE_STORE
from nbmlops.records import ledger
from nbmlops.records.model import StageResult

__all__ = [
    "ARCHIVED_EVENT",
    "DATA_SUFFIXES",
    "ArchiveError",
    "archive_file",
    "archive_products",
    "archive_run",
    "archived_copy",
    "archived_digests",
]

DATA_SUFFIXES = frozenset({".parquet", ".feather", ".arrow", ".pq"})
"""Patient-level data: bound by digest only, never copied into the archive."""
ARCHIVED_EVENT = "evidence_archived"
_ARCHIVED_STATUSES = ("succeeded", "skipped")


class ArchiveError(Exception):
    """One file could not be archived; ``changed`` when its bytes are not the expected digest.
    Internal: callers turn it into a note or into their own error."""

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def archive_file(root: Path, source: Path, digest: str, *, verify: bool = False) -> Path:
    """Copy ``source`` into ``.nbmlops/evidence/<digest>`` (read-only) unless it is there already
    (with ``verify``: there and intact, else it is replaced).

    The copy is hashed before it is renamed into place, so the store holds only files whose name is
    their SHA-256.

    Raises
    ------
    ArchiveError
        ``source`` cannot be read, or its bytes are not ``digest`` (``changed``).
    """
    store = Path(root) / EVIDENCE_STORE
    target = store / digest
    if target.is_file() and (not verify or file_digest(target) == digest):
        return target
    store.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        shutil.copyfile(source, partial)
    except OSError as exc:
        raise ArchiveError(f"cannot be read ({exc})") from exc
    if file_digest(partial) != digest:
        partial.unlink()
        raise ArchiveError("changed since its digest was taken", changed=True)
    partial.chmod(0o444)
    partial.replace(target)
    return target


def archived_copy(root: Path, digest: str) -> Path | None:
    """The archived file with SHA-256 ``digest``, re-hashed; None if absent or damaged."""
    path = Path(root) / EVIDENCE_STORE / digest
    return path if path.is_file() and file_digest(path) == digest else None


def archive_products(
    root: Path, stages: Iterable[StageResult]
) -> tuple[list[dict[str, str]], list[str]]:
    """Archive the reviewable products of a finished run's stages.

    Returns
    -------
    items, notes
        ``{"name": "<stage>.<product>", "digest"}`` for each archived file, sorted by name, and a
        note for each that could not be archived.
    """
    items, notes = [], []
    for result in stages:
        if result.status not in _ARCHIVED_STATUSES:
            continue
        for product, digest in sorted(result.product_digests.items()):
            location = Path(result.products.get(product, ""))
            if location.suffix in DATA_SUFFIXES or not location.name:
                continue
            name = f"{result.stage}.{product}"
            try:
                archive_file(root, location, digest)
            except (ArchiveError, OSError) as exc:
                notes.append(f"evidence archive: {name} not archived: {exc}")
                continue
            items.append({"name": name, "digest": digest})
    return sorted(items, key=lambda i: i["name"]), notes


def archive_run(
    root: Path, run_id: str, record_path: Path, items: list[dict[str, str]]
) -> str | None:
    """Archive the written run record beside ``items`` and name them all in the ledger.

    Returns
    -------
    str or None
        Why the run record could not be archived (its products still are), or None.
    """
    problem = None
    try:
        digest = file_digest(record_path)
        archive_file(root, record_path, digest)
        items = [{"name": "run_record", "digest": digest}, *items]
    except (ArchiveError, OSError) as exc:
        problem = f"evidence archive: the run record was not archived: {exc}"
    if items:
        ledger.append(root, ARCHIVED_EVENT, run_id=run_id, data={"items": items})
    return problem


def archived_digests(data: Mapping[str, object]) -> set[str]:
    """The digests an ``evidence_archived`` entry's ``data`` names (a forged one: none)."""
    items = data.get("items")
    if not isinstance(items, list):
        return set()
    return {str(i.get("digest")) for i in items if isinstance(i, dict)}
