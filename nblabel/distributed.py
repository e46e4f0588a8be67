"""Embedding millions of images on a Ray cluster: the same :class:`~nblabel.embed.Encoder` in Ray Data actors.

:func:`embed_with_ray` splits the images into blocks of ``rows_per_shard``; Ray Data hands each block to an
actor (a callable class, so the model is loaded once per actor, on a CPU or a GPU), which embeds it exactly as
:func:`nblabel.embed.embed_images` would and writes it as one shard (:mod:`nblabel.shards`) straight to the
output folder: the driver receives one small row per shard, never the embeddings.  Once every shard is on disk
the driver writes the manifest, and :func:`nblabel.shards.open_embeddings` opens the folder memory-mapped
for a :class:`~nblabel.session.Session`.

Ray is an optional dependency (``pip install "nblabel[ray]"``), imported only when this runs.  Which cluster
is used is Ray's choice: the one ``ray.init(address=...)`` connected to, else ``RAY_ADDRESS``, else a local
instance started for this call and shut down after it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nblabel.data import ImageSource, as_source, from_paths
from nblabel.shards import MANIFEST, SHARDS_FORMAT, new_run_id, write_manifest, write_shard

__all__ = ["RAY_MISSING", "embed_with_ray", "import_ray"]

#: The message when Ray is missing: it says the one command that installs it.
RAY_MISSING = 'embed_with_ray needs Ray Data, which is not installed here. Fix: pip install "nblabel[ray]"'


def import_ray() -> Any:
    """Import ``ray`` and ``ray.data``, or fail with the command that installs them."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate import
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray


class _ShardEmbedder:
    """Ray Data actor: one Encoder per actor; each call embeds one block of images and writes its shard."""

    def __init__(
        self,
        out_dir: str,
        encoder_kw: dict[str, Any],
        classes: list[str],
        images: ImageSource | None,
        torch_threads: int,
    ) -> None:
        import torch

        from nblabel.embed import Encoder

        torch.set_num_threads(torch_threads)
        self.out_dir = Path(out_dir)
        self.encoder = Encoder(**encoder_kw)
        self.classes = classes
        self.images = images  # an array source travels whole (once per actor); files travel as paths

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        index = np.asarray(batch["index"], dtype=np.int64)
        if self.images is not None:
            source = self.images.subset(index)
            source.errors = []  # the parent's errors were reported by the driver already
        else:
            source = ImageSource(
                [str(i) for i in batch["id"]],
                np.asarray(batch["given"], dtype=np.int32),
                self.classes,
                paths=[Path(str(p)) for p in batch["path"]],
            )
        X = self.encoder.embed(source)
        # An image that fails to decode has a NaN row and a reason in source.errors: left out of the shard.
        decoded = np.isfinite(X).all(axis=1)
        keep = np.flatnonzero(decoded)
        name = write_shard(
            self.out_dir, int(index[0]), X[keep], [source.ids[i] for i in keep], source.given[keep]
        )
        return {
            "start": [int(index[0])],
            "rows": [len(index)],
            "name": [name],
            "count": [len(keep)],
            "errors": [json.dumps([list(e) for e in source.errors])],
        }


def _check_positive_int(value: object, name: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer; got {value!r}. Fix: e.g. {name}={example}.")
    return int(value)


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready for a new run: refuse a finished one unless ``overwrite``; drop earlier shards."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: expected a folder; got the file {out}. Fix: pass a folder path.")
    if (out / MANIFEST).exists() and not overwrite:
        raise FileExistsError(
            f"{out} already holds finished embeddings ({MANIFEST}). Fix: pass overwrite=True to replace "
            "them, or choose another out_dir."
        )
    out.mkdir(parents=True, exist_ok=True)
    # The manifest goes first: from here until the new one is written, the folder reads as unfinished.
    (out / MANIFEST).unlink(missing_ok=True)
    for old in (
        list(out.glob("shard-*.npy")) + list(out.glob("shard-*.ids.json")) + list(out.glob("joined-*"))
    ):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()


