"""A team's tracking server: PostgreSQL, and ``mlflow server`` on it with MLflow's basic-auth app.

Used two ways, both on 127.0.0.1 only:

- by tests, through :func:`team_server` (a context manager: a PostgreSQL cluster in a temporary
  folder on a free port, an ``mlflow server`` on another, both stopped on leaving, even on failure);
- by ``make team-up`` / ``make team-down`` (``python tests/team.py up|down|status DATA``): the same
  two servers left running in the background in ``DATA`` (``.team/`` by default), for a team or a
  developer to record to. ``README.md`` ("Teams: a shared tracking server") documents both.

PostgreSQL runs from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``, or
``PG_BINDIR``); it refuses to run as root, so under root the cluster belongs to the ``postgres``
user the package creates. Its superuser ``nbmlops`` logs in with a password (SCRAM) that is made
at ``up`` and kept in ``DATA/postgres.password`` (0600); ``mlflow server`` gets it as
``PGPASSWORD``, never on its command line. The MLflow admin's password comes from
``MLFLOW_AUTH_ADMIN_PASSWORD`` (MLflow's own variable), never from a file in the repository.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PG_USER = "nbmlops"  # the cluster's superuser, owner of both databases
DATABASES = ("mlflow", "mlflow_auth")  # runs and experiments; basic-auth's users and permissions
ADMIN = "admin"  # MLflow's basic-auth administrator
START_TIMEOUT_S = 120.0


class TeamSetupError(RuntimeError):
    """What is missing on this machine to start the team's servers, and how to get it."""


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL cluster on 127.0.0.1."""

    data: Path  # the cluster's folder (PGDATA)
    port: int
    password: str  # of PG_USER
    bindir: Path
    owner: str | None  # the system user running it (``postgres`` under root), None for us

    def uri(self, database: str) -> str:
        """SQLAlchemy URL of ``database``, without the password (libpq reads ``PGPASSWORD``)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"


@dataclass(frozen=True)
class Team:
    """A running ``mlflow server`` (basic-auth on) on a :class:`Postgres`."""

    url: str  # http://127.0.0.1:PORT
    artifacts: Path  # --artifacts-destination: the shared artifact root
    admin_password: str
    postgres: Postgres
    log: Path

    def credentials(self, username: str = ADMIN, password: str | None = None) -> dict[str, str]:
        """The environment a client records with: URI, user name and password."""
        return {
            "MLFLOW_TRACKING_URI": self.url,
            "MLFLOW_TRACKING_USERNAME": username,
            "MLFLOW_TRACKING_PASSWORD": self.admin_password if password is None else password,
        }


