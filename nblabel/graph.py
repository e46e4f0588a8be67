"""k-nearest-neighbour graph over embeddings (paper Eq. 2) and its normalisation ``D^-1/2 W D^-1/2``.

The neighbour search is an hnswlib index over L2-normalised rows, so inner product = cosine similarity.
Affinities are ``W_ij = exp((s_ij - 1) / T)`` on the kNN pattern: the paper's ``exp(s_ij / T)`` times
the global factor ``exp(-1 / T)``, which cancels in the normalisation and keeps ``exp`` from overflowing
float32 at small T. The normalisation itself is computed in log space, so no row's degree underflows to
zero either.
(A per-row shift would not be equivalent: it rescales rows and columns differently and changes ``Wn``.)
Only ``Wn`` and the degrees are kept; ``W`` is recomputed from them when asked for (:func:`affinity`).
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import hnswlib
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from nblabel._blocks import row_blocks
from nblabel._validation import check_embeddings, check_k, check_positive

#: Quantiles of the kNN similarities whose spread sets ``T="auto"``; see :func:`auto_temperature`.
AUTO_T_QUANTILES = (0.1, 0.9)
#: Fraction of that spread used as T (measured on digits, see bench/bench_label_errors.py).
AUTO_T_SCALE = 0.5
#: Floor for the automatic temperature, so a graph of near-duplicates still gets finite, distinct weights.
AUTO_T_MIN = 1e-4
#: From this many items on, :meth:`KnnGraph.fit` shows a progress bar by default (the build takes minutes).
PROGRESS_MIN_ITEMS = 50_000
#: ``ef=None``: the query width is doubled from its start until the recall@k estimated on
#: ``RECALL_SAMPLE`` items reaches ``AUTO_EF_RECALL`` (or ``AUTO_EF_MAX``). hnswlib's advice is to raise
#: ``ef`` before rebuilding; the recall of a given ``ef`` falls as n grows (blobs, ef = 64: 0.99 at 100k,
#: 0.86 at 1M), so a fixed value cannot suit every size.
AUTO_EF_RECALL = 0.97
AUTO_EF_MAX = 1024
RECALL_SAMPLE = 200
_FORMAT_VERSION = 1


def auto_temperature(similarities: np.ndarray) -> float:
    """Choose the temperature from the graph's own similarity distribution (no labels needed).

    The rule: ``T = (q90 - q10) / 2`` of all kNN cosine similarities, floored at ``AUTO_T_MIN``. With it a
    neighbour at the 90th percentile of similarity outweighs one at the 10th percentile by ``e**2``, whatever
    the scale of the features: peaked self-supervised features (similarities packed near 1) get a small T,
    as in the paper's 0.01, and spread-out features get a larger one. On digits (raw pixels, PCA 16/32/64,
    and pixels shifted to make similarities peak near 1) this lands at or next to the best T of a grid
    for both noisy-label AUROC and clamped-LP accuracy; a fixed T = 0.01 loses up to 0.3 AUROC there.

    Parameters
    ----------
    similarities : numpy.ndarray, shape (n, k)
        Cosine similarities of each item to its k nearest neighbours.

    Returns
    -------
    float

    """
    lo, hi = np.quantile(similarities, AUTO_T_QUANTILES)
    return float(max(AUTO_T_SCALE * (hi - lo), AUTO_T_MIN))


def _normalize_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _drop_self(labels: np.ndarray, dists: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own index from a (m, k+1) result, or its last column if self did not come back.

    With exact duplicates the item itself need not be returned first (a duplicate ties with it), and may not
    be returned at all; both cases keep exactly k true neighbours.
    """
    is_self = labels == rows[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    keep = ~is_self
    m, kp1 = labels.shape
    return labels[keep].reshape(m, kp1 - 1), dists[keep].reshape(m, kp1 - 1)


def normalized_affinity(
    neighbors: np.ndarray, similarities: np.ndarray, T: float, symmetric: bool = True
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Build ``Wn = D^-1/2 W D^-1/2`` (``W`` from Eq. 2) from kNN lists, with the degrees of ``W``.

    Only ``Wn`` is kept as a matrix: ``W`` is ``Wn`` scaled by ``sqrt(d_i d_j)`` (:func:`affinity`), so the
    two need not be held together (160 MB each at 1M items, k = 10).

    Parameters
    ----------
    neighbors : numpy.ndarray, shape (n, k), int
        Neighbour indices of each item, itself excluded.
    similarities : numpy.ndarray, shape (n, k), float
        Cosine similarity to each neighbour.
    T : float
        Temperature, > 0.
    symmetric : bool
        If True use ``W + W^T`` (an edge listed by both ends counts twice); else the paper's kNN ``W``.

    Returns
    -------
    Wn : scipy.sparse.csr_matrix, shape (n, n), float32
        The normalised affinity used by label propagation, with sorted column indices. Computed in log
        space, so it does not underflow where ``W = exp((s_ij - 1) / T)`` does at tiny T.
    log_degree : numpy.ndarray, shape (n,), float64
        ``log d_i``, ``d_i = sum_j W_ij`` (log, as ``d`` itself can underflow at tiny T).

    """
    n, k = neighbors.shape
    nbrs = np.ascontiguousarray(neighbors, dtype=np.int32)
    logw = (similarities.astype(np.float64) - 1.0) / T  # (n, k)
    if symmetric:
        # W + W^T without a sort over all 2nk entries (1.2 GB of temporaries at n = 1M): an edge listed by
        # both ends is merged by log-add in place and kept once per direction; an edge listed by one end
        # only gets its mirror entry appended.
        mutual = _mutual_positions(nbrs)
        both = mutual >= 0
        i_both, a_both = np.nonzero(both)
        partner = logw[nbrs[i_both, a_both], mutual[i_both, a_both]]
        logw[i_both, a_both] = np.logaddexp(logw[i_both, a_both], partner)
        del i_both, a_both, partner, mutual
        one_way = ~both
        rows = np.concatenate([np.repeat(np.arange(n, dtype=np.int32), k), nbrs[one_way]])
        cols = np.concatenate([nbrs.ravel(), np.nonzero(one_way)[0].astype(np.int32)])
        logw = np.concatenate([logw.ravel(), logw[one_way]])
        del one_way, both
    else:
        rows, cols, logw = np.repeat(np.arange(n, dtype=np.int32), k), nbrs.ravel(), logw.ravel()
    # scipy's COO -> CSR is a counting sort by row; then sort each row's columns (as the kNN lists were not).
    L = sp.csr_matrix((logw, (rows, cols)), shape=(n, n))
    del rows, cols, logw
    L.sort_indices()
    logw, indptr, cols = L.data, L.indptr.astype(np.int64), L.indices.astype(np.int32)
    del L
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    # Log-degree per row, shifted by the row max so the sum of exponentials neither overflows nor underflows.
    rmax = np.maximum.reduceat(logw, indptr[:-1])
    logd = rmax + np.log(np.add.reduceat(np.exp(logw - np.repeat(rmax, np.diff(indptr))), indptr[:-1]))
    logw -= 0.5 * logd[rows]
    logw -= 0.5 * logd[cols]
    del rows
    Wn = sp.csr_matrix((np.exp(logw).astype(np.float32), cols, indptr), shape=(n, n))
    Wn.has_sorted_indices = True
    return Wn, logd


def affinity(Wn: sp.csr_matrix, log_degree: np.ndarray, chunk: int = 1 << 20) -> sp.csr_matrix:
    """``W = D^1/2 Wn D^1/2`` from :func:`normalized_affinity`'s outputs.

    Equal to ``exp((s_ij - 1) / T)`` on the pattern up to float32 rounding (a relative 1e-7 or so: ``Wn``
    was rounded once more); entries that underflow float32 are 0, as they were in a ``W`` built directly.

    Parameters
    ----------
    Wn : scipy.sparse.csr_matrix, shape (n, n), float32
        Normalised affinity.
    log_degree : numpy.ndarray, shape (n,), float64
        ``log d_i`` of ``W``.
    chunk : int
        Non-zeros scaled per step (float64 temporaries of that size).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n), float32
        A new ``data`` array; ``indices`` and ``indptr`` are ``Wn``'s, shared read-only (an in-place change
        of the pattern, such as ``eliminate_zeros``, raises instead of changing ``Wn``).

    """
    n = Wn.shape[0]
    data = np.empty(Wn.nnz, np.float32)
    step = max(1, chunk * n // max(Wn.nnz, 1))  # rows holding about chunk non-zeros
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        a, b = int(Wn.indptr[lo]), int(Wn.indptr[hi])
        rows = np.repeat(np.arange(lo, hi), np.diff(Wn.indptr[lo : hi + 1]))
        half = 0.5 * (log_degree[rows] + log_degree[Wn.indices[a:b]])
        data[a:b] = Wn.data[a:b] * np.exp(half)
    indices, indptr = Wn.indices.view(), Wn.indptr.view()
    indices.flags.writeable = indptr.flags.writeable = False
    W = sp.csr_matrix((data, indices, indptr), shape=Wn.shape, copy=False)
    W.has_sorted_indices = Wn.has_sorted_indices
    return W


def _mutual_positions(neighbors: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Where each edge appears in the other end's list.

    Parameters
    ----------
    neighbors : numpy.ndarray, shape (n, k), int32
        Neighbour lists.
    chunk : int
        Rows per step; the lookup holds a (chunk, k, k) bool array.

    Returns
    -------
    numpy.ndarray, shape (n, k), int16 or int32
        ``b`` such that ``neighbors[neighbors[i, a], b] == i``, or -1 if ``i`` is not in that list.

    """
    n, k = neighbors.shape
    out = np.full((n, k), -1, np.int16 if k < 2**15 else np.int32)
    for lo in range(0, n, chunk):  # chunks of rows keep the (m, k, k) lookup small
        hi = min(lo + chunk, n)
        back = neighbors[neighbors[lo:hi]] == np.arange(lo, hi, dtype=np.int32)[:, None, None]
        found = back.any(axis=2)
        out[lo:hi][found] = back.argmax(axis=2)[found]
    return out


