"""REST handlers of the Jupyter server extension (see :mod:`nbmlops.server`).

``GET  /nbmlops/pipeline?folder=notebooks``  the folder's stages as a checked DAG, each with its
                                             state (up to date / stale and why / never run), its
                                             executed notebook and MLflow run
``POST /nbmlops/stage/context``              ``{"path": ..., "parameters_source": ...}``: the
                                             other stages beside a notebook, the names its
                                             parameters cell assigns
``POST /nbmlops/stage/validate``             ``{"path": ..., "metadata": {...},
                                             "parameters_source": ..., "cells": [...]}``: the
                                             stage metadata checked as the CLI checks it (and
                                             the open notebook's later cells: no declared
                                             parameter assigned again), and the parameters
                                             cell with the metadata's params synced in
``POST /nbmlops/stage/paths``                ``{"path": ...}``: the paths a run would inject into
                                             that stage notebook (latest upstream products,
                                             inputs, a scratch product folder) and the
                                             ``injected-parameters`` cell that holds them
``POST /nbmlops/runs``                       ``{"folder": ..., "stages": [...], "downstream": b,
                                             "force": b}``: start a run in a background process
``GET  /nbmlops/runs``                       the run in progress (or null), the runs started here
``GET  /nbmlops/runs/<id>``                  its status, progress events and the log's tail
``GET  /nbmlops/sweeps``                     the project's sweeps: points counted by status,
                                             running now or not, the summary page
``GET  /nbmlops/sweeps/<pipeline>/<sweep>``  one sweep with its points (parameters, status,
                                             duration, numeric metrics)

Paths are relative to the server's root directory and may not leave it. Bodies are JSON objects
with the fields above and their JSON types only (anything else is a 400), at most ``body_limit``
bytes per route (a 413 naming the limit). The work runs in a thread, off the IOLoop, so one slow
request never makes every user of the Jupyter server wait.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nbmlops._core.ids import RUN_ID_PATTERN
from nbmlops.errors import NbmlopsError
from nbmlops.server.runs import BackgroundRuns

__all__ = ["routes"]

_FIELDS = ("stage", "path", "param", "field", "upstream", "cycle", "kernel", "handle", "argument")
_SWEEP_FIELDS = ("pipeline", "sweep")  # SweepInProgressError's, UnknownSweepError's
_HOLDER_FIELDS = ("pid", "host", "user", "since", "command")  # RunInProgressError: who runs
_FIELDS_OF_CELLS = ("cell_index", "line")  # a ParameterReassignedError's
_T = TypeVar("_T")
_MIB = 1 << 20
_MAX_DEPTH = 64  # JSON nesting a body may have: deeper is no stage metadata, and costs recursion

_STR, _OPT_STR, _BOOL, _OBJECT = (str,), (str, type(None)), (bool,), (dict,)
_STRINGS = (list,)  # a list of strings: checked item by item
_Body = Mapping[str, tuple[tuple[type, ...], Any]]  # field -> (JSON types, default)
_CONTEXT: _Body = {"path": (_STR, ""), "parameters_source": (_OPT_STR, None)}
_PATHS: _Body = {"path": (_STR, "")}
_VALIDATE: _Body = {**_CONTEXT, "metadata": (_OBJECT, None), "cells": ((list, type(None)), None)}
_RUN: _Body = {
    "folder": (_STR, "notebooks"),
    "stages": (_STRINGS, []),
    "downstream": (_BOOL, False),
    "force": (_BOOL, False),
}


@tornado.web.stream_request_body
class NbmlopsHandler(APIHandler):
    """Answers an nbmlops error with its category's status (``http_status``: 400, 404 or 409)
    and a JSON body; anything else stays a 500.

    Bodies are streamed in and refused past ``body_limit`` bytes (413), before they are read.
    """

    body_limit = 0
    """Bytes a request body may have on this route."""

    async def prepare(self) -> None:  # type: ignore[override] # jupyter_server's is typed loosely
        await super().prepare()
        self._chunks: list[bytes] = []
        self._received = 0
        if self._finished:
            return
        declared = int(self.request.headers.get("Content-Length") or 0)
        if declared > self.body_limit:
            self._too_large()
            return
        # a chunked body has no Content-Length: tornado cuts it off at the limit
        self.request.connection.set_max_body_size(self.body_limit)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received <= self.body_limit:
            self._chunks.append(chunk)

    def _too_large(self) -> None:
        self.set_status(413)
        self.set_header("Content-Type", "application/json")
        message = (
            f"the request body is larger than this route's limit of {self.body_limit} bytes; "
            "send less (a parameters cell or stage metadata is far smaller)"
        )
        self.finish(
            json.dumps(
                {"error": "RequestBodyTooLarge", "message": message, "limit": self.body_limit}
            )
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, NbmlopsError):
            body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
            for name in (*_FIELDS, *_SWEEP_FIELDS, *_HOLDER_FIELDS, *_FIELDS_OF_CELLS):
                value = getattr(exc, name, None)
                if value is not None:
                    body[name] = value if isinstance(value, str | int | list) else str(value)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body))
            return
        super().write_error(status_code, **kwargs)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, NbmlopsError) and not self._finished:
            self.send_error(e.http_status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def _root(self) -> Path:
        return Path(self.settings["server_root_dir"]).resolve()

    def _inside_root(self, relative: str, what: str) -> Path:
        root = self._root()
        if not relative or "\x00" in relative:
            raise tornado.web.HTTPError(400, reason=f"{what} must be a path inside {root}")
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise tornado.web.HTTPError(400, reason=f"{what} must be a path inside {root}")
        return path

    def _target(self, relative: str) -> str:
        """A pipeline target (folder or compiled name) inside the root, relative to it."""
        return self._inside_root(relative, "folder").relative_to(self._root()).as_posix()

    def _body(self, fields: _Body) -> dict[str, Any]:
        """The JSON object body with exactly ``fields``, each of its JSON type (or its default)."""
        try:
            body = json.loads(b"".join(self._chunks) or b"{}")
        except (ValueError, RecursionError) as exc:
            raise tornado.web.HTTPError(400, reason=f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, reason="the body must be a JSON object")
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise tornado.web.HTTPError(
                400, reason=f"unknown field(s) {unknown}: expected {sorted(fields)}"
            )
        if _depth(body) > _MAX_DEPTH:
            raise tornado.web.HTTPError(
                400, reason=f"the body nests deeper than {_MAX_DEPTH} levels"
            )
        parsed = {}
        for name, (types, default) in fields.items():
            value = body.get(name, default)
            if types is _STRINGS:
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:  # bool is an int in Python, not in JSON: exact types only
                ok = type(value) in types
            if not ok:
                wanted = (
                    "a list of strings"
                    if types is _STRINGS
                    else " or ".join(
                        {
                            str: "a string",
                            bool: "true or false",
                            dict: "an object",
                            list: "a list",
                            type(None): "null",
                        }[t]
                        for t in types
                    )
                )
                raise tornado.web.HTTPError(400, reason=f"{name} must be {wanted}")
            parsed[name] = value
        return parsed

    async def _off_loop(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run ``work`` in a thread: the IOLoop keeps serving everyone else meanwhile."""
        return await asyncio.to_thread(work, *args, **kwargs)


