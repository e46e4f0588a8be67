"""The widget's kernel side without a browser: messages in, captured messages and session state out."""

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nblabel.data import from_array
from nblabel.quality import TOP_EVERY
from nblabel.session import Session
from nblabel.store import LabelStore
from nblabel.widget import _MISSING_BUNDLE_ESM, MESSAGES, Labeler, _bundle, pack_arrays

XSS = "<img src=x onerror=alert(1)>"
JS_DIR = Path(__file__).parent.parent / "js"
PROTOCOL_JS = JS_DIR / "src" / "protocol.js"


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """12 items in 3 tight, far-apart clusters of 4 (small enough for the widget's no-UMAP layout path)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 8)) * 4.0
    X = np.concatenate([c + 0.2 * rng.normal(size=(4, 8)) for c in centers]).astype(np.float32)
    return X, np.repeat(np.arange(3), 4)


class Wire:
    """Captures what the widget sends and decodes its binary fields like js/src/codecs.js does."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list]] = []

    def __call__(self, content: dict, buffers: list | None = None) -> None:
        self.messages.append((content, list(buffers or [])))

    def of(self, type_: str) -> list[tuple[dict, list]]:
        return [m for m in self.messages if m[0]["type"] == type_]

    def last(self, type_: str) -> tuple[dict, list]:
        found = self.of(type_)
        assert found, f"no {type_!r} message among {[m[0]['type'] for m in self.messages]}"
        return found[-1]

    def arrays(self, type_: str) -> dict[str, np.ndarray]:
        content, buffers = self.last(type_)
        return {
            f["name"]: np.frombuffer(bytes(b), dtype=f["dtype"]).reshape(f["shape"])
            for f, b in zip(content["fields"], buffers, strict=True)
        }

    def page_state(self) -> dict[str, np.ndarray]:
        """Arrays the page holds after every state message in order (full ones replace, others merge;
        a patch with a ``rows`` field writes its values at those rows, like js/src/store.js)."""
        merged: dict[str, np.ndarray] = {}
        for content, buffers in self.of("state"):
            if content["full"]:
                merged = {}
            fields = {
                f["name"]: np.frombuffer(bytes(b), dtype=f["dtype"]).reshape(f["shape"])
                for f, b in zip(content["fields"], buffers, strict=True)
            }
            rows = fields.pop("rows", None)
            for name, values in fields.items():
                if rows is None:
                    merged[name] = values
                else:
                    merged[name] = merged[name].copy()
                    merged[name][rows] = values
        return merged

    def reply(self, request_id: int) -> dict:
        (found,) = [c for c, _ in self.of("reply") if c["request_id"] == request_id]
        return found


@pytest.fixture
def session(tmp_path):
    X, y = blobs()
    given = y.copy()
    given[1] = 2  # one wrong given label: cluster 0 says it is class 0
    given[[3, 7, 11]] = -1
    s = Session(X, given=given, classes=["cat", "dog", XSS], journal=tmp_path / "j.nblabel.db", k=3)
    yield s
    s.close()


@pytest.fixture
def widget(session):
    w = Labeler(session, page_size=5)
    assert w.wait_for_layout(120)
    wire = Wire()
    w.send = wire
    w.wire = wire
    session.wait(10)
    yield w
    w.close()


def send(w: Labeler, **content) -> None:
    w._on_message(w, content, [])
    w._thumb_pool.submit(lambda: None).result(timeout=30)  # thumbnails are served on their own thread


def settle(w: Labeler) -> None:
    """Wait for background LP, so the last state message reflects every action."""
    w.session.wait(10)


def test_message_table_matches_the_js_protocol():
    js = PROTOCOL_JS.read_text()

    def block(name: str) -> set[str]:
        body = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\);", js, re.S).group(1)
        return set(re.findall(r':\s*"([a-z_]+)"', body))

    assert block("TO_KERNEL") == {t for t, (d, _) in MESSAGES.items() if d == "in"}
    assert block("FROM_KERNEL") == {t for t, (d, _) in MESSAGES.items() if d == "out"}


