"""embed_with_ray on a local Ray instance against single-process embed_images, and sessions on its shards.

Ray costs about a minute to start on a loaded 2-core machine, so one local instance serves the whole module
and two small runs (a folder of 41 images in three shards, an array of 12 in one) feed every Ray test.
"""

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nblabel import Session
from nblabel.data import ImageReadWarning, from_array, from_folder
from nblabel.embed import Encoder, embed_images
from nblabel.shards import MANIFEST, open_embeddings

ray = pytest.importorskip("ray")

from nblabel.distributed import embed_with_ray  # noqa: E402 - after the skip guard

TINY = {"model": "resnet10t", "model_kwargs": {"channels": (8, 16, 32, 64)}, "image_size": 16}


def _reference(source):
    """Single-process embeddings of ``source`` with the same encoder, undecodable images left out."""
    encoder = Encoder(
        TINY["model"],
        pretrained=False,
        model_kwargs=TINY["model_kwargs"],
        image_size=TINY["image_size"],
        device="cpu",
        cache_dir=False,
        progress=False,
        num_workers=0,
        batch_size=8,
    )
    X = embed_images(source, encoder)
    keep = np.flatnonzero(np.isfinite(X).all(axis=1))
    return X[keep], [source.ids[i] for i in keep]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """40 small images in two class folders, and a JPEG cut short (passes the header check, not decoding)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir()
        for k in range(20):
            pixels = rng.integers(0, 256, (10 + k % 5, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{k:02d}.png")
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (root / "cat" / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return root


@pytest.fixture(scope="module")
def local_ray():
    # Ray gives its node 30 s to register; on a loaded machine the first try can miss that, so one more.
    for attempt in range(2):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt:
                raise
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def folder_run(local_ray, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    source = from_folder(folder)
    assert "cat/cut.jpg" in source.ids  # found only when a worker decodes it
    with pytest.warns(ImageReadWarning, match="cat/cut.jpg"):
        manifest = embed_with_ray(
            source,
            out,
            pretrained=False,
            batch_size=8,
            rows_per_shard=16,
            concurrency=2,
            **TINY,
        )
    return out, manifest


@pytest.fixture(scope="module")
def array_run(local_ray, tmp_path_factory):
    images = np.random.default_rng(1).integers(0, 256, (12, 9, 9, 3), dtype=np.uint8)
    out = tmp_path_factory.mktemp("array-shards")
    manifest = embed_with_ray(images, out, pretrained=False, batch_size=8, concurrency=1, **TINY)
    return images, out, manifest


def test_same_ids_and_vectors_as_embed_images(folder, folder_run):
    out, manifest = folder_run
    source = from_folder(folder)
    with pytest.warns(ImageReadWarning, match="cat/cut.jpg"):
        X, ids = _reference(source)
    opened = open_embeddings(out)
    names = [s["name"] for s in manifest["shards"]]
    assert names == ["shard-000000000", "shard-000000016", "shard-000000032"]
    assert opened.ids == ids and len(ids) == 40
    np.testing.assert_allclose(opened.embeddings, X, atol=1e-5)
    assert opened.classes == source.classes == ["cat", "dog"]
    kept = [source.ids.index(i) for i in ids]
    assert opened.given.tolist() == source.given[kept].tolist()
    assert manifest["dim"] == X.shape[1] and manifest["count"] == 40
    assert manifest["model"]["model"] == "resnet10t" and manifest["model"]["weights"] == "random-init:seed=0"


def test_image_that_fails_to_decode_is_left_out_and_reported(folder_run):
    out, manifest = folder_run
    opened = open_embeddings(out)
    assert [e[0] for e in manifest["errors"]] == ["cat/cut.jpg"] == [e[0] for e in opened.errors]
    assert "cat/cut.jpg" not in opened.ids and np.isfinite(opened.embeddings).all()
    shard = json.loads((out / "shard-000000016.ids.json").read_text())
    assert len(shard["ids"]) == 15  # cat/cut.jpg is image 20, in the second block of 16


def test_array_source_in_one_shard_is_mapped_without_a_copy(array_run):
    images, out, manifest = array_run
    X, ids = _reference(from_array(images))
    opened = open_embeddings(out)
    assert len(manifest["shards"]) == 1 and opened.ids == ids == [str(i) for i in range(12)]
    np.testing.assert_allclose(opened.embeddings, X, atol=1e-5)
    assert isinstance(opened.embeddings, np.memmap) and Path(opened.embeddings.filename).name == (
        "shard-000000000.npy"
    )
    assert not list(out.glob("joined-*"))  # one shard needs no joined file


def test_session_on_the_shards_matches_a_session_in_ram(folder_run, tmp_path):
    out, _ = folder_run
    opened = open_embeddings(out)
    mapped = Session(**opened.session_kwargs(), journal=tmp_path / "mapped.nblabel.db")
    in_ram = Session(
        np.array(opened.embeddings),
        ids=opened.ids,
        given=opened.given,
        classes=opened.classes,
        journal=tmp_path / "ram.nblabel.db",
    )
    try:
        # The session reads the joined file in place: no copy of the embeddings in RAM.
        assert np.shares_memory(mapped.embeddings, opened.embeddings)
        assert isinstance(opened.embeddings, np.memmap) and Path(opened.embeddings.filename).parent == out
        np.testing.assert_array_equal(mapped.graph.neighbors_, in_ram.graph.neighbors_)
        mapped.label(opened.ids[0], "dog")
        in_ram.label(opened.ids[0], "dog")
        np.testing.assert_allclose(mapped.state.proba, in_ram.state.proba, atol=1e-6)
        assert mapped.state.flagged.tolist() == in_ram.state.flagged.tolist()
    finally:
        mapped.close()
        in_ram.close()
    # The same folder opens again on the joined file already there.
    assert open_embeddings(out).embeddings.filename == opened.embeddings.filename


def test_finished_folder_is_not_overwritten_by_accident(folder_run):
    out, _ = folder_run
    with pytest.raises(FileExistsError, match="overwrite=True"):
        embed_with_ray(np.zeros((2, 4, 4), np.uint8), out, pretrained=False, **TINY)
    assert (out / MANIFEST).is_file()


def test_missing_ray_says_how_to_install(monkeypatch):
    import sys

    import nblabel.distributed as distributed

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "nblabel\[ray\]"'):
        distributed.import_ray()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImportError, match="nblabel"):
            embed_with_ray(np.zeros((2, 4, 4), np.uint8), "unused", **TINY)


def test_cli_embed_ray_writes_the_vectors_the_single_process_cli_writes(local_ray, folder, tmp_path, capsys):
    from nblabel import cli

    common = ["embed", str(folder), "--model", "resnet10t", "--random-init", "--image-size", "16"]
    with pytest.warns(ImageReadWarning):
        assert cli.main([*common, "--device", "cpu", "--no-cache", "--out", str(tmp_path / "e.npy")]) == 0
    with pytest.warns(ImageReadWarning):
        assert cli.main([*common, "--ray", "--out", str(tmp_path / "shards")]) == 0
    printed = capsys.readouterr()
    assert "Wrote 40 x 512 embeddings in 1 shard(s)" in printed.out and "skipped cat/cut.jpg" in printed.err
    opened = open_embeddings(tmp_path / "shards")
    table = cli.ids_path_for(tmp_path / "e.npy").read_text().splitlines()[1:]
    assert opened.ids == [line.split(",")[0] for line in table]
    np.testing.assert_allclose(opened.embeddings, np.load(tmp_path / "e.npy"), atol=1e-5)
    with pytest.raises(SystemExit):  # a finished folder is kept unless --overwrite
        cli.main([*common, "--ray", "--out", str(tmp_path / "shards")])
    assert "--overwrite" in capsys.readouterr().err


def test_cli_embed_ray_without_ray_says_how_to_install(folder, tmp_path, monkeypatch, capsys):
    import sys

    from nblabel import cli

    monkeypatch.setitem(sys.modules, "ray", None)
    status = cli.main(["embed", str(folder), "--ray", "--random-init", "--out", str(tmp_path / "s")])
    assert status == 1 and 'pip install "nblabel[ray]"' in capsys.readouterr().err
