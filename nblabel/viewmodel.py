"""What the widget's page shows, computed without a browser: grid lists per mode, counts, row patches.

:class:`~nblabel.widget.Labeler` keeps traits, message dispatch and wire encoding; everything it decides
about *what* to show lives here as plain functions of a :class:`~nblabel.session.SessionState` snapshot
(and, for the modes that ask the graph, of the :class:`~nblabel.session.Session`), so it is tested without
a widget (``tests/test_viewmodel.py``).  Nothing here keeps state between calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nblabel.clusters import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_RESOLUTION
from nblabel.quality import MIN_AUDITS, MIN_REVIEWS, TOP_EVERY
from nblabel.results import current_labels, flag_counts, label_counts

if TYPE_CHECKING:
    from nblabel.session import Session, SessionState

__all__ = [
    "LIVE_MODES",
    "STATE_FIELDS",
    "VIEW_PARAMS",
    "GridModel",
    "ViewParams",
    "browse",
    "cluster_cards",
    "counts",
    "noise_counts",
    "row_patch",
]

#: The per-item arrays of a snapshot that the page holds (sent whole, then as patches).
STATE_FIELDS = ("given", "verified", "predicted", "confidence", "suspicion", "flagged")
#: Modes whose list follows every new snapshot.  Queue and similar lists are the person's working set; they
#: change only when asked to.
LIVE_MODES = ("browse", "suspects", "duplicates")
#: Each view parameter shapes one mode's list only; e.g. picking an anchor while browsing changes nothing.
VIEW_PARAMS = {
    "browse_filter": "browse",
    "anchor": "similar",
    "queue_strategy": "queue",
    "cluster": "cluster",
    "duplicate_threshold": "duplicates",
    "flagged_only": "suspects",
}


@dataclass(frozen=True)
class ViewParams:
    """The widget's choices that decide the grid's list (see :class:`~nblabel.widget.Labeler`)."""

    mode: str = "browse"
    browse_filter: str = "all"
    flagged_only: bool = False
    anchor: int = -1
    queue_strategy: str = "margin"
    page_size: int = 48
    cluster: int = -1
    resolution: float = DEFAULT_RESOLUTION
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD


class GridModel:
    """The grid's ordered item list for each mode, read from one session.

    Parameters
    ----------
    session : Session
        Asked for the lists that need more than a snapshot (queue, neighbours, clusters, duplicates).

    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids: list[str] = list(session.ids)
        self.index_of = {item_id: i for i, item_id in enumerate(self.ids)}

    def indices_of(self, ids: Iterable[str]) -> np.ndarray:
        """Item indices (m,) int32 of item ids."""
        return np.fromiter((self.index_of[i] for i in ids), dtype=np.int32)

    def view(self, state: SessionState, p: ViewParams) -> tuple[np.ndarray, str]:
        """Compute the grid's ordered item list for ``p.mode``, and a key naming what it shows.

        Returns
        -------
        indices : numpy.ndarray, shape (m,), int32
        key : str
            Equal keys and equal indices mean the page already shows this list.

        Raises
        ------
        ValueError
            For a browse filter that names no list (the widget shows the message).

        """
        mode, session = p.mode, self.session
        if mode == "browse":
            return browse(state, p.browse_filter, len(state.classes)), f"browse:{p.browse_filter}"
        if mode == "suspects":
            suspects = session.suspect_order(state).astype(np.int32)
            if p.flagged_only:
                suspects = suspects[np.asarray(state.flagged, bool)[suspects]]
            return suspects, f"suspects:{'flagged' if p.flagged_only else 'all'}"
        if mode in ("cluster", "outliers", "duplicates"):
            return self._structure_view(p)
        if mode == "queue":
            ids = session.next_batch(n=p.page_size, strategy=p.queue_strategy)
            return self.indices_of(ids), f"queue:{p.queue_strategy}:{state.version}"
        if not 0 <= p.anchor < len(self.ids):
            return np.zeros(0, np.int32), "similar:none"
        similar = session.neighbors(self.ids[p.anchor], n=p.page_size - 1)
        view = np.concatenate([[p.anchor], self.indices_of(similar)]).astype(np.int32)
        return view, f"similar:{p.anchor}"

    def _structure_view(self, p: ViewParams) -> tuple[np.ndarray, str]:
        """Grid list of the modes read from the graph's structure (see :mod:`nblabel.clusters`)."""
        session = self.session
        if p.mode == "cluster":
            labels = session.cluster_labels(p.resolution)
            if not 0 <= p.cluster <= int(labels.max(initial=-1)):
                return np.zeros(0, np.int32), "cluster:none"
            items = session.cluster_items(p.cluster, p.resolution)  # exemplars first
            return self.indices_of(items), f"cluster:{p.resolution}:{p.cluster}"
        if p.mode == "outliers":
            score = session.predictions["outlier"].to_numpy()
            return np.argsort(-score, kind="stable").astype(np.int32), "outliers"
        frame = session.duplicates(p.duplicate_threshold)
        # Conflicting groups first: two copies with different labels are the ones to look at.
        frame = frame.sort_values(["conflict", "group"], ascending=[False, True], kind="stable")
        return self.indices_of(frame.index), f"duplicates:{p.duplicate_threshold}"

    def cluster_cards(self, resolution: float, sort: str) -> list[dict[str, Any]]:
        """One JSON card per cluster of :meth:`Session.clusters`, exemplars as item indices."""
        return cluster_cards(self.session.clusters(resolution, sort=sort), self.indices_of)


