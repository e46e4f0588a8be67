"""Label-error detection on scikit-learn's digits: nblabel vs cleanlab vs a kNN majority vote.

Embeddings: PCA(32) of the pixels (no download). Symmetric noise: a share of the labels is moved to a
uniformly chosen *other* class. Prints two markdown tables:

1. detection AUROC / F1 / time per method and noise level (mean over seeds);
2. the graph settings behind nblabel's defaults (symmetric vs asymmetric W, T="auto" vs fixed T):
   detection AUROC at each noise level and clamped-LP accuracy with 1 % / 5 % verified labels.

    python bench/bench_label_errors.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.neighbors import NearestNeighbors

from nblabel.graph import KnnGraph
from nblabel.propagate import Propagator
from nblabel.quality import flag_label_issues, suspicion

NOISE = (0.2, 0.5, 0.8)


def noisy(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(y)) < rate
    given = y.copy()
    given[flipped] = (y[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    return given, flipped


def run_nblabel(Z, given, **graph_kw):
    t0 = time.perf_counter()
    P = Propagator(KnnGraph(**graph_kw).fit(Z), 10).fit(given).proba_
    return suspicion(P, given), flag_label_issues(P, given), time.perf_counter() - t0


def run_cleanlab(Z, given, seed):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probs = cross_val_predict(
            LogisticRegression(max_iter=2000), Z, given, cv=5, method="predict_proba", n_jobs=1
        )
    flags = find_label_issues(given, probs)
    score = 1.0 - get_label_quality_scores(given, probs)
    return score, flags, time.perf_counter() - t0


def run_knn_vote(Z, given, k=10):
    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(Z)
    idx = nn.kneighbors(Z, return_distance=False)[:, 1:]
    votes = np.stack([(given[idx] == c).sum(axis=1) for c in range(10)], axis=1)
    score = 1.0 - votes[np.arange(len(given)), given] / k
    flags = votes.argmax(axis=1) != given
    return score, flags, time.perf_counter() - t0


def detection_table(Z, y, seeds):
    methods = {
        "nblabel (k=10, T=auto, W+W^T)": lambda g, s: run_nblabel(Z, g),
        "cleanlab find_label_issues (5-fold LogReg)": lambda g, s: run_cleanlab(Z, g, s),
        "kNN majority vote (k=10)": lambda g, s: run_knn_vote(Z, g),
    }
    rows = []
    for name, fn in methods.items():
        row = [name]
        for rate in NOISE:
            aurocs, f1s, times = [], [], []
            for seed in seeds:
                given, flipped = noisy(y, rate, seed)
                score, flags, secs = fn(given, seed)
                aurocs.append(roc_auc_score(flipped, score))
                f1s.append(f1_score(flipped, flags))
                times.append(secs)
            row += [f"{np.mean(aurocs):.4f}", f"{np.mean(f1s):.3f}", f"{np.mean(times):.2f}"]
        rows.append(row)
    head = ["method"] + [f"{m} @{r}" for r in NOISE for m in ("AUROC", "F1", "s")]
    return head, rows


def settings_table(Z, y, seeds):
    rows = []
    for symmetric in (True, False):
        for T in ("auto", 0.01, 0.05, 0.1):
            graph = KnnGraph(T=T, symmetric=symmetric).fit(Z)
            row = [f"{'W+W^T' if symmetric else 'kNN W'}, T={T} ({graph.T_:.3f})"]
            for rate in NOISE:
                aurocs = []
                for seed in seeds:
                    given, flipped = noisy(y, rate, seed)
                    P = Propagator(graph, 10).fit(given).proba_
                    aurocs.append(roc_auc_score(flipped, suspicion(P, given)))
                row.append(f"{np.mean(aurocs):.4f}")
            for frac in (0.01, 0.05):
                accs = []
                for seed in seeds:
                    rng = np.random.default_rng(seed)
                    verified = np.full(len(y), -1)
                    pick = rng.choice(len(y), int(frac * len(y)), replace=False)
                    verified[pick] = y[pick]
                    pred = Propagator(graph, 10).fit(verified=verified).predict()
                    accs.append((pred == y)[verified < 0].mean())
                row.append(f"{np.mean(accs):.4f}")
            rows.append(row)
    head = ["graph"] + [f"AUROC @{r}" for r in NOISE] + ["LP acc 1%", "LP acc 5%"]
    return head, rows


def print_table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed instead of three")
    args = ap.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    X, y = load_digits(return_X_y=True)
    Z = PCA(32, random_state=0).fit_transform(X).astype(np.float32)
    print(f"digits: n={len(y)}, PCA(32), seeds={seeds}\n")
    print_table(*detection_table(Z, y, seeds))
    print_table(*settings_table(Z, y, seeds))


if __name__ == "__main__":
    main()