def test_pack_arrays_casts_to_wire_dtypes():
    fields, buffers = pack_arrays(
        {"given": np.array([0, -1, 2], np.int64), "flagged": np.array([True, False, True]), "xy": np.eye(2)}
    )
    assert [(f["name"], f["dtype"], f["shape"]) for f in fields] == [
        ("given", "int32", [3]),
        ("flagged", "uint8", [3]),
        ("xy", "float32", [2, 2]),
    ]
    assert np.frombuffer(bytes(buffers[0]), np.int32).tolist() == [0, -1, 2]
    assert np.frombuffer(bytes(buffers[1]), np.uint8).tolist() == [1, 0, 1]
    assert len(bytes(buffers[2])) == 16


def test_ready_sends_layout_state_and_view_as_binary(widget, session):
    send(widget, type="ready")
    xy = widget.wire.arrays("layout")["xy"]
    np.testing.assert_array_equal(xy, session.layout())
    assert xy.dtype == np.float32 and xy.shape == (12, 2)
    state = widget.wire.arrays("state")
    s = session.state
    assert widget.wire.last("state")[0]["full"]
    assert widget.wire.last("state")[0]["version"] == s.version == widget.version
    for name in ("given", "verified", "predicted", "confidence", "suspicion"):
        np.testing.assert_array_equal(state[name], getattr(s, name))
    np.testing.assert_array_equal(state["flagged"], s.flagged.astype(np.uint8))
    assert state["given"].dtype == np.int32 and state["suspicion"].dtype == np.float32
    view = widget.wire.arrays("view")["indices"]
    np.testing.assert_array_equal(view, np.arange(12))
    assert widget.wire.last("view")[0]["key"] == "browse:all"


def test_counts_match_a_dense_reference(widget, session):
    s = session.state
    c = widget.counts
    assert c["n"] == 12
    assert c["labeled"] == int(((s.given >= 0) | (s.verified >= 0)).sum()) == 9
    assert c["verified"] == 0 and c["flagged"] == int(s.flagged.sum())
    assert c["given"] == [int((s.given == k).sum()) for k in range(3)] == [2, 3, 4]
    assert c["predicted"] == [int((s.predicted == k).sum()) for k in range(3)]
    assert widget.classes == ["cat", "dog", XSS]


def test_label_is_journaled_before_the_reply_and_predictions_follow(widget, session):
    send(widget, type="ready")
    before = widget.version
    send(widget, type="label", request_id=7, indices=[3, 1], cls=0)
    assert widget.wire.reply(7) == {"type": "reply", "request_id": 7, "ok": True, "error": ""}
    assert widget.saved and widget.error == ""
    # The reply means the journal has it: a second reader of the file sees both events.
    events = [e for e in LabelStore(session.journal).read() if e.kind == "label"]
    assert sorted((e.item, e.cls) for e in events) == [("1", "cat"), ("3", "cat")]
    settle(widget)
    # Right after the commit the page gets the new verified labels alone; LP results follow later.
    first, *_ = [c for c, _ in widget.wire.of("state") if c["version"] > before]
    assert {f["name"] for f in first["fields"]} <= {"rows", "flagged", "verified"} and not first["full"]
    assert "verified" in [f["name"] for f in first["fields"]]
    assert "given" not in [f["name"] for f in widget.wire.last("state")[0]["fields"]]
    state = widget.wire.page_state()
    for name in ("given", "verified", "predicted", "confidence", "suspicion"):
        np.testing.assert_array_equal(state[name], getattr(session.state, name))
    assert widget.wire.last("state")[0]["version"] == session.state.version
    assert state["verified"][[1, 3]].tolist() == [0, 0]
    assert state["predicted"][:4].tolist() == [0, 0, 0, 0]
    assert not widget.busy and widget.counts["verified"] == 2


def test_accept_unlabel_undo_redo_reach_the_session(widget, session):
    send(widget, type="ready")
    send(widget, type="accept", request_id=1, indices=[0, 4])
    settle(widget)
    assert session.state.verified[[0, 4]].tolist() == [0, 1]
    send(widget, type="unlabel", request_id=2, indices=[0])
    settle(widget)
    assert session.state.verified[0] == -1
    send(widget, type="undo", request_id=3)
    settle(widget)
    assert session.state.verified[0] == 0
    send(widget, type="redo", request_id=4)
    settle(widget)
    assert session.state.verified[0] == -1
    assert all(widget.wire.reply(i)["ok"] for i in (1, 2, 3, 4))
    np.testing.assert_array_equal(widget.wire.page_state()["verified"], session.state.verified)


