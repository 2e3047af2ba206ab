"""Gated residuals: OR / MUX / MUX-OR keep the activation code set and pass gradients."""

from __future__ import annotations

import pytest
import torch

from search_spaces.layers.activations import act_code_values
from search_spaces.layers.residual import (
    RESIDUAL_GATES,
    GatedResidual,
    shift_codes,
)
from search_spaces.spec import GATES


def _codes(bits: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    steps = 2 ** bits - 1
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, steps + 1, shape, generator=gen).float() / steps


def _on_code_set(t: torch.Tensor, bits: int) -> bool:
    return bool(torch.isin(t.detach(), torch.tensor(act_code_values(bits))).all())


def test_registry_matches_spec() -> None:
    assert RESIDUAL_GATES.names() == sorted(GATES)
    with pytest.raises(ValueError, match=r"gate='xor' is not a registered residual gate "
                                         r"\(known: add, mux"):
        RESIDUAL_GATES.get("xor")


def test_or_truth_table_and_gradient() -> None:
    """y = x OR f; dy/dx = dy/df = 1{x + f <= 1}: only the (1, 1) row blocks gradient."""
    x = torch.tensor([0.0, 0.0, 1.0, 1.0], requires_grad=True)
    f = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    y = RESIDUAL_GATES.get("or")(1, 1)(x, f)
    assert y.tolist() == [0.0, 1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad is not None and f.grad is not None
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert f.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_or_keeps_binary_code_set() -> None:
    x, f = _codes(1, (4, 8, 5, 5), 0), _codes(1, (4, 8, 5, 5), 1)
    y = RESIDUAL_GATES.get("or")(8, 1)(x, f)
    assert _on_code_set(y, 1)
    assert torch.equal(y, torch.logical_or(x.bool(), f.bool()).float())


def test_mux_hand_computed_three_bit() -> None:
    """Channel 0: codes (6, 4), GAP = 5/7 >= 0.5 -> S = 1 -> y = f.
    Channel 1: codes (1, 5), GAP = 3/7 < 0.5 -> S = 0 -> y = x >> 1 = codes (0, 2)."""
    x = torch.tensor([[[[6.0, 4.0]], [[1.0, 5.0]]]]) / 7
    f = torch.tensor([[[[3.0, 2.0]], [[7.0, 7.0]]]]) / 7
    y = RESIDUAL_GATES.get("mux")(2, 3, shift=1, threshold=0.5)(x, f)
    expected = torch.tensor([[[[3.0, 2.0]], [[0.0, 2.0]]]]) / 7
    assert torch.equal(y, expected)


@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_mux_keeps_the_code_set(bits: int, shift: int) -> None:
    x, f = _codes(bits, (3, 6, 4, 4), bits), _codes(bits, (3, 6, 4, 4), 10 + shift)
    y = RESIDUAL_GATES.get("mux")(6, bits, shift=shift, threshold=0.5)(x, f)
    assert _on_code_set(y, bits)


def test_mux_gradients_follow_the_select() -> None:
    """S = 1 channels pass dL/dy to f; S = 0 channels pass 2^-k dL/dy to x."""
    x = (torch.tensor([[[[7.0, 7.0]], [[0.0, 1.0]]]]) / 7).requires_grad_(True)
    f = torch.full((1, 2, 1, 2), 3.0 / 7, requires_grad=True)
    RESIDUAL_GATES.get("mux")(2, 3, shift=2, threshold=0.5)(x, f).sum().backward()
    assert x.grad is not None and f.grad is not None
    assert f.grad.flatten().tolist() == [1.0, 1.0, 0.0, 0.0]
    assert x.grad.flatten().tolist() == [0.0, 0.0, 0.25, 0.25]


def test_mux_or_semantics_and_code_set() -> None:
    """Channel 0 selected (GAP 1 >= 0.5): y = x OR f; channel 1 not (GAP 0): y = x."""
    x = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]], requires_grad=True)
    f = torch.tensor([[[[0.0, 1.0]], [[1.0, 1.0]]]], requires_grad=True)
    y = RESIDUAL_GATES.get("mux_or")(2, 1, threshold=0.5)(x, f)
    assert y.flatten().tolist() == [1.0, 1.0, 0.0, 0.0]
    y.sum().backward()
    assert x.grad is not None and f.grad is not None
    # channel 0: OR gradient 1{x + f <= 1} = (1, 0); channel 1: identity to x, nothing to f
    assert f.grad.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert x.grad.flatten().tolist() == [1.0, 0.0, 1.0, 1.0]
    xr, fr = _codes(1, (4, 8, 3, 3), 5), _codes(1, (4, 8, 3, 3), 6)
    assert _on_code_set(RESIDUAL_GATES.get("mux_or")(8, 1, threshold=0.3)(xr, fr), 1)


def test_add_requantizes_to_body_bits() -> None:
    """2-bit: 1/3 + 1/3 = 2/3; 2/3 + 2/3 = 4/3 -> clipped to 1; float gate adds plainly."""
    x = torch.tensor([1 / 3, 2 / 3, 0.0])
    f = torch.tensor([1 / 3, 2 / 3, 0.0])
    assert RESIDUAL_GATES.get("add")(1, 2)(x, f).tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert RESIDUAL_GATES.get("add")(1, 32)(x, f).tolist() == pytest.approx([2 / 3, 4 / 3, 0.0])


def test_shift_float_proxy_when_not_quantized() -> None:
    x = torch.tensor([5.0 / 7])
    assert shift_codes(x, 3, 1, quantized=True).tolist() == pytest.approx([2.0 / 7])
    assert shift_codes(x, 3, 1, quantized=False).tolist() == pytest.approx([2.5 / 7])
    gate = RESIDUAL_GATES.get("mux")(1, 3, shift=1, threshold=1.0)
    gate.set_quantization(weights=True, activations=False, lstm_gates=True)
    assert gate(x.view(1, 1, 1), torch.zeros(1, 1, 1)).flatten().tolist() == \
        pytest.approx([2.5 / 7])


def test_gated_residual_runs_body_then_gate() -> None:
    body = torch.nn.Identity()
    block = GatedResidual(body, RESIDUAL_GATES.get("or")(2, 1))
    x = _codes(1, (2, 2, 3, 3), 9)
    assert torch.equal(block(x), x)  # x OR x = x
