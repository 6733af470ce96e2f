"""Run a PipelineSpec: the only module that drives papermill kernels.

A run goes: resolve and type-check parameters -> plan (which selected stages are stale, and why)
-> check each kernel's environment against its lock -> execute ready stages (``jobs`` at a time,
each in a real Jupyter kernel through papermill) -> hand every :class:`StageResult` to the records
thread (HTML export, MLflow, ledger) -> return a :class:`RunRecord`.

Guarantees, each covered by a test:

* source notebooks are only read; a stage writes into ``build/<pipeline>/<stage>/runs/<run>/``
  and its products replace the previous ones only after it succeeded and every declared product
  exists; a failed attempt's partial executed notebook stays in its ``runs/<run>/`` folder;
* a failing stage stops itself and its downstream stages; other branches run to the end;
* a stage is skipped when its source, metadata, parameters, lock file and upstream product
  digests are those of its last successful run and its products are intact;
* a run where every stage is up to date imports neither papermill nor MLflow. It is recorded in
  the ledger (with the runs that made the products), not as an empty MLflow run.

Ploomber is not imported here: its import alone costs 3-5 s and its up-to-date check is by
timestamp. The compiled ``pipeline.yaml`` stays a valid Ploomber spec (``ploomber build`` runs
the same notebooks with the same injected ``upstream``/``product`` parameters), checked by a test.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from queue import Queue
from typing import Any, Literal

from nbmlops import ledger
from nbmlops.atomic import write_text_atomic
from nbmlops.errors import (
    CellExecutionError,
    KernelDiedError,
    MissingProductError,
    NbmlopsError,
    StageExecutionError,
    UpstreamProductsMissingError,
)
from nbmlops.parameters import resolve_params
from nbmlops.pipeline import PipelineSpec
from nbmlops.records import (
    JSON,
    Provenance,
    RunRecord,
    StageResult,
    collect_provenance,
    utc_now,
)
from nbmlops.stage import StageSpec
from nbmlops.state import (
    StageState,
    file_digest,
    fingerprint,
    product_digest,
    read_state,
    record_products,
    stage_inputs,
    stale_reasons,
    write_state,
)

__all__ = ["ProgressEvent", "plan_pipeline", "run_pipeline"]


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives, in order, from the scheduling thread."""

    kind: Literal["run_started", "stage_started", "stage_finished", "run_finished", "note"]
    stage: str | None = None
    result: StageResult | None = None
    message: str = ""


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True, kw_only=True)
class StagePlan:
    """A stage's state before the run: up to date, or stale and why."""

    stage: str
    selected: bool
    reasons: tuple[str, ...]
    state: StageState | None = field(repr=False, default=None)

    @property
    def up_to_date(self) -> bool:
        return not self.reasons


def _selection(spec: PipelineSpec, stages: Iterable[str], downstream: bool) -> tuple[str, ...]:
    wanted: set[str] = set()
    for name in stages:
        wanted.update(spec.downstream(name) if downstream else (spec.stage(name).name,))
    return tuple(n for n in spec.names if n in wanted) if wanted else spec.names


def _lock_digest(spec: PipelineSpec, stage: StageSpec, cache: dict[Path, str | None]) -> str | None:
    path = spec.root / stage.environment
    if path not in cache:
        cache[path] = file_digest(path) if path.is_file() else None
    return cache[path]


def _upstream_digests(spec: PipelineSpec, stage: StageSpec) -> dict[str, str | None]:
    digests: dict[str, str | None] = {}
    for up in stage.upstream:
        up_dir = spec.stage_dir(up)
        state = read_state(up_dir)
        for name in spec.stage(up).products:
            record = state.products.get(name) if state else None
            digests[f"{up}.{name}"] = product_digest(up_dir, record) if record else None
    return digests


def _inputs(
    spec: PipelineSpec, stage: StageSpec, params: Mapping[str, JSON], locks: dict[Path, str | None]
) -> dict[str, str]:
    return stage_inputs(
        stage,
        params=params,
        lock_digest=_lock_digest(spec, stage, locks),
        upstream=_upstream_digests(spec, stage),
    )


