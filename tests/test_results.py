"""Results as tables: known answers on a hand-made snapshot, and one count behind summary and status line."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nblabel.clusters import Clustering
from nblabel.quality import NoiseEstimate
from nblabel.results import (
    cluster_table,
    corrected,
    current_labels,
    item_frame,
    label_counts,
    noise_table,
    summary_of,
)
from nblabel.structure import check_cluster, check_resolution
from nblabel.viewmodel import counts

NAN = np.nan


def snapshot(**kw):
    base = {
        "classes": ("a", "b", "c"),
        "given": np.array([0, 1, -1, 1, 0, 2], np.int32),
        "verified": np.array([-1, 0, 1, -1, -1, -1], np.int32),
        "predicted": np.array([0, 0, 1, 0, 1, -1], np.int32),
        "confidence": np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.0], np.float32),
        "suspicion": np.array([0.1, NAN, NAN, 0.95, 0.7, 0.2], np.float32),
        "flagged": np.array([False, False, False, True, True, False]),
        "alternative": np.array([-1, -1, -1, 0, 1, -1], np.int32),
        "proba": np.ones((6, 3), np.float32) / 3,
        "noise": None,
        "audit": None,
    }
    return SimpleNamespace(**{**base, **kw})


def test_corrected_is_verified_else_given_with_only_calibrated_flags_replaced():
    # item 1 verified b->a; before calibration no flag is replaced (the noise estimate is the pre-review
    # one); calibrated from a pre-review suspicion of 0.9: item 3 (0.95) is replaced, item 4 (0.7) kept.
    assert current_labels(snapshot()).tolist() == [0, 0, 1, 1, 0, 2]  # verified, else given
    assert current_labels(snapshot(given=np.full(6, -1, np.int32))).tolist() == [-1, 0, 1, -1, -1, -1]
    assert corrected(snapshot()).tolist() == [0, 0, 1, 1, 0, 2]
    prior = NoiseEstimate(0.3, 0.2, 0.4, 2.0)
    audit = (np.zeros(6), np.array([0.1, NAN, NAN, 0.95, 0.7, 0.2]))
    assert corrected(snapshot(noise=prior, audit=audit)).tolist() == [0, 0, 1, 1, 0, 2]
    calibrated = NoiseEstimate(0.3, 0.2, 0.4, 1.0, 1, 1.0, replace_above=0.9)
    assert corrected(snapshot(noise=calibrated, audit=audit)).tolist() == [0, 0, 1, 0, 0, 2]
    assert corrected(snapshot(noise=calibrated, audit=audit, alternative=None)).tolist() == [0, 0, 1, 1, 0, 2]


def test_item_frame_rows_columns_and_names():
    s = snapshot()
    outlier = np.arange(6, dtype=np.float32) / 10
    groups = np.array([-1, 0, 0, -1, -1, -1], np.int32)
    frame = item_frame(s, np.array([3, 1]), [f"i{j}" for j in range(6)], (outlier, groups))
    assert frame.index.tolist() == ["i3", "i1"] and frame.index.name == "id"
    assert frame["given"].tolist() == ["b", "b"] and frame["verified"].isna().tolist() == [True, False]
    assert frame["corrected"].tolist() == ["b", "a"] and frame["flagged"].tolist() == [True, False]
    np.testing.assert_allclose(frame["outlier"], [0.3, 0.1])
    assert frame["duplicate_group"].tolist() == [-1, 0]


def test_label_counts_noise_table_and_summary_know_the_answer():
    s = snapshot()
    n = label_counts(s)
    assert (n["n"], n["labeled"], n["given"], n["verified"], n["flagged"], n["reviewed"]) == (
        6,
        6,
        5,
        2,
        2,
        1,
    )
    assert n["given_per_class"] == [2, 2, 1] and n["verified_per_class"] == [1, 1, 0]
    assert n["predicted_per_class"] == [3, 2, 0]
    table = noise_table(s)
    assert table.loc["b", "a"] == 1 and table.loc["a", "b"] == 1 and int(table.to_numpy().sum()) == 2
    assert (table.index.name, table.columns.name) == ("given", "likely")
    assert int(noise_table(snapshot(alternative=None)).to_numpy().sum()) == 0
    out = summary_of(s, "j.nblabel.db")
    assert out["classes"]["a"] == {"given": 2, "verified": 1, "predicted": 3}
    assert np.isnan(out["noise_rate"]) and out["journal"] == "j.nblabel.db"
    noise = SimpleNamespace(rate=0.2, low=0.1, high=0.3, errors=1.5, calibrated=True)
    out = summary_of(snapshot(noise=noise), "j")
    assert (out["noise_rate"], out["noise_interval"], out["errors_unreviewed"]) == (0.2, (0.1, 0.3), 1.5)
    assert out["calibrated"] is True


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-1, 3), st.integers(-1, 3), st.integers(-1, 3)), min_size=1, max_size=40
    )
)
def test_summary_and_status_line_count_the_same(rows):
    given_, verified, predicted = (np.array(col, np.int32) for col in zip(*rows, strict=True))
    s = snapshot(
        classes=("a", "b", "c", "d"),
        given=given_,
        verified=verified,
        predicted=predicted,
        flagged=(given_ >= 0) & (verified < 0),
        alternative=None,
        proba=np.ones((len(rows), 4), np.float32),
    )
    out, bar = summary_of(s, "j"), counts(s, 4)
    for j, name in enumerate(s.classes):  # the obvious count, class by class
        want = {"given": int((given_ == j).sum()), "verified": int((verified == j).sum())}
        want["predicted"] = int((predicted == j).sum())
        assert out["classes"][name] == want
        assert (bar["given"][j], bar["verified_per_class"][j], bar["predicted"][j]) == tuple(want.values())
    assert out["labeled"] == bar["labeled"] == int(((given_ >= 0) | (verified >= 0)).sum())
    assert out["verified"] == bar["verified"] and out["flagged"] == bar["flagged"]


def test_cluster_table_on_known_clusters():
    s = snapshot()
    c = Clustering(
        1.0,
        np.array([0, 0, 0, 1, 1, 0], np.int32),
        np.array([0.5, 0.9, 0.1, 0.2, 0.8, 0.3], np.float32),
        np.array([1.0, 1.0, 0.2, 1.0, 1.0, 0.9], np.float32),
    )
    table = cluster_table(c, s, [f"i{j}" for j in range(6)], n_exemplars=2)
    assert table["size"].tolist() == [4, 2] and table.index.name == "cluster"
    assert table["exemplars"].tolist() == [["i1", "i0"], ["i4", "i3"]]
    # current labels: verified, else given, else predicted -> [0, 0, 1, 1, 0, 2]
    assert table["mix"].tolist() == [{"a": 2, "b": 1, "c": 1}, {"a": 1, "b": 1}]
    assert table["label"].tolist() == ["a", "a"] and table["purity"].tolist() == [0.5, 0.5]
    assert table["core"].tolist() == [2, 2]  # share >= 0.6 and unverified: items 0, 5 and 3, 4
    assert check_cluster(c, 1) == 1
    with pytest.raises(ValueError, match=r"cluster: expected a cluster number in 0\.\.1; got 2"):
        check_cluster(c, 2)
    with pytest.raises(ValueError, match=r"resolution: expected .*; got True"):
        check_resolution(True)
    assert check_resolution(np.float32(0.5)) == 0.5