def free_port() -> int:
    """A port nothing listens on now on 127.0.0.1 (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def postgres_bindir(debian: Path = Path("/usr/lib/postgresql")) -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``PG_BINDIR``, else Debian's newest version
    (``debian/<version>/bin``).

    Raises :class:`TeamSetupError` naming the package to install: a missing server is a
    machine set-up error to fix, never a reason to skip a test.
    """
    given = os.environ.get("PG_BINDIR")
    candidates = [Path(given)] if given else []
    found = debian.glob("*/bin")
    candidates += sorted(found, key=lambda p: _version(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    where = f"PG_BINDIR={given} or {debian}/*/bin" if given else f"{debian}/*/bin"
    raise TeamSetupError(
        f"PostgreSQL's initdb and pg_ctl were not found in {where}. Install the server "
        "(Debian: apt-get install postgresql; `make system-deps` does it as root) or set "
        "PG_BINDIR to the folder holding them."
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _owner() -> str | None:
    """Who runs PostgreSQL: ``postgres`` under root (initdb and postgres refuse root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise TeamSetupError(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it: "
            "install Debian's postgresql package (it creates the user) or run as another user."
        ) from None
    return "postgres"


def _as_owner(owner: str | None, argv: list[str], cwd: Path, **kw: object) -> str:
    done = subprocess.run(  # noqa: PLW1510 - checked below, with the output in the message
        argv, cwd=cwd, user=owner, group=owner, extra_groups=[] if owner else None,
        capture_output=True, text=True, timeout=START_TIMEOUT_S, **kw,  # type: ignore[call-overload]
    )  # fmt: skip
    if done.returncode != 0:
        raise TeamSetupError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return str(done.stdout)


def _give(path: Path, owner: str | None) -> None:
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_postgres(home: Path, port: int, *, durable: bool = True) -> Postgres:
    """Create a cluster in ``home/pgdata`` listening on 127.0.0.1:``port`` only (no Unix socket),
    with a new password for ``nbmlops``; ``durable=False`` turns fsync off (tests)."""
    bindir, owner = postgres_bindir(), _owner()
    home.mkdir(parents=True, exist_ok=True)
    closed = [p for p in home.resolve().parents if owner and not p.stat().st_mode & 0o001]
    if closed:
        raise TeamSetupError(
            f"PostgreSQL runs as {owner}, who cannot enter {closed[0]} (mode "
            f"{closed[0].stat().st_mode & 0o777:o}) to reach {home}: choose a data folder "
            "outside it (TEAM_DIR=/srv/mlflow make team-up)."
        )
    home.chmod(0o700)
    _give(home, owner)
    password = secrets.token_urlsafe(24)
    secret = home / "postgres.password"
    secret.touch(mode=0o600)
    secret.write_text(password + "\n", encoding="utf-8")
    _give(secret, owner)
    data = home / "pgdata"
    argv = [str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={secret}"]
    argv += ["--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8"]
    argv += ["--locale=C.UTF-8", "--no-instructions", *([] if durable else ["--no-sync"])]
    _as_owner(owner, argv, home)
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": "''",  # TCP on loopback only: no socket file to clash over
    }
    if not durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\n# nbmlops team server (tests/team.py)\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    return Postgres(data=data, port=port, password=password, bindir=bindir, owner=owner)


def start_postgres(pg: Postgres) -> None:
    """Start the cluster, wait until it accepts connections, create the databases if missing."""
    log = pg.data.parent / "postgres.log"
    argv = [str(pg.bindir / "pg_ctl"), "start", "-D", str(pg.data), "-l", str(log), "-w"]
    try:
        _as_owner(pg.owner, [*argv, "-t", str(int(START_TIMEOUT_S))], pg.data.parent)
    except TeamSetupError as exc:
        shown = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        raise TeamSetupError(f"{exc}\n{log}:\n{shown}") from None
    env = {**os.environ, "PGPASSWORD": pg.password}
    psql = [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", PG_USER]
    query = [*psql, "-At", "-d", "postgres", "-c", "SELECT datname FROM pg_database"]
    listed = _as_owner(None, query, pg.data.parent, env=env)
    for name in DATABASES:
        if name not in listed.split():
            _as_owner(None, [*psql, "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                      pg.data.parent, env=env)  # fmt: skip


def stop_postgres(pg: Postgres) -> None:
    """Stop the cluster (fast shutdown: open sessions are ended)."""
    if (pg.data / "postmaster.pid").exists():
        argv = [str(pg.bindir / "pg_ctl"), "stop", "-D", str(pg.data), "-m", "fast", "-w"]
        _as_owner(pg.owner, argv, pg.data.parent)


def _auth_ini(pg: Postgres, folder: Path) -> Path:
    """basic-auth's configuration: its users in PostgreSQL too, read-only by default (a user
    edits the experiments they create; the admin grants more); the admin's password comes
    from ``MLFLOW_AUTH_ADMIN_PASSWORD``."""
    ini = folder / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {pg.uri('mlflow_auth')}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8",
    )
    return ini


def mlflow_argv(pg: Postgres, port: int, artifacts: Path) -> list[str]:
    """``mlflow server`` on 127.0.0.1:``port`` over ``pg``, proxying artifacts to ``artifacts``."""
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", pg.uri("mlflow"), "--serve-artifacts"]
    argv += ["--artifacts-destination", str(artifacts), "--app-name", "basic-auth"]
    return [*argv, "--workers", "1"]


def start_mlflow(
    pg: Postgres, port: int, artifacts: Path, folder: Path, admin_password: str
) -> subprocess.Popen[bytes]:
    """Start ``mlflow server`` in its own session (so its workers stop with it); not waited for."""
    artifacts.mkdir(parents=True, exist_ok=True)
    key = folder / "flask.secret"  # basic-auth's CSRF key: one per server, kept across restarts
    if not key.is_file():
        key.touch(mode=0o600)
        key.write_text(secrets.token_hex(32), encoding="utf-8")
    env = {
        **os.environ,
        "PGPASSWORD": pg.password,
        "MLFLOW_AUTH_CONFIG_PATH": str(_auth_ini(pg, folder)),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": key.read_text(encoding="utf-8"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",  # its request log is read while it runs
        # GenAI background jobs (trace rollups, evaluations): nbmlops records none, and they
        # are seven more processes importing MLflow at start
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    with (folder / "mlflow.log").open("ab") as log:
        return subprocess.Popen(
            mlflow_argv(pg, port, artifacts),
            cwd=folder, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def wait_healthy(url: str, server: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Until ``url/health`` answers 200 (at most :data:`START_TIMEOUT_S`)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise TeamSetupError(f"mlflow server exited ({server.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.3)
    raise TeamSetupError(f"mlflow server at {url} did not answer in {START_TIMEOUT_S:.0f} s:\n"
                         f"{_tail(log)}")  # fmt: skip


def stop_process_group(
    pid: int, timeout: float = 10, child: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM to the group ``pid`` leads, SIGKILL to what is left of it after ``timeout``.

    ``child``: the leader's Popen when it is our child, reaped here (a zombie leader would keep
    the group alive)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"


@contextmanager
def team_server(artifacts: Path, *, admin_password: str | None = None) -> Iterator[Team]:
    """PostgreSQL in a temporary folder and ``mlflow server`` on it, both on free loopback
    ports, basic-auth on; both stopped and the folder removed on leaving, even on failure.

    The cluster's folder is made with :func:`tempfile.mkdtemp` (PostgreSQL runs as ``postgres``
    under root and cannot enter pytest's 0700 folders); ``artifacts`` is the shared root."""
    password = admin_password or secrets.token_urlsafe(16)
    home = Path(tempfile.mkdtemp(prefix="nbmlops-team-"))
    home.chmod(0o711)  # PostgreSQL's own user passes through to its folder, reads nothing here
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, home, ignore_errors=True)
        pg = init_postgres(home / "postgres", free_port(), durable=False)
        cleanup.callback(stop_postgres, pg)
        start_postgres(pg)
        port = free_port()
        server = start_mlflow(pg, port, artifacts, home, password)
        cleanup.callback(_stop_server, server)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, home / "mlflow.log")
        yield Team(url, artifacts, password, pg, home / "mlflow.log")


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    stop_process_group(server.pid, child=server)
    server.wait(timeout=10)


