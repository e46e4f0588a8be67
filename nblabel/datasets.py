"""The embedded default data: scikit-learn's bundled handwritten digits (nothing is downloaded).

:func:`digits` gives the 1797 8x8 images with their true labels and, for label-error demos, *given* labels
with symmetric noise injected at a chosen rate (and the mask of which ones were flipped, to score detection).
:func:`digits_source` wraps them as an :class:`~nblabel.data.ImageSource`; :func:`digits_embeddings` returns
embeddings from a small backbone trained with BYOL on the digits themselves, cached on disk after the first
run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nblabel.data import ImageSource, from_array

__all__ = ["Digits", "digits", "digits_embeddings", "digits_source"]

# The BYOL recipe for the digits; measured on 2 CPU cores (see bench/bench_embed.py for the numbers).
_BACKBONE = "resnet10t"
_MODEL_KWARGS = {"channels": (32, 64, 128, 256)}  # half the width of resnet10t: 1.3M parameters, not 4.9M
# The digits are 8x8: training and embedding at 16 px loses nothing and costs a quarter of 32 px per image,
# which buys many more steps. Measured (LP @ 1 % labels, 5 seeds): 0.73 for 300 steps at 32 px / batch 128 /
# min_scale 0.2, 0.83 for this recipe (raw pixels: 0.83), both about 1.5-2.5 min on 2 CPU cores.
_IMAGE_SIZE = 16
_THUMB_SIZE = 32  # what digits_source shows in the widget
_STEPS = 2000
_RECIPE = {
    "batch_size": 64,
    "lr": 1e-3,
    "tau_base": 0.99,
    "hidden_dim": 1024,
    "hflip": False,  # a mirrored 2 or 5 is not the same digit
    "min_scale": 0.5,  # a crop of a fifth of a digit often no longer shows which digit it is
}


@dataclass(frozen=True)
class Digits:
    """The digits with true labels and (possibly noisy) given labels.

    Attributes
    ----------
    images : numpy.ndarray, shape (n, 8, 8), uint8
        Pixels scaled from scikit-learn's 0..16 to 0..255.
    labels : numpy.ndarray, shape (n,), int32
        True classes.
    given : numpy.ndarray, shape (n,), int32
        Labels as a dataset would ship them: ``labels`` with a fraction ``noise`` changed to another class.
    flipped : numpy.ndarray, shape (n,), bool
        Where ``given != labels``.
    classes : list of str
        ``["0", ..., "9"]``.
    noise : float
        Fraction of flipped labels.

    """

    images: np.ndarray
    labels: np.ndarray
    given: np.ndarray
    flipped: np.ndarray
    classes: list[str] = field(default_factory=lambda: [str(k) for k in range(10)])
    noise: float = 0.0

    def __len__(self) -> int:
        return len(self.labels)


def digits(noise: float = 0.0, seed: int = 0) -> Digits:
    """Load scikit-learn's digits, optionally with symmetric label noise.

    Exactly ``round(noise * n)`` items, chosen at random, get a given label drawn uniformly from the nine
    other classes.

    Parameters
    ----------
    noise : float
        Fraction of given labels to flip, in [0, 0.9] (beyond 0.9 a wrong class would be likelier than the
        right one, and no method can recover the truth).
    seed : int
        Seed of the choice of items and wrong classes.

    Returns
    -------
    Digits

    """
    from sklearn.datasets import load_digits

    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 0.9:
        raise ValueError(
            f"noise: expected a fraction of labels to flip in [0, 0.9]; got {noise!r}. Fix: e.g. noise=0.1."
        )
    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    n = len(labels)
    chosen = rng.choice(n, size=round(noise * n), replace=False)
    given = labels.copy()
    # Adding 1..9 modulo 10 picks uniformly among the other nine classes.
    given[chosen] = (labels[chosen] + rng.integers(1, 10, size=chosen.size)) % 10
    return Digits(images=images, labels=labels, given=given, flipped=given != labels, noise=float(noise))


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
    return np.stack(
        [np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR)) for im in images]
    )


def digits_source(noise: float = 0.0, seed: int = 0, size: int = _THUMB_SIZE) -> ImageSource:
    """Wrap the digits as an image source, upsampled so a convolutional backbone has room to work.

    Parameters
    ----------
    noise, seed
        As in :func:`digits`; the source's ``given`` labels are the noisy ones.
    size : int
        Side of the upsampled images (bilinear), in pixels.

    Returns
    -------
    ImageSource
        Ids ``"0"`` ... ``"1796"``, classes ``"0"`` ... ``"9"``.

    """
    d = digits(noise=noise, seed=seed)
    return from_array(_upsample(d.images, size), labels=d.given, classes=d.classes)


def _default_cache() -> Path:
    base = os.environ.get("NBLABEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nblabel"
    )
    return Path(base) / "datasets"


def digits_embeddings(
    cache_dir: str | os.PathLike | None = None,
    steps: int = _STEPS,
    seed: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Embeddings of the 1797 digits from a small backbone trained on them with BYOL.

    The first call trains (a few minutes at most on 2 CPU cores) and writes the result to ``cache_dir``; later
    calls read it back. Training saves checkpoints, so an interrupted first run resumes where it stopped.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Where to keep the embeddings and the checkpoint; default ``~/.cache/nblabel/datasets``.
    steps : int
        BYOL optimiser steps.
    seed : int
        Seed of initialisation, sampling and augmentation.
    progress : bool
        Show progress bars.

    Returns
    -------
    numpy.ndarray, shape (1797, 256), float32
        L2-normalised rows, in the order of :func:`digits`.

    """
    config = {"backbone": _BACKBONE, "model_kwargs": _MODEL_KWARGS, "size": _IMAGE_SIZE, "steps": steps}
    config.update(_RECIPE, seed=seed, version=2)
    tag = hashlib.blake2b(json.dumps(config, sort_keys=True).encode(), digest_size=8).hexdigest()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache()
    out = folder / f"digits-byol-{tag}.npy"
    if out.is_file():
        return np.load(out)
    # torch takes seconds to import; a cache hit (every run after the first) does without it.
    from nblabel.byol import train_byol
    from nblabel.embed import Encoder

    folder.mkdir(parents=True, exist_ok=True)
    source = digits_source(size=_IMAGE_SIZE)
    ckpt = folder / f"digits-byol-{tag}.pt"
    train_byol(
        source,
        _BACKBONE,
        steps=steps,
        image_size=_IMAGE_SIZE,
        checkpoint=ckpt,
        progress=progress,
        model_kwargs=_MODEL_KWARGS,
        grayscale=True,
        seed=seed,
        **_RECIPE,
    )
    encoder = Encoder(
        _BACKBONE, checkpoint=ckpt, image_size=_IMAGE_SIZE, device="cpu", cache_dir=False, progress=progress
    )
    X = encoder.embed(source)
    tmp = folder / f"digits-byol-{tag}.tmp.npy"
    np.save(tmp, X)
    os.replace(tmp, out)
    ckpt.unlink()
    return X
