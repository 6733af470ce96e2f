"""The check: does a kernel's interpreter hold exactly the versions its ``uv.lock`` pins?

See :mod:`nbmlops.run.environment` for what "pinned" means and why distributions installed but
not locked are not differences.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from nbmlops.errors import EnvironmentMismatchError
from nbmlops.run.environment.lockfile import (
    ParsedLock,
    default_groups,
    load_lock,
    lock_digest,
    select_pins,
    support_problems,
)
from nbmlops.run.environment.probe import (
    Probe,
    ProbeError,
    argv_python,
    finish_probe,
    kernel_spec,
    start_probe,
)

__all__ = ["EnvironmentReport", "check_environment", "require_environment"]


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
    lock: ParsedLock, probe: Probe, groups: tuple[str, ...] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    problems = support_problems(lock, probe.markers)
    if problems:
        return tuple(problems), ()
    wanted = select_pins(lock, probe.markers, groups)
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
    argv, env = kernel_spec(kernel)
    python = argv_python(argv, env)
    digest = lock_digest(lock)
    groups = default_groups(lock)
    key = (python, digest, groups)
    with _CHECKS_GUARD:
        checked = _CHECKS.get(key)
    if checked is None or not _still_valid(checked):
        try:
            process = start_probe(python, {**os.environ, **env})
        except ProbeError as exc:
            return _unrunnable(kernel, python, lock, digest, exc)
        try:
            loaded = load_lock(lock)  # parsed while the interpreter answers
        except BaseException:
            process.kill()
            process.communicate()
            raise
        try:
            probe = finish_probe(python, process)
        except ProbeError as exc:
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
    kernel: str, python: Path, lock: Path, digest: str, problem: ProbeError
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
