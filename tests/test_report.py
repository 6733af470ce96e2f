"""``nbmlops report``: the audit report of a recorded run, through the real command line, on a
project made in the test (``signed_up_project``: a model stage and a review stage that saves a
fairness result, signer Jane Doe), read back as an auditor reads it: the HTML in Chromium, the
PDF's text (``pdftotext``), and the integrity cases - a run that does not exist, one never
reviewed, evidence deleted or changed, a tampered ledger.
"""

from __future__ import annotations

import html as html_text
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from clinical import nbmlops_cli, private_copy, signed_up_project, stage_notebook, write_notebook

from nbmlops.report.runs import resolve_run

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test signer's password
COVER = "<section class='report-section cover' id='cover'>"
MEANING = "I approve this model for the adherence outreach pilot"
CARD = """\
# Model card: refill model

## Model details
A logistic regression of stopped refilling on five clinical columns.

## Intended use
Rank patients for a **pharmacist's call** before a refill lapses.

## Intended users
Clinic pharmacists.

## Out-of-scope uses
Any decision about coverage or eligibility. <script>alert(1)</script>

## Factors
Sex and payer.

## Caveats and recommendations
TODO: say what the model cannot do
"""


def _cli(root: Path, *args: str, code: int = 0, stdin: str | None = None) -> str:
    done = nbmlops_cli(root, *args, input=stdin)
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A project with two runs: the first approved by Jane Doe, the second never reviewed."""
    root = tmp_path_factory.mktemp("report") / "study"
    approved = signed_up_project(root, PASSWORD)
    card = root / "pipelines" / "notebooks" / "model_card.md"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(CARD, encoding="utf-8")
    _cli(
        root, "review", approved, "--decision", "approve", "--meaning", MEANING,
        "--comment", "fairness gaps within what the pilot accepts", "--signer", "jdoe",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    # under git from here on, so that the second run can be reproduced at its commit
    (root / ".gitignore").write_text("/build/\n/.nbmlops/\n/reports/\n/reviews/\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "study"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip
    _cli(root, "run", "notebooks", "--param", "model.rows=2000")
    [unreviewed] = {p.stem for p in (root / ".nbmlops" / "runs").glob("*.json")} - {approved}
    _cli(root, "reproduce", unreviewed)
    return root, approved, unreviewed


def _pdf_text(path: Path) -> str:
    done = subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return re.sub(r"\s+", " ", done.stdout)


def test_the_approved_runs_report_is_an_executed_notebook_one_html_file_and_a_pdf(
    study: tuple[Path, str, str],
) -> None:
    root, approved, _ = study
    out = _cli(root, "report", "approved", "--pdf")
    folder = root / "reports" / approved
    assert f"wrote {folder / 'report.html'}" in out
    assert "decision status: approved" in out

    # the report is a notebook papermill ran with the run id as its parameter
    notebook = json.loads((folder / "report.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in notebook["cells"]]
    injected = [
        c for c, t in zip(notebook["cells"], tags, strict=True) if "injected-parameters" in t
    ]
    assert approved in "".join(injected[0]["source"])
    assert notebook["metadata"]["papermill"]["parameters"]["run_id"] == approved

    page = (folder / "report.html").read_text()
    assert "<script" not in page.lower()  # the card's own <script> is shown as text, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    for anchor in ("cover", "intended-use", "data", "pipeline", "performance", "decisions"):
        assert f"id='{anchor}'" in page
    assert "verification-failed" not in page and "evidence-incomplete" not in page

    text = _pdf_text(folder / "report.pdf")
    assert "Decision status: APPROVED" in text
    assert "Signed by Jane Doe, Clinical QA (jdoe)" in text
    assert MEANING in text
    assert "Ledger verification passed" in text
    # section 2: written sections shown, the placeholder one flagged and never filled in
    assert "pharmacist's call" in text
    assert re.search(r"Limitations \(caveats and recommendations\) MISSING", text)
    assert "Ethical considerations MISSING" in text
    # section 6: the manifestation and the evidence digest the signature is bound to
    [signed] = [
        e for e in map(json.loads, (root / ".nbmlops" / "ledger.jsonl").read_text().splitlines())
        if e["event"] == "review_signed"
    ]  # fmt: skip
    assert signed["data"]["evidence"]["digest"] in text.replace(" ", "")
    assert "Printed name Jane Doe" in text and "Title Clinical QA" in text


def test_the_html_report_opens_in_chromium_loading_nothing_from_anywhere(
    study: tuple[Path, str, str],
) -> None:
    from lab import launch_chromium
    from playwright.sync_api import sync_playwright

    root, approved, _ = study
    html = root / "reports" / approved / "report.html"
    if not html.is_file():
        _cli(root, "report", approved)
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(html.as_uri())
            assert page.locator("h1").first.inner_text() == "Audit report"
            status = page.locator("#cover .decision .status").inner_text()
            assert status.startswith("Decision status: APPROVED")
            fairness = page.locator("#review-fairness")
            assert fairness.locator("img").count() >= 1
            assert fairness.locator("img").first.evaluate("img => img.naturalWidth") > 0
            assert "equalized_odds_difference" in fairness.inner_text()
            assert page.locator("#pipeline svg").count() == 1
            assert page.evaluate("document.scripts.length") == 0
        finally:
            browser.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []


def test_a_run_never_reviewed_says_so(study: tuple[Path, str, str]) -> None:
    root, _, unreviewed = study
    out = _cli(root, "report", unreviewed[:20])  # a unique prefix of its id
    assert "decision status: unreviewed" in out
    page = (root / "reports" / unreviewed / "report.html").read_text()
    assert "Decision status: <strong>UNREVIEWED</strong>" in page
    assert "This run was never reviewed" in page
    assert "Never reviewed: no decision has been signed on this run." in page


def test_the_reproduction_check_is_section_seven(
    study: tuple[Path, str, str], tmp_path: Path
) -> None:
    from nbmlops.report.reproduce import latest_reproduction

    root, approved, unreviewed = study
    found = latest_reproduction(root, unreviewed)
    assert found is not None
    _cli(root, "report", unreviewed)
    page = (root / "reports" / unreviewed / "report.html").read_text()
    seven = page.split("<section class='report-section' id='reproduction'>", 1)[1]
    assert f"<th>Verdict</th><td>{found.verdict}</td>" in seven
    assert f"matches its run_reproduced ledger entry (seq {found.ledger_seq})" in seven
    assert f"<td>{found.new_run_id}</td>" in seven
    for row in found.rows:
        assert f"<td>{row.stage}</td><td>{row.product}</td><td>{row.recorded_digest}</td>" in seven
    assert "id='verification-failed'" not in page  # the run_reproduced entry verifies
    # a reproduction file edited afterwards is shown with the ledger's disagreement, on the cover
    copy = private_copy(root, tmp_path / "copy", unreviewed)
    [kept] = (copy / ".nbmlops" / "reproductions" / unreviewed).glob("*.json")
    edited = json.loads(kept.read_text())
    edited["rows"][0]["verdict"] = (
        "different" if found.rows[0].verdict != "different" else "identical"
    )
    kept.chmod(0o644)
    kept.write_text(json.dumps(edited))
    _cli(copy, "report", unreviewed)
    tampered = (copy / "reports" / unreviewed / "report.html").read_text()
    assert "NOT what the ledger recorded" in tampered
    assert "id='evidence-notes'" in tampered.split("<h1>", 1)[0]  # on the cover, before the title
    approved_page = root / "reports" / approved / "report.html"
    if approved_page.is_file():  # never reproduced: section 7 says so
        assert "No reproduction of this run has been recorded" in approved_page.read_text()


def test_a_pipeline_without_review_declared_input_rows_and_no_model(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "data").mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "uv.lock", root / "uv.lock")
    (root / "data" / "raw.csv").write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(37)))
    code = (
        "import json, pandas as pd\n"
        "from nbmlops.records.scraps import record\n"
        "df = pd.read_csv(inputs['raw'])\n"
        "json.dump({'mean': float(df.y.mean())}, open(product['summary'], 'w'))\n"
        "record('mean_y', float(df.y.mean()))\n"
    )
    write_notebook(
        root / "flow" / "summarise.ipynb",
        stage_notebook("summarise", code, products={"summary": "summary.json"},
                       inputs={"raw": "data/raw.csv"}),
    )  # fmt: skip
    _cli(root, "run", "flow")
    out = _cli(root, "report", "latest", "--pipeline", "flow")
    assert "decision status: unreviewed" in out
    [page] = (root / "reports").glob("*/report.html")
    text = page.read_text()
    assert "<td>summarise</td><td>raw</td><td>data/raw.csv</td>" in text
    assert re.search(r"<td>[0-9a-f]{64}</td><td>37</td>", text)  # the recorded bytes, counted
    assert "<td>mean_y</td><td>0.4865</td>" in text
    assert "no product named &#x27;model&#x27;" in text
    for kind in ("fairness", "explain", "drift"):
        assert f"The review stage saved no <code>{kind}</code> result" in text
    (root / "data" / "raw.csv").write_text("a,y\n1,1\n")  # the input changed since the run
    _cli(root, "report", "latest")
    assert "not counted: the file changed since the run" in page.read_text()


def test_a_run_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'empty'\nversion = '0'\n")
    out = _cli(root, "report", "20990101T000000Z-ffffff", code=2)
    assert "no recorded run '20990101T000000Z-ffffff'" in out
    assert "no recorded run 'approved'" in _cli(root, "report", "approved", code=2)
    assert not (root / "reports").exists()


def test_run_names_resolve_once_for_every_command(study: tuple[Path, str, str]) -> None:
    from nbmlops.errors import RecordedRunNotFoundError

    root, approved, unreviewed = study
    assert resolve_run(root, "latest") == unreviewed
    assert resolve_run(root, "approved") == approved
    assert resolve_run(root, "approved", pipeline="notebooks") == approved
    assert resolve_run(root, approved[:-2]) == approved
    with pytest.raises(RecordedRunNotFoundError) as no_pipeline:
        resolve_run(root, "latest", pipeline="elsewhere")
    assert no_pipeline.value.run == "latest"
    with pytest.raises(RecordedRunNotFoundError) as ambiguous:
        resolve_run(root, "20")  # both runs' ids start with the year
    assert ambiguous.value.reason is not None and "matches 2 runs" in ambiguous.value.reason


@pytest.mark.parametrize("damage", ["deleted", "changed"])
def test_evidence_deleted_or_changed_is_named_and_marks_the_report_incomplete(
    study: tuple[Path, str, str], tmp_path: Path, damage: str
) -> None:
    root, _, unreviewed = study
    copy = private_copy(root, tmp_path / "copy", unreviewed)
    record = json.loads((copy / ".nbmlops" / "runs" / f"{unreviewed}.json").read_text())
    [review] = [s for s in record["stages"] if s["stage"] == "review"]
    built = Path(review["products"]["fairness"])
    archived = copy / ".nbmlops" / "evidence" / review["product_digests"]["fairness"]
    for path in (built, archived):
        path.chmod(0o644)
        if damage == "deleted":
            path.unlink()
        else:
            path.write_text(path.read_text().replace('"threshold"', '"thresh0ld"'))
    out = _cli(copy, "report", unreviewed, code=1)
    assert "evidence incomplete: review.fairness:" in out
    page = (copy / "reports" / unreviewed / "report.html").read_text()
    body = page.split("<body>", 1)[1]
    assert body.lstrip().startswith(f"{COVER}<div class='alarm' id='evidence-incomplete'>")
    assert "Evidence incomplete" in page and "EVIDENCE INCOMPLETE" in page
    expected = "was deleted" if damage == "deleted" else "was changed"
    assert re.search(rf"review\.fairness: [^<]*{expected}", page)
    fairness = page.split("id='review-fairness'>", 1)[1].split("</div>", 1)[0]
    assert re.search(rf"Not shown: review\.fairness: [^<]*{expected}", fairness)  # never as if
    # private_copy rewrote the run record (its paths): said, and the archived record is the run's
    assert "differs from the run record archived when the run finished" in page


def test_a_tampered_ledger_puts_verification_failed_first_in_red_naming_the_entry(
    study: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, approved, _ = study
    copy = private_copy(root, tmp_path / "copy", approved)
    ledger = copy / ".nbmlops" / "ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    [seq] = [
        i for i, line in enumerate(lines)
        if json.loads(line)["event"] == "stage_finished" and '"stage":"model"' in line
        and json.loads(line)["run_id"] == approved
    ]  # fmt: skip
    lines[seq] = lines[seq].replace('"status":"succeeded"', '"status":"failed"')
    ledger.write_text("".join(lines))
    out = _cli(copy, "report", approved, "--pdf", code=1)
    assert "verification FAILED" in out
    html = copy / "reports" / approved / "report.html"
    body = html.read_text().split("<body>", 1)[1]
    assert body.lstrip().startswith(f"{COVER}<div class='alarm' id='verification-failed'>")
    first = re.search(r"<p class='first-failure'>(.*?)</p>", body)
    assert first is not None
    named = f"ledger line {seq + 1} (entry seq {seq}, event 'stage_finished' of run {approved})"
    assert named in html_text.unescape(first.group(1))
    # the decision after the bad line is still shown, and said to be unverified
    assert "APPROVED</strong> (after the ledger&#x27;s first bad line: NOT verified)" in body
    text = _pdf_text(copy / "reports" / approved / "report.pdf")
    assert text.index("Ledger verification FAILED") < text.index("Audit report")
    assert f"First bad entry: ledger line {seq + 1} (entry seq {seq}" in text

    from lab import launch_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(html.as_uri())
            alarm = page.locator("#verification-failed")
            box = alarm.bounding_box()
            assert box is not None and box["y"] < 60  # the first thing on the page
            colour = alarm.locator("h2").evaluate("h => getComputedStyle(h).color")
            assert colour == "rgb(176, 0, 32)"  # #b00020
        finally:
            browser.close()


def test_the_report_template_is_package_data_with_a_parameters_cell() -> None:
    from nbmlops.report.build import TEMPLATE

    notebook = json.loads(TEMPLATE.read_text())
    [parameters] = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert "run_id = " in "".join(parameters["source"])
    assert "project_root = " in "".join(parameters["source"])
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
    assert shutil.which("pdftotext") is not None  # `make system-deps` installs poppler-utils
