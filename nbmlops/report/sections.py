"""The report's sections as static HTML, one function per section of the issue, each from a
:class:`~nbmlops.report.data.ReportData`: no script, nothing loaded from the network, every value
escaped. The review views are the ones the review showed (``review/*_view.py``), drawn from the
results the run saved.

1. :func:`cover` - model, pipeline, run, decision status, ledger verification (a failure first,
   in red), evidence incomplete;
2. :func:`intended_use` - the team's model-card file, missing sections flagged;
3. :func:`data_section` - declared inputs and data with digests and rows, de-identification,
   PHI scan;
4. :func:`pipeline_section` - the DAG, stages, commit, lock, SBOM, kernel and platform;
5. :func:`performance` - metrics, calibration, threshold table, fairness, explanations, drift;
6. :func:`decisions_section` - every signed decision's manifestation and evidence digest;
7. :func:`reproduction_section` - the latest reproduction check.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from nbmlops.report.card_records import recorded_interval
from nbmlops.report.data import REVIEW_RESULTS, read_table

if TYPE_CHECKING:
    from nbmlops.report.data import ReportData

__all__ = [
    "SECTIONS",
    "cover",
    "data_section",
    "decisions_section",
    "intended_use",
    "performance",
    "pipeline_section",
    "reproduction_section",
]

_RESULT_CLASSES = {
    "fairness": ("nbmlops.review.fairness", "FairnessResult", "Fairness by subgroup"),
    "explain": ("nbmlops.review.explain", "ExplainResult", "Explanations"),
    "drift": ("nbmlops.review.drift", "DriftResult", "Drift"),
}
_USE_SECTIONS = (
    ("Intended use", "Intended use"),
    ("Intended users", "Intended users"),
    ("Out-of-scope uses", "Out-of-scope uses"),
    ("Caveats and recommendations", "Limitations (caveats and recommendations)"),
)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    klass = f" class='{escape(cls)}'" if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='pairs'><tbody>{body}</tbody></table>"


def _section(number: int, anchor: str, title: str, *parts: str) -> str:
    return (
        f"<section class='report-section' id='{anchor}'>"
        f"<h2>{number}. {escape(title)}</h2>{''.join(parts)}</section>"
    )


def _markdown(text: str) -> str:
    """The team's Markdown as HTML: raw HTML escaped, images off (nothing to fetch)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).disable("image")
    return str(md.render(text))


# -- 1. cover ------------------------------------------------------------------------------------


def cover(data: ReportData) -> str:
    """Alarms first (verification FAILED, evidence incomplete), then who decided what."""
    parts = []
    v = data.verification
    if not v.ok:
        items = "".join(f"<li>{escape(f)}</li>" for f in v.failures)
        first = (
            f"First bad entry: {data.ledger_problem}"
            if data.ledger_problem
            else f"First finding: {v.failures[0] if v.failures else 'none named'}"
        )
        parts.append(
            "<div class='alarm' id='verification-failed'>"
            "<h2>Ledger verification FAILED</h2>"
            f"<p class='first-failure'>{escape(first)}</p>"
            "<p>The records below cannot be trusted as they stand: the ledger or a copy of its "
            f"hashes was changed. Every failure (<code>nbmlops audit verify</code>):</p>"
            f"<ul>{items}</ul></div>"
        )
    if not data.evidence_complete:
        items = "".join(f"<li>{escape(p)}</li>" for p in data.evidence_problems)
        parts.append(
            "<div class='alarm' id='evidence-incomplete'><h2>Evidence incomplete</h2>"
            "<p>Files this run's records name are missing or changed; what they held is not "
            f"shown:</p><ul>{items}</ul></div>"
        )
    notes = [e.note for e in data.evidence if e.note]
    if data.reproduction_problem:
        notes.append(f"reproduction check: {data.reproduction_problem}")
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        parts.append(f"<div class='warning' id='evidence-notes'><ul>{items}</ul></div>")
    r = data.record
    parts.append(
        f"<h1>Audit report</h1><p class='subtitle'>{escape(data.pipeline)} run "
        f"<code>{escape(data.run_id)}</code></p>"
    )
    parts.append(_decision_box(data))
    commit = (r.get("provenance") or {}).get("git_commit") or "not recorded"
    verified = (
        f"passed: {v.entries} ledger entries verified against every copy of their hashes"
        if v.ok
        else f"FAILED ({len(v.failures)} finding(s); see above)"
    )
    parts.append(
        _pairs(
            [
                ("Model", f"{data.model['type']} ({data.model['name'] or 'none'})"),
                ("Model file sha256", data.model["digest"] or "-"),
                ("Pipeline", data.pipeline),
                ("Run", data.run_id),
                ("Run status", r.get("status")),
                ("Started / finished (UTC)", f"{r.get('started_at')} / {r.get('finished_at')}"),
                ("Git commit", commit),
                ("Ledger verification", verified),
                ("Evidence", "complete" if data.evidence_complete else "EVIDENCE INCOMPLETE"),
            ]
        )
    )
    if v.ok:
        parts.append(f"<p class='ok'>Ledger head <code>{escape(v.head)}</code>.</p>")
    return f"<section class='report-section cover' id='cover'>{''.join(parts)}</section>"


