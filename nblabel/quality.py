"""How trustworthy each *given* label is, judged from the LP soft labels, and how many are wrong.

All functions take ``P`` (n, c), the propagated soft labels (``Propagator.proba_``; rows need not be
normalised), and ``given`` (n,), the untrusted labels with -1 for none.

Three decisions, each measured on ``bench/bench_flags.py`` (digits features degraded to a 10-NN accuracy of
0.80 / 0.90 / 0.97, symmetric and look-alike-pair noise from 0 to 0.4, a 20,000-image augmented set). The
numbers quoted are those of the grid when each choice was made: up to :data:`RESIDUAL_DRAWS`, the
augmented set's pair noise was still tied to the images' rotation (:data:`nblabel.degrade.NOISE_STREAM`):

**Suspicion** compares classes after dividing each column of ``P`` by its class's *threshold*, the mean
``P[i, j]`` over the items given class ``j`` (confident learning's expected self-confidence, Northcutt et
al. 2021). Propagation smooths toward large, compact classes and away from classes that are confused
with each other; the thresholds undo that, so a 3 among 5s is judged against how confident 5s usually are.
``suspicion = R_alt / (R_given + R_alt)`` with ``R = P / threshold`` and ``R_alt`` the best other class:
0.5 means the best other class weighs as much as the given one. It ranked errors at least as well as the
plain ``1 - P[given]`` in 118 of the grid's 120 noisy runs (AUROC 0.863 vs 0.735 for 40 % pair noise on the
0.80 features, mean of 3 seeds).

**Noise rate** from the *core* of each predicted class: the ``CORE_SHARE`` of the items predicted as class
``j`` that propagation is most confident about. Confusion between classes lives at their borders, label
noise is spread everywhere, so the share of given labels that disagree inside the cores estimates the noise
rate without counting hard-but-right items as errors (confident learning's joint counts them: on the
propagated probabilities of clean labels with the 0.80 features it estimated 17 % noise, the core 8 %).
Each label must be judged by predictions it took no part in (:func:`core_noise`): propagated with the labels
it judges, a wrong label votes for itself, lowers its own confidence and falls out of the cores, and the
estimate was low exactly where the evidence is clearest (the digits' own features at 20 % symmetric noise:
0.186 over 10 seeds for the truth 0.200, cleanlab's 0.209). A session judges each label by the propagation
of the others (:mod:`nblabel.heldout`); the functions here that take ``P`` judge by ``P`` as it comes, which
suits a classifier's out-of-sample probabilities. Held out, whether a label is in a core does not depend on
it, so the core can be smaller, leaving out more of the hard-but-right labels, without leaving out errors
(:data:`CORE_SHARE`). Before reviews, what is uncertain about that estimate is its bias more than its
sampling (the sampling error alone held the truth in 42 of the grid's 144 runs: 10.8 % [8.8, 12.7] on clean
labels with the 0.80 features). So the interval's upper end is the share of given labels that another
class outweighs (``suspicion > 0.5``): every error the graph can see is among them, with the
hard-but-right labels; the core share's sampling error is its least half-width. The lower end is as far
below the estimate, which reads as: the core counts as errors at most as many right labels as the
contradicted labels it leaves out; and it is lower still by the core's sampling error, since the core's own
count may be that low. Where the evidence is clear (the digits' own features) both ends are close to the
estimate; on weak features the interval is wide, which is what a reviewer should see before reviews narrow
it. Over 10 seeds of the grid (480 runs) it held the truth in 480, 0.179 wide on average. Without
the sampling error in the lower end, where the core counts right labels as errors (40 % noise at 10-NN 0.80)
about as many as it leaves out, its sampling error decides the side; and the reviews' interval, kept to
where it overlaps this one (:func:`_within_prior`), would keep that wrong lower end.

**Flags**: the likeliest errors among the given labels whose best other class outweighs the given one
(``suspicion > 0.5``), as many as maximise the expected F1, and every label above ``CERTAIN``. Ranking is
what the scores do well; the count comes from the estimate: each label's chance of being wrong is taken as
the curve that reviews later fit (:func:`_audit_fit`), logistic in ``logit(suspicion)``, with the slope
``PRIOR_SLOPE``, plus the offset of the label's (given, likely) pair of classes, and its level set so that
the chances add up to the estimated number of errors. Label noise is rarely even over the pairs: look-alike
classes are swapped, others not, and one chance for all pairs flags the hard right labels of the pairs
nobody swaps as readily as the errors of those that are swapped. The cores count each pair's errors too
(:class:`CoreNoise`), few and on weak features mixed with class overlap, so each pair expects those
counts shrunk toward its share of the global chances (:func:`pair_offsets`, :data:`PAIR_PRIOR`); within a
pair the flags are its most suspicious labels. Where the evidence is weak
the chances are spread, and the count that maximises F1 is larger than the estimate (flagging the
estimated count, over 10 seeds of the grid: F1 at least cleanlab's in 379 of 400 noisy runs, mean 0.695;
by expected F1: 386, mean 0.712; no more flags than cleanlab at noise 0 in all 80 runs either way; with
the held-out estimate since: 384, mean 0.718, and 80). Where the estimate is well above the truth (weak
features, 2 % noise) the count is also smaller than it.

After a person reviewed some suspects, :func:`calibrate` re-fits the flags and the estimate from what they
confirmed and corrected. Reviews of the top of the list measure the precision of the top only, so the suspects
list (:func:`suspect_order`) gives two of every three reviews to an *audit* draw: a random sample of the given
labels with a known inclusion probability, proportional to the cube of the pre-review suspicion (plus a floor,
so that any label can be drawn; sequential Poisson sampling, :func:`audit_keys`). The other reviews take the
top in the order of the pre-review suspicion, so that above the most suspicious unreviewed label every label
is reviewed (ordered by the current suspicion, the top picks what propagation of the reviews singled out, and
the reviewed labels stop standing for the unreviewed ones of the same prior score: the estimate doubled on
look-alike-pair noise). From the reviewed items, each draw below that frontier weighted by the inverse of its
inclusion probability (Horvitz-Thompson; the others weigh 1), a logistic fit of P(wrong | pre-review
suspicion, pair) in ``logit(suspicion)`` and the pair's offset (its coefficient between 0 and 1,
:data:`OFFSET_RIDGE`), which starts from the pre-review chances as a prior worth :data:`PRIOR_REVIEWS` reviews
(all of each pair's offset, the pre-review slope and level), gives each unreviewed label its chance of being
wrong: their sum, corrected by the draws' weighted residuals (a model-assisted, difference estimator), plus
the errors found is the noise estimate (interval: the binomial error of each block of an isotonic fit in the
suspicion, which assumes no curve, where it overlaps the pre-review interval), and the flags are the likeliest
errors among the unreviewed labels up to the count that maximises the expected F1, the errors expected above
each cut estimated as the total is (:data:`RESIDUAL_DRAWS`; see :func:`_audit_fit` for what each choice
measured). The labels to export replace a flag by its likely class only where the reviews say, with 95 %
confidence, that doing so to all the flags above its suspicion gains (:func:`corrections`). Measured on the
grid, against reviewing the top only (see ``bench/bench_flags.py``). With fewer than ``MIN_AUDITS`` audit
draws reviewed (a person who labeled by lasso, page by page or from the noise matrix) nothing can be fitted:
the pre-review estimate stands, the precision of its likeliest errors measured by the reviews of them, its
interval is never narrowed by such reviews, and the unreviewed labels keep their pre-review chances for the
flags (:func:`calibrate`; ``bench_flags.py --other-reviews``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from nblabel._validation import check_labels, check_proba
from nblabel.propagate import normalize_rows

#: Share of each predicted class, most confident first, that forms its core (see the module docstring). Judged
#: by held-out propagation (:mod:`nblabel.heldout`), whether a label is in a core does not depend on the
#: label, so a smaller core leaves out more of the hard-but-right labels at the class borders without leaving
#: out more errors. Over 10 seeds of the grid (480 runs, one split into five folds), the mean absolute error
#: of the estimate at shares 0.5 / 0.35 / 0.25: 0.046 / 0.037 / 0.032; the estimate closer to the truth than
#: cleanlab's on every cell's mean at 0.5 and 0.35, not at 0.25 on 3 seeds (the digits' own features at 10 %
#: noise: 0.090, cleanlab 0.105, truth 0.100); mean flag F1 0.704 / 0.717 / 0.723.
CORE_SHARE = 0.35
#: Suspicion above which a label is flagged whatever the count (the likely class outweighs the given one
#: 9 : 1 after per-class scaling). On the grid at most 0.4 % of right labels scored above it, and
#: 90 % of the errors on the digits' own features, which the core estimate undercounted at 10-20 % noise
#: when it was not held out.
CERTAIN = 0.9
#: Slope in ``logit(suspicion)`` of the pre-review chance that a label is wrong (module docstring, "Flags").
#: Fitted to the true errors with hindsight, the grid's 120 noisy runs (3 seeds) had slopes from 1.2 to 7.9,
#: median 2.8. Over its 400 noisy runs on 10 seeds, the runs whose F1 was at least cleanlab's: 383 / 384 /
#: 386 / 386 / 385 / 385 for slopes 2 / 2.5 / 3 / 3.5 / 4 / 5, mean F1 0.713 / 0.713 / 0.712 / 0.710 /
#: 0.709 / 0.706.
PRIOR_SLOPE = 3.0
#: How far each (given, likely) pair of classes' errors follow what the cores count in it
#: (:func:`pair_offsets`): the pair's ratio of errors to its share of the global chances has a prior of
#: mean 1 worth PAIR_PRIOR times the errors those chances expect in the cores, plus PAIR_PSEUDO errors.
#: Label noise is rarely even over the pairs (look-alike classes are swapped, others not), and one chance
#: for all pairs flags the hard right labels of the pairs nobody swaps as readily as the errors of those
#: that are; but the cores' per-pair counts are few, and on weak features they also count class overlap.
#: Over 10 seeds of ``bench_flags.py``'s grid (480 runs), against one chance for all pairs: flag F1 before
#: review at least cleanlab's on all 40 noisy cells' means instead of 39 (40 % look-alike pairs at 10-NN
#: 0.80: 0.669 -> 0.710, cleanlab 0.683) and in 399 of 400 runs instead of 392; +0.018 on the
#: look-alike-pair cells (up to +0.041), -0.003 to +0.008 on the symmetric ones. Simulated without sessions
#: (the digits over 10 seeds, the augmented set over 3): the weight alone (3, no pseudo-errors) flagged one
#: label more than cleanlab on clean labels of the digits' own features (the cores' two disagreements put
#: in one pair), and the pseudo-errors alone (3) lost up to 0.02 of F1 on symmetric noise at 10-NN 0.80.
PAIR_PRIOR = 3.0
#: See :data:`PAIR_PRIOR`.
PAIR_PSEUDO = 3.0
#: Largest share of a pair's labels that :func:`pair_offsets` expects wrong.
PAIR_CEILING = 0.999
#: Ridge on the coefficient of the pair offsets in the after-review fit (:func:`_audit_fit`), per unit of
#: the reviews' total weight (about the number of given labels): the reviews decide how much of the offsets
#: to keep, and few reviews keep little. Over 10 seeds of the grid with the production audit seed, against
#: the curve in the suspicion alone: flag F1 within 0.05 of the best after 100 reviews in 397 of 400 runs
#: instead of 388, and after 50 reviews on all but one of the 40 noisy cells' means instead of all but
#: four. Simulated without sessions (the digits over 10 seeds x 2 audit seeds, the augmented set over 3 x
#: 3): within 0.05 after 50 / 100 reviews in 89.0 / 98.0 % of the digits' runs and 81.1 / 93.3 % of the
#: augmented set's (the curve alone: 90.0 / 96.2 % and 74.4 / 88.9 %); with offsets from the weight alone,
#: ridges of 0.001 and 0.003 measured within a point of each other; the offsets at full weight (no
#: coefficient) lost on symmetric noise on the augmented set. Since the fit starts from the pre-review
#: chances (:data:`PRIOR_REVIEWS`), which hold the coefficient near 1 until the reviews move it, this ridge
#: only tempers it (fitted coefficients 0.3 to 1.9 after 50 and 100 reviews on the 0.80 and 0.90 digits,
#: kept to at most 1); without it, F1 within 0.05 after 50 / 100 reviews in 94.4 / 98.9 % of the grid's
#: 1,920 reviewed runs of :data:`PRIOR_REVIEWS` (95.0 / 99.0 % with it).
OFFSET_RIDGE = 1e-3
#: Reviews' worth of the pre-review chances in the after-review fit (:func:`_audit_fit`): the unreviewed
#: labels enter it as soft reviews, each at its chance before reviews (:func:`_prior_reviews`), together
#: weighing as much as ``PRIOR_REVIEWS`` reviews of the average weight: a prior, so the fit starts from the
#: curve of the pre-review flags and the reviews move it more as they add up. Fitted to 50 reviews alone
#: (about 33 audit draws, a handful of errors among them), the curve at times found few errors left and lost
#: what the graph and the pair offsets knew before review (the digits at 10-NN 0.80 with 5 % look-alike pairs:
#: 6-10 flags and F1 0.25-0.30 in 3 of 20 runs; the augmented set at 5 % pairs: F1 0.543 before review, 0.488
#: after 50 reviews on the grid's first 3 seeds). Over 10 seeds of the grid x 4 audit seeds (1,920 reviewed
#: runs, the reviews simulated without sessions), against no prior: flag F1 within 0.05 of the best threshold
#: in 95.0 / 99.0 % of runs after 50 / 100 reviews instead of 90.9 / 98.5 % (mean F1 0.807 / 0.845 instead of
#: 0.797 / 0.842; with the production audit seed, no cell's mean missing it at 50 instead of one), the
#: estimate within 0.03 in 88.2 / 93.3 % instead of 87.7 / 93.2 %, the interval holding the truth in 99.7 /
#: 99.8 % (99.7 / 99.7 %). Worth 10 or 40 reviews: 93.9 or 94.4 % at 50. A prior on the curve's shape alone
#: (the reviews setting its level) did no better than none (91.2 / 98.5 %): the level the graph estimated is
#: worth as much as the slope. Its level weighted against the draws' own count by their variances (the graph's
#: from its interval) 93.4 % at 50 reviews, 94.9-95.1 % (no gain) with the graph's variance shrunk or the
#: draws' raised; its pair offsets at half or none of their weight 94.7 / 94.5 %. Its cost: where that level
#: is far above the truth and the errors are spread over every pair (2 % symmetric noise on the augmented set,
#: the graph's estimate three times the truth), the curve is pulled up and flags more: F1 within 0.05 of the
#: best in 70 / 92 % of that cell's runs at 50 / 100 reviews instead of 75 / 92 % (on the grid's first 3 seeds
#: x 11 audit seeds 52 / 76 % instead of 73 / 91 %); through sessions over 10 seeds its mean F1 after 50
#: reviews is 0.678 for the best threshold's 0.721.
PRIOR_REVIEWS = 20.0
#: Steps of the log-odds of the suspicion and of the pair offsets on which :func:`_prior_reviews` bins the
#: unreviewed labels (at the prior's slope, its chances within 0.15 in log-odds of each label's own).
_LOGIT_STEP = 0.1
_OFFSET_STEP = 0.25
#: Largest pair offset :func:`_prior_reviews` tells apart (beyond it a label's chance is 0 or 1 either way).
_OFFSET_SPAN = 60.0
#: Reviewed given labels needed before :func:`calibrate` re-fits the flags (fewer: pre-review flags).
MIN_REVIEWS = 20
#: Every ``TOP_EVERY``-th review in the suspects list (the 1st, 4th, ...) takes the top suspect; the others
#: are audit draws (see :func:`audit_keys` and :data:`AUDIT_POWER` for the measurements behind both).
TOP_EVERY = 3
#: The audit draws a label with probability proportional to ``suspicion ** AUDIT_POWER + AUDIT_FLOOR``.
#: P(wrong | suspicion) rises steeply toward the top, so drawing by the cube spends the draws where the
#: errors, and the flag threshold, are. Simulating 100 reviews on the grid's 144 runs with 11 audit seeds
#: each (``bench/bench_flags.py --review-curve``; checked again on 11 other seeds), against every 2nd review
#: drawn in proportion to the suspicion itself: flag F1 within 0.05 of the best 92.0 % -> 95.8 % of runs,
#: estimate within 0.03 91.3 % -> 93.1 %, errors found per review 0.49 -> 0.52. Powers 2 to 4 and one draw
#: in every 2 to 5 reviews measured within 2 points of that or below; the Neyman-like weights that favour
#: the middle (``sqrt(s (1 - s))``, ``min(s, 1/2)``) measured worse on both targets.
AUDIT_POWER = 3
#: Added to the weight of the audit draws, so that a label nobody suspects can be drawn (at most 51 times
#: less often than the most suspicious: the largest weight a single draw can carry).
AUDIT_FLOOR = 0.02
#: Reviewed audit draws needed before :func:`calibrate` fits P(wrong | suspicion) from them.
MIN_AUDITS = 10
#: Audit draws above a flag cut at which their residuals count half in the errors expected above it
#: (:func:`_audit_fit`). The curve alone is off where P(wrong | suspicion) is not logistic (look-alike pairs:
#: no error at all in the other classes, whatever their suspicion), and flagged too few there (on the
#: augmented set at 5 % pairs, 498 labels after 100 reviews for 607 errors, where the best threshold flags
#: 852); the residuals of a few draws are mostly noise. Simulating 50 / 100 / 200 reviews on the grid's 144
#: runs x 11 audit seeds (``bench_flags.py --review-curve``), against the curve alone: F1 within 0.05 of the
#: best in 87.5 / 96.9 / 99.6 % of runs instead of 85.5 / 94.8 / 98.5 %, in the worst cell 61 / 85 / 94 %
#: instead of 42 / 73 / 79 % (on 11 other audit seeds 86.2 / 96.9 / 99.7 % instead of 82.4 / 93.9 / 99.2 %,
#: worst cell 55 / 70 / 91 % instead of 36 / 64 / 88 %; the estimate is the same). On 20 of its cells (most
#: of the look-alike-pair ones), at 50 / 100 reviews: the curve alone 78.8 / 91.4 %, the residuals in full
#: 77.6 / 92.7 %, shrunk at 5 / 20 / 40 / 80 draws 79.8 / 93.2, 80.9 / 94.1, 82.3 / 95.0 and 81.8 / 94.5 %.
RESIDUAL_DRAWS = 40
#: Positions of the suspects list that interleave audit draws; the rest follows by suspicion. The list is
#: recomputed after every review, so the interleaved part moves along with the reviewer.
AUDIT_HORIZON = 1000
#: Net gain per replaced label, among all the unreviewed labels that ``corrected`` would replace, that the
#: reviews must show with 95 % confidence (:func:`_replace_from`): a replacement gains one right label where
#: the likely class is the right one, loses one where the given label was right, and changes nothing where
#: both are wrong, which the reviews of the audit draws show directly (their likely class before review
#: against the verified one). Simulating 50 / 100 reviews on the grid (144 runs x 11 audit seeds, and 11
#: other seeds): corrected at least as accurate as the given labels in 100 % of the reviewed runs, mean gain
#: +0.047 / +0.058; the rule before (more than 60 % wrong with 95 % confidence, and every isotonic block
#: above wrong more often than right) lost in 0.5 / 0.25 % of the first 11 seeds' runs and 0.3 / 0.1 % of
#: the others' (worst -0.032 at 50 reviews on 40 % look-alike pairs, where most wrong labels' likely class
#: is wrong too), mean gain +0.048 / +0.055. A margin of 0 or 0.1 lost in 0.2-0.4 % of runs, 0.2 in
#: 0.06 %, 0.25-0.35 in none.
REPLACE_GAIN = 0.3
#: Seed of the audit draws: fixed, so a session reopened from its journal draws the same sample. Not a small
#: number: data whose label noise was drawn with ``default_rng(0)`` (as a user's test may draw it) would
#: then be drawn by the same uniforms, and the draws would find the errors far more often than their
#: probability says.
AUDIT_SEED = 0x6E626C61
_GRID = 1000
#: Step of the log-odds on which :func:`_level` bins the labels.
_Z_STEP = 0.01
#: Ridge of the logistic P(wrong | suspicion) fit (:func:`_wrong_fit`): keeps it finite, moves nothing else.
_RIDGE = 1e-4
_Z95 = 1.959964


def _inputs(P: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return row-normalised P (zero rows stay zero), the given labels, and the mask of labeled items."""
    P = check_proba(P)
    given = check_labels(given, P.shape[0], P.shape[1], name="given")
    return normalize_rows(P), given, given >= 0


