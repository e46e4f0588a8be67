"""Input checks shared by all nblabel modules.

Every check raises ``ValueError`` whose message says what was expected, what was got, and how to fix it,
so a person in a notebook can act on it without reading the source.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_embeddings(X: object, *, k: int | None = None, name: str = "embeddings") -> np.ndarray:
    """Validate an embedding matrix and return it as C-contiguous float32.

    Parameters
    ----------
    X : array-like, shape (n, d)
        One row per item. Rows must be finite and not all zero (cosine similarity is undefined for a zero
        vector).
    k : int, optional
        Number of neighbours the caller will ask for; then ``1 <= k < n`` is required.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n, d), float32

    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # a ragged list or an object numpy cannot turn into an array
        raise ValueError(
            f"{name}: expected a 2-D numeric array of shape (n, d); got an object numpy cannot convert "
            f"({type(X).__name__}: {exc}). Fix: pass a numpy array, e.g. np.stack(list_of_vectors)."
        ) from exc
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n, d); got {arr.ndim}-D with shape {arr.shape}. "
            "Fix: reshape to one row per item, e.g. X.reshape(len(X), -1)."
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(
            f"{name}: expected real numbers; got dtype {arr.dtype}. Fix: convert with X.astype(np.float32)."
        )
    n, d = arr.shape
    if n < 2:
        raise ValueError(
            f"{name}: expected at least 2 items to build a neighbour graph; got n={n}. "
            "Fix: pass more rows (one per image)."
        )
    if d < 1:
        raise ValueError(
            f"{name}: expected at least 1 feature column; got shape {arr.shape}."
            " Fix: check the encoder output."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name}: expected finite values;"
            f" got NaN or inf in {bad.size} row(s), first rows {bad[:5].tolist()}. "
            "Fix: re-embed those items or drop them (e.g. X[np.isfinite(X).all(axis=1)])."
        )
    zero = ~np.any(arr != 0, axis=1)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise ValueError(
            f"{name}: expected non-zero rows (cosine similarity needs a direction);"
            f" got {bad.size} all-zero row(s), "
            f"first rows {bad[:5].tolist()}."
            " Fix: drop them or check why the encoder returned zeros (blank images?)."
        )
    if k is not None:
        check_k(k, n)
    return arr


def check_k(k: object, n: int) -> int:
    """Check a neighbour count against the number of items.

    Parameters
    ----------
    k : int
        Requested number of neighbours per item (the item itself excluded).
    n : int
        Number of items in the graph.

    Returns
    -------
    int

    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k: expected an integer number of neighbours; got {k!r}. Fix: pass e.g. k=10.")
    if not 1 <= k < n:
        raise ValueError(
            f"k: expected 1 <= k < n (each item needs k other items as neighbours); got k={k} with n={n}. "
            f"Fix: use k <= {max(n - 1, 1)} or add more items."
        )
    return int(k)


def check_labels(labels: object, n: int, n_classes: int | None = None, *, name: str = "labels") -> np.ndarray:
    """Validate an integer label vector where -1 means "no label".

    Parameters
    ----------
    labels : array-like, shape (n,)
        Class indices in ``[0, n_classes)`` or -1.
    n : int
        Expected length (number of items).
    n_classes : int, optional
        Number of classes; when given, indices must be below it.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n,), int64

    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D array of class indices (-1 = no label); got shape {arr.shape}. "
            "Fix: pass one integer per item, e.g. labels.ravel()."
        )
    if arr.shape[0] != n:
        raise ValueError(
            f"{name}: expected length {n} (one entry per item); got length {arr.shape[0]}. "
            "Fix: pass one label per embedding row, -1 where there is none."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(
                f"{name}: expected integer class indices (-1 = no label); got dtype {arr.dtype}. "
                "Fix: map class names to indices first, e.g. pandas.Categorical(names).codes."
            )
    arr = arr.astype(np.int64, copy=False)
    low = arr < -1
    high = arr >= n_classes if n_classes is not None else np.zeros_like(low)
    if low.any() or high.any():
        bad = np.flatnonzero(low | high)
        allowed = f"-1..{n_classes - 1}" if n_classes is not None else ">= -1"
        raise ValueError(
            f"{name}: expected class indices in {allowed} (-1 = no label); got {arr[bad[:5]].tolist()} "
            f"at rows {bad[:5].tolist()}. Fix: use -1 for unlabeled items"
            + (" or add the missing classes first." if n_classes is not None else ".")
        )
    return arr


def check_ids(ids: Sequence[object], n: int | None = None, *, name: str = "ids") -> list[str]:
    """Validate item ids: strings, unique, and one per item.

    Parameters
    ----------
    ids : sequence
        One id per item; converted with ``str``.
    n : int, optional
        Expected number of ids.
    name : str
        Name used in error messages.

    Returns
    -------
    list of str

    """
    out = [str(i) for i in ids]
    if n is not None and len(out) != n:
        raise ValueError(
            f"{name}: expected {n} ids (one per item); got {len(out)}. Fix: pass one id per embedding row."
        )
    if len(set(out)) != len(out):
        seen: set[str] = set()
        dups = [i for i in out if i in seen or seen.add(i)]
        raise ValueError(
            f"{name}: expected unique ids; got {len(dups)} duplicate(s), e.g. {sorted(set(dups))[:5]}. "
            "Fix: make them unique, e.g. use relative file paths instead of file names."
        )
    return out


def check_proba(P: object, *, name: str = "P") -> np.ndarray:
    """Validate a soft-label matrix (non-negative, finite) and return it as float32.

    Parameters
    ----------
    P : array-like, shape (n, c)
        Soft labels, e.g. ``Propagator.proba_``. Rows need not sum to one.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n, c), float32

    """
    arr = np.asarray(P)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(
            f"{name}: expected a 2-D array of soft labels with shape (n, c), c >= 1; got shape {arr.shape}. "
            "Fix: pass Propagator.proba_ or a predict_proba output."
        )
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(
            f"{name}: expected finite non-negative scores; got NaN, inf or negative values. "
            "Fix: pass probabilities (e.g. softmax outputs), not logits."
        )
    return arr


def check_positive(value: object, name: str) -> float:
    """Check that a scalar parameter is a finite positive number.

    Parameters
    ----------
    value : float
        The value to check.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    float

    """
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: expected a positive number; got {value!r}. Fix: pass e.g. {name}=0.05."
        ) from exc
    if not np.isfinite(out) or out <= 0:
        raise ValueError(
            f"{name}: expected a finite positive number; got {value!r}. Fix: pass e.g. {name}=0.05."
        )
    return out
