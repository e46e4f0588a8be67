"""Starting a session on a journal: its parameters and metadata checked, an existing one resumed.

A journal records what it was made for (the embeddings' :func:`fingerprint` and shape, the ids, the given
labels and classes) and the graph and propagation parameters in use.  :class:`~nblabel.session.Session`
checks every parameter here before anything is written (:func:`check_params`), refuses a journal made for
other data (:func:`check_same_data`), and repairs parameters an older version let through
(:func:`repair_params`) so that a journal always reopens.
"""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from nblabel._blocks import row_blocks
from nblabel._validation import check_k, check_positive
from nblabel.graph import KnnGraph
from nblabel.store import JournalError, LabelStore

__all__ = [
    "GRAPH_PARAMS",
    "check_params",
    "check_same_data",
    "check_session_args",
    "check_session_meta",
    "fingerprint",
    "has_events",
    "repair_params",
    "resume",
]

#: The :class:`~nblabel.graph.KnnGraph` parameters a session passes on (besides ``k`` and ``T``).
GRAPH_PARAMS = ("symmetric", "M", "ef_construction", "ef", "num_threads", "seed")


def fingerprint(X: np.ndarray) -> str:
    """Hash an embedding matrix, so a journal is never replayed against other embeddings.

    Parameters
    ----------
    X : (n, d) float32, C-contiguous
        As returned by :func:`nblabel._validation.check_embeddings`.

    Returns
    -------
    str
        32 hex digits; covers the shape and every value.

    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{X.shape}:{X.dtype.str}".encode())
    # Block by block (the same bytes in the same order, so the same hash): a memory-mapped X is read through
    # once without all of it becoming resident.
    for _, block in row_blocks(np.ascontiguousarray(X)):
        h.update(block.data.cast("B"))
    return h.hexdigest()


def check_params(n: int, *, k: Any, T: Any, t: Any, **graph_kw: Any) -> dict[str, Any]:
    """Check the graph and propagation parameters; return them as plain JSON values for the journal.

    numpy scalars (``np.int64(5)``, ``np.float32(.05)``) are normal input and become Python numbers.
    """
    from nblabel.propagate import _check_t

    unknown = sorted(set(graph_kw) - set(GRAPH_PARAMS))
    if unknown:
        raise ValueError(
            f"unexpected keyword arguments {unknown}; expected KnnGraph parameters from "
            f"{list(GRAPH_PARAMS)}. Fix: check the spelling."
        )
    params: dict[str, Any] = {"k": check_k(k, n)}
    if isinstance(T, str):
        params["T"] = T
    elif isinstance(T, bool):
        raise ValueError(f'T: expected a positive number or "auto"; got {T!r}. Fix: pass T="auto" or T=0.05.')
    else:
        params["T"] = check_positive(T, "T")
    params["t"] = _check_t(t)
    for name, value in graph_kw.items():
        if name == "symmetric":
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"symmetric: expected True or False; got {value!r}. Fix: keep the default.")
            params[name] = bool(value)
        elif value is None and name in ("ef", "num_threads"):
            params[name] = None
        else:
            low = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(
                    f"{name}: expected an integer >= {low}; got {value!r}. Fix: keep the default."
                )
            params[name] = int(value)
    # KnnGraph's own check (T's "auto", M and ef_construction ranges), run now rather than at the first fit.
    KnnGraph(k=params["k"], T=params["T"], **{key: params[key] for key in graph_kw})._check_params()
    return params


def repair_params(store: LabelStore) -> None:
    """Replace stored parameters that this version refuses (older versions let some through) by defaults.

    A journal must always reopen: its labels do not depend on the graph parameters, so a bad ``t`` or ``k``
    is no reason to lock a person out of their labels.  The repair is recorded in the journal and reported.
    """
    n = int(store.meta["shape"][0])
    params = dict(store.meta["params"])
    defaults = {"k": min(10, n - 1), "T": "auto", "t": 20}
    try:
        check_params(n, **{**defaults, **params})
        return
    except (ValueError, TypeError) as exc:
        first = str(exc)
    fixed: dict[str, Any] = {}
    for name, value in {**defaults, **params}.items():
        trial = {**defaults, **fixed, name: value}
        try:
            check_params(n, **trial)
        except (ValueError, TypeError):
            if name in defaults:
                fixed[name] = defaults[name]
            continue  # a bad graph parameter falls back to KnnGraph's own default
        fixed[name] = value
    fixed = check_params(n, **fixed)
    warnings.warn(
        f"{store.path.name} records parameters this nblabel refuses ({first}); using {fixed} instead. The "
        "labels are unaffected. Pass other values by resuming with "
        "Session(embeddings, ..., journal=path, ...).",
        UserWarning,
        stacklevel=3,
    )
    store.set_meta("params", fixed)


def check_session_args(n: int, *, user: Any, source: Any, timeout: Any) -> None:
    """Check the session arguments that are not stored in the journal (user, image source, lock timeout)."""
    if user is not None and (not isinstance(user, str) or not user.strip() or len(user) > 200):
        raise ValueError(
            f"user: expected a short non-empty name or None; got {str(user)[:40]!r}. "
            "Fix: pass e.g. user='ann'."
        )
    if source is not None and len(source) != n:
        raise ValueError(
            f"source: expected one image per embedding row ({n}); got {len(source)} images. "
            "Fix: pass the ImageSource the embeddings were computed from."
        )
    check_positive(timeout, "timeout")


def resume(
    path: Path,
    timeout: float,
    fp: str,
    ids: list[str],
    given: np.ndarray,
    classes: list[str],
    params: dict[str, Any],
) -> LabelStore:
    """Open an existing journal for the same data, recording the parameters now in use."""
    store = LabelStore(path, timeout=timeout)
    try:
        check_same_data(store, fp, ids, given, classes)
        if store.meta.get("params") != params:
            # Labels do not depend on the graph; the journal records the parameters now in use.
            store.set_meta("params", params)
    except BaseException:
        store.close()
        raise
    return store


def has_events(path: Path) -> bool:
    """Whether the journal at ``path`` holds any event (True when that cannot be read: then keep it)."""
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM nblabel_events)").fetchone()[0])
    except sqlite3.Error:
        return True


def check_session_meta(store: LabelStore) -> None:
    """Refuse an nblabel journal that was not written by a Session (no session metadata)."""
    missing = sorted({"fingerprint", "shape", "classes", "params"} - set(store.meta))
    if missing:
        raise JournalError(
            f"{store.path} is an nblabel journal without session metadata (missing {missing}). "
            "Fix: open journals written by Session, or read this one with LabelStore."
        )


def check_same_data(
    store: LabelStore, fp: str, ids: list[str], given: np.ndarray, classes: list[str]
) -> None:
    """Refuse a journal made for other embeddings, ids, given labels or classes."""
    check_session_meta(store)
    name = store.path.name
    if store.meta["fingerprint"] != fp:
        raise ValueError(
            f"journal {name} was made for other embeddings (fingerprint {store.meta['fingerprint'][:8]}, "
            f"shape {tuple(store.meta['shape'])}); got fingerprint {fp[:8]}. "
            "Fix: pass journal= a new path for these embeddings, or the original embeddings."
        )
    stored_ids, stored_given = store.items()
    if stored_ids != ids:
        raise ValueError(
            f"journal {name} holds other item ids. Fix: pass the same ids, or a new journal path."
        )
    if store.meta["classes"] != classes or not np.array_equal(stored_given, given):
        raise ValueError(
            f"journal {name} was made with other given labels or classes ({store.meta['classes']}); "
            f"got classes {classes}. Fix: pass the same given labels, or a new journal path."
        )
