"""A session's results as tables: the per-item frame, the cluster table, the noise matrix, the counts.

Plain functions of one :class:`~nblabel.session.SessionState` snapshot (and, for the columns read from the
graph, of :class:`~nblabel.structure.GraphStructure`'s arrays), so what :attr:`Session.predictions
<nblabel.session.Session.predictions>`, :meth:`~nblabel.session.Session.suspects`,
:meth:`~nblabel.session.Session.outliers`, :meth:`~nblabel.session.Session.duplicates`,
:meth:`~nblabel.session.Session.export`, :meth:`~nblabel.session.Session.summary` and the widget's status
line show is computed once, here.  Nothing here keeps state or takes a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nblabel.quality import corrections, flag_matrix

if TYPE_CHECKING:
    from nblabel.clusters import Clustering
    from nblabel.state import SessionState

__all__ = [
    "cluster_table",
    "corrected",
    "current_labels",
    "flag_counts",
    "item_frame",
    "label_counts",
    "noise_table",
    "summary_of",
]


def current_labels(s: SessionState) -> np.ndarray:
    """Each item's current label: verified where a person set one, else given, else -1; (n,) int32."""
    verified, given = np.asarray(s.verified), np.asarray(s.given)
    return np.where(verified >= 0, verified, given).astype(np.int32)


def corrected(s: SessionState) -> np.ndarray:
    """Return the labels to export: verified, else given with the expected-to-gain flags replaced, else -1.

    A flagged label is replaced by its likely class only where reviews calibrated that it is wrong more
    often than right (:func:`nblabel.quality.corrections`, the one definition); before that the column is
    the verified, else given labels.
    """
    out = current_labels(s)
    if s.alternative is not None:
        prior = None if s.audit is None else s.audit[1]
        fix = corrections(s.flagged, s.alternative, s.verified, prior, s.noise)
        out[fix] = s.alternative[fix]
    return out


def item_frame(
    s: SessionState, rows: np.ndarray, ids: Sequence[str], graph_scores: tuple[np.ndarray, np.ndarray]
) -> pd.DataFrame:
    """Build the rows ``rows`` of :attr:`Session.predictions <nblabel.session.Session.predictions>`, in order.

    Parameters
    ----------
    s : SessionState
        The snapshot to read.
    rows : (m,) int array
        Item indices.
    ids : sequence of str
        Every item's id.
    graph_scores : ((n,) float32, (n,) int32)
        Outlier score and duplicate group (:meth:`~nblabel.structure.GraphStructure.scores`).

    """
    categories = list(s.classes)

    def names(codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[rows].astype(np.int64), categories=categories)

    outlier, duplicate_group = graph_scores
    frame = pd.DataFrame(
        {
            "given": names(s.given),
            "verified": names(s.verified),
            "predicted": names(s.predicted),
            "confidence": s.confidence[rows],
            "suspicion": s.suspicion[rows],
            "flagged": s.flagged[rows],
            "corrected": names(corrected(s)),
            "outlier": outlier[rows],
            "duplicate_group": duplicate_group[rows],
        },
        index=pd.Index([ids[i] for i in rows], name="id"),
    )
    return frame


