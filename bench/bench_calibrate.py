"""What a click costs in review calibration at scale: ``quality.calibrate`` after the suspects list's reviews.

Synthetic labels (nothing to embed): ``n`` given labels with 5 % errors, a suspicion that ranks them (errors
Beta(5, 2), right labels Beta(1, 8)), a random likely class and a random offset for every pair of classes, and
100 reviews taken from the top of the suspects list as the widget would (a third the top, the rest audit
draws). Each click after 20 reviews calls ``calibrate`` once; the table gives its time with the after-review
fit starting from the pre-review chances (``quality.PRIOR_REVIEWS``, the default) and fitted to the reviews
alone, interleaved in one run so that the ratio holds on a noisy machine.

    python bench/bench_calibrate.py [--n 1000000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nblabel import quality


def case(n: int, c: int, seed: int = 0) -> tuple:
    """Return the arguments of ``calibrate`` after 100 reviews of the suspects list, on synthetic labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    given = truth.copy()
    wrong = rng.random(n) < 0.05
    given[wrong] = (truth[wrong] + rng.integers(1, c, int(wrong.sum()))) % c
    s0 = np.where(given != truth, rng.beta(5, 2, n), rng.beta(1, 8, n)).astype(np.float32)
    alternative = rng.integers(0, c, n)
    offsets = rng.normal(0.0, 2.0, (c, c)).astype(np.float32)
    keys = quality.audit_keys(s0)
    verified = np.full(n, -1)
    for done in range(100):
        item = quality.suspect_order(s0, np.flatnonzero(verified < 0), audit=keys, done=done)[0]
        verified[item] = truth[item]
    errors = float((given != truth).mean())
    prior = quality.NoiseEstimate(errors, errors / 2, errors * 1.5, errors * n)
    return prior, s0, given, verified, s0, keys, alternative, offsets


def timed(args: tuple, prior_reviews: float) -> float:
    """Return the seconds of one ``calibrate`` call with ``PRIOR_REVIEWS`` set to ``prior_reviews``."""
    default = quality.PRIOR_REVIEWS
    quality.PRIOR_REVIEWS = prior_reviews
    try:
        t0 = time.perf_counter()
        quality.calibrate(*args)
        return time.perf_counter() - t0
    finally:
        quality.PRIOR_REVIEWS = default


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="given labels")
    ap.add_argument("--repeats", type=int, default=5, help="calls of each, interleaved")
    ap.add_argument("--quick", action="store_true", help="100,000 labels, 3 calls of each")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeats = 100_000, 3
    print("| classes | from the pre-review chances (ms) | fitted to the reviews alone (ms) | ratio |")
    print("|---|---|---|---|")
    for c in (10, 100):
        inputs = case(args.n, c)
        timed(inputs, quality.PRIOR_REVIEWS)  # warm the allocations
        times: dict[float, list[float]] = {quality.PRIOR_REVIEWS: [], 0.0: []}
        for _ in range(args.repeats):
            for k in times:
                times[k].append(1000 * timed(inputs, k))
        (with_prior, alone) = (np.array(v) for v in times.values())
        print(
            f"| {c} | {np.median(with_prior):.0f} [{with_prior.min():.0f}-{with_prior.max():.0f}] "
            f"| {np.median(alone):.0f} [{alone.min():.0f}-{alone.max():.0f}] "
            f"| {np.median(with_prior / alone):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
