"""Start and stop a private, offline JupyterLab (or Notebook 7) for the end-to-end tests and the benchmark.

Both front ends are served by the same Jupyter Server with the same settings; Notebook 7 is built from
JupyterLab's components, so the driver runs notebooks through the same command registry in either.
Everything the server writes (config, runtime files, workspaces, user settings, notebooks) lives in one
temporary directory, so a run neither reads nor changes the user's Jupyter setup, and nothing is fetched
from the network: news and update checks are off, the extension manager is read-only and the plugins that
would ask for them are disabled.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BROWSER_DIR = Path(__file__).resolve().parent
REPO_ROOT = BROWSER_DIR.parents[1]
DRIVER = BROWSER_DIR / "driver.mjs"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
MIN_NODE_MAJOR = 20  # playwright-core's engines field

# Server kind -> (python -m module, URL path that opens a notebook in that front end).
SERVER_KINDS = {
    "lab": ("jupyterlab", "lab/tree"),
    "notebook": ("notebook", "notebooks"),
}

# Front-end plugins that reach the network or pop notifications over the notebook.
DISABLED_PLUGINS = [
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/extensionmanager-extension",
]


def find_chromium() -> str | None:
    """Return the path of the system Chromium (``$NBLABEL_CHROMIUM`` wins), or None when absent."""
    override = os.environ.get("NBLABEL_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def missing_prerequisites() -> list[str]:
    """Name what is missing to run the browser tests: chromium, node, or ``npm ci`` in tests/browser."""
    missing = []
    if find_chromium() is None:
        missing.append("chromium (apt-get install -y chromium)")
    node = shutil.which("node")
    if node is None:
        missing.append(f"node >= {MIN_NODE_MAJOR}")
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        major = int(version.lstrip("v").split(".")[0]) if version.startswith("v") else 0
        if major < MIN_NODE_MAJOR:
            missing.append(f"node >= {MIN_NODE_MAJOR} (found {version or 'an unreadable version'})")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (cd tests/browser && npm ci)")
    return missing


def free_port() -> int:
    """Ask the OS for a free localhost TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab or Notebook 7 bound to 127.0.0.1 with a random token.

    Attributes
    ----------
    kind : str
        ``"lab"`` (JupyterLab) or ``"notebook"`` (Notebook 7), a key of :data:`SERVER_KINDS`.
    root : Path
        The server's root directory (notebooks are written here).
    port : int
    token : str
    process : subprocess.Popen
    log_path : Path
        Server stdout+stderr, quoted in failures.
    """

    kind: str
    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """URL that opens ``name`` (relative to :attr:`root`) in this front end, logged in by token.

        JupyterLab gets ``reset`` so a stale workspace cannot reopen other documents; Notebook 7 shows one
        document per page and has no workspaces.
        """
        _, path = SERVER_KINDS[self.kind]
        reset = "&reset" if self.kind == "lab" else ""
        return f"{self.base_url}/{path}/{name}?token={self.token}{reset}"

    def log_tail(self, n_chars: int = 4000) -> str:
        """Last ``n_chars`` of the server log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-n_chars:]

    def write_notebook(self, name: str, cells: list[str | tuple[str, str]]) -> Path:
        """Write a notebook (nbformat 4, python3 kernel) into the server root.

        A cell is its code, or ``("markdown", text)`` for a markdown cell.
        """

        def cell(i: int, spec: str | tuple[str, str]) -> dict:
            if isinstance(spec, tuple):
                return {"cell_type": spec[0], "id": f"cell-{i}", "metadata": {}, "source": spec[1]}
            return {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": spec,
            }

        nb = {
            "cells": [cell(i, spec) for i, spec in enumerate(cells)],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        path = self.root / name
        path.write_text(json.dumps(nb, indent=1))
        return path

    def run_driver(self, args: list[str], timeout: float = 240.0) -> dict:
        """Run ``node driver.mjs <args>`` and return the JSON object it prints last.

        Raises
        ------
        AssertionError
            When the driver fails; the message carries the driver's output and the server log.
        """
        cmd = ["node", str(DRIVER), "--chromium", find_chromium() or "", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=BROWSER_DIR)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise AssertionError(
                f"browser driver failed (exit {proc.returncode})\n--- stdout\n{proc.stdout[-6000:]}"
                f"\n--- stderr\n{proc.stderr[-6000:]}\n--- jupyter log\n{self.log_tail()}"
            )
        return json.loads(lines[-1])

    def stop(self) -> None:
        """Shut the server (and its kernels) down; kill it if it does not exit within 15 s."""
        if self.process.poll() is None:
            try:
                req = urllib.request.Request(
                    f"{self.base_url}/api/shutdown",
                    method="POST",
                    headers={"Authorization": f"token {self.token}"},
                )
                urllib.request.urlopen(req, timeout=5).close()
            except (urllib.error.URLError, OSError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_lab(
    root: Path, extra_env: dict[str, str] | None = None, timeout: float = 90.0, kind: str = "lab"
) -> LabServer:
    """Start JupyterLab (or Notebook 7) in ``root`` (created if needed) and wait until its REST API answers.

    The kernel inherits ``PYTHONPATH`` with the repository root first, so ``import nblabel`` resolves to
    this checkout whether or not the package is installed.

    Parameters
    ----------
    root : Path
        Directory for the notebooks; the server's private config, runtime and settings directories go in
        ``root/.jupyter-*``.
    extra_env : dict, optional
        More environment variables for the server and its kernels.
    timeout : float
        Seconds to wait for the server to answer.
    kind : {"lab", "notebook"}
        Which front end to serve: JupyterLab (``python -m jupyterlab``) or Notebook 7
        (``python -m notebook``).
    """
    if kind not in SERVER_KINDS:
        raise ValueError(
            f"unknown server kind: expected one of {sorted(SERVER_KINDS)}, got {kind!r}; "
            "fix: pass kind='lab' or kind='notebook'"
        )
    module, _ = SERVER_KINDS[kind]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    config_dir = root / ".jupyter-config"
    (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {name: True for name in DISABLED_PLUGINS}})
    )
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                    # The driver drives JupyterLab through its command registry (run all, change theme).
                    "expose_app_in_browser": True,
                },
                # Notebook 7 has its own switch; the LabApp settings above still apply to the JupyterLab
                # server extension it loads (news and update-check handlers).
                "JupyterNotebookApp": {"expose_app_in_browser": True},
                "ServerApp": {"terminals_enabled": False},
            }
        )
    )
    port = free_port()
    token = secrets.token_hex(16)
    env = dict(os.environ)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(root / ".jupyter-runtime"),
            "JUPYTER_DATA_DIR": str(root / ".jupyter-data"),
            "IPYTHONDIR": str(root / ".ipython"),
            "JUPYTERLAB_SETTINGS_DIR": str(root / ".jupyter-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(root / ".jupyter-workspaces"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
            # Keep kernel-side numerics from oversubscribing the 2-core CI runner the browser also needs.
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
        }
    )
    env.update(extra_env or {})
    log_path = root / ".jupyter-server.log"
    cmd = [
        sys.executable, "-m", module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_remote_access=False",
    ]  # fmt: skip
    if os.geteuid() == 0:
        # CI containers run as root; the server refuses that unless told it is deliberate.
        cmd.append("--allow-root")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(
        kind=kind, root=root, port=port, token=token, process=process, log_path=log_path, env=env
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{module} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/api/status?token={token}", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{module} did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def session_cell(
    var: str,
    journal: Path,
    *,
    digits: int,
    n: int,
    classes: list[str],
    flip: float = 0.0,
    labeled: bool = True,
) -> str:
    """Code that builds ``{var}``: a Session over ``n`` bundled 8x8 digits ``0..digits-1`` (pixels as
    embeddings). With ``labeled``, the given label is the digit (item 0 has none) with a share ``flip`` moved
    to the next digit; without, no item has a label (the start of a labeling job)."""
    return textwrap.dedent(
        f"""\
        import numpy as np
        from sklearn.datasets import load_digits
        from nblabel.data import from_array
        from nblabel.session import Session
        from nblabel.widget import Labeler

        digits = load_digits()
        keep = np.flatnonzero(digits.target < {digits})[:{n}]
        given = digits.target[keep].copy()
        flip = np.random.default_rng(0).random(len(given)) < {flip}
        given[flip] = (given[flip] + 1) % {digits}
        given[0] = -1
        if not {labeled}:
            given[:] = -1
        source = from_array(digits.images[keep] / 16.0, given, {classes!r})
        {var} = Session(
            digits.data[keep].astype(np.float32), ids=source.ids, given=given, classes=source.classes,
            journal={str(journal)!r}, source=source,
        )
        """
    )
