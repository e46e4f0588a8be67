"""LabelStore: durable append-only journal, and clear refusals for files that are not (healthy) journals."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nblabel.store import (
    CorruptJournalError,
    ForeignFileError,
    JournalError,
    JournalLockedError,
    LabelStore,
)

REPO = Path(__file__).resolve().parents[1]
IDS = ["a", "b", "c", "d"]
GIVEN = np.array([0, -1, 1, 0])
META = {"fingerprint": "f" * 32, "classes": ["cat", "dog"], "params": {"k": 3}}


def make(path: Path, **kw) -> LabelStore:
    return LabelStore.create(path, ids=IDS, given=GIVEN, meta=META, **kw)


def snapshot(path: Path) -> tuple[str, int, list[str]]:
    """Content hash, mtime and the sibling files: what 'left untouched' means."""
    siblings = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def assert_refused_untouched(
    path: Path, open_: Callable[[Path], object], error: type[Exception], match: str
) -> None:
    """``open_(path)`` raises ``error`` matching ``match`` and leaves the file as it found it."""
    before = snapshot(path)
    with pytest.raises(error, match=match):
        open_(path)
    assert snapshot(path) == before


def test_create_then_reopen_keeps_items_meta_and_events(tmp_path):
    path = tmp_path / "j.nblabel.db"
    with make(path) as store:
        first = store.append([("label", "a", "dog"), ("label", "b", "cat")], user="ann")
        second = store.append([("undo", None, None)])
    assert [e.seq for e in first] == [1, 2] and {e.action for e in first} == {1}
    assert second[0].seq == 3 and second[0].action == 3
    with LabelStore(path) as store:
        ids, given = store.items()
        assert ids == IDS and given.tolist() == GIVEN.tolist() and given.dtype == np.int32
        assert store.meta["classes"] == ["cat", "dog"] and store.meta["fingerprint"] == "f" * 32
        assert store.read() == first + second
        assert store.read(after=2) == second
        assert store.last_seq == 3
        assert store.integrity_check() == "ok"
    # Nothing but the journal (and SQLite's own WAL files) is left in the directory.
    assert {p.name for p in tmp_path.iterdir()} <= {"j.nblabel.db", "j.nblabel.db-wal", "j.nblabel.db-shm"}


def test_journal_uses_wal_and_full_sync(tmp_path):
    with make(tmp_path / "j.db") as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_two_stores_on_one_file_see_each_others_events(tmp_path):
    path = tmp_path / "j.db"
    a = make(path)
    b = LabelStore(path)
    a.append([("label", "a", "cat")])
    b.append([("label", "b", "dog")])
    a.append([("label", "c", "dog")])
    assert [(e.seq, e.item) for e in b.read()] == [(1, "a"), (2, "b"), (3, "c")]
    assert [e.item for e in a.read(after=1)] == ["b", "c"]
    a.close()
    b.close()


def test_concurrent_appends_from_threads_get_unique_contiguous_seqs(tmp_path):
    path = tmp_path / "j.db"
    make(path).close()
    stores = [LabelStore(path) for _ in range(4)]

    def work(store: LabelStore, k: int) -> None:
        for j in range(25):
            store.append([("label", IDS[j % 4], "cat"), ("label", IDS[(j + 1) % 4], "dog")], user=str(k))

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = stores[0].read()
    assert [e.seq for e in events] == list(range(1, 201))
    # Each append stays one contiguous action of two events.
    for first, second in zip(events[::2], events[1::2], strict=True):
        assert first.action == second.action == first.seq and first.user == second.user
    for s in stores:
        s.close()


def test_append_validates_events(tmp_path):
    with make(tmp_path / "j.db") as store:
        with pytest.raises(ValueError, match="event kinds"):
            store.append([("relabel", "a", "cat")])
        with pytest.raises(ValueError, match="at least one event"):
            store.append([])
        assert store.last_seq == 0


def test_create_refuses_an_existing_file_and_leaves_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    assert_refused_untouched(path, make, FileExistsError, "already exists")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no nblabel journal"):
        LabelStore(tmp_path / "nope.db")


def test_foreign_sqlite_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "app.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ann')")
    conn.commit()
    conn.close()
    assert_refused_untouched(path, LabelStore, ForeignFileError, "not an nblabel journal.*users")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched to WAL
    conn.close()


def test_non_sqlite_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "labels.db"
    path.write_text("id,label\n1,cat\n")
    assert_refused_untouched(path, LabelStore, ForeignFileError, "not an SQLite database")


def test_corrupt_journal_is_a_clear_error_and_not_modified(tmp_path):
    path = tmp_path / "j.db"
    with make(path) as store:
        for j in range(200):
            store.append([("label", IDS[j % 4], "cat")])
    LabelStore(path).close()  # the last close checkpoints the WAL into the main file
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    # Scramble b-tree pages (seeded), keep the header.
    data[page + 100 : 3 * page - 100] = np.random.default_rng(0).bytes(2 * page - 200)
    path.write_bytes(bytes(data))
    before = snapshot(path)
    with pytest.raises(CorruptJournalError, match="damaged nblabel journal"):
        LabelStore(path)
    assert snapshot(path)[0] == before[0]


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "j.db"
    make(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE nblabel_meta SET value = ? WHERE key = 'format_version'", (json.dumps(99),))
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="format 99"):
        LabelStore(path)


def test_locked_journal_waits_then_raises_clearly(tmp_path):
    path = tmp_path / "j.db"
    store = make(path, timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(JournalLockedError, match="another connection held the lock"):
        store.append([("label", "a", "cat")])
    other.execute("ROLLBACK")
    other.close()
    store.append([("label", "a", "cat")])  # works again once the lock is gone
    assert store.last_seq == 1
    store.close()


def _refusals_as_nobody(*calls: str) -> subprocess.CompletedProcess:
    """Run each ``LabelStore`` call in a subprocess that cannot ignore file permissions.

    The child prints one ``REFUSED <message>`` line for each call that raises ``ReadOnlyJournalError``.
    Root ignores permissions, so under root the child drops to user ``nobody`` once nblabel is imported
    (the interpreter itself may live where ``nobody`` cannot read).
    """
    drop = "import os\nif os.geteuid() == 0:\n    os.setgid(65534)\n    os.setuid(65534)\n"
    attempt = "try:\n    {}\nexcept ReadOnlyJournalError as exc:\n    print('REFUSED', exc)\n"
    tries = "".join(attempt.format(call) for call in calls)
    code = "from nblabel.store import LabelStore, ReadOnlyJournalError\n" + drop + tries
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


@pytest.fixture
def shared_dir(tmp_path_factory):
    # A directory another user can reach (pytest's own tmp root is private to the current user).
    root = Path(tmp_path_factory.mktemp("ro"))
    for p in (root, *root.parents):
        if p == Path(p.anchor):
            break
        p.chmod(p.stat().st_mode | 0o005)
    return root


def test_read_only_directory_is_a_clear_error_and_the_journal_is_untouched(shared_dir):
    path = shared_dir / "j.nblabel.db"
    with make(path) as store:
        store.append([("label", "a", "cat")])
    path.chmod(0o644)
    shared_dir.chmod(0o555)
    before = snapshot(path)
    try:
        result = _refusals_as_nobody(
            f"LabelStore({str(path)!r})",
            f"LabelStore.create({str(path.with_name('new.db'))!r}, ids=['a'], given=[-1], meta={{}})",
        )
    finally:
        shared_dir.chmod(0o755)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("REFUSED") for line in lines), result.stdout
    assert "read-only" in lines[0] and "not writable" in lines[1]
    assert snapshot(path) == before


def test_read_only_journal_file_is_refused(shared_dir):
    path = shared_dir / "j.db"
    make(path).close()
    path.chmod(0o444)
    before = snapshot(path)
    result = _refusals_as_nobody(f"LabelStore({str(path)!r})")
    assert result.stdout.startswith("REFUSED") and "is read-only" in result.stdout, result.stderr
    assert snapshot(path) == before
