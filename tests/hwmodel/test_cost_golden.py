"""Golden values of the analytical cost model, computed by hand (derivations in the docstrings).

Accelerator for all: a 4 x 4 array (``ACC``), weight-stationary unless said otherwise; default
45 nm table (1-bit add e1 = 0.03/8 = 0.00375 pJ, SRAM 10/64 pJ per bit).
"""

from __future__ import annotations

import math

import pytest

from hwmodel.accel import AccelConfig
from hwmodel.cost import (
    CostParams,
    array_multiplier_cells,
    barrel_shifter_mux2,
    cost_report,
    popcount_full_adders,
    product_cycles,
)
from hwmodel.ir import lower
from search_spaces.spec import LSTM, ArchSpec, CAGen, Conv, Factorized, Linear, Pool, Residual

ACC = AccelConfig(rows=4, cols=4)
E1 = 0.03 / 8
SRAM = 10 / 64


def _head(n: int = 3) -> tuple[Pool, Linear]:
    return Pool("global_avg"), Linear(n, weight_quant="sign", weight_levels=2)


def _layer(report, path):  # type: ignore[no-untyped-def]
    return next(lc for lc in report.layers if lc.path == path)


def binary_conv_spec() -> ArchSpec:
    conv = Conv(4, kernel=3, weight_quant="sign", weight_levels=2, act_bits=1, norm="none")
    return ArchSpec((2, 6, 6), 3, (conv, *_head()), input_bits=1)


def test_product_cycles_closed_form() -> None:
    """SCALE-Sim 3.0.0: Sr=18, Sc=4, T=36 on 4x4: WS ceil(18/4)*ceil(4/4)*(2*4+4+36-2)-1 =
    5*46-1 = 229; OS (R+C+T-2): Sr=36, Sc=4, T=18 -> 9*1*24-1 = 215; IS Sr=18, Sc=36, T=4 ->
    5*9*(8+4+4-2)-1 = 629."""
    assert product_cycles(18, 4, 36, 4, 4, "ws") == 229
    assert product_cycles(36, 4, 18, 4, 4, "os") == 215
    assert product_cycles(18, 36, 4, 4, 4, "is") == 629
    with pytest.raises(ValueError, match="dataflow='xs'"):
        product_cycles(1, 1, 1, 1, 1, "xs")


def test_binary_conv_layer() -> None:
    """Conv 2->4, 3x3, pad 1, on 2x6x6 1-bit input, sign weights.

    ofmap_px = 36, filters = 4, window = 2*9 = 18; MACs = 36*4*18 = 2592; weights 4*2*9*1 = 72
    bits; BOPs = 2592*1*1; UNIQ = 2592*(1+1+1+log2 18); accumulator 1+1+ceil(log2 18) = 7 bits;
    live = input 2*36*1 + output 4*36*1 = 216 bits.
    Ideal cycles: WS 229, OS 215, IS 629 (see test_product_cycles_closed_form).
    MAC energy = 2592*(0.3*e1*1 + e1*7). SRAM (WS): weights 72*1, activations 18*36*ceil(4/4)*1
    = 648, partial sums 144 outputs*(ceil(18/4)-1)*7 = 4032 written and read, outputs 144*1:
    reads 72+648+4032 = 4752, writes 144+4032 = 4176, energy 8928*10/64.
    """
    spec = binary_conv_spec()
    op = lower(spec)[0]
    assert (op.op, op.ofmap_px, op.filters, op.window, op.groups) == ("conv", 36, 4, 18, 1)
    assert (op.w_bits, op.a_bits, op.out_bits, op.acc_bits) == (1, 1, 1, 7)
    rep = cost_report(spec, ACC)
    lc = _layer(rep, "layers[0]")
    assert lc.macs == 2592
    assert lc.weight_memory_bits == 72
    assert lc.bops == 2592
    assert lc.bops_uniq == pytest.approx(2592 * (3 + math.log2(18)))
    assert lc.live_act_bits == 216
    assert lc.ideal_cycles == 229
    assert cost_report(spec, ACC.with_(dataflow="os")).layers[0].ideal_cycles == 215
    assert cost_report(spec, ACC.with_(dataflow="is")).layers[0].ideal_cycles == 629
    assert lc.mac_energy_pj == pytest.approx(2592 * (0.3 * E1 + 7 * E1))
    assert (lc.sram_read_bits, lc.sram_write_bits) == (4752, 4176)
    assert lc.sram_energy_pj == pytest.approx(8928 * SRAM)


