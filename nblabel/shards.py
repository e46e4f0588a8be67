"""Embeddings in shards on disk, and opening them memory-mapped for a :class:`~nblabel.session.Session`.

A folder of sharded embeddings (written by :func:`nblabel.distributed.embed_with_ray`, one shard per block of
images, each by whichever worker embedded that block)::

    shard-000000000.npy        (m, d) float32, L2-normalised rows
    shard-000000000.ids.json   {"ids": [...m ids], "given": [...m class indices, -1 for none]}
    shard-000004096.npy        named by the index of its first image in the source
    ...
    manifest.json              written last, in one step: a folder without it is unfinished

The manifest names the shards in order and says what made them: the encoder (model, weights, preprocessing),
``dim``, ``count``, the class names ``given`` indexes into, and the images left out because they could not be
decoded (``errors``, as ``[id, reason]``).  Every file is written under a temporary name and moved into place
(:func:`nblabel.cache.atomic_write`), and the manifest only after every shard, so a crashed or half-copied
run is refused by :func:`open_embeddings` instead of being taken for a finished one.

:func:`open_embeddings` returns the embeddings as one read-only memory-mapped ``(n, d)`` array: the shard
itself when there is one, else a file joining them (written once beside the shards, a block at a time).  A
Session on it reads the file a block at a time (see :mod:`nblabel._blocks`) and never holds a copy in RAM.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nblabel._blocks import row_blocks
from nblabel._validation import check_ids
from nblabel.files import atomic_write, save_npy

__all__ = [
    "MANIFEST",
    "SHARDS_FORMAT",
    "ShardedEmbeddings",
    "new_run_id",
    "open_embeddings",
    "shard_name",
    "write_manifest",
    "write_shard",
]

SHARDS_FORMAT = "nblabel-shards/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True, eq=False)
class ShardedEmbeddings:
    """Embeddings opened from a shard folder, ready for ``Session(e.embeddings, ids=e.ids, ...)``.

    Attributes
    ----------
    embeddings : numpy.memmap, shape (n, d), float32
        Read-only, memory-mapped: nothing is read until used.
    ids : list of str, length n
    given : numpy.ndarray, shape (n,), int32
        Given class index per item (-1 none), into ``classes``.
    classes : list of str
    errors : list of (str, str)
        Images left out because they could not be decoded, with the reason.
    manifest : dict
        The folder's ``manifest.json``.
    path : Path
        The folder.

    """

    embeddings: np.ndarray
    ids: list[str]
    given: np.ndarray
    classes: list[str]
    errors: list[tuple[str, str]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()

    def session_kwargs(self) -> dict[str, Any]:
        """``Session`` arguments for these embeddings: ``Session(**e.session_kwargs(), journal=...)``."""
        return {"embeddings": self.embeddings, "ids": self.ids, "given": self.given, "classes": self.classes}

    def __repr__(self) -> str:
        n, d = self.embeddings.shape
        return (
            f"ShardedEmbeddings(n={n}, d={d}, shards={len(self.manifest.get('shards', []))}, "
            f"classes={len(self.classes)}, errors={len(self.errors)}, path={str(self.path)!r})"
        )


def new_run_id() -> str:
    """Return a fresh id for one run writing a shard folder (names its joined file)."""
    return uuid.uuid4().hex


def shard_name(start: int) -> str:
    """Name of the shard whose first image is ``start`` in the source: ``shard-000004096``."""
    return f"shard-{int(start):09d}"


def write_shard(folder: Path, start: int, X: np.ndarray, ids: list[str], given: np.ndarray) -> str:
    """Write one shard (its ids, then its rows), each file in one step; return its name.

    Parameters
    ----------
    folder : Path
        The shard folder (exists).
    start : int
        Index in the source of the first image of the block this shard holds.
    X : numpy.ndarray, shape (m, d), float32
        Embeddings of the images of the block that decoded (``m`` may be 0).
    ids : list of str, length m
        Their ids.
    given : numpy.ndarray, shape (m,), int
        Given class indices, -1 for none.

    """
    name = shard_name(start)
    rows = np.ascontiguousarray(X, dtype=np.float32)
    payload = {"ids": list(ids), "given": [int(g) for g in given]}
    atomic_write(folder / f"{name}.ids.json", lambda tmp: tmp.write_text(json.dumps(payload)))
    atomic_write(folder / f"{name}.npy", lambda tmp: save_npy(tmp, rows))
    return name


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` in one step: from then on the folder is a finished set of shards."""
    text = json.dumps({"format": SHARDS_FORMAT, **manifest}, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(text))


