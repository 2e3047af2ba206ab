"""Pure-Python reference generator for CA-generated pointwise weights (no torch, no numpy).

Our reading of MOGNET's on-line weight generation, exactly as in :class:`spec.CAGen`:

* the automaton has ``N = ca.cells`` cells held in one Python int, **bit i = cell i**;
* cell ``i``'s *left* neighbour is cell ``i-1`` and its *right* neighbour is cell ``i+1``;
  null boundaries: the cells beyond ``0`` and ``N-1`` read as 0;
* an elementary rule ``r`` sets the new cell to bit ``4*left + 2*centre + right`` of ``r``
  (Wolfram's numbering); ``"90/150"`` is the hybrid where cell ``i`` applies rule 150
  (``left ^ centre ^ right``) when bit ``i`` of ``hybrid_mask`` is set, else rule 90
  (``left ^ right``);
* row ``r`` of the weight matrix is the state after ``r + 1`` steps from ``seed``; it uses the
  first ``in_channels * bits_per_weight`` cells (cells ``0, 1, ...``);
* 1 bit per weight: weight ``j`` is cell ``j``: 0 -> -1, 1 -> +1;
* 2 bits per weight: weight ``j`` reads ``b1 = cell 2j`` and ``b0 = cell 2j+1`` (the row read
  left to right, most significant bit first): ``01 -> +1``, ``10 -> -1``, ``00``/``11`` -> 0.

The torch layer (:class:`search_spaces.layers.conv.CAPointwise`) implements the same automaton
with tensor operations; the tests check the two agree bit for bit. hwmodel uses this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # spec is torch-free too; imported for the annotations only
    from search_spaces.spec import CAGen

CA_RULE_HYBRID = "90/150"


def _full_mask(cells: int) -> int:
    return (1 << cells) - 1


def ca_step(state: int, cells: int, rule: str, hybrid_mask: int = 0) -> int:
    """One synchronous step of the automaton (null boundaries); returns the new state.

    ``rule`` is ``"90/150"`` (hybrid, per-cell choice by ``hybrid_mask``) or an elementary rule
    number ``"0"`` .. ``"255"``.
    """
    if cells < 1:
        raise ValueError(f"ca_step: cells={cells} must be >= 1")
    full = _full_mask(cells)
    if state < 0 or state > full:
        raise ValueError(f"ca_step: state={state} must be in [0, 2**cells)")
    left = (state << 1) & full  # cell i sees cell i-1; cell 0 sees the null boundary
    right = state >> 1  # cell i sees cell i+1; cell N-1 sees the null boundary
    if rule == CA_RULE_HYBRID:
        # rule 150 = rule 90 XOR centre, so the hybrid adds the centre where the mask is set
        return (left ^ right ^ (state & hybrid_mask)) & full
    if not (rule.isdigit() and 0 <= int(rule) <= 255):
        raise ValueError(f"ca_step: rule={rule!r} must be {CA_RULE_HYBRID!r} or '0'..'255'")
    number = int(rule)
    new = 0
    for pattern in range(8):
        if not (number >> pattern) & 1:
            continue
        a = left if pattern & 4 else ~left
        b = state if pattern & 2 else ~state
        c = right if pattern & 1 else ~right
        new |= a & b & c
    return new & full


def ca_rows(ca: CAGen, steps: int) -> list[int]:
    """The states after 1, 2, ..., ``steps`` steps from ``ca.seed``."""
    rows: list[int] = []
    state = ca.seed
    for _ in range(steps):
        state = ca_step(state, ca.cells, ca.rule, ca.hybrid_mask)
        rows.append(state)
    return rows


def decode_row(state: int, in_channels: int, bits_per_weight: int) -> list[int]:
    """The weights of one row: 1 bit -> {-1, +1}; 2 bits (b1 = cell 2j, b0 = cell 2j+1)."""
    if bits_per_weight == 1:
        return [1 if (state >> j) & 1 else -1 for j in range(in_channels)]
    if bits_per_weight == 2:
        out = []
        for j in range(in_channels):
            b1 = (state >> (2 * j)) & 1
            b0 = (state >> (2 * j + 1)) & 1
            out.append(1 if (b1, b0) == (0, 1) else -1 if (b1, b0) == (1, 0) else 0)
        return out
    raise ValueError(f"decode_row: bits_per_weight={bits_per_weight} must be 1 or 2")


def generate_weights(ca: CAGen, out_channels: int, in_channels: int) -> list[list[int]]:
    """The ``out_channels x in_channels`` weight matrix the generator emits, row by row."""
    if out_channels < 1 or in_channels < 1:
        raise ValueError(f"generate_weights: out_channels={out_channels} and "
                         f"in_channels={in_channels} must be >= 1")
    need = in_channels * ca.bits_per_weight
    if ca.cells < need:
        raise ValueError(f"generate_weights: ca.cells={ca.cells} must be >= "
                         f"in_channels*bits_per_weight={need}")
    return [decode_row(s, in_channels, ca.bits_per_weight) for s in ca_rows(ca, out_channels)]


__all__ = ["ca_rows", "ca_step", "decode_row", "generate_weights"]
