"""The stepping engine: advances one cycle at a time through every fold's load, stream and
drain phases, moving bits out of the memories and rows out of the CA generator each cycle.

It implements the timing model documented in :mod:`hwmodel.sim.engine_fast` without any
closed form, so the two engines check each other. It is slow (one Python iteration per cycle
and per PE-wavefront step), meant for small cases: ``max_cycles`` guards against misuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwmodel.accel import AccelConfig
from hwmodel.sim.mapping import Product, act_read_bits_per_cycle, fold_operands, fold_order
from hwmodel.sim.report import Counters


@dataclass
class _Source:
    """A memory port (bits per cycle, 0 = unlimited) or the CA generator (rows per cycle)."""

    per_cycle: int
    pending: int = 0

    def request(self, amount: int) -> None:
        self.pending = 0 if self.per_cycle == 0 else amount

    def tick(self) -> None:
        self.pending = max(0, self.pending - self.per_cycle)


class TooManyCycles(RuntimeError):
    """The stepping engine was asked to run more cycles than allowed."""


class _Stepper:
    """The machine state: the cycle counter, the counters, and a running prefetch."""

    def __init__(self, max_cycles: int) -> None:
        self.cycle = 0
        self.out = Counters()
        self.max_cycles = max_cycles
        self.prefetch_src: _Source | None = None
        self.prefetch_left = 0  # bits of the next stationary tile still to prefetch

    def run(self, nominal: int, sources: tuple[_Source, _Source, _Source],
            prefetching: bool) -> int:
        """Step one phase of ``nominal`` cycles that needs what ``sources`` still owe (weight,
        activation, CA); return its length. A cycle past ``nominal`` is a stall, charged to
        the first source still owing."""
        k = 0
        while True:
            pending = [s.pending > 0 for s in sources]
            if k >= nominal and not any(pending):
                return k
            if k >= nominal:
                cause = pending.index(True)
                if cause == 0:
                    self.out.stall_weight_bw += 1
                elif cause == 1:
                    self.out.stall_act_bw += 1
                else:
                    self.out.stall_ca += 1
            for s in sources:
                s.tick()
            if prefetching and self.prefetch_src is not None and self.prefetch_left > 0:
                self.prefetch_left = max(0, self.prefetch_left - self.prefetch_src.per_cycle)
            k += 1
            self.cycle += 1
            if self.cycle > self.max_cycles:
                raise TooManyCycles(f"more than max_cycles={self.max_cycles} cycles")


def simulate_product(p: Product, accel: AccelConfig, max_cycles: int = 2_000_000) -> Counters:
    """Counters of ``p.count`` repetitions of ``p`` (``p.passes`` passes each), found by
    stepping cycle by cycle."""
    rows, cols = accel.rows, accel.cols
    load_len = rows if accel.dataflow in ("ws", "is") else 0
    drain_len = rows + cols - 2
    m = _Stepper(max_cycles)
    out = m.out
    idle = _Source(0)
    for _ in range(p.count * p.passes):
        folds = fold_order(p, rows, cols)
        staged = 0  # stationary bits of this fold already prefetched
        for f, fold in enumerate(folds):
            ops = fold_operands(p, fold, accel.dataflow)
            nxt = fold_operands(p, folds[f + 1], accel.dataflow) if f + 1 < len(folds) else None
            weight = _Source(accel.weight_sram_bits_per_cycle)
            act = _Source(act_read_bits_per_cycle(accel))
            ca = _Source(accel.ca_rows_per_cycle)
            stat = {"weight": weight, "act": act}.get(ops.stationary_from)
            # load: the stationary tile (minus what was prefetched) and the CA rows it needs
            if load_len:
                if stat is not None:
                    stat.request(ops.stationary_bits - staged)
                ca.request(ops.ca_load_rows)
                m.run(load_len, (weight if stat is weight else idle,
                                 act if stat is act else idle, ca), prefetching=False)
            # from now on the stationary memory is idle: prefetch the next fold's tile
            m.prefetch_src = None
            if accel.double_buffer and nxt is not None:
                src = {"weight": weight, "act": act}.get(nxt.stationary_from)
                if src is not None and src.per_cycle:
                    m.prefetch_src = src
                    m.prefetch_left = nxt.stationary_bits
            weight.request(ops.stream_w_bits)
            act.request(ops.stream_a_bits)
            ca.request(ops.ca_stream_rows)
            m.run(p.t, (weight, act, ca), prefetching=True)
            m.run(drain_len, (idle, idle, idle), prefetching=True)
            staged = (nxt.stationary_bits - m.prefetch_left
                      if m.prefetch_src is not None and nxt is not None else 0)
            out.folds += 1
            out.weight_sram_read_bits += ops.stream_w_bits + (
                ops.stationary_bits if ops.stationary_from == "weight" else 0)
            out.act_sram_read_bits += ops.stream_a_bits + ops.psum_read_bits + (
                ops.stationary_bits if ops.stationary_from == "act" else 0)
            out.act_sram_write_bits += ops.out_bits
            out.ca_rows += ops.ca_load_rows + ops.ca_stream_rows
        # SCALE-Sim's convention: the product's count is the index of its last cycle
        m.cycle -= 1
        out.busy_pe_cycles += _count_macs(p, rows, cols)
    out.cycles = m.cycle
    out.compute_cycles = m.cycle
    out.macs = out.busy_pe_cycles // p.passes
    return out


def _count_macs(p: Product, rows: int, cols: int) -> int:
    """MACs done by the array over all folds, counted PE by PE (each used PE of a fold does one
    MAC per streamed vector)."""
    total = 0
    for r, c, _, _ in fold_order(p, rows, cols):
        for _pe_row in range(r):
            total += c * p.t
    return total


__all__ = ["TooManyCycles", "simulate_product"]
