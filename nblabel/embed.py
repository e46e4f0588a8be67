"""Images to embeddings with any timm backbone: batched, device-aware, cached on disk per image.

The encoder is a ``timm`` model created with ``num_classes=0`` (so it returns pooled features) and the model's
own preprocessing (``timm.data.resolve_data_config`` + ``create_transform``). Embeddings are L2-normalised
so a dot product is the cosine similarity used by the kNN graph (paper §2.3).

Weights come from the model hub (``pretrained=True``), from a local file (``checkpoint=``: a state dict, a
safetensors file, or a checkpoint written by :func:`nblabel.byol.train_byol`), or from a seeded random
initialisation. When the hub cannot be reached the encoder fails at once with a message saying how to supply
weights, instead of sitting in the hub client's retries.

The on-disk cache keeps one row per image keyed by its content hash, in one SQLite file per (model, weights,
preprocessing): re-running a notebook recomputes nothing, and a changed image is recomputed alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import timm
import torch
import torch.nn.functional as F
from timm.data import create_transform, resolve_data_config
from torch import nn
from tqdm.auto import tqdm

from nblabel._validation import check_count
from nblabel.data import ImageSource, as_source
from nblabel.files import cache_folder

__all__ = [
    "BYOL_CHECKPOINT_FORMAT",
    "Encoder",
    "WeightsUnavailableError",
    "create_backbone",
    "embed_images",
    "load_backbone_state",
    "resolve_device",
]

BYOL_CHECKPOINT_FORMAT = "nblabel-byol/1"
_CACHE_VERSION = 1
# The hub check must answer within seconds: a resolver or firewall that drops packets would otherwise hang.
_REACH_TIMEOUT_S = 3.0
_SQLITE_MAX_VARS = 900


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched or found locally."""


# ----------------------------------------------------------------------------------------------------
# Devices and weights


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Pick a torch device: the one named, or the best available (cuda, then mps, then cpu).

    Parameters
    ----------
    device : str or torch.device, optional
        ``None`` or ``"auto"`` for automatic choice, else e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns
    -------
    torch.device

    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}. "
            "Fix: pass device=None."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: expected an available device; got 'cuda' but torch sees no GPU. Fix: device=None."
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "device: expected an available device; got 'mps' but it is unavailable. Fix: device=None."
        )
    return dev


