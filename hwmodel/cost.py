"""Analytical hardware cost model: ArchSpec (via :mod:`hwmodel.ir`) -> :class:`CostReport`.

Per op and in total, every name with its unit (docs/design.md, "Hardware cost model"):

* memory bits: stored weights (CA layers: seed + rule, plus the generator state ``ca_state_bits``
  held in the cells' flip-flops), normalization parameters (BN: its integer multi-thresholds,
  C*((2^b - 1)*acc_bits + 1); BSN: the layer's shift code + C offsets), and the activation
  buffer: the peak over the schedule of the tensors
  alive at once (``HwOp.live_bits``);
* logic: the accelerator's R x C MAC array and its units (norm, gate, TGAP, pool, CA generator)
  as gate counts (XNOR2, XOR2, AND2, OR2, MUX2, full/half adders, comparators, flip-flops). The
  array is sized by the AccelConfig and by the widest layer it must run, so logic scales with
  the accelerator, not with the network;
* operations: MACs, BOPs (MACs*b_w*b_a and UNIQ's form), gate, shift and compare operations;
* energy (pJ per inference) and area (um2) from a :class:`hwmodel.tech.Tech` table;
* ``ideal_cycles``: SCALE-Sim's stall-free closed form per matrix product (:func:`product_cycles`)
  plus the fixed latency of the small units (:func:`op_ideal_cycles`). The simulator
  (:mod:`hwmodel.sim`) reproduces these numbers with its engine when configured stall-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hwmodel.accel import DATAFLOWS, AccelConfig
from hwmodel.ir import FLOAT_BITS, HwOp, lower, lstm_cell_bits
from hwmodel.tech import Tech, default_tech
from search_spaces.spec import CA_RULE_HYBRID, ArchSpec

LOGIC_CELLS = ("xnor2", "xor2", "and2", "or2", "mux2", "full_adders", "half_adders",
               "comparator_bits", "flip_flops")


@dataclass(frozen=True)
class CostParams:
    """Model parameters that are design choices rather than technology constants.

    ``bn_param_bits``: bits per BN parameter (scale and bias, 2 per channel).
    ``bsn_max_shift``: largest BSN shift; the layer stores ceil(log2(max+1)) bits (15 -> 4).
    ``bsn_offset_bits``: bits per BSN per-channel offset.
    ``float_intermediates``: keep 32-bit tensors where the spec says float (see hwmodel.ir).
    ``uniq_per_position``: UNIQ's BOPs formula counts one output position; True multiplies it
    by the output positions (our reading, so it is comparable with MACs*b_w*b_a).
    """

    bn_param_bits: int = 16
    bsn_max_shift: int = 15
    bsn_offset_bits: int = 8
    float_intermediates: bool = False
    uniq_per_position: bool = True

    def __post_init__(self) -> None:
        for name in ("bn_param_bits", "bsn_max_shift", "bsn_offset_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"cost params: {name}={value!r} must be an integer >= 1")

    @property
    def bsn_shift_bits(self) -> int:
        return math.ceil(math.log2(self.bsn_max_shift + 1))


# ---------------------------------------------------------------------- pure formulas
def ceil_log2(n: int) -> int:
    """ceil(log2 n) for n >= 1 (0 for n <= 1)."""
    return (n - 1).bit_length() if n > 1 else 0


def product_cycles(sr: int, sc: int, t: int, rows: int, cols: int, dataflow: str) -> int:
    """Stall-free compute cycles of one Sr x Sc (by T) operand mapping on an R x C array.

    SCALE-Sim 3.0.0 (compute/systolic_*.py): ceil(Sr/R)*ceil(Sc/C)*(2R + C + T - 2) - 1 for
    WS and IS, ceil(Sr/R)*ceil(Sc/C)*(R + C + T - 2) - 1 for OS.
    """
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow={dataflow!r} must be one of {list(DATAFLOWS)}")
    folds = -(-sr // rows) * -(-sc // cols)
    if dataflow == "os":
        return folds * (rows + cols + t - 2) - 1
    return folds * (2 * rows + cols + t - 2) - 1


def mapping(op: HwOp, dataflow: str) -> tuple[int, int, int]:
    """(Sr, Sc, T) of one product of ``op`` (SCALE-Sim 3.0.0 conventions).

    OS: Sr = ofmap_px, Sc = filters, T = window; WS: Sr = window, Sc = filters, T = ofmap_px;
    IS: Sr = window, Sc = ofmap_px, T = filters.
    """
    if dataflow == "os":
        return op.ofmap_px, op.filters, op.window
    if dataflow == "ws":
        return op.window, op.filters, op.ofmap_px
    if dataflow == "is":
        return op.window, op.ofmap_px, op.filters
    raise ValueError(f"dataflow={dataflow!r} must be one of {list(DATAFLOWS)}")


def unit_latency_cycles(op: HwOp, accel: AccelConfig) -> int:
    """Fixed latency of a non-matrix op on its unit: norm -> shift unit, gate and pool -> gate
    unit (our choice: the template has no separate pool latency), TGAP -> TGAP unit."""
    if op.op == "norm":
        return accel.shift_latency_cycles
    if op.op in ("gate", "pool"):
        return accel.gate_latency_cycles
    if op.op == "tgap":
        return accel.tgap_latency_cycles
    raise ValueError(f"{op.path}: op={op.op!r} is not a unit op")


def op_ideal_cycles(op: HwOp, accel: AccelConfig) -> int:
    """Stall-free cycles of one op: products x :func:`product_cycles` (bit-serial PEs take
    a_bits passes per product), or the unit latency for pool, gate, norm and TGAP."""
    if not op.is_matrix:
        return unit_latency_cycles(op, accel)
    sr, sc, t = mapping(op, accel.dataflow)
    passes = op.a_bits if accel.bit_serial else 1
    return op.products * passes * product_cycles(sr, sc, t, accel.rows, accel.cols,
                                                 accel.dataflow)


def operand_traffic_bits(op: HwOp, rows: int, cols: int, dataflow: str
                         ) -> tuple[int, int, int, int]:
    """(weight_read, act_read, psum_bits, out_write) SRAM traffic in bits of a matrix op.

    SCALE-Sim style, per product: the stationary operand is read once and the streamed operand
    once per fold of the stationary's other dimension. WS/IS spill partial sums once per extra
    fold of the reduction (``psum_bits`` written and read back, at accumulator width); OS keeps
    them in the PEs. Outputs are written once at output width.
    """
    n_out = op.ofmap_px * op.filters
    psum = 0
    if dataflow == "ws":
        w = op.window * op.filters
        a = op.window * op.ofmap_px * -(-op.filters // cols)
        psum = n_out * (-(-op.window // rows) - 1) * op.acc_bits
    elif dataflow == "is":
        a = op.window * op.ofmap_px
        w = op.window * op.filters * -(-op.ofmap_px // cols)
        psum = n_out * (-(-op.window // rows) - 1) * op.acc_bits
    elif dataflow == "os":
        a = op.ofmap_px * op.window * -(-op.filters // cols)
        w = op.window * op.filters * -(-op.ofmap_px // rows)
    else:
        raise ValueError(f"dataflow={dataflow!r} must be one of {list(DATAFLOWS)}")
    k = op.products
    return k * w * op.w_bits, k * a * op.a_bits, k * psum, k * n_out * op.out_bits


def popcount_full_adders(n: int) -> int:
    """Full adders of an n-input popcount tree: n - ceil(log2(n+1)).

    docs/design.md, "Hardware cost model".
    """
    return max(0, n - ceil_log2(n + 1))


def barrel_shifter_mux2(width: int, shifts: int) -> int:
    """MUX2 cells of a width-bit barrel shifter over ``shifts`` positions: W*ceil(log2 S)."""
    return width * ceil_log2(shifts)


def array_multiplier_cells(m: int, n: int) -> tuple[int, int, int]:
    """(AND2, FA, HA) of an m x n array multiplier: m*n AND2 and (m-1)*n adders, the first row
    of which are half adders (Rabaey, Digital Integrated Circuits, §11.5)."""
    m, n = min(m, n), max(m, n)
    if m <= 1:
        return m * n, 0, 0
    return m * n, (m - 1) * (n - 1), m - 1


def bops(macs: int, w_bits: int, a_bits: int) -> int:
    """Bit operations as MACs x b_w x b_a."""
    return macs * w_bits * a_bits


def bops_uniq(positions: int, m: int, n_k2: int, w_bits: int, a_bits: int) -> float:
    """UNIQ (Baskin et al. 2018): m*n*k^2*(b_a*b_w + b_a + b_w + log2(n*k^2)) per position."""
    return positions * m * n_k2 * (a_bits * w_bits + a_bits + w_bits + math.log2(n_k2))


def mac_energy_pj(w_bits: int, w_levels: int, a_bits: int, acc_bits: int, tech: Tech) -> float:
    """Energy of one MAC: the product by bit-widths plus an accumulator-width add.

    Float operands: fp32 mult + add (Horowitz). Binary weight: XNOR (1-bit act) or conditional
    negate per activation bit (QTools XOR factor); ternary: QTools ternary factor per act bit;
    1-bit activations: AND per weight bit; otherwise the 8-bit multiply scaled by b_w*b_a/64.
    Integer adds scale linearly with width from the 8-bit add.
    """
    e1 = tech.add_pj_per_bit
    if w_bits >= FLOAT_BITS or a_bits >= FLOAT_BITS:
        return tech.fmult32_pj + tech.fadd32_pj
    if w_levels == 2:
        prod = tech.xor_factor * e1 * a_bits
    elif w_levels == 3:
        prod = tech.ternary_factor * e1 * a_bits
    elif a_bits == 1:
        prod = tech.and_factor * e1 * w_bits
    else:
        prod = tech.mult8_pj * (w_bits * a_bits) / 64
    return prod + e1 * acc_bits


def norm_memory_bits(norm: str, channels: int, params: CostParams, acc_bits: int = 0,
                     levels: int = 0) -> int:
    """BSN: one shift code per layer + C offsets. BN before a b-bit activation: the integer
    multi-thresholds that replace it (FINN style: 2^b - 1 per channel at the accumulator width
    ``acc_bits``, ``levels = 2^b - 1``) plus one direction bit per channel (reversed
    comparisons where gamma < 0; our choice, see docs/design.md "Integer semantics"); BN before
    an unquantized output (``levels = 0``): scale and bias, 2*C*b_norm."""
    if norm == "bn":
        if levels:
            return channels * (levels * acc_bits + 1)
        return 2 * channels * params.bn_param_bits
    if norm == "bsn":
        return params.bsn_shift_bits + channels * params.bsn_offset_bits
    return 0


def ca_xor2(ca: Any) -> tuple[int, int]:
    """(XOR2, MUX2) of one CA generator step logic: rule 90 = 1 XOR2, rule 150 = 2 XOR2 per cell
    (the 90/150 hybrid by its mask); another elementary rule = an 8:1 mux = 7 MUX2 per cell."""
    if ca.rule == CA_RULE_HYBRID:
        n150 = bin(ca.hybrid_mask & ((1 << ca.cells) - 1)).count("1")
        return ca.cells + n150, 0
    return 0, 7 * ca.cells


# ---------------------------------------------------------------------- reports
@dataclass(frozen=True)
class LayerCost:
    """Cost of one hardware op (see :class:`hwmodel.ir.HwOp`)."""

    path: str
    op: str
    out_shape: tuple[int, ...]
    w_bits: int
    a_bits: int
    out_bits: int
    macs: int
    bops: int
    bops_uniq: float
    weight_memory_bits: int
    ca_state_bits: int
    norm_memory_bits: int
    live_act_bits: int
    gate_ops: int
    shift_ops: int
    compare_ops: int
    sram_read_bits: int
    sram_write_bits: int
    mac_energy_pj: float
    unit_energy_pj: float
    sram_energy_pj: float
    energy_pj: float
    ideal_cycles: int


@dataclass(frozen=True)
class LogicCounts:
    """Gate-level inventory of the accelerator (array + units)."""

    xnor2: int = 0
    xor2: int = 0
    and2: int = 0
    or2: int = 0
    mux2: int = 0
    full_adders: int = 0
    half_adders: int = 0
    comparator_bits: int = 0
    flip_flops: int = 0

    def __add__(self, other: LogicCounts) -> LogicCounts:
        return LogicCounts(*(getattr(self, f) + getattr(other, f) for f in LOGIC_CELLS))

    def scale(self, k: int) -> LogicCounts:
        return LogicCounts(*(getattr(self, f) * k for f in LOGIC_CELLS))

    def area_um2(self, tech: Tech) -> float:
        """Cell areas; an n-bit comparator is taken as an n-bit subtractor (n FA + n INV)."""
        return (self.xnor2 * tech.xnor2_um2 + self.xor2 * tech.xor2_um2
                + self.and2 * tech.and2_um2 + self.or2 * tech.or2_um2
                + self.mux2 * tech.mux2_um2 + self.full_adders * tech.fa_um2
                + self.half_adders * tech.ha_um2
                + self.comparator_bits * (tech.fa_um2 + tech.inv_um2)
                + self.flip_flops * tech.dff_um2)

    def nand2_equivalents(self, tech: Tech) -> float:
        return self.area_um2(tech) / tech.nand2_um2


@dataclass(frozen=True)
class CostReport:
    """Per-op costs and totals of one spec on one accelerator with one technology table."""

    spec_hash: str
    layers: list[LayerCost]
    totals: dict[str, Any]
    logic: LogicCounts
    accel: AccelConfig
    tech_name: str
    params: CostParams = field(default_factory=CostParams)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec_hash": self.spec_hash,
            "tech": self.tech_name,
            "accel": self.accel.to_dict(),
            "params": asdict(self.params),
            "layers": [{**asdict(layer), "out_shape": list(layer.out_shape)}
                       for layer in self.layers],
            "totals": dict(self.totals),
            "logic": asdict(self.logic),
        }


# ---------------------------------------------------------------------- per-op costs
def _unit_costs(op: HwOp, tech: Tech, params: CostParams) -> tuple[int, int, int, float]:
    """(gate_ops, shift_ops, compare_ops, energy_pj) of a unit op (or an LSTM's cell update)."""
    e1 = tech.add_pj_per_bit
    n = op.elements
    if op.op == "norm":
        width = op.a_bits
        compare = n * op.norm_levels
        e_cmp = compare * e1 * width
        if op.norm == "bsn":
            shift_e = barrel_shifter_mux2(width, params.bsn_max_shift + 1) * tech.mux_factor * e1
            return 0, n, compare, n * (shift_e + e1 * width) + e_cmp
        if op.norm_levels:  # BN as multi-thresholds: the comparisons alone
            return 0, 0, compare, e_cmp
        # BN before a float output: a width x b_norm multiply and an add per element.
        mult = tech.mult8_pj * width * params.bn_param_bits / 64
        return 0, 0, compare, n * (mult + e1 * width) + e_cmp
    if op.op == "gate":
        bits = op.out_bits
        if op.gate == "or":
            return n * bits, 0, 0, n * bits * tech.and_factor * e1
        if op.gate == "mux":
            shift_ops = n if op.shift else 0  # fixed shift: wiring, counted, no energy
            return n * bits, shift_ops, 0, n * bits * tech.mux_factor * e1
        if op.gate == "mux_or":
            return 2 * n * bits, 0, 0, n * bits * (tech.and_factor + tech.mux_factor) * e1
        return 0, 0, 0, n * e1 * (bits + 1)  # add, re-quantized by truncation
    if op.op == "tgap":
        n_in = math.prod(op.in_shape)
        width = ceil_log2(op.window * ((1 << op.a_bits) - 1) + 1)
        # popcount ~ one 1-bit add per input bit, then one comparison per channel
        return 0, 0, op.channels, n_in * op.a_bits * e1 + op.channels * width * e1
    if op.op == "pool":
        bits = op.a_bits
        if op.pool == "max":
            compare = n * max(op.window - 1, 0)
            return 0, 0, compare, compare * bits * e1
        width = bits + ceil_log2(op.window)
        return 0, 0, 0, n * max(op.window - 1, 1) * width * e1
    if op.op == "lstm":
        # per step and unit: c = f*c + i*g, h = o*sign(c): three gated products and one add
        t, h = op.time_steps, op.channels
        c_bits = lstm_cell_bits(t, op.out_bits == 1)
        if op.out_bits == 1:
            e = t * h * (3 * tech.mux_factor * e1 + c_bits * e1)
        else:
            e = t * h * (3 * tech.fmult32_pj + tech.fadd32_pj)
        return 3 * t * h, 0, 0, e
    return 0, 0, 0, 0.0


def layer_cost(op: HwOp, accel: AccelConfig, tech: Tech, params: CostParams) -> LayerCost:
    """The cost of one op on ``accel`` (memory, operations, energy, ideal cycles)."""
    e_sram = tech.sram_pj_per_bit
    ca_state = op.ca.cells if op.ca is not None else 0
    norm_bits = (norm_memory_bits(op.norm, op.channels, params, op.a_bits, op.norm_levels)
                 if op.op == "norm" else 0)
    macs = op.macs
    b = bu = 0.0
    rd = wr = 0
    mac_e = 0.0
    if op.is_matrix:
        b = bops(macs, op.w_bits, op.a_bits)
        positions = op.products * op.ofmap_px if params.uniq_per_position else op.products
        bu = bops_uniq(positions, op.filters, op.window, op.w_bits, op.a_bits)
        rd_w, rd_a, psum, wr_o = operand_traffic_bits(op, accel.rows, accel.cols,
                                                      accel.dataflow)
        rd = rd_w + rd_a + psum
        wr = wr_o + psum
        mac_e = macs * mac_energy_pj(op.w_bits, op.w_levels, op.a_bits, op.acc_bits, tech)
        if op.ca is not None:
            # weights come from the generator, not SRAM: one CA step per row (output channel)
            rd -= rd_w
            xor2, mux2 = ca_xor2(op.ca)
            mac_e += op.filters * (xor2 * tech.xor_factor + mux2 * tech.mux_factor) \
                * tech.add_pj_per_bit
    else:
        rd = op.in_tensor_bits if op.op in ("pool", "tgap", "gate") else 0
        wr = op.out_tensor_bits if op.op in ("pool", "gate") else 0
        if op.op == "norm":
            rd = norm_bits  # parameters read once per layer
    gate_ops, shift_ops, compare_ops, unit_e = _unit_costs(op, tech, params)
    sram_e = (rd + wr) * e_sram
    return LayerCost(
        path=op.path, op=op.op, out_shape=op.out_shape, w_bits=op.w_bits, a_bits=op.a_bits,
        out_bits=op.out_bits, macs=macs, bops=int(b), bops_uniq=bu,
        weight_memory_bits=op.weight_bits_stored, ca_state_bits=ca_state,
        norm_memory_bits=norm_bits, live_act_bits=op.live_bits, gate_ops=gate_ops,
        shift_ops=shift_ops, compare_ops=compare_ops, sram_read_bits=rd, sram_write_bits=wr,
        mac_energy_pj=mac_e, unit_energy_pj=unit_e, sram_energy_pj=sram_e,
        energy_pj=mac_e + unit_e + sram_e, ideal_cycles=op_ideal_cycles(op, accel))


# ---------------------------------------------------------------------- accelerator logic
@dataclass(frozen=True)
class Widths:
    """What the hardware must support: the widest operands of the network it runs."""

    w_bits: int = 1
    w_levels: int = 2
    a_bits: int = 1
    acc_bits: int = 1
    norm_in_bits: int = 0
    norm_out_levels: int = 0
    bsn: bool = False
    bn: bool = False
    gate_bits: dict[str, int] = field(default_factory=dict)
    tgap_width: int = 0
    pool_max_bits: int = 0
    pool_avg_bits: int = 0
    ca_cells: int = 0
    ca_xor2: int = 0
    ca_mux2: int = 0


def widths_of(ops: Sequence[HwOp]) -> Widths:
    """Scan the ops for the widths every unit must support."""
    w = a = acc = nin = nlev = tg = pmax = pavg = cells = cx = cm = 0
    wl = 0
    bsn = bn = False
    gates: dict[str, int] = {}
    for op in ops:
        if op.is_matrix:
            w, a, acc = max(w, op.w_bits), max(a, op.a_bits), max(acc, op.acc_bits)
            wl = max(wl, op.w_levels if op.w_bits < FLOAT_BITS else 1 << 16)
            if op.ca is not None:
                # one generator sized for the largest automaton and the richest rule logic
                x2, m2 = ca_xor2(op.ca)
                cells, cx, cm = max(cells, op.ca.cells), max(cx, x2), max(cm, m2)
        elif op.op == "norm":
            nin = max(nin, op.a_bits)
            nlev = max(nlev, op.norm_levels)
            bsn |= op.norm == "bsn"
            # BN before a quantized output is multi-thresholds (the comparators below);
            # only BN before an unquantized output needs the multiplier of its affine
            bn |= op.norm == "bn" and not op.norm_levels
        elif op.op == "gate":
            gates[op.gate or "add"] = max(gates.get(op.gate or "add", 0), op.out_bits)
        elif op.op == "tgap":
            tg = max(tg, ceil_log2(op.window * ((1 << op.a_bits) - 1) + 1))
        elif op.op == "pool":
            if op.pool == "max":
                pmax = max(pmax, op.a_bits)
            else:
                pavg = max(pavg, op.a_bits + ceil_log2(op.window))
    return Widths(max(w, 1), max(wl, 2), max(a, 1), max(acc, 1), nin, nlev, bsn, bn, gates, tg,
                  pmax, pavg, cells, cx, cm)


def pe_logic(widths: Widths, accel: AccelConfig) -> LogicCounts:
    """Product logic and operand registers of one PE for the accel's MAC style.

    xnor_popcount: one XNOR2 per weight-bit x activation-bit plane (1 for binary x binary);
    mux_add (weights of at most 3 levels): one MUX2 + one AND2 (zero) per activation bit;
    multiplier: an array multiplier. Bit-serial PEs take one activation bit per cycle.
    """
    wb, ab = widths.w_bits, (1 if accel.bit_serial else widths.a_bits)
    if (wb >= FLOAT_BITS or widths.a_bits >= FLOAT_BITS) and accel.mac != "multiplier":
        raise ValueError(f"accel: mac={accel.mac!r} cannot run float layers "
                         "(needs 'multiplier')")
    if accel.mac == "xnor_popcount":
        cells = LogicCounts(xnor2=wb * ab)
    elif accel.mac == "mux_add":
        if widths.w_levels > 3:
            raise ValueError(f"accel: mac='mux_add' cannot run weights of {widths.w_levels} "
                             "levels (at most ternary; use 'multiplier')")
        cells = LogicCounts(mux2=ab, and2=ab)
    else:
        and2, fa, ha = array_multiplier_cells(wb, ab)
        cells = LogicCounts(and2=and2, full_adders=fa, half_adders=ha)
    return cells + LogicCounts(flip_flops=wb + ab)


def product_bits(widths: Widths, accel: AccelConfig) -> int:
    """Width of one PE's product."""
    ab = 1 if accel.bit_serial else widths.a_bits
    if accel.mac == "xnor_popcount" and widths.w_bits == 1 and ab == 1:
        return 1
    if accel.mac == "mux_add":
        return ab + 1
    return widths.w_bits + ab


def array_logic(widths: Widths, accel: AccelConfig) -> LogicCounts:
    """The R x C PE array: PEs, reduction and accumulators.

    WS/IS: each column reduces its R products (popcount tree for 1-bit products,
    (R-1) adders of the product width otherwise) into one accumulator; OS: one accumulator per
    PE. Accumulators are acc_bits wide (full adders + register).
    """
    r, c = accel.rows, accel.cols
    pe = pe_logic(widths, accel).scale(r * c)
    acc = widths.acc_bits
    if accel.dataflow == "os":
        return pe + LogicCounts(full_adders=acc, flip_flops=acc).scale(r * c)
    p = product_bits(widths, accel)
    tree = popcount_full_adders(r) if p == 1 else (r - 1) * p
    return pe + LogicCounts(full_adders=tree + acc, flip_flops=acc).scale(c)


def unit_logic(widths: Widths, accel: AccelConfig, params: CostParams) -> LogicCounts:
    """Norm, gate, TGAP, pool units (one lane per array column) and the CA generator."""
    lanes = accel.cols
    total = LogicCounts()
    wn = widths.norm_in_bits
    if widths.bsn:
        total += LogicCounts(mux2=barrel_shifter_mux2(wn, params.bsn_max_shift + 1),
                             full_adders=wn).scale(lanes)
    if widths.bn:
        and2, fa, ha = array_multiplier_cells(wn, params.bn_param_bits)
        total += LogicCounts(and2=and2, full_adders=fa + wn, half_adders=ha).scale(lanes)
    if widths.norm_out_levels:
        total += LogicCounts(comparator_bits=widths.norm_out_levels * wn).scale(lanes)
    for gate, bits in widths.gate_bits.items():
        if gate == "or":
            total += LogicCounts(or2=bits).scale(lanes)
        elif gate == "mux":
            total += LogicCounts(mux2=bits).scale(lanes)  # fixed shift = wiring
        elif gate == "mux_or":
            total += LogicCounts(or2=bits, mux2=bits).scale(lanes)
        else:
            total += LogicCounts(full_adders=bits + 1).scale(lanes)
    if widths.tgap_width:
        tg = widths.tgap_width
        total += LogicCounts(full_adders=tg, flip_flops=tg + 1, comparator_bits=tg).scale(lanes)
    if widths.pool_max_bits:
        pb = widths.pool_max_bits
        total += LogicCounts(comparator_bits=pb, mux2=pb, flip_flops=pb).scale(lanes)
    if widths.pool_avg_bits:
        pa = widths.pool_avg_bits
        total += LogicCounts(full_adders=pa, flip_flops=pa).scale(lanes)
    if widths.ca_cells:
        total += LogicCounts(xor2=widths.ca_xor2, mux2=widths.ca_mux2,
                             flip_flops=widths.ca_cells)
    return total


def accel_logic(ops: Sequence[HwOp], accel: AccelConfig, params: CostParams) -> LogicCounts:
    """Gate inventory of the accelerator sized to run ``ops``."""
    widths = widths_of(ops)
    return array_logic(widths, accel) + unit_logic(widths, accel, params)


# ---------------------------------------------------------------------- the report
TOTAL_SUM_FIELDS = ("macs", "bops", "bops_uniq", "weight_memory_bits", "ca_state_bits",
                    "norm_memory_bits", "gate_ops", "shift_ops", "compare_ops", "sram_read_bits",
                    "sram_write_bits", "mac_energy_pj", "unit_energy_pj", "sram_energy_pj",
                    "ideal_cycles")


def _clip0(x: Any) -> Any:
    return x.clip(min=0.0) if hasattr(x, "clip") else max(0.0, x)


def _as_int(x: Any) -> Any:
    return x.astype("int64") if hasattr(x, "astype") else int(x)


def finish_totals(sums: Mapping[str, Any], act_buffer_bits: Any, logic_area_um2: Any,
                  logic_cells: Mapping[str, Any], accel: AccelConfig, tech: Tech
                  ) -> dict[str, Any]:
    """Totals from the per-op sums, the activation peak and the logic (area and cell counts).

    Every value is a number (one spec: :func:`cost_ops`) or a numpy array with one entry per
    spec (:mod:`hwmodel.batch`): one formula for both.
    """
    t: dict[str, Any] = {k: sums[k] for k in TOTAL_SUM_FIELDS}
    t["act_buffer_bits"] = act_buffer_bits
    sram_bits = t["weight_memory_bits"] + t["norm_memory_bits"] + act_buffer_bits
    t["memory_bits"] = sram_bits + t["ca_state_bits"]
    # Off-chip traffic only for what does not fit the accel's SRAMs: weights read once per
    # inference, overflowing activations written and read once.
    w_over = _clip0(t["weight_memory_bits"] + t["norm_memory_bits"]
                    - accel.weight_sram_bits)
    a_over = _clip0(act_buffer_bits - accel.act_sram_bits)
    t["dram_bits"] = _as_int(w_over + 2 * a_over)
    t["dram_energy_pj"] = t["dram_bits"] * tech.dram_pj_per_bit
    t["energy_pj"] = (t["mac_energy_pj"] + t["unit_energy_pj"] + t["sram_energy_pj"]
                      + t["dram_energy_pj"])
    t["logic_area_um2"] = logic_area_um2
    t["sram_area_um2"] = sram_bits * tech.sram_um2_per_bit
    t["area_um2"] = t["logic_area_um2"] + t["sram_area_um2"]
    t["logic_nand2_eq"] = logic_area_um2 / tech.nand2_um2
    t["ideal_latency_us"] = t["ideal_cycles"] / accel.clock_mhz
    for name in LOGIC_CELLS:
        t[name] = logic_cells[name]
    return t


def cost_ops(ops: Sequence[HwOp], accel: AccelConfig, tech: Tech, params: CostParams
             ) -> tuple[list[LayerCost], dict[str, Any], LogicCounts]:
    """Per-op costs, totals and logic for already lowered ops."""
    layers = [layer_cost(op, accel, tech, params) for op in ops]
    sums: dict[str, float] = {k: 0 for k in TOTAL_SUM_FIELDS}
    for lc in layers:
        for k in TOTAL_SUM_FIELDS:
            sums[k] += getattr(lc, k)
    peak = max((lc.live_act_bits for lc in layers), default=0)
    logic = accel_logic(ops, accel, params)
    totals = finish_totals(sums, peak, logic.area_um2(tech),
                           {name: getattr(logic, name) for name in LOGIC_CELLS}, accel, tech)
    return layers, totals, logic


def cost_report(spec: ArchSpec, accel: AccelConfig | None = None, tech: Tech | None = None,
                params: CostParams | None = None) -> CostReport:
    """The analytical cost of ``spec`` on ``accel`` (default AccelConfig()) with ``tech``
    (default 45 nm)."""
    accel = accel if accel is not None else AccelConfig()
    tech = tech if tech is not None else default_tech()
    params = params if params is not None else CostParams()
    ops = lower(spec, float_intermediates=params.float_intermediates)
    layers, totals, logic = cost_ops(ops, accel, tech, params)
    return CostReport(spec.hash, layers, totals, logic, accel, tech.name, params)


__all__ = [
    "CostParams", "CostReport", "LayerCost", "LogicCounts", "accel_logic",
    "array_multiplier_cells", "barrel_shifter_mux2", "bops", "bops_uniq", "cost_ops",
    "cost_report", "layer_cost", "mac_energy_pj", "mapping", "norm_memory_bits",
    "op_ideal_cycles", "operand_traffic_bits", "popcount_full_adders", "product_cycles",
]
