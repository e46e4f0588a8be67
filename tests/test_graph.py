import warnings

import numpy as np
import pytest

from nblabel.graph import AUTO_T_SCALE, KnnGraph, affinity, auto_temperature, normalized_affinity


def _data(n=200, d=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _exact_knn(X, k):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1)[:, :k], S


def test_fit_matches_exact_knn_without_self():
    X = _data()
    g = KnnGraph(k=5).fit(X)
    exact, S = _exact_knn(X, 5)
    assert g.neighbors_.shape == (200, 5) and g.neighbors_.dtype == np.int32
    assert g.similarities_.dtype == np.float32
    assert not (g.neighbors_ == np.arange(200)[:, None]).any()
    for a, b in zip(g.neighbors_, exact, strict=True):
        assert set(a) == set(b)
    np.testing.assert_allclose(g.similarities_, np.take_along_axis(S, g.neighbors_, 1), atol=1e-5)
    assert np.all(np.diff(g.similarities_, axis=1) <= 1e-6)  # most similar first


def test_exact_duplicates_never_list_self():
    base = _data(40, 4)
    X = np.vstack([base, base, base])  # each point has two exact copies
    g = KnnGraph(k=4).fit(X)
    rows = np.arange(len(X))[:, None]
    assert not (g.neighbors_ == rows).any()
    # Both copies are at similarity 1 and must be among the neighbours.
    copies = np.stack([(rows[:, 0] + 40) % 120, (rows[:, 0] + 80) % 120], axis=1)
    for nb, cp in zip(g.neighbors_, copies, strict=True):
        assert set(cp) <= set(nb)