def class_thresholds(P: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Each class's expected self-confidence: the mean ``P[i, j]`` over the items given class ``j``.

    Parameters
    ----------
    P : array-like, shape (n, c)
        Soft labels from label propagation.
    given : array-like, shape (n,), int
        Given labels, -1 = none.

    Returns
    -------
    numpy.ndarray, shape (c,), float32
        In (0, 1]; 1 for a class nobody was given (its column is then compared unscaled).

    """
    Pn, given, has = _inputs(P, given)
    return _thresholds(Pn, given, has)


def _thresholds(Pn: np.ndarray, given: np.ndarray, has: np.ndarray) -> np.ndarray:
    c = Pn.shape[1]
    rows = np.flatnonzero(has)
    sums = np.bincount(given[rows], weights=Pn[rows, given[rows]], minlength=c)[:c]
    counts = np.bincount(given[rows], minlength=c)[:c]
    t = np.divide(sums, counts, out=np.ones(c), where=counts > 0)
    # A class whose given items propagation never reaches would divide by zero; it has no evidence anyway.
    return np.maximum(t, 1e-6).astype(np.float32)


def _scores(
    Pn: np.ndarray, given: np.ndarray, has: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Suspicion (NaN where unlabeled) and the best other class (-1 where unlabeled or no evidence)."""
    n, c = Pn.shape
    s = np.full(n, np.nan, np.float32)
    alt = np.full(n, -1, np.int32)
    rows = np.flatnonzero(has)
    if c == 0 or rows.size == 0:
        return s, alt
    R = Pn[rows] / t
    g = given[rows]
    r_given = R[np.arange(rows.size), g].copy()
    R[np.arange(rows.size), g] = -1.0
    best = R.argmax(axis=1)
    r_alt = np.maximum(R[np.arange(rows.size), best], 0.0)
    total = r_given + r_alt
    s[rows] = np.divide(r_alt, total, out=np.zeros_like(total), where=total > 0)  # unreached: no evidence
    alt[rows] = np.where(r_alt > 0, best, -1)
    return s, alt


def suspicion(P: np.ndarray, given: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Score how likely each given label is wrong.

    Parameters
    ----------
    P : array-like, shape (n, c)
        Soft labels from label propagation.
    given : array-like, shape (n,), int
        Given labels, -1 = none.
    thresholds : array-like, shape (c,), optional
        Per-class scale; default :func:`class_thresholds` of ``P`` and ``given``. Passing the ones of an
        earlier call keeps each row's score a function of that row alone (what incremental updates need).

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        ``R_alt / (R_given + R_alt)`` with ``R = P / thresholds`` (module docstring), in [0, 1]; above 0.5
        when another class outweighs the given one; 0 where LP reached the item with no class at all (no
        evidence against the label); NaN where ``given == -1``.

    """
    Pn, given, has = _inputs(P, given)
    t = _thresholds(Pn, given, has) if thresholds is None else _check_thresholds(thresholds, Pn.shape[1])
    return _scores(Pn, given, has, t)[0]


def _check_thresholds(thresholds: np.ndarray, c: int) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float32)
    if t.shape != (c,) or not np.all(t > 0):
        raise ValueError(
            f"thresholds: expected {c} positive numbers (one per class); got {t!r}. "
            "Fix: pass class_thresholds(P, given), or leave thresholds=None."
        )
    return t


@dataclass(frozen=True)
class NoiseEstimate:
    """Estimated share of wrong given labels.

    Attributes
    ----------
    rate : float
        Point estimate, in [0, 1].
    low, high : float
        95 % interval.
    errors : float
        Estimated number of wrong given labels among those nobody reviewed yet.
    reviewed : int
        Given labels a person has checked (their outcome is known, not estimated).
    precision : float or None
        Share of the reviewed given labels that were wrong; None before :func:`calibrate`.
    replace_above : float
        Pre-review suspicion from which on replacing the unreviewed flagged labels by their likely class
        gains, with 95 % confidence, at least ``REPLACE_GAIN`` right labels per label replaced
        (:func:`corrections`); ``inf`` (replace none) until reviews with audit draws calibrate it.
    calibrated : bool
        Whether P(wrong | suspicion) was fitted to reviewed audit draws (:func:`calibrate`); reviews without
        them leave the pre-review estimate standing for the labels nobody reviewed.
    audits : int
        Reviewed audit draws (the suspects list's random checks) that stand for the labels nobody reviewed:
        the fit needs ``MIN_AUDITS`` of them, and a right label among the reviews (:func:`_audit_fit`).

    """

    rate: float
    low: float
    high: float
    errors: float
    reviewed: int = 0
    precision: float | None = None
    replace_above: float = float("inf")
    calibrated: bool = False
    audits: int = 0


class CoreNoise(NamedTuple):
    """What the cores of the predicted classes say of the given labels (:func:`core_noise`)."""

    rate: float  #: share of the given labels that are wrong, in [0, 1]
    se: float  #: its sampling error
    #: (c, c): share of the given labels given class ``i`` whose class is ``j`` (zero diagonal; adds up to
    #: ``rate``)
    pairs: np.ndarray


def core_noise(predicted: np.ndarray, confidence: np.ndarray, given: np.ndarray, n_classes: int) -> CoreNoise:
    """Estimate the share of wrong given labels, and each pair of classes' part, from the classes' cores.

    Parameters
    ----------
    predicted, confidence : numpy.ndarray, shape (m,)
        Likely class (-1 where no class reached the row) and its share of the row-normalised soft labels,
        of the rows whose label is judged. Predictions that the judged label took no part in (held out,
        :mod:`nblabel.heldout`) make the estimate unbiased where the classes separate (module docstring).
    given : numpy.ndarray, shape (m,), int
        The labels judged; rows with -1 are left out.
    n_classes : int
        Number of classes.

    Returns
    -------
    CoreNoise
        ``rate``: the share of the given labels, in the core of their predicted class (its ``CORE_SHARE``
        most confident members), that disagree with the prediction, weighted by the classes' sizes; ``se``
        its sampling error; ``pairs[i, j]``: the part of ``rate`` of the labels given ``i`` in the core of
        ``j``.

    """
    has = given >= 0
    pred, conf, judged = predicted[has], confidence[has], given[has]
    disagree = (pred != judged) & (conf > 0)
    total = pred.size
    pairs = np.zeros((n_classes, n_classes))
    if total == 0:
        return CoreNoise(0.0, 0.0, pairs)
    rate, var = 0.0, 0.0
    for j in range(n_classes):
        members = np.flatnonzero(pred == j)
        if members.size == 0:
            continue
        k = max(1, int(np.ceil(CORE_SHARE * members.size)))
        core = members[np.argpartition(-conf[members], k - 1)[:k]] if k < members.size else members
        wrong = core[disagree[core]]
        d = wrong.size / k
        w = members.size / total
        rate += w * d
        pairs[:, j] = np.bincount(judged[wrong], minlength=n_classes)[:n_classes] * (w / k)
        # Sampling error of the core share, with half a pseudo-count so a clean core is not certain.
        p = (d * k + 0.5) / (k + 1)
        var += w * w * p * (1 - p) / k
    # A weighted sum of shares: at most 1, but its rounding can pass it (1.0000000000000002 when every core
    # disagrees), which would put the estimate above its own interval.
    return CoreNoise(min(rate, 1.0), float(np.sqrt(var)), pairs)


def _top_flags(s: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` candidates with the highest ``s`` (ties: lower index first); O(len(candidates))."""
    out = np.zeros(s.shape[0], bool)
    k = min(k, candidates.size)
    if k <= 0:
        return out
    values = s[candidates]
    cut = np.partition(values, values.size - k)[values.size - k]  # the k-th largest value
    above = candidates[values > cut]
    ties = np.sort(candidates[values == cut])[: k - above.size]
    out[above] = True
    out[ties] = True
    return out


def _cells(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the grid cell of each value in [0, 1] (a suspicion or a chance), and the number per cell.

    The grid has ``_GRID + 1`` values (resolution 0.001).
    """
    cells = np.clip(np.rint(values * _GRID), 0, _GRID).astype(np.int64)
    return cells, _count(cells)


def _chance_cells(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_cells` of the chances ``p``, and each cell's mean chance (0 where empty)."""
    cells, count = _cells(p)
    total = np.bincount(cells, weights=p, minlength=_GRID + 1)
    return cells, count, np.divide(total, count, out=np.zeros(_GRID + 1), where=count > 0)


def _count(cells: np.ndarray) -> np.ndarray:
    """Count the labels per grid cell, from their cells (:func:`_cells`)."""
    return np.bincount(cells, minlength=_GRID + 1).astype(np.float64)


def _f1_cut(
    count: np.ndarray,
    p: np.ndarray,
    found: float = 0.0,
    *,
    errors: float | None = None,
    above: np.ndarray | None = None,
) -> int | None:
    """Grid cell from which on flagging maximises the expected F1; None: flagging lowers it.

    ``count`` holds the unreviewed labels per grid cell of their chance of an error, ``p`` each cell's chance,
    ``found`` the errors that reviews found (counted as found). The expected F1 of flagging the top cells is
    the ratio of the expected true positives to the expected flags plus errors: O(``_GRID``). ``errors``
    replaces the expected errors among the unreviewed labels (default ``count @ p``), and ``above[c]`` is
    added to those expected in the cells from ``c`` on (default none).
    """
    expected = float(count @ p) if errors is None else errors
    tp = found + np.cumsum((count * p)[::-1])
    if above is not None:
        tp = tp + above[::-1]
    f1 = 2 * tp / np.maximum(2 * found + np.cumsum(count[::-1]) + expected, 1e-12)
    best = int(np.argmax(f1))
    if found + expected > 0 and f1[best] > 2 * found / (2 * found + expected):
        return _GRID - best
    return None


def _base_logit(
    s: np.ndarray,
    rows: np.ndarray,
    given: np.ndarray,
    alternative: np.ndarray | None,
    offsets: np.ndarray | None,
) -> np.ndarray:
    """Log-odds of an error of each of ``rows`` before reviews, less the common level: O(len(rows)).

    ``PRIOR_SLOPE * logit(suspicion)``, plus the offset of the label's (given, likely) pair of classes
    (:func:`pair_offsets`) where there are offsets and a likely class.
    """
    z = PRIOR_SLOPE * _logit(s[rows])
    if offsets is not None and alternative is not None:
        z += _pair_offset(rows, given, alternative, offsets)
    return z


def _chances(z: np.ndarray, errors: float, count: np.ndarray | None = None) -> np.ndarray:
    """Each label's chance of an error before reviews, ``expit(level + z)``, adding up to ``errors``.

    ``count``: how many labels each ``z`` stands for (default one each).
    """
    return expit(_level(z, errors, count) + z)


def _level(z: np.ndarray, errors: float, count: np.ndarray | None = None) -> float:
    """Level at which the chances ``expit(level + z)`` of the labels add up to ``errors``.

    ``z`` from :func:`_base_logit`; ``-inf`` for no error, ``inf`` for every label wrong. ``count``: how many
    labels each ``z`` stands for (default one each). Solved on the labels binned by ``z`` (steps of 0.01 in
    log-odds, so under 1 % off a chance): O(len(z)) and a solve over the bins.
    """
    n = float(z.size if count is None else count.sum())
    if errors <= 0 or n == 0:
        return -np.inf
    if errors >= n:
        return np.inf
    lo = float(z.min())
    binned = np.bincount(np.rint((z - lo) / _Z_STEP).astype(np.int64), weights=count).astype(np.float64)
    centre = lo + _Z_STEP * np.arange(binned.size)
    # The sum of the chances rises from 0 to the number of labels with the level: below
    # ``log(errors / n) - 1`` less the largest z it is under errors / e, above ``log(n / (n - errors)) + 1``
    # less the smallest over ``n - (n - errors) / e``.
    below = min(-60.0, np.log(errors / n) - 1.0) - centre[-1]
    above = max(60.0, np.log(n / (n - errors)) + 1.0) - lo
    return float(brentq(lambda a: float(binned @ expit(a + centre)) - errors, below, above))


def _expected_f1_flags(s: np.ndarray, rows: np.ndarray, p: np.ndarray, found: float = 0.0) -> np.ndarray:
    """Flag the ``rows`` that maximise the expected F1 with their chances ``p`` (:func:`_chances`).

    The most likely errors first, binned by their chance on the grid. Only labels that another class
    outweighs (``suspicion > 0.5``), and all above ``CERTAIN``; ``found`` counts the errors reviews found.
    O(n).
    """
    cells, count, chance = _chance_cells(p)
    cut = _f1_cut(count, chance, found)
    flags = np.zeros(s.shape[0], bool)
    if cut is not None:
        flags[rows[(cells >= cut) & (s[rows] > 0.5)]] = True
    flags[rows[s[rows] > CERTAIN]] = True
    return flags


def pair_offsets(
    suspicion: np.ndarray, given: np.ndarray, alternative: np.ndarray, core: CoreNoise
) -> np.ndarray:
    """Log-odds that each (given, likely) pair of classes adds to the chance of an error (module docstring).

    Each pair expects ``G (c + PAIR_PSEUDO + PAIR_PRIOR g) / ((1 + PAIR_PRIOR) g + PAIR_PSEUDO)`` errors
    (at most ``PAIR_CEILING`` of its labels), ``G`` the sum of its labels' chances with no offsets, ``c`` the
    errors the cores counted in it and ``g`` those its chances expect there (``core.pairs`` times the given
    labels, and ``G``, times ``CORE_SHARE``); its offset is the log-odds by which the chances of its labels
    must move to add up to that. O(n log n) and 40 passes over the labels (a bisection of all pairs at
    once).

    Parameters
    ----------
    suspicion, given, alternative : numpy.ndarray, shape (n,)
        Before reviews (:func:`label_evidence`).
    core : CoreNoise
        Of the given labels (:func:`core_noise`, :func:`nblabel.heldout.heldout_core_noise`).

    Returns
    -------
    numpy.ndarray, shape (c, c), float32
        0 for a pair no label has.

    """
    c = core.pairs.shape[0]
    offsets = np.zeros((c, c), np.float32)
    has = np.flatnonzero(given >= 0)
    errors = core.rate * has.size
    rows = has[alternative[has] >= 0]
    if rows.size == 0 or errors <= 0:
        return offsets
    z_all = _base_logit(suspicion, has, given, None, None)
    level = _level(z_all, errors)
    if not np.isfinite(level):  # every label wrong: no pair can add to that
        return offsets
    z = z_all[alternative[has] >= 0]
    pair, at = np.unique(given[rows].astype(np.int64) * c + alternative[rows], return_inverse=True)
    labels = np.bincount(at).astype(np.float64)
    expected = np.bincount(at, weights=expit(level + z))
    # In errors the cores counted (they hold CORE_SHARE of each class), a Gamma prior on each pair's ratio of
    # errors to its global chances, of mean 1, worth PAIR_PSEUDO errors plus PAIR_PRIOR times its chances.
    counted, chances = core.pairs.ravel()[pair] * has.size * CORE_SHARE, expected * CORE_SHARE
    ratio = (counted + PAIR_PSEUDO + PAIR_PRIOR * chances) / ((1.0 + PAIR_PRIOR) * chances + PAIR_PSEUDO)
    target = expected * ratio
    # Errors of a pair with few labels are often all of them (a symmetric noise's rare pairs hold one label,
    # the error), but not certainly: at most PAIR_CEILING of its labels, so that no offset is infinite (the
    # bisection's bound, +60 and more, would weigh that much in the reviews' fit).
    target = np.minimum(target, PAIR_CEILING * labels)
    # Between 60 below the global level (every pair's chances under e^-60 of what it expects, at least
    # PAIR_PRIOR / (1 + PAIR_PRIOR) of its global chances) and 60 above the smallest z (all but e^-60 of its
    # labels).
    lo = np.full(pair.size, min(level - 60.0, -60.0 - z.max()))
    hi = np.full(pair.size, max(level + 60.0, 60.0 - z.min()))
    for _ in range(40):
        mid = (lo + hi) / 2
        over = np.bincount(at, weights=expit(mid[at] + z), minlength=pair.size) > target
        hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
    offsets.ravel()[pair] = (lo + hi) / 2 - level
    return offsets


def _cores(Pn: np.ndarray, given: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, CoreNoise]:
    """Return the given labels (-1 none) and what the cores of the propagated ``Pn`` say of them."""
    conf = Pn.max(axis=1, initial=0.0)
    pred = np.where(conf > 0, Pn.argmax(axis=1) if Pn.shape[1] else -1, -1)
    given = np.where(has, given, -1)
    return given, core_noise(pred, conf, given, Pn.shape[1])


def flag_label_issues(P: np.ndarray, given: np.ndarray, noise_rate: float | str = "auto") -> np.ndarray:
    """Flag given labels that the propagated evidence contradicts.

    Parameters
    ----------
    P, given
        As in :func:`suspicion`.
    noise_rate : float or "auto"
        How many to flag, as a share of the given labels: the ``round(noise_rate * n_given)`` most suspicious
        whose suspicion is above 0.5. ``"auto"`` (default): the likeliest errors among the labels whose
        suspicion is above 0.5 (by their suspicion and their pair of classes), as many as maximise the
        expected F1 with :func:`estimate_noise_rate`'s count of errors (module docstring, "Flags"), and every
        label whose suspicion is above ``CERTAIN``.

    Returns
    -------
    numpy.ndarray, shape (n,), bool
        False where ``given == -1``.

    """
    Pn, given, has = _inputs(P, given)
    s, alt = _scores(Pn, given, has, _thresholds(Pn, given, has))
    if noise_rate == "auto":
        labels, core = _cores(Pn, given, has)
        return flags_from_evidence(s, labels, alt, core)[0]
    try:
        rate = float(noise_rate)
    except (TypeError, ValueError):
        rate = np.nan
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f'noise_rate: expected "auto" or a share in [0, 1]; got {noise_rate!r}. '
            "Fix: e.g. noise_rate=0.05."
        )
    rows = np.flatnonzero(has)
    return _top_flags(s, rows[s[rows] > 0.5], round(rate * rows.size))


def corrections(
    flagged: np.ndarray,
    alternative: np.ndarray,
    verified: np.ndarray,
    prior_suspicion: np.ndarray | None,
    estimate: NoiseEstimate | None,
) -> np.ndarray:
    """Items whose given label the labels to export replace by the likely class: the one definition.

    An unreviewed flagged label is replaced where its pre-review suspicion is at or above
    ``estimate.replace_above``: from there on, the reviews of the audit draws show with 95 % confidence that
    replacing all those labels gains (see :func:`calibrate`). Before reviews calibrate it nothing is
    replaced: on the grid of ``bench/bench_flags.py`` no pre-review rule kept the labels at least
    as accurate on every cell (on clean labels every replacement is a loss, and at suspicion above 0.9 the
    flags lost up to 0.009 on noise 0 and look-alike pairs), while the calibrated rule gains after 100
    reviews where the flags are reliable.

    Parameters
    ----------
    flagged : numpy.ndarray, shape (n,), bool
        The flags.
    alternative : numpy.ndarray, shape (n,), int
        Likely class of each item (-1 none).
    verified : numpy.ndarray, shape (n,), int
        -1 where nobody reviewed the item (a reviewed item carries its verified label instead).
    prior_suspicion : numpy.ndarray, shape (n,), optional
        Suspicion before any review (what :func:`calibrate` fitted against); None: replace none.
    estimate : NoiseEstimate, optional
        The calibrated estimate; None: replace none.

    Returns
    -------
    numpy.ndarray, shape (n,), bool

    """
    flagged = np.asarray(flagged, bool)
    if prior_suspicion is None or estimate is None or not np.isfinite(estimate.replace_above):
        return np.zeros(flagged.shape[0], bool)
    with np.errstate(invalid="ignore"):
        sure = np.asarray(prior_suspicion) >= estimate.replace_above
    return flagged & (np.asarray(alternative) >= 0) & (np.asarray(verified) < 0) & sure


def audit_keys(prior_suspicion: np.ndarray, seed: int = AUDIT_SEED) -> np.ndarray:
    """Return the keys of the audit draws: the review list draws the given labels in increasing key order.

    Item ``i`` gets ``u_i / w_i`` with ``u_i`` uniform (seeded) and the weight ``w_i``
    (:func:`audit_weight`) of its pre-review suspicion ``s_i``: sequential Poisson sampling (Ohlsson
    1998). When every item with a key below ``c`` was drawn, each was drawn with probability
    ``min(1, c * w_i)``, which :func:`calibrate` inverts.

    Parameters
    ----------
    prior_suspicion : numpy.ndarray, shape (n,)
        :func:`suspicion` before any review; NaN where there is no given label.
    seed : int
        Seed of the uniforms (one per item, in item order).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Non-negative; ``inf`` where the suspicion is NaN (never drawn).

    """
    s = np.asarray(prior_suspicion, np.float64)
    u = np.random.default_rng(seed).random(s.shape[0])
    return np.where(np.isnan(s), np.inf, u / audit_weight(np.nan_to_num(s)))


def audit_weight(prior_suspicion: np.ndarray) -> np.ndarray:
    """Weight of each label in the audit draws: ``s ** AUDIT_POWER + AUDIT_FLOOR`` (see :data:`AUDIT_POWER`).

    Parameters
    ----------
    prior_suspicion : numpy.ndarray
        :func:`suspicion` before any review, in [0, 1] (no NaN).

    Returns
    -------
    numpy.ndarray, float64
        In ``[AUDIT_FLOOR, 1 + AUDIT_FLOOR]``; a label is drawn with a probability proportional to it.

    """
    return np.asarray(prior_suspicion, np.float64) ** AUDIT_POWER + AUDIT_FLOOR


def audit_slots(done: int, span: int) -> np.ndarray:
    """Which of the next ``span`` reviews are audit draws, after ``done`` reviews (the one definition).

    Parameters
    ----------
    done : int
        Reviews made so far.
    span : int
        Reviews to look ahead.

    Returns
    -------
    numpy.ndarray, shape (span,), bool
        False for every ``TOP_EVERY``-th review from the first on (the top suspect), True for the draws.

    """
    return (done + np.arange(span)) % TOP_EVERY != 0


def suspect_order(
    suspicion: np.ndarray,
    rows: np.ndarray | None = None,
    first: np.ndarray | None = None,
    audit: np.ndarray | None = None,
    done: int = 0,
) -> np.ndarray:
    """Order items for review: most suspicious first, ties in item order; the one definition nblabel uses.

    Parameters
    ----------
    suspicion : numpy.ndarray, shape (n,)
        As from :func:`suspicion`; NaN (no given label) rows are left out.
    rows : numpy.ndarray, shape (m,), optional
        Only these items (default all), in item order.
    first : numpy.ndarray, shape (n,), bool, optional
        Items that lead whatever their score (e.g. label conflicts between near-duplicates).
    audit : numpy.ndarray, shape (n,), optional
        :func:`audit_keys`. With them, the item at position ``j`` (of the first ``AUDIT_HORIZON``) is the
        next one not yet listed of the order above when review number ``done + j`` is a multiple of
        ``TOP_EVERY``, else the not yet listed one with the smallest key (:func:`audit_slots`).
    done : int
        Reviews made so far (given labels with a verified label), the phase of the audit draws.

    Returns
    -------
    numpy.ndarray, shape (k,), int64
        Item indices.

    """
    s = np.asarray(suspicion)
    rows = np.flatnonzero(~np.isnan(s)) if rows is None else np.asarray(rows)[~np.isnan(s[rows])]
    # lexsort is stable and its last key is the primary one: the leading items, then the most suspicious.
    keys = (-s[rows],) if first is None else (-s[rows], ~np.asarray(first, bool)[rows])
    order = rows[np.lexsort(keys)].astype(np.int64)
    if audit is None or order.size == 0:
        return order
    # Audit draws take their slots from the second position on, between label conflicts too: a person who
    # only ever reviews the top of the list still reviews mostly draws.
    span = min(AUDIT_HORIZON, order.size)
    slots = audit_slots(done, span)
    # Draws in key order; a draw already listed by suspicion is skipped, so at most span + slots are read.
    k = min(order.size, span + int(slots.sum()))
    a = np.asarray(audit)[order]
    pick = np.argpartition(a, k - 1)[:k] if k < order.size else np.arange(order.size)
    draws = order[pick[np.argsort(a[pick], kind="stable")]]
    listed = np.zeros(s.shape[0], bool)
    head = np.empty(span, np.int64)
    top = draw = 0
    for j in range(span):
        queue, at = (draws, draw) if slots[j] else (order, top)
        while at < queue.size and listed[queue[at]]:
            at += 1
        if at == queue.size:  # no draw left: the rest by suspicion
            queue, at = order, top
            while listed[queue[at]]:
                at += 1
        head[j] = queue[at]
        listed[queue[at]] = True
        if queue is draws:
            draw = at + 1
        else:
            top = at + 1
    return np.concatenate([head, order[~listed[order]]])


def flag_matrix(
    flagged: np.ndarray, given: np.ndarray, alternative: np.ndarray, n_classes: int
) -> np.ndarray:
    """Count flagged items by given class (rows) and the class they likely should be (columns).

    Parameters
    ----------
    flagged : numpy.ndarray, shape (n,), bool
        The flags (e.g. ``SessionState.flagged``).
    given, alternative : numpy.ndarray, shape (n,), int
        Given label and likely class (-1 none) of each item.
    n_classes : int
        Size of the matrix; items of a class at or beyond it are not counted (a class being added).

    Returns
    -------
    numpy.ndarray, shape (n_classes, n_classes), int64

    """
    matrix = np.zeros((n_classes, n_classes), np.int64)
    rows = np.flatnonzero(np.asarray(flagged, bool) & (np.asarray(alternative) >= 0))
    g, j = np.asarray(given)[rows], np.asarray(alternative)[rows]
    ok = (g < n_classes) & (j < n_classes)
    np.add.at(matrix, (g[ok], j[ok]), 1)
    return matrix


def rank_suspects(P: np.ndarray, given: np.ndarray, n: int | None = None) -> np.ndarray:
    """Items with a given label, most suspicious first.

    Parameters
    ----------
    P, given
        As in :func:`suspicion`, with ``n_items`` rows.
    n : int, optional
        Return only the top ``n``.

    Returns
    -------
    numpy.ndarray, shape (m,), int64
        Item indices; ties keep index order.

    """
    order = suspect_order(suspicion(P, given))
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative integer; got {n!r}. Fix: pass e.g. n=50.")
        order = order[:n]
    return order.astype(np.int64)


def estimate_noise_rate(P: np.ndarray, given: np.ndarray) -> float:
    """Estimate the share of wrong given labels (the core disagreement, see the module docstring).

    Parameters
    ----------
    P, given
        As in :func:`suspicion`.

    Returns
    -------
    float
        In [0, 1]; 0 when no item has a given label. :func:`noise_estimate` adds the interval.

    """
    return noise_estimate(P, given).rate


def noise_estimate(P: np.ndarray, given: np.ndarray) -> NoiseEstimate:
    """:func:`estimate_noise_rate` with its 95 % interval and the estimated number of wrong labels.

    Parameters
    ----------
    P, given
        As in :func:`suspicion`.

    Returns
    -------
    NoiseEstimate

    """
    Pn, given, has = _inputs(P, given)
    s = _scores(Pn, given, has, _thresholds(Pn, given, has))[0]
    # The estimate alone: the flags and the pair offsets (40 passes over the labels) are not needed here.
    return prior_estimate(s, *_cores(Pn, given, has))


def label_evidence(P: np.ndarray, given: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row evidence behind the flags, so that a caller can update only changed rows.

    Each row's values depend on that row of ``P`` and the fixed ``thresholds`` alone; the flag count is
    global (see :func:`flags_from_evidence`).

    Parameters
    ----------
    P, given
        As in :func:`suspicion`.
    thresholds : array-like, shape (c,)
        From :func:`class_thresholds` (of an earlier, full computation).

    Returns
    -------
    suspicion : numpy.ndarray, shape (n,), float32
        As :func:`suspicion` with these thresholds.
    alternative : numpy.ndarray, shape (n,), int32
        The best other class (-1 where none has evidence or ``given == -1``).

    """
    Pn, given, has = _inputs(P, given)
    return _scores(Pn, given, has, _check_thresholds(thresholds, Pn.shape[1]))


def prior_flags(
    suspicion: np.ndarray,
    given: np.ndarray,
    errors: float,
    alternative: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Pre-review flags: the given labels that maximise the expected F1 with ``errors`` wrong ones; O(n).

    Parameters
    ----------
    suspicion : numpy.ndarray, shape (n,)
        From :func:`label_evidence`.
    given : array-like, shape (n,), int
        Given labels, -1 = none.
    errors : float
        Estimated number of wrong given labels (``NoiseEstimate.errors`` before reviews).
    alternative : numpy.ndarray, shape (n,), int, optional
        Likely other class of each label (:func:`label_evidence`), -1 none.
    offsets : numpy.ndarray, shape (c, c), optional
        :func:`pair_offsets`; None: every pair alike.

    Returns
    -------
    numpy.ndarray, shape (n,), bool
        The labels that another class outweighs and are the likeliest errors, as many as maximise the
        expected F1 when the chances of an error are logistic in ``logit(suspicion)`` plus their pair's
        offset (:func:`_base_logit`, :func:`_chances`), and every label above ``CERTAIN`` (module docstring,
        "Flags").

    """
    given = check_labels(given, suspicion.shape[0], name="given")
    rows = np.flatnonzero(given >= 0)
    return _expected_f1_flags(
        suspicion, rows, _chances(_base_logit(suspicion, rows, given, alternative, offsets), errors)
    )


def flags_from_evidence(
    suspicion: np.ndarray, given: np.ndarray, alternative: np.ndarray, core: CoreNoise
) -> tuple[np.ndarray, NoiseEstimate, np.ndarray]:
    """Pre-review flags, noise estimate and pair offsets from :func:`label_evidence` and :func:`core_noise`.

    O(n log n), no ``P``.

    Parameters
    ----------
    suspicion, given, alternative
        As in :func:`prior_flags`.
    core : CoreNoise
        What the cores say of the given labels (:func:`core_noise`; a session's are held out,
        :func:`nblabel.heldout.heldout_core_noise`).

    Returns
    -------
    flags : numpy.ndarray, shape (n,), bool
    estimate : NoiseEstimate
    offsets : numpy.ndarray, shape (c, c), float32
        :func:`pair_offsets`.

    """
    given = check_labels(given, suspicion.shape[0], name="given")
    est = prior_estimate(suspicion, given, core)
    offsets = pair_offsets(suspicion, given, alternative, core)
    return prior_flags(suspicion, given, est.errors, alternative, offsets), est, offsets


def prior_estimate(suspicion: np.ndarray, given: np.ndarray, core: CoreNoise) -> NoiseEstimate:
    """Return the noise estimate before reviews and its 95 % interval (module docstring, "Noise rate"); O(n).

    Parameters
    ----------
    suspicion, given
        As in :func:`prior_flags`.
    core : CoreNoise
        As in :func:`flags_from_evidence`.

    Returns
    -------
    NoiseEstimate

    """
    given = check_labels(given, suspicion.shape[0], name="given")
    rows = np.flatnonzero(given >= 0)
    rate, se = core.rate, core.se
    # Up to the share of labels another class outweighs (or the core's sampling error, where that is larger);
    # down by as much as that share is above the core, and by the core's sampling error, since the core's own
    # count may be that low.
    gap = max(float((suspicion[rows] > 0.5).sum()) / max(rows.size, 1) - rate, 0.0)
    low, high = rate - gap - _Z95 * se, rate + max(_Z95 * se, gap)
    return NoiseEstimate(rate, max(0.0, low), min(1.0, high), rate * rows.size)


def calibrate(
    prior: NoiseEstimate,
    suspicion: np.ndarray,
    given: np.ndarray,
    verified: np.ndarray,
    prior_suspicion: np.ndarray | None = None,
    audit: np.ndarray | None = None,
    prior_alternative: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, NoiseEstimate]:
    """Re-fit the flags and the noise estimate from the given labels a person has reviewed.

    A reviewed item is one with a given and a verified label; it was wrong if they differ. With the audit
    keys and at least ``MIN_AUDITS`` audit draws reviewed, P(wrong | pre-review suspicion) is fitted from
    the reviews (module docstring, :func:`_audit_fit`). Otherwise the pre-review estimate stands, with its
    ``K`` errors on its ``K`` likeliest errors: the reviews of those measure their precision (with
    one pseudo-review at 1, the prior's own), of the ``K`` errors the share on unreviewed ones is expected
    at that precision, and every error a review found counts as found (when the share of all reviews that were
    wrong stood for the flags' precision, labeling 100 items by lasso on the 0.90 digits with 5 % noise
    took the estimate from 0.088 to 0.007 [0.000, 0.014]). These reviews are not a sample of the labels
    nobody reviewed (or, all errors, say nothing of the labels below them), so the interval keeps at least
    the pre-review one, with the errors found as its floor. The flags are chosen as before reviews
    (:func:`flags_from_evidence`) among the unreviewed labels, each with its chance before reviews.

    Parameters
    ----------
    prior : NoiseEstimate
        The pre-review estimate (from propagation of the given labels alone).
    suspicion : numpy.ndarray, shape (n,)
        Current suspicion of each given label.
    given, verified : numpy.ndarray, shape (n,), int
        -1 = none.
    prior_suspicion : numpy.ndarray, shape (n,), optional
        Suspicion before any review (what the audit draws were weighted by).
    audit : numpy.ndarray, shape (n,), optional
        :func:`audit_keys` of ``prior_suspicion``.
    prior_alternative : numpy.ndarray, shape (n,), int, optional
        Likely class of each label before any review (-1 none): what the audit draws' reviews say of
        replacing a label by it (``estimate.replace_above``), and with ``offsets`` its pair of classes;
        None: replace none.
    offsets : numpy.ndarray, shape (c, c), optional
        :func:`pair_offsets` before any review; None: every pair alike.

    Returns
    -------
    flags : numpy.ndarray, shape (n,), bool
        Only unreviewed given labels are flagged.
    estimate : NoiseEstimate

    """
    has = given >= 0
    reviewed = has & (verified >= 0)
    rows = np.flatnonzero(has)
    n_given, m = rows.size, int(reviewed.sum())
    wrong = reviewed & (verified != given)
    found = int(wrong.sum())
    s0 = suspicion if prior_suspicion is None else np.asarray(prior_suspicion, np.float64)
    audits = 0
    if prior_suspicion is not None and audit is not None:
        sample = _audit_sample(s0, np.asarray(audit), given, verified)
        audits = int(sample.drawn.sum())
        fitted = _audit_fit(s0, sample, given, verified, prior.rate * n_given, prior_alternative, offsets)
        if fitted is not None:
            return fitted[0], _within_prior(fitted[1], prior, n_given, found)
    # The prior's model: its count of errors sits on as many of the likeliest errors (by the suspicion and the
    # pair of classes, as the flags rank them) that another class outweighs, and on those above CERTAIN. Only
    # reviews of those measure it; any other review (a lasso, a page of the grid) tells about itself, so its
    # errors count as found and it moves nothing else.
    likeliest = np.full(s0.shape[0], -np.inf, np.float32)
    likeliest[rows] = _base_logit(s0, rows, given, prior_alternative, offsets)
    top = _top_flags(likeliest, rows[s0[rows] > 0.5], round(prior.rate * n_given))
    top[rows[s0[rows] > CERTAIN]] = True
    m_top, found_top = int((reviewed & top).sum()), int((wrong & top).sum())
    left = prior.rate * n_given * (1.0 - m_top / max(int(top.sum()), 1))
    # One pseudo-review at the prior's own precision (1: its top labels are its errors), so that a few
    # reviews of them move the estimate gradually and none keeps the prior's.
    precision = (found_top + 1.0) / (m_top + 1.0)
    errors = min(precision * left, float(n_given - m))  # no more errors than unreviewed labels
    # The flags as before reviews, among the labels nobody reviewed: these reviews are not a sample of them,
    # so each keeps its chance of an error before reviews (following the estimate instead, 100 reviews of
    # the first pages of the grid cut the flags' F1 by more than 0.05 in 28 of the grid's 120 noisy runs,
    # where the estimate had moved far below the truth; bench_flags.py --other-reviews).
    chance = _chances(_base_logit(suspicion, rows, given, prior_alternative, offsets), prior.rate * n_given)
    unreviewed = ~reviewed[rows]
    flags = _expected_f1_flags(suspicion, rows[unreviewed], chance[unreviewed], found)
    rate = (found + errors) / max(n_given, 1)
    # These reviews are not a sample of the labels nobody reviewed, so they never narrow the graph's
    # interval: they widen it where the binomial error of the flags' precision over the rest says so, and
    # the errors found are its floor. The top of the flags can be less often wrong than the flags below it
    # (look-alike pairs at 10-NN 0.80: 35 % of the top 100 flags wrong, 57 % of all of them): reviewing only
    # the top put the interval below the truth in 16 of the grid's 144 runs (bench_flags.py
    # --other-reviews), when it was this error plus the prior's own scaled by the precision.
    p = (found_top + 0.5) / (m_top + 1)
    se = np.sqrt(left**2 * p * (1 - p) / m_top if m_top else 0.0) / max(n_given, 1)
    low = max(found / max(n_given, 1), min(rate - _Z95 * se, prior.low))
    high = min(1.0, max(rate + _Z95 * se, prior.high))
    est = NoiseEstimate(rate, low, high, errors, m, found / m if m else 0.0, audits=audits)
    return flags, est


def _within_prior(est: NoiseEstimate, prior: NoiseEstimate, n_given: int, found: int) -> NoiseEstimate:
    """Keep the reviews' estimate and interval to where their interval overlaps the pre-review one.

    Two intervals on one fixed rate from other evidence (the reviews; the graph before them): a rate
    outside either is unlikely, so the interval is their overlap, and the estimate is moved into it (if the
    overlap holds the truth, that move never takes the estimate away from it). Where they do not overlap
    one of them is wrong, and the reviews' stand. On the grid's 1,584 reviewed runs (144 runs x 11 audit
    seeds) at 50 / 100 reviews, with this and the all-errors rule of :func:`_audit_fit`, against neither: the
    estimate within 0.03 of the truth in 90.0 / 94.1 % instead of 87.8 / 93.1 %, the interval holding the
    truth in 99.2 / 99.1 % instead of 99.3 / 99.7 %, 0.111 / 0.078 wide on average instead of 0.203 /
    0.126; and reviews no longer widen the interval the graph gave (the 0.97 digits at 40 % noise:
    [0.36, 0.42] before review became [0.09, 0.75] after 100). The overlap is only as right as the
    pre-review interval: over 10 seeds of the grid (480 runs x 11 audit seeds), with its lower end lowered by
    the core's sampling error (:func:`flags_from_evidence`), the interval held the truth in 99.7 / 99.5 % at
    50 / 100 reviews, 98.2 / 98.1 % before (where the graph's lower end was above the truth, 99 / 94 % of the
    reviewed runs kept it), the estimate within 0.03 in 88.3 / 93.4 % (89.1 / 93.8 %), 0.119 / 0.084 wide
    (0.111 / 0.077).

    Where the reviews' interval does not hold the pre-review estimate, the reviews contradict the graph's
    evidence itself, and they stand alone. On weak features with many classes the cores count class overlap
    as noise and the pre-review interval misses the truth (15 classes at 10-NN 0.71, 20 % noise: [0.267,
    0.618] for 0.200; ``bench_flags.py --many-classes``), and the overlap kept the estimate at its lower end:
    simulated over 4 noise draws x 4 audit seeds there, the interval after 100 reviews held the truth in 94 %
    of runs instead of 62 %. On the grid's 144 runs x 11 audit seeds the estimate was within 0.03 in 88.2 /
    93.3 % at 50 / 100 reviews (88.3 / 93.3 % with the overlap kept everywhere), the interval's hits the same.
    """
    if not est.low <= prior.rate <= est.high:
        return est
    low = max(est.low, prior.low, found / max(n_given, 1))  # the errors the reviews found are a floor
    high = min(est.high, prior.high)
    if low > high:
        return est
    rate = min(max(est.rate, low), high)
    return replace(est, rate=rate, low=low, high=high, errors=max(rate * n_given - found, 0.0))


def _logit(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 1e-3, 1.0 - 1e-3)
    return np.log(s / (1.0 - s))


def _pair_offset(
    rows: np.ndarray, given: np.ndarray, alternative: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Offset of each of ``rows``' (given, likely) pair of classes (:func:`pair_offsets`); 0 without one."""
    # A column of zeros after the last class, which a likely class of -1 indexes: one gather, no masks.
    padded = np.zeros((offsets.shape[0], offsets.shape[1] + 1), np.float32)
    padded[:, :-1] = offsets
    return padded[given[rows], np.asarray(alternative)[rows]]


def _prior_reviews(
    logit_open: np.ndarray,
    offset_open: np.ndarray | None,
    logit_reviewed: np.ndarray,
    offset_reviewed: np.ndarray | None,
    errors: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the unreviewed labels as soft reviews at their chances before reviews, binned (PRIOR_REVIEWS).

    A bin is a step of ``_LOGIT_STEP`` in ``logit(suspicion)`` and, with offsets, of ``_OFFSET_STEP`` in the
    pair offset. Its chance is that of the pre-review flags (:func:`_base_logit`, :func:`_chances`) at its
    centre, with the level at which the chances of all the given labels, reviewed or not, add up to
    ``errors``. O(n) and a solve over the bins.

    Returns
    -------
    design : numpy.ndarray, shape (b, 2) or (b, 3)
        Per bin holding unreviewed labels: 1, ``logit(suspicion)`` and, with offsets, the offset.
    chance : numpy.ndarray, shape (b,)
    count : numpy.ndarray, shape (b,)
        Unreviewed labels per bin.

    """
    # _logit keeps the suspicion within [0.001, 0.999], so its steps fit in 2 * reach + 1 bins.
    reach, span = int(np.ceil(-_logit(np.zeros(1))[0] / _LOGIT_STEP)), round(_OFFSET_SPAN / _OFFSET_STEP)
    width = 2 * reach + 1

    def key(logit: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
        # In floats, in place, one conversion: two passes fewer over a million labels than in integers.
        step = np.rint(logit / _LOGIT_STEP)
        step += reach
        if offset is not None:
            pair = np.rint(offset / _OFFSET_STEP)
            np.clip(pair, -span, span, out=pair)
            pair += span
            step += width * pair
        return step.astype(np.int64)

    size = width * (1 if offset_open is None else 2 * span + 1)
    n_open = np.bincount(key(logit_open, offset_open), minlength=size)
    n_all = n_open + np.bincount(key(logit_reviewed, offset_reviewed), minlength=size)
    occupied = np.flatnonzero(n_all)
    n_open, n_all = n_open[occupied].astype(np.float64), n_all[occupied].astype(np.float64)
    logit = (occupied % width - reach) * _LOGIT_STEP
    columns, z = [np.ones(occupied.size), logit], PRIOR_SLOPE * logit
    if offset_open is not None:
        offset = (occupied // width - span) * _OFFSET_STEP
        columns.append(offset)
        z = z + offset
    chance = _chances(z, errors, n_all)
    keep = n_open > 0
    return np.column_stack(columns)[keep], chance[keep], n_open[keep]


def _wrong_fit(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: np.ndarray, offset: np.ndarray | float = 0.0
) -> np.ndarray:
    """Weighted logistic regression of ``y`` on the columns of ``X``: its coefficients (Newton's method).

    ``ridge`` per coefficient; a tiny one (``_RIDGE``) keeps them finite where the reviews separate
    perfectly. ``offset`` is added to the log-odds with no coefficient. Deterministic: a fixed start and at
    most 50 steps.
    """
    beta = np.zeros(X.shape[1])
    R = np.diag(ridge)
    for _ in range(50):
        p = expit(X @ beta + offset)
        grad = X.T @ (w * (y - p)) - R @ beta
        hess = (X * (w * p * (1.0 - p))[:, None]).T @ X + R
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def _replace_from(x: np.ndarray, gain: np.ndarray, w: np.ndarray, drawn: np.ndarray, start: float) -> float:
    """Lowest reviewed suspicion, from ``start`` on, above which replacing the unreviewed labels gains.

    Above the returned suspicion the audit draws (each standing for ``w - 1`` unreviewed labels; the
    reviews sorted by suspicion, ``gain`` what replacing each by its likely class would have done: +1, 0
    or -1) show with 95 % confidence a net gain of more than ``REPLACE_GAIN`` per label over all the labels
    that would be replaced together: the Horvitz-Thompson total with its Poisson-sampling variance.
    ``inf`` where no suspicion passes.
    """
    if not np.isfinite(start):
        return start
    xd, gd, wd = x[drawn], gain[drawn], w[drawn]
    stand = wd - 1.0  # unreviewed labels each draw stands for
    # Sums over each draw and all draws above it (the labels a threshold at that draw would replace).
    n = np.cumsum(stand[::-1])[::-1]
    total = np.cumsum((stand * gd)[::-1])[::-1]
    var = np.cumsum((wd * stand * gd * gd)[::-1])[::-1]  # (1 - pi) / pi^2 per draw
    ok = (xd >= start) & (n > 0) & (total - _Z95 * np.sqrt(var) > REPLACE_GAIN * n)
    return float(xd[np.argmax(ok)]) if ok.any() else float("inf")


class _AuditSample(NamedTuple):
    """The reviews, split into the audit draws that stand for the labels nobody reviewed and the rest."""

    rev: np.ndarray  #: rows of the reviewed given labels
    drawn: np.ndarray  #: per reviewed row: an audit draw below the frontier (weighted by 1 / probability)
    open_rows: np.ndarray  #: rows of the unreviewed given labels
    cut: float  #: audit key below which every given label was reviewed


def _audit_sample(s0: np.ndarray, keys: np.ndarray, given: np.ndarray, verified: np.ndarray) -> _AuditSample:
    """Which reviews are audit draws: O(n)."""
    has = given >= 0
    reviewed = has & (verified >= 0)
    open_rows = np.flatnonzero(has & ~reviewed)
    # Every given label with a key below the cut has been reviewed: those are the audit sample so far.
    cut = float(keys[open_rows].min()) if open_rows.size else np.inf
    rev = np.flatnonzero(reviewed)
    # Above the most suspicious unreviewed label every label was reviewed: there the reviews stand for
    # themselves (weight 1), below it the draws stand for the labels nobody reviewed (weight 1 / probability).
    frontier = float(s0[open_rows].max()) if open_rows.size else np.inf
    drawn = (keys[rev] < cut) & (s0[rev] <= frontier)
    return _AuditSample(rev, drawn, open_rows, cut)


def _audit_fit(
    s0: np.ndarray,
    sample: _AuditSample,
    given: np.ndarray,
    verified: np.ndarray,
    prior_errors: float,
    alternative: np.ndarray | None,
    offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, NoiseEstimate] | None:
    """Fit P(wrong | pre-review suspicion, pair of classes) to the reviews; None: too few draws, none right.

    O(n) plus O(m log m) for the ``m`` reviews: the unreviewed labels are counted on a grid of ``_GRID + 1``
    chances (resolution 0.001) for the flags, and of suspicions for the interval.

    The chance of being wrong is logistic in ``logit(suspicion)`` and the offset of the label's (given,
    likely) pair of classes (:func:`pair_offsets`; three coefficients, the offset's in [0, 1] and tempered
    by :data:`OFFSET_RIDGE`), fitted to the reviews, each weighted by the inverse of its inclusion
    probability, and to the unreviewed labels as soft reviews at their pre-review chances (adding up to
    ``prior_errors`` over all the given labels), worth :data:`PRIOR_REVIEWS` reviews in all.
    Without offsets (two coefficients), on the grid of ``bench/bench_flags.py`` (100 reviews, 144 runs, an
    earlier design of 50 draws) it met the F1 target in 117 of 120 noisy runs where the isotonic (monotone,
    one step per block of reviews) fit met it in 108: with few draws the steps follow single reviews of
    large weight, and one wrong label drawn far down the list flagged a whole block. Unweighted (the draws
    depend on the suspicion alone, so a right curve would not need the weights) it met it in 100: the curve
    is not right everywhere. The estimate is model-assisted (the curve's expected errors among the
    unreviewed labels, plus the weighted residuals of the draws, which makes it nearly design-unbiased
    whatever the curve's shape: within 0.03 of the truth in 135 of 144 runs, 130 for the isotonic fit alone,
    113 for the curve alone without the weights). Its interval is the binomial error of the blocks of the
    isotonic fit in the suspicion: model-free, where the two-parameter curve's own residuals understated the
    error (the truth inside in 121 of 144 runs, 142 with the blocks; 144 with this round's draws).
    """
    from sklearn.isotonic import isotonic_regression

    rev, drawn, open_rows, cut = sample
    audits = int(drawn.sum())
    if audits < MIN_AUDITS:
        return None
    pi = np.where(drawn, np.minimum(1.0, cut * audit_weight(s0[rev])), 1.0)
    wrong = (verified[rev] != given[rev]).astype(np.float64)
    if wrong.min() == 1.0:
        # Nothing but errors. P(wrong | suspicion) rises with the suspicion, so errors where the reviews
        # looked (mostly near the top) say nothing of the labels below them, and a curve at 1 called every
        # label wrong (estimate 1.000 after 50 reviews on the 0.97 digits at 40 % noise; truth 0.400): the
        # pre-review estimate stands, as without draws (calibrate). No error at all does say something of
        # the labels below: where the top is right, so is the rest.
        return None
    by = np.argsort(s0[rev], kind="stable")
    rev_by = rev[by]
    x, y, w, drawn = s0[rev_by].astype(np.float64), wrong[by], 1.0 / pi[by], drawn[by]
    design = [np.ones(x.size), _logit(x)]
    open_offset = None  # the unreviewed labels' pair offsets, where there are pairs
    if alternative is not None and offsets is not None:
        design.append(_pair_offset(rev_by, given, alternative, offsets))
        open_offset = _pair_offset(open_rows, given, alternative, offsets)
    if y.max() == 0.0:  # no error found: no curve to fit
        p_open, p_rev = np.zeros(open_rows.size), np.zeros(x.size)
    else:
        ridge = np.array([_RIDGE, _RIDGE, OFFSET_RIDGE * float(w.sum())][: len(design)])
        X, y_fit, w_fit = np.column_stack(design), y, w
        logit_open = _logit(s0[open_rows])
        if open_rows.size and PRIOR_REVIEWS > 0:
            # The unreviewed labels as soft reviews at their pre-review chances, worth PRIOR_REVIEWS reviews
            # of the average weight in all.
            offset_rev = design[2] if open_offset is not None else None
            soft = _prior_reviews(logit_open, open_offset, design[1], offset_rev, prior_errors)
            X_prior, p_prior, n_prior = soft
            scale = PRIOR_REVIEWS * float(w.sum()) / x.size / open_rows.size
            X, y_fit, w_fit = np.r_[X, X_prior], np.r_[y, p_prior], np.r_[w, scale * n_prior]
        beta = _wrong_fit(X, y_fit, w_fit, ridge)
        if len(design) == 3 and not 0.0 <= beta[2] <= 1.0:
            # The reviews keep between none and all of each pair's offset: beyond all, a pair the cores
            # counted errors in whose labels all look right (a wrong label that voted for itself, found held
            # out) took +23 log-odds from an offset of 15.6 (the 0.97 digits at 2 % noise, 50 reviews: 20
            # right labels flagged); below none, pairs the cores suspect would be the less suspect ones.
            pair = float(np.clip(beta[2], 0.0, 1.0))
            beta = np.r_[_wrong_fit(X[:, :2], y_fit, w_fit, ridge[:2], pair * X[:, 2]), pair]
        z_open = beta[0] + beta[1] * logit_open
        if open_offset is not None:
            z_open += beta[2] * open_offset
        p_open, p_rev = expit(z_open), expit(np.column_stack(design) @ beta)
    found = float(y.sum())
    # Model-assisted: each draw also stands for (1 / probability - 1) unreviewed labels, whose errors the
    # curve missed by the draw's residual. In full: shrunk toward the curve as for the flags below (by
    # audits / (audits + 40)), the estimate was within 0.03 more often over all audit seeds (90.1 / 94.2 %
    # of 1,920 reviewed runs at 50 / 100 reviews, not 88.2 / 93.3 %) but biased toward the curve: less often
    # with the production audit seed at 50, and a cell's mean left the 0.03 at 100 on the grid's first 3
    # seeds.
    residual = np.where(drawn, (w - 1.0) * (y - p_rev), 0.0)
    errors = min(max(float(p_open.sum()) + float(residual.sum()), 0.0), float(open_rows.size))
    total = found + errors
    # Flags: the likeliest errors, by grid cell of their fitted chance, down to the cell that maximises the
    # expected F1. The errors above each cut are estimated as the total is, the curve's plus the residuals of
    # the draws above the cut, these shrunk toward 0 where few draws stand behind them (RESIDUAL_DRAWS).
    chance_cell, n_cell, p_cell = _chance_cells(p_open)
    of_draw = _cells(p_rev)[0]
    draws_above = np.cumsum(np.bincount(of_draw, weights=drawn, minlength=_GRID + 1)[::-1])[::-1]
    residual_above = np.cumsum(np.bincount(of_draw, weights=residual, minlength=_GRID + 1)[::-1])[::-1]
    shrunk = residual_above * draws_above / (draws_above + RESIDUAL_DRAWS)
    flag_cell = _f1_cut(n_cell, p_cell, found, errors=errors, above=shrunk)
    flags = np.zeros(given.shape[0], bool)
    if flag_cell is not None:
        flags[open_rows[chance_cell >= flag_cell]] = True
    count = _cells(s0[open_rows])[1]  # the unreviewed labels by cell of their suspicion, for the interval
    grid = np.arange(_GRID + 1) / _GRID
    # Interval: each constant block of the isotonic fit is a share estimated from its reviews (Kish's
    # effective count of their weights, half a pseudo-error so that a block without errors is not
    # certain), applied to the unreviewed labels whose suspicion falls in it.
    fit = isotonic_regression(y, sample_weight=w, y_min=0.0, y_max=1.0)
    block = np.r_[0, np.cumsum(np.diff(fit) != 0)]
    n_eff = np.bincount(block, weights=w) ** 2 / np.bincount(block, weights=w * w)
    share = (np.bincount(block, weights=w * y) / np.bincount(block, weights=w) * n_eff + 0.5) / (n_eff + 1)
    of_cell = block[np.clip(np.searchsorted(x, grid, side="right") - 1, 0, x.size - 1)]
    mass = np.bincount(of_cell, weights=count, minlength=block[-1] + 1)
    se = float(np.sqrt((mass**2 * share * (1 - share) / n_eff).sum()))
    # Replacements (see corrections): among the flags, from the suspicion on where the draws show that
    # replacing all the labels above it by their likely class gains (_replace_from). What a replacement
    # would have done to a reviewed label: +1 where its likely class before review was the verified one,
    # -1 where the given label was right, 0 where both were wrong.
    replace_above = float("inf")
    if alternative is not None and flags.any():
        gain = np.where(y == 0.0, -1.0, (np.asarray(alternative)[rev_by] == verified[rev_by]).astype(float))
        replace_above = _replace_from(x, gain, w, drawn, float(s0[flags].min()))
    n_given = max(rev.size + open_rows.size, 1)  # every given label is reviewed or not
    rate = total / n_given
    low, high = max(0.0, rate - _Z95 * se / n_given), min(1.0, rate + _Z95 * se / n_given)
    m = int(rev.size)
    est = NoiseEstimate(rate, low, high, errors, m, found / m, replace_above, calibrated=True, audits=audits)
    return flags, est