def add_user(team: Team, username: str, password: str) -> None:
    """A basic-auth user (the admin creates it through MLflow's REST API)."""
    import base64
    import json

    body = json.dumps({"username": username, "password": password}).encode()
    url = f"{team.url}/api/2.0/mlflow/users/create"  # http://127.0.0.1:PORT, made here
    request = urllib.request.Request(url, data=body)  # noqa: S310
    token = base64.b64encode(f"{ADMIN}:{team.admin_password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 200, answer.read()


# --- make team-up / team-down -----------------------------------------------------------------


def _pid(folder: Path) -> int | None:
    """The running ``mlflow server`` that ``up`` started in ``folder``, if it still runs."""
    try:
        pid = int((folder / "mlflow.pid").read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, ValueError, IndexError):  # no file, or a process gone (a reboot, a kill)
        return None
    return None if state == "Z" else pid  # a killed server its parent has not reaped yet


def _postgres_running(pg: Postgres) -> bool:
    argv = [str(pg.bindir / "pg_ctl"), "status", "-D", str(pg.data)]
    status = subprocess.run(argv, user=pg.owner, capture_output=True, check=False, timeout=30)
    return status.returncode == 0  # 3: not running (a stale postmaster.pid included)


def up(folder: Path, env: Mapping[str, str]) -> str:
    """Start (creating on first use) the team's servers in ``folder``; return the server URL."""
    admin_password = env.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    if not admin_password:
        raise TeamSetupError(
            "Set MLFLOW_AUTH_ADMIN_PASSWORD to the password of MLflow's `admin` user: it is "
            "created with it on first start (MLflow then ignores the variable)."
        )
    pg_port, port = int(env.get("TEAM_PG_PORT", "5433")), int(env.get("TEAM_MLFLOW_PORT", "5001"))
    artifacts = Path(env.get("TEAM_ARTIFACTS") or folder / "artifacts").resolve()
    folder = folder.resolve()
    home = folder / "postgres"
    if (home / "pgdata").is_dir():
        password = (home / "postgres.password").read_text(encoding="utf-8").strip()
        pg = Postgres(home / "pgdata", pg_port, password, postgres_bindir(), _owner())
        _set_port(pg)
    else:
        pg = init_postgres(home, pg_port)
    if not _postgres_running(pg):
        start_postgres(pg)
    url = f"http://127.0.0.1:{port}"
    server = None
    if _pid(folder) is None:
        server = start_mlflow(pg, port, artifacts, folder, admin_password)
        (folder / "mlflow.pid").write_text(str(server.pid))
    wait_healthy(url, server, folder / "mlflow.log")
    return url


def _set_port(pg: Postgres) -> None:
    conf = pg.data / "postgresql.conf"
    lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("port = ")]
    conf.write_text("\n".join([*lines, f"port = {pg.port}"]) + "\n")


def down(folder: Path) -> None:
    """Stop the team's servers in ``folder`` (their data stays)."""
    folder = folder.resolve()
    pid = _pid(folder)
    if pid is not None:
        stop_process_group(pid)
        (folder / "mlflow.pid").unlink()
    data = folder / "postgres" / "pgdata"
    if (data / "postmaster.pid").exists():
        argv = [str(postgres_bindir() / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]
        _as_owner(_owner(), argv, folder / "postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("folder", type=Path, nargs="?", default=Path(".team"))
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            down(args.folder)
            print(f"team servers in {args.folder} stopped")
            return 0
        url = up(args.folder, os.environ)
    except TeamSetupError as exc:
        print(f"team-{args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"MLflow (basic-auth, PostgreSQL) at {url}, artifacts through it. Record with:")
    print(f"  export MLFLOW_TRACKING_URI={url} MLFLOW_TRACKING_USERNAME=<you>")
    print("  read -rs MLFLOW_TRACKING_PASSWORD && export MLFLOW_TRACKING_PASSWORD")
    return 0


if __name__ == "__main__":
    sys.exit(main())
