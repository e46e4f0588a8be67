import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from nblabel.graph import KnnGraph
from nblabel.propagate import Propagator
from nblabel.quality import corrected_labels, estimate_noise_rate, flag_label_issues, rank_suspects, suspicion

# Floors measured on digits / PCA(32) / k=10 / T="auto" (seeds 0-1: AUROC 0.9991-0.9997 at 20 %,
# 0.9985-0.9987 at 50 %, 0.977-0.980 at 80 %), set with a margin.
AUROC_FLOOR = {0.2: 0.995, 0.5: 0.993, 0.8: 0.96}


@pytest.fixture(scope="module")
def digits_graph():
    X, y = load_digits(return_X_y=True)
    return KnnGraph().fit(PCA(32, random_state=0).fit_transform(X)), y


def _noisy(y, rate, seed):
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(y)) < rate
    given = y.copy()
    given[flipped] = (y[flipped] + rng.integers(1, 10, flipped.sum())) % 10  # always a different class
    return given, flipped


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_digits_flipped_labels_rank_first(digits_graph, rate):
    graph, y = digits_graph
    given, flipped = _noisy(y, rate, seed=0)
    P = Propagator(graph, 10).fit(given).proba_
    s = suspicion(P, given)
    auroc = roc_auc_score(flipped, s)
    print(f"digits noise {rate}: AUROC {auroc:.4f}")
    assert auroc >= AUROC_FLOOR[rate]
    top = rank_suspects(P, given, n=int(flipped.sum()))
    assert flipped[top].mean() >= 0.9
    # Corrected labels beat leaving the given ones alone, and the noise estimate is close.
    assert (corrected_labels(P, given) == y).mean() > (given == y).mean()
    assert abs(estimate_noise_rate(P, given) - flipped.mean()) < 0.03


@pytest.mark.parametrize("rate", [0.0, 0.02])
def test_clean_digits_are_left_alone(digits_graph, rate):
    graph, y = digits_graph
    given, _ = _noisy(y, rate, seed=1)
    P = Propagator(graph, 10).fit(given).proba_
    assert (corrected_labels(P, given) == y).mean() >= (given == y).mean()
    if rate == 0.0:
        assert not flag_label_issues(P, given).any()


def test_scores_on_a_hand_example():
    P = np.array([[0.9, 0.1], [0.2, 0.6], [0.0, 0.0], [3.0, 1.0]], np.float32)  # rows need not sum to 1
    given = np.array([0, 0, 1, -1])
    s = suspicion(P, given)
    np.testing.assert_allclose(s[:3], [0.1, 0.75, 0.0], rtol=1e-6)
    assert np.isnan(s[3]) and s.dtype == np.float32
    np.testing.assert_array_equal(rank_suspects(P, given), [1, 0, 2])
    np.testing.assert_array_equal(rank_suspects(P, given, n=1), [1])
    np.testing.assert_array_equal(flag_label_issues(P, given, ratio=1.0), [False, True, False, False])
    np.testing.assert_array_equal(flag_label_issues(P, given, ratio=4.0), [False, False, False, False])
    np.testing.assert_array_equal(corrected_labels(P, given, ratio=1.0), [0, 1, 1, -1])
    assert estimate_noise_rate(P, np.full(4, -1)) == 0.0


def test_bad_input():
    P = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="length 3"):
        suspicion(P, [0, 1])
    with pytest.raises(ValueError, match="-1..1"):
        suspicion(P, [0, 1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        suspicion(-P, [0, 1, 0])
    with pytest.raises(ValueError, match="ratio"):
        flag_label_issues(P, [0, 1, 0], ratio=0.5)
    with pytest.raises(ValueError, match="n:"):
        rank_suspects(P, [0, 1, 0], n=-1)
