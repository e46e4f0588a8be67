"""Every fault found by trying to break nblabel (issue 11), kept fixed: one test (or more) per fault.

Numbers in the section titles are the issue's items.  Each test failed on the code before its fix.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nblabel.data import SkippedPathWarning, from_array, from_dataframe, from_folder, from_paths
from nblabel.session import Session
from nblabel.store import (
    CorruptJournalError,
    DiskFullError,
    ForeignFileError,
    JournalGoneError,
    LabelStore,
)
from nblabel.widget import MESSAGES, Labeler

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["a", "b", "c"]


def blobs(n: int = 30, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight, far-apart clusters: (X (n, d) float32, cluster of each row (n,))."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, d)) * 5
    y = np.arange(n) % 3
    return (centers[y] + 0.3 * rng.normal(size=(n, d))).astype(np.float32), y


X, Y = blobs()
GIVEN = [CLASSES[c] if i % 4 else None for i, c in enumerate(Y)]


def make(tmp_path: Path, name: str = "j.nblabel.db", **kw) -> Session:
    kw.setdefault("given", GIVEN)
    kw.setdefault("k", 3)
    return Session(X, journal=tmp_path / name, **kw)


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------------------------------- 5
def test_a_deleted_journal_fails_the_next_change_loudly_and_export_rescues_the_labels(tmp_path):
    s = make(tmp_path)
    s.label("1", "a")
    s.journal.unlink()
    with pytest.raises(JournalGoneError, match="was deleted.*export"):
        s.label("2", "b")
    assert s.state.verified[2] == -1  # a change that failed is not shown as made
    with pytest.raises(JournalGoneError):  # and it stays failed: nothing more is "acknowledged"
        s.add_class("d")
    rescue = s.export(tmp_path / "rescue.csv")
    s.close()
    fresh = make(tmp_path, "new.nblabel.db")
    assert fresh.import_labels(rescue) == 1 and fresh.state.verified[1] == 0
    fresh.close()


def test_a_journal_truncated_under_a_session_fails_and_then_reads_as_damaged_not_foreign(tmp_path):
    s = make(tmp_path)
    s.label("1", "a")
    with open(s.journal, "r+b") as fh:
        fh.truncate(0)
    with pytest.raises(JournalGoneError, match="truncated"):
        s.label("2", "b")
    s.close()
    with pytest.raises(CorruptJournalError, match="damaged nblabel journal") as info:
        Session.open(tmp_path / "j.nblabel.db")
    assert "pass journal= a new path" not in str(info.value) and "backup" in str(info.value)


def test_a_journal_cut_in_half_under_a_session_is_detected_by_its_size(tmp_path):
    s = make(tmp_path)
    s.label("1", "a")
    size = s.journal.stat().st_size
    with open(s.journal, "r+b") as fh:
        fh.truncate(size // 2)  # the header survives
    with pytest.raises(JournalGoneError, match="truncated"):
        s.label("2", "b")
    s.close()


def test_an_empty_journal_file_is_reported_as_damaged(tmp_path):
    (tmp_path / "j.nblabel.db").write_bytes(b"")
    with pytest.raises(CorruptJournalError, match=r"empty \(0 bytes\).*backup"):
        LabelStore(tmp_path / "j.nblabel.db")
    (tmp_path / "notes.txt").write_text("my own file")
    with pytest.raises(ForeignFileError):  # someone's own file is still "not a journal", untouched
        LabelStore(tmp_path / "notes.txt")


def test_a_journal_replaced_by_another_file_is_detected(tmp_path):
    s = make(tmp_path)
    other = make(tmp_path, "other.nblabel.db")
    other.close()
    os.replace(tmp_path / "other.nblabel.db", s.journal)
    with pytest.raises(JournalGoneError, match="replaced"):
        s.label("1", "a")
    s.close()


def test_a_journal_deleted_during_the_commit_is_not_acknowledged(tmp_path):
    s = make(tmp_path)
    store = s._store

    class DeletesOnCommit:  # the file vanishes between the check before the commit and the commit itself
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            result = self.conn.execute(sql, *args)
            if sql == "COMMIT":
                store.path.unlink()
            return result

        def __getattr__(self, name):
            return getattr(self.conn, name)

    store._conn = DeletesOnCommit(store._conn)
    with pytest.raises(JournalGoneError, match="deleted"):
        s.label("1", "a")
    assert s.state.verified[1] == -1
    store._conn = store._conn.conn
    s.close()


# ---------------------------------------------------------------------------------------------------- 3 / 9
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"t": 0}, "t: expected a positive integer"),
        ({"t": -3}, "t: expected"),
        ({"t": 2.5}, "t: expected"),
        ({"k": 0}, "k: expected"),
        ({"k": 30}, "k: expected"),
        ({"T": -1.0}, "T: expected"),
        ({"T": "hot"}, "T: expected"),
        ({"M": 1}, "M: expected"),
        ({"ef": "big"}, "ef: expected"),
        ({"symmetric": "yes"}, "symmetric: expected"),
        ({"timeout": 0}, "timeout: expected"),
        ({"user": 5}, "user: expected"),
        ({"colour": 1}, "unexpected keyword"),
        ({"given": ["a", 1] * 15}, "a mix"),
        ({"classes": ["a", "a"]}, "unique"),
    ],
)
def test_a_bad_parameter_is_refused_before_anything_is_written(tmp_path, kw, match):
    # No classes and t=0 used to be accepted; add_class and label then failed after journaling their events,
    # and the journal never opened again.
    kw.setdefault("given", None)
    with pytest.raises(ValueError, match=match):
        make(tmp_path, **kw)
    assert files(tmp_path) == []  # no journal, no side files


def test_a_session_that_fails_to_start_removes_the_journal_it_created(tmp_path, monkeypatch):
    from nblabel.graph import KnnGraph

    def no_memory(self, X):
        raise MemoryError("simulated")

    monkeypatch.setattr(KnnGraph, "fit", no_memory)
    with pytest.raises(MemoryError):
        make(tmp_path)
    assert files(tmp_path) == []


def test_a_failed_start_keeps_a_new_journal_someone_else_already_labeled_in(tmp_path, monkeypatch):
    from nblabel.graph import KnnGraph

    def other_notebook_labels_then_we_fail(self, X):
        with LabelStore(tmp_path / "j.nblabel.db") as other:
            other.append([("label", "1", "a")], user="bob")
        raise MemoryError("simulated")

    monkeypatch.setattr(KnnGraph, "fit", other_notebook_labels_then_we_fail)
    with pytest.raises(MemoryError):
        make(tmp_path)
    monkeypatch.undo()
    s = Session.open(tmp_path / "j.nblabel.db", embeddings=X)
    assert s.state.verified[1] == 0
    s.close()


def test_a_propagation_failure_after_the_commit_does_not_report_a_saved_change_as_failed(
    tmp_path, monkeypatch
):
    from nblabel.propagate import Propagator

    s = make(tmp_path)

    def broken(self, idx, labels):
        raise RuntimeError("simulated LP failure")

    monkeypatch.setattr(Propagator, "update", broken)
    with pytest.warns(RuntimeWarning, match="after the change was saved"):
        s.label("1", "a")  # returns: the label is in the journal
    assert s.state.verified[1] == 0 and s.state.pending and isinstance(s.error, RuntimeError)
    monkeypatch.undo()
    s.close()
    reopened = Session.open(tmp_path / "j.nblabel.db")
    assert reopened.state.verified[1] == 0 and not reopened.state.pending
    reopened.close()


def test_a_journal_with_parameters_this_version_refuses_still_reopens(tmp_path):
    s = make(tmp_path, user="ann")
    s.label("1", "a")
    s.close()
    with LabelStore(tmp_path / "j.nblabel.db") as store:  # what the old version let through
        store.set_meta("params", {"k": 3, "T": "auto", "t": 0})
    with pytest.warns(UserWarning, match="t: expected"):
        r = Session.open(tmp_path / "j.nblabel.db", user="ann")
    assert r.state.verified[1] == 0 and r._params["t"] == 20 and r.can_undo
    r.add_class("d")
    r.label("2", "d")
    r.close()
    Session.open(tmp_path / "j.nblabel.db").close()  # repaired: no warning needed any more


# ---------------------------------------------------------------------------------------------------- 2
def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["id", "verified"]).to_csv(path, index=False)
    return path


def test_import_last_row_wins_and_the_duplicates_are_reported(tmp_path):
    s = make(tmp_path)
    path = write_csv(tmp_path / "in.csv", [("0", "b"), ("0", "c"), ("0", "c"), ("0", "b"), ("5", "a")])
    with pytest.warns(UserWarning, match=r"3 row\(s\).*last row for each id wins") as record:
        assert s.import_labels(path) == 2
    assert record[0].filename == __file__  # the warning names the caller's line
    assert s.state.verified[[0, 5]].tolist() == [1, 0]
    s.close()


def test_import_writes_only_real_changes_in_one_transaction(tmp_path):
    s = make(tmp_path)
    s.label("3", "c")
    rng = np.random.default_rng(0)
    rows = [(str(i), CLASSES[Y[i]]) for i in rng.integers(0, 30, 20_000)] + [("3", "c")]
    path = write_csv(tmp_path / "big.csv", rows)
    with pytest.warns(UserWarning, match="last row for each id wins"):
        changed = s.import_labels(path)
    events = s._store.read()
    assert len(events) == 1 + changed and changed == len({r[0] for r in rows}) - 1  # "3" already had "c"
    assert len({e.action for e in events[1:]}) == 1  # one transaction, one undo step
    assert s.undo() and (s.state.verified[np.arange(30) != 3] == -1).all()
    with pytest.warns(UserWarning):
        assert s.redo() and s.import_labels(path) == 0  # nothing left to change: nothing written
    assert len(s._store.read()) == len(events) + 2
    s.close()


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", "5", "True", "[1,2]", "d"])
def test_import_refuses_unknown_classes_unless_asked_to_add_them(tmp_path, name):
    s = make(tmp_path)
    path = write_csv(tmp_path / "in.csv", [("1", "a"), ("2", name)])
    with pytest.raises(ValueError, match="new name.*add_classes=True"):
        s.import_labels(path)
    assert s._store.last_seq == 0 and s.classes == CLASSES
    assert s.import_labels(path, add_classes=True) == 2
    assert s.classes == [*CLASSES, name] and s.state.verified[2] == 3
    assert s.undo() and s.state.verified[2] == -1 and s.classes == [*CLASSES, name]
    s.close()


@pytest.mark.parametrize("name", [" b", "b ", "a\x00b", "x" * 1000, "line\nbreak"])
def test_import_refuses_invalid_class_names_even_when_adding(tmp_path, name):
    s = make(tmp_path)
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"id": "1", "verified": name}]))
    with pytest.raises(ValueError, match="expected"):
        s.import_labels(path, add_classes=True)
    assert s._store.last_seq == 0
    s.close()


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("bad.json", b'{"items": [', "not valid JSON.*line 1"),
        ("bad.json", b'"just a string"', "list of records"),
        ("nonstr.json", b'[{"id": "1", "verified": 5}]', "class names \\(text\\)"),
        ("bin.csv", bytes(range(256)) * 4, "UTF-8 text"),
        ("nul.csv", b"id,verified\n1,a\x00\n", "NUL"),
        ("empty.csv", b"", "cannot be parsed"),
    ],
)
def test_import_of_a_broken_file_says_expected_got_fix(tmp_path, name, content, match):
    s = make(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        s.import_labels(tmp_path / name)
    assert "Fix" in str(info.value)
    s.close()


# ---------------------------------------------------------------------------------------------------- 1
def image(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (value, value, value)).save(path)


def test_from_folder_lists_each_image_once_through_a_symlink_loop(tmp_path):
    image(tmp_path / "cat" / "a.png")
    image(tmp_path / "dog" / "b.png", 200)
    (tmp_path / "cat" / "up").symlink_to("..")
    with pytest.warns(SkippedPathWarning, match="cat/up"):
        src = from_folder(tmp_path)
    assert src.ids == ["cat/a.png", "dog/b.png"] and src.classes == ["cat", "dog"]
    assert [p for p, _ in src.skipped] == ["cat/up"]


def test_from_folder_returns_with_two_symlink_loops(tmp_path):
    image(tmp_path / "cat" / "a.png")
    image(tmp_path / "dog" / "b.png", 200)
    (tmp_path / "cat" / "up").symlink_to("..")
    (tmp_path / "dog" / "up").symlink_to("..")
    result: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        walker = threading.Thread(target=lambda: result.append(from_folder(tmp_path)), daemon=True)
        walker.start()
        walker.join(60)  # the walk used to go on for ever (433k files in 20 s)
    assert result and result[0].ids == ["cat/a.png", "dog/b.png"]
    assert sorted(p for p, _ in result[0].skipped) == ["cat/up", "dog/up"]


def test_from_folder_lists_a_linked_file_or_folder_once(tmp_path):
    image(tmp_path / "cat" / "a.png")
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "same.png").symlink_to(tmp_path / "cat" / "a.png")
    (tmp_path / "more").symlink_to(tmp_path / "cat")
    with pytest.warns(SkippedPathWarning) as record:
        src = from_folder(tmp_path)
    assert src.ids == ["cat/a.png"]
    assert {p for p, _ in src.skipped} == {"dog/same.png", "more"}
    assert "cat/a.png" in str(record[0].message) or "cat" in str(record[0].message)


# ---------------------------------------------------------------------------------------------------- 4
def test_export_refuses_to_overwrite_unless_asked(tmp_path):
    s = make(tmp_path)
    target = tmp_path / "labels.csv"
    target.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        s.export(target)
    assert target.read_text() == "precious"
    s.export(target, overwrite=True)
    assert target.read_text().startswith('"id"')
    s.close()


def test_export_overwrite_keeps_the_mode_and_writes_through_a_symlink(tmp_path):
    s = make(tmp_path)
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    s.export(link, overwrite=True)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["classes"] == CLASSES
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    s.close()


FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "'quoted"]


def test_csv_export_neutralises_formulas_and_import_reads_them_back(tmp_path):
    n = len(FORMULAS) + 3
    Xf, _ = blobs(n=n)
    ids = [*FORMULAS, "plain", "x-y", "3"]
    cls = "=cmd|' /C calc'!A0"
    s = Session(Xf, ids=ids, given=[cls, "-neg", *[None] * (n - 2)], journal=tmp_path / "f.nblabel.db", k=3)
    s.label(FORMULAS, cls)
    path = s.export(tmp_path / "out.csv")
    with open(path, newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    # Numbers (e.g. duplicate_group -1 = none) are data, not formulas; every text cell is neutralised.
    text = [c for c in cells if not re.fullmatch(r"-?\d+(\.\d*)?(e-?\d+)?|nan|", c)]
    assert not [c for c in text if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=1+1" in cells and "'=cmd|' /C calc'!A0" in cells and "''quoted" in cells and "x-y" in cells
    t = Session(Xf, ids=ids, given=[cls, "-neg", *[None] * (n - 2)], journal=tmp_path / "t.nblabel.db", k=3)
    assert t.import_labels(path) == len(FORMULAS)
    np.testing.assert_array_equal(t.state.verified, s.state.verified)
    s.close()
    t.close()


# ---------------------------------------------------------------------------------------------------- 6
def test_undo_reverts_only_my_own_change(tmp_path):
    a = make(tmp_path)
    b = Session.open(tmp_path / "j.nblabel.db")
    a.label("1", "a")
    b.label("2", "b")
    assert a.undo()
    assert a.state.verified[[1, 2]].tolist() == [-1, 1]  # B's label, which A never saw, stays
    assert not a.can_undo and b.can_undo
    b.refresh()
    assert b.undo() and (b.state.verified == -1).all()
    assert a.redo()
    a.refresh()
    assert a.state.verified[[1, 2]].tolist() == [0, -1]
    for s in (a, b):
        s.close()


def test_undo_keeps_a_label_someone_else_set_afterwards(tmp_path):
    a = make(tmp_path, user="ann")
    b = Session.open(tmp_path / "j.nblabel.db", user="bob")
    a.label("1", "a")
    b.label("1", "c")
    assert a.undo() and a.state.verified[1] == 2  # bob's later label is not clobbered
    replay = Session.open(tmp_path / "j.nblabel.db")
    np.testing.assert_array_equal(replay.state.verified, a.state.verified)
    for s in (a, b, replay):
        s.close()


def test_z_in_the_widget_undoes_my_change_not_the_other_persons(tmp_path):
    a = make(tmp_path)
    b = Session.open(tmp_path / "j.nblabel.db")
    widget = Labeler(a, background=False)
    widget.send = lambda content, buffers=None: None
    widget._on_message(widget, {"type": "label", "request_id": 1, "indices": [4], "cls": 0}, [])
    b.label("5", "b")
    widget._on_message(widget, {"type": "undo", "request_id": 2}, [])
    assert a.state.verified[[4, 5]].tolist() == [-1, 1]
    widget.close()
    a.close()
    b.close()


# ---------------------------------------------------------------------------------------------------- 7
MISSING = [None, np.nan, float("nan"), pd.NA, "", np.float32("nan")]


@pytest.mark.parametrize("missing", MISSING, ids=repr)
def test_every_kind_of_missing_means_no_label_in_every_entry_point(tmp_path, missing):
    labels = ["a", missing, "b"]
    pixels = np.zeros((3, 4, 4), np.uint8)
    src = from_array(pixels, labels=labels)
    assert src.classes == ["a", "b"] and src.given.tolist() == [0, -1, 1]
    for k in range(3):
        image(tmp_path / f"{k}.png", k)
    src = from_paths([tmp_path / f"{k}.png" for k in range(3)], labels=labels)
    assert src.classes == ["a", "b"] and src.given.tolist() == [0, -1, 1]
    frame = pd.DataFrame({"path": [str(tmp_path / f"{k}.png") for k in range(3)], "label": labels})
    src = from_dataframe(frame, label_col="label")
    assert src.classes == ["a", "b"] and src.given.tolist() == [0, -1, 1]
    s = Session(X[:3], given=labels, journal=tmp_path / "j.db", k=1)
    assert s.classes == ["a", "b"] and s.state.given.tolist() == [0, -1, 1]
    s.close()


def test_session_and_sources_encode_labels_with_one_rule(tmp_path):
    pixels = np.zeros((4, 4, 4), np.uint8)
    Xs = blobs(n=8)[0][:4]
    for labels in (["a", 1, None, "b"], [True, 0, 1, 0], [0.5, 1, 0, 0]):
        errors = []
        for build in (
            lambda labels=labels: from_array(pixels, labels=labels),
            lambda labels=labels: Session(Xs, given=labels, journal=tmp_path / "x.db", k=1),
        ):
            with pytest.raises(ValueError) as info:
                build()
            errors.append(str(info.value).split(":", 1)[1])  # the same message but for the argument name
        assert errors[0] == errors[1]
        assert files(tmp_path) == []
    src = from_array(pixels, labels=np.array([2, -1, 0, np.nan]))
    s = Session(Xs, given=src.given, classes=src.classes, journal=tmp_path / "y.db", k=1)
    assert s.classes == src.classes == ["0", "1", "2"] and s.state.given.tolist() == [2, -1, 0, -1]
    s.close()


# ---------------------------------------------------------------------------------------------------- 8
# Peak memory from /proc (VmHWM), not ru_maxrss: that one keeps the parent's (pytest's) peak across exec.
BIG_THUMB = """
import re, sys, warnings
from PIL import Image
warnings.simplefilter("ignore")
from nblabel.data import from_paths
def peak_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
src = from_paths([sys.argv[1]], check="none")
before = peak_kb()
data = src.thumbnail(0, size=96)
grew = peak_kb() - before
import io
print(grew // 1024, Image.open(io.BytesIO(data)).size)
"""


def test_a_huge_jpeg_thumbnail_is_decoded_reduced(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 6000), (10, 120, 200)).save(path, quality=70)
    out = subprocess.run(
        [sys.executable, "-c", BIG_THUMB, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout.split(maxsplit=1)
    # Decoding 8000 x 6000 at full size needs ~140 MB for the pixels alone (and copies of them); JPEG's
    # draft mode decodes at 1/8 scale: a few MB.
    assert int(out[0]) < 60 and out[1].strip() == "(96, 72)"


class SlowSource:
    """An image source whose thumbnails wait for a signal: a stand-in for decoding huge images."""

    thumbnail_format = "image/png"

    def __init__(self, n: int) -> None:
        self.n, self.release = n, threading.Event()

    def __len__(self) -> int:
        return self.n

    def thumbnail(self, i: int, size: int = 96) -> bytes:
        assert self.release.wait(30)
        buf = io.BytesIO()
        Image.new("RGB", (size, size)).save(buf, format="PNG")
        return buf.getvalue()


def test_the_widget_answers_clicks_while_thumbnails_are_decoded(tmp_path):
    slow = SlowSource(30)
    s = make(tmp_path, source=slow)
    widget = Labeler(s, background=False)
    sent: list[dict] = []
    widget.send = lambda content, buffers=None: sent.append(content)
    handler = threading.Thread(
        target=widget._on_message,
        args=(widget, {"type": "request_thumbs", "request_id": 1, "indices": list(range(10))}, []),
    )
    handler.start()
    handler.join(10)
    assert not handler.is_alive()  # the message thread is free at once
    widget._on_message(widget, {"type": "label", "request_id": 2, "indices": [0], "cls": 1}, [])
    assert {"type": "reply", "request_id": 2, "ok": True, "error": ""} in sent
    assert not [m for m in sent if m["type"] == "thumbs"]
    slow.release.set()
    widget._thumb_pool.submit(lambda: None).result(30)
    (thumbs,) = [m for m in sent if m["type"] == "thumbs"]
    assert thumbs["request_id"] == 1 and [it["index"] for it in thumbs["items"]] == list(range(10))
    widget.close()
    s.close()


def test_a_thumbnail_request_is_capped_per_request(tmp_path):
    s = make(tmp_path)
    widget = Labeler(s, background=False)
    sent: list[dict] = []
    widget.send = lambda content, buffers=None: sent.append(content)
    widget._on_message(widget, {"type": "request_thumbs", "request_id": 7, "indices": [0] * 300}, [])
    (reply,) = [m for m in sent if m.get("request_id") == 7]
    assert reply["type"] == "reply" and not reply["ok"] and "at most 256" in reply["error"]
    widget.close()
    s.close()


# ---------------------------------------------------------------------------------------------------- 9
def test_numpy_scalars_are_normal_parameters(tmp_path):
    s = make(tmp_path, k=np.int64(3), T=np.float32(0.05), t=np.int32(10), M=np.int16(8))
    assert s._store.meta["params"] == {"k": 3, "T": pytest.approx(0.05), "t": 10, "M": 8}
    s.close()
    Session.open(tmp_path / "j.nblabel.db").close()


def test_given_with_pandas_na_works(tmp_path):
    given = pd.Series(GIVEN, dtype="string")  # None becomes pd.NA
    assert given.isna().sum() == sum(g is None for g in GIVEN)
    s = make(tmp_path, given=given)
    assert s.classes == CLASSES and (s.state.given == [CLASSES.index(g) if g else -1 for g in GIVEN]).all()
    s.close()


def test_a_garbage_embeddings_side_file_is_rebuilt_or_explained(tmp_path):
    make(tmp_path).close()
    side = tmp_path / "j.nblabel.db-embeddings.npy"
    side.write_bytes(b"\x93NUMPY garbage" * 10)
    with pytest.raises(ValueError, match="damaged.*Fix: pass embeddings=") as info:
        Session.open(tmp_path / "j.nblabel.db")
    assert "pickle" not in str(info.value)
    Session.open(tmp_path / "j.nblabel.db", embeddings=X).close()  # rewrites it from the array passed in
    Session.open(tmp_path / "j.nblabel.db").close()
    side.write_bytes(b"junk")
    make(tmp_path).close()  # resuming with the embeddings rewrites it as well
    np.testing.assert_array_equal(np.load(side), X)


def test_two_notebooks_creating_one_journal_at_once_both_get_it(tmp_path, monkeypatch):
    create = LabelStore.create.__func__

    def other_notebook_wins(cls, path, **kw):
        create(cls, path, **kw).close()  # the other notebook's create lands first ...
        return create(cls, path, **kw)  # ... so ours finds the file there

    monkeypatch.setattr(LabelStore, "create", classmethod(other_notebook_wins))
    s = make(tmp_path)  # resumes instead of FileExistsError
    s.label("1", "a")
    s.close()


def test_two_threads_creating_one_journal_at_once_both_succeed(tmp_path):
    barrier, results = threading.Barrier(2), []

    def start() -> None:
        barrier.wait()
        try:
            results.append(make(tmp_path))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert all(isinstance(r, Session) for r in results) and len(results) == 2
    results[0].label("1", "a")
    assert results[1].refresh() == 1
    for r in results:
        r.close()


def test_a_full_disk_gives_a_journal_error_with_a_fix_and_loses_nothing_acknowledged(tmp_path):
    s = make(tmp_path)
    s.label("1", "a")
    conn = s._store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    before = s.state.verified.copy()
    with pytest.raises(DiskFullError, match="disk is full.*not saved.*Fix: free disk space"):
        for _ in range(50):
            s.label([str(i) for i in range(30)], "b")
            s.label([str(i) for i in range(30)], "c")
    assert (s.state.verified == s.state.verified).all()
    acknowledged = s.state.verified.copy()
    s.close()
    r = Session.open(tmp_path / "j.nblabel.db")
    np.testing.assert_array_equal(r.state.verified, acknowledged)
    assert before[1] == 0
    r.close()


def test_a_garbage_checkpoint_never_suggests_weights_only_false(tmp_path):
    pytest.importorskip("torch")
    from nblabel.embed import load_backbone_state

    for name, content in (("w.pth", b"garbage" * 50), ("w.safetensors", b"\x00" * 40)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="checkpoint: expected") as info:
            load_backbone_state(tmp_path / name)
        assert "weights_only" not in str(info.value) and "Fix" in str(info.value)


# ---------------------------------------------------------------------------------------------------- 10
@pytest.fixture
def widget(tmp_path):
    s = make(tmp_path)
    w = Labeler(s, page_size=5, background=False)
    sent: list[dict] = []
    w.send = lambda content, buffers=None: sent.append(content)
    w.sent = sent
    yield w
    w.close()
    s.close()


def answers(w: Labeler, request_id) -> list[dict]:
    w._thumb_pool.submit(lambda: None).result(30)
    return [m for m in w.sent if m["type"] in ("reply", "thumbs") and m.get("request_id") == request_id]


@pytest.mark.parametrize(
    "content", [{"type": ["label"]}, {"type": {"x": 1}}, {"type": None}, {"type": 3}, {"type": "nope"}]
)
def test_a_malformed_message_type_is_answered_not_raised(widget, content):
    widget._on_message(widget, {**content, "request_id": 9}, [])
    (reply,) = answers(widget, 9)
    assert not reply["ok"] and "expected a type from" in reply["error"] and widget.error
    widget._on_message(widget, ["label"], [])  # not even a dict
    assert "list" in widget.error


@pytest.mark.parametrize("name", ["x" * 1_000_000, "a\x00b", "tab\there", "new\nline"])
def test_add_class_refuses_huge_or_control_character_names(widget, name):
    widget._on_message(widget, {"type": "add_class", "request_id": 4, "name": name}, [])
    (reply,) = answers(widget, 4)
    assert not reply["ok"] and "expected" in reply["error"] and len(reply["error"]) < 500
    assert widget.session.classes == CLASSES and widget.session._store.last_seq == 0


def test_page_size_from_the_page_is_clamped_with_a_reason(widget):
    widget.page_size = 0
    assert widget.page_size == 1 and "page_size" in widget.error
    widget.page_size = 10_000
    assert widget.page_size == 256


def test_a_view_error_clears_after_a_valid_change(widget):
    widget.browse_filter = "class:99"
    assert "browse_filter" in widget.error
    widget.browse_filter = "all"
    assert widget.error == ""


# ---------------------------------------------------------------------------------------------------- fuzz
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=False, width=32), st.text(max_size=6)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
_plausible = st.fixed_dictionaries(
    {"type": st.sampled_from([*MESSAGES, "nope"]) | _json},
    optional={
        "request_id": _scalars | _json,
        "indices": st.lists(st.integers(-2, 31), max_size=5) | _json,
        "cls": st.integers(-1, 5) | _json,
        "name": st.sampled_from(["d", "e", " a", "", "a", "x\x00"]) | _json,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_plausible | _json, min_size=1, max_size=12))
def test_fuzz_the_message_handler(messages):
    """Any JSON from the page: no exception escapes, every request is answered once, state == replay."""
    with tempfile.TemporaryDirectory() as tmp:
        s = make(Path(tmp))
        w = Labeler(s, page_size=5, background=False)
        sent: list[dict] = []
        w.send = lambda content, buffers=None: sent.append(content)
        for content in messages:
            before = len(sent)
            w._on_message(w, content, [])
            w._thumb_pool.submit(lambda: None).result(30)
            new = sent[before:]
            # Every message but "ready" (which is no request) is answered when it carries a request_id.
            if isinstance(content, dict) and "request_id" in content and content.get("type") != "ready":
                got = [m for m in new if m["type"] in ("reply", "thumbs")]
                assert len(got) == 1 and got[0]["request_id"] == content["request_id"], (content, new)
        w.wait_for_layout(120)  # its cache file lands in the temporary directory
        w.close()
        replay = Session.open(s.journal)
        np.testing.assert_array_equal(replay.state.verified, s.state.verified)
        assert replay.classes == s.classes
        replay.close()
        s.close()
