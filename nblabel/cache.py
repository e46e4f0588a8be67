"""The side files of one journal: the embeddings, the kNN graph, the 2-D layout, the clusters, the reference.

Each sits next to the journal as ``<journal>-<suffix>`` (:func:`~nblabel.files.side_file`): the embeddings so
that :meth:`Session.open <nblabel.session.Session.open>` needs no encoder, the others named by a hash of what
they were computed from (:func:`~nblabel.files.cache_key`).  A side file is only a cache: one that is missing,
stale or damaged is recomputed and rewritten (:func:`~nblabel.files.atomic_write`), never trusted.
The *reference* is what review calibration starts from (:meth:`nblabel.scoring.Scorer._reference_for`): the
noise estimate, suspicion, class thresholds and likely other classes of the given labels before any review,
which a session reopened would otherwise propagate again: the given labels alone, and once per fold for
the held-out noise estimate (:mod:`nblabel.heldout`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nblabel._validation import check_embeddings
from nblabel.files import atomic_write, cache_key, save_npy, side_file

if TYPE_CHECKING:
    from nblabel.clusters import Clustering
    from nblabel.graph import KnnGraph
    from nblabel.quality import NoiseEstimate

__all__ = [
    "cached_clustering",
    "cached_graph",
    "cached_layout",
    "cached_reference",
    "load_saved_embeddings",
    "save_embeddings",
]


# ---------------------------------------------------------------------------------------------------
# The side files of one journal


def save_embeddings(journal: Path, X: np.ndarray) -> None:
    """Keep a copy of the embeddings beside the journal, unless a readable one of X's shape is there."""
    saved = side_file(journal, "embeddings.npy")
    if not _saved_embeddings_ok(saved, X):  # missing or damaged: rebuilt from the embeddings in use
        atomic_write(saved, lambda tmp: save_npy(tmp, X))


def _saved_embeddings_ok(path: Path, X: np.ndarray) -> bool:
    """Whether ``path`` is a readable .npy of X's shape and dtype (its header only: cheap at any n)."""
    try:
        saved = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return False
    return saved.shape == X.shape and saved.dtype == X.dtype


