"""Everything the audit report shows about one run, gathered from the records alone.

:func:`gather_report` reads the run record (``.nbmlops/runs/<id>.json``), the ledger (verified
with the whole project by :func:`nbmlops.audit.verify.verify_project`), the evidence the run
archived (``.nbmlops/evidence/``) or left in ``build/`` as it made it, the signed decisions, the
review results its review stage saved as JSON, the model-card file the team keeps, the software
bill of materials of the lock the run recorded, the DAG and the latest reproduction. It runs no
stage and recomputes no result: a file whose bytes no longer match the record is reported, never
read as if it did.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops._core.digests import file_digest
from nbmlops._core.paths import run_record_path
from nbmlops.errors import RecordedRunNotFoundError
from nbmlops.report.integrity import (
    Decision,
    EvidenceFile,
    Verification,
    check_run_evidence,
    read_ledger,
    signed_decisions,
    verify,
)

if TYPE_CHECKING:
    from nbmlops.report.card_file import ModelCardText
    from nbmlops.report.sbom import Sbom

__all__ = ["REVIEW_RESULTS", "DataFile", "ReportData", "gather_report"]

REVIEW_RESULTS = ("fairness", "explain", "drift")
"""Review-stage products read back as review results (``result.to_json(path)``), in order."""


@dataclass(frozen=True, kw_only=True)
class DataFile:
    """A declared input or a data product, with its recorded digest and row count."""

    stage: str
    name: str
    path: str
    digest: str
    rows: int | None
    note: str = ""
    """Why ``rows`` is None (a folder, a file changed since the run, an unknown format)."""


@dataclass(frozen=True, kw_only=True)
class ReportData:
    """One run as the report shows it; built by :func:`gather_report`."""

    root: Path
    run_id: str
    record: Mapping[str, Any]
    verification: Verification
    ledger_problem: str | None
    """The ledger's first bad line, named (line, seq, event, run) with why it fails, or None."""
    evidence: tuple[EvidenceFile, ...]
    decisions: tuple[Decision, ...]
    results: Mapping[str, Mapping[str, Mapping[str, Any]]]
    """Review results as saved by the run: kind (``fairness``, ``explain``, ``drift``) ->
    evidence name (``review.drift``, ``review.drift_outcomes``) -> the result's JSON, every
    result of a kind in the order the run saved them."""
    model: Mapping[str, str]
    """``name`` (``<stage>.<product>``), ``type`` (class in the skops file), ``digest``."""
    inputs: tuple[DataFile, ...]
    data_products: tuple[DataFile, ...]
    phi: tuple[tuple[str, str, str], ...]
    """(stage, artifact, PHI-scan status) for everything the run logged."""
    phi_policy: str
    card: ModelCardText
    sbom: Sbom
    dag_svg: str
    reproduction: Mapping[str, Any] | None
    reproduction_problem: str | None = None
    """Why the latest reproduction's file is not what its ``run_reproduced`` entry recorded
    (:func:`nbmlops.report.reproduce.verify_reproduction`), or None."""

    @property
    def pipeline(self) -> str:
        return str(self.record.get("pipeline"))

    @property
    def evidence_complete(self) -> bool:
        return all(e.problem is None for e in self.evidence) and not any(
            d.evidence_problems for d in self.decisions
        )

    @property
    def evidence_problems(self) -> tuple[str, ...]:
        own = [e.problem for e in self.evidence if e.problem]
        signed = [p for d in self.decisions for p in d.evidence_problems]
        return tuple(dict.fromkeys([*own, *signed]))

    @property
    def status(self) -> str:
        """``approved``, ``rejected``, ``changes requested`` (the latest decision) or
        ``unreviewed``."""
        return self.decisions[-1].decision if self.decisions else "unreviewed"

    def found(self, name: str) -> Path | None:
        """Where the recorded bytes of evidence file ``name`` are, if anywhere."""
        for item in self.evidence:
            if item.name == name and item.path is not None:
                return Path(item.path)
        return None


def gather_report(root: str | Path, run_id: str) -> ReportData:
    """Read everything the report of run ``run_id`` shows.

    Parameters
    ----------
    root : path
        The project folder.
    run_id : str
        A full run id (see :func:`nbmlops.report.runs.resolve_run`).

    Returns
    -------
    ReportData

    Raises
    ------
    RecordedRunNotFoundError
        The run has no record in the project.

    Examples
    --------
    >>> data = gather_report(root, "20261203T170000Z-1a2b3c")  # doctest: +SKIP
    >>> data.status, data.verification.ok, data.evidence_complete  # doctest: +SKIP
    ('approved', True, True)
    """
    from nbmlops.privacy.telemetry import phi_policy
    from nbmlops.report.card_file import read_model_card
    from nbmlops.report.dag import dag_svg
    from nbmlops.report.reproduce import latest_reproduction, verify_reproduction
    from nbmlops.report.sbom import sbom_for_run

    root = Path(root)
    path = run_record_path(root, run_id)
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = "no record of it" if not path.exists() else f"its record cannot be read ({exc})"
        raise RecordedRunNotFoundError(run=run_id, root=root, reason=reason) from None
    ledger = read_ledger(root)
    evidence = check_run_evidence(root, record, path, ledger)
    reproduction = latest_reproduction(root, run_id)
    data = ReportData(
        root=root,
        run_id=run_id,
        record=record,
        verification=verify(root),
        ledger_problem=ledger.bad_entry,
        evidence=evidence,
        decisions=signed_decisions(root, run_id, ledger),
        results=_review_results(evidence),
        model=_model(evidence),
        inputs=tuple(_inputs(record)),
        data_products=tuple(_data_products(record)),
        phi=tuple(_phi_statuses(record)),
        phi_policy=phi_policy(root),
        card=read_model_card(root, str(record.get("pipeline"))),
        sbom=sbom_for_run(root, record),
        dag_svg=dag_svg(record),
        reproduction=None if reproduction is None else dict(reproduction.to_dict()),
        reproduction_problem=(
            None if reproduction is None else verify_reproduction(root, reproduction)
        ),
    )
    return data


