"""Label propagation and label-quality scores for one session, brought up to date incrementally.

A :class:`Scorer` keeps one :class:`~nblabel.propagate.Propagator` across runs: the first run (or one after a
failure) fits it, later runs apply only the rows whose verified label changed (``Propagator.update``) and
recompute the scores of the rows whose propagation output moved.  Its input is a copy of the history
(:class:`LPInputs`) and its output an immutable :class:`LPResult`, so it needs no lock of its own: the
session runs one at a time (see the lock order in :mod:`nblabel.session`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from nblabel.heldout import heldout_core_noise
from nblabel.propagate import Propagator, normalize_rows, propagate_labels
from nblabel.quality import (
    MIN_REVIEWS,
    CoreNoise,
    NoiseEstimate,
    audit_keys,
    calibrate,
    class_thresholds,
    label_evidence,
    pair_offsets,
    prior_estimate,
    prior_flags,
)

if TYPE_CHECKING:
    from nblabel.graph import KnnGraph

__all__ = ["LPInputs", "LPResult", "Reference", "ReferenceCache", "Scorer", "frozen"]

#: What the pre-review reference keeps: the noise estimate, the suspicion, the class thresholds, the likely
#: other class and the pair offsets of the given labels propagated alone (:meth:`Scorer._given_alone`).
ReferenceParts = tuple[NoiseEstimate, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: ``cache(given, n_classes, compute)``: the pre-review reference from a side file, else ``compute()`` saved
#: there (:func:`nblabel.cache.cached_reference` with the journal, fingerprint and parameters bound).
ReferenceCache = Callable[[np.ndarray, int, Callable[[], ReferenceParts]], ReferenceParts]
#: Rows per block when the reference's per-row scores are computed (their (rows, c) temporaries stay small).
REFERENCE_ROWS = 1 << 16


def frozen(a: np.ndarray) -> np.ndarray:
    """Make ``a`` read-only in place and return it (snapshots are never written after they are shared)."""
    a.flags.writeable = False
    return a


@dataclass(frozen=True, kw_only=True)
class LPInputs:
    """What one propagation run reads from the history, copied under the session lock."""

    seq: int  # journal position of verified
    n_classes: int
    verified: np.ndarray  # (n,) int32, a copy
    changed: set[int]  # rows whose verified label may have changed since the last run


@dataclass(frozen=True, kw_only=True)
class LPResult:
    """Propagation output for the labels as of journal position ``seq``, built by keyword.

    Arrays are read-only, shapes as in :class:`SessionState`; ``flags`` are the flags before verified items
    are taken out.
    """

    seq: int
    proba: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    suspicion: np.ndarray
    flags: np.ndarray
    alternative: np.ndarray
    noise: NoiseEstimate | None
    # Class thresholds the scores were computed with (the reference's, see _derive): each row's scores depend
    # on that row alone, so the next run recomputes changed rows only.
    thresholds: np.ndarray | None
    # Keys of the audit draws in the suspects list (quality.audit_keys) and the pre-review suspicion.
    audit: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class Reference:
    """The given labels propagated alone, for one class count: what review calibration and the scores read.

    ``noise`` and ``suspicion`` are the pre-review estimate and suspicion that
    :func:`nblabel.quality.calibrate` corrects, ``keys`` the audit draws' keys of that suspicion,
    ``alternative`` the likely other class before review (what the reviews of the draws say replacing a
    label by it would do), ``offsets`` what each (given, likely) pair of classes adds to the chance of an
    error (:func:`nblabel.quality.pair_offsets`), and ``thresholds`` the class thresholds every run scores
    with, so that the scores are a function of the labels, not of the order in which they were set (a
    session reopened from its journal scores as the one that wrote it did).
    """

    n_classes: int
    noise: NoiseEstimate
    suspicion: np.ndarray
    keys: np.ndarray
    thresholds: np.ndarray
    alternative: np.ndarray
    offsets: np.ndarray


class Scorer:
    """Propagation and scores of one session's graph and given labels, kept between runs.

    Parameters
    ----------
    graph : KnnGraph
        The session's fitted graph.
    given : (n,) int32
        Given labels (-1 none), read-only.
    t : int
        Propagation steps.
    cache : ReferenceCache, optional
        Where the pre-review reference is kept between sessions (:meth:`_reference_for`); default nowhere.

    """

    def __init__(
        self, graph: KnnGraph, given: np.ndarray, t: int, cache: ReferenceCache | None = None
    ) -> None:
        self.graph, self.given, self.t, self.cache = graph, given, t, cache
        self._with_given = bool((given >= 0).any())  # given is fixed: no O(n) scan per run
        self.propagator: Propagator | None = None
        self.needs_fit = True
        self.last: LPResult | None = None  # what run() last derived from the propagator
        self._reference: Reference | None = None  # see _reference_for

    def run(self, inputs: LPInputs) -> LPResult:
        """Bring the propagator up to date with ``inputs`` and return its results.

        One run at a time (the session's ``_lp_lock``); a run that fails leaves the next one to refit.
        """
        seq, n_classes, verified, changed = inputs.seq, inputs.n_classes, inputs.verified, inputs.changed
        n = self.given.shape[0]
        if n_classes == 0:
            empty = np.zeros((n, 0), np.float32)
            return LPResult(
                seq=seq,
                proba=empty,
                predicted=np.full(n, -1, np.int32),
                confidence=np.zeros(n, np.float32),
                suspicion=np.full(n, np.nan, np.float32),
                flags=np.zeros(n, bool),
                alternative=np.full(n, -1, np.int32),
                noise=None,
                thresholds=None,
            )
        prop = self.propagator
        try:
            rows: np.ndarray | None = None  # rows whose propagation output changed; None = all
            if prop is None or self.needs_fit:
                prop = Propagator(self.graph, n_classes, t=self.t).fit(self.given, verified)
            else:
                grew = prop.n_classes < n_classes
                while prop.n_classes < n_classes:
                    prop.add_class()
                idx = np.fromiter(sorted(i for i in changed if i >= 0), dtype=np.int64)
                rows = np.zeros(0, np.int64)
                if idx.size:
                    prop.update(idx, verified[idx])
                    rows = np.asarray(prop.last_update_["rows"], np.int64)
                if grew:
                    rows = None
            lp = self._derive(seq, prop, rows)
        except BaseException:
            self.needs_fit = True
            raise
        self.propagator, self.needs_fit, self.last = prop, False, lp
        return lp

    def _derive(self, seq: int, prop: Propagator, rows: np.ndarray | None) -> LPResult:
        """Snapshot the propagator's outputs and the label-quality scores derived from them.

        Every score is a function of its own row of ``proba_`` and the class thresholds, which are the
        reference's (:meth:`_reference_for`); so after an update that changed ``rows`` only those rows are
        recomputed (the rest is copied from the previous result), and the flags take O(n) vector work (the
        noise estimate before reviews is the reference's; after them, :func:`~nblabel.quality.calibrate`'s).
        ``rows=None`` recomputes everything.
        """
        given, prev = self.given, self.last
        verified = prop.verified_
        # proba_ is updated in place by the next update(): a snapshot needs its own copy.
        P = np.array(prop.proba_, dtype=np.float32)
        n, c = P.shape
        ref = self._reference if self._reference is not None and self._reference.n_classes == c else None
        if ref is None and self._with_given and (verified >= 0).any():
            ref = self._reference_for(c, None)
        if rows is None or prev is None or prev.proba.shape != P.shape or prev.thresholds is None:
            rows = np.arange(n)
            # Without a reference there is no verified label (or no given one): these are its thresholds.
            thresholds = class_thresholds(P, given) if ref is None else ref.thresholds
            predicted, confidence = np.empty(n, np.int32), np.empty(n, np.float32)
            susp, alternative = np.empty(n, np.float32), np.empty(n, np.int32)
        else:
            thresholds = prev.thresholds
            predicted, confidence = prev.predicted.copy(), prev.confidence.copy()
            susp, alternative = prev.suspicion.copy(), prev.alternative.copy()
        # All rows (sorted unique, so size n means all): no (n, c) copy, 400 MB at 1M x 100 classes.
        Pr, given_r = (P, given) if rows.size == P.shape[0] else (P[rows], given[rows])
        scores = _row_scores(Pr, given_r, thresholds)
        confidence[rows], predicted[rows], susp[rows], alternative[rows] = scores
        if ref is None and self._with_given:
            # No label verified yet (else the reference was read above): the propagator holds the given labels
            # propagated alone, and this run's scores are the reference's (computed only when no side file
            # holds it; the held-out estimate reads the raw propagation, before its rows are normalised).
            def now() -> ReferenceParts:
                raw = prop.result_
                core = heldout_core_noise(
                    self.graph.normalized_, given, c, self.t, raw, num_threads=self.graph.num_threads
                )
                noise, offsets = _reference_noise(susp, given, alternative, core)
                return noise, np.array(susp, np.float32), thresholds, np.array(alternative, np.int32), offsets

            ref = self._reference_for(c, now)
        reviewed = (verified >= 0) & (given >= 0)
        n_reviewed = int(reviewed.sum())
        if ref is None:  # no given label: nothing to judge
            flags, noise = np.zeros(n, bool), NoiseEstimate(0.0, 0.0, 0.0, 0.0)
        elif n_reviewed >= MIN_REVIEWS:
            flags, noise = calibrate(
                ref.noise, susp, given, verified, ref.suspicion, ref.keys, ref.alternative, ref.offsets
            )
        else:
            # Too few reviews to calibrate: the estimate before reviews stands (each given label judged by the
            # others), less the errors the reviews found among the ones still to review, and the flags follow
            # the current suspicion.
            found = int((reviewed & (verified != given)).sum())
            flags = prior_flags(susp, given, ref.noise.errors, alternative, ref.offsets)
            left = max(ref.noise.errors - found, 0.0)
            noise = replace(ref.noise, errors=left, reviewed=n_reviewed)
        return LPResult(
            seq=seq,
            proba=frozen(P),
            predicted=frozen(predicted),
            confidence=frozen(confidence),
            suspicion=frozen(susp),
            flags=frozen(flags),
            alternative=frozen(alternative),
            noise=noise,
            thresholds=thresholds,
            audit=None if ref is None else (ref.keys, ref.suspicion),
        )

    def _reference_for(self, n_classes: int, now: Callable[[], ReferenceParts] | None) -> Reference:
        """Return the pre-review reference for ``n_classes``; computed once per class count.

        Review calibration corrects the pre-review estimate by what the reviews found and draws its audit
        sample by the pre-review suspicion (see :func:`nblabel.quality.calibrate`), and every run scores with
        its class thresholds. ``now``: the current result's parts when no label is verified (then it is the
        reference, with the held-out estimate's propagations to add); else it is the given labels propagated
        alone (:meth:`_given_alone`). Either way it is kept in the side file of ``cache``, so a session
        reopened reads it back instead of propagating.
        """
        ref = self._reference
        if ref is None or ref.n_classes != n_classes:

            def compute() -> ReferenceParts:
                return now() if now is not None else self._given_alone(n_classes)

            parts = compute() if self.cache is None else self.cache(self.given, n_classes, compute)
            noise0, s0, t0, alt0, offsets0 = parts
            ref = self._reference = Reference(
                n_classes,
                noise0,
                frozen(s0),
                frozen(audit_keys(s0)),
                frozen(t0),
                frozen(alt0),
                frozen(offsets0),
            )
        return ref

    def _given_alone(self, n_classes: int) -> ReferenceParts:
        """Return the estimate, suspicion, thresholds and likely other class of a run without reviews.

        Bit for bit those of a full run. Propagation of the given labels alone
        (:func:`~nblabel.propagate.propagate_labels`: a block of classes at a time), row-normalised in place;
        the per-row scores a block of rows at a time. Memory: one (n, c) array and small blocks, where a
        second session-sized propagation used to hold four.
        """
        given, Wn, threads = self.given, self.graph.normalized_, self.graph.num_threads
        P = propagate_labels(Wn, given, n_classes, self.t, num_threads=threads)
        core = heldout_core_noise(Wn, given, n_classes, self.t, P, num_threads=threads)
        P = normalize_rows(P, out=P)
        # The thresholds read the rows with a given label only (the same rows in the same order, so the
        # same bits): a copy of those rows instead of all of P.
        has = np.flatnonzero(given >= 0)
        thresholds = class_thresholds(P[has], given[has])
        del has
        n = given.shape[0]
        s0, predicted, confidence = np.empty(n, np.float32), np.empty(n, np.int32), np.empty(n, np.float32)
        alternative = np.empty(n, np.int32)
        for lo in range(0, n, REFERENCE_ROWS):
            b = slice(lo, lo + REFERENCE_ROWS)
            confidence[b], predicted[b], s0[b], alternative[b] = _row_scores(P[b], given[b], thresholds)
        del P
        noise, offsets = _reference_noise(s0, given, alternative, core)
        return noise, s0, thresholds, alternative, offsets


def _reference_noise(
    suspicion: np.ndarray, given: np.ndarray, alternative: np.ndarray, core: CoreNoise
) -> tuple[NoiseEstimate, np.ndarray]:
    """Return the reference's noise estimate and pair offsets (not the flags: each run computes its own)."""
    return prior_estimate(suspicion, given, core), pair_offsets(suspicion, given, alternative, core)


def _row_scores(
    P: np.ndarray, given: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the per-row results of some rows of ``P``: one definition for a run and the reference.

    Returns
    -------
    confidence : numpy.ndarray, shape (rows,), float32
    predicted : numpy.ndarray, shape (rows,), int (-1 where no label reached the row)
    suspicion, alternative : numpy.ndarray, shape (rows,)
        As :func:`nblabel.quality.label_evidence` gives them.

    """
    confidence = P.max(axis=1, initial=0.0)
    predicted = np.where(confidence > 0, P.argmax(axis=1), -1)
    susp, alternative = label_evidence(P, given, thresholds)
    return confidence, predicted, susp, alternative