def plan_pipeline(
    spec: PipelineSpec,
    *,
    params: Mapping[str, Mapping[str, JSON]] | None = None,
    stages: Iterable[str] = (),
    downstream: bool = False,
    force: bool = False,
) -> tuple[StagePlan, ...]:
    """Which stages are up to date and why the others are stale, without running anything.

    A stage downstream of a stale one is reported stale too ("upstream X will run"); at run time
    it is skipped after all if the rerun upstream produced identical products.
    """
    effective = resolve_params(spec, params or {})
    selected = set(_selection(spec, stages, downstream))
    locks: dict[Path, str | None] = {}
    plans: dict[str, StagePlan] = {}
    for stage in spec.stages:
        stage_dir = spec.stage_dir(stage.name)
        state = read_state(stage_dir)
        inputs = _inputs(spec, stage, effective[stage.name], locks)
        reasons = stale_reasons(state, inputs, stage_dir, params=effective[stage.name])
        if state is not None and state.fingerprint != fingerprint(inputs) and not reasons:
            reasons = ["inputs changed"]
        if force and stage.name in selected:
            reasons = ["forced", *reasons]
        for up in stage.upstream:
            if not plans[up].up_to_date and plans[up].selected:
                reasons.append(f"upstream {up} will run")
        plans[stage.name] = StagePlan(
            stage=stage.name, selected=stage.name in selected, reasons=tuple(reasons), state=state
        )
    return tuple(plans[n] for n in spec.names)


def _new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _check_unselected_upstream(spec: PipelineSpec, plans: Mapping[str, StagePlan]) -> None:
    for plan in plans.values():
        if not plan.selected:
            continue
        for up in spec.stage(plan.stage).upstream:
            up_plan = plans[up]
            if not up_plan.selected and (
                up_plan.state is None or any("missing" in r for r in up_plan.reasons)
            ):
                raise UpstreamProductsMissingError(stage=plan.stage, upstream=up)


def run_pipeline(
    spec: PipelineSpec,
    *,
    params: Mapping[str, Mapping[str, JSON]] | None = None,
    stages: Iterable[str] = (),
    downstream: bool = False,
    force: bool = False,
    jobs: int = 1,
    allow_env_mismatch: bool = False,
    progress: Progress | None = None,
    tracking: bool = True,
) -> RunRecord:
    """Run the stale stages of a pipeline in real kernels and record the run.

    Parameters
    ----------
    spec
        The pipeline (see :func:`nbmlops.pipeline.load_pipeline`).
    params
        ``{stage: {name: value}}`` overrides, type-checked against the defaults before any kernel
        starts (strings from the command line are read as JSON against the default's type).
    stages, downstream
        Run only these stages (and, with ``downstream``, every stage that depends on them).
    force
        Run the selected stages even when they are up to date.
    jobs
        How many independent stages may run at once.
    allow_env_mismatch
        Run even when a kernel's packages differ from its lock; the differences are recorded.
    progress
        Called with a :class:`ProgressEvent` as stages start and finish.
    tracking
        Record the run in MLflow (the ledger and ``.nbmlops/runs/`` always record it).

    Returns
    -------
    RunRecord
        ``status`` is ``succeeded``, ``failed`` (some stage failed; the others' results are kept)
        or ``up_to_date``.

    Raises
    ------
    ParameterError, UnknownStageError, UpstreamProductsMissingError, EnvironmentMismatchError,
    KernelNotFoundError
        Before any kernel starts; nothing has been written.

    Examples
    --------
    >>> spec, _ = load_pipeline("demo")                              # doctest: +SKIP
    >>> record = run_pipeline(spec, params={"train": {"seed": 7}})   # doctest: +SKIP
    >>> [(s.stage, s.status) for s in record.stages]                 # doctest: +SKIP
    [('ingest', 'skipped'), ('train', 'succeeded')]
    """
    notify = progress or (lambda event: None)
    effective = resolve_params(spec, params or {})
    plans = {
        p.stage: p
        for p in plan_pipeline(
            spec, params=params, stages=stages, downstream=downstream, force=force
        )
    }
    _check_unselected_upstream(spec, plans)
    run = _Run(
        spec=spec,
        params=effective,
        plans=plans,
        force=force,
        jobs=max(1, jobs),
        notify=notify,
        options={
            "overrides": {k: dict(v) for k, v in (params or {}).items()},
            "selection": tuple(stages),
            "force": force,
            "jobs": jobs,
        },
    )
    if all(p.up_to_date for p in plans.values() if p.selected):
        return run.up_to_date()
    run.check_environments(allow_env_mismatch)
    return run.execute(tracking=tracking)


