"""Widget timings in a real browser: headless Chromium + JupyterLab, driven by tests/browser/driver.mjs.

For each size the notebook builds a session on synthetic embeddings (10 Gaussian blobs, d=64, 5 % of the
given labels flipped) with scikit-learn's bundled 8x8 digits as images, computes the 2-D layout once (UMAP,
cached with the session, as a person's second opening of the notebook would find it), then the driver
measures in the page (``performance.now()``):

- widget cell run -> widget element -> grid drawn -> scatter drawn (all n points handed to the map's
  regl-scatterplot) -> thumbnails shown, and the bytes received meanwhile; then the same for a second
  display of the widget in the same page;
- bytes per page of thumbnails: received on the WebSocket during one page flip (wire, with message framing)
  and the decoded image payload (sum of the tiles' blob sizes);
- key press -> saved (ack after the journal commit) -> updated predictions drawn (first state with a higher
  version and label propagation caught up, in the grid and recoloured on the map), the median over several
  presses.

Usage::

    python bench/bench_browser.py            # 10k and 100k items
    python bench/bench_browser.py --quick    # 2k and 10k items
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from labserver import missing_prerequisites, start_lab  # noqa: E402

PAGE_SIZE = 48
THUMB_SIZE = 96

SETUP_CELL = """\
import json, time
import numpy as np
from sklearn.datasets import load_digits
from nblabel.data import from_array
from nblabel.session import Session
from nblabel.widget import Labeler

N, D, NOISE = {n}, 64, 0.05
rng = np.random.default_rng(0)
digits = load_digits()
y = rng.integers(0, 10, N)
# Each item shows a digit image of its own blob's class, so the grid looks like a labeled dataset.
by_class = [np.flatnonzero(digits.target == c) for c in range(10)]
images = np.stack([digits.images[rng.choice(by_class[c])] for c in y]) / 16.0
centers = rng.normal(size=(10, D)) * 3.0
X = (centers[y] + rng.normal(size=(N, D))).astype(np.float32)
given = np.where(rng.random(N) < NOISE, rng.integers(0, 10, N), y)
classes = [str(c) for c in range(10)]
source = from_array(images.astype(np.float32), given, classes)

t = time.perf_counter()
session = Session(X, ids=source.ids, given=given, classes=classes, journal={journal!r}, source=source)
t_session = time.perf_counter() - t
t = time.perf_counter()
session.layout()
t_layout = time.perf_counter() - t
print(json.dumps({{"session_s": t_session, "layout_s": t_layout}}))
"""


def run_size(lab, n: int, presses: int) -> dict:
    """Write the notebook for ``n`` items, run the driver's bench scenario and return its result."""
    name = f"bench_{n}.ipynb"
    lab.write_notebook(
        name,
        [
            SETUP_CELL.format(n=n, journal=str(lab.root / f"bench_{n}.nblabel.db")),
            f"Labeler(session, page_size={PAGE_SIZE}, thumb_size={THUMB_SIZE})",
            # A second display in the same page: JupyterLab and the widget manager are warm by then.
            f"Labeler(session, page_size={PAGE_SIZE}, thumb_size={THUMB_SIZE})",
        ],
    )
    result = lab.run_driver(
        [
            "--url", lab.notebook_url(name),
            "--scenario", "bench",
            "--out", str(lab.root),
            "--n", str(n),
            "--presses", str(presses),
            "--timeout", "580000",
        ],
        timeout=900,
    )  # fmt: skip
    setup = json.loads(result["setupLog"].strip().splitlines()[-1])
    return {**result, **setup}


def ms(rows: list[dict], display: str, key: str) -> list[str]:
    """Milliseconds ``key`` of the ``display`` ("first" / "second") widget timings, one string per size."""
    return [f"{r[display][key]:.0f}" for r in rows]


def markdown(rows: list[dict]) -> str:
    """One markdown table, a column per size."""
    sizes = [f"{r['n'] // 1000}k" for r in rows]
    med = statistics.median

    def line(label: str, values: list[str]) -> str:
        return f"| {label} | " + " | ".join(values) + " |"

    out = [
        line("items", sizes),
        "|---|" + "---:|" * len(rows),
        line(
            f"machine load: 1-min load average after the run ({os.cpu_count()} cores)",
            [f"{r['load']:.1f}" for r in rows],
        ),
        line("session build, kernel (s)", [f"{r['session_s']:.1f}" for r in rows]),
        line("UMAP layout, once, cached (s)", [f"{r['layout_s']:.1f}" for r in rows]),
        line("widget cell run -> widget element in page (ms)", ms(rows, "first", "rootMs")),
        line("widget cell run -> grid drawn (ms)", ms(rows, "first", "gridMs")),
        line("widget cell run -> scatter drawn (ms)", ms(rows, "first", "scatterMs")),
        line("widget cell run -> first thumbnails shown (ms)", ms(rows, "first", "thumbsMs")),
        line(
            "received for one widget display (MiB, incl. the bundle)",
            [f"{r['first']['wireBytes'] / 2**20:.1f}" for r in rows],
        ),
        line("2nd display in the same page -> grid drawn (ms)", ms(rows, "second", "gridMs")),
        line("2nd display in the same page -> scatter drawn (ms)", ms(rows, "second", "scatterMs")),
        line(
            f"page flip -> {PAGE_SIZE} thumbnails shown (ms, median)",
            [f"{med(p['ms'] for p in r['pages']):.0f}" for r in rows],
        ),
        line(
            "bytes per page of thumbnails, wire (KiB, median)",
            [f"{med(p['wireBytes'] for p in r['pages']) / 1024:.1f}" for r in rows],
        ),
        line(
            "bytes per page of thumbnails, image payload (KiB, median)",
            [f"{med(p['payloadBytes'] for p in r['pages']) / 1024:.1f}" for r in rows],
        ),
        line(
            "key press -> saved in journal, acked (ms, median)", [f"{r['medianSavedMs']:.0f}" for r in rows]
        ),
        line(
            "key press -> updated predictions drawn (ms, median)",
            [f"{r['medianPredictionsMs']:.0f}" for r in rows],
        ),
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k and 10k items instead of 10k and 100k")
    parser.add_argument("--presses", type=int, default=5, help="key presses timed per size")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench_browser needs: {', '.join(missing)}")
    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nblabel-bench-browser-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            for n in sizes:
                t = time.perf_counter()
                rows.append({**run_size(lab, n, args.presses), "load": os.getloadavg()[0]})
                print(f"# {n} items done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        finally:
            lab.stop()
    print(
        f"Headless Chromium (SwiftShader WebGL) + JupyterLab, page_size={PAGE_SIZE}, "
        f"thumb_size={THUMB_SIZE}, 8x8 digits images (WebP thumbnails), times from performance.now() "
        "in the page.\n"
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
