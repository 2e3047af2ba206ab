"""The deployed training stage: the torch forward in code space, equal to the integer machine.

In deployed mode (``search_spaces.deploy.set_deployed``) every tensor between layers holds
integer values (float32 tensors of integers): the input's pixel codes, weight codes (no
``alpha``), raw accumulators, activation codes ``0..2^b - 1``. Each requantization is computed
*exactly* on those integers (int64 arithmetic where a float could round) and carries a
straight-through gradient from a smooth surrogate (:func:`exact_ste`), so the forward values are
the integer executor's (:mod:`hwmodel.golden`; semantics in docs/design.md, "Integer
semantics") while training still has gradients. The float tensors stay exact while every
accumulator is below 2^24 in magnitude (float32's integer range).

This module holds the requantization steps whose torch form is not a one-liner: BSN with a
shared shift and fixed-point offsets, BN as multi-thresholds, pooled averages.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class ExactSTE(torch.autograd.Function):
    """Forward: ``exact``; backward: the gradient to ``surrogate``, masked to ``lo..hi``."""

    @staticmethod
    def forward(ctx: Any, surrogate: Tensor, exact: Tensor, lo: float, hi: float) -> Tensor:
        ctx.save_for_backward((surrogate >= lo) & (surrogate <= hi))
        return exact.to(surrogate.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None


def exact_ste(surrogate: Tensor, exact: Tensor, lo: float = -math.inf,
              hi: float = math.inf) -> Tensor:
    """``exact`` in the forward pass, the clipped straight-through gradient of ``surrogate``."""
    if not (surrogate.requires_grad and torch.is_grad_enabled()):
        return exact.to(surrogate.dtype)
    out: Tensor = ExactSTE.apply(surrogate, exact, lo, hi)
    return out


class RoundSTE(torch.autograd.Function):
    """``round(x)`` (half to even, only used on values that are integers up to float error)
    with the identity gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def round_ste(x: Tensor) -> Tensor:
    out: Tensor = RoundSTE.apply(x)
    return out


def _channel_view(t: Tensor, like: Tensor) -> Tensor:
    return t.view(1, -1, *([1] * (like.dim() - 2)))


def codes_max(bits: int) -> int:
    """``L = 2^b - 1``."""
    return (1 << bits) - 1


def bsn_codes(acc: Tensor, shift: int, offset_int: Tensor, frac_bits: int, bits: int) -> Tensor:
    """``clamp(floor(acc 2^-k + O 2^-f + 1/2), 0, L)`` in int64 (``O`` integer offsets)."""
    s = max(shift, frac_bits, 1)
    num = acc.detach().round().to(torch.long) * (1 << (s - shift)) \
        + _channel_view(offset_int.detach().round().to(torch.long), acc) * (1 << (s - frac_bits))
    code = (num + (1 << (s - 1))) >> s
    return code.clamp(0, codes_max(bits))


@torch.no_grad()
def bn_thresholds(bn: nn.modules.batchnorm._BatchNorm, bits: int) -> tuple[Tensor, Tensor]:
    """Integer multi-thresholds (C, L) of BN's eval form followed by a ``bits``-bit activation,
    and the per-channel direction (True: reversed, gamma < 0).

    ``code = floor(clip(z, 0, 1) L + 1/2)`` with ``z = a (acc - mu) + beta``,
    ``a = gamma / sqrt(var + eps)``, is ``#{j : z >= (j - 1/2) / L}``; for ``a > 0`` that is
    ``acc >= ceil(t_j)``, for ``a < 0`` ``acc <= floor(t_j)``, with
    ``t_j = mu + ((j - 1/2)/L - beta) / a`` computed in float64 (these thresholds *are* the
    deployed BN: its eval forward counts them). ``a = 0``: a constant code, thresholds at
    -inf (reached) or +inf (never).
    """
    steps = codes_max(bits)
    assert bn.running_mean is not None and bn.running_var is not None
    mu = bn.running_mean.double()
    var = bn.running_var.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mu)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mu)
    a = gamma / torch.sqrt(var + bn.eps)
    j = torch.arange(1, steps + 1, dtype=torch.float64, device=mu.device)
    level = (j - 0.5) / steps  # (L,)
    safe = torch.where(a == 0, torch.ones_like(a), a)
    t = mu[:, None] + (level[None, :] - beta[:, None]) / safe[:, None]
    up = a > 0
    thr = torch.where(up[:, None], torch.ceil(t), torch.floor(t))
    const = torch.floor(beta.clamp(0.0, 1.0) * steps + 0.5)
    flat = torch.where(j[None, :] <= const[:, None], -math.inf, math.inf)
    thr = torch.where((a == 0)[:, None], flat, thr)
    return thr, a < 0


def threshold_codes(acc: Tensor, thresholds: Tensor, reverse: Tensor) -> Tensor:
    """``#{j : acc >= T_j}`` (``#{j : acc <= T_j}`` on reversed channels), compared in
    float64 (exact for integer accumulators and integer or infinite thresholds)."""
    a = acc.detach().double().unsqueeze(2)  # (N, C, 1, ...)
    shape = (1, thresholds.shape[0], thresholds.shape[1], *([1] * (acc.dim() - 2)))
    t = thresholds.view(shape)
    up = (a >= t).sum(dim=2)
    down = (a <= t).sum(dim=2)
    return torch.where(_channel_view(reverse, acc), down, up)


def bn_deployed(bn: nn.modules.batchnorm._BatchNorm, acc: Tensor, bits: int) -> Tensor:
    """Deployed BN + activation on the accumulator: in training, batch statistics and the
    activation ``floor(clip(z, 0, 1) L + 1/2)`` with a clipped STE (the running statistics
    start afresh on entering the deployed stage and average cumulatively until the EMA
    momentum takes over); in eval, exactly the multi-threshold count of :func:`bn_thresholds`.
    """
    steps = codes_max(bits)
    if not bn.training:
        thr, rev = bn_thresholds(bn, bits)
        return threshold_codes(acc, thr, rev).to(acc.dtype)
    base = getattr(bn, "_deploy_momentum", bn.momentum)
    seen = int(bn.num_batches_tracked) if bn.num_batches_tracked is not None else 0
    momentum = max(base if base is not None else 0.0, 1.0 / (seen + 1))
    z = F.batch_norm(acc, bn.running_mean, bn.running_var, bn.weight, bn.bias, True,
                     momentum, bn.eps)
    if bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    y = z * steps
    code = torch.floor(y.detach().clamp(0.0, steps) + 0.5)
    return exact_ste(y, code, 0.0, float(steps))


def pool_codes(total: Tensor, count: int, in_bits: int, out_bits: int) -> Tensor:
    """``floor(total L_out / (count L_in) + 1/2)`` in int64 (an average re-quantized)."""
    l_in, l_out = codes_max(in_bits), codes_max(out_bits)
    t = total.detach().round().to(torch.long)
    return torch.div(2 * t * l_out + count * l_in, 2 * count * l_in, rounding_mode="floor")


__all__ = ["ExactSTE", "RoundSTE", "bn_deployed", "bn_thresholds", "bsn_codes", "codes_max",
           "exact_ste", "pool_codes", "round_ste", "threshold_codes"]
