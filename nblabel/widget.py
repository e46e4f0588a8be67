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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from nblabel.layout import FIRST_MAP_MIN_ITEMS, landmark_layout

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
    "reply": ("out", "{request_id, ok, error}: answer to one request"),
}

MODES = ("browse", "queue", "suspects", "similar")
COLOR_BY = ("given", "verified", "predicted", "suspicion")
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
}
_STATE_FIELDS = ("given", "verified", "predicted", "confidence", "suspicion", "flagged")
_MAX_THUMBS_PER_REQUEST = 1024


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
        buffers.append(memoryview(wire).cast("B"))
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
    mode : {"browse", "queue", "suspects", "similar"}
        What the grid lists: items matching ``browse_filter``, the session's next batch
        (``queue_strategy``), unverified given labels by suspicion, or ``anchor`` and its neighbours.
    browse_filter : str
        ``all``, ``unlabeled``, ``unverified``, ``flagged``, ``class:<i>`` or ``predicted:<i>``.
    color_by : {"given", "verified", "predicted", "suspicion"}
        Colouring of the scatter.
    selection : list of int
        Selected item indices (tiles or lasso), kept in sync with the page; see :attr:`selected_ids`.
    counts : dict
        Totals (``n``, ``labeled``, ``verified``, ``flagged``) and per-class lists (``given``,
        ``verified_per_class``, ``predicted``) shown in the status line.
    saved, busy, error : bool, bool, str
        Journal committed for every action; label propagation running; last error text (empty if none).

    Notes
    -----
    Keys (focus inside the widget): 1-9 label the selection, ``a`` accepts the given label, ``p`` takes
    the predicted one, ``u`` unlabels, ``z`` undoes, ``Z``/``y`` redoes, ctrl/cmd+A selects all,
    Esc clears, arrows page, ``s`` shows similar images.

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
    color_by = t.Enum(COLOR_BY, default_value="predicted").tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(48).tag(sync=True)
    thumb_size = t.Int(96).tag(sync=True)
    selection = t.List(t.Int()).tag(sync=True)

    version = t.Int(-1).tag(sync=True)
    saved = t.Bool(True).tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    layout_ready = t.Bool(False).tag(sync=True)

    def __init__(
        self, session: Any, page_size: int = 48, thumb_size: int = 96, background: bool = True, **kwargs: Any
    ) -> None:
        # ipywidgets calls close() from __del__, also after a constructor that raised before subscribing.
        self._unsubscribe: Callable[[], None] = lambda: None
        for name, value, low in (("page_size", page_size, 1), ("thumb_size", thumb_size, 16)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(
                    f"Labeler {name}: expected an integer >= {low}; got {value!r}. Fix: pass e.g. {name}=48."
                )
        self._session = session
        self._ids: list[str] = list(session.ids)
        self._index_of = {item_id: i for i, item_id in enumerate(self._ids)}
        self._push_lock = threading.RLock()
        self._state: Any = None
        self._sent_arrays: dict[str, np.ndarray] = {}
        self._view = np.zeros(0, np.int32)
        self._view_key = ""
        self._xy: np.ndarray | None = None
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
        }
        self.on_msg(self._on_message)
        self.observe(self._on_view_params, names=["mode", "browse_filter", "anchor", "queue_strategy"])
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
    def session(self) -> Any:
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
        super().close()

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
        fields, buffers = pack_arrays({"xy": self._xy})
        self._post({"type": "layout", "fields": fields}, buffers)

    def _send_state(self, full: bool) -> None:
        """Send the current snapshot; unless ``full``, only what changed since the last send.

        Snapshots share unchanged arrays (``given`` always; the LP outputs between a click and its LP run), so
        identity tells which arrays may have changed; of those, only the rows that differ are sent when that
        is smaller (one click moves LP results on a small share of the items: ~10 % at n = 100k).
        """
        state = self._state
        arrays = {name: getattr(state, name) for name in _STATE_FIELDS}
        changed = {k: v for k, v in arrays.items() if full or self._sent_arrays.get(k) is not v}
        if not full and changed:
            changed = _patch(changed, self._sent_arrays)
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

    def _apply_state(self, state: Any) -> None:
        """Adopt a session snapshot: counts, arrays to the page, and the grid list where it depends on it."""
        with self._push_lock:
            if self._state is not None and state.version <= self._state.version:
                return  # a late callback for an older snapshot; the page already has newer arrays
            self._state = state
            with self.hold_sync():
                self.classes = list(state.classes)
                self.counts = _counts(state, len(state.classes))
                self.version = int(state.version)
                # A failed background run leaves the last state pending; that is an error, not "busy".
                self.busy = bool(state.pending) and self._session.error is None
            self._send_state(full=False)
            # Queue and similar lists are the person's working set; they change only when asked to.
            if self.mode in ("browse", "suspects") or self._view_key == "":
                self._refresh_view(resend_same=False)

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
                self.error = str(exc)
                view, key = np.zeros(0, np.int32), f"{self.mode}:error"
            if not resend_same and key == self._view_key and np.array_equal(view, self._view):
                return
            self._view, self._view_key = view, key
            self._send_view()

    def _compute_view(self) -> tuple[np.ndarray, str]:
        """Compute the grid's ordered item list for the current mode, and a key naming what it shows."""
        state, mode = self._state, self.mode
        if mode == "browse":
            return _browse(state, self.browse_filter, len(self.classes)), f"browse:{self.browse_filter}"
        if mode == "suspects":
            return _suspects(state), "suspects"
        if mode == "queue":
            ids = self._session.next_batch(n=self.page_size, strategy=self.queue_strategy)
            return self._indices_of(ids), f"queue:{self.queue_strategy}:{state.version}"
        if not 0 <= self.anchor < len(self._ids):
            return np.zeros(0, np.int32), "similar:none"
        anchor_id = self._ids[self.anchor]
        similar = self._session.neighbors(anchor_id, n=self.page_size - 1)
        return np.concatenate([[self.anchor], self._indices_of(similar)]).astype(
            np.int32
        ), f"similar:{self.anchor}"

    def _indices_of(self, ids: Iterable[str]) -> np.ndarray:
        return np.fromiter((self._index_of[i] for i in ids), dtype=np.int32)

    def _on_view_params(self, change: dict[str, Any]) -> None:
        # Each parameter shapes one mode's list only; e.g. picking an anchor while browsing changes nothing.
        relevant = {"browse_filter": "browse", "anchor": "similar", "queue_strategy": "queue"}
        if change["name"] == "mode" or relevant[change["name"]] == self.mode:
            self._refresh_view()

    # -- page -> kernel ---------------------------------------------------------------------------------
    def _on_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        """Dispatch one custom message from the page; any failure goes back to the page as text."""
        if not isinstance(content, dict) or content.get("type") not in self._handlers:
            got = content.get("type") if isinstance(content, dict) else type(content).__name__
            self.error = (
                f"Unknown message from the page: {got!r}. Fix: reload the page (widget version mismatch?)."
            )
            return
        try:
            self._handlers[content["type"]](content)
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
        self._act(msg, lambda: self._session.accept([self._ids[i] for i in indices]))

    def _on_take_predicted(self, msg: dict[str, Any]) -> None:
        indices = np.asarray(self._checked_indices(msg))
        predicted = self._state.predicted[indices]
        if (predicted < 0).all():
            raise ValueError(
                "take_predicted: expected items with a prediction; got none (propagation reached no "
                "label yet). Fix: label a few items of each class first."
            )

        def take() -> None:
            # One session call per predicted class: the session's label() takes a single class.
            for cls in np.unique(predicted[predicted >= 0]):
                self._session.label([self._ids[i] for i in indices[predicted == cls]], int(cls))

        self._act(msg, take)

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

    def _on_request_thumbs(self, msg: dict[str, Any]) -> None:
        indices = self._checked_indices(msg)
        if len(indices) > _MAX_THUMBS_PER_REQUEST:
            raise ValueError(
                f"request_thumbs: expected at most {_MAX_THUMBS_PER_REQUEST} items; got {len(indices)}. "
                "Fix: request one page at a time."
            )
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
                data = source.thumbnail(i, size=self.thumb_size)
            except (OSError, ValueError) as exc:
                item["error"] = f"{type(exc).__name__}: {exc}"
                continue
            item["mime"] = source.thumbnail_format
            buffers.append(memoryview(data))
        self._post({"type": "thumbs", "request_id": msg.get("request_id"), "items": items}, buffers)


