"""Labeling by cluster against the margin queue, and the cost of clusters, outliers and duplicates.

    python bench/bench_clusters.py           # digits key presses; timings at n = 100k
    python bench/bench_clusters.py --quick   # timings at n = 20k

Prints markdown tables.

*Key presses to 90 % correct predictions* (digits, raw pixels, k = 10, labels from the true classes, items
in random orders):

- "margin queue": one key press labels the queue's first item (``next_batch(1, "margin")``), repeated.
- "clusters, then margin": cluster cards largest first; one key press labels a cluster's core with the class a
  person sees in its exemplars (the majority true class of the five exemplars); then the margin queue.
  Core items of another true class stay mislabeled (verified), as they would in the widget.

Accuracy is ``predicted == true class`` over all items, after the press has been propagated; past 90 % a
path stops, so "accuracy after p" repeats its last value.

*Time* of each step on a fitted graph (hnswlib, k = 10): Leiden at resolution 1, centrality, core share (one
LP run with one column per cluster), outlier scores, duplicate groups. "blobs": Gaussian blobs (64 dims,
100 centres); "structured": the digits, each jittered into many copies (random 1-pixel shifts and pixel
noise), i.e. a few dense, elongated manifolds with true near-duplicates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nblabel  # noqa: E402
from nblabel import clusters as C  # noqa: E402
from nblabel.graph import KnnGraph  # noqa: E402
from nblabel.session import Session  # noqa: E402

TARGET = 0.9
MAX_PRESSES = 600


def accuracy(session: Session, truth: np.ndarray) -> float:
    return float((session.state.predicted == truth).mean())


def margin_press(session: Session, truth: np.ndarray, press: int) -> None:
    """One key press on the margin queue: its first item gets its true class."""
    (item,) = session.next_batch(1, strategy="margin", seed=press)
    session.label(item, int(truth[int(item)]))


def run_path(session: Session, truth: np.ndarray, resolution: float | None) -> dict:
    """Press keys until the target accuracy (or MAX_PRESSES); record the accuracy after every press."""
    curve = [accuracy(session, truth)]
    on_clusters = 0
    if resolution is not None:
        for c, row in session.clusters(resolution=resolution).iterrows():
            if curve[-1] >= TARGET:
                break
            # The class a person sees in the card: the majority true class of its exemplars.
            seen = int(np.bincount(truth[[int(i) for i in row["exemplars"]]]).argmax())
            if session.label_cluster(int(c), seen, resolution=resolution):
                on_clusters += 1
                curve.append(accuracy(session, truth))
    while curve[-1] < TARGET and len(curve) <= MAX_PRESSES:
        margin_press(session, truth, len(curve))
        curve.append(accuracy(session, truth))
    verified = session.state.verified
    return {
        "on_clusters": on_clusters,
        "presses": len(curve) - 1,
        "labeled": int((verified >= 0).sum()),
        "wrong": int(((verified >= 0) & (verified != truth)).sum()),
        "curve": curve,
    }


def key_presses(X: np.ndarray, truth: np.ndarray, directory: Path, seed: int) -> list[tuple[str, dict]]:
    # Items in a random order: the digits come as 0, 1, ..., 9, 0, 1, ..., and a queue with no labels yet
    # (all margins tie) lists items in index order, which would hand it one item of each class for free.
    order = np.random.default_rng(seed).permutation(len(X))
    X, truth = X[order], truth[order]
    classes = [str(c) for c in range(10)]
    out = []
    paths = (
        ("margin queue", None),
        ("clusters (res 1), then margin", 1.0),
        ("clusters (res 0.5), then margin", 0.5),
    )
    for name, res in paths:
        with Session(X, classes=classes, journal=directory / f"{seed}-{res}.nblabel.db") as s:
            out.append((name, run_path(s, truth, res)))
    return out


def structured(n: int, seed: int = 0) -> np.ndarray:
    d = nblabel.digits()
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(d), n)
    images = d.images[src].astype(np.float32)
    shifts = rng.integers(-1, 2, size=(n, 2))
    out = np.empty_like(images)
    for dy, dx in np.unique(shifts, axis=0):
        m = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
        out[m] = np.roll(images[m], (dy, dx), axis=(1, 2))
    out += rng.normal(0, 8, out.shape)
    X = out.reshape(n, -1)
    return X - X.mean(axis=0)


def blobs(n: int, d: int = 64, c: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 3
    y = rng.integers(0, c, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def timings(name: str, X: np.ndarray, truth: np.ndarray | None, repeats: int) -> list[tuple]:
    t0 = time.perf_counter()
    g = KnnGraph(k=10).fit(X)
    build = time.perf_counter() - t0
    steps = {
        "leiden": lambda: C.leiden(g),
        "outliers": lambda: C.outlier_scores(g),
        "duplicates": lambda: C.duplicate_groups(g),
    }
    times: dict[str, list[float]] = {
        k: [] for k in ("leiden", "centrality", "core share", "outliers", "duplicates")
    }
    labels = None
    for _ in range(repeats):
        for key, fn in steps.items():
            t0 = time.perf_counter()
            out = fn()
            times[key].append(time.perf_counter() - t0)
            if key == "leiden":
                labels = out
                t0 = time.perf_counter()
                C.centrality(g, labels)
                times["centrality"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                C.core_share(g, labels)
                times["core share"].append(time.perf_counter() - t0)
    ari = adjusted_rand_score(truth, labels) if truth is not None else float("nan")
    n_dup = int((C.duplicate_groups(g) >= 0).sum())
    rows = []
    for key, values in times.items():
        rows.append((name, len(X), key, statistics.median(values), max(values) - min(values)))
    return rows, build, int(labels.max()) + 1, ari, n_dup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="timings at n = 20k instead of 100k")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats")
    parser.add_argument("--orders", type=int, default=5, help="random item orders for the key presses")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000

    d = nblabel.digits()
    X = d.images.reshape(len(d), -1).astype(np.float32)
    print("### Key presses until 90 % of the digits' predictions are correct\n")
    print(f"Median (min-max) over {args.orders} random item orders.\n")
    at = (1, 3, 5, 10)
    print(
        "| path | presses on clusters | presses to 90 % | items labeled | labeled wrong | "
        + " | ".join(f"accuracy after {p}" for p in at)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(at))
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.orders):
            for name, r in key_presses(X, d.labels, Path(tmp), seed):
                results.setdefault(name, []).append(r)

    def spread(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    for name, runs in results.items():
        cells = [
            spread([r["on_clusters"] for r in runs], "d"),
            spread([r["presses"] for r in runs], "d"),
            spread([r["labeled"] for r in runs], "d"),
            spread([r["wrong"] for r in runs], "d"),
        ]
        cells += [spread([r["curve"][min(p, len(r["curve"]) - 1)] for r in runs], ".2f") for p in at]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n### Time for clusters, outliers and duplicates (median of {args.repeats}; spread max - min)\n")
    print("| data | n | step | median (s) | spread (s) |")
    print("|---|---|---|---|---|")
    notes = []
    Xb, yb = blobs(n)
    for name, data, truth in (("blobs", Xb, yb), ("structured", structured(n), None)):
        rows, build, k, ari, n_dup = timings(name, data, truth, args.repeats)
        for row in rows:
            print(f"| {row[0]} | {row[1]:,} | {row[2]} | {row[3]:.2f} | {row[4]:.2f} |")
        notes.append(
            f"{name}: graph build {build:.1f} s, {k} clusters, ARI {ari:.3f}, {n_dup} items in duplicates"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
