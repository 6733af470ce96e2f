"""Real JupyterLab in Debian's headless Chromium, for browser tests and README screenshots.

:class:`JupyterLab` starts ``jupyter lab`` on 127.0.0.1 (a free port, a random token, throw-away
config, runtime and settings folders; news and update checks off; the installed package's
Jupyter config applies, as for a user) and stops it. :class:`LabPage` is the page object for
JupyterLab itself; the nbmlops extension's page objects are in ``lab_pipeline.py``.
Playwright drives ``/usr/bin/chromium``; it never downloads a browser.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

_CONTRAST_JS = """root => {
  const rgba = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const lum = ([r, g, b]) => { const f = x => { x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const behind = el => { for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor); if (c && c[3] > 0.5) return c; }
    return rgba(getComputedStyle(document.body).backgroundColor) || [255, 255, 255, 1]; };
  let worst = 21;
  const els = [root, ...root.querySelectorAll('*')].filter(e =>
    [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()) &&
    e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
  for (const e of els) {
    const s = getComputedStyle(e);
    const fg = rgba(e instanceof SVGElement ? s.fill : s.color);
    if (!fg || fg[3] === 0) continue;
    const a = lum(fg), b = lum(behind(e));
    worst = Math.min(worst, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05));
  }
  return worst;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    """``with JupyterLab(root, tmp) as lab:`` - a JupyterLab server on ``root``."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root, self.scratch = root, scratch
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JupyterLab:
        config, settings = self.scratch / "config", self.scratch / "settings"
        notify = (
            settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        )
        notify.parent.mkdir(parents=True, exist_ok=True)
        notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        config.mkdir(parents=True, exist_ok=True)  # the user's config: empty; the package's applies
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(self.scratch / "runtime"),
        }
        self._log = (self.scratch / "lab.log").open("wb")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                f"--LabApp.user_settings_dir={settings}",
                "--LabApp.expose_app_in_browser=True",
            ],
            cwd=self.root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(  # noqa: S310 - our own server on loopback
            f"{self.url}/api/status", headers={"Authorization": f"token {self.token}"}
        )
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.scratch / 'lab.log').read_text()}")
            try:
                with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - loopback only
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer: {(self.scratch / 'lab.log').read_text()}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (``make test`` installs it when missing)."""
    if not CHROMIUM.is_file():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run `make system-deps` (apt-get install chromium)"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class LabPage:
    """The page object: open JupyterLab, open and run notebooks, find widgets."""

    def __init__(self, page: Any, lab: JupyterLab) -> None:
        self.page, self.lab = page, lab

    def open(self, path: str) -> None:
        self.page.goto(f"{self.lab.url}/lab/tree/{path}?token={self.lab.token}")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        self.wait_idle()

    def command(self, command: str) -> None:
        self.page.evaluate("c => window.jupyterapp.commands.execute(c)", command)

    def wait_idle(self, timeout: float = 120_000) -> None:
        # the kernel indicator says idle too early on a cold kernel; the status bar text does not
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
            ".some(e => e.textContent.includes('| Idle'))",
            timeout=timeout,
        )

    def run_all(self, timeout: float = 180_000) -> None:
        self.command("notebook:run-all-cells")
        self.page.wait_for_function(
            "() => { const p = [...document.querySelectorAll('.jp-InputPrompt')];"
            " return p.length && p.every(e => !e.textContent.includes('*'))"
            " && p.some(e => /\\[\\d+\\]/.test(e.textContent)); }",
            timeout=timeout,
        )

    def tab(self, title: str) -> Any:
        """A tab of an ipywidgets Tab (Lumino tab bar inside the output area)."""
        return self.page.locator(".jupyter-widgets.widget-tab .lm-TabBar-tab", has_text=title)

    def output_text(self) -> str:
        return str(self.page.locator(".jp-OutputArea-output").all_inner_texts())

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab to ``"light"`` or ``"dark"`` (its theme command) and wait for it."""
        name = THEMES[theme]
        self.page.evaluate(
            "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name
        )
        self.page.wait_for_function(
            "light => document.body.dataset.jpThemeLight === light",
            arg=str(theme == "light").lower(),
            timeout=30_000,
        )

    def contrast(self, locator: Any) -> float:
        """The lowest WCAG contrast ratio between the text of ``locator``'s visible elements and
        the colour behind it (the nearest ancestor with an opaque background; an SVG's fill for its
        text). White on white is 1.0; WCAG AA asks 4.5 for body text, 3 for large text."""
        return float(locator.evaluate(_CONTRAST_JS))

    def screenshot(self, locator: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        locator.screenshot(path=str(path))
