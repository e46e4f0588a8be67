import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from nblabel.data import (
    ImageReadWarning,
    as_source,
    from_array,
    from_dataframe,
    from_folder,
    from_paths,
)


def _rgb(w, h, color):
    return Image.new("RGB", (w, h), color)


@pytest.fixture
def tree(tmp_path):
    """An ImageFolder tree with every format / mode, one corrupt file, one non-image and a hidden folder."""
    root = tmp_path / "imgs"
    (root / "cat").mkdir(parents=True)
    (root / "dog" / "deep").mkdir(parents=True)
    (root / ".ipynb_checkpoints").mkdir()
    _rgb(20, 10, (255, 0, 0)).save(root / "cat" / "a.png")
    _rgb(16, 16, (0, 255, 0)).save(root / "cat" / "b.jpg", quality=95)
    rgba = Image.new("RGBA", (12, 30), (0, 0, 255, 0))  # fully transparent blue: must come out white
    rgba.save(root / "dog" / "c.webp", lossless=True)
    Image.new("L", (9, 9), 77).save(root / "dog" / "deep" / "d.bmp")
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(root / "top16.png")  # 16-bit, no label
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (root / "notes.txt").write_text("not an image")
    _rgb(4, 4, (1, 2, 3)).save(root / ".ipynb_checkpoints" / "hidden.png")
    return root


def test_from_folder_labels_ids_and_formats(tree):
    with pytest.warns(ImageReadWarning, match="dog/broken.png") as record:
        src = from_folder(tree)
    assert len(record) == 1
    assert src.ids == ["cat/a.png", "cat/b.jpg", "dog/c.webp", "dog/deep/d.bmp", "top16.png"]
    assert src.classes == ["cat", "dog"]
    assert src.given.tolist() == [0, 0, 1, 1, -1]
    assert src.given.dtype == np.int32
    assert [e[0] for e in src.errors] == ["dog/broken.png"]
    images = [src.load(i) for i in range(len(src))]
    assert all(im.mode == "RGB" for im in images)
    assert [im.size for im in images] == [(20, 10), (16, 16), (12, 30), (9, 9), (8, 8)]
    assert images[0].getpixel((0, 0)) == (255, 0, 0)
    assert images[2].getpixel((5, 5)) == (255, 255, 255)  # transparent composited on white
    assert images[3].getpixel((0, 0)) == (77, 77, 77)
    assert images[4].getpixel((0, 0)) == (255, 255, 255)  # 16-bit full scale -> 255, not clipped garbage


def test_from_folder_extensions_filter(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        src = from_folder(tree, extensions=["JPG", ".bmp"])
    assert src.ids == ["cat/b.jpg", "dog/deep/d.bmp"]
    assert src.classes == ["cat", "dog"]


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="found none"):
        from_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        from_folder(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="all 1 failed"):
        from_folder(bad)


