"""dse.metrics: PSNR, SSIM, MS-SSIM and blockiness against hand-computed values and
scikit-image's structural_similarity (single scale)."""

from __future__ import annotations

import math

import pytest
import torch

from dse.metrics import (
    MS_SSIM_WEIGHTS,
    SSIM_K1,
    SSIM_K2,
    blockiness,
    blockiness_excess,
    ms_ssim,
    ms_ssim_scales,
    ms_ssim_weights,
    psnr_db,
    psnr_from_mse,
    psnr_per_image,
    ssim,
)


def _const(value: float, shape: tuple[int, ...] = (1, 3, 32, 32)) -> torch.Tensor:
    return torch.full(shape, value)


def _rand(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- PSNR
def test_psnr_of_known_mse() -> None:
    """0.5 vs 0.6 everywhere: MSE = 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB; on a 0..255 scale
    an MSE of 0.001 * 255^2 gives 30 dB; identical images hit the 1e-10 floor: 100 dB."""
    assert psnr_db(_const(0.5), _const(0.6)) == pytest.approx(20.0, abs=1e-4)
    assert psnr_from_mse(0.01) == pytest.approx(20.0)
    assert psnr_from_mse(0.001 * 255 ** 2, data_range=255.0) == pytest.approx(30.0)
    assert psnr_from_mse(0.0) == pytest.approx(100.0)
    assert psnr_db(_const(0.3), _const(0.3)) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="mse=-1"):
        psnr_from_mse(-1.0)


def test_psnr_is_the_mean_of_per_image_values() -> None:
    """Image 0: error 0.1 (20 dB); image 1: error 0.01 (40 dB); the batch PSNR is 30 dB, not
    the PSNR of the pooled MSE (10 log10(1 / 0.00505) = 22.97 dB)."""
    x = torch.zeros(2, 1, 4, 4)
    y = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    per = psnr_per_image(x, y)
    assert per.tolist() == pytest.approx([20.0, 40.0], abs=1e-3)
    assert psnr_db(x, y) == pytest.approx(30.0, abs=1e-3)


def test_psnr_is_differentiable_and_checks_shapes() -> None:
    x = _rand(0, (2, 3, 8, 8)).requires_grad_()
    psnr_per_image(x, torch.zeros(2, 3, 8, 8)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="one shape"):
        psnr_db(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 4))


# --------------------------------------------------------------------------- SSIM
def test_ssim_of_identical_images_is_one() -> None:
    x = _rand(1, (2, 3, 24, 30))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(x, x) == pytest.approx(1.0, abs=1e-6)


