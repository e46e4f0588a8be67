"""Which items to show a person next.

Strategies (all skip items already labeled):

- ``"random"``: uniform sample, the paper's baseline.
- ``"least_confident"``: lowest top-class probability of the LP output first.
- ``"margin"``: smallest gap between the two most likely classes first (default).
  Items no seed has reached yet (all-zero rows) count as maximally uncertain for both.
- ``"coverage"``: for a cold start (few or no labels): greedy farthest-point (k-center) selection on the
  cosine distance between embeddings, weighted by local density (mean similarity to the k nearest
  neighbours) so isolated outliers do not crowd out the dense regions that most images sit in.
  Already-labeled items act as existing centres.
- ``"suspects"``: items with a given label, most suspicious first (for reviewing labels); may return fewer
  than ``n`` when fewer unlabeled items have a given label.
"""

from __future__ import annotations

import numpy as np

from nblabel._validation import check_proba
from nblabel.graph import KnnGraph
from nblabel.propagate import normalize_rows
from nblabel.quality import suspect_order

STRATEGIES = ("margin", "least_confident", "random", "coverage", "suspects")
#: At most this many labeled items seed the coverage distances (a random sample beyond it), to bound the cost.
MAX_COVERAGE_CENTERS = 1000


def _top_first(score: np.ndarray, candidates: np.ndarray, m: int) -> np.ndarray:
    """Return the ``m`` candidates with the highest score; ties keep index order."""
    order = np.argsort(-score[candidates], kind="stable")
    return candidates[order[:m]]


def _coverage(graph: KnnGraph, labeled: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    X = graph.vectors()
    density = graph.similarities_.mean(axis=1).clip(min=0.0)
    centers = np.flatnonzero(labeled)
    if centers.size > MAX_COVERAGE_CENTERS:
        centers = rng.choice(centers, MAX_COVERAGE_CENTERS, replace=False)
    dist = np.full(X.shape[0], 2.0, np.float32)  # cosine distance is at most 2
    for chunk in np.array_split(centers, max(1, centers.size // 256)):
        if chunk.size:
            dist = np.minimum(dist, 1.0 - (X @ X[chunk].T).max(axis=1))
    picks = []
    available = ~labeled
    for _ in range(m):
        score = np.where(available, dist * density, -np.inf)
        i = int(np.argmax(score))
        picks.append(i)
        available[i] = False
        dist = np.minimum(dist, 1.0 - X @ X[i])
    return np.asarray(picks, dtype=np.int64)


def next_batch(
    P: np.ndarray,
    labeled: np.ndarray,
    n: int,
    strategy: str = "margin",
    graph: KnnGraph | None = None,
    suspicion: np.ndarray | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Pick the next items to label.

    Parameters
    ----------
    P : array-like, shape (n_items, c)
        LP soft labels (``Propagator.proba_``); rows need not be normalised.
    labeled : array-like, shape (n_items,), bool
        Items already labeled by a person; never returned.
    n : int
        Batch size.
    strategy : {"margin", "least_confident", "random", "coverage", "suspects"}
        See the module docstring.
    graph : KnnGraph, optional
        Required for ``"coverage"``.
    suspicion : array-like, shape (n_items,), float, optional
        Required for ``"suspects"`` (``nblabel.quality.suspicion``; NaN = no given label).
    seed : int, optional
        Random seed for ``"random"`` (and for sampling centres in ``"coverage"``).

    Returns
    -------
    numpy.ndarray, shape (m,), int64
        Item indices, best first; ``m = min(n, unlabeled items)`` (fewer for ``"suspects"``, see above).

    """
    P = check_proba(P)
    n_items = P.shape[0]
    labeled = np.asarray(labeled)
    if labeled.shape != (n_items,) or labeled.dtype != bool:
        raise ValueError(
            f"labeled: expected a bool array of shape ({n_items},);"
            f" got dtype {labeled.dtype}, shape {labeled.shape}. "
            "Fix: pass verified >= 0."
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative integer batch size; got {n!r}. Fix: pass e.g. n=20.")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}; got {strategy!r}. Fix: pick one of those.")
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(~labeled)
    m = min(int(n), candidates.size)
    if m == 0:
        return np.empty(0, np.int64)
    total = P.sum(axis=1, keepdims=True)
    Pn = normalize_rows(P)
    if strategy == "random":
        return rng.choice(candidates, m, replace=False).astype(np.int64)
    if strategy == "least_confident":
        return _top_first(1.0 - Pn.max(axis=1), candidates, m).astype(np.int64)
    if strategy == "margin":
        top2 = -np.sort(-Pn, axis=1)[:, :2] if Pn.shape[1] >= 2 else np.hstack([Pn, np.zeros_like(Pn)])
        margin = np.where(total[:, 0] > 0, top2[:, 0] - top2[:, 1], 0.0)
        return _top_first(-margin, candidates, m).astype(np.int64)
    if strategy == "coverage":
        if not isinstance(graph, KnnGraph) or not hasattr(graph, "neighbors_") or graph.n_items_ != n_items:
            raise ValueError(
                f'strategy="coverage": expected graph= a KnnGraph fitted on the same {n_items} items;'
                f" got {graph!r}. "
                "Fix: pass graph=session.graph."
            )
        return _coverage(graph, labeled.copy(), m, rng)
    if suspicion is None:
        raise ValueError(
            'strategy="suspects": expected suspicion= scores; got None.'
            " Fix: pass quality.suspicion(P, given)."
        )
    susp = np.asarray(suspicion, dtype=np.float64)
    if susp.shape != (n_items,):
        raise ValueError(
            f"suspicion: expected shape ({n_items},); got {susp.shape}. Fix: one score per item."
        )
    return suspect_order(susp, candidates)[:m]
