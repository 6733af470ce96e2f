"""What installing nbmlops gives a JupyterLab user: the prebuilt extension and the Jupyter config.

The wheel is built here from this checkout (hatchling + hatch-jupyter-builder, as ``pip install``
builds it); the environment itself was installed from the same wheel by ``make setup``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, lab_extensions, server_extensions

DATA = "nbmlops-0.1.0.data/data/"


def test_jupyter_lists_the_lab_and_server_extensions_enabled_and_ok() -> None:
    labs = lab_extensions()
    assert re.search(r"^\s*nbmlops v0\.1\.0 enabled OK \(python, nbmlops\)", labs, re.M), labs
    servers = server_extensions()
    assert re.search(r"^\s*nbmlops\.server enabled", servers, re.M), servers
    assert re.search(r"^\s*nbmlops\.server\s+OK", servers, re.M), servers


def test_the_wheel_ships_the_built_labextension_and_the_config(tmp_path: Path) -> None:
    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        ext = DATA + "share/jupyter/labextensions/nbmlops/"
        package = json.loads(zf.read(ext + "package.json"))
        install = json.loads(zf.read(ext + "install.json"))
        server_d = DATA + "etc/jupyter/jupyter_server_config.d/"
        enabled = json.loads(zf.read(server_d + "nbmlops.json"))
        off = json.loads(zf.read(server_d + "zz-nbmlops-ploomber-off.json"))
    # the bundle JupyterLab loads, and the style it imports, are in the wheel
    assert ext + package["jupyterlab"]["_build"]["load"] in names
    assert ext + "static/style.js" in names
    assert package["jupyterlab"]["disabledExtensions"] == ["ploomber-extension"]
    assert install["packageName"] == "nbmlops"
    assert enabled["ServerApp"]["jpserver_extensions"] == {"nbmlops.server": True}
    assert off["ServerApp"]["jpserver_extensions"] == {
        "ploomber": False,
        "ploomber_extension": False,
    }
    # no TypeScript sources, node_modules or build leftovers
    assert not [n for n in names if "node_modules" in n or n.endswith((".ts", ".tsx"))]


def test_papermill_registers_the_pool_engine_from_the_installed_entry_point() -> None:
    """papermill finds nbmlops's engine by itself when it is imported (nothing in nbmlops
    registers it), under the name the kernel runner asks for."""
    from nbmlops.run.kernel import _ENGINE

    code = (
        "import sys; from papermill.engines import papermill_engines; "
        f"engine = papermill_engines.get_engine({_ENGINE!r}); "
        "print(engine.__module__, engine.__qualname__, 'nbmlops.run.kernel' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["nbmlops.run.papermill_engine", "PoolEngine", "False"]
