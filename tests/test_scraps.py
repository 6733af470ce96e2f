"""nbmlops.records.scraps against scrapbook 0.5 itself: the same wire format, in a real kernel.

The two fixture notebooks record the same values, one with ``record`` and one with
``scrapbook.glue`` (plus what only glue can write: a DataFrame, a display scrap). Each runs once
per module through papermill on the ``python3`` kernel; scrapbook and papermill are imported inside
fixtures so that collecting the test suite does not pay ~5 s for them.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nbmlops.errors import InvalidInputError, MalformedNotebookError, NotebookError
from nbmlops.records.scraps import (
    Scraps,
    _display_bundle,
    numeric_scraps,
    other_scraps,
    read_scraps,
    record,
    split_scraps,
)

NOTEBOOKS = Path(__file__).parent / "notebooks"
JSON_MIMETYPE = "application/scrapbook.scrap.json+json"


# -- fixtures -------------------------------------------------------------------------------------


def _execute(name: str, out_dir: Path) -> Path:
    import papermill

    out = out_dir / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out), kernel_name="python3", progress_bar=False
    )
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scraps_record.ipynb, executed: scraps written by nbmlops' record()."""
    return _execute("scraps_record.ipynb", tmp_path_factory.mktemp("record"))


@pytest.fixture(scope="module")
def glued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scraps_glue.ipynb, executed: scraps written by scrapbook.glue()."""
    return _execute("scraps_glue.ipynb", tmp_path_factory.mktemp("glue"))


@pytest.fixture(scope="module")
def scrapbook_data() -> Iterator[Callable[[Path], dict[str, Any]]]:
    """Scrap name -> data as scrapbook's own reader sees it."""
    import scrapbook

    yield lambda path: {
        name: s.data for name, s in scrapbook.read_notebook(str(path)).scraps.items()
    }


def _scrap_outputs(path: Path, name: str) -> list[dict[str, Any]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        output
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
        if output.get("metadata", {}).get("scrapbook", {}).get("name") == name
    ]


# -- record() in a real kernel --------------------------------------------------------------------


def test_scrapbook_reads_what_record_wrote(
    recorded: Path, scrapbook_data: Callable[[Path], dict[str, Any]]
) -> None:
    scraps = read_scraps(recorded)

    assert scraps.values == scrapbook_data(recorded)
    assert scraps.unsupported == {}
    assert scraps.values == {
        "auc": 0.93,  # recorded twice: the later value wins
        "n": 3,
        "label": "ok",
        "table": {"a": [1, 2]},
        "np_auc": 0.875,
        "np_n": 7,
        "np_array": [0.5, 1.5],
        "digits": "123",  # text encoder, so not read back as the number 123
    }
    assert type(scraps.values["np_n"]) is int


@pytest.mark.parametrize("name", ["auc", "n", "label", "table", "np_auc", "digits"])
def test_record_writes_the_outputs_that_glue_writes(recorded: Path, glued: Path, name: str) -> None:
    ours = _scrap_outputs(recorded, name)

    assert ours
    assert ours == _scrap_outputs(glued, name)


# -- record() without a kernel --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [0.91, 3, -0.0, 10**30, "ok", "123", "", True, {"a": [1, 2]}, [1, None, "x"], {}, []],
)
def test_display_bundle_is_what_glue_displays(value: object) -> None:
    from scrapbook.api import _prepare_ipy_data_format
    from scrapbook.encoders import registry
    from scrapbook.scraps import Scrap, scrap_to_payload

    encoder = registry.determine_encoder_name(value)
    glue_payload = scrap_to_payload(registry.encode(Scrap("x", value, encoder)))
    glue_bundle = _prepare_ipy_data_format("x", glue_payload, encoder)

    # json.dumps also compares key order, which is what the kernel puts on the wire
    assert json.dumps(_display_bundle("x", value)) == json.dumps(glue_bundle)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (np.float64(0.25), 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (np.str_("ok"), "ok"),
        (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        ({"auc": np.float64(0.8), "n": [np.int32(1)]}, {"auc": 0.8, "n": [1]}),
        ((1, (2.5, "a")), [1, [2.5, "a"]]),
    ],
)
def test_numpy_values_and_tuples_become_plain_json(value: object, plain: object) -> None:
    data, _ = _display_bundle("x", value)
    (payload,) = data.values()

    assert payload["data"] == plain
    assert json.dumps(payload["data"]) == json.dumps(plain)  # no numpy types left


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        np.float64("inf"),
        {"a": [1.0, -math.inf]},
        # MLflow cannot take it: once a RUNNING child run, MLflow off
        pytest.param(10**400, id="10**400"),
        pytest.param({"ids": [-(10**309)]}, id="nested -10**309"),
        np.array([1.0, np.nan]),
        None,
        {1, 2},
        b"bytes",
        1 + 2j,
        {1: "a"},
        datetime.date(2024, 1, 1),
        np.datetime64("2024-01-01T00:00:00.000000000"),
        pd.Timestamp("2024-01-01"),
        pd.NA,
        pd.DataFrame({"a": [1]}),
        {"nested": pd.Series([1, 2])},
    ],
)
def test_record_refuses_values_json_cannot_hold(value: object) -> None:
    with pytest.raises(InvalidInputError, match="scrap 'metric'") as refused:
        record("metric", value)
    assert refused.value.argument == "value"


