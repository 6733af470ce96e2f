"""Run-time parameter overrides: parsing and type checks, before any kernel starts."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MakeProject

from nbmlops.authoring.parameters import check_value, parse_overrides, resolve_params
from nbmlops.authoring.pipeline import discover
from nbmlops.errors import ParameterError, UnknownStageError


@pytest.mark.parametrize(
    ("raw", "default", "expected"),
    [
        ("7", 2, 7),
        ("0.5", 1.0, 0.5),
        ("3", 1.0, 3.0),
        ("true", False, True),
        ("[1, 2]", [], [1, 2]),
        ('{"a": 1}', {}, {"a": 1}),
        ("forest", "tree", "forest"),
        ("007", "x", "007"),
        ('"quoted"', "x", "quoted"),
        ("null", None, None),
        ("anything", None, "anything"),
    ],
)
def test_cli_values_are_read_against_the_default(raw: str, default: Any, expected: Any) -> None:
    value = parse_overrides([f"s.p={raw}"])["s"]["p"]
    result = check_value("s", "p", value, default)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "default"),
    [("x", 1), (True, 1), (1, True), (1.5, 1), ([1], {}), ({"a": 1}, [])],
)
def test_wrong_type_is_refused(value: Any, default: Any) -> None:
    with pytest.raises(ParameterError) as err:
        check_value("train", "seed", value, default)
    assert (err.value.stage, err.value.param) == ("train", "seed")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "x"}, object(), {"a": {1, 2}}])
def test_non_json_is_refused(value: Any) -> None:
    with pytest.raises(ParameterError):
        check_value("s", "p", value, None)


@pytest.mark.parametrize("bad", ["noequals", "nodot=1", ".x=1", "s.=1"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ParameterError):
        parse_overrides([bad])


def test_resolve_params(make_project: MakeProject) -> None:
    spec = discover(make_project("load", "double") / "notebooks")
    eff = resolve_params(spec, parse_overrides(["double.scale=3"]))
    assert eff == {"load": {"n": 5}, "double": {"scale": 3, "note": "x"}}
    with pytest.raises(ParameterError) as err:
        resolve_params(spec, {"double": {"nope": 1}})
    assert err.value.param == "nope"
    with pytest.raises(UnknownStageError):
        resolve_params(spec, {"ghost": {"x": 1}})
    with pytest.raises(ParameterError):
        resolve_params(spec, {"double": {"a = 1; import os; b": 1}})
