"""Session: labels and undo history replayed from the journal, LP results, export/import, background mode."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nblabel.propagate import Propagator
from nblabel.quality import MIN_REVIEWS, TOP_EVERY
from nblabel.session import Session, SessionState
from nblabel.store import ForeignFileError, JournalError, LabelStore

CLASSES = ["ant", "bee", "cow"]


def blobs(n: int = 200, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs: (X (n, d) float32, true labels (n,))."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, d)) * 4
    y = np.arange(n) % 3
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


X, Y = blobs()
NOISY = np.arange(0, 100, 5)  # 20 items over all three classes whose given label is shifted to a wrong one
GIVEN = Y.copy()
GIVEN[NOISY] = (GIVEN[NOISY] + 1) % 3
GIVEN[120:] = -1  # the last 80 items come without a label
GIVEN_NAMES = [CLASSES[g] if g >= 0 else None for g in GIVEN]


def make(tmp_path: Path, name: str = "j.nblabel.db", **kw) -> Session:
    kw.setdefault("given", GIVEN_NAMES)
    return Session(X, journal=tmp_path / name, k=8, **kw)


def ids(idx) -> list[str]:
    return [str(i) for i in np.atleast_1d(idx)]


# --- construction
def test_given_names_become_sorted_classes_and_the_default_journal_lands_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Session(X, given=GIVEN_NAMES, k=8)
    assert s.classes == CLASSES and s.ids == ids(range(200)) and s.n_items == 200
    assert s.journal.parent == tmp_path and s.journal.name.startswith("session-")
    assert s.journal.name.endswith(".nblabel.db")
    np.testing.assert_array_equal(s.state.given, GIVEN)
    text = repr(s)
    assert str(s.journal) in text and "120 given" in text and "0 verified" in text and "ant" in text
    s.close()


def test_integer_given_labels_and_input_errors(tmp_path):
    s = Session(X, given=GIVEN, classes=CLASSES, journal=tmp_path / "a.db", k=8)
    np.testing.assert_array_equal(s.state.given, GIVEN)
    s.close()
    s = Session(X, given=GIVEN, journal=tmp_path / "b.db", k=8)
    assert s.classes == ["0", "1", "2"]
    s.close()
    with pytest.raises(ValueError, match="unknown names"):
        Session(X, given=GIVEN_NAMES, classes=["ant", "bee"], journal=tmp_path / "c.db", k=8)
    with pytest.raises(ValueError, match="one label per item"):
        Session(X, given=GIVEN_NAMES[:5], journal=tmp_path / "c.db", k=8)
    with pytest.raises(ValueError, match="unexpected keyword"):
        Session(X, journal=tmp_path / "c.db", k=8, symetric=False)
    with pytest.raises(ValueError, match="unique names"):
        Session(X, classes=["a", "a"], journal=tmp_path / "c.db", k=8)
    assert not (tmp_path / "c.db").exists()


def test_from_source_takes_ids_labels_and_classes_from_the_images(tmp_path):
    from nblabel.data import from_array

    rng = np.random.default_rng(0)
    templates = rng.uniform(0, 255, (3, 8, 8))  # three classes: a random pattern each, lightly noised
    pixels = np.clip(np.repeat(templates, 10, axis=0) + rng.normal(0, 8, (30, 8, 8)), 0, 255).astype(np.uint8)
    labels = [["dark", "mid", "light"][i // 10] for i in range(30)]
    source = from_array(pixels, labels=labels)

    class PixelEncoder:  # the Encoder interface: embed(source) -> (n, d) float32
        def embed(self, src):
            return np.stack(
                [np.asarray(src.load(i), np.float32).reshape(-1)[:48] + 1 for i in range(len(src))]
            )

    s = Session.from_source(source, encoder=PixelEncoder(), journal=tmp_path / "img.nblabel.db", k=5)
    assert s.source is source and s.ids == source.ids and s.classes == source.classes
    np.testing.assert_array_equal(s.state.given, source.given)
    np.testing.assert_array_equal(s.state.predicted, source.given)
    s.close()
    reopened = Session.open(tmp_path / "img.nblabel.db", source=source)
    assert reopened.source is source and reopened.classes == source.classes
    reopened.close()


def test_open_goes_through_init(tmp_path):
    # One construction path: a subclass's __init__ runs for Session.open too, and the reopened session
    # holds what was written.
    make(tmp_path).close()
    built = []

    class Counted(Session):
        def __init__(self, *args, **kwargs):
            built.append(kwargs.get("_opened") is not None)
            super().__init__(*args, **kwargs)

    with Counted.open(tmp_path / "j.nblabel.db") as reopened:
        assert built == [True] and isinstance(reopened, Counted)
        assert reopened.n_items == len(X) and reopened.classes == CLASSES


def test_the_callers_embeddings_stay_writeable(tmp_path):
    mine = X.copy()
    s = Session(mine, journal=tmp_path / "j.db", k=8)
    assert mine.flags.writeable and not s.embeddings.flags.writeable
    s.close()


def test_a_foreign_file_as_journal_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a journal")
    with pytest.raises(ForeignFileError):
        Session(X, journal=path, k=8)
    with pytest.raises(ForeignFileError):
        Session.open(path)
    assert path.read_text() == "not a journal"
    bare = tmp_path / "bare.db"
    LabelStore.create(bare, ids=ids(range(200)), given=GIVEN, meta={}).close()
    with pytest.raises(JournalError, match="without session metadata"):
        Session.open(bare, embeddings=X)
    with pytest.raises(JournalError, match="without session metadata"):
        Session(X, journal=bare, k=8)


# --- changes
def test_label_unlabel_accept_undo_redo(tmp_path):
    s = make(tmp_path)
    s.label(["150", "151"], "bee")
    s.label("152", 2)
    s.accept(["0", "1"])
    s.unlabel("151")
    v = s.state.verified
    assert v[150] == 1 and v[151] == -1 and v[152] == 2
    assert v[0] == GIVEN[0] and v[1] == GIVEN[1]
    assert s.undo() and s.state.verified[151] == 1
    assert s.undo() and s.state.verified[0] == -1 and s.state.verified[1] == -1
    assert s.redo() and s.state.verified[0] == GIVEN[0]
    s.label("3", "ant")  # a new change clears the redo history
    assert not s.can_redo and not s.redo()
    while s.undo():
        pass
    assert (s.state.verified == -1).all() and not s.can_undo
    s.close()


def test_change_errors_are_clear_and_write_nothing(tmp_path):
    s = make(tmp_path)
    with pytest.raises(ValueError, match="add_class"):
        s.label("0", "dog")
    with pytest.raises(ValueError, match="index in 0..2"):
        s.label("0", 3)
    with pytest.raises(ValueError, match="unknown"):
        s.label(["0", "nope"], "ant")
    with pytest.raises(ValueError, match="session.ids"):
        s.label([0], "ant")
    with pytest.raises(ValueError, match="without one"):
        s.accept(["0", "199"])
    with pytest.raises(ValueError, match="at least one"):
        s.unlabel([])
    assert s._store.last_seq == 0 and s.state.version == 1
    s.close()


def test_state_is_an_immutable_snapshot(tmp_path):
    s = make(tmp_path)
    before = s.state
    s.label("150", "cow")
    after = s.state
    assert after.version > before.version and before.verified[150] == -1 and after.verified[150] == 2
    for name in ("given", "verified", "proba", "predicted", "confidence", "suspicion", "flagged"):
        arr = getattr(after, name)
        assert isinstance(arr, np.ndarray) and not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[...] = 0
    assert after.predicted.dtype == np.int32 and after.confidence.dtype == np.float32
    assert after.suspicion.dtype == np.float32 and after.flagged.dtype == bool
    assert np.isnan(after.suspicion[GIVEN < 0]).all() and not np.isnan(after.suspicion[GIVEN >= 0]).any()
    s.close()


def test_predictions_match_a_full_propagation_rerun(tmp_path):
    s = make(tmp_path)
    s.label(ids([150, 151, 152]), "ant")
    s.label(ids([0, 3]), "bee")
    s.unlabel("151")
    s.accept("6")
    reference = Propagator(s.graph, 3).fit(GIVEN, s.state.verified)
    np.testing.assert_allclose(s.state.proba, reference.proba_, atol=1e-2)
    np.testing.assert_array_equal(s.state.predicted, reference.predict())
    # A verified label is clamped: predicted with full confidence.
    assert s.state.predicted[0] == 1 and s.state.confidence[0] == pytest.approx(1.0)
    s.close()


def test_injected_noise_is_flagged_and_ranked_first(tmp_path):
    s = make(tmp_path)
    flagged = np.flatnonzero(s.state.flagged)
    # Every flag is a real error, and at least half of the errors are flagged before any review.
    assert set(flagged) <= set(NOISY) and len(flagged) >= len(NOISY) // 2
    top = s.suspects(TOP_EVERY * len(NOISY))  # the others are audit draws (nblabel.quality.suspect_order)
    assert set(ids(NOISY)) <= set(top.index) and top.index[0] in ids(NOISY)
    assert list(top.columns) == [
        *["given", "verified", "predicted", "confidence", "suspicion", "flagged", "corrected"],
        *["outlier", "duplicate_group"],
    ]
    # Before any review calibrates the flags, the column to export keeps the given labels.
    assert s.predictions["corrected"].tolist()[:120] == GIVEN_NAMES[:120]
    np.testing.assert_array_equal(s.state.predicted[NOISY], Y[NOISY])  # LP recovers the true class
    # Checking an item removes it from the review queue and from the flags.
    first = top.index[0]
    s.label(first, CLASSES[Y[int(first)]])
    assert first not in s.suspects(200).index and not s.state.flagged[int(first)]
    summary = s.summary()
    after = np.flatnonzero(s.state.flagged)
    assert summary["flagged"] == after.size and set(after) <= set(NOISY) - {int(first)}
    # Each label judged by the propagation of the others (nblabel.heldout): a wrong label no longer hides
    # itself from the estimate by lowering its own confidence (0.083 when it did, for the truth 0.167).
    assert abs(summary["noise_rate"] - len(NOISY) / 120) <= 0.03
    low, high = summary["noise_interval"]
    assert low <= summary["noise_rate"] <= high
    assert summary["reviewed"] == 1
    s.close()


def test_errors_found_before_calibration_leave_the_unreviewed_count(tmp_path):
    # Under MIN_REVIEWS reviews the estimate before reviews stands, but the errors a person already found are
    # no longer "not yet reviewed"; a right label reviewed changes nothing.
    s = make(tmp_path)
    before = s.summary()["errors_unreviewed"]
    wrong = [int(i) for i in NOISY[:3]]
    right = next(i for i in range(120) if i not in set(NOISY.tolist()))
    for i in wrong:
        s.label(str(i), CLASSES[Y[i]])
    s.label(str(right), CLASSES[Y[right]])
    summary = s.summary()
    assert summary["reviewed"] == 4 < MIN_REVIEWS and not summary["calibrated"]
    assert summary["errors_unreviewed"] == pytest.approx(before - 3)
    # The panel says how many were reviewed (it said "not yet calibrated by reviews" as if none were).
    assert s.state.noise.reviewed == 4
    s.close()


def test_predictions_frame_and_summary_counts(tmp_path):
    s = make(tmp_path)
    s.label(ids([150, 151]), "cow")
    frame = s.predictions
    assert frame.index.name == "id" and list(frame.index) == s.ids
    assert isinstance(frame["given"].dtype, pd.CategoricalDtype)
    assert list(frame["given"].cat.categories) == CLASSES
    assert frame.loc["150", "verified"] == "cow" and pd.isna(frame.loc["0", "verified"])
    assert frame.loc["0", "given"] == GIVEN_NAMES[0] and pd.isna(frame.loc["199", "given"])
    summary = s.summary()
    assert summary["n_items"] == 200 and summary["given"] == 120 and summary["verified"] == 2
    assert summary["labeled"] == 122
    assert summary["classes"]["cow"]["verified"] == 2
    assert summary["classes"]["ant"]["given"] == int((GIVEN == 0).sum())
    assert sum(c["predicted"] for c in summary["classes"].values()) == 200
    s.close()


def test_add_class_while_labeling(tmp_path):
    s = make(tmp_path)
    assert s.add_class('dog, the "good" one') == 3
    s.label(ids([150, 153]), 3)
    assert s.state.classes[3] == 'dog, the "good" one'
    assert s.state.predicted[150] == 3 and s.state.proba.shape == (200, 4)
    with pytest.raises(ValueError, match="already"):
        s.add_class("ant")
    with pytest.raises(ValueError, match="non-empty"):
        s.add_class("  ")
    s.close()
    reopened = Session.open(tmp_path / "j.nblabel.db")
    assert reopened.classes == [*CLASSES, 'dog, the "good" one'] and reopened.state.verified[153] == 3
    reopened.close()


def test_next_batch_and_neighbors(tmp_path):
    s = make(tmp_path, given=None, classes=CLASSES)
    s.label(ids([0, 1, 2]), "ant")
    batch = s.next_batch(5)
    assert len(batch) == 5 and len(set(batch)) == 5 and not {"0", "1", "2"} & set(batch)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = Xn @ Xn[7]
    sims[7] = -np.inf
    exact = ids(np.argsort(-sims)[:20])
    assert s.neighbors("7", 5) == exact[:5]  # from the graph's kNN lists
    assert s.neighbors("7", 20) == exact  # more than k: a fresh query
    s.close()


def test_a_session_holds_no_hnswlib_index_and_still_answers_exactly(tmp_path):
    # The index is a second copy of the embeddings with its links (400 MB at 1M x 64); a session keeps X.
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = Xn @ Xn[11]
    sims[11] = -np.inf
    exact = ids(np.argsort(-sims)[:40])
    s = make(tmp_path)
    assert s.graph._index is None and s.neighbors("11", 40) == exact
    s.close()
    reopened = Session.open(tmp_path / "j.nblabel.db")
    assert reopened.graph._index is None and reopened.neighbors("11", 40) == exact
    np.testing.assert_array_equal(reopened.graph.neighbors_, s.graph.neighbors_)
    reopened.close()


def test_layout_is_computed_once_and_cached_beside_the_journal(tmp_path, monkeypatch):
    import nblabel.layout

    calls = []

    def fake_umap_layout(graph, seed=0, **kw):  # UMAP itself is tested in test_layout.py
        calls.append(seed)
        return graph.similarities_[:, :2] * (seed + 1)

    monkeypatch.setattr(nblabel.layout, "umap_layout", fake_umap_layout)
    s = make(tmp_path)
    xy = s.layout()
    assert xy.shape == (200, 2) and xy.dtype == np.float32 and not xy.flags.writeable
    assert s.layout() is xy and calls == [0]
    s.close()
    reopened = Session.open(tmp_path / "j.nblabel.db")
    np.testing.assert_array_equal(reopened.layout(), xy)
    assert calls == [0]  # read from the cache file, not recomputed
    assert not np.array_equal(reopened.layout(seed=1), xy) and calls == [0, 1]
    reopened.close()


# --- reopening
def test_open_restores_labels_classes_and_undo_history(tmp_path):
    # Undo history belongs to a user: the same user= finds it again after reopening.
    s = make(tmp_path, user="ann")
    s.label(ids([150, 151]), "bee")
    s.add_class("elk")
    s.label("152", "elk")
    s.accept("0")
    s.undo()
    state = s.state
    s.close()
    r = Session.open(tmp_path / "j.nblabel.db", user="ann")
    np.testing.assert_array_equal(r.state.verified, state.verified)
    np.testing.assert_array_equal(r.state.predicted, state.predicted)
    assert r.classes == [*CLASSES, "elk"] and r.can_redo
    assert r.redo() and r.state.verified[0] == GIVEN[0]
    assert r.undo() and r.undo() and r.state.verified[152] == -1
    r.close()
    # The same constructor call resumes the journal instead of starting over.
    again = make(tmp_path, user="ann")
    assert again.state.verified[150] == 1 and again.can_undo
    again.close()


def test_opening_with_other_embeddings_is_refused(tmp_path):
    make(tmp_path).close()
    other = X + 0.01
    with pytest.raises(ValueError, match="fingerprint"):
        Session.open(tmp_path / "j.nblabel.db", embeddings=other)
    with pytest.raises(ValueError, match="other embeddings"):
        Session(other, given=GIVEN_NAMES, journal=tmp_path / "j.nblabel.db", k=8)
    with pytest.raises(ValueError, match="other given labels"):
        Session(X, journal=tmp_path / "j.nblabel.db", k=8)
    (tmp_path / "j.nblabel.db-embeddings.npy").unlink()
    with pytest.raises(FileNotFoundError, match="embeddings="):
        Session.open(tmp_path / "j.nblabel.db")
    Session.open(tmp_path / "j.nblabel.db", embeddings=X).close()


def test_two_sessions_on_one_journal_see_each_others_labels(tmp_path):
    a = make(tmp_path)
    b = Session.open(tmp_path / "j.nblabel.db")
    a.label("150", "ant")
    assert b.state.verified[150] == -1
    assert b.refresh() == 1 and b.state.verified[150] == 0
    b.add_class("elk")
    b.label("151", "elk")
    a.label("152", "cow")  # a change pulls the other session's events first; nothing is overwritten
    assert a.classes == [*CLASSES, "elk"]
    assert a.state.verified[[150, 151, 152]].tolist() == [0, 3, 2]
    b.refresh()
    np.testing.assert_array_equal(a.state.verified, b.state.verified)
    a.close()
    b.close()


# --- export / import
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_export_then_import_keeps_every_label(tmp_path, suffix):
    a = make(tmp_path)
    a.add_class('gnu, "wild"')
    a.label(ids([150, 151, 160]), 'gnu, "wild"')
    a.label(ids([0, 3]), "cow")
    a.accept(ids([1, 4]))
    path = a.export(tmp_path / f"labels{suffix}")
    b = make(tmp_path, name="fresh.nblabel.db")
    assert b.import_labels(path, add_classes=True) == 7  # the file brings a class b does not have yet
    assert b.classes == a.classes
    np.testing.assert_array_equal(b.state.verified, a.state.verified)
    assert b.import_labels(path) == 0  # nothing left to change
    columns = ["id", "given", "verified", "predicted", "confidence", "suspicion", "flagged", "corrected"]
    columns += ["outlier", "duplicate_group"]
    if suffix == ".json":
        doc = json.loads(path.read_text())
        assert doc["classes"] == a.classes and len(doc["items"]) == 200
        assert set(doc["items"][0]) == set(columns)
    else:
        frame = pd.read_csv(path, dtype={"id": str})
        assert list(frame.columns) == columns
        assert frame["suspicion"].isna().sum() == 80
    a.close()
    b.close()


def test_import_rejects_unknown_ids_and_bad_files(tmp_path):
    s = make(tmp_path)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["0", "zzz"], "verified": ["ant", "bee"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="zzz"):
        s.import_labels(bad)
    pd.DataFrame({"id": ["0"], "label": ["ant"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="'verified'"):
        s.import_labels(bad)
    with pytest.raises(ValueError, match=".csv or .json"):
        s.export(tmp_path / "labels.xlsx")
    assert s._store.last_seq == 0
    s.close()


# --- background mode
class BlockingUpdate:
    """Wrap Propagator.update so a test can hold the worker inside a propagation run."""

    def __init__(self, monkeypatch, fail_first: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[list[int]] = []
        self.fail_first = fail_first
        original = Propagator.update

        def update(prop, indices, labels):
            self.calls.append(sorted(np.asarray(indices).tolist()))
            self.entered.set()
            assert self.release.wait(10)
            if self.fail_first and len(self.calls) == 1:
                raise FloatingPointError("injected failure")
            return original(prop, indices, labels)

        monkeypatch.setattr(Propagator, "update", update)


def test_background_bursts_coalesce_into_one_rerun(tmp_path, monkeypatch):
    gate = BlockingUpdate(monkeypatch)
    s = make(tmp_path, background=True)
    seen: list[SessionState] = []
    s.subscribe(seen.append)
    s.label("150", "ant")
    assert gate.entered.wait(10)  # the worker is now busy with the first click
    for i in range(151, 161):
        s.label(str(i), "bee")
        # The label is journaled and visible at once; its predictions are pending.
        assert s.state.verified[i] == 1 and s.state.pending
    gate.release.set()
    state = s.wait()
    assert gate.calls == [[150], list(range(151, 161))]  # ten clicks, one rerun
    assert not state.pending and state.lp_seq == state.seq == 11
    reference = Propagator(s.graph, 3).fit(GIVEN, state.verified)
    np.testing.assert_array_equal(state.predicted, reference.predict())
    versions = [st_.version for st_ in seen]
    assert versions == sorted(versions) and seen[-1] is state
    s.close()


def test_readers_never_see_a_torn_state_while_the_worker_runs(tmp_path):
    s = make(tmp_path, background=True)
    torn: list[str] = []
    done = threading.Event()

    def read() -> None:
        last = 0
        while not done.is_set():
            state = s.state
            if state.version < last:
                torn.append("version went back")
            last = state.version
            reached = state.proba.max(axis=1) > 0
            # predicted, confidence and flagged come from the same propagation run as proba
            if not np.array_equal(state.predicted[reached], state.proba.argmax(axis=1)[reached]):
                torn.append("predicted does not match proba")
            if not np.allclose(state.confidence, state.proba.max(axis=1)):
                torn.append("confidence does not match proba")
            if (state.flagged & (state.verified >= 0)).any():
                torn.append("a verified item is flagged")

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(150, 180):
        s.label(str(i), i % 3)
    s.wait()
    done.set()
    reader.join()
    assert torn == []
    s.close()


def test_background_errors_are_surfaced_then_recovered(tmp_path, monkeypatch):
    gate = BlockingUpdate(monkeypatch, fail_first=True)
    gate.release.set()
    s = make(tmp_path, background=True)
    errors: list[BaseException] = []
    s.subscribe(lambda state: None, on_error=errors.append)
    s.label("150", "ant")
    with pytest.raises(RuntimeError, match="label propagation or a subscriber") as info:
        s.wait()
    assert isinstance(info.value.__cause__, FloatingPointError) and isinstance(errors[0], FloatingPointError)
    assert s.state.pending and s.state.verified[150] == 0  # the label itself was kept
    s.label("151", "ant")  # the next run starts from scratch and catches up
    state = s.wait()
    assert not state.pending and s.error is None
    reference = Propagator(s.graph, 3).fit(GIVEN, state.verified)
    np.testing.assert_allclose(state.proba, reference.proba_, atol=1e-6)
    s.stop_background()
    assert not s.background
    s.close()


def test_a_change_while_the_worker_stops_is_propagated_on_the_callers_thread(tmp_path):
    before = set(threading.enumerate())
    s = make(tmp_path, background=True)
    (worker,) = [t for t in set(threading.enumerate()) - before if t.name == "nblabel-lp"]
    join = worker.join

    def join_then_label(timeout=None):
        join(timeout)
        s.label("150", "ant")  # the worker has made its last run; stop_background has not returned

    worker.join = join_then_label
    s.stop_background()
    assert not s.background
    state = s.wait(timeout=10)  # no row is left waiting for a worker that has gone
    assert not state.pending and state.verified[150] == 0
    reference = Propagator(s.graph, 3).fit(GIVEN, state.verified)
    np.testing.assert_array_equal(state.predicted, reference.predict())
    s.label("151", "bee")  # and propagation goes on in the foreground with every row
    reference = Propagator(s.graph, 3).fit(GIVEN, s.state.verified)
    np.testing.assert_allclose(s.state.proba, reference.proba_, atol=1e-6)
    s.close()


def test_subscriber_errors_do_not_stop_updates(tmp_path):
    s = make(tmp_path)

    def broken(state):
        raise KeyError("widget bug")

    errors: list[BaseException] = []
    unsubscribe = s.subscribe(broken, on_error=errors.append)
    s.label("150", "ant")
    assert isinstance(s.error, KeyError) and isinstance(errors[0], KeyError)
    assert s.state.verified[150] == 0
    unsubscribe()
    s.label("151", "ant")
    assert len(errors) == 1  # the first label's final state only; nothing after unsubscribing
    s.close()


# --- property test
SMALL_X, _ = blobs(n=24, d=4, seed=1)
SMALL_GIVEN = np.array([i % 3 if i % 4 else -1 for i in range(24)])
SMALL_IDS = [f"item{i}" for i in range(24)]

ops = st.one_of(
    st.tuples(st.just("label"), st.lists(st.integers(0, 23), min_size=1, max_size=3), st.integers(0, 2)),
    st.tuples(st.just("unlabel"), st.lists(st.integers(0, 23), min_size=1, max_size=3), st.none()),
    st.tuples(
        st.just("accept"),
        st.lists(st.sampled_from(np.flatnonzero(SMALL_GIVEN >= 0).tolist()), min_size=1, max_size=3),
        st.none(),
    ),
    st.tuples(st.just("undo"), st.none(), st.none()),
    st.tuples(st.just("redo"), st.none(), st.none()),
)


class Model:
    """The obvious reference: a list of verified-label arrays and a cursor into it."""

    def __init__(self) -> None:
        self.history = [np.full(24, -1)]
        self.pos = 0

    def apply(self, kind: str, items, cls) -> None:
        if kind in ("undo", "redo"):
            self.pos = max(self.pos - 1, 0) if kind == "undo" else min(self.pos + 1, len(self.history) - 1)
            return
        new = self.history[self.pos].copy()
        for i in items:
            new[i] = cls if kind == "label" else -1 if kind == "unlabel" else SMALL_GIVEN[i]
        self.history = [*self.history[: self.pos + 1], new]
        self.pos += 1

    @property
    def verified(self) -> np.ndarray:
        return self.history[self.pos]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=15))
def test_random_change_sequences_match_a_simple_model_also_after_reopening(sequence):
    model = Model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.nblabel.db"
        s = Session(SMALL_X, ids=SMALL_IDS, given=SMALL_GIVEN, journal=path, k=3, user="ann")
        for kind, items, cls in sequence:
            apply_op(s, kind, items, cls)
            model.apply(kind, items, cls)
            np.testing.assert_array_equal(s.state.verified, model.verified)
        s.close()
        r = Session.open(path, user="ann")
        np.testing.assert_array_equal(r.state.verified, model.verified)
        assert r.can_undo == (model.pos > 0) and r.can_redo == (model.pos < len(model.history) - 1)
        # The reopened history walks back and forth exactly like the model's.
        while r.undo():
            model.apply("undo", None, None)
            np.testing.assert_array_equal(r.state.verified, model.verified)
        assert model.pos == 0
        while r.redo():
            model.apply("redo", None, None)
            np.testing.assert_array_equal(r.state.verified, model.verified)
        assert model.pos == len(model.history) - 1
        r.close()


def apply_op(s: Session, kind: str, items, cls) -> None:
    names = [SMALL_IDS[i] for i in items] if items else None
    if kind == "label":
        s.label(names, cls)
    elif kind == "unlabel":
        s.unlabel(names)
    elif kind == "accept":
        s.accept(names)
    else:
        getattr(s, kind)()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1), ops), max_size=15))
def test_two_sessions_interleaving_changes_converge_on_the_model(sequence):
    model = Model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.nblabel.db"
        # One person in two notebooks (the same user=) has one linear history, like the model's.
        sessions = [Session(SMALL_X, ids=SMALL_IDS, given=SMALL_GIVEN, journal=path, k=3, user="ann")]
        sessions.append(Session.open(path, user="ann"))
        for who, (kind, items, cls) in sequence:
            # Every change pulls the other session's events first, so the journal order is the call order.
            apply_op(sessions[who], kind, items, cls)
            model.apply(kind, items, cls)
            np.testing.assert_array_equal(sessions[who].state.verified, model.verified)
        for s in sessions:
            s.refresh()
            np.testing.assert_array_equal(s.state.verified, model.verified)
            assert s.can_undo == (model.pos > 0)
            s.close()
