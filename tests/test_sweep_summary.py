"""A sweep's summary page (``build/<pipeline>/sweeps/<sweep>/summary.html``) through the real CLI.

Real kernels on the clinical project of ``tests/test_sweep.py`` (a shared ``cohort`` stage that
de-identifies an extract of synthetic patients, a ``model`` stage recording ``auroc``; ``C=-1``
makes a point fail), the project's own SQLite MLflow store. The page is checked as a browser
without scripts would take it: its plot is inline SVG whose labels are text, its table a row per
point.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.clinical import nbmlops_cli
from tests.test_sweep import _out, _points, _project

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


class _Page(HTMLParser):
    """What a browser would build: elements (and their attributes), the plot's SVG text labels,
    the table's body rows as lists of cell texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.labels: list[str] = []
        self.rows: list[list[str]] = []
        self._stack: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._stack.append(tag)
        if tag == "tr" and "tbody" in self._stack:
            self.rows.append([])
        if tag == "td" and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "text" and "svg" in self._stack:
            self.labels.append(data)
        elif "td" in self._stack and "tbody" in self._stack and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data

    def kind(self) -> str | None:
        return next((a.get("data-kind") for t, a in self.tags if t == "figure"), None)


def _summary(root: Path, sweep: str) -> tuple[str, _Page]:
    text = (root / "build" / "analysis" / "sweeps" / sweep / "summary.html").read_text()
    return text, _Page(text)


def _offline_and_inert(page: _Page, text: str) -> None:
    """Nothing runs and nothing is fetched: no script, no handler, no external reference."""
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "link",
                                                 "img")]  # fmt: skip
    for _, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")], attrs
        for key in ("src", "href", "xlink:href"):
            assert not re.match(r"\s*(https?:|//|javascript:)", attrs.get(key) or ""), attrs
    assert "@import" not in text and "url(http" not in text


def test_one_parameter_a_line_every_point_in_the_table_and_the_page_on_the_sweep_run(
    tmp_path: Path,
) -> None:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "study")
    done = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.C=2,-1,0.5", "--name", "c",
                       "--workers", "2")  # fmt: skip
    assert done.returncode == 1, _out(done)  # one point failed
    assert "summary: build/analysis/sweeps/c/summary.html (plot of model.auroc)" in done.stdout
    text, page = _summary(root, "c")
    assert page.kind() == "line"
    assert {"model.C", "model.auroc", "failed (no value)"} <= set(page.labels)
    assert {"-1", "0.5", "2"} <= set(page.labels)  # the swept values on the x axis
    assert "the default: the first numeric metric" in text
    points = _points(root, "c")
    assert len(page.rows) == 3
    by_point = {row[1]: row for row in page.rows}
    assert set(by_point) == set(points)
    for pid, point in points.items():
        row = by_point[pid]
        c = point["overrides"]["model"]["C"]
        assert row[2] == f"{c:.6g}"
        if c < 0:
            assert row[3] == "failed (CellExecutionError)" and row[5] == "\u2013"
        else:
            assert row[3] == "succeeded"
            assert float(row[5].split()[0]) == pytest.approx(point["metrics"]["model.auroc"],
                                                             rel=1e-3)  # fmt: skip
    _offline_and_inert(page, text)

    # the registered identifiers (names, MRNs, SSNs, phones of the extract) appear nowhere
    extract = pd.read_parquet(root / "data" / "extract.parquet")
    for column in ("patient_name", "mrn", "ssn", "phone", "email"):
        leaked = [v for v in extract[column].astype(str) if v in text]
        assert not leaked, (column, leaked[:3])

    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name.endswith("analysis")]
    [sweep_run] = client.search_runs(
        [experiment.experiment_id], "tags.`nbmlops.kind` = 'sweep'", max_results=10
    )
    assert "summary.html" in [a.path for a in client.list_artifacts(sweep_run.info.run_id)]
    logged = client.download_artifacts(sweep_run.info.run_id, "summary.html", str(tmp_path))
    assert Path(logged).read_text() == text

    unknown = nbmlops_cli(root, "sweep", "results", "c", "--metric", "model.nope")
    assert unknown.returncode == 2, _out(unknown)
    assert "no metric 'model.nope'" in unknown.stdout and "model.auroc" in unknown.stdout
    elsewhere = tmp_path / "page.html"
    again = nbmlops_cli(root, "sweep", "results", "c", "--html", str(elsewhere),
                        "--metric", "model.auroc")  # fmt: skip
    assert again.returncode == 0, _out(again)
    written = _Page(elsewhere.read_text())
    assert written.kind() == "line" and len(written.rows) == 3
    assert "chosen with <code>--metric</code>" in elsewhere.read_text()


