"""The ``uv.lock`` file: its digest, and which distributions ``uv sync --frozen`` installs from it.

Parsed locks are cached by path and digest. How the walk picks entries (roots, default groups,
markers evaluated for the target interpreter, forks, extras) is told in
:mod:`nbmlops.run.environment`.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from nbmlops.errors import LockFileError

__all__ = [
    "ParsedLock",
    "Pin",
    "default_groups",
    "load_lock",
    "lock_digest",
    "locked_distributions",
    "normalize",
    "select_pins",
    "support_problems",
]

_SUPPORTED_LOCK_VERSION = 1


def lock_digest(lock_path: Path) -> str:
    """SHA-256 of the lock file's bytes, as lowercase hex.

    Parameters
    ----------
    lock_path
        The ``uv.lock`` file.

    Returns
    -------
    str
        64 hex characters; run records and the ledger cite the lock by this value.

    Raises
    ------
    LockFileError
        The file is missing or unreadable.

    Examples
    --------
    >>> lock_digest(Path("uv.lock"))  # doctest: +SKIP
    '3f1c...'
    """
    return hashlib.sha256(_read_lock_bytes(lock_path)).hexdigest()


def _read_lock_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LockFileError(path=path, detail=exc.strerror or str(exc)) from exc


@dataclass(frozen=True)
class Pin:
    name: str
    version: str | None  # uv omits the version of a local project whose version is dynamic
    source: Mapping[str, Any]


@dataclass(frozen=True)
class ParsedLock:
    path: Path
    digest: str
    packages: tuple[Mapping[str, Any], ...]
    requires_python: SpecifierSet | None
    supported_markers: tuple[Marker, ...]
    by_name: Mapping[str, tuple[Mapping[str, Any], ...]]
    roots: tuple[Mapping[str, Any], ...]


_LOCKS: dict[tuple[Path, str], ParsedLock] = {}  # parsed locks: parsing uv.lock takes ~0.1 s
_LOCKS_GUARD = threading.Lock()


def load_lock(path: Path) -> ParsedLock:
    content = _read_lock_bytes(path)
    digest = hashlib.sha256(content).hexdigest()
    with _LOCKS_GUARD:
        cached = _LOCKS.get((path, digest))
    if cached is not None:
        return cached
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockFileError(path=path, detail=f"not valid TOML: {exc}") from exc
    if data.get("version") != _SUPPORTED_LOCK_VERSION:
        detail = f"lock format version {data.get('version')!r}; nbmlops reads version 1"
        raise LockFileError(path=path, detail=detail)
    try:
        lock = _parse_lock(path, digest, data)
    except (KeyError, TypeError, AttributeError, InvalidSpecifier, InvalidMarker) as exc:
        raise LockFileError(path=path, detail=f"malformed lock ({exc!r})") from exc
    with _LOCKS_GUARD:
        if len(_LOCKS) >= 8:
            _LOCKS.clear()
        _LOCKS[(path, digest)] = lock
    return lock


def _parse_lock(path: Path, digest: str, data: Mapping[str, Any]) -> ParsedLock:
    packages = tuple(data.get("package", ()))
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(normalize(package["name"]), []).append(package)
    requires_python = data.get("requires-python")
    return ParsedLock(
        path=path,
        digest=digest,
        packages=packages,
        requires_python=SpecifierSet(requires_python) if requires_python else None,
        supported_markers=tuple(Marker(m) for m in data.get("supported-markers", ())),
        by_name={name: tuple(entries) for name, entries in by_name.items()},
        roots=_roots(path, packages, data.get("manifest", {}).get("members", [])),
    )


def _roots(
    path: Path, packages: Sequence[Mapping[str, Any]], members: Sequence[str]
) -> tuple[Mapping[str, Any], ...]:
    roots = tuple(
        p for p in packages if "." in (p["source"].get("editable"), p["source"].get("virtual"))
    )
    if not roots:
        # A workspace root without a [project] of its own: `uv sync` installs every member.
        wanted = {normalize(m) for m in members}
        roots = tuple(p for p in packages if normalize(p["name"]) in wanted)
    if not roots:
        raise LockFileError(path=path, detail="no root project (no package with source '.')")
    return roots


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def default_groups(lock_path: Path) -> tuple[str, ...] | None:
    """``[tool.uv] default-groups`` beside the lock (None means all groups), else ``("dev",)``."""
    try:
        pyproject = tomllib.loads((lock_path.parent / "pyproject.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ("dev",)
    configured = pyproject.get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    if configured == "all":
        return None
    return tuple(normalize(group) for group in configured)


_MARKERS: dict[str, Marker] = {}


def _holds(marker: str | None, environment: Mapping[str, str]) -> bool:
    if marker is None:
        return True
    parsed = _MARKERS.get(marker)
    if parsed is None:
        parsed = _MARKERS.setdefault(marker, Marker(marker))
    return parsed.evaluate(dict(environment))


def support_problems(lock: ParsedLock, environment: Mapping[str, str]) -> list[str]:
    problems = []
    python = environment["python_full_version"]
    if lock.requires_python and not lock.requires_python.contains(python, prereleases=True):
        problems.append(
            f"python: {python} is outside the lock's requires-python {lock.requires_python}"
        )
    env = dict(environment)
    if lock.supported_markers and not any(m.evaluate(env) for m in lock.supported_markers):
        supported = " or ".join(str(m) for m in lock.supported_markers)
        problems.append(f"platform: not among the lock's supported environments ({supported})")
    return problems


def select_pins(
    lock: ParsedLock, environment: Mapping[str, str], groups: tuple[str, ...] | None
) -> dict[str, Pin]:
    """The distributions `uv sync --frozen` installs from ``lock`` into ``environment``."""
    try:
        return _walk(lock, environment, groups)
    except (KeyError, TypeError, AttributeError) as exc:
        raise LockFileError(path=lock.path, detail=f"malformed entry ({exc!r})") from exc
    except (InvalidMarker, InvalidSpecifier, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockFileError(path=lock.path, detail=f"unusable marker ({exc})") from exc


def _walk(
    lock: ParsedLock, environment: Mapping[str, str], groups: tuple[str, ...] | None
) -> dict[str, Pin]:
    queue: deque[tuple[Mapping[str, Any], str | None]] = deque()
    seen: set[tuple[int, str | None]] = set()
    pins: dict[str, Pin] = {}

    def follow(edges: Iterable[Mapping[str, Any]]) -> None:
        for edge in edges:
            if _holds(edge.get("marker"), environment):
                target = _resolve(lock, edge)
                queue.append((target, None))
                queue.extend((target, normalize(extra)) for extra in edge.get("extra", ()))

    for root in lock.roots:
        queue.append((root, None))
        dev = root.get("dev-dependencies", {})
        for group in sorted(dev) if groups is None else groups:
            follow(dev.get(group, ()))
    while queue:
        package, extra = queue.popleft()
        if (id(package), extra) in seen:
            continue
        seen.add((id(package), extra))
        if extra is not None:
            queue.append((package, None))
            follow(package.get("optional-dependencies", {}).get(extra, ()))
            continue
        follow(package.get("dependencies", ()))
        if "virtual" in package["source"]:
            continue  # a virtual project is never installed, only its dependencies
        pin = Pin(normalize(package["name"]), package.get("version"), package["source"])
        other = pins.setdefault(pin.name, pin)
        if other.version != pin.version:
            detail = f"{pin.name} {other.version} and {pin.version} both apply to one interpreter"
            raise LockFileError(path=lock.path, detail=detail)
    return pins


def _resolve(lock: ParsedLock, edge: Mapping[str, Any]) -> Mapping[str, Any]:
    """The package an edge names; ``version``/``source`` pick one entry of a forked package."""
    candidates = [
        p
        for p in lock.by_name.get(normalize(edge["name"]), ())
        if p.get("version") == edge.get("version", p.get("version"))
        and p["source"] == edge.get("source", p["source"])
    ]
    if len(candidates) != 1:
        detail = f"dependency {dict(edge)} matches {len(candidates)} packages, not exactly one"
        raise LockFileError(path=lock.path, detail=detail)
    return candidates[0]


def locked_distributions(
    lock: Path, environment: Mapping[str, str], *, groups: Sequence[str] | None = None
) -> dict[str, str | None]:
    """The distributions ``uv sync --frozen`` would install from ``lock`` into an interpreter.

    Parameters
    ----------
    lock
        The ``uv.lock`` file.
    environment
        The target interpreter's PEP 508 marker environment (see :func:`interpreter_markers`).
    groups
        Dependency groups of the root project to include; default: uv's default groups.

    Returns
    -------
    dict[str, str | None]
        PEP 503 normalised name -> locked version, the root project included (unless virtual);
        None for a local project whose version is dynamic (uv does not lock it).

    Raises
    ------
    LockFileError
        The lock is missing, unreadable or inconsistent.

    Examples
    --------
    >>> locked_distributions(Path("uv.lock"), LINUX_CPYTHON_311)["numpy"]  # doctest: +SKIP
    '2.4.6'
    """
    loaded = load_lock(lock)
    chosen = default_groups(lock) if groups is None else tuple(normalize(g) for g in groups)
    return {name: pin.version for name, pin in select_pins(loaded, environment, chosen).items()}
