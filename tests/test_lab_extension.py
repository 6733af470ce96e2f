"""The JupyterLab extension end to end: real JupyterLab, Debian's headless Chromium, real runs.

A scientist opens an untagged notebook, tags it through the **Stage** form (the server checks the
form as the CLI would), sees the stage in the **Pipeline** panel, runs the pipeline from there and
watches both stages turn up to date; the metadata on disk and the MLflow run are then checked
outside the browser. Errors (a cycle, an unknown upstream, a kernel that dies) show in the panel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, MakeProject

COMMANDS = [
    "nbmlops:edit-stage",
    "nbmlops:load-stage-paths",
    "nbmlops:open-pipeline",
    "nbmlops:refresh-pipeline",
    "nbmlops:run-pipeline",
    "nbmlops:run-stage",
    "nbmlops:open-executed",
    "nbmlops:open-mlflow-run",
]
EXPECTED = {
    "stage": "double",
    "upstream": ["load"],
    "products": {"out": "out.json"},
    "inputs": {"codes": "data/codes.txt"},
    "params": {"scale": 3, "note": "x"},
    "kernel": "python3",
}


def _untagged_double(root: Path) -> dict[str, Any]:
    """The `double` fixture before tagging: its code and parameters cell, no stage metadata."""
    nb: dict[str, Any] = json.loads((FIXTURES / "double.ipynb").read_text())
    del nb["metadata"]["nbmlops"]
    (root / "notebooks" / "double.ipynb").write_text(json.dumps(nb, indent=1))
    return nb


@pytest.mark.slow
def test_tag_in_the_form_then_run_from_the_pipeline_panel(
    make_project: MakeProject, tmp_path: Path
) -> None:
    from lab import JupyterLab, LabPage, launch_chromium
    from lab_pipeline import PipelinePanel, StageForm
    from playwright.sync_api import expect, sync_playwright

    root = make_project("load")
    before = _untagged_double(root)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "codes.txt").write_text("E11\n")
    broken = {
        "cyclic": ["cycle_a", "cycle_b"],
        "orphan": ["unknown_upstream"],
        "dies": ["kill_kernel"],
    }
    for folder, names in broken.items():
        (root / folder).mkdir()
        for name in names:
            shutil.copy(FIXTURES / f"{name}.ipynb", root / folder / f"{name}.ipynb")

    with JupyterLab(root, tmp_path / "lab") as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1400, "height": 1000}), lab)
            page.open("notebooks/double.ipynb")
            # every action is a command, in the palette under "nbmlops"
            registered = page.page.evaluate(
                "ids => ids.filter(i => window.jupyterapp.commands.hasCommand(i))", COMMANDS
            )
            assert registered == COMMANDS
            page.command("apputils:activate-command-palette")
            palette = page.page.locator(".lm-CommandPalette-item[data-command^='nbmlops:']")
            palette.first.wait_for(state="attached")
            in_palette = page.page.evaluate(
                "ids => ids.filter(i => document.querySelector("
                "`.lm-CommandPalette-item[data-command='${i}']`))",
                COMMANDS,
            )
            assert in_palette == COMMANDS
            page.page.keyboard.press("Escape")  # the palette's search box has the focus
            form = StageForm.open_from_toolbar(page)
            assert form.upstream_choices() == ["load"]
            # the names the parameters cell assigns prefill the form, typed from their literals
            assert form.params() == {"scale": ("int", "2"), "note": ("str", "x")}

            form.set_stage("Double!")  # not a stage name: the server's schema says so, inline
            assert form.wait_settled() == "invalid"
            expect(form.error("stage")).to_contain_text("stage")
            expect(form.save_button()).to_be_disabled()

            form.set_stage("double")
            form.check_upstream("load")
            form.add_product("out", "out.json")
            form.add_input("codes", "data/codes.txt")
            form.set_param("scale", "3")
            assert form.wait_settled() == "valid"
            form.save()

            panel = PipelinePanel(page).show("notebooks")
            assert panel.states() == {"load": "never_run", "double": "never_run"}
            panel.run_pipeline()
            expect(panel.progress()).to_be_visible(timeout=30_000)
            assert panel.wait_run_finished() == "succeeded"
            panel.wait_for_states({"load": "up_to_date", "double": "up_to_date"})
            expect(panel.row("double")).to_have_attribute("data-state", "up_to_date")
            run_id = panel.mlflow_run_id("double")
            page.screenshot(panel.root, tmp_path / "pipeline-panel.png")

            # what goes wrong shows in the panel, with the server's message
            panel.show("cyclic")
            expect(panel.error()).to_contain_text("cycle")
            panel.show("orphan")
            expect(panel.error()).to_contain_text("nowhere")
            panel.show("dies")  # a kernel that dies while the stage runs
            panel.run_pipeline()
            assert panel.wait_run_finished() == "failed"
            panel.wait_for_states({"killed": "failed"})
            expect(panel.error()).to_contain_text("killed failed")
            expect(panel.row("killed")).to_contain_text("kernel")
        finally:
            browser.close()

    # on disk: the form's metadata, the parameters cell in step with it, nothing else changed
    saved = json.loads((root / "notebooks" / "double.ipynb").read_text())
    assert saved["metadata"]["nbmlops"] == EXPECTED
    params_cell = next(c for c in saved["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert "scale = 3" in "".join(params_cell["source"]).splitlines()
    assert "inputs = None" in "".join(params_cell["source"]).splitlines()
    sources = [
        ("".join(c["source"]), c["cell_type"]) for c in saved["cells"] if c is not params_cell
    ]
    assert sources == [
        ("".join(c["source"]), c["cell_type"])
        for c in before["cells"]
        if "parameters" not in c["metadata"].get("tags", [])
    ]
    # the MLflow run the panel links to: the stage's child run, with the form's parameter
    from mlflow.tracking import MlflowClient

    from nbmlops.records.tracking import tracking_uri

    assert run_id
    run = MlflowClient(tracking_uri(root)).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["nbmlops.stage"] == "double"
    assert run.data.params["scale"] == "3"
    assert run.data.metrics["total"] == sum(range(5)) * 3


@pytest.mark.slow
def test_load_stage_paths_then_run_all_by_hand(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage with an upstream stage, opened in JupyterLab: "Load stage paths" inserts the
    paths a run would inject, "Run All" succeeds, and the Stage form's save removes the cell."""
    from lab import JupyterLab, LabPage, launch_chromium
    from lab_pipeline import StageForm
    from playwright.sync_api import expect, sync_playwright

    from nbmlops.cli.main import main

    root = make_project("load", "double")
    monkeypatch.chdir(root)
    assert main(["compile", "notebooks", "--name", "demo"]) == 0
    assert main(["run", "demo", "--no-tracking", "--stage", "load"]) == 0
    notebook = root / "notebooks" / "double.ipynb"
    with JupyterLab(root, tmp_path / "lab") as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1400, "height": 1000}), lab)
            page.open("notebooks/double.ipynb")
            button = page.page.locator(
                '.jp-NotebookPanel-toolbar [data-jp-item-name="nbmlops-stage-paths"] button'
            )
            button.first.click()
            injected = page.page.locator(".jp-Notebook .jp-CodeCell").nth(1)
            expect(injected).to_contain_text("upstream = {", timeout=30_000)
            expect(injected).to_contain_text("build/demo/load/data.json")
            page.run_all()
            expect(page.page.locator(".jp-OutputArea-output").last).to_contain_text("total 20")
            assert "Error" not in page.output_text()
            page.command("docmanager:save")
            page.page.wait_for_function(
                "() => !document.querySelector('.jp-mod-dirty')", timeout=30_000
            )
            saved = json.loads(notebook.read_text())
            tags = [c["metadata"].get("tags", []) for c in saved["cells"]]
            assert tags[2] == ["injected-parameters"]  # saved like any cell: the form removes it

            form = StageForm.open_from_toolbar(page)
            assert form.wait_settled() == "valid"
            form.save()
        finally:
            browser.close()
    scratch = root / "build/demo/double/scratch/out.json"
    assert json.loads(scratch.read_text()) == [0, 2, 4, 6, 8]
    assert not (root / "build/demo/double/out.json").exists()  # only the scratch folder
    saved = json.loads(notebook.read_text())
    assert not [c for c in saved["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert saved["metadata"]["nbmlops"]["stage"] == "double"


@pytest.mark.slow
def test_the_pipeline_panel_lists_a_finished_sweep_and_opens_its_summary(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A sweep run from a terminal shows in the panel with its counts and bar; clicking it
    opens its summary page in JupyterLab's HTML viewer; a sweep without a page shows its points
    and the command that writes one; a sweep running is followed until it is done."""
    from clinical import NBMLOPS, nbmlops_cli
    from lab import JupyterLab, LabPage, launch_chromium
    from lab_pipeline import PipelinePanel
    from playwright.sync_api import expect, sync_playwright

    root = make_project("load", "double")
    done = nbmlops_cli(
        root, "sweep", "notebooks", "--grid", "double.scale=1,3", "--name", "scales",
        "--workers", "2", "--no-tracking",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    pipeline = json.loads(next((root / ".nbmlops" / "sweeps").glob("*/scales/sweep.json"))
                          .read_text())["pipeline"]  # fmt: skip
    summary = root / "build" / pipeline / "sweeps" / "scales" / "summary.html"
    if not summary.is_file():  # the sweep writes it itself once nbmlops.sweep.summary landed
        summary.write_text(
            "<!doctype html><html><body><h1>Sweep scales</h1><table><tr><td>double.scale</td>"
            "</tr></table></body></html>"
        )
    with JupyterLab(root, tmp_path / "lab") as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1400, "height": 1000}), lab)
            page.page.goto(f"{lab.url}/lab?token={lab.token}")
            page.page.wait_for_function(
                "() => window.jupyterapp?.commands.hasCommand('nbmlops:open-pipeline')",
                timeout=60_000,
            )
            page.page.evaluate("() => window.jupyterapp.restored.then(() => true)")
            panel = PipelinePanel(page).show("notebooks")
            row = panel.sweep(pipeline, "scales")
            expect(row).to_be_visible(timeout=30_000)
            expect(row).to_have_attribute("data-running", "false")
            assert panel.sweep_counts(pipeline, "scales") == "2 of 2 done"
            assert panel.sweep_bar(pipeline, "scales") == {"succeeded": "100%"}
            page.screenshot(panel.root, tmp_path / "sweeps-panel.png")

            panel.open_sweep(pipeline, "scales")
            tab = page.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="summary.html")
            expect(tab).to_be_visible(timeout=30_000)
            frame = page.page.frame_locator(".jp-HTMLViewer iframe")
            expect(frame.locator("body")).to_contain_text("scales", timeout=30_000)

            summary.unlink()  # a sweep whose page is not written yet
            panel.refresh_sweeps()
            expect(row).to_have_attribute("data-summary", "false")
            panel.open_sweep(pipeline, "scales")
            points = panel.sweep_points(pipeline, "scales")
            expect(points).to_have_count(2, timeout=30_000)
            expect(points.first).to_have_attribute("data-status", "succeeded")
            expect(row.locator(".nbmlops-SweepPoints")).to_contain_text(
                f"nbmlops sweep results scales --pipeline {pipeline} --html"
            )
            expect(row.locator(".nbmlops-SweepPoints")).to_contain_text("total")

            # with no sweep running the panel still looks again every 10 s (no click), so a
            # sweep started elsewhere shows up on its own
            body = panel.root.locator(".nbmlops-PipelinePanel-body")
            loads = int(body.get_attribute("data-sweep-loads") or 0)
            page.page.wait_for_function(
                "n => Number(document.querySelector("
                "'#nbmlops-pipeline .nbmlops-PipelinePanel-body')?.dataset.sweepLoads) > n",
                arg=loads,
                timeout=25_000,
            )
            # a sweep started from a terminal: seen running after a refresh, then followed
            # without one until it is done
            log = (tmp_path / "live.log").open("w")
            live = subprocess.Popen(
                [str(NBMLOPS), "sweep", "notebooks", "--grid", "double.scale=5,7,9", "--name",
                 "live", "--workers", "1", "--no-tracking"],
                cwd=root, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                seen = panel.sweep(pipeline, "live")
                while not (seen.count() and seen.get_attribute("data-running") == "true"):
                    assert live.poll() is None, "the sweep ended before the panel saw it run"
                    panel.refresh_sweeps()
                expect(seen.locator(".nbmlops-SweepBar-segment")).not_to_have_count(0)
                expect(seen).to_have_attribute("data-running", "false", timeout=180_000)
                assert panel.sweep_counts(pipeline, "live") == "3 of 3 done"
                assert live.wait(timeout=60) == 0, (tmp_path / "live.log").read_text()
            finally:
                if live.poll() is None:
                    live.kill()
                    live.wait()
                log.close()
        finally:
            browser.close()
