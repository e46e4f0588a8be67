"""How nblabel names and writes its files: the cache folder, side-file names, the one atomic write.

- The **cache folder** (:func:`cache_folder`): ``$NBLABEL_CACHE/<kind>``, else
  ``$XDG_CACHE_HOME/nblabel/<kind>``, else ``~/.cache/nblabel/<kind>``; used for embeddings
  (:mod:`nblabel.embed`) and trained datasets (:mod:`nblabel.datasets`).
- **Side files** (:func:`side_file`): what belongs to one journal sits next to it as ``<journal>-<suffix>``,
  named by a hash of what it was computed from (:func:`cache_key`); :mod:`nblabel.cache` loads or computes
  them.
- **One way to write a file** (:func:`atomic_write`): under a temporary name beside it, then moved into
  place in one step, so a reader (or a crash) sees the old file or the new one, never half of one;
  :func:`place_new` is its never-overwrite step, also used by :mod:`nblabel.store` for a new journal.

Nothing here imports another nblabel module, so the engine (the journal, the encoder, BYOL) can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nblabel._blocks import row_blocks

__all__ = [
    "atomic_write",
    "cache_folder",
    "cache_key",
    "place_new",
    "save_npy",
    "side_file",
    "siblings",
]


def cache_folder(kind: str) -> Path:
    """Folder for one kind of cached file: ``$NBLABEL_CACHE/<kind>`` or ``~/.cache/nblabel/<kind>``."""
    base = os.environ.get("NBLABEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nblabel"
    )
    return Path(base) / kind


def side_file(journal: Path, suffix: str) -> Path:
    """Path of a file that belongs to ``journal``: ``<journal>-<suffix>`` (covered by ``*.nblabel.db-*``)."""
    return journal.with_name(f"{journal.name}-{suffix}")


def siblings(path: Path) -> set[str]:
    """Names of the journal and the files that belong to it (``<journal>``, ``<journal>-*``)."""
    if not path.parent.is_dir():
        return set()
    return {
        p.name for p in path.parent.iterdir() if p.name == path.name or p.name.startswith(f"{path.name}-")
    }


def cache_key(*parts: Any) -> str:
    """12 hex digits naming what a side file was computed from (JSON-able ``parts``)."""
    return hashlib.blake2b(json.dumps(list(parts), sort_keys=True).encode(), digest_size=6).hexdigest()


def place_new(tmp: Path, path: Path, clash: str) -> None:
    """Move the finished file ``tmp`` to ``path`` unless ``path`` exists: then ``FileExistsError(clash)``.

    A hard link fails if ``path`` appeared meanwhile, so a file someone else just made is never
    overwritten; filesystems without hard links fall back to a rename after one more check.  ``tmp`` stays
    (the caller removes it).
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(clash) from None
    except OSError:
        if path.exists():
            raise FileExistsError(clash) from None
        os.rename(tmp, path)


def atomic_write(path: Path, write: Callable[[Path], object], *, replace: bool = True) -> None:
    """Write a file under a temporary name beside ``path`` and move it into place in one step.

    Parameters
    ----------
    path : Path
        Where the file ends up.
    write : callable
        ``write(tmp)`` writes the whole file at ``tmp``.
    replace : bool
        With ``False`` an existing ``path`` (even one that appeared meanwhile) is never overwritten:
        ``FileExistsError``.  A replaced file's permission bits are kept.

    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        if not replace:
            place_new(
                tmp,
                path,
                f"{path} appeared while it was being written; nothing was overwritten. "
                "Fix: pass overwrite=True to replace it, or choose another path.",
            )
            return
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write one array as ``.npy`` at exactly ``path`` (``np.save`` on a name would append ``.npy``).

    A C-contiguous array is written a block of rows at a time (:func:`nblabel._blocks.row_blocks`), so a
    memory-mapped one is copied without all of it becoming resident.
    """
    with open(path, "wb") as fh:
        if array.ndim == 0 or not array.flags.c_contiguous or array.dtype.hasobject:
            np.save(fh, array, allow_pickle=False)
            return
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        for _, block in row_blocks(array):
            fh.write(block.data)
