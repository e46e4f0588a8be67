"""What a session reads from its kNN graph's structure, computed once and kept: layout, clusters, outliers.

The graph of a :class:`~nblabel.session.Session` never changes, so neither does anything computed from it
alone: :class:`GraphStructure` keeps the 2-D layout, the clusters of each resolution asked for, the outlier
scores and the near-duplicate groups in memory, and the layout and clusters also in side files beside the
journal (:mod:`nblabel.cache`), so a reopened session finds them again.  Everything it hands out is
read-only.  What the labels add (cluster tables, conflicts, frames) is computed per snapshot elsewhere
(:mod:`nblabel.results`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nblabel.cache import cached_clustering, cached_layout
from nblabel.scoring import frozen

if TYPE_CHECKING:
    from nblabel.clusters import Clustering
    from nblabel.graph import KnnGraph

__all__ = ["GraphStructure", "check_cluster", "check_resolution"]


def check_resolution(resolution: Any) -> float:
    """Return Leiden's resolution as a float in (0, 100] (see :meth:`nblabel.session.Session.clusters`)."""
    number = (int, float, np.integer, np.floating)
    ok = not isinstance(resolution, bool) and isinstance(resolution, number)
    if not ok or not 0.0 < float(resolution) <= 100.0:
        raise ValueError(
            f"resolution: expected a number in (0, 100]; got {resolution!r}. Fix: pass resolution=1.0 "
            "(smaller for fewer, larger clusters)."
        )
    return float(resolution)


def check_cluster(c: Clustering, cluster: Any) -> int:
    """Return a cluster number of ``c`` as an int, else raise a ``ValueError`` that says where to find one."""
    integer = isinstance(cluster, (int, np.integer)) and not isinstance(cluster, bool)
    if not integer or not 0 <= cluster < c.n_clusters:
        raise ValueError(
            f"cluster: expected a cluster number in 0..{c.n_clusters - 1}; got {cluster!r}. "
            "Fix: pick one from session.clusters(resolution) at the same resolution."
        )
    return int(cluster)


class GraphStructure:
    """Layout, clusters, outlier scores and near-duplicate groups of a session's fixed graph, kept once made.

    Parameters
    ----------
    graph : KnnGraph
        The session's fitted graph.
    journal : Path
        The journal the side files belong to.
    fingerprint : str
        The embeddings' fingerprint (part of the side files' names).
    params : dict
        The session's graph and propagation parameters (part of the side files' names; ``t`` for the cores).

    """

    def __init__(self, graph: KnnGraph, journal: Path, fingerprint: str, params: dict[str, Any]) -> None:
        self.graph = graph
        self._journal, self._fingerprint, self._params = journal, fingerprint, params
        self._layout: np.ndarray | None = None  # the default layout (seed 0, no UMAP options)
        self._clusterings: dict[float, Clustering] = {}  # by resolution
        self._scores: tuple[np.ndarray, np.ndarray] | None = None  # outlier, duplicate group

    def layout(self, seed: int, compute: bool, umap_kwargs: dict[str, Any]) -> np.ndarray | None:
        """Return the (n, 2) float32 layout, read-only; None if not cached yet and ``compute`` is False."""
        if self._layout is not None and not umap_kwargs and seed == 0:
            return self._layout
        layout = cached_layout(
            self._journal,
            self._fingerprint,
            self._params,
            self.graph,
            seed,
            umap_kwargs,
            compute=compute,
        )
        if layout is None:
            return None
        layout = frozen(layout)
        if not umap_kwargs and seed == 0:
            self._layout = layout
        return layout

    def clustering(self, resolution: Any) -> Clustering:
        """Return the clusters at one resolution: from memory, else the side file, else computed and saved."""
        res = check_resolution(resolution)
        if res in self._clusterings:
            return self._clusterings[res]
        found = cached_clustering(self._journal, self._fingerprint, self._params, self.graph, res)
        for a in (found.labels, found.centrality, found.share):
            frozen(a)
        self._clusterings[res] = found
        return found

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Return each item's outlier score and duplicate group (default threshold), (n,) each, read-only."""
        if self._scores is None:
            from nblabel.clusters import duplicate_groups, outlier_scores

            self._scores = (
                frozen(outlier_scores(self.graph)),
                frozen(duplicate_groups(self.graph)),
            )
        return self._scores
