"""ArchSpec: the single, torch-free description of a candidate network.

Every other part of tinydse (model builder, cost model, simulator, store, dashboard) reads an
``ArchSpec``; none re-describes a network. A spec is a tree of frozen dataclasses:

* ``Conv``        2-D or 3-D convolution (dimension follows the input), optionally CA-generated
                  when it is a 1x1(x1) pointwise layer;
* ``Factorized``  pointwise -> grouped kxk(xk) -> pointwise, no activation between; the second
                  pointwise may be generated on-line by a cellular automaton (MOGNET);
* ``Residual``    a body of layers plus a gate (add / OR / MUX / MUX-OR) with shift and threshold;
* ``Pool``        max / avg with a kernel, or global average (to a flat vector);
* ``Linear``      fully connected (flattens its input);
* ``LSTM``        binarized LSTM over the T axis of a (C, T, H, W) tensor (BILLNET).

Shapes are inferred layer by layer at construction; a spec whose shapes do not chain, or that
breaks any rule, raises :class:`SpecError` (a ``ValueError``) naming the layer path, the field,
the rule and the value. ``to_json``/``from_json`` round-trip exactly and ``spec.hash`` is a
SHA-256 of canonical JSON (sorted keys, the ``name`` excluded), so it is stable across processes.

This module must never import torch: hwmodel and cost sweeps rely on that.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, ClassVar, cast

from search_spaces.quantizers import FLOAT_BITS, QUANTIZERS, weight_bits_of

SPEC_VERSION = 1

Shape = tuple[int, ...]
IntOrTuple = int | tuple[int, ...]

#: Activation bit-widths: 1 = Heaviside {0,1}, 2..8 uniform on [0,1], 32 = float.
ACT_BITS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 32)
NORMS = ("none", "bn", "bsn")
GATES = ("add", "or", "mux", "mux_or")
POOLS = ("max", "avg", "global_avg")
CA_RULE_HYBRID = "90/150"


class SpecError(ValueError):
    """An invalid architecture: the message names the layer, the field, the rule and the value."""


def _as_tuple(value: IntOrTuple, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    return tuple(value)


def _norm_int_or_tuple(value: Any) -> IntOrTuple:
    if isinstance(value, list | tuple):
        return tuple(int(v) for v in value)
    return value  # type: ignore[no-any-return]


def _check(cond: bool, where: str, fieldname: str, rule: str, value: Any) -> None:
    if not cond:
        raise SpecError(f"{where}: {fieldname}={value!r} {rule}")


def _check_int(value: Any, where: str, fieldname: str, minimum: int) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        where,
        fieldname,
        f"must be an integer >= {minimum}",
        value,
    )


def _check_weight_quant(quant: str, levels: int, where: str) -> None:
    info = QUANTIZERS.find(quant)
    if info is None:
        _check(False, where, "weight_quant", f"must be one of {QUANTIZERS.names()}", quant)
    elif levels not in info.levels:
        _check(False, where, "weight_levels", info.levels_rule(), levels)


def _check_act_bits(bits: Any, where: str, fieldname: str = "act_bits") -> None:
    _check(bits in ACT_BITS, where, fieldname, f"must be one of {list(ACT_BITS)}", bits)


@dataclass(frozen=True)
class CAGen:
    """A 1-D elementary cellular automaton that generates a pointwise weight matrix on-line.

    Our reading of MOGNET: the N-cell automaton (null boundaries) starts from ``seed``; after
    each step its first ``in_channels * bits_per_weight`` cells form one row of weights
    (1 bit: 0 -> -1, 1 -> +1; 2 bits (b1 b0): 01 -> +1, 10 -> -1, else 0). ``rule`` is an
    elementary rule number as a string ("30") or ``"90/150"``: the hybrid used for hardware
    pseudo-random generation, where cell i applies rule 150 if bit i of ``hybrid_mask`` is set
    and rule 90 otherwise. Stored on chip: the seed and the rule (8 bits, or the N-bit mask),
    never the matrix.
    """

    cells: int = 64
    seed: int = 1
    rule: str = CA_RULE_HYBRID
    hybrid_mask: int = 0x5
    bits_per_weight: int = 1

    def validate(self, where: str, row_len: int) -> None:
        _check_int(self.cells, where, "ca.cells", 2)
        _check(self.bits_per_weight in (1, 2), where, "ca.bits_per_weight", "must be 1 or 2",
               self.bits_per_weight)
        _check(isinstance(self.seed, int) and 0 < self.seed < (1 << self.cells), where,
               "ca.seed", f"must be a nonzero integer below 2**cells={1 << self.cells}", self.seed)
        if self.rule != CA_RULE_HYBRID:
            ok = self.rule.isdigit() and 0 <= int(self.rule) <= 255
            _check(ok, where, "ca.rule", f"must be {CA_RULE_HYBRID!r} or an elementary rule "
                   "number 0..255 as a string", self.rule)
        _check(isinstance(self.hybrid_mask, int) and 0 <= self.hybrid_mask < (1 << self.cells),
               where, "ca.hybrid_mask", "must be an integer in [0, 2**cells)", self.hybrid_mask)
        need = row_len * self.bits_per_weight
        _check(self.cells >= need, where, "ca.cells",
               f"must be >= in_channels*bits_per_weight={need} (one row per step)", self.cells)

    @property
    def rule_bits(self) -> int:
        """Bits to store the rule: the N-bit 90/150 mask, or an 8-bit elementary rule number."""
        return self.cells if self.rule == CA_RULE_HYBRID else 8

    @property
    def stored_bits(self) -> int:
        """Bits the chip stores for this generator: seed + rule (the matrix is never stored)."""
        return self.cells + self.rule_bits


@dataclass(frozen=True)
class LayerInfo:
    """A layer with its geometry resolved, once, when the spec is built.

    ``in_shape``/``out_shape`` and ``in_bits``/``out_bits`` are the spec's (activation codes;
    32 = float). ``kernel``, ``stride`` and ``padding`` hold one value per spatial axis for a
    conv or a pool (a global pool's window is its whole input; ``()`` otherwise).
    ``children`` are the resolved parts of a composite: a residual's body, a factorized
    block's three convolutions. The model builder, the hardware IR and the batch scorer read
    these records and never re-infer shapes (docs/design.md, "ArchSpec — the spine").
    """

    path: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    in_bits: int
    out_bits: int
    kernel: Shape = ()
    stride: Shape = ()
    padding: Shape = ()
    children: tuple[LayerInfo, ...] = ()

    @property
    def dims(self) -> int:
        """Spatial axes of the input (2 for (C,H,W), 3 for (C,T,H,W)); 0 for a flat input."""
        return max(0, len(self.in_shape) - 1)


@dataclass(frozen=True)
class _LayerBase:
    kind: ClassVar[str] = ""
    _hash_cache: ClassVar[int | None] = None  # set per instance by the cached __hash__

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        """Validate the layer on its input; its output shape and activation bits."""
        raise NotImplementedError

    def resolve(self, path: str, in_shape: Shape, in_bits: int) -> LayerInfo:
        """Validate the layer on its input and resolve its geometry (see :class:`LayerInfo`)."""
        out_shape, out_bits = self.infer(in_shape, in_bits, path)
        return LayerInfo(path, self, in_shape, out_shape, in_bits, out_bits)  # type: ignore[arg-type]

    def params(self, in_shape: Shape) -> int:
        """Number of weights (including CA-generated ones)."""
        return 0

    def weight_bits(self, in_shape: Shape) -> int:
        """Bits stored on chip for the weights (CA layers: seed + rule)."""
        return 0

    def __getstate__(self) -> dict[str, Any]:
        """Pickled state without the cached hash (see :func:`_cache_hash`)."""
        state = dict(self.__dict__)
        state.pop("_hash_cache", None)
        return state

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            out[f.name] = _to_jsonable(getattr(self, f.name))
        return out


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, CAGen):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, _LayerBase):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    return value


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _spatial_dims(in_shape: Shape, where: str, kind: str) -> int:
    _check(len(in_shape) in (3, 4), where, "input shape",
           f"must be (C,H,W) or (C,T,H,W) for a {kind} layer", in_shape)
    return len(in_shape) - 1


@dataclass(frozen=True)
class Conv(_LayerBase):
    """A 2-D or 3-D convolution (the dimension follows the input), no bias.

    ``padding=None`` means ``k // 2`` per axis ("same" at stride 1). ``ca`` makes a 1x1(x1),
    ungrouped layer CA-generated; its weights then are +-1 (or ternary) and not trained.
    """

    kind: ClassVar[str] = "conv"
    out_channels: int
    kernel: IntOrTuple = 3
    stride: IntOrTuple = 1
    padding: IntOrTuple | None = None
    groups: int = 1
    weight_quant: str = "heq"
    weight_levels: int = 3
    act_bits: int = 1
    norm: str = "bn"
    ca: CAGen | None = None

    def _geom(self, dims: int) -> tuple[Shape, Shape, Shape]:
        k = _as_tuple(self.kernel, dims)
        s = _as_tuple(self.stride, dims)
        p = tuple(kk // 2 for kk in k) if self.padding is None else _as_tuple(self.padding, dims)
        return k, s, p

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        info = self.resolve(where, in_shape, in_bits)
        return info.out_shape, info.out_bits

    def resolve(self, path: str, in_shape: Shape, in_bits: int) -> LayerInfo:
        where = path
        dims = _spatial_dims(in_shape, where, "conv")
        _check_int(self.out_channels, where, "out_channels", 1)
        _check_int(self.groups, where, "groups", 1)
        k, s, p = self._geom(dims)
        for name, tup, lo in (("kernel", k, 1), ("stride", s, 1), ("padding", p, 0)):
            _check(len(tup) == dims and all(isinstance(v, int) and v >= lo for v in tup), where,
                   name, f"must be an int >= {lo} or a tuple of {dims} such ints", tup)
        cin = in_shape[0]
        _check(cin % self.groups == 0, where, "groups", f"must divide in_channels={cin}",
               self.groups)
        _check(self.out_channels % self.groups == 0, where, "groups",
               f"must divide out_channels={self.out_channels}", self.groups)
        spatial = in_shape[1:]
        for axis, (size, kk, pp) in enumerate(zip(spatial, k, p, strict=True)):
            _check(kk <= size + 2 * pp, where, "kernel",
                   f"is larger than the padded input ({size}+2*{pp}) on axis {axis}", k)
        _check_weight_quant(self.weight_quant, self.weight_levels, where)
        _check_act_bits(self.act_bits, where)
        _check(self.norm in NORMS, where, "norm", f"must be one of {list(NORMS)}", self.norm)
        if self.ca is not None:
            _check(all(v == 1 for v in k) and self.groups == 1, where, "ca",
                   "needs a pointwise (kernel 1), ungrouped layer", k)
            self.ca.validate(where, cin)
        out = tuple(_conv_out(sz, kk, ss, pp) for sz, kk, ss, pp in zip(spatial, k, s, p,
                                                                          strict=True))
        return LayerInfo(path, self, in_shape, (self.out_channels, *out), in_bits, self.act_bits,
                         k, s, p)

    def params(self, in_shape: Shape) -> int:
        k, _, _ = self._geom(len(in_shape) - 1)
        return self.out_channels * (in_shape[0] // self.groups) * math.prod(k)

    def weight_bits(self, in_shape: Shape) -> int:
        if self.ca is not None:
            return self.ca.stored_bits
        return self.params(in_shape) * weight_bits_of(self.weight_quant, self.weight_levels)

    def expand(self, in_shape: Shape) -> list[tuple[str, Conv]]:
        return [("", self)]


@dataclass(frozen=True)
class Factorized(_LayerBase):
    """Pointwise (C_in -> mid) -> grouped kxk(xk) (mid -> mid) -> pointwise (mid -> C_out).

    No activation between the three convolutions (MOGNET); normalization and activation after
    the last one. With ``ca`` set, the second pointwise is CA-generated.
    """

    kind: ClassVar[str] = "factorized"
    out_channels: int
    mid_channels: int
    kernel: IntOrTuple = 3
    stride: IntOrTuple = 1
    groups: int = 1
    weight_quant: str = "btq"
    weight_levels: int = 3
    act_bits: int = 3
    norm: str = "bn"
    ca: CAGen | None = None

    def expand(self, in_shape: Shape) -> list[tuple[str, Conv]]:
        """The three convolutions; the first two pass their input through unquantized."""
        common = {"weight_quant": self.weight_quant, "weight_levels": self.weight_levels}
        return [
            ("pw1", Conv(self.mid_channels, kernel=1, norm="none", act_bits=FLOAT_BITS,
                         **common)),  # type: ignore[arg-type]
            ("grouped", Conv(self.mid_channels, kernel=self.kernel, stride=self.stride,
                             groups=self.groups, norm="none", act_bits=FLOAT_BITS,
                             **common)),  # type: ignore[arg-type]
            ("pw2", Conv(self.out_channels, kernel=1, norm=self.norm, act_bits=self.act_bits,
                         ca=self.ca, **common)),  # type: ignore[arg-type]
        ]

    def resolve(self, path: str, in_shape: Shape, in_bits: int) -> LayerInfo:
        _spatial_dims(in_shape, path, "factorized")
        _check_int(self.mid_channels, path, "mid_channels", 1)
        children: list[LayerInfo] = []
        shape, bits = in_shape, in_bits
        for sub, conv in self.expand(in_shape):
            child = conv.resolve(f"{path}.{sub}", shape, bits)
            children.append(child)
            shape, bits = child.out_shape, child.out_bits
        return LayerInfo(path, self, in_shape, shape, in_bits, self.act_bits,
                         children=tuple(children))

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        info = self.resolve(where, in_shape, in_bits)
        return info.out_shape, info.out_bits

    def params(self, in_shape: Shape) -> int:
        return sum(c.layer.params(c.in_shape) for c in self.resolve("?", in_shape, 0).children)

    def weight_bits(self, in_shape: Shape) -> int:
        return sum(c.layer.weight_bits(c.in_shape)
                   for c in self.resolve("?", in_shape, 0).children)


@dataclass(frozen=True)
class Pool(_LayerBase):
    """Max or average pooling with a kernel, or global average pooling to a flat (C,) vector.

    ``act_bits=None`` keeps the input's code set (hardware: the sum is re-quantized).
    """

    kind: ClassVar[str] = "pool"
    op: str = "max"
    kernel: IntOrTuple = 2
    stride: IntOrTuple | None = None
    act_bits: int | None = None

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        dims = _spatial_dims(in_shape, where, "pool")
        _check(self.op in POOLS, where, "op", f"must be one of {list(POOLS)}", self.op)
        bits = in_bits if self.act_bits is None else self.act_bits
        _check_act_bits(bits, where)
        if self.op == "global_avg":
            return (in_shape[0],), bits
        k = _as_tuple(self.kernel, dims)
        s = k if self.stride is None else _as_tuple(self.stride, dims)
        _check(len(k) == dims and all(isinstance(v, int) and v >= 1 for v in k), where,
               "kernel", f"must be an int >= 1 or a tuple of {dims}", k)
        _check(len(s) == dims and all(isinstance(v, int) and v >= 1 for v in s), where,
               "stride", f"must be an int >= 1 or a tuple of {dims}", s)
        for axis, (size, kk) in enumerate(zip(in_shape[1:], k, strict=True)):
            _check(kk <= size, where, "kernel", f"is larger than the input ({size}) on axis "
                   f"{axis}", k)
        out = tuple(_conv_out(sz, kk, ss, 0) for sz, kk, ss in zip(in_shape[1:], k, s,
                                                                    strict=True))
        return (in_shape[0], *out), bits

    def resolve(self, path: str, in_shape: Shape, in_bits: int) -> LayerInfo:
        out_shape, out_bits = self.infer(in_shape, in_bits, path)
        dims = len(in_shape) - 1
        if self.op == "global_avg":
            k = s = tuple(in_shape[1:])
        else:
            k = _as_tuple(self.kernel, dims)
            s = k if self.stride is None else _as_tuple(self.stride, dims)
        return LayerInfo(path, self, in_shape, out_shape, in_bits, out_bits, k, s, (0,) * dims)


@dataclass(frozen=True)
class Linear(_LayerBase):
    """Fully connected layer on the flattened input, no bias. ``act_bits=32`` gives logits."""

    kind: ClassVar[str] = "linear"
    out_features: int
    weight_quant: str = "heq"
    weight_levels: int = 3
    act_bits: int = FLOAT_BITS
    norm: str = "none"

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        _check_int(self.out_features, where, "out_features", 1)
        _check_weight_quant(self.weight_quant, self.weight_levels, where)
        _check_act_bits(self.act_bits, where)
        _check(self.norm in NORMS, where, "norm", f"must be one of {list(NORMS)}", self.norm)
        return (self.out_features,), self.act_bits

    def params(self, in_shape: Shape) -> int:
        return self.out_features * math.prod(in_shape)

    def weight_bits(self, in_shape: Shape) -> int:
        return self.params(in_shape) * weight_bits_of(self.weight_quant, self.weight_levels)


@dataclass(frozen=True)
class LSTM(_LayerBase):
    """Binarized LSTM over the T axis of a (C, T, H, W) input (BILLNET); emits the last h.

    Per step the input is the flattened C*H*W frame features. No biases. With
    ``binary_gates`` the sigmoid gates are Heaviside and the cell's tanh is sign (our reading).
    """

    kind: ClassVar[str] = "lstm"
    hidden: int
    weight_quant: str = "sign"
    weight_levels: int = 2
    binary_gates: bool = True

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        _check(len(in_shape) == 4, where, "input shape", "must be (C,T,H,W) for an lstm layer",
               in_shape)
        _check_int(self.hidden, where, "hidden", 1)
        _check_weight_quant(self.weight_quant, self.weight_levels, where)
        _check(isinstance(self.binary_gates, bool), where, "binary_gates", "must be a boolean",
               self.binary_gates)
        return (self.hidden,), (1 if self.binary_gates else FLOAT_BITS)

    def features(self, in_shape: Shape) -> int:
        return in_shape[0] * in_shape[2] * in_shape[3]

    def params(self, in_shape: Shape) -> int:
        return 4 * self.hidden * (self.features(in_shape) + self.hidden)

    def weight_bits(self, in_shape: Shape) -> int:
        return self.params(in_shape) * weight_bits_of(self.weight_quant, self.weight_levels)


@dataclass(frozen=True)
class Residual(_LayerBase):
    """A body of layers and an identity skip joined by a gate.

    * ``add``: y = x + F(x), re-quantized to the body's activation bits;
    * ``or``: y = x OR F(x) (1-bit activations);
    * ``mux``: y_c = S_c ? F(x)_c : (x_c >> shift), S_c = H(GAP(x)_c - threshold);
    * ``mux_or`` (BILLNET, our reading): y_c = S_c ? (x_c OR F(x)_c) : x_c (1-bit).
    """

    kind: ClassVar[str] = "residual"
    body: tuple[Layer, ...]
    gate: str = "add"
    shift: int = 0
    threshold: float = 0.5

    def infer(self, in_shape: Shape, in_bits: int, where: str) -> tuple[Shape, int]:
        info = self.resolve(where, in_shape, in_bits)
        return info.out_shape, info.out_bits

    def resolve(self, path: str, in_shape: Shape, in_bits: int) -> LayerInfo:
        where = path
        _check(self.gate in GATES, where, "gate", f"must be one of {list(GATES)}", self.gate)
        _check(len(self.body) >= 1, where, "body", "must hold at least one layer", len(self.body))
        _check(isinstance(self.shift, int) and 0 <= self.shift <= 7, where, "shift",
               "must be an integer in 0..7", self.shift)
        _check(self.gate in ("mux",) or self.shift == 0, where, "shift",
               f"must be 0 unless gate='mux' (gate={self.gate!r})", self.shift)
        _check(isinstance(self.threshold, int | float) and 0.0 <= self.threshold <= 1.0, where,
               "threshold", "must be a number in [0, 1]", self.threshold)
        shape, bits = in_shape, in_bits
        children: list[LayerInfo] = []
        for i, layer in enumerate(self.body):
            _check(isinstance(layer, Conv | Factorized | Pool), f"{where}.body[{i}]", "kind",
                   "must be conv, factorized or pool inside a residual body",
                   getattr(layer, "kind", type(layer).__name__))
            child = layer.resolve(f"{where}.body[{i}]", shape, bits)
            children.append(child)
            shape, bits = child.out_shape, child.out_bits
        _check(shape == in_shape, where, "body output shape",
               f"must equal the block input shape {in_shape} for a {self.gate!r} gate", shape)
        if self.gate in ("or", "mux_or"):
            _check(in_bits == 1 and bits == 1, where, "act_bits",
                   f"must be 1 on both skip and body for a {self.gate!r} gate",
                   (in_bits, bits))
        if self.gate == "mux":
            _check(in_bits == bits, where, "act_bits",
                   "must be equal on skip and body for a 'mux' gate", (in_bits, bits))
        return LayerInfo(path, self, in_shape, shape, in_bits, bits, children=tuple(children))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["body"] = [layer.to_dict() for layer in self.body]
        return out


def tgap_threshold(threshold: float, count: int, bits: int) -> int:
    """The integer meaning of a MUX gate's select threshold: ``GAP(x)_c >= threshold`` on
    ``bits``-bit codes ``x = k / L`` over ``count`` positions is ``sum_c(k) >=
    ceil(threshold * count * L)`` (computed exactly from the binary value of ``threshold``)."""
    return math.ceil(Fraction(threshold) * count * ((1 << bits) - 1))


Layer = Conv | Factorized | Pool | Linear | LSTM | Residual
LAYER_KINDS: dict[str, type[_LayerBase]] = {
    cls.kind: cls for cls in (Conv, Factorized, Pool, Linear, LSTM, Residual)
}


def _cache_hash(cls: type[_LayerBase]) -> None:
    """Make ``hash(layer)`` compute the generated dataclass hash once per object.

    The value is the generated one (consistent with ``==``), stored on first use in the
    instance under ``_hash_cache`` (a class attribute defaulting to None, not a field: absent
    from ``to_dict``, ``repr``, ``==`` and ``fields()``; dropped from pickles because str
    hashes differ between processes). Layers key the block cache of :mod:`hwmodel.batch`, so
    re-scoring the same objects skips re-hashing every field (measured in
    ``benchmarks/cost_throughput.py``).
    """
    field_hash = cls.__hash__

    def __hash__(self: _LayerBase) -> int:
        h = self._hash_cache
        if h is None:
            h = field_hash(self)
            object.__setattr__(self, "_hash_cache", h)
        return h

    cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]


for _cls in LAYER_KINDS.values():
    _cache_hash(_cls)


@dataclass(frozen=True)
class ArchSpec:
    """A whole candidate: input shape (C,H,W) or (C,T,H,W), class count, layers.

    ``input_bits`` is the bit-width of the input pixels. ``name`` is a label and is not part
    of the hash.
    """

    input_shape: Shape
    num_classes: int
    layers: tuple[Layer, ...]
    input_bits: int = 8
    name: str = ""
    _infos: tuple[LayerInfo, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        where = "spec"
        _check(len(self.input_shape) in (3, 4) and all(isinstance(v, int) and v >= 1
               for v in self.input_shape), where, "input_shape",
               "must be (C,H,W) or (C,T,H,W) positive integers", self.input_shape)
        _check_int(self.num_classes, where, "num_classes", 1)
        _check(1 <= self.input_bits <= 32 and isinstance(self.input_bits, int), where,
               "input_bits", "must be an integer in 1..32", self.input_bits)
        _check(len(self.layers) >= 1, where, "layers", "must hold at least one layer",
               len(self.layers))
        infos: list[LayerInfo] = []
        shape, bits = self.input_shape, self.input_bits
        for i, layer in enumerate(self.layers):
            path = f"layers[{i}]"
            _check(isinstance(layer, _LayerBase), path, "kind",
                   f"must be one of {sorted(LAYER_KINDS)}", type(layer).__name__)
            info = layer.resolve(path, shape, bits)
            infos.append(info)
            shape, bits = info.out_shape, info.out_bits
        _check(shape == (self.num_classes,), "spec", "output shape",
               f"must be (num_classes,)=({self.num_classes},)", shape)
        object.__setattr__(self, "_infos", tuple(infos))

    # ------------------------------------------------------------------ shapes and counts
    @property
    def output_shape(self) -> Shape:
        return self._infos[-1].out_shape

    @property
    def is_video(self) -> bool:
        return len(self.input_shape) == 4

    def top_layers(self) -> tuple[LayerInfo, ...]:
        """The top-level layers with their resolved geometry (composites with children)."""
        return self._infos

    def iter_layers(self) -> Iterator[LayerInfo]:
        """Every leaf layer in execution order (residual bodies and factorized blocks opened).

        Paths look like ``layers[2].body[0].pw2``; a residual also yields itself (after its
        body) so consumers can account for the gate.
        """
        for info in self._infos:
            yield from _leaves(info)

    def params(self) -> int:
        """Number of weights, CA-generated ones included."""
        return sum(i.layer.params(i.in_shape) for i in self.iter_layers())

    def weight_bits(self) -> int:
        """Bits stored on chip for all weights (CA layers: seed + rule)."""
        return sum(i.layer.weight_bits(i.in_shape) for i in self.iter_layers())

    def layer_table(self) -> list[dict[str, Any]]:
        """One row per leaf layer: path, kind, output shape, params, weight bits, act bits."""
        rows = []
        for info in self.iter_layers():
            layer = info.layer
            rows.append({
                "path": info.path,
                "kind": layer.kind + ("+ca" if getattr(layer, "ca", None) else "")
                + (f"[{layer.gate}]" if isinstance(layer, Residual) else ""),
                "out_shape": info.out_shape,
                "params": layer.params(info.in_shape),
                "weight_bits": layer.weight_bits(info.in_shape),
                "act_bits": info.out_bits,
            })
        return rows

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return _spec_dict(self.input_shape, self.input_bits, self.num_classes,
                          [layer.to_dict() for layer in self.layers], self.name)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"spec: must be a JSON object, got {type(data).__name__}")
        known = {"version", "name", "input_shape", "input_bits", "num_classes", "layers"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"spec: unknown field {unknown[0]!r} (known: {sorted(known)})")
        for req in ("input_shape", "num_classes", "layers"):
            if req not in data:
                raise SpecError(f"spec: field {req!r} is required")
        version = data.get("version", SPEC_VERSION)
        _check(version == SPEC_VERSION, "spec", "version", f"must be {SPEC_VERSION}", version)
        layers = data["layers"]
        _check(isinstance(layers, list), "spec", "layers", "must be a list", type(layers).__name__)
        _check(isinstance(data["input_shape"], list | tuple), "spec", "input_shape",
               "must be a list of integers", data["input_shape"])
        return cls(
            input_shape=tuple(data["input_shape"]),
            num_classes=data["num_classes"],
            layers=tuple(_layer_from_dict(d, f"layers[{i}]") for i, d in enumerate(layers)),
            input_bits=data.get("input_bits", 8),
            name=data.get("name", ""),
        )

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec: malformed JSON at line {exc.lineno} column {exc.colno}: "
                            f"{exc.msg}") from None
        return cls.from_dict(data)

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON, without the name: the dedupe key in the store."""
        data = _spec_dict(self.input_shape, self.input_bits, self.num_classes,
                          [layer.to_dict() for layer in self.layers], None)
        return hashlib.sha256(canonical_json(data)).hexdigest()

    def with_name(self, name: str) -> ArchSpec:
        return ArchSpec(self.input_shape, self.num_classes, self.layers, self.input_bits, name)


def _spec_dict(input_shape: Shape, input_bits: int, num_classes: int, layers: list[Any],
               name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"version": SPEC_VERSION, "name": name,
                           "input_shape": list(input_shape), "input_bits": input_bits,
                           "num_classes": num_classes, "layers": layers}
    if name is None:
        del out["name"]
    return out


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON of ``obj`` (sorted keys, no spaces) that ``ArchSpec.hash`` digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_json(layer: Layer) -> bytes:
    """The canonical JSON of one top-level layer, as it stands inside the spec's."""
    return canonical_json(layer.to_dict())


_LAYERS_MARK = "\x00layers\x00"


def hash_frame(input_shape: Shape, input_bits: int, num_classes: int) -> tuple[bytes, bytes]:
    """The canonical JSON of a spec before and after its layers: a spec's hash is
    ``hash_of(head, [layer_json(layer) for layer in layers], tail)``, so a batch scorer can
    hash many specs from cached pieces."""
    text = canonical_json(_spec_dict(input_shape, input_bits, num_classes, [_LAYERS_MARK],
                                     None))
    head, tail = text.split(canonical_json(_LAYERS_MARK))
    return head, tail


def hash_of(head: bytes, layers: Iterable[bytes], tail: bytes) -> str:
    """SHA-256 of a spec's canonical JSON assembled from :func:`hash_frame` and layers: the same
    value as ``ArchSpec.hash`` (tested), from cached pieces."""
    return hashlib.sha256(head + b",".join(layers) + tail).hexdigest()


def _leaves(info: LayerInfo) -> Iterator[LayerInfo]:
    if isinstance(info.layer, Residual):
        for child in info.children:
            yield from _leaves(child)
        yield info
    elif info.children:
        yield from info.children
    else:
        yield info


def _layer_from_dict(data: Any, where: str) -> Layer:
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in LAYER_KINDS:
        raise SpecError(f"{where}: kind={kind!r} must be one of {sorted(LAYER_KINDS)}")
    cls = LAYER_KINDS[kind]
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    value: Any
    for key, value in data.items():
        if key == "kind":
            continue
        if key not in names:
            raise SpecError(f"{where}: unknown field {key!r} for kind={kind!r} "
                            f"(known: {sorted(names)})")
        if key == "ca" and value is not None:
            if not isinstance(value, Mapping):
                raise SpecError(f"{where}: ca={value!r} must be an object or null")
            ca_names = {f.name for f in fields(CAGen)}
            bad = sorted(set(value) - ca_names)
            if bad:
                raise SpecError(f"{where}: unknown field 'ca.{bad[0]}' (known: {sorted(ca_names)})")
            value = CAGen(**value)
        elif key == "body":
            if not isinstance(value, list):
                raise SpecError(f"{where}: body must be a list of layers")
            value = tuple(_layer_from_dict(d, f"{where}.body[{i}]") for i, d in enumerate(value))
        elif key in ("kernel", "stride", "padding"):
            value = _norm_int_or_tuple(value)
        kwargs[key] = value
    try:
        return cast(Layer, cls(**kwargs))
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def load_spec(path: str) -> ArchSpec:
    """Read an ArchSpec from a JSON file; errors name the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return ArchSpec.from_json(text)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


__all__ = [
    "ArchSpec", "CAGen", "Conv", "Factorized", "Layer", "LayerInfo", "LSTM", "Linear", "Pool",
    "Residual", "SpecError", "canonical_json", "hash_frame", "hash_of", "layer_json",
    "load_spec", "tgap_threshold", "weight_bits_of",
]