class _Run:
    """The mutable bookkeeping of one run; everything it hands out is an immutable value."""

    def __init__(
        self,
        *,
        spec: PipelineSpec,
        params: dict[str, dict[str, JSON]],
        plans: dict[str, StagePlan],
        force: bool,
        jobs: int,
        notify: Progress,
        options: dict[str, Any],
    ) -> None:
        self.spec = spec
        self.params = params
        self.plans = plans
        self.force = force
        self.jobs = jobs
        self.notify = notify
        self.options = options
        self.run_id = _new_run_id()
        self.started_at = utc_now()
        self.locks: dict[Path, str | None] = {}
        self.mismatch: tuple[str, ...] = ()
        self.results: dict[str, StageResult] = {}
        self.lock = threading.Lock()

    # -- before anything runs --------------------------------------------------------------

    def _skipped(self, name: str, reason: str = "up to date") -> StageResult:
        state = self.plans[name].state
        stage_dir = self.spec.stage_dir(name)
        products = {"nb": str(stage_dir / f"{name}.ipynb")}
        if state:
            products.update({k: str(stage_dir / r.path) for k, r in state.products.items()})
        return StageResult(
            stage=name,
            status="skipped",
            kernel=self.spec.stage(name).kernel,
            params=self.params[name],
            fingerprint=state.fingerprint if state else "",
            inputs=state.inputs if state else {},
            products=products,
            product_digests={k: r.sha256 for k, r in state.products.items()} if state else {},
            executed_notebook=products["nb"],
            reason=reason,
            produced_by=state.run_id if state else None,
            produced_by_mlflow=state.mlflow_run_id if state else None,
        )

    @cached_property
    def provenance(self) -> Provenance:
        return collect_provenance(self.spec.root)

    @cached_property
    def lock_digest(self) -> str | None:
        lock = self.spec.root / "uv.lock"
        return file_digest(lock) if lock.is_file() else None

    def _record(self, status: str, stages: Iterable[StageResult], **extra: Any) -> RunRecord:
        return RunRecord(
            run_id=self.run_id,
            pipeline=self.spec.name,
            project_root=str(self.spec.root),
            started_at=self.started_at,
            finished_at=utc_now(),
            status=status,  # type: ignore[arg-type]
            provenance=self.provenance,
            lock_digest=self.lock_digest,
            overrides=self.options["overrides"],
            selection=self.options["selection"],
            force=self.force,
            jobs=self.jobs,
            environment_mismatch=self.mismatch,
            stages=tuple(stages),
            **extra,
        )

    def up_to_date(self) -> RunRecord:
        results = [self._skipped(n) for n, p in self.plans.items() if p.selected]
        record = self._record("up_to_date", results)
        ledger.append(
            self.spec.root,
            "run_up_to_date",
            run_id=self.run_id,
            data={
                "pipeline": self.spec.name,
                "stages": {
                    r.stage: {
                        "produced_by": r.produced_by,
                        "mlflow": r.produced_by_mlflow,
                        "fingerprint": r.fingerprint,
                    }
                    for r in results
                },
            },
        )
        for result in results:
            self.notify(ProgressEvent("stage_finished", result.stage, result))
        return record

    def check_environments(self, allow: bool) -> None:
        from nbmlops.environment import check_environment
        from nbmlops.errors import EnvironmentMismatchError

        differences: list[str] = []
        seen: set[tuple[str, str]] = set()
        for name, plan in self.plans.items():
            stage = self.spec.stage(name)
            key = (stage.kernel, stage.environment)
            if not plan.selected or key in seen:
                continue
            seen.add(key)
            report = check_environment(kernel=stage.kernel, lock=self.spec.root / stage.environment)
            if report.differences and not allow:
                raise EnvironmentMismatchError(
                    kernel=stage.kernel, lock=report.lock, differences=report.differences
                )
            differences += [f"{stage.kernel}: {d}" for d in report.differences]
        self.mismatch = tuple(differences)
        if differences:
            self.notify(
                ProgressEvent(
                    "note",
                    message=f"running despite {len(differences)} "
                    "package difference(s) from the lock (recorded)",
                )
            )

    # -- running -----------------------------------------------------------------------------

    def execute(self, *, tracking: bool) -> RunRecord:
        recorder = _Recorder(self, tracking=tracking)
        ledger.append(
            self.spec.root,
            "run_started",
            run_id=self.run_id,
            data={
                "pipeline": self.spec.name,
                "options": self.options,
                "stages": [n for n, p in self.plans.items() if p.selected],
                "environment_mismatch": list(self.mismatch),
            },
        )
        self.notify(ProgressEvent("run_started", message=self.run_id))
        order = [n for n in self.spec.names if self.plans[n].selected]
        done: dict[str, StageResult] = {}
        running: dict[Future[StageResult], str] = {}
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="nbmlops-stage") as pool:
            while len(done) < len(order):
                for name in order:
                    if name in done or name in running.values():
                        continue
                    ups = [u for u in self.spec.stage(name).upstream if self.plans[u].selected]
                    if any(u not in done for u in ups):
                        continue
                    result = self._blocked(name, [done[u] for u in ups]) or self._up_to_date(name)
                    if result is not None:
                        done[name] = result
                        recorder.submit(result)
                        self.notify(ProgressEvent("stage_finished", name, result))
                        continue
                    self.notify(ProgressEvent("stage_started", name))
                    running[pool.submit(self._execute_stage, name)] = name
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    done[name] = future.result()
                    recorder.submit(done[name])
                    self.notify(ProgressEvent("stage_finished", name, done[name]))
        final = recorder.close()
        failed = any(r.status in ("failed", "not_run") for r in final.values())
        record = self._record(
            "failed" if failed else "succeeded",
            [final[n] for n in order],
            mlflow_run_id=recorder.parent_run_id,
            tracking_uri=recorder.uri,
            tracking_problem=recorder.problem,
            notes=tuple(recorder.notes),
        )
        head = ledger.append(
            self.spec.root,
            "run_finished",
            run_id=self.run_id,
            data={
                "status": record.status,
                "mlflow_run_id": record.mlflow_run_id,
                "stages": {r.stage: r.status for r in record.stages},
                "tracking_problem": record.tracking_problem,
            },
        )
        record = recorder.finish(record, ledger_head=head.hash)
        runs = self.spec.root / ".nbmlops" / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        write_text_atomic(runs / f"{self.run_id}.json", record.to_json())
        self.notify(ProgressEvent("run_finished", result=None, message=record.status))
        return record

    def _blocked(self, name: str, upstream: list[StageResult]) -> StageResult | None:
        bad = [u.stage for u in upstream if u.status in ("failed", "not_run")]
        if not bad:
            return None
        return StageResult(
            stage=name,
            status="not_run",
            kernel=self.spec.stage(name).kernel,
            params=self.params[name],
            reason=f"upstream {', '.join(bad)} failed",
        )

    def _up_to_date(self, name: str) -> StageResult | None:
        """Decide now, with the upstream products as they are after this run's upstream work."""
        if self.force:
            return None
        stage = self.spec.stage(name)
        stage_dir = self.spec.stage_dir(name)
        state = read_state(stage_dir)
        inputs = _inputs(self.spec, stage, self.params[name], self.locks)
        if state is None or state.fingerprint != fingerprint(inputs):
            return None
        if stale_reasons(state, inputs, stage_dir, params=self.params[name]):
            return None
        self.plans[name] = replace(self.plans[name], state=state, reasons=())
        return self._skipped(name, "up to date (upstream products unchanged)")

    def _reason(self, name: str) -> str:
        return "; ".join(self.plans[name].reasons) or "forced"

    def _execute_stage(self, name: str) -> StageResult:
        stage = self.spec.stage(name)
        stage_dir = self.spec.stage_dir(name)
        attempt = stage_dir / "runs" / self.run_id
        params = self.params[name]
        inputs = _inputs(self.spec, stage, params, self.locks)
        base = StageResult(
            stage=name,
            status="failed",
            kernel=stage.kernel,
            params=params,
            fingerprint=fingerprint(inputs),
            inputs=inputs,
            reason=self._reason(name),
            started_at=utc_now(),
        )
        t0 = time.perf_counter()
        executed = attempt / f"{name}.ipynb"
        try:
            attempt.mkdir(parents=True, exist_ok=True)
            products = {k: attempt / v for k, v in stage.products.items()}
            for path in products.values():
                path.parent.mkdir(parents=True, exist_ok=True)
            _run_notebook(
                stage,
                executed,
                params=params,
                products=products,
                upstream=self._upstream_paths(stage),
            )
            for product, path in products.items():
                if not path.exists():
                    raise MissingProductError(
                        stage=name, path=executed, product=product, expected=path
                    )
            records = self._promote(stage, attempt, executed)
        except NbmlopsError as exc:
            return replace(
                base,
                finished_at=utc_now(),
                duration_s=time.perf_counter() - t0,
                error=exc.to_dict(),
                executed_notebook=str(executed) if executed.exists() else None,
            )
        except OSError as exc:
            err = StageExecutionError(
                f"stage '{name}' could not write its outputs ({exc.strerror or exc}: "
                f"{exc.filename or attempt}). Free disk space or fix permissions, then rerun; "
                "the previous products are untouched.",
                stage=name,
                path=executed,
            )
            return replace(
                base,
                finished_at=utc_now(),
                duration_s=time.perf_counter() - t0,
                error=err.to_dict(),
            )
        final_nb = stage_dir / f"{name}.ipynb"
        state = StageState(
            fingerprint=base.fingerprint,
            inputs=inputs,
            products=records,
            run_id=self.run_id,
            finished_at=utc_now(),
            params=params,
        )
        write_state(stage_dir, state)
        from nbmlops.scraps import read_scraps

        return replace(
            base,
            status="succeeded",
            finished_at=state.finished_at,
            duration_s=time.perf_counter() - t0,
            products={
                "nb": str(final_nb),
                **{k: str(stage_dir / v) for k, v in stage.products.items()},
            },
            product_digests={k: r.sha256 for k, r in records.items()},
            executed_notebook=str(final_nb),
            scraps=read_scraps(final_nb).values,
        )

    def _upstream_paths(self, stage: StageSpec) -> dict[str, dict[str, str]]:
        out = {}
        for up in stage.upstream:
            up_dir = self.spec.stage_dir(up)
            out[up] = {
                "nb": str(up_dir / f"{up}.ipynb"),
                **{k: str(up_dir / v) for k, v in self.spec.stage(up).products.items()},
            }
        return out

    def _promote(self, stage: StageSpec, attempt: Path, executed: Path) -> dict[str, Any]:
        """Move a successful attempt's products into the stage folder, replacing the old ones."""
        stage_dir = self.spec.stage_dir(stage.name)
        for rel in stage.products.values():
            src, dst = attempt / rel, stage_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_dir() and not dst.is_symlink():
                trash = dst.with_name(f".{dst.name}.old-{self.run_id}")
                dst.rename(trash)
                src.rename(dst)
                shutil.rmtree(trash)
            else:
                src.replace(dst)
        executed.replace(stage_dir / f"{stage.name}.ipynb")
        shutil.rmtree(attempt, ignore_errors=True)
        runs = attempt.parent
        if runs.is_dir() and not any(runs.iterdir()):
            runs.rmdir()
        return record_products(stage_dir, stage.products)


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


