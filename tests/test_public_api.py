"""The public surface: `nbmlops.__all__` is what the README documents, and importing it is cheap."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest
from conftest import REPO

import nbmlops
from nbmlops._core.moved import MOVED


def test_all_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [name for name in nbmlops.__all__ if f"nbmlops.{name}(" not in readme]
    assert missing == []


def test_every_export_resolves() -> None:
    for name in nbmlops.__all__:
        assert callable(getattr(nbmlops, name)), name


def test_import_is_light() -> None:
    code = "import sys, nbmlops; print(sorted(m for m in ('mlflow', 'papermill', 'ploomber', "
    code += "'pandas', 'numpy', 'nbformat', 'jsonschema') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_review_and_server_modules_import_light() -> None:
    """Each review verb and view imports its heavy library only when it runs."""
    modules = [
        "nbmlops.review", "nbmlops.review.fairness_view", "nbmlops.review.explain_view",
        "nbmlops.review.drift_view", "nbmlops.review.drift_profile", "nbmlops.review.session",
        "nbmlops.server.views", "nbmlops.server.runs",
    ]  # fmt: skip
    heavy = ("pandas", "numpy", "fairlearn", "shap", "evidently", "sklearn", "matplotlib",
             "ipywidgets", "mlflow")  # fmt: skip
    code = f"import sys, {', '.join(modules)}; "
    code += f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_a_module_path_of_the_flat_layout_is_an_alias_that_warns(old: str, new: str) -> None:
    """Notebooks written for 0.1's flat layout (``from nbmlops.deid import deidentify``) still run:
    the old path is the module at its new place, with a warning that names the new path."""
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__ is not None and module.__spec__.name == new  # its own spec, kept


def test_an_unknown_module_is_still_not_found() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("nbmlops.no_such_module")
