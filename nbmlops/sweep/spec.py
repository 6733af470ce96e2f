"""A sweep's points: a grid, an explicit list or random samples, each point type-checked and named.

A point is a set of parameter overrides ``{stage: {param: value}}``; its id is the first 12 hex
digits of the SHA-256 of their RFC 8785 canonical JSON, taken after the values are checked
against the stage defaults (so ``7`` typed on the command line and ``7`` in a sweep file are one
point, and a point keeps its id, its folder and its record across reruns).

Where a sweep comes from:

- ``--grid train.C=0.1,1,10 --grid train.seed=1..5`` (comma-separated values, ``A..B`` or
  ``A..B:STEP`` for integers, or a JSON list ``[[1,2],[3]]`` when values hold commas);
- a sweep file ``pipelines/<pipeline>/sweeps/<sweep>.yaml`` with exactly one of ``grid`` (a
  mapping ``stage.param: [values]`` or ``"A..B"``), ``points`` (a list of mappings) or
  ``random`` (``samples``, ``seed``, ``params``: a list to choose from, or ``{low, high}``,
  ``log: true`` for a log-uniform number; integers when both bounds are integers), and optional
  ``stages`` / ``downstream``.

Which stages a point reruns: the stages with a swept parameter, and their downstream within the
selection. The other selected stages are shared by every point and run once, as a normal run.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops._core.digests import canonical_digest
from nbmlops.authoring.parameters import CliValue, resolve_params
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.errors import NbmlopsError, ParameterError, SweepError
from nbmlops.run.plan import select_stages

__all__ = [
    "Point",
    "SweepSpec",
    "define_sweep",
    "parse_grid",
    "point_id",
    "read_sweep_file",
]

JSON = Any
Overrides = dict[str, dict[str, JSON]]
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*(?::\s*(\d+))?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, kw_only=True)
class Point:
    """One point of a sweep: its checked overrides and the id they digest to."""

    id: str
    index: int
    """Its place in the sweep, from 1 (what messages and tables show beside the id)."""
    overrides: Overrides

    @property
    def label(self) -> str:
        """``train.C=0.1 train.seed=3``: the point's parameters, for people."""
        return label(self.overrides)

    @property
    def flat(self) -> dict[str, JSON]:
        """``{"train.C": 0.1, ...}``: the overrides as the results table's columns."""
        return {f"{s}.{k}": v for s, given in self.overrides.items() for k, v in given.items()}


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A checked sweep: its points and which stages run once or per point."""

    name: str
    pipeline: PipelineSpec
    points: tuple[Point, ...]
    selection: tuple[str, ...]
    """Every selected stage, in topological order."""
    point_stages: tuple[str, ...]
    """What each point reruns: the stages with a swept parameter and their downstream."""
    shared_stages: tuple[str, ...]
    """Selected stages no swept parameter reaches: run once, into the normal build."""
    swept: tuple[str, ...]
    """``stage.param`` of every swept parameter, sorted."""
    source: str
    """Where the definition came from: ``command line`` or the sweep file's path."""

    def definition(self) -> dict[str, JSON]:
        """What ``sweep.json`` keeps (without times): compared when a sweep is run again."""
        return {
            "pipeline": self.pipeline.name,
            "sweep": self.name,
            "selection": list(self.selection),
            "point_stages": list(self.point_stages),
            "shared_stages": list(self.shared_stages),
            "swept": list(self.swept),
            "points": [{"id": p.id, "overrides": p.overrides} for p in self.points],
        }


def label(overrides: Mapping[str, Mapping[str, JSON]]) -> str:
    return " ".join(
        f"{s}.{k}={v if isinstance(v, str) else json.dumps(v)}"
        for s, given in sorted(overrides.items())
        for k, v in sorted(given.items())
    )


def point_id(overrides: Mapping[str, Mapping[str, JSON]]) -> str:
    """The first 12 hex digits of the SHA-256 of the overrides' RFC 8785 canonical JSON."""
    return canonical_digest(overrides)[:12]


