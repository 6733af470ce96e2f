"""Stage metadata: reading, validating and writing the `nbmlops` tag on a notebook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbmlops.authoring.stage import load_stage, read_stage, set_stage, validate_stage_metadata
from nbmlops.errors import MalformedNotebookError, ParametersCellError, StageMetadataError

FIXTURES = Path(__file__).parent / "notebooks"


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / f"{name}.ipynb", tmp_path / f"{name}.ipynb"))


def test_read_stage_returns_the_validated_spec() -> None:
    spec = load_stage(FIXTURES / "double.ipynb")
    assert spec.name == "double"
    assert spec.upstream == ("load",)
    assert spec.products == {"out": "out.json"}
    assert spec.params == {"scale": 2, "note": "x"}
    assert spec.kernel == "python3"
    assert spec.parameters_cell == 1  # after the markdown cell
    assert len(spec.source_digest) == 64


def test_untagged_notebook_is_not_a_stage() -> None:
    assert read_stage(FIXTURES / "untagged.ipynb") is None


def test_malformed_notebook_names_file_and_position() -> None:
    with pytest.raises(MalformedNotebookError) as err:
        read_stage(FIXTURES / "malformed.ipynb")
    assert err.value.path.name == "malformed.ipynb"
    assert "line" in err.value.detail


def test_metadata_failing_the_schema_names_the_field() -> None:
    with pytest.raises(StageMetadataError) as err:
        read_stage(FIXTURES / "bad_metadata.ipynb")
    assert err.value.field == "stage"


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"stage": "ok", "upstream": ["Bad Name"]}, "upstream.0"),
        ({"stage": "ok", "products": {"nb": "x.ipynb"}}, "products"),
        ({"stage": "ok", "products": {"m": "../escape.bin"}}, "products.m"),
        ({"stage": "ok", "products": {"m": "/abs/path"}}, "products.m"),
        ({"stage": "ok", "params": {"a = 1; import os; b": 1}}, "params"),
        ({"stage": "ok", "params": {"product": 1}}, "params"),
        ({"stage": "ok", "params": {"x": float("nan")}}, "params.x"),
        ({"stage": "ok", "surprise": True}, ""),
    ],
)
def test_schema_rejects(meta: dict[str, object], field: str) -> None:
    with pytest.raises(StageMetadataError) as err:
        validate_stage_metadata(meta, path=Path("x.ipynb"))
    assert err.value.field == field


def test_no_parameters_cell_is_a_clear_error() -> None:
    with pytest.raises(ParametersCellError) as err:
        read_stage(FIXTURES / "no_parameters_cell.ipynb")
    assert "parameters" in str(err.value)
    assert err.value.path.name == "no_parameters_cell.ipynb"


def test_param_declared_but_not_in_cell(tmp_path: Path) -> None:
    path = _copy(tmp_path, "load")
    nb = json.loads(path.read_text())
    nb["metadata"]["nbmlops"]["params"]["extra"] = 1
    path.write_text(json.dumps(nb))
    with pytest.raises(ParametersCellError) as err:
        read_stage(path)
    assert err.value.param == "extra"


def test_set_stage_tags_and_keeps_parameters_cell_in_step(tmp_path: Path) -> None:
    path = _copy(tmp_path, "untagged")
    spec = set_stage(
        path,
        stage="train",
        upstream=["features"],
        products={"model": "model.skops"},
        params={"seed": 42, "model": "forest"},
    )
    assert spec.params == {"seed": 42, "model": "forest"}
    reread = load_stage(path)
    assert reread.metadata() == spec.metadata()
    assert reread.cell_params == {
        "upstream": "None",
        "product": "None",
        "seed": "42",
        "model": '"forest"',
    }
    # nbformat's own layout, so that a tagged notebook diffs cleanly
    text = path.read_text()
    assert text.endswith("\n") and text.startswith('{\n "cells": [')


def test_set_stage_updates_an_existing_value(tmp_path: Path) -> None:
    path = _copy(tmp_path, "load")
    set_stage(path, params={"n": 7})
    spec = load_stage(path)
    assert spec.params["n"] == 7
    assert spec.cell_params["n"] == "7"


def test_set_stage_invalid_input_writes_nothing(tmp_path: Path) -> None:
    path = _copy(tmp_path, "load")
    before = path.read_bytes()
    with pytest.raises(StageMetadataError):
        set_stage(path, stage="Not Valid")
    assert path.read_bytes() == before


def test_source_digest_ignores_outputs(tmp_path: Path) -> None:
    path = _copy(tmp_path, "load")
    before = load_stage(path).source_digest
    nb = json.loads(path.read_text())
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    nb["cells"][2]["execution_count"] = 3
    path.write_text(json.dumps(nb))
    assert load_stage(path).source_digest == before
    nb["cells"][2]["source"] = ["print('changed')"]
    path.write_text(json.dumps(nb))
    assert load_stage(path).source_digest != before


def test_set_stage_leaves_a_formatted_cell_alone(tmp_path: Path) -> None:
    path = _copy(tmp_path, "untagged")
    set_stage(path, stage="train", params={"model": "forest", "grid": {"a": [1, 2]}, "on": True})
    first = path.read_bytes()
    nb = json.loads(first)
    cell = nb["cells"][1]
    # what `ruff format` would have written: single quotes become double quotes, spacing
    cell["source"] = [line.replace('"', "'") for line in cell["source"]]
    path.write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")
    digest = load_stage(path).source_digest
    set_stage(path, params={"model": "forest"})
    assert load_stage(path).source_digest == digest


def test_a_float_default_saved_by_jupyterlab_keeps_its_type(tmp_path: Path) -> None:
    """JupyterLab writes notebook JSON from JavaScript numbers: `"C": 1.0` comes back as `1`.
    The parameters cell's literal keeps the type, so runs still accept `C=0.5`."""
    path = _copy(tmp_path, "load")
    set_stage(path, params={"C": 1.0})
    nb = json.loads(path.read_text())
    nb["metadata"]["nbmlops"]["params"]["C"] = 1  # what a save in JupyterLab leaves
    path.write_text(json.dumps(nb))
    spec = load_stage(path)
    assert spec.params["C"] == 1.0 and type(spec.params["C"]) is float
    assert spec.cell_params["C"] == "1.0"
    assert type(spec.params["n"]) is int  # ints stay ints
    set_stage(path, params={"C": 1})  # the form sends 1 for 1.0: the cell's line is kept
    assert load_stage(path).cell_params["C"] == "1.0"
    set_stage(path, params={"C": 2})  # a real change is written
    assert load_stage(path).cell_params["C"] == "2"


