import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

import nblabel.embed as embed_mod
from nblabel.data import ImageReadWarning, from_array, from_folder
from nblabel.embed import Encoder, WeightsUnavailableError, create_backbone, embed_images

TINY = {"model_name": "resnet10t", "model_kwargs": {"channels": (8, 16, 32, 64)}, "image_size": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _encoder(tmp_path, **kw):
    args = dict(
        TINY, pretrained=False, cache_dir=tmp_path / "cache", progress=False, num_workers=0, batch_size=4
    )
    args.update(kw)
    return Encoder(**args)


def _count_rows(encoder):
    rows = []
    encoder.model.register_forward_hook(lambda module, inputs, output: rows.append(inputs[0].shape[0]))
    return rows


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(0, 256, (12 + k, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{k}.png")
    return root


def test_embeddings_are_normalised_float32_and_deterministic(tmp_path, folder):
    src = from_folder(folder)
    X = _encoder(tmp_path, cache_dir=False).embed(src)
    assert X.shape == (6, 64) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    again = _encoder(tmp_path, cache_dir=False)  # same seed -> same random init -> same embeddings
    np.testing.assert_allclose(again.embed(src), X, atol=1e-6)
    assert _encoder(tmp_path, seed=1).cache_key != again.cache_key


def test_cache_hits_then_recomputes_only_the_changed_image(tmp_path, folder):
    src = from_folder(folder)
    first = _encoder(tmp_path)
    rows = _count_rows(first)
    X1 = first.embed(src)
    assert sum(rows) == 6

    second = _encoder(tmp_path)  # a new encoder (a re-run notebook) with the same model and weights
    rows = _count_rows(second)
    X2 = second.embed(src)
    assert sum(rows) == 0
    np.testing.assert_array_equal(X1, X2)

    Image.fromarray(np.zeros((12, 10, 3), dtype=np.uint8)).save(folder / "b" / "1.png")
    X3 = second.embed(src)
    assert sum(rows) == 1
    changed = src.ids.index("b/1.png")
    keep = [i for i in range(6) if i != changed]
    np.testing.assert_array_equal(X3[keep], X1[keep])
    assert not np.allclose(X3[changed], X1[changed])
    np.testing.assert_allclose(
        X3[changed], _encoder(tmp_path, cache_dir=False).embed(src)[changed], atol=1e-5
    )


def test_array_rows_cached_by_content_and_duplicates_computed_once(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    arr[4] = arr[0]
    enc = _encoder(tmp_path)
    rows = _count_rows(enc)
    X = enc.embed(arr)
    assert sum(rows) == 4
    np.testing.assert_array_equal(X[4], X[0])
    arr2 = arr.copy()
    arr2[2] = 255 - arr2[2]
    X2 = embed_images(from_array(arr2), encoder=enc)
    assert sum(rows) == 5
    np.testing.assert_array_equal(X2[[0, 1, 3, 4]], X[[0, 1, 3, 4]])


def test_checkpoint_state_dict_loads_and_keys_the_cache(tmp_path):
    model, weights_id = create_backbone(TINY["model_name"], seed=3, model_kwargs=TINY["model_kwargs"])
    assert weights_id == "random-init:seed=3"
    path = tmp_path / "w.pth"
    torch.save(model.state_dict(), path)
    enc = _encoder(tmp_path, checkpoint=path)
    assert enc.weights_id.startswith("checkpoint:")
    np.testing.assert_allclose(
        enc.embed(np.zeros((2, 8, 8), np.uint8)),
        _encoder(tmp_path, seed=3, cache_dir=False).embed(np.zeros((2, 8, 8), np.uint8)),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="mismatched shapes"):
        _encoder(tmp_path, checkpoint=path, model_kwargs={"channels": (16, 32, 64, 128)})
    with pytest.raises(ValueError, match="does not exist"):
        _encoder(tmp_path, checkpoint=tmp_path / "nope.pth")


def test_workers_report_unreadable_files_to_the_parent(tmp_path, folder):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
    (folder / "a" / "cut.jpg").write_bytes(buf.getvalue()[:300])
    src = from_folder(folder, check="none")  # let the failure happen inside a DataLoader worker
    with pytest.warns(ImageReadWarning, match="cut.jpg"):
        X = _encoder(tmp_path, num_workers=1, cache_dir=False).embed(src)
    assert X.shape == (7, 64)
    cut = src.ids.index("a/cut.jpg")
    assert np.isnan(X[cut]).all() and np.isfinite(np.delete(X, cut, axis=0)).all()
    assert [e[0] for e in src.errors] == ["a/cut.jpg"]


def test_an_image_that_fails_to_decode_stays_out_of_the_session_and_the_cache(tmp_path, folder):
    # A file that passes the header check but is cut short: no grey placeholder joins the graph as an item.
    from nblabel.session import Session

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
    (folder / "a" / "cut.jpg").write_bytes(buf.getvalue()[:300])
    src = from_folder(folder, check="none")
    encoder = _encoder(tmp_path)
    with pytest.warns(ImageReadWarning, match="cut.jpg"):
        session = Session.from_source(src, encoder, journal=tmp_path / "j.nblabel.db", k=3)
    assert "a/cut.jpg" not in session.ids and len(session.ids) == 6
    assert session.source is not None and [e[0] for e in session.source.errors] == ["a/cut.jpg"]
    assert np.isfinite(session.embeddings).all()
    rows = _count_rows(encoder)
    with pytest.warns(ImageReadWarning, match="cut.jpg"):
        again = encoder.embed(from_folder(folder, check="none"))
    assert sum(rows) == 1 and np.isnan(again[src.ids.index("a/cut.jpg")]).all()  # only the bad one retried
    session.close()


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match="timm model name"):
        Encoder("resnet18x", pretrained=False)
    with pytest.raises(ValueError, match="device"):
        _encoder(tmp_path, device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        _encoder(tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="either encoder"):
        embed_images(np.zeros((2, 8, 8), np.uint8), encoder=_encoder(tmp_path), batch_size=2)
    with pytest.raises(ValueError, match="ImageSource"):
        _encoder(tmp_path).embed([1, 2, 3])


def test_pretrained_without_network_fails_fast_with_instructions(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(embed_mod, "_reachable", lambda host, *a, **k: False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(
        time, "sleep", lambda s: pytest.fail("the hub client retried instead of failing fast")
    )
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        Encoder("resnet18", pretrained=True, cache_dir=False)
    assert time.monotonic() - start < 10
    message = str(info.value)
    for hint in ("checkpoint=", "HF_HUB_CACHE", "pretrained=False", "unreachable"):
        assert hint in message


def test_real_hub_check_fails_fast_when_offline(tmp_path, monkeypatch):
    if embed_mod._reachable("huggingface.co"):
        pytest.skip("the model hub is reachable from here")
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="pretrained=False"):
        Encoder("resnet18", pretrained=True, cache_dir=False)
    assert time.monotonic() - start < 10


@pytest.mark.gpu
def test_cuda_embeddings_match_the_cpu(tmp_path, folder):
    # The CUDA path adds channels_last, pinned memory and bf16/fp16 autocast: its vectors must still agree
    # with the CPU's to what half precision allows, row for row.
    src = from_folder(folder)
    cpu = _encoder(tmp_path, cache_dir=False, device="cpu").embed(src)
    gpu = _encoder(tmp_path, cache_dir=False, device="cuda").embed(src)
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    np.testing.assert_allclose(np.linalg.norm(gpu, axis=1), 1.0, atol=1e-3)
    assert (np.sum(gpu * cpu, axis=1) > 0.99).all()


@pytest.mark.network
def test_pretrained_weights_download_and_embed(tmp_path, folder):
    # With a hub (NBLABEL_NETWORK=1) the default path really loads weights: its vectors differ from those of
    # the same architecture at its seeded random init.
    kw = {"cache_dir": False, "progress": False, "num_workers": 0}
    src = from_folder(folder)
    X = Encoder("resnet18", pretrained=True, **kw).embed(src)
    R = Encoder("resnet18", pretrained=False, **kw).embed(src)
    assert X.shape == R.shape == (6, 512)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert np.sum(X * R, axis=1).min() < 0.99


def test_offline_pretrained_loads_from_the_local_hub_cache(tmp_path, monkeypatch, folder):
    # No network, but the weights were copied into a Hugging Face cache: they load from there, through
    # timm's own `file` config, without the hub client being asked anything.
    import huggingface_hub.constants as hf_constants
    import timm
    from safetensors.torch import save_file

    cfg = timm.models.get_pretrained_cfg("resnet18")
    repo = cfg.hf_hub_id
    snapshot = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    torch.manual_seed(123)
    weights = timm.create_model("resnet18", pretrained=False).state_dict()
    save_file({k: v.contiguous() for k, v in weights.items()}, str(snapshot / "model.safetensors"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(embed_mod, "_reachable", lambda host, *a, **k: False)
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("the hub client was asked"))

    encoder = Encoder("resnet18", pretrained=True, cache_dir=False, progress=False, num_workers=0)
    loaded = encoder.model.state_dict()
    assert all(torch.equal(loaded[k].cpu(), weights[k]) for k in loaded)
    assert encoder.embed(from_folder(folder)).shape == (6, 512)
