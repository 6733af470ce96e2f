"""The Jupyter server extension: thin, authenticated REST handlers under ``/nbmlops/``.

Each handler parses its request, calls one public function of the package and serialises the
answer; errors nbmlops raises on purpose become 400 (bad input), 404 (nothing there) or 409
(a conflict) with a JSON body naming the file, stage or field and what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbmlops.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from nbmlops.server.handlers import routes

    web_app = server_app.web_app
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", routes(base))
    server_app.log.info("nbmlops server extension loaded at %snbmlops/", base)
