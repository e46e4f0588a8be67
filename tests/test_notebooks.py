"""Execute every bundled notebook headless, as CI and a new user would run it.

Each notebook runs in a fresh temporary copy (its journal and any generated files land there), on a kernel
that uses this interpreter, with the digits embedding cache shared between notebooks and test runs so the
BYOL backbone is trained once, not once per notebook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nblabel import cli
from nblabel.cli import bundled_notebooks_dir
from nblabel.datasets import digits_embeddings

NOTEBOOKS = sorted(path.name for path in bundled_notebooks_dir().glob("*.ipynb"))
KERNEL_NAME = "nblabel-test-python3"
#: Seconds per cell; generous, as the slowest cell (embedding with a random resnet18) takes ~30 s on 2 cores.
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> dict[str, str]:
    """Environment variables for the notebook kernels: a kernelspec for this interpreter and a shared cache.

    The kernelspec is written to a temporary Jupyter data dir, so the test does not depend on (or change)
    what kernels the machine has installed. The cache lives in pytest's cache dir unless ``NBLABEL_CACHE``
    is already set (e.g. by CI, to keep it between jobs).
    """
    data_dir = tmp_path_factory.mktemp("jupyter-data")
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (nblabel tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    if os.environ.get("NBLABEL_CACHE"):
        cache = Path(os.environ["NBLABEL_CACHE"])
    elif pytestconfig.cache is not None:
        cache = pytestconfig.cache.mkdir("nblabel-cache")
    else:  # pytest run with -p no:cacheprovider
        cache = data_dir / "cache"
    # Warm the digits cache here, once: a training failure then shows up as itself, not as a notebook timeout.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBLABEL_CACHE", str(cache))
        digits_embeddings(progress=False)
    # The kernels import the same nblabel as this process, installed or not.
    package_root = Path(cli.__file__).resolve().parents[1]
    pythonpath = os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")]))
    return {
        "PYTHONPATH": pythonpath,
        "JUPYTER_PATH": str(data_dir),
        "NBLABEL_CACHE": str(cache),
        # No model hub in CI: your-images.ipynb takes its offline path at once instead of probing the network.
        "HF_HUB_OFFLINE": "1",
    }


def test_every_notebook_is_saved_without_outputs() -> None:
    for name in NOTEBOOKS:
        notebook = nbformat.read(bundled_notebooks_dir() / name, as_version=4)
        dirty = [
            i
            for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
        ]
        assert dirty == [], f"{name}: cells {dirty} were saved with outputs; clear them before committing"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_headless(
    name: str, kernel_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / name
    shutil.copyfile(bundled_notebooks_dir() / name, path)
    notebook = nbformat.read(path, as_version=4)

    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first failing cell

    # Every notebook ends with the widget; headless, it must still produce a widget view, not an error.
    widget_views = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert widget_views, f"{name} displayed no widget"
    check = NUMBERS.get(name)
    if check is not None:
        check(_stream_text(notebook))


def _stream_text(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream"
    )


def _quickstart_numbers(text: str) -> None:
    # Ten cluster strokes on the shipped BYOL embeddings labeled 1,176 images at 93.7 % (measured): a
    # regression in the clusters, their cores or the embeddings shows here as a number, not a crash.
    match = re.search(r"10 key presses labeled (\d+) images; ([\d.]+)% of all predictions are right", text)
    assert match, f"quickstart did not print its cluster result; got {text[-500:]!r}"
    labeled, accuracy = int(match[1]), float(match[2])
    assert labeled >= 900 and accuracy >= 88.0, (labeled, accuracy)


def _label_errors_numbers(text: str) -> None:
    # 20 % of the digits flipped; measured: 353 flagged, precision 98.0 %, recall 96.4 %, AUROC 0.998.
    match = re.search(r"precision ([\d.]+)%, recall ([\d.]+)%", text)
    auroc = re.search(r"AUROC ([\d.]+)", text)
    assert match and auroc, f"label-errors did not print its scores; got {text[-500:]!r}"
    assert float(match[1]) >= 90.0 and float(match[2]) >= 90.0 and float(auroc[1]) >= 0.98, text


def _explore_clusters_numbers(text: str) -> None:
    # Measured: the largest clusters are 99 % one digit, and one undo reverts a whole cluster stroke.
    purities = [float(p) for p in re.findall(r"cluster \d+: \d+ images, purity ([\d.]+)", text)]
    stroke = re.search(r"verified now: (\d+)\nafter one undo: (\d+)", text)
    assert purities and stroke, f"explore-clusters did not print its clusters; got {text[-500:]!r}"
    assert min(purities) >= 0.9 and int(stroke[1]) >= 100 and int(stroke[2]) == 0, text


#: Notebooks whose printed numbers are checked, by file name.
NUMBERS = {
    "quickstart.ipynb": _quickstart_numbers,
    "label-errors.ipynb": _label_errors_numbers,
    "explore-clusters.ipynb": _explore_clusters_numbers,
}
