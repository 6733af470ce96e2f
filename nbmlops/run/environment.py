"""Pinned environments: does the kernel that runs a stage hold exactly what ``uv.lock`` says?

"Pinned" here means: every distribution that ``uv sync --frozen`` would install into the kernel's
interpreter from this lock is installed there, at the locked version. The lock is the source of
truth and its SHA-256 (:func:`lock_digest`) is what run records cite.

Which distributions the lock asks for (the walk)
    Start at the root project (the package whose source is ``{ editable = "." }`` or
    ``{ virtual = "." }``; for a workspace whose root is not a project, every listed member) and
    follow ``dependencies`` plus the root's *default* dependency groups. Like ``uv sync``, the
    default groups are ``dev`` unless ``[tool.uv] default-groups`` in the ``pyproject.toml`` beside
    the lock says otherwise; a kernel synced with ``--no-dev`` therefore reports the dev tools as
    not installed, because it is not what the lock pins. An edge is followed only when its
    ``marker`` holds for the *target* interpreter's marker environment (computed by running that
    interpreter, never from ours). Where the lock holds several versions of one package (a
    ``resolution-markers`` fork, e.g. numpy for Python 3.11 vs >=3.12), the edge's ``version`` and
    ``source`` name the exact entry. An edge with ``extra = [...]`` also follows that package's
    ``optional-dependencies`` for those extras; ``dask[distributed]`` pulls in ``distributed``.

Why the root project's own extras are ignored
    ``uv sync`` installs none of them unless asked (``--extra``), and stage metadata has no way to
    ask, so the pinned set is the default set. Extras requested *by a dependency edge* are part of
    that set and are followed.

Why packages installed but not in the lock are not differences
    An extra distribution cannot change the version of a locked one, and every ``python -m venv``
    or conda environment carries some (pip, setuptools, wheel). Failing on them would make the
    check fail everywhere but a ``uv``-made venv. They are listed in
    :attr:`EnvironmentReport.unlocked` so a run record can still show them.

The conda export (:func:`export_conda_environment`) writes the same pins as an ``environment.yml``
whose packages all come from PyPI through pip, for teams whose platform only offers conda.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from nbmlops._core.atomic import write_text_atomic
from nbmlops.errors import EnvironmentMismatchError, KernelNotFoundError, LockFileError

__all__ = [
    "LINUX_CPYTHON_311",
    "EnvironmentReport",
    "check_environment",
    "export_conda_environment",
    "installed_distributions",
    "interpreter_markers",
    "kernel_python",
    "lock_digest",
    "locked_distributions",
    "main",
    "require_environment",
]

LINUX_CPYTHON_311: Mapping[str, str] = {
    # The interpreter the project is measured on (STACK-NOTES); every 3.11.x that selects the same
    # pins is accepted by the exported environment's python spec.
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
}
"""Marker environment of Linux x86_64 CPython 3.11, the conda export's default target."""

_SUPPORTED_LOCK_VERSION = 1
_PROBE_TIMEOUT_S = 60

# Run by the *target* interpreter, which may lack packaging: stdlib only, Python >= 3.8 syntax.
_PROBE = r"""
import json, os, platform, re, sys, time
from importlib import metadata

def full_version(info):
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version

def name_and_version(dist):
    # Two header lines instead of dist.metadata, which parses all of METADATA (long description
    # included) with the email package: 0.10 s instead of 0.25 s for ~260 distributions.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line:
            break
        if name is None and line.startswith("Name:"):
            name = line[5:].strip()
        elif version is None and line.startswith("Version:"):
            version = line[8:].strip()
    return name, version

# `-c` puts the caller's working directory first; the answer must not depend on where we ran.
if sys.path and sys.path[0] == "":
    del sys.path[0]
started = time.time_ns()
stamps = {}
for entry in sys.path:
    try:
        stamps[entry] = os.stat(entry).st_mtime_ns
    except OSError:
        stamps[entry] = -1
dists = {}
for dist in metadata.distributions():
    name, version = name_and_version(dist)
    if name and version:
        dists.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
markers = {
    "implementation_name": sys.implementation.name,
    "implementation_version": full_version(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
answer = {"markers": markers, "distributions": dists, "stamps": stamps, "started": started}
sys.stdout.write("\n" + json.dumps(answer))
"""


