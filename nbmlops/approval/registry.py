"""A signed decision, mirrored into MLflow: tags on the pipeline run, and the model registry.

An approval registers the run's model as a new version of the registered model (named after the
pipeline unless told otherwise), tags the version with the decision, signer, evidence digest and
ledger entry, and points the alias ``approved`` at it; given a model-card writer, it logs the
card (Markdown and HTML) in the version's run under ``model_card/`` and tags the version with
the card's path and SHA-256. A rejection or a request for changes tags
the version if one exists and, if ``approved`` points at it, removes that alias (a later
rejection withdraws an approval). The ledger entry is already written: anything MLflow refuses
is listed in ``not_recorded``, never raised.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.approval.decision import ReviewDecision

# the registered model's alias an approval points at the approved version, a rejection withdraws
APPROVED_ALIAS = "approved"

CARD_FOLDER = "model_card"
"""Where an approval logs the model card in the model version's MLflow run."""

CardFiles = Callable[[], Sequence[Path]]
"""Writes the approved run's model card and returns its files (Markdown first)."""

__all__ = ["CARD_FOLDER", "CardFiles", "record_in_mlflow"]


def record_in_mlflow(
    record: Mapping[str, Any],
    signed: ReviewDecision,
    *,
    model_product: str,
    model_name: str,
    card: CardFiles | None = None,
) -> ReviewDecision:
    """Mirror ``signed`` into the MLflow store its run (``record``) was logged to; see the
    module doc. ``card`` is called only for an approval that registered a version."""
    uri = record.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    parent = record.get("mlflow_run_id")
    if not uri or not parent:
        return replace(signed, not_recorded=("MLflow: the run was not tracked",))
    tags = _tags(signed)
    notes: list[str] = []
    try:
        from nbmlops.records.tracking import open_client

        client = open_client(uri)
        for key, value in tags.items():
            client.set_tag(parent, key, value)
        name = f"review/decision-{signed.ledger_entry[:12]}.json"
        client.log_dict(parent, signed.to_dict(), name)
    except Exception as exc:  # the ledger holds the decision; MLflow is a mirror
        return replace(signed, not_recorded=(f"MLflow run {parent}: {_short(exc)}",))
    model, child = _model_of(record, model_product)
    if model is None or child is None:
        notes.append(f"MLflow registry: the run has no product named '{model_product}'")
        return replace(signed, not_recorded=tuple(notes))
    try:
        version = _register(
            client, signed, model=model, child_run=child, name=model_name, tags=tags
        )
    except Exception as exc:
        notes.append(f"MLflow registry ({model_name}): {_short(exc)}")
        return replace(signed, not_recorded=tuple(notes))
    if card is not None and version is not None and signed.decision == "approve":
        notes.extend(_log_card(client, card, child_run=child, name=model_name, version=version))
    return replace(signed, model_version=version, not_recorded=tuple(notes))


def _log_card(
    client: Any, card: CardFiles, *, child_run: str, name: str, version: str
) -> list[str]:
    """Log the model card in the version's run and tag the version with where it is; a card
    that cannot be written or logged is a note (the approval is signed and registered)."""
    try:
        files = list(card())
        for path in files:
            client.log_artifact(child_run, str(path), CARD_FOLDER)
        if files:
            digest = hashlib.sha256(Path(files[0]).read_bytes()).hexdigest()
            client.set_model_version_tag(
                name, version, "nbmlops.model_card", f"{CARD_FOLDER}/{Path(files[0]).name}"
            )
            client.set_model_version_tag(name, version, "nbmlops.model_card.sha256", digest)
    except Exception as exc:  # the decision is recorded; the card is a mirror too
        return [f"model card for {name} version {version}: {_short(exc)}"]
    return []


def _tags(signed: ReviewDecision) -> dict[str, str]:
    r = signed.record
    return {
        "nbmlops.review.decision": str(r["decision"]),
        "nbmlops.review.signer": str(r["signer"]["id"]),
        "nbmlops.review.signed_by": str(r["signer"]["printed_name"]),
        "nbmlops.review.signed_at": str(r["signed_at"]),
        "nbmlops.review.meaning": str(r["meaning"])[:4000],
        "nbmlops.review.evidence_digest": str(r["evidence_digest"]),
        "nbmlops.review.ledger_entry": signed.ledger_entry,
    }


def _model_of(record: Mapping[str, Any], product: str) -> tuple[str | None, str | None]:
    """The model file and the MLflow child run of the stage that produced it."""
    for stage in record.get("stages", []):
        # a stage skipped as up to date points at the run that made its products
        run = stage.get("produced_by_mlflow") or stage.get("mlflow_run_id")
        if product in stage.get("products", {}) and run:
            return str(stage["products"][product]), str(run)
    return None, None


def _register(
    client: Any,
    signed: ReviewDecision,
    *,
    model: str,
    child_run: str,
    name: str,
    tags: dict[str, str],
) -> str | None:
    from mlflow.exceptions import MlflowException

    child = child_run
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{child}'")
    if signed.decision != "approve":
        for version in existing:
            for key, value in tags.items():
                client.set_model_version_tag(name, version.version, key, value)
            _withdraw(client, name, str(version.version))
        return str(existing[0].version) if existing else None
    if existing:
        version = str(existing[0].version)
    else:
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        client.log_artifact(child, model, "model")
        source = f"runs:/{child}/model"
        version = str(client.create_model_version(name, source, run_id=child).version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, APPROVED_ALIAS, version)
    return version


def _withdraw(client: Any, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, APPROVED_ALIAS)
    except MlflowException:
        return
    if str(current.version) == version:
        client.delete_registered_model_alias(name, APPROVED_ALIAS)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
