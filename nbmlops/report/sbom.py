"""A run's software bill of materials: CycloneDX 1.5 JSON of the lock the run recorded.

A run records the SHA-256 of ``uv.lock`` (``lock_digest``). The bill is made from *that* lock,
never from whatever the project holds now: the current ``uv.lock`` when its digest matches,
else the lock of the run's git commit (``git show <commit>:uv.lock``) when that one matches,
else none (``Sbom.available`` False with the reason). ``uv export --format cyclonedx1.5`` writes
it, offline and from the lock alone (``--frozen``), with every extra and dependency group: the
bill lists what the lock pins, each package with the markers it is installed under.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.records.model import RunRecord

__all__ = ["Component", "Sbom", "sbom_for_run"]

EXPORT_TIMEOUT_S = 120


@dataclass(frozen=True, kw_only=True)
class Component:
    """One package of the bill: name, version and package URL (``pkg:pypi/name@version``)."""

    name: str
    version: str
    purl: str


@dataclass(frozen=True, kw_only=True)
class Sbom:
    """The bill of materials of a run's lock, or why there is none.

    ``source`` says which lock it was made from (``uv.lock`` or ``git show <commit>:uv.lock``);
    ``document`` is the CycloneDX JSON as uv wrote it; ``components`` its packages sorted by
    name. When ``available`` is False, ``reason`` says why and the rest is empty.
    """

    available: bool
    reason: str | None = None
    lock_digest: str | None = None
    source: str | None = None
    document: Mapping[str, Any] | None = None
    components: tuple[Component, ...] = field(default=())

    def to_json(self) -> str:
        """The CycloneDX document (indented JSON); raises ValueError when there is none."""
        if self.document is None:
            raise ValueError(f"no bill of materials: {self.reason}")
        return json.dumps(self.document, indent=1, sort_keys=True)


def sbom_for_run(root: Path, record: Mapping[str, Any] | RunRecord) -> Sbom:
    """The bill of materials of the lock run ``record`` recorded, in project ``root``.

    Parameters
    ----------
    root : Path
        The project folder.
    record : Mapping or RunRecord
        The run record (as ``.nbmlops/runs/<id>.json`` holds it, or the value).

    Returns
    -------
    Sbom
        ``available`` False with a ``reason`` when the run recorded no lock, no lock with its
        digest can be found, or uv cannot export it; never raises for those.

    Examples
    --------
    >>> bill = sbom_for_run(Path("."), record)  # doctest: +SKIP
    >>> bill.components[0].purl
    'pkg:pypi/aiohappyeyeballs@2.7.1'
    """
    data = record if isinstance(record, Mapping) else record.to_dict()
    root = Path(root)
    digest = data.get("lock_digest")
    if not digest:
        return Sbom(available=False, reason="the run recorded no environment lock (uv.lock)")
    digest = str(digest)
    lock, source = _find_lock(root, digest, _commit(data))
    if lock is None:
        return Sbom(available=False, reason=source, lock_digest=digest)
    with tempfile.TemporaryDirectory(prefix="nbmlops-sbom-") as scratch:
        folder = Path(scratch)
        (folder / "uv.lock").write_bytes(lock)
        pyproject = _pyproject(root, data, source)
        if pyproject is None:
            reason = f"no pyproject.toml to go with the lock ({source})"
            return Sbom(available=False, reason=reason, lock_digest=digest, source=source)
        (folder / "pyproject.toml").write_bytes(pyproject)
        document, problem = _export(folder)
    if document is None:
        return Sbom(available=False, reason=problem, lock_digest=digest, source=source)
    return Sbom(
        available=True,
        lock_digest=digest,
        source=source,
        document=document,
        components=_components(document),
    )


def _commit(data: Mapping[str, Any]) -> str | None:
    provenance = data.get("provenance")
    commit = provenance.get("git_commit") if isinstance(provenance, Mapping) else None
    return str(commit) if commit else None


def _find_lock(root: Path, digest: str, commit: str | None) -> tuple[bytes | None, str]:
    """The lock's bytes and where they came from, or None and why none matched."""
    current = root / "uv.lock"
    try:
        raw = current.read_bytes()
    except OSError:
        raw = None
    if raw is not None and hashlib.sha256(raw).hexdigest() == digest:
        return raw, "uv.lock"
    if commit is None:
        return None, (
            f"uv.lock has changed since the run (the run's lock is sha256 {digest[:12]}…) and "
            "the run recorded no git commit to find it in"
        )
    old = _git_show(root, commit, "uv.lock")
    if old is not None and hashlib.sha256(old).hexdigest() == digest:
        return old, f"git show {commit[:12]}:uv.lock"
    where = "is not in the repository" if old is None else "holds another uv.lock"
    return None, (
        f"no lock with the run's digest (sha256 {digest[:12]}…): uv.lock has changed and "
        f"commit {commit[:12]} {where}"
    )


def _pyproject(root: Path, data: Mapping[str, Any], source: str) -> bytes | None:
    commit = _commit(data)
    if source != "uv.lock" and commit is not None:
        return _git_show(root, commit, "pyproject.toml")
    try:
        return (root / "pyproject.toml").read_bytes()
    except OSError:
        return None


def _git_show(root: Path, commit: str, name: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "show", f"{commit}:{name}"], cwd=root, capture_output=True, timeout=30,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _export(folder: Path) -> tuple[dict[str, Any] | None, str]:
    from uv import find_uv_bin

    command = [
        find_uv_bin(), "export", "--format", "cyclonedx1.5", "--preview-features", "sbom-export",
        "--frozen", "--offline", "--no-hashes", "--all-extras", "--all-groups",
        "--project", str(folder),
    ]  # fmt: skip
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
    try:
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
            check=False, env=env,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"uv export did not finish: {exc}"
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[:500]
        return None, f"uv export failed: {tail}"
    try:
        document = json.loads(done.stdout)
    except ValueError:
        return None, "uv export wrote no JSON"
    if not isinstance(document, dict):
        return None, "uv export wrote no CycloneDX document"
    return document, ""


def _components(document: Mapping[str, Any]) -> tuple[Component, ...]:
    found = {}
    for item in document.get("components") or ():
        if isinstance(item, Mapping) and item.get("name"):
            name, version = str(item["name"]), str(item.get("version", ""))
            purl = str(item.get("purl") or f"pkg:pypi/{name}@{version}")
            found[(name.casefold(), version)] = Component(name=name, version=version, purl=purl)
    return tuple(found[key] for key in sorted(found))
