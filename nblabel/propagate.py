"""Label propagation on the kNN graph (paper Eq. 3) with a fast, bounded update after a label changes.

Eq. 3 for a fixed number of steps ``t``::

    Y~(s+1) = Wn @ Y(s);   Y(s+1) = Y~(s+1) with the clamped rows reset to Y0

Seeds: *verified* labels are one-hot and clamped; *given* (untrusted) labels are one-hot rows of ``Y0``
that only initialise the iteration. For a fixed clamped set the iteration is linear in ``Y0``; when
verified labels change, the difference ``Delta(s) = Y'(s) - Y(s)`` between the new and the old
trajectory obeys

    Delta(s+1) = P_u' Wn Delta(s)          on rows whose labels did not change,

and is set on the changed rows from their own old values (a newly clamped row jumps to its seed, a row
that is no longer clamped takes its old pre-clamp value plus the change). ``Delta`` starts on the changed
rows and its support grows one hop per step, so :meth:`Propagator.update` propagates only those rows (CSR
row slices) and drops, at each step, the smallest rows of ``Delta`` whose total Frobenius norm is at most
``eps``. Since ``||P_u' Wn||_2 <= rho`` (``rho = 1`` for the symmetric graph, whose ``Wn`` has spectral
norm 1), the result differs from a full rerun by at most ``sum_s rho^(t-1-s) * dropped_s <= (t - 1) * eps``
in Frobenius norm (so in every entry). Errors of successive updates add up; the running bound is kept in
``error_bound_``, and a full rerun resets it when it would exceed ``max_error``.

Memory: the old trajectory is needed only on the changed rows, so it is not stored. The iterate ``Y(s)``
is kept every ``checkpoint_every`` steps (float32, ``(t - 1) // checkpoint_every`` arrays of ``n * c``:
2 at the default ``t = 20, checkpoint_every = 7``, against 20 for the whole trajectory), and the steps in
between are recomputed for the changed rows from the checkpoint before them on the rows within
``checkpoint_every`` hops of them. Recomputing from a checkpoint is the same iteration, so the bound above
holds unchanged: the checkpoints carry the earlier updates' truncations exactly as a full stored
trajectory would, and the steps in between follow from them by the exact recursion. At n = 1M this stores
80 MB instead of 800 MB with 10 classes, 0.8 GB instead of 8 GB with 100; see
``bench/bench_scale_memory.py``. The recomputation costs a click 0-30 % more CPU than reading a stored
trajectory (blobs at 100k: 15 / 20 / 32 ms median every 5 / 7 / 10 steps, against 17 ms stored).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from nblabel._validation import check_labels, check_proba
from nblabel.graph import KnnGraph

#: Non-zeros per thread below which a thread pool costs more than it saves.
PARALLEL_MIN_NNZ = 200_000
#: Classes per block of :func:`propagate` and :func:`propagate_labels` (32 MB per work array at 1M items).
COLUMN_BLOCK = 8


def _check_t(t: object) -> int:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(
            f"t: expected a positive integer number of LP steps; got {t!r}. Fix: use the default t=20."
        )
    return int(t)


def propagate(
    Wn: sp.spmatrix | sp.sparray,
    Y0: np.ndarray,
    clamped: np.ndarray,
    t: int = 20,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    """Run label propagation (paper Eq. 3) for ``t`` steps.

    The classes run a block of :data:`COLUMN_BLOCK` columns at a time (each column of Eq. 3 is its own
    iteration, and a block gives the same bits as all columns at once), so the work arrays are two
    ``(n, COLUMN_BLOCK)`` arrays beside the result, not two more ``(n, c)`` ones.

    Parameters
    ----------
    Wn : scipy sparse matrix, shape (n, n)
        Normalised affinity ``D^-1/2 W D^-1/2`` (``KnnGraph.normalized_``).
    Y0 : numpy.ndarray, shape (n, c)
        Initial soft labels (one-hot rows for seeds, zeros elsewhere).
    clamped : numpy.ndarray, shape (n,), bool
        Rows reset to ``Y0`` after every step.
    t : int
        Number of steps.
    num_threads : int, optional
        Threads for the sparse products on large graphs; default all cores available.

    Returns
    -------
    numpy.ndarray, shape (n, c), float32

    """
    Y0 = np.asarray(Y0)
    n = Wn.shape[0]
    if Wn.shape != (n, n) or Y0.ndim != 2 or Y0.shape[0] != n:
        raise ValueError(
            "propagate: expected Wn of shape (n, n) and Y0 of shape (n, c);"
            f" got Wn {Wn.shape} and Y0 {Y0.shape}. "
            "Fix: build Y0 with one row per graph item."
        )
    clamped = np.asarray(clamped, dtype=bool)
    if clamped.shape != (n,):
        raise ValueError(
            f"clamped: expected a bool array of shape ({n},); got shape {clamped.shape}."
            " Fix: one flag per item."
        )
    blocks = _run_blocks(
        Wn, Y0.shape[1], lambda lo, hi: np.array(Y0[:, lo:hi], np.float32), clamped, _check_t(t), num_threads
    )
    return _gather(n, Y0.shape[1], blocks)


def propagate_labels(
    Wn: sp.spmatrix | sp.sparray,
    labels: np.ndarray,
    n_classes: int,
    t: int = 20,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    """Propagate hard labels with nothing clamped: :func:`propagate` of their one-hot rows, bit for bit.

    The one-hot seeds are made a block of classes at a time (:func:`label_blocks`), so the memory is the
    result and two ``(n, COLUMN_BLOCK)`` arrays (at 1M items and 100 classes, 0.46 GB instead of 1.6 GB).

    Parameters
    ----------
    Wn : scipy sparse matrix, shape (n, n)
        Normalised affinity.
    labels : numpy.ndarray, shape (n,), int
        Class of each seed row, -1 for none.
    n_classes : int
        Columns of the result.
    t : int
        Number of steps.
    num_threads : int, optional
        As in :func:`propagate`.

    Returns
    -------
    numpy.ndarray, shape (n, n_classes), float32

    """
    blocks = label_blocks(Wn, labels, n_classes, t, num_threads=num_threads)
    return _gather(Wn.shape[0], int(n_classes), blocks)


def label_blocks(
    Wn: sp.spmatrix | sp.sparray,
    labels: np.ndarray,
    n_classes: int,
    t: int = 20,
    *,
    num_threads: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Return :func:`propagate_labels` a block of classes at a time, for a caller that reduces each block.

    Parameters
    ----------
    Wn, labels, n_classes, t, num_threads
        As in :func:`propagate_labels` (checked here, before the first block).

    Returns
    -------
    iterator of (lo, hi, Y)
        Classes ``lo:hi`` and their columns of the result, ``Y`` of shape (n, hi - lo), float32 (a new
        array each time).

    """
    n = Wn.shape[0]
    labels = check_labels(labels, n, n_classes, name="labels")
    rows = np.flatnonzero(labels >= 0)
    cls = labels[rows]

    def seeds(lo: int, hi: int) -> np.ndarray:
        Y = np.zeros((n, hi - lo), np.float32)
        mine = (cls >= lo) & (cls < hi)
        Y[rows[mine], cls[mine] - lo] = 1.0
        return Y

    return _run_blocks(Wn, int(n_classes), seeds, np.zeros(n, bool), _check_t(t), num_threads)


