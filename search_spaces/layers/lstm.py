"""Binarized LSTM (BILLNET, our reading) for Conv3D-LSTM video models.

Input (N, C, T, H, W); step t sees the flattened frame ``x_t`` (C*H*W features). No biases.
One weight matrix ``W`` of shape (4*hidden, C*H*W + hidden) on ``[x_t, h_{t-1}]``, quantized
by the layer's weight quantizer (``sign`` by default). Gate pre-activations
``i, f, g, o = split(W [x_t, h_{t-1}])``; then ``c_t = f c_{t-1} + i g`` and ``h_t = o T(c_t)``.

* float gates: ``f, i, o = sigmoid``, ``g, T = tanh``;
* binary gates (``binary_gates`` and the ``lstm_gates`` stage on): sigmoid -> Heaviside
  ``H(x) = 1{x >= 0}`` and tanh -> ``sign`` (sign(0) = +1). Gradients are straight-through with
  the derivative of the function replaced (``sigmoid'`` resp. ``tanh'``), so the float and
  binary stages share one backward pass.

With binary gates ``h_t = o sign(c_t)`` lies in {-1, 0, +1}: the output gate bit and the sign
bit (the spec counts it as 1-bit). The layer returns the last ``h`` (N, hidden).

Deployed stage (integer codes, docs/design.md "Integer semantics"): the input is its integer
codes ``0..L`` (``L = input_steps``) and the weights their integer codes, so the float form's
``W [x_t / L, h]`` becomes ``W_x x_t + L W_h h`` (the same signs, hence the same Heaviside and
sign gates, times the positive ``alpha / L``); gates are binary.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from search_spaces.layers.conv import QuantWeightModule


class HeavisideSigmoidSTE(torch.autograd.Function):
    """``1{x >= 0}`` forward, ``g * sigmoid'(x)`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1.0 - s)


class SignTanhSTE(torch.autograd.Function):
    """``sign(x)`` (sign(0) = +1) forward, ``g * tanh'(x)`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        t = torch.tanh(x)
        return grad * (1.0 - t * t)


def binary_sigmoid(x: Tensor) -> Tensor:
    out: Tensor = HeavisideSigmoidSTE.apply(x)
    return out


def binary_tanh(x: Tensor) -> Tensor:
    out: Tensor = SignTanhSTE.apply(x)
    return out


class BinaryLSTM(QuantWeightModule):
    """Binarized LSTM over the T axis of (N, C, T, H, W); returns the last h (N, hidden)."""

    def __init__(self, features: int, hidden: int, weight_quant: str = "sign",
                 weight_levels: int = 2, binary_gates: bool = True,
                 quant_kwargs: dict[str, Any] | None = None, input_steps: int = 1) -> None:
        if features < 1 or hidden < 1:
            raise ValueError(f"features={features} and hidden={hidden} must be >= 1")
        super().__init__((4 * hidden, features + hidden), weight_quant, weight_levels,
                         quant_kwargs)
        self.features = features
        self.hidden = hidden
        self.binary_gates = binary_gates
        self.gates_quantized = True
        self.input_steps = input_steps

    def set_quantization(self, *, weights: bool, activations: bool, lstm_gates: bool) -> None:
        self.quantize_weights = weights
        self.gates_quantized = lstm_gates

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f"BinaryLSTM expects (N, C, T, H, W), got shape {tuple(x.shape)}")
        n, _, steps = x.shape[:3]
        seq = x.transpose(1, 2).reshape(n, steps, -1)  # (N, T, C*H*W)
        if seq.shape[2] != self.features:
            raise ValueError(f"BinaryLSTM: C*H*W={seq.shape[2]} != features={self.features}")
        w = self.effective_weight()
        w_x, w_h = w[:, : self.features], w[:, self.features:]
        pre_x = seq @ w_x.t()  # (N, T, 4H), all steps at once
        binary = self.binary_gates and (self.gates_quantized or self.deployed)
        h_scale = float(self.input_steps) if self.deployed else 1.0
        sig = binary_sigmoid if binary else torch.sigmoid
        tanh = binary_tanh if binary else torch.tanh
        h = x.new_zeros(n, self.hidden)
        c = x.new_zeros(n, self.hidden)
        for t in range(steps):
            pre = pre_x[:, t] + (h @ w_h.t()) * h_scale
            i, f, g, o = pre.chunk(4, dim=1)
            c = sig(f) * c + sig(i) * tanh(g)
            h = sig(o) * tanh(c)
        return h

    def extra_repr(self) -> str:
        return (f"features={self.features}, hidden={self.hidden}, "
                f"binary_gates={self.binary_gates}")


__all__ = ["BinaryLSTM", "HeavisideSigmoidSTE", "SignTanhSTE", "binary_sigmoid", "binary_tanh"]