def parse_grid(items: Iterable[str], *, default_stage: str | None = None) -> dict[str, list[JSON]]:
    """``stage.param=v1,v2`` / ``stage.param=1..5`` options into ``{"stage.param": [values]}``.

    Values stay command-line text (checked against the defaults later). ``default_stage`` is
    put before a name without a stage (a notebook swept on its own: ``-p alpha=0.1,0.2``).

    Raises
    ------
    SweepError
        An item is not ``NAME=VALUES``, has no value, or names a parameter twice.
    """
    grid: dict[str, list[JSON]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if "." not in key and default_stage and key:
            key = f"{default_stage}.{key}"
        stage, dot, name = key.partition(".")
        if not sep or not dot or not stage or not name:
            raise SweepError(
                f"--grid '{item}': expected STAGE.PARAM=V1,V2,... or STAGE.PARAM=A..B, e.g. "
                "--grid train.seed=1..5.",
                sweep=None,
                argument="grid",
            )
        if key in grid:
            raise SweepError(
                f"--grid names {key} twice; give all its values in one option.",
                sweep=None,
                argument="grid",
            )
        grid[key] = _values(key, raw)
    return grid


def _values(key: str, raw: str) -> list[JSON]:
    text = raw.strip()
    found = _RANGE.match(text)
    if found:
        return _int_range(key, int(found[1]), int(found[2]), int(found[3] or 1))
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list) and values:
            return values  # already JSON: checked against the default as it is
    values = [CliValue(v.strip()) for v in text.split(",")]
    if not text or any(not v for v in values):
        raise SweepError(
            f"--grid {key}={raw}: an empty value. Give values separated by commas "
            "(e.g. 0.1,1,10) or an integer range (e.g. 1..5).",
            sweep=None,
            argument="grid",
        )
    return values


def _int_range(key: str, low: int, high: int, step: int) -> list[JSON]:
    if step < 1 or high < low:
        raise SweepError(
            f"{key}: the range {low}..{high} is empty (it counts up, by a step of 1 or more).",
            sweep=None,
            argument="grid",
        )
    return list(range(low, high + 1, step))