def test_parameter_types_read_the_cells_literals(tmp_path: Path) -> None:
    from nbmlops.authoring.parameters_cell import parameter_types

    source = 'a = 1\nb = 1.0\nc = "x"\nd = True\ne = [1]\nf = {"k": 1}\ng = f(1)\nproduct = None'
    assert parameter_types(source, path=tmp_path / "x.ipynb") == {
        "a": "int",
        "b": "float",
        "c": "str",
        "d": "bool",
        "e": "list",
        "f": "dict",
    }


# -- a declared parameter assigned again after the parameters cell --------------------------------


def _with_cells(tmp_path: Path, *later: str, params: dict[str, object] | None = None) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from clinical import stage_notebook, write_notebook

    declared = {"min_auroc": 0.8, "n": 3} if params is None else params
    notebook = stage_notebook("check", list(later), params=declared)
    notebook["cells"].insert(
        1, {"cell_type": "markdown", "id": "md", "metadata": {}, "source": "#"}
    )
    return write_notebook(tmp_path / "check.ipynb", notebook)


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("x = 1\nmin_auroc = 0.7", 2),
        ("min_auroc += 0.1", 1),
        ("min_auroc: float = 0.7", 1),
        ("a, (min_auroc, b) = 1, (2, 3)", 1),
        ("for min_auroc in [0.5, 0.6]:\n    pass", 1),
        ("import contextlib\nwith contextlib.nullcontext(1) as min_auroc:\n    pass", 2),
        ("def f():\n    global min_auroc\n    min_auroc = 0.1", 2),
        ("if True:\n    min_auroc = 0.7", 2),
        ("try:\n    pass\nexcept Exception as min_auroc:\n    pass", 3),
        ("print((min_auroc := 0.5))", 1),
        ("%matplotlib inline\nmin_auroc = 0.7", 2),
        ("import numpy as min_auroc", 1),
        ("del min_auroc", 1),
    ],
)
def test_a_declared_parameter_assigned_again_is_refused_with_the_cell(
    tmp_path: Path, code: str, line: int
) -> None:
    """The injected value was silently replaced while MLflow recorded the override."""
    from nbmlops.errors import ParameterReassignedError

    notebook = _with_cells(tmp_path, "import math", code)
    with pytest.raises(ParameterReassignedError) as refused:
        load_stage(notebook)
    err = refused.value
    assert (err.stage, err.param, err.cell_index, err.line) == ("check", "min_auroc", 3, line)
    assert isinstance(err, ParametersCellError) and "cell 4" in str(err)
    before = notebook.read_bytes()
    with pytest.raises(ParameterReassignedError):
        set_stage(notebook, params={"n": 4})
    assert notebook.read_bytes() == before


@pytest.mark.parametrize(
    "code",
    [
        "threshold = min_auroc * 2\nprint(min_auroc)",
        "def f(min_auroc):\n    min_auroc = 1\n    return min_auroc",
        "class C:\n    min_auroc = 1",
        "lambda min_auroc: min_auroc",
        "[min_auroc for min_auroc in range(3)]",
        "product = None\nupstream = None",  # papermill's placeholders are not declared params
        "min_auroc: float",  # an annotation binds nothing
        "%%bash\nmin_auroc=1",
        "x = 1 +",  # not Python: the kernel reports it, not this check
    ],
)
def test_reading_or_shadowing_a_parameter_in_another_scope_is_fine(
    tmp_path: Path, code: str
) -> None:
    assert load_stage(_with_cells(tmp_path, code)).params == {"min_auroc": 0.8, "n": 3}


def test_the_example_and_fixture_notebooks_assign_no_parameter_again() -> None:
    repo = Path(__file__).parent.parent
    for notebook in [*(repo / "notebooks").glob("*.ipynb"), *FIXTURES.glob("*.ipynb")]:
        try:
            read_stage(notebook)
        except (MalformedNotebookError, StageMetadataError, ParametersCellError) as exc:
            assert type(exc).__name__ != "ParameterReassignedError", exc
