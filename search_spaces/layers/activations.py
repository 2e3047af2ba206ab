"""Activation quantizers on [0, 1] with a clipped straight-through gradient.

``b`` bits give ``L = 2^b - 1`` steps and the code set ``{0, 1/L, ..., 1}``:
``A_b(x) = floor(clip(x, 0, 1) * L + 1/2) / L`` (round half up, as hardware rounds by adding
half and truncating). ``b = 1`` is the Heaviside step ``H(x - 1/2)`` onto {0, 1} (the threshold
sits at 1/2 so the same formula serves every width; the preceding normalization learns the
offset); ``b = 2`` gives {0, 1/3, 2/3, 1}; ``b = 32`` is the identity (float).

Gradient (clipped STE, Hubara et al. 2016): ``dA/dx = 1{0 <= x <= 1}``.

When quantization is disabled (a full-precision training stage) a ``b < 32`` activation runs
as its float proxy ``clip(x, 0, 1)``, which has the same range and the same gradient, so
switching stages does not move the operating point.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from search_spaces.spec import FLOAT_BITS


class UniformActSTE(torch.autograd.Function):
    """``floor(clip(x,0,1) L + 1/2) / L`` forward, ``g * 1{0 <= x <= 1}`` backward.

    The STE mask is kept as a float 0/1 tensor written by the comparison itself (``out=``):
    on CPU a bool result and ``grad * bool_mask`` each cost several times a float op, and the
    product ``g * 1.0`` / ``g * 0.0`` is the same either way.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, steps: int) -> Tensor:
        clipped = x.clamp(0.0, 1.0)
        if steps == 1:  # Heaviside H(x - 1/2), written as 0.0 / 1.0 floats
            out = torch.ge(x, 0.5, out=torch.empty_like(x))
        else:
            out = clipped.mul(steps).add_(0.5).floor_().div_(steps)
        ctx.save_for_backward(clipped.eq_(x))  # in place: the STE mask 1{0 <= x <= 1}
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None


class ClipSTE(torch.autograd.Function):
    """The float proxy ``clip(x, 0, 1)`` with gradient ``g * 1{0 <= x <= 1}`` (autograd's
    own clamp gradient, computed with a float mask instead of ``where``: same values)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        clipped = x.clamp(0.0, 1.0)
        ctx.save_for_backward(torch.eq(clipped, x, out=torch.empty_like(x)))
        return clipped

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (inside,) = ctx.saved_tensors
        return grad * inside


def act_steps(bits: int) -> int:
    """``L = 2^bits - 1``: the largest code of a ``bits``-bit activation."""
    return (1 << bits) - 1


def quantize_act(x: Tensor, bits: int) -> Tensor:
    """Functional form: ``bits``-bit uniform activation on [0, 1] (32: identity)."""
    if bits >= FLOAT_BITS:
        return x
    steps = act_steps(bits)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return _act_values(x, steps)  # no gradient to carry (e.g. the input): no STE mask
    out: Tensor = UniformActSTE.apply(x, steps)
    return out


def _act_values(x: Tensor, steps: int) -> Tensor:
    """:class:`UniformActSTE`'s forward values alone (same operations)."""
    if steps == 1:
        return torch.ge(x, 0.5, out=torch.empty_like(x))
    return x.clamp(0.0, 1.0).mul_(steps).add_(0.5).floor_().div_(steps)


def heaviside(x: Tensor) -> Tensor:
    """The 1-bit activation ``H(x - 1/2)`` with the clipped STE."""
    return quantize_act(x, 1)


def act_code_values(bits: int) -> tuple[float, ...]:
    """The values a ``bits``-bit activation can take."""
    steps = act_steps(bits)
    return tuple(k / steps for k in range(steps + 1))


class ActQuant(nn.Module):
    """A ``bits``-bit activation; ``enabled=False`` runs the float proxy ``clip(x, 0, 1)``."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        if not (isinstance(bits, int) and 1 <= bits <= FLOAT_BITS):
            raise ValueError(f"act_bits={bits!r} must be an integer in 1..{FLOAT_BITS}")
        self.bits = bits
        self.enabled = True

    @property
    def precision(self) -> int:
        return self.bits

    def set_quantization(self, *, weights: bool, activations: bool, lstm_gates: bool) -> None:
        self.enabled = activations

    def forward(self, x: Tensor) -> Tensor:
        if self.bits >= FLOAT_BITS:
            return x
        if not self.enabled:
            out: Tensor = ClipSTE.apply(x)
            return out
        return quantize_act(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, enabled={self.enabled}"


__all__ = ["ActQuant", "ClipSTE", "UniformActSTE", "act_code_values", "act_steps", "heaviside",
           "quantize_act"]
