"""The text of the files ``nbmlops init`` writes: ``pyproject.toml``, the example stage, the
README and ``.gitignore``. Pure functions of their arguments; :mod:`~nbmlops.authoring.project`
decides what is written where."""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "EXAMPLE_NOTEBOOK",
    "GITIGNORE_ENTRIES",
    "MODEL_CARD_FILE",
    "MODEL_CARD_PLACEHOLDER",
    "MODEL_CARD_SECTIONS",
    "example_notebook",
    "gitignore_text",
    "model_card_template",
    "pyproject_text",
    "readme_text",
]

EXAMPLE_NOTEBOOK = "notebooks/example.ipynb"
"""The one tagged stage a new project starts with, relative to its root."""

GITIGNORE_ENTRIES = ("build/", ".nbmlops/", ".venv/")
"""Executed notebooks and products, the project's records and secrets, the environment."""


def _toml_string(value: str) -> str:
    # the escapes JSON writes (quote, backslash, newline, \u plus four hex digits) mean the same
    # in a TOML basic string
    return json.dumps(value, ensure_ascii=True)


def pyproject_text(
    *,
    name: str,
    version: str,
    requires_python: str,
    requirement: str,
    source: dict[str, str] | None,
) -> str:
    """A project depending on ``requirement`` (nbmlops), with nbmlops's settings at their
    defaults; ``source`` (``{"path": ...}`` or ``{"url": ...}``) tells uv where nbmlops is."""
    lines = [
        f"# Made by `nbmlops init` (nbmlops {version}). Add a dependency with `uv add NAME`",
        "# (it updates uv.lock); stage kernels must match uv.lock (`nbmlops env check`).",
        "[project]",
        f"name = {_toml_string(name)}",
        'version = "0.1.0"',
        'description = "Notebooks run as tracked, audited pipeline stages (nbmlops)."',
        f"requires-python = {_toml_string(requires_python)}",
        f"dependencies = [{_toml_string(requirement)}]",
        "",
        "[tool.uv]",
        "# notebooks, not a package to build: uv installs the dependencies only",
        "package = false",
        "# the platforms nbmlops runs stages on (kernels talk over Unix sockets)",
        "environments = [\"sys_platform == 'linux'\", \"sys_platform == 'darwin'\"]",
        "",
    ]
    if source:
        [(kind, where)] = source.items()
        lines += [
            "[tool.uv.sources]",
            f"nbmlops = {{ {kind} = {_toml_string(where)} }}",
            "",
        ]
    lines += [
        "[tool.nbmlops]",
        "# What MLflow gets of an executed notebook whose outputs look like patient identifiers:",
        '# "refuse" (nothing), "redact" (a copy with them replaced) or "off" (the notebook).',
        "# `nbmlops run --phi-policy` or NBMLOPS_PHI_POLICY decide for one run.",
        'phi_policy = "refuse"',
        "# MLflow: the project's own .nbmlops/mlflow.db unless MLFLOW_TRACKING_URI names a store.",
        "",
        "[tool.nbmlops.signing]",
        "# consecutive refused signing attempts that lock a signer, and for how many minutes",
        "max_failed_attempts = 5",
        "lockout_minutes = 15",
    ]
    return "\n".join(lines) + "\n"


def gitignore_text(entries: tuple[str, ...] = GITIGNORE_ENTRIES) -> str:
    return "# nbmlops: products, records and secrets, the environment\n" + "\n".join(entries) + "\n"


def readme_text(name: str) -> str:
    return f"""# {name}

An [nbmlops](https://github.com/nbmlops/nbmlops#readme) project: every tagged notebook in
`notebooks/` is a pipeline stage; a run executes the stale ones in real kernels, records them in
MLflow and in a hash-chained ledger, and keeps the executed notebooks under `build/`.

```bash
uv sync                                # the environment uv.lock pins, in .venv/
uv run nbmlops run notebooks           # run what is stale, tracked and audited
uv run nbmlops status notebooks        # what is up to date, and why the rest is not
uv run nbmlops audit verify            # check the ledger and every copy of its hashes
uv run nbmlops ui                      # MLflow on 127.0.0.1:5000
uv run nbmlops card latest             # the latest run's model card, in reports/<run>/
```

The model card's team-written sections (intended use, users, out-of-scope uses, limitations
...) live in `pipelines/notebooks/model_card.md`: replace its `TODO:` lines; a section still
holding one is reported as not written, never filled in.

A new stage: write a notebook with a cell tagged `parameters`, then
`uv run nbmlops stage set notebooks/NAME.ipynb --stage NAME --product out=out.parquet`
(`--upstream OTHER` to read another stage's products). nbmlops injects `product` (and
`upstream`) as absolute paths: write products there, never to a relative path.
Dependencies: `uv add NAME`. Settings: `[tool.nbmlops]` in `pyproject.toml`.
`build/`, `.nbmlops/` and `.venv/` stay out of git; put the rest under version control
(`git init`) so that every run records the commit it ran.
"""


