"""The scorer's pre-review reference: computed once, bit for bit the no-review result, kept in a side file."""

from __future__ import annotations

import numpy as np
import pytest

import nblabel.scoring as scoring
from nblabel.cache import cached_reference
from nblabel.degrade import inject_label_noise
from nblabel.graph import KnnGraph
from nblabel.quality import MIN_REVIEWS, NoiseEstimate
from nblabel.scoring import LPInputs, Scorer
from nblabel.session import Session


def _blobs(n=600, seed=0):
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(30), n // 30)
    X = (rng.normal(size=(30, 12))[blob] * 4 + rng.normal(size=(n, 12))).astype(np.float32)
    y = blob % 3
    return X, y, inject_label_noise(y, 0.15, "symmetric", seed=seed)


def test_given_alone_is_the_result_without_reviews_bit_for_bit():
    X, _, given = _blobs()
    given = np.where(np.random.default_rng(1).random(given.size) < 0.3, -1, given).astype(np.int32)
    scorer = Scorer(KnnGraph(k=8).fit(X), given, t=20)
    none = np.full(given.size, -1, np.int32)
    lp = scorer.run(LPInputs(seq=0, n_classes=3, verified=none, changed=set()))
    noise, s0, thresholds, alternative, offsets = scorer._given_alone(3)
    np.testing.assert_array_equal(s0, lp.suspicion)  # NaN where there is no given label, in both
    assert noise == lp.noise
    np.testing.assert_array_equal(thresholds, lp.thresholds)
    np.testing.assert_array_equal(alternative, lp.alternative)
    np.testing.assert_array_equal(offsets, scorer._reference.offsets)


def _reviewed_session(journal, X, y, given, reviews):
    s = Session(X, given=given, journal=journal)
    for _ in range(reviews):
        item = s.suspects(1).index[0]
        s.label(item, int(y[int(item)]))
    out = s.summary(), s.suspect_order(), s.state.flagged.copy()
    s.close()
    return out


def _no_propagation(*args, **kwargs):
    raise AssertionError("the reference was recomputed; expected it read from its side file")


@pytest.mark.parametrize(
    "damage",
    ["none", "garbage", "other labels", "bad suspicion", "bad thresholds", "bad alternative", "bad offsets"],
)
def test_reopened_session_reads_the_reference_or_rebuilds_a_bad_one(tmp_path, monkeypatch, damage):
    X, y, given = _blobs()
    journal = tmp_path / "j.nblabel.db"
    summary, order, flagged = _reviewed_session(journal, X, y, given, MIN_REVIEWS + 4)
    (ref,) = tmp_path.glob("j.nblabel.db-reference-*.npz")  # written by the first run, before any review
    if damage == "garbage":
        ref.write_bytes(b"not an npz file")
    elif damage == "other labels":
        # A valid file of another session (other given labels) under this name: never read as this one.
        other = tmp_path / "other" / "j.nblabel.db"
        other.parent.mkdir()
        _reviewed_session(other, X, y, np.roll(given, 1), 0)
        ref.write_bytes(next(other.parent.glob("*-reference-*.npz")).read_bytes())
    elif damage == "bad suspicion":
        with np.load(ref) as z:
            parts = dict(z)
        parts["suspicion"] = np.nan_to_num(parts["suspicion"]) * 3  # out of [0, 1], and NaN in the wrong rows
        np.savez(ref, **parts)
    elif damage == "bad thresholds":
        with np.load(ref) as z:
            parts = dict(z)
        parts["thresholds"] = -parts["thresholds"][:-1]  # one class short, and not positive
        np.savez(ref, **parts)
    elif damage == "bad alternative":
        with np.load(ref) as z:
            parts = dict(z)
        parts["alternative"] = parts["alternative"] + 100  # not a class
        np.savez(ref, **parts)
    elif damage == "bad offsets":
        with np.load(ref) as z:
            parts = dict(z)
        parts["offsets"] = np.full_like(parts["offsets"], np.inf)  # not a log-odds
        np.savez(ref, **parts)
    if damage == "none":
        # Nothing is propagated for the reference on reopening: it comes from the side file.
        monkeypatch.setattr(scoring, "propagate_labels", _no_propagation)
    s = Session(X, given=given, journal=journal)
    assert s.summary()["reviewed"] == MIN_REVIEWS + 4
    assert s.summary() == summary
    np.testing.assert_array_equal(s.suspect_order(), order)
    np.testing.assert_array_equal(s.state.flagged, flagged)
    s.close()
    # A damaged file was rebuilt: the next reopen reads it.
    monkeypatch.setattr(scoring, "propagate_labels", _no_propagation)
    s = Session(X, given=given, journal=journal)
    np.testing.assert_array_equal(s.suspect_order(), order)
    s.close()