def _run_notebook(
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


def _is_scrap(output: Mapping[str, Any]) -> bool:
    data = output.get("data") or {}
    return bool(data) and all(k.startswith("application/scrapbook.scrap.") for k in data)


def export_html(notebook: Path) -> Path:
    """Render an executed notebook to standalone HTML next to it, fetching nothing from the web.

    nbconvert's templates load require.js and MathJax from public CDNs; opening such a report
    would tell a third party that (and from where) someone is reading it, so both are left out.
    """
    import json

    import nbformat
    from nbconvert import HTMLExporter

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        # scraps are data for the run record, invisible in JupyterLab; keep them out of the view
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not _is_scrap(o)]
    exporter = HTMLExporter(embed_images=True)  # type: ignore[no-untyped-call]
    exporter.require_js_url = ""
    exporter.mathjax_url = ""
    exporter.widget_renderer_url = ""
    node = nbformat.reads(json.dumps(nb), as_version=4)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(node)
    html = notebook.with_suffix(".html")
    write_text_atomic(html, body)
    return html


class _Recorder:
    """The records thread: HTML export, MLflow child runs and ledger entries, in arrival order.

    It overlaps with the next stage's kernel, so a stage's bookkeeping costs the run little.
    """

    def __init__(self, run: _Run, *, tracking: bool) -> None:
        self.run = run
        self.queue: Queue[StageResult | None] = Queue()
        self.final: dict[str, StageResult] = {}
        self.mlflow: Any = None
        self.uri: str | None = None
        self.problem: str | None = None
        self.parent_run_id: str | None = None
        self.started = False
        self.notes: list[str] = []
        if tracking:
            from nbmlops.tracking import MlflowRecorder

            self.mlflow = MlflowRecorder.for_project(run.spec.root, run.spec.name)
            self.uri = self.mlflow.uri
        self.thread = threading.Thread(target=self._work, name="nbmlops-records", daemon=True)
        self.thread.start()

    def submit(self, result: StageResult) -> None:
        self.queue.put(result)

    def close(self) -> dict[str, StageResult]:
        self.queue.put(None)
        self.thread.join()
        return self.final

    def _work(self) -> None:
        while (result := self.queue.get()) is not None:
            try:
                result = self._record(result)
            except Exception as exc:
                self.notes.append(f"{result.stage}: could not record ({type(exc).__name__}: {exc})")
            self.final[result.stage] = result

    def _record(self, result: StageResult) -> StageResult:
        if result.status == "succeeded" and result.executed_notebook:
            try:
                result = replace(result, html=str(export_html(Path(result.executed_notebook))))
            except (OSError, ValueError) as exc:  # the run stands; its HTML view is missing
                self.notes.append(f"{result.stage}: HTML export failed ({exc})")
        if self.mlflow is not None:
            try:
                result = self._track(result)
            except Exception as exc:
                self.problem = (
                    f"MLflow failed unexpectedly ({type(exc).__name__}: {exc}); not recorded: "
                    f"stage {result.stage} and everything after it in this run."
                )
                self.mlflow = None
        ledger.append(
            self.run.spec.root,
            "stage_finished",
            run_id=self.run.run_id,
            data={
                "stage": result.stage,
                "status": result.status,
                "reason": result.reason,
                "fingerprint": result.fingerprint,
                "inputs": result.inputs,
                "products": result.product_digests,
                "mlflow_run_id": result.mlflow_run_id,
                "produced_by": result.produced_by,
                "error": result.error,
            },
        )
        return result

    def _track(self, result: StageResult) -> StageResult:
        assert self.mlflow is not None  # noqa: S101 - checked by the caller
        if not self.started:
            self.started = True
            self.parent_run_id = self.mlflow.start(
                run_id=self.run.run_id,
                pipeline=self.run.spec.name,
                provenance=self.run.provenance,
                lock_digest=self.run.lock_digest,
                overrides=self.run.options["overrides"],
                started_at=self.run.started_at,
            )
        run_id = self.mlflow.stage(result)
        self.problem = self.mlflow.problem
        if run_id is None:
            return result
        if result.status == "succeeded":
            stage_dir = self.run.spec.stage_dir(result.stage)
            state = read_state(stage_dir)
            if state is not None and state.run_id == self.run.run_id:
                write_state(stage_dir, state.with_mlflow_run(run_id))
        return replace(result, mlflow_run_id=run_id)

    def finish(self, record: RunRecord, *, ledger_head: str) -> RunRecord:
        """End the MLflow parent run, anchoring the ledger head in it; the record, completed."""
        if self.mlflow is None or not self.started:
            return replace(record, tracking_problem=record.tracking_problem or self.problem)
        finished: RunRecord = self.mlflow.finish(record, ledger_head=ledger_head)
        return finished
