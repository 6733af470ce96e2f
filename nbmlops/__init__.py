"""nbmlops: tagged Jupyter notebooks become pinned, tracked, auditable pipeline runs.

The whole product, one verb per concept (imported on first use, so ``import nbmlops`` stays
instant and pulls in neither papermill nor MLflow)::

    set_stage / read_stage      tag a notebook as a pipeline stage, read the tag back
    compile_pipeline            tagged notebooks -> checked DAG -> Ploomber pipeline.yaml
    load_pipeline               a folder, a compiled pipeline.yaml, or a pipeline name
    plan_pipeline               which stages are stale and why, without running anything
    run_pipeline                run the stale stages in pinned kernels; record MLflow + ledger
    plan_sweep / run_sweep      rerun stages over a grid of parameters, resumable, every point
                                recorded (shared stages once)
    sweep_results               a sweep's points as a DataFrame: parameters, metrics, status
    stage_paths                 the paths a run would inject, to run a stage notebook by hand
    check_environment           a kernel's installed packages against its lock file
    verify_ledger               check the hash-chained audit ledger
    verify_project              the ledger against every anchor of it (records, MLflow, evidence)
    reproduce_run               a recorded run again at its commit; every product compared
    replay_records              record in MLflow, exactly once, the runs it missed
    build_report                a recorded run's audit report: executed notebook, HTML, PDF
    record                      (inside a notebook) record a value for the stage's run
    synthetic_patients          seeded synthetic patient records (identifiers, bias, drift)
    deidentify                  HIPAA Safe Harbor de-identification of a DataFrame
    register_identifiers        keep keyed hashes of a project's identifiers for every PHI scan
    find_project_root           (inside a notebook) the project folder, from any folder in it
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any

from nbmlops._core.moved import MovedModules
from nbmlops.privacy.telemetry import disable_telemetry

disable_telemetry()
sys.meta_path.append(MovedModules())

__version__ = "0.1.0"

_EXPORTS = {
    "set_stage": "nbmlops.authoring.stage",
    "read_stage": "nbmlops.authoring.stage",
    "compile_pipeline": "nbmlops.authoring.pipeline",
    "load_pipeline": "nbmlops.authoring.pipeline",
    "plan_pipeline": "nbmlops.run.execute",
    "run_pipeline": "nbmlops.run.execute",
    "plan_sweep": "nbmlops.sweep.execute",
    "run_sweep": "nbmlops.sweep.execute",
    "sweep_results": "nbmlops.sweep.results",
    "stage_paths": "nbmlops.run.by_hand",
    "check_environment": "nbmlops.run.environment",
    "verify_ledger": "nbmlops.records.ledger",
    "verify_project": "nbmlops.audit.verify",
    "reproduce_run": "nbmlops.report.reproduce",
    "replay_records": "nbmlops.run.replay",
    "build_report": "nbmlops.report.build",
    "register_identifiers": "nbmlops.privacy.phi",
    "record": "nbmlops.records.scraps",
    "save_model": "nbmlops.records.model_file",
    "synthetic_patients": "nbmlops.demo.datasets",
    "deidentify": "nbmlops.privacy.deid",
    "find_project_root": "nbmlops._core.paths",
}

__all__ = [
    "build_report",
    "check_environment",
    "compile_pipeline",
    "deidentify",
    "find_project_root",
    "load_pipeline",
    "plan_pipeline",
    "plan_sweep",
    "read_stage",
    "record",
    "register_identifiers",
    "replay_records",
    "reproduce_run",
    "run_pipeline",
    "run_sweep",
    "save_model",
    "set_stage",
    "stage_paths",
    "sweep_results",
    "synthetic_patients",
    "verify_ledger",
    "verify_project",
]

if TYPE_CHECKING:
    from nbmlops._core.paths import find_project_root
    from nbmlops.audit.verify import verify_project
    from nbmlops.authoring.pipeline import compile_pipeline, load_pipeline
    from nbmlops.authoring.stage import read_stage, set_stage
    from nbmlops.demo.datasets import synthetic_patients
    from nbmlops.privacy.deid import deidentify
    from nbmlops.privacy.phi import register_identifiers
    from nbmlops.records.ledger import verify_ledger
    from nbmlops.records.model_file import save_model
    from nbmlops.records.scraps import record
    from nbmlops.report.build import build_report
    from nbmlops.report.reproduce import reproduce_run
    from nbmlops.run.by_hand import stage_paths
    from nbmlops.run.environment import check_environment
    from nbmlops.run.execute import plan_pipeline, run_pipeline
    from nbmlops.run.replay import replay_records
    from nbmlops.sweep.execute import plan_sweep, run_sweep
    from nbmlops.sweep.results import sweep_results


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nbmlops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension is (``jupyter labextension develop`` reads this; an
    installed wheel ships it in ``share/jupyter/labextensions/nbmlops``)."""
    return [{"src": "labextension", "dest": "nbmlops"}]
