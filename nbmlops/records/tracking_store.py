"""The MLflow store: where it is, opening it so that it fails in seconds, creating and migrating it
once under a lock, and saying what to do when it cannot be written.

A fresh SQLite store is created, migrated and given its experiment under a file lock beside it
(``<db>.lock``): processes migrating one file at once broke it for good (``_alembic_tmp_*
already exists``, ``duplicate column name``). MLflow's own migrations make it, in a temporary
file beside it without a disk flush per statement, which is then flushed once and renamed into
place (see :func:`_create_sqlite_store`). A store an older version left half-migrated is
moved aside and made anew when it holds no run, else reported with what to do. HTTP calls fail
within seconds (one retry, 10 s timeout, Retry-After ignored) unless the user set those MLflow
variables, and a SQLite file that cannot be opened fails at once rather than in MLflow's ~100 s
engine-retry loop. A server that refuses the credentials (401, or 403 for an experiment the user
may only read) is the first answer, never retried: the problem then names the server and the
variables to set (``MLFLOW_TRACKING_USERNAME``, ``MLFLOW_TRACKING_PASSWORD``). MLflow itself is
imported on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nbmlops._core.paths import MLFLOW_ARTIFACTS, MLFLOW_DB
from nbmlops.errors import TrackingError

__all__ = [
    "STORE_LOCK_TIMEOUT_S",
    "artifact_root",
    "connect",
    "describe_failure",
    "experiment_name",
    "mlflow_api",
    "open_client",
    "prepare",
    "redact_uri",
    "tracking_uri",
    "ui_command",
]

# nbmlops never sends usage telemetry; MLflow reads these when it is first imported.
os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"})

_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",  # default 7 with backoff: 246 s on a dead server
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",  # a proxy's Retry-After can be hours
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # else a print and a GET per ended run
}
_log = logging.getLogger(__name__)


def tracking_uri(project_root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's own SQLite file.

    >>> tracking_uri(Path("/srv/study"))  # doctest: +SKIP
    'sqlite:////srv/study/.nbmlops/mlflow.db'
    """
    own = (project_root.resolve() / MLFLOW_DB).as_posix()
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or f"sqlite:///{own}"


def artifact_root(project_root: Path) -> str | None:
    """File URI of ``.nbmlops/mlartifacts``; None when ``MLFLOW_TRACKING_URI`` decides instead."""
    if os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return None
    return (project_root.resolve() / MLFLOW_ARTIFACTS).as_uri()


def experiment_name(pipeline: str) -> str:
    """``nbmlops/<pipeline>``: prefixed so that it never mixes with a user's own experiment."""
    return f"nbmlops/{pipeline}"


def prepare(uri: str, experiment: str, *, artifact_location: str | None = None) -> str:
    """Create and migrate the store and the experiment, once, before any fan-out.

    Parameters
    ----------
    uri : str
        Tracking URI (:func:`tracking_uri`).
    experiment : str
        Experiment name (:func:`experiment_name`).
    artifact_location : str, optional
        Folder URI under which a *new* experiment keeps its artifacts (:func:`artifact_root`).

    Returns
    -------
    str
        The experiment id.

    Raises
    ------
    TrackingError
        The store cannot be opened or written; the message says what to check.

    Examples
    --------
    >>> prepare(tracking_uri(root), experiment_name("readmission"),
    ...         artifact_location=artifact_root(root))  # doctest: +SKIP
    '1'
    """
    try:
        errors = mlflow_api().errors
    except ImportError as exc:
        raise TrackingError(describe_failure(uri, "experiment", exc), uri=redact_uri(uri)) from exc
    try:
        return connect(uri, experiment, artifact_location)[1]
    except TrackingError:
        raise
    except errors as exc:
        raise TrackingError(describe_failure(uri, "experiment", exc), uri=redact_uri(uri)) from exc


@dataclass(frozen=True)
class _Api:
    client: Any
    Metric: Any
    Param: Any
    RunTag: Any
    errors: tuple[type[Exception], ...]


