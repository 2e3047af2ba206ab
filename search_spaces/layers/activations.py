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
    """``floor(clip(x,0,1) L + 1/2) / L`` forward, ``g * 1{0 <= x <= 1}`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, steps: int) -> Tensor:
        clipped = x.clamp(0.0, 1.0)
        ctx.save_for_backward(clipped == x)  # the STE mask 1{0 <= x <= 1}, kept as bools
        if steps == 1:  # Heaviside H(x - 1/2)
            return (x >= 0.5).to(x.dtype)
        return torch.floor(clipped.mul_(steps).add_(0.5)).div_(steps)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None


def act_steps(bits: int) -> int:
    """``L = 2^bits - 1``: the largest code of a ``bits``-bit activation."""
    return (1 << bits) - 1


def quantize_act(x: Tensor, bits: int) -> Tensor:
    """Functional form: ``bits``-bit uniform activation on [0, 1] (32: identity)."""
    if bits >= FLOAT_BITS:
        return x
    out: Tensor = UniformActSTE.apply(x, act_steps(bits))
    return out


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
            return x.clamp(0.0, 1.0)
        return quantize_act(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, enabled={self.enabled}"


__all__ = ["ActQuant", "UniformActSTE", "act_code_values", "act_steps", "heaviside",
           "quantize_act"]
