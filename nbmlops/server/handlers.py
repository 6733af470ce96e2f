"""REST handlers of the Jupyter server extension (see :mod:`nbmlops.server`).

``GET  /nbmlops/pipeline?folder=notebooks``  the folder's stages as a checked DAG, each with its
                                             state (up to date / stale and why / never run), its
                                             executed notebook and MLflow run
``POST /nbmlops/stage/context``              ``{"path": ..., "parameters_source": ...}``: the
                                             other stages beside a notebook, the names its
                                             parameters cell assigns
``POST /nbmlops/stage/validate``             ``{"path": ..., "metadata": {...},
                                             "parameters_source": ...}``: the stage metadata
                                             checked as the CLI checks it, and the parameters
                                             cell with the metadata's params synced in
``POST /nbmlops/runs``                       ``{"folder": ..., "stages": [...], "downstream": b,
                                             "force": b}``: start a run in a background process
``GET  /nbmlops/runs``                       the run in progress (or null), the runs started here
``GET  /nbmlops/runs/<id>``                  its status, progress events and the log's tail

Paths are relative to the server's root directory and may not leave it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nbmlops.errors import (
    CycleError,
    DuplicateProductError,
    DuplicateStageError,
    NbmlopsError,
    PipelineNotFoundError,
    RunInProgressError,
    UnknownRunError,
    UnknownStageError,
)
from nbmlops.server.runs import BackgroundRuns

__all__ = ["routes"]

_NOT_FOUND = (PipelineNotFoundError, UnknownStageError, UnknownRunError)
_CONFLICT = (CycleError, DuplicateStageError, DuplicateProductError, RunInProgressError)
_FIELDS = ("stage", "path", "param", "field", "upstream", "cycle", "kernel", "handle")
_HOLDER_FIELDS = ("pid", "host", "user", "since", "command")  # RunInProgressError: who runs


class NbmlopsHandler(APIHandler):
    """Maps nbmlops errors to 400/404/409 with a JSON body; anything else stays a 500."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, NbmlopsError):
            body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
            for name in (*_FIELDS, *_HOLDER_FIELDS):
                value = getattr(exc, name, None)
                if value is not None:
                    body[name] = value if isinstance(value, str | int | list) else str(value)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body))
            return
        super().write_error(status_code, **kwargs)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, NbmlopsError) and not self._finished:
            status = 404 if isinstance(e, _NOT_FOUND) else 409 if isinstance(e, _CONFLICT) else 400
            self.send_error(status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def _root(self) -> Path:
        return Path(self.settings["server_root_dir"]).resolve()

    def _optional_str(self, body: dict[str, Any], key: str) -> str | None:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise tornado.web.HTTPError(400, reason=f"{key} must be a string or null")
        return value

    def _inside_root(self, relative: str, what: str) -> Path:
        root = self._root()
        path = (root / relative).resolve()
        if not relative or not path.is_relative_to(root):
            raise tornado.web.HTTPError(400, reason=f"{what} must be a path inside {root}")
        return path

    def _target(self, relative: str) -> str:
        """A pipeline target (folder or compiled name) inside the root, relative to it."""
        return self._inside_root(relative, "folder").relative_to(self._root()).as_posix()

    def _json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason=f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, reason="the body must be a JSON object")
        return body


class PipelineHandler(NbmlopsHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        from nbmlops.server.views import pipeline_view

        target = self._target(self.get_query_argument("folder", "notebooks"))
        self.finish(pipeline_view(target, root=self._root(), active_run=_runs(self).active()))


class StageValidateHandler(NbmlopsHandler):
    @tornado.web.authenticated
    def post(self) -> None:
        from nbmlops.server.views import validate_view

        body = self._json_body()
        path = self._inside_root(str(body.get("path", "")), "path")
        source = self._optional_str(body, "parameters_source")
        self.finish(validate_view(path, body.get("metadata"), source, root=self._root()))


class StageContextHandler(NbmlopsHandler):
    @tornado.web.authenticated
    def post(self) -> None:
        from nbmlops.server.views import context_view

        body = self._json_body()
        path = self._inside_root(str(body.get("path", "")), "path")
        source = self._optional_str(body, "parameters_source")
        self.finish(context_view(path, source, root=self._root()))


class RunsHandler(NbmlopsHandler):
    @tornado.web.authenticated
    def post(self) -> None:
        body = self._json_body()
        folder = self._target(str(body.get("folder", "notebooks")))
        stages = body.get("stages", [])
        if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
            raise tornado.web.HTTPError(400, reason="stages must be a list of stage names")
        runs = _runs(self)
        started = runs.start(
            folder,
            stages=stages,
            downstream=bool(body.get("downstream")),
            force=bool(body.get("force")),
        )
        self.set_status(202)
        self.finish(started)

    @tornado.web.authenticated
    def get(self) -> None:
        runs = _runs(self)
        active = runs.active()
        holder = runs.holder()  # a run from a terminal holds the project too
        self.finish(
            {
                "active": runs.status(active) if active else None,
                "runs": runs.handles(),
                "holder": holder.to_dict() if holder else None,
            }
        )


class RunHandler(NbmlopsHandler):
    @tornado.web.authenticated
    def get(self, handle: str) -> None:
        self.finish(_runs(self).status(handle))


def _runs(handler: NbmlopsHandler) -> BackgroundRuns:
    runs: BackgroundRuns = handler.settings.setdefault(
        "nbmlops_runs", BackgroundRuns(handler._root())
    )
    return runs


def routes(base_url: str) -> list[tuple[str, type[NbmlopsHandler]]]:
    """The extension's URL patterns under ``base_url``."""
    return [
        (url_path_join(base_url, "nbmlops", "pipeline"), PipelineHandler),
        (url_path_join(base_url, "nbmlops", "stage", "validate"), StageValidateHandler),
        (url_path_join(base_url, "nbmlops", "stage", "context"), StageContextHandler),
        (url_path_join(base_url, "nbmlops", "runs"), RunsHandler),
        (url_path_join(base_url, "nbmlops", "runs", r"([0-9TZ]+-[0-9a-f]+)"), RunHandler),
    ]