def _decision_box(data: ReportData) -> str:
    if not data.decisions:
        return (
            "<div class='decision unreviewed'><p class='status'>Decision status: "
            "<strong>UNREVIEWED</strong></p><p>This run was never reviewed: no decision has "
            "been signed on it (<code>nbmlops review RUN</code>).</p></div>"
        )
    d = data.decisions[-1]
    title = f", {d.title}" if d.title else ""
    unverified = "" if d.verified else " (after the ledger's first bad line: NOT verified)"
    return (
        f"<div class='decision {escape(d.decision.replace(' ', '-'))}'>"
        f"<p class='status'>Decision status: <strong>{escape(d.decision.upper())}</strong>"
        f"{escape(unverified)}</p><p>Signed by {escape(d.printed_name)}{escape(title)} "
        f"({escape(d.signer_id)}) on {escape(d.signed_at)} (UTC). Meaning: "
        f"<q>{escape(d.meaning)}</q></p></div>"
    )


# -- 2. intended use -----------------------------------------------------------------------------


def intended_use(data: ReportData) -> str:
    card = data.card
    parts = []
    if not card.exists:
        parts.append(
            f"<p class='missing'>No model-card file at <code>{escape(str(card.path))}</code> "
            f"({escape(card.problem or 'it does not exist')}): every section below is missing "
            "(<code>nbmlops init</code> writes a template).</p>"
        )
    else:
        parts.append(
            f"<p>From <code>{escape(str(card.path))}</code> (sha256 "
            f"<code>{escape(card.digest or '')}</code>), which the team keeps.</p>"
        )
    shown = {name for name, _ in _USE_SECTIONS}
    others = [(name, name) for name in (*card.missing, *card.sections) if name not in shown]
    for name, title in [*_USE_SECTIONS, *dict.fromkeys(others)]:
        text = card.section(name)
        if text is None:
            parts.append(
                f"<h3>{escape(title)}</h3><p class='missing'>MISSING: the card does not say "
                "(absent, empty or still a placeholder). Nothing is filled in for it.</p>"
            )
        else:
            parts.append(f"<h3>{escape(title)}</h3><div class='card-text'>{_markdown(text)}</div>")
    return _section(2, "intended-use", "Intended use and limitations", *parts)


# -- 3. data -------------------------------------------------------------------------------------


def _rows(value: int | None, note: str) -> str:
    return str(value) if value is not None else note


