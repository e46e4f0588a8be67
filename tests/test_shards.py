"""Sharded embeddings on disk and the memory-mapped path from them to a Session: no copy of the embeddings."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nblabel import Session
from nblabel._blocks import file_mapping, row_blocks
from nblabel._validation import check_embeddings
from nblabel.cache import save_npy
from nblabel.resume import fingerprint
from nblabel.shards import MANIFEST, new_run_id, open_embeddings, write_manifest, write_shard


def _blobs(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, d))
    X = centres[np.arange(n) % 3] + 0.3 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _write_folder(root, X, sizes, classes=("a", "b")):
    """Shards of ``sizes`` rows of X each, ids "i0", "i1", ..., given labels alternating; manifest last.

    Shard k is named as if it held block k of 100 images (a block whose images all failed holds 0 rows).
    """
    root.mkdir(exist_ok=True)
    shards, lo = [], 0
    for k, m in enumerate(sizes):
        ids = [f"i{i}" for i in range(lo, lo + m)]
        name = write_shard(root, 100 * k, X[lo : lo + m], ids, np.arange(lo, lo + m) % 2)
        shards.append({"name": name, "count": m})
        lo += m
    manifest = {"run": new_run_id(), "dim": X.shape[1], "count": lo, "classes": list(classes)}
    manifest["shards"] = shards
    write_manifest(root, manifest)
    return manifest


def _rss_file_mb():
    status = Path("/proc/self/status")
    found = re.search(r"RssFile:\s+(\d+) kB", status.read_text()) if status.exists() else None
    if found is None:
        pytest.skip("needs Linux /proc/self/status")
    return int(found.group(1)) / 1024


def test_row_blocks_hand_mapped_pages_back(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((1 << 18, 64), np.float32))  # 64 MB
    X = np.load(path, mmap_mode="r")
    before = _rss_file_mb()
    total = sum(float(block.sum()) for _, block in row_blocks(X))
    assert total == X.size
    assert _rss_file_mb() - before < 24  # at most a block or two resident, never the 64 MB
    float(X.sum())  # the same pass without blocks: every page stays mapped (the bound above can fail)
    assert _rss_file_mb() - before > 48


def test_row_blocks_of_an_array_in_ram_are_views():
    X = _blobs(1000)
    blocks = list(row_blocks(X, rows=300))
    assert [lo for lo, _ in blocks] == [0, 300, 600, 900]
    assert all(np.shares_memory(b, X) for _, b in blocks) and file_mapping(X) is None


def test_memory_mapped_embeddings_are_checked_hashed_and_saved_without_a_copy(tmp_path):
    X = _blobs(5000)
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    checked = check_embeddings(M)
    assert np.shares_memory(checked, M) and file_mapping(checked) is not None
    assert fingerprint(checked) == fingerprint(X)  # hashed a block at a time: the same hash
    save_npy(tmp_path / "copy.npy", M)
    np.save(tmp_path / "ref.npy", X)
    assert (tmp_path / "copy.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    bad = np.load(tmp_path / "x.npy", mmap_mode="c")  # copy-on-write: never released (its edits would go)
    assert file_mapping(bad) is None


def test_check_embeddings_still_finds_bad_rows_across_blocks(tmp_path, monkeypatch):
    import nblabel._blocks as blocks

    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)  # two rows of d = 8 per block
    X = _blobs(20)
    X[13] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in 1 row\(s\), first rows \[13\]"):
        check_embeddings(X)
    X[13] = 0
    with pytest.raises(ValueError, match=r"1 all-zero row\(s\), first rows \[13\]"):
        check_embeddings(X)


def test_session_on_a_memory_map_holds_no_copy_and_reopens_mapped(tmp_path):
    X = _blobs(600)
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    journal = tmp_path / "s.nblabel.db"
    with Session(M, journal=journal, k=5) as session:
        assert np.shares_memory(session.embeddings, M)
        reference = Session(X, journal=tmp_path / "ram.nblabel.db", k=5)
        np.testing.assert_array_equal(session.graph.neighbors_, reference.graph.neighbors_)
        reference.close()
    # Reopened from the copy kept beside the journal, which is mapped too, not read into RAM.
    with Session.open(journal) as again:
        assert file_mapping(again.embeddings) is not None
        np.testing.assert_array_equal(again.embeddings, X)


def test_open_embeddings_joins_shards_in_order_once(tmp_path):
    X = _blobs(50)
    root = tmp_path / "out"
    _write_folder(root, X, [20, 0, 30])
    opened = open_embeddings(root)
    np.testing.assert_array_equal(opened.embeddings, X)
    assert opened.ids == [f"i{i}" for i in range(50)] and opened.given.tolist() == [i % 2 for i in range(50)]
    assert opened.classes == ["a", "b"] and isinstance(opened.embeddings, np.memmap)
    joined = list(root.glob("joined-*.npy"))
    assert len(joined) == 1 and Path(opened.embeddings.filename) == joined[0]
    mtime = joined[0].stat().st_mtime_ns
    assert Path(open_embeddings(root).embeddings.filename) == joined[0]
    assert joined[0].stat().st_mtime_ns == mtime  # reused, not written again
    elsewhere = open_embeddings(root, join_dir=tmp_path / "joins")
    assert Path(elsewhere.embeddings.filename).parent == tmp_path / "joins"


def test_open_embeddings_refuses_an_unfinished_or_damaged_folder(tmp_path):
    X = _blobs(30)
    root = tmp_path / "out"
    _write_folder(root, X, [10, 20])
    (root / MANIFEST).unlink()  # as a run that stopped before its last step leaves it
    with pytest.raises(ValueError, match="manifest.json.*has not finished"):
        open_embeddings(root)
    manifest = _write_folder(root, X, [10, 20])
    np.save(root / f"{manifest['shards'][1]['name']}.npy", X[:5])
    with pytest.raises(ValueError, match=r"holds float32 \(5, 8\), the manifest says float32 \(20, 8\)"):
        open_embeddings(root)
    _write_folder(root, X, [10, 20])
    data = json.loads((root / MANIFEST).read_text())
    data["count"] = 31
    (root / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="hold 30 rows, the manifest says 31"):
        open_embeddings(root)
    with pytest.raises(ValueError, match="not a folder"):
        open_embeddings(tmp_path / "nothing")
