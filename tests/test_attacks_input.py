"""Attack probes for issue 10, section 5 (bad input that still gets through), and the digest cache
and parameter re-assignment items of section 4: each through the real CLI in a subprocess, over a
new user's project (``tests/clinical.py``) and a real MLflow store.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from clinical import REPO, clinical_project, nbmlops_cli, stage_notebook, write_notebook

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _printed_literally(done: object, *texts: str) -> None:
    out = getattr(done, "stdout", "") + getattr(done, "stderr", "")
    assert "Traceback" not in out and "MarkupError" not in out, out
    for text in texts:
        assert text in out, (text, out)


def _project(root: Path) -> Path:
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    return root


# -- Rich markup: every message prints literally ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--product", "x=../../etc/x"], "../../etc/x"),
        (["--product", "x=/etc/x"], "/etc/x"),
        (["--stage", "[bold]x[/]"], "[bold]x[/]"),
        (["--stage", "ok", "--param", "note=:smile:[red]hi[/]"], '":smile:[red]hi[/]"'),
        (["--stage", "ok", "--product", "p=out[/]x.csv"], "out[/]x.csv"),
    ],
)
def test_hostile_text_in_stage_set_prints_literally(
    tmp_path: Path, args: list[str], shown: str
) -> None:
    notebook = write_notebook(tmp_path / "a[red].ipynb", stage_notebook("a", "x = 1"))
    done = nbmlops_cli(tmp_path, "stage", "set", notebook.name, *args)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    _printed_literally(done, shown, "a[red].ipynb")


def test_an_exception_text_with_brackets_prints_literally(tmp_path: Path) -> None:
    cells = [
        'import pandas as pd\npd.DataFrame({"age": [40]})[["patient_id"]]',
        'open("/data/extract[/]v2.csv")',
    ]
    for i, code in enumerate(cells):
        write_notebook(tmp_path / "analysis" / f"probe{i}.ipynb", stage_notebook(f"probe{i}", code))
    done = nbmlops_cli(_project(tmp_path), "run", "analysis", "--no-tracking")
    assert done.returncode == 1, done.stdout + done.stderr
    _printed_literally(
        done, "None of [Index(['patient_id'], dtype='object')] are in the [columns]", "[/]v2.csv"
    )


@pytest.mark.parametrize("override", ["probe.n=[/]", "probe.x[/]=1", "probe.n=[bold]2"])
def test_a_parameter_override_prints_literally(tmp_path: Path, override: str) -> None:
    notebook = stage_notebook("probe", "print(n)", params={"n": 1})
    write_notebook(tmp_path / "analysis" / "probe.ipynb", notebook)
    done = nbmlops_cli(_project(tmp_path), "status", "analysis", "--param", override)
    assert done.returncode == 2
    _printed_literally(done, override.partition("=")[0].removeprefix("probe."))
    assert override.partition("=")[2] in done.stdout or "x[/]" in override


# -- a scrap MLflow cannot take ----------------------------------------------------------------

GLUED = """\
from IPython.display import display
payload = {"name": "huge", "data": 10**400, "encoder": "json", "version": 1}
display({"application/scrapbook.scrap.json+json": payload},
        metadata={"scrapbook": {"name": "huge", "data": True, "display": False}}, raw=True)
open(product["out"], "w").write("done")
"""


def test_a_huge_integer_scrap_is_refused_or_kept_and_no_mlflow_run_stays_running(
    tmp_path: Path,
) -> None:
    """``record("big", 10**400)`` once left a RUNNING child run and switched MLflow off."""
    analysis = tmp_path / "analysis"
    recorded = 'from nbmlops.records.scraps import record\nrecord("big", 10**400)'
    write_notebook(analysis / "recorded.ipynb", stage_notebook("recorded", recorded))
    # what scrapbook.glue (or a hand-made output) writes: record() is not in the way
    glued = stage_notebook("glued", GLUED, products={"out": "out.txt"})
    write_notebook(analysis / "glued.ipynb", glued)
    after = 'from nbmlops.records.scraps import record\nrecord("auroc", 0.75)'
    write_notebook(analysis / "after.ipynb", stage_notebook("after", after, upstream=["glued"]))
    done = nbmlops_cli(_project(tmp_path), "run", "analysis")
    assert done.returncode == 1, done.stdout + done.stderr
    _printed_literally(done, "scrap 'big'", "str(n)")
    assert "MLflow: not recorded" not in done.stdout

    with sqlite3.connect(tmp_path / ".nbmlops" / "mlflow.db") as db:
        runs = dict(db.execute("select name, status from runs").fetchall())
    assert "RUNNING" not in runs.values(), runs
    assert runs["recorded"] == "FAILED" and runs["glued"] == runs["after"] == "FINISHED"
    record = json.loads(next((tmp_path / ".nbmlops" / "runs").glob("*.json")).read_text())
    by = {s["stage"]: s for s in record["stages"]}
    assert by["glued"]["scraps"]["huge"] == 10**400 and by["after"]["mlflow_run_id"]
    assert record["tracking_problem"] is None


# -- a parameter assigned again after the parameters cell ---------------------------------------


def test_run_and_stage_set_refuse_a_parameter_assigned_again(tmp_path: Path) -> None:
    """``min_auroc = 0.7`` in a later cell once silently won over ``--param``, while MLflow
    recorded the override as used."""
    clinical_project(tmp_path)
    gate = 'from nbmlops.records.scraps import record\nmin_auroc = 0.7\nrecord("gate", min_auroc)'
    write_notebook(
        tmp_path / "analysis" / "gate.ipynb",
        stage_notebook("gate", ["import math", gate], params={"min_auroc": 0.8}),
    )
    done = nbmlops_cli(tmp_path, "run", "analysis", "--param", "gate.min_auroc=0.9")
    assert done.returncode == 2, done.stdout + done.stderr
    _printed_literally(done, "'gate'", "'min_auroc'", "cell 3", "line 2")
    assert not (tmp_path / "build").exists()  # refused before any kernel started
    done = nbmlops_cli(tmp_path, "stage", "set", "analysis/gate.ipynb", "--param", "n=1")
    assert done.returncode == 2
    _printed_literally(done, "'min_auroc'", "cell 3")


# -- a product edited in place, its size and mtime set back -------------------------------------


def test_a_product_edited_with_its_mtime_set_back_is_stale_and_made_again(tmp_path: Path) -> None:
    clinical_project(tmp_path)
    assert nbmlops_cli(tmp_path, "run", "analysis", "--no-tracking").returncode == 0
    cohort = tmp_path / "build" / "analysis" / "cohort" / "cohort.parquet"
    made = cohort.read_bytes()
    before = cohort.stat()
    middle = len(made) // 2
    with cohort.open("r+b") as fh:  # one byte changed in place: same size, same inode
        fh.seek(middle)
        fh.write(bytes([made[middle] ^ 0xFF]))
    os.utime(cohort, ns=(before.st_atime_ns, before.st_mtime_ns))
    done = nbmlops_cli(tmp_path, "status", "analysis", "--json")
    stages = {s["stage"]: s for s in json.loads(done.stdout)["stages"]}
    assert [(r["kind"], r["subject"]) for r in stages["cohort"]["reasons"]] == [
        ("product_changed", "cohort")
    ]
    done = nbmlops_cli(tmp_path, "run", "analysis", "--no-tracking")
    assert done.returncode == 0, done.stdout + done.stderr
    assert cohort.read_bytes() == made  # made again from the extract, not handed on edited
