"""Can a reviewer trust the flags? nblabel's flags and noise estimate vs cleanlab, on features of any quality.

The grid (see :mod:`nblabel.degrade` for how each dataset is made):

- features: the 1797 digits at a 10-NN accuracy of about 0.80, 0.90 and 0.97, and 20,000 augmented digits
  (shifted, rotated, noised, PCA(8): about 0.88), where the graph has to connect many small clusters;
- label noise: 0, 0.02, 0.05, 0.1, 0.2, 0.4, symmetric (to any other class) and look-alike pairs
  (3<->5, 1<->7, 4<->9 swapped at that rate, so the true rate is 0.6 times it);
- seeds: 3 (noise, and the features' added noise), 1 with --quick; the README's tables are 10 seeds, run as
  five processes (``--only`` per dataset, ``--first-seed`` / ``--seeds`` to split the augmented set) and
  joined with ``--from-log``.

Per cell: nblabel with its defaults (``Session``: k=10, T="auto") before any review, and after a person
verified the first 50 and 100 suspects (simulated with the true labels through ``Session.label``, one at a
time, each time taking the top of ``Session.suspects``, as the widget's suspects mode would: two of every
three an audit draw, see :mod:`nblabel.quality`); cleanlab
``find_label_issues`` on out-of-fold probabilities of a 5-fold logistic regression on the same features, and
its noise estimate 1 - trace(``cleanlab.count.estimate_joint``). Cleanlab's probabilities are cached in
``$NBLABEL_CACHE/bench-flags`` (they take most of the time).

    nice -n 10 python bench/bench_flags.py [--quick] [--only 0.80] [--seeds 1 --first-seed 2]
    python bench/bench_flags.py --from-log run1.txt run2.txt   # the tables of a grid split over processes
    python bench/bench_flags.py --spread augmented_20k-symmetric-0.02-1 --keys 20   # other audit seeds
    python bench/bench_flags.py --pre-review-rules   # replacing flags before review; the estimate's bound
    python bench/bench_flags.py --review-curve --keys 11   # the after-review targets, 50 to 400 reviews
    python bench/bench_flags.py --review-curve --keys 11 --seeds 10 --upto 100   # the same over 10 seeds
    python bench/bench_flags.py --other-reviews   # 100 reviews by lasso, by page, of the flags: no draws
    python bench/bench_flags.py --many-classes   # 15 classes, features weaker than the grid's

``--spread`` repeats the reviews of chosen runs with other audit seeds (how often each after-review target
holds, against the best possible estimator's chance, :func:`best_estimator_bound`); ``--pre-review-rules``
measures what replacing flags above a suspicion before any review would do to the labels (``corrected``
replaces none until reviews calibrate it, :func:`nblabel.quality.corrections`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from nblabel.degrade import augmented_digits, degraded_digits, inject_label_noise, knn_accuracy
from nblabel.graph import KnnGraph
from nblabel.session import Session

RATES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
KINDS = ("symmetric", "pairs")
REVIEWS = (50, 100)


class _PrebuiltGraphSession(Session):
    """A Session that takes a graph built once per dataset instead of building its own for every cell."""

    prebuilt: KnnGraph | None = None

    def _load_or_build_graph(self) -> KnnGraph:
        return self.prebuilt


def _cache_dir() -> Path:
    base = os.environ.get("NBLABEL_CACHE") or os.path.expanduser("~/.cache/nblabel")
    out = Path(base) / "bench-flags"
    out.mkdir(parents=True, exist_ok=True)
    return out


def cleanlab_probs(Z: np.ndarray, given: np.ndarray, tag: str) -> np.ndarray:
    """Out-of-fold probabilities of a 5-fold logistic regression (standardised features), cached.

    The cache is keyed by the features and labels themselves, not only by ``tag``: a change in how either
    is made must not read another's probabilities.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(Z).tobytes(), digest_size=8)
    digest.update(np.ascontiguousarray(given, np.int64).tobytes())
    path = _cache_dir() / f"{tag}-{digest.hexdigest()}.npy"
    if path.is_file():
        return np.load(path)
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        probs = cross_val_predict(model, Z, given, cv=cv, method="predict_proba", n_jobs=1)
    np.save(path, probs)
    return probs


def best_f1(err: np.ndarray, score: np.ndarray) -> float:
    """The best F1 any single threshold on ``score`` reaches, in hindsight."""
    if not err.any():
        return float("nan")
    e = err[np.argsort(-score, kind="stable")]
    tp = np.cumsum(e)
    return float((2 * tp / (np.arange(1, e.size + 1) + err.sum())).max())


