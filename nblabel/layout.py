"""2-D layout of the items for the widget's scatter, built from the kNN graph's own neighbour lists.

UMAP's first and most expensive step is a nearest-neighbour search. The :class:`~nblabel.graph.KnnGraph`
already holds those lists (hnswlib, cosine), so they are handed to umap-learn as ``precomputed_knn`` and
no second search runs. Very small sets, where UMAP's optimisation is not meaningful, get a linear
layout of the same graph instead. The first map (:func:`landmark_layout`) and, from
:data:`LIST_UMAP_MIN_ITEMS` items on, the final map run UMAP's descent directly on the lists in a few
compiled loops, holding no more than the lists' weights and the map.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# UMAP's two warnings about the way this module calls it are expected: no NNDescent index (transform is never
# called) and "seed => one thread". Ignored once, here: a warnings.catch_warnings() around the call would swap
# the process-wide filter list from the widget's layout thread and hide other threads' warnings meanwhile.
warnings.filterwarnings("ignore", message=".*knn_search_index.*")
warnings.filterwarnings("ignore", message=".*n_jobs value.*")
__all__ = [
    "umap_layout",
    "landmark_layout",
    "neighbor_recall_2d",
    "knn_lists",
    "affinity_pca_layout",
    "MIN_UMAP_ITEMS",
    "FIRST_MAP_MIN_ITEMS",
    "LIST_UMAP_MIN_ITEMS",
    "FINAL_EPOCHS",
]

#: Below this many items UMAP is replaced by :func:`affinity_pca_layout` (dense, exact).
MIN_UMAP_ITEMS = 16
#: From this many items on, :func:`umap_layout` runs UMAP's descent on the kNN lists (:func:`landmark_layout`
#: with :data:`FINAL_EPOCHS`) instead of umap-learn. Measured by bench_scale_layout.py on a loaded 2-core
#: machine: at 100k digits both maps score about the same (2-D recall@10 0.149 against 0.157, trustworthiness
#: 0.969 against 0.973) in 40 % of the CPU time and a tenth of the memory; at 1M umap-learn had not finished
#: its spectral initialisation after 460 CPU s and held 6.3 GB, while the descent on the lists holds ~55 MB
#: beyond the graph.
LIST_UMAP_MIN_ITEMS = 200_000
#: Epochs of the final map over the lists: umap-learn's own default for sets over 10k items.
FINAL_EPOCHS = 200

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
    neighbors, similarities = _checked_lists(graph)
    n = neighbors.shape[0]
    # UMAP expects each point to be its own first neighbour at distance 0 (its local-connectivity rho).
    indices = np.concatenate([np.arange(n, dtype=np.int64)[:, None], neighbors.astype(np.int64)], axis=1)
    distances = np.concatenate([np.zeros((n, 1), np.float32), 1.0 - similarities], axis=1)
    # Rounding can push 1 - cos slightly below 0; UMAP's smooth-kNN assumes non-negative distances.
    np.clip(distances, 0.0, 2.0, out=distances)
    distances[indices < 0] = np.inf
    return indices, distances


def _checked_lists(graph: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return a fitted graph's ``neighbors_`` and float32 ``similarities_``, or say what is wrong."""
    neighbors = getattr(graph, "neighbors_", None)
    similarities = getattr(graph, "similarities_", None)
    if neighbors is None or similarities is None:
        raise ValueError(
            "graph: expected a fitted KnnGraph (with neighbors_ and similarities_); got "
            f"{type(graph).__name__} without them. Fix: call graph.fit(embeddings) first."
        )
    neighbors = np.asarray(neighbors)
    similarities = np.asarray(similarities, dtype=np.float32)
    if neighbors.ndim != 2 or neighbors.shape != similarities.shape:
        raise ValueError(
            "graph.neighbors_ and graph.similarities_ must both be (n, k); got "
            f"{neighbors.shape} and {similarities.shape}. Fix: refit the graph."
        )
    return neighbors, similarities


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
        points than neighbours. From :data:`LIST_UMAP_MIN_ITEMS` items on, without UMAP options, UMAP's
        descent runs for its full :data:`FINAL_EPOCHS` over the kNN lists from the first map's start
        (:func:`landmark_layout`) in place of umap-learn.

    """
    reserved = sorted(set(umap_kwargs) & set(_RESERVED_KWARGS))
    if reserved:
        raise ValueError(
            f"umap_layout takes {', '.join(_RESERVED_KWARGS)} from the graph; got {reserved} in umap_kwargs. "
            "Fix: drop them (refit the graph with another k to change the neighbourhood size)."
        )
    if _checked_lists(graph)[0].shape[0] >= LIST_UMAP_MIN_ITEMS and not umap_kwargs:
        # Before knn_lists: its int64 copy of the lists (130 MB at 1M) is not needed on this path.
        seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
        return landmark_layout(graph, refine_epochs=FINAL_EPOCHS, seed=seed)
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


# -- a first map in seconds ----------------------------------------------------------------------------------
#: From this many items on, the widget shows :func:`landmark_layout` while UMAP runs. That is wherever UMAP
#: runs at all: besides ~40 s of work at 100k, umap-learn compiles for ~20 s on its first call in a process
#: (measured 100 s on a loaded 2-core machine for the 1,797 digits, against 11 s for the first map).
FIRST_MAP_MIN_ITEMS = MIN_UMAP_ITEMS
#: UMAP's curve ``1 / (1 + a d^(2b))`` for its default ``min_dist=0.1, spread=1``.
_UMAP_A, _UMAP_B = 1.577, 0.8951


def landmark_layout(
    graph: Any,
    n_landmarks: int | None = None,
    n_epochs: int = 200,
    refine_epochs: int = 30,
    refine_alpha: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Compute a first 2-D map in seconds: lay out landmarks, place every other item from its neighbours.

    1. ``n_landmarks`` items drawn at random; their exact cosine kNN among themselves, with fuzzy weights as
       in UMAP, laid out by UMAP's stochastic gradient descent for ``n_epochs``.
    2. Every other item is put at the fuzzy-weighted mean of its already placed graph neighbours, ring by
       ring outwards from the landmarks.
    3. ``refine_epochs`` epochs of the same descent on all items over the graph's own kNN lists spread each
       item among its neighbours again.

    The descent is UMAP's (same forces, negative sampling, learning-rate decay) in one small compiled
    function that numba caches on disk; umap-learn's first call in a process spends ~20 s compiling, longer
    than this whole map takes. It runs over the kNN lists as they are, one edge per listed neighbour, and
    draws each edge's epochs from its weight alone, so it holds no edge list and no sampling schedule (an
    edge list of the symmetrised graph with its schedule takes ~0.6 GB at 1M items). Meant to be replaced by
    :func:`umap_layout` when that finishes (the widget does so), which from :data:`LIST_UMAP_MIN_ITEMS` on
    is this function again with ``refine_epochs=FINAL_EPOCHS``.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph; its ``vectors`` give the landmark vectors, its lists the placement and refinement.
    n_landmarks : int, optional
        Landmarks laid out directly; all items if there are fewer. Default: 1 % of the items, at least 2,000
        and at most 10,000 (at 1M, 10,000 landmarks raise trustworthiness from 0.89 to 0.93 over 2,000; at
        100k, 10,000 add nothing over 2,000).
    n_epochs : int
        Descent epochs for the landmarks.
    refine_epochs : int
        Descent epochs for all items after placement (0: none).
    refine_alpha : float
        Initial learning rate of the refinement (UMAP's is 1.0; lower keeps more of the landmarks' layout).
    seed : int
        Landmark draw and the descent's sampling.

    Returns
    -------
    (n, 2) float32

    """
    neighbors, similarities = _checked_lists(graph)
    n, k = neighbors.shape
    if n < MIN_UMAP_ITEMS or n <= k + 1:
        return affinity_pca_layout(*knn_lists(graph))
    rng = np.random.default_rng(seed)
    if n_landmarks is None:
        n_landmarks = min(10_000, max(2_000, n // 100))
    m = min(n, max(int(n_landmarks), 2 * (k + 1)))
    landmarks = np.sort(rng.choice(n, m, replace=False))
    V = np.asarray(graph.vectors(landmarks), np.float32)
    nbrs, sims = _exact_knn(V, min(k, m - 1))
    # Start from the landmarks' two principal components (d x d covariance: cheap at any m), at about the
    # span of a UMAP map.
    mean = V.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((V - mean).T))
    basis = vecs[:, ::-1][:, :2].T.astype(np.float32)
    start = (V - mean) @ basis.T
    start *= 10.0 / max(float(np.abs(start).max()), 1e-12)
    P = np.zeros((n, 2), np.float32)
    P[landmarks] = _descend(start, nbrs, _fuzzy_weights(nbrs, sims), n_epochs, 1.0, seed)
    if m == n:
        return P
    lists = np.ascontiguousarray(neighbors, dtype=np.int32)  # the graph's own array: no copy
    weights = _fuzzy_weights(lists, similarities)
    placed = np.zeros(n, np.bool_)
    placed[landmarks] = True
    _place_rings(P, placed, lists, weights)
    if not placed.all():
        # Reached by no list from a landmark: through the symmetrised graph (who lists them), then, for a
        # component without a landmark, their principal-component position.
        unreached = _place(graph.affinity_, P, placed)
        if unreached.size:
            P[unreached] = (np.asarray(graph.vectors(unreached), np.float32) - mean) @ basis.T
    if refine_epochs > 0:
        P = _descend(P, lists, weights, refine_epochs, refine_alpha, seed + 1)
    return P


def _exact_knn(V: np.ndarray, k: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN of the unit rows of ``V`` among themselves (self excluded): indices, similarities."""
    m = V.shape[0]
    nbrs = np.empty((m, k), np.int32)
    sim = np.empty((m, k), np.float32)
    for lo in range(0, m, block):
        sims = V[lo : lo + block] @ V.T
        sims[np.arange(sims.shape[0]), np.arange(lo, lo + sims.shape[0])] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        nbrs[lo : lo + block] = top
        sim[lo : lo + block] = np.take_along_axis(sims, top, axis=1)
    return nbrs, sim


def _fuzzy_weights(lists: np.ndarray, similarities: np.ndarray) -> np.ndarray:
    """UMAP-style membership of each listed neighbour, ``exp(-(d_ij - d_i1) / sigma_i)``, in (0, 1].

    ``d`` is the cosine distance ``1 - similarity``; ``sigma_i`` the mean gap to the nearest neighbour (one
    step in place of UMAP's binary search for ``sigma_i``). Computed row by row in compiled code, so the
    only array is the result (the same in numpy holds five (n, k) temporaries, ~0.2 GB at 1M).

    Parameters
    ----------
    lists : (n, k) int32
        Neighbour lists; ``-1`` = none (weight 0).
    similarities : (n, k) float32
        Cosine similarities matching ``lists``.

    Returns
    -------
    (n, k) float32
        1 for each item's nearest neighbour; the descent samples an edge in that share of the epochs.

    """
    out = np.zeros(lists.shape, np.float32)
    _compiled("_fuzzy_weights_impl")(lists, np.ascontiguousarray(similarities, dtype=np.float32), out)
    return out


def _fuzzy_weights_impl(lists, similarities, out):  # pragma: no cover - numba
    n, k = lists.shape
    for i in range(n):
        nearest, count = np.inf, 0
        for s in range(k):
            if lists[i, s] >= 0:
                nearest = min(nearest, 1.0 - similarities[i, s])
                count += 1
        if count == 0:
            continue
        total = 0.0
        for s in range(k):
            if lists[i, s] >= 0:
                total += max(1.0 - similarities[i, s] - nearest, 0.0)
        sigma = max(total / count, 1e-6)
        for s in range(k):
            if lists[i, s] >= 0:
                out[i, s] = np.exp(-max(1.0 - similarities[i, s] - nearest, 0.0) / sigma)


def _descend(
    P: np.ndarray, lists: np.ndarray, weights: np.ndarray, n_epochs: int, alpha: float, seed: int
) -> np.ndarray:
    """UMAP's layout descent (``optimize_layout_euclidean``, move_other=True) over kNN lists, from ``P``."""
    out = np.ascontiguousarray(P, dtype=np.float32).copy()
    _compiled("_sgd_impl")(
        out,
        np.ascontiguousarray(lists, dtype=np.int32),
        np.ascontiguousarray(weights, dtype=np.float32),
        int(n_epochs),
        float(alpha),
        _UMAP_A,
        _UMAP_B,
        5,
        int(seed),
    )
    return out


def _sgd_impl(P, lists, weights, n_epochs, alpha0, a, b, neg_rate, seed):  # pragma: no cover - numba
    # Edge (i, j) of weight w is sampled in the epochs where floor(epoch * w) steps: every 1 / w epochs, as
    # UMAP's stored next_sample schedule does, without storing it. Its negative samples likewise step with
    # floor(epoch * w * neg_rate).
    np.random.seed(seed)
    n, k = lists.shape
    for epoch in range(1, n_epochs + 1):
        alpha = alpha0 * (1.0 - (epoch - 1) / n_epochs)
        for i in range(n):
            for s in range(k):
                w = weights[i, s]
                j = lists[i, s]
                if j < 0 or np.floor(epoch * w) == np.floor((epoch - 1) * w):
                    continue
                dx, dy = P[i, 0] - P[j, 0], P[i, 1] - P[j, 1]
                d2 = dx * dx + dy * dy
                coef = 0.0
                if d2 > 0.0:
                    coef = -2.0 * a * b * d2 ** (b - 1.0) / (a * d2**b + 1.0)
                gx, gy = min(max(coef * dx, -4.0), 4.0), min(max(coef * dy, -4.0), 4.0)
                P[i, 0] += gx * alpha
                P[i, 1] += gy * alpha
                P[j, 0] -= gx * alpha
                P[j, 1] -= gy * alpha
                n_neg = int(np.floor(epoch * w * neg_rate) - np.floor((epoch - 1) * w * neg_rate))
                for _ in range(n_neg):
                    r = np.random.randint(n)
                    if r == i:
                        continue
                    dx, dy = P[i, 0] - P[r, 0], P[i, 1] - P[r, 1]
                    d2 = dx * dx + dy * dy
                    if d2 <= 0.0:
                        continue
                    coef = 2.0 * b / ((0.001 + d2) * (a * d2**b + 1.0))
                    P[i, 0] += min(max(coef * dx, -4.0), 4.0) * alpha
                    P[i, 1] += min(max(coef * dy, -4.0), 4.0) * alpha


def _place_rings_impl(P, placed, lists, weights):  # pragma: no cover - numba
    # Synchronous rings: an item is placed from the items placed in earlier rings only, so the result does
    # not depend on the order of the items.
    n, k = lists.shape
    frontier = placed.copy()
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if placed[i]:
                continue
            sx, sy, mass = 0.0, 0.0, 0.0
            for s in range(k):
                j = lists[i, s]
                if j >= 0 and frontier[j]:
                    w = max(weights[i, s], 1e-6)
                    sx += w * P[j, 0]
                    sy += w * P[j, 1]
                    mass += w
            if mass > 0.0:
                P[i, 0] = sx / mass
                P[i, 1] = sy / mass
                placed[i] = True
                changed = True
        frontier[:] = placed


def _place_rings(P: np.ndarray, placed: np.ndarray, lists: np.ndarray, weights: np.ndarray) -> None:
    """Put each unplaced item at the weighted mean of its placed list neighbours, ring by ring, in place."""
    _compiled("_place_rings_impl")(P, placed, lists, weights)


_COMPILED: dict[str, Any] = {}


def _compiled(name: str) -> Any:
    """Compile one of this module's ``*_impl`` functions on first use (cached on disk by numba).

    Without the GIL: the widget runs the maps on a thread (minutes at 1M for the final one), and the kernel
    must keep answering clicks meanwhile. Each call works on its own copy of the map.
    """
    if name not in _COMPILED:
        import numba

        _COMPILED[name] = numba.njit(cache=True, fastmath=True, nogil=True)(globals()[name])
    return _COMPILED[name]


def _place(W: Any, P: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Put each unplaced item at the W-weighted mean of its placed neighbours, ring by ring (in place).

    Returns
    -------
    numpy.ndarray, int64
        Items that no ring reached (no path to a placed item).

    """
    while not placed.all():
        todo = np.flatnonzero(~placed)
        rows = W[todo]
        mass = rows @ placed.astype(np.float32)
        ready = mass > 0
        if not ready.any():
            return todo
        P[todo[ready]] = (rows[ready] @ (P * placed[:, None])) / mass[ready, None]
        placed[todo[ready]] = True
    return np.zeros(0, np.int64)


def neighbor_recall_2d(graph: Any, xy: np.ndarray, n_sample: int = 10_000, seed: int = 0) -> float:
    """Layout quality: the share of an item's k graph neighbours among its k nearest points on the map.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph; its lists are the reference neighbours.
    xy : (n, 2) array
        A layout of the graph's items.
    n_sample : int
        Items averaged over (all if fewer).
    seed : int
        Sample draw.

    Returns
    -------
    float
        In [0, 1]; 1 when every item's map neighbours are its graph neighbours.

    """
    from scipy.spatial import cKDTree

    nbrs = np.asarray(graph.neighbors_)
    n, k = nbrs.shape
    xy = np.asarray(xy, np.float64)
    if xy.shape != (n, 2):
        raise ValueError(f"xy: expected shape ({n}, 2), one row per graph item; got {xy.shape}.")
    rows = np.random.default_rng(seed).choice(n, min(n, n_sample), replace=False)
    _, near = cKDTree(xy).query(xy[rows], k=k + 1)
    hits = (near[:, :, None] == nbrs[rows][:, None, :]).any(axis=1).sum()
    return float(hits) / (rows.size * k)
