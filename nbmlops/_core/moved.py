"""The module paths of nbmlops before the layered layout (0.1.0, issue 11), kept importable.

Notebooks written against the flat layout (``from nbmlops.deid import deidentify``) go on
working: the old path is an alias of the module at its new place (the same module object, so
``isinstance`` and monkeypatching agree), with a ``DeprecationWarning`` naming the new path.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

__all__ = ["MOVED", "MovedModules"]

MOVED: dict[str, str] = {
    "nbmlops.atomic": "nbmlops._core.atomic",
    "nbmlops.phi": "nbmlops.privacy.phi",
    "nbmlops.deid": "nbmlops.privacy.deid",
    "nbmlops.identifiers": "nbmlops.privacy.identifiers",
    "nbmlops.stage": "nbmlops.authoring.stage",
    "nbmlops.pipeline": "nbmlops.authoring.pipeline",
    "nbmlops.parameters": "nbmlops.authoring.parameters",
    "nbmlops.cell_code": "nbmlops.authoring.cell_code",
    "nbmlops.plan": "nbmlops.run.plan",
    "nbmlops.state": "nbmlops.run.state",
    "nbmlops.execute": "nbmlops.run.execute",
    "nbmlops.notebook_run": "nbmlops.run.kernel",
    "nbmlops.environment": "nbmlops.run.environment",
    "nbmlops.run_lock": "nbmlops.run.lock",
    "nbmlops.replay": "nbmlops.run.replay",
    "nbmlops.recording": "nbmlops.records.writer",
    "nbmlops.ledger": "nbmlops.records.ledger",
    "nbmlops.tracking": "nbmlops.records.tracking",
    "nbmlops.scraps": "nbmlops.records.scraps",
    "nbmlops.review.decision": "nbmlops.approval.decision",
    "nbmlops.review.evidence": "nbmlops.approval.evidence",
    "nbmlops.review.registry": "nbmlops.approval.registry",
    "nbmlops.signing": "nbmlops.approval.signing",
    "nbmlops.authenticators": "nbmlops.approval.authenticators",
    "nbmlops.signer_ledger": "nbmlops.approval.signer_ledger",
    "nbmlops.signing_keys": "nbmlops.approval.signing_keys",
    "nbmlops.signing_attempts": "nbmlops.approval.signing_attempts",
    "nbmlops.cli_review": "nbmlops.cli.review",
    "nbmlops.datasets": "nbmlops.demo.datasets",
}


class MovedModules:
    """Finds only the old paths (last on ``sys.meta_path``: a real module always wins). A finder
    and loader by protocol: subclassing ``importlib.abc`` would cost ``import nbmlops`` 35 ms."""

    def __init__(self) -> None:
        self._specs: dict[str, ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return ModuleSpec(fullname, cast("Loader", self))

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there (the old path will go in 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        module = import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module at the new path ran already); give it back its own spec,
        which the import machinery has just replaced with the alias's."""
        module.__spec__ = self._specs.pop(module.__spec__.name if module.__spec__ else "", None)
