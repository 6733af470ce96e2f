"""``nbmlops card`` and the model card an approval logs, on a project made here with ``nbmlops
init`` (its template) whose pipeline (a skops model, a saved fairness result) ran once through
the real command line: each test works on its own copy."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from clinical import nbmlops_cli, private_copy
from conftest import FIXTURES, REPO

from nbmlops.authoring.project_files import model_card_template
from nbmlops.report.card_file import REQUIRED_SECTIONS, read_model_card

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test credential
PIPELINE = "notebooks"  # `nbmlops run notebooks` names the pipeline after its folder

HOSTILE = (
    '<script>alert("card")</script> <img src=x onerror=alert(1)> '
    "![pixel](http://203.0.113.9/track.png) [click](javascript:alert(2)) | pipe"
)


def _ok(done: object) -> str:
    assert getattr(done, "returncode", None) == 0, f"{done.stdout}{done.stderr}"  # type: ignore[attr-defined]
    return str(done.stdout)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``nbmlops init`` (the lock copied first: no resolution), the review fixtures as the
    pipeline's stages, one run, a signer."""
    root = tmp_path_factory.mktemp("card") / "study"
    root.mkdir()
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    _ok(nbmlops_cli(root.parent, "init", root.name, "--nbmlops-source", str(REPO)))
    (root / "notebooks" / "example.ipynb").unlink()
    for name in ("review_model", "review_results"):
        shutil.copy(FIXTURES / f"{name}.ipynb", root / "notebooks" / f"{name}.ipynb")
    _ok(nbmlops_cli(root, "run", "notebooks"))
    [record] = (root / ".nbmlops" / "runs").glob("*.json")
    _ok(
        nbmlops_cli(
            root, "signer", "add", "jdoe", "--name", "Jane Doe", "--title", "Clinical QA",
            "--password-stdin", input=PASSWORD + "\n",
        )
    )  # fmt: skip
    return root, record.stem


