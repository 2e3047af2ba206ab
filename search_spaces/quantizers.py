"""Weight quantizers by name: torch-free descriptors, each registered once.

A :class:`QuantizerInfo` holds what the spec, the cost model and the space vocabulary need to
know about a quantizer: the level counts it accepts and the bits one weight takes. Its torch
implementation (a ``WeightQuantizer`` subclass of :mod:`search_spaces.layers.quantizers`)
attaches to the same entry (``info.impl``), so a new quantizer is one registration
(docs/design.md, "The registry"):

    >>> @register_weight_quantizer("pow2", levels=(3, 5))      # doctest: +SKIP
    ... class Pow2Quantizer(WeightQuantizer): ...

This module never imports torch: :mod:`search_spaces.spec` and :mod:`hwmodel` read it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from search_spaces.registry import Registry

FLOAT_BITS = 32
#: The module whose import attaches the torch implementations of the built-in quantizers.
TORCH_IMPLEMENTATIONS = "search_spaces.layers.quantizers"


@dataclass(eq=False)
class QuantizerInfo:
    """One weight quantizer: its accepted level counts and bits per weight.

    ``levels`` are the accepted numbers of levels (``(0,)`` for unquantized float weights);
    ``float_weights`` marks the float pass-through (32 bits a weight, not a search choice).
    ``impl`` is the torch class, attached by the layers module (None until then).
    """

    name: str
    levels: tuple[int, ...]
    float_weights: bool = False
    impl: Any = None

    def __post_init__(self) -> None:
        self.levels = tuple(self.levels)
        if not self.levels or not all(isinstance(n, int) and n >= 0 for n in self.levels):
            raise ValueError(f"weight quantizer {self.name!r}: levels={self.levels!r} must be "
                             "a non-empty tuple of integers >= 0")

    @property
    def multi_level(self) -> bool:
        """Whether the level count is a choice (heq, lsq) rather than fixed (sign, btq)."""
        return len(self.levels) > 1

    def bits(self, levels: int) -> int:
        """Bits to store one weight: ``ceil(log2(levels))``; 32 for float weights."""
        if self.float_weights:
            return FLOAT_BITS
        return max(1, math.ceil(math.log2(levels)))

    def levels_rule(self) -> str:
        """The rule on ``weight_levels``, as an error message states it."""
        if len(self.levels) == 1:
            return f"is not allowed for weight_quant={self.name!r} (needs {self.levels[0]})"
        return (f"is not allowed for weight_quant={self.name!r} "
                f"(needs {self.levels[0]}..{self.levels[-1]})")

    def build(self, levels: int, **kwargs: Any) -> Any:
        """The torch quantizer module for ``levels`` levels (imports torch on first use)."""
        if levels not in self.levels:
            raise ValueError(f"weight_levels={levels!r} {self.levels_rule()}")
        if self.impl is None:
            importlib.import_module(TORCH_IMPLEMENTATIONS)
        if self.impl is None:
            raise ValueError(f"weight_quant={self.name!r} has no torch implementation "
                             "(register one with register_weight_quantizer)")
        return self.impl(levels, **kwargs)


QUANTIZERS: Registry[QuantizerInfo] = Registry("weight quantizer", field="weight_quant")


def add_weight_quantizer(name: str, levels: Iterable[int], *, float_weights: bool = False,
                         impl: Any = None) -> QuantizerInfo:
    """Register the descriptor of a weight quantizer (warns when ``name`` is replaced)."""
    return QUANTIZERS.add(name, QuantizerInfo(name, tuple(levels), float_weights, impl))


add_weight_quantizer("float", (0,), float_weights=True)
add_weight_quantizer("sign", (2,))
add_weight_quantizer("twn", (3,))
add_weight_quantizer("btq", (3,))
add_weight_quantizer("heq", range(2, 17))
add_weight_quantizer("lsq", range(2, 257))


def weight_bits_of(quantizer: str, levels: int) -> int:
    """Bits to store one weight of ``quantizer`` with ``levels`` levels."""
    return QUANTIZERS.get(quantizer).bits(levels)


def searchable_quantizers() -> tuple[str, ...]:
    """The quantizers a space may choose (all but the float pass-through), sorted."""
    return tuple(n for n, q in QUANTIZERS.items() if not q.float_weights)


def multi_level_quantizers() -> tuple[str, ...]:
    """The searchable quantizers whose level count is a choice, sorted."""
    return tuple(n for n, q in QUANTIZERS.items() if q.multi_level and not q.float_weights)


__all__ = [
    "FLOAT_BITS", "QUANTIZERS", "QuantizerInfo", "add_weight_quantizer",
    "multi_level_quantizers", "searchable_quantizers", "weight_bits_of",
]