@dataclass(frozen=True, kw_only=True)
class EnvironmentReport:
    """How a kernel's interpreter compares with a lock file.

    ``differences`` reads like ``"pandas: installed 2.2.0, locked 2.3.3"`` or
    ``"rich: locked 13.9.4, not installed"``; ``unlocked`` lists ``name==version`` of installed
    distributions the lock does not mention (informational, never a difference).
    """

    kernel: str
    python: Path
    lock: Path
    lock_digest: str
    differences: tuple[str, ...]
    unlocked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the interpreter holds exactly the locked versions."""
        return not self.differences


# -- the lock ------------------------------------------------------------------------------------


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
class _Pin:
    name: str
    version: str | None  # uv omits the version of a local project whose version is dynamic
    source: Mapping[str, Any]


@dataclass(frozen=True)
class _Lock:
    path: Path
    digest: str
    packages: tuple[Mapping[str, Any], ...]
    requires_python: SpecifierSet | None
    supported_markers: tuple[Marker, ...]
    by_name: Mapping[str, tuple[Mapping[str, Any], ...]]
    roots: tuple[Mapping[str, Any], ...]


_LOCKS: dict[tuple[Path, str], _Lock] = {}  # parsed locks: parsing uv.lock takes ~0.1 s
_LOCKS_GUARD = threading.Lock()


def _load_lock(path: Path) -> _Lock:
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


def _parse_lock(path: Path, digest: str, data: Mapping[str, Any]) -> _Lock:
    packages = tuple(data.get("package", ()))
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(_normalize(package["name"]), []).append(package)
    requires_python = data.get("requires-python")
    return _Lock(
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
        wanted = {_normalize(m) for m in members}
        roots = tuple(p for p in packages if _normalize(p["name"]) in wanted)
    if not roots:
        raise LockFileError(path=path, detail="no root project (no package with source '.')")
    return roots


def _normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _default_groups(lock_path: Path) -> tuple[str, ...] | None:
    """``[tool.uv] default-groups`` beside the lock (None means all groups), else ``("dev",)``."""
    try:
        pyproject = tomllib.loads((lock_path.parent / "pyproject.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ("dev",)
    configured = pyproject.get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    if configured == "all":
        return None
    return tuple(_normalize(group) for group in configured)


_MARKERS: dict[str, Marker] = {}


def _holds(marker: str | None, environment: Mapping[str, str]) -> bool:
    if marker is None:
        return True
    parsed = _MARKERS.get(marker)
    if parsed is None:
        parsed = _MARKERS.setdefault(marker, Marker(marker))
    return parsed.evaluate(dict(environment))


def _lock_support_problems(lock: _Lock, environment: Mapping[str, str]) -> list[str]:
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


def _select(
    lock: _Lock, environment: Mapping[str, str], groups: tuple[str, ...] | None
) -> dict[str, _Pin]:
    """The distributions `uv sync --frozen` installs from ``lock`` into ``environment``."""
    try:
        return _walk(lock, environment, groups)
    except (KeyError, TypeError, AttributeError) as exc:
        raise LockFileError(path=lock.path, detail=f"malformed entry ({exc!r})") from exc
    except (InvalidMarker, InvalidSpecifier, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockFileError(path=lock.path, detail=f"unusable marker ({exc})") from exc


def _walk(
    lock: _Lock, environment: Mapping[str, str], groups: tuple[str, ...] | None
) -> dict[str, _Pin]:
    queue: deque[tuple[Mapping[str, Any], str | None]] = deque()
    seen: set[tuple[int, str | None]] = set()
    pins: dict[str, _Pin] = {}

    def follow(edges: Iterable[Mapping[str, Any]]) -> None:
        for edge in edges:
            if _holds(edge.get("marker"), environment):
                target = _resolve(lock, edge)
                queue.append((target, None))
                queue.extend((target, _normalize(extra)) for extra in edge.get("extra", ()))

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
        pin = _Pin(_normalize(package["name"]), package.get("version"), package["source"])
        other = pins.setdefault(pin.name, pin)
        if other.version != pin.version:
            detail = f"{pin.name} {other.version} and {pin.version} both apply to one interpreter"
            raise LockFileError(path=lock.path, detail=detail)
    return pins


def _resolve(lock: _Lock, edge: Mapping[str, Any]) -> Mapping[str, Any]:
    """The package an edge names; ``version``/``source`` pick one entry of a forked package."""
    candidates = [
        p
        for p in lock.by_name.get(_normalize(edge["name"]), ())
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
    loaded = _load_lock(lock)
    chosen = _default_groups(lock) if groups is None else tuple(_normalize(g) for g in groups)
    return {name: pin.version for name, pin in _select(loaded, environment, chosen).items()}


# -- the interpreter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    markers: dict[str, str]
    distributions: dict[str, str]
    stamps: dict[str, int]  # sys.path entry -> its mtime (ns) when the probe started
    started_ns: int


class _ProbeError(Exception):
    """The interpreter could not be run or did not answer like a Python; carries the reason."""


def _start_probe(python: Path, env: Mapping[str, str] | None) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            [str(python), "-c", _PROBE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
        )
    except OSError as exc:
        raise _ProbeError(f"{python} cannot be run: {exc}") from exc


def _finish_probe(python: Path, process: subprocess.Popen[str]) -> _Probe:
    try:
        stdout, stderr = process.communicate(timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise _ProbeError(f"{python} did not answer within {_PROBE_TIMEOUT_S} s") from exc
    if process.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise _ProbeError(f"{python} exited with {process.returncode}: {tail[0]}")
    try:
        answer = json.loads(stdout.rstrip().rsplit("\n", 1)[-1])
        return _Probe(
            markers={str(k): str(v) for k, v in answer["markers"].items()},
            distributions={str(k): str(v) for k, v in answer["distributions"].items()},
            stamps={str(k): int(v) for k, v in answer["stamps"].items()},
            started_ns=int(answer["started"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _ProbeError(f"{python} is not a Python interpreter nbmlops can inspect") from exc


def _probe(python: Path) -> _Probe:
    return _finish_probe(python, _start_probe(python, None))


def installed_distributions(python: Path) -> dict[str, str]:
    """The distributions importable by an interpreter, as it would see them when started.

    Runs ``python`` once with a stdlib-only script (``importlib.metadata``; ~0.1 s for 260
    distributions). When one name is installed twice on ``sys.path``, the first one wins, as it
    does for ``import``.

    Parameters
    ----------
    python
        The interpreter, e.g. ``.venv/bin/python``; symlinks are not resolved (a venv's python is
        a link to the base interpreter, whose site-packages differ).

    Returns
    -------
    dict[str, str]
        PEP 503 normalised name -> installed version.

    Raises
    ------
    OSError
        The interpreter cannot be run or does not answer like a Python (a kernel whose venv was
        deleted; :func:`check_environment` reports this as a difference instead).

    Examples
    --------
    >>> installed_distributions(Path(".venv/bin/python"))["pandas"]  # doctest: +SKIP
    '2.3.3'
    """
    try:
        return _probe(python).distributions
    except _ProbeError as exc:
        raise OSError(str(exc)) from exc


def interpreter_markers(python: Path) -> dict[str, str]:
    """The PEP 508 marker environment of an interpreter, computed by running it.

    Computed like ``packaging.markers.default_environment`` but with the stdlib only, so the
    target needs no ``packaging``.

    Parameters
    ----------
    python
        The interpreter.

    Returns
    -------
    dict[str, str]
        ``python_full_version``, ``sys_platform``, ``platform_machine`` and the other marker names.

    Raises
    ------
    OSError
        The interpreter cannot be run or does not answer like a Python.

    Examples
    --------
    >>> interpreter_markers(Path(".venv/bin/python"))["python_version"]  # doctest: +SKIP
    '3.11'
    """
    try:
        return _probe(python).markers
    except _ProbeError as exc:
        raise OSError(str(exc)) from exc


# -- kernels -------------------------------------------------------------------------------------


def _kernel_spec(kernel_name: str) -> tuple[list[str], dict[str, str]]:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        available = sorted(manager.find_kernel_specs())
        raise KernelNotFoundError(kernel=kernel_name, available=available) from None
    return [str(a) for a in spec.argv], {str(k): str(v) for k, v in (spec.env or {}).items()}


def _argv_python(argv: Sequence[str], env: Mapping[str, str]) -> Path:
    program = argv[0] if argv else ""
    major, minor = sys.version_info[:2]
    if program in {"python", f"python{major}", f"python{major}.{minor}"}:
        # jupyter_client launches these as sys.executable (KernelManager.format_kernel_cmd), which
        # is also what the default ipykernel spec means.
        return Path(sys.executable)
    if program and not Path(program).is_absolute():
        found = shutil.which(program, path=env.get("PATH", os.environ.get("PATH")))
        if found:
            return Path(found).absolute()
    return Path(program)


def kernel_python(kernel_name: str) -> Path:
    """The interpreter a Jupyter kernel runs in (``argv[0]`` of its kernel spec).

    ``python``/``python3``/``python3.X`` resolve to ``sys.executable``, as jupyter_client does when
    it launches the kernel; other relative names are looked up on the kernel's ``PATH``. A kernel
    started through a wrapper (``conda run``, a container) yields the wrapper, which
    :func:`check_environment` then reports as not inspectable.

    Parameters
    ----------
    kernel_name
        A kernel name as in ``jupyter kernelspec list``, e.g. ``"python3"``.

    Returns
    -------
    Path
        The interpreter's path (symlinks not resolved).

    Raises
    ------
    KernelNotFoundError
        No kernel of that name; the message lists the installed ones.

    Examples
    --------
    >>> kernel_python("python3")  # doctest: +SKIP
    PosixPath('/work/main/.venv/bin/python')
    """
    argv, env = _kernel_spec(kernel_name)
    return _argv_python(argv, env)


# -- the check -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    differences: tuple[str, ...]
    unlocked: tuple[str, ...]
    stamps: Mapping[str, int]
    started_ns: int


_CHECKS: dict[tuple[Path, str, tuple[str, ...] | None], _Checked] = {}
_CHECKS_GUARD = threading.Lock()


_RACY_NS = 2_000_000_000


def _still_valid(checked: _Checked) -> bool:
    """Installing, upgrading or removing a distribution adds or removes a *.dist-info entry,
    which changes the mtime of its sys.path directory; so unchanged mtimes mean no reinstall.
    A directory changed within 2 s before the probe is not trusted (git's "racy clean" problem):
    file times are coarse, so a change right after the probe could keep the same mtime."""
    for entry, stamp in checked.stamps.items():
        try:
            now = Path(entry).stat().st_mtime_ns
        except OSError:
            now = -1
        if now != stamp or stamp > checked.started_ns - _RACY_NS:
            return False
    return True


def _same_version(installed: str, locked: str) -> bool:
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked


def _compare(
    lock: _Lock, probe: _Probe, groups: tuple[str, ...] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    problems = _lock_support_problems(lock, probe.markers)
    if problems:
        return tuple(problems), ()
    wanted = _select(lock, probe.markers, groups)
    differences = []
    for name in sorted(wanted):
        locked = wanted[name].version
        installed = probe.distributions.get(name)
        if installed is None:
            differences.append(f"{name}: locked {locked or '(any version)'}, not installed")
        elif locked is not None and not _same_version(installed, locked):
            differences.append(f"{name}: installed {installed}, locked {locked}")
    unlocked = tuple(
        f"{name}=={version}"
        for name, version in sorted(probe.distributions.items())
        if name not in wanted
    )
    return tuple(differences), unlocked


def check_environment(*, kernel: str, lock: Path) -> EnvironmentReport:
    """Compare a Jupyter kernel's interpreter with a ``uv.lock``.

    The answer is cached in this process by (interpreter, lock digest, default groups) and reused
    while the interpreter's ``sys.path`` directories keep their modification times, so a pipeline
    of five stages on one kernel inspects it once, and a ``uv sync`` in between is seen. Measured
    on a 2-core machine with a 270-package lock: 0.1-0.2 s uncached (the interpreter is probed
    while the lock is parsed; add ~0.2 s for importing jupyter_client once per process), ~2 ms
    cached.

    Parameters
    ----------
    kernel
        Jupyter kernel name (the stage metadata's ``kernel``).
    lock
        The lock file (the stage metadata's ``environment``).

    Returns
    -------
    EnvironmentReport
        ``ok`` when every locked distribution is installed at its locked version. An interpreter
        that cannot be run, or that the lock does not support, is reported as a difference.

    Raises
    ------
    KernelNotFoundError
        No kernel of that name.
    LockFileError
        The lock is missing, unreadable or inconsistent.

    Examples
    --------
    >>> report = check_environment(kernel="python3", lock=Path("uv.lock"))  # doctest: +SKIP
    >>> report.ok, report.differences  # doctest: +SKIP
    (True, ())
    """
    argv, env = _kernel_spec(kernel)
    python = _argv_python(argv, env)
    digest = lock_digest(lock)
    groups = _default_groups(lock)
    key = (python, digest, groups)
    with _CHECKS_GUARD:
        checked = _CHECKS.get(key)
    if checked is None or not _still_valid(checked):
        try:
            process = _start_probe(python, {**os.environ, **env})
        except _ProbeError as exc:
            return _unrunnable(kernel, python, lock, digest, exc)
        try:
            loaded = _load_lock(lock)  # parsed while the interpreter answers
        except BaseException:
            process.kill()
            process.communicate()
            raise
        try:
            probe = _finish_probe(python, process)
        except _ProbeError as exc:
            return _unrunnable(kernel, python, lock, digest, exc)
        differences, unlocked = _compare(loaded, probe, groups)
        checked = _Checked(
            differences=differences,
            unlocked=unlocked,
            stamps=probe.stamps,
            started_ns=probe.started_ns,
        )
        digest = loaded.digest  # the lock may have changed since the cache lookup
        with _CHECKS_GUARD:
            _CHECKS[(python, digest, groups)] = checked
    return EnvironmentReport(
        kernel=kernel,
        python=python,
        lock=lock,
        lock_digest=digest,
        differences=checked.differences,
        unlocked=checked.unlocked,
    )


def _unrunnable(
    kernel: str, python: Path, lock: Path, digest: str, problem: _ProbeError
) -> EnvironmentReport:
    # Not cached: a deleted venv that is recreated must be seen on the next check.
    differences = (f"python: {problem}",)
    return EnvironmentReport(
        kernel=kernel, python=python, lock=lock, lock_digest=digest, differences=differences
    )


def require_environment(*, kernel: str, lock: Path) -> EnvironmentReport:
    """:func:`check_environment`, raising when the kernel does not match the lock.

    Parameters
    ----------
    kernel
        Jupyter kernel name.
    lock
        The lock file.

    Returns
    -------
    EnvironmentReport
        The (passing) report, for the run record.

    Raises
    ------
    EnvironmentMismatchError
        With ``differences`` listing every package that differs.
    KernelNotFoundError, LockFileError
        As :func:`check_environment`.

    Examples
    --------
    >>> require_environment(kernel="python3", lock=Path("uv.lock")).lock_digest  # doctest: +SKIP
    '3f1c...'
    """
    report = check_environment(kernel=kernel, lock=lock)
    if not report.ok:
        raise EnvironmentMismatchError(kernel=kernel, lock=lock, differences=report.differences)
    return report


# -- the conda export ----------------------------------------------------------------------------

_REGENERATE = (
    "nbmlops env export-conda --lock uv.lock --output environment.yml"
    " (or: python -m nbmlops.run.environment export-conda)"
)
_PYPI = "https://pypi.org/simple"
_MICRO_SCAN = 40  # highest micro release considered when widening the exported python spec


def _pip_line(pin: _Pin, lock_dir: Path) -> str:
    source = pin.source
    if "registry" in source:
        return f"{pin.name}=={pin.version}"
    if "editable" in source:
        return f"-e {source['editable']}"
    if "directory" in source or "path" in source:
        return f"{pin.name} @ {(lock_dir / source.get('directory', source.get('path'))).as_uri()}"
    if "url" in source:
        return f"{pin.name} @ {source['url']}"
    detail = f"{pin.name}: the conda export cannot express its source {dict(source)} (yet)"
    raise LockFileError(path=lock_dir / "uv.lock", detail=detail)


def _python_spec(
    lock: _Lock, environment: Mapping[str, str], groups: tuple[str, ...] | None
) -> str:
    """The widest range of micro releases around the target's that select the same pins.

    uv.lock may fork inside a minor release (this one does at 3.11.5 for soupsieve), so a bare
    ``python=3.11`` could let conda pick an interpreter the pins do not fit.
    """
    target = Version(environment["python_full_version"])
    major, minor, micro = target.major, target.minor, target.micro

    def pins_at(m: int) -> frozenset[tuple[str, str | None]] | None:
        version = f"{major}.{minor}.{m}"
        env = {**environment, "python_full_version": version, "implementation_version": version}
        if _lock_support_problems(lock, env):
            return None
        return frozenset((p.name, p.version) for p in _select(lock, env, groups).values())

    reference = pins_at(micro)
    low = micro
    while low > 0 and pins_at(low - 1) == reference:
        low -= 1
    high = micro
    while high < _MICRO_SCAN and pins_at(high + 1) == reference:
        high += 1
    lower = f">={major}.{minor}.{low}" if low else ""
    upper = f"<{major}.{minor + 1}" if high == _MICRO_SCAN else f"<{major}.{minor}.{high + 1}"
    if not lower and high == _MICRO_SCAN:
        return f"python={major}.{minor}"
    return f"python{lower},{upper}" if lower else f"python>={major}.{minor},{upper}"


def export_conda_environment(
    lock: Path, *, environment: Mapping[str, str] = LINUX_CPYTHON_311, name: str = "nbmlops"
) -> str:
    """A conda ``environment.yml`` holding exactly the lock's pins for one platform.

    Every locked distribution that applies to ``environment`` (default groups included) is
    installed by pip at its locked version; conda only provides Python and pip, so conda-forge
    builds never replace a locked wheel. The root project is ``-e .``. pip does not check the
    lock's hashes here (``-e`` rules out ``--require-hashes``): ``uv sync --frozen`` stays the
    stronger path.

    Parameters
    ----------
    lock
        The ``uv.lock`` file.
    environment
        Marker environment of the target platform; default Linux x86_64 CPython 3.11.
    name
        The conda environment's name.

    Returns
    -------
    str
        The YAML text, starting with a header that says it is generated and how to regenerate it.

    Raises
    ------
    LockFileError
        The lock is unusable, or does not support ``environment``.

    Examples
    --------
    >>> text = export_conda_environment(Path("uv.lock"))  # doctest: +SKIP
    >>> "  - pip:" in text  # doctest: +SKIP
    True
    """
    loaded = _load_lock(lock)
    problems = _lock_support_problems(loaded, environment)
    if problems:
        raise LockFileError(path=lock, detail="; ".join(problems))
    groups = _default_groups(lock)
    pins = _select(loaded, environment, groups)
    indexes = sorted({str(p.source["registry"]) for p in pins.values() if "registry" in p.source})
    pip_lines = [f"--extra-index-url {url}" for url in indexes if url.rstrip("/") != _PYPI]
    # Local projects last, after the pins they depend on, as people read these files.
    lines = (_pip_line(p, lock.parent) for p in pins.values())
    pip_lines += sorted(lines, key=lambda line: (line.startswith("-e"), line))
    shown_groups = "all" if groups is None else ", ".join(groups) or "none"
    header = [
        f"# Generated from {lock.name} by `nbmlops env export-conda`; do not edit.",
        f"# Regenerate with: {_REGENERATE}",
        f"# {lock.name} sha256: {loaded.digest}",
        f"# Pins for {environment['sys_platform']} {environment['platform_machine']}, "
        f"{environment['platform_python_implementation']} {environment['python_version']}, "
        f"dependency groups: {shown_groups}; every package comes from pip at its locked version.",
    ]
    body = [
        f"name: {name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - {_python_spec(loaded, environment, groups)}",
        "  - pip",
        "  - pip:",
        *(f"      - {line}" for line in pip_lines),
    ]
    return "\n".join([*header, *body]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nbmlops.run.environment export-conda``: write (or ``--check``) environment.yml.

    Parameters
    ----------
    argv
        Command-line arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; 1 when ``--check`` finds the file stale or a lock error occurs.

    Examples
    --------
    >>> main(["export-conda", "--lock", "uv.lock", "--check"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(prog="python -m nbmlops.run.environment")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export-conda", help="write the conda environment.yml")
    export.add_argument("--lock", type=Path, default=Path("uv.lock"))
    export.add_argument("--output", type=Path, default=Path("environment.yml"))
    export.add_argument("--check", action="store_true", help="fail if --output is stale")
    args = parser.parse_args(argv)
    try:
        text = export_conda_environment(args.lock)
    except LockFileError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    if args.check:
        current = args.output.read_text("utf-8") if args.output.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.output} is stale; regenerate with: {_REGENERATE}\n")
            return 1
        return 0
    write_text_atomic(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
