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
    ``optional-dependencies`` for those extras (``pytest-jupyter[server]`` pulls in
    ``jupyter_server``).

Why the root project's own extras are ignored
    ``uv sync`` installs none of them unless asked (``--extra``), and stage metadata has no way to
    ask, so the pinned set is the default set. Extras requested *by a dependency edge* are part of
    that set and are followed.

Why packages installed but not in the lock are not differences
    An extra distribution cannot change the version of a locked one, and every ``python -m venv``
    or conda environment carries some (pip, setuptools, wheel). Failing on them would make the
    check fail everywhere but a ``uv``-made venv. They are listed in
    :attr:`EnvironmentReport.unlocked` so a run record can still show them.

The conda export (:func:`export_conda_environment`, ``nbmlops env export-conda``) writes the same
pins as an ``environment.yml`` whose packages all come from PyPI through pip, for teams whose
platform only offers conda.

The parts: :mod:`~nbmlops.run.environment.lockfile` (the lock and the walk),
:mod:`~nbmlops.run.environment.probe` (a kernel's interpreter),
:mod:`~nbmlops.run.environment.check` (the comparison and its cache) and
:mod:`~nbmlops.run.environment.conda` (the export).
"""

from __future__ import annotations

from nbmlops.run.environment.check import (
    EnvironmentReport,
    check_environment,
    require_environment,
)
from nbmlops.run.environment.conda import LINUX_CPYTHON_311, export_conda_environment
from nbmlops.run.environment.lockfile import lock_digest, locked_distributions
from nbmlops.run.environment.probe import (
    installed_distributions,
    interpreter_markers,
    kernel_python,
)

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
    "require_environment",
]
