"""Files nblabel keeps on disk besides the journal: how they are named, written and read back.

- The **cache folder** (:func:`cache_folder`): ``$NBLABEL_CACHE/<kind>``, else
  ``$XDG_CACHE_HOME/nblabel/<kind>``, else ``~/.cache/nblabel/<kind>``; used for embeddings
  (:mod:`nblabel.embed`) and trained datasets (:mod:`nblabel.datasets`).
- **Side files** (:func:`side_file`): what belongs to one journal sits next to it as ``<journal>-<suffix>``:
  a copy of the embeddings (so :meth:`Session.open <nblabel.session.Session.open>` needs no encoder), the kNN
  graph, the 2-D layout and the clusters, each named by a hash of what it was computed from
  (:func:`cache_key`).  A side file is only a cache: one that is missing, stale or damaged is recomputed
  and rewritten, never trusted.
- **One way to write a file** (:func:`atomic_write`): under a temporary name beside it, then moved into
  place in one step, so a reader (or a crash) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nblabel._blocks import row_blocks
from nblabel._validation import check_embeddings

if TYPE_CHECKING:
    from nblabel.clusters import Clustering
    from nblabel.graph import KnnGraph

__all__ = [
    "atomic_write",
    "cache_folder",
    "cache_key",
    "cached_clustering",
    "cached_graph",
    "cached_layout",
    "load_saved_embeddings",
    "place_new",
    "save_embeddings",
    "save_npy",
    "side_file",
    "siblings",
]


def cache_folder(kind: str) -> Path:
    """Folder for one kind of cached file: ``$NBLABEL_CACHE/<kind>`` or ``~/.cache/nblabel/<kind>``."""
    base = os.environ.get("NBLABEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nblabel"
    )
    return Path(base) / kind


def side_file(journal: Path, suffix: str) -> Path:
    """Path of a file that belongs to ``journal``: ``<journal>-<suffix>`` (covered by ``*.nblabel.db-*``)."""
    return journal.with_name(f"{journal.name}-{suffix}")


def siblings(path: Path) -> set[str]:
    """Names of the journal and the files that belong to it (``<journal>``, ``<journal>-*``)."""
    if not path.parent.is_dir():
        return set()
    return {
        p.name for p in path.parent.iterdir() if p.name == path.name or p.name.startswith(f"{path.name}-")
    }


def cache_key(*parts: Any) -> str:
    """12 hex digits naming what a side file was computed from (JSON-able ``parts``)."""
    return hashlib.blake2b(json.dumps(list(parts), sort_keys=True).encode(), digest_size=6).hexdigest()


def place_new(tmp: Path, path: Path, clash: str) -> None:
    """Move the finished file ``tmp`` to ``path`` unless ``path`` exists: then ``FileExistsError(clash)``.

    A hard link fails if ``path`` appeared meanwhile, so a file someone else just made is never
    overwritten; filesystems without hard links fall back to a rename after one more check.  ``tmp`` stays
    (the caller removes it).
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(clash) from None
    except OSError:
        if path.exists():
            raise FileExistsError(clash) from None
        os.rename(tmp, path)


def atomic_write(path: Path, write: Callable[[Path], object], *, replace: bool = True) -> None:
    """Write a file under a temporary name beside ``path`` and move it into place in one step.

    Parameters
    ----------
    path : Path
        Where the file ends up.
    write : callable
        ``write(tmp)`` writes the whole file at ``tmp``.
    replace : bool
        With ``False`` an existing ``path`` (even one that appeared meanwhile) is never overwritten:
        ``FileExistsError``.  A replaced file's permission bits are kept.

    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        if not replace:
            place_new(
                tmp,
                path,
                f"{path} appeared while it was being written; nothing was overwritten. "
                "Fix: pass overwrite=True to replace it, or choose another path.",
            )
            return
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write one array as ``.npy`` at exactly ``path`` (``np.save`` on a name would append ``.npy``).

    A C-contiguous array is written a block of rows at a time (:func:`nblabel._blocks.row_blocks`), so a
    memory-mapped one is copied without all of it becoming resident.
    """
    with open(path, "wb") as fh:
        if array.ndim == 0 or not array.flags.c_contiguous or array.dtype.hasobject:
            np.save(fh, array, allow_pickle=False)
            return
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        for _, block in row_blocks(array):
            fh.write(block.data)


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
    """Load the kNN graph of ``X`` from its side file, else build it and save it there."""
    from nblabel.graph import KnnGraph

    cached = side_file(journal, f"graph-{cache_key(fingerprint, k, T, graph_kw)}.npz")
    if cached.is_file():
        try:
            graph = KnnGraph.load(cached)
        except (ValueError, OSError, KeyError):
            graph = None  # a stale or truncated cache is rebuilt below, never trusted
        if graph is not None and graph.n_items_ == X.shape[0]:
            return graph
    graph = KnnGraph(k=k, T=T, **graph_kw).fit(X)
    atomic_write(cached, graph.save)
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
