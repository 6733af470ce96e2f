"""Run one stage's notebook in a fresh Jupyter kernel through papermill: the only papermill caller.

Errors come back as :mod:`nbmlops.errors` values naming the stage and the source notebook's cell;
a dead kernel's partial notebook is corrected to say which cell it died in.

A source notebook may hold cells tagged ``injected-parameters`` (the paths "Load stage paths"
inserted for a run by hand). papermill would replace only the first; every one is left out of
what runs, so a stale hand-inserted cell never executes, and cell numbers still name the source.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.notebooks import read_notebook
from nbmlops.authoring.cell_code import is_injected
from nbmlops.authoring.stage import StageSpec
from nbmlops.errors import CellExecutionError, KernelDiedError, SetupError
from nbmlops.records.model import JSON
from nbmlops.run.kernel_preload import preload_arguments

__all__ = ["run_notebook"]


def _source_cell(stage: StageSpec, executed_index: int, kept: list[int] | None = None) -> int:
    """Map a cell index of the executed notebook back to the source notebook.

    papermill inserts its ``injected-parameters`` cell right after the ``parameters`` cell;
    ``kept`` are the source cells that ran (all but hand-inserted injected cells), if not all.
    """
    parameters = stage.parameters_cell
    if kept is not None and parameters is not None:
        parameters = kept.index(parameters) if parameters in kept else None
    index = executed_index
    if parameters is not None and executed_index > parameters:
        index -= 1
    return kept[index] if kept is not None and index < len(kept) else index


def _without_injected_cells(stage: StageSpec, executed: Path) -> tuple[Path, list[int]] | None:
    """The source without its ``injected-parameters`` cells, written beside ``executed``, and
    the source indices of the cells kept; ``None`` when it has none (the usual case)."""
    import json

    nb = read_notebook(stage.path)
    cells = nb.get("cells", [])
    kept = [i for i, cell in enumerate(cells) if not is_injected(cell)]
    if len(kept) == len(cells):
        return None
    nb["cells"] = [cells[i] for i in kept]
    stripped = executed.with_name(f".{stage.name}.source.ipynb")
    write_text_atomic(stripped, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return stripped, kept


def _mark_dead_cell(executed: Path) -> int | None:
    """Find the cell the kernel died in, and make the kept partial notebook say so.

    papermill's clean-up marks every cell that never ran as "completed" (and the dying one too),
    which would mislead whoever audits the partial notebook. The dying cell is the last one that
    started; it is marked failed and the cells after it pending again.
    """
    import json

    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cells = nb.get("cells", [])
    started = [
        i
        for i, c in enumerate(cells)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    if not started:
        return None
    dead = started[-1]
    for index, cell in enumerate(cells[dead:], start=dead):
        meta = cell.setdefault("metadata", {}).setdefault("papermill", {})
        meta["status"] = "failed" if index == dead else "pending"
        meta["exception"] = index == dead or None
    write_text_atomic(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return dead


def run_notebook(
    stage: StageSpec,
    executed: Path,
    *,
    params: Mapping[str, JSON],
    products: Mapping[str, Path],
    upstream: Mapping[str, Mapping[str, str]],
    pool: KernelPool,
    inputs: Mapping[str, str] | None = None,
) -> None:
    """Execute one stage's notebook in a fresh kernel, writing ``executed`` as it goes."""
    pool.prestart(stage)  # the first stage's kernel boots while papermill is imported
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.engines import papermill_engines

    injected: dict[str, JSON] = dict(params)
    injected["product"] = {"nb": str(executed), **{k: str(v) for k, v in products.items()}}
    if stage.upstream:
        injected["upstream"] = {k: dict(v) for k, v in upstream.items()}
    if stage.inputs:
        injected["inputs"] = dict(inputs or {})
    # The pool booted the kernel in the notebook's folder, as JupyterLab would. (papermill's own
    # ``cwd`` option chdirs the whole process, which parallel stages share.)
    try:
        papermill_engines.get_engine(_ENGINE)
    except papermill.PapermillException:
        raise SetupError(
            "papermill has no 'nbmlops' engine: nbmlops is not installed in this environment "
            "(its `papermill.engine` entry point is missing). Install it (`make setup`, or "
            "`pip install -e .` in a checkout), then run again."
        ) from None
    stripped = _without_injected_cells(stage, executed)
    source, kept = stripped if stripped else (stage.path, None)
    km = pool.take(stage)
    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=injected,
            kernel_name=stage.kernel,
            progress_bar=False,
            request_save_on_cell_execute=True,
            engine_name=_ENGINE,
            km=km,
            pool=pool,
        )
    except papermill.PapermillExecutionError as exc:
        raise CellExecutionError(
            stage=stage.name,
            path=executed,
            cell_index=_source_cell(stage, exc.cell_index, kept),
            ename=exc.ename,
            evalue=exc.evalue,
        ) from None
    except DeadKernelError:
        running = _mark_dead_cell(executed)
        raise KernelDiedError(
            stage=stage.name,
            path=executed,
            cell_index=None if running is None else _source_cell(stage, running, kept),
        ) from None
    except RuntimeError as exc:  # nbclient: "Kernel died before replying to kernel_info"
        if "kernel" not in str(exc).lower():
            raise
        raise KernelDiedError(stage=stage.name, path=executed, cell_index=None) from None
    finally:
        if not getattr(km, "_nbmlops_handed_over", False):  # papermill failed before running it
            pool.release(km)
        _close_thread_loop()
        if stripped:
            source.unlink(missing_ok=True)
        _stamp_kernel(executed, stage.kernel, stage.path)


