"""Make the README screenshot, ``docs/screenshot.png``, in the same headless browser the end-to-end test uses.

The notebook labels scikit-learn's bundled digits (1797 8x8 images, no download) with 8 % of the given labels
flipped, shows the widget in suspects mode (likely wrong labels first) with one tile selected, and the driver
saves the widget's picture.

Usage::

    python tests/browser/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from labserver import REPO_ROOT, missing_prerequisites, start_lab

NOTEBOOK = """\
import numpy as np
from sklearn.datasets import load_digits
from nblabel.data import from_array
from nblabel.session import Session
from nblabel.widget import Labeler

digits = load_digits()
rng = np.random.default_rng(0)
given = digits.target.copy()
flip = rng.random(len(given)) < 0.08
given[flip] = (given[flip] + rng.integers(1, 10, flip.sum())) % 10
names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
source = from_array(digits.images / 16.0, given, names)
session = Session(
    digits.data.astype(np.float32), ids=source.ids, given=given, classes=source.classes,
    journal="digits.nblabel.db", source=source,
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"screenshot.py needs: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="nblabel-screenshot-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            lab.write_notebook("digits.ipynb", [NOTEBOOK, "Labeler(session, page_size=24)"])
            lab.run_driver(
                ["--url", lab.notebook_url("digits.ipynb"), "--scenario", "showcase", "--out", tmp],
                timeout=300,
            )
        finally:
            lab.stop()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "showcase.png", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
