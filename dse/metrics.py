"""Image-quality metrics for the compression task: PSNR, SSIM, MS-SSIM, blockiness.

All functions take torch tensors of shape (N, C, H, W) (or (C, H, W), treated as N = 1) with
values on a scale of ``data_range`` (1.0 for images in [0, 1]) and are differentiable, so
they can serve as losses too. Torch is imported by the callers (this module is only imported
where torch is already needed).

* :func:`psnr_db`: ``10 log10(L^2 / MSE)`` per image, averaged over the batch (the usual
  convention of image-compression papers). The MSE is floored at ``1e-10 L^2`` so identical
  images give 100 dB, not infinity.
* :func:`ssim`: Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4) 2004: Gaussian window
  (sigma 1.5, 11 taps), ``K1 = 0.01``, ``K2 = 0.03``, means over the *valid* part of the
  map (no padding), per channel then averaged. This matches scikit-image's
  ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=L)``, which the tests use as a cross-check.
* :func:`ms_ssim`: Wang, Simoncelli & Bovik, Asilomar 2003: ``prod_j cs_j^w_j * l_S^w_S``
  over ``S`` scales (2x2 average pooling between scales) with the paper's weights
  :data:`MS_SSIM_WEIGHTS`. The 5-scale form needs a side of at least ``11 * 2^4 = 176`` px;
  for smaller images (the 32-64 px crops of the codec search) we use the largest ``S`` whose
  coarsest scale still holds one 11-tap window and renormalize the first ``S`` weights to sum
  to 1 (our choice, a parameter: ``scales``). Negative ``cs``/``l`` values are clamped to 0
  before the fractional powers (as pytorch-msssim does), so the result is in [0, 1].
* :func:`blockiness`: mean absolute difference across patch borders minus mean absolute
  difference between neighbours inside patches; :func:`blockiness_excess` is that of a
  reconstruction minus that of the original (0 for a codec that adds no block edges).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

#: MS-SSIM scale weights (beta_j = gamma_j = alpha_M), Wang et al. 2003, Table/Sec. 3.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
#: Gaussian window radius: ``int(3.5 sigma + 0.5)`` (scikit-image's truncation), 11 taps.
SSIM_WIN = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1
#: PSNR's MSE floor (relative to L^2): identical images give 100 dB.
MSE_FLOOR = 1e-10


def _batch(x: Tensor, name: str) -> Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name}: shape {tuple(x.shape)} must be (N, C, H, W) or (C, H, W)")
    return x


def _pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _batch(x, "x"), _batch(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return x.float(), y.float()


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """``10 log10(L^2 / MSE)`` in dB (MSE floored at ``1e-10 L^2``)."""
    if mse < 0 or not math.isfinite(mse):
        raise ValueError(f"mse={mse!r} must be a finite number >= 0")
    return 10.0 * math.log10(data_range ** 2 / max(mse, MSE_FLOOR * data_range ** 2))


def psnr_per_image(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR in dB of each image of the batch, shape (N,)."""
    import torch

    x, y = _pair(x, y)
    mse = ((x - y) ** 2).flatten(1).mean(dim=1)
    floor = MSE_FLOOR * data_range ** 2
    return 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(floor))


def psnr_db(x: Tensor, y: Tensor, data_range: float = 1.0) -> float:
    """Mean over the batch of the per-image PSNR (dB)."""
    return float(psnr_per_image(x, y, data_range).mean())


def gaussian_window(size: int = SSIM_WIN, sigma: float = SSIM_SIGMA) -> Tensor:
    """The normalized 1-D Gaussian taps ``exp(-k^2 / 2 sigma^2)``, ``k = -r..r``."""
    import torch

    r = size // 2
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-(k ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float()


def _filter(x: Tensor, win: Tensor) -> Tensor:
    """Separable valid (unpadded) Gaussian filtering of each channel."""
    import torch.nn.functional as F

    c = x.shape[1]
    n = win.numel()
    wx = win.to(x).reshape(1, 1, 1, n).expand(c, 1, 1, n)
    wy = win.to(x).reshape(1, 1, n, 1).expand(c, 1, n, 1)
    return F.conv2d(F.conv2d(x, wx, groups=c), wy, groups=c)


def ssim_components(x: Tensor, y: Tensor, data_range: float = 1.0,
                    win: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(mean luminance term l * cs, mean contrast-structure term cs), each (N, C).

    ``l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)``,
    ``cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)`` (Wang et al. 2004, eq. 13 with
    alpha = beta = gamma = 1 and C3 = C2/2), the maps averaged over the valid region.
    """
    win = gaussian_window() if win is None else win
    n = win.numel()
    if min(x.shape[-2:]) < n:
        raise ValueError(f"ssim: image side {min(x.shape[-2:])} must be >= the window "
                         f"({n} px)")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x ** 2
    syy = _filter(y * y, win) - mu_y ** 2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return (lum * cs_map).mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM over channels and images (single scale)."""
    x, y = _pair(x, y)
    s, _ = ssim_components(x, y, data_range)
    return float(s.mean())


