"""Incremental build state: what made a stage's products, and why a stage is stale.

Each successful stage run leaves ``build/<pipeline>/<stage>/.nbmlops-state.json``: the digests of
everything that went in (source, stage metadata, parameters, lock file, upstream products), the
digests of the products that came out, and the run that made them. A stage is up to date when the
same inputs would go in again and its products are still the ones it wrote.

Digests are content hashes (SHA-256), not timestamps: touching a file or re-running an upstream
stage that produces identical bytes does not make anything stale. A product whose size, mtime,
inode and ctime are unchanged is trusted without rehashing, as git trusts its index (size and
mtime alone are not enough: mtime can be set back after an edit).

JSON values (stage metadata, parameters, a folder product's file list, the fingerprint's inputs)
are hashed over their RFC 8785 canonical form (:func:`nbmlops._core.digests.canonical_digest`).
A state written before that (format 1) reads as absent: the stage runs once more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from nbmlops._core.atomic import write_text_atomic
from nbmlops._core.digests import canonical_digest, file_digest
from nbmlops._core.paths import STAGE_STATE
from nbmlops.authoring.stage import StageSpec

__all__ = [
    "STATE_FILE",
    "ProductRecord",
    "ReasonKind",
    "StageState",
    "StaleReason",
    "fingerprint",
    "product_digest",
    "read_state",
    "record_products",
    "stage_inputs",
    "stale_reasons",
    "write_state",
]

STATE_FILE = STAGE_STATE
# bump when the meaning of a fingerprint changes: every stage becomes stale once (2: RFC 8785)
_FORMAT = 2
_MISSING = "missing"  # an upstream product's digest when it is absent (a digest is hex)

ReasonKind = Literal[
    "never_run",
    "source_changed",
    "stage_changed",
    "params_changed",
    "environment_changed",
    "upstream_changed",
    "upstream_missing",
    "product_missing",
    "product_changed",
    "inputs_changed",
    "input_changed",
    "input_missing",
    "forced",
    "upstream_will_run",
]
"""Why a stage is stale. ``subject`` names what changed: the parameter (``params_changed``), the
upstream product as ``<stage>.<product>`` (``upstream_*``), the stage's own product
(``product_*``), the declared input (``input_*``: missing also when it cannot be read), the
upstream stage (``upstream_will_run``), the lock file (``environment_changed``) or the notebook
(``source_changed``, ``stage_changed``)."""


@dataclass(frozen=True, kw_only=True)
class StaleReason:
    """One reason a stage must run again: a ``kind`` to decide on, a ``subject`` it is about, and
    a ``text`` for people. Code decides on ``kind`` and ``subject``, never on ``text``.

    Examples
    --------
    >>> StaleReason(kind="params_changed", subject="fill_missing",
    ...             text="parameter fill_missing changed").kind
    'params_changed'
    """

    kind: ReasonKind
    subject: str | None = None
    text: str

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, str | None]:
        """``{"kind", "subject", "text"}``: what the server's JSON and ``--json`` output carry."""
        return {"kind": self.kind, "subject": self.subject, "text": self.text}


@dataclass(frozen=True, kw_only=True)
class ProductRecord:
    path: str
    """Relative to the stage's folder."""
    sha256: str
    size: int
    mtime_ns: int
    inode: int = -1
    ctime_ns: int = -1
    """With size and mtime, what must be unchanged for the recorded digest to be trusted without
    rehashing (git's index keys on the same). -1 in a state written before they were kept: the
    product is rehashed once."""


@dataclass(frozen=True, kw_only=True)
class StageState:
    fingerprint: str
    inputs: dict[str, str]
    products: dict[str, ProductRecord]
    run_id: str
    finished_at: str
    mlflow_run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    input_files: dict[str, ProductRecord] = field(default_factory=dict)
    """The files of the declared inputs as they were read, by project-relative path: their
    digests are trusted while size, mtime, inode and ctime are unchanged."""

    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, **asdict(self)}, indent=1, sort_keys=True)

    def with_mlflow_run(self, run_id: str | None) -> StageState:
        return replace(self, mlflow_run_id=run_id)


def _digest_json(value: Any) -> str:
    # not strict: a parameter of 2**64 or a file name that is not UTF-8 must not stop a run
    return canonical_digest(value, strict=False)


def record_products(stage_dir: Path, products: Mapping[str, str]) -> dict[str, ProductRecord]:
    """Hash the products (name -> relative path) now present in ``stage_dir``."""
    records = {}
    for name, rel in products.items():
        path = stage_dir / rel
        digest = _tree_digest(path)
        st = path.stat()  # after hashing: a write while it was read changes ctime, so it rehashes
        records[name] = ProductRecord(
            path=rel,
            sha256=digest,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            ctime_ns=st.st_ctime_ns,
        )
    return records


