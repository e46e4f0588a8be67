"""Test data for label-error detection with a known answer: digits features of chosen quality, label noise.

The digits' own features separate the classes almost perfectly (a 10-NN classifier on PCA(32) of the pixels
reaches about 0.98), which is the one regime where deciding "wrong label or not" is easy. Real embeddings
of real photos rarely are that clean, so the benchmarks and tests also use features *degraded* to a chosen
10-NN accuracy, the same noise on the labels, and a larger digits set made by moving and noising the images:

- :func:`degraded_digits` -- PCA of the pixels with few components plus Gaussian noise, by quality level;
- :func:`augmented_digits` -- the digits shifted, rotated and noised to any size, embedded by PCA;
- :func:`inject_label_noise` -- symmetric noise, or look-alike pairs (3<->5, 1<->7, 4<->9) swapped.

Everything is seeded and needs no download.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEVELS", "PAIRS", "augmented_digits", "degraded_digits", "inject_label_noise", "knn_accuracy"]

#: Feature-quality levels: name -> (PCA components, Gaussian noise std in units of the PCA features' overall
#: std). Measured 10-NN accuracy (5-fold, cosine) on the 1797 digits, mean of seeds 0-2, in
#: ``bench/bench_flags.py``; the name is the target.
LEVELS: dict[str, tuple[int, float]] = {"0.80": (8, 0.6), "0.90": (12, 0.5), "0.97": (32, 0.0)}

#: Look-alike digit pairs whose labels :func:`inject_label_noise` swaps with ``kind="pairs"``.
PAIRS: tuple[tuple[int, int], ...] = ((3, 5), (1, 7), (4, 9))

#: Tag of the label noise's random stream (:func:`inject_label_noise` draws from ``default_rng([seed,
#: NOISE_STREAM])``): noise drawn from ``default_rng(seed)`` used the very uniforms that made the features
#: with the same seed. :func:`augmented_digits` draws its rotations first, so the look-alike swaps were
#: exactly the images rotated one way (at 40 %, every 1, 3, 4, 5, 7 and 9 rotated by -15 to -3 degrees):
#: wrong labels that their neighbours' labels agree with, not noise independent of the image.
NOISE_STREAM = 0x6E6F6973


def _pca(X: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components, random_state=seed).fit_transform(X).astype(np.float32)


def _noised(Z: np.ndarray, noise: float, seed: int) -> np.ndarray:
    # One noise scale for every component (relative to the features' overall spread), as a sensor or a weak
    # backbone would add it, so the low-variance components drown first.
    if noise == 0:
        return Z
    rng = np.random.default_rng(seed)
    scale = noise * float(np.sqrt((Z**2).sum(axis=1).mean() / Z.shape[1]))
    return (Z + rng.normal(0.0, scale, Z.shape)).astype(np.float32)


def degraded_digits(level: str = "0.90", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features of scikit-learn's digits made only as good as a chosen 10-NN accuracy.

    Level ``"0.97"`` is PCA(32) of the pixels (the digits as they are); ``"0.90"`` keeps 12 components and
    adds Gaussian noise of 0.5 times the features' spread; ``"0.80"`` keeps 8 and adds 0.6 (see
    :data:`LEVELS`).

    Parameters
    ----------
    level : {"0.80", "0.90", "0.97"}
        Target 10-NN accuracy.
    seed : int
        Seed of the added noise (the PCA is deterministic).

    Returns
    -------
    Z : numpy.ndarray, shape (1797, d), float32
    y : numpy.ndarray, shape (1797,), int64
        True classes.

    """
    from sklearn.datasets import load_digits

    if level not in LEVELS:
        raise ValueError(f"level: expected one of {list(LEVELS)}; got {level!r}. Fix: e.g. level='0.90'.")
    X, y = load_digits(return_X_y=True)
    n_components, noise = LEVELS[level]
    return _noised(_pca(X, n_components, 0), noise, seed), y.astype(np.int64)


