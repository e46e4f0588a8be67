"""Scores the session updates row by row after each click equal a from-scratch computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nblabel.heldout import heldout_core_noise
from nblabel.propagate import Propagator, propagate_labels
from nblabel.quality import (
    MIN_REVIEWS,
    calibrate,
    class_thresholds,
    core_noise,
    flag_label_issues,
    flags_from_evidence,
    label_evidence,
    noise_estimate,
    prior_flags,
    suspicion,
)
from nblabel.session import Session

CLASSES = ["a", "b", "c", "d"]


def many_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 tight blobs of 15 points (class = blob % 4): one click moves LP in one blob only, so updates stay
    on the sparse path.

    Returns (X (600, 16) float32, true labels, given labels with 15 % flipped and 30 % none).
    """
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(40), 15)
    X = (rng.normal(size=(40, 16))[blob] * 6 + rng.normal(size=(600, 16))).astype(np.float32)
    y = blob % 4
    given = y.copy()
    flip = rng.random(600) < 0.15
    given[flip] = (given[flip] + rng.integers(1, 4, flip.sum())) % 4
    given[rng.random(600) < 0.3] = -1
    return X, y, given


def assert_matches_scratch(s: Session) -> None:
    """The state equals the scores computed from scratch with the reference's class thresholds."""
    st = s.state
    P, given, verified = st.proba, st.given, st.verified
    t = s._lp.thresholds
    # The thresholds are those of the given labels propagated alone, whatever was verified since.
    np.testing.assert_array_equal(
        t, class_thresholds(Propagator(s.graph, P.shape[1]).fit(given).proba_, given)
    )
    np.testing.assert_array_equal(st.confidence, P.max(axis=1))
    np.testing.assert_array_equal(st.predicted, np.where(P.max(axis=1) > 0, P.argmax(axis=1), -1))
    np.testing.assert_array_equal(st.suspicion, suspicion(P, given, t))  # NaN positions must match too
    susp, alt = label_evidence(P, given, t)
    # The estimate before reviews is the given labels', each judged by the propagation of the others.
    c, Wn = P.shape[1], s.graph.normalized_
    alone = propagate_labels(Wn, given, c)
    core = heldout_core_noise(Wn, given, c, 20, alone)
    s0, alt0 = label_evidence(alone, given, t)
    _, prior, offsets = flags_from_evidence(s0, given, alt0, core)
    ref = s._scorer._reference_for(c, None)
    assert ref.noise == prior
    np.testing.assert_allclose(ref.offsets, offsets, atol=1e-4)  # its suspicion from rows normalised in place
    rev = np.flatnonzero((verified >= 0) & (given >= 0))
    found = int((verified[rev] != given[rev]).sum())
    flags = prior_flags(susp, given, prior.errors, alt, ref.offsets)
    # The errors found are no longer unreviewed; the reviews are counted (the panel says how many).
    noise = replace(prior, errors=max(prior.errors - found, 0.0), reviewed=rev.size)
    if rev.size >= MIN_REVIEWS:
        flags, noise = calibrate(
            ref.noise, susp, given, verified, ref.suspicion, ref.keys, ref.alternative, ref.offsets
        )
    np.testing.assert_array_equal(st.flagged, flags & (verified < 0))
    assert st.noise == noise


def test_label_evidence_gives_the_same_flags_as_flag_label_issues():
    rng = np.random.default_rng(3)
    P = rng.random((300, 5)).astype(np.float32) ** 4
    P[:7] = 0.0  # rows LP never reached
    given = rng.integers(-1, 5, 300)
    susp, alt = label_evidence(P, given, class_thresholds(P, given))
    Pn = P / np.maximum(P.sum(axis=1, keepdims=True), 1e-30)
    conf = Pn.max(axis=1)
    core = core_noise(np.where(conf > 0, Pn.argmax(axis=1), -1), conf, given, 5)
    flags, est, _ = flags_from_evidence(susp, given, alt, core)
    np.testing.assert_array_equal(flags, flag_label_issues(P, given))
    assert est == noise_estimate(P, given)
    assert np.isnan(susp[given < 0]).all() and (alt[given < 0] == -1).all()
    assert (alt[flags] != given[flags]).all() and (susp[flags] > 0.5).all()


@pytest.mark.parametrize("background", [False, True])
def test_scores_after_random_clicks_equal_a_full_recompute(tmp_path, background):
    X, y, given = many_blobs()
    journal = tmp_path / "j.nblabel.db"
    s = Session(X, given=given, classes=CLASSES, journal=journal, k=5, background=background)
    rng = np.random.default_rng(1)
    modes = []
    for _ in range(60):
        action = rng.choice(["label", "label", "wrong", "unlabel", "accept", "undo"])
        i = str(int(rng.integers(0, 600)))
        if action == "label":
            s.label(i, int(y[int(i)]))
        elif action == "wrong":
            s.label(i, int((y[int(i)] + 1) % 4))
        elif action == "unlabel":
            s.unlabel(i)
        elif action == "accept" and given[int(i)] >= 0:
            s.accept(i)
        elif action == "undo":
            s.undo()
        s.wait()
        modes.append(s._scorer.propagator.last_update_["mode"])
        assert_matches_scratch(s)
    assert "sparse" in modes  # the row-wise path was exercised, not only full recomputes
    assert s.summary()["reviewed"] >= MIN_REVIEWS  # and so was review calibration
    s.close()


def test_the_page_rebuilt_from_state_patches_equals_the_session_state(tmp_path, monkeypatch):
    from nblabel.widget import Labeler

    X, y, given = many_blobs(seed=2)
    s = Session(X, given=given, classes=CLASSES, journal=tmp_path / "j.nblabel.db", k=5)
    monkeypatch.setattr(s, "layout", lambda *a, **k: np.zeros((600, 2), np.float32))  # no UMAP needed here
    w = Labeler(s)
    sent: list[tuple[dict, list]] = []
    w.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    w._on_message(w, {"type": "ready"}, [])
    rng = np.random.default_rng(4)
    for request in range(15):
        i = int(rng.integers(0, 600))
        w._on_message(w, {"type": "label", "request_id": request, "indices": [i], "cls": int(y[i])}, [])
        s.wait()
    page: dict[str, np.ndarray] = {}
    patches = 0
    for content, buffers in (m for m in sent if m[0]["type"] == "state"):
        fields = {
            f["name"]: np.frombuffer(bytes(b), dtype=f["dtype"]).reshape(f["shape"])
            for f, b in zip(content["fields"], buffers, strict=True)
        }
        rows = fields.pop("rows", None)
        patches += rows is not None
        for name, values in fields.items():
            if rows is None:
                page[name] = values.copy()
            else:
                page[name][rows] = values
    assert patches > 0
    for name in ("given", "verified", "predicted", "confidence", "suspicion", "flagged"):
        np.testing.assert_array_equal(page[name], np.asarray(getattr(s.state, name)).astype(page[name].dtype))
    w.close()
    s.close()
