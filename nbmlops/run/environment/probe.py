"""The interpreter behind a Jupyter kernel: which one it is, what it has installed, its markers.

The interpreter is asked by running it with a stdlib-only script (it may lack ``packaging``), never
by reading our own ``sys.path``: a kernel may run in another venv, or another Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbmlops.errors import KernelNotFoundError

__all__ = [
    "Probe",
    "ProbeError",
    "argv_python",
    "finish_probe",
    "installed_distributions",
    "interpreter_markers",
    "kernel_python",
    "kernel_spec",
    "start_probe",
]

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


@dataclass(frozen=True)
class Probe:
    markers: dict[str, str]
    distributions: dict[str, str]
    stamps: dict[str, int]  # sys.path entry -> its mtime (ns) when the probe started
    started_ns: int


class ProbeError(Exception):
    """The interpreter could not be run or did not answer like a Python; carries the reason."""


def start_probe(python: Path, env: Mapping[str, str] | None) -> subprocess.Popen[str]:
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
        raise ProbeError(f"{python} cannot be run: {exc}") from exc


def finish_probe(python: Path, process: subprocess.Popen[str]) -> Probe:
    try:
        stdout, stderr = process.communicate(timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise ProbeError(f"{python} did not answer within {_PROBE_TIMEOUT_S} s") from exc
    if process.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(f"{python} exited with {process.returncode}: {tail[0]}")
    try:
        answer = json.loads(stdout.rstrip().rsplit("\n", 1)[-1])
        return Probe(
            markers={str(k): str(v) for k, v in answer["markers"].items()},
            distributions={str(k): str(v) for k, v in answer["distributions"].items()},
            stamps={str(k): int(v) for k, v in answer["stamps"].items()},
            started_ns=int(answer["started"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProbeError(f"{python} is not a Python interpreter nbmlops can inspect") from exc


def _probe(python: Path) -> Probe:
    return finish_probe(python, start_probe(python, None))


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
    except ProbeError as exc:
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
    except ProbeError as exc:
        raise OSError(str(exc)) from exc


# -- kernels -------------------------------------------------------------------------------------


def kernel_spec(kernel_name: str) -> tuple[list[str], dict[str, str]]:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        available = sorted(manager.find_kernel_specs())
        raise KernelNotFoundError(kernel=kernel_name, available=available) from None
    return [str(a) for a in spec.argv], {str(k): str(v) for k, v in (spec.env or {}).items()}


def argv_python(argv: Sequence[str], env: Mapping[str, str]) -> Path:
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
    argv, env = kernel_spec(kernel_name)
    return argv_python(argv, env)
