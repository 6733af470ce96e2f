"""Run one stage's notebook in a fresh Jupyter kernel through papermill: the only papermill caller.

Errors come back as :mod:`nbmlops.errors` values naming the stage and the source notebook's cell;
a dead kernel's partial notebook is corrected to say which cell it died in.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbmlops.atomic import write_text_atomic
from nbmlops.errors import CellExecutionError, KernelDiedError
from nbmlops.records import JSON
from nbmlops.stage import StageSpec

__all__ = ["run_notebook"]


def _source_cell(stage: StageSpec, executed_index: int) -> int:
    """Map a cell index of the executed notebook back to the source notebook.

    papermill inserts its ``injected-parameters`` cell right after the ``parameters`` cell.
    """
    if stage.parameters_cell is not None and executed_index > stage.parameters_cell:
        return executed_index - 1
    return executed_index


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
) -> None:
    """Execute one stage's notebook in a fresh kernel, writing ``executed`` as it goes."""
    import papermill
    from nbclient.exceptions import DeadKernelError

    injected: dict[str, JSON] = dict(params)
    injected["product"] = {"nb": str(executed), **{k: str(v) for k, v in products.items()}}
    if stage.upstream:
        injected["upstream"] = {k: dict(v) for k, v in upstream.items()}
    try:
        papermill.execute_notebook(
            str(stage.path),
            str(executed),
            parameters=injected,
            kernel_name=stage.kernel,
            progress_bar=False,
            request_save_on_cell_execute=True,
            # The kernel's working directory is the notebook's folder, as in JupyterLab. Not
            # papermill's ``cwd``: that chdirs the whole process, which parallel stages share.
            resources={"metadata": {"path": str(stage.path.parent)}},
            kernel_manager_class=_kernel_manager_class(),
        )
    except papermill.PapermillExecutionError as exc:
        raise CellExecutionError(
            stage=stage.name,
            path=executed,
            cell_index=_source_cell(stage, exc.cell_index),
            ename=exc.ename,
            evalue=exc.evalue,
        ) from None
    except DeadKernelError:
        running = _mark_dead_cell(executed)
        raise KernelDiedError(
            stage=stage.name,
            path=executed,
            cell_index=None if running is None else _source_cell(stage, running),
        ) from None
    except RuntimeError as exc:  # nbclient: "Kernel died before replying to kernel_info"
        if "kernel" not in str(exc).lower():
            raise
        raise KernelDiedError(stage=stage.name, path=executed, cell_index=None) from None
    finally:
        _close_thread_loop()
        _stamp_kernel(executed, stage.kernel)


def _stamp_kernel(executed: Path, kernel: str) -> None:
    """Make the executed notebook name the kernel that ran it (papermill keeps the source's)."""
    import json

    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    spec = nb.setdefault("metadata", {}).setdefault("kernelspec", {})
    if spec.get("name") != kernel:
        spec.update({"name": kernel, "display_name": kernel})
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


_KM_LOCK = threading.Lock()
_KM_CLASS: list[type] = []


def _kernel_manager_class() -> type:
    """A kernel manager that talks to the kernel over Unix-domain sockets, not TCP.

    Nothing a notebook prints (patient data included) crosses even the loopback network, and
    parallel kernels cannot race for TCP ports. The sockets live in a private temp folder.
    """
    with _KM_LOCK:
        if not _KM_CLASS:
            import tempfile

            from jupyter_client.manager import AsyncKernelManager

            folder = tempfile.mkdtemp(prefix="nbmlops-k-")

            class IPCKernelManager(AsyncKernelManager):
                def __init__(self, **kwargs: Any) -> None:
                    kwargs.setdefault("transport", "ipc")
                    kwargs.setdefault("ip", str(Path(folder) / secrets.token_hex(4)))
                    super().__init__(**kwargs)

            _KM_CLASS.append(IPCKernelManager)
        return _KM_CLASS[0]
