"""Nothing leaves the machine: telemetry off on import, and a full run connects nowhere else."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MakeProject, lab_extensions, server_extensions

from nbmlops.errors import InvalidInputError
from nbmlops.privacy.telemetry import TELEMETRY_SWITCHES, phi_policy


def test_import_forces_every_telemetry_switch_off() -> None:
    opposite = {k: "false" if v in ("1", "true") else "1" for k, v in TELEMETRY_SWITCHES.items()}
    names = sorted(TELEMETRY_SWITCHES)
    code = (
        f"import os, json, nbmlops; print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **opposite},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == TELEMETRY_SWITCHES


def test_an_unknown_phi_policy_is_refused_naming_where_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBMLOPS_PHI_POLICY", raising=False)
    assert phi_policy(tmp_path) == "refuse"
    (tmp_path / "pyproject.toml").write_text('[tool.nbmlops]\nphi_policy = "warn"\n')
    with pytest.raises(InvalidInputError, match="'warn' is not one of") as refused:
        phi_policy(tmp_path)
    assert refused.value.argument == "phi_policy" and "[tool.nbmlops]" in str(refused.value)
    assert phi_policy(tmp_path, "Redact") == "redact"  # the option wins over the project's


_INET = re.compile(r"(connect|sendto|sendmsg)\(.*sa_family=AF_INET6?,.*")
_LOOPBACK = re.compile(
    r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"|inet_pton\(AF_INET6, "::ffff:127\.'
)


def test_full_tracked_run_opens_no_connection_beyond_loopback(make_project: MakeProject) -> None:
    strace = shutil.which("strace")
    assert strace, "strace is required (make test installs it): it proves there is no egress"
    root = make_project("load", "double")
    trace = root / "strace.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg",
            "-o",
            str(trace),
            str(Path(sys.executable).parent / "nbmlops"),
            "run",
            "notebooks",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MLflow parent run" in done.stdout  # tracking really ran, into the local store
    calls = trace.read_text().splitlines()
    assert any("connect(" in c for c in calls), "strace saw no connect() at all"
    outside = [c for c in calls if _INET.search(c) and not _LOOPBACK.search(c)]
    assert outside == [], "connections beyond 127.0.0.1:\n" + "\n".join(outside[:20])


def test_ploomber_jupyter_extensions_are_off_in_the_environment() -> None:
    """The wheel's own config switches them off (no setup step): one breaks JupyterLab's contents
    API on jupyter_server 2, the others offer to upload notebooks to a cloud service."""
    text = server_extensions()
    for name in ("ploomber", "ploomber_extension"):
        assert re.search(rf"^\s*{name} disabled", text, re.M), text
    labs = lab_extensions()
    assert re.search(r"^\s*ploomber-extension v\S+ disabled", labs, re.M), labs
