"""The kernel-side labeling state: given vs verified labels, undo/redo, LP results, and their journal.

A :class:`Session` owns one :class:`~nblabel.store.LabelStore`.  Every change a person makes (label, unlabel,
accept, undo, redo, add_class) is appended to the journal and committed *before* the call returns; the
in-memory state is then whatever replaying the journal produces, so ``Session.open(path)`` rebuilds exactly
the same labels and the same undo history, and two sessions on one journal converge on the same state.

Readers never see a half-updated state: every change publishes a new immutable :class:`SessionState` (numpy
arrays with ``writeable=False``) and swaps one reference.  In background mode (for the widget) label
propagation runs on one worker thread (:mod:`nblabel.background`); clicks that arrive while it runs are
coalesced into the next run.  Tables are read from a snapshot by :mod:`nblabel.results`, and what comes from
the graph alone (layout, clusters, outliers) is kept by :mod:`nblabel.structure`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nblabel._validation import (
    check_class_name,
    check_count,
    check_embeddings,
    check_ids,
    encode_labels,
)
from nblabel.background import Background
from nblabel.cache import cached_graph, cached_reference, load_saved_embeddings, save_embeddings
from nblabel.clusters import DEFAULT_RESOLUTION
from nblabel.files import siblings
from nblabel.graph import KnnGraph
from nblabel.history import LabelHistory, owner
from nblabel.labelfiles import (
    EXPORT_COLUMNS,
    check_export_path,
    import_events,
    read_import,
    write_labels_file,
)
from nblabel.results import cluster_table, current_labels, item_frame, noise_table, summary_of
from nblabel.resume import (
    GRAPH_PARAMS,
    check_params,
    check_session_args,
    check_session_meta,
    fingerprint,
    has_events,
    repair_params,
    resume,
)
from nblabel.scoring import LPInputs, LPResult, Scorer, frozen
from nblabel.state import SessionState
from nblabel.store import JournalGoneError, LabelStore
from nblabel.structure import GraphStructure, check_cluster
from nblabel.subscribers import Subscribers

if TYPE_CHECKING:
    from nblabel.data import ImageSource
    from nblabel.embed import Encoder

__all__ = ["Session", "SessionState", "fingerprint"]


class Session:
    """Label a dataset by hand with label propagation filling in the rest; every change journaled on disk.

    Parameters
    ----------
    embeddings : (n, d) array
        One embedding per item (e.g. from :class:`nblabel.embed.Encoder`).
    ids : sequence of str, optional
        Stable item ids; default ``"0" .. "n-1"``.
    given : (n,) sequence, optional
        Labels that came with the data, as class names or indices; None, NaN or ``""`` for no label.
        Untrusted: they seed propagation but are not clamped.
    classes : sequence of str, optional
        Class names.  Default: the sorted given names, or ``"0" .. str(max)`` for integer labels.
    journal : str or Path, optional
        The journal file.  An existing journal for the same embeddings is resumed; default
        ``./session-<fingerprint[:8]>.nblabel.db``.
    k, T : int, float or "auto"
        Neighbours per item and affinity temperature of the :class:`~nblabel.graph.KnnGraph`.
    t : int
        Propagation steps.
    user : str, optional
        Recorded with every journal event, and whose undo history :meth:`undo` walks: the same ``user`` finds
        its history again after a restart or in another notebook; without one, each session has its own.
    source : ImageSource, optional
        Where thumbnails come from; kept as :attr:`source`.
    background : bool
        Start in background mode (see :meth:`start_background`).
    timeout : float
        Seconds to wait for another process's journal lock before raising
        :class:`~nblabel.store.JournalLockedError`.
    **graph_kw
        More :class:`~nblabel.graph.KnnGraph` parameters (``symmetric``, ``M``, ``ef_construction``, ``ef``,
        ``num_threads``, ``seed``).

    Notes
    -----
    Next to the journal, the session keeps ``<journal>-embeddings.npy`` and ``<journal>-graph-<key>.npz`` so
    :meth:`open` needs neither the encoder nor a graph rebuild.

    Memory-mapped float32 embeddings (``np.load(path, mmap_mode="r")``, :func:`nblabel.open_embeddings`) are
    used in place, read a block at a time, never copied into RAM; :meth:`open` maps the saved copy likewise.

    """

    def __init__(
        self,
        embeddings: np.ndarray,
        ids: Sequence[str] | None = None,
        given: Sequence[Any] | np.ndarray | None = None,
        classes: Sequence[str] | None = None,
        journal: str | os.PathLike[str] | None = None,
        k: int = 10,
        T: float | str = "auto",
        *,
        t: int = 20,
        user: str | None = None,
        source: ImageSource | None = None,
        background: bool = False,
        timeout: float = 5.0,
        _opened: LabelStore | None = None,
        **graph_kw: Any,
    ) -> None:
        # Both constructors end in _init: Session(...) creates or resumes the journal here; Session.open
        # checks an existing one and passes it as _opened with its embeddings (then nothing else is used).
        if _opened is not None:
            self._init(_opened, embeddings, source=source, user=user, background=background)
            return
        # Every parameter is checked before anything is written: a check that fails leaves no journal and no
        # side files, and a value that would only fail later (t with no class yet) cannot reach the journal.
        X = check_embeddings(embeddings)
        n = X.shape[0]
        params = check_params(n, k=k, T=T, t=t, **graph_kw)
        ids = check_ids(range(n) if ids is None else ids, n)
        given_codes, class_list = encode_labels(given, classes, n=n, name="given")
        check_session_args(n, user=user, source=source, timeout=timeout)
        fp = fingerprint(X)
        path = Path(journal) if journal is not None else Path.cwd() / f"session-{fp[:8]}.nblabel.db"
        path = path.expanduser().absolute()
        created = False
        if path.exists():
            store = resume(path, timeout, fp, ids, given_codes, class_list, params)
        else:
            meta = {"fingerprint": fp, "shape": list(X.shape), "classes": class_list, "params": params}
            before = siblings(path)
            try:
                store = LabelStore.create(path, ids=ids, given=given_codes, meta=meta, timeout=timeout)
                created = True
            except FileExistsError:
                # Another notebook created this journal between our check and our create: resume theirs.
                store = resume(path, timeout, fp, ids, given_codes, class_list, params)
        try:
            self._init(store, X, source=source, user=user, background=background)
        except BaseException:
            # A session that failed to start leaves nothing behind, unless another notebook already
            # resumed the new journal and labeled in it.
            if created and not has_events(path):
                for leftover in siblings(path) - before:
                    (path.parent / leftover).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ constructors
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        embeddings: np.ndarray | None = None,
        *,
        source: ImageSource | None = None,
        user: str | None = None,
        background: bool = False,
        timeout: float = 5.0,
    ) -> Session:
        """Reopen a journal: same items, labels, classes and undo history as when it was last written.

        Parameters
        ----------
        path : str or Path
            A journal written by a Session.
        embeddings : (n, d) array, optional
            Default: the copy saved next to the journal.  Embeddings other than the ones the journal was
            made for are refused.
        source, user, background, timeout
            As for :class:`Session`.

        Returns
        -------
        Session

        """
        store = LabelStore(path, timeout=timeout)
        try:
            check_session_meta(store)
            check_session_args(int(store.meta["shape"][0]), user=user, source=source, timeout=timeout)
            repair_params(store)
            if embeddings is None:
                X = load_saved_embeddings(store.path)
            else:
                X = check_embeddings(embeddings)
            if fingerprint(X) != store.meta["fingerprint"]:
                raise ValueError(
                    f"embeddings: expected the {tuple(store.meta['shape'])} embeddings {store.path.name} was "
                    f"made for (fingerprint {store.meta['fingerprint'][:8]}); got shape {X.shape} with "
                    f"fingerprint {fingerprint(X)[:8]}. Fix: pass the original embeddings, or start a new "
                    "journal for the new ones."
                )
        except BaseException:
            store.close()
            raise
        return cls(X, source=source, user=user, background=background, timeout=timeout, _opened=store)

    @classmethod
    def from_source(
        cls,
        source: ImageSource,
        encoder: Encoder | None = None,
        journal: str | os.PathLike[str] | None = None,
        **kw: Any,
    ) -> Session:
        """Embed an image source and start (or resume) a session on it.

        Parameters
        ----------
        source : ImageSource
            Gives ids, given labels, class names and thumbnails.
        encoder : Encoder, optional
            Default ``nblabel.embed.Encoder()``.
        journal : str or Path, optional
            As for :class:`Session`.
        **kw
            Other :class:`Session` parameters (``k``, ``T``, ``t``, ``user``, ``background``, ...).

        Returns
        -------
        Session
            Over the images that could be decoded: one that fails while it is embedded has no embedding, so
            it is left out of the session (and the graph) and stays listed, with the reason, in
            ``source.errors`` (an :class:`~nblabel.data.ImageReadWarning` says so when it happens).

        """
        if encoder is None:
            from nblabel.embed import Encoder  # torch is heavy; only sessions built from images need it

            encoder = Encoder()
        X = encoder.embed(source)
        decoded = np.isfinite(X).all(axis=1)
        if not decoded.any():
            raise ValueError(
                f"images: expected at least one image that decodes; all {len(decoded)} failed, e.g. "
                f"{source.errors[-1] if source.errors else '?'}. "
                "Fix: check the files are images Pillow can open."
            )
        if not decoded.all():
            source, X = source.subset(np.flatnonzero(decoded)), X[decoded]
        return cls(
            X,
            ids=source.ids,
            given=source.given,
            classes=source.classes,
            journal=journal,
            source=source,
            **kw,
        )

    def _init(
        self,
        store: LabelStore,
        X: np.ndarray,
        *,
        source: ImageSource | None,
        user: str | None,
        background: bool,
    ) -> None:
        try:
            self._setup(store, X, source=source, user=user)
        except BaseException:
            store.close()
            raise
        if background:
            self.start_background()

    def _setup(
        self, store: LabelStore, X: np.ndarray, *, source: ImageSource | None, user: str | None
    ) -> None:
        self._store = store
        self._X = frozen(X.view())  # a read-only view: the caller's own array stays writeable
        self.source = source
        self.user = user
        # Who this session is in the journal's undo history (see owner): a named user, else this instance.
        self._origin = uuid.uuid4().hex
        self._owner = owner(user, self._origin)
        self._params = dict(store.meta["params"])
        ids, given = store.items()
        self._ids = ids
        self._given = frozen(given)
        self._history = LabelHistory(ids, store.meta["classes"])
        # Lock order, one rule: _lock before _lp_lock, never _lock while holding _lp_lock.  A change holds
        # _lock and, in the foreground, runs LP under _lp_lock inside it (_flush); the background worker
        # (nblabel.background, its condition on _lock) copies LP's inputs under _lock, releases it, then runs
        # LP under _lp_lock alone (_run_background), so clicks never wait for a background run.  _run_lp
        # therefore takes no lock: it gets a copy (_lp_inputs).  The subscribers' lock is taken with neither
        # held (_deliver runs after _changing releases _lock).
        self._lock = threading.RLock()  # guards the history and the journal cursor
        self._lp_lock = threading.Lock()  # guards the propagator (one LP run at a time)
        self._subscribers = Subscribers()  # its own lock: taken with neither _lock nor _lp_lock held
        self._background = Background(
            self._lock, self._lp_inputs, self._run_background, self._subscribers.report
        )
        self._version = 0
        self._unpropagated: set[int] = set()  # indices changed by pulled events, not yet handed to LP
        self._moved = False  # pulled events not yet published
        self._history.apply(store.read())
        self.graph = self._load_or_build_graph()
        self._structure = GraphStructure(self.graph, store.path, store.meta["fingerprint"], self._params)
        reference = partial(cached_reference, store.path, store.meta["fingerprint"], self._params)
        self._scorer = Scorer(self.graph, self._given, self._params["t"], reference)
        save_embeddings(store.path, self._X)
        self._lp = self._run_lp(self._lp_inputs(set()))
        self._state = self._make_state()

    def _load_or_build_graph(self) -> KnnGraph:
        p = self._params
        graph_kw = {key: p[key] for key in GRAPH_PARAMS if key in p}
        return cached_graph(
            self._store.path, self._store.meta["fingerprint"], p["k"], p["T"], graph_kw, self._X
        )

    # ------------------------------------------------------------------ basic properties
    @property
    def ids(self) -> list[str]:
        """Item ids, in embedding-row order."""
        return list(self._ids)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self._ids)

    @property
    def classes(self) -> list[str]:
        """Class names (grows with :meth:`add_class`)."""
        with self._lock:
            return list(self._history.classes)

    @property
    def journal(self) -> Path:
        """Path of the journal file."""
        return self._store.path

    @property
    def embeddings(self) -> np.ndarray:
        """The (n, d) float32 embeddings, read-only."""
        return self._X

    @property
    def state(self) -> SessionState:
        """The latest published snapshot (cheap: no copy, no journal access)."""
        return self._state

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has a change of yours to revert."""
        with self._lock:
            return bool(self._history.undo_stacks.get(self._owner))

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has a change of yours to reapply."""
        with self._lock:
            return bool(self._history.redo_stacks.get(self._owner))

    @property
    def error(self) -> BaseException | None:
        """The last exception raised by background propagation or a subscriber, None when all went well."""
        return self._subscribers.error

    # ------------------------------------------------------------------ changes
    def label(self, ids: str | Sequence[str], cls: str | int) -> None:
        """Set the verified label of items (clamped in propagation).

        Parameters
        ----------
        ids : str or sequence of str
            Item ids (see :attr:`ids`).
        cls : str or int
            Class name or index; add new classes with :meth:`add_class` first.

        """
        items = self._history.check_items(ids)
        with self._changing():
            self._pull()
            name = self._history.check_class(cls)
            self._commit([("label", item, name) for item in items])

    def unlabel(self, ids: str | Sequence[str]) -> None:
        """Remove the verified label of items (their given label, if any, stays)."""
        items = self._history.check_items(ids)
        with self._changing():
            self._commit([("unlabel", item, None) for item in items])

    def take_predicted(self, ids: str | Sequence[str], state: SessionState | None = None) -> int:
        """Verify items with their predicted class, as one change: one :meth:`undo` reverts all of it.

        Parameters
        ----------
        ids : str or sequence of str
            Item ids (see :attr:`ids`).
        state : SessionState, optional
            Whose predictions to take: the widget passes the snapshot the person was shown; default the
            latest one.

        Returns
        -------
        int
            Items labeled; items without a prediction keep their labels.

        """
        items = self._history.check_items(ids)
        with self._changing():
            self._pull()
            s = self._state if state is None else state
            predicted = s.predicted[[self._history.index[item] for item in items]]
            if (predicted < 0).all():
                raise ValueError(
                    "take_predicted: expected items with a prediction; got none (propagation reached no "
                    "label yet). Fix: label a few items of each class first."
                )
            classes = self._history.classes
            self._commit(
                [("label", item, classes[p]) for item, p in zip(items, predicted, strict=True) if p >= 0]
            )
        return int((predicted >= 0).sum())

    def accept(self, ids: str | Sequence[str]) -> None:
        """Confirm the given label of items: it becomes their verified label."""
        items = self._history.check_items(ids)
        idx = [self._history.index[item] for item in items]
        none = [item for item, i in zip(items, idx, strict=True) if self._given[i] < 0]
        if none:
            raise ValueError(
                f"accept: expected items that have a given label; got {len(none)} without one, "
                f"e.g. {none[:5]}. Fix: use label(ids, cls) for them."
            )
        with self._changing():
            names = [self._history.classes[self._given[i]] for i in idx]
            self._commit([("accept", item, name) for item, name in zip(items, names, strict=True)])

    def undo(self) -> bool:
        """Revert your most recent change still in effect; other people's changes are never undone.

        "Your" means this session's ``user`` when one is given (the same user's history spans notebooks and
        restarts), else this session object.  An item someone else changed after your change keeps their
        label.

        Returns
        -------
        bool
            False when there was nothing to undo.

        """
        with self._changing():
            self._pull()
            if not self._history.undo_stacks.get(self._owner):
                self._flush()
                return False
            self._commit([("undo", None, None)])
            return True

    def redo(self) -> bool:
        """Reapply your most recently undone change (see :meth:`undo` for whose changes are yours).

        Returns
        -------
        bool
            False when there was nothing to redo (or a new change since the undo cleared the redo history).

        """
        with self._changing():
            self._pull()
            if not self._history.redo_stacks.get(self._owner):
                self._flush()
                return False
            self._commit([("redo", None, None)])
            return True

    def add_class(self, name: str) -> int:
        """Add a class while labeling.

        Parameters
        ----------
        name : str
            Free text, unique, not empty.

        Returns
        -------
        int
            The new class index.

        """
        with self._changing():
            return self._add_class(name)

    def _add_class(self, name: str) -> int:
        check_class_name(name, name_of="add_class")
        self._pull()
        if name in self._history.classes:
            raise ValueError(
                f"add_class: expected a new name; got {name!r}, which is class "
                f"{self._history.classes.index(name)} already. Fix: label with that class."
            )
        self._commit([("add_class", None, name)])
        return self._history.classes.index(name)

    def refresh(self) -> int:
        """Pull events that other sessions appended to the journal and update the state.

        Returns
        -------
        int
            Number of new events applied.

        """
        with self._changing():
            n_new = self._pull()
            self._flush()
            return n_new

    # ------------------------------------------------------------------ reading results
    @property
    def predictions(self) -> pd.DataFrame:
        """Every item with its labels and propagation results, indexed by id.

        Columns ``given``, ``verified``, ``predicted`` (categorical class names; NaN for none),
        ``confidence``, ``suspicion``, ``flagged``, ``corrected``, ``outlier`` (:meth:`outliers`) and
        ``duplicate_group`` (:meth:`duplicates` at the default threshold; -1 for none).

        **Export ``corrected``** as the cleaned labels: the verified label where a person set one, else the
        given label, replaced by the likeliest other class only where the reviews showed, with 95 %
        confidence, that replacing the flags there gains (:func:`nblabel.quality.corrections`; before
        20 reviews in suspects mode nothing is replaced: no rule without reviews kept the labels at least as
        accurate on every cell of ``bench/bench_flags.py``); NaN for items with neither
        (use ``predicted`` there, if propagation's guess is good enough for you). ``predicted`` is the
        propagation's own argmax, which also overrides given labels that are right but hard; on features that
        separate the classes poorly it is less accurate than the given labels.
        """
        return self._frame(self._state, np.arange(self.n_items))

    def suspects(self, n: int = 50) -> pd.DataFrame:
        """Items whose given label looks wrong, most suspicious first; items a person checked are left out.

        Two of every three rows are audit draws, so that reviewing the list from its top re-fits the flags
        and the noise estimate for the whole of it (see :meth:`suspect_order`).

        Label conflicts come first: unverified items with a near-duplicate (:meth:`duplicates` at the default
        threshold) whose given or verified label is another class. Two copies of one image cannot both be
        right, whatever propagation says, and propagation cannot tell which is wrong: they share neighbours.

        Parameters
        ----------
        n : int
            At most this many rows.

        Returns
        -------
        pandas.DataFrame
            Same columns as :attr:`predictions`.

        """
        n = check_count(n, "n")
        s = self._state
        return self._frame(s, self.suspect_order(s)[:n])

    def suspect_order(self, state: SessionState | None = None) -> np.ndarray:
        """Row order of :meth:`suspects` (label conflicts first, then by suspicion), for a snapshot.

        Two of every three reviews are audit draws, random given labels drawn with a known probability (the
        more suspicious, the likelier), so that the reviews measure the whole list, not only its top; the
        1st, 4th, ... follow the suspicion before any review (see :func:`nblabel.quality.suspect_order` and
        :func:`nblabel.quality.calibrate`).

        Parameters
        ----------
        state : SessionState, optional
            Default the latest one.

        Returns
        -------
        numpy.ndarray, shape (m,), int64
            Unverified items with a given label.

        """
        from nblabel.clusters import label_conflicts
        from nblabel.quality import suspect_order

        s = self._state if state is None else state
        conflict = label_conflicts(self._structure.scores()[1], current_labels(s))
        done = int(((s.given >= 0) & (s.verified >= 0)).sum())
        # With the audit, the top keeps its pre-review order, so that the reviews above the last one
        # cover everything there (see nblabel.quality.calibrate).
        score = s.suspicion if s.audit is None else s.audit[1]
        return suspect_order(
            score,
            np.flatnonzero(s.verified < 0),
            first=conflict,
            audit=s.audit[0] if s.audit else None,
            done=done,
        )

    def next_batch(self, n: int = 20, strategy: str = "margin", seed: int | None = None) -> list[str]:
        """Ids of the items to label next.

        Parameters
        ----------
        n : int
            Batch size.
        strategy : {"margin", "least_confident", "random", "coverage", "suspects"}
            See :func:`nblabel.active.next_batch`.
        seed : int, optional
            For the random parts of a strategy.

        Returns
        -------
        list of str

        """
        from nblabel.active import next_batch

        n = check_count(n, "n")
        s = self._state
        idx = next_batch(
            s.proba, s.verified >= 0, n, strategy=strategy, graph=self.graph, suspicion=s.suspicion, seed=seed
        )
        return [self._ids[i] for i in np.asarray(idx)]

    def neighbors(self, id: str, n: int = 10) -> list[str]:
        """Ids of the items most similar to one item (itself excluded), most similar first.

        Parameters
        ----------
        id : str
            Item id.
        n : int
            How many; at most ``n_items - 1``.

        Returns
        -------
        list of str

        """
        (item,) = self._history.check_items(id)
        n = check_count(n, "n")
        i = self._history.index[item]
        n = min(n, self.n_items - 1)
        if n <= self.graph.neighbors_.shape[1]:
            found = self.graph.neighbors_[i, :n].tolist()
        else:
            found, _ = self.graph.query(self._X[i : i + 1], k=n + 1)
            found = [j for j in found[0] if j != i][:n]
        return [self._ids[j] for j in found]

    def layout(self, seed: int = 0, *, compute: bool = True, **umap_kwargs: Any) -> np.ndarray | None:
        """2-D layout of the items (UMAP on the session's kNN graph), cached in memory and beside the journal.

        Parameters
        ----------
        seed : int
            UMAP's random state.
        compute : bool
            If False, return None instead of computing a layout that is not cached yet.
        **umap_kwargs
            Passed to :func:`nblabel.layout.umap_layout`.

        Returns
        -------
        (n, 2) float32, read-only

        """
        return self._structure.layout(seed, compute, umap_kwargs)

    def summary(self) -> dict[str, Any]:
        """Summarise the labels and the estimated label noise.

        Returns
        -------
        dict
            ``n_items``, ``classes`` (per class: ``given``, ``verified``, ``predicted`` counts), ``labeled``
            (items with a given or verified label), ``given``, ``verified``, ``flagged``, ``noise_rate``
            (estimated share of wrong given labels), ``noise_interval`` (its 95 % interval), ``reviewed``
            (given labels a person checked), ``errors_unreviewed`` (estimated wrong given labels nobody
            checked yet), ``calibrated`` (whether the reviews re-fitted the estimate and the flags: from 20
            reviews with 10 of the suspects list's random checks and a right label among them), ``journal``.

        """
        return summary_of(self._state, str(self.journal))

    # ------------------------------------------------------------------ structure of the graph
    def clusters(
        self, resolution: float = DEFAULT_RESOLUTION, n_exemplars: int = 5, sort: str = "size"
    ) -> pd.DataFrame:
        """Clusters of the kNN graph (Leiden), with exemplars, label mix, purity and core size.

        Computed once per resolution and cached in memory and next to the journal
        (``<journal>-clusters-<key>.npz``), like the layout. See :mod:`nblabel.clusters`.

        Parameters
        ----------
        resolution : float
            Leiden's resolution in (0, 100]: 1 is modularity; smaller merges clusters, larger splits them.
        n_exemplars : int
            Exemplars listed per cluster: its most central items.
        sort : {"size", "impurity"}
            Largest clusters first, or the most mixed first (clusters without labels last).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``cluster`` (0 = the largest), columns: ``size``; ``exemplars`` (list of ids, most
            central first); ``label`` (the most common current label: verified, else given, else predicted;
            None if no item has one); ``purity`` (that label's share among the items with one; NaN if none);
            ``labeled`` (items with a given or verified label); ``mix`` (dict class -> count of current
            labels); ``core`` (unverified items of the cluster's core, see :meth:`cluster_core`).

        """
        n_exemplars = check_count(n_exemplars, "n_exemplars")
        if sort not in ("size", "impurity"):
            raise ValueError(f'sort: expected "size" or "impurity"; got {sort!r}. Fix: pass sort="size".')
        frame = cluster_table(self._structure.clustering(resolution), self._state, self._ids, n_exemplars)
        if sort == "impurity":
            frame = frame.sort_values("purity", kind="stable", na_position="last")
        return frame

    def cluster_labels(self, resolution: float = DEFAULT_RESOLUTION) -> np.ndarray:
        """Cluster of every item (see :meth:`clusters`).

        Returns
        -------
        numpy.ndarray, shape (n,), int32, read-only
            Cluster numbers 0 .. n_clusters - 1, from the largest cluster down.

        """
        return self._structure.clustering(resolution).labels

    def cluster_items(self, cluster: int, resolution: float = DEFAULT_RESOLUTION) -> list[str]:
        """Ids of one cluster's items, most central (exemplars) first.

        Parameters
        ----------
        cluster : int
            A cluster number from :meth:`clusters`.
        resolution : float
            As in :meth:`clusters`.

        Returns
        -------
        list of str

        """
        c = self._structure.clustering(resolution)
        return [self._ids[i] for i in c.members(check_cluster(c, cluster))]

    def cluster_core(
        self, cluster: int, resolution: float = DEFAULT_RESOLUTION, min_share: float | None = None
    ) -> list[str]:
        """Ids of the items propagation keeps in a cluster, that no person has labeled yet.

        One propagation run seeded with every item's cluster gives each item a distribution over the
        clusters; the core is the cluster's items whose own cluster holds at least ``min_share`` of theirs
        (:func:`nblabel.clusters.core_share`). On the digits every core is >= 99 % one true class. A small
        cluster that propagation folds into a larger neighbour has no core: label its exemplars instead.

        Parameters
        ----------
        cluster : int
            A cluster number from :meth:`clusters`.
        resolution : float
            As in :meth:`clusters`.
        min_share : float, optional
            In [0, 1]; default :data:`nblabel.clusters.DEFAULT_CORE_SHARE` (0.6).

        Returns
        -------
        list of str
            Most central first; items with a verified label are left out (they keep theirs).

        """
        from nblabel.clusters import DEFAULT_CORE_SHARE

        c = self._structure.clustering(resolution)
        j = check_cluster(c, cluster)
        share = DEFAULT_CORE_SHARE if min_share is None else min_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
            raise ValueError(f"min_share: expected a number in [0, 1]; got {min_share!r}. Fix: pass 0.8.")
        members = c.members(j)
        verified = self._state.verified
        keep = (c.share[members] >= share) & (verified[members] < 0)
        return [self._ids[i] for i in members[keep]]

    def label_cluster(
        self,
        cluster: int,
        cls: str | int,
        resolution: float = DEFAULT_RESOLUTION,
        min_share: float | None = None,
    ) -> int:
        """Label a cluster's core (:meth:`cluster_core`) as one change: one :meth:`undo` reverts all of it.

        Parameters
        ----------
        cluster : int
            A cluster number from :meth:`clusters`.
        cls : str or int
            Class name or index.
        resolution, min_share
            As in :meth:`cluster_core`.

        Returns
        -------
        int
            Items labeled (0 when the core has no unverified item; nothing is then written).

        """
        core = self.cluster_core(cluster, resolution, min_share)
        if core:
            self.label(core, cls)
        return len(core)

    def outliers(self, n: int = 50) -> pd.DataFrame:
        """List the items farthest from their nearest neighbours, most unusual first.

        The score is ``1 - mean cosine similarity`` to the item's k graph neighbours
        (:func:`nblabel.clusters.outlier_scores`); it is also the ``outlier`` column of :attr:`predictions`.

        Parameters
        ----------
        n : int
            At most this many rows.

        Returns
        -------
        pandas.DataFrame
            Same columns as :attr:`predictions`.

        """
        n = check_count(n, "n")
        score = self._structure.scores()[0]
        return self._frame(self._state, np.argsort(-score, kind="stable")[:n])

    def duplicates(self, threshold: float | None = None) -> pd.DataFrame:
        """Group near-duplicate items: graph neighbours with cosine similarity >= ``threshold``.

        Parameters
        ----------
        threshold : float, optional
            Cosine similarity in [-1, 1]; default :data:`nblabel.clusters.DEFAULT_DUPLICATE_THRESHOLD`
            (0.99). Groups are connected components, so a chain of close pairs is one group.

        Returns
        -------
        pandas.DataFrame
            One row per item that has a near-duplicate, sorted by ``group`` (0 = the largest): the columns
            of :attr:`predictions` (``duplicate_group`` is the group at the default threshold), ``group``,
            and ``conflict`` (the group holds another current label: verified, else given; these items
            lead :meth:`suspects`).

        """
        from nblabel.clusters import DEFAULT_DUPLICATE_THRESHOLD, duplicate_groups, label_conflicts

        th = DEFAULT_DUPLICATE_THRESHOLD if threshold is None else threshold
        groups = duplicate_groups(self.graph, th)
        s = self._state
        rows = np.flatnonzero(groups >= 0)
        rows = rows[np.argsort(groups[rows], kind="stable")]
        conflict = label_conflicts(groups, current_labels(s))
        frame = self._frame(s, rows)
        frame["group"] = groups[rows]
        frame["conflict"] = conflict[rows]
        return frame

    def noise_matrix(self) -> pd.DataFrame:
        """Count flagged labels by given class (rows) and the class they likely should be (columns).

        Returns
        -------
        pandas.DataFrame
            ``len(classes) x len(classes)`` ints, index and columns named by class; the diagonal is 0.
            Pairs with large counts are classes the dataset mixes up; :meth:`flagged_ids` lists the items
            of a cell.

        """
        return noise_table(self._state)

    def flagged_ids(self, given: str | int | None = None, likely: str | int | None = None) -> list[str]:
        """Ids of the flagged items, most suspicious first, optionally of one cell of :meth:`noise_matrix`.

        Parameters
        ----------
        given, likely : str or int, optional
            Class name or index of the given label and of the likely one.

        Returns
        -------
        list of str

        """
        s = self._state
        mask = s.flagged.copy()
        if given is not None:
            mask &= s.given == self.classes.index(self._history.check_class(given))
        if likely is not None and s.alternative is not None:
            mask &= s.alternative == self.classes.index(self._history.check_class(likely))
        from nblabel.quality import suspect_order

        return [self._ids[i] for i in suspect_order(s.suspicion, np.flatnonzero(mask))]

    # ------------------------------------------------------------------ export / import
    def export(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write every item's labels and results to ``.csv`` or ``.json``.

        Columns: :data:`EXPORT_COLUMNS` (``id, given, verified, predicted, confidence, suspicion, flagged,
        corrected, outlier, duplicate_group``, see :attr:`predictions`); labels as class names,
        empty (CSV) or null (JSON) for none.  The JSON file also lists the classes.  :meth:`import_labels`
        reads both.

        CSV files are made safe to open in a spreadsheet: an id or class name starting with ``=``, ``+``,
        ``-``, ``@``, a tab, a carriage return or ``'`` is written with a ``'`` in front, so it is shown as
        text and never run as a formula.  :meth:`import_labels` removes that ``'`` again.

        Parameters
        ----------
        path : str or Path
            Ends in ``.csv`` or ``.json``.
        overwrite : bool
            Replace an existing file.  The new file is written beside it and renamed over it, so readers see
            the old or the new file, never half of one; it keeps the old file's permissions, and a symlink
            keeps pointing at the (replaced) file it names.  Other hard links to the old file keep the old
            content.

        Returns
        -------
        Path

        """
        path = check_export_path(path, overwrite=overwrite)
        # With the journal gone, export what this session holds: that is what a rescue needs.
        with contextlib.suppress(JournalGoneError):
            self.refresh()
        s = self._state
        frame = self._frame(s, np.arange(self.n_items)).reset_index()[list(EXPORT_COLUMNS)]
        write_labels_file(path, frame, s.classes, overwrite=overwrite)
        return path

    def import_labels(self, path: str | os.PathLike[str], *, add_classes: bool = False) -> int:
        """Apply the verified labels of an exported file (or any CSV/JSON with ``id`` and ``verified``).

        The whole file is one change: one journal transaction and one undo step.  Only items whose verified
        label differs from the file's are written; items without a verified label in the file keep theirs.
        When an id appears on several rows the last row wins, with a warning that says how many rows were
        superseded.

        Parameters
        ----------
        path : str or Path
            A ``.csv`` or ``.json`` written by :meth:`export` (JSON: an object with ``items``, or a list of
            records).
        add_classes : bool
            Add class names that the session does not have yet.  By default they are refused, so a typo or a
            stray value (``5``, ``True``, ``=cmd|...``) does not silently become a new class.

        Returns
        -------
        int
            Number of items whose verified label changed.

        """
        path = Path(path).expanduser()
        frame = read_import(path, self._history.index)
        with self._changing():
            self._pull()
            new, labels = import_events(frame, self._history, add_classes, path.name)
            if not labels:
                self._flush()
                return 0
            self._commit([*(("add_class", None, name) for name in new), *labels])
        return len(labels)

    # ------------------------------------------------------------------ background mode
    @property
    def background(self) -> bool:
        """Whether propagation runs on the worker thread (see :meth:`start_background`)."""
        return self._background.running

    def start_background(self) -> None:
        """Run label propagation on a worker thread from now on.

        Changes still commit to the journal and update ``state.verified`` before they return; the new
        predictions follow when the worker finishes (``state.pending`` tells).  Changes that arrive while it
        runs are propagated together in its next run.  Use :meth:`subscribe` to hear about new states and
        :meth:`wait` to block until propagation has caught up.
        """
        self._background.start()

    def stop_background(self) -> None:
        """Finish pending propagation, stop the worker, and propagate on the caller's thread again."""
        self._background.stop()

    def wait(self, timeout: float | None = None) -> SessionState:
        """Block until background propagation has caught up, then return the state.

        Raises
        ------
        RuntimeError
            If background propagation or a subscriber failed since the last call (the original exception is
            the cause).  The error is then cleared; after a failed propagation the next change reruns it in
            full.
        TimeoutError
            If ``timeout`` seconds passed first.

        """
        if not self._background.wait(timeout):
            raise TimeoutError(f"wait: background propagation still running after {timeout} s.")
        error, self._subscribers.error = self._subscribers.error, None
        if error is not None:
            raise RuntimeError(
                f"background work failed (label propagation or a subscriber callback): {error!r}"
            ) from error
        return self._state

    def subscribe(
        self,
        callback: Callable[[SessionState], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``callback(state)`` with each newly published state (from the thread that made it).

        States are delivered in version order; one superseded before delivery is skipped.  Callbacks should
        be quick.  An exception in a callback is stored in :attr:`error` and passed to ``on_error``.

        Returns
        -------
        callable
            Call it to unsubscribe.

        """
        return self._subscribers.subscribe(callback, on_error)

    def close(self) -> None:
        """Stop the worker and close the journal (every change is already on disk)."""
        self.stop_background()
        self._store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self._state
        classes = list(s.classes)
        shown = classes if len(classes) <= 8 else [*classes[:8], "..."]
        return (
            f"<nblabel.Session: {s.n_items} items, {len(classes)} classes {shown}, "
            f"{int((s.given >= 0).sum())} given, {int((s.verified >= 0).sum())} verified, "
            f"{int(s.flagged.sum())} flagged; journal {str(self.journal)!r}"
            f"{', background' if self.background else ''}>"
        )

    # ------------------------------------------------------------------ internals: changes
    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the session lock for one change, then tell subscribers once the lock is released.

        Delivering outside the lock lets a subscriber call back into the session from any thread.
        """
        try:
            with self._lock:
                yield
        finally:
            self._deliver()

    def _commit(self, events: list[tuple[str, str | None, str | None]]) -> None:
        """Append to the journal (durable on return), then apply everything new in it, ours and others'.

        The state is always the replay of the journal, never a local guess: that is what keeps two sessions on
        one journal, and a reopened session, identical.  Caller holds ``_lock``.
        """
        self._store.append(events, user=self.user, origin=self._origin)
        self._pull()
        self._flush()

    def _pull(self) -> int:
        """Apply journal events this session has not seen yet (caller holds ``_lock``)."""
        events = self._store.read(after=self._history.seq)
        if events:
            self._unpropagated |= self._history.apply(events)
            self._moved = True
        return len(events)

    def _flush(self) -> None:
        """Publish what :meth:`_pull` applied and bring propagation up to date (caller holds ``_lock``)."""
        if not self._moved:
            return
        changed, self._unpropagated, self._moved = self._unpropagated, set(), False
        self._publish(None)  # the new labels are visible at once; predictions follow
        if self._background.submit(changed):
            return
        try:
            with self._lp_lock:
                lp = self._run_lp(self._lp_inputs(changed))
        except Exception as exc:
            # The change is already committed, so it must not be reported as failed: like a failed background
            # run, the error goes to .error and on_error, the state stays pending, the next change refits.
            self._subscribers.report(exc)
            warnings.warn(
                f"label propagation failed after the change was saved ({type(exc).__name__}: {exc}); the "
                "labels are in the journal, predictions are stale until the next change (see session.error).",
                RuntimeWarning,
                stacklevel=4,
            )
            return
        self._publish(lp)

    # ------------------------------------------------------------------ internals: propagation
    def _lp_inputs(self, changed: set[int]) -> LPInputs:
        """Copy what propagation needs from the history (caller holds ``_lock``), see :meth:`_run_lp`."""
        h = self._history
        return LPInputs(seq=h.seq, n_classes=len(h.classes), verified=h.verified.copy(), changed=changed)

    def _run_lp(self, inputs: LPInputs) -> LPResult:
        """Bring propagation and scores up to date with ``inputs`` (caller holds ``_lp_lock``).

        Takes no lock itself: ``inputs`` is a copy taken under ``_lock`` (:meth:`_lp_inputs`), so it may
        run on the worker thread while clicks take ``_lock`` (see the lock order in :meth:`_setup`).
        """
        return self._scorer.run(inputs)

    def _run_background(self, inputs: LPInputs) -> None:
        """One run of the background worker (no lock held on entry; see the lock order in :meth:`_setup`)."""
        with self._lp_lock:
            lp = self._run_lp(inputs)
        self._publish(lp)
        self._deliver()

    # ------------------------------------------------------------------ internals: states
    def _make_state(self) -> SessionState:
        h, lp = self._history, self._lp
        verified = frozen(h.verified.copy())
        self._version += 1
        return SessionState(
            version=self._version,
            seq=h.seq,
            lp_seq=lp.seq,
            classes=tuple(h.classes),
            given=self._given,
            verified=verified,
            proba=lp.proba,
            predicted=lp.predicted,
            confidence=lp.confidence,
            suspicion=lp.suspicion,
            flagged=frozen(lp.flags & (verified < 0)),
            alternative=lp.alternative,
            noise=lp.noise,
            audit=lp.audit,
        )

    def _publish(self, lp: LPResult | None) -> None:
        """Swap in a new snapshot; subscribers hear of it in :meth:`_deliver`."""
        with self._lock:
            if lp is not None:
                self._lp = lp
            self._state = self._make_state()

    def _deliver(self) -> None:
        """Hand the newest snapshot to subscribers unless they have seen it (never called under ``_lock``)."""
        self._subscribers.deliver(lambda: self._state)

    def _frame(self, s: SessionState, rows: np.ndarray) -> pd.DataFrame:
        return item_frame(s, rows, self._ids, self._structure.scores())
