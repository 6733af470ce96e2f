"""The primitives written once in ``nbmlops._core``: digests (RFC 8785), run ids, the user."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from nbmlops._core.digests import (
    NOT_JCS,
    canonical_digest,
    canonical_json,
    file_digest,
    legacy_json_v1,
)
from nbmlops._core.ids import RUN_ID_PATTERN, is_run_id, new_run_id, utc_now
from nbmlops._core.user import current_user
from nbmlops.errors import InvalidInputError

# Values where a careless canonicaliser and RFC 8785 part ways: ECMAScript number printing, key
# order by UTF-16 code units (U+1D538 sorts before U+FB01 there, after it by code point), every
# control character's escape, text beyond the BMP, the largest exact integers, tuples.
TRICKY: list[Any] = [
    {"b": 1.0, "a": -0.0, "c": 1e-7, "d": 1e21, "e": 123456789012345680000.0, "f": 5e-324},
    {"\U0001d538": 1, "\ufb01": 2, "z": 3, "é": 4, "": 5},
    {"text": "".join(chr(c) for c in range(0x80)) + "\u2028\u2029\U0001f600 é ﬁ"},
    {"max": 2**53 - 1, "min": -(2**53 - 1), "zero": 0, "true": True, "none": None},
    [0.1, 0.2, 0.30000000000000004, 1e16, 100.0, 3.14159, -2.5e-8, 9007199254740993.0],
    ("a", ("b", {"c": []}), {}),
    "plain",
    42,
    None,
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_canonical_json_is_what_rfc8785_writes(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_digest(value) == hashlib.sha256(rfc8785.dumps(value)).hexdigest()


ALPHABET = ["a", "Z", "0", "é", "\n", '"', "\\", "\x00", "\x1f", "\x7f", "\ufb01",
            "\U0001d538", "\u2028", "😀", " "]  # fmt: skip


def _random_text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(most)))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    scalars: list[Callable[[], Any]] = [
        lambda: _random_text(rng, 6),
        lambda: rng.randint(-(2**53 - 1), 2**53 - 1),
        lambda: rng.choice([True, False, None]),
        lambda: rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30),
        lambda: rng.randrange(100),
    ]
    containers: list[Callable[[], Any]] = [
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {_random_text(rng, 4): _random_value(rng, depth + 1) for _ in range(5)},
    ]
    return rng.choice(scalars + (containers * 2 if depth < 3 else []))()


def test_canonical_json_agrees_with_rfc8785_on_thousands_of_random_values() -> None:
    """The fast path (the C encoder where it writes JCS's bytes) never differs from rfc8785."""
    rng = random.Random(8785)
    for _ in range(3000):
        value = _random_value(rng)
        assert canonical_json(value) == rfc8785.dumps(value), value


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), 2**53, -(2**60), {1: "a"}, "\ud800", Path("x"), {"a": {1, 2}}],
    ids=["nan", "inf", "2**53", "-2**60", "int key", "lone surrogate", "Path", "set"],
)
def test_values_outside_rfc8785_are_refused_when_strict(value: Any) -> None:
    with pytest.raises(InvalidInputError) as refused:
        canonical_json(value)
    assert refused.value.argument == "value"
    assert isinstance(refused.value, ValueError)  # callers that catch ValueError still do


def test_not_strict_hashes_big_integers_and_bad_text_apart_from_any_jcs_text() -> None:
    big = {"seed": 2**64}
    tagged = canonical_json(big, strict=False)
    assert tagged.startswith(NOT_JCS)
    assert tagged == canonical_json({"seed": 2**64}, strict=False)  # deterministic
    # a float prints as these very digits in JCS; the tag keeps the two digests apart
    digits = {"seed": 18446744073709552000}
    assert rfc8785.dumps({"seed": float(2**64)}) == json.dumps(digits).replace(" ", "").encode()
    assert canonical_digest(digits, strict=False) != canonical_digest({"seed": float(2**64)})
    assert canonical_digest(big, strict=False) != canonical_digest(
        {"seed": 2**64 + 1}, strict=False
    )
    assert canonical_json(["bad \udcff name"], strict=False).startswith(NOT_JCS)
    assert canonical_json({"a": 1}, strict=False) == b'{"a":1}'  # JCS wherever it applies
    with pytest.raises(InvalidInputError):
        canonical_json(Path("x"), strict=False)  # not JSON at all


def test_the_legacy_serialisation_is_the_one_nbmlops_0_1_hashed() -> None:
    value = {"b": 1.0, "a": "Zoë", "c": [1e-07]}
    assert legacy_json_v1(value, ascii_only=False) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert legacy_json_v1(value, ascii_only=True) == b'{"a":"Zo\\u00eb","b":1.0,"c":[1e-07]}'
    assert legacy_json_v1(value, ascii_only=False) != canonical_json(value)


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


def test_run_ids_sort_by_time_and_match_the_one_pattern() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert all(re.fullmatch(RUN_ID_PATTERN, i) and is_run_id(i) for i in ids)
    assert len(set(ids)) == 50
    assert ids[0][:16] <= ids[-1][:16] == utc_now().replace("-", "").replace(":", "")[:15] + "Z"
    assert not is_run_id("20260101T000000Z-abcde") and not is_run_id("../../etc-abcdef")


def test_the_current_user_without_a_name_is_the_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "analyst")
    assert current_user() == getpass.getuser() == "analyst"

    def no_name() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")  # a container without a passwd entry

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert current_user() == f"uid {os.getuid()}"