def test_two_parameters_a_heatmap_with_hostile_values_escaped(tmp_path: Path) -> None:
    root = _project(tmp_path / "study")
    done = nbmlops_cli(
        root, "sweep", "analysis", "--grid", "model.C=0.5,2", "--grid",
        f"model.hold={','.join(HOSTILE)}", "--name", "h", "--workers", "2", "--no-tracking",
        "--metric", "model.auroc",
    )  # fmt: skip
    assert done.returncode == 0, _out(done)
    text, page = _summary(root, "h")
    assert page.kind() == "heatmap"
    assert {"model.C", "model.hold", "model.auroc", *HOSTILE} <= set(page.labels)
    assert "chosen with <code>--metric</code>" in text
    assert len(page.rows) == 4
    assert sorted(row[3] for row in page.rows) == sorted(HOSTILE * 2)  # as text, not markup
    assert {row[4] for row in page.rows} == {"succeeded"}
    _offline_and_inert(page, text)
    for hostile in HOSTILE:
        assert hostile not in text  # only its escaped form
    _shown_in_jupyterlab(root, tmp_path, "build/analysis/sweeps/h/summary.html", rows=4)


def _shown_in_jupyterlab(root: Path, scratch: Path, path: str, *, rows: int) -> None:
    """JupyterLab's HTML viewer (an iframe without scripts, as for any untrusted HTML) shows the
    plot and the table: the SVG with its labels, a row per point, no element from a value."""
    from playwright.sync_api import sync_playwright

    from tests.lab import JupyterLab, launch_chromium

    (scratch / "lab").mkdir()
    with JupyterLab(root, scratch / "lab") as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            view = browser.new_page(viewport={"width": 1300, "height": 900})
            view.goto(f"{lab.url}/lab/tree/{path}?token={lab.token}")
            element = view.wait_for_selector(".jp-HTMLViewer iframe", timeout=60_000)
            assert "allow-scripts" not in (element.get_attribute("sandbox") or "")
            frame = element.content_frame()
            frame.wait_for_selector("figure svg text", timeout=30_000)
            labels = frame.locator("figure svg text").all_text_contents()
            assert {"model.C", "model.hold", *HOSTILE} <= set(labels)
            assert frame.locator("tbody tr").count() == rows
            assert frame.locator("img, script").count() == 0
            assert frame.locator("figure svg").bounding_box()["width"] > 300  # drawn, not empty
        finally:
            browser.close()


def test_three_parameters_parallel_coordinates_and_an_unknown_metric_said_at_the_end(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path / "study")
    folder = root / "pipelines" / "analysis" / "sweeps"
    folder.mkdir(parents=True)
    (folder / "three.yaml").write_text(
        "points:\n"
        "  - {model.C: 0.5, model.seed: 1, model.hold_seed: -1}\n"
        "  - {model.C: 2.0, model.seed: 2, model.hold_seed: -2}\n"
        "  - {model.C: -1.0, model.seed: 3, model.hold_seed: -3}\n"
    )
    done = nbmlops_cli(root, "sweep", "analysis", "--name", "three", "--workers", "2",
                       "--no-tracking", "--metric", "model.nope")  # fmt: skip
    assert done.returncode == 1, _out(done)
    assert "no metric 'model.nope'" in done.stdout and "model.auroc" in done.stdout
    text, page = _summary(root, "three")  # written all the same, with the default metric
    assert "no metric &#x27;model.nope&#x27;" in text and "The default is shown." in text
    assert page.kind() == "parallel"
    assert {"model.C", "model.seed", "model.hold_seed", "model.auroc"} <= set(page.labels)
    assert "failed" in page.labels  # the failed point's line says so
    assert sorted(row[5] for row in page.rows) == [
        "failed (CellExecutionError)", "succeeded", "succeeded"
    ]  # fmt: skip
    _offline_and_inert(page, text)


def test_the_page_missed_by_a_tracking_store_that_was_down_is_logged_by_replay(
    tmp_path: Path,
) -> None:
    import socket

    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "study")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    done = nbmlops_cli(root, "sweep", "analysis", "--grid", "model.seed=1", "--name", "down",
                       env=down)  # fmt: skip
    assert done.returncode == 0, _out(done)
    assert "MLflow: not recorded" in done.stdout
    text, page = _summary(root, "down")  # on disk all the same
    assert page.kind() == "line"
    replayed = nbmlops_cli(root, "sweep", "replay", "down")
    assert replayed.returncode == 0, _out(replayed)
    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name.endswith("analysis")]
    [sweep_run] = client.search_runs(
        [experiment.experiment_id], "tags.`nbmlops.kind` = 'sweep'", max_results=10
    )
    logged = client.download_artifacts(sweep_run.info.run_id, "summary.html", str(tmp_path))
    assert Path(logged).read_text() == text
