"""Data for the scale benchmarks: the two kinds of large embedding sets of issue 13.

- :func:`blobs`: Gaussian blobs in d = 64, the worst case for a graph index (high intrinsic dimension);
- :func:`augmented_digits`: the 1797 digits shifted, rotated, rescaled and noised, embedded by PCA; a set
  with a low intrinsic dimension, as real image embeddings are.
"""

from __future__ import annotations

import numpy as np


def blobs(n: int, d: int = 64, n_clusters: int = 50, n_classes: int = 10, seed: int = 0):
    """Gaussian blobs whose noise radius equals the spread of the centres (neighbouring blobs touch).

    Returns
    -------
    X : numpy.ndarray, shape (n, d), float32
    y : numpy.ndarray, shape (n,), int64

    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    cluster = rng.integers(0, n_clusters, n)
    X = centers[cluster]
    X += rng.standard_normal((n, d), dtype=np.float32)
    return X, (cluster % n_classes).astype(np.int64)


def augmented_digits(n: int, d: int = 32, seed: int = 0, chunk: int = 100_000):
    """Digits under random rotation (+-15 deg), scale (0.9-1.1), shift (+-1 px) and noise, PCA-embedded.

    Returns
    -------
    X : numpy.ndarray, shape (n, d), float32
        PCA of the augmented 8x8 images (fitted on the first 20k), centred.
    y : numpy.ndarray, shape (n,), int64
        The digit.

    """
    from scipy.ndimage import map_coordinates
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    pick = rng.integers(0, len(images), n)
    out = np.empty((n, 64), np.float32)
    grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij"), -1).reshape(64, 2) - 3.5
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        m = hi - lo
        angle = np.deg2rad(rng.uniform(-15, 15, m))
        scale = rng.uniform(0.9, 1.1, m)
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # (m, 2, 2)
        src = np.einsum("mij,pj->mpi", rot, grid) + 3.5 + rng.uniform(-1, 1, (m, 1, 2))
        coords = np.stack(
            [np.repeat(np.arange(m, dtype=np.float64), 64).reshape(m, 64), src[..., 0], src[..., 1]]
        )
        stack = images[pick[lo:hi]]
        warped = map_coordinates(stack, coords.reshape(3, -1), order=1, mode="constant").reshape(m, 64)
        out[lo:hi] = warped + rng.normal(0, 0.05, (m, 64))
    pca = PCA(d, random_state=seed).fit(out[: min(n, 20_000)])
    X = np.empty((n, d), np.float32)
    for lo in range(0, n, chunk):
        X[lo : lo + chunk] = pca.transform(out[lo : lo + chunk])
    return X, bunch.target[pick].astype(np.int64)


def exact_neighbors(X: np.ndarray, rows: np.ndarray, k: int, block: int | None = None) -> np.ndarray:
    """Exact cosine k nearest neighbours of ``X[rows]`` among all of ``X`` (self excluded).

    Returns
    -------
    numpy.ndarray, shape (len(rows), k), int64

    """
    # Written here rather than calling nblabel.graph's brute force: the reference must not share code with
    # what it checks.
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    # Blocks of ~64 MB of similarities: 500 rows against 1M items would be 2 GB.
    block = block or max(1, min(500, 2**24 // len(X)))
    out = np.empty((len(rows), k), np.int64)
    for lo in range(0, len(rows), block):
        q = rows[lo : lo + block]
        sims = Xn[q] @ Xn.T
        sims[np.arange(len(q)), q] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        out[lo : lo + block] = top
    return out


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact neighbours present in ``found`` (both (m, k))."""
    k = exact.shape[1]
    hits = (found[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits) / (exact.shape[0] * k)