@functools.cache
def mlflow_api() -> _Api:
    import sqlalchemy.exc
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # What an unwritable or unreachable store raises: MLflow's errors (HTTP failures included),
    # the SQLAlchemy and sqlite3 errors MLflow lets through, and OSError (full disk, missing
    # folder; requests' exceptions derive from it). Anything else is a bug and should surface.
    errors = (MlflowException, sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError)
    return _Api(MlflowClient, Metric, Param, RunTag, errors)


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri`` that fails in seconds, not minutes, when the store is down
    (capped HTTP retries and timeouts, SQL engine retries, a writable SQLite file checked first).

    Raises what the store raises (see ``mlflow_api().errors``).
    """
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        for name, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    with _store_lock(uri), _few_engine_retries(scheme):
        if scheme == "sqlite":
            _check_sqlite(uri)
            _repair_half_migrated(uri)
            _create_sqlite_store(uri)
        try:
            return _open_migrated(uri)
        except Exception as exc:
            if scheme == "sqlite" and any(d in str(exc) for d in _DAMAGE):
                raise _damaged(uri, f"{type(exc).__name__} on opening it") from exc
            raise


def _open_migrated(uri: str) -> Any:
    client = mlflow_api().client(tracking_uri=uri)
    client._tracking_client.store  # noqa: B018 - opens (and migrates) a SQL store now
    return client


STORE_LOCK_TIMEOUT_S = 120.0


def _sqlite_file(uri: str) -> Path | None:
    if urlsplit(uri).scheme != "sqlite":
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Hold ``<db>.lock`` while a SQLite store is created, migrated or given an experiment.

    One lock object per file and thread (``is_singleton``), so ``_connect`` holding it around
    ``open_client`` re-enters it instead of waiting for itself. A server (http, https) migrates
    its own store, and other databases are not files: no lock for them.
    """
    db = _sqlite_file(uri)
    if db is None:
        yield
        return
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{db}.lock", is_singleton=True)
    with lock.acquire(timeout=STORE_LOCK_TIMEOUT_S):  # Timeout is an OSError: a store error
        yield


_DAMAGE = ("duplicate column name", "already exists", "Online migration expected")


def _repair_half_migrated(uri: str) -> None:
    """A SQLite store that processes migrating it at once left half-done (``_alembic_tmp_*``
    tables; before the store lock existed) is moved aside when it holds no run or model, so
    MLflow makes it anew. With runs in it, :class:`TrackingError` says what to do. Called with
    the store lock held, before MLflow opens the file (MLflow keeps its engine per URI)."""
    db = _sqlite_file(uri)
    if db is None or not db.is_file() or db.stat().st_size == 0:
        return
    connection = sqlite3.connect(db, timeout=10)
    try:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        leftovers = sorted(n for n in names if n.startswith("_alembic_tmp_"))
        if not leftovers:
            return
        kept = sum(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("runs", "registered_models")
            if table in names
        )
    finally:
        connection.close()
    if kept:
        raise _damaged(uri, f"leftover tables {', '.join(leftovers)}; {kept} run(s) or model(s)")
    aside = db.with_name(f"{db.name}.half-migrated-{time.strftime('%Y%m%dT%H%M%S')}")
    db.rename(aside)
    _log.warning("%s was half-migrated and held no run: moved to %s, made anew", db, aside)


def _create_sqlite_store(uri: str) -> None:
    """Make a new (empty) SQLite store with MLflow's own migrations, quickly and all at once.

    MLflow migrates a new file in place: its ~70 migrations' DDL statements each wait for the
    disk (SQLite flushes every commit), ~10 s of wall time on a busy disk for ~2 s of CPU, while
    the first stage's records wait. Here the same migrations run on a temporary file beside the
    store with SQLite's flushes off; the file is flushed once and renamed over the empty one, so
    a crash leaves a temporary file (removed next time), never a half-made store. Called with the
    store lock held. If MLflow's migration entry point is not what this expects, MLflow migrates
    the file itself when it opens it, as before.
    """
    db = _sqlite_file(uri)
    if db is None or not db.is_file() or db.stat().st_size > 0:
        return
    for leftover in db.parent.glob(f".{db.name}.new-*"):  # a crash's; we hold the lock
        leftover.unlink(missing_ok=True)
    new = db.with_name(f".{db.name}.new-{os.getpid()}")
    try:
        import sqlalchemy
        from mlflow.store.db.utils import _initialize_tables

        engine = sqlalchemy.create_engine(f"sqlite:///{new}")

        @sqlalchemy.event.listens_for(engine, "connect")
        def _no_flush(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA synchronous = OFF")  # per connection: not kept in the file
            connection.execute("PRAGMA journal_mode = MEMORY")

        try:
            _initialize_tables(engine)  # type: ignore[no-untyped-call]  # MLflow is untyped
        finally:
            engine.dispose()
        with new.open("rb+") as made:
            os.fsync(made.fileno())
        new.replace(db)
        directory = os.open(db.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except Exception as exc:  # MLflow migrates the empty file itself when it opens it
        _log.debug("made the MLflow store in place (%s: %s)", type(exc).__name__, exc)
        new.unlink(missing_ok=True)


def _damaged(uri: str, what: str) -> TrackingError:
    db = _sqlite_file(uri)
    return TrackingError(
        f"The MLflow store {db} was left half-migrated ({what}), so nbmlops leaves it as it "
        "is. Restore it from a backup, or move it aside (nbmlops then creates a new one) and "
        "record the runs kept in .nbmlops/runs/ again with `nbmlops records replay`.",
        uri=redact_uri(uri),
    )


def connect(uri: str, experiment: str, artifact_location: str | None) -> tuple[Any, str]:
    with _store_lock(uri):  # the first write (the experiment) too, then no more locking
        return _connect_locked(uri, experiment, artifact_location)


def _connect_locked(uri: str, experiment: str, artifact_location: str | None) -> tuple[Any, str]:
    client = open_client(uri)  # the store is open (and migrated) from here on
    found = client.get_experiment_by_name(experiment)
    if found is None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment)
        location = f"{artifact_location.rstrip('/')}/{slug}" if artifact_location else None
        try:
            # MLflow 3's UI opens experiments of unknown kind as GenAI (traces, prompts);
            # these are model-development runs.
            tags = {"mlflow.experimentKind": "custom_model_development"}
            return client, str(client.create_experiment(experiment, location, tags))
        except mlflow_api().errors[0]:  # another process made it meanwhile
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise
    return client, str(found.experiment_id)


def _check_sqlite(uri: str) -> None:
    """Open the file for writing now: MLflow retries a file it cannot open for ~100 s."""
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=10)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        finally:
            connection.close()


