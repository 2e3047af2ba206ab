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
the encoder's clipped straight-through estimator (its last layer is a 1-bit activation), under
the same quantization schedules as classification (:func:`dse.train.get_schedule`).
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

if TYPE_CHECKING:
    from dse.data import DatasetBundle, SplitDataset
    from dse.train import Stage

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


def _cosine(base: float, done: int, total: int) -> float:
    """Cosine decay per epoch within a stage (Loshchilov & Hutter 2017, no restarts)."""
    return base * 0.5 * (1.0 + math.cos(math.pi * done / total))


def train_codec(codec: Codec, data: DatasetBundle, stages: Sequence[Stage], *,
                batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                on_epoch: Callable[[CodecEpoch], bool | None] | None = None,
                max_train_batches: int | None = None, divergence_loss: float = 10.0,
                device: str = "cpu") -> CodecResult:
    """Train ``codec`` on the MSE through ``stages`` (Adam, a fresh optimizer and a cosine
    decay per stage; each stage switches the encoder's quantizers, folding BSN where
    activations turn on, as :func:`dse.train.apply_stage`). ``on_epoch`` returning True
    stops with status ``pruned``; a non-finite or diverged loss ends with ``failed``.
    Never raises for a training failure. Training runs on ``device``; the quality metrics
    are computed on the CPU."""
    from dse.train import apply_stage

    start = time.perf_counter()
    patch = codec.encoder.patch
    codec.to(device)
    x_train, x_val = split_images(data.train).to(device), split_images(data.val)
    history: list[CodecEpoch] = []
    status, reason = "complete", None
    epoch = 0
    try:
        for si, stage in enumerate(stages):
            apply_stage(codec, stage, stages[si - 1] if si else None)
            base = stage.lr if stage.lr is not None else lr
            opt = torch.optim.Adam(codec.parameters(), lr=base)
            for e in range(stage.epochs):
                t0 = time.perf_counter()
                epoch += 1
                cur = _cosine(base, e, stage.epochs)
                for group in opt.param_groups:
                    group["lr"] = cur
                torch.manual_seed(seed * 1_000_003 + epoch)
                gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
                order = torch.randperm(len(x_train), generator=gen)
                codec.train()
                loss_sum, seen = 0.0, 0
                for b, lo in enumerate(range(0, len(order), batch_size)):
                    if max_train_batches is not None and b >= max_train_batches:
                        break
                    idx = order[lo:lo + batch_size]
                    if len(idx) < 2:  # batch norm needs two samples
                        break
                    x = x_train[idx]
                    loss = F.mse_loss(codec(x)[0], x)
                    value = float(loss.detach())
                    if not math.isfinite(value) or value > divergence_loss:
                        return CodecResult("failed", f"loss is {value} at stage {stage.name!r} "
                                           f"epoch {epoch} batch {b + 1}", history,
                                           seconds=time.perf_counter() - start)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    loss_sum += value * len(idx)
                    seen += len(idx)
                q = quality(reconstruct(codec, x_val), x_val, patch)
                if not math.isfinite(q["mse"]):
                    return CodecResult("failed", f"validation MSE is {q['mse']} at epoch "
                                       f"{epoch}", history, seconds=time.perf_counter() - start)
                m = CodecEpoch(stage.name, epoch, loss_sum / max(seen, 1), q["mse"],
                               q["psnr_db"], q.get("ms_ssim"), time.perf_counter() - t0, cur)
                history.append(m)
                if on_epoch is not None and on_epoch(m) is True:
                    status, reason = "pruned", f"stopped by on_epoch after epoch {epoch}"
                    break
            if status == "pruned":
                break
    except (RuntimeError, ValueError) as exc:  # e.g. a shape the encoder cannot take
        return CodecResult("failed", f"{type(exc).__name__}: {exc}", history,
                           seconds=time.perf_counter() - start)
    val = quality(reconstruct(codec, x_val), x_val, patch)
    x_test = split_images(data.test)
    test = quality(reconstruct(codec, x_test), x_test, patch)
    return CodecResult(status, reason, history, val, test, time.perf_counter() - start)


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


__all__ = ["DECODERS", "Codec", "CodecEpoch", "CodecResult", "FrameDecoder", "PatchDecoder",
           "PatchEncoder", "build_codec", "preview_png", "quality", "reconstruct",
           "split_images", "train_codec"]
