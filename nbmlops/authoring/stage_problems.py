"""What is wrong with stage metadata, said as a sentence a scientist can act on.

jsonschema says ``'Bad Name' does not match '^[a-z][a-z0-9_]*$'``; the person in the Stage form
(or at ``nbmlops stage set``) needs to read what a valid stage name is, with an example. Every
rule of ``nbmlops/schema/stage.v2.json`` a person can break is put in words here; a rule without
words here falls back to jsonschema's own message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STAGE_NAME_RULE", "plain_problem"]

STAGE_NAME_RULE = (
    "A stage name uses only lowercase letters, digits and underscores, and starts with a letter, "
    "e.g. train_model"
)
_IDENTIFIER_RULE = (
    "starts with a letter or an underscore and has only letters, digits and underscores, "
    "like a Python variable, e.g. {example}"
)
_PATH_RULE = "give a relative path inside {base}, without '..', e.g. {example}"
_WHAT = {
    # the object holding names -> (what one of its names is, an example name)
    "products": ("product name", "model"),
    "inputs": ("input name", "extract"),
    "params": ("parameter name", "min_auroc"),
}
_PATHS = {
    "products": ("the stage's product folder", "model.skops"),
    "inputs": ("the project", "data/extract.parquet"),
}
_TYPES = {"string": "text", "array": "a list", "object": "a mapping of names to values"}


def plain_problem(error: Any) -> str:
    """One sentence for a ``jsonschema.ValidationError`` of the stage schema (no regex, no
    schema keyword), or jsonschema's message for a rule this module has no words for."""
    for said in (_stage_name_problem, _field_problem, _names_problem):
        sentence = said(error)
        if sentence:
            return sentence
    return str(error.message)


def _top(error: Any) -> str:
    path = list(error.absolute_path)
    return str(path[0]) if path else ""


def _stage_name_problem(error: Any) -> str | None:
    if _top(error) not in ("stage", "upstream"):
        return None
    if error.validator == "pattern":
        return f"'{error.instance}' is not a valid stage name. {STAGE_NAME_RULE}"
    if error.validator == "maxLength":
        return f"'{error.instance}' is too long for a stage name (at most 64 characters)"
    if error.validator == "uniqueItems":
        return "'upstream' names a stage more than once"
    return None


def _field_problem(error: Any) -> str | None:
    """A field of the wrong type, empty, missing or unknown; a product or input path."""
    path, keyword = list(error.absolute_path), error.validator
    dotted = ".".join(str(p) for p in path)
    sentences = {
        "minLength": f"'{dotted}' is empty; give a value",
        "type": f"'{dotted}' must be "
        f"{_TYPES.get(str(error.validator_value), str(error.validator_value))}, "
        f"not {error.instance!r}",
        "required": f"the stage has no name ('stage'). {STAGE_NAME_RULE}",
    }
    if keyword in sentences:
        return sentences[keyword]
    if keyword == "additionalProperties" and not path:
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown field(s) {_extra(error)}; the fields of a stage are {allowed}"
    if keyword == "pattern" and _top(error) in _PATHS and len(path) > 1:
        base, example = _PATHS[_top(error)]
        return f"'{error.instance}' is not a usable path for {path[1]}: " + _PATH_RULE.format(
            base=base, example=example
        )
    return None


def _names_problem(error: Any) -> str | None:
    """The problems with a name inside ``products``, ``inputs`` or ``params`` (jsonschema
    reports the name itself as the instance of a ``propertyNames`` rule)."""
    top, value = _top(error), error.instance
    if top not in _WHAT or not isinstance(value, str):
        return None
    what, example = _WHAT[top]
    keyword = error.validator
    if keyword == "pattern":
        return f"'{value}' is not a valid {what}: it " + _IDENTIFIER_RULE.format(example=example)
    if keyword == "maxLength":
        return f"'{value}' is too long for a name (at most 64 characters)"
    if keyword == "not" and top == "products":
        return "'nb' is the executed notebook's own product; give this product another name"
    if keyword == "not":
        return (
            f"'{value}' is a name nbmlops gives the paths it injects (upstream, product, inputs); "
            f"give this {what.removesuffix(' name')} another name"
        )
    return None


def _extra(error: Any) -> str:
    known = set(error.schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    return ", ".join(f"'{k}'" for k in sorted(instance) if k not in known)
