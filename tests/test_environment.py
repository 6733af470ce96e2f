"""nbmlops.run.environment against the real venv, the real ``python3`` kernel and edited lock
copies."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment

from nbmlops.errors import EnvironmentMismatchError, KernelNotFoundError, LockFileError
from nbmlops.run.environment import (
    LINUX_CPYTHON_311,
    check_environment,
    export_conda_environment,
    installed_distributions,
    interpreter_markers,
    kernel_python,
    lock_digest,
    locked_distributions,
    require_environment,
)

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "uv.lock"
ROOT_DEPENDENCIES = 'source = { editable = "." }\ndependencies = [\n'
ROOT_DEV_GROUP = "[package.dev-dependencies]\ndev = [\n"

LockEditor = Callable[[Callable[[str], str]], Path]


@pytest.fixture
def edited_lock(tmp_path: Path) -> LockEditor:
    """Write a copy of the real uv.lock, changed by ``edit``, and return its path."""

    def make(edit: Callable[[str], str]) -> Path:
        text = LOCK.read_text("utf-8")
        changed = edit(text)
        assert changed != text, "the edit did not change the lock"
        path = tmp_path / "uv.lock"
        path.write_text(changed, "utf-8")
        return path

    return make


def _add_package(text: str, entry: str) -> str:
    return f"{text.rstrip()}\n\n[[package]]\n{entry.strip()}\n"


def _insert_after(text: str, anchor: str, line: str) -> str:
    assert text.count(anchor) == 1
    return text.replace(anchor, f"{anchor}    {line}\n")


def _venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, python: str) -> None:
    """Install a real kernel spec named ``name`` that runs ``python``, visible via JUPYTER_PATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True)
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": name, "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), "utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


# -- the real environment ------------------------------------------------------------------------


def test_python3_kernel_matches_the_lock() -> None:
    report = check_environment(kernel="python3", lock=LOCK)

    assert report.differences == ()
    assert report.ok
    assert report.python == kernel_python("python3") == Path(sys.executable)
    assert report.lock_digest == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    require_environment(kernel="python3", lock=LOCK)


def test_walk_selects_exactly_what_is_installed() -> None:
    python = kernel_python("python3")
    locked = locked_distributions(LOCK, interpreter_markers(python))
    installed = installed_distributions(python)

    assert set(locked) <= set(installed)
    assert locked["nbmlops"] == metadata.version("nbmlops")
    assert {name: installed[name] for name in locked} == locked


def test_interpreter_markers_agree_with_packaging() -> None:
    assert interpreter_markers(Path(sys.executable)) == default_environment()


def test_timing_of_check_environment(edited_lock: LockEditor) -> None:
    # Printed, not asserted: the machines are noisy. A fresh digest forces a cold check.
    lock = edited_lock(lambda text: text + "\n# timing run\n")
    started = time.perf_counter()
    installed_distributions(Path(sys.executable))
    probe = time.perf_counter() - started
    started = time.perf_counter()
    check_environment(kernel="python3", lock=lock)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    check_environment(kernel="python3", lock=lock)
    warm = time.perf_counter() - started
    print(f"probe {probe:.3f} s, check_environment cold {cold:.3f} s, cached {warm:.4f} s")


# -- edited locks --------------------------------------------------------------------------------


def test_an_edited_version_is_exactly_one_difference(edited_lock: LockEditor) -> None:
    installed = metadata.version("rich")
    lock = edited_lock(
        lambda text: re.sub(r'(\nname = "rich"\nversion = )"[^"]+"', r'\1"99.0.0"', text, count=1)
    )

    report = check_environment(kernel="python3", lock=lock)

    assert report.differences == (f"rich: installed {installed}, locked 99.0.0",)
    with pytest.raises(EnvironmentMismatchError) as caught:
        require_environment(kernel="python3", lock=lock)
    assert caught.value.kernel == "python3"
    assert caught.value.differences == [f"rich: installed {installed}, locked 99.0.0"]


