"""Accelerator sweeps: simulate one spec on every point of a grid of ``AccelConfig`` fields.

Each row holds the grid point, the simulated cycles / latency / utilization / stalls, the
energy per inference and the accelerator's area, and whether the point is on the Pareto set
(minimizing cycles, area and energy together).

* ``energy_pj``: the simulator's SRAM access energy (bits moved x pJ per bit of the technology
  table) plus the analytical model's MAC and unit energy (:mod:`hwmodel.cost`), which does not
  depend on the accelerator's shape;
* ``area_um2``: the accelerator itself, not the network: its PE array and units as logic
  (:func:`hwmodel.cost.accel_logic`, sized for the widest layer it runs) plus its configured
  SRAMs (``(weight_sram_kbits + act_sram_kbits) * 1024`` bits x the table's um2 per bit).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hwmodel.accel import AccelConfig, field_types

if TYPE_CHECKING:
    import pandas as pd

    from hwmodel.ir import HwOp
    from search_spaces.spec import ArchSpec

#: Objectives of the Pareto set, all minimized.
PARETO_OBJECTIVES = ("cycles", "area_um2", "energy_pj")
ProgressFn = Callable[[int, int], None]


def parse_values(name: str, text: str) -> list[Any]:
    """``"8,16,32"`` -> ``[8, 16, 32]`` typed like the field ``name``; errors name the field."""
    types = field_types()
    if name not in types:
        raise ValueError(f"sweep: unknown accelerator field {name!r} (valid: "
                         f"{', '.join(sorted(types))})")
    kind = types[name]
    out: list[Any] = []
    for raw in (v.strip() for v in text.split(",")):
        if not raw:
            raise ValueError(f"sweep: {name}={text!r} has an empty value")
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out.append(raw.lower() in ("true", "1", "yes"))
            elif kind is int:
                out.append(int(raw))
            elif kind is float:
                out.append(float(raw))
            else:
                out.append(raw)
        except ValueError:
            raise ValueError(f"sweep: {name}={raw!r} must be a {kind.__name__}") from None
    return out


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (the last field varies fastest)."""
    types = field_types()
    for name, values in grid.items():
        if name not in types:
            raise ValueError(f"sweep: unknown accelerator field {name!r} (valid: "
                             f"{', '.join(sorted(types))})")
        if isinstance(values, str | bytes) or len(values) == 0:
            raise ValueError(f"sweep: {name} must be a non-empty list of values")
    names = list(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(list(grid[n]) for n in names))]


def pareto_mask(points: Sequence[Sequence[float]]) -> list[bool]:
    """``True`` for each point no other point dominates (all objectives minimized; equal
    points do not dominate each other)."""
    out = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if j != i and all(a <= b for a, b in zip(q, p, strict=True)) and any(
                    a < b for a, b in zip(q, p, strict=True)):
                dominated = True
                break
        out.append(not dominated)
    return out


def compute_energy_pj(ops: Sequence[HwOp], accel: AccelConfig, tech: Any) -> float:
    """MAC and unit energy from the analytical model (0 if it is unavailable)."""
    try:
        from hwmodel.cost import CostParams, layer_cost
    except ImportError:  # pragma: no cover - the cost model is another part's
        return 0.0
    params = CostParams()
    total = 0.0
    for op in ops:
        lc = layer_cost(op, accel, tech, params)
        total += lc.mac_energy_pj + lc.unit_energy_pj
    return total


def accel_area_um2(ops: Sequence[HwOp], accel: AccelConfig, tech: Any) -> float:
    """Logic area of the array and units (sized for ``ops``) plus the configured SRAMs."""
    sram_bits = accel.weight_sram_bits + accel.act_sram_bits
    try:
        from hwmodel.cost import CostParams, accel_logic
    except ImportError:  # pragma: no cover - the cost model is another part's
        return float(sram_bits * tech.sram_um2_per_bit)
    logic = accel_logic(ops, accel, CostParams())
    return float(logic.area_um2(tech) + sram_bits * tech.sram_um2_per_bit)


def point_metrics(spec: ArchSpec, accel: AccelConfig, *, tech: Any = None,
                  ops: Sequence[HwOp] | None = None, engine: str = "fast") -> dict[str, Any]:
    """The simulated cost of ``spec`` on one accelerator: ``cycles``, ``latency_us``,
    ``utilization``, ``stall_<cause>`` cycles, SRAM read/write bits, ``energy_pj`` and
    ``area_um2`` (see the module docstring). A fold the SRAMs cannot hold raises
    ``ValueError`` naming the field."""
    from hwmodel.ir import lower
    from hwmodel.sim.simulator import access_energy_pj, simulate, sram_pj_per_bit

    if tech is None:
        from hwmodel.tech import default_tech

        tech = default_tech()
    ops = lower(spec) if ops is None else list(ops)
    report = simulate(spec, accel, engine=engine, ops=ops, tech=tech)
    t = report.total
    return {
        "cycles": t.cycles,
        "latency_us": report.latency_us,
        "utilization": report.utilization,
        **{f"stall_{k}": v for k, v in t.stalls().items()},
        "weight_sram_read_bits": t.weight_sram_read_bits,
        "act_sram_read_bits": t.act_sram_read_bits,
        "act_sram_write_bits": t.act_sram_write_bits,
        "energy_pj": access_energy_pj(t, sram_pj_per_bit(tech)) + compute_energy_pj(ops, accel,
                                                                                     tech),
        "area_um2": accel_area_um2(ops, accel, tech),
    }


def sweep(spec: ArchSpec, base_accel: AccelConfig, grid: Mapping[str, Sequence[Any]],
          progress: ProgressFn | None = None, tech: Any = None,
          engine: str = "fast") -> pd.DataFrame:
    """Simulate ``spec`` on ``base_accel`` with the grid's fields changed, point by point.

    Returns one row per point: the grid fields, ``cycles``, ``latency_us``, ``utilization``,
    ``stall_<cause>`` cycles, SRAM read/write bits, ``energy_pj``, ``area_um2`` and ``pareto``.
    ``progress(done, total)`` is called after each point. A point that is not a valid
    accelerator raises ``ValueError`` naming the point and the field.
    """
    import pandas as pd

    from hwmodel.ir import lower

    if tech is None:
        from hwmodel.tech import default_tech

        tech = default_tech()
    ops = lower(spec)
    points = grid_points(grid)
    rows: list[dict[str, Any]] = []
    for done, point in enumerate(points, start=1):
        try:
            row = point_metrics(spec, base_accel.with_(**point), tech=tech, ops=ops,
                                engine=engine)
        except ValueError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ValueError(f"sweep point {where}: {str(exc).removeprefix('accel: ')}"
                             ) from None
        rows.append({**point, **row})
        if progress is not None:
            progress(done, len(points))
    frame = pd.DataFrame(rows)
    frame["pareto"] = pareto_mask(frame[list(PARETO_OBJECTIVES)].to_numpy().tolist())
    return frame


__all__ = ["PARETO_OBJECTIVES", "accel_area_um2", "compute_energy_pj", "field_types",
           "grid_points", "parse_values", "pareto_mask", "point_metrics", "sweep"]