def _exact_neighbors(
    X: np.ndarray, rows: np.ndarray, k: int, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of ``X[rows]`` among all rows (self excluded), by brute force.

    Returns
    -------
    indices : numpy.ndarray, shape (len(rows), k), int64
    similarities : numpy.ndarray, shape (len(rows), k), float32

    """
    return _exact_search(_normalize_rows(X[rows]), X, k, rows, chunk)


def _exact_search(
    Q: np.ndarray, X: np.ndarray, k: int, rows: np.ndarray | None = None, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of the unit rows ``Q`` among the rows of ``X``, by brute force.

    Parameters
    ----------
    Q : numpy.ndarray, shape (m, d), float32
        L2-normalised query points.
    X : array-like, shape (n, d)
        Items searched (normalised here, a chunk at a time: a memory-mapped ``X`` is never read whole).
    k : int
        Neighbours per query.
    rows : numpy.ndarray, shape (m,), int, optional
        Positions of the queries in ``X``, excluded from their own results.
    chunk : int
        Rows of ``X`` per step.

    Returns
    -------
    indices : numpy.ndarray, shape (m, k), int64
    similarities : numpy.ndarray, shape (m, k), float32

    """
    m = Q.shape[0]
    best_s = np.full((m, 0), -np.inf, np.float32)
    best_i = np.zeros((m, 0), np.int64)
    for lo, block in row_blocks(X, chunk):  # small chunks: a few MB at a time, whatever n
        sims = Q @ _normalize_rows(block).T
        if rows is not None:
            mine = (rows >= lo) & (rows < lo + sims.shape[1])
            sims[np.flatnonzero(mine), rows[mine] - lo] = -np.inf
        cand_s = np.concatenate([best_s, sims], axis=1)
        cand_i = np.concatenate(
            [best_i, np.broadcast_to(np.arange(lo, lo + sims.shape[1]), sims.shape)], axis=1
        )
        top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")  # most similar first, as hnswlib returns them
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)


