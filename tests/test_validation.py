import numpy as np
import pytest

from nblabel._validation import (
    check_count,
    check_embeddings,
    check_ids,
    check_k,
    check_labels,
    check_positive,
    check_proba,
)


def _assert_helpful(excinfo):
    msg = str(excinfo.value)
    assert "expected" in msg and "got" in msg and "Fix" in msg, msg


def test_valid_embeddings_become_float32_contiguous():
    X = np.arange(12, dtype=np.float64).reshape(4, 3)[:, ::-1] + 1
    out = check_embeddings(X, k=3)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, X.astype(np.float32))


@pytest.mark.parametrize(
    "X, fragment",
    [
        (np.array([[1.0, np.nan], [1.0, 2.0], [0.5, 1.0]]), "NaN or inf"),
        (np.array([[1.0, 2.0], [np.inf, 2.0], [0.5, 1.0]]), "NaN or inf"),
        (np.array([[1.0, 2.0], [0.0, 0.0], [0.5, 1.0]]), "all-zero"),
        (np.ones(5), "2-D"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.empty((0, 4)), "n=0"),
        (np.ones((1, 4)), "n=1"),
        (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
    ],
)
def test_bad_embeddings_raise_helpful_errors(X, fragment):
    with pytest.raises(ValueError, match=fragment) as excinfo:
        check_embeddings(X)
    _assert_helpful(excinfo)


def test_bad_rows_are_named():
    X = np.ones((10, 3))
    X[[2, 7]] = np.nan
    with pytest.raises(ValueError, match=r"\[2, 7\]"):
        check_embeddings(X)


@pytest.mark.parametrize("k", [5, 6, 0, -1, 2.5, True])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k") as excinfo:
        check_k(k, 5)
    _assert_helpful(excinfo)
    with pytest.raises(ValueError):
        check_embeddings(np.random.default_rng(0).random((5, 3)), k=k)


def test_labels():
    np.testing.assert_array_equal(check_labels([0, -1, 2], 3, 3), [0, -1, 2])
    np.testing.assert_array_equal(check_labels(np.array([1.0, -1.0]), 2, 2), [1, -1])
    for bad, n, c, fragment in [
        ([0, 3], 2, 3, "rows \\[1\\]"),
        ([0, -2], 2, 3, "-1..2"),
        ([0, 1, 2], 2, 3, "length 2"),
        ([[0, 1]], 2, 3, "1-D"),
        ([0.5, 1], 2, 3, "integer"),
    ]:
        with pytest.raises(ValueError, match=fragment) as excinfo:
            check_labels(bad, n, c)
        _assert_helpful(excinfo)


def test_ids():
    assert check_ids([1, "b"], 2) == ["1", "b"]
    with pytest.raises(ValueError, match="duplicate") as excinfo:
        check_ids(["a", "b", "a"])
    _assert_helpful(excinfo)
    with pytest.raises(ValueError, match="expected 3 ids"):
        check_ids(["a"], 3)


def test_proba_and_positive():
    with pytest.raises(ValueError, match="non-negative"):
        check_proba([[0.5, -0.1]])
    with pytest.raises(ValueError, match="shape"):
        check_proba([0.5, 0.5])
    assert check_positive("0.5", "T") == 0.5
    for bad in [0, -1, np.nan, "x"]:
        with pytest.raises(ValueError, match="T"):
            check_positive(bad, "T")


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "5", None])
def test_check_count_refuses_what_is_not_a_positive_integer(value):
    with pytest.raises(ValueError, match=r"n: expected a positive integer; got .*e\.g\. n=7") as info:
        check_count(value, "n", example=7)
    _assert_helpful(info)


def test_check_count_returns_a_python_int():
    assert check_count(np.int64(3), "n") == 3 and type(check_count(np.int64(3), "n")) is int