def load_saved_embeddings(journal: Path) -> np.ndarray:
    """Read back the embeddings kept beside ``journal`` (see :func:`save_embeddings`), checked."""
    path = side_file(journal, "embeddings.npy")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; expected the embeddings saved next to the journal. "
            "Fix: pass embeddings= (the same array the session was created with)."
        )
    try:
        # Memory-mapped: the session reads it a block at a time (graph build, fingerprint), never all at once.
        return check_embeddings(np.load(path, mmap_mode="r", allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"{path} is damaged ({type(exc).__name__}); expected the embeddings saved next to the journal. "
            "Fix: pass embeddings= (the array the session was created with); the file is rewritten from it."
        ) from None


def cached_graph(
    journal: Path, fingerprint: str, k: int, T: float | str, graph_kw: dict[str, Any], X: np.ndarray
) -> KnnGraph:
    """Load the kNN graph of ``X`` from its side file, else build it and save it there.

    The graph comes without its hnswlib index (:meth:`~nblabel.graph.KnnGraph.drop_index`): a session keeps
    ``X`` anyway, and the index's copy of it with its links is 400 MB at 1M × 64.
    """
    from nblabel.graph import KnnGraph

    cached = side_file(journal, f"graph-{cache_key(fingerprint, k, T, graph_kw)}.npz")
    if cached.is_file():
        try:
            graph = KnnGraph.load(cached, X=X)
        except (ValueError, OSError, KeyError):
            graph = None  # a stale or truncated cache is rebuilt below, never trusted
        if graph is not None:
            return graph
    graph = KnnGraph(k=k, T=T, **graph_kw).fit(X)
    atomic_write(cached, graph.save)
    graph.drop_index(X)
    return graph


def cached_layout(
    journal: Path,
    fingerprint: str,
    params: dict[str, Any],
    graph: KnnGraph,
    seed: int,
    umap_kwargs: dict[str, Any],
    compute: bool = True,
) -> np.ndarray | None:
    """Load the (n, 2) float32 UMAP layout of ``graph`` from its side file, else compute and save it.

    With ``compute=False`` a layout that is not cached yet gives None instead of being computed.
    """
    cached = side_file(journal, f"layout-{cache_key(fingerprint, params, seed, umap_kwargs)}.npy")
    layout = None
    if cached.is_file():
        try:
            layout = np.load(cached, allow_pickle=False)
        except (ValueError, OSError):
            layout = None  # a damaged cache is recomputed
    if layout is None or layout.shape != (graph.n_items_, 2):
        if not compute:
            return None
        from nblabel.layout import umap_layout

        layout = np.asarray(umap_layout(graph, seed=seed, **umap_kwargs), dtype=np.float32)
        atomic_write(cached, lambda tmp: save_npy(tmp, layout))
    return layout


def cached_clustering(
    journal: Path, fingerprint: str, params: dict[str, Any], graph: KnnGraph, resolution: float
) -> Clustering:
    """Load the clusters of ``graph`` at one resolution from their side file, else compute and save them."""
    from nblabel.clusters import Clustering, cluster

    cached = side_file(journal, f"clusters-{cache_key(fingerprint, params, resolution)}.npz")
    found = None
    if cached.is_file():
        try:
            found = Clustering.load(cached, graph.n_items_)
        except (ValueError, OSError, KeyError):
            found = None  # a damaged or stale cache is recomputed
    if found is None:
        found = cluster(graph, resolution, t=params["t"])
        atomic_write(cached, found.save)
    return found


#: Bump when what :func:`cached_reference` stores, or how it is computed, changes: older files are then stale.
REFERENCE_FORMAT = 7


def cached_reference(
    journal: Path,
    fingerprint: str,
    params: dict[str, Any],
    given: np.ndarray,
    n_classes: int,
    compute: Callable[[], tuple[NoiseEstimate, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[NoiseEstimate, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the pre-review reference of ``given`` from its side file, else ``compute()`` it and save it.

    The file is named by the embeddings' fingerprint, the session's parameters (graph and propagation), the
    class count and a hash of the given labels, and holds that hash and the class count again, so a file
    for other labels is never read as this one; one that is damaged or does not hold a valid suspicion
    (shape (n,), float32, NaN exactly where there is no given label, else in [0, 1]), valid thresholds
    (shape (n_classes,), float32, positive), valid likely classes (shape (n,), int32, -1 or a class) and
    valid pair offsets (shape (n_classes, n_classes), float32, finite) is recomputed.

    Parameters
    ----------
    journal : Path
        The session's journal.
    fingerprint : str
        Of the embeddings.
    params : dict
        The session's parameters (JSON-able).
    given : numpy.ndarray, shape (n,), int
        Given labels, -1 = none.
    n_classes : int
        Number of classes.
    compute : callable
        ``compute() -> (estimate, suspicion, thresholds, alternative, offsets)``, the reference itself.

    Returns
    -------
    estimate : NoiseEstimate
    suspicion : numpy.ndarray, shape (n,), float32
    thresholds : numpy.ndarray, shape (n_classes,), float32
    alternative : numpy.ndarray, shape (n,), int32
    offsets : numpy.ndarray, shape (n_classes, n_classes), float32

    """
    from nblabel.quality import NoiseEstimate

    digest = hashlib.blake2b(np.ascontiguousarray(given, "<i8").tobytes(), digest_size=16).hexdigest()
    key = cache_key(fingerprint, params, int(n_classes), digest, REFERENCE_FORMAT)
    cached = side_file(journal, f"reference-{key}.npz")
    found = None
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                ok = str(z["given"]) == digest and int(z["n_classes"]) == n_classes
                estimate = NoiseEstimate(**json.loads(str(z["estimate"])))
                found = estimate, z["suspicion"], z["thresholds"], z["alternative"], z["offsets"]
        except (ValueError, OSError, KeyError, TypeError, EOFError):
            found = None  # damaged or from another version: recomputed below
        if found is not None and ok and _reference_ok(*found[1:], given, n_classes):
            return found
    estimate, susp, thresholds, alternative, offsets = compute()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                given=np.array(digest),
                n_classes=np.asarray(int(n_classes)),
                estimate=np.array(json.dumps(dataclasses.asdict(estimate))),
                suspicion=np.asarray(susp, np.float32),
                thresholds=np.asarray(thresholds, np.float32),
                alternative=np.asarray(alternative, np.int32),
                offsets=np.asarray(offsets, np.float32),
            )

    atomic_write(cached, write)
    return estimate, susp, thresholds, alternative, offsets


def _reference_ok(
    susp: np.ndarray,
    thresholds: np.ndarray,
    alternative: np.ndarray,
    offsets: np.ndarray,
    given: np.ndarray,
    n_classes: int,
) -> bool:
    if susp.dtype != np.float32 or susp.shape != given.shape:
        return False
    if thresholds.dtype != np.float32 or thresholds.shape != (n_classes,) or not (thresholds > 0).all():
        return False
    if alternative.dtype != np.int32 or alternative.shape != given.shape:
        return False
    if not ((alternative >= -1) & (alternative < n_classes)).all():
        return False
    if (
        offsets.dtype != np.float32
        or offsets.shape != (n_classes, n_classes)
        or not np.isfinite(offsets).all()
    ):
        return False
    none = np.isnan(susp)
    return bool(np.array_equal(none, given < 0) and ((susp[~none] >= 0) & (susp[~none] <= 1)).all())
