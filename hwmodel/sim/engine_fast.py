"""The fast engine: one matrix product in closed form, per distinct (previous fold, fold) pair.

Timing model (shared with :mod:`hwmodel.sim.engine_step`, which walks it cycle by cycle).
Each fold of an ``R x C`` array runs three phases:

* **load** (ws, is): the stationary tile shifts in, one array row per cycle: ``R`` cycles;
* **stream**: ``T`` operand vectors enter, one per cycle;
* **drain**: systolic skew until the last partial sum leaves the far corner: ``R + C - 2``.

A full or partial fold takes the same time (the array is padded, as in SCALE-Sim), so a
stall-free product takes ``folds * (2R + C + T - 2)`` cycles (ws/is) or
``folds * (R + C + T - 2)`` (os: the stationary outputs drain while the next fold streams, as
coded in SCALE-Sim 3.0.0) and, like SCALE-Sim, reports the index of its last cycle: one less.
A bit-serial array runs the product once per activation bit (``Product.passes``), so it
multiplies the per-MAC cycles, and the product's cycles, by ``b_a``.

Stalls. A phase that must receive ``Q`` bits from a memory of ``B`` bits per cycle lasts at
least ``ceil(Q / B)`` cycles (``B = 0``: unlimited); a phase that needs ``n`` CA weight rows
lasts at least ``ceil(n / ca_rows_per_cycle)``. The phase lasts the longest of these and its
nominal length; each cycle beyond nominal is charged to the first cause still pending in the
order weight_bw, act_bw, ca. With ``double_buffer`` the stationary tile of the next fold is
prefetched from its (otherwise idle) memory during this fold's stream and drain phases, so only
the remainder is fetched during its load phase. Outputs are written through a write buffer
into the other half of the activation SRAM: counted, never stalling.
"""

from __future__ import annotations

import math

from hwmodel.accel import AccelConfig
from hwmodel.sim.mapping import (
    Fold,
    FoldOperands,
    Product,
    act_read_bits_per_cycle,
    fold_operands,
    fold_sizes,
    fold_transitions,
)
from hwmodel.sim.report import STALL_CAUSES, Counters

#: SCALE-Sim reports the index of a product's last cycle, i.e. the cycle count minus one.
LAST_CYCLE_OFFSET = 1


def load_cycles(accel: AccelConfig) -> int:
    """Nominal load phase: ``R`` cycles for ws/is (one array row per cycle), none for os."""
    return accel.rows if accel.dataflow in ("ws", "is") else 0


def stream_cycles(p: Product, accel: AccelConfig) -> int:
    """Nominal stream phase: ``T`` vectors, one per cycle."""
    return p.t


def drain_cycles(accel: AccelConfig) -> int:
    """Systolic fill/drain skew after the last vector enters: ``R + C - 2`` cycles."""
    return accel.rows + accel.cols - 2


def ideal_fold_cycles(p: Product, accel: AccelConfig) -> int:
    """One stall-free fold: ``2R + C + T - 2`` ws/is, ``R + C + T - 2`` os.

    docs/design.md, "Cycle-level simulator".
    """
    return load_cycles(accel) + stream_cycles(p, accel) + drain_cycles(accel)


def _need_cycles(bits: int, bits_per_cycle: int) -> int:
    """Cycles a memory of ``bits_per_cycle`` (0 = unlimited) needs to deliver ``bits``."""
    if bits <= 0 or bits_per_cycle == 0:
        return 0
    return math.ceil(bits / bits_per_cycle)


def phase(nominal: int, needs: tuple[int, int, int]) -> tuple[int, tuple[int, int, int]]:
    """``(duration, stalls by cause)`` of a phase whose causes need ``needs`` cycles.

    A cycle ``x >= nominal`` is charged to the first cause ``k`` with ``x < needs[k]``, so
    cause k gets ``max(0, needs[k] - max(nominal, needs[0..k-1]))`` cycles.
    """
    floor = nominal
    stalls = []
    for need in needs:
        stalls.append(max(0, need - floor))
        floor = max(floor, need)
    return floor, (stalls[0], stalls[1], stalls[2])


