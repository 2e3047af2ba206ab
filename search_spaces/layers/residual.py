"""Gated residuals: add (baseline), OR, MUX with thresholded-GAP select, MUX-OR (BILLNET).

Semantics (spec.Residual, docs/design.md, "Building blocks"); ``x`` the skip input,
``f = F(x)`` the body output, both on the same ``b``-bit activation code set
``{0, 1/L, ..., 1}``, ``L = 2^b - 1``:

* ``add``:    ``y = A_b(x + f)`` (re-quantized to the body's bits; ``b = 32``: ``x + f``);
* ``or``:     ``y = min(x + f, 1)``, which is ``x OR f`` on {0, 1}; gradient (STE through the
  min): ``dy/dx = dy/df = 1{x + f <= 1}`` (when both inputs are 1, neither alone matters);
* ``mux``:    ``y_c = S_c ? f_c : (x_c >> k)`` with ``S_c = H(GAP(x)_c - theta_c)`` per sample
  and channel (thresholded global average pooling: a popcount and a compare in hardware);
  ``x >> k`` shifts the integer code ``x L`` right by ``k`` bits (``floor(x L / 2^k) / L``), so
  the output stays on the code set and its width does not grow; gradient ``2^-k`` (STE).
  ``S`` carries no gradient; ``theta_c`` (one per channel, initialized to the spec's
  threshold) is a buffer;
* ``mux_or``: ``y_c = S_c ? min(x_c + f_c, 1) : x_c`` (our reading of BILLNET).

With activation quantization disabled (a float training stage) the same formulas run on the
float proxies: the shift is the multiplication by ``2^-k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from search_spaces.layers.activations import ActQuant, act_steps
from search_spaces.layers.deployed import exact_ste
from search_spaces.registry import Registry
from search_spaces.spec import FLOAT_BITS, tgap_threshold


class ShiftSTE(torch.autograd.Function):
    """Right shift of ``b``-bit codes by ``k``: ``floor(round(x L) / 2^k) / L``; grad ``2^-k``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, steps: int, shift: int) -> Tensor:
        ctx.scale = 2.0 ** -shift
        codes = torch.round(x * steps)
        return torch.floor(codes / (1 << shift)) / steps

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        return grad * ctx.scale, None, None


def shift_codes(x: Tensor, bits: int, shift: int, quantized: bool = True) -> Tensor:
    """``x >> shift`` on ``bits``-bit codes (float proxy ``x 2^-shift`` when not quantized)."""
    if shift == 0:
        return x
    if bits >= FLOAT_BITS or not quantized:
        return x * (2.0 ** -shift)
    out: Tensor = ShiftSTE.apply(x, act_steps(bits), shift)
    return out


