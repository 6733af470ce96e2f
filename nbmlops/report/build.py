"""``nbmlops report``: the shipped report notebook executed by papermill for one recorded run,
then exported to one self-contained HTML file and, if asked, a PDF.

The report is itself a reproducible notebook: ``nbmlops/report/templates/report.ipynb``, whose
``parameters`` cell takes ``run_id`` and ``project_root``, runs through the one papermill caller
(:func:`nbmlops.run.kernel.run_notebook`) into ``reports/<run>/report.ipynb``. Its cells read the
records (:mod:`nbmlops.report.data`) and display each section as static HTML
(:mod:`nbmlops.report.sections`); :mod:`nbmlops.report.export` assembles those outputs into
``report.html`` and prints ``report.pdf`` with headless Chromium.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops._core.paths import REPORTS

__all__ = ["TEMPLATE", "ReportFiles", "build_report"]

TEMPLATE = Path(__file__).parent / "templates" / "report.ipynb"
"""The report notebook shipped in the package."""
SUMMARY_MIME = "application/vnd.nbmlops.report+json"
"""The output of the template's ``report-summary`` cell: what the cover says, as data."""


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    """What :func:`build_report` wrote, and what the cover says."""

    run_id: str
    notebook: Path
    html: Path
    pdf: Path | None
    summary: Mapping[str, Any] = field(default_factory=dict)
    """``status``, ``verification_ok``, ``verification_failures``, ``evidence_complete``,
    ``evidence_problems``, as the executed notebook computed them."""

    @property
    def verification_ok(self) -> bool:
        return bool(self.summary.get("verification_ok"))

    @property
    def evidence_complete(self) -> bool:
        return bool(self.summary.get("evidence_complete"))


def build_report(
    root: str | os.PathLike[str],
    run: str = "latest",
    *,
    pipeline: str | None = None,
    pdf: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Write the audit report of a recorded run into ``reports/<run>/``.

    Parameters
    ----------
    root : path
        The project folder.
    run : str
        A run id (or a unique prefix), ``"latest"`` or ``"approved"``.
    pipeline : str, optional
        Resolve ``run`` among this pipeline's runs only.
    pdf : bool
        Also print ``report.pdf`` with headless Chromium.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    ReportFiles

    Raises
    ------
    RecordedRunNotFoundError
        ``run`` names no recorded run.
    CellExecutionError
        A cell of the report notebook failed (its output is in the notebook, which is kept).
    SetupError
        Chromium is missing or failed to print (``pdf=True``).

    Examples
    --------
    >>> files = build_report(root, "approved", pdf=True)  # doctest: +SKIP
    >>> files.html.name, files.verification_ok  # doctest: +SKIP
    ('report.html', True)
    """
    from nbmlops.authoring.parameters_cell import read_parameters_cell
    from nbmlops.authoring.stage import StageSpec
    from nbmlops.report.export import export_html, export_pdf
    from nbmlops.report.runs import resolve_run
    from nbmlops.run.kernel import KernelPool, run_notebook

    say = progress or (lambda _line: None)
    project = Path(root).resolve()
    run_id = resolve_run(project, run, pipeline=pipeline)
    folder = project / REPORTS / run_id
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / "report.ipynb"
    for stale in ("report.html", "report.pdf"):  # never left beside a notebook that failed
        (folder / stale).unlink(missing_ok=True)
    say(f"run {run_id}: executing the report notebook (papermill) into {notebook}")
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    index, _ = read_parameters_cell(template, TEMPLATE)
    stage = StageSpec(name="report", path=TEMPLATE, parameters_cell=index)
    pool = KernelPool()
    try:
        run_notebook(
            stage,
            notebook,
            params={"run_id": run_id, "project_root": str(project)},
            products={},
            upstream={},
            pool=pool,
        )
    finally:
        pool.close()
    say(f"exporting {folder / 'report.html'} (one file, no script)")
    html = export_html(notebook, folder / "report.html")
    printed = None
    if pdf:
        say(f"printing {folder / 'report.pdf'} with headless Chromium")
        printed = export_pdf(html, folder / "report.pdf")
    return ReportFiles(
        run_id=run_id, notebook=notebook, html=html, pdf=printed, summary=_summary(notebook)
    )


def _summary(notebook: Path) -> dict[str, Any]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            found = (output.get("data") or {}).get(SUMMARY_MIME)
            if isinstance(found, dict):
                return found
    return {}
