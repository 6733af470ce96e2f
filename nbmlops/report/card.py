"""A run's model card, on its own: ``reports/<run>/model_card.md`` and ``model_card.html``.

The card follows the sections of Mitchell et al. (2019). The team's sections come from the
pipeline's model-card file (:mod:`nbmlops.report.card_file`); a missing one is flagged as not
written, never filled in. The rest comes from the records (:mod:`nbmlops.report.card_records`):
the model, metrics (with the interval a stage recorded, or "not recorded"), the training and
evaluation data by digest and recorded row counts, and fairness by subgroup with its intervals
as the review stage saved it. The same records and card file give the same bytes (no time of
making is written: the run's own times are). ``skops.card.Card`` composes the Markdown; the
HTML is that Markdown rendered with raw HTML and images off (so a card file's ``<script>`` is
text), one file with its own CSS, no script and nothing loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.ids import is_run_id
from nbmlops._core.paths import REPORTS, run_record_path
from nbmlops.errors import RecordedRunNotFoundError
from nbmlops.report.card_file import REQUIRED_SECTIONS, ModelCardText, read_model_card
from nbmlops.report.card_records import DataItem, RecordFacts, read_facts
from nbmlops.review.fairness_bootstrap import OLD_GAP_INTERVAL as _OLD_GAP_INTERVAL

__all__ = ["CardFiles", "card_for_approval", "write_model_card"]

_RECORD_SECTIONS = {  # where the records' sections go among the team's (after which one)
    "Factors": ("Metrics", "Evaluation data", "Training data", "Quantitative analyses"),
}
_FAIRNESS_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "auroc")


@dataclass(frozen=True, kw_only=True)
class CardFiles:
    """The card's two files, the sections the team has not written, and the card file used."""

    markdown: Path
    html: Path
    missing: tuple[str, ...]
    card: ModelCardText


def write_model_card(root: Path, run_id: str, *, model_product: str = "model") -> CardFiles:
    """Write the model card of run ``run_id`` into ``reports/<run_id>/`` of project ``root``.

    Parameters
    ----------
    root : Path
        The project folder.
    run_id : str
        A recorded run's full id (``nbmlops.report.runs.resolve_run`` turns ``latest`` or a
        prefix into one).
    model_product : str
        The product that is the model.

    Returns
    -------
    CardFiles

    Raises
    ------
    RecordedRunNotFoundError
        No run ``run_id`` is recorded, or its record cannot be read.

    Examples
    --------
    >>> write_model_card(Path("."), "20261203T170000Z-1a2b3c").missing  # doctest: +SKIP
    ('Factors',)
    """
    root = Path(root)
    record = _read_record(root, run_id)
    pipeline = str(record.get("pipeline", ""))
    card = read_model_card(root, pipeline)
    facts = read_facts(root, record, model_product=model_product)
    markdown = render_markdown(record, card, facts)
    folder = root / REPORTS / run_id
    folder.mkdir(parents=True, exist_ok=True)
    files = CardFiles(
        markdown=folder / "model_card.md",
        html=folder / "model_card.html",
        missing=card.missing,
        card=card,
    )
    write_text_atomic(files.markdown, markdown)
    write_text_atomic(files.html, render_html(markdown, title=f"Model card: {pipeline}"))
    return files


def card_for_approval(root: Path, run_id: str, model_product: str) -> tuple[Path, Path]:
    """Write run ``run_id``'s card and return (Markdown, HTML): what an approval logs with the
    model version (:data:`nbmlops.approval.decision.CardWriter`)."""
    files = write_model_card(root, run_id, model_product=model_product)
    return files.markdown, files.html