def cluster_table(c: Clustering, s: SessionState, ids: Sequence[str], n_exemplars: int) -> pd.DataFrame:
    """Build the table of :meth:`Session.clusters <nblabel.session.Session.clusters>` (largest first)."""
    from nblabel.clusters import DEFAULT_CORE_SHARE, exemplars

    labels, k = c.labels.astype(np.int64), c.n_clusters
    current = current_labels(s)
    current = np.where(current >= 0, current, s.predicted)
    n_classes = max(len(s.classes), 1)
    has = current >= 0
    mix = np.bincount(labels[has] * n_classes + current[has], minlength=k * n_classes).reshape(k, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = mix.max(axis=1) / mix.sum(axis=1)
    core = np.bincount(labels[(c.share >= DEFAULT_CORE_SHARE) & (s.verified < 0)], minlength=k)
    return pd.DataFrame(
        {
            "size": np.bincount(labels, minlength=k),
            "exemplars": [[ids[i] for i in e] for e in exemplars(labels, c.centrality, n_exemplars)],
            "label": [s.classes[int(m.argmax())] if m.sum() else None for m in mix],
            "purity": purity,
            "labeled": np.bincount(labels[(s.given >= 0) | (s.verified >= 0)], minlength=k),
            "mix": [{s.classes[j]: int(v) for j, v in enumerate(m) if v} for m in mix],
            "core": core,
        },
        index=pd.RangeIndex(k, name="cluster"),
    )


def flag_counts(s: SessionState, n_classes: int) -> np.ndarray:
    """Count flags by given class and likely class: (n_classes, n_classes) int64, zeros before any scores.

    A class being added may not be scored yet: :func:`~nblabel.quality.flag_matrix` leaves it out.
    """
    alternative = getattr(s, "alternative", None)
    if alternative is None:
        return np.zeros((n_classes, n_classes), np.int64)
    return flag_matrix(s.flagged, s.given, alternative, n_classes)


def noise_table(s: SessionState) -> pd.DataFrame:
    """Build the table of :meth:`Session.noise_matrix <nblabel.session.Session.noise_matrix>`."""
    index = pd.Index(list(s.classes), name="given")
    columns = pd.Index(list(s.classes), name="likely")
    return pd.DataFrame(flag_counts(s, len(s.classes)), index=index, columns=columns)


def label_counts(s: SessionState, n_classes: int | None = None) -> dict[str, Any]:
    """Count the labels of each kind in a snapshot: the one count behind the summary and the status line.

    Parameters
    ----------
    s : SessionState
        The snapshot to count.
    n_classes : int, optional
        Length of the per-class lists; default ``len(s.classes)``.

    Returns
    -------
    dict
        ``n``; ``labeled`` (items with a given or verified label), ``given``, ``verified``, ``flagged``,
        ``reviewed`` (given labels a person checked): ints; ``given_per_class``, ``verified_per_class``,
        ``predicted_per_class``: lists of ``n_classes`` ints.

    """
    c = len(s.classes) if n_classes is None else n_classes
    given, verified = np.asarray(s.given), np.asarray(s.verified)
    has_given, has_verified = given >= 0, verified >= 0

    def per_class(labels: np.ndarray) -> list[int]:
        return np.bincount(labels[labels >= 0], minlength=c)[:c].tolist()

    return {
        "n": int(len(given)),
        "labeled": int((has_given | has_verified).sum()),
        "given": int(has_given.sum()),
        "verified": int(has_verified.sum()),
        "flagged": int(np.asarray(s.flagged).sum()),
        "reviewed": int((has_given & has_verified).sum()),
        "given_per_class": per_class(given),
        "verified_per_class": per_class(verified),
        "predicted_per_class": per_class(np.asarray(s.predicted)),
    }


def summary_of(s: SessionState, journal: str) -> dict[str, Any]:
    """Build the dict of :meth:`Session.summary <nblabel.session.Session.summary>`."""
    n = label_counts(s)
    classes = {
        name: {
            "given": n["given_per_class"][j],
            "verified": n["verified_per_class"][j],
            "predicted": n["predicted_per_class"][j],
        }
        for j, name in enumerate(s.classes)
    }
    est = s.noise if n["given"] and s.proba.shape[1] > 0 else None
    nan = float("nan")
    return {
        "n_items": n["n"],
        "classes": classes,
        "labeled": n["labeled"],
        "given": n["given"],
        "verified": n["verified"],
        "flagged": n["flagged"],
        "noise_rate": est.rate if est else nan,
        "noise_interval": (est.low, est.high) if est else (nan, nan),
        "reviewed": n["reviewed"],
        "errors_unreviewed": est.errors if est else nan,
        "calibrated": est.calibrated if est else False,
        "journal": journal,
    }
