import numpy as np
import pytest
import umap
import umap.umap_

from nblabel.graph import KnnGraph
from nblabel.layout import MIN_UMAP_ITEMS, knn_lists, umap_layout


def blobs(n_per: int, n_blobs: int = 3, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, d)) * 3.0
    X = np.concatenate([c + 0.3 * rng.normal(size=(n_per, d)) for c in centers]).astype(np.float32)
    return X, np.repeat(np.arange(n_blobs), n_per)


def separated(xy: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Largest distance of a point to its own cluster centre, smallest distance between centres."""
    centers = np.stack([xy[y == c].mean(axis=0) for c in np.unique(y)])
    intra = max(np.linalg.norm(xy[y == c] - centers[c], axis=1).max() for c in np.unique(y))
    gaps = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    inter = gaps[~np.eye(len(centers), dtype=bool)].min()
    return intra, inter


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs(30)
    return KnnGraph(k=8).fit(X), X, y


def test_knn_lists_prepend_self_and_use_cosine_distance(fitted):
    graph, X, _ = fitted
    indices, distances = knn_lists(graph)
    n, k = graph.neighbors_.shape
    assert indices.shape == distances.shape == (n, k + 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(n))
    np.testing.assert_array_equal(distances[:, 0], 0.0)
    np.testing.assert_array_equal(indices[:, 1:], graph.neighbors_)
    # Dense reference: cosine distance from the raw embeddings.
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    ref = 1.0 - np.einsum("id,ikd->ik", Xn, Xn[graph.neighbors_])
    np.testing.assert_allclose(distances[:, 1:], ref, atol=1e-5)


def test_umap_reuses_the_graph_lists_without_a_second_search(fitted, monkeypatch):
    graph, _, _ = fitted
    seen = {}

    def no_search(*args, **kwargs):
        raise AssertionError("UMAP ran its own neighbour search")

    monkeypatch.setattr(umap.umap_, "nearest_neighbors", no_search)

    class Spy(umap.UMAP):
        def fit(self, X, *args, **kwargs):
            out = super().fit(X, *args, **kwargs)
            seen["knn"] = (self._knn_indices.copy(), self._knn_dists.copy())
            return out

    monkeypatch.setattr(umap, "UMAP", Spy)
    umap_layout(graph, seed=0, n_epochs=50)
    indices, distances = knn_lists(graph)
    np.testing.assert_array_equal(seen["knn"][0], indices)
    np.testing.assert_allclose(seen["knn"][1], distances)


def test_umap_layout_keeps_clusters_apart_and_is_reproducible(fitted):
    graph, _, y = fitted
    xy = umap_layout(graph, seed=0)
    assert xy.shape == (len(y), 2) and xy.dtype == np.float32
    assert np.isfinite(xy).all()
    intra, inter = separated(xy, y)
    assert inter > 2 * intra
    np.testing.assert_array_equal(umap_layout(graph, seed=0), xy)


def test_small_sets_take_the_dense_fallback(monkeypatch):
    X, y = blobs(5, n_blobs=2, seed=1)
    assert len(X) < MIN_UMAP_ITEMS
    graph = KnnGraph(k=3).fit(X)

    def no_umap(*args, **kwargs):
        raise AssertionError("UMAP must not run for a tiny set")

    monkeypatch.setattr(umap, "UMAP", no_umap)
    xy = umap_layout(graph)
    assert xy.shape == (10, 2) and xy.dtype == np.float32
    assert np.isfinite(xy).all() and np.abs(xy).max() == pytest.approx(10.0)
    intra, inter = separated(xy, y)
    assert inter > intra


def test_reserved_kwargs_and_unfitted_graph_are_rejected(fitted):
    graph, _, _ = fitted
    with pytest.raises(ValueError, match="n_neighbors"):
        umap_layout(graph, n_neighbors=5)
    with pytest.raises(ValueError, match="graph.fit"):
        umap_layout(KnnGraph(k=5))


# -- the first map ------------------------------------------------------------------------------------------
from nblabel.layout import landmark_layout, neighbor_recall_2d  # noqa: E402


def test_neighbor_recall_2d_known_answers():
    # Points on a line, laid out on that line: the map neighbours are the graph neighbours.
    t = np.linspace(0, 1, 400)
    X = np.stack([np.cos(t), np.sin(t), np.ones_like(t)], axis=1).astype(np.float32)
    graph = KnnGraph(k=4).fit(X)
    assert neighbor_recall_2d(graph, np.stack([t, np.zeros_like(t)], axis=1)) == 1.0
    shuffled = np.random.default_rng(0).permutation(400)
    assert neighbor_recall_2d(graph, np.stack([t[shuffled], np.zeros_like(t)], axis=1)) < 0.1
    with pytest.raises(ValueError, match="one row per graph item"):
        neighbor_recall_2d(graph, np.zeros((3, 2)))


def test_landmark_layout_separates_clusters_and_keeps_neighbours():
    X, y = blobs(300, n_blobs=4)
    graph = KnnGraph(k=8).fit(X)
    xy = landmark_layout(graph, n_landmarks=150, seed=0)
    assert xy.shape == (1200, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    intra, inter = separated(xy, y)
    assert intra < inter  # each cluster's points lie closer to their centre than to any other centre
    # Items keep their graph neighbours nearby: 3x what a random spot in the right cluster gives (8 / 300).
    assert neighbor_recall_2d(graph, xy) > 0.08
    np.testing.assert_array_equal(landmark_layout(graph, n_landmarks=150, seed=0), xy)


FLOOR_SHEET_RECALL = 0.72


def sheet(side: int = 70, d: int = 8, seed: int = 0) -> np.ndarray:
    """A flat square grid of side**2 points, rotated into d dimensions: a 2-D map can keep every neighbour.

    Lifted by a constant coordinate far from the origin, so the graph's cosine neighbours are the grid's
    Euclidean ones.
    """
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(side), np.arange(side))
    flat = np.stack([u.ravel(), v.ravel()], axis=1) / side
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lifted = np.concatenate([flat, np.zeros((len(flat), d - 3)), np.full((len(flat), 1), 10.0)], axis=1)
    return (lifted @ Q).astype(np.float32)


@pytest.fixture(scope="module")
def sheet_graph():
    X = sheet()
    return KnnGraph(k=10).fit(X), X


def test_first_map_of_a_sheet_keeps_its_neighbourhoods(sheet_graph):
    from sklearn.manifold import trustworthiness

    graph, X = sheet_graph
    n = len(X)
    random_xy = np.random.default_rng(0).uniform(size=(n, 2))
    # A random map is the floor: 10 / n of the neighbours by chance, trustworthiness 0.5.
    assert neighbor_recall_2d(graph, random_xy) < 0.01
    assert trustworthiness(X, random_xy, n_neighbors=10) < 0.55
    for seed in range(3):
        xy = landmark_layout(graph, n_landmarks=100, seed=seed)
        assert trustworthiness(X, xy, n_neighbors=10) > 0.99
        # Round 2's first map (10 refinement epochs at a quarter of UMAP's rate) kept 0.59-0.71 here.
        assert neighbor_recall_2d(graph, xy) > FLOOR_SHEET_RECALL


def test_first_map_is_reproducible_and_depends_on_the_seed(sheet_graph):
    graph, _ = sheet_graph
    xy = landmark_layout(graph, n_landmarks=100, seed=3)
    np.testing.assert_array_equal(landmark_layout(graph, n_landmarks=100, seed=3), xy)
    assert not np.array_equal(landmark_layout(graph, n_landmarks=100, seed=4), xy)


def test_first_map_holds_no_edge_list():
    import tracemalloc

    # A fresh graph: the first map must not build the symmetrised matrices (a session holds them, but a
    # caller with the lists alone should not pay for them) nor any per-edge array beyond the lists' size.
    graph = KnnGraph(k=10).fit(sheet(side=100))
    n, k = graph.neighbors_.shape
    tracemalloc.start()
    xy = landmark_layout(graph, n_landmarks=200, refine_epochs=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.isfinite(xy).all()
    assert graph._normalized is None
    # The lists' float32 weights, the map and the landmarks' own lists: 1.7x the lists' bytes. Round 2's
    # symmetrised matrices, scipy edge list of (w + w^T) and sampling schedule peaked at 21x.
    assert peak < 3 * n * k * 4


def test_landmark_layout_places_components_without_a_landmark():
    # Two far groups joined by no edge; with 16 landmarks drawn from 400 items one group may get none.
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 0.05, (390, 6)) + 5, rng.normal(0, 0.05, (10, 6)) - 5]).astype(
        np.float32
    )
    graph = KnnGraph(k=5).fit(X)
    for seed in range(5):
        xy = landmark_layout(graph, n_landmarks=16, seed=seed)
        assert np.isfinite(xy).all() and xy.shape == (400, 2)


def test_widget_shows_the_first_map_then_swaps_in_umap(tmp_path, monkeypatch):
    import nblabel.widget as widget_module
    from nblabel.session import Session

    X, y = blobs(100)
    session = Session(X, given=y, journal=tmp_path / "j.nblabel.db", k=5)
    sent: list[np.ndarray] = []

    def record(self, content, buffers=None):
        if content["type"] == "layout":
            (field,) = content["fields"]
            sent.append(np.frombuffer(bytes(buffers[0]), dtype=field["dtype"]).reshape(field["shape"]))

    monkeypatch.setattr(widget_module, "FIRST_MAP_MIN_ITEMS", 0)
    monkeypatch.setattr(widget_module.Labeler, "send", record)
    w = widget_module.Labeler(session, background=False)
    assert w.wait_for_layout(120)
    assert len(sent) == 2
    np.testing.assert_array_equal(sent[0], landmark_layout(session.graph))
    np.testing.assert_array_equal(sent[1], session.layout())
    w.close()
    # Reopened with the UMAP layout cached: no first map, the cached one at once.
    sent.clear()
    w = widget_module.Labeler(session, background=False)
    assert w.wait_for_layout(120) and len(sent) == 1
    np.testing.assert_array_equal(sent[0], session.layout())
    w.close()
    session.close()


def test_large_sets_get_the_final_map_from_the_lists_not_umap_learn(sheet_graph, monkeypatch):
    from sklearn.manifold import trustworthiness

    import nblabel.layout as layout_module

    graph, X = sheet_graph
    monkeypatch.setattr(layout_module, "LIST_UMAP_MIN_ITEMS", len(X))
    calls = []

    class Spy(umap.UMAP):
        def fit(self, X, *args, **kwargs):
            calls.append(X.shape)
            return super().fit(X, *args, **kwargs)

    monkeypatch.setattr(umap, "UMAP", Spy)
    xy = umap_layout(graph, seed=0)
    assert calls == []
    full = landmark_layout(graph, refine_epochs=layout_module.FINAL_EPOCHS, seed=0)
    np.testing.assert_array_equal(xy, full)
    # The full descent keeps more of the sheet than the first map's 30 epochs.
    assert neighbor_recall_2d(graph, xy) > neighbor_recall_2d(graph, landmark_layout(graph, seed=0))
    assert trustworthiness(X, xy, n_neighbors=10) > 0.99
    # UMAP options ask for umap-learn itself.
    umap_layout(graph, seed=0, n_epochs=20)
    assert calls == [(len(X), 1)]


def test_the_descent_releases_the_gil(sheet_graph):
    import nblabel.layout as layout_module

    # The widget computes both maps on a thread; a compiled loop that kept the GIL would stall the kernel's
    # message handling (clicks) for the whole descent.
    landmark_layout(sheet_graph[0], n_landmarks=100, refine_epochs=1)
    for name in ("_sgd_impl", "_place_rings_impl", "_fuzzy_weights_impl"):
        assert layout_module._compiled(name).targetoptions.get("nogil") is True