def test_take_predicted_labels_each_item_with_its_prediction(widget, session):
    predicted = session.state.predicted.copy()
    send(widget, type="take_predicted", request_id=5, indices=[1, 5, 9])
    settle(widget)
    assert widget.wire.reply(5)["ok"]
    assert session.state.verified[[1, 5, 9]].tolist() == predicted[[1, 5, 9]].tolist() == [0, 1, 2]
    # Three classes, one key press: one undo takes all of it back.
    send(widget, type="undo", request_id=6)
    settle(widget)
    assert widget.wire.reply(6)["ok"] and session.state.verified[[1, 5, 9]].tolist() == [-1, -1, -1]


def test_add_class_by_name_keeps_the_text(widget, session):
    send(widget, type="add_class", request_id=1, name="  bird <b>  ")
    settle(widget)
    assert session.classes[-1] == "bird <b>"
    assert widget.classes == ["cat", "dog", XSS, "bird <b>"]
    assert len(widget.counts["given"]) == 4
    send(widget, type="label", request_id=2, indices=[11], cls=3)
    settle(widget)
    assert session.state.verified[11] == 3


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"type": "label", "indices": [0], "cls": 9}, "class index in \\[0, 3\\)"),
        ({"type": "label", "indices": [12], "cls": 0}, "integers in \\[0, 12\\)"),
        ({"type": "label", "indices": [], "cls": 0}, "non-empty list"),
        ({"type": "accept", "indices": [3]}, "given label"),
        ({"type": "add_class", "name": "cat"}, "new name"),
        ({"type": "request_thumbs", "indices": list(range(12)) * 100}, "at most 256"),
    ],
)
def test_bad_requests_are_answered_with_the_reason(widget, session, content, match):
    send(widget, request_id=42, **content)
    reply = widget.wire.reply(42)
    assert not reply["ok"] and re.search(match, reply["error"])
    assert re.search(match, widget.error)
    assert (session.state.verified == -1).all()


def test_refused_accept_says_what_to_do_in_the_widget_then_a_label_clears_it(widget, session):
    # Item 3 has no given label. The answer names the widget's keys, not the session's Python API.
    send(widget, type="accept", request_id=9, indices=[3, 0])
    reply = widget.wire.reply(9)
    assert not reply["ok"]
    assert "1 of the 2 selected items have no given label" in reply["error"] and "'3'" in reply["error"]
    assert "class key" in reply["error"] and "label(" not in reply["error"]
    assert widget.error == reply["error"]
    assert (session.state.verified == -1).all() and list(LabelStore(session.journal).read()) == []
    send(widget, type="label", request_id=10, indices=[3], cls=0)
    assert widget.wire.reply(10)["ok"] and widget.error == "" and widget.saved
    assert [(e.kind, e.item, e.cls) for e in LabelStore(session.journal).read()] == [("label", "3", "cat")]


def test_find_answers_the_index_of_an_id(widget):
    send(widget, type="find", request_id=5, id="7")
    assert widget.wire.reply(5) == {"type": "reply", "request_id": 5, "ok": True, "error": "", "index": 7}
    send(widget, type="find", request_id=6, id="no such id")
    reply = widget.wire.reply(6)
    assert not reply["ok"] and "'no such id'" in reply["error"] and "index" not in reply


def test_unknown_message_type_shows_an_error(widget):
    send(widget, type="explode")
    assert "explode" in widget.error and not widget.wire.messages


def test_thumbnails_without_images_send_ids_only(widget):
    send(widget, type="request_thumbs", request_id=3, indices=[2, 0])
    content, buffers = widget.wire.last("thumbs")
    assert content["request_id"] == 3 and buffers == []
    assert [(it["index"], it["id"]) for it in content["items"]] == [(2, "2"), (0, "0")]
    assert all("no images" in it["error"] for it in content["items"])
    assert not widget.has_images


