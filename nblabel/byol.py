"""BYOL self-supervised training of a backbone on the user's own images (paper §2.2, Eq. 1).

Built from small parts, each tied to the paper:

- :func:`mlp_head` — the online projector g_θ, the target projector g_ξ and the predictor q_θ (BYOL's
  Linear-BatchNorm-ReLU-Linear MLP, as the paper follows "the exact projector and predictor definition");
- :func:`normalized_loss` / :func:`byol_loss` — ℓ and the symmetric loss L of Eq. 1;
- :func:`ema_update` — the Polyak average ξ ← τξ + (1 − τ)θ of the target weights;
- :func:`cosine_tau` — τ annealed to 1 over training ("we gradually anneal τ to 1", §3);
- :class:`BatchAugment` — the two augmented views v1, v2 of each image;
- :class:`BYOL` puts them together; :func:`train_byol` runs AdamW (as in the paper) with a progress bar and a
  checkpoint to save and resume. The checkpoint's backbone weights load straight into
  ``nblabel.embed.Encoder(checkpoint=...)``.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import resolve_data_config
from torch import nn
from torchvision.transforms import v2
from tqdm.auto import tqdm

from nblabel._validation import check_count
from nblabel.data import ImageSource, as_source
from nblabel.embed import BYOL_CHECKPOINT_FORMAT, create_backbone, resolve_device
from nblabel.files import atomic_write

__all__ = [
    "BYOL",
    "BatchAugment",
    "byol_loss",
    "cosine_tau",
    "ema_update",
    "mlp_head",
    "normalized_loss",
    "train_byol",
]


def mlp_head(in_dim: int, hidden_dim: int = 4096, out_dim: int = 256) -> nn.Sequential:
    """Projector / predictor MLP of BYOL: Linear → BatchNorm → ReLU → Linear (paper §2.2: g_θ, g_ξ, q_θ).

    Parameters
    ----------
    in_dim : int
        Input features (the backbone's ``num_features`` for a projector, ``out_dim`` for the predictor).
    hidden_dim : int
        Width of the hidden layer (4096 in BYOL).
    out_dim : int
        Size of the projection (256 in BYOL).

    Returns
    -------
    torch.nn.Sequential
        Maps (batch, in_dim) to (batch, out_dim).

    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


def normalized_loss(prediction: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """ℓ of paper Eq. 1: minus the cosine between an online prediction z and a target projection p.

    Parameters
    ----------
    prediction : torch.Tensor, shape (batch, d)
        Online predictions z = q_θ(g_θ(f_θ(v))).
    projection : torch.Tensor, shape (batch, d)
        Target projections p = g_ξ(f_ξ(v')); no gradient flows into them.

    Returns
    -------
    torch.Tensor, scalar
        Mean of ``-<z/|z|, p/|p|>`` over the batch, in [-1, 1].

    """
    return -(F.normalize(prediction, dim=1) * F.normalize(projection.detach(), dim=1)).sum(dim=1).mean()


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetric loss of paper Eq. 1: L = ℓ(p1, z2)/2 + ℓ(p2, z1)/2.

    Parameters
    ----------
    p1, p2 : torch.Tensor, shape (batch, d)
        Target projections of views v1 and v2.
    z1, z2 : torch.Tensor, shape (batch, d)
        Online predictions of views v1 and v2.

    Returns
    -------
    torch.Tensor, scalar
        In [-1, 1]; -1 when every prediction points exactly at the other view's projection.

    """
    return normalized_loss(z2, p1) / 2 + normalized_loss(z1, p2) / 2


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak-average the target towards the online network: ξ ← τξ + (1 − τ)θ (paper §2.2).

    Buffers (BatchNorm running statistics) are copied, since they are not learned.

    Parameters
    ----------
    target : torch.nn.Module
        Target network ξ, updated in place.
    online : torch.nn.Module
        Online network θ with the same architecture.
    tau : float
        Momentum in [0, 1]; 1 leaves the target unchanged.

    """
    for xi, theta in zip(target.parameters(), online.parameters(), strict=True):
        xi.lerp_(theta, 1.0 - tau)
    for b_xi, b_theta in zip(target.buffers(), online.buffers(), strict=True):
        b_xi.copy_(b_theta)


def cosine_tau(step: int, total_steps: int, tau_base: float) -> float:
    """Target momentum at ``step``, annealed from ``tau_base`` to 1 with a cosine (paper §3, after BYOL).

    τ_k = 1 − (1 − τ_base) · (cos(π k / K) + 1) / 2.

    Parameters
    ----------
    step : int
        Current step k, 0-based.
    total_steps : int
        Total steps K.
    tau_base : float
        Momentum at step 0 (the paper grid-searches 0.998 on CIFAR10, 0.9993 on CIFAR100).

    Returns
    -------
    float

    """
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return 1.0 - (1.0 - tau_base) * (math.cos(math.pi * progress) + 1.0) / 2.0


class BatchAugment(nn.Module):
    """Random views v of a batch of images, each image drawn independently (paper §2.2: v1, v2 of x).

    BYOL's augmentations — random resized crop, horizontal flip, colour jitter, random grayscale, Gaussian
    blur — applied to a whole batch at once with tensor ops (one ``grid_sample`` for all crops, one grouped
    convolution for all blurs). Per-image torchvision transforms cost far more than the backbone for the small
    images BYOL trains on here, and this form also runs on the GPU.

    Parameters
    ----------
    image_size : int
        Side of the square output views.
    mean, std : tuple of float
        Normalisation of the backbone (its timm data config), so views match what the encoder sees.
    grayscale : bool
        The images carry no colour: saturation / hue jitter and random grayscale are no-ops and are skipped.
    hflip : bool
        Use random horizontal flips (turn off where left-right matters, e.g. digits or text).
    min_scale : float
        Smallest crop area, as a fraction of the image.

    """

    def __init__(
        self,
        image_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        grayscale: bool = False,
        hflip: bool = True,
        min_scale: float = 0.2,
    ) -> None:
        super().__init__()
        if not 0.0 < min_scale <= 1.0:
            raise ValueError(f"min_scale: expected a fraction in (0, 1]; got {min_scale!r}. Fix: e.g. 0.2.")
        self.image_size, self.grayscale, self.hflip, self.min_scale = image_size, grayscale, hflip, min_scale
        self.kernel_size = max(
            3, (image_size // 10) | 1
        )  # odd, about a tenth of the view as in SimCLR / BYOL
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Draw one random view of every image.

        Parameters
        ----------
        images : torch.Tensor, shape (batch, 3, H, W)
            uint8 pixels, or floats in [0, 1].

        Returns
        -------
        torch.Tensor, shape (batch, 3, image_size, image_size), float32
            Normalised views.

        """
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        x = self._crop_flip(x)
        x = self._jitter(x)
        if not self.grayscale:
            x = torch.where(self._coin(x, 0.2), self._gray(x).expand_as(x), x)
        x = self._blur(x)
        return (x - self._buffer("mean")) / self._buffer("std")

    def _buffer(self, name: str) -> torch.Tensor:
        # register_buffer attributes are typed Tensor | Module by torch's stubs; this names the Tensor.
        return self.get_buffer(name)

    def _coin(self, x: torch.Tensor, p: float) -> torch.Tensor:
        return (torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p).to(torch.bool)

    def _uniform(self, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return torch.empty(x.shape[0], 1, 1, 1, device=x.device).uniform_(low, high)

    def _gray(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self._buffer("luma")).sum(dim=1, keepdim=True)

    def _crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        """Random resized crop (area in [min_scale, 1], aspect in [3/4, 4/3]) and flip, as one affine warp."""
        n, dev = x.shape[0], x.device
        area = torch.empty(n, device=dev).uniform_(self.min_scale, 1.0)
        log_ratio = torch.empty(n, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
        w = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
        h = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
        # affine_grid works in [-1, 1] coordinates: a crop of width w has its centre in [-(1-w), 1-w].
        cx = (torch.rand(n, device=dev) * 2 - 1) * (1 - w)
        cy = (torch.rand(n, device=dev) * 2 - 1) * (1 - h)
        sign = torch.ones(n, device=dev)
        if self.hflip:
            sign = torch.where(torch.rand(n, device=dev) < 0.5, -sign, sign)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * sign, cx, h, cy
        grid = F.affine_grid(theta, [n, 3, self.image_size, self.image_size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        """Colour jitter with probability 0.8: brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1."""
        apply = self._coin(x, 0.8)
        y = x * self._uniform(x, 0.6, 1.4)
        mean = self._gray(y).mean(dim=(2, 3), keepdim=True)
        y = (y - mean) * self._uniform(x, 0.6, 1.4) + mean
        if not self.grayscale:
            gray = self._gray(y)
            y = (y - gray) * self._uniform(x, 0.8, 1.2) + gray
            y = _rotate_hue(y, self._uniform(x, -0.1, 0.1).view(-1) * 2 * math.pi)
        return torch.where(apply, y.clamp_(0.0, 1.0), x)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian blur with probability 0.5, sigma in [0.1, 2] (relative to a 224 px view, as in BYOL)."""
        n, c, hgt, wid = x.shape
        k = self.kernel_size
        sigma = self._uniform(x, 0.1, 2.0).view(n, 1) * (self.image_size / 224) ** 0.5
        sigma = torch.where(self._coin(x, 0.5).view(n, 1), sigma, torch.full_like(sigma, 1e-3))
        offsets = torch.arange(k, device=x.device, dtype=torch.float32) - k // 2
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, k)
        flat = F.pad(x.reshape(1, n * c, hgt, wid), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
        flat = F.conv2d(flat, kernel.view(n * c, 1, k, 1), groups=n * c)
        flat = F.conv2d(flat, kernel.view(n * c, 1, 1, k), groups=n * c)
        return flat.view(n, c, hgt, wid)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``angle`` (radians, one per image) in YIQ space, where hue is the angle of (I, Q)."""
    rgb_to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq_to_rgb = torch.linalg.inv(rgb_to_yiq)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = yiq_to_rgb @ rot @ rgb_to_yiq  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", m, x)


class BYOL(nn.Module):
    """Online encoder f_θ + projector g_θ + predictor q_θ, and an EMA target f_ξ + g_ξ (paper §2.2).

    Parameters
    ----------
    backbone : torch.nn.Module or str
        The encoder f_θ (its output is the embedding), or a timm model name (random init).
    projection_dim : int
        Output size of projector and predictor.
    hidden_dim : int
        Hidden width of projector and predictor.

    Attributes
    ----------
    backbone, projector, predictor : torch.nn.Module
        Online network (trained).
    target_backbone, target_projector : torch.nn.Module
        Target network (EMA of the online one, never receives gradients).

    """

    def __init__(self, backbone: nn.Module | str, projection_dim: int = 256, hidden_dim: int = 4096) -> None:
        super().__init__()
        if isinstance(backbone, str):
            backbone = create_backbone(backbone)[0]
        if not isinstance(backbone, nn.Module):
            raise ValueError(
                f"backbone: expected a torch.nn.Module or a timm model name; got {type(backbone).__name__}. "
                "Fix: pass e.g. 'resnet18' or timm.create_model('resnet18', num_classes=0)."
            )
        feat_dim = getattr(backbone, "num_features", None) or _probe_dim(backbone)
        self.backbone = backbone
        self.projector = mlp_head(feat_dim, hidden_dim, projection_dim)
        self.predictor = mlp_head(projection_dim, hidden_dim, projection_dim)
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def online_parameters(self) -> list[nn.Parameter]:
        """Parameters θ trained by the optimiser.

        Returns
        -------
        list of torch.nn.Parameter

        """
        return [*self.backbone.parameters(), *self.projector.parameters(), *self.predictor.parameters()]

    def forward(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """Loss of paper Eq. 1 for two views of the same images.

        Parameters
        ----------
        v1, v2 : torch.Tensor, shape (batch, 3, H, W)
            Two augmentations of each image.

        Returns
        -------
        torch.Tensor, scalar

        """
        both = torch.cat([v1, v2])  # one pass through each network keeps BatchNorm statistics over both views
        z1, z2 = self.predictor(self.projector(self.backbone(both))).chunk(2)
        with torch.no_grad():
            p1, p2 = self.target_projector(self.target_backbone(both)).chunk(2)
        return byol_loss(p1, p2, z1, z2)

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """Move the target towards the online network (see :func:`ema_update`).

        Parameters
        ----------
        tau : float
            Momentum in [0, 1].

        """
        ema_update(self.target_backbone, self.backbone, tau)
        ema_update(self.target_projector, self.projector, tau)


def _probe_dim(backbone: nn.Module) -> int:
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, 64, 64))
    backbone.train(was_training)
    if out.ndim != 2:
        raise ValueError(
            f"backbone: expected pooled features of shape (batch, d); got output shape {tuple(out.shape)}. "
            "Fix: create timm models with num_classes=0 (global pooling, no classifier)."
        )
    return int(out.shape[1])


class _Decoded(torch.utils.data.Dataset):
    """Images decoded to uint8 tensors of one fixed size, ready to be batched and augmented."""

    def __init__(self, source: ImageSource, size: int) -> None:
        self.source = source
        self.resize = v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        image, _ = self.source.try_load(i)  # an unreadable file was reported by the source; train on the rest
        return self.resize(image)


def _looks_grayscale(source: ImageSource, sample: int = 16, seed: int = 0) -> bool:
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(source), size=min(sample, len(source)), replace=False):
        a = np.asarray(source.try_load(int(i))[0], dtype=np.int16)
        if np.abs(a[..., 0] - a[..., 1]).max() > 2 or np.abs(a[..., 0] - a[..., 2]).max() > 2:
            return False
    return True


def _lr_at(step: int, total: int, base_lr: float) -> float:
    """Linear warm-up over the first 5 % of steps, then cosine decay to 0 (as in BYOL)."""
    warmup = max(1, total // 20)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_byol(
    source: ImageSource | np.ndarray,
    backbone: str | nn.Module = "resnet18",
    steps: int = 1000,
    batch_size: int = 64,
    lr: float | None = None,
    image_size: int | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    weight_decay: float = 1e-4,
    tau_base: float = 0.996,
    pretrained: bool = False,
    model_kwargs: dict | None = None,
    projection_dim: int = 256,
    hidden_dim: int = 4096,
    hflip: bool = True,
    grayscale: bool | None = None,
    min_scale: float = 0.2,
    num_workers: int | None = None,
    save_every: int = 100,
    seed: int = 0,
) -> nn.Module:
    """Train a backbone with BYOL on ``source`` and return it (paper §2.2).

    Parameters
    ----------
    source : ImageSource or numpy.ndarray
        Unlabelled images (labels are ignored); an array is wrapped with :func:`nblabel.data.from_array`.
    backbone : str or torch.nn.Module
        A timm model name (random init, or hub weights with ``pretrained=True``) or a module returning
        pooled features of shape (batch, d).
    steps : int
        Optimiser steps (the paper uses 3k on CIFAR10, 5k on CIFAR100).
    batch_size : int
        Images per step (each seen as two views).
    lr : float, optional
        AdamW peak learning rate; default 1e-3 from scratch, 3e-5 when fine-tuning pretrained weights (the
        paper's grid search found 2.3e-5 / 4.6e-5 for a pretrained ViT-B/16).
    image_size : int, optional
        Side of the training views; default is the backbone's timm input size. Embed with the same size.
    device : str or torch.device, optional
        ``None`` picks cuda, then mps, then cpu.
    checkpoint : str or path-like, optional
        File saved every ``save_every`` steps and at the end; when it already exists training resumes from it.
        Load the result with ``Encoder(model_name, checkpoint=path)``.
    progress : bool
        Show a tqdm bar with the running loss.
    weight_decay : float
        AdamW weight decay.
    tau_base : float
        Initial target momentum, annealed to 1 (:func:`cosine_tau`).
    pretrained : bool
        Start a named timm backbone from hub weights.
    model_kwargs : dict, optional
        Extra ``timm.create_model`` arguments for a named backbone (saved in the checkpoint).
    projection_dim, hidden_dim : int
        Sizes of the projector / predictor MLPs.
    hflip : bool
        Use horizontal flips in the augmentation.
    grayscale : bool, optional
        Treat the images as grayscale; ``None`` detects it from a sample.
    min_scale : float
        Smallest random-crop area (fraction of the image).
    num_workers : int, optional
        DataLoader processes decoding images; ``None`` uses one per CPU core beyond the first (at most 8)
        for files and none for arrays.
    save_every : int
        Steps between checkpoint saves.
    seed : int
        Seed of initialisation, sampling and augmentation.

    Returns
    -------
    torch.nn.Module
        The trained online backbone f_θ, in eval mode on the CPU.

    """
    source = as_source(source)
    for name, value in (("steps", steps), ("batch_size", batch_size), ("save_every", save_every)):
        check_count(value, name, example=100)
    if batch_size < 2 or len(source) < 2:
        raise ValueError(
            f"batch_size: expected >= 2 images per step (BatchNorm needs a batch); got {batch_size} "
            f"with {len(source)} images. Fix: use more images and batch_size >= 2."
        )
    dev = resolve_device(device)
    model_name = backbone if isinstance(backbone, str) else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if model_name is not None:
            backbone, _ = create_backbone(
                model_name, pretrained=pretrained, seed=seed, model_kwargs=model_kwargs
            )
        byol = BYOL(backbone, projection_dim=projection_dim, hidden_dim=hidden_dim)
    byol.to(dev).train()
    if lr is None:
        lr = 3e-5 if pretrained else 1e-3
    optimizer = torch.optim.AdamW(byol.online_parameters(), lr=lr, weight_decay=weight_decay)

    start, losses = 0, []
    ckpt_path = Path(checkpoint).expanduser() if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state.get("format") != BYOL_CHECKPOINT_FORMAT or state.get("model_name") != model_name:
            raise ValueError(
                f"checkpoint: expected a BYOL checkpoint of backbone {model_name!r} to resume; got "
                f"{state.get('format')!r} / {state.get('model_name')!r} in {str(ckpt_path)!r}. "
                "Fix: pass a new checkpoint path or the matching backbone."
            )
        byol.load_state_dict(state["byol"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        losses = list(state["losses"])

    cfg = resolve_data_config({}, model=byol.backbone)
    size = image_size or int(cfg["input_size"][-1])
    if grayscale is None:
        grayscale = _looks_grayscale(source, seed=seed)
    augment = BatchAugment(
        size, cfg["mean"], cfg["std"], grayscale=grayscale, hflip=hflip, min_scale=min_scale
    ).to(dev)
    remaining = steps - start
    if remaining <= 0:
        return byol.backbone.cpu().eval()
    generator = torch.Generator().manual_seed(seed + start)
    sampler = torch.utils.data.RandomSampler(
        range(len(source)), replacement=True, num_samples=remaining * batch_size, generator=generator
    )
    if num_workers is None:
        # In-memory arrays decode in microseconds: worker processes would only add start-up and copies.
        num_workers = 0 if source.paths is None else min(8, (os.cpu_count() or 1) - 1)
    loader = torch.utils.data.DataLoader(
        # Decoding at 1.25x the view size leaves detail for the random crops to zoom into.
        _Decoded(source, round(size * 1.25)),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=True,
        pin_memory=dev.type == "cuda",
    )
    step = start
    with (
        torch.random.fork_rng(devices=[]),
        tqdm(total=steps, initial=start, desc="BYOL", disable=not progress) as bar,
    ):
        torch.manual_seed(seed + start)  # augmentations draw from torch's global generator
        for images in loader:
            images = images.to(dev, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, steps, lr)
            loss = byol(augment(images), augment(images))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            byol.update_target(cosine_tau(step, steps, tau_base))
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if ckpt_path is not None and (step % save_every == 0 or step == steps):
                _save(ckpt_path, byol, optimizer, losses, model_name, model_kwargs)
    return byol.backbone.cpu().eval()


def _save(
    path: Path,
    byol: BYOL,
    optimizer: torch.optim.Optimizer,
    losses: list[float],
    model_name: str | None,
    model_kwargs: dict | None,
) -> None:
    """Write the checkpoint atomically, so an interrupted save never leaves a broken file to resume from."""
    state = {
        "format": BYOL_CHECKPOINT_FORMAT,
        "model_name": model_name,
        "model_kwargs": dict(model_kwargs or {}),
        "backbone": {k: v.detach().cpu() for k, v in byol.backbone.state_dict().items()},
        "byol": byol.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": len(losses),
        "losses": losses,  # the loss of every step so far, to inspect training (and to test it)
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(state, tmp))