def _review_results(
    evidence: tuple[EvidenceFile, ...],
) -> dict[str, Mapping[str, Mapping[str, Any]]]:
    from nbmlops.review.rendering import result_kind

    results: dict[str, dict[str, Mapping[str, Any]]] = {kind: {} for kind in REVIEW_RESULTS}
    for item in evidence:
        found = result_kind(item.name.partition(".")[2], item.path, REVIEW_RESULTS)
        if found is not None:
            results[found[0]][item.name] = found[1]
    return {kind: found for kind, found in results.items() if found}


def _model(evidence: tuple[EvidenceFile, ...]) -> dict[str, str]:
    """The run's model: the product named ``model`` (the last stage's, if several), with the
    class its skops file holds (read from the archive's schema, nothing loaded)."""
    models = [e for e in evidence if e.name.partition(".")[2] == "model"]
    if not models:
        return {"name": "", "type": "no product named 'model'", "digest": ""}
    item = models[-1]
    kind = "unknown (the file is missing or changed)"
    if item.path is not None:
        try:
            with zipfile.ZipFile(item.path) as archive:
                schema = json.loads(archive.read("schema.json"))
            kind = f"{schema.get('__module__')}.{schema.get('__class__')}"
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            kind = "not a skops file"
    return {"name": item.name, "type": kind, "digest": item.digest}


def _rows(path: Path, digest: str) -> tuple[int | None, str]:
    """Rows of a data file whose bytes are still the recorded ones (Parquet from its footer,
    CSV by counting lines)."""
    if path.is_dir():
        return None, "a folder"
    if not path.is_file():
        return None, "not counted: the file is gone"
    if file_digest(path) != digest:
        return None, "not counted: the file changed since the run"
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        return int(pq.read_metadata(path).num_rows), ""
    if path.suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0), ""
    return None, f"not counted: {path.suffix or 'no suffix'} files are not read"


def _inputs(record: Mapping[str, Any]) -> list[DataFile]:
    found = []
    for stage in record.get("stages", []):
        for name, item in sorted((stage.get("declared_inputs") or {}).items()):
            source = Path(str(item.get("source") or ""))
            rows, note = _rows(source, str(item.get("sha256")))
            found.append(
                DataFile(
                    stage=str(stage["stage"]),
                    name=name,
                    path=str(item.get("path")),
                    digest=str(item.get("sha256")),
                    rows=rows,
                    note=note,
                )
            )
    return found


def _data_products(record: Mapping[str, Any]) -> list[DataFile]:
    from nbmlops.records.archive import DATA_SUFFIXES

    found = []
    for stage in record.get("stages", []):
        digests: Mapping[str, str] = stage.get("product_digests") or {}
        for product, location in sorted((stage.get("products") or {}).items()):
            path = Path(str(location))
            if path.suffix not in DATA_SUFFIXES or product not in digests:
                continue
            rows, note = _rows(path, digests[product])
            found.append(
                DataFile(
                    stage=str(stage["stage"]),
                    name=product,
                    path=path.name,
                    digest=digests[product],
                    rows=rows,
                    note=note,
                )
            )
    return found


def _phi_statuses(record: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """What the PHI scan decided for each artifact the run logged, from the record's notes
    (the records writer notes every withheld, redacted or refused artifact)."""
    notes = [str(n) for n in record.get("notes", [])]
    rows = []
    for stage in record.get("stages", []):
        name = str(stage["stage"])
        if stage.get("status") != "succeeded":
            rows.append((name, "executed notebook", f"not logged by this run ({stage['status']})"))
            continue
        mine = [n for n in notes if n.startswith(f"{name}: ")]
        if any("NOT logged" in n for n in mine):
            status = "identifiers found: withheld, not logged to MLflow"
        elif any("redacted from the notebook" in n for n in mine):
            status = "identifiers found: logged redacted"
        else:
            status = "logged; no identifier found by the scan (or policy off)"
        rows.append((name, "executed notebook and HTML", status))
        scraps = [n for n in mine if "scraps" in n]
        rows.append((name, "scraps", scraps[0].partition(": ")[2] if scraps else "clean"))
    return rows


def read_table(path: Path, *, limit: int = 60) -> tuple[list[str], list[list[str]]]:
    """A small CSV product (threshold table, de-identification report) as header and rows."""
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    return (rows[0] if rows else []), rows[1 : limit + 1]