def test_ssim_of_constant_images_follows_the_luminance_formula() -> None:
    """Constant a vs constant b: every window has sigma = 0, so cs = C2 / C2 = 1 and
    SSIM = l = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 L)^2. a = 0.2, b = 0.5:
    (0.2 + 1e-4) / (0.29 + 1e-4) = 0.2001 / 0.2901 = 0.689762..."""
    a, b = 0.2, 0.5
    c1 = (SSIM_K1 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert expected == pytest.approx(0.2001 / 0.2901)
    assert ssim(_const(a), _const(b)) == pytest.approx(expected, rel=1e-5)
    # structure term alone: y = x + c (no clipping) keeps sigma_x = sigma_y = sigma_xy, so
    # cs = 1 and SSIM < 1 comes only from the luminance shift
    x = 0.2 + 0.4 * _rand(2, (1, 1, 16, 16))
    assert ssim(x, x + 0.1) < 1.0
    c2 = (SSIM_K2 * 1.0) ** 2
    assert c2 == pytest.approx(9e-4)


def test_ms_ssim_of_constant_images_is_luminance_to_the_last_weight() -> None:
    """Constants stay constant under 2x2 averaging, so cs_j = 1 at every scale and
    MS-SSIM = l^w_S. A 32x32 image has S = 2 scales (16 >= 11 > 8), weights
    (0.0448, 0.2856) / 0.3304, so the exponent is 0.2856 / 0.3304 = 0.864407..."""
    a, b = 0.2, 0.5
    c1 = (SSIM_K1 * 1.0) ** 2
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ms_ssim_scales(32, 32) == 2
    assert ms_ssim_weights(2)[1] == pytest.approx(0.2856 / 0.3304)
    assert ms_ssim(_const(a), _const(b)) == pytest.approx(lum ** (0.2856 / 0.3304), rel=1e-5)
    # 176 px holds five scales (176 / 16 = 11): the exponent is Wang et al.'s 0.1333 / 1.0001
    big_a, big_b = _const(a, (1, 1, 176, 176)), _const(b, (1, 1, 176, 176))
    assert ms_ssim(big_a, big_b) == pytest.approx(lum ** (0.1333 / 1.0001), rel=1e-5)


def test_ms_ssim_weights_and_scales() -> None:
    assert MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003
    assert sum(ms_ssim_weights(5)) == pytest.approx(1.0)
    assert [ms_ssim_scales(s, s) for s in (11, 21, 22, 44, 64, 175, 176, 1000)] == \
        [1, 1, 2, 3, 3, 4, 5, 5]
    with pytest.raises(ValueError, match="side 10 must be >= the window"):
        ms_ssim_scales(10, 64)
    with pytest.raises(ValueError, match="scales=3 must be in 1..2"):
        ms_ssim(_const(0.1), _const(0.2), scales=3)


def test_ms_ssim_with_one_scale_is_ssim() -> None:
    x, y = _rand(3, (2, 3, 20, 20)), _rand(4, (2, 3, 20, 20))
    y = 0.7 * x + 0.3 * y  # correlated, so cs > 0 and no clamping happens
    assert ms_ssim(x, y, scales=1) == pytest.approx(ssim(x, y), rel=1e-5)


@pytest.mark.parametrize(("shape", "noise"), [((3, 32, 32), 0.05), ((1, 40, 37), 0.2),
                                              ((3, 64, 48), 0.1)])
def test_ssim_matches_scikit_image(shape: tuple[int, ...], noise: float) -> None:
    """scikit-image's Gaussian SSIM (sigma 1.5, population covariance) averages the map over
    the region away from the 5-px borders: the same as our valid-region mean."""
    skm = pytest.importorskip("skimage.metrics")
    x = _rand(5, shape)
    y = (x + noise * torch.randn(shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    ref = skm.structural_similarity(
        x.numpy(), y.numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0)
    assert ssim(x, y) == pytest.approx(float(ref), abs=1e-5)


# --------------------------------------------------------------------------- blockiness
def test_blockiness_of_a_block_checkerboard_is_one() -> None:
    """8x8 blocks alternating 0 / 1: every neighbour pair across a block border differs by
    1, every pair inside a block by 0."""
    idx = torch.arange(32) // 8
    board = ((idx[:, None] + idx[None, :]) % 2).float().expand(1, 1, 32, 32)
    assert blockiness(board, 8) == pytest.approx(1.0)
    # measured with the wrong patch size, borders at 4, 12, ... fall inside blocks
    assert blockiness(board, 16) < 1.0


def test_blockiness_of_a_ramp_is_zero_and_excess_subtracts_the_original() -> None:
    """A ramp along W: horizontal steps 1/32, vertical steps 0, alike inside patches and
    across borders, so blockiness 0 (both means are 1/64). Adding 0.1 on alternate 8x8 blocks
    changes only border steps: horizontally |1/32 +- 0.1| (as many + as -: mean 0.1),
    vertically 0.1; across = 0.1, inside = 1/64: excess 0.1 - 1/64 = 0.084375."""
    ramp = (torch.arange(32).float() / 32).expand(1, 1, 32, 32).contiguous()
    assert blockiness(ramp, 8) == pytest.approx(0.0, abs=1e-7)
    idx = torch.arange(32) // 8
    blocks = 0.1 * ((idx[:, None] + idx[None, :]) % 2).float()
    rec = ramp + blocks
    assert blockiness_excess(rec, ramp, 8) == pytest.approx(blockiness(rec, 8))
    assert blockiness_excess(rec, ramp, 8) == pytest.approx(0.1 - 1 / 64, abs=1e-6)
    with pytest.raises(ValueError, match="patch=8 must be >= 2 and divide H and W"):
        blockiness(torch.zeros(1, 1, 12, 12), 8)


def test_psnr_of_uint8_scale() -> None:
    """An error of 1 grey level on a 0..255 scale: 10 log10(255^2) = 48.13 dB."""
    x = torch.zeros(1, 1, 4, 4)
    assert psnr_db(x, x + 1.0, data_range=255.0) == pytest.approx(20 * math.log10(255),
                                                                   abs=1e-3)
