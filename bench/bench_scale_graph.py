"""Graph defaults at scale: recall@10 against exact neighbours for hnswlib's M / ef_construction / ef.

For each data kind (Gaussian blobs, augmented digits; see ``scale_data.py``) and each build setting, the
index is built once; the recall of the graph's lists is then measured on a 10k-item sample against exact
cosine neighbours, at several query widths ``ef`` (a query only, no rebuild). Prints a markdown table.

    python bench/bench_scale_graph.py                         # n = 100k
    python bench/bench_scale_graph.py --sizes 200000 --builds 16:100 16:200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scale_data import augmented_digits, blobs, exact_neighbors, recall
from tables import print_table

from nblabel.graph import KnnGraph, _drop_self


def measure(kind: str, n: int, builds: list[tuple[int, int]], efs: list[int], sample: int, k: int = 10):
    X, _ = blobs(n) if kind == "blobs" else augmented_digits(n)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n, min(sample, n), replace=False))
    t0 = time.perf_counter()
    exact = exact_neighbors(X, rows, k)
    print(
        f"{kind} n={n}: exact neighbours of {len(rows)} items in {time.perf_counter() - t0:.1f} s", flush=True
    )
    out = []
    for M, efc in builds:
        w0, c0 = time.perf_counter(), time.process_time()
        g = KnnGraph(k=k, M=M, ef_construction=efc, progress=False).fit(X)
        row = {"data": kind, "n": n, "M": M, "ef_construction": efc}
        row["build_s"], row["build_cpu_s"] = time.perf_counter() - w0, time.process_time() - c0
        row[f"recall ef={g._ef()} (default)"] = recall(g.neighbors_[rows], exact)
        for ef in efs:
            g._index.set_ef(max(ef, k + 1))
            t0 = time.perf_counter()
            labels, dists = g._index.knn_query(
                X[rows] / np.linalg.norm(X[rows], axis=1, keepdims=True), k=k + 1
            )
            q = time.perf_counter() - t0
            found, _ = _drop_self(labels.astype(np.int64), dists, rows)
            row[f"ef={ef}"] = recall(found, exact)
            row[f"ef={ef} query_us"] = 1e6 * q / len(rows)
        out.append(row)
        print("done", row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    ap.add_argument("--kinds", nargs="*", default=["blobs", "digits"])
    ap.add_argument("--builds", nargs="*", default=["16:100", "16:200", "32:200"], help="M:ef_construction")
    ap.add_argument("--efs", type=int, nargs="*", default=[32, 64, 128, 200])
    ap.add_argument("--sample", type=int, default=10_000)
    args = ap.parse_args()
    builds = [tuple(int(v) for v in b.split(":")) for b in args.builds]
    rows = []
    for n in args.sizes:
        for kind in args.kinds:
            rows += measure(kind, n, builds, args.efs, args.sample)
    print_table(rows)


if __name__ == "__main__":
    main()
