"""Run a PipelineSpec: plan, check environments, schedule stages, promote their products.

A run goes: resolve and type-check parameters -> plan (which selected stages are stale, and why)
-> check each kernel's environment against its lock -> execute ready stages (``jobs`` at a time,
each an attempt in a real Jupyter kernel through papermill, :mod:`nbmlops.run.attempt`) -> hand
every :class:`StageResult` to the records thread (HTML export, MLflow, ledger) -> return a
:class:`RunRecord`.

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

from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.digests import file_digest
from nbmlops._core.ids import new_run_id, utc_now
from nbmlops._core.paths import run_record_path
from nbmlops.authoring.parameters import check_phi, resolve_params
from nbmlops.authoring.pipeline import PipelineSpec
from nbmlops.errors import ParameterError
from nbmlops.privacy.identifiers import ledger_digest, project_registry
from nbmlops.privacy.telemetry import phi_policy as resolve_phi_policy
from nbmlops.records import ledger
from nbmlops.records.archive import archive_products, archive_run
from nbmlops.records.model import (
    JSON,
    Provenance,
    RunRecord,
    StageResult,
    collect_provenance,
)
from nbmlops.records.writer import RecordsThread
from nbmlops.run.attempt import attempt_stage
from nbmlops.run.inputs import check_inputs, input_records
from nbmlops.run.kernel import KernelPool
from nbmlops.run.lock import holding_run_lock, name_run
from nbmlops.run.options import Progress, ProgressEvent, RunOptions
from nbmlops.run.plan import (
    StagePlan,
    check_upstream_available,
    current_inputs,
    plan_pipeline,
    plan_stages,
    select_stages,
)
from nbmlops.run.state import (
    fingerprint,
    read_state,
    stale_reasons,
    write_state,
)

__all__ = [
    "ProgressEvent",
    "RunOptions",
    "plan_pipeline",
    "run_pipeline",
]  # plan_pipeline: re-exported


@holding_run_lock  # one run per project: runs side by side mixed their products
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
    phi_policy: str | None = None,
    wait: float = 0.0,
) -> RunRecord:
    """Run the stale stages of a pipeline in real kernels and record the run.

    Parameters
    ----------
    spec
        The pipeline (see :func:`nbmlops.authoring.pipeline.load_pipeline`).
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
    phi_policy
        ``refuse`` / ``redact`` / ``off``: what MLflow gets of an executed notebook whose outputs
        look like patient identifiers (see :func:`nbmlops.privacy.telemetry.phi_policy` for the
        default).
    wait
        Seconds to wait for another run of this project to finish (negative: as long as it
        takes); the run holds ``.nbmlops/run.lock`` from planning to its last record.

    Returns
    -------
    RunRecord
        ``status`` is ``succeeded``, ``failed`` (some stage failed; the others' results are kept)
        or ``up_to_date``.

    Raises
    ------
    RunInProgressError
        Another run held the project for longer than ``wait``; nothing was planned or written.
    ParameterError, UnknownStageError, UpstreamProductsMissingError, StageInputError,
    EnvironmentMismatchError, KernelNotFoundError
        Before any kernel starts; nothing has been written.

    Examples
    --------
    >>> spec, _ = load_pipeline("demo")                              # doctest: +SKIP
    >>> record = run_pipeline(spec, params={"train": {"seed": 7}})   # doctest: +SKIP
    >>> [(s.stage, s.status) for s in record.stages]                 # doctest: +SKIP
    [('ingest', 'skipped'), ('train', 'succeeded')]
    """
    notify = progress or (lambda event: None)
    stages = tuple(stages)
    try:
        policy = resolve_phi_policy(spec.root, phi_policy)
    except ValueError as exc:
        raise ParameterError(str(exc), stage=None, param="phi_policy") from None
    effective = resolve_params(spec, params or {})
    # what was overridden, as checked values (``7``, not the command line's text ``"7"``)
    overrides = {s: {k: effective[s][k] for k in given} for s, given in (params or {}).items()}
    # recorded as the PHI policy lets them be (refused here, before any kernel, or redacted)
    overrides = check_phi(overrides, policy=policy, identifiers=project_registry(spec.root))
    selected = select_stages(spec, stages, downstream)
    plans = {
        p.stage: p for p in plan_stages(spec, params=effective, selected=selected, force=force)
    }
    check_upstream_available(spec, plans)
    check_inputs(spec.root, (spec.stage(n) for n, p in plans.items() if p.selected))
    options = RunOptions(
        overrides=overrides, selection=stages, force=force, jobs=jobs, phi_policy=policy
    )
    run = _Run(spec=spec, params=effective, plans=plans, notify=notify, options=options)
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
        notify: Progress,
        options: RunOptions,
    ) -> None:
        self.spec = spec
        self.params = params
        self.plans = plans
        self.force = options.force
        self.jobs = max(1, options.jobs)
        self.notify = notify
        self.options = options
        self.run_id = new_run_id()
        name_run(spec.root, self.run_id)  # for whoever this run's lock refuses
        self.started_at = utc_now()
        self.locks: dict[Path, str | None] = {}
        self.mismatch: tuple[str, ...] = ()

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
            declared_inputs=input_records(self.spec.root, self.spec.stage(name), state.inputs)
            if state
            else {},
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
            overrides=self.options.overrides,
            selection=self.options.selection,
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
        from nbmlops.errors import EnvironmentMismatchError
        from nbmlops.run.environment import check_environment

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

    def _link_mlflow_run(self, result: StageResult) -> None:
        """A succeeded stage's build state names the MLflow run that recorded it (the panel links
        it); only this run's state, never one a later run wrote."""
        if result.status != "succeeded" or result.mlflow_run_id is None:
            return
        stage_dir = self.spec.stage_dir(result.stage)
        state = read_state(stage_dir)
        if state is not None and state.run_id == self.run_id:
            write_state(stage_dir, state.with_mlflow_run(result.mlflow_run_id))

    def execute(self, *, tracking: bool) -> RunRecord:
        recorder = RecordsThread(
            spec=self.spec,
            run_id=self.run_id,
            started_at=self.started_at,
            provenance=self.provenance,
            lock_digest=self.lock_digest,
            overrides=self.options.overrides,
            tracking=tracking,
            phi_policy=self.options.phi_policy,
            on_tracked=self._link_mlflow_run,
        )
        ledger.append(
            self.spec.root,
            "run_started",
            run_id=self.run_id,
            data={
                "pipeline": self.spec.name,
                # parameter values are free text: the ledger keeps their digest, not them
                "options": {
                    **asdict(self.options),
                    "overrides": ledger_digest(self.spec.root, self.options.overrides),
                },
                "stages": [n for n, p in self.plans.items() if p.selected],
                "environment_mismatch": list(self.mismatch),
            },
        )
        self.notify(ProgressEvent("run_started", message=self.run_id))
        order = [n for n in self.spec.names if self.plans[n].selected]
        pool = KernelPool(when_first_taken=recorder.open_tracking)  # MLflow opens meanwhile
        try:
            final = self._schedule(recorder, pool, order)
        finally:
            pool.close()

        failed = any(r.status in ("failed", "not_run") for r in final.values())
        archived, archive_notes = archive_products(self.spec.root, final.values())
        record = self._record(
            "failed" if failed else "succeeded",
            [final[n] for n in order],
            mlflow_run_id=recorder.parent_run_id,
            tracking_uri=recorder.uri,
            tracking_problem=recorder.problem,
            notes=(*recorder.notes, *archive_notes),
        )
        head = ledger.append(
            self.spec.root,
            "run_finished",
            run_id=self.run_id,
            data={
                "status": record.status,
                "mlflow_run_id": record.mlflow_run_id,
                "stages": {r.stage: r.status for r in record.stages},
                "tracking_problem": record.tracking_problem
                and ledger_digest(self.spec.root, record.tracking_problem),
            },
        )
        record = replace(record, ledger_seq=head.seq, ledger_head=head.hash)
        record = recorder.finish(record, ledger_head=head.hash)
        path = run_record_path(self.spec.root, self.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, record.to_json())
        self._archive_record(path, archived)
        self.notify(ProgressEvent("run_finished", result=None, message=record.status))
        return record

    def _archive_record(self, path: Path, archived: list[dict[str, str]]) -> None:
        """The record is archived after it is written, so a problem is a progress note."""
        try:
            problem = archive_run(self.spec.root, self.run_id, path, archived)
        except Exception as exc:  # the run is recorded already: archiving never fails it
            problem = f"evidence archive: not recorded in the ledger ({type(exc).__name__})"
        if problem:
            self.notify(ProgressEvent("note", message=problem))

    def _schedule(
        self, recorder: RecordsThread, pool: KernelPool, order: list[str]
    ) -> dict[str, StageResult]:
        """Run ready stages, ``jobs`` at a time, booting the next stale stages' kernels early."""
        done: dict[str, StageResult] = {}
        running: dict[Future[StageResult], str] = {}
        with ThreadPoolExecutor(
            max_workers=self.jobs, thread_name_prefix="nbmlops-stage"
        ) as threads:
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
                    running[threads.submit(self._execute_stage, name, pool)] = name
                self._prestart(pool, order, done, running.values())
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    done[name] = future.result()
                    recorder.submit(done[name])
                    self.notify(ProgressEvent("stage_finished", name, done[name]))
        return recorder.close()

    def _prestart(
        self,
        pool: KernelPool,
        order: list[str],
        done: Mapping[str, StageResult],
        running: Iterable[str],
    ) -> None:
        """Boot kernels for the next stale stages (as many as may run next) while others run."""
        busy = set(running)
        upcoming = [
            n for n in order if n not in done and n not in busy and not self.plans[n].up_to_date
        ]
        for name in upcoming[: self.jobs + 1]:
            pool.prestart(self.spec.stage(name))

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
        inputs = current_inputs(self.spec, stage, self.params[name], self.locks)
        if state is None or state.fingerprint != fingerprint(inputs):
            return None
        if stale_reasons(state, inputs, stage_dir, params=self.params[name]):
            return None
        self.plans[name] = replace(self.plans[name], state=state, reasons=())
        return self._skipped(name, "up to date (upstream products unchanged)")

    def _reason(self, name: str) -> str:
        return self.plans[name].ran_because or "forced"

    def _execute_stage(self, name: str, pool: KernelPool) -> StageResult:
        stage = self.spec.stage(name)
        params = self.params[name]
        return attempt_stage(
            self.spec,
            name,
            run_id=self.run_id,
            params=params,
            inputs=current_inputs(self.spec, stage, params, self.locks),
            reason=self._reason(name),
            pool=pool,
        )