def _f1(err: np.ndarray, flags: np.ndarray) -> float:
    return float(f1_score(err, flags)) if err.any() else float("nan")


def run_cell(Z, y, graph, kind, rate, seed, tag):
    """All numbers of one cell of the grid."""
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues

    given = inject_label_noise(y, rate, kind, seed=seed)
    err = given != y
    out = {"true": float(err.mean())}
    ids = [str(i) for i in range(len(y))]
    with tempfile.TemporaryDirectory() as tmp:
        _PrebuiltGraphSession.prebuilt = graph
        t0 = time.perf_counter()
        s = _PrebuiltGraphSession(Z, ids=ids, given=given, journal=Path(tmp) / "j.nblabel.db")
        out["nb_s"] = time.perf_counter() - t0
        st, summ = s.state, s.summary()
        old = 1.0 - st.proba[np.arange(len(y)), given]  # the plain score nblabel ranked by before
        out.update(
            nb_f1=_f1(err, st.flagged),
            nb_flag=float(st.flagged.mean()),
            nb_est=summ["noise_rate"],
            nb_lo=summ["noise_interval"][0],
            nb_hi=summ["noise_interval"][1],
            nb_auc=roc_auc_score(err, st.suspicion) if err.any() else float("nan"),
            old_auc=roc_auc_score(err, old) if err.any() else float("nan"),
            best=best_f1(err, st.suspicion),
        )
        corrected = s.predictions["corrected"].cat.codes.to_numpy()
        out["corr_gain"] = float((corrected == y).mean() - (given == y).mean())
        done = 0
        for m in REVIEWS:
            while done < m:
                item = s.suspects(1).index[0]
                s.label(item, int(y[int(item)]))
                done += 1
            st, summ = s.state, s.summary()
            found = (st.verified >= 0) & (st.verified != given)
            out[f"f1_{m}"] = _f1(err, st.flagged | found)
            out[f"est_{m}"] = summ["noise_rate"]
            out[f"lo_{m}"], out[f"hi_{m}"] = summ["noise_interval"]
            corrected = s.predictions["corrected"].cat.codes.to_numpy()
            out[f"gain_{m}"] = float((corrected == y).mean() - (given == y).mean())
        s.close()
    t0 = time.perf_counter()
    probs = cleanlab_probs(Z, given, tag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl_flags = find_label_issues(given, probs)
        joint = estimate_joint(given, probs)
    out.update(
        cl_f1=_f1(err, cl_flags),
        cl_flag=float(cl_flags.mean()),
        cl_est=float(1.0 - np.trace(joint)),
        cl_s=time.perf_counter() - t0,
    )
    return out


def grid_runs(seeds: int = 3):
    """Yield ``(cell, y, graph, pre_review(...))`` for each of the grid's runs (144 with 3 seeds); progress.

    ``cell`` is ``(dataset, kind, rate)``; one graph per dataset and seed.
    """
    for name, make in datasets(False):
        for seed in range(seeds):
            Z, y = make(seed)
            graph = KnnGraph().fit(Z)
            for kind in KINDS:
                for rate in RATES:
                    yield (name, kind, rate), y, graph, pre_review(Z, y, graph, kind, rate, seed)
            print(f"  {name} seed {seed} done", flush=True)


def pre_review(Z, y, graph, kind, rate, seed):
    """The given labels of a cell, and what review simulation needs.

    ``(given, prior estimate, suspicion, near-duplicate groups, likely other class, pair offsets)``, all
    before review.
    """
    given = inject_label_noise(y, rate, kind, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        _PrebuiltGraphSession.prebuilt = graph
        ids = [str(i) for i in range(len(y))]
        s = _PrebuiltGraphSession(Z, ids=ids, given=given, journal=Path(tmp) / "j.nblabel.db")
        prior, s0, groups = s.state.noise, s.state.audit[1], s._structure.scores()[1]
        alternative, offsets = s.state.alternative, s._scorer._reference.offsets
        s.close()
    return given, prior, s0, groups, alternative, offsets


def simulate_reviews(y, given, s0, groups, keys, stops):
    """Yield ``(reviews, verified)`` at each count in ``stops``, verifying the top of the suspects list.

    Through the functions the session calls (its suspects list depends on the pre-review suspicion, the audit
    keys and the label conflicts alone), without a session: :func:`run_cell` checks the session itself.
    """
    from nblabel.clusters import label_conflicts
    from nblabel.quality import suspect_order

    verified = np.full(len(y), -1)
    for done in range(max(stops)):
        current = np.where(verified >= 0, verified, given)
        first = label_conflicts(groups, current)
        item = suspect_order(s0, np.flatnonzero(verified < 0), first=first, audit=keys, done=done)[0]
        verified[item] = y[item]
        if done + 1 in stops:
            yield done + 1, verified.copy()


def after_reviews(y, given, prior, s0, alternative, offsets, verified, keys, best):
    """Whether the after-review targets hold for one review set (F1, estimate, interval, corrected); errors.

    ``best``: :func:`best_f1` of the pre-review suspicion (the same for every review set of a run). The
    labels to export replace flags by their likely class before review (a session uses the current one,
    which the reviews move only near the reviewed items; :func:`run_cell` measures that).
    """
    from nblabel.quality import calibrate, corrections

    err = given != y
    flags, est = calibrate(prior, s0, given, verified, s0, keys, alternative, offsets)
    found = (verified >= 0) & (verified != given)
    corrected = np.where(verified >= 0, verified, given)
    fix = corrections(flags, alternative, verified, s0, est)
    corrected[fix] = alternative[fix]
    return {
        "f1_ok": None if not err.any() else _f1(err, flags | found) >= best - 0.05,
        "est_ok": abs(est.rate - err.mean()) <= 0.03,
        "covered": est.low <= err.mean() <= est.high,
        "found": int(found.sum()),
        "gain": float((corrected == y).mean() - (given == y).mean()),
    }


def spread(Z, y, graph, kind, rate, seed, n_keys):
    """How often the after-review targets hold over ``n_keys`` audit seeds, and the best estimator's spread.

    The reviews are simulated as in :func:`simulate_reviews`, with the audit keys drawn from other seeds;
    and :func:`best_estimator_bound`.
    """
    from nblabel.quality import audit_keys

    given, prior, s0, groups, alternative, offsets = pre_review(Z, y, graph, kind, rate, seed)
    best = best_f1(given != y, s0)  # NaN without errors
    runs = []
    for k in range(n_keys):
        keys = audit_keys(s0, seed=1000 + k)
        for _, verified in simulate_reviews(y, given, s0, groups, keys, {REVIEWS[-1]}):
            runs.append(after_reviews(y, given, prior, s0, alternative, offsets, verified, keys, best))
    f1_ok = np.mean([r["f1_ok"] is not False for r in runs])
    est_ok = np.mean([r["est_ok"] for r in runs])
    se, bound = best_estimator_bound(s0, given != y)
    return {"f1_ok": f1_ok, "est_ok": est_ok, "bound_se": se, "bound_ok": bound}


#: Review counts of ``--review-curve``.
CURVE = (50, 100, 200, 300, 400)


def review_curve(n_keys: int, key_offset: int = 0, seeds: int = 3, upto: int = CURVE[-1]) -> None:
    """Print, per number of reviews, how often the after-review targets hold over the grid and audit seeds.

    Each run of the grid (the 144 of the tables, with ``seeds`` 3) is reviewed with the production audit
    seed and ``n_keys - 1`` others (seeds ``1000 + key_offset + k``; with an offset the production seed too
    is replaced by ``1000 + key_offset``), so a share is the chance that a run meets a target, not the luck
    of one draw; the worst cell is the cell (``seeds`` x ``n_keys`` draws) with the lowest share. Counts
    of reviews up to ``upto``.
    """
    counts = [m for m in CURVE if m <= upto]
    from nblabel.quality import AUDIT_SEED, audit_keys

    rows: list[dict] = []
    bounds: dict[int, list[float]] = {}
    for cell, y, _, (given, prior, s0, groups, alternative, offsets) in grid_runs(seeds):
        best = best_f1(given != y, s0)  # NaN without errors
        for m in counts:
            bounds.setdefault(m, []).append(best_estimator_bound(s0, given != y, m)[1])
        for k in range(n_keys):
            keys = audit_keys(s0, seed=AUDIT_SEED if k == key_offset == 0 else 1000 + key_offset + k)
            for m, verified in simulate_reviews(y, given, s0, groups, keys, set(counts)):
                r = after_reviews(y, given, prior, s0, alternative, offsets, verified, keys, best)
                rows.append(dict(r, cell=cell, reviews=m))
    table = []
    for m in counts:
        rs = [r for r in rows if r["reviews"] == m]
        noisy = [r for r in rs if r["f1_ok"] is not None]
        cells: dict[tuple, list[dict]] = {}
        for r in rs:
            cells.setdefault(r["cell"], []).append(r)
        worst_f1 = min(np.mean([r["f1_ok"] for r in c]) for c in cells.values() if c[0]["f1_ok"] is not None)
        worst_est = min(np.mean([r["est_ok"] for r in c]) for c in cells.values())
        table.append(
            [
                str(m),
                f"{np.mean([r['f1_ok'] for r in noisy]):.1%}",
                f"{np.mean([r['est_ok'] for r in rs]):.1%}",
                f"{np.mean(bounds[m]):.1%}",
                f"{np.mean([r['covered'] for r in rs]):.1%}",
                f"{worst_f1:.0%}",
                f"{worst_est:.0%}",
                f"{np.mean([r['found'] for r in noisy]) / m:.2f}",
                f"{np.mean([r['gain'] >= 0 for r in rs]):.2%}",
                f"{min(r['gain'] for r in rs):+.4f}",
                f"{np.mean([r['gain'] for r in rs]):+.4f}",
            ]
        )
    runs = len(rows) // len(counts) // n_keys
    print(f"\n{len(rows) // len(counts)} reviewed runs per count ({runs} runs x {n_keys} audit seeds)\n")
    print_table(
        [
            "reviews",
            "F1 within 0.05 of best",
            "estimate within 0.03",
            "best estimator from the draws: within 0.03",
            "interval holds the truth",
            "worst cell: F1",
            "worst cell: estimate",
            "errors found per review",
            "corrected ≥ given",
            "worst corrected − given",
            "mean corrected − given",
        ],
        table,
    )


#: How a person may label given labels outside the suspects list (``--other-reviews``): what is reviewed.
OTHER_REVIEWS = ("lasso", "pages", "flagged")


def other_review_sets(graph: KnnGraph, s0: np.ndarray, flags: np.ndarray, n: int, seed: int) -> dict:
    """The items a person labels in each of :data:`OTHER_REVIEWS`, ``n`` of them.

    ``lasso``: four clusters of ``n / 4`` items, each the graph neighbourhood (breadth first) of a random
    item, as a lasso on the map takes a region; ``pages``: the first ``n`` items of the grid in browse
    order; ``flagged``: the pre-review flags, most suspicious first, as the noise matrix lists them.
    """
    rng = np.random.default_rng(seed)
    picked: dict[int, None] = {}  # insertion-ordered set
    for start in rng.choice(len(s0), 4, replace=False):
        region, frontier = {int(start): None}, [int(start)]
        while len(region) < n // 4 and frontier:
            seen = region | picked  # once per step, not once per neighbour
            near = (int(j) for i in frontier for j in graph.neighbors_[i] if j not in seen)
            frontier = list(dict.fromkeys(near))
            region.update(dict.fromkeys(frontier))
        picked.update(dict.fromkeys(list(region)[: n // 4]))
    flagged = np.flatnonzero(flags)
    return {
        "lasso": np.array(list(picked)),
        "pages": np.arange(n),
        "flagged": flagged[np.argsort(-s0[flagged], kind="stable")][:n],
    }


def other_reviews(n: int = REVIEWS[-1]) -> None:
    """Print what ``n`` reviews outside the suspects list do to the estimate and the flags, over the grid.

    A person who labels by lasso, page by page, or from the noise matrix reviews no audit draws, so
    :func:`nblabel.quality.calibrate` cannot fit P(wrong | suspicion); its estimate must still hold the
    truth, and its flags must not get worse than before the reviews (F1 counting the errors found).
    """
    from nblabel.quality import calibrate

    rows = []
    for _, y, graph, (given, prior, s0, _, alternative, offsets) in grid_runs():
        err = given != y
        # With nothing reviewed, calibrate gives the pre-review flags.
        prior_flags, _ = calibrate(prior, s0, given, np.full(len(y), -1), s0, None, alternative, offsets)
        for path, items in other_review_sets(graph, s0, prior_flags, n, len(rows)).items():
            verified = np.full(len(y), -1)
            verified[items] = y[items]
            flags, est = calibrate(prior, s0, given, verified, s0, None, alternative, offsets)
            found = (verified >= 0) & err
            rows.append(
                {
                    "path": path,
                    "err": abs(est.rate - err.mean()),
                    "est_ok": abs(est.rate - err.mean()) <= 0.03,
                    "covered": est.low <= err.mean() <= est.high,
                    "width": est.high - est.low,
                    "f1": _f1(err, flags | found) - _f1(err, prior_flags) if err.any() else None,
                }
            )
    table = []
    for path in OTHER_REVIEWS:
        rs = [r for r in rows if r["path"] == path]
        gains = [r["f1"] for r in rs if r["f1"] is not None]
        table.append(
            [
                path,
                f"{np.mean([r['est_ok'] for r in rs]):.1%}",
                f"{np.mean([r['err'] for r in rs]):.3f}",
                f"{np.mean([r['covered'] for r in rs]):.1%}",
                f"{np.mean([r['width'] for r in rs]):.3f}",
                f"{np.mean([g >= -0.05 for g in gains]):.1%}",
                f"{np.mean(gains):+.3f}",
            ]
        )
    print(f"\n{n} reviews outside the suspects list, {len(rows) // len(OTHER_REVIEWS)} runs\n")
    print_table(
        [
            "reviewed",
            "estimate within 0.03",
            "mean |estimate - truth|",
            "interval holds the truth",
            "mean interval width",
            "F1 not 0.05 below before",
            "mean F1 change",
        ],
        table,
    )


def best_estimator_bound(s0: np.ndarray, err: np.ndarray, reviews: int = REVIEWS[-1]) -> tuple[float, float]:
    """Standard error of the best noise estimate from the audit draws, and its chance to be within 0.03.

    The top suspects among the ``reviews`` are known; the errors among the rest are estimated from the ``m``
    audit draws (:func:`nblabel.quality.audit_slots`). No design-based estimator has a smaller standard
    error than Neyman's allocation over infinitely fine strata of the suspicion,
    ``sum_i sqrt(p_i (1 - p_i)) / sqrt(m)``, with ``p_i`` the hindsight P(wrong | suspicion) (an isotonic
    fit to the truth).
    """
    from scipy.stats import norm
    from sklearn.isotonic import isotonic_regression

    from nblabel.quality import audit_slots

    m = int(audit_slots(0, reviews).sum())
    order = np.argsort(s0, kind="stable")
    p = np.empty(len(err))
    p[order] = isotonic_regression(err[order].astype(float), y_min=0.0, y_max=1.0)
    unreviewed = np.ones(len(err), bool)
    unreviewed[order[::-1][: reviews - m]] = False
    se = float(np.sqrt(p * (1 - p))[unreviewed].sum() / np.sqrt(m) / len(err))
    return se, float(2 * norm.cdf(0.03 / se) - 1) if se > 0 else 1.0


PRE_REVIEW_RULES = (0.9, 0.95, 0.98, 0.99)


def pre_review_replacements(Z, y, graph, kind, rate, seed):
    """Accuracy gain of the labels if flags above each suspicion in ``PRE_REVIEW_RULES`` replaced them.

    What ``corrected`` would gain with a pre-review rule (before reviews calibrate it, it replaces none).
    """
    given = inject_label_noise(y, rate, kind, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        _PrebuiltGraphSession.prebuilt = graph
        ids = [str(i) for i in range(len(y))]
        s = _PrebuiltGraphSession(Z, ids=ids, given=given, journal=Path(tmp) / "j.nblabel.db")
        st = s.state
        s.close()
    out = {}
    for t in PRE_REVIEW_RULES:
        fix = st.flagged & (st.alternative >= 0) & (st.suspicion > t)
        labels = np.where(fix, st.alternative, given)
        out[t] = float((labels == y).mean() - (given == y).mean())
    out["bound"] = best_estimator_bound(st.suspicion, given != y)[1]
    return out


def many_classes(n: int = 4000, reviews: int = REVIEWS[-1]) -> None:
    """Print the estimate before and after ``reviews`` suspects-mode reviews on 15 classes, weak to clear.

    Off the grid: ``n`` points of 15 Gaussian classes in 32 dimensions (scikit-learn's
    ``make_classification``, 16 informative), their separation set so that a 10-NN classifier reaches
    0.61 to 0.92; symmetric noise 0, 0.05 and 0.2. Reviews as in :func:`run_cell`, through ``Session``;
    also how much more accurate ``corrected`` is than the given labels after them.
    """
    from sklearn.datasets import make_classification

    rows = []
    for sep in (0.7, 1.0, 1.5, 2.0):
        X, y = make_classification(
            n, 32, n_informative=16, n_redundant=4, n_classes=15, n_clusters_per_class=1, class_sep=sep,
            random_state=0,
        )  # fmt: skip
        X = X.astype(np.float32)
        acc = knn_accuracy(X, y)
        for rate in (0.0, 0.05, 0.2):
            given = inject_label_noise(y, rate, "symmetric", seed=1)
            err = given != y
            with tempfile.TemporaryDirectory() as tmp:
                s = Session(X, given=given, journal=Path(tmp) / "j.nblabel.db")
                before = s.summary()
                for _ in range(reviews):
                    item = s.suspects(1).index[0]
                    s.label(item, int(y[int(item)]))
                after = s.summary()
                corrected = s.predictions["corrected"].cat.codes.to_numpy()
                s.close()
            rows.append(
                [
                    f"{acc:.2f}",
                    f"{rate:g}",
                    fmt(err.mean()),
                    "{} [{}, {}]".format(fmt(before["noise_rate"]), *map(fmt, before["noise_interval"])),
                    "{} [{}, {}]".format(fmt(after["noise_rate"]), *map(fmt, after["noise_interval"])),
                    f"{(corrected == y).mean() - (given == y).mean():+.3f}",
                ]
            )
            print(f"  10-NN {acc:.2f} noise {rate}: done", flush=True)
    print(f"\n15 classes, {n} points, {reviews} reviews\n")
    head = ["10-NN", "noise", "true rate", "estimate before [95 %]", f"after {reviews} reviews"]
    print_table([*head, f"corrected − given acc. after {reviews}"], rows)


def print_pre_review_rules(seeds: list[int]) -> None:
    """Print, per rule, how many runs of the grid it keeps at least as accurate, its mean and worst gain."""
    gains: dict[float, list[float]] = {t: [] for t in PRE_REVIEW_RULES}
    bound: list[float] = []
    for name, make in datasets(False):
        for seed in seeds:
            Z, y = make(seed)
            graph = KnnGraph().fit(Z)
            for kind in KINDS:
                for rate in RATES:
                    run = pre_review_replacements(Z, y, graph, kind, rate, seed)
                    bound.append(run.pop("bound"))
                    for t, g in run.items():
                        gains[t].append(g)
            print(f"  {name} seed {seed} done", flush=True)
    rows = [
        [
            f"flagged, suspicion > {t:g}",
            f"{sum(g >= 0 for g in v)}/{len(v)}",
            f"{np.mean(v):+.4f}",
            f"{min(v):+.4f}",
        ]
        for t, v in gains.items()
    ]
    print_table(["replace before review", "runs with corrected ≥ given", "mean gain", "worst"], rows)
    print(
        f"the best estimator from the audit draws of {REVIEWS[-1]} reviews (best_estimator_bound) is "
        f"expected within 0.03 of the truth in {sum(bound):.1f} of {len(bound)} runs"
    )


def datasets(quick: bool):
    levels = ("0.90",) if quick else ("0.80", "0.90", "0.97")
    for level in levels:
        yield f"digits {level}", lambda seed, level=level: degraded_digits(level, seed)
    if not quick:
        yield "augmented 20k", lambda seed: augmented_digits(20_000, seed=seed)


def fmt(x: float, digits: int = 3) -> str:
    return "–" if x != x else f"{x:.{digits}f}"


def print_table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(flush=True)


def targets(results: list[dict]) -> str:
    """How many (cell, seed) runs meet each of the issue's targets, out of the runs it applies to."""
    noisy = [r for r in results if r["true"] > 0]
    clean = [r for r in results if r["true"] == 0]
    checks = {
        "F1 >= cleanlab": (noisy, lambda r: r["nb_f1"] >= r["cl_f1"]),
        "flags <= cleanlab at noise 0": (clean, lambda r: r["nb_flag"] <= r["cl_flag"]),
        "estimate closer than cleanlab's": (
            results,
            lambda r: abs(r["nb_est"] - r["true"]) <= abs(r["cl_est"] - r["true"]),
        ),
        "interval holds the truth": (results, lambda r: r["nb_lo"] <= r["true"] <= r["nb_hi"]),
        "AUROC >= old score": (noisy, lambda r: r["nb_auc"] >= r["old_auc"]),
        "AUROC >= old score - 0.001": (noisy, lambda r: r["nb_auc"] >= r["old_auc"] - 0.001),
        "corrected >= given": (results, lambda r: r["corr_gain"] >= 0),
        "F1 @100 within 0.05 of best": (noisy, lambda r: r["f1_100"] >= r["best"] - 0.05),
        "estimate @100 within 0.03": (results, lambda r: abs(r["est_100"] - r["true"]) <= 0.03),
        "interval @100 holds the truth": (results, lambda r: r["lo_100"] <= r["true"] <= r["hi_100"]),
        "corrected @100 >= given": (results, lambda r: r["gain_100"] >= 0),
    }
    return ", ".join(f"{name}: {sum(map(check, runs))}/{len(runs)}" for name, (runs, check) in checks.items())


def report(groups: list[tuple[str, dict[tuple[str, float], list[dict]]]], seeds: list[int]) -> None:
    """Print the two tables (means over seeds) and the target counts of ``(label, {(kind, rate): runs})``."""
    before, after, results = [], [], []
    for label, cells in groups:
        for (kind, rate), rs in cells.items():
            results.extend(rs)
            m = {
                k: float(np.nanmean([r[k] for r in rs])) if any(r[k] == r[k] for r in rs) else float("nan")
                for k in rs[0]
            }
            before.append(
                [
                    label,
                    kind,
                    f"{rate:g}",
                    fmt(m["true"]),
                    fmt(m["nb_f1"]),
                    fmt(m["cl_f1"]),
                    f"{m['nb_flag']:.1%}",
                    f"{m['cl_flag']:.1%}",
                    f"{fmt(m['nb_est'])} [{fmt(m['nb_lo'])}, {fmt(m['nb_hi'])}]",
                    fmt(m["cl_est"]),
                    f"{fmt(m['nb_auc'])} / {fmt(m['old_auc'])}",
                    f"{m['corr_gain']:+.3f}",
                ]
            )
            after.append(
                [
                    label,
                    kind,
                    f"{rate:g}",
                    fmt(m["true"]),
                    fmt(m["best"]),
                    fmt(m["nb_f1"]),
                    fmt(m["f1_50"]),
                    fmt(m["f1_100"]),
                    fmt(m["nb_est"]),
                    fmt(m["est_50"]),
                    f"{fmt(m['est_100'])} [{fmt(m['lo_100'])}, {fmt(m['hi_100'])}]",
                    f"{m['gain_100']:+.3f}",
                ]
            )
    print(f"seeds {seeds}; means over seeds\n")
    print_table(
        [
            "features",
            "noise",
            "rate",
            "true rate",
            "F1 nblabel",
            "F1 cleanlab",
            "flagged nblabel",
            "flagged cleanlab",
            "noise est. nblabel [95 %]",
            "noise est. cleanlab",
            "AUROC new / old",
            "corrected − given acc.",
        ],
        before,
    )
    print_table(
        [
            "features",
            "noise",
            "rate",
            "true rate",
            "best F1 (hindsight)",
            "F1 before",
            "F1 @50",
            "F1 @100",
            "est. before",
            "est. @50",
            "est. @100 [95 %]",
            "corrected − given acc. @100",
        ],
        after,
    )
    print("targets met (runs):", targets(results))


def from_logs(paths: list[str]) -> None:
    """Rebuild the tables from the per-run lines of earlier runs (a grid split over processes)."""
    groups: dict[str, dict[tuple[str, float], list[dict]]] = {}
    accs: dict[str, dict[int, float]] = {}
    seeds: set[int] = set()
    for path in paths:
        for line in Path(path).read_text().splitlines():
            tag, sep, rest = line.strip().partition(": ")
            if sep and rest.startswith("10-NN "):  # "<name> seed <s>: 10-NN <acc>"
                name, _, seed = tag.rpartition(" seed ")
                accs.setdefault(name, {})[int(seed)] = float(rest.split()[1])
            elif sep and rest.startswith("true="):
                name, kind, rate, seed = tag.rsplit("-", 3)
                run = {k: float(v) for k, v in (kv.split("=") for kv in rest.split(", "))}
                groups.setdefault(name.replace("_", " "), {}).setdefault((kind, float(rate)), []).append(run)
                seeds.add(int(seed))
    labelled = []
    for name, cells in groups.items():
        acc = accs.get(name)
        labelled.append((f"{name} (10-NN {np.mean(list(acc.values())):.2f})" if acc else name, cells))
    report(labelled, sorted(seeds))


def print_spread(cells: list[str], n_keys: int) -> None:
    """Print :func:`spread` for runs named as in the per-run lines (``<dataset>-<kind>-<rate>-<seed>``)."""
    rows = []
    for cell in cells:
        name, kind, rate, seed = cell.rsplit("-", 3)
        make = dict(datasets(False))[name.replace("_", " ")]
        Z, y = make(int(seed))
        r = spread(Z, y, KnnGraph().fit(Z), kind, float(rate), int(seed), n_keys)
        rows.append(
            [cell, f"{r['f1_ok']:.0%}", f"{r['est_ok']:.0%}", f"{r['bound_se']:.4f}", f"{r['bound_ok']:.0%}"]
        )
        print(f"  {cell}: " + ", ".join(f"{k}={v:.4f}" for k, v in r.items()), flush=True)
    print(f"\n{n_keys} audit seeds per run, {REVIEWS[-1]} reviews\n")
    print_table(
        [
            "run",
            "F1 within 0.05 of best",
            "estimate within 0.03",
            "best estimator's s.e.",
            "its chance within 0.03",
        ],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed, the 0.90 digits, noise 0 / 0.05 / 0.2")
    ap.add_argument("--only", help="run only the datasets whose name contains this (e.g. 0.80, augmented)")
    ap.add_argument("--seeds", type=int, help="run N seeds (default 3, 1 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0, help="the first seed (to split the grid)")
    ap.add_argument("--rates", help="comma-separated noise rates (default all, 0/0.05/0.2 with --quick)")
    ap.add_argument("--from-log", nargs="+", help="print the tables of the per-run lines in these outputs")
    ap.add_argument(
        "--spread",
        nargs="+",
        metavar="CELL",
        help="for these runs (e.g. augmented_20k-symmetric-0.02-1): how often the after-review targets hold "
        "over --keys audit seeds, and the best estimator's chance to be within 0.03",
    )
    ap.add_argument("--keys", type=int, default=20, help="audit seeds per run with --spread / --review-curve")
    ap.add_argument(
        "--key-offset", type=int, default=0, help="with --review-curve: other audit seeds (1000 + offset + k)"
    )
    ap.add_argument(
        "--review-curve",
        action="store_true",
        help="how often the after-review targets hold after 50 to 400 reviews, over the grid and --keys "
        "audit seeds",
    )
    ap.add_argument(
        "--upto", type=int, default=CURVE[-1], help="with --review-curve: the most reviews (50 to 400)"
    )
    ap.add_argument(
        "--many-classes",
        action="store_true",
        help="15 classes of Gaussian blobs, 10-NN 0.61 to 0.92: the estimate before and after 100 reviews",
    )
    ap.add_argument(
        "--other-reviews",
        action="store_true",
        help="what 100 reviews outside the suspects list (a lasso, pages of the grid, the noise matrix's "
        "flags) do to the estimate and the flags, on the grid",
    )
    ap.add_argument(
        "--pre-review-rules",
        action="store_true",
        help="what replacing flags above a suspicion before any review would do to the labels, on the grid; "
        "and how often the best estimator from the audit draws can be within 0.03",
    )
    args = ap.parse_args()
    if args.from_log:
        from_logs(args.from_log)
        return
    if args.spread:
        print_spread(args.spread, args.keys)
        return
    if args.review_curve:
        review_curve(args.keys, args.key_offset, args.seeds or 3, args.upto)
        return
    if args.many_classes:
        many_classes()
        return
    if args.other_reviews:
        other_reviews()
        return
    if args.pre_review_rules:
        print_pre_review_rules([args.first_seed + i for i in range(args.seeds or 3)])
        return
    seeds = [args.first_seed + i for i in range(args.seeds or (1 if args.quick else 3))]
    rates = (0.0, 0.05, 0.2) if args.quick else RATES
    if args.rates:
        rates = tuple(float(r) for r in args.rates.split(","))
    groups = []
    for name, make in datasets(args.quick):
        if args.only and args.only not in name:
            continue
        cells: dict[tuple[str, float], list[dict]] = {}
        accs = []
        for seed in seeds:
            Z, y = make(seed)
            accs.append(knn_accuracy(Z, y))
            print(f"  {name} seed {seed}: 10-NN {accs[-1]:.4f}", flush=True)
            graph = KnnGraph().fit(Z)
            for kind in KINDS:
                for rate in rates:
                    tag = f"{name.replace(' ', '_')}-{kind}-{rate}-{seed}"
                    r = run_cell(Z, y, graph, kind, rate, seed, tag)
                    cells.setdefault((kind, rate), []).append(r)
                    print(f"  {tag}: " + ", ".join(f"{k}={v:.6f}" for k, v in r.items()), flush=True)
        groups.append((f"{name} (10-NN {np.mean(accs):.2f})", cells))
    report(groups, seeds)


if __name__ == "__main__":
    main()