def data_section(data: ReportData) -> str:
    parts = ["<h3>Declared inputs</h3>"]
    if data.inputs:
        rows = [(f.stage, f.name, f.path, f.digest, _rows(f.rows, f.note)) for f in data.inputs]
        parts.append(_table(["stage", "input", "path", "sha256", "rows"], rows, "digests"))
    else:
        parts.append("<p>No stage declared an input (raw data read by path only).</p>")
    if data.data_products:
        rows = [
            (f.stage, f.name, f.path, f.digest, _rows(f.rows, f.note)) for f in data.data_products
        ]
        parts.append("<h3>Data the stages produced (bound by digest, never copied)</h3>")
        parts.append(_table(["stage", "product", "file", "sha256", "rows"], rows, "digests"))
    parts.append("<h3>De-identification</h3>")
    reports = [e for e in data.evidence if "deid" in e.name.lower()]
    for item in reports:
        if item.path is None:
            parts.append(f"<p class='missing'>{escape(item.problem or item.name)}</p>")
            continue
        header, body = read_table(Path(item.path))
        parts.append(f"<h4>{escape(item.name)}</h4>" + _table(header, body))
    if not reports:
        parts.append("<p>No de-identification report among this run's products.</p>")
    parts.append(
        "<h3>PHI scan of what was logged</h3>"
        f"<p>The project's PHI policy now: <code>{escape(data.phi_policy)}</code> (a run's "
        "<code>--phi-policy</code> may have differed; the notes below are the run's own).</p>"
    )
    parts.append(_table(["stage", "artifact", "status"], data.phi))
    return _section(3, "data", "Data", *parts)


# -- 4. pipeline ---------------------------------------------------------------------------------


def pipeline_section(data: ReportData) -> str:
    r, p = data.record, data.record.get("provenance") or {}
    parts = [f"<div class='dag'>{data.dag_svg}</div>", "<h3>Stages</h3>"]
    rows = [
        (
            s.get("stage"),
            s.get("status"),
            f"{float(s.get('duration_s') or 0):.1f}",
            s.get("kernel"),
            json.dumps(s.get("params") or {}, sort_keys=True),
            s.get("produced_by") or s.get("reason") or "",
        )
        for s in r.get("stages", [])
    ]
    header = ["stage", "status", "seconds", "kernel", "parameters", "why it ran / reused from"]
    parts.append(_table(header, rows, "stages"))
    dirty = " (uncommitted changes when it ran)" if p.get("git_dirty") else ""
    parts.append("<h3>Provenance</h3>")
    parts.append(
        _pairs(
            [
                ("Git commit", f"{p.get('git_commit') or 'not recorded'}{dirty}"),
                ("Environment lock (sha256)", r.get("lock_digest") or "not recorded"),
                ("Python / platform", f"{p.get('python')} / {p.get('platform')}"),
                ("nbmlops", p.get("nbmlops_version")),
                ("Run by", f"{p.get('user')} on {p.get('hostname')}"),
                ("MLflow run", r.get("mlflow_run_id") or "not recorded"),
            ]
        )
    )
    sbom = data.sbom
    parts.append("<h3>Software bill of materials</h3>")
    if not sbom.available:
        parts.append(f"<p class='missing'>Not available: {escape(sbom.reason or '')}</p>")
    else:
        parts.append(
            f"<p>{len(sbom.components)} components (CycloneDX 1.5) from "
            f"{escape(sbom.source or 'the lock')}, lock sha256 "
            f"<code>{escape(sbom.lock_digest or '')}</code>.</p>"
        )
        components = [(c.name, c.version, c.purl) for c in sbom.components]
        parts.append(_table(["component", "version", "purl"], components, "sbom"))
    return _section(4, "pipeline", "The pipeline", *parts)


# -- 5. performance ------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A recorded metric: a count (an int) in full, as in ``6509`` or ``65090``; else 4
    significant digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.4g}"


def performance(data: ReportData) -> str:
    from nbmlops.records.scraps import split_scraps

    parts = []
    for stage in data.record.get("stages", []):
        scraps = stage.get("scraps") or {}
        metrics, _ = split_scraps(scraps)
        shown = {k: v for k, v in metrics.items() if not k.endswith(("_ci_low", "_ci_high"))}
        if shown:
            rows = []
            for name, value in sorted(shown.items()):
                interval = recorded_interval(scraps, name)
                said = f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "not recorded"
                rows.append((name, _number(scraps.get(name, value)), said))
            parts.append(f"<h3>Metrics of {escape(str(stage['stage']))}</h3>")
            parts.append(_table(["metric", "value", "interval the stage recorded"], rows))
    for item in data.evidence:
        if item.path is None:
            continue
        path, product = Path(item.path), item.name.partition(".")[2]
        if _is_png(path):
            png = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(
                f"<figure><img alt='{escape(item.name, quote=True)}' "
                f"src='data:image/png;base64,{png}'/><figcaption>{escape(item.name)}"
                "</figcaption></figure>"
            )
        elif "threshold" in product:
            header, body = read_table(path)
            parts.append(f"<h3>{escape(item.name)}</h3>" + _table(header, body))
    parts.append(_review_views(data))
    return _section(5, "performance", "Performance, fairness, explanations, drift", *parts)


