"""The integer golden model: what the chip computes, in numpy integers (torch-free).

A trained candidate becomes an :class:`IntegerImage`: for every leaf layer of its
:class:`~search_spaces.spec.ArchSpec` (keyed by the layer path of :meth:`ArchSpec.iter_layers`,
the same path the hardware IR and the cost model use) the integer parameters that live in the
chip's memories, as :class:`ParamArray` s. :func:`execute` runs a spec and its image on integer
input codes (:func:`input_codes`) and returns the integer logits, optionally every layer's
output codes, and the MACs it performed per layer. The semantics are defined once, in
``docs/design.md`` (section "Integer semantics"); in short:

* tensors between layers are int64 arrays: unsigned activation codes ``0..2^b-1`` (the LSTM's
  ``h`` is ``{-1, 0, +1}``), or, where the spec leaves a tensor unquantized (``act_bits=32``:
  between the convolutions of a factorized block, logits), the raw signed accumulator;
* a conv / linear computes ``acc = sum w_code * a_code`` exactly (no scale is applied);
* requantization by the layer's normalization: ``bsn`` (shift + per-channel fixed-point
  offset, round half up, clamp), ``bn`` (per-channel multi-thresholds with a direction bit),
  ``none`` (clamp);
* gates, pools, CA-generated weights and the binarized LSTM on integer codes.

Products and sums are exact integers. The matrix products run as float64 BLAS products of
integer-valued arrays, exact because every partial sum stays below 2^53 (checked against the
accumulator width, which is at most 52 bits for every deployable layer).

The layout (:func:`layout`) of an image is derived from the spec and the cost model's
parameters alone, so ``image bits == the cost model's stored-parameter bits`` holds by
construction per layer; :meth:`IntegerImage.validate` checks an image against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import numpy as np

from hwmodel.cost import CostParams
from hwmodel.ir import lower
from search_spaces.ca import generate_weights
from search_spaces.spec import (
    CA_RULE_HYBRID,
    FLOAT_BITS,
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    Factorized,
    LayerInfo,
    Linear,
    Pool,
    Residual,
    Shape,
    tgap_threshold,
    weight_bits_of,
)

#: Memories an image's arrays live in.
MEMORIES = ("weights", "ca_seed", "norm", "thresholds")
#: How a stored field of ``bits`` bits maps to its integer value.
ENCODINGS = ("twos", "odd", "unsigned")
_EXACT_BITS = 52  # float64 BLAS is exact while every partial sum is below 2^53


class NotDeployable(ValueError):
    """The spec has a part no integer machine of this project computes (e.g. float weights)."""


# ---------------------------------------------------------------------------- the image
@dataclass(frozen=True)
class ParamArray:
    """One array of integer parameters as the chip stores it.

    ``values`` are the integer values (int64); each element takes ``bits`` bits in memory
    ``memory``, written as ``encoding``:

    * ``twos``: two's complement in ``bits`` bits (``signed``) ;
    * ``odd``: an odd integer ``v`` (sign-style and even-level HEQ weights) stored as
      ``(v + 2^bits - 1) / 2`` (1 bit: -1 -> 0, +1 -> 1);
    * ``unsigned``: the plain binary number.

    ``frac_bits`` is the binary point of a fixed-point value (a BSN offset ``O`` means
    ``O / 2^frac_bits``); it is datapath wiring, not stored.
    """

    name: str
    values: np.ndarray
    bits: int
    signed: bool
    encoding: str
    memory: str
    frac_bits: int = 0

    @property
    def stored_bits(self) -> int:
        return int(self.values.size) * self.bits

    def stored(self) -> np.ndarray:
        """The unsigned field values as written to memory (what a packer writes)."""
        v = self.values.astype(np.int64)
        if self.encoding == "twos":
            return v & ((1 << self.bits) - 1)
        if self.encoding == "odd":
            return (v + (1 << self.bits) - 1) // 2
        return v


@dataclass(frozen=True)
class ArraySpec:
    """What :func:`layout` requires of one array: shape, width, encoding and memory."""

    name: str
    shape: Shape
    bits: int
    signed: bool
    encoding: str
    memory: str

    @property
    def stored_bits(self) -> int:
        return math.prod(self.shape) * self.bits

    def value_range(self) -> tuple[int, int]:
        if self.encoding == "twos":
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        if self.encoding == "odd":
            return -((1 << self.bits) - 1), (1 << self.bits) - 1
        return 0, (1 << self.bits) - 1


@dataclass(frozen=True)
class IntegerImage:
    """A spec and its integer parameters per leaf layer path (see the module docstring)."""

    spec: ArchSpec
    layers: dict[str, dict[str, ParamArray]]
    params: CostParams = field(default_factory=CostParams)

    def bits(self) -> int:
        """Stored bits of the whole image (every array of every layer)."""
        return sum(a.stored_bits for arrays in self.layers.values() for a in arrays.values())

    def layer_bits(self, path: str) -> int:
        return sum(a.stored_bits for a in self.layers.get(path, {}).values())

    def memory_bits(self) -> dict[str, int]:
        """Stored bits per memory."""
        out = dict.fromkeys(MEMORIES, 0)
        for arrays in self.layers.values():
            for a in arrays.values():
                out[a.memory] += a.stored_bits
        return out

    def validate(self) -> None:
        """Raise ``ValueError`` naming the layer and array unless the image matches
        :func:`layout` exactly (names, shapes, widths, encodings, memories, value ranges)."""
        want = layout(self.spec, self.params)
        if set(want) != set(self.layers):
            missing = sorted(set(want) - set(self.layers))
            extra = sorted(set(self.layers) - set(want))
            raise ValueError(f"image: layers missing {missing} / unexpected {extra}")
        for path, specs in want.items():
            arrays = self.layers[path]
            if set(specs) != set(arrays):
                raise ValueError(f"image {path}: arrays {sorted(arrays)} != {sorted(specs)}")
            for name, s in specs.items():
                a = arrays[name]
                where = f"image {path}.{name}"
                got = (tuple(a.values.shape), a.bits, a.signed, a.encoding, a.memory)
                exp = (s.shape, s.bits, s.signed, s.encoding, s.memory)
                if got != exp:
                    raise ValueError(f"{where}: (shape, bits, signed, encoding, memory)={got} "
                                     f"must be {exp}")
                if a.values.dtype != np.int64:
                    raise ValueError(f"{where}: values must be int64, got {a.values.dtype}")
                lo, hi = s.value_range()
                if a.values.size and (a.values.min() < lo or a.values.max() > hi):
                    raise ValueError(f"{where}: values must lie in [{lo}, {hi}] "
                                     f"(got {a.values.min()}..{a.values.max()})")
                if s.encoding == "odd" and a.values.size and not np.all(a.values % 2):
                    raise ValueError(f"{where}: values must be odd for encoding 'odd'")


# ---------------------------------------------------------------------------- layout
def weight_encoding(quant: str, levels: int) -> tuple[int, str]:
    """(bits, encoding) of one weight code of a quantizer.

    Codes are the small signed integers of the quantizer's levels: sign -> +-1; twn/btq ->
    -1/0/+1; heq with odd n -> ``-(n-1)/2..(n-1)/2``; heq with even n -> the odd integers
    ``-(n-1)..(n-1)`` (its levels are half-integers times 2/(n-1)); lsq -> ``-Qn..Qp``.
    """
    if quant == "float":
        raise NotDeployable("weight_quant='float' has no integer code")
    bits = weight_bits_of(quant, levels)
    if quant == "sign" or (quant == "heq" and levels % 2 == 0):
        return bits, "odd"
    return bits, "twos"


def weight_code_range(quant: str, levels: int) -> tuple[int, int]:
    """Smallest and largest integer weight code of a quantizer (see :func:`weight_encoding`)."""
    if quant == "sign":
        return -1, 1
    if quant in ("twn", "btq"):
        return -1, 1
    if quant == "heq":
        return (-(levels - 1), levels - 1) if levels % 2 == 0 else \
            (-(levels // 2), levels // 2)
    if quant == "lsq":
        return (-(levels // 2), levels // 2 - 1) if levels % 2 == 0 else \
            (-(levels // 2), levels // 2)
    raise NotDeployable(f"weight_quant={quant!r} has no integer code")


def _norm_arrays(norm: str, channels: int, out_bits: int, acc_bits: int,
                 params: CostParams) -> dict[str, ArraySpec]:
    if norm == "bsn":
        return {"bsn_shift": ArraySpec("bsn_shift", (1,), params.bsn_shift_bits, False,
                                       "unsigned", "norm"),
                "bsn_offset": ArraySpec("bsn_offset", (channels,), params.bsn_offset_bits,
                                        True, "twos", "norm")}
    if norm == "bn":
        if out_bits >= FLOAT_BITS:
            raise NotDeployable("norm='bn' with act_bits=32 has no integer thresholds")
        levels = (1 << out_bits) - 1
        return {"thresholds": ArraySpec("thresholds", (channels, levels), acc_bits, True,
                                        "twos", "thresholds"),
                "direction": ArraySpec("direction", (channels,), 1, False, "unsigned",
                                       "thresholds")}
    return {}


def layout(spec: ArchSpec, params: CostParams | None = None) -> dict[str, dict[str, ArraySpec]]:
    """The arrays every leaf layer stores, derived from the spec and the cost parameters.

    Per leaf path: ``weight`` (conv, linear, lstm: the quantizer's codes, ``memory="weights"``)
    or ``ca_seed`` + ``ca_rule`` (a CA layer: the seed's cells as bits, the 90/150 mask's
    cells or the 8-bit rule number; ``memory="ca_seed"``), then the normalization's arrays:
    ``bsn_shift`` + ``bsn_offset`` (``memory="norm"``) or ``thresholds`` (C x (2^b-1) at the
    accumulator width) + ``direction`` (C bits; ``memory="thresholds"``). Layers that store
    nothing (pools, residual gates, factorized intermediates without weights) are absent.
    """
    params = params if params is not None else CostParams()
    acc = {op.path: op.acc_bits for op in lower(spec) if op.is_matrix}
    out: dict[str, dict[str, ArraySpec]] = {}
    for info in spec.iter_layers():
        layer, path = info.layer, info.path
        arrays: dict[str, ArraySpec] = {}
        if isinstance(layer, Conv) and layer.ca is not None:
            ca = layer.ca
            rule_shape, rule_bits = ((ca.cells,), 1) if ca.rule == CA_RULE_HYBRID else ((1,), 8)
            arrays["ca_seed"] = ArraySpec("ca_seed", (ca.cells,), 1, False, "unsigned", "ca_seed")
            arrays["ca_rule"] = ArraySpec("ca_rule", rule_shape, rule_bits, False, "unsigned",
                                          "ca_seed")
        elif isinstance(layer, Conv | Linear | LSTM):
            bits, enc = weight_encoding(layer.weight_quant, layer.weight_levels)
            arrays["weight"] = ArraySpec("weight", weight_shape(info), bits,
                                         True, enc, "weights")
        if isinstance(layer, Conv | Linear):
            arrays.update(_norm_arrays(layer.norm, info.out_shape[0], info.out_bits, acc[path],
                                       params))
        if arrays:
            out[path] = arrays
    return out


def weight_shape(info: LayerInfo) -> Shape:
    """The weight array's shape of a conv, linear or LSTM leaf: (Cout, Cin/g, *k),
    (out, in_features) or (4H, F + H)."""
    layer, in_shape = info.layer, info.in_shape
    if isinstance(layer, Conv):
        return (layer.out_channels, in_shape[0] // layer.groups, *info.kernel)
    if isinstance(layer, Linear):
        return (layer.out_features, math.prod(in_shape))
    assert isinstance(layer, LSTM)
    return (4 * layer.hidden, layer.features(in_shape) + layer.hidden)


def ca_param_values(ca: CAGen) -> dict[str, np.ndarray]:
    """``ca_seed`` and ``ca_rule`` values of a CA layer (cell i = element i)."""
    seed = np.array([(ca.seed >> i) & 1 for i in range(ca.cells)], dtype=np.int64)
    if ca.rule == CA_RULE_HYBRID:
        rule = np.array([(ca.hybrid_mask >> i) & 1 for i in range(ca.cells)], dtype=np.int64)
    else:
        rule = np.array([int(ca.rule)], dtype=np.int64)
    return {"ca_seed": seed, "ca_rule": rule}


def random_image(spec: ArchSpec, rng: np.random.Generator,
                 params: CostParams | None = None) -> IntegerImage:
    """An image with random valid values (the CA layers' own seed and rule): for tests of the
    layout and of the executor's MAC counts, and for benchmarks of its speed."""
    params = params if params is not None else CostParams()
    layers: dict[str, dict[str, ParamArray]] = {}
    leaves = {info.path: info.layer for info in spec.iter_layers()}
    for path, specs in layout(spec, params).items():
        layer = leaves[path]
        arrays: dict[str, ParamArray] = {}
        for name, s in specs.items():
            if name.startswith("ca_"):
                assert isinstance(layer, Conv) and layer.ca is not None
                values = ca_param_values(layer.ca)[name]
            elif name == "weight":
                assert isinstance(layer, Conv | Linear | LSTM)
                lo, hi = weight_code_range(layer.weight_quant, layer.weight_levels)
                values = rng.integers(lo, hi + 1, size=s.shape)
                if s.encoding == "odd":
                    values = values | 1  # odd codes; keeps the range
            elif name == "bsn_shift":
                values = rng.integers(0, 4, size=s.shape)
            elif name == "thresholds":
                lo, hi = s.value_range()
                span = min(hi, 64)
                values = np.sort(rng.integers(-span, span + 1, size=s.shape), axis=1)
            else:
                lo, hi = s.value_range()
                values = rng.integers(lo, hi + 1, size=s.shape)
            frac = min(4, params.bsn_offset_bits - 1) if name == "bsn_offset" else 0
            arrays[name] = ParamArray(name, np.asarray(values, dtype=np.int64), s.bits, s.signed,
                                      s.encoding, s.memory, frac)
        layers[path] = arrays
    image = IntegerImage(spec, layers, params)
    image.validate()
    return image


# ---------------------------------------------------------------------------- integer ops
def round_half_up_shift(num: np.ndarray, shift: int) -> np.ndarray:
    """``floor(num / 2^shift + 1/2)`` on integers (an arithmetic shift with rounding)."""
    if shift <= 0:
        return num << (-shift)
    return (num + (1 << (shift - 1))) >> shift


def bsn_requant(acc: np.ndarray, shift: int, offset: np.ndarray, frac_bits: int,
                out_bits: int) -> np.ndarray:
    """``clamp(floor(acc 2^-k + O 2^-f + 1/2), 0, 2^b - 1)`` per channel (axis 1).

    Exact: with ``s = max(k, f, 1)``, ``acc 2^(s-k) + O 2^(s-f)`` is an integer and the
    rounding is one shift. ``out_bits = 32``: no clamp.
    """
    s = max(shift, frac_bits, 1)
    o = offset.reshape(1, -1, *([1] * (acc.ndim - 2)))
    code = round_half_up_shift((acc << (s - shift)) + (o << (s - frac_bits)), s)
    if out_bits >= FLOAT_BITS:
        return code
    return np.clip(code, 0, (1 << out_bits) - 1)


def threshold_requant(acc: np.ndarray, thresholds: np.ndarray,
                      direction: np.ndarray) -> np.ndarray:
    """Multi-threshold: ``code = #{j : acc >= T_cj}``, or ``#{j : acc <= T_cj}`` where the
    channel's direction bit is set (a negative BN gamma); channels on axis 1."""
    out = np.empty(acc.shape, dtype=np.int64)
    levels = thresholds.shape[1]
    for c in range(thresholds.shape[0]):
        t = np.sort(thresholds[c])
        a = acc[:, c]
        if direction[c]:
            out[:, c] = levels - np.searchsorted(t, a, side="left")  # #{T >= acc}
        else:
            out[:, c] = np.searchsorted(t, a, side="right")  # #{T <= acc}
    return out


def pool_requant(total: np.ndarray, count: int, in_bits: int, out_bits: int) -> np.ndarray:
    """Average of ``count`` codes re-quantized from ``in_bits`` to ``out_bits`` codes:
    ``floor(total L_out / (count L_in) + 1/2)``, as an integer division (a shift when
    ``count L_in`` is a power of two and ``L_out = L_in``)."""
    l_in, l_out = (1 << in_bits) - 1, (1 << out_bits) - 1
    return (2 * total * l_out + count * l_in) // (2 * count * l_in)


@lru_cache(maxsize=256)
def _ca_matrix(ca: CAGen, out_channels: int, in_channels: int) -> np.ndarray:
    return np.asarray(generate_weights(ca, out_channels, in_channels), dtype=np.int64)


def _windows(x: np.ndarray, k: Shape, s: Shape) -> np.ndarray:
    """(N, C, *S) -> (N, C, *O, *K) strided windows (no copy)."""
    dims = len(k)
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=tuple(range(2, 2 + dims)))
    index = (slice(None), slice(None), *(slice(None, None, st) for st in s))
    return win[index]


def _matmul_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer arrays, exact (float64 BLAS; every partial sum < 2^53)."""
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


#: largest im2col block :func:`conv_acc` builds at once (bytes); larger batches go in chunks
_COLS_BYTES = 32 << 20


def conv_acc(x: np.ndarray, w: np.ndarray, stride: Shape, padding: Shape,
             groups: int, acc_bits: int = _EXACT_BITS) -> np.ndarray:
    """Integer convolution (N, Cin, *S) x (Cout, Cin/g, *k) -> (N, Cout, *O), zero padding.

    Exact: the products run in float32 BLAS when the accumulator is at most 24 bits wide (every
    partial sum is then an integer float32 holds exactly), else in float64 (up to 52 bits).
    The input is laid out channels first, batch second (Cin, N, *S), so a group's im2col block
    (Cin/g * prod(k), N * prod(O)) is filled with one contiguous copy per kernel tap and the
    product is one BLAS call per group; the result keeps that layout in memory (an (N, Cout,
    *O) view), which the next convolution reads without a transpose."""
    dims = w.ndim - 2
    k = tuple(w.shape[2:])
    n, cin = x.shape[:2]
    cout = w.shape[0]
    ftype: Any = np.float32 if acc_bits <= 24 else np.float64
    if any(padding):
        xt = np.zeros((cin, n, *(x.shape[2 + d] + 2 * padding[d] for d in range(dims))), ftype)
        xt[(slice(None), slice(None), *(slice(p, p + x.shape[2 + d])
                                        for d, p in enumerate(padding)))] = np.moveaxis(x, 1, 0)
    else:
        xt = np.moveaxis(x, 1, 0).astype(ftype, order="C")
    out_sp = tuple((xt.shape[2 + d] - k[d]) // stride[d] + 1 for d in range(dims))
    positions = math.prod(out_sp)
    cg, og, taps = cin // groups, cout // groups, math.prod(k)
    wf = w.reshape(groups, og, cg * taps).astype(ftype)
    y = np.empty((groups, og, n, positions), dtype=ftype)
    if taps == 1 and all(st == 1 for st in stride):  # pointwise: no im2col at all
        np.matmul(wf, xt.reshape(groups, cg, n * positions),
                  out=y.reshape(groups, og, n * positions))
    else:
        nb = max(1, min(n, _COLS_BYTES // max(1, cin * taps * positions * xt.itemsize)))
        cols = np.empty((groups, cg, taps, nb, positions), dtype=ftype)
        for lo in range(0, n, nb):
            m = min(n, lo + nb) - lo
            block = cols[:, :, :, :m]
            for j, tap in enumerate(np.ndindex(*k)):
                window = (slice(None), slice(lo, lo + m),
                          *(slice(t, t + (out_sp[d] - 1) * stride[d] + 1, stride[d])
                            for d, t in enumerate(tap)))
                block[:, :, j] = xt[window].reshape(groups, cg, m, positions)
            y[:, :, lo:lo + m] = np.matmul(wf, block.reshape(groups, cg * taps, m * positions)
                                           ).reshape(groups, og, m, positions)
    return np.moveaxis(y.reshape(cout, n, *out_sp), 0, 1).astype(np.int64)


# ---------------------------------------------------------------------------- the executor
@dataclass
class ExecResult:
    """What :func:`execute` returns: integer logits (N, classes) (the last layer's codes when
    it is quantized), every layer's output codes by path (when asked, ``"input"`` included)
    and the MACs performed per matrix layer path, per inference."""

    logits: np.ndarray
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    macs: dict[str, int] = field(default_factory=dict)

    def predict(self) -> np.ndarray:
        """The class: argmax of the integer logits (first maximum on ties)."""
        return np.asarray(np.argmax(self.logits, axis=1))


def input_codes(spec: ArchSpec, x_float: Any) -> np.ndarray:
    """The integer pixel codes of an input in [0, 1]: ``floor(clip(x, 0, 1) L + 1/2)`` in
    float32 arithmetic (as the torch model's input quantizer computes it), ``L = 2^b - 1``
    with ``b = spec.input_bits``."""
    x = np.asarray(x_float, dtype=np.float32)
    if tuple(x.shape[1:]) != spec.input_shape:
        raise ValueError(f"input shape {tuple(x.shape[1:])} != spec input_shape "
                         f"{spec.input_shape} (batch axis first)")
    steps = np.float32((1 << spec.input_bits) - 1)
    return np.floor(np.clip(x, 0, 1) * steps + np.float32(0.5)).astype(np.int64)


class _Run:
    def __init__(self, image: IntegerImage, keep_codes: bool) -> None:
        self.image = image
        self.keep = keep_codes
        self.codes: dict[str, np.ndarray] = {}
        self.acc_bits = _acc_bits(image.spec)
        self.macs: dict[str, int] = {}

    def arr(self, path: str, name: str) -> ParamArray:
        try:
            return self.image.layers[path][name]
        except KeyError:
            raise ValueError(f"image: layer {path!r} has no array {name!r}") from None

    def record(self, path: str, y: np.ndarray) -> np.ndarray:
        if self.keep:
            self.codes[path] = y
        return y

    def requant(self, path: str, norm: str, acc: np.ndarray, out_bits: int) -> np.ndarray:
        if norm == "bsn":
            shift = self.arr(path, "bsn_shift")
            off = self.arr(path, "bsn_offset")
            return bsn_requant(acc, int(shift.values[0]), off.values, off.frac_bits, out_bits)
        if norm == "bn":
            return threshold_requant(acc, self.arr(path, "thresholds").values,
                                     self.arr(path, "direction").values)
        if out_bits >= FLOAT_BITS:
            return acc
        return np.clip(acc, 0, (1 << out_bits) - 1)  # norm 'none': the code is the clamp

    def conv(self, info: LayerInfo, x: np.ndarray) -> np.ndarray:
        conv, path, in_shape, dims = cast(Conv, info.layer), info.path, info.in_shape, info.dims
        s, p, out_bits = info.stride, info.padding, info.out_bits
        if conv.ca is not None:
            w = _ca_matrix(conv.ca, conv.out_channels, in_shape[0])
            w = w.reshape(conv.out_channels, in_shape[0], *([1] * dims))
        else:
            w = self.arr(path, "weight").values
        acc = conv_acc(x, w, s, p, conv.groups, self.acc_bits[path])
        self.macs[path] = int(math.prod(acc.shape[1:]) * math.prod(w.shape[1:]))
        return self.record(path, self.requant(path, conv.norm, acc, out_bits))

    def linear(self, path: str, lin: Linear, x: np.ndarray, out_bits: int) -> np.ndarray:
        w = self.arr(path, "weight").values
        acc = _matmul_exact(x.reshape(x.shape[0], -1), w.T)
        self.macs[path] = int(w.size)
        return self.record(path, self.requant(path, lin.norm, acc, out_bits))

    def pool(self, info: LayerInfo, x: np.ndarray) -> np.ndarray:
        pool, path, in_shape = cast(Pool, info.layer), info.path, info.in_shape
        in_bits, out_bits = info.in_bits, info.out_bits
        if in_bits >= FLOAT_BITS:
            raise NotDeployable(f"{path}: pooling of an unquantized tensor")
        if pool.op == "global_avg":
            axes = tuple(range(2, x.ndim))
            count = math.prod(in_shape[1:])
            return self.record(path, pool_requant(x.sum(axis=axes), count, in_bits, out_bits))
        k, s = info.kernel, info.stride
        win = _windows(x, k, s)
        axes = tuple(range(x.ndim, win.ndim))
        if pool.op == "max":
            y = win.max(axis=axes)
            if out_bits != in_bits:
                y = pool_requant(y, 1, in_bits, out_bits)
            return self.record(path, y)
        return self.record(path, pool_requant(win.sum(axis=axes), math.prod(k), in_bits,
                                              out_bits))

    def lstm(self, path: str, lstm: LSTM, x: np.ndarray, in_bits: int) -> np.ndarray:
        if not lstm.binary_gates:
            raise NotDeployable(f"{path}: an LSTM with float gates has no integer form")
        n, _, steps = x.shape[:3]
        seq = np.moveaxis(x, 2, 1).reshape(n, steps, -1)
        w = self.arr(path, "weight").values
        feat = seq.shape[2]
        w_x, w_h = w[:, :feat], w[:, feat:]
        scale_h = (1 << in_bits) - 1  # h in {-1,0,1} sits on the input's code scale L
        pre_x = _matmul_exact(seq.reshape(n * steps, feat), w_x.T).reshape(n, steps, -1)
        h = np.zeros((n, lstm.hidden), dtype=np.int64)
        c = np.zeros((n, lstm.hidden), dtype=np.int64)
        for t in range(steps):
            pre = pre_x[:, t] + scale_h * _matmul_exact(h, w_h.T)
            i, f, g, o = np.split(pre, 4, axis=1)
            gi, gf, go = (i >= 0).astype(np.int64), (f >= 0).astype(np.int64), \
                (o >= 0).astype(np.int64)
            gg = np.where(g >= 0, 1, -1)
            c = gf * c + gi * gg
            h = go * np.where(c >= 0, 1, -1)
        self.macs[path] = int(steps * w.size)
        return self.record(path, h)

    def layer(self, info: LayerInfo, x: np.ndarray) -> np.ndarray:
        """Run one resolved layer (its geometry read from ``info``) on codes ``x``."""
        layer, path = info.layer, info.path
        if isinstance(layer, Conv):
            return self.conv(info, x)
        if isinstance(layer, Factorized):
            for child in info.children:
                x = self.conv(child, x)
            return x
        if isinstance(layer, Pool):
            return self.pool(info, x)
        if isinstance(layer, Linear):
            return self.linear(path, layer, x, info.out_bits)
        if isinstance(layer, LSTM):
            return self.lstm(path, layer, x, info.in_bits)
        if isinstance(layer, Residual):
            return self.residual(info, x)
        raise NotDeployable(f"{path}: unsupported layer kind {type(layer).__name__}")

    def residual(self, info: LayerInfo, x: np.ndarray) -> np.ndarray:
        res, path, in_shape, in_bits = cast(Residual, info.layer), info.path, info.in_shape, \
            info.in_bits
        f, bits = x, in_bits
        for child in info.children:
            f = self.layer(child, f)
            bits = child.out_bits
        if res.gate in ("mux", "mux_or"):
            count = math.prod(in_shape[1:])
            t = tgap_threshold(res.threshold, count, in_bits)
            select = x.sum(axis=tuple(range(2, x.ndim)), keepdims=True) >= t
            if res.gate == "mux":
                y = np.where(select, f, x >> res.shift)
            else:
                y = np.where(select, x | f, x)
        elif res.gate == "or":
            y = x | f
        else:  # add, saturating at the body's largest code
            y = x + f if bits >= FLOAT_BITS else np.minimum(x + f, (1 << bits) - 1)
        return self.record(path, y)


def execute(spec: ArchSpec, image: IntegerImage, x_codes: np.ndarray, *,
            keep_codes: bool = False) -> ExecResult:
    """Run ``spec`` with ``image`` on integer input codes (N, *input_shape); see the module
    docstring and ``docs/design.md`` ("Integer semantics")."""
    if image.spec.hash != spec.hash:
        raise ValueError("image: it was made for another spec (hash differs)")
    x = np.asarray(x_codes)
    if x.dtype.kind not in "iu":
        raise ValueError(f"x_codes must be integer codes (see input_codes), got {x.dtype}")
    if tuple(x.shape[1:]) != spec.input_shape:
        raise ValueError(f"input shape {tuple(x.shape[1:])} != spec input_shape "
                         f"{spec.input_shape} (batch axis first)")
    x = x.astype(np.int64)
    _check_exact(spec)
    run = _Run(image, keep_codes)
    if keep_codes:
        run.codes["input"] = x
    for info in spec.top_layers():
        x = run.layer(info, x)
    return ExecResult(x, run.codes, run.macs)


def not_deployable_reason(spec: ArchSpec) -> str | None:
    """Why ``spec`` has no integer form (e.g. float weights), or None when it has one."""
    try:
        layout(spec)
        _check_exact(spec)
        for info in spec.iter_layers():
            if isinstance(info.layer, LSTM) and not info.layer.binary_gates:
                raise NotDeployable(f"{info.path}: an LSTM with float gates")
            if isinstance(info.layer, Pool) and info.in_bits >= FLOAT_BITS:
                raise NotDeployable(f"{info.path}: pooling of an unquantized tensor")
    except NotDeployable as exc:
        return str(exc)
    return None


def predict(spec: ArchSpec, image: IntegerImage, x_codes: np.ndarray) -> np.ndarray:
    """The classes the chip outputs: argmax of the integer logits."""
    return execute(spec, image, x_codes).predict()


@lru_cache(maxsize=1024)
def _acc_bits(spec: ArchSpec) -> dict[str, int]:
    return {op.path: op.acc_bits for op in lower(spec) if op.is_matrix}


@lru_cache(maxsize=1024)
def _check_exact(spec: ArchSpec) -> None:
    for op in lower(spec):
        if op.is_matrix and op.acc_bits > _EXACT_BITS:
            raise NotDeployable(f"{op.path}: accumulator of {op.acc_bits} bits is wider than "
                                f"the executor's exact {_EXACT_BITS} bits")


def leaf_paths(spec: ArchSpec) -> Iterator[str]:
    """The paths whose output codes :func:`execute` records (``keep_codes``), in order."""
    for info in spec.iter_layers():
        yield info.path


def layer_stored_bits(image_layout: Mapping[str, Mapping[str, ArraySpec]]) -> dict[str, int]:
    """Stored bits per layer path of a :func:`layout`."""
    return {p: sum(a.stored_bits for a in arrays.values()) for p, arrays in image_layout.items()}


__all__ = [
    "ENCODINGS", "MEMORIES", "ArraySpec", "ExecResult", "IntegerImage", "NotDeployable",
    "ParamArray", "bsn_requant", "ca_param_values", "conv_acc", "execute", "input_codes",
    "layer_stored_bits", "layout", "leaf_paths", "not_deployable_reason", "pool_requant",
    "predict", "random_image",
    "round_half_up_shift", "tgap_threshold", "threshold_requant", "weight_code_range",
    "weight_encoding", "weight_shape",
]
