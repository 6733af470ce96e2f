"""Declared inputs: the raw data a stage reads, found under the project root, checked, and
digested by content.

A stage declares ``inputs`` (``{"extract": "data/extract.parquet"}``: a file or a folder,
relative to the project root). Each input's SHA-256 goes into the stage's fingerprint as
``input:<name>`` (a folder's is the digest of its files' relative paths and digests), so a
replaced extract makes the stage stale ("input extract changed"). A file whose size, mtime, inode
and ctime are those recorded in the stage's state is not read again, as for products
(:mod:`nbmlops.run.state`).

An input must exist, stay inside the project and not be (or hold) a symbolic link out of it: a
link out would let the data change without the project's records knowing. Planning reports an
unusable input as a reason (``input_missing``); a run refuses it before any kernel starts
(:class:`~nbmlops.errors.StageInputError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from nbmlops._core.digests import canonical_digest, file_digest
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import StageInputError
from nbmlops.run.state import ProductRecord

__all__ = [
    "INPUT_KEY",
    "check_inputs",
    "digest_inputs",
    "input_paths",
    "input_problem",
    "input_records",
]

INPUT_KEY = "input:"
"""Prefix of a declared input's digest among a stage's fingerprint inputs."""


def input_paths(root: Path, stage: StageSpec) -> dict[str, str]:
    """What the stage gets as ``inputs``: each declared input's absolute path."""
    return {name: str(root / rel) for name, rel in stage.inputs.items()}


def input_problem(root: Path, rel: str) -> str | None:
    """Why the input at ``rel`` cannot be read (``missing``, ``outside_project``,
    ``symlink_outside``), or ``None``."""
    top = root.resolve()
    path = root / rel
    if not os.path.lexists(path):
        return "missing"
    if not _inside(path, top):
        linked = any(p.is_symlink() for p in (path, *path.parents) if _inside_lexically(p, root))
        return "symlink_outside" if linked else "outside_project"
    if not path.exists():  # a dangling link inside the project
        return "missing"
    if path.is_dir():
        for folder, dirs, files in os.walk(path):
            for entry in (*dirs, *files):
                if not _inside(Path(folder) / entry, top):
                    return "symlink_outside"
    return None


def _inside(path: Path, top: Path) -> bool:
    return path.resolve().is_relative_to(top)


def _inside_lexically(path: Path, root: Path) -> bool:
    return path != root and path.is_relative_to(root)


def check_inputs(root: Path, stages: Iterable[StageSpec]) -> None:
    """Refuse the first declared input that cannot be read.

    Raises
    ------
    StageInputError
        Naming the stage, the input and what to do.
    """
    for stage in stages:
        for name, rel in stage.inputs.items():
            problem = input_problem(root, rel)
            if problem is not None:
                raise StageInputError(
                    stage=stage.name, input=name, path=rel, reason=problem, root=root
                )


def digest_inputs(
    root: Path, stage: StageSpec, cache: Mapping[str, ProductRecord]
) -> tuple[dict[str, str | None], dict[str, ProductRecord]]:
    """Each declared input's digest (``None``: it cannot be read), and the records of the files
    read, by project-relative path, for the next call's ``cache``."""
    digests: dict[str, str | None] = {}
    records: dict[str, ProductRecord] = {}
    for name, rel in stage.inputs.items():
        if input_problem(root, rel) is not None:
            digests[name] = None
            continue
        path = root / rel
        if path.is_dir():
            entries = sorted(
                (f.relative_to(path).as_posix(), _file(root, f, cache, records))
                for f in path.rglob("*")
                if f.is_file()
            )
            digests[name] = canonical_digest(entries, strict=False)
        else:
            digests[name] = _file(root, path, cache, records)
    return digests, records


def _file(
    root: Path, path: Path, cache: Mapping[str, ProductRecord], out: dict[str, ProductRecord]
) -> str:
    key = path.relative_to(root).as_posix()
    st = path.stat()
    seen = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    known = cache.get(key)
    if known is not None and seen == (known.size, known.mtime_ns, known.inode, known.ctime_ns):
        digest = known.sha256
    else:
        digest = file_digest(path)
    # the stat taken before reading: a write while it was read changes ctime, so it rehashes
    out[key] = ProductRecord(
        path=key, sha256=digest, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
        ctime_ns=st.st_ctime_ns,
    )  # fmt: skip
    return digest


def input_records(
    root: Path, stage: StageSpec, digests: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """What a run record keeps of each declared input: its declared path, the absolute path the
    stage read (``source``) and its digest, from the stage's fingerprint inputs."""
    return {
        name: {
            "path": rel,
            "source": str(root / rel),
            "sha256": digests.get(f"{INPUT_KEY}{name}", ""),
        }
        for name, rel in stage.inputs.items()
    }
