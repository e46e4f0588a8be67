"""First map vs final map: time to a usable 2-D layout and its quality, at 100k (and 1M) items.

For each data kind (Gaussian blobs, augmented digits; see ``scale_data.py``): the kNN graph is built (or
loaded from ``--cache``), then :func:`nblabel.layout.landmark_layout` (the first map the widget shows) and
:func:`nblabel.layout.umap_layout` (the full UMAP that replaces it) are timed, and both are scored by
2-D neighbour recall (share of each item's 10 graph neighbours among its 10 nearest points on the map, on
10k items) and by scikit-learn's trustworthiness (on 3k items). Prints a markdown table.

    python bench/bench_scale_layout.py                          # n = 100k, first and final map
    python bench/bench_scale_layout.py --sizes 1000000 --no-umap --kinds torus

``torus``: items on a 2-D torus grid with known neighbours (``bench_scale_memory.lattice_graph``), embedded
as (cos, sin) of both angles; no hnswlib build, so the first map can be timed at 1M on a loaded machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scale_data import augmented_digits, blobs
from tables import print_table

from nblabel.graph import KnnGraph
from nblabel.layout import landmark_layout, neighbor_recall_2d, umap_layout


def trust(X: np.ndarray, xy: np.ndarray, n_sample: int = 3000, seed: int = 0) -> float:
    from sklearn.manifold import trustworthiness

    rows = np.random.default_rng(seed).choice(len(X), min(n_sample, len(X)), replace=False)
    Xn = X[rows] / np.linalg.norm(X[rows], axis=1, keepdims=True)
    return float(trustworthiness(Xn, xy[rows], n_neighbors=10))


def torus(n: int):
    """The lattice graph of ``bench_scale_memory`` and matching 4-D embeddings of its grid points."""
    from bench_scale_memory import lattice_graph

    g = lattice_graph(n)
    side = int(round(np.sqrt(n)))
    a, b = np.divmod(np.arange(n), side)
    a, b = 2 * np.pi * a / side, 2 * np.pi * b / side
    X = np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)], axis=1).astype(np.float32)
    g.vectors = lambda rows: X[rows] / np.sqrt(2.0)  # what the index would return: unit rows
    return X, g


def run(kind: str, n: int, cache: Path, with_umap: bool) -> list[dict]:
    if kind == "torus":
        X, g = torus(n)
    else:
        X, _ = blobs(n) if kind == "blobs" else augmented_digits(n)
    path = cache / f"layout-graph-{kind}-{n}.npz"
    if kind == "torus":
        pass
    elif path.exists():
        g = KnnGraph.load(path)
    else:
        g = KnnGraph(k=10).fit(X)
        cache.mkdir(parents=True, exist_ok=True)
        g.save(path)
    rows = []
    maps = [("first map (landmarks)", lambda: landmark_layout(g))]
    if with_umap:
        maps.append(("final map (full UMAP)", lambda: umap_layout(g)))
    for name, make in maps:
        w0, c0 = time.perf_counter(), time.process_time()
        xy = make()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        row = {"data": kind, "n": n, "map": name, "wall_s": wall, "cpu_s": cpu}
        row["2-D neighbour recall@10"] = neighbor_recall_2d(g, xy)
        row["trustworthiness@10"] = trust(X, xy)
        rows.append(row)
        print("done", row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    ap.add_argument("--kinds", nargs="*", default=["blobs", "digits"])
    ap.add_argument("--no-umap", action="store_true", help="first map only (full UMAP takes minutes at 1M)")
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        for kind in args.kinds:
            rows += run(kind, n, args.cache, not args.no_umap)
    print_table(rows)


if __name__ == "__main__":
    main()
