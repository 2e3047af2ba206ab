"""Technology tables: energy per operation / per bit accessed and cell areas, each with a source.

The default table (``hwmodel/data/tech_45nm.yaml``) is 45 nm: Horowitz (ISSCC 2014) energies,
QKeras QTools 1-bit gate factors and Nangate 45 nm cell areas. :func:`load_tech` reads another
table from a YAML file of the same form (``constants: {name: {value, unit, source}}``; a bare
number is accepted as a value); a missing, unknown or negative constant is a one-line
``ValueError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_TECH_PATH = Path(__file__).parent / "data" / "tech_45nm.yaml"


@dataclass(frozen=True)
class Tech:
    """One technology node. Energies in pJ, areas in um2, factors relative to a 1-bit add."""

    add8_pj: float
    add32_pj: float
    mult8_pj: float
    mult32_pj: float
    fadd32_pj: float
    fmult32_pj: float
    sram_pj_per_64b: float
    dram_pj_per_64b: float
    xor_factor: float
    mux_factor: float
    ternary_factor: float
    and_factor: float
    nand2_um2: float
    inv_um2: float
    and2_um2: float
    or2_um2: float
    xor2_um2: float
    xnor2_um2: float
    mux2_um2: float
    fa_um2: float
    ha_um2: float
    dff_um2: float
    sram_bitcell_um2: float
    sram_array_efficiency: float
    name: str = "custom"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for f in constant_names():
            value = getattr(self, f)
            if (not isinstance(value, int | float) or isinstance(value, bool)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"tech: {f}={value!r} must be a finite number >= 0")
        if not 0 < self.sram_array_efficiency <= 1:
            raise ValueError(f"tech: sram_array_efficiency={self.sram_array_efficiency!r} "
                             "must be in (0, 1]")

    # ------------------------------------------------------------------ derived constants
    @property
    def add_pj_per_bit(self) -> float:
        """Energy of a 1-bit add: the 8-bit add scaled linearly (ripple adder ~ width)."""
        return self.add8_pj / 8

    @property
    def sram_pj_per_bit(self) -> float:
        return self.sram_pj_per_64b / 64

    @property
    def dram_pj_per_bit(self) -> float:
        return self.dram_pj_per_64b / 64

    @property
    def sram_um2_per_bit(self) -> float:
        """Macro area per bit: the bit cell over the array efficiency."""
        return self.sram_bitcell_um2 / self.sram_array_efficiency

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "constants": {
            f: {"value": getattr(self, f), "source": self.sources.get(f, "")}
            for f in constant_names()}}


@lru_cache(maxsize=1)
def constant_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Tech) if f.name not in ("name", "sources"))


def tech_from_dict(data: Any, source: str = "tech") -> Tech:
    """A :class:`Tech` from ``{name?, constants: {field: {value, unit?, source?} or number}}``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: must be a mapping with a 'constants' section")
    unknown_top = sorted(set(data) - {"name", "constants"})
    if unknown_top:
        raise ValueError(f"{source}: unknown field {unknown_top[0]!r} (known: constants, name)")
    consts = data.get("constants")
    if not isinstance(consts, Mapping):
        raise ValueError(f"{source}: field 'constants' is required and must be a mapping")
    names = constant_names()
    unknown = sorted(set(consts) - set(names))
    if unknown:
        raise ValueError(f"{source}: unknown constant {unknown[0]!r} (known: {', '.join(names)})")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name in names:
        if name not in consts:
            raise ValueError(f"{source}: constant {name!r} is missing")
        entry = consts[name]
        if isinstance(entry, Mapping):
            bad = sorted(set(entry) - {"value", "unit", "source"})
            if bad:
                raise ValueError(f"{source}: {name}: unknown key {bad[0]!r} "
                                 "(known: value, unit, source)")
            if "value" not in entry:
                raise ValueError(f"{source}: {name}: 'value' is missing")
            value = entry["value"]
            sources[name] = str(entry.get("source", ""))
        else:
            value = entry
            sources[name] = source
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not math.isfinite(value) or value < 0):
            raise ValueError(f"{source}: {name}={value!r} must be a finite number >= 0")
        values[name] = float(value)
    try:
        return Tech(**values, name=str(data.get("name", Path(source).stem)), sources=sources)
    except ValueError as exc:
        raise ValueError(f"{source}: {str(exc).removeprefix('tech: ')}") from None


def load_tech(path: str | Path) -> Tech:
    """Read a technology table from YAML; errors are one line naming the file and the field."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{p}: is a directory, expected a YAML file") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: malformed YAML ({str(exc).splitlines()[0]})") from None
    return tech_from_dict(data, source=str(p))


@lru_cache(maxsize=1)
def default_tech() -> Tech:
    """The 45 nm default table shipped with the package."""
    return load_tech(DEFAULT_TECH_PATH)


__all__ = ["DEFAULT_TECH_PATH", "Tech", "constant_names", "default_tech", "load_tech",
           "tech_from_dict"]
