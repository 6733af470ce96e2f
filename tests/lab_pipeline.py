"""Page objects for the nbmlops JupyterLab extension: the Stage form and the Pipeline panel.

Every selector of the extension's DOM contract lives here (see ``extension/src``), so a change of
markup is one edit. Used by the end-to-end test and by ``docs/screenshots.py``.
"""

from __future__ import annotations

from typing import Any

from lab import LabPage

STATES = ("up_to_date", "stale", "never_run", "running", "failed")


class StageForm:
    """The form the notebook toolbar's **Stage** button opens."""

    def __init__(self, lab: LabPage) -> None:
        self.page = lab.page
        self.root = self.page.locator(".nbmlops-StageForm")

    @classmethod
    def open_from_toolbar(cls, lab: LabPage) -> StageForm:
        item = lab.page.locator('.jp-NotebookPanel-toolbar [data-jp-item-name="nbmlops-stage"]')
        item.locator("button").first.click()
        form = cls(lab)
        form.root.wait_for(timeout=30_000)
        form.wait_settled()
        return form

    def state(self) -> str:
        return str(self.root.get_attribute("data-state"))

    def wait_settled(self, timeout: float = 30_000) -> str:
        """Wait until no validation is in flight; the form's state then."""
        self.page.wait_for_function(
            "() => { const f = document.querySelector('.nbmlops-StageForm');"
            " return f && !['validating', 'saving'].includes(f.dataset.state); }",
            timeout=timeout,
        )
        return self.state()

    def set_stage(self, name: str) -> None:
        self.root.locator('input[name="stage"]').fill(name)

    def check_upstream(self, stage: str) -> None:
        self.root.locator(f'input[type="checkbox"][name="upstream"][value="{stage}"]').check()

    def upstream_choices(self) -> list[str]:
        boxes = self.root.locator('input[type="checkbox"][name="upstream"]')
        return [str(boxes.nth(i).get_attribute("value")) for i in range(boxes.count())]

    def add_product(self, key: str, path: str) -> None:
        self.root.locator('button[data-action="add-product"]').click()
        row = self.root.locator(".nbmlops-StageForm-product").last
        row.locator('input[name="product-key"]').fill(key)
        row.locator('input[name="product-path"]').fill(path)

    def add_input(self, key: str, path: str) -> None:
        self.root.locator('button[data-action="add-input"]').click()
        row = self.root.locator(".nbmlops-StageForm-input").last
        row.locator('input[name="input-key"]').fill(key)
        row.locator('input[name="input-path"]').fill(path)

    def params(self) -> dict[str, tuple[str, str]]:
        """name -> (type, value text) as the form shows them."""
        rows = self.root.locator(".nbmlops-StageForm-param")
        shown = {}
        for i in range(rows.count()):
            row = rows.nth(i)
            name = row.locator('input[name="param-name"]').input_value()
            kind = row.locator('select[name="param-type"]').input_value()
            shown[name] = (kind, row.locator('input[name="param-value"]').input_value())
        return shown

    def set_param(self, name: str, value: str) -> None:
        rows = self.root.locator(".nbmlops-StageForm-param")
        for i in range(rows.count()):
            row = rows.nth(i)
            if row.locator('input[name="param-name"]').input_value() == name:
                row.locator('input[name="param-value"]').fill(value)
                return
        raise AssertionError(f"no parameter row {name!r} in {self.params()}")

    def error(self, field: str) -> Any:
        return self.root.locator(f'.nbmlops-StageForm-error[data-field="{field}"]')

    def save_button(self) -> Any:
        return self.root.locator('button[data-action="save"]')

    def save(self) -> None:
        self.wait_settled()
        self.save_button().click()
        self.page.wait_for_function(
            "() => { const f = document.querySelector('.nbmlops-StageForm');"
            " return !f || f.dataset.state === 'saved'; }",
            timeout=30_000,
        )