def _patch(changed: dict[str, np.ndarray], sent: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reduce ``changed`` to the rows that differ from ``sent``, if that is fewer bytes on the wire.

    Returns ``{"rows": (m,) indices, name: values at rows, ...}`` for the arrays with a differing row, or
    ``changed`` itself when whole arrays are smaller on the wire.
    """
    if any(name not in sent for name in changed):  # nothing to diff against yet
        return changed
    diffs = {}
    for name, new in changed.items():
        old = sent[name]
        differ = new != old
        if new.dtype.kind == "f":
            differ &= ~(np.isnan(new) & np.isnan(old))  # NaN (no given label) stays NaN
        diffs[name] = differ
    rows = np.flatnonzero(np.logical_or.reduce(list(diffs.values())))
    kept = [name for name, differ in diffs.items() if differ.any()]
    row_bytes = 4 + sum(_WIRE_DTYPES[name].itemsize for name in kept)
    whole_bytes = sum(_WIRE_DTYPES[name].itemsize * changed[name].size for name in changed)
    if rows.size * row_bytes >= whole_bytes:
        return changed
    return {"rows": rows, **{name: changed[name][rows] for name in kept}}


def _counts(state: Any, n_classes: int) -> dict[str, Any]:
    """Totals and per-class counts shown in the always-visible status bar."""
    given = np.asarray(state.given)
    verified = np.asarray(state.verified)
    predicted = np.asarray(state.predicted)

    def per_class(labels: np.ndarray) -> list[int]:
        return np.bincount(labels[labels >= 0], minlength=n_classes)[:n_classes].tolist()

    return {
        "n": int(len(given)),
        "labeled": int(((given >= 0) | (verified >= 0)).sum()),
        "verified": int((verified >= 0).sum()),
        "flagged": int(np.asarray(state.flagged).sum()),
        "given": per_class(given),
        "verified_per_class": per_class(verified),
        "predicted": per_class(predicted),
    }


def _browse(state: Any, browse_filter: str, n_classes: int) -> np.ndarray:
    """Items matching a browse filter, in item order.

    Filters: ``all``, ``unlabeled`` (no given and no verified label), ``unverified``, ``flagged``,
    ``class:<i>`` (current label i: verified if set, else given) and ``predicted:<i>``.
    """
    given, verified = np.asarray(state.given), np.asarray(state.verified)
    kind, _, arg = browse_filter.partition(":")
    if kind == "all" and not arg:
        mask = np.ones(len(given), bool)
    elif kind == "unlabeled" and not arg:
        mask = (given < 0) & (verified < 0)
    elif kind == "unverified" and not arg:
        mask = verified < 0
    elif kind == "flagged" and not arg:
        mask = np.asarray(state.flagged, bool)
    elif kind in ("class", "predicted") and arg.isdigit() and int(arg) < n_classes:
        current = np.where(verified >= 0, verified, given) if kind == "class" else np.asarray(state.predicted)
        mask = current == int(arg)
    else:
        raise ValueError(
            f"browse_filter: expected all, unlabeled, unverified, flagged, class:<i> or predicted:<i> with "
            f"i < {n_classes}; got {browse_filter!r}. Fix: pick a filter from the menu."
        )
    return np.flatnonzero(mask).astype(np.int32)


def _suspects(state: Any) -> np.ndarray:
    """Unverified items with a given label, most suspicious first: :meth:`Session.suspects`'s order.

    Computed from the snapshot being shown (not via ``Session.suspects``, which builds a DataFrame of every
    row) so that a 100k-item review list costs one argsort per update.
    """
    suspicion = np.asarray(state.suspicion, np.float32)
    candidates = np.flatnonzero((np.asarray(state.verified) < 0) & ~np.isnan(suspicion))
    order = np.argsort(-suspicion[candidates], kind="stable")
    return candidates[order].astype(np.int32)
