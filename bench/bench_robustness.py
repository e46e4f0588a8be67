"""What hostile or oversized input costs: a huge image's thumbnail, a huge import file, the journal check.

    python bench/bench_robustness.py           # 10000 x 10000 images, a 1,000,000-row import
    python bench/bench_robustness.py --quick   # 4000 x 4000 images, a 100,000-row import

Prints markdown tables.  Each thumbnail is made in a fresh subprocess so that its peak memory (growth of
``ru_maxrss`` during the call) is its own: "full decode" is what the widget did before (``load`` + resize),
"reduced" what it does now (``ImageSource.thumbnail``).  The import table times ``Session.import_labels`` of a
CSV with random rows over 300 ids and counts the events it writes.  The last table is the journal's
"is this still the file I opened" check against one commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nblabel.session import Session  # noqa: E402
from nblabel.store import LabelStore  # noqa: E402

# Peak memory from /proc (VmHWM): ru_maxrss would include the parent's peak, which survives exec.
_ONE_THUMB = """
import re, sys, time, warnings
warnings.simplefilter("ignore")
from nblabel.data import from_paths
def peak_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
src = from_paths([sys.argv[1]], check="none")
before = peak_kb()
t = time.perf_counter()
if sys.argv[2] == "full":
    im = src.load(0)
    im.thumbnail((96, 96))
else:
    src.thumbnail(0, size=96)
dt = time.perf_counter() - t
print(dt, (peak_kb() - before) / 1024)
"""


def thumbnails(side: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    tile = Image.fromarray(rng.integers(0, 255, (100, 100, 3), np.uint8))
    print(f"\n| {side} x {side} image | how | time (ms, median of {repeats}) | peak memory growth (MB) |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("jpg", "png"):
            path = Path(tmp) / f"big.{fmt}"
            big = tile.resize((side, side), Image.Resampling.NEAREST)
            big.save(path, **({"quality": 80} if fmt == "jpg" else {"compress_level": 1}))
            for how in ("full", "reduced"):
                runs = [
                    subprocess.run(
                        [sys.executable, "-c", _ONE_THUMB, str(path), how],
                        capture_output=True,
                        text=True,
                        check=True,
                        env={**os.environ, "PYTHONPATH": str(REPO)},
                    ).stdout.split()
                    for _ in range(repeats)
                ]
                ms = statistics.median(float(r[0]) for r in runs) * 1e3
                mb = statistics.median(float(r[1]) for r in runs)
                label = "full decode (before)" if how == "full" else "reduced (now)"
                print(f"| {fmt.upper()} | {label} | {ms:.0f} | {mb:.0f} |")


def imports(rows: int) -> None:
    rng = np.random.default_rng(0)
    n, classes = 300, ["a", "b", "c"]
    X = rng.normal(size=(n, 8)).astype(np.float32)
    print("\n| import rows (300 ids) | import (s) | events written | journal (MB) | reopen (s) |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        frame = pd.DataFrame(
            {"id": rng.integers(0, n, rows).astype(str), "verified": rng.choice(classes, rows)}
        )
        frame.to_csv(path, index=False)
        s = Session(X, given=[classes[i % 3] for i in range(n)], journal=Path(tmp) / "j.nblabel.db", k=5)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the repeated ids are reported; here they are the point
            s.import_labels(path)
        took = time.perf_counter() - t
        events = s._store.last_seq
        s.close()
        t = time.perf_counter()
        Session.open(Path(tmp) / "j.nblabel.db").close()
        reopen = time.perf_counter() - t
        size = sum(p.stat().st_size for p in Path(tmp).glob("j.nblabel.db*") if not p.name.endswith(".npy"))
        print(f"| {rows:,} | {took:.2f} | {events:,} | {size / 1e6:.2f} | {reopen:.2f} |")


def journal_check(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore.create(
            Path(tmp) / "j.db", ids=[str(i) for i in range(100)], given=np.full(100, -1), meta={}
        )
        commit, check = [], []
        for i in range(repeats):
            t = time.perf_counter()
            store.append([("label", str(i % 100), "a")])
            commit.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.check_file()
            check.append(time.perf_counter() - t)
        store.close()
    print("\n| per commit | median (ms) |")
    print("|---|---:|")
    rows = [
        ("journal commit (SQLite WAL, synchronous=FULL), both file checks included", commit, 2),
        ("one file check (stat + 16-byte header read); two per commit", check, 3),
    ]
    for what, seconds, digits in rows:
        print(f"| {what} | {statistics.median(seconds) * 1e3:.{digits}f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    thumbnails(4000 if args.quick else 10000, 3)
    imports(100_000 if args.quick else 1_000_000)
    journal_check(300 if args.quick else 1000)


if __name__ == "__main__":
    main()
