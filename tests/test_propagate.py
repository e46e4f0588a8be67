import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nblabel.propagate as propagate_module
from nblabel.graph import KnnGraph
from nblabel.propagate import COLUMN_BLOCK, Propagator, knn_classify, propagate, propagate_labels


def _graph(n=150, d=6, k=6, seed=0, **kw):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return KnnGraph(k=k, **kw).fit(X)


def _dense_lp(Wn, Y0, clamped, t):
    """Plain NumPy Eq. 3: t steps of Y <- Wn Y, clamped rows reset to Y0."""
    Y = Y0.astype(np.float64)
    for _ in range(t):
        Y = Wn @ Y
        Y[clamped] = Y0[clamped]
    return Y


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("with_clamped", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_propagate_matches_dense_reference(symmetric, with_clamped, seed, dense_normalized_affinity):
    g = _graph(seed=seed, T=0.1, symmetric=symmetric)
    rng = np.random.default_rng(seed)
    Y0 = np.zeros((g.n_items_, 3), np.float32)
    seeds = rng.choice(g.n_items_, 30, replace=False)
    Y0[seeds, rng.integers(0, 3, 30)] = 1.0
    clamped = np.zeros(g.n_items_, bool)
    if with_clamped:
        clamped[seeds[:15]] = True
    Wn = dense_normalized_affinity(g.neighbors_, g.similarities_, 0.1, symmetric)
    ref = _dense_lp(Wn, Y0, clamped, 20)
    out = propagate(g.normalized_, Y0, clamped, t=20)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("symmetric", [True, False])
def test_many_classes_run_in_blocks_and_match_dense_reference(symmetric, dense_normalized_affinity):
    c = 2 * COLUMN_BLOCK + 3  # three blocks, the last one short
    g = _graph(n=200, seed=4, T=0.1, symmetric=symmetric)
    rng = np.random.default_rng(4)
    labels = np.where(rng.random(200) < 0.4, rng.integers(0, c, 200), -1)
    Y0 = np.zeros((200, c), np.float32)
    Y0[np.flatnonzero(labels >= 0), labels[labels >= 0]] = 1.0
    clamped = (labels >= 0) & (rng.random(200) < 0.5)
    Wn = dense_normalized_affinity(g.neighbors_, g.similarities_, 0.1, symmetric)
    np.testing.assert_allclose(
        propagate(g.normalized_, Y0, clamped), _dense_lp(Wn, Y0, clamped, 20), atol=1e-5
    )
    # The one-hot seeds made a block at a time give the same bits as propagating them all at once, and the
    # Propagator's own full run (all classes in one product) gives the same bits too.
    out = propagate_labels(g.normalized_, labels, c)
    np.testing.assert_array_equal(out, propagate(g.normalized_, Y0, np.zeros(200, bool)))
    np.testing.assert_array_equal(out, Propagator(g, c).fit(labels).result_)
    with pytest.raises(ValueError, match="labels"):
        propagate_labels(g.normalized_, np.full(200, c), c)


def test_threaded_products_are_bit_identical(monkeypatch):
    g = _graph(n=400, seed=3)
    rng = np.random.default_rng(3)
    Y0 = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 400)]
    clamped = rng.random(400) < 0.1
    single = propagate(g.normalized_, Y0, clamped, num_threads=1)
    monkeypatch.setattr(propagate_module, "PARALLEL_MIN_NNZ", 100)  # small graph, still split across threads
    np.testing.assert_array_equal(propagate(g.normalized_, Y0, clamped, num_threads=3), single)


def test_two_clusters_one_label_each():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (60, 5)) + 3, rng.normal(0, 0.1, (60, 5)) - 3])
    truth = np.repeat([0, 1], 60)
    verified = np.full(120, -1)
    verified[[5, 100]] = [0, 1]
    p = Propagator(KnnGraph(k=5).fit(X), 2).fit(verified=verified)
    np.testing.assert_array_equal(p.predict(), truth)
    assert p.proba_.shape == (120, 2) and p.confidence.shape == (120,)
    np.testing.assert_allclose(p.proba_.sum(axis=1), 1.0, rtol=1e-5)


def test_fit_seeds_given_unclamped_and_verified_clamped():
    g = _graph()
    rng = np.random.default_rng(2)
    given = np.where(rng.random(g.n_items_) < 0.3, rng.integers(0, 4, g.n_items_), -1)
    verified = np.full(g.n_items_, -1)
    verified[:10] = rng.integers(0, 4, 10)  # overrides a given label on the same row
    p = Propagator(g, 4).fit(given, verified)
    Y0 = np.zeros((g.n_items_, 4), np.float32)
    lab = np.where(verified >= 0, verified, given)
    Y0[np.flatnonzero(lab >= 0), lab[lab >= 0]] = 1
    np.testing.assert_allclose(p.result_, propagate(g.normalized_, Y0, verified >= 0), atol=1e-6)
    np.testing.assert_array_equal(p.predict()[:10], verified[:10])


