"""CA weight generator: hand-computed steps, an independent per-cell reference over all 256
rules, and the torch layer bit for bit against the pure-Python reference."""

from __future__ import annotations

import random

import pytest
import torch

from search_spaces.ca import ca_step, decode_row, generate_weights
from search_spaces.layers.conv import CAPointwise
from search_spaces.spec import CAGen


def _cells(state: int, n: int) -> list[int]:
    return [(state >> i) & 1 for i in range(n)]


def _naive_step(state: int, n: int, rule: int) -> int:
    """Per-cell lookup, Wolfram numbering, left neighbour = cell i-1, null boundaries."""
    c = _cells(state, n)
    out = 0
    for i in range(n):
        left = c[i - 1] if i > 0 else 0
        right = c[i + 1] if i < n - 1 else 0
        if (rule >> (4 * left + 2 * c[i] + right)) & 1:
            out |= 1 << i
    return out


def test_rule_90_and_150_by_hand() -> None:
    """Rule 90 (left XOR right) from cell 2 of 5: {1, 3}, then {0, 4}; rule 150 adds the centre."""
    assert ca_step(0b00100, 5, "90") == 0b01010
    assert ca_step(0b01010, 5, "90") == 0b10001
    assert ca_step(0b00100, 5, "150") == 0b01110
    # the hybrid with an all-ones mask is rule 150, with a zero mask rule 90
    assert ca_step(0b00100, 5, "90/150", 0b11111) == 0b01110
    assert ca_step(0b00100, 5, "90/150", 0) == 0b01010
    # mixed: only cell 2 uses 150 -> it keeps its own bit
    assert ca_step(0b00100, 5, "90/150", 0b00100) == 0b01110
    assert ca_step(0b00100, 5, "90/150", 0b00010) == 0b01010


def test_rule_30_orientation_matches_wolfram() -> None:
    """Rule 30 from one cell reads 111 then 11001 left to right (cell 0 leftmost)."""
    s1 = ca_step(0b00100, 5, "30")
    assert _cells(s1, 5) == [0, 1, 1, 1, 0]
    assert _cells(ca_step(s1, 5, "30"), 5) == [1, 1, 0, 0, 1]


def test_every_elementary_rule_matches_a_naive_per_cell_reference() -> None:
    rng = random.Random(0)
    for rule in range(256):
        for _ in range(4):
            n = rng.choice([3, 8, 17, 70])
            state = rng.getrandbits(n)
            assert ca_step(state, n, str(rule)) == _naive_step(state, n, rule), (rule, n, state)


def test_hybrid_matches_per_cell_rule_choice() -> None:
    rng = random.Random(1)
    for _ in range(50):
        n = rng.choice([4, 9, 33, 100])
        state, mask = rng.getrandbits(n), rng.getrandbits(n)
        expected = 0
        for i in range(n):
            rule = 150 if (mask >> i) & 1 else 90
            expected |= _naive_step(state, n, rule) & (1 << i)
        assert ca_step(state, n, "90/150", mask) == expected


def test_generate_weights_by_hand_one_bit() -> None:
    """Rule 90, 4 cells, seed cell 0: step 1 -> cell 1 -> (-1, +1, -1); step 2 -> cells 0 and 2
    -> (+1, -1, +1)."""
    ca = CAGen(cells=4, seed=0b0001, rule="90", bits_per_weight=1)
    assert generate_weights(ca, 2, 3) == [[-1, 1, -1], [1, -1, 1]]


def test_two_bit_decoding() -> None:
    """b1 = cell 2j, b0 = cell 2j+1: 01 -> +1, 10 -> -1, 00/11 -> 0."""
    assert decode_row(0b0110, 2, 2) == [1, -1]  # cells (0,1)=(0,1); cells (2,3)=(1,0)
    assert decode_row(0b1111, 2, 2) == [0, 0]
    assert decode_row(0b0000, 2, 2) == [0, 0]


def test_generate_weights_rejects_too_few_cells() -> None:
    with pytest.raises(ValueError, match="ca.cells=4 must be >= in_channels"):
        generate_weights(CAGen(cells=4, seed=1, bits_per_weight=2), 3, 3)


@pytest.mark.parametrize("rule", ["90/150", "30", "110", "45", "90", "150"])
@pytest.mark.parametrize("bits_per_weight", [1, 2])
def test_torch_layer_matches_reference_bit_for_bit(rule: str, bits_per_weight: int) -> None:
    rng = random.Random(hash((rule, bits_per_weight)) & 0xFFFF)
    for cells, cin, cout in ((16, 8, 12), (70, 33, 40), (130, 64, 9)):
        if cells < cin * bits_per_weight:
            cin = cells // bits_per_weight
        ca = CAGen(cells=cells, seed=rng.getrandbits(cells) | 1, rule=rule,
                   hybrid_mask=rng.getrandbits(cells), bits_per_weight=bits_per_weight)
        expected = torch.tensor(generate_weights(ca, cout, cin), dtype=torch.float32)
        for dims in (2, 3):
            layer = CAPointwise(cin, cout, ca, dims)
            assert layer.weight.shape == (cout, cin, *([1] * dims))
            assert torch.equal(layer.weight.view(cout, cin), expected)
        if bits_per_weight == 1:
            assert set(expected.unique().tolist()) <= {-1.0, 1.0}
        else:
            assert set(expected.unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_ca_layer_is_not_trainable_and_stores_seed_plus_rule() -> None:
    ca = CAGen(cells=24, seed=99, rule="90/150", hybrid_mask=0xF0F0, bits_per_weight=1)
    layer = CAPointwise(20, 16, ca)
    assert list(layer.parameters()) == []
    assert layer.stored_weight_bits() == ca.stored_bits == 24 + 24
    assert CAPointwise(20, 16, CAGen(cells=24, seed=5, rule="30")).stored_weight_bits() == 24 + 8
    x = torch.rand(2, 20, 3, 3)
    expected = torch.einsum("oi,nihw->nohw", layer.weight.view(16, 20), x) / 20 ** 0.5
    assert torch.allclose(layer(x), expected, atol=1e-5)