def _depth(value: Any) -> int:
    """How deep JSON nests, without recursion (a body may be a million brackets deep)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > _MAX_DEPTH:
                break
            todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


class PipelineHandler(NbmlopsHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        from nbmlops.server.views import pipeline_view

        target = self._target(self.get_query_argument("folder", "notebooks"))
        active = _runs(self).active()
        self.finish(
            await self._off_loop(pipeline_view, target, root=self._root(), active_run=active)
        )


class StageValidateHandler(NbmlopsHandler):
    body_limit = _MIB

    @tornado.web.authenticated
    async def post(self) -> None:
        from nbmlops.server import views

        body = self._body(_VALIDATE)
        path = self._inside_root(body["path"], "path")
        args = (path, body["metadata"], body["parameters_source"])
        check = functools.partial(views.validate_view, root=self._root(), cells=body["cells"])
        self.finish(await self._off_loop(check, *args))


class StageContextHandler(NbmlopsHandler):
    body_limit = _MIB

    @tornado.web.authenticated
    async def post(self) -> None:
        from nbmlops.server import views

        body = self._body(_CONTEXT)
        path = self._inside_root(body["path"], "path")
        source = body["parameters_source"]
        self.finish(await self._off_loop(views.context_view, path, source, root=self._root()))


class StagePathsHandler(NbmlopsHandler):
    body_limit = 16384  # a notebook's path

    @tornado.web.authenticated
    async def post(self) -> None:
        from nbmlops.server import views

        path = self._inside_root(self._body(_PATHS)["path"], "path")
        self.finish(await self._off_loop(views.paths_view, path))


class RunsHandler(NbmlopsHandler):
    body_limit = 16384  # a folder and stage names

    @tornado.web.authenticated
    def post(self) -> None:
        body = self._body(_RUN)
        folder = self._target(body.pop("folder"))
        # on the IOLoop on purpose: it only spawns a process, and two starts must not interleave
        started = _runs(self).start(folder, **body)
        self.set_status(202)
        self.finish(started)

    @tornado.web.authenticated
    async def get(self) -> None:
        runs = _runs(self)
        active = runs.active()
        status = await self._off_loop(runs.status, active) if active else None
        holder = runs.holder()  # a run from a terminal holds the project too
        self.finish(
            {
                "active": status,
                "runs": runs.handles(),
                "holder": holder.to_dict() if holder else None,
            }
        )


class RunHandler(NbmlopsHandler):
    @tornado.web.authenticated
    async def get(self, handle: str) -> None:
        self.finish(await self._off_loop(_runs(self).status, handle))


class SweepsHandler(NbmlopsHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        from nbmlops.server.sweeps import sweeps_view

        self.finish(await self._off_loop(sweeps_view, self._root()))


class SweepHandler(NbmlopsHandler):
    @tornado.web.authenticated
    async def get(self, pipeline: str, sweep: str) -> None:
        from nbmlops.server.sweeps import sweep_view

        self.finish(await self._off_loop(sweep_view, self._root(), pipeline, sweep))


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
        (url_path_join(base_url, "nbmlops", "stage", "paths"), StagePathsHandler),
        (url_path_join(base_url, "nbmlops", "runs"), RunsHandler),
        (url_path_join(base_url, "nbmlops", "runs", f"({RUN_ID_PATTERN})"), RunHandler),
        (url_path_join(base_url, "nbmlops", "sweeps"), SweepsHandler),
        (url_path_join(base_url, "nbmlops", "sweeps", "([^/]+)", "([^/]+)"), SweepHandler),
    ]
