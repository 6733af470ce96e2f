"""The executed report notebook as one self-contained HTML file, and that file printed to PDF.

The HTML is assembled from the ``text/html`` outputs of the notebook's cells tagged
``report-section``, in order, inside a page of our own: no ``<script>`` (nbconvert's templates
carry require.js, MathJax and widget loaders), no stylesheet, font or image fetched from anywhere
(figures are ``data:`` URIs), and print CSS so it prints well: A4 margins, each numbered section
on a new page, tables that do not split a row, long digests wrapped. An output that holds a
``<script>`` anyway, or a URL a browser would load, is refused rather than shipped.

The PDF is printed by Debian's headless Chromium (``--print-to-pdf``) from the HTML file, offline.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path

from nbmlops._core.atomic import write_text_atomic
from nbmlops.errors import InvalidInputError, SetupError

__all__ = ["CHROMIUM", "PAGE_CSS", "export_html", "export_pdf"]

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (``make system-deps`` installs it), the browser the tests use too."""
PDF_TIMEOUT_S = 120

PAGE_CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt;
  color: #1b1b1b; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.9em; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.35em; border-bottom: 2px solid #444; padding-bottom: 0.15em; margin-top: 1.4em; }
h3 { font-size: 1.1em; margin: 1.1em 0 0.4em; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; word-break: break-all; }
table { border-collapse: collapse; margin: 0.4em 0 0.9em; font-size: 0.92em; max-width: 100%; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.45em; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
table.digests td:nth-child(4), table.pairs td, table.sbom td:nth-child(3) { word-break: break-all; }
thead th { background: #eee; }
table.pairs th { background: #f4f4f4; width: 14em; }
table.sbom { font-size: 0.78em; }
tr, figure, img, .signed, .decision, .alarm, .warning { break-inside: avoid; }
img, svg { max-width: 100%; height: auto; }
figure { margin: 0.6em 0; }
.subtitle { font-size: 1.1em; margin-top: 0; }
.alarm { border: 3px solid #b00020; background: #fdecee; color: #8a0016; padding: 0.5em 1em;
  margin: 0 0 1em; }
.alarm h2 { color: #b00020; border: none; margin: 0.2em 0; font-size: 1.5em; }
.alarm .first-failure { font-weight: bold; }
.missing { color: #8a0016; font-weight: bold; }
.warning { border: 2px solid #8a5a00; background: #fff6e5; padding: 0.2em 1em; margin: 0 0 1em; }
.decision { border: 2px solid #555; padding: 0.4em 1em; margin: 0.6em 0 1em; }
.decision.approved { border-color: #1e6b2e; background: #eef8f0; }
.decision.rejected, .decision.changes-requested { border-color: #8a5a00; background: #fff6e5; }
.decision .status { font-size: 1.25em; margin: 0.2em 0; }
.ok { color: #1e6b2e; }
.signed { margin-bottom: 1em; }
footer { margin-top: 2em; font-size: 0.85em; color: #555; }
@page { size: A4; margin: 16mm 14mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; }
  table { font-size: 8pt; }
  section.report-section:not(.cover) { break-before: page; }
  h2, h3 { break-after: avoid; }
  .alarm, .warning, .decision, thead th, .missing { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""

_SECTION_TAG = "report-section"
_SCRIPT = re.compile(r"<\s*script\b", re.IGNORECASE)
# what a browser would fetch by itself: src/href/srcset/poster/url() pointing at a scheme
_REMOTE = re.compile(
    r"""(?:\b(?:src|srcset|poster|data|background)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)"""
    r"""\s*(?:https?:|//|ftp:|file:)""",
    re.IGNORECASE,
)


def _sections(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    parts = []
    for cell in nb.get("cells", []):
        if _SECTION_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            body = (output.get("data") or {}).get("text/html")
            if body is not None:
                parts.append(body if isinstance(body, str) else "".join(body))
    return parts


def export_html(notebook: Path, target: Path) -> Path:
    """Write ``target``: the report's sections in one page that loads nothing and runs nothing.

    Raises
    ------
    InvalidInputError
        The notebook shows no section (it did not run), or a section holds a script or a
        reference a browser would load from elsewhere.
    """
    parts = _sections(notebook)
    if not parts:
        raise InvalidInputError(
            f"{notebook}: no output of a cell tagged '{_SECTION_TAG}'; was it executed?",
            argument="notebook",
        )
    body = "\n".join(parts)
    for pattern, what in ((_SCRIPT, "a <script>"), (_REMOTE, "a reference to load from elsewhere")):
        found = pattern.search(body)
        if found:
            context = html.unescape(body[max(found.start() - 40, 0) : found.end() + 40])
            raise InvalidInputError(
                f"{notebook}: a report section holds {what} ({context!r}); the report must be "
                "self-contained and run nothing",
                argument="notebook",
            )
    title = _title(notebook)
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>\n"
        f"{body}\n<footer>Written by <code>nbmlops report</code> from "
        f"<code>{html.escape(notebook.name)}</code>, an executed notebook beside this file, "
        "from the project's records alone.</footer>\n</body></html>\n"
    )
    write_text_atomic(target, page)
    return target


def _title(notebook: Path) -> str:
    return f"Audit report - run {notebook.parent.name}"


def export_pdf(html_file: Path, target: Path, *, chromium: Path = CHROMIUM) -> Path:
    """Print ``html_file`` to ``target`` with headless Chromium (offline, no profile kept).

    Raises
    ------
    SetupError
        Chromium is not installed, or did not print the file.
    """
    if not chromium.is_file():
        raise SetupError(
            f"{chromium} is missing, so no PDF can be printed: install Debian's chromium "
            "(`make system-deps`, or `apt-get install chromium`), or leave out --pdf"
        )
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbmlops-chromium-") as profile:
        argv = [
            str(chromium),
            "--headless",
            "--no-sandbox",  # root in containers; the page runs no script (CSP above)
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            html_file.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise SetupError(
                f"{chromium} did not print {html_file} within {PDF_TIMEOUT_S} s"
            ) from None
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SetupError(
            f"{chromium} could not print {html_file} (exit {done.returncode}): {' / '.join(tail)}"
        )
    partial.replace(target)
    return target