class KnnGraph:
    """Cosine kNN graph over embeddings with affinities ``exp((s - 1) / T)`` (paper Eq. 2).

    Parameters
    ----------
    k : int
        Neighbours per item, itself excluded.
    T : float or "auto"
        Temperature of the affinity. ``"auto"`` applies :func:`auto_temperature` to the fitted similarities.
    symmetric : bool
        Use ``W + W^T`` (default; measured better, and every item is then reachable from its neighbours) or
        the paper's asymmetric kNN ``W``.
    M, ef_construction : int
        hnswlib build parameters (graph degree, build-time search width).
    ef : int, optional
        hnswlib query-time search width. Default: start at ``max(64, 2 * (k + 1))`` and double it until the
        estimated recall reaches :data:`AUTO_EF_RECALL` (see ``recall_``).
    num_threads : int, optional
        Threads for hnswlib; default all cores.
    seed : int
        hnswlib's random seed (level assignment), so a rebuild gives the same graph.
    progress : bool, optional
        Show a tqdm bar while building; default: for :data:`PROGRESS_MIN_ITEMS` items or more.

    Attributes
    ----------
    n_items_ : int
    neighbors_ : numpy.ndarray, shape (n, k), int32
    similarities_ : numpy.ndarray, shape (n, k), float32
    T_ : float
    ef_ : int
        The query width in use (``ef``, or the one chosen for ``ef=None``).
    recall_ : float
        Estimated recall@k of ``neighbors_`` against exact cosine neighbours, on :data:`RECALL_SAMPLE`
        random items (standard error about 0.005 near 0.95); NaN for a graph loaded from an older file.
    normalized_ : scipy.sparse.csr_matrix, shape (n, n), float32
        ``D^-1/2 W D^-1/2``, built on first use and kept (the one matrix the graph holds).
    log_degree_ : numpy.ndarray, shape (n,), float64
        Log-degrees of ``W``.
    affinity_ : scipy.sparse.csr_matrix, shape (n, n), float32
        ``W``, computed from the two above on each access, not kept.

    """

    def __init__(
        self,
        k: int = 10,
        T: float | str = "auto",
        symmetric: bool = True,
        M: int = 16,
        ef_construction: int = 200,
        ef: int | None = None,
        num_threads: int | None = None,
        seed: int = 0,
        progress: bool | None = None,
    ) -> None:
        self.k = k
        self.T = T
        self.symmetric = symmetric
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.num_threads = num_threads
        self.seed = seed
        self.progress = progress
        self._index: hnswlib.Index | None = None
        # What vectors() and query() read once the index is dropped (drop_index).
        self._source: np.ndarray | None = None

    # -- building -------------------------------------------------------------------------------------------
    def _threads(self) -> int:
        return -1 if self.num_threads is None else int(self.num_threads)

    def _ef(self) -> int:
        if self.ef is not None:
            return int(self.ef)
        return int(getattr(self, "ef_", max(64, 2 * (self.k + 1))))

    def _check_params(self) -> None:
        if isinstance(self.T, str):
            if self.T != "auto":
                raise ValueError(
                    f'T: expected a positive number or "auto"; got {self.T!r}. Fix: pass T="auto" or T=0.05.'
                )
        else:
            check_positive(self.T, "T")
        for name in ("M", "ef_construction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
                raise ValueError(f"{name}: expected an integer >= 2; got {value!r}. Fix: keep the default.")

    def fit(self, X: np.ndarray) -> KnnGraph:
        """Index the embeddings and build the kNN graph.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Embeddings; rows are L2-normalised internally.

        Returns
        -------
        KnnGraph
            ``self``.

        """
        self._check_params()
        X = check_embeddings(X)
        n, d = X.shape
        k = check_k(self.k, n)
        index = hnswlib.Index(space="ip", dim=d)
        index.init_index(
            max_elements=n, ef_construction=self.ef_construction, M=self.M, random_seed=self.seed
        )
        index.set_num_threads(self._threads())
        self.neighbors_ = np.empty((n, k), np.int32)
        self.similarities_ = np.empty((n, k), np.float32)
        # In chunks: for the progress bar, and so that no normalised copy of all of X (256 MB at 1M x 64) or
        # (n, k + 1) uint64 result is held at once (nor all of a memory-mapped X: see row_blocks).
        chunk = max(1_000, -(-n // 100))
        show = n >= PROGRESS_MIN_ITEMS if self.progress is None else bool(self.progress)
        with tqdm(total=2 * n, desc="kNN graph: index", unit="item", disable=not show) as bar:
            for lo, block in row_blocks(X, chunk):
                hi = lo + len(block)
                index.add_items(_normalize_rows(block), np.arange(lo, hi), num_threads=self._threads())
                bar.update(hi - lo)
            bar.set_description("kNN graph: checking recall")
            self.ef_, self.recall_ = self._choose_ef(index, X, k)
            index.set_ef(max(self.ef_, k + 1))
            bar.set_description("kNN graph: neighbours")
            for lo, block in row_blocks(X, chunk):
                hi = lo + len(block)
                labels, dists = index.knn_query(_normalize_rows(block), k=k + 1, num_threads=self._threads())
                nbrs, dists = _drop_self(labels, dists, np.arange(lo, hi))
                self.neighbors_[lo:hi] = nbrs
                self.similarities_[lo:hi] = np.clip(1.0 - dists, -1.0, 1.0)
                bar.update(hi - lo)
        self._index = index
        self.dim_ = d
        self.T_ = auto_temperature(self.similarities_) if self.T == "auto" else float(self.T)
        self._lists_changed()
        return self

    def _choose_ef(self, index: hnswlib.Index, X: np.ndarray, k: int) -> tuple[int, float]:
        """Return the query width and its recall@k on a sample (``ef``, or doubled until recall suffices)."""
        n = X.shape[0]
        rows = np.sort(np.random.default_rng(self.seed).choice(n, min(n, RECALL_SAMPLE), replace=False))
        # Ties make "which" neighbour arbitrary (exact duplicates are common among images): a found neighbour
        # counts as recalled when it is at least as similar as the exact k-th one.
        _, exact_sims = _exact_neighbors(X, rows, k)
        kth = exact_sims.min(axis=1, keepdims=True) - 1e-5
        Q = _normalize_rows(X[rows])
        ef = self._ef() if self.ef is not None else max(64, 2 * (k + 1))
        while True:
            index.set_ef(max(ef, k + 1))
            labels, dists = index.knn_query(Q, k=k + 1, num_threads=self._threads())
            _, found_dists = _drop_self(labels.astype(np.int64), dists, rows)
            recall = float(((1.0 - found_dists) >= kth).mean())
            if self.ef is None and recall < AUTO_EF_RECALL and ef >= AUTO_EF_MAX:
                warnings.warn(
                    f"kNN graph: expected recall@{k} >= {AUTO_EF_RECALL} at some query width ef <= "
                    f"{AUTO_EF_MAX}; got {recall:.3f} at ef={ef}. Fix: rebuild with a larger M or "
                    f"ef_construction (now M={self.M}, ef_construction={self.ef_construction}).",
                    stacklevel=3,
                )
            if self.ef is not None or recall >= AUTO_EF_RECALL or ef >= AUTO_EF_MAX:
                return ef, recall
            ef = min(2 * ef, AUTO_EF_MAX)

    def _lists_changed(self) -> None:
        # The matrix is built on first use, not here: a session drops the index in between, so that the
        # index and the matrix with its build's temporaries are never in memory together (at 1M x 64,
        # 400 MB and 0.8 GB).
        self.n_items_ = self.neighbors_.shape[0]
        self._normalized: tuple[sp.csr_matrix, np.ndarray] | None = None

    def _built(self) -> tuple[sp.csr_matrix, np.ndarray]:
        self._check_fitted()
        if self._normalized is None:
            self._normalized = normalized_affinity(
                self.neighbors_, self.similarities_, self.T_, self.symmetric
            )
        return self._normalized

    @property
    def normalized_(self) -> sp.csr_matrix:
        """``Wn = D^-1/2 W D^-1/2``, shape (n, n), float32; built on first use and kept."""
        return self._built()[0]

    @property
    def log_degree_(self) -> np.ndarray:
        """``log d_i`` with ``d_i = sum_j W_ij``, shape (n,), float64 (read-only)."""
        logd = self._built()[1]
        logd.flags.writeable = False
        return logd

    @property
    def affinity_(self) -> sp.csr_matrix:
        """Affinity ``W`` (symmetrised unless ``symmetric=False``), shape (n, n), float32; not kept.

        Computed from ``normalized_`` and the degrees on each access (:func:`affinity`): only ``Wn`` is
        held, since propagation needs it on every click and ``W`` only clusters and the map need, once.
        Keep the result while using it rather than reading the property again; it shares ``Wn``'s index
        arrays, read-only.
        """
        return affinity(*self._built())

    def _check_fitted(self) -> None:
        if not hasattr(self, "neighbors_"):
            raise ValueError(
                "KnnGraph: expected a fitted graph; got an unfitted one. Fix: call graph.fit(X) first."
            )

    # -- queries and growth ---------------------------------------------------------------------------------
    def query(self, X: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Find the indexed items most similar to new points (the points are not added).

        Parameters
        ----------
        X : array-like, shape (m, d)
            Query points.
        k : int, optional
            Neighbours per point; default ``self.k``.

        Returns
        -------
        indices : numpy.ndarray, shape (m, k), int64
        similarities : numpy.ndarray, shape (m, k), float32

        """
        self._check_fitted()
        Xq = self._check_new(X, "X")
        k = self.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.n_items_:
            raise ValueError(
                f"k: expected an integer in 1..{self.n_items_} (the number of indexed items); got {k!r}. "
                "Fix: ask for fewer neighbours."
            )
        if Xq.shape[0] == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        if self._source is not None:  # the index was dropped
            idx, sims = _exact_search(_normalize_rows(Xq), self._source, k)
            return idx, np.clip(sims, -1.0, 1.0).astype(np.float32)
        index = self._live_index("query")
        index.set_ef(max(self._ef(), k))
        labels, dists = index.knn_query(_normalize_rows(Xq), k=k, num_threads=self._threads())
        return labels.astype(np.int64), np.clip(1.0 - dists, -1.0, 1.0).astype(np.float32)

    def _check_new(self, X: np.ndarray, name: str) -> np.ndarray:
        arr = np.asarray(X)
        if arr.ndim == 2 and arr.shape[0] == 0:
            return np.empty((0, self.dim_), np.float32)
        if arr.ndim == 2 and arr.shape[0] == 1:
            # check_embeddings needs n >= 2 for a graph; a single query row is fine here.
            arr = check_embeddings(np.vstack([arr, arr]), name=name)[:1]
        else:
            arr = check_embeddings(arr, name=name)
        if arr.shape[1] != self.dim_:
            raise ValueError(
                f"{name}: expected {self.dim_} features per row (the graph's dimension); got {arr.shape[1]}. "
                "Fix: embed the new items with the same encoder."
            )
        return arr

    def add(self, X_new: np.ndarray) -> np.ndarray:
        """Add items without rebuilding the index.

        New items get their k nearest neighbours among all items; the old items near them (the ones they
        found and those items' neighbours) are searched again, so their lists can take in the new items.
        ``T_`` stays fixed so existing weights keep their meaning. Propagators built on this graph must be
        refitted (the item count changed).

        Parameters
        ----------
        X_new : array-like, shape (m, d)
            Embeddings of the new items, from the same encoder.

        Returns
        -------
        numpy.ndarray, shape (m,), int64
            Indices of the new items.

        """
        self._check_fitted()
        Xq = self._check_new(X_new, "X_new")
        m, n = Xq.shape[0], self.n_items_
        new_ids = np.arange(n, n + m, dtype=np.int64)
        if m == 0:
            return new_ids
        index = self._live_index("add items")
        Xn = _normalize_rows(Xq)
        index.resize_index(n + m)
        index.add_items(Xn, new_ids, num_threads=self._threads())
        index.set_ef(max(self._ef(), self.k + 1))
        labels, dists = index.knn_query(Xn, k=self.k + 1, num_threads=self._threads())
        nbrs, dists = _drop_self(labels.astype(np.int64), dists, new_ids)
        sims = np.clip(1.0 - dists, -1.0, 1.0).astype(np.float32)
        all_nbrs = np.vstack([self.neighbors_, nbrs.astype(np.int32)])
        all_sims = np.vstack([self.similarities_, sims])
        # Old items whose lists may now contain a new item: those the new items found and their neighbours
        # (kNN is not symmetric, so a new item can belong in the list of an item it did not find itself).
        near = nbrs[nbrs < n]
        affected = np.unique(np.concatenate([near, self.neighbors_[near].ravel()]))
        if affected.size:
            labels, dists = index.knn_query(
                index.get_items(affected, return_type="numpy"),
                k=self.k + 1,
                num_threads=self._threads(),
            )
            a_nbrs, a_dists = _drop_self(labels, dists, affected)
            all_nbrs[affected] = a_nbrs
            all_sims[affected] = np.clip(1.0 - a_dists, -1.0, 1.0)
        self.neighbors_ = all_nbrs
        self.similarities_ = all_sims
        self._lists_changed()
        return new_ids

    def vectors(self, indices: np.ndarray | None = None) -> np.ndarray:
        """L2-normalised embeddings of indexed items, read back from the hnswlib index.

        Parameters
        ----------
        indices : array-like, shape (m,), int, optional
            Items to return; default all.

        Returns
        -------
        numpy.ndarray, shape (m, d), float32

        """
        self._check_fitted()
        ids = np.arange(self.n_items_) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_items_):
            raise ValueError(
                f"indices: expected values in 0..{self.n_items_ - 1}; got {ids.min()}..{ids.max()}."
                " Fix: pass item positions."
            )
        if ids.size == 0:
            return np.empty((0, self.dim_), np.float32)
        if self._source is not None:  # the index was dropped
            return _normalize_rows(np.asarray(self._source[ids], np.float32))
        return np.asarray(self._live_index("read vectors").get_items(ids, return_type="numpy"), np.float32)

    def drop_index(self, X: np.ndarray) -> None:
        """Free the hnswlib index; :meth:`vectors` and :meth:`query` then read ``X`` instead.

        The index holds its own normalised copy of the embeddings and its links, about n · (4d + 8M + 12)
        bytes (400 MB at 1M × 64): a caller that keeps the embeddings anyway, as a
        :class:`~nblabel.session.Session` does, needs it only for the odd query beyond the stored lists,
        which an exact search over ``X`` answers (one pass over ``X``: tens of ms per point at 1M × 64, and
        exact). :meth:`add` and :meth:`save` need the index and raise after this call.

        Parameters
        ----------
        X : array-like, shape (n_items_, dim_)
            The embeddings the graph was built from; kept by reference (a memory-mapped array stays on disk).

        """
        self._check_fitted()
        shape = getattr(X, "shape", None)
        if shape != (self.n_items_, self.dim_):
            raise ValueError(
                f"X: expected the graph's embeddings, shape ({self.n_items_}, {self.dim_}); got shape "
                f"{shape}. Fix: pass the array the graph was built from."
            )
        self._source = X
        self._index = None

    def _live_index(self, action: str) -> hnswlib.Index:
        if self._index is None:
            raise ValueError(
                f"KnnGraph: expected the hnswlib index to {action}; got a graph whose index was dropped "
                "(drop_index). Fix: do this before drop_index, or rebuild with KnnGraph().fit(X)."
            )
        return self._index

    # -- persistence ----------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the graph (parameters, kNN lists and the hnswlib index) to one ``.npz`` file.

        Parameters
        ----------
        path : str or path-like
            File name (``.npz``).

        """
        self._check_fitted()
        index = self._live_index("save")
        params = {
            "k": self.k,
            "T": self.T,
            "symmetric": self.symmetric,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef": self.ef,
            "num_threads": self.num_threads,
            "seed": self.seed,
        }
        arrays = {
            "format_version": np.asarray(_FORMAT_VERSION),
            "params": np.array(repr(params)),
            "T_": np.asarray(self.T_),
            "dim_": np.asarray(self.dim_),
            "neighbors_": self.neighbors_,
            "similarities_": self.similarities_,
            "ef_": np.asarray(self.ef_),
            "recall_": np.asarray(self.recall_),
        }
        # The index (400 MB at 1M x 64) is streamed from hnswlib's file into the archive, never held whole.
        with tempfile.TemporaryDirectory() as tmp:
            index_file = os.path.join(tmp, "index.bin")
            index.save_index(index_file)
            with open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, value in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, value, allow_pickle=False)
                size = os.path.getsize(index_file)
                header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
                with zf.open("index.npy", "w", force_zip64=True) as member, open(index_file, "rb") as src:
                    np.lib.format.write_array_header_1_0(member, header)
                    shutil.copyfileobj(src, member, 1 << 20)

    @classmethod
    def load(cls, path: str | os.PathLike, X: np.ndarray | None = None) -> KnnGraph:
        """Read a graph written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            File name (``.npz``).
        X : array-like, shape (n, d), optional
            The graph's embeddings: the index is then not read at all, as if :meth:`drop_index` ``(X)``
            followed.

        Returns
        -------
        KnnGraph

        """
        if not Path(path).is_file():
            raise ValueError(
                f"path: expected a file written by KnnGraph.save; got {str(path)!r}, which does not exist."
            )
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != _FORMAT_VERSION:
                raise ValueError(
                    f"{path}: expected graph format {_FORMAT_VERSION}; got {int(z['format_version'])}. "
                    "Fix: rebuild the graph with KnnGraph().fit(X) and save it again."
                )
            graph = cls(**ast.literal_eval(str(z["params"])))
            graph.T_ = float(z["T_"])
            graph.dim_ = int(z["dim_"])
            graph.neighbors_ = z["neighbors_"]
            graph.similarities_ = z["similarities_"]
            # Files from before the recall check: the width they were built with, recall unknown.
            graph.ef_ = int(z["ef_"]) if "ef_" in z.files else graph._ef()
            graph.recall_ = float(z["recall_"]) if "recall_" in z.files else float("nan")
        n = graph.neighbors_.shape[0]
        if X is not None:
            graph._lists_changed()
            graph.drop_index(X)
            return graph
        with tempfile.TemporaryDirectory() as tmp:
            index_file = os.path.join(tmp, "index.bin")
            # Streamed out of the archive to hnswlib's file, so the index is in memory once, not three times.
            with zipfile.ZipFile(path) as zf, zf.open("index.npy") as member, open(index_file, "wb") as dst:
                if np.lib.format.read_magic(member) == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                if dtype != np.uint8 or len(shape) != 1:
                    raise ValueError(f"{path}: expected the hnswlib index as bytes; got {dtype} {shape}.")
                shutil.copyfileobj(member, dst, 1 << 20)
            index = hnswlib.Index(space="ip", dim=graph.dim_)
            index.load_index(index_file, max_elements=n)
        index.set_num_threads(graph._threads())
        index.set_ef(max(graph._ef(), graph.k + 1))
        graph._index = index
        graph._lists_changed()
        return graph

    def __repr__(self) -> str:
        fitted = f", n_items_={self.n_items_}, T_={self.T_:.4g}" if hasattr(self, "neighbors_") else ""
        return f"KnnGraph(k={self.k}, T={self.T!r}, symmetric={self.symmetric}{fitted})"