def test_thumbnails_travel_as_image_bytes(tmp_path):
    X, y = blobs()
    pixels = np.zeros((12, 20, 30, 3), np.uint8)
    pixels[:, :, :, 0] = (np.arange(12) * 20)[:, None, None]
    source = from_array(pixels, labels=y, classes=["a", "b", "c"])
    s = Session(
        X,
        ids=source.ids,
        given=y,
        classes=source.classes,
        journal=tmp_path / "img.nblabel.db",
        k=3,
        source=source,
    )
    w = Labeler(s, thumb_size=16, background=False)
    wire = Wire()
    w.send = wire
    send(w, type="request_thumbs", request_id=1, indices=[5, 6])
    content, buffers = wire.last("thumbs")
    assert [it["mime"] for it in content["items"]] == [source.thumbnail_format] * 2
    images = [Image.open(io.BytesIO(bytes(b))) for b in buffers]
    assert [im.size for im in images] == [(16, 11), (16, 11)]
    assert [im.convert("RGB").getpixel((8, 5))[0] for im in images] == pytest.approx([100, 120], abs=3)
    assert w.has_images
    # The layout thread runs UMAP inside warnings.catch_warnings, which is process-wide: left running, it
    # can undo a later test's pytest.warns.  Let it finish here.
    assert w.wait_for_layout(120)
    w.close()
    s.close()


def test_browse_filters_and_suspects_views(widget, session):
    def view() -> list[int]:
        return widget.wire.arrays("view")["indices"].tolist()

    widget.browse_filter = "unlabeled"
    assert view() == [3, 7, 11]
    widget.browse_filter = "class:2"
    assert view() == [1, 8, 9, 10]
    widget.browse_filter = "predicted:1"
    assert view() == np.flatnonzero(session.state.predicted == 1).tolist()
    widget.browse_filter = "flagged"
    assert view() == np.flatnonzero(session.state.flagged).tolist()
    widget.mode = "suspects"
    assert [session.ids[i] for i in view()] == session.suspects(n=12).index.tolist()
    assert view()[0] == 1  # the injected wrong label is the most suspicious
    assert widget.wire.last("view")[0]["mode"] == "suspects"
    send(widget, type="accept", request_id=1, indices=[1])
    settle(widget)
    assert 1 not in view()  # reviewed items leave the list
    widget.mode = "browse"
    widget.browse_filter = "class:7"
    assert view() == [] and "browse_filter" in widget.error


def test_suspects_only_flagged(tmp_path):
    # 3 clusters of 20 with one wrong given label each: those three are flagged, the rest merely listed.
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 4.0
    X = np.concatenate([c + 0.3 * rng.normal(size=(20, 8)) for c in centers]).astype(np.float32)
    given = np.repeat(np.arange(3), 20)
    given[[0, 20, 41]] = [1, 2, 0]
    s = Session(X, given=given, classes=["a", "b", "c"], journal=tmp_path / "f.nblabel.db", k=5)
    w = Labeler(s, mode="suspects", background=False)
    wire = Wire()
    w.send = wire
    w.flagged_only = True
    flagged = wire.arrays("view")["indices"].tolist()
    assert wire.last("view")[0]["key"] == "suspects:flagged"
    assert sorted(flagged) == [0, 20, 41] == np.flatnonzero(s.state.flagged).tolist()
    assert flagged == sorted(flagged, key=lambda i: -s.state.suspicion[i])  # most suspicious first
    w.flagged_only = False
    everything = wire.arrays("view")["indices"].tolist()
    # The 1st, 4th and 7th take the top suspects, the others are audit draws.
    assert len(everything) == 60 and set(flagged) <= set(everything[: 2 * TOP_EVERY + 1])
    assert w.wait_for_layout(120)  # see test_thumbnails_travel_as_image_bytes
    w.close()
    s.close()