def _damaged(folder: Path, what: str) -> ValueError:
    return ValueError(
        f"{folder}: expected a finished folder of sharded embeddings; {what}. "
        "Fix: run embed_with_ray again for this folder (overwrite=True), or copy the whole folder again."
    )


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ValueError(
            f"folder: expected a folder of sharded embeddings; got {str(folder)!r}, which is not a folder. "
            "Fix: pass the out_dir given to embed_with_ray."
        )
    if not path.is_file():
        raise ValueError(
            f"{folder}: expected {MANIFEST}, which is written once every shard is done; it is missing, so "
            "the run that writes this folder has not finished (or failed). Fix: wait for it, or run "
            "embed_with_ray again with overwrite=True."
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _damaged(folder, f"{MANIFEST} cannot be read ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise _damaged(folder, f"{MANIFEST} has format {got!r}, not {SHARDS_FORMAT!r}")
    return manifest


def _open_rows(path: Path, count: int, dim: int, folder: Path) -> np.memmap:
    """Memory-map one ``.npy`` of ``count`` float32 rows of ``dim`` (its header only is read)."""
    try:
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _damaged(folder, f"{path.name} cannot be read ({type(exc).__name__})") from None
    if not isinstance(rows, np.memmap) or rows.shape != (count, dim) or rows.dtype != np.float32:
        raise _damaged(
            folder, f"{path.name} holds {rows.dtype} {rows.shape}, the manifest says float32 {(count, dim)}"
        )
    return rows


def open_embeddings(
    folder: str | os.PathLike, *, join_dir: str | os.PathLike | None = None
) -> ShardedEmbeddings:
    """Open a folder of sharded embeddings as one read-only memory-mapped array, with ids and given labels.

    Parameters
    ----------
    folder : str or path-like
        A folder written by :func:`nblabel.distributed.embed_with_ray` (its ``manifest.json`` is there).
    join_dir : str or path-like, optional
        Where the file joining several shards goes (default: ``folder``; pass another folder when ``folder``
        is read-only).  Written once, a block at a time; reused while the manifest stays the same.

    Returns
    -------
    ShardedEmbeddings
        ``embeddings`` is a :class:`numpy.memmap` of shape (n, d): ``Session(e.embeddings, ids=e.ids,
        given=e.given, classes=e.classes)`` builds its graph from it a block at a time, so the session never
        holds the embeddings in RAM.

    """
    root = Path(folder).expanduser()
    manifest = _read_manifest(root)
    try:
        dim, count = int(manifest["dim"]), int(manifest["count"])
        shards = [(str(s["name"]), int(s["count"])) for s in manifest["shards"]]
        classes = [str(c) for c in manifest.get("classes", [])]
        errors = [(str(i), str(why)) for i, why in manifest.get("errors", [])]
    except (KeyError, TypeError, ValueError):
        raise _damaged(root, f"{MANIFEST} lacks dim, count or shards") from None
    if sum(m for _, m in shards) != count:
        raise _damaged(root, f"its shards hold {sum(m for _, m in shards)} rows, the manifest says {count}")
    ids: list[str] = []
    given: list[int] = []
    parts: list[np.memmap] = []
    for name, m in shards:
        try:
            listed = json.loads((root / f"{name}.ids.json").read_text())
        except (OSError, ValueError) as exc:
            raise _damaged(root, f"{name}.ids.json cannot be read ({type(exc).__name__})") from None
        if len(listed.get("ids", [])) != m or len(listed.get("given", [])) != m:
            raise _damaged(root, f"{name}.ids.json does not list {m} ids and given labels")
        ids += listed["ids"]
        given += listed["given"]
        parts.append(_open_rows(root / f"{name}.npy", m, dim, root))
    ids = check_ids(ids, count, name=f"ids in {root}")
    parts = [p for p in parts if p.shape[0]]
    if len(parts) == 1:
        embeddings = parts[0]
    else:
        embeddings = _joined(parts, Path(join_dir).expanduser() if join_dir else root, manifest, count, dim)
    return ShardedEmbeddings(
        embeddings=embeddings,
        ids=ids,
        given=np.asarray(given, dtype=np.int32),
        classes=classes,
        errors=errors,
        manifest=manifest,
        path=root,
    )


def _joined(parts: list[np.memmap], where: Path, manifest: dict[str, Any], count: int, dim: int) -> np.memmap:
    """Memory-map the file joining ``parts`` in order, writing it first (a block at a time) if needed."""
    # Named by the run that wrote the shards: a run that rewrites the folder never meets an older join.
    path = where / f"joined-{str(manifest.get('run', 'unknown'))[:16]}.npy"
    if path.is_file():
        with contextlib.suppress(ValueError):  # a damaged join is written again below, never trusted
            return _open_rows(path, count, dim, where)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            header = {"descr": np.dtype(np.float32).str, "fortran_order": False, "shape": (count, dim)}
            np.lib.format.write_array_header_1_0(fh, header)
            for part in parts:
                for _, block in row_blocks(part):
                    fh.write(block.data)

    where.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
    return _open_rows(path, count, dim, where)
