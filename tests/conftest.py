"""Shared fixtures: a throw-away project per test, made from tests/notebooks/."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Rendered:
    """A one-cell notebook run in a real kernel: its last output's data, the executed notebook,
    nbconvert's plain export (widget state saved, so widgets win) and the export a pipeline run
    writes (``recording.export_html``: no saved widget state, so the static HTML shows)."""

    data: dict[str, Any]
    executed: Any
    plain_html: str
    pipeline_html: str


def render_cell(folder: Path, code: str, name: str = "view") -> Rendered:
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from nbmlops.records.writer import export_html

    src, out = folder / f"{name}.ipynb", folder / f"{name}.out.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), src)
    papermill.execute_notebook(
        str(src), str(out), kernel_name="python3", cwd=str(folder), progress_bar=False
    )
    executed = nbformat.read(out, as_version=4)
    plain, _ = HTMLExporter().from_notebook_node(executed)
    return Rendered(
        data=dict(executed.cells[-1].outputs[-1]["data"]),
        executed=executed,
        plain_html=plain,
        pipeline_html=export_html(out).read_text(encoding="utf-8"),
    )


def server_extensions() -> str:
    """``jupyter server extension list`` of this environment, without colour codes."""
    return _jupyter_listing("server", "extension", "list")


def lab_extensions() -> str:
    """``jupyter labextension list`` of this environment, without colour codes."""
    return _jupyter_listing("labextension", "list")


def _jupyter_listing(*args: str) -> str:
    import re
    import subprocess

    jupyter = str(Path(sys.executable).parent / "jupyter")
    listing = subprocess.run([jupyter, *args], capture_output=True, text=True, check=True)
    return re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)


@pytest.fixture(scope="session")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real team tracking server for this test session (one per xdist worker): PostgreSQL on
    a free 127.0.0.1 port in a temporary folder, ``mlflow server`` on it with basic-auth on and
    a shared artifact root; both stopped at the end, even on failure. A machine without
    PostgreSQL fails here with what to install (``team.TeamSetupError``), never skips.

    Yields a :class:`team.Team` (``url``, ``artifacts``, ``credentials()``, ``postgres``)."""
    from team import team_server

    with team_server(tmp_path_factory.mktemp("team") / "artifacts") as team:
        yield team


def any_of(words: set[str]) -> re.Pattern[str]:
    """A pattern that finds any of ``words`` in a text, as ``any(w in text for w in words)``
    would, in one pass: the words as a trie of alternatives (tens of thousands of identifiers
    against megabytes of logged files: ~0.5 s per MB instead of ~30 s)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(build(trie))
