"""ArchSpec -> torch.nn.Module, and the switches the trainer uses between quantization stages.

``build_model(spec)`` builds any valid :class:`~search_spaces.spec.ArchSpec`: the input
``(N, C, H, W)`` or ``(N, C, T, H, W)`` in [0, 1] is first quantized to ``spec.input_bits``,
then each layer runs in order; the output is ``(N, num_classes)`` logits.

Per layer kind:

* ``conv``:       :class:`QConv` (or :class:`CAPointwise` when ``ca`` is set) -> norm -> act;
* ``factorized``: the three convolutions of ``Factorized.expand`` (pw1 -> grouped -> pw2, the
  first two with no norm and a float activation, i.e. identity) -> norm -> act;
* ``pool``:       max / avg (kernel, stride) or global average (to (N, C)), then re-quantized to
  the spec's output bits (``act_bits=None`` keeps the input's code set);
* ``linear``:     flatten -> :class:`QLinear` -> norm -> act (``act_bits=32``: logits);
* ``lstm``:       :class:`BinaryLSTM` over T, the last h;
* ``residual``:   body -> gate (add / or / mux / mux_or), see :mod:`layers.residual`.

Normalization ``bn`` is a BatchNorm; ``bsn`` is a :class:`BitShiftNorm`, which trains as a
BatchNorm until :func:`fold_bsn` turns it into shift + integer offsets (our choice: the paper
trains BN first and folds it).

Quantization stages (BILLNET: float -> weights -> activations -> LSTM gates):
:func:`set_quantization` turns each part on or off; off means float weights, the float proxy
``clip(x, 0, 1)`` for activations, sigmoid/tanh for LSTM gates. A freshly built model has every
part on.

``model.stored_weight_bits()`` equals ``spec.weight_bits()`` (CA layers count seed + rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.layers.activations import ActQuant, act_steps
from search_spaces.layers.conv import CAPointwise, QConv, QLinear, QuantWeightModule
from search_spaces.layers.deployed import bn_deployed, exact_ste, pool_codes
from search_spaces.layers.lstm import BinaryLSTM
from search_spaces.layers.norm import BitShiftNorm
from search_spaces.layers.residual import RESIDUAL_GATES, GatedResidual
from search_spaces.spec import (
    FLOAT_BITS,
    LSTM,
    ArchSpec,
    Conv,
    Factorized,
    LayerInfo,
    Linear,
    Pool,
    Residual,
)

QuantOptions = Mapping[str, Mapping[str, Any]]


def make_norm(kind: str, channels: int, dims: int, bsn_offset_frac_bits: int = 4) -> nn.Module:
    """``none`` -> Identity, ``bn`` -> BatchNorm{1,2,3}d, ``bsn`` -> BitShiftNorm."""
    if kind == "none":
        return nn.Identity()
    if kind == "bn":
        cls = {0: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]
        return cls(channels)  # type: ignore[no-any-return]
    if kind == "bsn":
        return BitShiftNorm(channels, offset_frac_bits=bsn_offset_frac_bits)
    raise ValueError(f"norm={kind!r} must be one of ['none', 'bn', 'bsn']")


class ConvBlock(nn.Module):
    """conv (or factorized conv) -> norm -> activation.

    Deployed (:func:`search_spaces.deploy.set_deployed`): the conv gives the integer
    accumulator and the norm re-quantizes it to codes exactly as the chip does (BSN: shift +
    offsets; BN: multi-thresholds; none: clamp), see :mod:`search_spaces.layers.deployed`.
    """

    def __init__(self, conv: nn.Module, norm: nn.Module, act: ActQuant) -> None:
        super().__init__()
        self.conv = conv
        self.norm = norm
        self.act = act
        self.deployed = False

    def set_deployed(self, on: bool) -> None:
        self.deployed = on

    def forward(self, x: Tensor) -> Tensor:
        if self.deployed:
            return self.requantize(self.conv(x))
        return self.act(self.norm(self.conv(x)))  # type: ignore[no-any-return]

    def requantize(self, acc: Tensor) -> Tensor:
        """Deployed: accumulator -> output codes (unquantized outputs stay accumulators)."""
        bits = self.act.bits
        if isinstance(self.norm, nn.Identity):
            if bits >= FLOAT_BITS:
                return acc
            steps = float(act_steps(bits))
            return exact_ste(acc, acc.detach().clamp(0.0, steps), 0.0, steps)
        if bits >= FLOAT_BITS:
            raise ValueError("a deployed norm needs a quantized activation (act_bits < 32)")
        if isinstance(self.norm, BitShiftNorm):
            return self.norm.deployed_codes(acc, bits)
        assert isinstance(self.norm, nn.modules.batchnorm._BatchNorm)
        return bn_deployed(self.norm, acc, bits)


class PoolBlock(nn.Module):
    """Max / avg pooling (2-D or 3-D) or global average pooling, then re-quantization."""

    def __init__(self, op: str, kernel: tuple[int, ...], stride: tuple[int, ...], dims: int,
                 bits: int, in_bits: int = FLOAT_BITS) -> None:
        super().__init__()
        self.op = op
        self.kernel = kernel
        self.stride = stride
        self.dims = dims
        self.act = ActQuant(bits)
        self.in_bits = in_bits
        self.deployed = False

    def set_deployed(self, on: bool) -> None:
        self.deployed = on

    def forward(self, x: Tensor) -> Tensor:
        if self.deployed:
            return self.deployed_forward(x)
        if self.op == "global_avg":
            y = x.mean(dim=tuple(range(2, x.dim())))
        elif self.op == "max":
            pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
            y = pool(x, self.kernel, self.stride)
        else:
            avg = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
            y = avg(x, self.kernel, self.stride)
        return self.act(y)  # type: ignore[no-any-return]

    def deployed_forward(self, x: Tensor) -> Tensor:
        """Codes in, codes out: max of codes, or the integer sum re-quantized
        (:func:`search_spaces.layers.deployed.pool_codes`)."""
        bits, in_bits = self.act.bits, self.in_bits
        if self.op == "max":
            pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
            y = pool(x, self.kernel, self.stride)
            if bits == in_bits:
                return y
            total, count = y, 1
        elif self.op == "global_avg":
            total = x.sum(dim=tuple(range(2, x.dim())))
            count = math.prod(x.shape[2:])
        else:
            avg = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
            total = avg(x, self.kernel, self.stride, divisor_override=1)  # the window sum
            count = math.prod(self.kernel)
        surrogate = total * (act_steps(bits) / (count * act_steps(in_bits)))
        return exact_ste(surrogate, pool_codes(total, count, in_bits, bits))

    def extra_repr(self) -> str:
        return f"op={self.op}, kernel={self.kernel}, stride={self.stride}"


class TinyNet(nn.Module):
    """The model built from an ArchSpec; ``spec`` is kept for reference."""

    logit_scale: Tensor

    def __init__(self, spec: ArchSpec, input_act: nn.Module, layers: list[nn.Module]) -> None:
        super().__init__()
        self.spec = spec
        self.input_act = input_act
        self.layers = nn.ModuleList(layers)
        self.deployed = False
        # deployed: for the loss, the integer logits times the float-scale model's logit
        # scale, alpha of the last layer's weights (as they train) times logit_scale = 1 /
        # (code factor * L_in), set on deployment; positive, so the argmax, hence the class,
        # is the integer one (search_spaces.deploy.set_deployed)
        self.register_buffer("logit_scale", torch.ones(()))

    def set_deployed(self, on: bool) -> None:
        self.deployed = on

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.spec.input_shape:
            raise ValueError(f"input shape {tuple(x.shape[1:])} != spec input_shape "
                             f"{self.spec.input_shape} (batch axis first)")
        if not self.deployed:
            x = self.input_act(x)
            for layer in self.layers:
                x = layer(x)
            return x
        bits = self.spec.input_bits  # the integer pixel codes (hwmodel.golden.input_codes)
        x = x.clamp(0.0, 1.0).mul(act_steps(bits)).add_(0.5).floor_()
        # TF32 convolutions round integer operands above 11 bits: off while deployed
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                         deterministic=cudnn.deterministic, allow_tf32=False):
            for layer in self.layers:
                x = layer(x)
        if self.spec.top_layers()[-1].out_bits >= FLOAT_BITS:
            x = x * (self.logit_scale * self.last_alpha())
        return x

    def last_alpha(self) -> Tensor:
        """The last layer's weight scale ``alpha`` as its quantizer fits it now (no refit, no
        gradient; 1 for a layer without one): what scales the float-scale model's logits."""
        conv = getattr(self.layers[-1], "conv", None)
        if not isinstance(conv, QuantWeightModule):
            return torch.ones((), device=self.logit_scale.device)
        quantizer = conv.quantizer
        was = quantizer.training
        quantizer.eval()
        with torch.no_grad():
            _, alpha = quantizer.quantize(conv.weight)
        quantizer.train(was)
        return alpha

    def stored_weight_bits(self) -> int:
        """Bits stored on chip for all weights; equals ``spec.weight_bits()``."""
        return stored_weight_bits(self)