def _is_png(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def _review_views(data: ReportData) -> str:
    import importlib

    parts = []
    for kind in REVIEW_RESULTS:
        module, cls, title = _RESULT_CLASSES[kind]
        anchor = f"review-{kind}"
        saved = data.results.get(kind) or {}
        if not saved:
            lost = [e for e in data.evidence if e.name.partition(".")[2] == kind and e.problem]
            said = (
                f"<p class='missing'>Not shown: {escape(lost[0].problem or '')}</p>"
                if lost
                else f"<p>The review stage saved no <code>{kind}</code> result for this run.</p>"
            )
            parts.append(f"<div id='{anchor}'><h3>{escape(title)}</h3>{said}</div>")
            continue
        for i, (name, saved_json) in enumerate(saved.items()):
            result = getattr(importlib.import_module(module), cls).from_dict(saved_json)
            label = f"<h4>{escape(name)}</h4>" if len(saved) > 1 else ""
            view_id = anchor if i == 0 else f"{anchor}-{i + 1}"
            parts.append(f"<div id='{view_id}' class='review-view'>{label}{result.to_html()}</div>")
    return "".join(parts)


# -- 6. decisions --------------------------------------------------------------------------------


def decisions_section(data: ReportData) -> str:
    if not data.decisions:
        body = "<p>Never reviewed: no decision has been signed on this run.</p>"
        return _section(6, "decisions", "Signed decisions", body)
    parts = []
    for d in data.decisions:
        rows: list[tuple[str, object]] = [
            ("Decision", d.decision),
            ("Printed name", d.printed_name),
            ("Title", d.title or "-"),
            ("Signer id", d.signer_id),
            ("Signed (UTC)", d.signed_at),
            ("Meaning", d.meaning),
            ("Comment", d.comment),
            ("Evidence digest", d.evidence_digest),
            ("Signed record digest", d.record_digest),
            ("Ledger entry", f"seq {d.seq}, hash {d.entry_hash}"),
            ("Ledger", "verified" if d.verified else "NOT verified (after the first bad line)"),
            ("Archived evidence", "; ".join(d.evidence_problems) or "intact"),
        ]
        parts.append(f"<div class='signed'>{_pairs(rows)}</div>")
    return _section(6, "decisions", "Signed decisions (21 CFR 11.50)", *parts)


# -- 7. reproduction -----------------------------------------------------------------------------


def reproduction_section(data: ReportData) -> str:
    found = data.reproduction
    if found is None:
        body = (
            "<p>No reproduction of this run has been recorded "
            "(<code>nbmlops reproduce RUN</code> re-executes it and compares every product).</p>"
        )
        return _section(7, "reproduction", "Reproduction check", body)
    checked = data.reproduction_problem
    ledger = (
        f"NOT what the ledger recorded: {checked}"
        if checked
        else f"matches its run_reproduced ledger entry (seq {found.get('ledger_seq')})"
    )
    summary = _pairs(
        [
            ("Verdict", found.get("verdict")),
            ("Ledger check", ledger),
            ("Reproduced as run", found.get("new_run_id")),
            ("Commit", found.get("commit")),
            ("Environment", found.get("env")),
            ("Tolerance", json.dumps(found.get("tolerance"), sort_keys=True)),
            ("Started (UTC)", found.get("started_at")),
            ("Duration (s)", found.get("duration_s")),
        ]
    )
    header = ["stage", "product", "recorded sha256", "new sha256", "verdict", "detail"]
    keys = ["stage", "product", "recorded_digest", "new_digest", "verdict", "detail"]
    rows = [[row.get(k) or "" for k in keys] for row in found.get("rows", [])]
    return _section(7, "reproduction", "Reproduction check", summary, _table(header, rows))


SECTIONS = (
    cover,
    intended_use,
    data_section,
    pipeline_section,
    performance,
    decisions_section,
    reproduction_section,
)
"""The sections in the report's order."""
