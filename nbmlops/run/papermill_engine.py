"""nbmlops's papermill engine: a notebook runs on a kernel :class:`~nbmlops.run.kernel.KernelPool`
booted ahead of time, and the kernel goes back to the pool for a background shutdown.

papermill's own engine makes nbclient start and (synchronously) shut down a kernel per notebook;
given a kernel manager instead, nbclient would leave the client's channels open.

papermill writes the whole executed notebook (validated) as each cell starts and again as it
ends, between the cells, while the kernel waits: ~0.08 s a write for a 1.4 MB notebook with
review plots, ~1.5 s of the demo's review stage. Here those writes are at most one every
:data:`SAVE_EVERY_S`; papermill's last write, when the notebook ends (succeeded, failed, or its
kernel died), is never skipped, so the kept notebook is the same.

A saved notebook keeps no widget state and no widget views: a widget's model lives in the kernel,
which is gone when the notebook is read. Given the state, ``jupyter nbconvert --to html`` (an
auditor's first move) would prefer each widget's view, drawn by a script from a CDN, to the static
HTML beside it in the same output: a page with no tables or plots offline. Without the view,
nbconvert and JupyterLab both show that static HTML; run the cell again for the live widget.

papermill registers :class:`PoolEngine` as ``nbmlops`` when it is imported, through the
``papermill.engine`` entry point in ``pyproject.toml``; :func:`nbmlops.run.kernel.run_notebook`
asks for it by that name. Import papermill, not this module: papermill loads it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nbclient.util import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

if TYPE_CHECKING:
    from nbmlops.run.kernel import KernelPool

__all__ = ["SAVE_EVERY_S", "WIDGET_VIEW", "PoolClient", "PoolEngine"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
"""An output's reference to a widget model in the kernel (ipywidgets' live view)."""

SAVE_EVERY_S = 2.0
"""Least time between two writes of the executed notebook while it runs (its last is always)."""


class _SpacedSaves:
    """``nb_man.save`` called at most once per ``every`` seconds; the calls between are dropped
    (each write holds the whole notebook, so the next one carries what they would have)."""

    def __init__(self, save: Callable[..., Any], every: float) -> None:
        self._save, self._every, self._last = save, every, -math.inf

    def __call__(self, **kwargs: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._save(**kwargs)


class PoolClient(PapermillNotebookClient):  # type: ignore[misc]  # papermill is untyped
    """papermill's notebook client on a pool kernel, which it hands back to the pool."""

    def __init__(self, nb_man: Any, km: Any, pool: KernelPool, **kw: Any) -> None:
        super().__init__(nb_man, km=km, **kw)
        km._nbmlops_handed_over = True  # from here on, the cleanup below releases it
        self.owns_km = True  # nbclient then cleans up, through the method below
        self._pool = pool

    async def _async_cleanup_kernel(self) -> None:
        km: Any = getattr(self, "km", None)  # untyped base class: read through getattr
        kc: Any = getattr(self, "kc", None)
        self.km = self.kc = None
        if kc is not None:
            await ensure_async(kc.stop_channels())
        if km is not None:
            self._pool.release(km)

    def output(
        self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> Any:
        """nbclient's output handling, with a widget's live view left out of a saved output that
        has another form to show (ipywidgets always gives ``text/plain``; nbmlops's review results
        their static HTML)."""
        out = super().output(outs, msg, display_id, cell_index)
        data = out.get("data") if out is not None else None
        if data and WIDGET_VIEW in data and len(data) > 1:
            del data[WIDGET_VIEW]
        return out

    def set_widgets_metadata(self) -> None:
        """Keep the widgets' state out of the notebook's metadata (see the module's docstring).

        nbclient still gathers it while the notebook runs: its Output widget writes into it."""

    # nbclient's synchronous ``setup_kernel`` (papermill's path) calls ``_cleanup_kernel``, which
    # nbclient binds to its own coroutine when the class is made: without this line the override
    # above is never used, and every stage waited for its kernel's graceful shutdown (~1.3 s).
    _cleanup_kernel = run_sync(_async_cleanup_kernel)


class PoolEngine(NBClientEngine):  # type: ignore[misc]
    """papermill's nbclient engine, with the kernel manager (``km``) and its ``pool`` given."""

    @classmethod
    def execute_managed_notebook(  # noqa: PLR0917 - papermill's engine signature
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        *,
        km: Any,
        pool: KernelPool,
        **kwargs: Any,
    ) -> Any:
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(
            kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        nb_man.save = _SpacedSaves(nb_man.save, SAVE_EVERY_S)  # shadows the method meanwhile
        try:
            return PoolClient(nb_man, km=km, pool=pool, **final).execute()
        finally:
            del nb_man.save  # papermill's own end-of-notebook write follows, in full, at once