def stored_weight_bits(model: nn.Module) -> int:
    """Sum of ``stored_weight_bits`` over the weight-bearing modules of ``model``."""
    return sum(m.stored_weight_bits() for m in model.modules()
               if isinstance(m, QuantWeightModule | CAPointwise))


class _Builder:
    def __init__(self, quant_options: QuantOptions | None, bsn_offset_frac_bits: int) -> None:
        self.quant_options = quant_options or {}
        self.frac_bits = bsn_offset_frac_bits

    def qkw(self, name: str) -> dict[str, Any]:
        return dict(self.quant_options.get(name, {}))

    def conv(self, info: LayerInfo) -> nn.Module:
        c, in_shape = cast(Conv, info.layer), info.in_shape
        if c.ca is not None:
            return CAPointwise(in_shape[0], c.out_channels, c.ca, info.dims)
        return QConv(in_shape[0], c.out_channels, info.kernel, info.stride, info.padding,
                     c.groups, info.dims, c.weight_quant, c.weight_levels,
                     self.qkw(c.weight_quant))

    def layer(self, info: LayerInfo) -> nn.Module:
        """The module of one resolved layer (its geometry read from ``info``)."""
        layer, in_shape, dims = info.layer, info.in_shape, info.dims
        if isinstance(layer, Conv):
            return ConvBlock(self.conv(info),
                             make_norm(layer.norm, layer.out_channels, dims, self.frac_bits),
                             ActQuant(layer.act_bits))
        if isinstance(layer, Factorized):
            return ConvBlock(nn.Sequential(*(self.conv(c) for c in info.children)),
                             make_norm(layer.norm, layer.out_channels, dims, self.frac_bits),
                             ActQuant(layer.act_bits))
        if isinstance(layer, Pool):
            return PoolBlock(layer.op, info.kernel, info.stride, dims, info.out_bits,
                             info.in_bits)
        if isinstance(layer, Linear):
            return ConvBlock(QLinear(math.prod(in_shape), layer.out_features, layer.weight_quant,
                                     layer.weight_levels, self.qkw(layer.weight_quant)),
                             make_norm(layer.norm, layer.out_features, 0, self.frac_bits),
                             ActQuant(layer.act_bits))
        if isinstance(layer, LSTM):
            return BinaryLSTM(layer.features(in_shape), layer.hidden, layer.weight_quant,
                              layer.weight_levels, layer.binary_gates,
                              self.qkw(layer.weight_quant),
                              input_steps=act_steps(info.in_bits)
                              if info.in_bits < FLOAT_BITS else 1)
        if isinstance(layer, Residual):
            body = nn.Sequential(*(self.layer(c) for c in info.children))
            gate = RESIDUAL_GATES.get(layer.gate)(in_shape[0], info.out_bits, layer.shift,
                                                 layer.threshold)
            return GatedResidual(body, gate)
        raise TypeError(f"{info.path}: unsupported layer kind {type(layer).__name__}")


