"""Label files: writing a session's labels and results to CSV or JSON, and reading verified labels back.

Nothing from the data is trusted in a CSV: every text cell a spreadsheet would run as a formula is written
with a ``'`` in front (:func:`csv_safe`) and read back without it (:func:`csv_unsafe`).  Files are written
with :func:`nblabel.files.atomic_write`, so a reader sees the old file or the new one, never half of one.
:meth:`Session.export <nblabel.session.Session.export>` and
:meth:`Session.import_labels <nblabel.session.Session.import_labels>` are the public entry points.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nblabel._validation import check_class_name, is_missing_label
from nblabel.files import atomic_write

if TYPE_CHECKING:
    from nblabel.history import LabelHistory

__all__ = [
    "EXPORT_COLUMNS",
    "check_export_path",
    "csv_safe",
    "csv_unsafe",
    "import_events",
    "read_import",
    "read_labels_file",
    "write_labels_file",
]

#: Columns of :attr:`Session.predictions` and of the files written by :meth:`Session.export`.
EXPORT_COLUMNS = ("id", "given", "verified", "predicted", "confidence", "suspicion", "flagged") + (
    "corrected",  # the labels to use downstream (see Session.predictions)
    "outlier",  # the graph's structure (nblabel.clusters): how far from its neighbours,
    "duplicate_group",  # and which near-duplicate group, -1 for none
)
EXPORT_FORMAT = "nblabel-export"

#: A CSV cell starting with one of these is a formula (or hides one) in spreadsheet programs; ``'`` is
#: included so that the added quote can be told apart from one that was already there.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_safe(text: str) -> str:
    """Neutralise spreadsheet formula injection: prefix ``'`` to text a spreadsheet would evaluate."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_unsafe(text: str) -> str:
    """Undo :func:`csv_safe` on a value read back from a CSV export."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def check_export_path(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Check an export path before anything is computed: ``.csv`` or ``.json``, new unless ``overwrite``."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"export: expected a path ending in .csv or .json; got {str(path)!r}.")
    exists = path.exists() or path.is_symlink()
    if exists and not overwrite:
        raise FileExistsError(
            f"export: {path} already exists; expected a new file. "
            "Fix: pass overwrite=True to replace it, or choose another path."
        )
    return path


def write_labels_file(path: Path, frame: pd.DataFrame, classes: Sequence[str], *, overwrite: bool) -> None:
    """Write the :data:`EXPORT_COLUMNS` table ``frame`` to ``path`` (checked by :func:`check_export_path`).

    Labels are class names, empty (CSV) or null (JSON) for none; the JSON file also lists ``classes``.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Every text column (ids, class names), so a column added later cannot slip through.
        for column in frame.select_dtypes(include=["object", "string", "category"]).columns:
            frame[column] = frame[column].map(csv_safe, na_action="ignore").astype(object)
        write: Callable[[Path], object] = lambda tmp: frame.to_csv(  # noqa: E731
            tmp, index=False, quoting=csv.QUOTE_NONNUMERIC
        )
    else:
        records = json.loads(frame.to_json(orient="records"))
        doc = {"format": EXPORT_FORMAT, "version": 1, "classes": list(classes), "items": records}
        write = lambda tmp: tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False))  # noqa: E731
    # Through a symlink: replace the file it names, so the link stays a link.
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    atomic_write(target, write, replace=overwrite)


