"""The widget's view logic without a widget: known answers on hand-made snapshots and a small session."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nblabel.quality import MIN_AUDITS, MIN_REVIEWS
from nblabel.session import Session
from nblabel.viewmodel import GridModel, ViewParams, browse, counts, noise_counts, row_patch

ITEMSIZE = {"rows": 4, "given": 4, "suspicion": 4, "flagged": 1}


def snapshot(**kw):
    base = {
        "given": np.array([0, 1, -1, 1, 0], np.int32),
        "verified": np.array([-1, 0, 1, -1, -1], np.int32),
        "predicted": np.array([0, 0, 1, 1, -1], np.int32),
        "flagged": np.array([False, False, False, True, True]),
        "alternative": np.array([-1, -1, -1, 0, 1], np.int32),
        "noise": None,
        "classes": ("a", "b"),
        "version": 1,
    }
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize(
    ("browse_filter", "expected"),
    [
        ("all", [0, 1, 2, 3, 4]),
        ("unlabeled", []),
        ("unverified", [0, 3, 4]),
        ("flagged", [3, 4]),
        ("flagged:1:0", [3]),
        ("flagged:0:1", [4]),
        ("flagged:0:0", []),
        ("class:0", [0, 1, 4]),  # verified if set, else given
        ("class:1", [2, 3]),
        ("predicted:1", [2, 3]),
    ],
)
def test_browse_filters_list_the_known_items(browse_filter, expected):
    got = browse(snapshot(), browse_filter, 2)
    assert got.dtype == np.int32 and got.tolist() == expected


@pytest.mark.parametrize("bad", ["class:2", "flagged:2:0", "flagged:0", "flagged:a:b", "nope", "all:1", ""])
def test_browse_refuses_a_filter_that_names_no_list(bad):
    with pytest.raises(ValueError, match="browse_filter: expected"):
        browse(snapshot(), bad, 2)


def test_counts_and_noise_matrix():
    c = counts(snapshot(), 2)
    assert c["n"] == 5 and c["labeled"] == 5 and c["verified"] == 2 and c["flagged"] == 2
    assert c["given"] == [2, 2] and c["verified_per_class"] == [1, 1] and c["predicted"] == [2, 2]
    assert c["noise_matrix"] == [[0, 1], [1, 0]] and "noise_rate" not in c
    noise = SimpleNamespace(rate=0.2, low=0.1, high=0.3, errors=1.5, reviewed=2, calibrated=False, audits=1)
    n = noise_counts(snapshot(noise=noise), 2)
    assert (n["noise_rate"], n["noise_low"], n["noise_high"], n["errors_unreviewed"], n["reviewed"]) == (
        0.2,
        0.1,
        0.3,
        1.5,
        2,
    )
    assert n["calibrated"] is False
    # The panel says what calibrating still takes.
    assert (n["audits"], n["min_audits"], n["min_reviews"]) == (1, MIN_AUDITS, MIN_REVIEWS)


def test_row_patch_sends_only_differing_rows_when_smaller():
    n = 100
    old = {"given": np.zeros(n, np.int32), "suspicion": np.full(n, np.nan, np.float32)}
    new = {"given": old["given"].copy(), "suspicion": old["suspicion"].copy()}
    new["given"][[3, 70]] = 1
    patch = row_patch(new, old, ITEMSIZE)
    assert patch["rows"].tolist() == [3, 70] and patch["given"].tolist() == [1, 1]
    assert "suspicion" not in patch  # NaN stayed NaN: not a change
    # Everything changed: whole arrays are fewer bytes than rows + values.
    assert row_patch({"given": np.ones(n, np.int32)}, old, ITEMSIZE)["given"].shape == (n,)
    # Nothing sent yet: no diff.
    assert row_patch(new, {}, ITEMSIZE) is new


def test_grid_model_lists_per_mode(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (10, 4)) + 3, rng.normal(0, 0.1, (10, 4)) - 3]).astype(np.float32)
    given = ["a"] * 10 + ["b"] * 10
    given[2] = "b"  # one wrong label, deep in class a's cluster
    with Session(X, given=given, journal=tmp_path / "j.nblabel.db", k=5) as s:
        model = GridModel(s)
        state = s.state
        view, key = model.view(state, ViewParams(mode="suspects"))
        assert key == "suspects:all" and view[0] == 2
        assert view.tolist() == s.suspect_order(state).tolist()
        view, key = model.view(state, ViewParams(mode="similar", anchor=0, page_size=4))
        assert key == "similar:0" and view[0] == 0 and set(view[1:].tolist()) <= set(range(10))
        assert model.view(state, ViewParams(mode="similar"))[1] == "similar:none"
        view, key = model.view(state, ViewParams(mode="browse", browse_filter="class:1"))
        assert key == "browse:class:1" and view.tolist() == [2, *range(10, 20)]
        queue, key = model.view(state, ViewParams(mode="queue", page_size=3))
        assert len(queue) == 3 and key == f"queue:margin:{state.version}"
