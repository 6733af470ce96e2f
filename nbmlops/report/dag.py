"""A pipeline's DAG as one static SVG picture, for a report or a card.

Stages are laid out in layers by topological order (a stage sits one layer after its deepest
upstream), left to right, each box coloured by the stage's status in the run. The picture is
inline SVG text with no script, no link and nothing loaded: every label (stage names come from
notebook metadata) is escaped, so a hostile name is drawn as text.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.authoring.pipeline import PipelineSpec
    from nbmlops.records.model import RunRecord

__all__ = ["STATUS_COLOURS", "dag_svg"]

STATUS_COLOURS: Mapping[str, tuple[str, str]] = {
    "succeeded": ("#d9f2dd", "#2e7d32"),
    "skipped": ("#e3ecf7", "#3b6ea8"),
    "failed": ("#fbdcdc", "#c62828"),
    "not_run": ("#eeeeee", "#757575"),
    "": ("#ffffff", "#455a64"),
}
"""Fill and stroke per stage status (``""``: a pipeline spec, not a run)."""

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 150, 46, 40, 18, 12
_MAX_LABEL = 20


def dag_svg(source: Mapping[str, Any] | RunRecord | PipelineSpec) -> str:
    """The DAG of a run (a run record, as JSON or the value) or of a pipeline spec, as SVG.

    Parameters
    ----------
    source : Mapping, RunRecord or PipelineSpec
        A run record draws each stage with its status (edges from the upstream digests the
        stage recorded); a spec draws the declared DAG without status.

    Returns
    -------
    str
        An ``<svg>`` element (UTF-8 text, no XML declaration) to put inline in HTML.

    Examples
    --------
    >>> dag_svg(record).startswith("<svg")  # doctest: +SKIP
    True
    """
    nodes, edges, title = _graph(source)
    layer = _layers(nodes, edges)
    columns: dict[int, list[str]] = {}
    for name in nodes:
        columns.setdefault(layer[name], []).append(name)
    position: dict[str, tuple[int, int]] = {}
    for col, names in columns.items():
        for row, name in enumerate(names):
            position[name] = (_PAD + col * (_BOX_W + _GAP_X), _PAD + row * (_BOX_H + _GAP_Y))
    width = _PAD * 2 + max(len(columns), 1) * (_BOX_W + _GAP_X) - _GAP_X
    bottom = _PAD + max((len(c) for c in columns.values()), default=1) * (_BOX_H + _GAP_Y)
    bottom -= _GAP_Y
    edge_parts, below = _edges(edges, layer, position, bottom)
    height = bottom + below + _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbmlops-dag" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'style="max-width:100%;height:auto" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="nbmlops-dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#607d8b"/></marker></defs>',
        *edge_parts,
    ]
    for name, status in nodes.items():
        x, y = position[name]
        fill, stroke = STATUS_COLOURS.get(status, STATUS_COLOURS[""])
        label = name if len(name) <= _MAX_LABEL else name[: _MAX_LABEL - 1] + "…"
        parts.append(
            f'<g class="stage" data-status="{escape(status)}">'
            f"<title>{escape(name)}{': ' + escape(status) if status else ''}</title>"
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{x + _BOX_W // 2}" y="{y + (19 if status else 27)}" text-anchor="middle" '
            f'font-weight="bold">{escape(label)}</text>'
        )
        if status:
            parts.append(
                f'<text x="{x + _BOX_W // 2}" y="{y + 36}" text-anchor="middle" '
                f'fill="{stroke}">{escape(status.replace("_", " "))}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _edges(
    edges: list[tuple[str, str]],
    layer: Mapping[str, int],
    position: Mapping[str, tuple[int, int]],
    bottom: int,
) -> tuple[list[str], int]:
    """Each edge as a path: between neighbouring layers a straight line from box to box; one
    that skips layers leaves its box at the bottom and curves under every row (each a little
    lower than the last), so it never runs behind a box. Returns the paths and the height added
    under the rows."""
    long = [(up, down) for up, down in edges if layer[down] - layer[up] != 1]
    outs: dict[str, list[str]] = {}
    ins: dict[str, list[str]] = {}
    for up, down in long:
        outs.setdefault(up, []).append(down)
        ins.setdefault(down, []).append(up)
    drawn = []
    style = 'fill="none" stroke="#607d8b" stroke-width="1.5" marker-end="url(#nbmlops-dag-arrow)"'
    for up, down in edges:
        (x1, y1), (x2, y2) = position[up], position[down]
        if (up, down) not in long:
            d = f"M {x1 + _BOX_W} {y1 + _BOX_H // 2} L {x2} {y2 + _BOX_H // 2}"
        else:
            depth = bottom + 16 + 10 * long.index((up, down))
            sx = x1 + _BOX_W // 2 + _spread(outs[up].index(down), len(outs[up]))
            ex = x2 + _BOX_W // 2 + _spread(ins[down].index(up), len(ins[down]))
            sy, ey = y1 + _BOX_H, y2 + _BOX_H
            d = f"M {sx} {sy} C {sx} {depth} {ex} {depth} {ex} {ey}"
        drawn.append(f'<path class="edge" d="{d}" {style}/>')
    return drawn, (16 + 10 * len(long)) if long else 0


def _spread(index: int, count: int) -> int:
    """Where the ``index``-th of ``count`` edges meets a box's bottom, from its middle."""
    return int((index - (count - 1) / 2) * 14)


def _graph(
    source: Mapping[str, Any] | RunRecord | PipelineSpec,
) -> tuple[dict[str, str], list[tuple[str, str]], str]:
    """Stage -> status (in the source's order), edges (upstream, downstream), a title."""
    from nbmlops.authoring.pipeline import PipelineSpec

    if isinstance(source, PipelineSpec):
        nodes = {stage.name: "" for stage in source.stages}
        edges = [(up, stage.name) for stage in source.stages for up in stage.upstream]
        return nodes, _known(nodes, edges), f"Pipeline {source.name}"
    data: Mapping[str, Any] = source if isinstance(source, Mapping) else source.to_dict()
    stages: Sequence[Any] = data.get("stages") or ()
    nodes = {}
    edges = []
    for stage in stages:
        if not isinstance(stage, Mapping):
            continue
        name = str(stage.get("stage", ""))
        nodes[name] = str(stage.get("status", ""))
        for key in stage.get("inputs") or {}:
            if str(key).startswith("upstream:"):
                up = str(key).removeprefix("upstream:").rsplit(".", 1)[0]
                if (up, name) not in edges:
                    edges.append((up, name))
    title = f"Pipeline {data.get('pipeline', '')}, run {data.get('run_id', '')}"
    return nodes, _known(nodes, edges), title


def _known(nodes: Mapping[str, str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges between stages drawn (an upstream outside the run's selection is not)."""
    return [(up, down) for up, down in edges if up in nodes and down in nodes and up != down]


def _layers(nodes: Mapping[str, str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each stage's column: 0 for a stage without upstream, else one after its deepest upstream;
    a cycle (only a damaged record has one) puts the rest in the last column."""
    graph: dict[str, set[str]] = {name: set() for name in nodes}
    for up, down in edges:
        graph[down].add(up)
    layer: dict[str, int] = {}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return {name: i for i, name in enumerate(nodes)}
    for name in order:
        layer[name] = max((layer[up] + 1 for up in graph[name]), default=0)
    return layer