def load_backbone_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read backbone weights from a local file.

    Parameters
    ----------
    path : str or path-like
        A ``.safetensors`` file, a ``torch.save``-d state dict (optionally under a ``"state_dict"`` or
        ``"model"`` key), or a BYOL checkpoint written by :func:`nblabel.byol.train_byol`.

    Returns
    -------
    state_dict : dict of str to torch.Tensor
    meta : dict
        ``model_name`` and ``model_kwargs`` when the file records them (BYOL checkpoints), else empty.

    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(
            f"checkpoint: expected a weights file; got {str(path)!r}, which does not exist. "
            "Fix: pass the path of a .pth/.pt/.safetensors file or of a train_byol checkpoint."
        )
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p)), {}
        except Exception as exc:  # safetensors raises its own SafetensorError (and OSError) for a bad file
            raise ValueError(
                f"checkpoint: expected a safetensors weights file; {str(p)!r} cannot be read as one "
                f"({type(exc).__name__}). Fix: check that the download or copy finished, or pass another "
                "file."
            ) from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for a bad file
        # torch's own message suggests weights_only=False, which would run any code the file contains:
        # never pass that advice on.  Say what the file is not, and what to do instead.
        raise ValueError(
            f"checkpoint: expected weights saved with torch.save (a state dict of tensors) or a train_byol "
            f"checkpoint; {str(p)!r} cannot be read as weights ({type(exc).__name__}). nblabel loads only "
            "tensors from checkpoints, never arbitrary Python objects. Fix: check that the file is complete "
            "and is a weights file; re-save it with torch.save(model.state_dict(), path), or convert it to "
            ".safetensors."
        ) from None
    if isinstance(obj, dict) and obj.get("format") == BYOL_CHECKPOINT_FORMAT:
        return obj["backbone"], {"model_name": obj.get("model_name"), "model_kwargs": obj.get("model_kwargs")}
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"checkpoint: expected a state dict (name -> tensor); got {type(obj).__name__} in {str(p)!r}. "
            "Fix: save weights with torch.save(model.state_dict(), path)."
        )
    return obj, {}


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _reachable(host: str, port: int = 443, timeout: float = _REACH_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host`` (or the configured HTTPS proxy) opens within ``timeout``."""
    proxy = urllib.request.getproxies().get("https")
    if proxy:
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parsed.hostname or host, parsed.port or 80
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    # Name resolution ignores the socket timeout, so the whole attempt runs in a thread we stop waiting for.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _weights_help(model_name: str, why: str) -> str:
    return (
        f"Pretrained weights for {model_name!r} are not available: {why}.\n"
        "Ways to supply weights:\n"
        "  1. a local weights file: Encoder(model_name, checkpoint='path/to/weights.pth' or '.safetensors')\n"
        "     (a state dict, or a checkpoint from nblabel.byol.train_byol);\n"
        "  2. the Hugging Face cache: download once on a machine with network "
        f"(timm.create_model({model_name!r}, pretrained=True)) and copy ~/.cache/huggingface/hub here, "
        "or point HF_HUB_CACHE / HF_HOME at it; set HF_ENDPOINT for a mirror;\n"
        "  3. no pretrained weights: Encoder(model_name, pretrained=False) (random init; or train it on your "
        "images with nblabel.byol.train_byol)."
    )


def _create_pretrained(model_name: str, **kwargs: Any) -> nn.Module:
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None or cfg.file:
        return timm.create_model(model_name, pretrained=True, **kwargs)
    import huggingface_hub.constants as hf_constants

    if cfg.hf_hub_id:
        host = urlparse(hf_constants.ENDPOINT).hostname or "huggingface.co"
    else:
        host = urlparse(str(cfg.url or "")).hostname or ""
    if not hf_constants.HF_HUB_OFFLINE and _reachable(host):
        return timm.create_model(model_name, pretrained=True, **kwargs)
    why = "offline mode (HF_HUB_OFFLINE) is set" if hf_constants.HF_HUB_OFFLINE else f"{host} is unreachable"
    # Without a hub the weights can only come from a local cache. Resolving the file here and handing it to
    # timm as the config's `file` keeps the hub client (and its retries) out of the way entirely.
    cached = _cached_weights(cfg)
    if cached is None:
        raise WeightsUnavailableError(
            _weights_help(model_name, f"{why} and the weights are not in the local cache")
        )
    return timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay={"file": cached}, **kwargs)


def _cached_weights(cfg: Any) -> str | None:
    """Path of the pretrained weights of ``cfg`` in the local Hugging Face or torch hub cache, if there."""
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = str(cfg.hf_hub_id).partition("@")
        # The file names timm's hub loader tries, in its order (safetensors first).
        for filename in ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin"):
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str):
                return found
        return None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(str(cfg.url or "")).path).name
    return str(cached) if cached.is_file() else None


def create_backbone(
    model_name: str,
    *,
    pretrained: bool = False,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    model_kwargs: dict | None = None,
) -> tuple[nn.Module, str]:
    """Create a timm backbone that returns pooled features, and a string naming its weights.

    Parameters
    ----------
    model_name : str
        Any ``timm`` model name, e.g. ``"resnet18"`` or ``"vit_small_patch16_224.augreg_in21k"``.
    pretrained : bool
        Load the hub's pretrained weights (fails within seconds when they cannot be had).
    checkpoint : str or path-like, optional
        Local weights file; takes precedence over ``pretrained`` (nothing is downloaded).
    seed : int
        Seed of the random initialisation when neither weights source is used.
    model_kwargs : dict, optional
        Extra ``timm.create_model`` arguments, e.g. ``{"channels": (32, 64, 128, 256)}``; a BYOL checkpoint's
        own are used when this is None.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU; ``model(x)`` has shape (batch, ``model.num_features``).
    weights_id : str
        ``"checkpoint:<file hash>"``, ``"pretrained:<hub id>"`` or ``"random-init:seed=<seed>"``.

    """
    if not isinstance(model_name, str) or not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name}*")[:5] if isinstance(model_name, str) else []
        raise ValueError(
            f"model_name: expected a timm model name; got {model_name!r}. "
            f"Fix: pick one from timm.list_models(){', e.g. ' + ', '.join(close) if close else ''}."
        )
    kwargs = dict(model_kwargs or {})
    if checkpoint is not None:
        state, meta = load_backbone_state(checkpoint)
        if meta.get("model_name") and meta["model_name"] != model_name:
            raise ValueError(
                f"checkpoint: expected weights for model_name={model_name!r}; got a BYOL checkpoint of "
                f"{meta['model_name']!r}. Fix: pass model_name={meta['model_name']!r}."
            )
        if model_kwargs is None:
            kwargs = dict(meta.get("model_kwargs") or {})
        model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
        fix = "Fix: pass the model_name / model_kwargs this file was saved from."
        try:
            # A full-model checkpoint's classifier weights are expected extras; missing backbone ones are not.
            missing = model.load_state_dict(state, strict=False).missing_keys
        except RuntimeError as exc:  # torch reports shape mismatches this way
            first = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln), str(exc))
            raise ValueError(
                f"checkpoint: expected weights shaped for {model_name!r} {kwargs or ''}; got mismatched "
                f"shapes ({first}). {fix}"
            ) from exc
        if missing:
            raise ValueError(
                f"checkpoint: expected weights for every layer of {model_name!r}; {len(missing)} are missing "
                f"(e.g. {missing[:3]}). {fix}"
            )
        weights_id = f"checkpoint:{_file_digest(Path(checkpoint).expanduser())}"
    elif pretrained:
        model = _create_pretrained(model_name, num_classes=0, **kwargs)
        cfg: dict[str, Any] = getattr(model, "pretrained_cfg", {})
        tag = cfg.get("hf_hub_id") or cfg.get("url") or model_name
        weights_id = f"pretrained:{tag}"
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
        weights_id = f"random-init:seed={seed}"
    return model.eval(), weights_id


# ----------------------------------------------------------------------------------------------------
# On-disk cache


def default_cache_dir() -> Path:
    """Folder of the embedding cache: ``$NBLABEL_CACHE/embeddings`` or ``~/.cache/nblabel/embeddings``."""
    return cache_folder("embeddings")


class _EmbeddingCache:
    """One SQLite file per encoder configuration; one row (content hash -> float32 vector) per image."""

    def __init__(self, folder: Path, key: str, description: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{key}.sqlite"
        self._con = sqlite3.connect(self.path, timeout=30)
        with self._con:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("CREATE TABLE IF NOT EXISTS emb (hash TEXT PRIMARY KEY, vec BLOB NOT NULL)")
            self._con.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            self._con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('encoder', ?)", (json.dumps(description, sort_keys=True),)
            )

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _SQLITE_MAX_VARS):
            chunk = unique[start : start + _SQLITE_MAX_VARS]
            marks = ",".join("?" * len(chunk))
            for h, blob in self._con.execute(f"SELECT hash, vec FROM emb WHERE hash IN ({marks})", chunk):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        rows = [
            (h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for h, v in zip(hashes, vectors, strict=True)
        ]
        with self._con:
            self._con.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)

    def close(self) -> None:
        self._con.close()


# ----------------------------------------------------------------------------------------------------
# Encoder


class _Images(torch.utils.data.Dataset):
    """Decoded, preprocessed images for a DataLoader; a load failure yields a placeholder and its reason."""

    def __init__(
        self, source: ImageSource, indices: list[int], transform: Callable[[Any], torch.Tensor]
    ) -> None:
        self.source, self.indices, self.transform = source, indices, transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int, str]:
        image, reason = self.source.try_load(self.indices[k])
        return self.transform(image), k, reason or ""


class Encoder:
    """A timm backbone turned into a cached embedding function.

    Parameters
    ----------
    model_name : str
        Any timm model name.
    pretrained : bool
        Use the hub's pretrained weights; fails within seconds with instructions when they cannot be fetched.
    checkpoint : str or path-like, optional
        Local weights file (state dict, safetensors, or a :func:`nblabel.byol.train_byol` checkpoint); takes
        precedence over ``pretrained``.
    device : str or torch.device, optional
        ``None`` picks cuda, then mps, then cpu.
    batch_size : int
        Images per forward pass.
    num_workers : int, optional
        DataLoader processes decoding images; ``None`` uses up to 8 (none for small jobs, where starting
        workers costs more than decoding).
    image_size : int, optional
        Resize every image (shorter side, then centre square) to this size instead of the model's default
        input size; useful for small images such as 8x8 digits.
    cache_dir : str or path-like, optional
        Folder of the on-disk cache (default ``~/.cache/nblabel/embeddings``); ``False`` disables caching.
    progress : bool
        Show a tqdm progress bar.
    seed : int
        Seed of the random initialisation (only used without pretrained weights or a checkpoint).
    model_kwargs : dict, optional
        Extra ``timm.create_model`` arguments.

    Attributes
    ----------
    model : torch.nn.Module
        The backbone, in eval mode on ``device``.
    device : torch.device
    weights_id : str
        Identity of the weights (part of the cache key).
    data_config : dict
        Preprocessing (input size, interpolation, mean, std, crop) resolved by timm.
    dim : int
        Embedding dimension.

    """

    def __init__(
        self,
        model_name: str = "resnet18",
        pretrained: bool = True,
        checkpoint: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        num_workers: int | None = None,
        image_size: int | None = None,
        cache_dir: str | os.PathLike | bool | None = None,
        progress: bool = True,
        *,
        seed: int = 0,
        model_kwargs: dict | None = None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("image_size", image_size)):
            if value is not None:
                check_count(value, name, example=64)
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 0):
            raise ValueError(
                f"num_workers: expected an integer >= 0 or None; got {num_workers!r}. Fix: None."
            )
        self.model_name = model_name
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.progress = progress
        self.device = resolve_device(device)
        model, self.weights_id = create_backbone(
            model_name,
            pretrained=pretrained and checkpoint is None,
            checkpoint=checkpoint,
            seed=seed,
            model_kwargs=model_kwargs,
        )
        self.data_config = resolve_data_config({}, model=model)
        if image_size is not None:
            # The whole (small) image is wanted: no border crop.
            self.data_config.update(input_size=(3, image_size, image_size), crop_pct=1.0)
        self.transform = create_transform(**self.data_config, is_training=False)
        self.dim = int(getattr(model, "num_features"))  # noqa: B009 - timm models, not every nn.Module
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device).eval()
        self._model_kwargs = dict(model_kwargs or {})
        self._cache_dir: Path | None = None
        if cache_dir is None or cache_dir is True:
            self._cache_dir = Path(default_cache_dir()).expanduser()
        elif cache_dir is not False:
            self._cache_dir = Path(cache_dir).expanduser()

    def __repr__(self) -> str:
        return (
            f"Encoder({self.model_name!r}, weights={self.weights_id!r}, dim={self.dim}, "
            f"input={self.data_config['input_size'][1:]}, device={self.device})"
        )

    @property
    def cache_key(self) -> str:
        """Hash of everything that changes an embedding: model, weights and preprocessing."""
        return hashlib.blake2b(
            json.dumps(self.describe(), sort_keys=True).encode(), digest_size=16
        ).hexdigest()

    def describe(self) -> dict:
        """Return what decides this encoder's vectors: model, arguments, weights, preprocessing (JSON-able).

        The embedding cache is keyed by it, and ``embed_with_ray`` records it in its shards' manifest.
        """
        cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in self.data_config.items()}
        return {
            "version": _CACHE_VERSION,
            "model": self.model_name,
            "model_kwargs": {k: repr(v) for k, v in sorted(self._model_kwargs.items())},
            "weights": self.weights_id,
            "preprocess": cfg,
        }

    def embed(self, source: ImageSource | np.ndarray) -> np.ndarray:
        """Embed every image of ``source``, reusing cached rows.

        Parameters
        ----------
        source : ImageSource or numpy.ndarray
            Images; an array is wrapped with :func:`nblabel.data.from_array`.

        Returns
        -------
        numpy.ndarray, shape (n, d), float32
            L2-normalised embeddings in the order of ``source.ids``; NaN rows for images that could not be
            decoded, which are also listed in ``source.errors`` (:meth:`Session.from_source` leaves them out).

        """
        source = as_source(source)
        n = len(source)
        out = np.empty((n, self.dim), dtype=np.float32)
        if self._cache_dir is None:
            self._compute(source, list(range(n)), out, None, [])
            return out
        hashes = [source.content_hash(i) for i in range(n)]
        cache = _EmbeddingCache(self._cache_dir, self.cache_key, self.describe())
        try:
            found = cache.get(hashes)
            todo: list[int] = []
            first_of: dict[str, int] = {}
            for i, h in enumerate(hashes):
                vec = found.get(h)
                if vec is not None and vec.shape == (self.dim,):
                    out[i] = vec
                elif h in first_of:
                    continue  # identical content is computed once and copied below
                else:
                    first_of[h] = i
                    todo.append(i)
            self._compute(source, todo, out, cache, hashes)
            for i, h in enumerate(hashes):
                if h in first_of and first_of[h] != i:
                    out[i] = out[first_of[h]]
        finally:
            cache.close()
        return out

    def _compute(
        self,
        source: ImageSource,
        indices: list[int],
        out: np.ndarray,
        cache: _EmbeddingCache | None,
        hashes: list[str],
    ) -> None:
        """Run the model over ``indices``, writing rows of ``out`` and the cache batch by batch."""
        if not indices:
            return
        workers = self.num_workers
        if workers is None:
            workers = 0 if len(indices) <= 2 * self.batch_size else min(8, os.cpu_count() or 1)
        loader = torch.utils.data.DataLoader(
            _Images(source, indices, self.transform),
            batch_size=self.batch_size,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
        )
        failures: list[tuple[str, str]] = []
        bar = tqdm(total=len(indices), desc=f"embed {self.model_name}", unit="img", disable=not self.progress)
        with torch.inference_mode(), self._autocast(), bar:
            for x, ks, reasons in loader:
                x = x.to(self.device, non_blocking=True)
                if self.device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                feats = F.normalize(self.model(x).float(), dim=1).cpu().numpy()
                rows = [indices[k] for k in ks.tolist()]
                # An image that failed to decode has no embedding: its row is NaN (never a vector of the
                # placeholder, which would join the graph as a fake item) and it is not cached.
                bad = np.array([bool(why) for why in reasons])
                feats[bad] = np.nan
                out[rows] = feats
                failures += [(source.ids[r], why) for r, why in zip(rows, reasons, strict=True) if why]
                if cache is not None and not bad.all():
                    # Written per batch so an interrupted run keeps what it computed.
                    good = np.flatnonzero(~bad)
                    cache.put([hashes[rows[j]] for j in good], feats[good])
                bar.update(len(rows))
        if failures:
            source.record_errors(failures)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.device.type != "cuda":
            yield
            return
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast(device_type="cuda", dtype=dtype):
            yield


def embed_images(
    source: ImageSource | np.ndarray, encoder: Encoder | None = None, **kw: object
) -> np.ndarray:
    """Embed images with ``encoder``, or with a new ``Encoder(**kw)``.

    Parameters
    ----------
    source : ImageSource or numpy.ndarray
        Images to embed.
    encoder : Encoder, optional
        Encoder to use; when given, ``kw`` must be empty.
    **kw
        Arguments of :class:`Encoder`.

    Returns
    -------
    numpy.ndarray, shape (n, d), float32
        L2-normalised embeddings.

    """
    if encoder is not None and kw:
        raise ValueError(
            f"embed_images: expected either encoder= or Encoder arguments; got both "
            f"(encoder and {sorted(kw)}). "
            "Fix: configure the Encoder once and pass only encoder=."
        )
    return (encoder or Encoder(**kw)).embed(source)  # type: ignore[arg-type]