def test_binary_conv_logic_inventory() -> None:
    """xnor_popcount 4x4 WS for the binary conv spec (widest: w 1, a 1; accumulators: conv 7,
    linear 1+1+ceil(log2 4) = 4 -> 7 bits).

    PE: 1 XNOR2 + 2 operand flip-flops -> 16 XNOR2, 32 FF. Per column: popcount of 4 inputs
    = 4 - ceil(log2 5) = 1 FA, accumulator 7 FA + 7 FF -> 4*(1+7) = 32 FA, 28 FF.
    Avg-pool unit per lane (4 lanes): 1 + ceil(log2 36) = 7-bit adder + register -> 28 FA, 28 FF.
    Totals: 16 XNOR2, 60 FA, 88 FF, nothing else.
    """
    rep = cost_report(binary_conv_spec(), ACC)
    t = rep.totals
    assert (t["xnor2"], t["full_adders"], t["flip_flops"]) == (16, 60, 88)
    assert (t["xor2"], t["and2"], t["or2"], t["mux2"], t["half_adders"]) == (0, 0, 0, 0, 0)
    area = 16 * 1.596 + 60 * 4.256 + 88 * 4.522
    assert t["logic_area_um2"] == pytest.approx(area)


def test_ternary_grouped_conv() -> None:
    """Conv 8->8, 3x3, groups 4, TWN (2-bit) weights on 8x4x4 2-bit input.

    4 products of ofmap 16 x filters 2 x window (8/4)*9 = 18; MACs = 4*16*2*18 = 2304; weights
    8*2*9 = 144 params * 2 bits = 288; BOPs = 2304*2*2 = 9216. Accumulator 2+2+5 = 9 bits.
    Ideal WS cycles: per product ceil(18/4)*ceil(2/4)*(8+4+16-2)-1 = 129, times 4 = 516: a
    2-filter product leaves half the columns idle. MAC energy 2304*(0.6*e1*2 + 9*e1).
    """
    conv = Conv(8, kernel=3, groups=4, weight_quant="twn", weight_levels=3, act_bits=2,
                norm="none")
    spec = ArchSpec((8, 4, 4), 3, (conv, *_head()), input_bits=2)
    op = lower(spec)[0]
    assert (op.op, op.groups, op.ofmap_px, op.filters, op.window) == ("grouped_conv", 4, 16, 2, 18)
    lc = cost_report(spec, ACC).layers[0]
    assert lc.macs == 2304
    assert lc.weight_memory_bits == 288
    assert lc.bops == 9216
    assert lc.ideal_cycles == 4 * 129
    assert lc.mac_energy_pj == pytest.approx(2304 * (0.6 * E1 * 2 + 9 * E1))


CA = CAGen(cells=16, seed=1, rule="90/150", hybrid_mask=0x5, bits_per_weight=1)


def ca_spec(ca: CAGen | None) -> ArchSpec:
    conv = Conv(8, kernel=1, weight_quant="sign", weight_levels=2, act_bits=1, norm="none", ca=ca)
    return ArchSpec((16, 4, 4), 3, (conv, *_head()), input_bits=1)


