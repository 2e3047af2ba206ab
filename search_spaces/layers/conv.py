"""Weight-quantized convolution and linear layers, factorized convolution, CA-generated pointwise.

* :class:`QConv` — 2-D or 3-D convolution (no bias) whose weights pass through a registered
  weight quantizer (``weights=False`` in :func:`set_quantization` runs them in float);
* :class:`QLinear` — the same for a fully connected layer;
* :class:`FactorizedConv` — pointwise -> grouped kxk (or kxkxk) -> pointwise, no activation in
  between (MOGNET); the last pointwise may be a :class:`CAPointwise`;
* :class:`CAPointwise` — a 1x1(x1) convolution whose weights are a non-trainable buffer expanded
  from a seed by the elementary cellular automaton of :class:`spec.CAGen` (implemented here with
  tensor operations, independently of the pure-Python reference :mod:`search_spaces.ca`, and
  tested bit for bit against it). It stores ``seed + rule`` bits, never the matrix. Its output is
  multiplied by the constant ``1/sqrt(in_channels)`` (a per-layer scale that folds into the next
  normalization or threshold in hardware) so its magnitude matches a trained layer's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.layers.quantizers import WeightQuantizer
from search_spaces.quantizers import QUANTIZERS
from search_spaces.spec import CA_RULE_HYBRID, CAGen


def _tuple(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(value)


class QuantWeightModule(nn.Module):
    """A module with one trainable ``weight`` and a weight quantizer."""

    weight: nn.Parameter

    def __init__(self, weight_shape: tuple[int, ...], weight_quant: str, weight_levels: int,
                 quant_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(weight_shape))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch's Conv/Linear default
        self.quantizer: WeightQuantizer = QUANTIZERS.get(weight_quant).build(
            weight_levels, **(quant_kwargs or {}))
        self.quantize_weights = True
        self.deployed = False

    def set_quantization(self, *, weights: bool, activations: bool, lstm_gates: bool) -> None:
        self.quantize_weights = weights

    def set_deployed(self, on: bool) -> None:
        self.deployed = on

    def effective_weight(self) -> Tensor:
        """The weight the forward pass uses: quantized (``alpha q``), float, or in the
        deployed stage the integer codes (:meth:`WeightQuantizer.int_codes`)."""
        if self.deployed:
            return self.quantizer.int_codes(self.weight)
        if self.quantize_weights:
            return self.quantizer(self.weight)  # type: ignore[no-any-return]
        return self.weight

    def stored_weight_bits(self) -> int:
        """Bits stored on chip for this layer's weights: ``numel * bits``."""
        return self.weight.numel() * self.quantizer.bits