def _forked_package() -> tuple[str, str, str]:
    """A package the lock holds at two versions: (name, version installed here, other version)."""
    packages = tomllib.loads(LOCK.read_text("utf-8"))["package"]
    python = kernel_python("python3")
    installed = installed_distributions(python)
    for package in packages:
        name, version = package["name"], package["version"]
        others = [p["version"] for p in packages if p["name"] == name and p["version"] != version]
        if others and installed.get(name) == version:
            return name, version, others[0]
    pytest.fail(
        "uv.lock no longer holds a package at two versions (numpy, scipy and shap fork between "
        "Python 3.11 and 3.12 today); give this test a lock that does, so it still checks forks."
    )


def _rename_version(text: str, name: str, old: str, new: str) -> str:
    text = text.replace(
        f'\nname = "{name}"\nversion = "{old}"', f'\nname = "{name}"\nversion = "{new}"'
    )
    return text.replace(
        f'{{ name = "{name}", version = "{old}"', f'{{ name = "{name}", version = "{new}"'
    )


def test_a_fork_for_another_python_is_not_compared(edited_lock: LockEditor) -> None:
    name, _, other = _forked_package()
    lock = edited_lock(lambda text: _rename_version(text, name, other, other + ".post99"))

    assert check_environment(kernel="python3", lock=lock).differences == ()


def test_the_fork_for_this_python_is_compared(edited_lock: LockEditor) -> None:
    name, ours, _ = _forked_package()
    lock = edited_lock(lambda text: _rename_version(text, name, ours, ours + ".post99"))

    report = check_environment(kernel="python3", lock=lock)

    assert report.differences == (f"{name}: installed {ours}, locked {ours}.post99",)


def test_required_packages_missing_from_the_kernel(edited_lock: LockEditor) -> None:
    def edit(text: str) -> str:
        registry = 'source = { registry = "https://pypi.org/simple" }'
        for name in ("absent-plain", "absent-windows", "absent-dev", "absent-docs", "absent-extra"):
            text = _add_package(text, f'name = "{name}"\nversion = "1.0.0"\n{registry}')
        text = _add_package(
            text,
            f'name = "absent-base"\nversion = "2.0.0"\n{registry}\n\n'
            '[package.optional-dependencies]\nfeature = [\n    { name = "absent-extra" },\n]',
        )
        text = _insert_after(text, ROOT_DEPENDENCIES, '{ name = "absent-plain" },')
        windows = '{ name = "absent-windows", marker = "sys_platform == \'win32\'" },'
        text = _insert_after(text, ROOT_DEPENDENCIES, windows)
        text = _insert_after(
            text, ROOT_DEPENDENCIES, '{ name = "absent-base", extra = ["feature"] },'
        )
        text = _insert_after(text, ROOT_DEV_GROUP, '{ name = "absent-dev" },')
        return text.replace(
            ROOT_DEV_GROUP,
            '[package.dev-dependencies]\ndocs = [\n    { name = "absent-docs" },\n]\ndev = [\n',
        )

    report = check_environment(kernel="python3", lock=edited_lock(edit))

    # The false marker and the non-default `docs` group are not part of what uv sync installs.
    assert report.differences == (
        "absent-base: locked 2.0.0, not installed",
        "absent-dev: locked 1.0.0, not installed",
        "absent-extra: locked 1.0.0, not installed",
        "absent-plain: locked 1.0.0, not installed",
    )


def test_packages_the_lock_does_not_mention_are_not_differences(edited_lock: LockEditor) -> None:
    def edit(text: str) -> str:
        text = text.replace('    { name = "rich" },\n', "")
        return re.sub(
            r'\n\[\[package\]\]\nname = "rich"\n.*?(?=\n\[\[package\]\])', "", text, flags=re.S
        )

    report = check_environment(kernel="python3", lock=edited_lock(edit))

    assert report.ok
    assert f"rich=={metadata.version('rich')}" in report.unlocked


# -- other interpreters ---------------------------------------------------------------------------


