"""Screenshots for the README, taken from the real thing: the demo project's review notebook run in
JupyterLab in headless Chromium (the browser-test harness of tests/lab.py).

    make demo && .venv/bin/python docs/screenshots.py

Writes docs/img/review-<tab>.png. The demo must have run (its latest run is the one reviewed).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab import JupyterLab, LabPage, launch_chromium  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from nbmlops.review.session import write_review_notebook  # noqa: E402

TABS = {"Summary": "summary", "Fairness": "fairness", "Explanations": "explain", "Drift": "drift"}


def main() -> None:
    notebook = write_review_notebook(REPO, "latest")
    out = REPO / "docs" / "img"
    with (
        tempfile.TemporaryDirectory() as scratch,
        JupyterLab(REPO, Path(scratch)) as lab,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1300, "height": 1250}), lab)
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
                page.page.screenshot(path=str(out / f"review-{name}.png"), clip=clip)
                print(f"wrote {out / f'review-{name}.png'}")  # noqa: T201
        finally:
            browser.close()


if __name__ == "__main__":
    main()