def _stamp_kernel(executed: Path, kernel: str, source: Path) -> None:
    """Make the executed notebook name the kernel that ran it (papermill keeps the source's) and
    the source notebook it ran (not the copy without hand-inserted cells)."""
    import json

    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    metadata = nb.setdefault("metadata", {})
    spec = metadata.setdefault("kernelspec", {})
    papermill = metadata.get("papermill")
    changed = spec.get("name") != kernel
    if changed:
        spec.update({"name": kernel, "display_name": kernel})
    if isinstance(papermill, dict) and papermill.get("input_path") not in (None, str(source)):
        papermill["input_path"] = str(source)
        changed = True
    if changed:
        write_text_atomic(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _close_thread_loop() -> None:
    """Close the event loop nbclient made for this worker thread (it never closes it itself)."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running() and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    asyncio.set_event_loop(None)


class KernelPool:
    """Boots each stage's kernel ahead of time and shuts kernels down off the critical path.

    A kernel takes ~0.4 s to start and ~0.25 s to shut down; booting the next stage's kernel while
    the current stage runs, and shutting finished ones down in the background, takes both out of a
    pipeline's wall time. Kernels talk over Unix-domain sockets in a private folder (removed by
    :meth:`close`): notebook output, patient data included, never crosses even the loopback
    network, and parallel kernels cannot race for TCP ports.
    """

    def __init__(self, *, when_first_taken: Callable[[], None] | None = None) -> None:
        """``when_first_taken`` is called once, on the stage's thread, when the first kernel is
        handed to its stage (papermill imported, the kernel booted): the run's idle moment."""
        import tempfile
        from concurrent.futures import ThreadPoolExecutor

        self._folder = Path(tempfile.mkdtemp(prefix="nbmlops-k-"))
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nbmlops-kernel")
        self._booting: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._when_first_taken = when_first_taken

    def prestart(self, stage: StageSpec) -> None:
        """Start booting ``stage``'s kernel now (in its notebook's folder), if not already."""
        with self._lock:
            if stage.name not in self._booting:
                self._booting[stage.name] = self._threads.submit(self._start, stage)

    def take(self, stage: StageSpec) -> Any:
        """The booted kernel manager for ``stage`` (booting it now if it was not prestarted)."""
        self.prestart(stage)
        with self._lock:
            future = self._booting.pop(stage.name)
        km = future.result()
        with self._lock:
            then, self._when_first_taken = self._when_first_taken, None
        if then is not None:
            then()
        return km

    def release(self, km: Any) -> None:
        """Shut a kernel down in the background."""
        self._threads.submit(_stop_kernel, km)

    def close(self) -> None:
        """Shut down kernels booted for stages that did not need them; wait; remove the folder."""
        import shutil

        with self._lock:
            unused = list(self._booting.values())
            self._booting.clear()
        for future in unused:
            with contextlib.suppress(Exception):  # a kernel that failed to boot needs no stop
                self.release(future.result())
        self._threads.shutdown(wait=True)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _start(self, stage: StageSpec) -> Any:
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        km = AsyncKernelManager(
            kernel_name=stage.kernel,
            transport="ipc",
            ip=str(self._folder / secrets.token_hex(4)),
        )
        try:
            # a stage's code can tell it runs inside nbmlops (review results log to its run)
            env = {**os.environ, "NBMLOPS_STAGE": stage.name}
            spec = km.kernel_spec  # raises NoSuchKernel for an unknown kernel
            extra = preload_arguments(stage, spec.argv if spec is not None else [])
            run_sync(km.start_kernel)(cwd=str(stage.path.parent), env=env, extra_arguments=extra)
        except NoSuchKernel:
            from nbmlops.errors import KernelNotFoundError

            raise KernelNotFoundError(kernel=stage.kernel, available=[]) from None
        finally:
            _close_thread_loop()
        return km


def _stop_kernel(km: Any) -> None:
    from jupyter_core.utils import run_sync

    try:
        run_sync(_shut_down)(km)
    except Exception:  # already dead (a killed kernel): just free its resources
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()
    finally:
        _close_thread_loop()


async def _shut_down(km: Any) -> None:
    """jupyter_client's graceful ``shutdown_kernel``, without the interrupt it sends first.

    That SIGINT reaches an idle kernel, which then logs ``[IPKernelApp] ERROR | KeyboardInterrupt
    caught in kernel.`` into the run's output after a stage that succeeded. A kernel still busy
    (a stage timed out) answers the shutdown request on its control channel all the same, and
    ``finish_shutdown`` terminates, then kills, one that does not exit in time.
    """
    km.shutting_down = True
    if km.has_kernel:
        await km.request_shutdown()
        await km.finish_shutdown()
    await km.cleanup_resources()


_ENGINE = "nbmlops"
"""papermill's name for :class:`nbmlops.run.papermill_engine.PoolEngine`, which papermill
registers from the ``papermill.engine`` entry point in ``pyproject.toml`` when it is imported."""