def _sparse_propagator(g, n_classes, **kw):
    # An unlimited max_work forces the sparse path even on a small graph, so the test exercises it.
    return Propagator(g, n_classes, max_work=1e9, max_error=10.0, **kw)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_update_sequence_matches_full_rerun_within_bound(eps):
    g = _graph(n=300, seed=4)
    rng = np.random.default_rng(4)
    given = np.where(rng.random(300) < 0.5, rng.integers(0, 3, 300), -1)
    p = _sparse_propagator(g, 3, eps=eps).fit(given)
    steps = [([7], 1), ([7], 2), ([7], -1), ([11, 12, 13], [0, 1, 2]), ([12], -1), ([40, 40], [0, 2])]
    for idx, lab in steps:
        p.update(idx, lab)
        assert p.last_update_["mode"] == "sparse"
        full = Propagator(g, 3).fit(given, p.verified_)
        err = float(np.linalg.norm(p.result_ - full.result_))
        assert err <= p.error_bound_ + 1e-5
        np.testing.assert_allclose(p.proba_, full.proba_, atol=p.error_bound_ * 10 + 1e-4)
    assert p.verified_[40] == 2 and p.verified_[7] == -1
    if eps == 0.0:
        assert p.error_bound_ == 0.0
    else:
        assert 0.0 < p.error_bound_ <= len(steps) * p.t * eps


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(st.tuples(st.integers(0, 119), st.integers(-1, 2)), min_size=1, max_size=6),
    eps=st.sampled_from([0.0, 1e-4, 1e-2]),
)
def test_update_bound_holds_for_random_click_sequences(ops, eps):
    g = _graph(n=120, seed=5)
    given = np.random.default_rng(5).integers(-1, 3, 120)
    p = _sparse_propagator(g, 3, eps=eps).fit(given)
    for i, lab in ops:
        p.update([i], lab)
    full = Propagator(g, 3).fit(given, p.verified_)
    assert np.linalg.norm(p.result_ - full.result_) <= p.error_bound_ + 1e-5


def test_update_falls_back_to_full_rerun_and_stays_exact():
    g = _graph(n=200, seed=6)
    p = Propagator(g, 2, max_work=0.01).fit()  # any real spread exceeds 1 % of a full run
    p.update([3], 1)
    assert p.last_update_["mode"] == "full" and p.error_bound_ == 0.0
    np.testing.assert_allclose(p.result_, Propagator(g, 2).fit(verified=p.verified_).result_, atol=1e-7)
    p.update([3], 1)
    assert p.last_update_["mode"] == "none"


def test_updates_never_leave_negative_mass():
    # Labeling items one by one used to leave -7e-9 on some rows (float32 cancellation), which the quality
    # scores then rejected as invalid probabilities.
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    p = Propagator(KnnGraph(k=5).fit(X), 3).fit()
    for i in range(300):
        p.update([i], [i % 3])
        assert p.result_.min() >= 0.0, f"negative mass after labeling item {i}"
    assert np.isfinite(p.result_).all()


def test_update_on_asymmetric_graph():
    g = _graph(n=150, seed=7, symmetric=False)
    p = Propagator(g, 2).fit()
    p.update([0, 1], [0, 1])
    full = Propagator(g, 2).fit(verified=p.verified_)
    assert np.linalg.norm(p.result_ - full.result_) <= p.error_bound_ + 1e-5


def test_add_class_is_exact_and_labelable():
    g = _graph(n=150, seed=8)
    given = np.random.default_rng(8).integers(-1, 2, 150)
    p = _sparse_propagator(g, 2, eps=0.0).fit(given)
    assert p.add_class() == 2 and p.n_classes == 3
    assert p.result_.shape == (150, 3) and not p.result_[:, 2].any()
    p.update([5], 2)
    full = Propagator(g, 3).fit(given, p.verified_)
    np.testing.assert_allclose(p.result_, full.result_, atol=1e-5)
    assert p.predict()[5] == 2


def test_cold_start_and_unreached_items():
    g = _graph(n=100, seed=9)
    p = Propagator(g, 0).fit()
    assert (p.predict() == -1).all() and (p.confidence == 0).all()
    p.add_class()
    p.update([0], 0)
    pred = p.predict()
    assert pred[0] == 0 and set(np.unique(pred)) <= {-1, 0}
    assert np.all(p.confidence[pred == -1] == 0)


