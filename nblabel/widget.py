"""The notebook widget: an image grid and a WebGL scatter driving a :class:`~nblabel.session.Session`.

The widget holds no labeling state of its own. Small UI state (mode, filter, page, selection, status)
lives in synced traits; everything per item travels as binary custom messages built from the session's
immutable state snapshots, and every person's action is forwarded to the session. One table,
:data:`MESSAGES`, lists every custom message in both directions (``js/src/protocol.js`` mirrors it).

Threading: the session runs label propagation on a worker thread and calls back with each new snapshot;
the callback pushes arrays from that thread (ipykernel serialises sends on its IOPub thread), so the
kernel's main thread is never blocked by LP and a click is acknowledged as soon as the journal commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import traitlets as t

from nblabel.clusters import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_RESOLUTION
from nblabel.layout import FIRST_MAP_MIN_ITEMS, landmark_layout
from nblabel.viewmodel import LIVE_MODES, STATE_FIELDS, VIEW_PARAMS, GridModel, ViewParams, counts, row_patch

if TYPE_CHECKING:
    from nblabel.session import Session, SessionState

__all__ = ["Labeler", "MESSAGES", "MODES", "COLOR_BY", "pack_arrays"]

_STATIC = Path(__file__).parent / "static"

# Shown instead of the real front end when the bundle was never built (e.g. a source checkout without node).
_MISSING_BUNDLE_ESM = """
export default {
  render({ el }) {
    const box = document.createElement("div");
    box.dataset.testid = "nbl-fallback";
    box.style.cssText = "padding:8px;border:1px solid #c00;color:#c00;font-family:sans-serif";
    box.textContent = "nblabel: the widget's front end is not built (nblabel/static/widget.js is missing). "
      + "Build it with `cd js && npm ci && npm run build`, or install nblabel from a wheel, "
      + "then restart the kernel.";
    el.appendChild(box);
  },
};
"""

#: Every custom message, keyed by its ``type``: (direction, content and buffers). ``js/src/protocol.js``
#: mirrors this table; ``tests/test_widget.py`` checks that both list the same types.
MESSAGES: dict[str, tuple[str, str]] = {
    # front end -> kernel. Actions carry a request_id and get exactly one "reply" after the journal commit.
    "ready": ("in", "{} a model was created in the page; kernel answers with layout, state and view"),
    "label": ("in", "{request_id, indices, cls}: verified label cls (class index) for the items"),
    "unlabel": ("in", "{request_id, indices}: drop the items' verified labels"),
    "accept": ("in", "{request_id, indices}: the given label becomes the verified one"),
    "take_predicted": ("in", "{request_id, indices}: the predicted label becomes the verified one"),
    "undo": ("in", "{request_id}: undo the last action"),
    "redo": ("in", "{request_id}: redo the last undone action"),
    "add_class": ("in", "{request_id, name}: append a class"),
    "request_view": ("in", "{request_id}: rebuild the grid's item list (e.g. a fresh queue batch)"),
    "request_thumbs": ("in", "{request_id, indices}: thumbnails for these items"),
    "request_clusters": ("in", "{request_id}: cluster cards, and each item's cluster once per resolution"),
    "label_cluster": ("in", "{request_id, cluster, cls}: label the cluster's core cls, one undo"),
    "find": ("in", "{request_id, id}: where an item id is; the reply carries its index"),
    # kernel -> front end. Arrays are described by `fields` [{name, dtype, shape}] + one buffer each.
    "layout": ("out", "{fields}: xy (n, 2) float32"),
    "state": (
        "out",
        "{version, full, fields}: given, verified, predicted int32; confidence, suspicion float32; "
        "flagged uint8 (all when full, else only those that changed); a partial state may instead be a "
        "patch: a field rows (m,) int32 and each changed array's values (m,) at those rows",
    ),
    "view": ("out", "{mode, key, total, fields}: indices (m,) int32, the grid's ordered item list"),
    "thumbs": (
        "out",
        "{request_id, items: [{index, id, mime} | {index, id, error}]}: one buffer per item with a mime",
    ),
    "reply": ("out", "{request_id, ok, error[, index]}: answer to one request (index: for find)"),
    "clusters": (
        "out",
        "{resolution, sort, cards: [{cluster, size, exemplars, label, purity, labeled, mix, core}], fields}: "
        "exemplars as item indices; fields: cluster (n,) int32 when the resolution changed, else none",
    ),
}

#: The page's menus, value -> what the menu says, in menu order. The one definition: the page builds its
#: menus from the ``options`` trait, so a mode or colouring added here needs no second list in js/.
MODE_MENU = {
    "browse": "browse",
    "queue": "label queue",
    "suspects": "review suspects",
    "similar": "similar images",
    "cluster": "explore clusters",
    "outliers": "outliers",
    "duplicates": "near-duplicates",
}
COLOR_BY_MENU = {
    "predicted": "colour: predicted",
    "given": "colour: given",
    "verified": "colour: verified",
    "suspicion": "colour: suspicion",
    "cluster": "colour: cluster",
}
MODES = tuple(MODE_MENU)
COLOR_BY = tuple(COLOR_BY_MENU)
QUEUE_STRATEGIES = ("margin", "least_confident", "random", "coverage", "suspects")

# Explicit wire dtypes (style #3): the JS side decodes by these names, so nothing depends on platform ints.
_WIRE_DTYPES: dict[str, np.dtype] = {
    "xy": np.dtype(np.float32),
    "given": np.dtype(np.int32),
    "verified": np.dtype(np.int32),
    "predicted": np.dtype(np.int32),
    "confidence": np.dtype(np.float32),
    "suspicion": np.dtype(np.float32),
    "flagged": np.dtype(np.uint8),
    "indices": np.dtype(np.int32),
    "rows": np.dtype(np.int32),
    "cluster": np.dtype(np.int32),
}
_ITEMSIZE = {name: dtype.itemsize for name, dtype in _WIRE_DTYPES.items()}
# One page of tiles at most: a request for more is a bug or an attack, and each thumbnail may mean decoding a
# large image.  Also the largest page_size the page may set.
_MAX_THUMBS_PER_REQUEST = 256
_SIZE_RANGES = {"page_size": (1, _MAX_THUMBS_PER_REQUEST), "thumb_size": (16, 1024)}


def pack_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[dict[str, Any]], list[memoryview]]:
    """Describe and serialise named arrays for one binary custom message.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        Names must be keys of the wire-dtype table (``xy``, ``given``, ..., ``indices``).

    Returns
    -------
    fields : list of dict
        ``{"name", "dtype", "shape"}`` per array, in buffer order.
    buffers : list of memoryview
        C-contiguous bytes of each array cast to its wire dtype.

    """
    fields, buffers = [], []
    for name, array in arrays.items():
        dtype = _WIRE_DTYPES[name]
        wire = np.ascontiguousarray(array, dtype=dtype)
        fields.append({"name": name, "dtype": dtype.name, "shape": list(wire.shape)})
        buffers.append(wire.data.cast("B"))
    return fields, buffers


def _bundle(name: str, fallback: str) -> Path | str:
    path = _STATIC / name
    return path if path.is_file() else fallback


class Labeler(anywidget.AnyWidget):
    """Label images and review suspect labels in a notebook: image grid + WebGL scatter of the layout.

    Parameters
    ----------
    session : nblabel.session.Session
        The kernel-side state the widget drives; every action goes to it and is journal-committed
        before it is acknowledged.
    page_size : int, default 48
        Tiles per grid page.
    thumb_size : int, default 96
        Longer side of a thumbnail, in pixels.
    background : bool, default True
        Put the session in background mode (:meth:`Session.start_background`) so label propagation never
        blocks the kernel while a person clicks; ``False`` leaves the session's mode as it is.

    Attributes
    ----------
    mode : {"browse", "queue", "suspects", "similar", "cluster", "outliers", "duplicates"}
        What the grid lists: items matching ``browse_filter``, the session's next batch
        (``queue_strategy``), unverified given labels by suspicion (label conflicts first), ``anchor`` and its
        neighbours, the items of ``cluster`` (exemplars first; the page shows the cluster cards), the
        items farthest from their neighbours, or near-duplicate groups (``duplicate_threshold``; conflicting
        groups first).
    browse_filter : str
        ``all``, ``unlabeled``, ``unverified``, ``flagged``, ``class:<i>`` or ``predicted:<i>``.
    flagged_only : bool
        In suspects mode, list only the flagged suspects (likely mislabels), most suspicious first.
    color_by : {"given", "verified", "predicted", "suspicion", "cluster"}
        Colouring of the scatter.
    cluster, resolution, cluster_sort, duplicate_threshold : int, float, str, float
        The open cluster (-1 none) and the clusters' resolution and card order (``"size"`` or
        ``"impurity"``), see :meth:`Session.clusters`; the cosine threshold of ``mode="duplicates"``.
    selection : list of int
        Selected item indices (tiles or lasso), kept in sync with the page; see :attr:`selected_ids`.
    counts : dict
        Totals (``n``, ``labeled``, ``verified``, ``flagged``) and per-class lists (``given``,
        ``verified_per_class``, ``predicted``) shown in the status line; the noise estimate
        (``noise_rate``, ``noise_low``, ``noise_high``, ``errors_unreviewed``, ``reviewed``) and the flags'
        ``noise_matrix`` (given x likely class) shown in suspects mode.
    saved, busy, error : bool, bool, str
        Journal committed for every action; label propagation running; last error text (empty if none).

    Notes
    -----
    Keys (focus inside the widget; a click on a tile or the map puts it there): each class's key (shown on
    its button: a one-character class name is its own key, the others get 1-9 then 0) labels the
    selection, ``c`` opens a class palette filtered by typing, ``a`` accepts the given label, ``p`` takes
    the predicted one, ``u`` unlabels, ``z`` undoes, ``Z``/``y`` redoes; after each of these the selection
    moves to the next item of the list. Arrows move between tiles (shift extends, at the page edges they
    page), Enter/Space toggle a tile, PgUp/PgDn page, ctrl/cmd+A selects all, Esc clears, ``/`` jumps to
    an id, ``s`` shows similar images.
    In ``mode="cluster"`` with a cluster open and nothing selected, 1-9 label the cluster's core
    (:meth:`Session.label_cluster`), one undo for all of it. ``z`` undoes your own last change (see
    :meth:`Session.undo`).

    """

    _esm = _bundle("widget.js", _MISSING_BUNDLE_ESM)
    _css = _bundle("widget.css", "")

    classes = t.List(t.Unicode()).tag(sync=True)
    counts = t.Dict().tag(sync=True)
    n_items = t.Int(0).tag(sync=True)
    has_images = t.Bool(False).tag(sync=True)

    mode = t.Enum(MODES, default_value="browse").tag(sync=True)
    browse_filter = t.Unicode("all").tag(sync=True)
    anchor = t.Int(-1).tag(sync=True)
    queue_strategy = t.Enum(QUEUE_STRATEGIES, default_value="margin").tag(sync=True)
    flagged_only = t.Bool(False).tag(sync=True)
    color_by = t.Enum(COLOR_BY, default_value="predicted").tag(sync=True)
    #: The menus' entries, [[value, text], ...] per menu (from MODE_MENU and COLOR_BY_MENU).
    options = t.Dict(
        {
            "mode": [list(kv) for kv in MODE_MENU.items()],
            "color_by": [list(kv) for kv in COLOR_BY_MENU.items()],
        }
    ).tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(48).tag(sync=True)
    thumb_size = t.Int(96).tag(sync=True)
    selection = t.List(t.Int()).tag(sync=True)

    version = t.Int(-1).tag(sync=True)
    saved = t.Bool(True).tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    layout_ready = t.Bool(False).tag(sync=True)

    # Exploring clusters (nblabel.clusters): the cluster shown in mode "cluster", the Leiden resolution, the
    # order of the cluster cards, and the near-duplicate threshold of mode "duplicates".
    cluster = t.Int(-1).tag(sync=True)
    resolution = t.Float(DEFAULT_RESOLUTION).tag(sync=True)
    cluster_sort = t.Enum(("size", "impurity"), default_value="size").tag(sync=True)
    duplicate_threshold = t.Float(DEFAULT_DUPLICATE_THRESHOLD).tag(sync=True)

    def __init__(
        self,
        session: Session,
        page_size: int = 48,
        thumb_size: int = 96,
        background: bool = True,
        **kwargs: Any,
    ) -> None:
        # ipywidgets calls close() from __del__, also after a constructor that raised before subscribing.
        self._unsubscribe: Callable[[], None] = lambda: None
        for name, value in (("page_size", page_size), ("thumb_size", thumb_size)):
            low, high = _SIZE_RANGES[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not low <= value <= high
            ):
                raise ValueError(
                    f"Labeler {name}: expected an integer in [{low}, {high}]; got {value!r}. "
                    f"Fix: pass e.g. {name}=48."
                )
        self._session = session
        self._model = GridModel(session)
        self._ids = self._model.ids
        self._index_of = self._model.index_of
        self._push_lock = threading.RLock()
        self._state: SessionState | None = None
        self._sent_arrays: dict[str, np.ndarray] = {}
        self._view = np.zeros(0, np.int32)
        self._view_key = ""
        self._view_error = ""  # the error text _refresh_view last showed, cleared once a list computes again
        self._xy: np.ndarray | None = None
        self._thumb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nblabel-thumbs")
        super().__init__(
            page_size=int(page_size),
            thumb_size=int(thumb_size),
            n_items=len(self._ids),
            has_images=session.source is not None,
            **kwargs,
        )
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "ready": self._on_ready,
            "label": self._on_label,
            "unlabel": self._on_unlabel,
            "accept": self._on_accept,
            "take_predicted": self._on_take_predicted,
            "undo": self._on_undo,
            "redo": self._on_redo,
            "add_class": self._on_add_class,
            "request_view": self._on_request_view,
            "request_thumbs": self._on_request_thumbs,
            "request_clusters": self._on_request_clusters,
            "label_cluster": self._on_label_cluster,
            "find": self._on_find,
        }
        self._clusters_wanted = False  # the page asked for cluster cards: keep them current with the state
        self._clusters_sent_resolution: float | None = None
        self.on_msg(self._on_message)
        self.observe(self._on_view_params, names=["mode", *VIEW_PARAMS])
        self.observe(self._on_cluster_params, names=["resolution", "cluster_sort"])
        if background:
            session.start_background()
        self._unsubscribe = session.subscribe(self._apply_state, self._on_session_error)
        self._apply_state(session.state)
        self._layout_thread = threading.Thread(
            target=self._compute_layout, name="nblabel-layout", daemon=True
        )
        self._layout_thread.start()

    # -- public helpers ---------------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        """The :class:`~nblabel.session.Session` this widget drives."""
        return self._session

    @property
    def selected_ids(self) -> list[str]:
        """Ids of the items selected in the page (tiles or lasso)."""
        return [self._ids[i] for i in self.selection if 0 <= i < len(self._ids)]

    def wait_for_layout(self, timeout: float | None = None) -> bool:
        """Block until the 2-D layout is computed (it runs on a thread so the grid is usable at once).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most.

        Returns
        -------
        bool
            Whether the layout is ready.

        """
        self._layout_thread.join(timeout)
        return self.layout_ready

    def close(self) -> None:
        """Stop listening to the session and close the widget's comm."""
        self._unsubscribe()
        if hasattr(self, "_thumb_pool"):  # close() also runs after a constructor that raised early
            self._thumb_pool.shutdown(wait=False, cancel_futures=True)
        super().close()

    @t.validate("page_size", "thumb_size")
    def _check_sizes(self, proposal: dict[str, Any]) -> int:
        # The page sets these too.  Raising would only reach the kernel log and leave the page with the bad
        # value, so an out-of-range value is clamped (ipywidgets echoes the clamped value to the page) and
        # the page is told why.
        name, value = proposal["trait"].name, proposal["value"]
        low, high = _SIZE_RANGES[name]
        if low <= value <= high:
            return value
        self.error = (
            f"Labeler {name}: expected an integer in [{low}, {high}]; got {value!r}. It is now clamped."
        )
        return min(max(value, low), high)

    def __repr__(self) -> str:
        # This text is what a front end without widget support shows in place of the widget.
        return (
            f"nblabel.Labeler({self.n_items} items, {len(self.classes)} classes) - an interactive widget. "
            "If you read this instead of the widget, this front end cannot show Jupyter widgets: "
            "open the notebook in JupyterLab >= 4 or Notebook >= 7 (with ipywidgets >= 8 installed)."
        )

    # -- kernel -> page ---------------------------------------------------------------------------------
    def _post(self, content: dict[str, Any], buffers: Sequence[memoryview] | None = None) -> None:
        self.send(content, list(buffers) if buffers else None)

    def _reply(self, request_id: Any, error: str = "") -> None:
        self._post({"type": "reply", "request_id": request_id, "ok": not error, "error": error})

    def _compute_layout(self) -> None:
        try:
            xy = self._session.layout(compute=False)
            if xy is None and self.n_items >= FIRST_MAP_MIN_ITEMS:
                # UMAP takes minutes on large sets: show a coarse map first, swapped when UMAP is done.
                first = landmark_layout(self._session.graph)
                with self._push_lock:
                    self._xy = first
                    self._send_layout()
            xy = np.asarray(self._session.layout() if xy is None else xy, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - on a thread nobody would see it; the page shows it instead
            self.error = f"Could not compute the 2-D layout: {type(exc).__name__}: {exc}"
            return
        with self._push_lock:
            self._xy = xy
            self._send_layout()
            self.layout_ready = True

    def _send_layout(self) -> None:
        if self._xy is None:  # the page asked before any layout exists: it comes when computed
            return
        fields, buffers = pack_arrays({"xy": self._xy})
        self._post({"type": "layout", "fields": fields}, buffers)

    def _shown(self) -> SessionState:
        """Return the snapshot the page shows (__init__ applies the first one before any message)."""
        if self._state is None:
            raise RuntimeError("Labeler: no session state yet; the constructor sets it before anything else.")
        return self._state

    def _send_state(self, full: bool) -> None:
        """Send the current snapshot; unless ``full``, only what changed since the last send.

        Snapshots share unchanged arrays (``given`` always; the LP outputs between a click and its LP run), so
        identity tells which arrays may have changed; of those, only the rows that differ are sent when that
        is smaller (one click moves LP results on a small share of the items: ~10 % at n = 100k).
        """
        state = self._shown()
        arrays = {name: getattr(state, name) for name in STATE_FIELDS}
        changed = {k: v for k, v in arrays.items() if full or self._sent_arrays.get(k) is not v}
        if not full and changed:
            changed = row_patch(changed, self._sent_arrays, _ITEMSIZE)
        self._sent_arrays = arrays
        fields, buffers = pack_arrays(changed)
        self._post({"type": "state", "version": int(state.version), "full": full, "fields": fields}, buffers)

    def _send_view(self) -> None:
        fields, buffers = pack_arrays({"indices": self._view})
        self._post(
            {
                "type": "view",
                "mode": self.mode,
                "key": self._view_key,
                "total": len(self._view),
                "fields": fields,
            },
            buffers,
        )

    def _apply_state(self, state: SessionState) -> None:
        """Adopt a session snapshot: counts, arrays to the page, and the grid list where it depends on it."""
        with self._push_lock:
            if self._state is not None and state.version <= self._state.version:
                return  # a late callback for an older snapshot; the page already has newer arrays
            self._state = state
            with self.hold_sync():
                self.classes = list(state.classes)
                self.counts = counts(state, len(state.classes))
                self.version = int(state.version)
                # A failed background run leaves the last state pending; that is an error, not "busy".
                self.busy = bool(state.pending) and self._session.error is None
            self._send_state(full=False)
            if self.mode in LIVE_MODES or self._view_key == "":
                self._refresh_view(resend_same=False)
            if self._clusters_wanted:
                self._send_clusters()  # label mix, purity and core counts follow the labels

    def _on_session_error(self, exc: BaseException) -> None:
        """Session callback: background propagation (or a subscriber) failed; the page shows why."""
        self.error = f"Label propagation failed: {type(exc).__name__}: {exc}"
        self.busy = False

    def _refresh_view(self, resend_same: bool = True) -> None:
        """Recompute the grid's list; a bad filter or an empty session shows as text and an empty grid."""
        with self._push_lock:
            try:
                view, key = self._compute_view()
            except ValueError as exc:
                self.error = self._view_error = str(exc)
                view, key = np.zeros(0, np.int32), f"{self.mode}:error"
            else:
                if self._view_error and self.error == self._view_error:
                    self.error = ""  # the list that failed is computed now: its error is over
                self._view_error = ""
            if not resend_same and key == self._view_key and np.array_equal(view, self._view):
                return
            self._view, self._view_key = view, key
            self._send_view()

    def _compute_view(self) -> tuple[np.ndarray, str]:
        """Compute the grid's ordered item list for the current mode, and a key naming what it shows."""
        params = ViewParams(
            mode=self.mode,
            browse_filter=self.browse_filter,
            flagged_only=self.flagged_only,
            anchor=self.anchor,
            queue_strategy=self.queue_strategy,
            page_size=self.page_size,
            cluster=self.cluster,
            resolution=self.resolution,
            duplicate_threshold=self.duplicate_threshold,
        )
        return self._model.view(self._shown(), params)

    def _on_view_params(self, change: dict[str, Any]) -> None:
        if change["name"] == "mode" or VIEW_PARAMS[change["name"]] == self.mode:
            self._refresh_view()

    # -- page -> kernel ---------------------------------------------------------------------------------
    def _on_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        """Dispatch one custom message from the page; any failure goes back to the page as text.

        Nothing from the page is trusted: any JSON value may arrive here.  A message that carries a
        ``request_id`` gets exactly one answer (``reply``, or ``thumbs``), also when it is malformed.
        """
        is_dict = isinstance(content, dict)
        kind = content.get("type") if is_dict else None
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            got = repr(kind if is_dict else type(content).__name__)
            message = (
                f"Unknown message from the page: expected a type from {sorted(self._handlers)}; got "
                f"{got[:80]}. Fix: reload the page (widget version mismatch?)."
            )
            self.error = message
            if is_dict and "request_id" in content:
                self._reply(content["request_id"], message)
            return
        try:
            handler(content)
        except Exception as exc:  # noqa: BLE001 - a comm handler's exception only reaches the kernel log
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            self.error = message
            if "request_id" in content:
                self._reply(content["request_id"], message)

    def _on_ready(self, msg: dict[str, Any]) -> None:
        with self._push_lock:
            if self._xy is not None:
                self._send_layout()
            self._send_state(full=True)
            self._send_view()

    def _checked_indices(self, msg: dict[str, Any]) -> list[int]:
        raw = msg.get("indices")
        if not isinstance(raw, list) or not raw:
            raise ValueError(
                f"expected a non-empty list of item indices; got {raw!r}. Fix: select items first."
            )
        bad = [i for i in raw if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self._ids)]
        if bad:
            raise ValueError(
                f"item indices must be integers in [0, {len(self._ids)}); got {bad[:5]}. "
                "Fix: reload the widget."
            )
        return raw

    def _act(self, msg: dict[str, Any], action: Callable[[], Any]) -> None:
        """Run one session action; reply after it returns, i.e. after its journal commit."""
        # Cleared first: a background LP failure may be reported while the action is still returning.
        self.error = ""
        self.saved = False
        action()
        self.saved = True
        self._reply(msg.get("request_id"))

    def _on_label(self, msg: dict[str, Any]) -> None:
        indices = self._checked_indices(msg)
        cls = msg.get("cls")
        if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < len(self.classes):
            raise ValueError(
                f"label: expected a class index in [0, {len(self.classes)}); got {cls!r}. "
                "Fix: add the class first."
            )
        self._act(msg, lambda: self._session.label([self._ids[i] for i in indices], cls))

    def _on_unlabel(self, msg: dict[str, Any]) -> None:
        indices = self._checked_indices(msg)
        self._act(msg, lambda: self._session.unlabel([self._ids[i] for i in indices]))

    def _on_accept(self, msg: dict[str, Any]) -> None:
        indices = self._checked_indices(msg)
        # Checked here to answer in the widget's words (the session's own error names its Python API).
        without = [i for i in indices if self._shown().given[i] < 0]
        if without:
            raise ValueError(
                f"accept (a): {len(without)} of the {len(indices)} selected items have no given label to "
                f"accept, e.g. {self._ids[without[0]]!r}. Fix: press a class key (or c to pick a class) "
                "to label them, or p to take the prediction."
            )
        self._act(msg, lambda: self._session.accept([self._ids[i] for i in indices]))

    def _on_take_predicted(self, msg: dict[str, Any]) -> None:
        ids = [self._ids[i] for i in self._checked_indices(msg)]
        # The predictions the person saw, not ones that arrived after the key press.
        self._act(msg, lambda: self._session.take_predicted(ids, state=self._shown()))

    def _on_undo(self, msg: dict[str, Any]) -> None:
        self._act(msg, self._session.undo)

    def _on_redo(self, msg: dict[str, Any]) -> None:
        self._act(msg, self._session.redo)

    def _on_add_class(self, msg: dict[str, Any]) -> None:
        name = msg.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"add_class: expected a non-empty class name; got {name!r}. Fix: type a name.")
        self._act(msg, lambda: self._session.add_class(name.strip()))

    def _on_request_view(self, msg: dict[str, Any]) -> None:
        self._refresh_view()
        self._reply(msg.get("request_id"))

    def _on_find(self, msg: dict[str, Any]) -> None:
        item_id = msg.get("id")
        if not isinstance(item_id, str) or item_id not in self._index_of:
            raise ValueError(
                f"jump to id: no item has the id {item_id!r}. Fix: type an id exactly as the tiles show it."
            )
        reply = {"type": "reply", "request_id": msg.get("request_id"), "ok": True, "error": ""}
        self._post({**reply, "index": self._index_of[item_id]})

    def _on_request_thumbs(self, msg: dict[str, Any]) -> None:
        indices = self._checked_indices(msg)
        if len(indices) > _MAX_THUMBS_PER_REQUEST:
            raise ValueError(
                f"request_thumbs: expected at most {_MAX_THUMBS_PER_REQUEST} items; got {len(indices)}. "
                "Fix: request one page at a time."
            )
        # Decoding runs on the widget's thumbnail thread: a page of large images may take seconds, and the
        # kernel's message thread must stay free for clicks meanwhile.  One thread: one image in memory.
        self._thumb_pool.submit(self._serve_thumbs, msg.get("request_id"), indices, int(self.thumb_size))

    def _serve_thumbs(self, request_id: Any, indices: list[int], size: int) -> None:
        """Answer one thumbnail request (on the thumbnail thread); a failure still answers it."""
        try:
            self._send_thumbs(request_id, indices, size)
        except Exception as exc:  # noqa: BLE001 - nobody would see it on this thread; the page does
            self._reply(request_id, f"request_thumbs failed: {type(exc).__name__}: {exc}")

    def _send_thumbs(self, request_id: Any, indices: list[int], size: int) -> None:
        source = self._session.source
        items: list[dict[str, Any]] = []
        buffers: list[memoryview] = []
        for i in indices:
            # The id travels with every answer: it is the tile's caption, and its only content without images.
            item: dict[str, Any] = {"index": i, "id": self._ids[i]}
            items.append(item)
            if source is None:
                item["error"] = "no images (session built from embeddings only)"
                continue
            try:
                data = source.thumbnail(i, size=size)
            except (OSError, ValueError) as exc:
                item["error"] = f"{type(exc).__name__}: {exc}"
                continue
            item["mime"] = source.thumbnail_format
            buffers.append(memoryview(data))
        self._post({"type": "thumbs", "request_id": request_id, "items": items}, buffers)

    # -- exploring clusters -----------------------------------------------------------------------------
    def _on_cluster_params(self, change: dict[str, Any]) -> None:
        if change["name"] == "resolution":
            self.cluster = -1  # cluster numbers of another resolution name other clusters
        if self._clusters_wanted:
            with self._push_lock:
                self._send_clusters()
        if self.mode == "cluster":
            self._refresh_view()

    def _send_clusters(self) -> None:
        """Send the cluster cards; each item's cluster only when the page does not have this resolution's."""
        resolution = float(self.resolution)
        cards = self._model.cluster_cards(resolution, self.cluster_sort)
        arrays = {}
        if self._clusters_sent_resolution != resolution:
            arrays["cluster"] = self._session.cluster_labels(resolution)
            self._clusters_sent_resolution = resolution
        fields, buffers = pack_arrays(arrays)
        self._post(
            {
                "type": "clusters",
                "resolution": resolution,
                "sort": self.cluster_sort,
                "cards": cards,
                "fields": fields,
            },
            buffers,
        )

    def _on_request_clusters(self, msg: dict[str, Any]) -> None:
        with self._push_lock:
            self._clusters_wanted = True
            self._clusters_sent_resolution = None  # a (re)loaded page has no cluster array yet
            self._send_clusters()
        self._reply(msg.get("request_id"))

    def _on_label_cluster(self, msg: dict[str, Any]) -> None:
        cluster, cls = msg.get("cluster"), msg.get("cls")
        if isinstance(cluster, bool) or not isinstance(cluster, int):
            raise ValueError(f"label_cluster: expected a cluster number; got {cluster!r}. Fix: open a card.")
        if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < len(self.classes):
            raise ValueError(
                f"label_cluster: expected a class index in [0, {len(self.classes)}); got {cls!r}. "
                "Fix: add the class first."
            )
        # The session checks the cluster number against this resolution's clusters.
        self._act(msg, lambda: self._session.label_cluster(cluster, cls, resolution=self.resolution))
