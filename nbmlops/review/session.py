"""A review session: one run's evidence in one tabbed widget, ending in a signed decision.

``review = nbmlops.review.session("20261123T211851Z-d9482e")`` pins the run's evidence (see
:mod:`nbmlops.approval.evidence`), rebuilds every fairness, explanation and drift result that its
``review`` stage saved (JSON products written with ``result.to_json(path)``, known by the
``kind`` they hold, so a stage may save two drift results; older drift results, which hold no
``kind``, by a product named ``drift``), and shows, tab by tab: summary and provenance,
performance, fairness, explanations, drift, and the decision form. ``review.sign(...)`` (or the
form) signs a decision bound to exactly that evidence. ``nbmlops review RUN_ID`` writes a
notebook that opens a session.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nbmlops.approval.decision import (
    DECISIONS,
    CardWriter,
    ReviewDecision,
    read_decision,
    sign_decision,
)
from nbmlops.approval.evidence import Evidence, collect_evidence
from nbmlops.records import ledger
from nbmlops.records.scraps import split_scraps
from nbmlops.review.rendering import (
    ReviewResult,
    fmt_number,
    html_table,
    img_tag,
    result_kind,
    section,
)

__all__ = ["ReviewSession", "session", "write_review_notebook"]

RESULT_TYPES: Mapping[str, tuple[str, str]] = {
    "fairness": ("nbmlops.review.fairness", "FairnessResult"),
    "explain": ("nbmlops.review.explain", "ExplainResult"),
    "drift": ("nbmlops.review.drift", "DriftResult"),
}
"""Review-stage product name -> the result class that reads its JSON back."""

TAB_TITLES = (
    "Summary",
    "Performance",
    "Fairness",
    "Explanations",
    "Drift",
    "Decision",
)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReviewSession(ReviewResult):
    """What a reviewer looks at for one run; :meth:`sign` records their decision."""

    kind: ClassVar[str] = "session"

    root: Path
    evidence: Evidence
    record: Mapping[str, Any]
    results: Mapping[str, ReviewResult]
    authenticator: str = "local"
    card: CardWriter | None = None
    """Writes the run's model card, which an approval logs with the model version."""

    @property
    def run_id(self) -> str:
        return self.evidence.run_id

    def sign(
        self, decision: str, *, meaning: str, comment: str, signer_id: str, password: str
    ) -> ReviewDecision:
        """Sign a decision on this session's evidence (see
        :func:`nbmlops.approval.decision.sign_decision`)."""
        return sign_decision(
            self.root,
            self.evidence,
            decision=decision,
            meaning=meaning,
            comment=comment,
            signer_id=signer_id,
            password=password,
            authenticator=self.authenticator,
            card=self.card,
        )

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision signed on this run so far, from the ledger (oldest first); each
        ``record`` in full, meaning and comment read from its decision file."""
        return [
            {**entry.data, "record": read_decision(self.root, entry.data)}
            for entry in ledger.read_entries(self.root)
            if entry.event == "review_signed" and entry.run_id == self.run_id
        ]

    # -- ReviewResult ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "evidence": {**self.evidence.to_dict(), "digest": self.evidence.digest},
            "results": {name: result.to_dict() for name, result in self.results.items()},
            "decisions": self.decisions(),
        }

    def headline(self) -> dict[str, float]:
        return {f"{k}.{n}": v for k, r in self.results.items() for n, v in r.headline().items()}

    def of_kind(self, kind: str) -> dict[str, ReviewResult]:
        """The results of one kind (``fairness``, ``explain``, ``drift``) by product name, in
        the order the stage saved them: a stage may save several (e.g. two drift results)."""
        return {name: r for name, r in self.results.items() if r.kind == kind}

    def to_html(self) -> str:
        parts = [self._summary_html(), self._performance_html()]
        for kind in RESULT_TYPES:
            found = self.of_kind(kind)
            for name, result in found.items():
                parts.append(_product_label(name, found) + result.to_html())
        parts.append(self._decisions_html())
        return section("session", f"Review of run {self.run_id}", *parts)

    def widget(self) -> Any:
        import ipywidgets as w

        def tab(kind: str) -> Any:
            found = self.of_kind(kind)
            if not found:
                return w.HTML(f"<p>The review stage saved no <code>{kind}</code> result.</p>")
            if len(found) == 1:
                return next(iter(found.values())).widget()
            views = []
            for name, result in found.items():
                views += [w.HTML(_product_label(name, found)), result.widget()]
            return w.VBox(views)

        children = [
            w.HTML(section("session", "Summary and provenance", self._summary_html())),
            w.HTML(section("session", "Performance", self._performance_html())),
            tab("fairness"),
            tab("explain"),
            tab("drift"),
            decision_form(self),
        ]
        view = w.Tab(children=children)
        view.titles = TAB_TITLES
        return view

    # -- static pieces ---------------------------------------------------------------------

    def _summary_html(self) -> str:
        r, p = self.record, self.record.get("provenance", {})
        commit = str(p.get("git_commit") or "not in git")[:12]
        dirty = " (uncommitted changes)" if p.get("git_dirty") else ""
        rows = [
            ("Pipeline", str(r.get("pipeline"))),
            ("Run", self.run_id),
            ("Status", str(r.get("status"))),
            ("Started / finished (UTC)", f"{r.get('started_at')} / {r.get('finished_at')}"),
            ("Git commit", commit + dirty),
            ("Environment lock (sha256)", str(r.get("lock_digest"))),
            ("Python / platform", f"{p.get('python')} / {p.get('platform')}"),
            ("Run by", f"{p.get('user')} on {p.get('hostname')}"),
            ("MLflow run", str(r.get("mlflow_run_id"))),
            ("Evidence digest", self.evidence.digest),
        ]
        about = html_table(["", ""], rows)
        stages = html_table(
            ["stage", "status", "seconds", "MLflow run", "produced by"],
            [
                (
                    str(s["stage"]),
                    str(s["status"]),
                    f"{float(s.get('duration_s') or 0):.1f}",
                    str(s.get("mlflow_run_id") or ""),
                    str(s.get("produced_by") or ""),
                )
                for s in r.get("stages", [])
            ],
        )
        items = html_table(
            ["evidence", "sha256"], [(i.name, i.digest) for i in self.evidence.items]
        )
        return (
            f"<h4>Run</h4>{about}<h4>Stages</h4>{stages}{self._inputs_html()}"
            f"<h4>Evidence reviewed</h4>{items}"
        )

    def _inputs_html(self) -> str:
        """The raw data each stage declared it read, by path and content digest."""
        rows = [
            (str(s["stage"]), name, str(item.get("path")), str(item.get("sha256")))
            for s in self.record.get("stages", [])
            for name, item in sorted((s.get("declared_inputs") or {}).items())
        ]
        if not rows:
            return ""
        table = html_table(["stage", "input", "path (project)", "sha256"], rows)
        return f"<h4>Declared inputs</h4>{table}"

    def _performance_html(self) -> str:
        # the review stage's own numbers too: in a short pipeline it is the one that measured
        # the model (its results are in the other tabs; a bool such as a check is not a number)
        wanted = {i.name.split(".", 1)[0] for i in self.evidence.items if "." in i.name}
        parts = []
        for stage in self.record.get("stages", []):
            if stage["stage"] not in wanted:
                continue
            raw = stage.get("scraps", {})
            metrics, _ = split_scraps(raw)
            numbers = [  # the recorded value, so a count recorded as an int shows as one
                (name, fmt_number(raw.get(name, value))) for name, value in sorted(metrics.items())
            ]
            if numbers:
                parts.append(f"<h4>{html.escape(str(stage['stage']))}</h4>")
                parts.append(html_table(["metric", "value"], numbers, escape_cells=False))
        for item in self.evidence.items:
            if item.path.endswith(".png"):
                parts.append(f"<h4>{html.escape(item.name)}</h4>")
                parts.append(img_tag(Path(item.path).read_bytes(), item.name))
        return "".join(parts) or "<p>No performance figures were recorded.</p>"

    def _decisions_html(self) -> str:
        done = self.decisions()
        if not done:
            return "<h4>Decisions</h4><p>No decision has been signed on this run.</p>"
        rows = [
            (
                DECISIONS[d["record"]["decision"]],
                f"{d['record']['signer']['printed_name']} ({d['record']['signer']['id']})",
                str(d["record"]["signed_at"]),
                str(d["record"]["meaning"]),
            )
            for d in done
        ]
        return "<h4>Decisions</h4>" + html_table(["decision", "signer", "UTC", "meaning"], rows)


def decision_form(review: ReviewSession) -> Any:
    """The decision tab: decision, meaning, comment, signer id and password, and a Sign button."""
    import ipywidgets as w

    from nbmlops.errors import NbmlopsError

    labels = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}
    choice = w.ToggleButtons(
        options=[(labels[d], d) for d in DECISIONS],
        value="request_changes",
        description="Decision",
    )
    meaning = w.Textarea(
        placeholder="What your signature means, e.g. 'I approve this model for the pilot'",
        description="Meaning",
        layout=w.Layout(width="95%"),
    )
    comment = w.Textarea(
        placeholder="Your reasons", description="Comment", layout=w.Layout(width="95%")
    )
    signer = w.Text(description="Signer id")
    password = w.Password(description="Password")
    button = w.Button(description="Sign", button_style="primary", icon="pen")
    status = w.HTML(review._decisions_html())

    def on_sign(_: Any) -> None:
        secret, password.value = password.value, ""  # never left in the widget's state
        try:
            signed = review.sign(
                choice.value,
                meaning=meaning.value,
                comment=comment.value,
                signer_id=signer.value.strip(),
                password=secret,
            )
        except NbmlopsError as exc:
            status.value = f"<p class='fail' style='color:#cf222e'>{html.escape(str(exc))}</p>"
            return
        status.value = signed.to_html() + review._decisions_html()

    button.on_click(on_sign)
    intro = w.HTML(
        "<p>Signing binds your decision to the evidence digest "
        f"<code>{review.evidence.digest[:16]}…</code> (Summary tab). Your password is checked "
        "now and not stored.</p>"
    )
    return w.VBox([intro, choice, meaning, comment, w.HBox([signer, password, button]), status])


def _product_label(name: str, found: Mapping[str, ReviewResult]) -> str:
    """Which product a view shows, when the stage saved several results of its kind."""
    if len(found) < 2:
        return ""
    return f"<h4 class='nbmlops-product'>Product <code>{html.escape(name)}</code></h4>"


def session(
    run_id: str = "latest",
    *,
    root: str | Path | None = None,
    stage: str = "review",
    authenticator: str = "local",
    card: CardWriter | None = None,
) -> ReviewSession:
    """Open a review session on a pipeline run.

    Parameters
    ----------
    run_id : str
        The run id ``nbmlops run`` printed, or ``"latest"``.
    root : path, optional
        The project folder; default: found from the current folder.
    stage : str
        The stage that computed the review results.
    authenticator : str
        Who verifies signers (``"local"``: the project's signer registry).
    card : callable, optional
        Writes the run's model card for an approval to log with the model version
        (``nbmlops.report.card.card_for_approval``; the review notebook passes it).

    Returns
    -------
    ReviewSession
        Displayed in a notebook, the tabbed review widget (and its static HTML).

    Raises
    ------
    ReviewError
        No such run, no review stage in it, or its evidence changed since it ran.

    Examples
    --------
    >>> review = session("latest")  # doctest: +SKIP
    >>> review.sign("approve", meaning="...", comment="...", signer_id="jdoe", password=...)
    """
    from nbmlops._core.paths import find_project_root

    project = Path(root) if root is not None else find_project_root(Path.cwd())
    evidence = collect_evidence(project, run_id, stage=stage)
    results: dict[str, ReviewResult] = {}
    for item in evidence.items:
        owner, _, product = item.name.partition(".")
        found = result_kind(product, item.path, RESULT_TYPES) if owner == stage else None
        if found is not None:
            module, cls = RESULT_TYPES[found[0]]
            results[product] = getattr(importlib.import_module(module), cls).from_dict(found[1])
    return ReviewSession(
        root=project,
        evidence=evidence,
        record=evidence.record,
        results=results,
        authenticator=authenticator,
        card=card,
    )


def write_review_notebook(
    root: Path, run_id: str, output: Path | None = None, *, stage: str = "review"
) -> Path:
    """Write ``reviews/review-<run_id>.ipynb``: a notebook that opens the session on the run.

    An existing file is left as it is (it may hold a reviewer's notes) and its path returned.

    Raises
    ------
    ReviewError
        The run cannot be reviewed (checked now, not when the notebook opens).
    """
    import nbformat

    evidence = collect_evidence(root, run_id, stage=stage)
    path = output or Path(root) / "reviews" / f"review-{evidence.run_id}.ipynb"
    if path.exists():
        return path
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        nbformat.v4.new_markdown_cell(  # type: ignore[no-untyped-call]
            f"# Review of {evidence.pipeline} run `{evidence.run_id}`\n\n"
            "Run the cell below. Read each tab - summary and provenance, performance, fairness, "
            "explanations, drift - then sign your decision in the last tab. The decision is "
            "bound to the evidence digest shown in the summary; if any of it changes, signing "
            "is refused."
        ),
        nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
            "from nbmlops.report.card import card_for_approval\n"
            "from nbmlops.review import session\n\n"
            f'review = session("{evidence.run_id}", stage="{stage}", card=card_for_approval)\n'
            "review"
        ),
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["kernelspec"] = kernel
    path.parent.mkdir(parents=True, exist_ok=True)
    from nbmlops._core.atomic import write_text_atomic

    write_text_atomic(path, nbformat.writes(nb))  # type: ignore[no-untyped-call]
    return path
