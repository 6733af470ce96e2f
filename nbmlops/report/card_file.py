"""The model-card file a team keeps beside its pipeline: ``pipelines/<pipeline>/model_card.md``.

Markdown with one ``## `` heading per section of a model card (Mitchell et al., "Model Cards for
Model Reporting", 2019). The sections people must write are :data:`REQUIRED_SECTIONS`; what the
records know (the model, metrics, data digests, subgroup results) is added by
:mod:`nbmlops.report.card` and never written here. ``nbmlops init`` makes a template whose
sections hold a ``TODO:`` line; a section still holding one, empty, or absent is *missing*, and
a card or report says so instead of filling it in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from nbmlops.authoring.project_files import (
    MODEL_CARD_FILE,
    MODEL_CARD_PLACEHOLDER,
    MODEL_CARD_SECTIONS,
)

__all__ = [
    "CARD_FILE",
    "PLACEHOLDER",
    "REQUIRED_SECTIONS",
    "ModelCardText",
    "card_file_path",
    "read_model_card",
]

CARD_FILE = MODEL_CARD_FILE
"""The file's name in ``pipelines/<pipeline>/``."""

REQUIRED_SECTIONS: tuple[str, ...] = tuple(heading for heading, _ in MODEL_CARD_SECTIONS)
"""The sections a team writes, in the order a card shows them (``nbmlops init``'s template)."""

MAX_CARD_BYTES = 1 << 20
"""A card file larger than this (1 MiB) is not read: a card is a few pages of text."""

PLACEHOLDER = MODEL_CARD_PLACEHOLDER
"""A line starting with this marks a section as not written yet (the template's lines do)."""

# other headings people use for the same section (compared case-folded, spaces collapsed)
_ALIASES = {
    "limitations": "Caveats and recommendations",
    "caveats": "Caveats and recommendations",
    "caveats and limitations": "Caveats and recommendations",
    "out of scope uses": "Out-of-scope uses",
    "out-of-scope use": "Out-of-scope uses",
    "intended uses": "Intended use",
    "ethical considerations and risks": "Ethical considerations",
}
_HEADING = re.compile(r"^##[ \t]+(?P<title>.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class ModelCardText:
    """What a pipeline's model-card file says, section by section.

    ``sections`` maps each ``## `` heading (a required section under its name in
    :data:`REQUIRED_SECTIONS`, whatever alias the file used) to its Markdown, HTML comments
    removed; ``missing`` lists the required sections that are absent, empty or still hold a
    ``TODO:`` placeholder, in :data:`REQUIRED_SECTIONS` order. A file that does not exist has no
    sections and every required one missing; ``digest`` is the SHA-256 of the file's bytes, None
    when there is no readable file, and ``problem`` says why it could not be read.
    """

    path: Path
    digest: str | None
    sections: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    missing: tuple[str, ...] = REQUIRED_SECTIONS
    exists: bool = False
    problem: str | None = None

    @property
    def complete(self) -> bool:
        """Every required section is written."""
        return self.exists and not self.missing

    def section(self, name: str) -> str | None:
        """The text of section ``name``; None when it is missing (never a stand-in)."""
        if name in self.missing:
            return None
        return self.sections.get(name)


def card_file_path(root: Path, pipeline: str) -> Path:
    """Where pipeline ``pipeline``'s model-card file is kept in project ``root``."""
    return Path(root) / "pipelines" / pipeline / CARD_FILE


def read_model_card(root: Path, pipeline: str) -> ModelCardText:
    """Read ``pipelines/<pipeline>/model_card.md`` of project ``root``.

    Parameters
    ----------
    root : Path
        The project folder.
    pipeline : str
        The pipeline's name (its folder under ``pipelines/``).

    Returns
    -------
    ModelCardText
        With ``exists=False`` and every required section missing when there is no file, and a
        ``problem`` when it is not a readable UTF-8 text file; never raises for a bad file.

    Examples
    --------
    >>> card = read_model_card(Path("."), "demo")  # doctest: +SKIP
    >>> card.missing
    ('Factors',)
    """
    path = card_file_path(root, pipeline)
    if not pipeline or pipeline.startswith(".") or any(c in pipeline for c in "/\\\0"):
        # the name comes from a run record: never a path out of pipelines/
        return ModelCardText(path=path, digest=None, problem="names no pipeline folder")
    if not path.exists():
        return ModelCardText(path=path, digest=None, problem="no model-card file")
    try:
        if path.is_file() and path.stat().st_size > MAX_CARD_BYTES:
            size = path.stat().st_size
            too_large = f"is too large for a card ({size} bytes; at most {MAX_CARD_BYTES})"
            return ModelCardText(path=path, digest=None, problem=too_large)
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not UTF-8 text"
        return ModelCardText(path=path, digest=None, problem=f"cannot be read: {reason}")
    sections = parse_sections(text)
    missing = tuple(name for name in REQUIRED_SECTIONS if not _written(sections.get(name)))
    return ModelCardText(
        path=path,
        digest=hashlib.sha256(raw).hexdigest(),
        sections=MappingProxyType(sections),
        missing=missing,
        exists=True,
    )


def parse_sections(text: str) -> dict[str, str]:
    """Each ``## `` heading of Markdown ``text`` -> the text under it (up to the next heading of
    level 1 or 2), HTML comments removed; headings inside fenced code do not count. A required
    section's alias is stored under its name; a heading repeated keeps both texts, joined."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in _COMMENT.sub("", text.replace("\r\n", "\n")).split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            current = sections.setdefault(_canonical(heading["title"]), [])
            continue
        if not fenced and line.startswith("# "):
            current = None  # a level-1 heading ends the section (the card's title)
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _canonical(title: str) -> str:
    key = " ".join(title.split()).casefold()
    for name in REQUIRED_SECTIONS:
        if key == name.casefold():
            return name
    return _ALIASES.get(key, " ".join(title.split()))


def _written(text: str | None) -> bool:
    if text is None or not text.strip():
        return False
    return not any(line.lstrip().startswith(PLACEHOLDER) for line in text.splitlines())
