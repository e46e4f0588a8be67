"""The structure of the kNN graph: clusters, their exemplars and cores, outliers and near-duplicates.

Everything here reads the :class:`~nblabel.graph.KnnGraph` that label propagation already uses, so a person
exploring a new dataset sees the same neighbourhoods that will spread their labels.

- **Clusters**: Leiden (igraph's C implementation) maximising modularity with a resolution on the symmetric
  affinity ``W``; the resolution is the one knob: 1 is plain modularity, smaller merges, larger splits.
  Chosen by measurement on the digits (raw pixels, k = 10): Leiden ARI 0.84 / 0.91 at resolution 1 / 0.5,
  against scikit-learn's HDBSCAN at 0.27 / 0.35 (on the embeddings / on PCA-16), which leaves 36-73 % of
  the digits as noise and has no resolution to turn. igraph's own Leiden gave the same partition as the
  ``leidenalg`` package (ARI 1.0 on 20k blobs) 13x faster (0.27 s against 3.6 s), so only igraph
  (a 5.7 MB wheel) is needed. Times in ``bench/bench_clusters.py``.
- **Exemplars**: the items most central to their cluster, by within-cluster weighted degree (the share of an
  item's affinity that stays inside its cluster, times its degree): dense members whose neighbours are all
  in the cluster come first; members on the boundary come last.
- **Core**: the items that propagation keeps in their cluster. One label-propagation run seeded with every
  item's own cluster (untrusted seeds, as given labels are) gives each item a distribution over clusters;
  the core of a cluster is its items whose own cluster holds at least ``DEFAULT_CORE_SHARE`` of it. These
  are the items a person can label in one stroke: propagation would predict them the same.
- **Outliers**: ``1 - mean cosine similarity`` to the k nearest neighbours, in [0, 2]; an item far from
  even its nearest neighbours scores high. A plain distance rather than a density ratio (LOF), so a group
  of similar outliers (e.g. many noise images, which resemble each other) is still found.
- **Near-duplicates**: kNN edges with cosine similarity at or above a threshold, and their connected
  components. Only the graph's k neighbours are examined, so a set of more than ``k + 1`` copies of one
  image is found as long as the copies chain together through their lists, which hnswlib's lists of
  equal-distance items do in practice.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from nblabel.graph import KnnGraph

__all__ = [
    "Clustering",
    "cluster",
    "label_conflicts",
    "leiden",
    "centrality",
    "exemplars",
    "core_share",
    "outlier_scores",
    "duplicate_groups",
    "DEFAULT_RESOLUTION",
    "DEFAULT_DUPLICATE_THRESHOLD",
    "DEFAULT_CORE_SHARE",
    "EXACT_CORE_CLUSTERS",
]

#: Modularity; 18 clusters for the 10 digit classes (raw pixels, k = 10), each mostly one class.
DEFAULT_RESOLUTION = 1.0
#: Cosine similarity at and above which two neighbours count as near-duplicates. On mean-centred digit pixels
#: JPEG re-encodings (quality >= 40) of a digit land at >= 0.9936 and the nearest distinct digit at <= 0.992.
DEFAULT_DUPLICATE_THRESHOLD = 0.99
#: Share of an item's propagated cluster distribution its own cluster must hold for it to be in the core.
#: Above 0.5 propagation predicts the item's own cluster; 0.6 adds a margin. On the digits (raw pixels,
#: resolution 1) 84 % of the items are then in a core and every core is >= 99.3 % one true class (0.5: 94 %
#: and 98.2 %; 0.8: 56 % and 99.4 %, and 6 of the 18 clusters without a core).
DEFAULT_CORE_SHARE = 0.6
#: Up to this many clusters :func:`core_share` propagates one column per cluster (exact).
EXACT_CORE_CLUSTERS = 64


def _check_fitted(graph: KnnGraph) -> None:
    if not hasattr(graph, "neighbors_"):
        raise ValueError(
            f"graph: expected a fitted KnnGraph; got {graph!r}. Fix: call graph.fit(X) first or pass "
            "session.graph."
        )


def _check_number(value: object, name: str, lo: float, hi: float, example: str) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not lo <= float(value) <= hi:  # type: ignore[arg-type]
        raise ValueError(
            f"{name}: expected a number in [{lo}, {hi}]; got {value!r}. Fix: pass e.g. {example}."
        )
    return float(value)  # type: ignore[arg-type]


def _symmetric_affinity(graph: KnnGraph) -> sp.csr_matrix:
    """``W`` as an undirected weighted graph (``W + W^T`` when the graph was built asymmetric)."""
    W = graph.affinity_
    return W if graph.symmetric else (W + W.T).tocsr()


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... from the largest down (ties: first item first), so numbers read stably."""
    _, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse].astype(np.int32)


