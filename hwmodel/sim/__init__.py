"""Cycle-level simulator of the logic-gated QNN accelerator template.

docs/design.md, "Cycle-level simulator".

``simulate(spec, accel) -> SimReport`` runs a whole :class:`~search_spaces.spec.ArchSpec`
layer by layer (the ops of :func:`hwmodel.ir.lower`, one after another) on an
:class:`~hwmodel.accel.AccelConfig`. Matrix ops map onto the PE array as in
:mod:`hwmodel.sim.mapping` and are timed by an engine: ``"fast"`` (closed form per fold shape,
:mod:`hwmodel.sim.engine_fast`) or ``"step"`` (cycle by cycle, small cases,
:mod:`hwmodel.sim.engine_step`); both give identical reports. Unit ops (normalization,
pooling, residual gate, thresholded GAP) add their unit's latency (:func:`unit_latency_cycles`).

``sweep(spec, base_accel, grid) -> pandas.DataFrame`` simulates every point of a grid of
accelerator fields (see :mod:`hwmodel.sim.sweep`).
"""

from hwmodel.cost import unit_latency_cycles
from hwmodel.sim.report import Counters, LayerReport, SimReport
from hwmodel.sim.simulator import (
    DEFAULT_SRAM_PJ_PER_BIT,
    ENGINES,
    access_energy_pj,
    product_of,
    simulate,
    simulate_op,
    sram_pj_per_bit,
)

# Imported last and by name: the package attribute ``sweep`` is the function (importing the
# submodule first set it to the module; this rebinds it).
from hwmodel.sim.sweep import sweep  # noqa: E402

__all__ = ["DEFAULT_SRAM_PJ_PER_BIT", "ENGINES", "Counters", "LayerReport", "SimReport",
           "access_energy_pj", "product_of", "simulate", "simulate_op", "sram_pj_per_bit",
           "sweep", "unit_latency_cycles"]