def test_ca_pointwise_layer() -> None:
    """CA-generated 1x1 conv 16->8 on 16x4x4, 16-cell 90/150 generator, mask 0b101.

    Stored: seed 16 + rule mask 16 = 32 bits; generator state 16 flip-flop bits. MACs
    16*8*16 = 2048. No weight SRAM reads: activations 16*16*ceil(8/4) = 512 bits, partial sums
    16*8*(ceil(16/4)-1)*acc(1+1+4 = 6) = 2304 bits written and read -> reads 2816.
    Generation: 8 rows * (16 + 2 rule-150 cells) XOR2 * 0.3*e1 added to the MAC energy.
    Logic: 18 XOR2 + 16 flip-flops for the generator.
    """
    rep = cost_report(ca_spec(CA), ACC)
    lc = rep.layers[0]
    assert lc.op == "ca_pointwise"
    assert lc.weight_memory_bits == 32
    assert lc.ca_state_bits == 16
    assert lc.macs == 2048
    assert lc.sram_read_bits == 512 + 2304
    assert lc.mac_energy_pj == pytest.approx(2048 * (0.3 * E1 + 6 * E1) + 8 * 18 * 0.3 * E1)
    assert rep.totals["xor2"] == 18
    assert rep.totals["memory_bits"] - rep.totals["act_buffer_bits"] == (
        rep.totals["weight_memory_bits"] + rep.totals["norm_memory_bits"] + 16)


def test_ca_saving_equals_matrix_minus_generator() -> None:
    """MOGNET: the same layer with a stored pointwise costs 8*16*1 = 128 weight bits; the CA
    stores seed 16 + rule 16 + state 16 = 48 -> exactly 80 more memory bits. The same holds for
    a factorized block whose last pointwise (mid 16 -> out 8, 2-bit BTQ = 256 bits) is CA:
    256 - (16 + 16 + 16) = 208, plus 8: the BN after it is 8 channels x 1 threshold at the
    accumulator width, one bit wider for 2-bit stored weights than for 1-bit CA rows."""
    stored, gen = cost_report(ca_spec(None), ACC), cost_report(ca_spec(CA), ACC)
    assert stored.totals["memory_bits"] - gen.totals["memory_bits"] == 128 - 48

    def block(ca: CAGen | None) -> ArchSpec:
        fac = Factorized(8, 16, kernel=3, groups=4, act_bits=1, norm="bn", ca=ca)
        return ArchSpec((8, 4, 4), 3, (fac, *_head()), input_bits=1)

    s, g = cost_report(block(None), ACC), cost_report(block(CA), ACC)
    assert s.totals["memory_bits"] - g.totals["memory_bits"] == 8 * 16 * 2 - 48 + 8


def _res_conv(norm: str = "bn") -> Conv:
    return Conv(4, kernel=3, weight_quant="sign", weight_levels=2, act_bits=1, norm=norm)


def test_or_residual_block() -> None:
    """OR block on 4x4x4 1-bit x, body = one binary conv + BSN.

    Gate: 4*16 = 64 OR2 operations, live x 64 + F(x) 64 = 128 bits; body conv live = its input
    (= x) 64 + output 64 = 128. BSN memory: ceil(log2 16) = 4 shift bits + 4 offsets * 8 = 36;
    64 shift operations; the norm quantizes to 1 bit: 1 comparison per element = 64.
    Gate energy 64*0.1*e1. Gate unit logic: 4 lanes * 1 OR2.
    """
    spec = ArchSpec((4, 4, 4), 3, (Residual((_res_conv("bsn"),), gate="or"), *_head()),
                    input_bits=1)
    rep = cost_report(spec, ACC)
    gate = _layer(rep, "layers[0]")
    assert (gate.op, gate.gate_ops, gate.live_act_bits) == ("gate", 64, 128)
    assert gate.unit_energy_pj == pytest.approx(64 * 0.1 * E1)
    assert _layer(rep, "layers[0].body[0]").live_act_bits == 128
    norm = _layer(rep, "layers[0].body[0].norm")
    assert (norm.norm_memory_bits, norm.shift_ops, norm.compare_ops) == (36, 64, 64)
    assert rep.totals["or2"] == 4
    assert gate.ideal_cycles == ACC.gate_latency_cycles