def read_sweep_file(path: Path) -> dict[str, JSON]:
    """A sweep file's mapping; ``SweepError`` when it is not YAML or not a mapping."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SweepError(
            f"{path}: cannot read the sweep file ({exc}).", sweep=path.stem, argument="file"
        ) from None
    if not isinstance(data, dict):
        raise SweepError(
            f"{path}: a sweep file is a mapping with one of grid, points or random.",
            sweep=path.stem,
            argument="file",
        )
    unknown = sorted(set(data) - {"grid", "points", "random", "stages", "downstream"})
    kinds = [k for k in ("grid", "points", "random") if k in data]
    if unknown or len(kinds) != 1:
        what = f"unknown key(s) {', '.join(unknown)}" if unknown else f"{len(kinds)} of them"
        raise SweepError(
            f"{path}: a sweep file holds exactly one of grid, points or random (and optionally "
            f"stages, downstream); found {what}.",
            sweep=path.stem,
            argument="file",
        )
    return data


def raw_points(data: Mapping[str, JSON], *, sweep: str) -> list[dict[str, JSON]]:
    """The points of a sweep file's mapping (or of ``{"grid": parse_grid(...)}``), unchecked:
    ``[{"stage.param": value}]``."""
    if "grid" in data:
        grid = data["grid"]
        if not isinstance(grid, dict) or not grid:
            raise SweepError("the grid is empty: name at least one parameter.", sweep=sweep)
        axes = {k: _axis(str(k), v, sweep) for k, v in grid.items()}
        keys = list(axes)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if "points" in data:
        points = data["points"]
        if (
            not isinstance(points, list)
            or not points
            or not all(isinstance(p, dict) and p for p in points)
        ):
            raise SweepError(
                "points: a non-empty list of mappings {stage.param: value}.", sweep=sweep
            )
        return [dict(p) for p in points]
    return _random_points(data["random"], sweep)


def _axis(key: str, values: JSON, sweep: str) -> list[JSON]:
    if isinstance(values, str) and _RANGE.match(values):
        return _values(key, values)
    if not isinstance(values, list) or not values:
        raise SweepError(
            f"grid {key}: a non-empty list of values or an integer range 'A..B'.", sweep=sweep
        )
    return values


def _random_points(spec: JSON, sweep: str) -> list[dict[str, JSON]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict) or not spec["params"]:
        raise SweepError("random: needs params (and samples, seed).", sweep=sweep)
    samples, seed = spec.get("samples"), spec.get("seed", 0)
    if type(samples) is not int or samples < 1 or type(seed) is not int:
        raise SweepError("random: samples is a positive integer, seed an integer.", sweep=sweep)
    rng = random.Random(seed)  # noqa: S311 - reproducible samples, not secrets
    draws = {str(k): _sampler(str(k), v, sweep) for k, v in spec["params"].items()}
    return [{k: draw(rng) for k, draw in draws.items()} for _ in range(samples)]


def _sampler(key: str, how: JSON, sweep: str) -> Any:
    if isinstance(how, list) and how:
        return lambda rng: rng.choice(how)
    if isinstance(how, dict) and {"low", "high"} <= set(how):
        low, high, log = how["low"], how["high"], bool(how.get("log", False))
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (low, high))
        if numbers and low < high and (not log or low > 0):
            if type(low) is int and type(high) is int and not log:
                return lambda rng: rng.randint(low, high)
            if log:
                return lambda rng: math.exp(rng.uniform(math.log(low), math.log(high)))
            return lambda rng: rng.uniform(low, high)
    raise SweepError(
        f"random {key}: a non-empty list to choose from, or {{low, high}} with low < high "
        "(and low > 0 with log: true).",
        sweep=sweep,
    )


def define_sweep(
    spec: PipelineSpec,
    *,
    name: str,
    points: Sequence[Mapping[str, JSON]],
    stages: Iterable[str] = (),
    downstream: bool = False,
    source: str = "command line",
) -> SweepSpec:
    """Check every point against the stage defaults and decide what runs once or per point.

    Raises
    ------
    SweepError
        No points, a bad name, a swept stage outside the selection, or a point whose value is of
        the wrong type or names an unknown parameter (``point`` names it; nothing ran).
    UnknownStageError
        A point or ``stages`` names a stage the pipeline does not have.
    """
    if not _NAME.match(name):
        raise SweepError(
            f"sweep name {name!r}: letters, digits, '_', '-', '.', at most 64, not starting "
            "with a dot.",
            sweep=name,
            argument="name",
        )
    if not points:
        raise SweepError("the sweep has no points.", sweep=name)
    checked: dict[str, Point] = {}
    for index, raw in enumerate(points, start=1):
        overrides = _check_point(spec, name, index, len(points), raw)
        pid = point_id(overrides)
        checked.setdefault(pid, Point(id=pid, index=len(checked) + 1, overrides=overrides))
    swept = sorted(
        {f"{s}.{k}" for p in checked.values() for s, g in p.overrides.items() for k in g}
    )
    selection = select_stages(spec, stages, downstream)
    swept_stages = {key.split(".", 1)[0] for key in swept}
    outside = sorted(swept_stages - set(selection))
    if outside:
        raise SweepError(
            f"stage(s) {', '.join(outside)} have swept parameters but are not selected "
            f"(selected: {', '.join(selection)}); add --stage {outside[0]}.",
            sweep=name,
            argument="stage",
        )
    reached = {d for s in swept_stages for d in spec.downstream(s)}
    return SweepSpec(
        name=name,
        pipeline=spec,
        points=tuple(checked.values()),
        selection=selection,
        point_stages=tuple(s for s in selection if s in reached),
        shared_stages=tuple(s for s in selection if s not in reached),
        swept=tuple(swept),
        source=source,
    )


def _check_point(
    spec: PipelineSpec, sweep: str, index: int, total: int, raw: Mapping[str, JSON]
) -> Overrides:
    nested: dict[str, dict[str, JSON]] = {}
    for key, value in raw.items():
        stage, dot, param = str(key).partition(".")
        if not dot or not stage or not param:
            raise SweepError(
                f"point {index} of {total}: {key!r} is not STAGE.PARAM.",
                sweep=sweep,
                point=str(index),
            )
        nested.setdefault(stage, {})[param] = value
    shown = f"point {index} of {total} ({label(nested)})"
    try:
        effective = resolve_params(spec, nested)
    except ParameterError as exc:
        raise SweepError(
            f"{shown}: {exc.message} No point has run.", sweep=sweep, point=shown
        ) from None
    except NbmlopsError:
        raise  # an unknown stage names itself
    return {s: {k: effective[s][k] for k in sorted(given)} for s, given in sorted(nested.items())}


def default_name(points: Sequence[Mapping[str, JSON]], stages: Iterable[str]) -> str:
    """A name for a sweep given on the command line without ``--name``: ``grid-<digest>`` of its
    definition, so typing the same command again resumes the same sweep."""
    digest = canonical_digest({"points": [dict(p) for p in points], "stages": sorted(stages)},
                              strict=False)  # fmt: skip
    return f"grid-{digest[:8]}"
