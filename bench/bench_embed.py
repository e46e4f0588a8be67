"""Embedding benchmark: encoder throughput on this CPU, and how much BYOL helps on scikit-learn's digits.

Two markdown tables:

1. images/s for resnet18 and vit_tiny_patch16_224 at 224 px (random init: only the speed matters here);
2. on the 1797 digits, with 1 % of the labels (18 items, random per seed): weighted-kNN accuracy using only
   the labelled items, and label-propagation (LP, paper Eq. 3 on the Eq. 2 graph) accuracy on the unlabelled
   items, for raw pixels, a random-init backbone and the same backbone trained with BYOL by
   :func:`nblabel.datasets.digits_embeddings` (time to train and embed shown).
   A 5-fold kNN accuracy with all labels is given as a plain measure of the representation.

    python bench/bench_embed.py            # 256 images per model, BYOL with the demo's own step count
    python bench/bench_embed.py --quick    # 64 images per model, BYOL 60 steps
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from nblabel.datasets import _BACKBONE, _IMAGE_SIZE, _MODEL_KWARGS, digits, digits_embeddings, digits_source
from nblabel.datasets import _STEPS as DEMO_STEPS
from nblabel.embed import Encoder
from nblabel.graph import KnnGraph
from nblabel.propagate import Propagator


def throughput(model_name: str, n: int, batch_size: int = 32) -> tuple[float, float]:
    """Images per second of wall time and per second of process CPU time (robust to a busy machine)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    # No worker processes, so process CPU time covers preprocessing as well as the model.
    enc = Encoder(
        model_name, pretrained=False, cache_dir=False, progress=False, batch_size=batch_size, num_workers=0
    )
    enc.embed(images[:batch_size])  # warm-up: allocator, kernels
    start, cpu_start = time.perf_counter(), time.process_time()
    enc.embed(images)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu_start)


def few_label_scores(
    X: np.ndarray, y: np.ndarray, fraction: float, seeds: range
) -> tuple[float, float, float]:
    """Mean kNN@fraction, LP@fraction (on the unlabelled items) over seeds, and 5-fold kNN with all labels."""
    graph = KnnGraph(k=10).fit(X)
    knn, lp = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        labelled = rng.choice(len(y), size=max(1, round(fraction * len(y))), replace=False)
        rest = np.setdiff1d(np.arange(len(y)), labelled)
        clf = KNeighborsClassifier(min(10, len(labelled)), metric="cosine", weights="distance")
        knn.append((clf.fit(X[labelled], y[labelled]).predict(X[rest]) == y[rest]).mean())
        verified = np.full(len(y), -1)
        verified[labelled] = y[labelled]
        pred = Propagator(graph, n_classes=10).fit(verified=verified).predict()
        lp.append((pred[rest] == y[rest]).mean())
    full = cross_val_score(KNeighborsClassifier(10, metric="cosine"), X, y, cv=5).mean()
    return float(np.mean(knn)), float(np.mean(lp)), float(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--steps", type=int, default=None, help="BYOL steps (default: the demo's, quick 60)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_images = 64 if args.quick else 256
    steps = args.steps or (60 if args.quick else DEMO_STEPS)

    print(f"torch threads: {torch.get_num_threads()}\n")
    print("| model | input | images/s (wall) | images per CPU-second |")
    print("|---|---|---|---|")
    for name in ("resnet18", "vit_tiny_patch16_224"):
        wall, cpu = throughput(name, n_images)
        print(f"| {name} | 224 px | {wall:.1f} | {cpu:.1f} |", flush=True)

    d = digits()
    y = d.labels
    source = digits_source(size=_IMAGE_SIZE)
    seeds = range(5)
    rows = [("raw pixels (64-d)", d.images.reshape(len(y), -1).astype(np.float32), "-")]
    enc_args = dict(image_size=_IMAGE_SIZE, cache_dir=False, progress=False)
    random_init = Encoder(_BACKBONE, pretrained=False, model_kwargs=_MODEL_KWARGS, **enc_args)
    rows.append((f"{_BACKBONE} 1/2-width, random init", random_init.embed(source), "-"))
    # The demo's own recipe, in an empty cache so that it trains: the time covers training and one
    # embedding pass over the digits.
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), time.process_time()
        trained = digits_embeddings(cache_dir=tmp, steps=steps, progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rows.append(
        (f"{_BACKBONE} 1/2-width, BYOL {steps} steps", trained, f"{wall:.0f} s wall, {cpu:.0f} s CPU")
    )

    print(f"\nDigits (n={len(y)}), 1 % labels = {round(0.01 * len(y))} items, mean of {len(seeds)} seeds\n")
    print("| embedding | kNN @ 1 % | LP @ 1 % | kNN 5-fold, all labels | BYOL training + embedding |")
    print("|---|---|---|---|---|")
    for name, X, cost in rows:
        knn, lp, full = few_label_scores(np.asarray(X, dtype=np.float32), y, 0.01, seeds)
        print(f"| {name} | {knn:.3f} | {lp:.3f} | {full:.3f} | {cost} |", flush=True)


if __name__ == "__main__":
    main()
