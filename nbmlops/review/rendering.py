"""What every review result shares: static HTML pieces, embedded plots, JSON, display and logging.

A review result (fairness, explanations, drift) is a frozen dataclass that subclasses
:class:`ReviewResult` and provides ``kind``, ``to_dict()``, ``to_html()``, ``headline()`` and
``widget()``. This base then gives it, once for all kinds:

- ``_repr_mimebundle_``: in a live kernel the ipywidgets view **and** the static HTML in the same
  output; outside a kernel only the static HTML. A notebook nbmlops executed keeps the static
  HTML only (:mod:`nbmlops.run.papermill_engine` leaves the widget view and its saved state
  out), so JupyterLab and a plain ``jupyter nbconvert --to html`` both show it. Saved with the
  widget state, nbconvert would prefer the view, drawn by a script from a CDN, and JupyterLab
  (in a trusted notebook) would say the widget's model is not found.
- ``to_json()``: the plain-JSON form (``to_dict``), sorted and stable.
- ``log(run_id=None)``: into MLflow. Inside a running pipeline stage it records scraps, which the
  stage's own MLflow child run receives (``review/<kind>.json`` and headline metrics); given a
  ``run_id`` it logs to that MLflow run (``review/<kind>.json``, ``review/<kind>.html``,
  metrics); with neither (a notebook run by hand, plain papermill, plain ``ploomber build``) it
  records nothing and says so with a :class:`NotLoggedWarning`, so the notebook runs on.

Static HTML here holds no script and loads nothing: plots are PNGs embedded as data URIs, labels
are escaped. Nothing in this module sees row-level data.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from nbmlops.errors import InvalidInputError

__all__ = [
    "STAGE_ENV",
    "NotLoggedWarning",
    "ReviewResult",
    "figure_png",
    "fmt",
    "fmt_number",
    "html_table",
    "img_tag",
    "json_float",
    "result_kind",
    "section",
    "stable_float",
]

STAGE_ENV = "NBMLOPS_STAGE"
"""Set in the kernel of a running pipeline stage (to the stage's name) by nbmlops itself."""


class NotLoggedWarning(UserWarning):
    """``ReviewResult.log()`` recorded nothing: it ran outside a pipeline stage without a run.

    A warning, not an error, so that a stage notebook runs top to bottom anywhere (by hand in
    JupyterLab, under plain papermill or ``ploomber build``); only ``nbmlops run`` records.
    """


_CSS = (
    "<style>.nbmlops-review table{border-collapse:collapse;margin:4px 0 10px;font-size:12px}"
    ".nbmlops-review td,.nbmlops-review th{border:1px solid #ccc;padding:2px 6px;"
    "text-align:left}.nbmlops-review th{background:#f3f3f3}"
    ".nbmlops-review .pass{color:#1a7f37}.nbmlops-review .fail{color:#cf222e}"
    ".nbmlops-review img{max-width:100%}</style>"
)


def json_float(value: float | None) -> float | None:
    """A float for JSON: NaN and infinities become ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


STABLE_DIGITS = 10
"""Significant digits of the floats a result rounds for JSON (see :func:`stable_float`)."""


def stable_float(value: float | None) -> float | None:
    """A float for JSON, rounded to :data:`STABLE_DIGITS` significant digits (NaN: ``None``).

    For numbers that the same computation on the same data reaches by more than one path (the
    drift test on a cached or a freshly prepared reference sums in a different order and differs
    near the 15th digit): rounded, the same inputs give the same bytes. Ten digits are far below
    what any review reads and far above the differences of summation order (about 1e-14).
    """
    number = json_float(value)
    return None if number is None else float(f"{number:.{STABLE_DIGITS - 1}e}")


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for an HTML cell; missing or NaN shows as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    return f"{value:.{digits}f}"


def fmt_number(value: float, digits: int = 4) -> str:
    """A number a stage recorded, for a table: a whole number without decimals (a count,
    ``6509``, not ``6509.0000``; also one that passed through a float, as headline numbers and
    MLflow metrics do), anything else with ``digits`` decimals."""
    if isinstance(value, int):  # bool too: True is 1
        return str(int(value))
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return fmt(value, digits)


def result_kind(
    product: str, path: str | os.PathLike[str] | None, kinds: Iterable[str]
) -> tuple[str, dict[str, Any]] | None:
    """``(kind, data)`` when the product file at ``path`` is a saved review result of one of
    ``kinds`` (its JSON from :meth:`ReviewResult.to_json`), else None.

    The kind is the JSON's own ``"kind"``, so a stage may save several results of one kind under
    any product names (``drift``, ``drift_outcomes``); a result saved without one (drift results
    before they carried it) is recognised by its product being named after its kind.
    """
    if path is None:
        return None
    try:  # the product may be archived under its digest: its content says whether it is JSON
        with Path(path).open("rb") as fh:
            if not fh.read(64).lstrip().startswith(b"{"):
                return None  # a model, a table, a figure: not read further
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("kind", product)
    return (kind, data) if kind in set(kinds) else None


def html_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, escape_cells: bool = True
) -> str:
    """An HTML table; the header is always escaped, cells unless ``escape_cells`` is false (for
    cells the caller built from escaped pieces, e.g. with :func:`fmt`)."""
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(c) if escape_cells else c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(kind: str, title: str, *parts: str) -> str:
    """Wrap a result's HTML: one ``div.nbmlops-review.nbmlops-<kind>`` with the shared style."""
    return (
        f"<div class='nbmlops-review nbmlops-{html.escape(kind)}'>{_CSS}"
        f"<h3>{html.escape(title)}</h3>{''.join(parts)}</div>"
    )


def figure_png(fig: Any, *, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so notebooks do not show it twice)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI (nothing fetched when the page opens)."""
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt, quote=True)}' src='data:image/png;base64,{data}'/>"


class ReviewResult(ABC):
    """Base of review results: display in notebooks, JSON and MLflow logging for every kind.

    Subclasses are frozen dataclasses that set ``kind`` and implement :meth:`to_dict`,
    :meth:`to_html`, :meth:`headline` and :meth:`widget`.
    """

    kind: ClassVar[str] = ""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: settings and aggregates (NaN as ``None``), never rows."""

    @abstractmethod
    def to_html(self) -> str:
        """Static HTML: tables and embedded PNGs, no script, nothing loaded from the network."""

    @abstractmethod
    def headline(self) -> dict[str, float]:
        """The few numbers that summarise the result; logged as MLflow metrics."""

    @abstractmethod
    def widget(self) -> Any:
        """The interactive ipywidgets view (needs a live kernel to be interactive)."""

    # -- provided ---------------------------------------------------------------------------

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The result as JSON text; also written to ``path`` if given.

        Canonical: ``to_dict`` with keys sorted, one-space indent, NaN as ``null``, no timestamps
        or other facts of how it was computed; results computed with a seed and the same inputs
        are the same bytes (each result's ``to_dict`` states its rounding)."""
        text = json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False)
        if path is not None:
            from nbmlops._core.atomic import write_text_atomic

            write_text_atomic(Path(path), text + "\n")
        return text

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "text/plain": f"<nbmlops {self.kind} review result>",
            "text/html": self.to_html(),
        }
        if _in_kernel():
            view = self.widget()._repr_mimebundle_()
            if isinstance(view, tuple):  # some versions return (data, metadata)
                view = view[0]
            widget_view = "application/vnd.jupyter.widget-view+json"
            if view and widget_view in view:
                bundle[widget_view] = view[widget_view]
        return bundle

    def log(
        self,
        run_id: str | None = None,
        *,
        tracking_uri: str | None = None,
        name: str | None = None,
    ) -> None:
        """Log the result to MLflow.

        Parameters
        ----------
        run_id : str, optional
            The MLflow run to log into. Left out inside a running pipeline stage, the result is
            recorded as scraps (``review.<kind>`` with the JSON, ``review.<kind>.<name>`` per
            headline number) and lands in that stage's MLflow child run when the stage finishes.
        tracking_uri : str, optional
            The MLflow store; default ``MLFLOW_TRACKING_URI``, else the project's SQLite store.
        name : str, optional
            What it is logged under instead of its kind (letters, digits, ``_``): give each of
            several results of one kind its own (e.g. its product's name, ``drift_outcomes``),
            or the last one logged replaces the others.

        Raises
        ------
        InvalidInputError
            ``name`` is not letters, digits and ``_``.

        Warns
        -----
        NotLoggedWarning
            Outside a pipeline stage without ``run_id``: nothing is recorded (the warning says
            how to record it), and the notebook goes on.
        """
        label = self.kind if name is None else _log_name(name)
        if run_id is None:
            if not os.environ.get(STAGE_ENV):
                warnings.warn(
                    f"{label} review result not logged: log() records into the stage's MLflow "
                    "run only while the notebook runs as a pipeline stage. Run it as one "
                    "(`nbmlops run PIPELINE`), or pass run_id= to log into an MLflow run.",
                    NotLoggedWarning,
                    stacklevel=2,
                )
                return
            from nbmlops.records.scraps import record

            record(f"review.{label}", self.to_dict())
            for number, value in self.headline().items():
                if json_float(value) is not None:
                    record(f"review.{label}.{number}", float(value))
            return
        _log_to_run(self, run_id, tracking_uri, label)


