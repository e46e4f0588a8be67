import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from nblabel.byol import BYOL, BatchAugment, byol_loss, cosine_tau, ema_update, mlp_head, train_byol
from nblabel.data import from_array
from nblabel.datasets import digits, digits_source
from nblabel.embed import Encoder

TINY = {"channels": (8, 16, 32, 64)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 8), st.integers(0, 2**16))
def test_loss_matches_equation_1(batch, dim, seed):
    g = torch.Generator().manual_seed(seed)
    p1, p2, z1, z2 = (torch.randn(batch, dim, generator=g, dtype=torch.float64) for _ in range(4))

    def ell(p, z):  # Eq. 1: -(p/|p|) . (z/|z|), averaged over the batch
        p, z = p.numpy(), z.numpy()
        return float(np.mean(-(p * z).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(z, axis=1)))

    expected = ell(p1, z2) / 2 + ell(p2, z1) / 2
    assert byol_loss(p1, p2, z1, z2).item() == pytest.approx(expected, abs=1e-9)
    assert byol_loss(p1, p2, 3 * p2, 0.5 * p1).item() == pytest.approx(-1.0)  # aligned predictions, any scale
    assert -1 - 1e-9 <= expected <= 1 + 1e-9


def test_loss_does_not_backpropagate_into_the_target():
    p = torch.randn(4, 8, requires_grad=True)
    z = torch.randn(4, 8, requires_grad=True)
    byol_loss(p, p, z, z).backward()
    assert p.grad is None and z.grad is not None


def test_ema_update_and_cosine_schedule():
    torch.manual_seed(0)
    online, target = mlp_head(3, 5, 2), mlp_head(3, 5, 2)
    online[1].running_mean += 1.0
    before = [t.detach().clone() for t in target.parameters()]
    ema_update(target, online, tau=0.9)
    for xi, xi0, theta in zip(target.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(xi, 0.9 * xi0 + 0.1 * theta)
    torch.testing.assert_close(target[1].running_mean, online[1].running_mean)
    taus = [cosine_tau(k, 100, 0.99) for k in range(101)]
    assert taus[0] == pytest.approx(0.99) and taus[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(taus, taus[1:], strict=False))


def test_batch_augment_shapes_ranges_and_grayscale():
    torch.manual_seed(0)
    images = (torch.rand(6, 3, 20, 20) * 255).to(torch.uint8)
    views = BatchAugment(12, (0.0,) * 3, (1.0,) * 3)(images)
    assert views.shape == (6, 3, 12, 12) and views.dtype == torch.float32
    assert views.min() >= 0 and views.max() <= 1 + 1e-6
    assert not torch.allclose(views, BatchAugment(12, (0.0,) * 3, (1.0,) * 3)(images))  # random
    gray = images[:, :1].expand(-1, 3, -1, -1)
    out = BatchAugment(12, (0.0,) * 3, (1.0,) * 3, grayscale=True)(gray)
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 0], out[:, 2])


def test_byol_module_wraps_names_and_modules():
    model = BYOL("resnet10t", projection_dim=16, hidden_dim=32)
    assert model.projector[0].in_features == 512
    assert all(not p.requires_grad for p in model.target_backbone.parameters())
    with pytest.raises(ValueError, match="nn.Module"):
        BYOL(42)
    bare = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assert BYOL(bare, projection_dim=8, hidden_dim=16).projector[0].in_features == 4


def test_loss_falls_checkpoint_resumes_and_loads_into_encoder(tmp_path):
    src = digits_source(size=16)
    ckpt = tmp_path / "byol.pt"
    kw = dict(batch_size=32, image_size=16, model_kwargs=TINY, hidden_dim=128, progress=False, num_workers=0)
    train_byol(src, "resnet10t", steps=24, checkpoint=ckpt, save_every=8, **kw)
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 24 and len(state["losses"]) == 24
    backbone = train_byol(src, "resnet10t", steps=40, checkpoint=ckpt, **kw)  # resumes at step 24
    losses = torch.load(ckpt, weights_only=True)["losses"]
    assert len(losses) == 40 and losses[:24] == state["losses"]
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.1

    enc = Encoder("resnet10t", checkpoint=ckpt, image_size=16, cache_dir=False, progress=False, num_workers=0)
    assert enc.weights_id.startswith("checkpoint:")
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(enc.model(x), backbone(x))
    with pytest.raises(ValueError, match="model_name='resnet10t'"):
        Encoder("resnet18", checkpoint=ckpt, cache_dir=False)
    with pytest.raises(ValueError, match="resume"):
        train_byol(src, "resnet18", steps=41, checkpoint=ckpt, **kw)


def test_byol_on_digits_beats_random_init_in_knn_accuracy(tmp_path):
    # 500 digits at 32 px and resnet10t at a quarter width keep this near a minute on 2 CPU cores.
    # Measured: kNN 0.52 at random init -> 0.70 after 80 steps (seed 0); 60 steps must clear a 0.08 margin.
    n, size, arch = 500, 32, {"channels": (16, 32, 64, 128)}
    d = digits()
    images = np.stack(
        [
            np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR))
            for im in d.images[:n]
        ]
    )
    src = from_array(images)
    ckpt = tmp_path / "digits.pt"
    train_byol(
        src,
        "resnet10t",
        steps=60,
        batch_size=64,
        lr=2e-3,
        tau_base=0.99,
        hidden_dim=256,
        hflip=False,
        min_scale=0.3,
        image_size=size,
        model_kwargs=arch,
        checkpoint=ckpt,
        progress=False,
        num_workers=0,
    )

    def knn_accuracy(**weights):
        enc = Encoder("resnet10t", image_size=size, cache_dir=False, progress=False, num_workers=0, **weights)
        X = enc.embed(src)
        return cross_val_score(KNeighborsClassifier(10, metric="cosine"), X, d.labels[:n], cv=5).mean()

    before = knn_accuracy(pretrained=False, model_kwargs=arch)
    after = knn_accuracy(checkpoint=ckpt)
    assert after > before + 0.08, (before, after)


@pytest.mark.parametrize("bad", [{"steps": 0}, {"batch_size": True}, {"save_every": 2.5}])
def test_counts_are_checked_before_training(bad):
    name, value = next(iter(bad.items()))
    with pytest.raises(
        ValueError, match=rf"{name}: expected a positive integer; got {value!r}\. Fix: pass e\.g\."
    ):
        train_byol(digits_source(size=16), "resnet10t", progress=False, **bad)
