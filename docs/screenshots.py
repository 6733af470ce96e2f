"""Screenshots for the README, taken from the real thing in JupyterLab in headless Chromium (the
browser-test harness of tests/lab.py): the demo project's Pipeline panel and Stage form, its
review notebook, and the summary page of a real sweep of its training stage.

    make demo && .venv/bin/python docs/screenshots.py [pipeline] [review] [sweep] [report]

Writes docs/img/pipeline-*.png (pipeline-sweeps.png: the panel's Sweeps section),
docs/img/stage-form.png, docs/img/review-<tab>.png, docs/img/sweep-summary.png and
docs/img/report-{cover,fairness}.png (`nbmlops report` of the demo's approved run, else its
latest, opened as a file); all of them when no name is given. The demo must have run. The sweep
(`nbmlops sweep demo`, SWEEP_ARGS) comes first, so the panel lists it: it runs its points, or
finds them finished, and writes its summary page, shown as a browser shows a file, scripts off (it
has none). The panel reruns the whole pipeline (forced) for the progress picture; that run is the
one the review pictures show.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab import JupyterLab, LabPage, launch_chromium  # noqa: E402
from lab_pipeline import PipelinePanel, StageForm  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from nbmlops.review.session import write_review_notebook  # noqa: E402

TABS = {"Summary": "summary", "Fairness": "fairness", "Explanations": "explain", "Drift": "drift"}


OUT = REPO / "docs" / "img"
SWEEP_ARGS = ["--grid", "train.model=logistic,gradient_boosting", "--grid", "train.seed=1..4",
              "--stage", "train", "--stage", "evaluate", "--name", "models"]  # fmt: skip


def _shot(page: LabPage, name: str, clip: dict[str, float] | None = None) -> None:
    page.page.wait_for_timeout(800)  # layout and fonts settle
    page.page.screenshot(path=str(OUT / name), clip=clip)
    print(f"wrote {OUT / name}")  # noqa: T201


@contextmanager
def _lab_page(width: int, height: int) -> Iterator[LabPage]:
    """JupyterLab on the repository, in Chromium at ``width`` x ``height``."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        JupyterLab(REPO, Path(scratch)) as lab,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        try:
            yield LabPage(browser.new_page(viewport={"width": width, "height": height}), lab)
        finally:
            browser.close()


def pipeline() -> None:
    """The Pipeline panel beside the train notebook, the Stage form, and a run in progress."""
    os.environ.setdefault("NBMLOPS_MLFLOW_UI", "http://127.0.0.1:5000")  # links, as `make lab`
    with _lab_page(1500, 950) as page:
        page.open("notebooks/train.ipynb")
        panel = PipelinePanel(page).show("notebooks")
        _shot(page, "pipeline-panel.png")
        sweeps = panel.root.locator("section.nbmlops-Sweeps")
        sweeps.scroll_into_view_if_needed()
        box = sweeps.bounding_box()
        pad = 8
        clip = {"x": box["x"] - pad, "y": box["y"] - pad,
                "width": box["width"] + 2 * pad, "height": box["height"] + 2 * pad}  # fmt: skip
        _shot(page, "pipeline-sweeps.png", clip)
        page.page.set_viewport_size({"width": 1500, "height": 1200})  # the whole form
        form = StageForm.open_from_toolbar(page)
        box = form.root.bounding_box()
        margin = 12
        _shot(
            page,
            "stage-form.png",
            {
                "x": box["x"] - margin,
                "y": box["y"] - margin,
                "width": box["width"] + 2 * margin,
                "height": box["height"] + 2 * margin,
            },
        )
        form.root.locator('button[data-action="cancel"]').click()
        page.page.set_viewport_size({"width": 1500, "height": 950})
        # a forced run of the whole pipeline (so the run record stays complete for the
        # review below): the panel's progress and log while it runs
        panel.root.locator('input[name="force"]').check()
        panel.run_pipeline()
        panel.wait_for_states({"train": "running"}, timeout=120_000)
        page.page.wait_for_timeout(3000)  # some log lines arrive
        _shot(page, "pipeline-running.png")
        if panel.wait_run_finished() != "succeeded":
            raise RuntimeError(f"the demo run failed: {panel.error().all_inner_texts()}")


