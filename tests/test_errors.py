"""The error tree: every class has one category, which decides its REST status."""

from __future__ import annotations

import pytest
from error_samples import CATEGORY, SAMPLES, STATUS_BEFORE_CATEGORIES

from nbmlops import errors
from nbmlops.errors import CATEGORIES, InvalidInputError, NbmlopsError, category_of

EXPORTED = sorted(
    name
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and name != "NbmlopsError"
)


def test_every_exported_error_class_has_a_sample_and_a_category() -> None:
    assert sorted(SAMPLES) == EXPORTED
    assert sorted(CATEGORY) == EXPORTED


@pytest.mark.parametrize("name", EXPORTED)
def test_each_class_is_in_its_category_whose_status_it_has(name: str) -> None:
    cls = getattr(errors, name)
    category = category_of(cls)
    assert category is not None and category.__name__ == CATEGORY[name]
    assert cls.http_status == category.http_status
    assert type(SAMPLES[name]) is cls


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.__name__)
def test_categories_hang_off_the_root_and_state_their_status(category: type) -> None:
    assert category.__bases__[0] is NbmlopsError
    assert "http_status" in vars(category)
    assert category_of(category) is category


def test_the_statuses_are_the_ones_the_server_answered_before_categories() -> None:
    statuses = {c.__name__: c.http_status for c in CATEGORIES}
    assert statuses == {
        "InvalidInputError": 400,
        "NotFoundError": 404,
        "ConflictError": 409,
        "SetupError": 400,
        "IntegrityError": 400,
        "RefusedError": 400,
        "ServiceError": 400,
        "ExecutionError": 400,
    }
    for name, status in STATUS_BEFORE_CATEGORIES.items():
        assert getattr(errors, name).http_status == status, name


def test_the_tree_drawing_names_every_class() -> None:
    drawing = errors.__doc__ or ""
    assert [name for name in EXPORTED if f"── {name} " not in drawing] == []


def test_invalid_input_is_a_value_error_naming_its_argument_only_when_given() -> None:
    err = InvalidInputError("n must be positive", argument="n")
    assert isinstance(err, ValueError) and err.argument == "n"
    assert err.to_dict() == {
        "error": "InvalidInputError",
        "message": "n must be positive",
        "argument": "n",
    }
    # errors of the category that name their value by their own fields carry no `argument`
    parameter = SAMPLES["ParameterError"]
    assert isinstance(parameter, InvalidInputError) and parameter.argument is None
    assert "argument" not in parameter.to_dict()
