"""Shared fixtures: a throw-away project per test, made from tests/notebooks/."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The CLI does this too: jsonschema's IRI grammar (1-2 s of import) is not used by our schema.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "notebooks"

MakeProject = Callable[..., Path]


@pytest.fixture(autouse=True)
def _isolated_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets the embedded default store of its own project, never a shared one."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[MakeProject]:
    """``make_project("load", "double")`` -> a project root with those stages in notebooks/.

    The project carries the repository's ``uv.lock``: the kernel under test is this repository's
    environment, so the environment check compares it with the real lock.
    """

    def make(*names: str, root: Path | None = None) -> Path:
        project = root or tmp_path / "project"
        (project / "notebooks").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "uv.lock", project / "uv.lock")
        for name in names:
            shutil.copy(FIXTURES / f"{name}.ipynb", project / "notebooks" / f"{name}.ipynb")
        return project

    yield make