def _read_record(root: Path, run_id: str) -> dict[str, Any]:
    path = run_record_path(root, run_id)
    if not is_run_id(run_id) or not path.is_file():
        raise RecordedRunNotFoundError(run=run_id, root=root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = f"its record {path} cannot be read ({exc})"
        raise RecordedRunNotFoundError(run=run_id, root=root, reason=reason) from None
    if not isinstance(data, dict):
        reason = f"its record {path} is not a run record"
        raise RecordedRunNotFoundError(run=run_id, root=root, reason=reason)
    return data


def render_markdown(record: Mapping[str, Any], card: ModelCardText, facts: RecordFacts) -> str:
    """The card as Markdown, composed by ``skops.card.Card`` (see the module doc)."""
    from skops.card import Card

    model = str(facts.model_path) if facts.model_path else None
    composed = Card(model, model_format="skops", model_diagram=False, template=None)
    sections: dict[str, str] = {"Summary": _summary(record, card, facts)}
    records = {
        "Metrics": _metrics(facts),
        "Evaluation data": _data(facts.evaluation, facts, "evaluation"),
        "Training data": _data(facts.training, facts, "training"),
        "Quantitative analyses": _fairness(facts),
    }
    for name in REQUIRED_SECTIONS:
        sections[name] = _team(card, name)
        if name == "Model details":
            sections["Model details/From the records"] = _model(record, facts)
        for extra in _RECORD_SECTIONS.get(name, ()):
            sections[extra] = records[extra]
    for name, text in card.sections.items():
        if name not in REQUIRED_SECTIONS and text.strip():
            sections[f"Other notes from the card file: {name.replace('/', '-')}"] = text
    composed.add(**sections)
    title = f"# Model card: {_md(str(record.get('pipeline', '')))}\n"
    return _shift_headings(title + composed.render())


def _team(card: ModelCardText, name: str) -> str:
    text = card.section(name)
    if text is not None:
        return text
    where = _rel(card.path)
    why = "it is missing, empty or a TODO"
    if not card.exists:
        why = "there is no such file" if not card.path.exists() else f"it {card.problem}"
    return (
        f"> **Not written.** The team's model-card file `{where}` has no text for "
        f"\u201c{name}\u201d ({why}). nbmlops does not fill it in; write it there and make "
        "the card again."
    )


def _summary(record: Mapping[str, Any], card: ModelCardText, facts: RecordFacts) -> str:
    provenance = record.get("provenance") or {}
    commit = provenance.get("git_commit") or "none recorded"
    dirty = " (uncommitted changes)" if provenance.get("git_dirty") else ""
    rows = [
        ("Pipeline", _md(str(record.get("pipeline")))),
        ("Run", record.get("run_id")),
        ("Run status", record.get("status")),
        ("Finished (UTC)", record.get("finished_at")),
        ("Git commit", f"{commit}{dirty}"),
        ("Environment lock (sha256)", record.get("lock_digest") or "none recorded"),
        ("Model card file", f"{_rel(card.path)} (sha256 {card.digest or '-'})"),
    ]
    text = _table(("", ""), rows)
    if card.missing:
        names = ", ".join(card.missing)
        text += f"\n\n**Sections not written by the team ({len(card.missing)}):** {_md(names)}."
    if facts.changed:
        text += (
            "\n\n**Changed since the run (not shown):** "
            + ", ".join(_code(c) for c in facts.changed)
            + ". Their bytes no longer have the digest the run recorded and no archived copy "
            "has it."
        )
    return text


def _model(record: Mapping[str, Any], facts: RecordFacts) -> str:
    if facts.model_stage is None:
        return "The run recorded no model product."
    rows: list[tuple[object, object]] = [
        ("Stage", facts.model_stage),
        ("Model class", _code(facts.model_class) if facts.model_class else "not in the file"),
        ("Model file (sha256)", facts.model_digest or "none recorded"),
    ]
    rows += [(f"Parameter {_code(k)}", _value(v)) for k, v in facts.hyperparameters.items()]
    return _table(("", ""), rows)


def _metrics(facts: RecordFacts) -> str:
    if not facts.metrics:
        return "No stage of this run recorded a numeric metric."
    rows = [
        (m.stage, _md(m.name), _fmt(m.value), _ci(m.interval) if m.interval else "not recorded")
        for m in facts.metrics
    ]
    note = (
        "Values the stages recorded (`nbmlops.record`); an interval is shown only where the "
        "stage recorded one.\n\n"
    )
    return note + _table(("stage", "metric", "value", "interval"), rows)


def _data(items: Sequence[DataItem], facts: RecordFacts, side: str) -> str:
    if facts.model_stage is None:
        return "The run recorded no model product, so no data is known to be on this side of it."
    if not items:
        return f"No {side} data is recorded for this run."
    rows = [(i.stage, f"{i.kind} {_code(i.name)}", _md(i.path) or "-", i.sha256) for i in items]
    text = _table(("stage", "what", "file", "sha256"), rows)
    counts = [
        (s, _md(n), str(v)) for s, n, v in facts.row_counts if any(i.stage == s for i in items)
    ]
    if counts:
        text += "\n\nRow counts the stages recorded:\n\n" + _table(
            ("stage", "count", "rows"), counts
        )
    return text


def _fairness(facts: RecordFacts) -> str:
    if not facts.fairness:
        return "No fairness result was saved by this run (a review stage's `fairness` product)."
    parts = []
    for where, data in facts.fairness:
        ci = data.get("ci", 0.95)
        parts.append(
            f"**{_md(where)}**: {data.get('n_rows')} rows, threshold {data.get('threshold')}, "
            f"groups under {data.get('min_group_size')} rows suppressed, "
            f"{data.get('n_bootstrap')} bootstrap replicates ({_pct(ci)} intervals; a gap's "
            f"interval: {_md(str(data.get('gap_interval', _OLD_GAP_INTERVAL)))})."
        )
        checks = data.get("checks") or {}
        rows = [
            (_md(name), _check_value(c), _gap_ci(data.get(name)), _fmt(c.get("limit")),
             _check_status(c))
            for name, c in checks.items() if isinstance(c, Mapping)
        ]  # fmt: skip
        if rows:
            parts.append(_table(("check", "value", "interval", "limit", "result"), rows))
        for feature, table in (data.get("by_feature") or {}).items():
            parts.append(f"By {_md(str(feature))}:\n\n" + _groups(table))
        if len(data.get("by_feature") or {}) > 1 and data.get("by_group"):
            parts.append("By intersection:\n\n" + _groups(data["by_group"]))
    return "\n\n".join(parts)


def _groups(table: Mapping[str, Any]) -> str:
    metrics = [m for m in _FAIRNESS_METRICS if m in (table.get("difference") or {})]
    rows = []
    for row in table.get("groups") or ():
        label = _md(", ".join(str(v) for v in (row.get("group") or {}).values()))
        if row.get("suppressed") or "metrics" not in row:
            rows.append((label, "suppressed", *("-" for _ in metrics)))
            continue
        cells = [
            f"{_fmt(row['metrics'][m]['value'])} {_ci(row['metrics'][m]['ci'])}" for m in metrics
        ]
        rows.append((label, str(row.get("n")), *cells))
    return _table(("group", "n", *(m.replace("_", " ") for m in metrics)), rows)


def _gap_ci(gap: Any) -> str:
    if isinstance(gap, Mapping) and isinstance(gap.get("ci"), list):
        return _ci(gap["ci"])
    return "not recorded"


def _check_value(check: Mapping[str, Any]) -> str:
    return _fmt(check.get("value")) if _assessable(check) else "not assessable"


def _check_status(check: Mapping[str, Any]) -> str:
    """``passed``, ``**FAILED**`` or ``not assessable`` (no value: e.g. one group left after
    suppression, which is no evidence of fairness and no failure either)."""
    if not _assessable(check):
        return "**not assessable**"
    return "passed" if _passed(check) else "**FAILED**"


def _assessable(check: Mapping[str, Any]) -> bool:
    return check.get("status") != "not assessable" and isinstance(check.get("value"), int | float)


def _passed(check: Mapping[str, Any]) -> bool:
    value, limit = check.get("value"), check.get("limit")
    if not isinstance(value, int | float) or not isinstance(limit, int | float):
        return False
    return bool(value <= limit if check.get("at_most", True) else value >= limit)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    """A table cell: one line, ``|`` escaped (text from records must not break the table)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _md(text: str) -> str:
    """Text from a record shown inline: Markdown's active characters escaped."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in " ".join(text.split()))


def _code(text: str) -> str:
    """Text from a record as inline code (where backslash escapes would show)."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def _value(value: Any) -> str:
    return _md(json.dumps(value, ensure_ascii=False, default=str))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.8g}"
    return "-" if value is None else _md(str(value))


def _ci(pair: Sequence[Any] | None) -> str:
    if not pair or any(x is None for x in pair):
        return "[interval not computed]"
    return f"[{_fmt(float(pair[0]))}, {_fmt(float(pair[1]))}]"


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else str(value)


def _rel(path: Path) -> str:
    parts = Path(path).parts
    return "/".join(parts[-3:]) if len(parts) >= 3 else str(path)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #455a64;padding-bottom:.3rem}h2{margin-top:2rem;color:#263238}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #cfd8dc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eceff1}blockquote{border-left:4px solid #c62828;background:#fdecea;margin:.5rem 0;
padding:.3rem .8rem}code{background:#f5f5f5;padding:0 .2rem;word-break:break-all}
@media print{body{max-width:none;margin:0}h2{break-after:avoid}table{break-inside:avoid}}
"""


def render_html(markdown: str, *, title: str) -> str:
    """One self-contained HTML page of ``markdown``: raw HTML in it is shown as text, images
    are not loaded, links that are not web or mail links are not links."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
    body = md.render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )


def _shift_headings(markdown: str) -> str:
    """skops writes each section as a level-1 heading; under the card's title they are level 2
    (outside fenced code)."""
    out, fenced, first = [], False, True
    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        shifted = "#" + line if not fenced and line.startswith("#") and not first else line
        if not fenced and shifted.startswith("# "):
            first = False
        out.append(shifted)
    return "\n".join(out)
