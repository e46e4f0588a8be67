"""First impressions, timed: install, then ``nblabel demo`` to a drawn, usable widget, then the tests.

Three stages, each timed on its own, as a new user meets them:

1. ``--install``: a fresh clone of this repository in a temporary folder, a new virtual environment, and the
   README's first command's install step (``pip install -e ".[demo]"``). pip's own download cache is left
   as the machine has it: say which in the report.
2. The demo: JupyterLab started as ``nblabel demo`` starts it, on a copy of ``quickstart.ipynb``, with an
   empty nblabel cache and an empty numba cache (as on a machine that never ran nblabel). A headless
   Chromium opens the notebook and presses "Run All"; the page clock times the cells, the grid and the map.
3. ``--tests``: the README's test command, ``python -m pytest``, in the fresh clone (needs ``--install``
   with the test extra; ``--tests`` installs ``.[test]`` instead of ``.[demo]``).

Usage::

    python bench/bench_first_run.py                  # stage 2 only, with this checkout
    python bench/bench_first_run.py --install        # stages 1 and 2 in a fresh clone and venv
    python bench/bench_first_run.py --install --tests
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))
from labserver import missing_prerequisites, start_lab  # noqa: E402


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run ``cmd``, fail loudly on a non-zero exit, and return its wall time in seconds."""
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True)
    return time.perf_counter() - t


def demo_times(repo: Path, python: str, work: Path) -> dict[str, float]:
    """Seconds from starting JupyterLab to: server up, cells done, grid drawn, map drawn (quickstart)."""
    root = work / "demo"
    root.mkdir()
    shutil.copyfile(repo / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    env = {"NBLABEL_CACHE": str(work / "nblabel-cache"), "NUMBA_CACHE_DIR": str(work / "numba-cache")}
    t0 = time.perf_counter()
    # start_lab runs `sys.executable -m jupyterlab`: point it at the fresh environment's interpreter.
    real, sys.executable = sys.executable, python
    try:
        lab = start_lab(root, extra_env={**env, "PYTHONPATH": str(repo)}, timeout=300)
    finally:
        sys.executable = real
    up = time.perf_counter() - t0
    try:
        t = time.perf_counter()
        result = lab.run_driver(
            ["--url", lab.notebook_url("quickstart.ipynb"), "--scenario", "demo", "--out", str(root),
             "--timeout", "580000"],
            timeout=900,
        )  # fmt: skip
        opened = time.perf_counter() - t - (result["mapMs"] / 1000)
    finally:
        lab.stop()
    return {
        "server_s": up,
        "open_s": opened,
        "cells_s": result["cellsMs"] / 1000,
        "grid_s": result["gridMs"] / 1000,
        "map_s": result["mapMs"] / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="fresh clone + venv + pip install first")
    parser.add_argument("--tests", action="store_true", help="then run the test command (installs .[test])")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench_first_run needs: {', '.join(missing)}")
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="nblabel-first-run-") as tmp:
        work = Path(tmp)
        repo, python = REPO, sys.executable
        if args.install:
            repo = work / "nblabel"
            subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
            rows.append(("python -m venv", timed([sys.executable, "-m", "venv", str(work / "venv")], work)))
            python = str(work / "venv" / "bin" / "python")
            extra = ".[test]" if args.tests else ".[demo]"
            rows.append(
                (
                    f'pip install -e "{extra}"',
                    timed([python, "-m", "pip", "install", "-q", "-e", extra], repo),
                )
            )
        times = demo_times(repo, python, work)
        rows += [
            ("JupyterLab started (server answers)", times["server_s"]),
            ("browser started, notebook opened", times["open_s"]),
            ("Run All -> every cell done", times["cells_s"]),
            ("Run All -> widget grid drawn (usable)", times["grid_s"]),
            ("Run All -> map drawn", times["map_s"]),
        ]
        if args.tests:
            env = {**os.environ, "NBLABEL_CACHE": str(work / "test-cache")}
            rows.append(("python -m pytest (first run)", timed([python, "-m", "pytest", "-q"], repo, env)))
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n")
    print("| stage | s |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