def test_reopened_without_the_file_propagates_the_given_labels_alone(tmp_path):
    X, y, given = _blobs(seed=2)
    journal = tmp_path / "j.nblabel.db"
    summary, order, flagged = _reviewed_session(journal, X, y, given, MIN_REVIEWS + 2)
    (ref,) = tmp_path.glob("j.nblabel.db-reference-*.npz")
    ref.unlink()
    s = Session(X, given=given, journal=journal)
    assert s.summary() == summary
    np.testing.assert_array_equal(s.suspect_order(), order)
    np.testing.assert_array_equal(s.state.flagged, flagged)
    s.close()
    assert len(list(tmp_path.glob("j.nblabel.db-reference-*.npz"))) == 1


def test_cached_reference_is_named_by_everything_it_depends_on(tmp_path):
    journal = tmp_path / "j.nblabel.db"
    given = np.array([0, 1, -1, 2, 0], np.int32)
    calls = []

    def compute(g=given):
        calls.append(1)
        s = np.where(g >= 0, 0.25, np.nan).astype(np.float32)
        alternative = np.where(g >= 0, (g + 1) % 3, -1).astype(np.int32)
        offsets = np.arange(9, dtype=np.float32).reshape(3, 3) - 4
        return (
            NoiseEstimate(0.1, 0.05, 0.2, 0.4),
            s,
            np.array([0.5, 0.75, 1.0], np.float32),
            alternative,
            offsets,
        )

    params = {"k": 10, "t": 20}
    est, s, t, alt, offsets = cached_reference(journal, "fp", params, given, 3, compute)
    again = cached_reference(journal, "fp", params, given, 3, compute)
    assert len(calls) == 1 and again[0] == est
    np.testing.assert_array_equal(again[1], s)
    np.testing.assert_array_equal(again[2], t)
    np.testing.assert_array_equal(again[3], alt)
    np.testing.assert_array_equal(again[4], offsets)
    other = given.copy()
    other[2] = 1
    for args in (("fp2", params, given, 3), ("fp", {"k": 11, "t": 20}, given, 3), ("fp", params, given, 4)):
        cached_reference(journal, *args, compute)
    cached_reference(journal, "fp", params, other, 3, lambda: compute(other))
    assert len(calls) == 5 and len(list(tmp_path.glob("j.nblabel.db-reference-*.npz"))) == 5


def test_given_alone_holds_one_result_array_not_four(monkeypatch):
    import tracemalloc

    n, c = 4000, 64
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 8)).astype(np.float32)
    given = np.where(rng.random(n) < 0.5, rng.integers(0, c, n), -1).astype(np.int32)
    scorer = Scorer(KnnGraph(k=8).fit(X), given, t=20)
    _ = scorer.graph.normalized_  # the graph's matrix is built on first use: not the reference's memory
    monkeypatch.setattr(scoring, "REFERENCE_ROWS", 500)
    one = n * c * 4  # one (n, c) float32 array
    tracemalloc.start()
    try:
        scorer._given_alone(c)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The result, two blocks of 8 columns while propagating, the given rows' copy for the thresholds, and
    # (n,) vectors; it used to be the seeds, their copy, the output and two normalised copies (5 arrays).
    assert peak <= 2.2 * one + 40 * n, peak / one