def test_queue_and_similar_views_come_from_the_session(widget, session):
    widget.mode = "queue"
    queue = widget.wire.arrays("view")["indices"].tolist()
    assert [session.ids[i] for i in queue] == session.next_batch(n=5, strategy="margin")
    widget.mode = "similar"
    widget.anchor = 6
    similar = widget.wire.arrays("view")["indices"].tolist()
    assert similar[0] == 6
    assert [session.ids[i] for i in similar[1:]] == session.neighbors("6", n=4)
    assert set(similar) <= {4, 5, 6, 7} | set(similar[4:])  # the nearest ones are its own cluster


def test_a_background_failure_shows_on_the_page(widget, session, monkeypatch):
    def boom(changed):
        raise RuntimeError("propagation exploded")

    monkeypatch.setattr(session, "_run_lp", boom)
    send(widget, type="label", request_id=1, indices=[0], cls=0)
    with pytest.raises(RuntimeError):
        session.wait(10)
    assert widget.wire.reply(1)["ok"]  # the label itself was saved
    assert "propagation exploded" in widget.error and not widget.busy


def test_selection_and_close(widget, session):
    widget.selection = [2, 0]
    assert widget.selected_ids == ["2", "0"]
    widget.close()
    n = len(widget.wire.messages)
    session.label(["5"], 1)
    session.wait(10)
    assert len(widget.wire.messages) == n  # no longer subscribed


def test_without_a_built_bundle_the_page_says_how_to_build_it(tmp_path):
    # Run the fallback module as a front end would (render into an element of a DOM), not read its source.
    node = shutil.which("node")
    jsdom = JS_DIR / "node_modules" / "jsdom"
    if node is None or not jsdom.is_dir():
        pytest.skip("needs node and jsdom (cd js && npm ci)")
    assert _bundle("no-such-bundle.js", _MISSING_BUNDLE_ESM) == _MISSING_BUNDLE_ESM
    module = tmp_path / "fallback.mjs"
    module.write_text(_MISSING_BUNDLE_ESM)
    runner = tmp_path / "run.mjs"
    runner.write_text(
        f"""
        import {{ createRequire }} from "node:module";
        const {{ JSDOM }} = createRequire({str(jsdom / "package.json")!r})("jsdom");
        const dom = new JSDOM("<div id=el></div>");
        globalThis.document = dom.window.document;
        const widget = (await import({module.as_uri()!r})).default;
        const el = document.getElementById("el");
        widget.render({{ el }});
        const box = el.querySelector('[data-testid="nbl-fallback"]');
        console.log(JSON.stringify({{ found: Boolean(box), text: box ? box.textContent : el.textContent }}));
        """
    )
    out = subprocess.run([node, str(runner)], capture_output=True, text=True, timeout=60, check=True).stdout
    shown = json.loads(out)
    assert shown["found"]
    assert "widget.js is missing" in shown["text"] and "npm run build" in shown["text"]


def test_repr_says_what_to_do_without_widget_support(widget):
    text = repr(widget)
    assert "12 items" in text and "JupyterLab" in text


def test_constructor_rejects_bad_sizes(session):
    with pytest.raises(ValueError, match="page_size"):
        Labeler(session, page_size=0)
    with pytest.raises(ValueError, match="thumb_size"):
        Labeler(session, thumb_size=True)


def test_menus_are_defined_once_in_python_and_sent_to_the_page(tmp_path):
    # The page builds its mode and colour menus from the `options` trait: each entry is a value the trait
    # accepts, every accepted value has an entry, and no front-end source keeps a second copy of the list.
    from nblabel import widget as widget_module

    X, y = blobs()
    s = Session(X, given=y, journal=tmp_path / "j.nblabel.db", k=5)
    w = Labeler(s, background=False)
    for menu, values in (("mode", widget_module.MODES), ("color_by", widget_module.COLOR_BY)):
        assert [v for v, _ in w.options[menu]] == list(values)
        assert set(values) == set(w.traits()[menu].values)
    texts = [t for menu in w.options.values() for _, t in menu if t not in ("browse", "outliers")]
    for source in (JS_DIR / "src").glob("*.js"):
        code = source.read_text()
        assert not [t for t in texts if f'"{t}"' in code], f"{source.name} repeats a menu entry"
    w.close()
    s.close()
