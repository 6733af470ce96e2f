"""What a kernel booted ahead of its stage imports while it waits.

A stage's kernel boots while the stages before it run (:class:`~nbmlops.run.kernel.KernelPool`);
without this its first cells would spend seconds importing libraries on the run's critical path
(pandas, scikit-learn, SHAP, Evidently, fairlearn: ~7 CPU s for the example's review stage, every
one of them paid again by each stage's fresh interpreter). Booted ahead, an IPython kernel imports
them first, on the machine's other core:

- the modules the notebook imports before it runs any other code: its top-level ``import`` and
  ``from … import`` statements, in cell order, up to the first statement that is neither an import
  nor a parameter-style assignment of a literal (``x = 1``, ``paths = {"a": "b"}``). Code that
  might change how a module imports (``os.environ[...] = ...``, ``sys.path.insert(...)``,
  ``warnings.filterwarnings(...)``) therefore always runs before the imports it guards, as written;
- only installed modules: never one of the project's own (a name with a ``.py`` file or folder
  beside the notebook), whose import may read or write its files;
- for the review functions the notebook imports (:data:`CALLED_IMPORTS`), the libraries they import
  when called, and what their displays import.

The imports run as one IPython ``exec_lines`` statement in a namespace of their own: nothing is
bound in the notebook's namespace, nothing enters its history or execution count, a module that
fails to import is skipped (the cell importing it fails as it would have), and what the imports
print or warn goes nowhere — a library's import-time warning no longer appears in the cell that
imports it. matplotlib picks IPython's inline backend as on a first import in a cell. Other kernels
(R, Julia, …) are booted as they are.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from nbmlops._core.notebooks import read_notebook
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import MalformedNotebookError

__all__ = ["CALLED_IMPORTS", "preload_arguments", "preload_modules"]

CALLED_IMPORTS: Mapping[str, tuple[str, ...]] = {
    "nbmlops.review": ("matplotlib.pyplot", "ipywidgets"),
    "nbmlops.review.fairness": ("pandas", "sklearn.metrics", "fairlearn.metrics"),
    "nbmlops.review.explain": ("pandas", "sklearn.ensemble", "sklearn.tree", "shap"),
    "nbmlops.review.drift": ("pandas", "evidently", "evidently.presets"),
}
"""Libraries the review functions import when called (they import lazily, so that ``import
nbmlops.review`` stays cheap), by the module a notebook imports them from; ``nbmlops.review`` for
what every result's display imports (its plots, its widget)."""

_PRELOAD = """\
import contextlib, importlib, io, warnings
with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \\
        contextlib.redirect_stderr(io.StringIO()):
    warnings.simplefilter("ignore")
    for name in {modules!r}:
        try:
            importlib.import_module(name)
        except Exception:
            pass
"""


def preload_arguments(stage: StageSpec, argv: Sequence[str]) -> list[str]:
    """The kernel options that make an IPython kernel (``ipykernel`` in its command ``argv``)
    import :func:`preload_modules` of ``stage`` as it boots; none for any other kernel."""
    if not any("ipykernel" in part for part in argv):
        return []
    modules = preload_modules(stage)
    if not modules:
        return []
    code = _PRELOAD.format(modules=modules)
    return [f"--IPKernelApp.exec_lines=exec({code!r}, {{}})"]


def preload_modules(stage: StageSpec) -> tuple[str, ...]:
    """The modules ``stage``'s kernel imports ahead (see the module's docstring), in the order the
    notebook would import them; empty for a notebook that cannot be read (the run says why)."""
    try:
        cells = read_notebook(stage.path).get("cells", [])
    except MalformedNotebookError:
        return ()
    sources = (
        "".join(cell.get("source", []))
        for cell in cells
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    )
    folder = stage.path.parent
    chosen: dict[str, None] = {}
    for name in _leading_imports(sources):
        for module in (name, *CALLED_IMPORTS.get(name, ())):
            if _installed(module, folder):
                chosen.setdefault(module)
    return tuple(chosen)


def _leading_imports(sources: Iterable[str]) -> list[str]:
    """Modules imported before the notebook runs anything but imports and literal assignments."""
    names: list[str] = []
    for source in sources:
        try:
            body = ast.parse(source).body
        except SyntaxError:  # IPython magics, or a cell the run will report: stop here
            return names
        for node in body:
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
                names.extend(
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if f"{node.module}.{alias.name}" in CALLED_IMPORTS
                )
            elif not _is_literal_assignment(node):
                return names
    return names


def _is_literal_assignment(node: ast.stmt) -> bool:
    """``x = <literal>`` (a parameters cell), a docstring-like constant, or ``pass``."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    if not all(isinstance(target, ast.Name) for target in targets):
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _installed(module: str, folder: Path) -> bool:
    """``module`` is an installed one, not the project's own code beside the notebook."""
    top = module.partition(".")[0]
    if (folder / f"{top}.py").exists() or (folder / top).is_dir():
        return False
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False
