"""The durable label journal: every label event is appended to SQLite before it is acknowledged.

A journal is one SQLite file in WAL mode with ``synchronous=FULL``, so a commit that has returned survives a
killed process and a power cut.  It holds three tables:

``nblabel_meta``
    key -> JSON value: format version, embedding fingerprint, graph parameters, initial class list.
``nblabel_items``
    one row per item: its position, its stable id and its *given* label (class index, -1 for none).
``nblabel_events``
    the append-only event log.  Rows are never updated or deleted; the session state is whatever replaying
    them in ``seq`` order produces, so two processes appending to one journal converge to the same state.

Nothing here knows about label propagation: the store only writes and reads events.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nblabel.files import place_new

__all__ = [
    "EVENT_KINDS",
    "FORMAT_VERSION",
    "CorruptJournalError",
    "Event",
    "ForeignFileError",
    "DiskFullError",
    "JournalError",
    "JournalGoneError",
    "JournalLockedError",
    "LabelStore",
    "ReadOnlyJournalError",
]

FORMAT_VERSION = 1
#: ``label``/``unlabel``/``accept`` change the verified label of ``item``; ``undo``/``redo`` walk the
#: history that replay derives from the log; ``add_class`` appends ``cls`` to the class list.
EVENT_KINDS = ("label", "unlabel", "accept", "undo", "redo", "add_class")

_APP = "nblabel"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = f"""
CREATE TABLE nblabel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nblabel_items (
    idx INTEGER PRIMARY KEY,
    item TEXT NOT NULL UNIQUE,
    given INTEGER NOT NULL
);
CREATE TABLE nblabel_events (
    seq INTEGER PRIMARY KEY,
    action INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in EVENT_KINDS)})),
    item TEXT,
    cls TEXT,
    time REAL NOT NULL,
    user TEXT,
    origin TEXT
);
"""


class JournalError(Exception):
    """A journal file cannot be used; the message says why and what to do."""


class ForeignFileError(JournalError):
    """The file exists but is not an nblabel journal; nblabel never writes to it."""


class CorruptJournalError(JournalError):
    """The file is an nblabel journal (or claims to be) but its contents are damaged."""


class ReadOnlyJournalError(JournalError):
    """The journal, or the directory that must hold its WAL files, cannot be written."""


class JournalLockedError(JournalError):
    """Another connection held the write lock for longer than the busy timeout."""


class JournalGoneError(JournalError):
    """The file at the journal's path is no longer the one this store opened (deleted, replaced, truncated).

    Nothing more is written through this store: a commit into a deleted or emptied file would be lost.
    """


class DiskFullError(JournalError):
    """The disk holding the journal is full; the change was not saved."""


@dataclass(frozen=True)
class Event:
    """One row of the event log.

    Attributes
    ----------
    seq : int
        Position in the log (1, 2, ...); replay order.
    action : int
        Events appended together (one ``label(ids, cls)`` call) share an action; undo reverts whole actions.
    kind : str
        One of :data:`EVENT_KINDS`.
    item : str or None
        Item id for ``label``/``unlabel``/``accept``; None otherwise.
    cls : str or None
        Class name for ``label``/``accept``/``add_class``; None otherwise.
    time : float
        Unix time of the append.
    user : str or None
        Who made the change, when the caller said.
    origin : str or None
        Which session instance made the change (a random token per :class:`~nblabel.session.Session`);
        None in journals written before it was recorded.

    """

    seq: int
    action: int
    kind: str
    item: str | None
    cls: str | None
    time: float
    user: str | None
    origin: str | None = None


class LabelStore:
    """An nblabel journal on disk: metadata, items with given labels, and the append-only event log.

    Open an existing journal with ``LabelStore(path)``; make a new one with :meth:`LabelStore.create`.
    Every method is safe to call from several threads; several processes may hold the same journal open
    (SQLite serialises their writes) and each sees the others' events through :meth:`read`.

    Parameters
    ----------
    path : str or Path
        An existing journal file.
    timeout : float
        Seconds to wait for another connection's write lock before raising :class:`JournalLockedError`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ForeignFileError
        The file is not an nblabel journal (another SQLite database, or not SQLite at all).  It is opened
        read-only for this check and left untouched.
    CorruptJournalError
        The journal is damaged.
    ReadOnlyJournalError
        The journal or its directory is not writable.

    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self.timeout = float(timeout)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"no nblabel journal at {self.path}; expected an existing file. "
                "Fix: check the path, or create a journal with LabelStore.create(path, ...)."
            )
        # Check what the file is through a read-only connection first: switching a database to WAL
        # rewrites its header, which must never happen to a user's own SQLite file.  Permissions come
        # before the SQLite check because reading a WAL database needs a writable directory.
        self._check_sqlite_header()
        self._check_writable()
        self._check_is_journal()
        self._lock = threading.RLock()
        # Which file this store holds open: if the path later names another file, or none, or an emptied
        # one, SQLite would keep committing into the orphaned inode and every "saved" label would be lost.
        self._identity = _file_identity(self.path)
        self._size = self.path.stat().st_size  # never shrinks: no VACUUM, no auto_vacuum
        self._gone: str | None = None
        self._conn = self._connect()
        self.meta = self._read_meta()
        self._add_origin_column()

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        ids: Sequence[str],
        given: np.ndarray,
        meta: dict[str, Any],
        timeout: float = 5.0,
    ) -> LabelStore:
        """Write a new journal and open it.

        The file is built under a temporary name in the same directory and renamed into place, so ``path``
        either does not exist or is a complete journal, even if the process dies half way.

        Parameters
        ----------
        path : str or Path
            Where the journal goes; must not exist yet.
        ids : sequence of str, length n
            Stable item ids, unique.
        given : (n,) int array
            Given label of each item as a class index, -1 for none.
        meta : dict
            JSON-serialisable session metadata (fingerprint, classes, graph parameters, ...).
        timeout : float
            Busy timeout in seconds, see :class:`LabelStore`.

        Returns
        -------
        LabelStore

        """
        path = Path(path).expanduser().absolute()
        if path.exists():
            raise FileExistsError(
                f"{path} already exists; expected a path with no file. "
                "Fix: open it with LabelStore(path), or choose another journal path."
            )
        given = np.asarray(given)
        if len(ids) != len(given):
            raise ValueError(f"expected one given label per id; got {len(ids)} ids and {len(given)} labels.")
        directory = path.parent
        if not directory.is_dir():
            raise FileNotFoundError(
                f"directory {directory} does not exist; expected the folder that will hold the journal. "
                "Fix: create it first, or pass another journal path."
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ReadOnlyJournalError(
                f"cannot create a journal in {directory}: the directory is not writable. "
                "Fix: pass journal= a path in a writable directory."
            )
        # SQLite creates the file itself, so it gets the usual permissions (0666 less the umask).
        tmp = directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                full_meta = {**meta, "app": _APP, "format_version": FORMAT_VERSION, "created": time.time()}
                conn.executemany(
                    "INSERT INTO nblabel_meta (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in full_meta.items()],
                )
                conn.executemany(
                    "INSERT INTO nblabel_items (idx, item, given) VALUES (?, ?, ?)",
                    zip(range(len(ids)), map(str, ids), map(int, given), strict=True),
                )
                conn.execute("COMMIT")
                # Fold the WAL into the main file so the rename below moves one complete file.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            _fsync_file(tmp)
            clash = f"{path} appeared while the journal was being created; nothing was overwritten."
            place_new(tmp, path, clash)
            _fsync_dir(directory)
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
        return cls(path, timeout=timeout)

    # ------------------------------------------------------------------ reading
    def items(self) -> tuple[list[str], np.ndarray]:
        """Return the item ids and their given labels.

        Returns
        -------
        ids : list of str, length n
        given : (n,) int32 array
            Class index, -1 for none.

        """
        with self._lock:
            rows = self._execute("SELECT item, given FROM nblabel_items ORDER BY idx").fetchall()
        ids = [r[0] for r in rows]
        given = np.fromiter((r[1] for r in rows), dtype=np.int32, count=len(rows))
        return ids, given

    def read(self, after: int = 0) -> list[Event]:
        """Return the events with ``seq > after``, oldest first, including those appended by other processes.

        Parameters
        ----------
        after : int
            The last ``seq`` the caller has already seen (0 for the whole log).

        Returns
        -------
        list of Event

        """
        with self._lock:
            rows = self._execute(
                "SELECT seq, action, kind, item, cls, time, user, origin FROM nblabel_events "
                "WHERE seq > ? ORDER BY seq",
                (int(after),),
            ).fetchall()
        return [Event(*row) for row in rows]

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event in the journal, 0 when it is empty."""
        with self._lock:
            return int(self._execute("SELECT COALESCE(MAX(seq), 0) FROM nblabel_events").fetchone()[0])

    def integrity_check(self) -> str:
        """Run SQLite's ``PRAGMA integrity_check``; returns ``"ok"`` for a sound file."""
        with self._lock:
            rows = self._execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ writing
    def append(
        self,
        events: Iterable[tuple[str, str | None, str | None]],
        *,
        user: str | None = None,
        origin: str | None = None,
    ) -> list[Event]:
        """Append events as one action, durably, and return them with their ``seq``.

        The events are written in one transaction that is committed (and, with ``synchronous=FULL``,
        flushed to disk) before this returns.

        Parameters
        ----------
        events : iterable of (kind, item, cls)
            ``kind`` in :data:`EVENT_KINDS`; ``item``/``cls`` may be None where the kind has none.
        user : str, optional
            Recorded with each event.
        origin : str, optional
            Token of the session instance making the change, recorded with each event.

        Returns
        -------
        list of Event
            The rows as stored; they share one ``action`` (the ``seq`` of the first).

        Raises
        ------
        JournalLockedError
            Another connection held the write lock for longer than ``timeout``.
        JournalGoneError
            The journal file was deleted, replaced or truncated since it was opened; nothing was written.
        DiskFullError
            The disk is full; nothing was written.

        """
        rows = [(str(kind), item, cls) for kind, item, cls in events]
        if not rows:
            raise ValueError("expected at least one event to append; got none.")
        bad = sorted({kind for kind, _, _ in rows} - set(EVENT_KINDS))
        if bad:
            raise ValueError(f"expected event kinds in {EVENT_KINDS}; got {bad}.")
        now = time.time()
        with self._lock:
            self.check_file()
            try:
                # IMMEDIATE takes the write lock up front, so MAX(seq) cannot change before the inserts.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    last = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM nblabel_events").fetchone()
                    first = int(last[0]) + 1
                    stored = [
                        Event(first + j, first, kind, item, cls, now, user, origin)
                        for j, (kind, item, cls) in enumerate(rows)
                    ]
                    self._conn.executemany(
                        "INSERT INTO nblabel_events (seq, action, kind, item, cls, time, user, origin) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(e.seq, e.action, e.kind, e.item, e.cls, e.time, e.user, e.origin) for e in stored],
                    )
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._translate(exc, "append events to") from exc
            # Checked again after the commit: a file deleted between the first check and the commit took
            # these events with it, so they must not be acknowledged.
            self.check_file()
        return stored

    def check_file(self) -> None:
        """Raise :class:`JournalGoneError` if the journal's path no longer holds the file this store opened.

        Cheap (one ``stat`` and a 16-byte read); :meth:`append` calls it before and after every commit.
        Once it has failed it keeps failing: this store writes nothing more.
        """
        if self._gone is None:
            self._gone, self._size = _file_change(self.path, self._identity, self._size)
        if self._gone is not None:
            raise JournalGoneError(
                f"{self.path} {self._gone} while this session had it open; nothing more is written to it "
                "and the last change was not saved. The labels acknowledged before are still in this "
                "session's memory. Fix: save them with session.export('rescue.csv') now, then start a new "
                "journal (Session(..., journal='new.nblabel.db')) and session.import_labels('rescue.csv'); "
                "or restore the journal from a backup."
            )

    def set_meta(self, key: str, value: Any) -> None:
        """Store one JSON-serialisable metadata value (durably, like events)."""
        with self._lock:
            self.check_file()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO nblabel_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise self._translate(exc, "write metadata to") from exc
            self.meta[key] = value

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (the journal stays complete whether or not this is called)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r}, events={self.last_seq})"

    # ------------------------------------------------------------------ internals
    def _connect(self) -> sqlite3.Connection:
        try:
            # check_same_thread=False: the session's worker thread and the widget's comm handlers may both
            # reach the store; self._lock serialises them.
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch to WAL mode (got {mode!r})")
            # FULL: in WAL mode the log is fsynced on every commit, so an acknowledged label survives a
            # power cut, not just a crash of this process.
            conn.execute("PRAGMA synchronous=FULL")
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._translate(exc, "open") from exc
        if result != "ok":
            conn.close()
            raise CorruptJournalError(self._corrupt_message(f"SQLite quick_check reports: {result}"))
        return conn

    def _add_origin_column(self) -> None:
        """Give journals written before ``origin`` was recorded that column (additive; old rows get NULL)."""
        with self._lock:
            columns = {r[1] for r in self._execute("PRAGMA table_info(nblabel_events)")}
            if "origin" in columns:
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                columns = {r[1] for r in self._conn.execute("PRAGMA table_info(nblabel_events)")}
                if "origin" not in columns:  # another process may have added it while we waited
                    self._conn.execute("ALTER TABLE nblabel_events ADD COLUMN origin TEXT")
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise self._translate(exc, "upgrade") from exc

    def _check_sqlite_header(self) -> None:
        with open(self.path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        # A truncated journal is not someone else's file: it is empty, cut inside the header, or (when a
        # session wrote on after the truncation) starts with a hole of zeros; or it still has the files a
        # session keeps next to its journal.  Telling the person to pick a new path would be wrong advice.
        if head != _SQLITE_MAGIC and (
            (len(head) < len(_SQLITE_MAGIC) and _SQLITE_MAGIC.startswith(head))
            or head == bytes(len(_SQLITE_MAGIC))
            or self.path.with_name(f"{self.path.name}-embeddings.npy").is_file()
        ):
            what = (
                "empty (0 bytes)" if not head else "cut short" if len(head) < 16 else "not readable as SQLite"
            )
            raise CorruptJournalError(
                f"{self.path} is a damaged nblabel journal: it is {what}, so it was truncated or overwritten "
                "and its labels cannot be read. nblabel left it untouched. Fix: restore it from a backup "
                "(keep any '-wal' file next to it). Without one, move the damaged file away, start a new "
                "journal at this path and import your last export with session.import_labels(path)."
            )
        if head != _SQLITE_MAGIC:
            raise ForeignFileError(
                f"{self.path} is not an nblabel journal: it is not an SQLite database. "
                "nblabel left it untouched. Fix: pass journal= a new path, or the .nblabel.db file "
                "that Session wrote."
            )

    def _check_is_journal(self) -> None:
        try:
            ro = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=self.timeout)
            try:
                tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                app = None
                if "nblabel_meta" in tables:
                    row = ro.execute("SELECT value FROM nblabel_meta WHERE key = 'app'").fetchone()
                    app = json.loads(row[0]) if row else None
            finally:
                ro.close()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "read") from exc
        if app != _APP or not {"nblabel_items", "nblabel_events"} <= tables:
            raise ForeignFileError(
                f"{self.path} is an SQLite database but not an nblabel journal "
                f"(tables: {sorted(tables) or 'none'}). nblabel left it untouched. "
                "Fix: pass journal= a new path, or the .nblabel.db file that Session wrote."
            )

    def _check_writable(self) -> None:
        directory = self.path.parent
        if not os.access(self.path, os.W_OK):
            raise ReadOnlyJournalError(
                f"{self.path} is read-only; nblabel appends every label to it. "
                "Fix: make it writable (chmod u+w), or copy it somewhere writable and open the copy."
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ReadOnlyJournalError(
                f"{directory} is not writable; a journal needs its -wal and -shm files next to it. "
                "Fix: copy the journal to a writable directory and open the copy."
            )

    def _read_meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self._execute("SELECT key, value FROM nblabel_meta").fetchall()
        try:
            meta = {k: json.loads(v) for k, v in rows}
        except json.JSONDecodeError as exc:
            raise CorruptJournalError(self._corrupt_message(f"unreadable metadata ({exc})")) from exc
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise JournalError(
                f"{self.path} has journal format {version!r}; this nblabel reads format {FORMAT_VERSION}. "
                "Fix: open it with the nblabel version that wrote it."
            )
        return meta

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._translate(exc, "read") from exc

    def _corrupt_message(self, detail: str) -> str:
        return (
            f"{self.path} is a damaged nblabel journal: {detail}. nblabel did not modify it. "
            "Fix: keep a copy, then try `sqlite3 journal.db .recover` to salvage the events, "
            "or start a new journal."
        )

    def _translate(self, exc: sqlite3.Error, doing: str) -> JournalError:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return JournalLockedError(
                f"could not {doing} {self.path}: another connection held the lock for more than "
                f"{self.timeout:g} s ({exc}). Fix: finish or close the other session/process "
                "(an open transaction in a sqlite3 shell counts), or raise timeout=."
            )
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return ReadOnlyJournalError(
                f"could not {doing} {self.path}: {exc}. Fix: make the journal and its directory writable, "
                "or copy the journal to a writable directory."
            )
        if "disk is full" in text or "no space" in text or getattr(exc, "sqlite_errorcode", None) == 13:
            return DiskFullError(
                f"could not {doing} {self.path}: the disk is full ({exc}). The change was not saved; every "
                "label acknowledged before is safe in the journal. Fix: free disk space (or move the journal "
                "to a disk with room and reopen it with Session.open), then repeat the change."
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in text or "not a database" in text or "corrupt" in text or "disk image" in text
        ):
            return CorruptJournalError(self._corrupt_message(str(exc)))
        return JournalError(f"could not {doing} {self.path}: {exc}")


def _file_identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _file_change(path: Path, identity: tuple[int, int], size: int) -> tuple[str | None, int]:
    """Say how ``path`` differs from the journal opened with ``identity`` and last seen with ``size`` bytes.

    Returns ``(None, current size)`` when it is still the same, intact file.  A journal file never shrinks
    (nblabel never vacuums it), so a smaller file was truncated even if its header survived.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "was deleted", size
    if (st.st_dev, st.st_ino) != identity:
        return "was replaced by another file", size
    if st.st_size < size:
        return f"was truncated (from {size} to {st.st_size} bytes)", size
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        return f"can no longer be read ({exc})", size
    if head != _SQLITE_MAGIC:
        return "was truncated or overwritten", size
    return None, st.st_size


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Make the new directory entry durable too; some platforms cannot open directories, which is fine.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
