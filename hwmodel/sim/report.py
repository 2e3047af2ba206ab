"""Simulation results: per product and op (``Counters``, ``LayerReport``), per network
(``SimReport``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Stall causes, in the priority order used to charge a stall cycle when several are pending.
STALL_CAUSES = ("weight_bw", "act_bw", "ca")
#: Memories whose accesses are counted.
MEMORIES = ("weight_sram", "act_sram", "ca_gen")


@dataclass
class Counters:
    """Additive counts of one simulated piece (a product, an op or a network).

    ``busy_pe_cycles`` is the PE-cycles doing useful work (MACs, times b_a when bit-serial).
    """

    cycles: int = 0
    compute_cycles: int = 0
    unit_cycles: int = 0
    macs: int = 0
    busy_pe_cycles: int = 0
    folds: int = 0
    stall_weight_bw: int = 0
    stall_act_bw: int = 0
    stall_ca: int = 0
    weight_sram_read_bits: int = 0
    act_sram_read_bits: int = 0
    act_sram_write_bits: int = 0
    ca_rows: int = 0

    def add(self, other: Counters, times: int = 1) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + times * getattr(other, f.name))

    @property
    def stall_cycles(self) -> int:
        return self.stall_weight_bw + self.stall_act_bw + self.stall_ca

    def stalls(self) -> dict[str, int]:
        return {cause: getattr(self, f"stall_{cause}") for cause in STALL_CAUSES}

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class LayerReport:
    """One hardware op (leaf layer) of a network."""

    name: str
    kind: str
    counts: Counters
    num_pes: int
    clock_mhz: float
    energy_pj: float = 0.0
    products: int = 0

    @property
    def cycles(self) -> int:
        return self.counts.cycles

    @property
    def utilization(self) -> float:
        """Useful PE-cycles over all PE-cycles of this layer (0 when it takes no cycles)."""
        total = self.num_pes * self.counts.cycles
        return self.counts.busy_pe_cycles / total if total else 0.0

    @property
    def latency_us(self) -> float:
        return self.counts.cycles / self.clock_mhz

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layer": self.name, "kind": self.kind}
        out.update(self.counts.as_dict())
        out["stall_cycles"] = self.counts.stall_cycles
        out["utilization"] = self.utilization
        out["latency_us"] = self.latency_us
        out["energy_pj"] = self.energy_pj
        return out


@dataclass
class SimReport:
    """A whole network on one accelerator: per-layer reports and totals.

    ``cycles`` is the end-to-end latency in cycles (layers run one after another);
    ``latency_us`` is it at ``clock_mhz``; ``energy_pj`` the SRAM/CA access energy when a
    technology table is available (see :func:`hwmodel.sim.access_energy_pj`).
    """

    layers: list[LayerReport]
    num_pes: int
    clock_mhz: float
    engine: str = "fast"
    accel: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> Counters:
        out = Counters()
        for layer in self.layers:
            out.add(layer.counts)
        return out

    @property
    def cycles(self) -> int:
        return self.total.cycles

    @property
    def stall_cycles(self) -> dict[str, int]:
        return self.total.stalls()

    @property
    def utilization(self) -> float:
        t = self.total
        return t.busy_pe_cycles / (self.num_pes * t.cycles) if t.cycles else 0.0

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def energy_pj(self) -> float:
        return sum(layer.energy_pj for layer in self.layers)

    def totals(self) -> dict[str, Any]:
        t = self.total
        out: dict[str, Any] = dict(t.as_dict())
        out["stall_cycles"] = t.stall_cycles
        out["utilization"] = self.utilization
        out["latency_us"] = self.latency_us
        out["energy_pj"] = self.energy_pj
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [layer.row() for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "accel": self.accel, "layers": self.rows(),
                "totals": self.totals()}

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows())


__all__ = ["MEMORIES", "STALL_CAUSES", "Counters", "LayerReport", "SimReport"]
