"""ArchSpec -> a flat list of hardware operations (:class:`HwOp`), torch-free.

The IR is what the analytical cost model (:mod:`hwmodel.cost`) and the cycle-level simulator
(:mod:`hwmodel.sim`) read. Every matrix-product op carries its systolic mapping as in
SCALE-Sim: ``groups`` independent products (a grouped convolution is g separate products),
each repeated ``time_steps`` times in sequence (the T steps of an LSTM; 1 otherwise), and per
product ``ofmap_px`` output pixels (Ho*Wo(*To)), ``filters`` (Cout/g) and ``window``
(Cin/g * k^D). A layer with normalization is followed by a ``norm`` op; a residual block gives
its body's ops, then (MUX and MUX-OR gates) a ``tgap`` op, then a ``gate`` op.

Bit-widths are the hardware's: a tensor the spec leaves unquantized (``act_bits=32`` between
the convolutions of a factorized block, logits) is an integer at the producing layer's
accumulator width ``b_w + b_a + ceil(log2 fan-in)`` (docs/design.md, "Hardware cost model")
unless weights or inputs are float; ``lower(spec, float_intermediates=True)`` keeps 32 bits
instead (our reading: the papers do not say how the intermediates are stored).

``live_bits`` is the activation storage alive while the op runs: its input and output
tensors, the skip tensor of an enclosing residual block (it stays alive across the block),
and an LSTM's h and c state. Normalization is fused on the output stream of its layer (the
accumulator-width tensor is never stored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import cast

from search_spaces.spec import (
    FLOAT_BITS,
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    LayerInfo,
    Linear,
    Pool,
    Residual,
    Shape,
    weight_bits_of,
)

#: Matrix-product ops (mapped on the PE array); every other op runs on a small unit.
MATRIX_OPS = ("conv", "grouped_conv", "pointwise", "ca_pointwise", "linear", "lstm")
#: Ops that run on a dedicated unit with a fixed latency.
UNIT_OPS = ("norm", "pool", "gate", "tgap")
OPS = MATRIX_OPS + UNIT_OPS


def accumulator_bits(w_bits: int, a_bits: int, fan_in: int) -> int:
    """Accumulator width b_w + b_a + ceil(log2 fan-in); 32 if an operand is float.

    docs/design.md, "Hardware cost model".
    """
    if w_bits >= FLOAT_BITS or a_bits >= FLOAT_BITS:
        return FLOAT_BITS
    return w_bits + a_bits + math.ceil(math.log2(max(fan_in, 1)))


def lstm_cell_bits(time_steps: int, binary_gates: bool) -> int:
    """Bits of the LSTM cell state c.

    Our reading of BILLNET: with Heaviside i, f and sign g, c_t = f*c_{t-1} + i*g is an integer
    in [-T, T], so ceil(log2(2T + 1)) bits; float gates keep a 32-bit c.
    """
    if not binary_gates:
        return FLOAT_BITS
    return math.ceil(math.log2(2 * time_steps + 1))


@dataclass(frozen=True)
class HwOp:
    """One hardware operation with operand shapes, bit-widths and its systolic mapping.

    Matrix ops (``op in MATRIX_OPS``): ``groups * time_steps`` products, each of
    ``ofmap_px x filters`` outputs over a reduction of ``window``; ``macs`` is their total.
    Unit ops: ``channels`` and the element count ``elements`` describe the work; a ``norm``
    op's ``norm_levels`` is ``2^b - 1`` before a b-bit activation and 0 before an unquantized
    output (whose ``out_bits`` is then the accumulator width).
    """

    path: str
    op: str
    in_shape: Shape
    out_shape: Shape
    w_bits: int = 0
    w_levels: int = 0
    a_bits: int = 0
    out_bits: int = 0
    acc_bits: int = 0
    groups: int = 1
    ofmap_px: int = 0
    filters: int = 0
    window: int = 0
    time_steps: int = 1
    macs: int = 0
    params: int = 0
    weight_bits_stored: int = 0
    ca: CAGen | None = None
    gate: str | None = None
    shift: int = 0
    threshold: float = 0.0
    norm: str = "none"
    pool: str | None = None
    channels: int = 0
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    live_bits: int = 0
    state_bits: int = 0
    norm_levels: int = 0

    @property
    def is_matrix(self) -> bool:
        return self.op in MATRIX_OPS

    @property
    def products(self) -> int:
        """Independent matrix products in sequence: groups x time steps."""
        return self.groups * self.time_steps

    @property
    def elements(self) -> int:
        """Output elements (all T frames for video)."""
        return math.prod(self.out_shape)

    @property
    def in_tensor_bits(self) -> int:
        return math.prod(self.in_shape) * self.a_bits

    @property
    def out_tensor_bits(self) -> int:
        return math.prod(self.out_shape) * self.out_bits

    @property
    def dims(self) -> int:
        """Spatial dimensions of a convolution or pooling (2 or 3); 0 otherwise."""
        return len(self.kernel)


def _tensor_bits(shape: Shape, bits: int) -> int:
    return math.prod(shape) * bits


class _Lowering:
    """Lowers resolved layers (:class:`~search_spaces.spec.LayerInfo`) to ops, tracking the
    hardware bit-width of each tensor (an unquantized intermediate is an accumulator)."""

    def __init__(self, float_intermediates: bool) -> None:
        self.float_intermediates = float_intermediates
        self.ops: list[HwOp] = []

    def out_bits(self, act_bits: int, w_bits: int, a_bits: int, fan_in: int) -> int:
        if act_bits < FLOAT_BITS or self.float_intermediates:
            return act_bits
        return accumulator_bits(w_bits, a_bits, fan_in)

    def conv(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        conv = cast(Conv, info.layer)
        path, in_shape, out_shape, k = info.path, info.in_shape, info.out_shape, info.kernel
        cin, cout, g = in_shape[0], conv.out_channels, conv.groups
        window = (cin // g) * math.prod(k)
        filters = cout // g
        ofmap_px = math.prod(out_shape[1:])
        if conv.ca is not None:
            op, w_bits = "ca_pointwise", conv.ca.bits_per_weight
            w_levels = 2 if w_bits == 1 else 3
        else:
            w_bits = weight_bits_of(conv.weight_quant, conv.weight_levels)
            w_levels = conv.weight_levels
            if g > 1:
                op = "grouped_conv"
            elif all(v == 1 for v in k):
                op = "pointwise"
            else:
                op = "conv"
        acc = accumulator_bits(w_bits, a_bits, window)
        o_bits = self.out_bits(conv.act_bits, w_bits, a_bits, window)
        live = _tensor_bits(in_shape, a_bits) + _tensor_bits(out_shape, o_bits)
        self.ops.append(HwOp(
            path=path, op=op, in_shape=in_shape, out_shape=out_shape, w_bits=w_bits,
            w_levels=w_levels, a_bits=a_bits, out_bits=o_bits, acc_bits=acc, groups=g,
            ofmap_px=ofmap_px, filters=filters, window=window,
            macs=g * ofmap_px * filters * window, params=conv.params(in_shape),
            weight_bits_stored=conv.weight_bits(in_shape), ca=conv.ca, norm=conv.norm,
            channels=cout, kernel=k, stride=info.stride, padding=info.padding, live_bits=live))
        self.norm(path, conv.norm, out_shape, acc, o_bits, conv.act_bits, live)
        return out_shape, o_bits

    def norm(self, path: str, norm: str, shape: Shape, acc: int, o_bits: int, act_bits: int,
             live: int) -> None:
        if norm == "none":
            return
        levels = (1 << act_bits) - 1 if act_bits < FLOAT_BITS else 0
        self.ops.append(HwOp(path=f"{path}.norm", op="norm", in_shape=shape, out_shape=shape,
                             a_bits=acc, out_bits=o_bits, norm=norm, channels=shape[0],
                             live_bits=live, norm_levels=levels))

    def factorized(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        shape, bits = info.in_shape, a_bits
        for child in info.children:
            shape, bits = self.conv(child, bits)
        return shape, bits

    def pool(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        pool = cast(Pool, info.layer)
        in_shape, out_shape = info.in_shape, info.out_shape
        o_bits = a_bits if pool.act_bits is None else pool.act_bits  # the sum is re-quantized
        live = _tensor_bits(in_shape, a_bits) + _tensor_bits(out_shape, o_bits)
        self.ops.append(HwOp(
            path=info.path, op="pool", in_shape=in_shape, out_shape=out_shape, a_bits=a_bits,
            out_bits=o_bits, pool=pool.op, channels=in_shape[0], window=math.prod(info.kernel),
            ofmap_px=math.prod(out_shape[1:]), kernel=info.kernel, stride=info.stride,
            padding=info.padding, live_bits=live))
        return out_shape, o_bits

    def linear(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        lin = cast(Linear, info.layer)
        path, in_shape, out_shape = info.path, info.in_shape, info.out_shape
        w_bits = weight_bits_of(lin.weight_quant, lin.weight_levels)
        window = math.prod(in_shape)
        acc = accumulator_bits(w_bits, a_bits, window)
        o_bits = self.out_bits(lin.act_bits, w_bits, a_bits, window)
        live = _tensor_bits(in_shape, a_bits) + _tensor_bits(out_shape, o_bits)
        self.ops.append(HwOp(
            path=path, op="linear", in_shape=in_shape, out_shape=out_shape, w_bits=w_bits,
            w_levels=lin.weight_levels, a_bits=a_bits, out_bits=o_bits, acc_bits=acc,
            ofmap_px=1, filters=lin.out_features, window=window, macs=lin.out_features * window,
            params=lin.params(in_shape), weight_bits_stored=lin.weight_bits(in_shape),
            norm=lin.norm, channels=lin.out_features, live_bits=live))
        self.norm(path, lin.norm, out_shape, acc, o_bits, lin.act_bits, live)
        return out_shape, o_bits

    def lstm(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        lstm = cast(LSTM, info.layer)
        in_shape, out_shape, h_bits = info.in_shape, info.out_shape, info.out_bits
        w_bits = weight_bits_of(lstm.weight_quant, lstm.weight_levels)
        t, h, feat = in_shape[1], lstm.hidden, lstm.features(in_shape)
        window = feat + h
        op_a_bits = max(a_bits, h_bits)
        c_bits = lstm_cell_bits(t, lstm.binary_gates)
        state = h * h_bits + h * c_bits
        live = _tensor_bits(in_shape, a_bits) + state
        self.ops.append(HwOp(
            path=info.path, op="lstm", in_shape=in_shape, out_shape=out_shape, w_bits=w_bits,
            w_levels=lstm.weight_levels, a_bits=op_a_bits, out_bits=h_bits,
            acc_bits=accumulator_bits(w_bits, op_a_bits, window), ofmap_px=1, filters=4 * h,
            window=window, time_steps=t, macs=t * 4 * h * window, params=lstm.params(in_shape),
            weight_bits_stored=lstm.weight_bits(in_shape), channels=h, live_bits=live,
            state_bits=state))
        return out_shape, h_bits

    def layer(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        """Lower one resolved layer read at ``a_bits``; its output shape and hardware bits."""
        return getattr(self, info.layer.kind)(info, a_bits)  # type: ignore[no-any-return]

    def residual(self, info: LayerInfo, a_bits: int) -> tuple[Shape, int]:
        res = cast(Residual, info.layer)
        path, in_shape = info.path, info.in_shape
        x_bits = _tensor_bits(in_shape, a_bits)
        if res.gate in ("mux", "mux_or"):
            # S_c = H(GAP(x)_c - threshold): popcount of each channel of x + a comparator.
            self.ops.append(HwOp(
                path=f"{path}.tgap", op="tgap", in_shape=in_shape, out_shape=(in_shape[0],),
                a_bits=a_bits, out_bits=1, channels=in_shape[0],
                window=math.prod(in_shape[1:]), threshold=float(res.threshold),
                live_bits=x_bits))
        shape, bits = in_shape, a_bits
        first = len(self.ops)
        for child in info.children:
            shape, bits = self.layer(child, bits)
        self._add_skip(first, x_bits)
        f_bits = _tensor_bits(shape, bits)
        self.ops.append(HwOp(
            path=path, op="gate", in_shape=in_shape, out_shape=shape, a_bits=a_bits,
            out_bits=bits, gate=res.gate, shift=res.shift, threshold=float(res.threshold),
            channels=shape[0], live_bits=x_bits + f_bits))
        return shape, bits

    def _add_skip(self, first: int, x_bits: int) -> None:
        """The body's first op reads x itself; every later body op keeps x alive beside it."""
        seen_first = False
        for j in range(first, len(self.ops)):
            op = self.ops[j]
            if op.op == "norm":
                continue
            if not seen_first:
                seen_first = True
                continue
            self.ops[j] = replace(op, live_bits=op.live_bits + x_bits)
        # norm ops share their layer's live set
        for j in range(first + 1, len(self.ops)):
            if self.ops[j].op == "norm":
                self.ops[j] = replace(self.ops[j], live_bits=self.ops[j - 1].live_bits)


def lower(spec: ArchSpec, *, float_intermediates: bool = False) -> list[HwOp]:
    """The hardware ops of ``spec`` in execution order (see the module docstring)."""
    low = _Lowering(float_intermediates)
    bits = spec.input_bits
    for info in spec.top_layers():
        _, bits = low.layer(info, bits)
    return low.ops


def lower_layer(info: LayerInfo, in_bits: int, *, float_intermediates: bool = False
                ) -> tuple[list[HwOp], Shape, int]:
    """The ops of one resolved top-level layer whose input has ``in_bits`` hardware bits, with
    its output shape and hardware bits (what :mod:`hwmodel.batch` caches per block)."""
    low = _Lowering(float_intermediates)
    shape, bits = low.layer(info, in_bits)
    return low.ops, shape, bits


__all__ = ["HwOp", "MATRIX_OPS", "OPS", "UNIT_OPS", "accumulator_bits", "lower", "lower_layer",
           "lstm_cell_bits"]