def test_record_takes_integers_a_double_can_hold_and_says_what_to_do_with_others() -> None:
    largest = int(sys.float_info.max)
    data, _ = _display_bundle("n", [largest, -largest])
    assert next(iter(data.values()))["data"] == [largest, -largest]
    with pytest.raises(InvalidInputError, match="scrap 'big'") as refused:
        record("big", {"count": 10**400})
    assert "value['count']" in str(refused.value) and "str(" in str(refused.value)
    assert refused.value.argument == "value"


def test_record_refuses_a_list_that_contains_itself() -> None:
    loop: list[object] = [1]
    loop.append(loop)

    with pytest.raises(InvalidInputError, match="scrap 'loop': value\\[1\\] contains itself"):
        record("loop", loop)


@pytest.mark.parametrize("name", ["", None, 3])
def test_record_refuses_bad_names(name: object) -> None:
    with pytest.raises(InvalidInputError, match="scrap name") as refused:
        record(name, 1)  # type: ignore[arg-type]
    assert refused.value.argument == "name"


def test_record_outside_ipython_warns_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    no_kernel = re.escape("record('auc'): not running in a notebook")
    with pytest.warns(UserWarning, match=no_kernel):
        record("auc", 0.9)

    assert capsys.readouterr() == ("", "")


# -- read_scraps() --------------------------------------------------------------------------------


def test_read_scraps_reads_what_glue_wrote(
    glued: Path, scrapbook_data: Callable[[Path], dict[str, Any]]
) -> None:
    scraps = read_scraps(glued)
    theirs = scrapbook_data(glued)

    assert scraps.values == {
        "auc": 0.93,
        "n": 3,
        "label": "ok",
        "table": {"a": [1, 2]},
        "np_auc": 0.875,
        "digits": "123",
        "json_text": 7,  # scrapbook's json decoder parses strings that are JSON
        "shown": 5,
        "frame_then_json": 2,
    }
    assert scraps.unsupported == {"frame": "pandas", "json_then_frame": "pandas"}
    # Documented difference: scrapbook lets glue(..., display=True)'s display output replace the
    # data with None; the value is what a metric needs.
    assert theirs.pop("shown") is None
    assert {name: scraps.values[name] for name in theirs if name in scraps.values} == {
        name: data for name, data in theirs.items() if name not in scraps.unsupported
    }


def _output(name: Any, data: Any, encoder: Any = "json", **payload: Any) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "metadata": {"scrapbook": {"name": name, "data": True, "display": False}},
        "data": {
            f"application/scrapbook.scrap.{encoder}+json": {
                "name": name,
                "data": data,
                "encoder": encoder,
                "version": 1,
                **payload,
            }
        },
    }


def _notebook(*cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "no outputs here"},
            *({"cell_type": "code", "metadata": {}, "source": "", "outputs": c} for c in cells),
        ],
    }


def test_read_scraps_later_scraps_replace_earlier_ones_across_cells() -> None:
    nb = _notebook(
        [_output("a", 1), _output("b", "x", "pandas"), _output("c", 1)],
        [{"output_type": "stream", "name": "stdout", "text": "hi"}],
        [_output("a", 2), _output("b", 3), _output("c", "x", "arrow")],
    )

    assert read_scraps(nb) == Scraps(values={"a": 2, "b": 3}, unsupported={"c": "arrow"})