def test_recall_counts_ties_so_duplicates_raise_no_false_alarm():
    # Three copies of each point: which equally near copy comes back is arbitrary, and the graph above is
    # exact. Counting neighbours by index called that recall 0.79 and warned the user to rebuild.
    base = _data(40, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = KnnGraph(k=4).fit(np.vstack([base, base, base]))
    assert g.recall_ == 1.0
    assert len({tuple(sorted(r)) for r in g.neighbors_}) > 1


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("T", [0.005, 0.05, 1.0])
def test_normalized_matches_dense_reference(symmetric, T, dense_normalized_affinity):
    g = KnnGraph(k=6, T=T, symmetric=symmetric).fit(_data(120, 6, seed=3))
    ref = dense_normalized_affinity(g.neighbors_, g.similarities_, T, symmetric)
    Wn = g.normalized_.toarray()
    np.testing.assert_allclose(Wn, ref, rtol=1e-5, atol=1e-7)
    assert g.normalized_.dtype == np.float32 and g.affinity_.shape == (120, 120)
    if symmetric:
        np.testing.assert_allclose(Wn, Wn.T, atol=1e-7)


def _dense_affinity(nbrs, sims, T, symmetric):
    """Eq. 2 in float64 with graph.py's global factor exp(-1 / T): exp((s - 1) / T) on the kNN pattern."""
    n = nbrs.shape[0]
    W = np.zeros((n, n))
    for i in range(n):
        W[i, nbrs[i]] = np.exp((sims[i].astype(np.float64) - 1.0) / T)
    return W + W.T if symmetric else W


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("T", [0.005, 0.05, 1.0])
def test_affinity_and_degrees_match_dense_reference(symmetric, T):
    g = KnnGraph(k=6, T=T, symmetric=symmetric).fit(_data(120, 6, seed=3))
    ref = _dense_affinity(g.neighbors_, g.similarities_, T, symmetric)
    W = g.affinity_
    assert W.dtype == np.float32 and W.has_sorted_indices
    # W is recomputed from Wn (one more float32 rounding): a relative few 1e-7.
    np.testing.assert_allclose(W.toarray(), ref, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(np.exp(g.log_degree_), ref.sum(axis=1), rtol=1e-12)
    # The same pattern as Wn (an entry that underflows float32 is an explicit 0, as in a W built directly).
    Wn = g.normalized_
    np.testing.assert_array_equal(W.indices, Wn.indices)
    np.testing.assert_array_equal(W.indptr, Wn.indptr)


def test_affinity_underflow_at_tiny_T_keeps_normalized_finite():
    # Neighbours far below the best similarity: exp((s - 1) / T) underflows, Wn (log space) does not.
    nbrs = np.array([[1, 2], [0, 2], [0, 1]], np.int32)
    sims = np.array([[0.5, 0.5004], [0.5, 0.5002], [0.5004, 0.5002]], np.float32)
    Wn, logd = normalized_affinity(nbrs, sims, 1e-3, True)
    assert np.isfinite(Wn.data).all() and (Wn.data > 0).all() and np.isfinite(logd).all()
    W = affinity(Wn, logd)
    assert (W.data == 0).all()  # e^-500 is 0 in float32, as exp((s - 1) / T) would be


def test_graph_holds_one_matrix_and_affinity_cannot_change_it():
    import tracemalloc

    g = KnnGraph(k=10).fit(_data(3000, 8, seed=4))
    tracemalloc.start()
    try:
        Wn = g.normalized_
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one = Wn.data.nbytes + Wn.indices.nbytes + Wn.indptr.nbytes
    # Wn and the log-degrees (8 bytes per item); W and Wn together used to be two matrices.
    assert held <= one + 8 * g.n_items_ + 64_000, (held, one)
    W = g.affinity_
    assert g.affinity_ is not W  # computed on each access, not kept
    with pytest.raises(ValueError, match="read-only"):
        W.indices[0] = 1  # shared with Wn: read-only
    with pytest.raises(ValueError):
        W.eliminate_zeros()  # a pattern change would have to change Wn too
    np.testing.assert_array_equal(g.normalized_.toarray(), Wn.toarray())


def test_auto_temperature_rule():
    g = KnnGraph(k=5).fit(_data())
    q10, q90 = np.quantile(g.similarities_, [0.1, 0.9])
    assert g.T_ == pytest.approx(AUTO_T_SCALE * (q90 - q10))
    # Scale-free: squeezing similarities towards 1 shrinks T by the same factor.
    assert auto_temperature(1 - 0.1 * (1 - g.similarities_)) == pytest.approx(0.1 * g.T_, rel=1e-4)
    assert auto_temperature(np.ones((5, 3))) > 0
    assert KnnGraph(k=5, T=0.3).fit(_data()).T_ == 0.3


def test_query_finds_indexed_points_first():
    X = _data()
    g = KnnGraph(k=5).fit(X)
    idx, sims = g.query(X[:10] * 3.0)  # scale does not matter for cosine
    np.testing.assert_array_equal(idx[:, 0], np.arange(10))
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
    assert g.query(X[:1], k=3)[0].shape == (1, 3)
    with pytest.raises(ValueError, match="features per row"):
        g.query(np.ones((2, 3)))


def test_add_matches_exact_knn_of_all_items():
    X = _data(300, 8, seed=1)
    g = KnnGraph(k=5).fit(X[:200])
    new = g.add(X[200:])
    np.testing.assert_array_equal(new, np.arange(200, 300))
    assert g.n_items_ == 300 and g.normalized_.shape == (300, 300)
    exact, _ = _exact_knn(X, 5)
    agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(g.neighbors_, exact, strict=True)])
    assert agree > 0.99
    assert not (g.neighbors_ == np.arange(300)[:, None]).any()


def test_save_load_roundtrip(tmp_path):
    X = _data()
    g = KnnGraph(k=4, T=0.2, symmetric=False, seed=3).fit(X)
    path = tmp_path / "graph.npz"
    g.save(path)
    h = KnnGraph.load(path)
    assert (h.k, h.T, h.symmetric, h.seed, h.T_) == (4, 0.2, False, 3, g.T_)
    np.testing.assert_array_equal(h.neighbors_, g.neighbors_)
    np.testing.assert_array_equal(h.normalized_.toarray(), g.normalized_.toarray())
    np.testing.assert_array_equal(h.query(X[:5])[0], g.query(X[:5])[0])
    h.add(_data(5, 8, seed=9))
    assert h.n_items_ == 205
    with pytest.raises(ValueError, match="does not exist"):
        KnnGraph.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "kwargs, X, fragment",
    [
        ({"k": 5}, _data(5), "k=5 with n=5"),
        ({"k": 2}, np.ones((1, 3)), "n=1"),
        ({"k": 2}, np.empty((0, 3)), "n=0"),
        ({"T": -1.0}, _data(), "T"),
        ({"T": "hot"}, _data(), "auto"),
        ({"M": 1}, _data(), "M"),
    ],
)
def test_bad_input(kwargs, X, fragment):
    with pytest.raises(ValueError, match=fragment):
        KnnGraph(**kwargs).fit(X)


def test_unfitted_graph_raises():
    with pytest.raises(ValueError, match="fit"):
        KnnGraph().query(_data(3))


