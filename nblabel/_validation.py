"""Input checks shared by all nblabel modules.

Every check raises ``ValueError`` whose message says what was expected, what was got, and how to fix it,
so a person in a notebook can act on it without reading the source.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from nblabel._blocks import row_blocks


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
    # No copy for float32 rows already in order (a memory-mapped file stays mapped); the checks read a block
    # at a time, so neither their (n, d) boolean temporaries nor all of a mapped file are in memory at once.
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.empty(n, bool)
    zero = np.empty(n, bool)
    for lo, block in row_blocks(arr):
        finite[lo : lo + len(block)] = np.isfinite(block).all(axis=1)
        zero[lo : lo + len(block)] = ~np.any(block != 0, axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name}: expected finite values;"
            f" got NaN or inf in {bad.size} row(s), first rows {bad[:5].tolist()}. "
            "Fix: re-embed those items or drop them (e.g. X[np.isfinite(X).all(axis=1)])."
        )
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
        counts = Counter(out)
        dups = [i for i, count in counts.items() if count > 1]
        raise ValueError(
            f"{name}: expected unique ids; got {sum(counts[i] - 1 for i in dups)} duplicate(s), "
            f"e.g. {sorted(dups)[:5]}. "
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


def check_count(value: object, name: str, example: int = 20) -> int:
    """Check that a count (a batch size, a number of rows or steps) is a positive integer.

    Parameters
    ----------
    value : int
        The value to check; ``bool`` is refused.
    name : str
        Parameter name used in error messages.
    example : int
        The value the error message suggests.

    Returns
    -------
    int

    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{name}: expected a positive integer; got {value!r}. Fix: pass e.g. {name}={example}."
        )
    return int(value)


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


#: Longest class name accepted: names are shown on buttons and in the legend, and travel with every export.
MAX_CLASS_NAME = 200


def check_class_name(name: object, *, name_of: str = "class name") -> str:
    """Check one class name: a non-empty string without surrounding spaces or control characters.

    Parameters
    ----------
    name : str
        The candidate name.
    name_of : str
        What the name is, used in error messages (e.g. ``"add_class"``).

    Returns
    -------
    str
        ``name`` unchanged.

    """
    if not isinstance(name, str):
        raise ValueError(
            f"{name_of}: expected a class name (str); got {type(name).__name__} {name!r}. "
            f"Fix: pass the name as text, e.g. {str(name)!r}."
        )
    if not name.strip():
        raise ValueError(f"{name_of}: expected a non-empty class name; got {name!r}. Fix: pass e.g. 'cat'.")
    if len(name) > MAX_CLASS_NAME:
        raise ValueError(
            f"{name_of}: expected at most {MAX_CLASS_NAME} characters; got {len(name)} "
            f"(starting {name[:20]!r}). Fix: use a shorter name."
        )
    if name != name.strip():
        raise ValueError(
            f"{name_of}: expected no spaces at the start or end (they make look-alike classes); "
            f"got {name!r}. "
            f"Fix: use {name.strip()!r}."
        )
    control = sorted({c for c in name if unicodedata.category(c) in ("Cc", "Cs")})
    if control:
        raise ValueError(
            f"{name_of}: expected printable text; got {name[:40]!r} with control characters "
            f"{[hex(ord(c)) for c in control[:5]]}. Fix: remove them."
        )
    return name


def check_classes(classes: Iterable[object], *, name: str = "classes") -> list[str]:
    """Check a class list: valid names (:func:`check_class_name`), unique.

    Parameters
    ----------
    classes : iterable of str
        Class names in index order.
    name : str
        Name used in error messages.

    Returns
    -------
    list of str

    """
    if isinstance(classes, str):
        raise ValueError(
            f"{name}: expected a list of class names; got the single string {classes!r}. "
            f"Fix: pass [{classes!r}]."
        )
    out = [check_class_name(c, name_of=name) for c in classes]
    if len(set(out)) != len(out):
        dups = sorted({c for c in out if out.count(c) > 1})
        raise ValueError(f"{name}: expected unique names; got duplicates {dups[:5]}. Fix: remove them.")
    return out


def is_missing_label(value: object) -> bool:
    """Whether a label means "no label": None, NaN, ``pd.NA``/``NaT``, ``""`` or the index -1."""
    if value is None or (isinstance(value, str) and value == ""):
        return True
    if isinstance(value, str | bool | np.bool_):
        return False
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value) or value == -1)
    if isinstance(value, int | np.integer):
        return bool(value == -1)
    # pd.NA / pd.NaT can only exist once pandas is imported; then ask pandas (for scalars only: on an array
    # pd.isna is elementwise).  The engine modules import this file and need not load pandas.
    pd = sys.modules.get("pandas")
    return bool(pd is not None and pd.api.types.is_scalar(value) and pd.isna(value))


