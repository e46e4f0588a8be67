"""First map vs final map: time to a usable 2-D layout and its quality, at 100k and 1M items.

For each data kind (Gaussian blobs d = 64, augmented digits d = 32; see ``scale_data.py``) the kNN graph is
built (or loaded), then each first-map variant of :func:`nblabel.layout.landmark_layout` (the map the widget
shows at once) and :func:`nblabel.layout.umap_layout` (the full UMAP that replaces it) are timed, and every
map is scored on the same random items by

- 2-D neighbour recall@10 (:func:`nblabel.layout.neighbor_recall_2d`: share of each item's 10 graph
  neighbours among its 10 nearest points on the map, 10k items), and
- scikit-learn's trustworthiness@10 on 5k random items (their cosine neighbours among themselves against
  their map neighbours among themselves).

A random layout is the floor of both. Memory is the peak of numpy allocations during the call
(``tracemalloc``: the map's own working memory above what the session already holds). Prints a markdown
table.

    python bench/bench_scale_layout.py                       # n = 100k, both kinds, first and final map
    python bench/bench_scale_layout.py --sizes 1000000 --no-umap --session-cache /work/cache/scale-1m
    python bench/bench_scale_layout.py --sizes 1000000 --final-only --out DIR --session-cache ...

``--session-cache`` reads the graph side file and embeddings of a 1M session (``bench_scale_1m.py``) instead
of building the graph (35 min at 1M). ``--final-only`` runs only the full UMAP and writes its map and timing
(``final-KIND-N.npy`` / ``.json``) to ``--out``; a later run with ``--final-from`` scores those files, so the
long UMAP run can go in its own process.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scale_data import augmented_digits, blobs
from tables import print_table

from nblabel.graph import KnnGraph
from nblabel.layout import landmark_layout, neighbor_recall_2d, umap_layout

#: First-map variants: name -> landmark_layout arguments. The first is what the widget uses.
VARIANTS = {
    "default: 1 % of items as landmarks (2k-10k), 30 refine epochs at rate 1": {},
    "2k landmarks, 10 refine epochs at rate 0.25 (round 2)": dict(
        n_landmarks=2000, refine_epochs=10, refine_alpha=0.25
    ),
    "2k landmarks, 30 refine epochs at rate 1": dict(n_landmarks=2000),
    "2k landmarks, 60 refine epochs at rate 1": dict(n_landmarks=2000, refine_epochs=60),
}


def trust(X: np.ndarray, xy: np.ndarray, rows: np.ndarray) -> float:
    """scikit-learn's trustworthiness@10 of the map on ``rows``, against their cosine neighbours."""
    from sklearn.manifold import trustworthiness

    Xs = np.asarray(X[rows], np.float32)
    Xs /= np.linalg.norm(Xs, axis=1, keepdims=True)
    return float(trustworthiness(Xs, xy[rows], n_neighbors=10))


def load(kind: str, n: int, cache: Path, session_cache: Path | None) -> tuple[np.ndarray, KnnGraph]:
    """The embeddings and the graph: a 1M session's side files, this bench's cache, or built now."""
    if session_cache is not None:
        base = session_cache / f"{kind}-{n}.nblabel.db"
        X = np.load(f"{base}-embeddings.npy", mmap_mode="r")
        (graph_file,) = glob.glob(f"{base}-graph-*.npz")
        return X, KnnGraph.load(graph_file, X=X)
    X, _ = blobs(n) if kind == "blobs" else augmented_digits(n)
    path = cache / f"layout-graph-{kind}-{n}.npz"
    if path.exists():
        return X, KnnGraph.load(path, X=X)
    g = KnnGraph(k=10).fit(X)
    cache.mkdir(parents=True, exist_ok=True)
    g.save(path)
    g.drop_index(X)
    return X, g


def timed(make) -> tuple[np.ndarray, dict]:
    """Run ``make()``; its map, wall and CPU seconds, and peak numpy memory above the start in MB."""
    tracemalloc.start()
    w0, c0 = time.perf_counter(), time.process_time()
    xy = make()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return xy, {"wall_s": wall, "cpu_s": cpu, "extra_mb": peak}


def score(g: KnnGraph, X: np.ndarray, xy: np.ndarray, trust_rows: np.ndarray) -> dict:
    return {
        "2-D recall@10": neighbor_recall_2d(g, xy, n_sample=10_000),
        "trustworthiness@10": trust(X, xy, trust_rows),
    }


def run(kind: str, n: int, args: argparse.Namespace) -> list[dict]:
    X, g = load(kind, n, args.cache, args.session_cache)
    if args.final_only:
        xy, t = timed(lambda: umap_layout(g))
        t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        args.out.mkdir(parents=True, exist_ok=True)
        np.save(args.out / f"final-{kind}-{n}.npy", xy)
        (args.out / f"final-{kind}-{n}.json").write_text(json.dumps(t))
        return [{"data": kind, "n": n, "map": "final (full UMAP)", **t}]
    # numba compiles the descent once per machine (cached on disk); not part of any variant's time.
    landmark_layout(KnnGraph(k=10).fit(np.random.default_rng(0).normal(size=(500, 8))), n_landmarks=100)
    trust_rows = np.random.default_rng(1).choice(n, min(n, 5000), replace=False)
    rows = []
    random_xy = np.random.default_rng(0).uniform(-10, 10, (n, 2)).astype(np.float32)
    rows.append({"data": kind, "n": n, "map": "random layout (floor)", **score(g, X, random_xy, trust_rows)})
    chosen = list(VARIANTS) if args.variants is None else args.variants  # --variants alone: none
    for name in chosen:
        xy, t = timed(lambda kw=VARIANTS[name]: landmark_layout(g, **kw))
        rows.append({"data": kind, "n": n, "map": f"first: {name}", **t, **score(g, X, xy, trust_rows)})
        print("done", rows[-1], flush=True)
    final = None
    if args.final_from is not None and (args.final_from / f"final-{kind}-{n}.npy").exists():
        final = np.load(args.final_from / f"final-{kind}-{n}.npy")
        t = json.loads((args.final_from / f"final-{kind}-{n}.json").read_text())
    elif args.umap:
        final, t = timed(lambda: umap_layout(g))
    if final is not None:
        rows.append({"data": kind, "n": n, "map": "final (full UMAP)", **t, **score(g, X, final, trust_rows)})
        print("done", rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    ap.add_argument("--kinds", nargs="*", default=["blobs", "digits"])
    ap.add_argument("--variants", nargs="*", choices=list(VARIANTS), help="first-map variants (default all)")
    ap.add_argument("--no-umap", dest="umap", action="store_false", help="skip the full UMAP (long at 1M)")
    ap.add_argument("--final-only", action="store_true", help="only the full UMAP, written to --out")
    ap.add_argument("--final-from", type=Path, help="score the full UMAP maps written by --final-only here")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--session-cache", type=Path, help="folder of bench_scale_1m.py's session side files")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        for kind in args.kinds:
            rows += run(kind, n, args)
    print_table(rows)


if __name__ == "__main__":
    main()