@pytest.mark.parametrize(
    ("data", "encoder", "value"),
    [
        ('"7"', "json", "7"),  # after json.loads('"7"')
        ("[1, 2]", "json", [1, 2]),
        ("nan", "json", "nan"),  # what glue writes for NaN: not JSON, kept as the string
        ("ok", "json", "ok"),
        (12, "text", "12"),
        ("12", "text", "12"),
    ],
)
def test_read_scraps_decodes_as_scrapbook_does(data: Any, encoder: str, value: Any) -> None:
    assert read_scraps(_notebook([_output("x", data, encoder)])).values == {"x": value}


def test_read_scraps_reports_newer_payload_versions_as_unsupported() -> None:
    scraps = read_scraps(_notebook([_output("x", {"ref": "s3://..."}, version=2)]))

    assert scraps == Scraps(values={}, unsupported={"x": "json (payload version 2)"})


def test_read_scraps_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out.ipynb"
    path.write_text(json.dumps(_notebook([_output("auc", 0.9)])), encoding="utf-8")

    assert read_scraps(path).values == {"auc": 0.9}
    assert read_scraps(str(path)).values == {"auc": 0.9}


@pytest.mark.parametrize(
    ("notebook", "detail"),
    [
        (_notebook([_output("x", None)]), "has null data"),
        (_notebook([_output(3, 1)]), "name that is not a string"),
        (_notebook([_output("x", 1, version=0)]), "invalid version 0"),
        (_notebook([_output("x", 1, version="1")]), "invalid version '1'"),
        (_notebook([{"data": {JSON_MIMETYPE: {"name": "x"}}}]), "has no data, encoder, version"),
        ({**_notebook(), "nbformat": 3}, "nbformat 3"),
        ({"nbformat": 4, "cells": {}}, "'cells' is not a list"),
        (_notebook(["not an output"]), "cell 1, output 0"),  # type: ignore[list-item]
    ],
)
def test_read_scraps_refuses_malformed_scraps(notebook: dict[str, Any], detail: str) -> None:
    with pytest.raises(MalformedNotebookError) as caught:
        read_scraps(notebook)

    assert detail in caught.value.detail
    assert caught.value.path == Path("<notebook>")


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]"])
def test_read_scraps_refuses_files_that_are_not_notebook_json(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)

    with pytest.raises(MalformedNotebookError) as caught:
        read_scraps(path)

    assert caught.value.path == path


def test_read_scraps_of_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.ipynb"

    with pytest.raises(NotebookError) as caught:
        read_scraps(path)

    assert caught.value.path == path


# -- numeric and other scraps ---------------------------------------------------------------------


def test_numeric_and_other_scraps_split_the_values() -> None:
    values = {
        "auc": 0.91,
        "n": 3,
        "ok": True,
        "label": "0.5",
        "table": {"a": [1, 2]},
        "nan": math.nan,
        "inf": -math.inf,
        "huge": 10**400,
    }

    metrics = numeric_scraps(Scraps(values=values, unsupported={"frame": "pandas"}))

    assert metrics == {"auc": 0.91, "n": 3.0}
    assert all(type(v) is float for v in metrics.values())
    assert list(other_scraps(values)) == ["ok", "label", "table", "nan", "inf", "huge"]
    assert numeric_scraps(values) == metrics
    # one split for every reader (MLflow, the review session): each scrap on exactly one side
    both, rest = split_scraps(values)
    assert both == metrics and rest == other_scraps(values)
    assert list(both) + list(rest) == ["auc", "n", "ok", "label", "table", "nan", "inf", "huge"]


# -- the module stays light and its fixtures stay clean -------------------------------------------

HEAVY = {"numpy", "pandas", "IPython", "scrapbook", "papermill", "nbformat", "jsonschema", "mlflow"}


def test_importing_scraps_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import nbmlops.records.scraps"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }

    assert "nbmlops.records.scraps" in modules
    assert {m.split(".")[0] for m in modules} & HEAVY == set()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("scraps_*.ipynb")), ids=lambda p: p.name)
def test_fixture_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]

    assert code
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)