def test_progress_bar_while_building(capsys):
    X = np.random.default_rng(0).standard_normal((3000, 8)).astype(np.float32)
    quiet = KnnGraph(k=5, num_threads=1).fit(X)  # small sets build in a blink: no bar by default
    assert "kNN graph" not in capsys.readouterr().err
    shown = KnnGraph(k=5, num_threads=1, progress=True).fit(X)
    err = capsys.readouterr().err
    assert "kNN graph: neighbours" in err and "6000/6000" in err
    # One thread: the same insertion order, so the same index and lists.
    np.testing.assert_array_equal(np.sort(shown.neighbors_, axis=1), np.sort(quiet.neighbors_, axis=1))


def _true_recall(graph, X):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = Xn @ Xn.T
    np.fill_diagonal(sims, -np.inf)
    exact = np.argpartition(-sims, graph.k - 1, axis=1)[:, : graph.k]
    return (graph.neighbors_[:, :, None] == exact[:, None, :]).any(axis=2).mean()


def test_ef_is_raised_until_the_recall_suffices():
    # A poor index (M=8, ef_construction=16) on 64-d noise: the starting width is not enough.
    X = np.random.default_rng(0).standard_normal((4000, 64)).astype(np.float32)
    fixed = KnnGraph(k=10, M=8, ef_construction=16, ef=16, num_threads=1).fit(X)
    assert fixed.ef_ == 16
    assert abs(fixed.recall_ - _true_recall(fixed, X)) < 0.05  # the sample estimate tracks the truth
    auto = KnnGraph(k=10, M=8, ef_construction=16, num_threads=1).fit(X)
    assert auto.ef_ > 64 and auto.recall_ >= 0.97
    assert _true_recall(auto, X) >= 0.95 > _true_recall(fixed, X)
    # An index too poor for any width says so, and what to do.
    with pytest.warns(UserWarning, match="ef_construction"):
        KnnGraph(k=10, M=4, ef_construction=4, num_threads=1).fit(X)


def test_chosen_ef_survives_save_and_load(tmp_path):
    X = np.random.default_rng(1).standard_normal((2000, 32)).astype(np.float32)
    g = KnnGraph(k=10, M=4, ef_construction=4).fit(X)
    g.save(tmp_path / "g.npz")
    back = KnnGraph.load(tmp_path / "g.npz")
    assert (back.ef_, back.recall_) == (g.ef_, g.recall_)
    np.testing.assert_array_equal(back.query(X[:5])[0], g.query(X[:5])[0])


def test_drop_index_serves_vectors_and_exact_queries_from_the_embeddings(tmp_path):
    X = _data(500, 16, seed=3)
    g = KnnGraph(k=5).fit(X)
    before = g.vectors(np.arange(20))
    g.save(tmp_path / "g.npz")
    g.drop_index(X)
    assert g._index is None
    np.testing.assert_allclose(g.vectors(np.arange(20)), before, atol=1e-6)
    # Queries are now exact: the same as brute force, most similar first.
    Q = _data(7, 16, seed=4)
    idx, sims = g.query(Q, k=12)
    Qn, Xn = Q / np.linalg.norm(Q, axis=1, keepdims=True), X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Qn @ Xn.T
    np.testing.assert_array_equal(idx, np.argsort(-S, axis=1)[:, :12])
    np.testing.assert_allclose(sims, np.take_along_axis(S, idx, 1), atol=1e-5)
    # What needs the index says so, and what to do.
    for call in (lambda: g.add(Q), lambda: g.save(tmp_path / "again.npz")):
        with pytest.raises(ValueError, match="drop_index"):
            call()
    with pytest.raises(ValueError, match=r"shape \(500, 16\)"):
        KnnGraph(k=5).fit(X).drop_index(X[:-1])


def test_load_with_embeddings_skips_the_index(tmp_path):
    X = _data(400, 8, seed=5)
    g = KnnGraph(k=6).fit(X)
    g.save(tmp_path / "g.npz")
    back = KnnGraph.load(tmp_path / "g.npz", X=X)
    assert back._index is None
    np.testing.assert_array_equal(back.neighbors_, g.neighbors_)
    assert (back.affinity_ != g.affinity_).nnz == 0
    np.testing.assert_array_equal(back.query(X[:5], k=3)[0][:, 0], np.arange(5))  # each finds itself first
    with pytest.raises(ValueError, match="shape"):
        KnnGraph.load(tmp_path / "g.npz", X=X[:10])