def test_mux_residual_block_tgap_and_skip_liveness() -> None:
    """MUX block (shift 1) on 4x4x4 1-bit x with a two-conv body.

    TGAP: popcount over 16 pixels of each of 4 channels -> 4 comparisons on
    ceil(log2(16+1)) = 5 bits; unit per lane 5 FA + 6 FF + 5 comparator bits (x4 lanes).
    The skip x (64 bits) stays alive across the body: second conv live = 64 + 64 + 64 = 192.
    Gate: 64 MUX2 selections and 64 shifts (fixed shift = wiring); 4 lanes * 1 MUX2.
    Cycles of tgap and gate: their unit latencies.
    """
    body = (_res_conv(), _res_conv())
    spec = ArchSpec((4, 4, 4), 3, (Residual(body, gate="mux", shift=1), *_head()),
                    input_bits=1)
    acc = ACC.with_(tgap_latency_cycles=3, gate_latency_cycles=2)
    rep = cost_report(spec, acc)
    paths = [lc.path for lc in rep.layers]
    assert paths[:6] == ["layers[0].tgap", "layers[0].body[0]", "layers[0].body[0].norm",
                         "layers[0].body[1]", "layers[0].body[1].norm", "layers[0]"]
    tgap = _layer(rep, "layers[0].tgap")
    assert (tgap.compare_ops, tgap.ideal_cycles) == (4, 3)
    assert _layer(rep, "layers[0].body[0]").live_act_bits == 128
    assert _layer(rep, "layers[0].body[1]").live_act_bits == 192
    gate = _layer(rep, "layers[0]")
    assert (gate.gate_ops, gate.shift_ops, gate.ideal_cycles) == (64, 64, 2)
    assert rep.totals["act_buffer_bits"] == 192
    # mux2: gate 4 lanes; comparators: norm thresholds 4 lanes * 1 level * W + tgap 4 * 5
    w = lower(spec)[2].a_bits  # norm input width = the conv accumulator 1+1+ceil(log2 36) = 8
    assert w == 8
    assert rep.totals["mux2"] == 4
    assert rep.totals["comparator_bits"] == 4 * 1 * w + 4 * 5


def test_bit_shift_vs_batch_normalization() -> None:
    """Same conv, C = 4, 1-bit output, norm input width W = 8 (1+1+ceil(log2 36)).

    BN is 1 threshold per channel at W bits + 1 direction bit: 4*(8+1) = 36 bits; BSN
    4 + 4*8 = 36. Logic per lane (4 lanes): BSN = barrel shifter 8*ceil(log2 16) = 32 MUX2 +
    8 offset FA; BN = the comparators both share (4 lanes * 1 level * 8 bits), no multiplier.
    Before an unquantized output (a linear's logits) BN keeps scale and bias, 2*C*b_norm bits
    and a W x b_norm multiplier; b_norm = 8 halves that memory.
    """
    def spec(norm: str) -> ArchSpec:
        return ArchSpec((4, 4, 4), 3, (_res_conv(norm), *_head()), input_bits=1)

    bn, bsn = cost_report(spec("bn"), ACC), cost_report(spec("bsn"), ACC)
    assert (bn.totals["norm_memory_bits"], bsn.totals["norm_memory_bits"]) == (36, 36)
    assert barrel_shifter_mux2(8, 16) == 32
    assert (bsn.totals["mux2"], bn.totals["mux2"]) == (4 * 32, 0)
    assert bn.totals["comparator_bits"] == bsn.totals["comparator_bits"] == 4 * 1 * 8
    assert bsn.totals["full_adders"] - bn.totals["full_adders"] == 4 * 8
    assert (bn.totals["and2"], bn.totals["half_adders"]) == (0, 0)

    head = ArchSpec((4, 4, 4), 3, (_res_conv("bsn"), Pool("global_avg"),
                                   Linear(3, weight_quant="sign", weight_levels=2, norm="bn")),
                    input_bits=1)
    logits_bn = cost_report(head, ACC)
    assert logits_bn.totals["norm_memory_bits"] == 36 + 2 * 3 * 16
    small = cost_report(head, ACC, params=CostParams(bn_param_bits=8))
    assert small.totals["norm_memory_bits"] == 36 + 2 * 3 * 8
    # one norm unit serves both layers: its multiplier is as wide as the widest norm input (8)
    assert array_multiplier_cells(8, 16) == (128, 105, 7)
    assert logits_bn.totals["and2"] == 4 * 128