def read_labels_file(path: Path) -> pd.DataFrame:
    """Read ``id`` and ``verified`` columns of an exported file; rows without a verified label are dropped."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"import_labels: expected a .csv or .json file; got {str(path)!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"import_labels: no file at {str(path)!r}. Fix: check the path.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = None
        why = f"bytes that are not UTF-8 text at offset {exc.start}"
    if text is not None and "\x00" in text:
        text, why = None, "NUL bytes (a binary file)"
    if text is None:
        raise ValueError(
            f"import_labels: expected a UTF-8 text {suffix[1:].upper()} file; {path.name} has {why}. "
            "Fix: pass the file Session.export wrote, or save the table as 'CSV UTF-8'."
        )
    if suffix == ".csv":
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(
                f"import_labels: expected a CSV table with a header row; {path.name} cannot be parsed "
                f"({str(exc).strip()[:200]}). Fix: export with Session.export, or check the file."
            ) from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"import_labels: expected JSON; {path.name} is not valid JSON ({exc.msg} at line "
                f"{exc.lineno}, column {exc.colno}). Fix: pass the file Session.export wrote."
            ) from None
        records = doc.get("items") if isinstance(doc, dict) else doc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(
                "import_labels: expected a JSON list of records or an object with 'items'; "
                f"got {type(doc).__name__}. Fix: pass the file Session.export wrote."
            )
        frame = pd.DataFrame.from_records(records)
    missing = {"id", "verified"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"import_labels: expected columns 'id' and 'verified'; {sorted(missing)} missing in {path.name} "
            f"(columns: {list(frame.columns)[:10]}). Fix: export with Session.export or add the columns."
        )
    if suffix == ".csv":
        # Every cell is a string here (dtype=str, no NA parsing), so this path is vectorised: a million rows
        # are read in about a second.  Only "" means "no label" in a CSV.
        frame = frame.loc[frame["verified"] != "", ["id", "verified"]]
        for column in ("id", "verified"):
            quoted = frame[column].str.startswith("'")
            if quoted.any():
                frame.loc[quoted, column] = frame.loc[quoted, column].map(csv_unsafe)
        return pd.DataFrame({"id": frame["id"].tolist(), "verified": frame["verified"].tolist()})
    keep = [not is_missing_label(v) for v in frame["verified"]]
    frame = frame[keep]
    bad = [v for v in frame["verified"] if not isinstance(v, str)]
    if bad:
        raise ValueError(
            f"import_labels: expected class names (text) in column 'verified' of {path.name}; got "
            f"{[type(v).__name__ + ' ' + repr(v)[:40] for v in bad[:3]]}. Fix: write class names as strings."
        )
    ids = [str(v) if isinstance(v, int | str) and not isinstance(v, bool) else None for v in frame["id"]]
    if None in ids:
        got = frame["id"].iloc[ids.index(None)]
        raise ValueError(
            f"import_labels: expected item ids (text) in column 'id' of {path.name}; got {got!r}. "
            "Fix: write ids as they appear in session.ids."
        )
    return pd.DataFrame({"id": ids, "verified": list(frame["verified"])})


def read_import(path: Path, known: Container[str]) -> pd.DataFrame:
    """Read the labels to import: :func:`read_labels_file`, the last row of a repeated id, known ids only.

    Parameters
    ----------
    path : Path
        The file :meth:`Session.import_labels <nblabel.session.Session.import_labels>` was given.
    known : container of str
        The session's item ids.

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` and ``verified`` (checked class names), one row per id.

    """
    frame = read_labels_file(path)
    superseded = frame["id"].duplicated(keep="last")
    if superseded.any():
        repeated = sorted(set(frame["id"][superseded]))
        warnings.warn(
            f"import_labels: {int(superseded.sum())} row(s) of {path.name} repeat an id of a later "
            f"row; the last row for each id wins ({len(repeated)} id(s), e.g. {repeated[:5]}).",
            UserWarning,
            stacklevel=3,  # the caller of Session.import_labels
        )
        frame = frame[~superseded]
    unknown = [i for i in frame["id"] if i not in known]
    if unknown:
        raise ValueError(
            f"import_labels: expected ids of this session; got {len(unknown)} unknown, "
            f"e.g. {unknown[:5]}. Fix: import into the session the file was exported from."
        )
    for name in sorted(set(frame["verified"])):
        check_class_name(name, name_of=f"import_labels ({path.name}, column 'verified')")
    return frame


def import_events(
    frame: pd.DataFrame, history: LabelHistory, add_classes: bool, file_name: str
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Plan an import against the current labels (caller holds the session lock).

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`read_import`.
    history : LabelHistory
        The session's labels, up to date with the journal.
    add_classes : bool
        Whether class names the session does not have yet may be added.
    file_name : str
        For the error message.

    Returns
    -------
    new : list of str
        Class names to add first (sorted).
    labels : list of (str, str, str)
        ``("label", id, class name)`` events for the items whose verified label differs from the file's.

    """
    h = history
    new = [name for name in sorted(set(frame["verified"])) if name not in h.class_index]
    if new and not add_classes:
        raise ValueError(
            f"import_labels: expected class names of this session {h.classes[:10]}; got "
            f"{len(new)} new name(s) in {file_name}, e.g. {new[:5]}. Fix: correct the file, or pass "
            "add_classes=True to add them."
        )
    current = h.verified[[h.index[item] for item in frame["id"]]]
    wanted = np.array([h.class_index.get(name, -2) for name in frame["verified"]], dtype=np.int64)
    differ = current != wanted
    labels = [
        ("label", item, name)
        for item, name, d in zip(frame["id"], frame["verified"], differ, strict=True)
        if d
    ]
    return new, labels
