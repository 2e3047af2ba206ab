"""Accelerator template parameters, shared by the cost model and the simulator.

An R x C array of processing elements (each a b_w x b_a MAC: XNOR-popcount, mux-add or a small
multiplier; bit-parallel or bit-serial), a weight SRAM and a (double-buffered) activation SRAM
with sizes and bandwidths, a cellular-automaton weight generator, and the small units of the
logic-gated networks (bit-shift normalization, residual gate, thresholded GAP), each with its
latency. A bandwidth of 0 means unlimited (the stall-free configuration), and so does
``ca_rows_per_cycle=0`` (a generator that never makes the array wait).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

DATAFLOWS = ("ws", "os", "is")
#: Bits in one "kbit" of an SRAM size (binary kilo).
BITS_PER_KBIT = 1024
MAC_STYLES = ("xnor_popcount", "mux_add", "multiplier")


@dataclass(frozen=True)
class AccelConfig:
    """One accelerator instance. Sizes in bits/kbits, bandwidths in bits per cycle."""

    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    mac: str = "xnor_popcount"
    bit_serial: bool = False
    weight_sram_kbits: float = 512.0
    weight_sram_bits_per_cycle: int = 0
    act_sram_kbits: float = 512.0
    act_sram_bits_per_cycle: int = 0
    act_sram_banks: int = 2
    double_buffer: bool = True
    ca_cells: int = 64
    ca_rows_per_cycle: int = 1
    shift_latency_cycles: int = 1
    gate_latency_cycles: int = 1
    tgap_latency_cycles: int = 1
    clock_mhz: float = 200.0

    def __post_init__(self) -> None:
        def need(cond: bool, name: str, rule: str) -> None:
            if not cond:
                raise ValueError(f"accel: {name}={getattr(self, name)!r} {rule}")

        for name in ("rows", "cols", "act_sram_banks", "ca_cells"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and value >= 1, name,
                 "must be an integer >= 1")
        for name in ("weight_sram_bits_per_cycle", "act_sram_bits_per_cycle", "ca_rows_per_cycle",
                     "shift_latency_cycles", "gate_latency_cycles", "tgap_latency_cycles"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name,
                 "must be an integer >= 0 (0 = unlimited bandwidth / no latency)")
        for name in ("weight_sram_kbits", "act_sram_kbits", "clock_mhz"):
            value = getattr(self, name)
            need(isinstance(value, int | float) and not isinstance(value, bool)
                 and math.isfinite(value) and value > 0, name, "must be a positive number")
        need(self.dataflow in DATAFLOWS, "dataflow", f"must be one of {list(DATAFLOWS)}")
        need(self.mac in MAC_STYLES, "mac", f"must be one of {list(MAC_STYLES)}")
        for name in ("bit_serial", "double_buffer"):
            need(isinstance(getattr(self, name), bool), name, "must be true or false")

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols

    @property
    def weight_sram_bits(self) -> float:
        return self.weight_sram_kbits * BITS_PER_KBIT

    @property
    def act_sram_bits(self) -> float:
        return self.act_sram_kbits * BITS_PER_KBIT

    def fit_problems(self, weight_bits: float, act_peak_bits: float) -> list[str]:
        """Why a network does not fit this accelerator's SRAMs (empty when it fits).

        ``weight_bits``: what the weight SRAM must hold (stored weights, CA seeds instead of
        generated matrices, normalization parameters); ``act_peak_bits``: the peak of the
        activations alive at once (a layer's input and output: the two halves of a
        double-buffered activation SRAM). The same capacities decide the cost model's
        off-chip traffic; a co-search requires both to fit on chip.
        """
        out = []
        if weight_bits > self.weight_sram_bits:
            out.append(f"weights {weight_bits:.0f} bits > weight_sram_kbits="
                       f"{self.weight_sram_kbits:g} ({self.weight_sram_bits:.0f} bits)")
        if act_peak_bits > self.act_sram_bits:
            out.append(f"activation peak {act_peak_bits:.0f} bits > act_sram_kbits="
                       f"{self.act_sram_kbits:g} ({self.act_sram_bits:.0f} bits)")
        return out

    def with_(self, **changes: Any) -> AccelConfig:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "accel") -> AccelConfig:
        """Build from a mapping; unknown fields are rejected by name."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: must be a mapping of field: value")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field {unknown[0]!r} (known: {sorted(known)})")
        try:
            return cls(**dict(data))
        except ValueError as exc:
            raise ValueError(f"{source}: {str(exc).removeprefix('accel: ')}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> AccelConfig:
        """Load from a YAML (or JSON) file; errors name the file and the field."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{p}: no such file") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{p}: malformed YAML ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data or {}, source=str(p))


def field_types() -> dict[str, type]:
    """The ``AccelConfig`` fields and the type of each (from its default)."""
    base = AccelConfig()
    return {f.name: type(getattr(base, f.name)) for f in fields(AccelConfig)}


#: A plain systolic array with SCALE-Sim's conventions, unlimited bandwidth and an unlimited CA
#: generator (stall-free).
STALL_FREE = AccelConfig(mac="multiplier", weight_sram_bits_per_cycle=0, act_sram_bits_per_cycle=0,
                         ca_rows_per_cycle=0, shift_latency_cycles=0, gate_latency_cycles=0,
                         tgap_latency_cycles=0)
