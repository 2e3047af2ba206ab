"""Mapping of hardware ops onto the PE array: operand matrices, folds and their operand bits.

A matrix op (convolution, linear, one LSTM step) is an ``Sr x Sc`` operand tile streamed for
``T`` steps, with SCALE-Sim 3.0.0's conventions (read from its ``systolic_compute_{ws,os,is}``):

======== ================= ================= =================
dataflow Sr (array rows)   Sc (array cols)   T (streamed)
======== ================= ================= =================
``os``   ofmap pixels      filters           window
``ws``   window            filters           ofmap pixels
``is``   window            ofmap pixels      filters
======== ================= ================= =================

with ``window = (Cin/g) * prod(kernel)`` and ``filters = Cout/g``. A grouped convolution is ``g``
separate products (so a depthwise layer's low utilization shows), an LSTM is one product per
time step. The tile is cut into ``ceil(Sr/R) * ceil(Sc/C)`` folds, column folds outer and row
folds inner (SCALE-Sim's order); the last fold of each axis may be partial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodel.accel import BITS_PER_KBIT, DATAFLOWS, AccelConfig


def operand_dims(ofmap_px: int, filters: int, window: int, dataflow: str) -> tuple[int, int, int]:
    """``(Sr, Sc, T)`` of one product for a dataflow (SCALE-Sim 3.0.0 conventions)."""
    if dataflow == "os":
        return ofmap_px, filters, window
    if dataflow == "ws":
        return window, filters, ofmap_px
    if dataflow == "is":
        return window, ofmap_px, filters
    raise ValueError(f"accel: dataflow={dataflow!r} must be one of {list(DATAFLOWS)}")


@dataclass(frozen=True)
class Product:
    """One matrix product on the array, repeated ``count`` times back to back.

    ``w_bits``/``a_bits`` are the operand widths streamed per pass, ``out_bits`` the width of
    each final output written back and ``acc_bits`` that of a partial sum (written and read
    back between row folds of a split reduction); ``ca`` means the weights come from the CA
    generator instead of the SRAM. ``passes`` > 1 is a bit-serial array: the product runs
    once per activation bit plane (1-bit activations each pass, partial results shifted and
    accumulated in the PE), so it takes ``passes`` times the cycles of one pass.
    """

    sr: int
    sc: int
    t: int
    w_bits: int = 1
    a_bits: int = 1
    out_bits: int = 1
    ca: bool = False
    count: int = 1
    acc_bits: int = 1
    passes: int = 1

    def __post_init__(self) -> None:
        for name in ("sr", "sc", "t", "w_bits", "a_bits", "out_bits", "count", "acc_bits",
                     "passes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"product: {name}={value!r} must be an integer >= 1")

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates of one repetition (all its passes together)."""
        return self.sr * self.sc * self.t


#: One fold's shape: used rows, used columns, first and last fold of the reduction split.
Fold = tuple[int, int, bool, bool]


@dataclass(frozen=True)
class FoldOperands:
    """What one fold moves, per dataflow.

    stationary_bits: the tile preloaded into the array (ws: weights, is: activations, os: 0);
    stream_w_bits / stream_a_bits: bits streamed from the weight / activation memory;
    ca_load_rows / ca_stream_rows: CA weight rows the load / stream phase needs (CA layers);
    out_bits: bits written to the activation memory (partial sums at accumulator width
    unless this is the last fold of the reduction); psum_read_bits: partial sums read back
    (every fold of a split reduction but the first). Partial sums go through the write buffer
    and the accumulators' port: counted, never stalling.
    """

    stationary_bits: int
    stationary_from: str  # "weight", "act", "ca" or "" (none)
    stream_w_bits: int
    stream_a_bits: int
    ca_load_rows: int
    ca_stream_rows: int
    out_bits: int
    psum_read_bits: int = 0


def fold_operands(p: Product, fold: Fold, dataflow: str) -> FoldOperands:
    """Operand traffic of one fold (``r`` rows, ``c`` columns used) of one pass of ``p``.

    A CA "row" is one filter's weight vector (one automaton step, docs/design.md, "Building
    blocks"): a ws fold loads ``c`` filters, an os fold streams ``c`` filters, an is fold
    streams ``T`` filters.
    """
    r, c, first, last = fold
    t = p.t
    if dataflow == "os":  # activations r x T and weights T x c streamed; outputs r x c
        w_stream = 0 if p.ca else t * c * p.w_bits
        return FoldOperands(0, "", w_stream, t * r * p.a_bits, 0, c if p.ca else 0,
                            r * c * p.out_bits)
    # ws / is: the rows split the reduction, so outputs are partial sums but on the last fold
    outs = t * c * (p.out_bits if last else p.acc_bits)
    psum = 0 if first else t * c * p.acc_bits
    if dataflow == "ws":  # weights r x c stationary; activations T x r streamed
        if p.ca:
            return FoldOperands(0, "ca", 0, t * r * p.a_bits, c, 0, outs, psum)
        return FoldOperands(r * c * p.w_bits, "weight", 0, t * r * p.a_bits, 0, 0, outs, psum)
    if dataflow == "is":  # activations r x c stationary; weights T x r streamed
        w_stream = 0 if p.ca else t * r * p.w_bits
        return FoldOperands(r * c * p.a_bits, "act", w_stream, 0, 0, t if p.ca else 0, outs,
                            psum)
    raise ValueError(f"accel: dataflow={dataflow!r} must be one of {list(DATAFLOWS)}")


