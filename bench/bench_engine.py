"""Engine benchmark: graph build, recall@k, full LP, one-label update, and sklearn LabelSpreading.

Clustered synthetic embeddings (Gaussian blobs, 10 classes). Prints a markdown table.

    python bench/bench_engine.py            # n = 10k, 100k (d = 64, 512) and 1M (d = 64)
    python bench/bench_engine.py --quick    # n = 2k, d = 32
    python bench/bench_engine.py --sizes 1000000 --dims 64 --ef-construction 100 --cache bench/results
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tables import print_table

from nblabel.graph import KnnGraph
from nblabel.propagate import Propagator, propagate


def blobs(n: int, d: int, spread: float, n_clusters: int = 50, n_classes: int = 10, seed: int = 0):
    """Gaussian blobs; ``spread`` is the noise radius relative to the distance between centres."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    cluster = rng.integers(0, n_clusters, n)
    X = centers[cluster] + spread * rng.standard_normal((n, d)).astype(np.float32)
    return X, (cluster % n_classes).astype(np.int64)


def timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()`` (CPU time stays meaningful on a machine shared with others)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def recall_at_k(graph: KnnGraph, X: np.ndarray, n_sample: int = 500, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    q = rng.choice(len(X), min(n_sample, len(X)), replace=False)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    hits = 0
    for chunk in np.array_split(q, max(1, len(q) // 100)):
        sims = Xn[chunk] @ Xn.T
        sims[np.arange(len(chunk)), chunk] = -np.inf
        exact = np.argpartition(-sims, graph.k, axis=1)[:, : graph.k]
        hits += sum(len(set(a) & set(b)) for a, b in zip(exact, graph.neighbors_[chunk], strict=True))
    return hits / (len(q) * graph.k)


def run(
    n: int,
    d: int,
    spread: float,
    ef_construction: int,
    sklearn_max: int,
    cache: Path | None,
    n_updates: int = 20,
) -> dict:
    X, y = blobs(n, d, spread)
    rng = np.random.default_rng(1)
    cached = cache / f"graph-n{n}-d{d}-s{spread}-ef{ef_construction}.npz" if cache else None
    if cached is not None and cached.exists():
        g, build = KnnGraph.load(cached), float("nan")  # build time was reported by the run that wrote it
    else:
        t0 = time.perf_counter()
        g = KnnGraph(k=10, ef_construction=ef_construction).fit(X)
        build = time.perf_counter() - t0
        if cached is not None:
            cache.mkdir(parents=True, exist_ok=True)
            g.save(cached)
    rec = recall_at_k(g, X)
    verified = np.full(n, -1)
    seeds = rng.choice(n, max(200, n // 100), replace=False)
    verified[seeds] = y[seeds]
    clamped = verified >= 0
    Y0 = np.zeros((n, 10), np.float32)
    Y0[seeds, y[seeds]] = 1
    lp, _ = timed(lambda: propagate(g.normalized_, Y0, clamped))
    _, lp_cpu1 = timed(lambda: propagate(g.normalized_, Y0, clamped, num_threads=1))
    p = Propagator(g, 10)
    fit, _ = timed(lambda: p.fit(verified=verified))
    acc = float((p.predict() == y).mean())
    times, cpu, modes, supports = [], [], [], []
    for i in rng.choice(np.flatnonzero(~clamped), n_updates, replace=False):
        wall, c = timed(lambda i=i: p.update([i], y[i]))
        times.append(wall)
        cpu.append(c)
        modes.append(p.last_update_["mode"])
        supports.append(p.last_update_["support"])
    ref = Propagator(g, 10).fit(verified=p.verified_)
    err = float(np.linalg.norm(ref.result_ - p.result_))
    row = {
        "n": n,
        "d": d,
        "build_s": build,
        "recall@10": rec,
        "T_": g.T_,
        "LP_s": lp,
        "fit_s": fit,
        "LP_acc": acc,
        "LP_cpu_s_1thread": lp_cpu1,
        "update_ms_median": 1000 * float(np.median(times)),
        "update_cpu_ms_median": 1000 * float(np.median(cpu)),
        "update_ms_max": 1000 * max(times),
        "sparse": f"{modes.count('sparse')}/{len(modes)}",
        "support_median": int(np.median(supports)),
        "err": err,
        "bound": p.error_bound_,
    }
    if n <= sklearn_max:
        from sklearn.semi_supervised import LabelSpreading

        ls_y = np.where(clamped, y, -1)
        t0 = time.perf_counter()
        ls = LabelSpreading(kernel="knn", n_neighbors=10, max_iter=30).fit(X, ls_y)
        row["sklearn_LS_s"] = time.perf_counter() - t0
        row["sklearn_LS_acc"] = float((ls.transduction_ == y).mean())
    return row


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small n only (seconds)")
    ap.add_argument("--sizes", type=int, nargs="*")
    ap.add_argument("--dims", type=int, nargs="*")
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--sklearn-max", type=int, default=100_000, help="largest n to run LabelSpreading on")
    ap.add_argument(
        "--spread", type=float, default=1.0, help="blob noise scale (1.0: neighbouring blobs touch)"
    )
    ap.add_argument("--cache", type=Path, help="folder to keep built graphs in, so a rerun skips the build")
    args = ap.parse_args()
    if args.quick:
        configs = [(2000, 32)]
    elif args.sizes:
        configs = [(n, d) for n in args.sizes for d in (args.dims or [64])]
    else:
        configs = [(10_000, 64), (10_000, 512), (100_000, 64), (100_000, 512), (1_000_000, 64)]
    rows = []
    for n, d in configs:
        rows.append(run(n, d, args.spread, args.ef_construction, args.sklearn_max, args.cache))
        print("done", {k: fmt(v) for k, v in rows[-1].items()}, flush=True)
    print_table(rows, fmt)


if __name__ == "__main__":
    main()
