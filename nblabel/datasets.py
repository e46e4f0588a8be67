"""The embedded default data: scikit-learn's bundled handwritten digits (nothing is downloaded).

:func:`digits` gives the 1797 8x8 images with their true labels and, for label-error demos, *given* labels
with symmetric noise injected at a chosen rate (and the mask of which ones were flipped, to score detection).
:func:`digits_source` wraps them as an :class:`~nblabel.data.ImageSource`; :func:`digits_embeddings` returns
embeddings from a small backbone trained with BYOL on the digits themselves.

The embeddings of the default recipe ship inside the package (``nblabel/assets/digits-byol-<tag>.npy``,
float16, under 1 MB, with a ``.json`` beside it that records how they were made), because training takes
minutes on an idle 2-core CPU and an hour on a loaded one: a first widget must not wait for that. ``<tag>``
hashes the recipe, so changing the recipe misses the shipped file and trains anew instead of silently
returning embeddings of another recipe. Training stays available as an explicit step:
``digits_embeddings(retrain=True)`` (or ``python -m nblabel.datasets`` to refresh the shipped file).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nblabel.data import ImageSource, from_array
from nblabel.files import atomic_write, cache_folder, save_npy

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
_RECIPE: dict[str, Any] = {
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


_ASSETS = Path(__file__).parent / "assets"


def _recipe_tag(steps: int, seed: int) -> tuple[str, dict]:
    """Return the recipe of :func:`digits_embeddings` and its short hash, which names its files."""
    config = {"backbone": _BACKBONE, "model_kwargs": _MODEL_KWARGS, "size": _IMAGE_SIZE, "steps": steps}
    config.update(_RECIPE, seed=seed, version=2)
    tag = hashlib.blake2b(json.dumps(config, sort_keys=True).encode(), digest_size=8).hexdigest()
    return tag, config


def _shipped(tag: str) -> Path:
    return _ASSETS / f"digits-byol-{tag}.npy"


def digits_embeddings(
    cache_dir: str | os.PathLike | None = None,
    steps: int = _STEPS,
    seed: int = 0,
    progress: bool = True,
    retrain: bool = False,
) -> np.ndarray:
    """Embeddings of the 1797 digits from a small backbone trained on them with BYOL.

    The default recipe's embeddings ship with nblabel and load in milliseconds, without torch. Another
    ``steps`` or ``seed``, or ``retrain=True``, trains the backbone (minutes on 2 CPU cores; checkpoints are
    saved, so an interrupted run resumes) and caches the result in ``cache_dir``.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Where to keep trained embeddings and the checkpoint; default ``~/.cache/nblabel/datasets``.
    steps : int
        BYOL optimiser steps.
    seed : int
        Seed of initialisation, sampling and augmentation.
    progress : bool
        Show progress bars while training.
    retrain : bool
        Train even if shipped or cached embeddings of this recipe exist (the cached file is replaced).

    Returns
    -------
    numpy.ndarray, shape (1797, 256), float32
        L2-normalised rows, in the order of :func:`digits`.

    """
    tag, _ = _recipe_tag(steps, seed)
    if not retrain and _shipped(tag).is_file():
        return _unit_rows(np.load(_shipped(tag)))
    folder = Path(cache_dir).expanduser() if cache_dir is not None else cache_folder("datasets")
    out = folder / f"digits-byol-{tag}.npy"
    if not retrain and out.is_file():
        return np.load(out)
    X = _train_digits(folder, tag, steps, seed, progress)
    atomic_write(out, lambda tmp: save_npy(tmp, X))
    return X


def _unit_rows(X: np.ndarray) -> np.ndarray:
    # float16 storage rounds each coordinate by ~1e-3 relative; renormalising keeps rows exactly unit length.
    X = X.astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _train_digits(folder: Path, tag: str, steps: int, seed: int, progress: bool) -> np.ndarray:
    """Train the recipe's backbone with BYOL on the digits and embed them; the checkpoint is removed after."""
    # torch takes seconds to import; loading shipped or cached embeddings does without it.
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
    ckpt.unlink()
    return X


def _ship(X: np.ndarray, steps: int = _STEPS, seed: int = 0) -> Path:
    """Write ``X`` as the shipped embeddings of the recipe, with a JSON record of how they were made."""
    import platform

    import timm
    import torch

    tag, config = _recipe_tag(steps, seed)
    _ASSETS.mkdir(exist_ok=True)
    for old in _ASSETS.glob("digits-byol-*"):
        old.unlink()
    np.save(_shipped(tag), X.astype(np.float16))
    record = {
        "what": "BYOL embeddings of scikit-learn's 1797 digits, rows in the order of nblabel.digits()",
        "made_by": "python -m nblabel.datasets (nblabel.datasets.digits_embeddings(retrain=True))",
        "recipe": config,
        "dtype": "float16, rows renormalised to unit length on load",
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
    }
    _shipped(tag).with_suffix(".json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return _shipped(tag)


if __name__ == "__main__":
    # Refresh the shipped embeddings after a recipe change: trains (minutes), then writes nblabel/assets/.
    cache = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    print(_ship(digits_embeddings(cache_dir=cache, retrain=True)))
