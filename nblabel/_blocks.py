"""Reading an (n, d) array a block of rows at a time, so a memory-mapped file is never resident all at once.

Every pass nblabel makes over the embeddings (the input checks, the fingerprint, the copy beside the journal,
the kNN graph build) goes through :func:`row_blocks`.  For an array in RAM that is just slicing.  For one
memory-mapped from a file (``np.load(path, mmap_mode="r")``, :func:`nblabel.shards.open_embeddings`) the
pages a block touched are handed back to the kernel once the block is done (``madvise(MADV_DONTNEED)``):
the data stays in the page cache, but not in the process's resident set, so a pass over 256 MB of
embeddings raises the peak RSS by one block (16 MB), not by 256 MB.  Only shared mappings (modes ``"r"`` and
``"r+"``) are released; a copy-on-write mapping (``"c"``) would lose its private changes.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

__all__ = ["BLOCK_BYTES", "file_mapping", "row_blocks"]

#: Bytes of rows per block: small next to the embeddings at scale, large enough that numpy's per-call
#: overhead does not show.
BLOCK_BYTES = 16 << 20


def file_mapping(X: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """Find the shared file mapping that ``X``'s memory lies in, and the address where it starts.

    Parameters
    ----------
    X : numpy.ndarray
        Any array; views of a :class:`numpy.memmap` are followed to it through ``.base``.

    Returns
    -------
    (mmap.mmap, int) or None
        None for an array in RAM or a copy-on-write mapping.

    """
    base: object = X
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            mapping = base.base
            if base.mode not in ("r", "r+") or not isinstance(mapping, mmap.mmap):
                return None
            # The mapping's own start address: a memmap's data begins at its offset within it.
            return mapping, int(np.frombuffer(mapping, np.uint8).ctypes.data)
        base = base.base
    return None


def row_blocks(X: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(lo, X[lo:hi])`` for consecutive blocks of rows, releasing mapped file pages after each.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, ...)
        Rows to read; C-contiguous for the release to apply.
    rows : int, optional
        Rows per block; default as many as fit in :data:`BLOCK_BYTES`.

    Yields
    ------
    lo : int
        Index of the block's first row.
    block : numpy.ndarray, shape (hi - lo, ...)
        A view of ``X``: valid only until the next block is asked for when ``X`` is memory-mapped (its
        pages are released then; reading it again reads the file again, it does not fail).

    """
    n = X.shape[0]
    if rows is None:
        rows = max(1, BLOCK_BYTES // max(1, X[:1].nbytes))
    found = file_mapping(X) if X.flags.c_contiguous else None
    page = mmap.PAGESIZE
    for lo in range(0, n, rows):
        block = X[lo : lo + rows]
        yield lo, block
        if found is not None and block.size:
            mapping, start = found
            first = (block.ctypes.data - start) // page * page
            end = min(len(mapping), block.ctypes.data - start + block.nbytes)
            try:
                mapping.madvise(mmap.MADV_DONTNEED, first, end - first)
            except (OSError, ValueError, AttributeError):  # a platform without madvise: only memory is lost
                found = None
