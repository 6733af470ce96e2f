"""The pieces a report and a model card are built from: the model-card file, the DAG picture and
the software bill of materials of a run's lock."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nbmlops.report.card_file import REQUIRED_SECTIONS, read_model_card
from nbmlops.report.dag import dag_svg
from nbmlops.report.sbom import sbom_for_run

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


def _card(root: Path, text: str | bytes, pipeline: str = "demo") -> Path:
    path = root / "pipelines" / pipeline / "model_card.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _full_card() -> str:
    body = "\n\n".join(
        f"## {name}\n\nWritten text for {name.lower()}." for name in REQUIRED_SECTIONS
    )
    return f"# Model card\n\n{body}\n"


def test_a_written_card_has_every_section_and_its_digest(tmp_path: Path) -> None:
    path = _card(tmp_path, _full_card())
    card = read_model_card(tmp_path, "demo")
    assert card.exists and card.complete and card.missing == ()
    assert card.path == path
    assert card.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card.sections["Intended use"] == "Written text for intended use."
    assert card.section("Factors") == "Written text for factors."


def test_missing_file_means_every_section_missing(tmp_path: Path) -> None:
    card = read_model_card(tmp_path, "demo")
    assert not card.exists and card.digest is None
    assert card.missing == REQUIRED_SECTIONS
    assert card.section("Intended use") is None


@pytest.mark.parametrize(
    "body",
    [
        "",  # empty
        "<!-- Who may use it, for what decisions. -->\n",  # guidance only
        "TODO: say who uses the model.\n",  # the template's placeholder
        "Some text.\n\n  TODO: finish this.\n",  # half written
    ],
)
def test_empty_or_placeholder_sections_count_as_missing(tmp_path: Path, body: str) -> None:
    text = _full_card().replace("Written text for intended users.", body)
    _card(tmp_path, text)
    card = read_model_card(tmp_path, "demo")
    assert card.missing == ("Intended users",)
    assert card.section("Intended users") is None


def test_absent_sections_aliases_and_fenced_headings(tmp_path: Path) -> None:
    text = (
        "# Card\n\n## Model details\n\nA model.\n\n```markdown\n## Factors\nnot a heading\n```\n\n"
        "## Limitations\n\nSmall sample.\n\n## Extra notes\n\nKept.\n"
    )
    _card(tmp_path, text)
    card = read_model_card(tmp_path, "demo")
    assert card.sections["Caveats and recommendations"] == "Small sample."
    assert card.sections["Extra notes"] == "Kept."
    assert "## Factors" in card.sections["Model details"]
    assert card.missing == tuple(
        n for n in REQUIRED_SECTIONS if n not in ("Model details", "Caveats and recommendations")
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"## Intended use\n\n\xff\xfe broken\n", "not UTF-8"),
        (b"## Intended use\n\n" + b"x" * (1 << 20), "too large"),
        (None, "directory"),
    ],
    ids=["not-utf8", "too-large", "a-folder"],
)
def test_unreadable_card_is_reported_not_raised(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    if content is None:
        (tmp_path / "pipelines" / "demo" / "model_card.md").mkdir(parents=True)
    else:
        _card(tmp_path, content)
    card = read_model_card(tmp_path, "demo")
    assert card.exists is False and card.problem and said in card.problem
    assert card.missing == REQUIRED_SECTIONS and card.digest is None


@pytest.mark.parametrize("name", ["../outside", "..", "", "a/b", ".hidden"])
def test_a_pipeline_name_that_is_a_path_reads_no_file(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "model_card.md").write_text(_full_card())
    card = read_model_card(tmp_path / "project", name)
    assert not card.exists and card.problem == "names no pipeline folder"
    assert card.missing == REQUIRED_SECTIONS


HOSTILE = '<script>alert("x")</script>&"\''


def _record(status: str = "succeeded") -> dict[str, object]:
    return {
        "run_id": "20261203T170000Z-abc",
        "pipeline": "demo",
        "stages": [
            {"stage": "load", "status": "succeeded", "inputs": {"source": "1"}},
            {"stage": HOSTILE, "status": status, "inputs": {"upstream:load.data": "2"}},
            {"stage": "evaluate", "status": "not_run",
             "inputs": {"upstream:load.data": "3", f"upstream:{HOSTILE}.model": "4"}},
        ],
    }  # fmt: skip


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 -- our own output, parsed to check it


def test_dag_svg_is_static_escaped_and_layered() -> None:
    svg = dag_svg(_record("failed"))
    root = _parse(svg)  # well-formed XML, so a name cannot close a tag
    assert root.tag == f"{SVG}svg"
    assert "<script" not in svg and "href" not in svg.replace("url(#nbmlops-dag-arrow)", "")
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "load" in labels and "evaluate" in labels
    assert any(label and label.startswith("<script>") for label in labels)  # drawn as text
    groups = {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g")}  # type: ignore[union-attr]
    statuses = {g.get("data-status") for g in groups.values()}
    assert statuses == {"succeeded", "failed", "not_run"}
    x = {label: float(t.get("x", 0)) for t in root.iter(f"{SVG}text") if (label := t.text)}
    assert x["load"] < x["evaluate"]  # evaluate is two layers after load
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(edges) == 3
    assert sum(" C " in (p.get("d") or "") for p in edges) == 1  # load -> evaluate skips a layer


def test_dag_svg_of_a_pipeline_spec(make_project) -> None:  # type: ignore[no-untyped-def]
    from nbmlops.authoring.pipeline import discover

    project = make_project("load", "double")
    spec = discover(project / "notebooks", root=project)
    root = _parse(dag_svg(spec))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert labels == ["load", "double"]
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]) == 1


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _locked_project(root: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return hashlib.sha256((root / "uv.lock").read_bytes()).hexdigest()


def test_sbom_of_the_current_lock(tmp_path: Path) -> None:
    digest = _locked_project(tmp_path)
    bill = sbom_for_run(tmp_path, {"lock_digest": digest, "provenance": {"git_commit": None}})
    assert bill.available, bill.reason
    assert bill.source == "uv.lock" and bill.document is not None
    assert bill.document["specVersion"] == "1.5"
    names = {c.name: c for c in bill.components}
    lock = (tmp_path / "uv.lock").read_text("utf-8")
    version = lock.split('name = "skops"\nversion = "', 1)[1].split('"', 1)[0]
    assert names["skops"].version == version
    assert names["skops"].purl == f"pkg:pypi/skops@{version}"


def test_sbom_from_the_runs_commit_when_the_lock_changed(tmp_path: Path) -> None:
    digest = _locked_project(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "uv.lock", "pyproject.toml")
    _git(tmp_path, "commit", "-q", "-m", "locked")
    commit = _git(tmp_path, "rev-parse", "HEAD")
    with (tmp_path / "uv.lock").open("a", encoding="utf-8") as lock:
        lock.write("\n# changed after the run\n")
    record = {"lock_digest": digest, "provenance": {"git_commit": commit}}
    bill = sbom_for_run(tmp_path, record)
    assert bill.available, bill.reason
    assert bill.source == f"git show {commit[:12]}:uv.lock"
    assert any(c.name == "mlflow" for c in bill.components)


def test_no_sbom_when_no_lock_has_the_runs_digest(tmp_path: Path) -> None:
    _locked_project(tmp_path)
    record = {"lock_digest": "0" * 64, "provenance": {"git_commit": None}}
    bill = sbom_for_run(tmp_path, record)
    assert not bill.available and bill.components == ()
    assert bill.reason and "0" * 12 in bill.reason
    assert not sbom_for_run(tmp_path, {"lock_digest": None}).available
    with pytest.raises(ValueError):
        bill.to_json()
