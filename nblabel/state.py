"""The immutable snapshot a session publishes: :class:`SessionState`.

It lives apart from :mod:`nblabel.session` so that the modules the session uses to read and deliver snapshots
(:mod:`nblabel.results`, :mod:`nblabel.subscribers`) need not import the session back.
``from nblabel.session import SessionState`` and ``nblabel.SessionState`` name the same class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nblabel.quality import NoiseEstimate

__all__ = ["SessionState"]


@dataclass(frozen=True, eq=False)
class SessionState:
    """One consistent snapshot of a session; never mutated after it is published.

    Attributes
    ----------
    version : int
        Increases by one with every published snapshot.
    seq : int
        Journal position that ``verified`` reflects.
    lp_seq : int
        Journal position that the propagation results (``proba``, ``predicted``, ...) reflect.  Smaller than
        ``seq`` while background propagation is catching up (see :attr:`pending`).
    classes : tuple of str
        Class names; label ``j`` means ``classes[j]``.
    given : (n,) int32
        Labels that came with the data (-1 none); untrusted.
    verified : (n,) int32
        Labels set or confirmed by a person (-1 none); clamped in propagation.
    proba : (n, c_lp) float32
        Soft labels from propagation (``c_lp <= len(classes)`` while a new class is being propagated).
    predicted : (n,) int32
        ``argmax`` of ``proba``; -1 where propagation reached no label.
    confidence : (n,) float32
        Propagator's confidence in ``predicted`` (0 where it is -1).
    suspicion : (n,) float32
        How doubtful each given label looks, in [0, 1]; NaN where there is no given label.
    flagged : (n,) bool
        Given label judged a likely error and not yet checked by a person (``verified == -1``).
    alternative : (n,) int32, optional
        The class a given label most likely should be (the best other class after per-class calibration,
        see :mod:`nblabel.quality`); -1 where there is none.
    noise : NoiseEstimate, optional
        Estimated share of wrong given labels with its interval and the errors still unreviewed; re-fitted
        from the reviews once a person has checked enough suspects (see :func:`nblabel.quality.calibrate`).
    audit : tuple of two (n,) arrays, optional
        Keys of the audit draws that :meth:`Session.suspect_order` interleaves with the top suspects
        (:func:`nblabel.quality.audit_keys`) and the pre-review suspicion they were drawn by, which orders the
        top suspects.

    """

    version: int
    seq: int
    lp_seq: int
    classes: tuple[str, ...]
    given: np.ndarray
    verified: np.ndarray
    proba: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    suspicion: np.ndarray
    flagged: np.ndarray
    alternative: np.ndarray | None = None
    noise: NoiseEstimate | None = None
    audit: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def pending(self) -> bool:
        """True while propagation has not yet caught up with the latest labels."""
        return self.lp_seq < self.seq

    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.given.shape[0])

    def __repr__(self) -> str:
        return (
            f"SessionState(version={self.version}, n_items={self.n_items}, classes={len(self.classes)}, "
            f"verified={int((self.verified >= 0).sum())}, flagged={int(self.flagged.sum())}, "
            f"pending={self.pending})"
        )