def _log_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise InvalidInputError(
            f"name must be letters, digits and _ (e.g. a product's name), not {name!r}",
            argument="name",
        )
    return name


def _in_kernel() -> bool:
    """Whether a Jupyter kernel (with comms, so widgets can live) is running this code."""
    import sys

    if "ipykernel" not in sys.modules:
        return False
    try:
        from ipykernel.kernelapp import IPKernelApp

        return bool(IPKernelApp.initialized())
    except Exception:  # an ipykernel that cannot tell: show the static HTML only
        return False


def _log_to_run(result: ReviewResult, run_id: str, tracking_uri: str | None, label: str) -> None:
    import tempfile

    from nbmlops._core.paths import find_project_root
    from nbmlops.records.tracking import open_client
    from nbmlops.records.tracking import tracking_uri as project_uri

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    client = open_client(uri or project_uri(find_project_root(Path.cwd())))
    with tempfile.TemporaryDirectory(prefix="nbmlops-review-") as folder:
        base = Path(folder) / label
        result.to_json(base.with_suffix(".json"))
        base.with_suffix(".html").write_text(result.to_html(), encoding="utf-8")
        client.log_artifact(run_id, str(base.with_suffix(".json")), "review")
        client.log_artifact(run_id, str(base.with_suffix(".html")), "review")
    metrics: Mapping[str, float] = result.headline()
    for name, value in metrics.items():
        if json_float(value) is not None:
            client.log_metric(run_id, f"review.{label}.{name}", float(value))
