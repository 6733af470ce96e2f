"""Printing, shared by every command: one console, and markup only where this package writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["console", "styled"]


def console() -> Console:
    """The console every command prints through. Markup and emoji codes are off: paths, stage
    names, parameter values and error texts come from users and notebooks, and a ``[/]`` or
    ``:smile:`` in them must print as typed (a markup error would crash the command). Styling is
    explicit, with :func:`styled`."""
    from rich.console import Console

    return Console(markup=False, emoji=False, highlight=False, soft_wrap=True)


def styled(template: str, *values: object) -> Text:
    """``template`` (Rich markup written in this package, ``{}`` for each value) with ``values``
    escaped, so that whatever they hold prints literally."""
    from rich.markup import escape
    from rich.text import Text

    return Text.from_markup(template.format(*(escape(str(v)) for v in values)), emoji=False)
