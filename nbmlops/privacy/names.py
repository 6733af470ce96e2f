"""Person names: the 1990 US Census first- and last-name lists shipped in
``data/census_names_1990.json.gz`` (made by ``bench/make_census_names.py``), loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

__all__ = ["CensusNames", "census_names"]


@dataclass(frozen=True, kw_only=True)
class CensusNames:
    """The person-name lists: their version and source, and the names themselves (lower case)."""

    version: str
    source: str
    licence: str
    first: frozenset[str]
    last: frozenset[str]
    common_words: frozenset[str]
    """Names left out of ``first`` / ``last`` because they are everyday words (Will, May)."""

    def is_common(self, token: str) -> bool:
        """Whether a token (any case) is a listed name or one of the common words left out."""
        lowered = token.lower()
        return lowered in self.first or lowered in self.last or lowered in self.common_words


@cache
def census_names() -> CensusNames:
    """The shipped 1990 Census name lists, loaded on first use (~0.1 s).

    Examples
    --------
    >>> names = census_names()
    >>> "ann" in names.first, "lee" in names.last, "will" in names.first
    (True, True, False)
    """
    import gzip
    import json
    from importlib import resources

    blob = resources.files("nbmlops").joinpath("data/census_names_1990.json.gz").read_bytes()
    data = json.loads(gzip.decompress(blob))
    return CensusNames(
        version=str(data["version"]),
        source=str(data["source"]),
        licence=str(data["licence"]),
        first=frozenset(data["first_names"]),
        last=frozenset(data["last_names"]),
        common_words=frozenset(data["excluded_first"] + data["excluded_last"]),
    )