def cluster_cards(table: Any, indices_of: Any) -> list[dict[str, Any]]:
    """Turn a :meth:`Session.clusters` table into JSON cards (NaN purity becomes None)."""
    return [
        {
            "cluster": int(c),
            "size": int(row["size"]),
            "exemplars": indices_of(row["exemplars"]).tolist(),
            "label": row["label"],
            "purity": None if np.isnan(row["purity"]) else float(row["purity"]),
            "labeled": int(row["labeled"]),
            "mix": {str(k): int(v) for k, v in row["mix"].items()},
            "core": int(row["core"]),
        }
        for c, row in table.iterrows()
    ]


def row_patch(
    changed: dict[str, np.ndarray], sent: dict[str, np.ndarray], itemsize: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """Reduce ``changed`` to the rows that differ from ``sent``, if that is fewer bytes on the wire.

    Parameters
    ----------
    changed, sent : dict of str to (n,) arrays
        The new arrays and the ones the page holds.
    itemsize : mapping of str to int
        Bytes per value on the wire, per name (``rows`` included).

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"rows": (m,) indices, name: values at rows, ...}`` for the arrays with a differing row, or
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
    row_bytes = itemsize["rows"] + sum(itemsize[name] for name in kept)
    whole_bytes = sum(itemsize[name] * changed[name].size for name in changed)
    if rows.size * row_bytes >= whole_bytes:
        return changed
    return {"rows": rows, **{name: changed[name][rows] for name in kept}}


def counts(state: SessionState, n_classes: int) -> dict[str, Any]:
    """Totals and per-class counts shown in the always-visible status bar (see :func:`label_counts`)."""
    n = label_counts(state, n_classes)
    return {
        "n": n["n"],
        "labeled": n["labeled"],
        "verified": n["verified"],
        "flagged": n["flagged"],
        "given": n["given_per_class"],
        "verified_per_class": n["verified_per_class"],
        "predicted": n["predicted_per_class"],
        **noise_counts(state, n_classes),
    }


def noise_counts(state: SessionState, n_classes: int) -> dict[str, Any]:
    """Give the suspects panel (js/src/noise.js) the noise estimate and the flags' noise matrix.

    ``noise_matrix[g][j]`` counts the flagged items given class ``g`` whose likely class is ``j``; the
    panel's cells open ``browse_filter="flagged:<g>:<j>"``.
    """
    noise = getattr(state, "noise", None)
    matrix = flag_counts(state, n_classes)
    if noise is None:
        return {"noise_matrix": matrix.tolist()}
    return {
        "noise_rate": float(noise.rate),
        "noise_low": float(noise.low),
        "noise_high": float(noise.high),
        "errors_unreviewed": float(noise.errors),
        "reviewed": int(noise.reviewed),
        "calibrated": bool(noise.calibrated),
        # What calibrating still takes (quality.calibrate), which the panel tells the reviewer.
        "audits": int(noise.audits),
        "min_audits": MIN_AUDITS,
        "min_reviews": MIN_REVIEWS,
        # The suspects list's pattern (quality.audit_slots), which the panel explains to the reviewer.
        "top_every": TOP_EVERY,
        "noise_matrix": matrix.tolist(),
    }


def browse(state: SessionState, browse_filter: str, n_classes: int) -> np.ndarray:
    """Items matching a browse filter, in item order.

    Filters: ``all``, ``unlabeled`` (no given and no verified label), ``unverified``, ``flagged``,
    ``flagged:<g>:<j>`` (flagged, given class g, likely class j: one cell of the noise matrix),
    ``class:<i>`` (current label i: verified if set, else given) and ``predicted:<i>``.

    Returns
    -------
    numpy.ndarray, shape (m,), int32

    Raises
    ------
    ValueError
        For any other filter, or a class number ``>= n_classes``.

    """
    given, verified = np.asarray(state.given), np.asarray(state.verified)
    kind, _, arg = browse_filter.partition(":")
    cell = _noise_cell(arg, n_classes) if kind == "flagged" and arg else None
    if kind == "all" and not arg:
        mask = np.ones(len(given), bool)
    elif kind == "unlabeled" and not arg:
        mask = (given < 0) & (verified < 0)
    elif kind == "unverified" and not arg:
        mask = verified < 0
    elif kind == "flagged" and not arg:
        mask = np.asarray(state.flagged, bool)
    elif cell is not None and getattr(state, "alternative", None) is not None:
        g, j = cell
        mask = np.asarray(state.flagged, bool) & (given == g) & (np.asarray(state.alternative) == j)
    elif kind in ("class", "predicted") and arg.isdigit() and int(arg) < n_classes:
        current = current_labels(state) if kind == "class" else np.asarray(state.predicted)
        mask = current == int(arg)
    else:
        raise ValueError(
            f"browse_filter: expected all, unlabeled, unverified, flagged, flagged:<g>:<j>, class:<i> or "
            f"predicted:<i> with i < {n_classes}; got {browse_filter!r}. Fix: pick a filter from the menu."
        )
    return np.flatnonzero(mask).astype(np.int32)


def _noise_cell(arg: str, n_classes: int) -> tuple[int, int] | None:
    """Parse ``"<g>:<j>"`` (the part after ``flagged:``) into two class numbers below ``n_classes``."""
    parts = arg.split(":")
    if len(parts) == 2 and all(p.isdigit() and int(p) < n_classes for p in parts):
        return int(parts[0]), int(parts[1])
    return None
