"""A kernel booted ahead of its stage imports what the stage's notebook would import first, and
only that: installed modules, before any other code, nothing bound in the notebook's namespace."""

from __future__ import annotations

import ast
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

import nbmlops
from nbmlops.authoring.stage import StageSpec
from nbmlops.run.kernel import KernelPool
from nbmlops.run.kernel_preload import CALLED_IMPORTS, preload_arguments, preload_modules

IPYKERNEL = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _stage(path: Path, *codes: str) -> StageSpec:
    cells = [nbformat.v4.new_code_cell(code) for code in codes]  # type: ignore[no-untyped-call]
    metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=metadata)  # type: ignore[no-untyped-call]
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return StageSpec(name=path.stem, path=path)


def test_the_imports_before_any_other_code_are_preloaded_in_order(tmp_path: Path) -> None:
    stage = _stage(
        tmp_path / "train.ipynb",
        'model = "logistic"\nseed: int = 3\nupstream = {"features": "/x.parquet"}\nproduct = None',
        '"""Train."""\nimport json\nimport pandas as pd\nfrom sklearn.linear_model import Ridge',
        "import os\nos.environ['OMP_NUM_THREADS'] = '1'\nimport numpy",
        "import shap",
    )
    assert preload_modules(stage) == ("json", "pandas", "sklearn.linear_model", "os")


def test_code_that_may_change_an_import_runs_first_as_written(tmp_path: Path) -> None:
    for guard in (
        "import sys\nsys.path.insert(0, '/elsewhere')",
        "x = compute()",
        "paths['a'] = 1",
        "%matplotlib inline",  # IPython syntax: the notebook's own business
    ):
        stage = _stage(tmp_path / "nb.ipynb", guard, "import pandas")
        assert "pandas" not in preload_modules(stage), guard


def test_the_projects_own_modules_and_unknown_ones_are_left_to_the_notebook(
    tmp_path: Path,
) -> None:
    (tmp_path / "helpers.py").write_text("open('side-effect', 'w')\n")
    (tmp_path / "localpkg").mkdir()
    stage = _stage(
        tmp_path / "nb.ipynb", "import helpers\nimport localpkg.sub\nimport no_such_module_xyz"
    )
    assert preload_modules(stage) == ()
    assert preload_arguments(stage, IPYKERNEL) == []


def test_review_imports_bring_what_the_review_functions_import(tmp_path: Path) -> None:
    stage = _stage(tmp_path / "review.ipynb", "from nbmlops.review import drift, fairness")
    modules = preload_modules(stage)
    for module in ("matplotlib.pyplot", "ipywidgets", "evidently", "fairlearn.metrics"):
        assert module in modules
    assert "shap" not in modules  # explain is not imported


def test_only_an_ipython_kernel_preloads_and_an_unreadable_notebook_preloads_nothing(
    tmp_path: Path,
) -> None:
    stage = _stage(tmp_path / "nb.ipynb", "import pandas")
    assert preload_arguments(stage, ["R", "--slave", "-e", "IRkernel::main()"]) == []
    (args,) = preload_arguments(stage, IPYKERNEL)
    assert args.startswith("--IPKernelApp.exec_lines=exec(")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    assert preload_modules(StageSpec(name="broken", path=broken)) == ()
    assert preload_modules(StageSpec(name="gone", path=tmp_path / "gone.ipynb")) == ()


def test_the_review_functions_lazy_imports_are_all_preloaded() -> None:
    """Adding a lazy import of a new library to a review module without naming it in
    CALLED_IMPORTS would put its import back on the review stage's critical path."""
    review = Path(nbmlops.__file__).parent / "review"
    for name, preloaded in CALLED_IMPORTS.items():
        if name == "nbmlops.review":
            continue
        also = (*preloaded, *CALLED_IMPORTS["nbmlops.review"], "numpy")  # displays, arrays
        tops = {module.partition(".")[0] for module in also}
        stem = name.rpartition(".")[2]
        for path in sorted(review.glob(f"{stem}*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found = [node.module]
                elif isinstance(node, ast.Import):
                    found = [alias.name for alias in node.names]
                else:
                    continue
                for module in found:
                    top = module.partition(".")[0]
                    if top == "nbmlops" or top in _STDLIB:
                        continue
                    assert top in tops, f"{path.name} imports {module}: add it to CALLED_IMPORTS"


_STDLIB = frozenset(__import__("sys").stdlib_module_names)


def test_a_preloaded_kernel_has_the_modules_and_an_untouched_namespace(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("LOADED = True\n")
    stage = _stage(
        tmp_path / "review.ipynb",
        "import json\nimport nbmlops.review\nimport helpers\nimport no_such_module_xyz",
    )
    pool = KernelPool()
    try:
        km = pool.take(stage)
        client = km.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            code = (
                "import sys, matplotlib\n"
                "print(matplotlib.get_backend(), 'ipywidgets' in sys.modules,"
                " 'matplotlib.pyplot' in sys.modules, 'helpers' in sys.modules, len(In),"
                " [n for n in ('json', 'importlib', 'name', 'warnings', 'io') if n in dir()])"
            )
            printed: list[str] = []

            def keep(msg: dict[str, object]) -> None:
                content = msg["content"]
                if msg["msg_type"] == "stream" and isinstance(content, dict):
                    printed.append(str(content["text"]))

            reply = client.execute_interactive(code, timeout=60, output_hook=keep)
        finally:
            client.stop_channels()
        pool.release(km)
    finally:
        pool.close()
    assert reply["content"]["execution_count"] == 1  # the preload is not in the history
    assert "".join(printed).split() == [
        "module://matplotlib_inline.backend_inline",
        "True",
        "True",
        "False",
        "2",  # In[0] is empty; the cell above is In[1]
        "[]",  # nothing the preload imported or used is bound in the notebook's namespace
    ]


def test_a_finished_stage_hands_its_kernel_back_to_the_pool_without_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill's client shut the kernel down itself (gracefully, ~1.3 s a stage) on the
    stage's thread before the stage could end; the pool shuts it down in the background."""
    from jupyter_client.manager import AsyncKernelManager

    from nbmlops.run.kernel import run_notebook

    shutdowns: list[str] = []
    original = AsyncKernelManager.request_shutdown  # the pool's graceful shutdown asks with it

    async def recording(self: AsyncKernelManager, *args: object, **kwargs: object) -> None:
        shutdowns.append(threading.current_thread().name)
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncKernelManager, "request_shutdown", recording)
    stage = _stage(tmp_path / "one.ipynb", "x = 1", "print(x + 1)")
    pool = KernelPool()
    try:
        # on a thread of its own, as the scheduler runs stages (run_notebook closes its thread's
        # event loop when done, which on the main thread is the one pytest-jupyter cleans up with)
        with ThreadPoolExecutor(1, thread_name_prefix="stage") as stage_thread:
            stage_thread.submit(
                run_notebook,
                stage,
                tmp_path / "out.ipynb",
                params={},
                products={},
                upstream={},
                pool=pool,
            ).result()
        during = list(shutdowns)
    finally:
        pool.close()
    assert during in ([], ["nbmlops-kernel_0"], ["nbmlops-kernel_1"])  # never the caller's
    assert len(shutdowns) == 1 and shutdowns[0].startswith("nbmlops-kernel")
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    assert executed.cells[-1].outputs[0]["text"] == "2\n"