@contextmanager
def _few_engine_retries(scheme: str) -> Iterator[None]:
    """Cap MLflow's SQL engine retries (10, ~100 s in all, no setting) while a store opens."""
    if scheme in ("http", "https"):
        yield
        return
    import mlflow.store.db.utils as db_utils

    saved, db_utils.MAX_RETRY_COUNT = db_utils.MAX_RETRY_COUNT, 3  # sleeps 0.1 s + 0.3 s
    try:
        yield
    finally:
        db_utils.MAX_RETRY_COUNT = saved


def describe_failure(uri: str, what: str, exc: BaseException) -> str:
    shown, parts = redact_uri(uri), urlsplit(uri)
    refused = _AUTH_REFUSALS.get(str(getattr(exc, "error_code", "")))
    if refused is not None:  # MLflow never retries a 401 or 403: this was the first answer
        return _refusal(shown, what, refused)
    detail = re.split(r" \[SQL: | \(Background on this error", " ".join(str(exc).split()))[0]
    detail = detail.replace(parts.password, "***") if parts.password else detail
    if parts.scheme in ("http", "https"):
        check = f"Check that the MLflow server at {shown} is running and reachable"
    elif parts.scheme == "sqlite":
        check = f"Check that {uri.removeprefix('sqlite:///')} can be written and the disk has room"
    else:
        check = f"Check that the tracking store {shown} is reachable and writable"
    return (
        f"MLflow at {shown} could not be written while recording the {what} "
        f"({type(exc).__name__}: {detail[:400]}). The pipeline run itself is unaffected; nothing "
        f"more is sent to MLflow for it. {check}, or set MLFLOW_TRACKING_URI to another store, "
        "then record the run with `nbmlops records replay` (it adds only what is missing)."
    )


_AUTH_REFUSALS = {"UNAUTHENTICATED": "401 Unauthorized", "PERMISSION_DENIED": "403 Forbidden"}


def _refusal(shown: str, what: str, status: str) -> str:
    """A server's basic-auth refusal: whose credentials, and which variables to set."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    who = f"user {user!r}" if user else "no MLFLOW_TRACKING_USERNAME set"
    if status.startswith("401"):
        fix = (
            "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment to "
            "your account on that server (never in a file of the project)"
        )
    else:
        fix = (
            "Ask the server's administrator for EDIT permission on this pipeline's experiment, "
            "or set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account that has it"
        )
    return (
        f"The MLflow server at {shown} refused the credentials ({status}; {who}) while "
        f"recording the {what}. The pipeline run itself is unaffected; nothing more is sent to "
        f"MLflow for it. {fix}, then record the run with `nbmlops records replay`."
    )


def redact_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def ui_command(project_root: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The argv of ``mlflow ui`` over the project's store, on the loopback interface by default.

    Raises
    ------
    TrackingError
        ``MLFLOW_TRACKING_URI`` names a server, which is the UI already.

    Examples
    --------
    >>> ui_command(Path("/srv/study"), 5000)  # doctest: +SKIP
    ['/usr/bin/python3', '-m', 'mlflow', 'ui', '--backend-store-uri', 'sqlite:////srv/study/...',
     '--host', '127.0.0.1', '--port', '5000', '--default-artifact-root', 'file:///srv/study/...']
    """
    uri = tracking_uri(project_root)
    if urlsplit(uri).scheme in ("http", "https"):
        shown = redact_uri(uri)
        raise TrackingError(f"Runs are tracked by the MLflow server {shown}; open it.", uri=shown)
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    argv += ["--host", host, "--port", str(port)]
    location = artifact_root(project_root)
    return argv + (["--default-artifact-root", location] if location else [])