class QConv(QuantWeightModule):
    """Convolution over ``dims`` = 2 (N,C,H,W) or 3 (N,C,T,H,W) spatial axes, no bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = 1, padding: int | tuple[int, ...] | None = None,
                 groups: int = 1, dims: int = 2, weight_quant: str = "heq",
                 weight_levels: int = 3, quant_kwargs: dict[str, Any] | None = None) -> None:
        if dims not in (2, 3):
            raise ValueError(f"dims={dims} must be 2 or 3")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        k = _tuple(kernel, dims)
        super().__init__((out_channels, in_channels // groups, *k), weight_quant,
                         weight_levels, quant_kwargs)
        self.dims = dims
        self.stride = _tuple(stride, dims)
        self.padding = tuple(kk // 2 for kk in k) if padding is None else _tuple(padding, dims)
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        conv = F.conv2d if self.dims == 2 else F.conv3d
        return conv(x, self.effective_weight(), None, self.stride, self.padding, 1, self.groups)


class QLinear(QuantWeightModule):
    """Fully connected layer on the flattened input, no bias."""

    def __init__(self, in_features: int, out_features: int, weight_quant: str = "heq",
                 weight_levels: int = 3, quant_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__((out_features, in_features), weight_quant, weight_levels, quant_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.flatten(1), self.effective_weight())


# ----------------------------------------------------------------------------- CA generator


def _int_to_cells(value: int, cells: int) -> Tensor:
    return torch.tensor([(value >> i) & 1 for i in range(cells)], dtype=torch.bool)


def ca_states_torch(ca: CAGen, steps: int) -> Tensor:
    """States after 1..steps steps as a (steps, cells) bool tensor (cell i in column i).

    Same automaton as :func:`search_spaces.ca.ca_step`: cell i's left neighbour is cell i-1,
    null boundaries, Wolfram's rule numbering, 90/150 hybrid chosen per cell by the mask.
    """
    state = _int_to_cells(ca.seed, ca.cells)
    false = torch.zeros(1, dtype=torch.bool)
    if ca.rule == CA_RULE_HYBRID:
        use150 = _int_to_cells(ca.hybrid_mask, ca.cells)
        table = None
    else:
        use150 = None
        number = int(ca.rule)
        table = torch.tensor([(number >> p) & 1 for p in range(8)], dtype=torch.bool)
    rows = []
    for _ in range(steps):
        left = torch.cat([false, state[:-1]])
        right = torch.cat([state[1:], false])
        if table is None:
            assert use150 is not None
            state = left ^ right ^ (state & use150)
        else:
            index = left.long() * 4 + state.long() * 2 + right.long()
            state = table[index]
        rows.append(state)
    return torch.stack(rows)


def ca_weight_matrix_torch(ca: CAGen, out_channels: int, in_channels: int) -> Tensor:
    """The (out, in) CA weight matrix as float: 1 bit 0/1 -> -1/+1; 2 bits ``b0 - b1``.

    With ``b1 = cell 2j`` and ``b0 = cell 2j+1``: 01 -> +1, 10 -> -1, 00 and 11 -> 0.
    """
    need = in_channels * ca.bits_per_weight
    if ca.cells < need:
        raise ValueError(f"ca.cells={ca.cells} must be >= in_channels*bits_per_weight={need}")
    bits = ca_states_torch(ca, out_channels)[:, :need].to(torch.float32)
    if ca.bits_per_weight == 1:
        return 2.0 * bits - 1.0
    return bits[:, 1::2] - bits[:, 0::2]


class CAPointwise(nn.Module):
    """A 1x1(x1) convolution with CA-generated, non-trainable weights (MOGNET)."""

    weight: Tensor

    def __init__(self, in_channels: int, out_channels: int, ca: CAGen, dims: int = 2) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims={dims} must be 2 or 3")
        ca.validate("CAPointwise", in_channels)
        self.ca = ca
        self.dims = dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        matrix = ca_weight_matrix_torch(ca, out_channels, in_channels)
        self.register_buffer("weight", matrix.view(out_channels, in_channels, *([1] * dims)))
        self.scale = 1.0 / math.sqrt(in_channels)
        self.deployed = False

    def set_deployed(self, on: bool) -> None:
        """Deployed: the integer product, the scale folded into what follows."""
        self.deployed = on

    def stored_weight_bits(self) -> int:
        """``seed + rule`` bits (:attr:`spec.CAGen.stored_bits`); the matrix is not stored."""
        return self.ca.stored_bits

    def forward(self, x: Tensor) -> Tensor:
        conv = F.conv2d if self.dims == 2 else F.conv3d
        y = conv(x, self.weight.to(x.dtype))
        return y if self.deployed else y * self.scale

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, rule={self.ca.rule}, "
                f"cells={self.ca.cells}, bits_per_weight={self.ca.bits_per_weight}")


class FactorizedConv(nn.Module):
    """Pointwise (in -> mid) -> grouped kxk(xk) (mid -> mid) -> pointwise (mid -> out)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int,
                 kernel: int | tuple[int, ...] = 3, stride: int | tuple[int, ...] = 1,
                 groups: int = 1, dims: int = 2, weight_quant: str = "btq",
                 weight_levels: int = 3, ca: CAGen | None = None,
                 quant_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        common: dict[str, Any] = {"dims": dims, "weight_quant": weight_quant,
                                  "weight_levels": weight_levels, "quant_kwargs": quant_kwargs}
        self.pw1 = QConv(in_channels, mid_channels, 1, **common)
        self.grouped = QConv(mid_channels, mid_channels, kernel, stride, None, groups, **common)
        self.pw2: nn.Module = (CAPointwise(mid_channels, out_channels, ca, dims) if ca is not None
                               else QConv(mid_channels, out_channels, 1, **common))

    def forward(self, x: Tensor) -> Tensor:
        return self.pw2(self.grouped(self.pw1(x)))  # type: ignore[no-any-return]


__all__ = ["CAPointwise", "FactorizedConv", "QConv", "QLinear", "QuantWeightModule",
           "ca_states_torch", "ca_weight_matrix_torch"]