def test_factorized_3d_block() -> None:
    """Factorized 3-D block on (C=2, T=4, 6x6) 1-bit video: pw 2->8, grouped 3x3x3 8->8 g=2,
    pw 8->4; BTQ 2-bit weights; no activation between.

    ofmap = 4*6*6 = 144 positions. pw1: window 2, filters 8 -> 2304 MACs; grouped: 2 products
    of window 4*27 = 108, filters 4 -> 2*144*4*108 = 124416; pw2: window 8, filters 4 -> 4608.
    Intermediates at accumulator width: pw1 2+1+1 = 4 bits, grouped 2+4+7 = 13 bits, pw2 out 1.
    Weights: (2*8 + 8*(8/2)*27 + 8*4 = 16 + 864 + 32) params * 2 = 1824 bits. Grouped live:
    in 8*144*4 = 4608 + out 8*144*13 = 14976 -> 19584 (the peak; all T frames alive).
    """
    fac = Factorized(4, 8, kernel=(3, 3, 3), groups=2, act_bits=1, norm="none")
    spec = ArchSpec((2, 4, 6, 6), 3, (fac, *_head()), input_bits=1)
    ops = lower(spec)
    assert [(o.op, o.macs, o.out_bits) for o in ops[:3]] == [
        ("pointwise", 2304, 4), ("grouped_conv", 124416, 13), ("pointwise", 4608, 1)]
    assert ops[1].dims == 3 and ops[1].window == 108 and ops[1].ofmap_px == 144
    rep = cost_report(spec, ACC)
    assert sum(lc.weight_memory_bits for lc in rep.layers[:3]) == 1824
    assert rep.layers[1].live_act_bits == 19584
    assert rep.totals["act_buffer_bits"] == 19584


def test_lstm_step() -> None:
    """Binarized LSTM, hidden 4, on (C=2, T=3, 2x2) 1-bit frames: F = 8, window F+h = 12,
    4h = 16 filters, 3 sequential steps; MACs 3*16*12 = 576; weights 4*4*12 = 192 bits.
    Ideal WS cycles per step ceil(12/4)*ceil(16/4)*(8+4+1-2)-1 = 131 -> 393.
    State: h 4*1 + c 4*ceil(log2 7) = 16 bits; live = input 2*3*2*2 = 24 + 16 = 40.
    Cell update: 3 gated products per unit and step = 36 gate operations.
    """
    spec = ArchSpec((2, 3, 2, 2), 3, (LSTM(4), Linear(3, weight_quant="sign", weight_levels=2)),
                    input_bits=1)
    op = lower(spec)[0]
    assert (op.op, op.time_steps, op.filters, op.window, op.ofmap_px) == ("lstm", 3, 16, 12, 1)
    assert op.state_bits == 16
    lc = cost_report(spec, ACC).layers[0]
    assert (lc.macs, lc.weight_memory_bits, lc.ideal_cycles) == (576, 192, 393)
    assert (lc.live_act_bits, lc.gate_ops) == (40, 36)


def test_formulas() -> None:
    """popcount of N inputs: N - ceil(log2(N+1)) full adders: 4 -> 1, 7 -> 4, 1 -> 0."""
    assert [popcount_full_adders(n) for n in (1, 4, 7, 64)] == [0, 1, 4, 57]


def test_report_to_dict_is_json() -> None:
    import json

    rep = cost_report(binary_conv_spec(), ACC)
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["totals"]["macs"] == rep.totals["macs"]
    assert len(data["layers"]) == len(rep.layers)
    assert data["spec_hash"] == binary_conv_spec().hash