def _run_blocks(
    Wn: sp.spmatrix | sp.sparray,
    c: int,
    seeds: Callable[[int, int], np.ndarray],
    clamped: np.ndarray,
    t: int,
    num_threads: int | None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Eq. 3 on ``seeds(lo, hi)`` (a new float32 ``(n, hi - lo)`` array) for each block of columns."""
    Wn = sp.csr_matrix(Wn, dtype=np.float32)  # shares Wn's arrays when it is float32 CSR already
    clamped_idx = np.flatnonzero(clamped)
    for lo in range(0, c, COLUMN_BLOCK):
        hi = min(lo + COLUMN_BLOCK, c)
        yield lo, hi, _run(Wn, seeds(lo, hi), clamped_idx, t, {}, num_threads)


def _gather(n: int, c: int, blocks: Iterator[tuple[int, int, np.ndarray]]) -> np.ndarray:
    out = np.empty((n, c), np.float32)
    for lo, hi, Y in blocks:
        out[:, lo:hi] = Y
    return out


def normalize_rows(scores: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Scale each row of non-negative class scores to sum to 1; all-zero rows (no label reached) stay zero.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, c)
        Non-negative class scores (e.g. propagation results before normalisation).
    out : numpy.ndarray, shape (n, c), optional
        Where to write the result; ``out=scores`` normalises in place (same values, no second array).

    Returns
    -------
    numpy.ndarray, shape (n, c), same dtype
        A new array, or ``out``.

    """
    total = scores.sum(axis=1, keepdims=True)
    if out is None:
        out = np.zeros_like(scores)
    else:
        out[~(total[:, 0] > 0)] = 0.0  # rows that are all zero stay zero (already so when out is scores)
    return np.divide(scores, total, out=out, where=total > 0)


def _n_threads(num_threads: int | None) -> int:
    if num_threads is None or num_threads < 1:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return int(num_threads)


def _row_blocks(A: sp.csr_matrix, n_blocks: int) -> list[tuple[int, int]]:
    """Split rows into ``n_blocks`` contiguous ranges holding about the same number of non-zeros."""
    cuts = np.searchsorted(A.indptr, np.linspace(0, A.nnz, n_blocks + 1)[1:-1])
    bounds = np.unique(np.r_[0, cuts, A.shape[0]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _row_view(A: sp.csr_matrix, lo: int, hi: int) -> sp.csr_matrix:
    """Rows ``lo:hi`` of ``A`` sharing its data and indices (``A[lo:hi]`` copies them: 120 MB at 1M items)."""
    a, b = int(A.indptr[lo]), int(A.indptr[hi])
    return sp.csr_matrix(
        (A.data[a:b], A.indices[a:b], A.indptr[lo : hi + 1] - a), shape=(hi - lo, A.shape[1]), copy=False
    )


def _run(
    Wn: sp.csr_matrix,
    Y0: np.ndarray,
    clamped_idx: np.ndarray,
    t: int,
    keep: dict[int, np.ndarray],
    num_threads: int | None = None,
) -> np.ndarray:
    """Eq. 3 loop, working in ``Y0`` (which it overwrites); copies ``Y(s)`` into ``keep[s]`` for each key s.

    scipy's sparse-dense product runs on one core but releases the GIL, so on large graphs the rows are
    split into blocks multiplied on a thread pool (measured 1.8-2.3x faster on 2 cores at n = 200k). The
    blocks use the same kernel on the same rows, so the result is bit-identical to ``Wn @ Y``.
    """
    threads = min(_n_threads(num_threads), max(1, Wn.nnz // PARALLEL_MIN_NNZ))
    seeds = Y0[clamped_idx]
    Y = Y0
    if threads == 1:
        for s in range(1, t + 1):
            Y = Wn @ Y
            Y[clamped_idx] = seeds
            if s in keep:
                keep[s][...] = Y
        return Y
    blocks = [(lo, hi, _row_view(Wn, lo, hi)) for lo, hi in _row_blocks(Wn, threads)]
    out = np.empty_like(Y)
    with ThreadPoolExecutor(len(blocks)) as pool:

        def product(block: tuple[int, int, sp.csr_matrix]) -> None:
            lo, hi, rows = block
            out[lo:hi] = rows @ Y

        for s in range(1, t + 1):
            list(pool.map(product, blocks))
            Y, out = out, Y
            Y[clamped_idx] = seeds
            if s in keep:
                keep[s][...] = Y
    return Y


def _one_hot_rows(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes), np.float32)
    has = labels >= 0
    out[np.flatnonzero(has), labels[has]] = 1.0
    return out


class Propagator:
    """Label propagation on a fitted :class:`~nblabel.graph.KnnGraph` with cheap updates for verified labels.

    Parameters
    ----------
    graph : KnnGraph
        A fitted graph.
    n_classes : int
        Number of classes (can grow with :meth:`add_class`).
    t : int
        LP steps (paper: 20).
    eps : float
        Per-step truncation budget of :meth:`update` (Frobenius norm of the dropped part of ``Delta``).
    max_error : float
        Largest accumulated error bound tolerated before :meth:`update` falls back to a full rerun.
    max_work : float
        Budget of :meth:`update` as a fraction of a full rerun's row work (``t * n`` rows): once the rows it
        has touched, plus the current support times the steps left, exceed it, a full rerun is done instead.
        A row on the sparse path costs about 5-7x a row of the full sparse product (measured at n = 100k and
        10k), so the default 0.15 keeps the sparse path only where it is the cheaper one.
    checkpoint_every : int
        Keep ``Y(s)`` every this many steps (see the module docstring). Larger: less memory
        (``(t - 1) // checkpoint_every`` arrays of ``n * c`` float32), but each update recomputes the old
        values of the changed rows on a ball of that many hops, which grows fast on high-dimensional data.

    Attributes
    ----------
    result_ : numpy.ndarray, shape (n, c), float32
        Raw LP output ``Y(t)``.
    proba_ : numpy.ndarray, shape (n, c), float32
        ``result_`` with rows scaled to sum to 1; all-zero rows (no seed reached them) stay zero.
    given_, verified_ : numpy.ndarray, shape (n,), int64
        The labels in force (-1 = none).
    error_bound_ : float
        Upper bound on the Frobenius distance between ``result_`` and a full rerun with the same labels.
    last_update_ : dict
        How the last :meth:`update` ran: ``mode`` ("sparse", "full" or "none"), ``support`` (most rows
        touched in one step), ``bound`` (this update's share of ``error_bound_``) and ``rows`` (int64 array
        of the rows whose ``result_`` / ``proba_`` may have changed; every row after a full rerun), so
        that callers can refresh what they derive from ``proba_`` on those rows only.

    """

    # Fitted attributes, set by fit(); declared here so a type checker knows them (sklearn style).
    result_: np.ndarray
    proba_: np.ndarray

    def __init__(
        self,
        graph: KnnGraph,
        n_classes: int,
        t: int = 20,
        *,
        eps: float = 2e-5,
        max_error: float = 1e-2,
        max_work: float = 0.15,
        checkpoint_every: int = 7,
    ) -> None:
        if not isinstance(graph, KnnGraph) or not hasattr(graph, "normalized_"):
            raise ValueError(
                f"graph: expected a fitted KnnGraph; got {type(graph).__name__}."
                " Fix: KnnGraph().fit(embeddings)."
            )
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 0:
            raise ValueError(
                f"n_classes: expected an integer >= 0; got {n_classes!r}. Fix: pass len(classes)."
            )
        self.graph = graph
        self.n_classes = int(n_classes)
        self.t = _check_t(t)
        self.eps = float(eps)
        self.max_error = float(max_error)
        self.max_work = float(max_work)
        if (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, (int, np.integer))
            or (checkpoint_every < 1)
        ):
            raise ValueError(
                f"checkpoint_every: expected a positive integer number of steps; got {checkpoint_every!r}."
                " Fix: keep the default 7."
            )
        self.checkpoint_every = int(checkpoint_every)

    # -- full run -------------------------------------------------------------------------------------------
    def fit(self, given: np.ndarray | None = None, verified: np.ndarray | None = None) -> Propagator:
        """Run LP from scratch.

        Parameters
        ----------
        given : array-like, shape (n,), int, optional
            Untrusted labels (-1 = none); they initialise their rows.
        verified : array-like, shape (n,), int, optional
            Labels confirmed by a person (-1 = none); clamped. They override ``given`` on the same row.

        Returns
        -------
        Propagator
            ``self``.

        """
        n = self.graph.n_items_
        given = np.full(n, -1) if given is None else given
        verified = np.full(n, -1) if verified is None else verified
        self.given_ = check_labels(given, n, self.n_classes, name="given").copy()
        self.verified_ = check_labels(verified, n, self.n_classes, name="verified").copy()
        self._Wn = sp.csr_matrix(self.graph.normalized_, dtype=np.float32)
        # Delta spreads along the columns of Wn: keep Wn^T in CSR to slice them as rows.
        self._WnT = self._Wn if self.graph.symmetric else sp.csr_matrix(self._Wn.T)
        self._rho = 1.0 if self.graph.symmetric else _spectral_norm_bound(self._Wn)
        # Scratch for _unique_inverse: _mark is all False between calls, _slot may hold anything.
        self._mark = np.zeros(n, bool)
        self._slot = np.zeros(n, np.int64)
        self._full()
        return self

    def _seed_rows(self, idx: np.ndarray) -> np.ndarray:
        lab = np.where(self.verified_[idx] >= 0, self.verified_[idx], self.given_[idx])
        return _one_hot_rows(lab, self.n_classes)

    def _checkpoint_steps(self) -> list[int]:
        """Return the kept steps: every ``checkpoint_every`` before ``t`` (``Y(t)`` is ``result_``)."""
        return list(range(self.checkpoint_every, self.t, self.checkpoint_every))

    def _full(self) -> None:
        n, c = self.graph.n_items_, self.n_classes
        steps = self._checkpoint_steps()
        old = getattr(self, "_ckpt", [])
        # Reuse the checkpoint arrays and drop the old outputs before the run: at n = 1M, c = 100 each
        # (n, c) array is 400 MB, and holding the old ones while the new ones are computed doubles the peak.
        self._ckpt = old if [a.shape for a in old] == [(n, c)] * len(steps) else []
        del old
        for name in ("result_", "proba_"):
            self.__dict__.pop(name, None)
        if not self._ckpt:
            self._ckpt = [np.empty((n, c), np.float32) for _ in steps]
        clamped = np.flatnonzero(self.verified_ >= 0)
        keep = dict(zip(steps, self._ckpt, strict=True))
        self.result_ = _run(
            self._Wn, self._seed_rows(np.arange(n)), clamped, self.t, keep, self.graph.num_threads
        )
        self.error_bound_ = 0.0
        self._refresh()

    def _refresh(self) -> None:
        self.proba_ = normalize_rows(self.result_)

    # -- outputs --------------------------------------------------------------------------------------------
    def predict(self) -> np.ndarray:
        """Most likely class per item.

        Returns
        -------
        numpy.ndarray, shape (n,), int64
            Class index, or -1 where no seed reached the item.

        """
        if self.n_classes == 0:
            return np.full(self.graph.n_items_, -1, np.int64)
        pred = self.proba_.argmax(axis=1).astype(np.int64)
        pred[self.proba_.max(axis=1) <= 0] = -1
        return pred

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class, shape (n,), float32; 0 where no seed reached the item."""
        if self.n_classes == 0:
            return np.zeros(self.graph.n_items_, np.float32)
        return self.proba_.max(axis=1)

    def add_class(self) -> int:
        """Append an empty class; nothing propagates into it until it gets a label.

        LP treats every class column independently, so a new zero column is exact without a rerun.

        Returns
        -------
        int
            Index of the new class.

        """
        self.n_classes += 1
        if hasattr(self, "result_"):
            pad = ((0, 0), (0, 1))
            # One array at a time, so the peak grows by one (n, c) array, not by all of them.
            for j in range(len(self._ckpt)):
                self._ckpt[j] = np.pad(self._ckpt[j], pad)
            self.result_ = np.pad(self.result_, pad)
            self._refresh()
        return self.n_classes - 1

    # -- fast update ----------------------------------------------------------------------------------------
    def update(self, indices: np.ndarray, verified_labels: np.ndarray | int) -> Propagator:
        """Set, change or remove (-1) verified labels and update the result without a full rerun.

        The result stays within ``error_bound_`` (Frobenius norm) of a full rerun; see the module docstring.

        Parameters
        ----------
        indices : array-like, shape (m,), int
            Items whose verified label changes. A repeated index takes its last label.
        verified_labels : array-like, shape (m,), int, or int
            New verified labels (-1 = remove).

        Returns
        -------
        Propagator
            ``self``.

        """
        if not hasattr(self, "result_"):
            raise ValueError(
                "Propagator: expected a fitted propagator; got an unfitted one. Fix: call fit() first."
            )
        n = self.graph.n_items_
        idx = np.atleast_1d(np.asarray(indices))
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(
                f"indices: expected a 1-D array of item indices; got {idx!r}. Fix: pass integer positions."
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(
                f"indices: expected values in 0..{n - 1}; got {idx.min()}..{idx.max()}."
                " Fix: pass item positions."
            )
        lab = np.broadcast_to(np.asarray(verified_labels), idx.shape)
        lab = check_labels(lab, idx.size, self.n_classes, name="verified_labels")
        # Keep the last occurrence of a repeated index, as if the clicks were applied in order.
        _, last = np.unique(idx[::-1], return_index=True)
        keep = idx.size - 1 - last
        idx, lab = idx[keep].astype(np.int64), lab[keep]
        changed = self.verified_[idx] != lab
        idx, lab = idx[changed], lab[changed]
        if idx.size == 0:
            self.last_update_ = {"mode": "none", "support": 0, "bound": 0.0, "rows": np.zeros(0, np.int64)}
            return self
        # The old values of the changed rows come from the old state: read them before it changes.
        old_y0 = self._seed_rows(idx)
        budget = self.max_work * self.t * n
        history = self._old_values(idx, budget)
        old_clamped = self.verified_[idx] >= 0
        self.verified_[idx] = lab
        if history is None or not self._sparse_update(idx, old_clamped, old_y0, *history, budget):
            self._full()
            self.last_update_ = {"mode": "full", "support": n, "bound": 0.0, "rows": np.arange(n)}
        return self

    def _ball(self, rows: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows within ``radius`` hops of ``rows`` along ``Wn``'s rows, ordered by hop count.

        Returns
        -------
        ball : numpy.ndarray, shape (b,), int64
            ``rows`` first, then the rows one hop away, and so on.
        sizes : numpy.ndarray, shape (radius + 1,), int64
            ``ball[:sizes[r]]`` are the rows within ``r`` hops.

        """
        mark = self._mark
        parts, sizes, frontier = [rows], [rows.size], rows
        mark[rows] = True
        for _ in range(radius):
            cols = self._Wn[frontier].indices
            new = np.unique(cols[~mark[cols]])
            mark[new] = True
            parts.append(new)
            sizes.append(sizes[-1] + new.size)
            frontier = new
        ball = np.concatenate(parts).astype(np.int64)
        mark[ball] = False  # leave the scratch clean for the next call
        return ball, np.asarray(sizes, np.int64)

    def _old_values(self, changed: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Old pre- and post-clamp values of the changed rows at every step, from the checkpoints.

        Between two checkpoints ``s0 < s1`` the iterate on the changed rows depends on ``Y(s0)`` only
        within ``s1 - s0`` hops: rerun Eq. 3 there, on a shrinking set of rows (those within ``s1 - s0 - r``
        hops at step ``s0 + r``, whose inputs are all known), starting from the checkpoint. At the kept
        steps the post-clamp value is read back instead of recomputed, since the kept arrays (and
        ``result_``) carry the earlier updates' truncation and the update must continue from them.

        Returns
        -------
        pre, post : numpy.ndarray, shape (t, m, c), float32
            ``Wn @ Y(s - 1)`` and ``Y(s)`` on the changed rows, for ``s = 1 .. t``.
        work : int
            Rows multiplied, for the update's budget; None if that already exceeds ``budget``.

        """
        t, c, m = self.t, self.n_classes, changed.size
        starts = [0, *self._checkpoint_steps()]
        ends = [*starts[1:], t]
        radius = max(e - s for s, e in zip(starts, ends, strict=True))
        ball, sizes = self._ball(changed, radius)
        work = int(sizes[:-1].sum()) * len(starts)
        if work > budget:
            return None
        # Rows within radius - 1 hops, with their columns renumbered into the ball (all of them lie in it).
        self._slot[ball] = np.arange(ball.size)
        rows = self._Wn[ball[: sizes[-2]]]
        sub = sp.csr_matrix(
            (rows.data, self._slot[rows.indices], rows.indptr), shape=(rows.shape[0], ball.size), copy=False
        )
        prefixes = [sub[: sizes[r]] for r in range(radius)]
        clamped = np.flatnonzero(self.verified_[ball] >= 0)
        seeds = self._seed_rows(ball[clamped])
        pre = np.empty((t, m, c), np.float32)
        post = np.empty((t, m, c), np.float32)
        for j, (s0, s1) in enumerate(zip(starts, ends, strict=True)):
            # Y(s0) on the ball: the seeds at s0 = 0, else the checkpoint.
            Y = self._seed_rows(ball) if s0 == 0 else np.take(self._ckpt[j - 1], ball, axis=0)
            for s in range(s0 + 1, s1 + 1):
                r = s1 - s  # rows within r hops are exact at step s
                Y[: sizes[r]] = prefixes[r] @ Y
                pre[s - 1] = Y[:m]
                Y[clamped] = seeds
                post[s - 1] = Y[:m]
            kept = self._ckpt[j] if s1 < t else self.result_
            post[s1 - 1] = kept[changed]
        return pre, post, work

    def _sparse_update(
        self,
        changed: np.ndarray,
        old_clamped: np.ndarray,
        old_y0: np.ndarray,
        old_pre: np.ndarray,
        old_post: np.ndarray,
        work: int,
        budget: float,
    ) -> bool:
        """Apply the Delta recursion; return False (state untouched) if a full rerun is the better choice."""
        t = self.t
        new_clamped = self.verified_[changed] >= 0
        released = old_clamped & ~new_clamped  # clamped before, free now
        new_y0 = self._seed_rows(changed)
        kept_at = {s: j for j, s in enumerate(self._checkpoint_steps())}
        # Checkpoint rows to write at the end; the kept state is only modified once the update is committed.
        writes: list[tuple[int, np.ndarray, np.ndarray]] = []
        S, D = changed, new_y0 - old_y0  # support and Delta(0) on it
        dropped_bound = 0.0
        support_max = changed.size
        for s in range(t):
            # The CSR rows of Wn^T for the support (scipy's row indexing runs in C: ~4x faster than gathering
            # them with numpy at a 10k-row support, ~20 us slower on a tiny one).
            rows = self._WnT[S]
            total = rows.nnz
            U, inv = self._unique_inverse(np.concatenate([rows.indices, changed]))
            work += U.size
            if work + U.size * (t - 1 - s) > budget:
                return False
            support_max = max(support_max, U.size)
            # Change of the pre-clamp values Wn @ Y on rows U: sum of Wn[u, j] * Delta[j] over the support.
            # The gathered rows with columns renumbered into U form a CSR block (support x U); its transpose
            # times Delta is one compiled product, ~10x faster than a weighted bincount per class.
            block = sp.csr_matrix((rows.data, inv[:total], rows.indptr), shape=(S.size, U.size), copy=False)
            Dn = np.asarray(block.T @ D, dtype=np.float32)
            in_i = inv[total:]  # positions of the changed rows inside U
            # Rows clamped before and after keep their seed; the changed rows follow their own old values.
            Dn[self.verified_[U] >= 0] = 0.0
            Dn[in_i[released]] += old_pre[s][released] - old_y0[released]
            Dn[in_i[new_clamped]] = new_y0[new_clamped] - old_post[s][new_clamped]
            if s + 1 in kept_at:
                writes.append((kept_at[s + 1], U, Dn.copy()))
            if s == t - 1:
                break
            # Truncate: drop the smallest rows whose norms add up (in quadrature) to at most eps.
            sq = np.einsum("ij,ij->i", Dn, Dn)
            # Only rows with sq <= eps^2 can be among them: sort those, not the whole support.
            small = np.flatnonzero(sq <= self.eps**2)
            order = small[np.argsort(sq[small])]
            csum = np.cumsum(sq[order])
            n_drop = int(np.searchsorted(csum, self.eps**2, side="right"))
            kept = np.ones(U.size, bool)
            kept[order[:n_drop]] = False
            keep = np.flatnonzero(kept)  # in U's order, without a second sort
            if n_drop:
                dropped_bound += float(np.sqrt(csum[n_drop - 1])) * self._rho ** (t - 1 - s)
            S, D = U[keep], Dn[keep]
        if self.error_bound_ + dropped_bound > self.max_error:
            return False
        seeded = changed[new_clamped]
        for j, Uj, Dj in writes:
            self._ckpt[j][Uj] += Dj
            self._ckpt[j][seeded] = new_y0[new_clamped]  # exactly the seed, not old value + (seed - old)
        # The exact values are >= 0 (Wn and Y0 are); float32 cancellation when a label is replaced can
        # leave -1e-9. Clipping projects onto the non-negative orthant, so it only moves closer to the
        # exact run.
        self.result_[U] = np.maximum(self.result_[U] + Dn, 0.0)
        self.result_[seeded] = new_y0[new_clamped]
        self.error_bound_ += dropped_bound
        self._refresh_rows(U)
        self.last_update_ = {
            "mode": "sparse",
            "support": int(support_max),
            "bound": dropped_bound,
            "rows": U.astype(np.int64),
        }
        return True

    def _unique_inverse(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``np.unique(cols, return_inverse=True)`` without a sort, using two scratch arrays of length n.

        Sorted ``U`` keeps the gathers from the (n, c) arrays in memory order.
        """
        self._mark[cols] = True
        U = np.flatnonzero(self._mark)
        self._mark[U] = False  # leave the scratch clean for the next call
        self._slot[U] = np.arange(U.size)
        return U, self._slot[cols]

    def _refresh_rows(self, rows: np.ndarray) -> None:
        self.proba_[rows] = normalize_rows(self.result_[rows])


def _spectral_norm_bound(A: sp.csr_matrix) -> float:
    """``sqrt(||A||_1 ||A||_inf)``, an upper bound on ``||A||_2`` (used for the asymmetric graph)."""
    absA = abs(A)
    return float(np.sqrt(absA.sum(axis=0).max() * absA.sum(axis=1).max()))


def knn_classify(
    graph: KnnGraph,
    X_new: np.ndarray,
    labels_or_proba: np.ndarray,
    *,
    n_classes: int | None = None,
    k: int | None = None,
) -> np.ndarray:
    """Weighted kNN classification of new points on the graph (paper §3).

    Each new point votes with its k nearest indexed items, weighted by ``exp(s / T_)``.

    Parameters
    ----------
    graph : KnnGraph
        A fitted graph; its ``T_`` sets the weights.
    X_new : array-like, shape (m, d)
        Points to classify (not added to the graph).
    labels_or_proba : array-like, shape (n,) int or (n, c) float
        Hard labels of the indexed items (-1 = none, ignored) or their soft labels (e.g.
        ``Propagator.proba_``).
    n_classes : int, optional
        Number of classes for hard labels; default ``max(label) + 1``.
    k : int, optional
        Neighbours per point; default ``graph.k``.

    Returns
    -------
    numpy.ndarray, shape (m, c), float32
        Class scores summing to 1 per row; all zeros where no neighbour has a label.

    """
    arr = np.asarray(labels_or_proba)
    n = graph.n_items_
    if arr.ndim == 1:
        labels = check_labels(arr, n, n_classes, name="labels_or_proba")
        c = int(labels.max()) + 1 if n_classes is None else int(n_classes)
        votes = _one_hot_rows(labels, max(c, 0))
    else:
        votes = check_proba(arr, name="labels_or_proba")
        if votes.shape[0] != n:
            raise ValueError(
                f"labels_or_proba: expected {n} rows (one per graph item); got {votes.shape[0]}."
                " Fix: pass proba_ "
                "of a Propagator fitted on this graph."
            )
    idx, sims = graph.query(X_new, k=k)
    # A per-row shift is harmless here: each point's weights are normalised on their own.
    w = np.exp((sims - sims.max(axis=1, keepdims=True, initial=-1.0)) / graph.T_).astype(np.float32)
    return normalize_rows(np.einsum("mk,mkc->mc", w, votes[idx]))