class PipelinePanel:
    """The left sidebar panel **Pipeline**."""

    def __init__(self, lab: LabPage) -> None:
        self.lab, self.page = lab, lab.page
        self.root = self.page.locator("#nbmlops-pipeline")

    def show(self, folder: str = "notebooks") -> PipelinePanel:
        self.lab.command("nbmlops:open-pipeline")
        self.root.wait_for(timeout=30_000)
        box = self.root.locator('input[name="folder"]')
        if box.input_value() != folder:
            box.fill(folder)
        self.refresh()
        return self

    def refresh(self) -> None:
        """Ask the server again and wait for its answer (a new load, not the previous one)."""
        body = self.root.locator(".nbmlops-PipelinePanel-body")
        before = int(body.get_attribute("data-loads") or 0)
        self.root.locator('button[data-action="refresh"]').click()
        self.page.wait_for_function(
            "n => { const b = document.querySelector("
            "'#nbmlops-pipeline .nbmlops-PipelinePanel-body'); "
            "return b && b.dataset.loading === 'false' && Number(b.dataset.loads) > n; }",
            arg=before,
            timeout=30_000,
        )

    def node(self, stage: str) -> Any:
        return self.root.locator(f'svg.nbmlops-Dag g.nbmlops-Dag-node[data-stage="{stage}"]')

    def states(self) -> dict[str, str]:
        nodes = self.root.locator("svg.nbmlops-Dag g.nbmlops-Dag-node")
        return {
            str(nodes.nth(i).get_attribute("data-stage")): str(
                nodes.nth(i).get_attribute("data-state")
            )
            for i in range(nodes.count())
        }

    def row(self, stage: str) -> Any:
        return self.root.locator(f'.nbmlops-StageRow[data-stage="{stage}"]')

    def run_pipeline(self) -> None:
        """Click *Run pipeline* and wait until the panel follows the new run."""
        self._start(self.root.locator('button[data-action="run-pipeline"]'))

    def run_stage(self, stage: str) -> None:
        """Click *Run* on a stage (it and its downstream) and wait for the panel to follow it."""
        self._start(self.row(stage).locator('button[data-action="run-stage"]'))

    def _start(self, button: Any) -> None:
        shown = self.progress()
        before = shown.get_attribute("data-run") if shown.count() else None
        button.click()
        self.page.wait_for_function(
            "old => { const p = document.querySelector('#nbmlops-pipeline .nbmlops-Progress');"
            " return p && p.dataset.run !== old; }",
            arg=before,
            timeout=30_000,
        )

    def wait_for_states(self, wanted: dict[str, str], timeout: float = 240_000) -> None:
        condition = " && ".join(
            f"document.querySelector('#nbmlops-pipeline g.nbmlops-Dag-node"
            f'[data-stage="{stage}"]\')?.dataset.state === "{state}"'
            for stage, state in wanted.items()
        )
        self.page.wait_for_function(f"() => {condition}", timeout=timeout)

    def wait_run_finished(self, timeout: float = 300_000) -> str:
        """Wait until the run the panel follows is over; its status (succeeded / failed)."""
        self.page.wait_for_function(
            "() => { const p = document.querySelector('#nbmlops-pipeline .nbmlops-Progress');"
            " return p && p.dataset.status !== 'running'; }",
            timeout=timeout,
        )
        return str(self.progress().get_attribute("data-status"))

    def progress(self) -> Any:
        return self.root.locator(".nbmlops-Progress")

    def log(self) -> Any:
        return self.root.locator("pre.nbmlops-Log")

    def error(self) -> Any:
        return self.root.locator(".nbmlops-Error")

    def mlflow_run_id(self, stage: str) -> str | None:
        """The MLflow run a stage row links to (link or plain run id)."""
        row = self.row(stage)
        link = row.locator("a.nbmlops-MlflowLink")
        if link.count():
            return str(link.get_attribute("href")).rstrip("/").rsplit("/", 1)[-1]
        span = row.locator("span.nbmlops-MlflowRun")
        return str(span.get_attribute("data-run-id")) if span.count() else None

    # -- the Sweeps section ----------------------------------------------------------------------

    def refresh_sweeps(self) -> None:
        """Click Refresh and wait for a new answer about the sweeps."""
        body = self.root.locator(".nbmlops-PipelinePanel-body")
        before = int(body.get_attribute("data-sweep-loads") or 0)
        self.root.locator('button[data-action="refresh"]').click()
        self.page.wait_for_function(
            "n => Number(document.querySelector("
            "'#nbmlops-pipeline .nbmlops-PipelinePanel-body')?.dataset.sweepLoads) > n",
            arg=before,
            timeout=30_000,
        )

    def sweep(self, pipeline: str, sweep: str) -> Any:
        return self.root.locator(f'.nbmlops-SweepRow[data-sweep="{pipeline}/{sweep}"]')

    def sweep_counts(self, pipeline: str, sweep: str) -> str:
        return str(self.sweep(pipeline, sweep).locator(".nbmlops-SweepRow-counts").inner_text())

    def sweep_bar(self, pipeline: str, sweep: str) -> dict[str, str]:
        """The bar's segments: name -> width."""
        segments = self.sweep(pipeline, sweep).locator(".nbmlops-SweepBar-segment")
        return {
            str(segments.nth(i).get_attribute("data-segment")): str(
                segments.nth(i).evaluate("e => e.style.width")
            )
            for i in range(segments.count())
        }

    def open_sweep(self, pipeline: str, sweep: str) -> None:
        self.sweep(pipeline, sweep).locator('button[data-action="open-sweep"]').click()

    def sweep_points(self, pipeline: str, sweep: str) -> Any:
        """The rows of the points table a sweep without a summary page shows."""
        return self.sweep(pipeline, sweep).locator(".nbmlops-SweepPoints tr[data-point]")