def review() -> None:
    notebook = write_review_notebook(REPO, "latest")
    with _lab_page(1300, 1250) as page:
        page.open(str(notebook.relative_to(REPO)))
        page.command("application:toggle-left-area")
        page.run_all()
        widget = page.page.locator(".jupyter-widgets.widget-tab").first
        for title, name in TABS.items():
            page.tab(title).first.click()
            widget.evaluate("e => e.scrollIntoView()")
            page.page.wait_for_timeout(1500)  # images decode, layout settles
            box = widget.bounding_box()
            height = min(box["height"], 1250 - box["y"] - 30)  # what the panel shows
            clip = {"x": box["x"], "y": box["y"], "width": box["width"], "height": height}
            _shot(page, f"review-{name}.png", clip)


def sweep() -> None:
    """The demo's training grid (2 models x 4 seeds, train and evaluate per point) and its
    summary page: a heatmap of evaluate.auroc and the table of points (the page as a browser
    shows it, its wide table scrolled to the left)."""
    nbmlops = Path(sys.executable).parent / "nbmlops"
    subprocess.run([str(nbmlops), "sweep", "demo", *SWEEP_ARGS, "--metric", "evaluate.auroc"],
                   cwd=REPO, check=True)  # fmt: skip
    page = REPO / "build" / "demo" / "sweeps" / "models" / "summary.html"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(
                java_script_enabled=False, viewport={"width": 1100, "height": 800}
            )
            view = context.new_page()
            view.goto(page.as_uri())
            view.wait_for_timeout(500)
            view.screenshot(path=str(OUT / "sweep-summary.png"), full_page=True)
            print(f"wrote {OUT / 'sweep-summary.png'}")  # noqa: T201
        finally:
            browser.close()


def report() -> None:
    """The audit report of the demo's approved run (else its latest), written by `nbmlops report`
    and opened as a browser opens the file: its cover, and the top of the fairness view."""
    nbmlops = Path(sys.executable).parent / "nbmlops"
    approved = subprocess.run([str(nbmlops), "report", "approved", "--pipeline", "demo"],
                              cwd=REPO, check=False)  # fmt: skip
    if approved.returncode == 2:  # no approved run: the latest one, unreviewed
        subprocess.run([str(nbmlops), "report", "latest", "--pipeline", "demo"], cwd=REPO,
                       check=False)  # fmt: skip
    [page] = sorted((REPO / "reports").glob("*/report.html"), key=lambda p: p.stat().st_mtime)[-1:]
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(
                java_script_enabled=False, viewport={"width": 1000, "height": 900}
            )
            view = context.new_page()
            view.goto(page.as_uri())
            view.wait_for_timeout(500)
            cover = view.locator("#cover").bounding_box()
            assert cover is not None  # noqa: S101 - every report has a cover
            view.screenshot(
                path=str(OUT / "report-cover.png"),
                clip={"x": cover["x"] - 12, "y": 0, "width": cover["width"] + 24,
                      "height": cover["y"] + cover["height"] + 12},
            )  # fmt: skip
            fairness = view.locator("#review-fairness")
            box = fairness.bounding_box()
            assert box is not None  # noqa: S101 - the report always has the fairness block
            view.set_viewport_size({"width": 1000, "height": int(box["y"] + 1100)})
            view.screenshot(
                path=str(OUT / "report-fairness.png"),
                clip={"x": box["x"] - 10, "y": box["y"] - 10, "width": box["width"] + 20,
                      "height": min(box["height"], 1080)},
            )  # fmt: skip
            print(f"wrote {OUT / 'report-cover.png'}, {OUT / 'report-fairness.png'}")  # noqa: T201
        finally:
            browser.close()


def main(names: list[str]) -> None:
    steps = {"sweep": sweep, "pipeline": pipeline, "review": review, "report": report}
    unknown = sorted(set(names) - set(steps))
    if unknown:
        raise SystemExit(f"unknown screenshot(s) {unknown}; choose from {sorted(steps)}")
    for name, step in steps.items():
        if not names or name in names:
            step()


if __name__ == "__main__":
    main(sys.argv[1:])