def fold_sizes(s: int, n: int) -> tuple[int, int, int]:
    """``(folds, full size, last size)`` for cutting ``s`` into tiles of ``n``."""
    folds = math.ceil(s / n)
    return folds, n, s - (folds - 1) * n


def fold_order(p: Product, rows: int, cols: int) -> list[Fold]:
    """Every fold of one pass in execution order: column folds outer, row folds inner."""
    nr, _, r_last = fold_sizes(p.sr, rows)
    nc, _, c_last = fold_sizes(p.sc, cols)
    return [(rows if i < nr - 1 else r_last, cols if j < nc - 1 else c_last, i == 0,
             i == nr - 1) for j in range(nc) for i in range(nr)]


def fold_transitions(p: Product, rows: int, cols: int) -> dict[tuple[Fold | None, Fold], int]:
    """How often each (previous fold, fold) pair occurs in :func:`fold_order`.

    Closed form of the sequence (no per-fold loop): within a column fold the row folds run
    first, middle..., last; between column folds the last row fold is followed by the first.
    """
    nr, _, r_last = fold_sizes(p.sr, rows)
    nc, _, c_last = fold_sizes(p.sc, cols)
    out: dict[tuple[Fold | None, Fold], int] = {}

    def add(prev: Fold | None, cur: Fold, n: int) -> None:
        if n > 0:
            out[(prev, cur)] = out.get((prev, cur), 0) + n

    def row_folds(c: int) -> tuple[Fold, Fold, Fold]:
        """(first, middle, last) row folds of a column fold of width ``c``."""
        if nr == 1:
            only = (r_last, c, True, True)
            return only, only, only
        return (rows, c, True, False), (rows, c, False, False), (r_last, c, False, True)

    first_c = cols if nc > 1 else c_last
    add(None, row_folds(first_c)[0], 1)
    for c, n_col in ((cols, nc - 1), (c_last, 1)):
        if n_col <= 0 or nr < 2:
            continue
        first, mid, last = row_folds(c)
        if nr == 2:
            add(first, last, n_col)
        else:
            add(first, mid, n_col)
            add(mid, mid, (nr - 3) * n_col)
            add(mid, last, n_col)
    # column-fold boundaries: last row fold of c_j -> first row fold of c_{j+1}
    if nc >= 2:
        add(row_folds(cols)[2], row_folds(cols)[0], nc - 2)
        add(row_folds(cols)[2], row_folds(c_last)[0], 1)
    return out


def check_fits(p: Product, accel: AccelConfig, where: str) -> None:
    """Raise ``ValueError`` naming the field when one fold's operands cannot be held on chip.

    One fold's working set is its stationary tile plus one streamed vector from each memory;
    the activation part must fit one half of the activation SRAM when it is double-buffered
    (the other half receives the outputs), the whole of it otherwise.
    """
    r, c = min(p.sr, accel.rows), min(p.sc, accel.cols)
    ops = fold_operands(p, (r, c, True, True), accel.dataflow)
    w_need = ((ops.stationary_bits if ops.stationary_from == "weight" else 0)
              + ops.stream_w_bits // p.t)
    w_have = accel.weight_sram_kbits * BITS_PER_KBIT
    if w_need > w_have:
        raise ValueError(f"accel: weight_sram_kbits={accel.weight_sram_kbits!r} is too small to "
                         f"hold one fold of {where} (needs {w_need} bits)")
    a_need = ((ops.stationary_bits if ops.stationary_from == "act" else 0)
              + ops.stream_a_bits // p.t)
    a_have = accel.act_sram_kbits * BITS_PER_KBIT / (2 if accel.double_buffer else 1)
    if a_need > a_have:
        half = " (half of it, double-buffered)" if accel.double_buffer else ""
        raise ValueError(f"accel: act_sram_kbits={accel.act_sram_kbits!r} is too small to hold "
                         f"one fold of {where}{half} (needs {a_need} bits)")


def act_read_bits_per_cycle(accel: AccelConfig) -> int:
    """Activation read bandwidth: the per-bank port times the banks holding the input.

    Double-buffered, half the banks hold the layer's input and half receive its output (our
    choice, a parameter via ``act_sram_banks``); single-buffered, all banks serve reads.
    0 = unlimited.
    """
    if accel.act_sram_bits_per_cycle == 0:
        return 0
    banks = max(1, accel.act_sram_banks // 2) if accel.double_buffer else accel.act_sram_banks
    return accel.act_sram_bits_per_cycle * banks


__all__ = ["BITS_PER_KBIT", "Fold", "FoldOperands", "Product", "act_read_bits_per_cycle",
           "check_fits", "fold_operands", "fold_order", "fold_sizes", "fold_transitions",
           "operand_dims"]
