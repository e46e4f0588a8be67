"""2-D layout of the items for the widget's scatter, built from the kNN graph's own neighbour lists.

UMAP's first and most expensive step is a nearest-neighbour search. The :class:`~nblabel.graph.KnnGraph`
already holds those lists (hnswlib, cosine), so they are handed to umap-learn as ``precomputed_knn`` and
no second search runs. Very small sets, where UMAP's optimisation is not meaningful, get a linear
layout of the same graph instead.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["umap_layout", "knn_lists", "affinity_pca_layout", "MIN_UMAP_ITEMS"]

#: Below this many items UMAP is replaced by :func:`affinity_pca_layout` (dense, exact).
MIN_UMAP_ITEMS = 16

# These are decided by the graph; letting a caller override them would silently discard its lists.
_RESERVED_KWARGS = ("n_neighbors", "precomputed_knn", "metric")


def knn_lists(graph: Any) -> tuple[np.ndarray, np.ndarray]:
    """Turn a fitted graph's neighbour lists into UMAP's ``precomputed_knn`` arrays.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph with ``neighbors_`` (n, k) int (no self) and ``similarities_`` (n, k) cosine.

    Returns
    -------
    indices : (n, k + 1) int64
        Each row starts with the item itself, then its k neighbours (``-1`` where the graph had none).
    distances : (n, k + 1) float32
        Cosine distance ``1 - similarity``; 0 for the item itself, ``inf`` where the index is ``-1``.

    """
    neighbors = getattr(graph, "neighbors_", None)
    similarities = getattr(graph, "similarities_", None)
    if neighbors is None or similarities is None:
        raise ValueError(
            "umap_layout needs a fitted KnnGraph (with neighbors_ and similarities_); got "
            f"{type(graph).__name__} without them. Fix: call graph.fit(embeddings) first."
        )
    neighbors = np.asarray(neighbors)
    similarities = np.asarray(similarities, dtype=np.float32)
    if neighbors.ndim != 2 or neighbors.shape != similarities.shape:
        raise ValueError(
            "graph.neighbors_ and graph.similarities_ must both be (n, k); got "
            f"{neighbors.shape} and {similarities.shape}. Fix: refit the graph."
        )
    n = neighbors.shape[0]
    # UMAP expects each point to be its own first neighbour at distance 0 (its local-connectivity rho).
    indices = np.concatenate([np.arange(n, dtype=np.int64)[:, None], neighbors.astype(np.int64)], axis=1)
    distances = np.concatenate([np.zeros((n, 1), np.float32), 1.0 - similarities], axis=1)
    # Rounding can push 1 - cos slightly below 0; UMAP's smooth-kNN assumes non-negative distances.
    np.clip(distances, 0.0, 2.0, out=distances)
    distances[indices < 0] = np.inf
    return indices, distances


def umap_layout(graph: Any, seed: int | None = 0, **umap_kwargs: Any) -> np.ndarray:
    """Compute a 2-D layout of the graph's items with UMAP, reusing the graph's kNN lists.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph; its ``neighbors_`` / ``similarities_`` become UMAP's ``precomputed_knn``, so UMAP
        runs no neighbour search of its own.
    seed : int or None, default 0
        ``random_state`` for UMAP (a seed makes the layout reproducible but single-threaded; ``None``
        lets UMAP use all cores).
    **umap_kwargs
        Passed to :class:`umap.UMAP` (e.g. ``min_dist``, ``n_epochs``). ``n_neighbors``, ``metric`` and
        ``precomputed_knn`` are fixed by the graph.

    Returns
    -------
    (n, 2) float32
        The layout. Sets smaller than :data:`MIN_UMAP_ITEMS` (or not larger than k + 1) get a PCA
        layout of the graph instead (:func:`affinity_pca_layout`), since UMAP's optimisation needs more
        points than neighbours.

    """
    reserved = sorted(set(umap_kwargs) & set(_RESERVED_KWARGS))
    if reserved:
        raise ValueError(
            f"umap_layout takes {', '.join(_RESERVED_KWARGS)} from the graph; got {reserved} in umap_kwargs. "
            "Fix: drop them (refit the graph with another k to change the neighbourhood size)."
        )
    indices, distances = knn_lists(graph)
    n, k1 = indices.shape
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < MIN_UMAP_ITEMS or n <= k1:
        return affinity_pca_layout(indices, distances)

    import umap  # imported here: numba compilation makes it slow to import and only the layout needs it

    reducer = umap.UMAP(
        n_neighbors=k1,
        precomputed_knn=(indices, distances, None),
        metric="cosine",
        random_state=seed,
        **umap_kwargs,
    )
    # UMAP still wants a data matrix for its bookkeeping; with precomputed_knn only its row count is read.
    placeholder = np.zeros((n, 1), np.float32)
    with warnings.catch_warnings():
        # Both are expected here: no NNDescent index (we never call transform) and seed => one thread.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        xy = reducer.fit_transform(placeholder)
    return np.ascontiguousarray(xy, dtype=np.float32)


def affinity_pca_layout(indices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Lay out a small graph by principal components of its affinity rows.

    Two items that share neighbours have similar rows, so they land close; items of separate components
    have disjoint rows and land apart. (A Laplacian eigenmap would collapse separate components onto
    arbitrary mixtures of their indicator vectors.) Dense, so only for small ``n``.

    Parameters
    ----------
    indices : (n, m) int
        Neighbour lists (``-1`` = none); entries equal to the row index are ignored.
    distances : (n, m) float
        Cosine distances matching ``indices``.

    Returns
    -------
    (n, 2) float32
        Coordinates scaled to [-10, 10], about the span of a UMAP layout.

    """
    n = indices.shape[0]
    rows = np.repeat(np.arange(n), indices.shape[1])
    cols = indices.ravel()
    # Cosine similarity back from distance, clipped at 0: a negative affinity has no meaning here.
    weights = np.clip(1.0 - distances.ravel(), 0.0, None)
    keep = (cols >= 0) & (cols != rows) & np.isfinite(weights)
    affinity = np.eye(n)
    np.maximum.at(affinity, (rows[keep], cols[keep]), weights[keep])
    affinity = np.maximum(affinity, affinity.T)
    affinity /= np.linalg.norm(affinity, axis=1, keepdims=True)
    centered = affinity - affinity.mean(axis=0)
    u, s, _ = np.linalg.svd(centered, full_matrices=False)
    xy = np.zeros((n, 2), np.float64)
    take = min(2, len(s))
    xy[:, :take] = u[:, :take] * s[:take]
    span = np.abs(xy).max()
    if span > 0:
        xy *= 10.0 / span
    return xy.astype(np.float32)