def augmented_digits(n: int = 20_000, n_components: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Make a larger structured dataset: the digits at 16 px, randomly rotated, shifted and noised, then PCA.

    Each image is one of the 1797 digits (cycled), upsampled to 16x16, rotated by up to +-15 degrees, shifted
    by up to +-1.5 px, with Gaussian pixel noise of 10 % of the range. Similar digits thus form many small
    clusters, as photos of one object class do, and the graph has to connect them. With the default 8 PCA
    components a 10-NN classifier reaches about 0.88 on 20,000 images (0.96 with 16).

    Parameters
    ----------
    n : int
        Number of images.
    n_components : int
        PCA components of the embedding.
    seed : int
        Seed of the transformations and noise.

    Returns
    -------
    Z : numpy.ndarray, shape (n, n_components), float32
    y : numpy.ndarray, shape (n,), int64

    """
    from scipy import ndimage
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    base = np.repeat(np.repeat(bunch.images / 16.0, 2, axis=1), 2, axis=2)  # (1797, 16, 16) in [0, 1]
    src = np.arange(n) % len(base)
    angles = np.deg2rad(rng.uniform(-15, 15, n))
    shifts = rng.uniform(-1.5, 1.5, (n, 2))
    out = np.empty((n, 16, 16), np.float32)
    centre = np.array([7.5, 7.5])
    for i in range(n):
        c, s = np.cos(angles[i]), np.sin(angles[i])
        rot = np.array([[c, -s], [s, c]])
        # affine_transform maps output coordinates to input ones: rotate about the centre, then shift.
        offset = centre - rot @ centre - shifts[i]
        out[i] = ndimage.affine_transform(base[src[i]], rot, offset=offset, order=1)
    out += rng.normal(0.0, 0.1, out.shape).astype(np.float32)
    return _pca(out.reshape(n, -1), n_components, seed), bunch.target[src].astype(np.int64)


def inject_label_noise(
    y: np.ndarray, rate: float, kind: str = "symmetric", seed: int = 0, n_classes: int | None = None
) -> np.ndarray:
    """Given labels with known noise.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,), int
        True classes.
    rate : float
        ``"symmetric"``: exactly ``round(rate * n)`` items, chosen at random, get one of the other classes,
        uniformly. ``"pairs"``: each item of a class in :data:`PAIRS` gets its partner's label with
        probability ``rate`` (so the overall noise rate is ``rate`` times the share of those classes).
    kind : {"symmetric", "pairs"}
        Which noise (see ``rate``).
    seed : int
        Seed of the choice of items and wrong classes (a stream of its own, :data:`NOISE_STREAM`).
    n_classes : int, optional
        Default ``max(y) + 1``.

    Returns
    -------
    numpy.ndarray, shape (n,), int64
        Compare with ``y`` for the mask of wrong labels.

    """
    y = np.asarray(y, dtype=np.int64)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: expected a fraction in [0, 1); got {rate!r}. Fix: e.g. rate=0.1.")
    rng = np.random.default_rng([seed, NOISE_STREAM])
    given = y.copy()
    if kind == "symmetric":
        c = int(y.max()) + 1 if n_classes is None else int(n_classes)
        chosen = rng.choice(y.size, size=round(rate * y.size), replace=False)
        given[chosen] = (y[chosen] + rng.integers(1, c, size=chosen.size)) % c  # never the true class
    elif kind == "pairs":
        partner = np.arange(max(int(y.max()) + 1, 10))
        for a, b in PAIRS:
            partner[a], partner[b] = b, a
        swap = (partner[y] != y) & (rng.random(y.size) < rate)
        given[swap] = partner[y[swap]]
    else:
        raise ValueError(f"kind: expected 'symmetric' or 'pairs'; got {kind!r}.")
    return given


def knn_accuracy(Z: np.ndarray, y: np.ndarray, k: int = 10, seed: int = 0) -> float:
    """5-fold accuracy of a cosine k-NN classifier: how well the features separate the classes.

    Returns
    -------
    float

    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    clf = KNeighborsClassifier(k, metric="cosine")
    return float(cross_val_score(clf, Z, y, cv=cv).mean())