def test_knn_classify():
    rng = np.random.default_rng(10)
    X = np.vstack([rng.normal(0, 0.1, (50, 4)) + 2, rng.normal(0, 0.1, (50, 4)) - 2])
    labels = np.repeat([0, 1], 50)
    g = KnnGraph(k=5).fit(X)
    Xq = np.array([[2.0, 2, 2, 2], [-2.0, -2, -2, -2]]) + 0.05
    proba = knn_classify(g, Xq, labels)
    np.testing.assert_array_equal(proba.argmax(axis=1), [0, 1])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    soft = np.eye(2, dtype=np.float32)[labels]
    np.testing.assert_allclose(knn_classify(g, Xq, soft), proba, atol=1e-6)
    none = knn_classify(g, Xq, np.full(100, -1), n_classes=2)
    assert not none.any()
    with pytest.raises(ValueError, match="rows"):
        knn_classify(g, Xq, soft[:10])


def test_bad_input():
    g = _graph(n=50)
    with pytest.raises(ValueError, match="fitted"):
        Propagator(KnnGraph(), 2)
    with pytest.raises(ValueError, match="given"):
        Propagator(g, 2).fit(np.zeros(49, int))
    with pytest.raises(ValueError, match="verified"):
        Propagator(g, 2).fit(verified=np.full(50, 2))
    with pytest.raises(ValueError, match="t"):
        Propagator(g, 2, t=0)
    p = Propagator(g, 2)
    with pytest.raises(ValueError, match="fit"):
        p.update([0], 1)
    p.fit()
    with pytest.raises(ValueError, match="0..49"):
        p.update([50], 1)
    with pytest.raises(ValueError, match="verified_labels"):
        p.update([1], 5)
    with pytest.raises(ValueError, match="clamped"):
        propagate(g.normalized_, np.zeros((50, 2)), np.zeros(3, bool))
    with pytest.raises(ValueError, match="Y0"):
        propagate(g.normalized_, np.zeros((49, 2)), np.zeros(50, bool))


@settings(max_examples=25, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.lists(st.integers(0, 119), min_size=1, max_size=3), st.integers(-1, 2)),
        min_size=1,
        max_size=6,
    ),
    eps=st.sampled_from([0.0, 1e-4, 1e-2]),
    t=st.sampled_from([1, 4, 20]),
    every=st.sampled_from([1, 2, 3, 5, 7, 30]),
    symmetric=st.booleans(),
)
def test_checkpointed_update_matches_full_rerun_for_any_spacing(ops, eps, t, every, symmetric):
    # The update recomputes the old values of the changed rows from checkpoints kept every `every` steps;
    # whatever the spacing (1 = every step kept, 30 > t = none kept), it stays within its bound.
    g = _graph(n=120, seed=11, symmetric=symmetric)
    given = np.random.default_rng(11).integers(-1, 3, 120)
    p = _sparse_propagator(g, 3, eps=eps, t=t, checkpoint_every=every).fit(given)
    for idx, lab in ops:
        p.update(idx, lab)
        # (On the asymmetric graph rho > 1 can push a large eps past max_error: a full rerun, as documented.)
        assert p.last_update_["mode"] in ("sparse", "none") or (not symmetric and eps > 0)
    full = Propagator(g, 3, t=t).fit(given, p.verified_)
    assert np.linalg.norm(p.result_ - full.result_) <= p.error_bound_ + 1e-5
    # The kept iterates are those of a run with the current labels, up to the same bound.
    again = Propagator(g, 3, t=t, checkpoint_every=every).fit(given, p.verified_)
    for mine, ref in zip(p._ckpt, again._ckpt, strict=True):
        assert np.linalg.norm(mine - ref) <= p.error_bound_ + 1e-5


def test_memory_is_a_few_arrays_not_the_trajectory():
    # The whole pre-clamp trajectory (t = 20 arrays of n x c) used to be kept: 20 x 160 kB here.
    import tracemalloc

    g = _graph(n=4000, d=8, seed=12)
    given = np.random.default_rng(12).integers(-1, 10, 4000)
    one = 4000 * 10 * 4  # bytes of one (n, c) float32 array
    _ = g.normalized_  # the graph's matrices are built on first use: not propagation's memory
    tracemalloc.start()
    try:
        p = Propagator(g, 10, t=20).fit(given)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # result_, proba_ and (20 - 1) // 7 = 2 checkpoints, plus the run's seed and work arrays at the peak.
    assert held <= 6 * one and peak <= 8 * one, (held / one, peak / one)
    assert len(p._ckpt) == 2
    p.update([0, 1, 2], [3, 4, 5])
    assert p.last_update_["mode"] in ("sparse", "full")
