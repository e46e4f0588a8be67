"""Held-out predictions of the given labels, for the noise estimate: each label judged by the others alone.

The noise estimate counts, in the core of each predicted class, the given labels that disagree with the
prediction (:func:`nblabel.quality.core_noise`). Propagated with the given labels it judges, a wrong label
votes for itself: it lowers its own confidence in its true class, so wrong labels fall out of the cores and
the estimate is low (on the digits' own features at 20 % symmetric noise, 0.186 for the truth 0.200 over 10
seeds; cleanlab's 0.209). Here the given labels are split into ``FOLDS`` folds; the labels of each fold are
judged by the propagation of the other folds' labels alone, and each fold has its own cores, so neither a
label nor its fold's other labels take part in ranking it (a single core over all folds would let a wrong
label lower its neighbours' confidence in the fold that judges them, and so rank itself higher).

Propagation is linear in its seeds (the given labels only initialise it, nothing is clamped), so the other
folds' propagation is the propagation of all the given labels less that of the fold: one more propagation
per fold, a block of classes at a time, and no second ``(n, c)`` array. Which labels a fold hides moves the
estimate, so ``REPEATS`` random splits are averaged, up to ``MAX_JUDGED`` judgements: with many labels one
split is enough, and the work stays about that of one propagation at a million items.

What it measured (``bench/bench_flags.py``'s grid, 10 seeds, 480 runs, against the in-sample core of half
of each class): the estimate's mean absolute error 0.036 against 0.042; the digits' own features at 20 %
symmetric noise 0.203 against 0.186 (truth 0.200, cleanlab 0.209), at 40 % 0.391 against 0.372; clean labels
at 10-NN 0.80 0.097 against 0.114 (the smaller core, :data:`nblabel.quality.CORE_SHARE`); the interval
holding the truth in 480 runs against 479. It scatters more where the noise is low and the features clear
(2-10 % noise on the digits' own features: mean error 0.002-0.007 against 0.002-0.006).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nblabel._validation import check_labels
from nblabel.propagate import label_blocks
from nblabel.quality import CoreNoise, core_noise

__all__ = ["FOLDS", "MAX_JUDGED", "REPEATS", "folds", "heldout_core_noise"]

#: Folds of the given labels; each is judged by the propagation of the other ``FOLDS - 1``. On the grid (one
#: split), two folds (each label judged by half the others) depended more on the split: mean absolute error
#: 0.036 and 0.039 for two random splits, and on 3 seeds the digits' own features at 10 % noise fell below
#: cleanlab's with both (0.092 against 0.105, truth 0.100); five: 0.037, every cell closer.
FOLDS = 5
#: Random splits into folds, each judging every given label once: which labels a fold hides moves the
#: estimate (at 1,797 labels, one split put the estimate closer to the truth than cleanlab's in 310 of the
#: grid's 360 digits runs; the mean of 4 in 333, of 16 in 336).
REPEATS = 4
#: Judgements of given labels at most (whole folds, so up to one fold more): with many labels the splits'
#: differences average out within one, and each fold judged costs one propagation of all the items.
#: Measured against one propagation of 10 classes (half the items with a given label, CPU time, the machine
#: loaded): 21x at 20k items (1.0 s), 10x at 100k (3.0 s), 1x at 1M (2.4 s).
MAX_JUDGED = 100_000
#: Seed of the folds: fixed, so a session reopened from its journal judges the same folds.
FOLD_SEED = 0x6E626C66


def folds(n: int, split: int = 0) -> np.ndarray:
    """Fold of each of ``n`` items in split ``split``, in ``range(FOLDS)``: random, the same at every call."""
    return np.random.default_rng([FOLD_SEED, split]).integers(0, FOLDS, n).astype(np.int8)


def heldout_core_noise(
    Wn: sp.spmatrix | sp.sparray,
    given: np.ndarray,
    n_classes: int,
    t: int,
    P: np.ndarray,
    *,
    num_threads: int | None = None,
) -> CoreNoise:
    """Estimate the share of wrong given labels, each judged by the propagation of the other folds' labels.

    Parameters
    ----------
    Wn : scipy sparse matrix, shape (n, n)
        Normalised affinity (``KnnGraph.normalized_``).
    given : numpy.ndarray, shape (n,), int
        Given labels, -1 = none.
    n_classes : int
        Number of classes.
    t : int
        Propagation steps.
    P : numpy.ndarray, shape (n, n_classes)
        The given labels propagated alone, not row-normalised (:func:`nblabel.propagate.propagate_labels`
        of ``given``): the other folds' propagation is ``P`` less the fold's.
    num_threads : int, optional
        As in :func:`nblabel.propagate.propagate`.

    Returns
    -------
    CoreNoise
        The folds' :func:`nblabel.quality.core_noise` (the rate and each pair's part of it), weighted by their
        given labels, and its sampling error.

    """
    n = Wn.shape[0]
    given = check_labels(given, n, n_classes, name="given")
    total, weighted, var, m = int((given >= 0).sum()), 0.0, 0.0, 0
    pairs = np.zeros((n_classes, n_classes))
    for split in range(REPEATS):
        if m >= MAX_JUDGED:
            break
        fold = folds(n, split)
        for k in range(FOLDS):
            if m >= MAX_JUDGED:
                break
            rows = np.flatnonzero((fold == k) & (given >= 0))
            if rows.size == 0:
                continue
            pred, conf = _other_folds(Wn, np.where(fold == k, given, -1), n_classes, t, P, rows, num_threads)
            m += rows.size
            core = core_noise(pred, conf, given[rows], n_classes)
            weighted += rows.size * core.rate
            var += (rows.size * core.se) ** 2
            pairs += rows.size * core.pairs
    if m == 0:
        return CoreNoise(0.0, 0.0, pairs)
    # The splits judge the same labels again: their sampling errors are not independent, so the error is
    # that of one split's worth of labels (at most all of them), not of every judgement.
    se = float(np.sqrt(var)) / m * np.sqrt(m / max(min(m, total), 1))
    return CoreNoise(min(weighted / m, 1.0), se, pairs / m)


def _other_folds(
    Wn: sp.spmatrix | sp.sparray,
    fold_labels: np.ndarray,
    n_classes: int,
    t: int,
    P: np.ndarray,
    rows: np.ndarray,
    num_threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Likely class and confidence of ``rows`` from ``P`` less the propagation of ``fold_labels``.

    The classes come a block at a time (:func:`nblabel.propagate.label_blocks`); the best class, its score
    and the row sums are kept as they come, so only ``(len(rows), block)`` arrays are added.
    """
    best = np.zeros(rows.size, np.float32)
    pred = np.full(rows.size, -1, np.int32)
    sums = np.zeros(rows.size, np.float64)
    for lo, hi, Y in label_blocks(Wn, fold_labels, n_classes, t, num_threads=num_threads):
        # The difference of two float32 propagations: clipped at 0 where rounding takes it below.
        other = np.maximum(P[rows, lo:hi] - Y[rows], 0.0)
        del Y
        top = other.argmax(axis=1)
        value = other[np.arange(rows.size), top]
        better = value > best
        best[better], pred[better] = value[better], top[better] + lo
        sums += other.sum(axis=1, dtype=np.float64)
    conf = np.divide(best, sums, out=np.zeros(rows.size), where=sums > 0).astype(np.float32)
    return pred, conf