class OrSTE(torch.autograd.Function):
    """``min(x + f, 1)`` forward; ``g * 1{x + f <= 1}`` to both inputs (autograd's own clamp
    gradient, computed with a float mask: on CPU its ``where`` costs ~30 float ops)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, f: Tensor) -> Tensor:
        total = x + f
        out = total.clamp(max=1.0)
        ctx.save_for_backward(total.le_(1.0))  # in place: the mask as 0.0 / 1.0 floats
        ctx.shapes = (x.shape, f.shape)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        (inside,) = ctx.saved_tensors
        g = grad * inside
        x_shape, f_shape = ctx.shapes
        # broadcast inputs get the gradient summed back to their shape, as autograd would
        return (g if x_shape == g.shape else g.sum_to_size(x_shape),
                g if f_shape == g.shape else g.sum_to_size(f_shape))


def or_gate(x: Tensor, f: Tensor) -> Tensor:
    """``min(x + f, 1)``: OR on {0, 1}, gradient ``1{x + f <= 1}`` to both inputs."""
    out: Tensor = OrSTE.apply(x, f)
    return out


def tgap_select(x: Tensor, threshold: Tensor) -> Tensor:
    """``S_{n,c} = H(GAP(x)_{n,c} - theta_c)`` as a (N, C, 1, ...) float mask, no gradient."""
    gap = x.detach().mean(dim=tuple(range(2, x.dim())), keepdim=True)
    theta = threshold.view(1, -1, *([1] * (x.dim() - 2)))
    return (gap >= theta).to(x.dtype)


# ----------------------------------------------------------------------------- gate registry

#: Gate name -> :class:`ResidualGate` subclass; the names are those ``spec.GATES`` validates.
RESIDUAL_GATES: Registry[type[ResidualGate]] = Registry("residual gate", field="gate")


class ResidualGate(nn.Module):
    """``forward(x, f) -> y``: joins the skip ``x`` and the body output ``f``."""

    threshold: Tensor

    def __init__(self, channels: int, bits: int, shift: int = 0, threshold: float = 0.5) -> None:
        super().__init__()
        self.channels = channels
        self.bits = bits
        self.shift = shift
        self.quantized = True
        self.deployed = False
        self.threshold_value = float(threshold)  # the spec's: its integer form in deployment
        self.register_buffer("threshold", torch.full((channels,), float(threshold)))

    def set_quantization(self, *, weights: bool, activations: bool, lstm_gates: bool) -> None:
        self.quantized = activations

    def set_deployed(self, on: bool) -> None:
        """Deployed: ``x`` and ``f`` are integer codes and the gate computes on them exactly."""
        self.deployed = on

    def select(self, x: Tensor) -> Tensor:
        """The MUX select ``S`` (N, C, 1, ...): thresholded GAP; deployed, the integer form
        ``sum_c(codes) >= tgap_threshold(...)`` (:func:`spec.tgap_threshold`)."""
        if not self.deployed:
            return tgap_select(x, self.threshold)
        count = math.prod(x.shape[2:])
        t = tgap_threshold(self.threshold_value, count, self.bits)
        total = x.detach().round().to(torch.long).sum(dim=tuple(range(2, x.dim())),
                                                      keepdim=True)
        return (total >= t).to(x.dtype)

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bits={self.bits}, shift={self.shift}"


@RESIDUAL_GATES.register("add")
class AddGate(ResidualGate):
    """``A_b(x + f)``: the baseline sum, re-quantized to the body's bits."""

    def __init__(self, channels: int, bits: int, shift: int = 0, threshold: float = 0.5) -> None:
        super().__init__(channels, bits, shift, threshold)
        self.act = ActQuant(bits)

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        if self.deployed:  # saturating add of codes
            total = x + f
            if self.bits >= FLOAT_BITS:
                return total
            steps = float(act_steps(self.bits))
            return exact_ste(total, total.detach().clamp(max=steps), -math.inf, steps)
        return self.act(x + f)  # type: ignore[no-any-return]


@RESIDUAL_GATES.register("or")
class OrGate(ResidualGate):
    """``x OR f`` on 1-bit activations (``min(x + f, 1)``)."""

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        return or_gate(x, f)


@RESIDUAL_GATES.register("mux")
class MuxGate(ResidualGate):
    """``S_c ? f_c : (x_c >> shift)`` with the thresholded-GAP select."""

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        s = self.select(x)
        if self.deployed:
            scaled = x * 2.0 ** -self.shift
            skip = exact_ste(scaled, torch.floor(scaled.detach()))  # x >> shift on codes
        else:
            skip = shift_codes(x, self.bits, self.shift, self.quantized)
        return s * f + (1.0 - s) * skip


@RESIDUAL_GATES.register("mux_or")
class MuxOrGate(ResidualGate):
    """``S_c ? (x_c OR f_c) : x_c`` (BILLNET, our reading)."""

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        s = self.select(x)
        return s * or_gate(x, f) + (1.0 - s) * x


class GatedResidual(nn.Module):
    """``gate(x, body(x))``."""

    def __init__(self, body: nn.Module, gate: ResidualGate) -> None:
        super().__init__()
        self.body = body
        self.gate = gate

    def forward(self, x: Tensor) -> Tensor:
        return self.gate(x, self.body(x))  # type: ignore[no-any-return]


__all__ = [
    "AddGate", "GatedResidual", "MuxGate", "MuxOrGate", "OrGate", "OrSTE", "ResidualGate",
    "RESIDUAL_GATES", "ShiftSTE", "or_gate", "shift_codes",
    "tgap_select",
]
