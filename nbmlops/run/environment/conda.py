"""The conda export: the lock's pins as an ``environment.yml``, every package from PyPI through pip.

For teams whose platform only offers conda; ``uv sync --frozen`` stays the stronger path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from packaging.version import Version

from nbmlops.errors import LockFileError
from nbmlops.run.environment.lockfile import (
    ParsedLock,
    Pin,
    default_groups,
    load_lock,
    select_pins,
    support_problems,
)

__all__ = ["LINUX_CPYTHON_311", "export_conda_environment"]

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

_REGENERATE = "nbmlops env export-conda --lock uv.lock --output environment.yml"
_PYPI = "https://pypi.org/simple"
_MICRO_SCAN = 40  # highest micro release considered when widening the exported python spec


def _pip_line(pin: Pin, lock_dir: Path) -> str:
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
    lock: ParsedLock, environment: Mapping[str, str], groups: tuple[str, ...] | None
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
        if support_problems(lock, env):
            return None
        return frozenset((p.name, p.version) for p in select_pins(lock, env, groups).values())

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
    loaded = load_lock(lock)
    problems = support_problems(loaded, environment)
    if problems:
        raise LockFileError(path=lock, detail="; ".join(problems))
    groups = default_groups(lock)
    pins = select_pins(loaded, environment, groups)
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
