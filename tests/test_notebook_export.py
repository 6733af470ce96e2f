"""What an auditor's ``jupyter nbconvert --to html`` makes of a notebook nbmlops executed.

A project made in the test (cohort -> model -> review) runs through the real command line; its
review stage shows a fairness result (tables and plots, and a live widget in the kernel) and a
plain ipywidgets slider. nbconvert itself then exports the executed notebook, as anyone would by
hand: the static views are there with no script to fetch.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from clinical import clinical_project, nbmlops_cli, stage_notebook, write_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

REVIEW_CODE = """\
import pandas as pd
from skops.io import load

from nbmlops.review import fairness

cohort = pd.read_parquet(upstream["cohort"]["cohort"])
features = ["prior_pdc", "refill_gap_days", "monthly_copay", "n_medications", "age"]
model = load(upstream["model"]["model"], trusted=[])
result = fairness(
    y_true=cohort["stopped_refilling"],
    y_score=model.predict_proba(cohort[features])[:, 1],
    sensitive_features=cohort[["sex"]],
    n_bootstrap=20,
)
result.to_json(product["fairness"])
result
"""

SLIDER_CODE = """\
import ipywidgets

ipywidgets.IntSlider(value=7, description="threshold")
"""


@pytest.fixture(scope="module")
def executed_review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The executed review notebook of a three-stage project run with ``nbmlops run``."""
    root = clinical_project(tmp_path_factory.mktemp("export") / "project")
    write_notebook(
        root / "analysis" / "review.ipynb",
        stage_notebook(
            "review",
            [REVIEW_CODE, SLIDER_CODE],
            upstream=["cohort", "model"],
            products={"fairness": "fairness.json"},
        ),
    )
    ran = nbmlops_cli(root, "run", "analysis")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [executed] = (root / "build").glob("*/review/review.ipynb")
    return executed


def test_the_executed_notebook_keeps_no_widget_state_and_shows_its_static_views(
    executed_review: Path,
) -> None:
    nb = json.loads(executed_review.read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"]
    fairness, slider = (cell["outputs"][-1]["data"] for cell in nb["cells"][-2:])
    html, text = "".join(fairness["text/html"]), "".join(slider["text/plain"])
    # the widget views are gone, their models with the kernel; the static forms stay
    assert WIDGET_VIEW not in fairness
    assert "data:image/png;base64," in html
    assert WIDGET_VIEW not in slider
    assert "IntSlider" in text


def test_plain_nbconvert_exports_the_static_views_with_no_script(
    executed_review: Path, tmp_path: Path
) -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    subprocess.run(
        [str(jupyter), "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
         str(executed_review)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    html = (tmp_path / "review.html").read_text(encoding="utf-8")
    # the fairness view's tables and its plots (the group alone), inline
    assert "<th>false positive rate</th>" in html
    assert len(re.findall(r"<img[^>]*src=.data:image/png;base64,", html)) >= 1
    # no widget drawn by JavaScript: no widget view, no widget state, no widget manager script
    assert WIDGET_VIEW not in html
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "html-manager" not in html
    assert "unpkg.com" not in html
    assert "IntSlider" in html  # an ordinary widget shows as its text
