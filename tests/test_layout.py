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