def embed_with_ray(
    source_or_paths: ImageSource | np.ndarray | list[str] | list[os.PathLike],
    out_dir: str | os.PathLike,
    *,
    model: str = "resnet18",
    pretrained: bool = True,
    checkpoint: str | os.PathLike | None = None,
    image_size: int | None = None,
    model_kwargs: dict | None = None,
    seed: int = 0,
    batch_size: int = 64,
    rows_per_shard: int = 4096,
    num_gpus_per_worker: float = 0,
    num_cpus_per_worker: float = 1,
    concurrency: int | None = None,
    decode_workers: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Embed images with Ray Data actors and write sharded embeddings to ``out_dir``.

    Parameters
    ----------
    source_or_paths : ImageSource, image array, or list of image paths
        The images; a list of paths becomes :func:`nblabel.data.from_paths` (ids relative to their common
        folder), read by the workers (so on a cluster the paths must be readable from every node).
    out_dir : str or path-like
        Output folder (on storage every worker can write, for a cluster); see :mod:`nblabel.shards`.
    model, pretrained, checkpoint, image_size, model_kwargs, seed
        As for :class:`~nblabel.embed.Encoder`; a ``checkpoint`` path must be readable from every node.
    batch_size : int
        Images per forward pass in each actor.
    rows_per_shard : int
        Images per block, and so per shard file and per actor call.
    num_gpus_per_worker : float
        GPUs per actor (e.g. 1, or 0.5 to share one between two); 0 runs on CPUs.
    num_cpus_per_worker : float
        CPUs per actor; torch uses as many threads.
    concurrency : int, optional
        Number of actors (model copies); default: as many as the cluster's GPUs (or CPUs) allow.
    decode_workers : int, optional
        DataLoader processes decoding images inside each actor; default ``num_cpus_per_worker - 1``.
    overwrite : bool
        Replace a finished folder; without it a folder that has a manifest is refused.

    Returns
    -------
    dict
        The manifest (``model``, ``dim``, ``count``, ``shards``, ``errors``, ...); open the folder with
        :func:`nblabel.shards.open_embeddings`.  Images that could not be decoded are left out, listed in
        ``errors`` and reported in an :class:`~nblabel.data.ImageReadWarning`, as ``nblabel embed`` does.

    """
    ray = import_ray()
    if isinstance(source_or_paths, (list, tuple)):
        # Checking every file here would read them all on the driver; the workers find the broken ones.
        source = from_paths(source_or_paths, check="none")
    else:
        source = as_source(source_or_paths, "source_or_paths")
    rows_per_shard = _check_positive_int(rows_per_shard, "rows_per_shard", "4096")
    batch_size = _check_positive_int(batch_size, "batch_size", "64")
    for name, value in (
        ("num_gpus_per_worker", num_gpus_per_worker),
        ("num_cpus_per_worker", num_cpus_per_worker),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name}: expected a number >= 0; got {value!r}. Fix: e.g. {name}=1.")
    if concurrency is not None:
        concurrency = _check_positive_int(concurrency, "concurrency", "2")
    out = Path(out_dir).expanduser().absolute()
    from nblabel.embed import Encoder

    threads = max(1, int(num_cpus_per_worker))
    encoder_kw: dict[str, Any] = {
        "model_name": model,
        "pretrained": pretrained,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "device": "cuda" if num_gpus_per_worker > 0 else "cpu",
        "batch_size": batch_size,
        "num_workers": threads - 1 if decode_workers is None else decode_workers,
        "image_size": image_size,
        "cache_dir": False,  # a per-node SQLite cache buys nothing for images each embedded once
        "progress": False,
        "seed": seed,
        "model_kwargs": model_kwargs,
    }
    # Built here first, on the CPU: a wrong model name or missing weights fails before any worker starts,
    # and the manifest records what made the embeddings.
    reference = Encoder(**{**encoder_kw, "device": "cpu"})
    _prepare_folder(out, overwrite)
    run = new_run_id()

    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False)
    try:
        if concurrency is None:
            resources = ray.cluster_resources()
            if num_gpus_per_worker > 0:
                concurrency = max(1, int(resources.get("GPU", 0) // num_gpus_per_worker))
            else:
                concurrency = max(1, int(resources.get("CPU", 1) // max(num_cpus_per_worker, 1e-9)))
        blocks = _blocks(source, rows_per_shard)
        concurrency = max(1, min(concurrency, len(blocks)))  # an actor with no block only loads the model
        images = source if source.paths is None else None
        ds = ray.data.from_pandas(blocks).map_batches(
            _ShardEmbedder,
            fn_constructor_kwargs={
                "out_dir": str(out),
                "encoder_kw": encoder_kw,
                "classes": source.classes,
                "images": images,
                "torch_threads": threads,
            },
            batch_size=rows_per_shard,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus_per_worker,
            num_gpus=num_gpus_per_worker,
        )
        done = sorted(ds.take_all(), key=lambda row: int(row["start"]))
    finally:
        if started:
            ray.shutdown()
    if sum(int(row["rows"]) for row in done) != len(source):
        raise RuntimeError(
            f"embed_with_ray: expected every one of the {len(source)} images in a shard; the shards hold "
            f"{sum(int(row['rows']) for row in done)}. Fix: run again with overwrite=True."
        )
    failed = [(str(i), str(why)) for row in done for i, why in json.loads(str(row["errors"]))]
    if failed:
        source.record_errors(failed)  # the same ImageReadWarning a single-process run gives
    manifest = {
        "run": run,
        "model": reference.describe(),
        "dim": reference.dim,
        "count": sum(int(row["count"]) for row in done),
        "classes": source.classes,
        "shards": [{"name": str(row["name"]), "count": int(row["count"])} for row in done],
        "errors": [list(e) for e in source.errors],
    }
    write_manifest(out, manifest)
    return {"format": SHARDS_FORMAT, **manifest}


def _blocks(source: ImageSource, rows: int) -> list[Any]:
    """Split the images into pandas frames of ``rows`` rows: one Ray block, actor call and shard each."""
    import pandas as pd

    n = len(source)
    index = np.arange(n, dtype=np.int64)
    paths = source.paths
    frames = []
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        frame = {"index": index[lo:hi], "id": source.ids[lo:hi], "given": source.given[lo:hi]}
        if paths is not None:
            frame["path"] = [str(p) for p in paths[lo:hi]]
        frames.append(pd.DataFrame(frame))
    return frames
