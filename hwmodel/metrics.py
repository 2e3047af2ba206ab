"""The metric type of tinydse and the totals the hardware model reports (docs/design.md,
"Metric catalogue").

A :class:`Metric` is one catalogue entry: its name (with the unit in it, as everywhere in
tinydse), the unit, which way is better, when its value is known (from the spec alone, from the
cost model, from the simulator or only after training), its display label, whether plots use a
log axis, whether the results store keeps it in a real column and whether a study may use it as
an objective. hwmodel declares its own totals here (:data:`HARDWARE_METRICS`); each task of
``dse.tasks`` declares the metrics its training yields; ``dse.catalog`` joins them and every
consumer (configuration, Optuna, the store, queries, the dashboard) reads that catalogue.

Torch-free and free of ``dse`` (hwmodel never imports dse).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

#: The version of the cost model's formulas, stored with every study (``cost_model_version``):
#: bump it when a formula of :mod:`hwmodel.cost` or :mod:`hwmodel.sim` changes a number.
COST_MODEL_VERSION = "1"

Direction = Literal["minimize", "maximize"]


class Known(StrEnum):
    """When a metric's value is known. Everything before ``TRAINING`` is known before a
    candidate trains, so it can be a hard budget (checked before any training)."""

    SPEC = "spec"  #: from the ArchSpec alone (e.g. bits_per_pixel)
    COST_MODEL = "cost model"  #: from the analytical cost model
    SIMULATOR = "simulator"  #: from the cycle simulator (run only when a study needs it)
    TRAINING = "training"  #: only after training

    @property
    def before_training(self) -> bool:
        return self is not Known.TRAINING


@dataclass(frozen=True)
class Metric:
    """One catalogue entry.

    ``direction`` None marks bookkeeping (e.g. ``train_seconds``): stored, never an objective,
    a budget or an axis. ``objective`` False keeps a directed metric out of the objectives
    (held-out test metrics, copies such as ``val_accuracy``) while it stays an axis.
    ``unit`` ``"fraction"`` is a number in [0, 1] shown as a percentage.
    """

    name: str
    unit: str
    direction: Direction | None
    known: Known
    label: str
    log_axis: bool = False
    column: bool = False
    objective: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"metric name={self.name!r} must be an identifier")
        if self.direction not in (None, "minimize", "maximize"):
            raise ValueError(f"metric {self.name!r}: direction={self.direction!r} must be "
                             "'minimize', 'maximize' or None")

    @property
    def is_budget(self) -> bool:
        """A hard budget may constrain it: known before training, with a direction."""
        return self.direction is not None and self.known.before_training

    @property
    def is_objective(self) -> bool:
        return self.direction is not None and self.objective

    @property
    def is_axis(self) -> bool:
        """Offered as a plot axis (every directed metric)."""
        return self.direction is not None


def _cost(name: str, unit: str, label: str, *, log: bool = True, column: bool = False,
          known: Known = Known.COST_MODEL) -> Metric:
    return Metric(name, unit, "minimize", known, label, log_axis=log, column=column)


#: Every total of :func:`hwmodel.cost.cost_report` (a test checks the names agree) plus
#: ``cycles`` (the simulator's count when a study needs it, else the stall-free count).
#: All are costs (minimized) known before training; the principal ones are store columns.
HARDWARE_METRICS: tuple[Metric, ...] = (
    _cost("memory_bits", "bits", "memory (bits)", column=True),
    _cost("weight_memory_bits", "bits", "weight memory (bits)", column=True),
    _cost("act_buffer_bits", "bits", "activation buffer (bits)", column=True),
    _cost("macs", "MACs", "MACs", column=True),
    _cost("bops", "bit operations", "BOPs", column=True),
    _cost("energy_pj", "pJ", "energy (pJ)", log=False, column=True),
    _cost("area_um2", "µm²", "area (µm²)", log=False, column=True),
    _cost("cycles", "cycles", "latency (cycles)", column=True, known=Known.SIMULATOR),
    _cost("ideal_cycles", "cycles", "stall-free latency (cycles)"),
    _cost("ideal_latency_us", "µs", "stall-free latency (µs)", log=False),
    _cost("bops_uniq", "bit operations", "BOPs (UNIQ)", log=False),
    _cost("ca_state_bits", "bits", "CA generator state (bits)"),
    _cost("norm_memory_bits", "bits", "normalization memory (bits)"),
    _cost("dram_bits", "bits", "off-chip traffic (bits)"),
    _cost("sram_read_bits", "bits", "SRAM reads (bits)"),
    _cost("sram_write_bits", "bits", "SRAM writes (bits)"),
    _cost("gate_ops", "operations", "gate operations", log=False),
    _cost("shift_ops", "operations", "shift operations", log=False),
    _cost("compare_ops", "operations", "compare operations", log=False),
    _cost("mac_energy_pj", "pJ", "MAC energy (pJ)", log=False),
    _cost("unit_energy_pj", "pJ", "unit energy (pJ)", log=False),
    _cost("sram_energy_pj", "pJ", "SRAM energy (pJ)", log=False),
    _cost("dram_energy_pj", "pJ", "DRAM energy (pJ)", log=False),
    _cost("logic_area_um2", "µm²", "logic area (µm²)"),
    _cost("sram_area_um2", "µm²", "SRAM area (µm²)", log=False),
    _cost("logic_nand2_eq", "NAND2 gates", "logic (NAND2 equivalents)"),
    _cost("xnor2", "gates", "XNOR2 gates", log=False),
    _cost("xor2", "gates", "XOR2 gates", log=False),
    _cost("and2", "gates", "AND2 gates", log=False),
    _cost("or2", "gates", "OR2 gates", log=False),
    _cost("mux2", "gates", "MUX2 gates", log=False),
    _cost("full_adders", "cells", "full adders", log=False),
    _cost("half_adders", "cells", "half adders", log=False),
    _cost("comparator_bits", "bits", "comparator bits"),
    _cost("flip_flops", "cells", "flip-flops", log=False),
)

#: What the simulator adds for one accelerator beside ``cycles`` (``dse simulate --sweep``'s
#: columns; a co-search stores them per pair).
SIMULATOR_METRICS: tuple[Metric, ...] = (
    Metric("latency_us", "µs", "minimize", Known.SIMULATOR, "latency (µs)"),
    Metric("utilization", "fraction", "maximize", Known.SIMULATOR, "PE utilization"),
)

__all__ = ["COST_MODEL_VERSION", "HARDWARE_METRICS", "SIMULATOR_METRICS", "Direction", "Known",
           "Metric"]
