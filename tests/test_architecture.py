"""ARCHITECTURE.md names every module, and the layers it draws are the ones import-linter checks."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO

ARCHITECTURE = (REPO / "ARCHITECTURE.md").read_text()


def _section(title: str) -> str:
    start = ARCHITECTURE.index(f"## {title}\n")
    end = ARCHITECTURE.find("\n## ", start + 1)
    return ARCHITECTURE[start : end if end != -1 else None]


def test_every_module_is_named_in_the_nouns_table() -> None:
    nouns = _section("The nouns")
    missing = []
    for path in sorted((REPO / "nbmlops").rglob("*.py")):
        if path.name == "__init__.py" or "labextension" in path.parts:
            continue
        if f"`{path.name}`" not in nouns and f"/{path.name}`" not in nouns:
            missing.append(path.relative_to(REPO).as_posix())
    assert missing == [], "add each module to ARCHITECTURE.md's nouns table with the noun it owns"


def test_every_layer_of_the_contract_is_a_folder_of_the_layout() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    names = {n.strip() for layer in layers["layers"] for n in re.split(r"[|:]", layer)}
    layout = _section("Layout")
    tree = layout[layout.index("```\nnbmlops/") : layout.index("```", layout.index("nbmlops/"))]
    shown = set(re.findall(r"^  (\w+)(?:/|\.py)", tree, re.M))
    shown |= set(re.findall(r"^  \w+/ \| (\w+)/", tree, re.M))
    assert names - shown == set(), "a layer the Layout section does not draw"
    folders = {p.name for p in (REPO / "nbmlops").iterdir() if (p / "__init__.py").is_file()}
    assert folders - names == set(), "a package that no layer names escapes the contract"


def test_the_import_contracts_hold() -> None:
    """The same check `make lint` runs, here so that the suite alone also catches a new cycle."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"], check=False, capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in out.stdout
