"""A project: the folder with ``pyproject.toml`` and ``uv.lock`` that nbmlops runs in, made from
nothing (or completed) by ``nbmlops init``.

``init_project`` never overwrites. It first decides, for each file a project needs, whether it is
missing or kept; a kept ``pyproject.toml`` must depend on nbmlops and hold only settings nbmlops
knows, or the whole call stops with a :class:`~nbmlops.errors.ProjectConflictError` before
anything is written. Then it writes what is missing and locks with uv (the PyPI package nbmlops
depends on, never one hoped for on ``PATH``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.paths import find_project_root
from nbmlops.authoring.project_files import (
    EXAMPLE_NOTEBOOK,
    GITIGNORE_ENTRIES,
    MODEL_CARD_FILE,
    example_notebook,
    gitignore_text,
    model_card_template,
    pyproject_text,
    readme_text,
)
from nbmlops.errors import (
    LockFileError,
    NotAProjectError,
    ProjectConflictError,
    ProjectNotWritableError,
)
from nbmlops.privacy.telemetry import PHI_POLICIES

__all__ = ["SETTINGS", "InitResult", "init_project", "require_project"]

SETTINGS: Mapping[str, tuple[str, ...]] = {
    "phi_policy": (),
    "signing": ("max_failed_attempts", "lockout_minutes"),
}
"""The keys of ``[tool.nbmlops]`` (and of its sub-tables) that nbmlops reads."""

LOCK_TIMEOUT_S = 900


@dataclass(frozen=True, kw_only=True)
class InitResult:
    """What ``nbmlops init`` did: files written, files kept as they were, lines added."""

    root: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]
    gitignore_added: tuple[str, ...]


def require_project(start: Path) -> Path:
    """The project root at or above ``start``; it must hold ``pyproject.toml`` or ``uv.lock``.

    Raises
    ------
    NotAProjectError
        Neither file is there (``path`` is the folder looked from): ``nbmlops init`` makes them.
    """
    root = find_project_root(start)
    if (root / "pyproject.toml").is_file() or (root / "uv.lock").is_file():
        return root
    raise NotAProjectError(path=Path(start).absolute())


def init_project(root: Path, *, nbmlops_source: str | None = None) -> InitResult:
    """Make ``root`` an nbmlops project, adding only what is missing.

    Parameters
    ----------
    root
        The project folder; made when missing.
    nbmlops_source
        Where uv gets nbmlops: a wheel or source folder (a path) or a URL, written to
        ``[tool.uv.sources]``. Without it the dependency is ``nbmlops==<this version>`` from the
        package index.

    Returns
    -------
    InitResult

    Raises
    ------
    ProjectConflictError
        A file is in the way (``root`` is a file, a ``pyproject.toml`` without nbmlops or with
        settings nbmlops does not know); nothing was written.
    ProjectNotWritableError
        The folder cannot be written; nothing was written.
    LockFileError
        ``uv lock`` failed (its message is in ``detail``); the other files are written, and
        ``nbmlops init`` again adds only the lock.

    Examples
    --------
    >>> init_project(Path("study")).written  # doctest: +SKIP
    ('README.md', '.gitignore', 'pyproject.toml', 'notebooks/example.ipynb',
     'pipelines/notebooks/model_card.md', 'uv.lock')
    """
    root = Path(root).absolute()
    if root.exists() and not root.is_dir():
        raise ProjectConflictError(
            path=root, reason="is a file, not a folder", fix="Give a folder (new or existing)."
        )
    source = _source_table(nbmlops_source)
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        _check_pyproject(pyproject, source)
    # lexists: a dangling symlink is someone's too, never replaced
    missing = [name for name in _FILES if not os.path.lexists(root / name.split("/")[0])]
    cards = _missing_cards(root, with_example=EXAMPLE_NOTEBOOK in missing)
    ignore = root / ".gitignore"
    add_ignores = _missing_ignores(ignore) if ignore.is_file() else ()
    if missing or cards or add_ignores:
        _check_writable(root)
    written: list[str] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in missing:
            if name != "uv.lock":
                (root / name).parent.mkdir(exist_ok=True)
                write_text_atomic(root / name, _text(name, root, source))
                written.append(name)
        for pipeline, name in cards:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(root / name, model_card_template(pipeline))
            written.append(name)
        if add_ignores:
            with ignore.open("a", encoding="utf-8") as fh:
                fh.write(("" if ignore.read_text("utf-8").endswith("\n") else "\n") + "\n")
                fh.write(gitignore_text(add_ignores))
    except OSError as exc:
        done = ", ".join(written) or "nothing"
        detail = f"{exc.strerror or exc}; written before that: {done}"
        raise ProjectNotWritableError(path=Path(exc.filename or root), detail=detail) from None
    if "uv.lock" in missing:
        _lock(root)
        written.append("uv.lock")
    kept = tuple(name for name in _FILES if name not in missing)
    return InitResult(
        root=root, written=tuple(written), kept=kept, gitignore_added=tuple(add_ignores)
    )


_FILES = ("README.md", ".gitignore", "pyproject.toml", EXAMPLE_NOTEBOOK, "uv.lock")
"""What a project needs, in the order written (the lock last: it reads ``pyproject.toml``). A
``notebooks/`` folder that exists is kept whole: an example added to it would be a new stage."""


def _missing_cards(root: Path, *, with_example: bool) -> list[tuple[str, str]]:
    """(pipeline, path) of the model-card templates to write: the example's pipeline
    (``notebooks``, as ``nbmlops run notebooks`` names it) when the example is written, and
    each compiled pipeline (``pipelines/<name>/pipeline.yaml``) without a card file."""
    names = ["notebooks"] if with_example else []
    if (root / "pipelines").is_dir():
        names += sorted(p.parent.name for p in (root / "pipelines").glob("*/pipeline.yaml"))
    cards = []
    for name in dict.fromkeys(names):
        path = f"pipelines/{name}/{MODEL_CARD_FILE}"
        if not os.path.lexists(root / path):
            cards.append((name, path))
    return cards


def _text(name: str, root: Path, source: dict[str, str] | None) -> str:
    if name == "README.md":
        return readme_text(_project_name(root))
    if name == ".gitignore":
        return gitignore_text()
    if name == EXAMPLE_NOTEBOOK:
        return json.dumps(example_notebook(), indent=1, ensure_ascii=False) + "\n"
    from nbmlops import __version__

    return pyproject_text(
        name=_project_name(root),
        version=__version__,
        requires_python=_requires_python(),
        requirement="nbmlops" if source else f"nbmlops=={__version__}",
        source=source,
    )


def _project_name(root: Path) -> str:
    """The folder's name as a package name (PEP 508: letters, digits, ``.-_``, alphanumeric
    ends), ``study`` when nothing of it is left."""
    name = re.sub(r"[^a-z0-9._-]+", "-", root.name.lower()).strip("._-")
    return name or "study"


def _requires_python() -> str:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return str(metadata("nbmlops")["Requires-Python"] or ">=3.11")
    except PackageNotFoundError:  # pragma: no cover - nbmlops runs from an install
        return ">=3.11"


def _source_table(given: str | None) -> dict[str, str] | None:
    """``{"url": ...}`` for a URL, ``{"path": <absolute>}`` for an existing path."""
    if not given:
        return None
    if re.match(r"^[a-z][a-z0-9+.-]*://", given, re.IGNORECASE):
        return {"url": given}
    path = Path(given).expanduser().absolute()
    if not path.exists():
        raise ProjectConflictError(
            path=path,
            reason="--nbmlops-source names no wheel or folder",
            fix="Give the path of an nbmlops wheel (nbmlops-*.whl) or source folder, or a URL.",
        )
    return {"path": str(path)}


def _check_pyproject(path: Path, source: dict[str, str] | None) -> None:
    """A kept ``pyproject.toml`` must be an nbmlops project's, as this call would have made it."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectConflictError(
            path=path,
            reason=f"cannot be read as TOML ({exc})",
            fix="Repair it, or run `nbmlops init` in a new folder.",
        ) from None
    if not any(_names_nbmlops(dep) for dep in data.get("project", {}).get("dependencies", [])):
        raise ProjectConflictError(
            path=path,
            reason="is another project's: it does not depend on nbmlops",
            fix="Add nbmlops to its [project] dependencies (`uv add nbmlops`) and run "
            "`nbmlops init` again, or make the project in a new folder.",
        )
    problems = _settings_problems(data.get("tool", {}).get("nbmlops", {}))
    if problems:
        raise ProjectConflictError(
            path=path,
            reason=f"its [tool.nbmlops] is not one nbmlops can use ({'; '.join(problems)})",
            fix="Correct or remove those settings (the ones nbmlops reads: phi_policy, "
            "signing.max_failed_attempts, signing.lockout_minutes), then run `nbmlops init` "
            "again.",
        )
    kept = data.get("tool", {}).get("uv", {}).get("sources", {}).get("nbmlops")
    if source is not None and kept != source:
        [(kind, where)] = source.items()
        raise ProjectConflictError(
            path=path,
            reason=f"its [tool.uv.sources] nbmlops is {kept!r}, not the --nbmlops-source given",
            fix=f'Write `nbmlops = {{ {kind} = "{where}" }}` under [tool.uv.sources] yourself '
            "(and run `uv lock`), or leave out --nbmlops-source.",
        )


