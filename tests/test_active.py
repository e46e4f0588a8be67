import numpy as np
import pytest

from nblabel.active import next_batch
from nblabel.graph import KnnGraph

P = np.array(
    [
        [0.9, 0.1, 0.0],
        [0.5, 0.45, 0.05],
        [0.4, 0.3, 0.3],
        [0.0, 0.0, 0.0],
        [0.6, 0.2, 0.2],
        [0.34, 0.33, 0.33],
    ],
    np.float32,
)


def test_margin_and_least_confident_order():
    labeled = np.zeros(6, bool)
    # margins: .8, .05, .1, 0 (unreached), .4, .01
    np.testing.assert_array_equal(next_batch(P, labeled, 4, "margin"), [3, 5, 1, 2])
    # top-class probability: .9, .5, .4, 0, .6, .34
    np.testing.assert_array_equal(next_batch(P, labeled, 3, "least_confident"), [3, 5, 2])
    labeled[[3, 5]] = True
    np.testing.assert_array_equal(next_batch(P, labeled, 2, "margin"), [1, 2])


def test_random_is_seeded_and_excludes_labeled():
    labeled = np.array([True, False, True, False, False, False])
    a = next_batch(P, labeled, 10, "random", seed=1)
    assert sorted(a) == [1, 3, 4, 5]
    np.testing.assert_array_equal(a, next_batch(P, labeled, 10, "random", seed=1))
    assert next_batch(P, np.ones(6, bool), 3, "random").size == 0


def test_suspects_first_skips_items_without_given_label():
    susp = np.array([0.1, np.nan, 0.9, 0.5, np.nan, 0.7])
    labeled = np.zeros(6, bool)
    labeled[2] = True
    np.testing.assert_array_equal(next_batch(P, labeled, 10, "suspects", suspicion=susp), [5, 3, 0])


def test_coverage_cold_start_hits_every_cluster():
    rng = np.random.default_rng(0)
    centers = np.eye(4) * 5
    X = np.vstack([c + rng.normal(0, 0.3, (40, 4)) for c in centers])
    X[0] = [0.1, 0.1, -5, 0.1]  # an outlier must not crowd out a cluster
    g = KnnGraph(k=5).fit(X)
    picks = next_batch(np.zeros((160, 2), np.float32), np.zeros(160, bool), 4, "coverage", graph=g)
    assert sorted(picks // 40) == [0, 1, 2, 3] and 0 not in picks
    labeled = np.zeros(160, bool)
    labeled[:80] = True  # two clusters already labeled: the next picks go to the others
    picks = next_batch(np.zeros((160, 2), np.float32), labeled, 2, "coverage", graph=g)
    assert sorted(picks // 40) == [2, 3]


def test_bad_input():
    labeled = np.zeros(6, bool)
    with pytest.raises(ValueError, match="strategy"):
        next_batch(P, labeled, 2, "entropy")
    with pytest.raises(ValueError, match="labeled"):
        next_batch(P, np.zeros(5, bool), 2)
    with pytest.raises(ValueError, match="labeled"):
        next_batch(P, np.zeros(6, int), 2)
    with pytest.raises(ValueError, match="n:"):
        next_batch(P, labeled, -1)
    with pytest.raises(ValueError, match="graph"):
        next_batch(P, labeled, 2, "coverage")
    with pytest.raises(ValueError, match="suspicion"):
        next_batch(P, labeled, 2, "suspects")