def _cell(cell_id: str, kind: str, source: str, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": cell_id,
        "metadata": {"tags": list(tags)} if tags else {},
        "source": source,
    }
    if kind == "code":
        cell |= {"execution_count": None, "outputs": []}
    return cell


EXAMPLE_CODE = """\
import json
import random
import statistics

from nbmlops import record

rng = random.Random(seed)
values = [rng.gauss(0.0, 1.0) for _ in range(n)]
summary = {
    "n": n,
    "mean": round(statistics.fmean(values), 6),  # rounded: the same bytes on every machine
    "sd": round(statistics.stdev(values), 6),
}
# `product` is injected by nbmlops: absolute paths in this stage's build folder
with open(product["summary"], "w", encoding="utf-8") as fh:
    json.dump(summary, fh, indent=1, sort_keys=True)
record("mean", summary["mean"])
summary"""


def example_notebook() -> dict[str, Any]:
    """A one-stage example (``example``): seeded numbers, a JSON product, one recorded metric;
    standard library only, no data and no network."""
    intro = (
        "# Example stage\n\n"
        "A tagged notebook is a pipeline stage: its metadata (`nbmlops stage show`) names the "
        "stage, its parameters and its products. The `parameters` cell holds the defaults; a run "
        "injects `product` (absolute paths) after it. Replace this notebook with your own."
    )
    cells = [
        _cell("intro", "markdown", intro),
        _cell("parameters", "code", "n = 500\nseed = 0\nproduct = None", ("parameters",)),
        _cell("summary", "code", EXAMPLE_CODE),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "nbmlops": {
                "stage": "example",
                "params": {"n": 500, "seed": 0},
                "products": {"summary": "summary.json"},
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


MODEL_CARD_SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Model details",
        "Who made the model and when, what kind of model it is, what it predicts from what, "
        "its version and licence, and whom to ask about it.",
    ),
    (
        "Intended use",
        "The decisions the model is meant to support, in which setting, and what a user does "
        "with its output.",
    ),
    ("Intended users", "Who may use the model's output (roles, teams), and with what training."),
    (
        "Out-of-scope uses",
        "Uses the model must not be put to: other populations, settings or decisions it was not "
        "made or checked for.",
    ),
    (
        "Factors",
        "The groups and conditions its performance may differ across (demographics, sites, "
        "payers, instruments, time), and which of them the evaluation reports.",
    ),
    (
        "Ethical considerations",
        "Sensitive data used, risks and harms to patients or others, and what was done about them.",
    ),
    (
        "Caveats and recommendations",
        "Known limitations, what was not tested, and recommendations for monitoring and use.",
    ),
)
"""The model-card sections a team writes (Mitchell et al. 2019), each with the question it
answers; the records give the rest (model, metrics, data, quantitative analyses)."""

MODEL_CARD_FILE = "model_card.md"
"""The model-card file's name, in ``pipelines/<pipeline>/``."""

MODEL_CARD_PLACEHOLDER = "TODO:"
"""A line starting with this marks a section as not written yet."""


def model_card_template(pipeline: str) -> str:
    """``pipelines/<pipeline>/model_card.md`` as ``nbmlops init`` writes it: every section holds
    a ``TODO:`` line, so a card made before the team writes it says the section is missing."""
    parts = [
        f"# Model card: {pipeline}\n",
        "<!-- The sections of this file are the model card's team-written part (Mitchell et al.,\n"
        '"Model Cards for Model Reporting", 2019). `nbmlops card RUN` adds what the records\n'
        "say: the model file, metrics, data digests and fairness by subgroup. Replace each\n"
        f"`{MODEL_CARD_PLACEHOLDER}` line with your text: a section that still holds one is\n"
        "reported as not written. Keep the `## ` headings as they are. -->\n",
    ]
    for heading, question in MODEL_CARD_SECTIONS:
        parts.append(f"## {heading}\n\n{MODEL_CARD_PLACEHOLDER} {question}\n")
    return "\n".join(parts)
