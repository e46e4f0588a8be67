"""What one page carries: bytes received per widget display and the page's JS heap, for 1 to 3 widgets.

anywidget ships the front-end bundle inside each widget's state, so every display of a widget costs the
bundle's size again; this measures how much, in headless Chromium + JupyterLab. Each widget in the page is
its own ``Labeler`` over one digits session (1,797 items). The heap is read after a forced garbage
collection (Chrome DevTools Protocol ``Runtime.getHeapUsage``).

Usage::

    python bench/bench_page.py              # 3 widgets
    python bench/bench_page.py --widgets 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from labserver import missing_prerequisites, start_lab  # noqa: E402

import nblabel  # noqa: E402

SETUP_CELL = """\
from nblabel.datasets import digits_embeddings, digits_source
from nblabel.session import Session
from nblabel.widget import Labeler

source = digits_source()
session = Session(digits_embeddings(), ids=source.ids, given=source.given, classes=source.classes,
                  journal={journal!r}, source=source)
session.layout()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widgets", type=int, default=3, help="widgets displayed one after another")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench_page needs: {', '.join(missing)}")
    bundle = Path(nblabel.__file__).parent / "static" / "widget.js"
    with tempfile.TemporaryDirectory(prefix="nblabel-bench-page-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            cells = [SETUP_CELL.format(journal=str(lab.root / "page.nblabel.db"))]
            cells += ["Labeler(session)"] * args.widgets
            lab.write_notebook("page.ipynb", cells)
            result = lab.run_driver(
                ["--url", lab.notebook_url("page.ipynb"), "--scenario", "weight", "--out", str(lab.root),
                 "--n", "1797", "--widgets", str(args.widgets), "--timeout", "300000"],
                timeout=900,
            )  # fmt: skip
        finally:
            lab.stop()
    mib = 2**20
    print(
        f"Headless Chromium + JupyterLab, digits (1,797 items); bundle widget.js = "
        f"{bundle.stat().st_size / mib:.2f} MiB; 1-min load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores.\n"
    )
    print("| widgets in the page | this display received (MiB) | page received, all (MiB) | JS heap (MiB) |")
    print("|---:|---:|---:|---:|")
    total = 0
    for row in result["rows"]:
        total += row["wireBytes"]
        wire, heap = row["wireBytes"] / mib, row["heapBytes"] / mib
        print(f"| {row['widgets']} | {wire:.2f} | {total / mib:.2f} | {heap:.1f} |")


if __name__ == "__main__":
    main()