def _names_nbmlops(dependency: object) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(str(dependency)).name) == "nbmlops"
    except InvalidRequirement:
        return False


def _settings_problems(table: Any) -> list[str]:
    if not isinstance(table, dict):
        return ["it is not a table"]
    problems = [f"unknown setting {key!r}" for key in table if key not in SETTINGS]
    policy = table.get("phi_policy", "refuse")
    if policy not in PHI_POLICIES:
        problems.append(f"phi_policy {policy!r} is not one of {', '.join(PHI_POLICIES)}")
    signing = table.get("signing", {})
    if not isinstance(signing, dict):
        return [*problems, "signing is not a table"]
    problems += [
        f"unknown setting 'signing.{key}'" for key in signing if key not in SETTINGS["signing"]
    ]
    attempts = signing.get("max_failed_attempts", 5)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        problems.append("signing.max_failed_attempts must be a whole number >= 1")
    minutes = signing.get("lockout_minutes", 15)
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
        problems.append("signing.lockout_minutes must be a number > 0")
    return problems


def _missing_ignores(path: Path) -> tuple[str, ...]:
    """The entries of :data:`GITIGNORE_ENTRIES` a kept ``.gitignore`` lacks (``build``,
    ``build/``, ``/build`` and ``/build/`` all count)."""
    try:
        lines = {line.strip().strip("/") for line in path.read_text("utf-8").splitlines()}
    except (OSError, UnicodeDecodeError):
        return ()
    return tuple(entry for entry in GITIGNORE_ENTRIES if entry.strip("/") not in lines)


def _check_writable(root: Path) -> None:
    """The nearest existing folder at or above ``root`` takes new files (before any is made)."""
    folder = root
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ProjectNotWritableError(path=folder, detail="permission denied; nothing was written")


def _lock(root: Path) -> None:
    """``uv lock`` in ``root`` with the uv nbmlops depends on, for this interpreter."""
    from uv import find_uv_bin

    command = [find_uv_bin(), "lock", "--python", sys.executable]
    try:
        done = subprocess.run(
            command,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=LOCK_TIMEOUT_S,
            check=False,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LockFileError(
            path=root / "uv.lock", detail=f"uv lock did not finish: {exc}"
        ) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-12:])
        raise LockFileError(path=root / "uv.lock", detail=f"uv lock failed:\n{tail}\n")
