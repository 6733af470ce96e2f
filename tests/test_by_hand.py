"""A stage notebook run by hand: the paths a run would inject (`nbmlops stage paths`,
`nbmlops.stage_paths`) in a cell tagged `injected-parameters`, which no run ever executes and
which does not make the stage stale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeProject

import nbmlops
from nbmlops.cli.main import main


def _insert_paths_cell(notebook: Path, source: str) -> None:
    """What "Load stage paths" does in JupyterLab: a cell tagged `injected-parameters` right
    after the parameters cell."""
    nb = json.loads(notebook.read_text())
    index = next(
        i for i, c in enumerate(nb["cells"]) if "parameters" in c["metadata"].get("tags", [])
    )
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "by-hand-paths",
        "metadata": {"tags": ["injected-parameters"]},
        "outputs": [],
        "source": source,
    }
    nb["cells"].insert(index + 1, cell)
    notebook.write_text(json.dumps(nb, indent=1))


def _run_by_hand(notebook: Path) -> Any:
    """Top to bottom in a plain kernel in the notebook's folder, as JupyterLab's "Run All"."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
    ).execute()
    return nb


@pytest.fixture
def built(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose `demo` pipeline (load -> double) ran once."""
    root = make_project("load", "double")
    monkeypatch.chdir(root)
    monkeypatch.delenv("NBMLOPS_STAGE", raising=False)
    assert main(["compile", "notebooks", "--name", "demo"]) == 0
    assert main(["run", "demo", "--no-tracking"]) == 0
    return root


def test_a_stage_runs_by_hand_with_the_paths_a_run_would_inject(built: Path) -> None:
    double = built / "notebooks" / "double.ipynb"
    promoted = (built / "build/demo/double/out.json").read_bytes()
    paths = nbmlops.stage_paths(double)
    assert (paths.pipeline, paths.stage, paths.missing) == ("demo", "double", ())
    assert paths.upstream == {
        "load": {
            "nb": str(built / "build/demo/load/load.ipynb"),
            "data": str(built / "build/demo/load/data.json"),
        }
    }
    scratch = built / "build/demo/double/scratch"
    assert paths.product == {"nb": str(scratch / "double.ipynb"), "out": str(scratch / "out.json")}
    assert paths.inputs == {}
    assert scratch.is_dir()

    _insert_paths_cell(double, paths.cell_source)
    executed = _run_by_hand(double)
    assert json.loads((scratch / "out.json").read_text()) == [0, 2, 4, 6, 8]
    assert (built / "build/demo/double/out.json").read_bytes() == promoted  # never touched
    assert "total 20" in "".join(
        out.get("text", "") for cell in executed.cells for out in cell.get("outputs", [])
    )

    # saved with the cell, the stage is still up to date: the cell is not the notebook's code
    plans = nbmlops.plan_pipeline(nbmlops.load_pipeline("demo")[0])
    assert [plan.up_to_date for plan in plans] == [True, True]


def test_runs_never_execute_a_hand_inserted_cell(built: Path) -> None:
    double = built / "notebooks" / "double.ipynb"
    stale = 'raise RuntimeError("a stale hand-inserted cell ran")\n'
    _insert_paths_cell(double, stale)
    _insert_paths_cell(double, stale)  # twice: papermill alone would replace only the first
    nb = json.loads(double.read_text())
    nb["cells"][-1]["source"] = 'raise ValueError("the last cell fails")'
    double.write_text(json.dumps(nb, indent=1))
    assert main(["run", "demo", "--no-tracking"]) == 1
    record = json.loads(max((built / ".nbmlops/runs").glob("*.json")).read_text())
    (failed,) = [s for s in record["stages"] if s["stage"] == "double"]
    # the error names the source notebook's cell, counting the hand-inserted ones
    assert failed["error"]["ename"] == "ValueError"
    assert failed["error"]["cell_index"] == len(nb["cells"]) - 1
    kept = Path(failed["executed_notebook"])
    ran = json.loads(kept.read_text())
    assert "a stale hand-inserted cell ran" not in kept.read_text()  # neither ran nor kept
    assert ran["metadata"]["papermill"]["input_path"] == str(double)
    assert not list(kept.parent.glob(".*.source.ipynb"))

    nb["cells"][-1]["source"] = 'print("total", sum(out))'
    double.write_text(json.dumps(nb, indent=1))
    assert main(["run", "demo", "--no-tracking"]) == 0
    executed = json.loads((built / "build/demo/double/double.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"]["tags"]]
    assert len(injected) == 1 and "RuntimeError" not in "".join(injected[0]["source"])
    assert json.loads((built / "build/demo/double/out.json").read_text()) == [0, 2, 4, 6, 8]


def test_the_cli_prints_the_cell_and_names_what_is_not_built(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project("load", "double")
    monkeypatch.chdir(root)
    assert main(["stage", "paths", "notebooks/double.ipynb"]) == 0
    out, err = capsys.readouterr()
    namespace: dict[str, Any] = {}
    exec(compile(out, "cell", "exec"), namespace)  # noqa: S102 - the cell is meant to run
    assert namespace["upstream"]["load"]["data"] == str(root / "build/notebooks/load/data.json")
    assert namespace["product"]["out"].endswith(
        str(Path("notebooks", "double", "scratch", "out.json"))
    )
    assert "not built yet: load.nb, load.data" in err

    assert main(["compile", "notebooks", "--name", "demo"]) == 0
    capsys.readouterr()
    assert main(["stage", "paths", "--json", "notebooks/load.ipynb"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["pipeline"] == "demo" and answer["upstream"] == {} and answer["missing"] == []
    assert "upstream =" not in answer["source"] and "product = {" in answer["source"]


def test_stage_set_drops_the_loaded_paths_as_the_form_s_save_does(built: Path) -> None:
    double = built / "notebooks" / "double.ipynb"
    before = json.loads(double.read_text())["cells"]
    _insert_paths_cell(double, nbmlops.stage_paths(double).cell_source)
    _insert_paths_cell(double, nbmlops.stage_paths(double).cell_source)
    assert main(["stage", "set", str(double), "--param", "scale=3"]) == 0
    after = json.loads(double.read_text())["cells"]
    assert not [c for c in after if "injected-parameters" in c["metadata"].get("tags", [])]
    assert [c["id"] for c in after] == [c["id"] for c in before]