def ms_ssim_scales(height: int, width: int, window: int = SSIM_WIN) -> int:
    """The most scales (<= 5) whose coarsest image (side halved S - 1 times) holds a window."""
    side = min(height, width)
    if side < window:
        raise ValueError(f"ms_ssim: image side {side} must be >= the window ({window} px)")
    s = 1
    while s < len(MS_SSIM_WEIGHTS) and side // 2 ** s >= window:
        s += 1
    return s


def ms_ssim_weights(scales: int) -> tuple[float, ...]:
    """The first ``scales`` weights of Wang et al. 2003, renormalized to sum to 1."""
    if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ValueError(f"scales={scales!r} must be in 1..{len(MS_SSIM_WEIGHTS)}")
    w = MS_SSIM_WEIGHTS[:scales]
    total = sum(w)
    return tuple(v / total for v in w)


def ms_ssim_per_image(x: Tensor, y: Tensor, data_range: float = 1.0,
                      scales: int | None = None) -> Tensor:
    """MS-SSIM of each image, shape (N,): per channel ``prod_j cs_j^w_j * ssim_S^w_S``, then
    the mean over channels. ``scales=None`` picks :func:`ms_ssim_scales`."""
    import torch
    import torch.nn.functional as F

    x, y = _pair(x, y)
    s_max = ms_ssim_scales(x.shape[-2], x.shape[-1])
    s = s_max if scales is None else scales
    if not 1 <= s <= s_max:
        raise ValueError(f"ms_ssim: scales={scales!r} must be in 1..{s_max} for a "
                         f"{x.shape[-2]}x{x.shape[-1]} image")
    weights = ms_ssim_weights(s)
    win = gaussian_window()
    out = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    for j, w in enumerate(weights):
        full, cs = ssim_components(x, y, data_range, win)
        term = full if j == s - 1 else cs
        out = out * term.clamp_min(0.0) ** w
        if j < s - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out.mean(dim=1)


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, scales: int | None = None) -> float:
    """Mean MS-SSIM over the batch."""
    return float(ms_ssim_per_image(x, y, data_range, scales).mean())


def blockiness(x: Tensor, patch: int) -> float:
    """Mean |difference| between horizontal and vertical neighbours that straddle a patch
    border, minus the mean |difference| between neighbours inside a patch (0 for a smooth
    image; large when patches are reconstructed independently)."""
    import torch

    x = _batch(x, "x").float()
    if patch < 2 or x.shape[-1] % patch or x.shape[-2] % patch or x.shape[-1] < 2 * patch:
        raise ValueError(f"blockiness: patch={patch!r} must be >= 2 and divide H and W "
                         f"(image {tuple(x.shape[-2:])}, at least two patches per side)")
    dh = (x[..., :, 1:] - x[..., :, :-1]).abs()  # between columns c and c + 1
    dv = (x[..., 1:, :] - x[..., :-1, :]).abs()
    border_h = torch.zeros(dh.shape[-1], dtype=torch.bool)
    border_h[patch - 1::patch] = True
    border_v = torch.zeros(dv.shape[-2], dtype=torch.bool)
    border_v[patch - 1::patch] = True
    across = torch.cat([dh[..., border_h].flatten(), dv[..., border_v, :].flatten()])
    inside = torch.cat([dh[..., ~border_h].flatten(), dv[..., ~border_v, :].flatten()])
    return float(across.mean() - inside.mean())


def blockiness_excess(reconstruction: Tensor, original: Tensor, patch: int) -> float:
    """Blockiness the codec adds: that of the reconstruction minus that of the original."""
    return blockiness(reconstruction, patch) - blockiness(original, patch)


__all__ = ["MS_SSIM_WEIGHTS", "blockiness", "blockiness_excess", "gaussian_window", "ms_ssim",
           "ms_ssim_per_image", "ms_ssim_scales", "ms_ssim_weights", "psnr_db", "psnr_from_mse",
           "psnr_per_image", "ssim", "ssim_components"]