def build_model(spec: ArchSpec, *, quant_options: QuantOptions | None = None,
                bsn_offset_frac_bits: int = 4) -> TinyNet:
    """Build the torch model for ``spec`` (deterministic under ``torch.manual_seed``).

    ``quant_options`` maps a weight quantizer name to keyword options for it, e.g.
    ``{"heq": {"refit_every": 10, "momentum": 0.9}}``; ``bsn_offset_frac_bits`` sets the
    fractional bits of the folded BSN offsets.
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"spec must be an ArchSpec, got {type(spec).__name__}")
    builder = _Builder(quant_options, bsn_offset_frac_bits)
    layers = [builder.layer(info) for info in spec.top_layers()]
    return TinyNet(spec, ActQuant(spec.input_bits), layers)


def set_quantization(model: nn.Module, *, weights: bool = True, activations: bool = True,
                     lstm_gates: bool = True) -> None:
    """Switch the quantization of weights, activations and LSTM gates on (True) or off.

    Off runs that part in full precision: float weights; ``clip(x, 0, 1)`` activations (same
    range and gradient as the quantized ones); sigmoid/tanh LSTM gates.
    """
    for module in model.modules():
        fn = getattr(module, "set_quantization", None)
        if fn is not None and not isinstance(module, TinyNet):
            fn(weights=weights, activations=activations, lstm_gates=lstm_gates)


def fold_bsn(model: nn.Module) -> int:
    """Fold every :class:`BitShiftNorm` (trained as BN) into shift + offsets; returns the count."""
    count = 0
    for module in model.modules():
        if isinstance(module, BitShiftNorm):
            module.fold()
            count += 1
    return count


def count_bsn(model: nn.Module) -> int:
    """Number of BitShiftNorm layers in ``model``."""
    return sum(isinstance(m, BitShiftNorm) for m in model.modules())


@torch.no_grad()
def example_input(spec: ArchSpec, batch: int = 2, seed: int = 0) -> Tensor:
    """A random input in [0, 1] of the spec's shape (a fixed generator, not the global RNG)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *spec.input_shape), generator=gen)


__all__ = ["ConvBlock", "PoolBlock", "TinyNet", "build_model", "count_bsn", "example_input",
           "fold_bsn", "make_norm", "set_quantization", "stored_weight_bits"]