def test_truncated_file_reported_once_at_load(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "ok.png").write_bytes(b"")
    _rgb(5, 5, (9, 9, 9)).save(tmp_path / "ok.png")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    src = from_folder(tmp_path)  # the header check passes: JPEG has no checksum to catch the cut
    assert src.ids == ["cut.jpg", "ok.png"] and src.errors == []
    with pytest.warns(ImageReadWarning, match="cut.jpg"):
        im = src.load(0)
    assert im.mode == "RGB" and im.getpixel((0, 0)) == (128, 128, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second load must not warn again
        src.load(0)
    assert [e[0] for e in src.errors] == ["cut.jpg"]
    with pytest.warns(ImageReadWarning):
        assert from_folder(tmp_path, check="full").ids == ["ok.png"]


def test_thumbnail_webp_bounded_and_cached(tree):
    with pytest.warns(ImageReadWarning):
        src = from_folder(tree, thumb_cache_size=2)
    calls = []
    original = src._load_reduced
    src._load_reduced = lambda i, size: calls.append(i) or original(i, size)
    data = src.thumbnail(2, size=10)
    assert src.thumbnail_format in ("image/webp", "image/png")
    if src.thumbnail_format == "image/webp":
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    thumb = Image.open(io.BytesIO(data))
    assert max(thumb.size) == 10 and thumb.size == (4, 10)  # 12x30 keeps its aspect ratio
    assert src.thumbnail(2, size=10) == data and calls == [2]  # second call is a cache hit
    small = Image.open(io.BytesIO(src.thumbnail(4, size=32)))
    assert small.size == (32, 32)  # tiny images are scaled up to the requested size
    src.thumbnail(0, size=10)
    src.thumbnail(2, size=10)  # evicted by the bound of 2 entries: loaded again
    assert calls == [2, 4, 0, 2]
    with pytest.raises(ValueError, match="positive integer"):
        src.thumbnail(0, size=0)
    with pytest.raises(ValueError, match="index"):
        src.load(99)


def test_from_paths_and_dataframe(tree):
    paths = [tree / "cat" / "a.png", tree / "dog" / "c.webp", tree / "top16.png"]
    src = from_paths(paths, labels=["x", None, "y"])
    assert src.ids == ["cat/a.png", "dog/c.webp", "top16.png"]
    assert src.classes == ["x", "y"] and src.given.tolist() == [0, -1, 1]
    rel = from_paths(["cat/a.png", "top16.png"], labels=[1, 0], root=tree, classes=["p", "q"])
    assert rel.ids == ["cat/a.png", "top16.png"] and rel.given.tolist() == [1, 0]
    df = pd.DataFrame({"file": [str(p) for p in paths], "label": ["b", np.nan, "a"]})
    dsrc = from_dataframe(df, path_col="file", label_col="label")
    assert dsrc.classes == ["a", "b"] and dsrc.given.tolist() == [1, -1, 0]
    with pytest.raises(ValueError, match="column"):
        from_dataframe(df)
    with pytest.raises(ValueError, match="one label per path"):
        from_paths(paths, labels=["x"])
    with pytest.raises(ValueError, match="unique"):
        from_paths([paths[0], paths[0]])
    with pytest.raises(ValueError, match="mix"):
        from_paths(paths, labels=["x", 1, None])
    with pytest.warns(ImageReadWarning, match="missing.png"):
        assert from_paths([paths[0], tree / "missing.png"]).ids == ["cat/a.png"]


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((3, 5, 6), np.uint8), ((3, 5, 6, 1), np.uint8), ((3, 5, 6, 3), np.float32), ((3, 5, 6, 4), np.float64)],
)
def test_from_array_shapes(shape, dtype):
    rng = np.random.default_rng(0)
    arr = (
        rng.integers(0, 256, shape).astype(np.uint8) if dtype == np.uint8 else rng.random(shape).astype(dtype)
    )
    src = from_array(arr, labels=[2, -1, 0], classes=["a", "b", "c"])
    assert src.ids == ["0", "1", "2"] and src.given.tolist() == [2, -1, 0] and src.classes == ["a", "b", "c"]
    im = src.load(1)
    assert im.mode == "RGB" and im.size == (6, 5)
    if shape == (3, 5, 6):
        assert np.array_equal(np.asarray(im)[..., 0], arr[1])


def test_from_array_rejects_bad_input():
    with pytest.raises(ValueError, match="dtype int64"):
        from_array(np.zeros((2, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        from_array(np.full((2, 4, 4), 2.0))
    with pytest.raises(ValueError, match="shape"):
        from_array(np.zeros((2, 4, 4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        from_array(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="below len"):
        from_array(np.zeros((2, 4, 4), dtype=np.uint8), labels=[0, 3], classes=["a", "b"])
    src = from_array(np.zeros((2, 4, 4), dtype=np.uint8), labels=["dog", "cat"])
    assert src.classes == ["cat", "dog"] and src.given.tolist() == [1, 0]


def test_as_source_wraps_arrays_and_rejects_other_objects():
    src = from_array(np.zeros((2, 4, 4), dtype=np.uint8))
    assert as_source(src) is src
    wrapped = as_source(np.full((3, 4, 4), 9, dtype=np.uint8))
    assert wrapped.ids == ["0", "1", "2"] and wrapped.load(2).getpixel((0, 0)) == (9, 9, 9)
    with pytest.raises(ValueError, match="images: expected an ImageSource or an image array; got list"):
        as_source([[0]], name="images")


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_array_rgb_roundtrip_and_hash(arr):
    src = from_array(arr)
    for i in range(len(src)):
        assert np.array_equal(np.asarray(src.load(i)), arr[i])
        same = [j for j in range(len(src)) if np.array_equal(arr[i], arr[j])]
        assert [j for j in range(len(src)) if src.content_hash(j) == src.content_hash(i)] == same


def test_content_hash_follows_file_content_and_pickles(tmp_path):
    _rgb(4, 4, (10, 10, 10)).save(tmp_path / "a.png")
    _rgb(4, 4, (10, 10, 10)).save(tmp_path / "b.png")
    src = from_folder(tmp_path)
    h = src.content_hash(0)
    assert h == src.content_hash(1)
    _rgb(4, 4, (11, 10, 10)).save(tmp_path / "a.png")
    assert src.content_hash(0) != h
    clone = pickle.loads(pickle.dumps(src))
    assert clone.ids == src.ids and clone.load(1).getpixel((0, 0)) == (10, 10, 10)


def test_tiny_images_upscale_with_exact_hard_edges():
    # An 8x8 checkerboard shown at 96 px must stay a checkerboard: every 12x12 block one exact colour
    # (a lossy encoding would smear the edges the widget shows pixelated).
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    src = from_array(board[None])
    with Image.open(io.BytesIO(src.thumbnail(0, 96))) as im:
        pixels = np.asarray(im.convert("L"))
    assert pixels.shape == (96, 96)
    np.testing.assert_array_equal(pixels, np.kron(board, np.ones((12, 12), np.uint8)))
