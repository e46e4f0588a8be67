"""Exploring clusters in a real browser (JupyterLab + Chromium), checked on the page and in the journal.

Same harness as ``tests/test_browser.py``: one private JupyterLab, ``tests/browser/driver.mjs --scenario
clusters``. The scenario colours the map by cluster, opens the first cluster card, labels its core with one
number key and undoes that with one ``z``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from labserver import LabServer, missing_prerequisites, session_cell, start_lab  # noqa: E402

from nblabel.session import Session  # noqa: E402
from nblabel.store import LabelStore  # noqa: E402

MISSING = missing_prerequisites()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(MISSING), reason=f"browser end-to-end test needs: {', '.join(MISSING)}"),
]


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    server: LabServer = start_lab(tmp_path_factory.mktemp("lab-clusters"))
    journal = server.root / "clusters.nblabel.db"
    # The digits 0, 1, 2 with no labels at all: the start of a labeling job, where the map is one colour.
    server.write_notebook(
        "clusters.ipynb",
        [
            session_cell("session", journal, digits=3, n=150, classes=["zero", "one", "two"], labeled=False),
            "Labeler(session, page_size=200)",
        ],
    )
    try:
        result = server.run_driver(
            [
                *["--url", server.notebook_url("clusters.ipynb")],
                *["--scenario", "clusters", "--out", str(server.root)],
            ],
            timeout=300,
        )
    finally:
        server.stop()
    result["journal"] = journal
    result["out"] = server.root
    return result


def test_colour_by_cluster_shows_a_legend_and_cards(explored: dict) -> None:
    assert "cluster 0 ·" in explored["legendText"]
    cards = explored["cards"]
    assert len(cards) >= 3 and cards[0]["cluster"] == 0  # the largest first
    assert "items" in cards[0]["text"] and "purity" in cards[0]["text"]
    assert explored["events"]["pageErrors"] == []


def test_one_key_labels_the_core_and_one_undo_reverts_it(explored: dict) -> None:
    # The card announced the core size before the key was pressed.
    hint = explored["hint"]
    assert "press 1-9: label the" in hint
    announced = int(hint.split("label the ")[1].split(" ")[0])
    assert announced == explored["open"]["core"]
    with LabelStore(explored["journal"]) as store:
        events = store.read()
    labels = [e for e in events if e.kind == "label"]
    assert len(labels) == announced > 0
    assert {e.cls for e in labels} == {"one"}
    assert len({e.action for e in labels}) == 1  # one stroke: one journal action
    assert [e.kind for e in events[len(labels) :]] == ["undo"]
    # The page showed the stroke on the open cluster's tiles, then the undo.
    shown = {t["index"] for t in explored["labeled"] if t["verified"] == 1}
    assert 0 < len(shown) <= announced
    assert "no unlabeled core items left" in explored["hintAfter"]
    assert all(t["verified"] == -1 for t in explored["undone"])
    # The journal, replayed, has no label left; and the labeled items were that cluster's core.
    with Session.open(explored["journal"]) as s:
        assert (s.state.verified < 0).all()
        opened = explored["open"]["cluster"]
        assert {s.ids.index(e.item) for e in labels} == {s.ids.index(i) for i in s.cluster_core(opened)}
    assert (explored["out"] / "clusters.png").stat().st_size > 10_000