def leiden(
    graph: KnnGraph,
    resolution: float = DEFAULT_RESOLUTION,
    seed: int = 0,
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster the items of a kNN graph with Leiden (modularity with a resolution, weighted by ``W``).

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph; its affinity ``W`` (``exp((s - 1) / T)`` on the kNN pattern) weights the edges.
    resolution : float
        In (0, 100]. 1 is modularity; smaller gives fewer, larger clusters.
    seed : int
        Seed of the random choices in Leiden's refinement, so the same graph gives the same clusters.
    initial : numpy.ndarray, shape (m,), int, optional
        Clusters of the first ``m <= n`` items from an earlier run (e.g. before items were added). Leiden
        starts from them (new items start alone), so clusters move only where the new items change them.

    Returns
    -------
    numpy.ndarray, shape (n,), int32
        Cluster of each item, numbered from the largest cluster (0) down; every item is in exactly one.

    """
    import igraph as ig  # imported here: only clustering needs it

    _check_fitted(graph)
    resolution = _check_number(resolution, "resolution", 1e-6, 100.0, "resolution=1.0")
    n = graph.n_items_
    W = sp.triu(_symmetric_affinity(graph), k=1).tocoo()
    weights = W.data.astype(np.float64)
    edges = np.empty((W.nnz, 2), np.int64)  # igraph's integer type, filled without an int32 copy first
    edges[:, 0], edges[:, 1] = W.row, W.col
    del W  # only the edges and their weights from here on
    # add_edges, not Graph(edges=...): the constructor's conversion held ~170 bytes per edge at its peak
    # (1.5 GB at 1M items), add_edges ~70 (measured on 1.8M edges).
    g = ig.Graph(n=n, directed=False)
    g.add_edges(edges)
    del edges
    start = None
    if initial is not None:
        init = np.asarray(initial)
        if init.ndim != 1 or init.shape[0] > n or not np.issubdtype(init.dtype, np.integer):
            raise ValueError(
                f"initial: expected integer clusters of at most {n} items, shape (m,); got dtype "
                f"{init.dtype}, shape {init.shape}. Fix: pass the clusters of an earlier run on this graph."
            )
        # New items start as singletons numbered after the old clusters.
        base = int(init.max(initial=-1)) + 1
        start = np.concatenate([init, base + np.arange(n - init.shape[0])]).tolist()
    # igraph draws from one process-wide generator; a seeded one for this call makes the clusters
    # reproducible, and the default (Python's random module) is put back after.
    ig.set_random_number_generator(random.Random(int(seed)))
    try:
        part = g.community_leiden(
            objective_function="modularity",
            weights=weights,
            resolution=resolution,
            initial_membership=start,
            n_iterations=-1,  # until an iteration no longer improves the partition
        )
    finally:
        ig.set_random_number_generator(random)
    return _relabel_by_size(np.asarray(part.membership))


def centrality(graph: KnnGraph, labels: np.ndarray) -> np.ndarray:
    """How central each item is to its own cluster: its affinity to the members of its cluster.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph.
    labels : numpy.ndarray, shape (n,), int
        Cluster of each item (:func:`leiden`).

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        ``sum_j W_ij [c_j = c_i]``, the within-cluster weighted degree: high for items in the dense middle
        of their cluster, low on its boundary and for items whose neighbours lie elsewhere.

    """
    _check_fitted(graph)
    labels = _check_labels(labels, graph.n_items_)
    W = _symmetric_affinity(graph)
    out = np.empty(graph.n_items_, np.float32)
    # A block of rows at a time: no row index per non-zero for all of W at once (80 MB at 1M items).
    for lo in range(0, graph.n_items_, 1 << 16):
        block = W[lo : lo + (1 << 16)].tocoo()
        inside = labels[block.row + lo] == labels[block.col]
        sums = np.bincount(block.row[inside], weights=block.data[inside], minlength=block.shape[0])
        out[lo : lo + block.shape[0]] = sums
    return out


def exemplars(labels: np.ndarray, central: np.ndarray, n: int = 5) -> list[np.ndarray]:
    """List the most central items of each cluster.

    Parameters
    ----------
    labels : numpy.ndarray, shape (n_items,), int
        Cluster of each item, numbered 0 .. n_clusters - 1.
    central : numpy.ndarray, shape (n_items,), float
        :func:`centrality`.
    n : int
        Exemplars per cluster (fewer for smaller clusters).

    Returns
    -------
    list of numpy.ndarray, int64
        Entry ``c`` holds cluster ``c``'s items, most central first; ties keep index order.

    """
    labels = _check_labels(labels, central.shape[0])
    order = np.lexsort((np.arange(labels.size), -central, labels))  # by cluster, then most central first
    bounds = np.searchsorted(labels[order], np.arange(int(labels.max(initial=-1)) + 2))
    stops = np.minimum(bounds[:-1] + n, bounds[1:])
    return [order[a:b].astype(np.int64) for a, b in zip(bounds[:-1], stops, strict=True)]


def core_share(graph: KnnGraph, labels: np.ndarray, t: int = 20) -> np.ndarray:
    """Share of each item's propagated cluster distribution that its own cluster holds.

    Label propagation (the session's own, :func:`nblabel.propagate.label_blocks`) runs once with every item
    seeded by its cluster and nothing clamped, like given labels. An item deep inside its cluster keeps
    most of it; an item on a boundary, or one that Leiden placed against its neighbours, does not.

    One column per cluster costs ``n_clusters`` propagations; beyond :data:`EXACT_CORE_CLUSTERS` clusters,
    clusters more than two cluster-to-cluster kNN steps apart share a column (a greedy distance-2 colouring).
    Mass from a same-column cluster then counts as the item's own, but it must cross two other clusters to
    get there: on the digits at resolution 3 (34 clusters, 22 columns) no share moved by more than 0.005
    and the cores are identical (``tests/test_clusters.py``). (Distance-1 colouring, 6 columns, moved
    shares by up to 0.16.)

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph.
    labels : numpy.ndarray, shape (n,), int
        Cluster of each item.
    t : int
        Propagation steps.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        In [0, 1]; the core of cluster ``c`` is ``(labels == c) & (share >= DEFAULT_CORE_SHARE)``.

    """
    from nblabel.propagate import label_blocks

    _check_fitted(graph)
    labels = _check_labels(labels, graph.n_items_)
    n, k = labels.size, int(labels.max(initial=-1)) + 1
    column = np.arange(k) if k <= EXACT_CORE_CLUSTERS else _colour_clusters(graph, labels, k)
    cols = column[labels]
    # Each block of columns is reduced as it comes (its row sums and each item's own column), so no
    # (n, columns) array is held: 0.4 GB at 1M items and 100 clusters.
    total, own = np.zeros(n, np.float64), np.zeros(n, np.float32)
    for lo, hi, Y in label_blocks(graph.normalized_, cols, int(column.max(initial=-1)) + 1, t):
        total += Y.sum(axis=1)
        mine = np.flatnonzero((cols >= lo) & (cols < hi))
        own[mine] = Y[mine, cols[mine] - lo]
    return np.clip(np.divide(own, total, out=np.zeros(n), where=total > 0), 0.0, 1.0).astype(np.float32)


def _colour_clusters(graph: KnnGraph, labels: np.ndarray, k: int) -> np.ndarray:
    """Greedy colouring of the clusters: two clusters within two kNN-adjacent steps never share a colour."""
    # Only which items are neighbours matters here: Wn's pattern is W's, without computing W's values.
    W = graph.normalized_.tocoo()
    a, b = labels[W.row], labels[W.col]
    cross = a != b
    A = sp.csr_matrix((np.ones(int(cross.sum()), np.int32), (a[cross], b[cross])), shape=(k, k))
    A = ((A + A.T) > 0).astype(np.int32)
    # Distance two: a neighbour's neighbour is kept apart too, so shared mass crosses >= 2 other clusters.
    B = ((A + A @ A) > 0).tocsr()
    B.setdiag(False)
    B.eliminate_zeros()
    colour = np.full(k, -1, np.int64)
    for c in np.argsort(-np.diff(B.indptr), kind="stable"):  # most neighbours first
        used = set(colour[B.indices[B.indptr[c] : B.indptr[c + 1]]].tolist())
        colour[c] = next(j for j in range(k) if j not in used)
    return colour


def outlier_scores(graph: KnnGraph) -> np.ndarray:
    """How far each item is from its nearest neighbours.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        ``1 - mean cosine similarity`` to the item's k neighbours, in [0, 2]; higher is more unusual.

    """
    _check_fitted(graph)
    return (1.0 - graph.similarities_.astype(np.float64).mean(axis=1)).astype(np.float32)


def duplicate_groups(graph: KnnGraph, threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> np.ndarray:
    """Group items whose cosine similarity to a neighbour is at least ``threshold``.

    Parameters
    ----------
    graph : KnnGraph
        Fitted graph.
    threshold : float
        Cosine similarity in [-1, 1]; an edge at or above it joins two items. Groups are connected
        components of those edges, so the relation is symmetric and transitive.

    Returns
    -------
    numpy.ndarray, shape (n,), int32
        Group of each item, numbered 0, 1, ... from the largest group down; -1 for an item with no
        near-duplicate.

    """
    _check_fitted(graph)
    threshold = _check_number(threshold, "threshold", -1.0, 1.0, "threshold=0.99")
    n, k = graph.neighbors_.shape
    close = graph.similarities_ >= threshold
    rows = np.repeat(np.arange(n), k)[close.ravel()]
    cols = graph.neighbors_.ravel()[close.ravel()]
    A = sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n, n))
    _, comp = connected_components(A, directed=True, connection="weak")
    groups = np.full(n, -1, np.int32)
    sizes = np.bincount(comp)
    in_group = sizes[comp] > 1
    if in_group.any():
        groups[in_group] = _relabel_by_size(comp[in_group])
    return groups


def _check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
        raise ValueError(
            f"labels: expected non-negative integer clusters of shape ({n},); got dtype {arr.dtype}, shape "
            f"{arr.shape}. Fix: pass the output of nblabel.clusters.leiden(graph)."
        )
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Clustering:
    """Clusters of one graph at one resolution, with what the cluster views need; immutable.

    Attributes
    ----------
    resolution : float
    labels : numpy.ndarray, shape (n,), int32
        :func:`leiden`.
    centrality : numpy.ndarray, shape (n,), float32
        :func:`centrality`.
    share : numpy.ndarray, shape (n,), float32
        :func:`core_share`.

    """

    resolution: float
    labels: np.ndarray
    centrality: np.ndarray
    share: np.ndarray

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.labels.max(initial=-1)) + 1

    def members(self, cluster: int) -> np.ndarray:
        """Items of one cluster, most central first, shape (m,) int64."""
        idx = np.flatnonzero(self.labels == cluster)
        return idx[np.argsort(-self.centrality[idx], kind="stable")].astype(np.int64)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to one ``.npz`` file."""
        with open(path, "wb") as fh:
            np.savez(
                fh,
                resolution=self.resolution,
                labels=self.labels,
                centrality=self.centrality,
                share=self.share,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str], n_items: int) -> Clustering:
        """Read a file written by :meth:`save`; raises ValueError if it does not hold ``n_items`` items."""
        with np.load(path, allow_pickle=False) as z:
            out = cls(float(z["resolution"]), z["labels"], z["centrality"], z["share"])
        if not out.labels.shape == out.centrality.shape == out.share.shape == (n_items,):
            raise ValueError(f"{path}: expected clusters of {n_items} items; got {out.labels.shape}.")
        return out


def cluster(
    graph: KnnGraph,
    resolution: float = DEFAULT_RESOLUTION,
    seed: int = 0,
    initial: np.ndarray | None = None,
    t: int = 20,
) -> Clustering:
    """Cluster a graph and compute each item's centrality and core share.

    Parameters
    ----------
    graph, resolution, seed, initial
        As in :func:`leiden`.
    t : int
        Propagation steps of :func:`core_share`.

    Returns
    -------
    Clustering

    """
    labels = leiden(graph, resolution, seed=seed, initial=initial)
    return Clustering(float(resolution), labels, centrality(graph, labels), core_share(graph, labels, t=t))


def label_conflicts(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Items whose near-duplicate group holds more than one class: a conflict that only a person can settle.

    Parameters
    ----------
    groups : numpy.ndarray, shape (n,), int
        :func:`duplicate_groups` (-1 = no duplicate).
    labels : numpy.ndarray, shape (n,), int
        Each item's current label (verified, else given), -1 for none.

    Returns
    -------
    numpy.ndarray, shape (n,), bool
        True for every labeled item of a group whose labeled items disagree.

    """
    groups, labels = np.asarray(groups), np.asarray(labels)
    use = (groups >= 0) & (labels >= 0)
    out = np.zeros(groups.shape[0], bool)
    if not use.any():
        return out
    g, lab = groups[use], labels[use]
    n_groups = int(g.max()) + 1
    lo = np.full(n_groups, np.iinfo(np.int64).max)
    hi = np.full(n_groups, -1)
    np.minimum.at(lo, g, lab)
    np.maximum.at(hi, g, lab)
    out[np.flatnonzero(use)] = lo[g] != hi[g]
    return out
