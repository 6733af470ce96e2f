"""What a run says to its user, through the real command line on a project made in the test:
its log carries no kernel noise, and the reasons it records speak after the fact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clinical import REPO, clinical_project, nbmlops_cli, stage_notebook, write_notebook

# A stage that records any SIGINT its kernel gets once the stage's cells are done. ipykernel
# ignores SIGINT between requests and restores that after each one (``post_handler_hook``); this
# hook installs a recording handler instead. jupyter_client's ``shutdown_kernel`` interrupts a
# kernel first: arriving while the kernel still handled a request, that interrupt was logged as
# "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." after a stage that succeeded.
PROBE_CODE = """\
import signal
from pathlib import Path

marker = Path("interrupted.txt").resolve()


def record(signum, frame):
    marker.write_text("SIGINT after the stage's last cell")


get_ipython().kernel.post_handler_hook = lambda: signal.signal(signal.SIGINT, record)
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A project run twice with ``nbmlops run``: first whole, then with a changed cohort
    parameter (so ``model`` reruns because its upstream did). Returns the root and both outputs."""
    root = clinical_project(tmp_path_factory.mktemp("messages") / "project")
    outputs = []
    for args in ([], ["--param", "cohort.min_age=30"]):
        ran = nbmlops_cli(root, "run", "analysis", *args)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        outputs.append(ran.stdout + ran.stderr)
    return root, outputs


def test_a_successful_run_logs_no_kernel_interrupt(two_runs: tuple[Path, list[str]]) -> None:
    # jupyter_client interrupts a kernel before shutting it down; the idle kernel then logged
    # "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." into the run's output
    _, outputs = two_runs
    for output in outputs:
        assert "KeyboardInterrupt" not in output, output
        assert "IPKernelApp" not in output, output


def test_a_kernel_is_shut_down_without_an_interrupt(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_notebook(root / "probe" / "probe.ipynb", stage_notebook("probe", PROBE_CODE))
    shutil.copy(REPO / "uv.lock", root / "uv.lock")
    ran = nbmlops_cli(root, "run", "probe")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert not (root / "probe" / "interrupted.txt").exists()
    assert "KeyboardInterrupt" not in ran.stdout + ran.stderr


def test_reasons_are_recorded_in_the_past_tense(two_runs: tuple[Path, list[str]]) -> None:
    from mlflow.tracking import MlflowClient

    root, outputs = two_runs
    records = [json.loads(p.read_text()) for p in (root / ".nbmlops" / "runs").glob("*.json")]
    [second] = [r for r in records if r["overrides"]]
    by_stage = {s["stage"]: s for s in second["stages"]}
    assert by_stage["cohort"]["reason"] == "parameter min_age changed"
    assert by_stage["model"]["status"] == "succeeded"
    assert by_stage["model"]["reason"] == "upstream cohort ran"
    assert "upstream cohort ran" in outputs[1]
    assert "will run" not in outputs[1]
    client = MlflowClient(second["tracking_uri"])
    tags = client.get_run(by_stage["model"]["mlflow_run_id"]).data.tags
    assert tags["nbmlops.reason"] == "upstream cohort ran"
