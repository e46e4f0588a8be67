"""The wheel carries the built front end and the demo notebooks, so `pip install nblabel` needs no node.

Builds from the working tree without build isolation (no network): the build backend must be installed,
and the front-end bundle must already be built (`cd js && npm ci && npm run build`); otherwise the test is
skipped rather than reaching for npm or PyPI.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "nblabel" / "static" / "widget.js"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE.relative_to(ROOT)} is not built; run `cd js && npm ci && npm run build` first")
    missing = [
        m for m in ("build", "hatchling", "hatch_jupyter_builder") if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.skip(
            f"building a wheel offline needs {missing} installed (pip install build hatch-jupyter-builder)"
        )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("nblabel-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_wheel_contains_the_front_end_bundle(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "nblabel/static/widget.js" in names
    assert wheel.read("nblabel/static/widget.js") == BUNDLE.read_bytes()


def test_wheel_contains_the_demo_notebooks(wheel: zipfile.ZipFile) -> None:
    shipped = {name.rsplit("/", 1)[1] for name in wheel.namelist() if name.startswith("nblabel/notebooks/")}
    in_repo = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert in_repo and shipped == in_repo


def test_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    assert "nblabel = nblabel.cli:main" in wheel.read(entry_points).decode()


def test_installed_wheel_works_without_the_source_tree(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            wheel.filename,
        ],
        check=True,
    )
    # Run outside the repository with the installed copy first on the path, as a user of the wheel would.
    probe = (
        "import pathlib, nblabel.widget as w, nblabel.cli as c; "
        "bundle = pathlib.Path(w.__file__).parent / 'static' / 'widget.js'; "
        "print('bundle' if str(w.Labeler._esm) == bundle.read_text() else 'fallback'); "
        "print(c.bundled_notebooks_dir()); print(w.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    kind, notebooks, module = result.stdout.split()
    assert kind == "bundle"  # the real front end, not the "bundle missing" placeholder
    assert Path(notebooks) == target / "nblabel" / "notebooks"
    assert Path(module).is_relative_to(target)
