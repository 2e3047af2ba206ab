"""Patch-based image codec: a costed patch encoder (an ArchSpec) and a free float decoder.

The chip (the encoder, built from an ``asic-encoder-codec`` spec) sees one (C, P, P) patch at a
time and emits M bits; the map of codes (M, H/P, W/P) goes to a decoder elsewhere, which is
not under the hardware budget:

* :class:`FrameDecoder` (the default, ``decoder="full"``): a convolutional decoder over the
  whole code map: a 3x3 conv on the codes, then ``log2 P`` times (3x3 conv -> pixel shuffle x2
  -> ReLU), then a 3x3 conv to C channels and a sigmoid. Its 3x3 kernels read the codes of
  neighbouring patches, so patch borders are reconstructed from both sides (no block edges).
* :class:`PatchDecoder` (``decoder="patch"``, the baseline): the same network applied to each
  patch's code alone (a 1x1 code map, zero padding at the patch's borders), as a block codec
  does; it shows block artifacts.

Encoder and decoder train jointly on the MSE, the gradient crossing the binary bottleneck by
the encoder's clipped straight-through estimator (its last layer is a 1-bit activation), by
the one staged trainer (:func:`dse.train.train`, given :class:`CodecObjective`) under the same
quantization schedules as classification (:func:`dse.train.get_schedule`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dse.metrics import SSIM_WIN, blockiness_excess, ms_ssim_per_image, psnr_per_image
from dse.train import Objective

if TYPE_CHECKING:
    from dse.data import DatasetBundle, SplitDataset
    from dse.train import EpochMetrics, Stage

DECODERS = ("full", "patch")


# --------------------------------------------------------------------------- the networks
class PatchEncoder(nn.Module):
    """Runs a (C, P, P) -> M network on every patch: (N, C, H, W) -> (N, M, H/P, W/P)."""

    def __init__(self, net: nn.Module, patch: int) -> None:
        super().__init__()
        self.net = net
        self.patch = patch

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        p = self.patch
        codes = self.net(patches(x, p))
        return codes.reshape(n, h // p, w // p, -1).permute(0, 3, 1, 2)  # type: ignore[no-any-return]


def patches(x: Tensor, p: int) -> Tensor:
    """(N, C, H, W) images -> (N * H/P * W/P, C, P, P) patches: image by image, each in
    raster order. This is the order the chip sees them (and the export's test vectors)."""
    n, c, h, w = x.shape
    if h % p or w % p:
        raise ValueError(f"image {h}x{w} is not a whole number of {p}x{p} patches")
    # (N, C, H/P, W/P, P, P) -> (N, H/P, W/P, C, P, P)
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(-1, c, p, p)


class FrameDecoder(nn.Module):
    """Code map (N, M, h, w) in {0, 1} -> image (N, C, h P, w P) in [0, 1] (see module doc).

    Widths: ``width`` at the code resolution, halved at each upsampling (not below
    ``min_width``).
    """

    def __init__(self, code_bits: int, patch: int, channels: int, width: int = 64,
                 min_width: int = 16) -> None:
        super().__init__()
        if patch < 2 or patch & (patch - 1):
            raise ValueError(f"patch={patch!r} must be a power of two >= 2")
        layers: list[nn.Module] = [nn.Conv2d(code_bits, width, 3, padding=1), nn.ReLU()]
        w = width
        for _ in range(int(math.log2(patch))):
            nxt = max(min_width, w // 2)
            layers += [nn.Conv2d(w, 4 * nxt, 3, padding=1), nn.PixelShuffle(2), nn.ReLU()]
            w = nxt
        layers += [nn.Conv2d(w, channels, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, codes: Tensor) -> Tensor:
        return self.body(2.0 * codes - 1.0)  # type: ignore[no-any-return]


class PatchDecoder(nn.Module):
    """The baseline: a :class:`FrameDecoder` applied to each patch's code on its own."""

    def __init__(self, code_bits: int, patch: int, channels: int, width: int = 64,
                 min_width: int = 16) -> None:
        super().__init__()
        self.inner = FrameDecoder(code_bits, patch, channels, width, min_width)
        self.patch = patch

    def forward(self, codes: Tensor) -> Tensor:
        n, m, h, w = codes.shape
        one = codes.permute(0, 2, 3, 1).reshape(-1, m, 1, 1)
        out = self.inner(one)  # (N h w, C, P, P)
        c, p = out.shape[1], self.patch
        return out.reshape(n, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(  # type: ignore[no-any-return]
            n, c, h * p, w * p)


class Codec(nn.Module):
    """Encoder + decoder; ``forward(x) -> (reconstruction, codes)``."""

    def __init__(self, encoder: PatchEncoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.encoder(x)
        return self.decoder(codes), codes


def build_codec(spec: Any, *, decoder: str = "full", width: int = 64) -> Codec:
    """The codec for an ``asic-encoder-codec`` spec: its built model as the patch encoder
    and a decoder (``full`` or ``patch``) for its (C, P, P) -> M shape."""
    from search_spaces.build import build_model

    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r} must be one of {list(DECODERS)}")
    c, h, w = spec.input_shape
    if h != w:
        raise ValueError(f"spec input_shape={spec.input_shape} must be a square (C, P, P) patch")
    cls = FrameDecoder if decoder == "full" else PatchDecoder
    return Codec(PatchEncoder(build_model(spec), h), cls(spec.num_classes, h, c, width))


# --------------------------------------------------------------------------- evaluation
def split_images(ds: SplitDataset) -> Tensor:
    """All images of a split as one float tensor (N, C, H, W) in [0, 1]."""
    if hasattr(ds, "x_u8"):
        return ds.x_u8.float() / 255.0  # type: ignore[no-any-return]
    if hasattr(ds, "tensors"):
        return ds.tensors[0].float()  # type: ignore[no-any-return]
    return torch.stack([torch.as_tensor(ds[i][0]).float() for i in range(len(ds))])


@torch.no_grad()
def reconstruct(codec: Codec, x: Tensor, batch_size: int = 256) -> Tensor:
    """The codec's reconstruction of ``x`` in eval mode, on ``x``'s device (the batches run
    on the codec's device)."""
    was = codec.training
    codec.eval()
    device = next(codec.parameters()).device
    out = torch.cat([codec(x[i:i + batch_size].to(device))[0].to(x.device)
                     for i in range(0, len(x), batch_size)])
    codec.train(was)
    return out


def quality(reconstruction: Tensor, original: Tensor, patch: int) -> dict[str, float]:
    """``mse``, ``psnr_db`` (mean per image), ``ms_ssim`` (when the side holds an 11-px
    window) and ``blockiness`` (excess over the original; when there are >= 2 patches a side)."""
    out = {"mse": float(F.mse_loss(reconstruction, original)),
           "psnr_db": float(psnr_per_image(reconstruction, original).mean())}
    if min(original.shape[-2:]) >= SSIM_WIN:
        out["ms_ssim"] = float(ms_ssim_per_image(reconstruction, original).mean())
    if min(original.shape[-2:]) >= 2 * patch:
        out["blockiness"] = blockiness_excess(reconstruction, original, patch)
    return out


# --------------------------------------------------------------------------- training
@dataclass
class CodecEpoch:
    """One epoch: MSE losses, validation PSNR (dB) and MS-SSIM, seconds, learning rate."""

    stage: str
    epoch: int
    train_loss: float
    val_loss: float
    val_psnr_db: float
    val_ms_ssim: float | None
    seconds: float
    lr: float


@dataclass
class CodecResult:
    """Outcome of :func:`train_codec`: status complete|failed|pruned, the history, and the
    final model's quality on the validation (``val``) and test (``test``) splits."""

    status: str
    reason: str | None
    history: list[CodecEpoch] = field(default_factory=list)
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CodecObjective(Objective):
    """The compression task's loss and evaluation for :func:`dse.train.train`: the MSE of the
    reconstruction (the labels are ignored) and :func:`quality` of a split (``loss`` = its MSE).

    A split's images are gathered once (:func:`split_images`); quality runs on the CPU.
    The divergence limit, 10, is on the MSE's scale (pixels in [0, 1]: a sane MSE is below 1).
    """

    divergence_loss = 10.0

    def __init__(self, patch: int) -> None:
        self.patch = patch
        self._images: dict[int, tuple[SplitDataset, Tensor]] = {}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, int | None]:
        return F.mse_loss(model(x)[0], x), None

    def evaluate(self, model: nn.Module, ds: SplitDataset, device: str) -> dict[str, float]:
        held = self._images.get(id(ds))
        if held is None or held[0] is not ds:
            held = self._images[id(ds)] = (ds, split_images(ds))
        x = held[1]
        q = quality(reconstruct(model, x), x, self.patch)  # type: ignore[arg-type]
        return {"loss": q["mse"], **q}


def train_codec(codec: Codec, data: DatasetBundle, stages: Sequence[Stage], *,
                batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                on_epoch: Callable[[CodecEpoch], bool | None] | None = None,
                max_train_batches: int | None = None, divergence_loss: float | None = None,
                device: str = "cpu", checkpoint_path: str | None = None) -> CodecResult:
    """Train ``codec`` on the MSE through ``stages`` with the one trainer,
    :func:`dse.train.train` (its stages, schedule, seeds, divergence rule and checkpoints),
    given :class:`CodecObjective`. ``on_epoch`` returning True stops with status ``pruned``.
    Never raises for a training failure (a shape the encoder cannot take included)."""
    from dse.train import train

    start = time.perf_counter()
    history: list[CodecEpoch] = []

    def epoch_done(m: EpochMetrics) -> bool | None:
        history.append(CodecEpoch(m.stage, m.epoch, m.train_loss, m.val_loss,
                                  m.extra["psnr_db"], m.extra.get("ms_ssim"), m.seconds, m.lr))
        return on_epoch(history[-1]) if on_epoch is not None else None

    try:
        res = train(codec, data, stages, batch_size=batch_size, lr=lr, seed=seed,
                    on_epoch=epoch_done, max_train_batches=max_train_batches, progress=False,
                    divergence_loss=divergence_loss, device=device,
                    checkpoint_path=checkpoint_path, objective=CodecObjective(codec.encoder.patch))
    except (RuntimeError, ValueError) as exc:  # e.g. a shape the encoder cannot take
        return CodecResult("failed", f"{type(exc).__name__}: {exc}", history,
                           seconds=time.perf_counter() - start)
    last = res.history[-1].extra if res.history and res.status != "failed" else {}
    test = {k: v for k, v in res.test.items() if k != "loss"}
    return CodecResult(res.status, res.reason, history, dict(last), test, res.seconds)


# --------------------------------------------------------------------------- preview image
def preview_png(codec: Codec, image: Tensor, *, gap_px: int = 2, error_gain: float = 4.0
                ) -> bytes:
    """A PNG of three panels side by side: original | reconstruction | |error| x gain
    (clipped), for one (C, H, W) image in [0, 1] (H, W multiples of the patch)."""
    import io

    import numpy as np
    from PIL import Image

    x = image.float().unsqueeze(0)
    rec = reconstruct(codec, x)[0]
    err = ((rec - x[0]).abs() * error_gain).clamp(0, 1)
    c, h, w = x.shape[1:]
    canvas = torch.ones(c, h, 3 * w + 2 * gap_px)
    for k, panel in enumerate((x[0], rec, err)):
        canvas[:, :, k * (w + gap_px):k * (w + gap_px) + w] = panel
    arr = (canvas.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[..., 0] if c == 1 else arr, mode="L" if c == 1 else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


__all__ = ["DECODERS", "Codec", "CodecEpoch", "CodecObjective", "CodecResult", "FrameDecoder",
           "PatchDecoder", "PatchEncoder", "build_codec", "preview_png", "quality", "reconstruct",
           "split_images", "train_codec"]