def _tree_digest(path: Path) -> str:
    """A file's digest, or for a folder product the digest of its files' names and digests."""
    if not path.is_dir():
        return file_digest(path)
    entries = sorted(
        (p.relative_to(path).as_posix(), file_digest(p)) for p in path.rglob("*") if p.is_file()
    )
    return _digest_json(entries)


def product_digest(stage_dir: Path, record: ProductRecord) -> str | None:
    """The product's current digest (``None`` if it is gone), reusing the recorded one when the
    file's size, mtime, inode and ctime are unchanged.

    mtime can be set back (``os.utime``, ``touch -d``, ``cp -p``, ``rsync -t``); ctime cannot,
    short of changing the system clock, and a file replaced by another has another inode.
    """
    path = stage_dir / record.path
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    unchanged = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) == (
        record.size,
        record.mtime_ns,
        record.inode,
        record.ctime_ns,
    )
    if not path.is_dir() and unchanged:
        return record.sha256
    return _tree_digest(path)


def read_state(stage_dir: Path) -> StageState | None:
    """The state a successful run left in ``stage_dir``; ``None`` when absent or unreadable
    (an unreadable state only means the stage runs again)."""
    try:
        data = json.loads((stage_dir / STATE_FILE).read_text(encoding="utf-8"))
        if data.pop("format", None) != _FORMAT:
            return None
        data["products"] = {k: ProductRecord(**v) for k, v in data["products"].items()}
        files = data.get("input_files", {})
        data["input_files"] = {k: ProductRecord(**v) for k, v in files.items()}
        return StageState(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_state(stage_dir: Path, state: StageState) -> None:
    write_text_atomic(stage_dir / STATE_FILE, state.to_json())


def stage_inputs(
    stage: StageSpec,
    *,
    params: Mapping[str, Any],
    lock_digest: str | None,
    upstream: Mapping[str, str | None],
    declared: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """The digests of everything that goes into a stage run.

    ``upstream`` maps ``<stage>.<product>`` to the product's current digest (``None``: missing),
    ``declared`` each declared input to its digest (``None``: missing or unreadable).
    """
    meta: dict[str, Any] = {"products": stage.products, "kernel": stage.kernel}
    meta["upstream"] = stage.upstream
    if stage.inputs:  # only then: a stage without inputs keeps the digest it had before them
        meta["inputs"] = stage.inputs
    inputs = {
        "source": stage.source_digest,
        "stage": _digest_json(meta),
        "params": _digest_json(dict(params)),
        "environment": lock_digest or "none",
    }
    for key, digest in sorted(upstream.items()):
        inputs[f"upstream:{key}"] = digest or _MISSING
    for name, digest in sorted((declared or {}).items()):
        inputs[f"input:{name}"] = digest or _MISSING
    return inputs


def fingerprint(inputs: Mapping[str, str]) -> str:
    return _digest_json({"format": _FORMAT, **inputs})


def stale_reasons(
    state: StageState | None,
    inputs: Mapping[str, str],
    stage_dir: Path,
    *,
    params: Mapping[str, Any],
) -> list[StaleReason]:
    """Why the stage must run again; an empty list means it is up to date."""
    if state is None:
        return [StaleReason(kind="never_run", text="never run")]
    reasons = []
    simple: dict[str, tuple[ReasonKind, str]] = {
        "source": ("source_changed", "notebook source changed"),
        "stage": ("stage_changed", "stage metadata changed"),
        "environment": ("environment_changed", "environment lock changed"),
    }
    for key in sorted(set(inputs) | set(state.inputs)):
        old, new = state.inputs.get(key), inputs.get(key)
        if old == new:
            continue
        if key == "params":
            changed = sorted(
                k for k in set(state.params) | set(params) if state.params.get(k) != params.get(k)
            )
            reasons += [
                StaleReason(kind="params_changed", subject=k, text=f"parameter {k} changed")
                for k in changed
            ]
        elif key.startswith("upstream:"):
            what = key.removeprefix("upstream:")
            gone = new == _MISSING
            reasons.append(
                StaleReason(
                    kind="upstream_missing" if gone else "upstream_changed",
                    subject=what,
                    text=f"upstream product {what} {'missing' if gone else 'changed'}",
                )
            )
        elif key.startswith("input:"):
            name = key.removeprefix("input:")
            gone = new == _MISSING
            reasons.append(
                StaleReason(
                    kind="input_missing" if gone else "input_changed",
                    subject=name,
                    text=f"input {name} {'missing' if gone else 'changed'}",
                )
            )
        else:
            kind, text = simple.get(key, ("inputs_changed", f"{key} changed"))
            reasons.append(StaleReason(kind=kind, subject=key, text=text))
    for name, record in state.products.items():
        current = product_digest(stage_dir, record)
        if current is None:
            reasons.append(
                StaleReason(kind="product_missing", subject=name, text=f"product {name} missing")
            )
        elif current != record.sha256:
            text = f"product {name} modified since it was made"
            reasons.append(StaleReason(kind="product_changed", subject=name, text=text))
    return reasons
