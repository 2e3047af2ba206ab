"""The simulator proper: one op, one network, and the SRAM access energy.

docs/design.md, "Cycle-level simulator". The package :mod:`hwmodel.sim` re-exports these names;
:mod:`hwmodel.sim.sweep` builds its grid on them, so neither imports the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hwmodel.accel import STALL_FREE, AccelConfig
from hwmodel.cost import unit_latency_cycles  # unit ops: the analytical model's latencies
from hwmodel.sim import engine_fast, engine_step
from hwmodel.sim.mapping import Product, check_fits, operand_dims
from hwmodel.sim.report import Counters, LayerReport, SimReport

if TYPE_CHECKING:
    from hwmodel.ir import HwOp
    from search_spaces.spec import ArchSpec

ENGINES = ("fast", "step")
#: Energy of one SRAM bit access when no technology table is available: Horowitz, ISSCC 2014,
#: 45 nm, an 8 KB SRAM costs about 10 pJ per 64-bit read -> 10/64 pJ per bit.
DEFAULT_SRAM_PJ_PER_BIT = 10.0 / 64.0


def product_of(op: HwOp, accel: AccelConfig) -> Product:
    """The matrix product of a matrix op: ``groups * time_steps`` repetitions of one tile;
    on a bit-serial array ``a_bits`` passes of 1-bit activations each."""
    sr, sc, t = operand_dims(op.ofmap_px, op.filters, op.window, accel.dataflow)
    a_bits = max(1, op.a_bits)
    return Product(sr=sr, sc=sc, t=t, w_bits=max(1, op.w_bits),
                   a_bits=1 if accel.bit_serial else a_bits, out_bits=max(1, op.out_bits),
                   ca=op.ca is not None, count=op.groups * op.time_steps,
                   acc_bits=max(1, op.acc_bits), passes=a_bits if accel.bit_serial else 1)


def simulate_op(op: HwOp, accel: AccelConfig, engine: str = "fast") -> Counters:
    """Counters of one op (matrix ops through ``engine``, unit ops by their latency)."""
    if not op.is_matrix:
        lat = unit_latency_cycles(op, accel)
        return Counters(cycles=lat, unit_cycles=lat)
    p = product_of(op, accel)
    check_fits(p, accel, op.path)
    if engine == "fast":
        return engine_fast.simulate_product(p, accel)
    if engine == "step":
        return engine_step.simulate_product(p, accel)
    raise ValueError(f"engine={engine!r} must be one of {list(ENGINES)}")


def sram_pj_per_bit(tech: Any = None) -> dict[str, float]:
    """pJ per bit access of each memory, from a :class:`hwmodel.tech.Tech` (default: the
    45 nm table of :func:`hwmodel.tech.default_tech`; :data:`DEFAULT_SRAM_PJ_PER_BIT` if that
    module is unavailable)."""
    if tech is None:
        try:
            from hwmodel.tech import default_tech
        except ImportError:
            return {"weight_sram": DEFAULT_SRAM_PJ_PER_BIT, "act_sram": DEFAULT_SRAM_PJ_PER_BIT}
        tech = default_tech()
    per_bit = float(tech.sram_pj_per_bit)
    return {"weight_sram": per_bit, "act_sram": per_bit}


def access_energy_pj(c: Counters, pj_per_bit: dict[str, float]) -> float:
    """SRAM access energy: bits read/written times pJ per bit access of each memory."""
    return (c.weight_sram_read_bits * pj_per_bit["weight_sram"]
            + (c.act_sram_read_bits + c.act_sram_write_bits) * pj_per_bit["act_sram"])


def simulate(spec: ArchSpec, accel: AccelConfig = STALL_FREE, engine: str = "fast",
             ops: list[HwOp] | None = None, tech: Any = None) -> SimReport:
    """Simulate every op of ``spec`` (or the given lowered ``ops``) on ``accel``.

    ``tech`` is a :class:`hwmodel.tech.Tech` for the access energy (default 45 nm table).
    Raises ``ValueError`` naming the accelerator field when a layer cannot be mapped (an SRAM
    too small to hold one fold) or ``engine`` is unknown.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} must be one of {list(ENGINES)}")
    if ops is None:
        from hwmodel.ir import lower

        ops = lower(spec)
    pj = sram_pj_per_bit(tech)
    layers = []
    for op in ops:
        counts = simulate_op(op, accel, engine)
        layers.append(LayerReport(name=op.path, kind=op.op, counts=counts,
                                  num_pes=accel.num_pes, clock_mhz=accel.clock_mhz,
                                  energy_pj=access_energy_pj(counts, pj),
                                  products=op.groups * op.time_steps if op.is_matrix else 0))
    return SimReport(layers=layers, num_pes=accel.num_pes, clock_mhz=accel.clock_mhz,
                     engine=engine, accel=accel.to_dict())


__all__ = ["DEFAULT_SRAM_PJ_PER_BIT", "ENGINES", "access_energy_pj", "product_of", "simulate",
           "simulate_op", "sram_pj_per_bit"]