def encode_labels(
    labels: object, classes: Iterable[object] | None = None, *, n: int | None = None, name: str = "labels"
) -> tuple[np.ndarray, list[str]]:
    """Turn labels as people pass them into class indices and the class list: the one encoder for all inputs.

    Every entry point that takes given labels (``Session(given=...)``, the image sources) calls this, so the
    same labels mean the same thing everywhere.

    Parameters
    ----------
    labels : sequence or array, length n, or None
        All class names (str) or all class indices (int, or integral floats); None, NaN, ``pd.NA``, ``""``
        and -1 mean no label.  A mix of names and indices is refused (``"3"`` and ``3`` would be two
        classes or one depending on the order they come in).
    classes : sequence of str, optional
        Class names: the order for indices, the allowed set for names.  Default: the sorted distinct names,
        or ``"0" .. str(max index)``.
    n : int, optional
        Expected number of labels.
    name : str
        Name used in error messages.

    Returns
    -------
    codes : numpy.ndarray, shape (n,), int32
        Class index per item, -1 for none.
    classes : list of str

    """
    class_list = check_classes(classes, name="classes") if classes is not None else None
    if labels is None:
        if n is None:
            raise ValueError(f"{name}: expected labels or a number of items; got neither.")
        return np.full(n, -1, dtype=np.int32), class_list or []
    if isinstance(labels, str) or not hasattr(labels, "__len__"):
        raise ValueError(
            f"{name}: expected one label per item (a list or array); got {type(labels).__name__}. "
            "Fix: pass a list with a class name or index per item, None where there is none."
        )
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise ValueError(
                f"{name}: expected a 1-D sequence of labels; got shape {labels.shape}. "
                "Fix: pass labels.ravel()."
            )
        values = labels.tolist()  # numpy strings stay str and NaN stays a float: no 'nan' class
    else:
        values = list(labels)  # type: ignore[call-overload]
    if n is not None and len(values) != n:
        raise ValueError(
            f"{name}: expected one label per item ({n}); got {len(values)}. "
            "Fix: pass one label per item, None where there is none."
        )
    missing = [is_missing_label(v) for v in values]
    present = [v for v, m in zip(values, missing, strict=True) if not m]
    names = [v for v in present if isinstance(v, str)]
    if names and len(names) != len(present):
        other = next(v for v in present if not isinstance(v, str))
        raise ValueError(
            f"{name}: expected all class names (str) or all class indices (int); got a mix, "
            f"e.g. {names[0]!r} "
            f"and {other!r}. Fix: convert them to one kind, e.g. [str(v) for v in labels]."
        )
    codes = np.full(len(values), -1, dtype=np.int32)
    if names:
        for label in set(names):
            check_class_name(label, name_of=name)
        if class_list is None:
            class_list = sorted(set(names))
        index = {c: j for j, c in enumerate(class_list)}
        unknown = sorted(set(names) - index.keys())
        if unknown:
            raise ValueError(
                f"{name}: expected names from classes={class_list[:10]}; got unknown names {unknown[:5]}. "
                "Fix: add them to classes=, or leave classes=None to collect them from the labels."
            )
        for k, (v, m) in enumerate(zip(values, missing, strict=True)):
            if not m:
                codes[k] = index[v]
        return codes, class_list
    for k, (v, m) in enumerate(zip(values, missing, strict=True)):
        if m:
            continue
        if (
            isinstance(v, bool | np.bool_)
            or not isinstance(v, int | np.integer | float | np.floating)
            or v != int(v)
        ):
            raise ValueError(
                f"{name}: expected class names or integer class indices (-1 = none); got {v!r} at position "
                f"{k}. Fix: pass strings or ints, None for no label."
            )
        if v < -1:
            raise ValueError(
                f"{name}: expected indices >= -1 (-1 = no label); got {v!r} at position {k}. "
                "Fix: use -1 or None for no label."
            )
        codes[k] = int(v)
    top = int(codes.max(initial=-1))
    if class_list is None:
        class_list = [str(j) for j in range(top + 1)]
    elif top >= len(class_list):
        raise ValueError(
            f"{name}: expected indices below len(classes)={len(class_list)}; got {top}. "
            "Fix: add the missing class names to classes=."
        )
    return codes, class_list