@pytest.fixture
def project(ran: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, run_id = ran
    return private_copy(root, tmp_path / "study", run_id), run_id


def _card_path(root: Path) -> Path:
    return root / "pipelines" / PIPELINE / "model_card.md"


def _written_card(extra: str = "") -> str:
    text = model_card_template(PIPELINE)
    for name in REQUIRED_SECTIONS:
        start = text.index(f"## {name}\n")
        todo = text.index("TODO:", start)
        end = text.index("\n", todo)
        text = text[:todo] + f"Team text on {name.lower()}." + text[end:]
    return text + extra


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_init_writes_a_template_whose_sections_all_count_as_missing(
    ran: tuple[Path, str],
) -> None:
    root, _ = ran
    card = read_model_card(root, PIPELINE)
    assert card.exists and card.missing == REQUIRED_SECTIONS
    assert tuple(card.sections) == REQUIRED_SECTIONS  # every heading there, each a TODO
    assert "model_card.md" in (root / "README.md").read_text()


def test_card_of_the_template_flags_every_section_and_shows_the_records(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    out = _ok(nbmlops_cli(root, "card", "latest"))
    assert f"reports/{run_id}/model_card.md" in out and f"reports/{run_id}/model_card.html" in out
    assert "not written in pipelines/notebooks/model_card.md (7)" in " ".join(out.split())
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert markdown.count("**Not written.**") == len(REQUIRED_SECTIONS)
    assert "TODO:" not in markdown  # the placeholder is never shown as if it were the text
    # what the records say is there: the model, its metric, the data digests, the groups
    record = json.loads((root / ".nbmlops" / "runs" / f"{run_id}.json").read_text())
    model = next(s for s in record["stages"] if s["stage"] == "model")
    assert "sklearn.linear_model._logistic.LogisticRegression" in markdown
    assert model["product_digests"]["model"] in markdown
    assert f"| model | accuracy | {model['scraps']['accuracy']:.4g} | not recorded |" in markdown
    fairness = json.loads(Path(record["stages"][1]["products"]["fairness"]).read_text())
    for row in fairness["by_feature"]["payer"]["groups"]:
        low, high = row["metrics"]["selection_rate"]["ci"]
        assert f"| {row['group']['payer']} | {row['n']} | " in markdown
        assert f"[{low:.4g}, {high:.4g}]" in markdown
    html = (root / "reports" / run_id / "model_card.html").read_text()
    parsed = _parse(html)
    assert sum(1 for tag, _ in parsed.tags if tag == "blockquote") == len(REQUIRED_SECTIONS)
    assert [t for t, _ in parsed.tags if t == "h2"][:1] == ["h2"]


def test_a_written_card_is_used_as_written_and_hostile_text_stays_text(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    text = _written_card().replace(
        "Team text on intended use.", f"Team text on intended use. {HOSTILE}"
    )
    _card_path(root).write_text(text + f"\n## Contact\n\n{HOSTILE}\n")
    out = _ok(nbmlops_cli(root, "card", run_id[:12]))  # a unique prefix names the run
    assert "not written" not in out
    first = (root / "reports" / run_id / "model_card.md").read_bytes()
    _ok(nbmlops_cli(root, "card", run_id))
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert markdown.encode() == first  # the same records and card file: the same bytes
    assert "**Not written.**" not in markdown
    for name in REQUIRED_SECTIONS:
        assert f"Team text on {name.lower()}." in markdown
    assert "## Other notes from the card file: Contact" in markdown
    html = (root / "reports" / run_id / "model_card.html").read_text()
    parsed = _parse(html)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "img", "iframe", "object", "embed", "link"}
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert not any((attrs.get("href") or "").startswith("javascript:") for _, attrs in parsed.tags)
    assert not any("src" in attrs for _, attrs in parsed.tags)  # nothing is loaded
    loaded = [a for t, a in parsed.tags if t != "a" and "203.0.113.9" in str(a)]
    assert loaded == []  # the image is at most a link a reader may follow
    shown = "".join(parsed.text)
    assert '<script>alert("card")</script>' in shown  # shown as the text it is
    assert "default-src 'none'" in html


def test_missing_and_placeholder_sections_are_flagged_and_never_filled(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    text = _written_card()
    start, end = text.index("## Factors\n"), text.index("## Ethical considerations\n")
    text = text[:start] + text[end:]  # no Factors heading at all
    text = text.replace("Team text on intended users.", "TODO: who uses it?")
    _card_path(root).write_text(text)
    out = " ".join(_ok(nbmlops_cli(root, "card", "latest", "--pipeline", PIPELINE)).split())
    assert "not written in pipelines/notebooks/model_card.md (2): Intended users, Factors" in out
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert markdown.count("**Not written.**") == 2
    users = markdown[markdown.index("## Intended users") : markdown.index("## Out-of-scope")]
    assert "Not written" in users and "who uses it" not in users
    assert "Team text on out-of-scope uses." in markdown


def test_no_card_file_flags_every_section(project: tuple[Path, str]) -> None:
    root, run_id = project
    _card_path(root).unlink()
    out = " ".join(_ok(nbmlops_cli(root, "card", run_id)).split())
    assert "the model-card file pipelines/notebooks/model_card.md does not exist" in out
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert markdown.count("there is no such file") == len(REQUIRED_SECTIONS)
    assert "LogisticRegression" in markdown  # the records' part is still there


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("20200101T000000Z-000000",), "no recorded run '20200101T000000Z-000000'"),
        (("latest", "--pipeline", "other"), "no run of pipeline 'other' recorded yet"),
        (("../../../etc",), "no recorded run '../../../etc'"),
        (("approved",), "approved"),
    ],
    ids=["unknown-run", "unknown-pipeline", "path-like", "nothing-approved"],
)
def test_a_run_that_is_not_recorded_is_refused_and_nothing_written(
    project: tuple[Path, str], args: tuple[str, ...], said: str
) -> None:
    root, _ = project
    done = nbmlops_cli(root, "card", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in " ".join(done.stdout.split())
    assert not (root / "reports").exists()


def test_a_product_changed_after_the_run_is_shown_from_its_archive_or_named(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    record = json.loads((root / ".nbmlops" / "runs" / f"{run_id}.json").read_text())
    review = next(s for s in record["stages"] if s["stage"] == "review")
    fairness = Path(review["products"]["fairness"])
    recorded = json.loads(fairness.read_text())
    changed = json.loads(fairness.read_text())
    changed["by_feature"]["payer"]["groups"][0]["n"] = 99999
    fairness.write_text(json.dumps(changed))
    _ok(nbmlops_cli(root, "card", run_id))
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert "99999" not in markdown  # the archived copy, whose digest the run recorded
    first = recorded["by_feature"]["payer"]["groups"][0]
    assert f"| {first['group']['payer']} | {first['n']} |" in markdown
    archived = root / ".nbmlops" / "evidence" / review["product_digests"]["fairness"]
    archived.chmod(0o600)
    archived.unlink()
    _ok(nbmlops_cli(root, "card", run_id))
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert "99999" not in markdown
    assert "**Changed since the run (not shown):** `review.fairness`" in markdown


def test_an_approval_logs_the_card_with_the_model_version(project: tuple[Path, str]) -> None:
    from mlflow.tracking import MlflowClient

    root, run_id = project
    _card_path(root).write_text(_written_card())
    signed = _ok(
        nbmlops_cli(
            root, "review", run_id, "--decision", "approve", "--meaning", "Approved for the pilot",
            "--comment", "Gaps reviewed.", "--signer", "jdoe", "--password-stdin",
            input=PASSWORD + "\n",
        )
    )  # fmt: skip
    assert "MLflow model version 1" in signed and "model card logged with it" in signed
    markdown = root / "reports" / run_id / "model_card.md"
    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    version = client.get_model_version_by_alias(PIPELINE, "approved")
    assert version.tags["nbmlops.model_card"] == "model_card/model_card.md"
    import hashlib

    assert (
        version.tags["nbmlops.model_card.sha256"]
        == hashlib.sha256(markdown.read_bytes()).hexdigest()
    )
    logged = {a.path for a in client.list_artifacts(version.run_id, "model_card")}
    assert logged == {"model_card/model_card.md", "model_card/model_card.html"}
    copy = Path(client.download_artifacts(version.run_id, "model_card/model_card.md"))
    assert copy.read_bytes() == markdown.read_bytes()
    out = _ok(nbmlops_cli(root, "card", "approved"))  # now there is an approved run
    assert run_id in out


def test_the_demo_pipeline_has_a_complete_card() -> None:
    card = read_model_card(REPO, "demo")
    assert card.exists and card.missing == (), card.missing
    assert "adherence" in card.sections["Intended use"].lower()


def test_a_card_file_that_is_not_text_is_named_and_every_section_flagged(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    _card_path(root).write_bytes(b"## Intended use\n\n\xff\xfe\n")
    out = " ".join(_ok(nbmlops_cli(root, "card", run_id)).split())
    assert "pipelines/notebooks/model_card.md cannot be read: not UTF-8 text" in out
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert markdown.count("**Not written.**") == len(REQUIRED_SECTIONS)


def test_init_adds_a_card_template_to_each_compiled_pipeline_and_keeps_any_card(
    tmp_path: Path,
) -> None:
    root = tmp_path / "kept"
    (root / "notebooks").mkdir(parents=True)  # the team's own stages: no example, no template
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    for name in ("demo", "other"):
        (root / "pipelines" / name).mkdir(parents=True)
        (root / "pipelines" / name / "pipeline.yaml").write_text("tasks: []\n")
    (root / "pipelines" / "other" / "model_card.md").write_text("# Ours\n")
    out = _ok(nbmlops_cli(tmp_path, "init", root.name, "--nbmlops-source", str(REPO)))
    assert "wrote pipelines/demo/model_card.md" in " ".join(out.split())
    assert (root / "pipelines" / "other" / "model_card.md").read_text() == "# Ours\n"
    assert not (root / "pipelines" / "notebooks").exists()
    card = read_model_card(root, "demo")
    assert card.exists and card.missing == REQUIRED_SECTIONS
    before = (root / "pipelines" / "demo" / "model_card.md").read_bytes()
    again = _ok(nbmlops_cli(tmp_path, "init", root.name))
    assert "model_card.md" not in again
    assert (root / "pipelines" / "demo" / "model_card.md").read_bytes() == before


def test_the_review_notebook_hands_the_card_writer_to_its_session(
    project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review notebook's session signs with the card writer: an approval from the
    notebook's decision form logs the card as one from the command line does."""
    from mlflow.tracking import MlflowClient

    from nbmlops.review.session import write_review_notebook

    root, run_id = project
    notebook = json.loads(write_review_notebook(root, run_id).read_text())
    [cell] = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    monkeypatch.chdir(root)  # where JupyterLab runs the notebook's kernel
    namespace: dict[str, object] = {}
    exec(compile(cell, "review-notebook", "exec"), namespace)  # noqa: S102 - its own cell
    review = namespace["review"]
    signed = review.sign(  # type: ignore[attr-defined]
        "approve", meaning="Approved for the pilot", comment="ok", signer_id="jdoe",
        password=PASSWORD,
    )  # fmt: skip
    assert signed.model_version == "1" and not signed.not_recorded
    client = MlflowClient(f"sqlite:///{root / '.nbmlops' / 'mlflow.db'}")
    version = client.get_model_version(PIPELINE, "1")
    assert version.tags["nbmlops.model_card"] == "model_card/model_card.md"
    assert (root / "reports" / run_id / "model_card.html").is_file()


def test_hostile_names_in_the_records_stay_text_and_a_missing_model_is_said(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    path = root / ".nbmlops" / "runs" / f"{run_id}.json"
    record = json.loads(path.read_text())
    record["stages"][0]["scraps"]["<img src=x onerror=alert(1)>|`x`"] = 1.5
    record["stages"][0]["params"]["<script>p</script>"] = "</td><script>v</script>"
    path.write_text(json.dumps(record))
    _ok(nbmlops_cli(root, "card", run_id))
    html = (root / "reports" / run_id / "model_card.html").read_text()
    parsed = _parse(html)
    assert not {tag for tag, _ in parsed.tags} & {"script", "img"}
    shown = "".join(parsed.text)
    assert "<img src=x onerror=alert(1)>|`x`" in shown  # a metric's name, as text
    assert '"</td><script>v</script>"' in shown and "<script>p</script>" in shown
    out = _ok(nbmlops_cli(root, "card", run_id, "--model-product", "absent"))
    assert "model_card.md" in out
    markdown = (root / "reports" / run_id / "model_card.md").read_text()
    assert "The run recorded no model product." in markdown
    assert "LogisticRegression" not in markdown


def test_a_card_that_cannot_be_written_is_an_error_not_a_traceback(
    project: tuple[Path, str],
) -> None:
    root, run_id = project
    (root / "reports").write_text("a file where the reports folder goes\n")
    done = nbmlops_cli(root, "card", run_id)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: cannot write" in done.stdout and "Traceback" not in done.stderr