def test_a_bare_venv_is_checked_without_packaging_and_rechecked_after_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    _venv_kernel(tmp_path, monkeypatch, "nbmlops-bare", str(python))
    locked = locked_distributions(LOCK, interpreter_markers(python))

    before = check_environment(kernel="nbmlops-bare", lock=LOCK)

    assert before.python == python
    assert len(before.differences) == len(locked)
    assert f"rich: locked {locked['rich']}, not installed" in before.differences
    site = next((venv / "lib").glob("python*/site-packages"))
    for name, version in (("rich", locked["rich"]), ("pandas", "0.0.1")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")

    after = check_environment(kernel="nbmlops-bare", lock=LOCK)

    assert not any(d.startswith("rich:") for d in after.differences)
    assert f"pandas: installed 0.0.1, locked {locked['pandas']}" in after.differences


def test_a_kernel_whose_interpreter_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "deleted-venv" / "bin" / "python"
    _venv_kernel(tmp_path, monkeypatch, "nbmlops-gone", str(gone))

    report = check_environment(kernel="nbmlops-gone", lock=LOCK)

    assert not report.ok
    assert len(report.differences) == 1
    assert report.differences[0].startswith(f"python: {gone} cannot be run")
    with pytest.raises(OSError):
        installed_distributions(gone)


def test_unknown_kernel() -> None:
    with pytest.raises(KernelNotFoundError) as caught:
        check_environment(kernel="no-such-kernel", lock=LOCK)
    assert caught.value.kernel == "no-such-kernel"
    assert "python3" in str(caught.value)
    with pytest.raises(KernelNotFoundError):
        kernel_python("no-such-kernel")


# -- unusable locks ------------------------------------------------------------------------------


def test_missing_lock(tmp_path: Path) -> None:
    missing = tmp_path / "uv.lock"
    with pytest.raises(LockFileError) as caught:
        check_environment(kernel="python3", lock=missing)
    assert caught.value.path == missing
    with pytest.raises(LockFileError):
        lock_digest(missing)


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("version = 1\n[[package]\n", "not valid TOML"),
        ("version = 2\n", "lock format version 2"),
        (
            'version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "x" }\n',
            "no root",
        ),
    ],
)
def test_unusable_lock(tmp_path: Path, content: str, detail: str) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(content, "utf-8")
    with pytest.raises(LockFileError) as caught:
        check_environment(kernel="python3", lock=lock)
    assert caught.value.path == lock
    assert detail in caught.value.detail


# -- the conda export ----------------------------------------------------------------------------


def test_environment_yml_is_not_stale() -> None:
    committed = (ROOT / "environment.yml").read_text("utf-8")

    assert committed == export_conda_environment(LOCK), (
        "environment.yml is stale: nbmlops env export-conda --lock uv.lock --output environment.yml"
    )


def test_environment_yml_holds_the_linux_311_pins() -> None:
    text = export_conda_environment(LOCK)
    document = yaml.safe_load(text)
    locked = locked_distributions(LOCK, LINUX_CPYTHON_311)
    python_spec, pip, pip_section = document["dependencies"]

    assert text.startswith("# Generated from uv.lock by `nbmlops env export-conda`; do not edit.")
    assert lock_digest(LOCK) in text
    assert (document["name"], document["channels"]) == ("nbmlops", ["conda-forge"])
    assert python_spec.startswith("python") and "3.11" in python_spec
    assert pip == "pip"
    pins = dict(line.split("==") for line in pip_section["pip"] if "==" in line)
    assert pins == {name: v for name, v in locked.items() if name != "nbmlops"}
    assert pip_section["pip"][-1] == "-e ."


def test_the_cli_writes_the_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nbmlops env export-conda` is the one command that writes environment.yml."""
    from nbmlops.cli.main import main

    output = tmp_path / "environment.yml"
    arguments = ["env", "export-conda", "--lock", str(LOCK), "--output"]

    assert main([*arguments, str(output)]) == 0
    assert output.read_text("utf-8") == export_conda_environment(LOCK)
    capsys.readouterr()
    assert main([*arguments, "-"]) == 0
    assert capsys.readouterr().out == export_conda_environment(LOCK)
    no_lock, unwritten = tmp_path / "uv.lock", tmp_path / "unwritten.yml"
    assert main(["env", "export-conda", "--lock", str(no_lock), "-o", str(unwritten)]) == 2
    assert not unwritten.exists()