def simulate_product(p: Product, accel: AccelConfig) -> Counters:
    """Counters for ``p.count`` back-to-back repetitions of product ``p``, each of
    ``p.passes`` passes (closed form per distinct pair of consecutive folds)."""
    rows, cols = accel.rows, accel.cols
    bw_w = accel.weight_sram_bits_per_cycle
    bw_a = act_read_bits_per_cycle(accel)
    rpc = accel.ca_rows_per_cycle
    n_load, n_stream, n_drain = load_cycles(accel), stream_cycles(p, accel), drain_cycles(accel)

    # per fold shape: operands, stream-phase duration and stalls
    shapes: dict[Fold, tuple[int, tuple[int, int, int]]] = {}
    ops_of: dict[Fold, FoldOperands] = {}
    transitions = fold_transitions(p, rows, cols)
    for (prev, cur) in transitions:
        for shape in (prev, cur):
            if shape is None or shape in shapes:
                continue
            ops = fold_operands(p, shape, accel.dataflow)
            ops_of[shape] = ops
            shapes[shape] = phase(n_stream, (_need_cycles(ops.stream_w_bits, bw_w),
                                             _need_cycles(ops.stream_a_bits, bw_a),
                                             _need_cycles(ops.ca_stream_rows, rpc)))

    one = Counters()
    for (prev, cur), n in transitions.items():
        ops = ops_of[cur]
        stream_len, stream_stalls = shapes[cur]
        load_len, load_stalls = 0, (0, 0, 0)
        if n_load:
            stat_bw = {"weight": bw_w, "act": bw_a}.get(ops.stationary_from, 0)
            remaining = ops.stationary_bits
            if accel.double_buffer and prev is not None and stat_bw:
                overlap = shapes[prev][0] + n_drain  # previous fold's stream + drain
                remaining -= min(remaining, stat_bw * overlap)
            need = _need_cycles(remaining, stat_bw)
            load_len, load_stalls = phase(n_load, (
                need if ops.stationary_from == "weight" else 0,
                need if ops.stationary_from == "act" else 0,
                _need_cycles(ops.ca_load_rows, rpc)))
        fold = Counters(
            cycles=load_len + stream_len + n_drain,
            folds=1,
            stall_weight_bw=load_stalls[0] + stream_stalls[0],
            stall_act_bw=load_stalls[1] + stream_stalls[1],
            stall_ca=load_stalls[2] + stream_stalls[2],
            weight_sram_read_bits=(ops.stationary_bits if ops.stationary_from == "weight" else 0)
            + ops.stream_w_bits,
            act_sram_read_bits=(ops.stationary_bits if ops.stationary_from == "act" else 0)
            + ops.stream_a_bits + ops.psum_read_bits,
            act_sram_write_bits=ops.out_bits,
            ca_rows=ops.ca_load_rows + ops.ca_stream_rows,
        )
        one.add(fold, n)
    one.cycles -= LAST_CYCLE_OFFSET
    one.compute_cycles = one.cycles
    one.busy_pe_cycles = p.macs  # one pass: each MAC keeps its PE busy one cycle
    out = Counters()
    out.add(one, p.count * p.passes)
    out.macs = p.macs * p.count
    return out


def ideal_product_cycles(p: Product, accel: AccelConfig) -> int:
    """Stall-free cycles of ``p.count`` repetitions: SCALE-Sim's closed form.

    docs/design.md, "Cycle-level simulator".
    """
    nr, _, _ = fold_sizes(p.sr, accel.rows)
    nc, _, _ = fold_sizes(p.sc, accel.cols)
    return p.count * p.passes * (nr * nc * ideal_fold_cycles(p, accel) - LAST_CYCLE_OFFSET)


assert STALL_CAUSES == ("weight_bw", "act_bw", "ca")  # order used by phase()

__all__ = ["LAST_CYCLE_OFFSET", "drain_cycles", "ideal_fold_cycles", "ideal_product_cycles",
           "load_cycles", "phase", "simulate_product", "stream_cycles"]
