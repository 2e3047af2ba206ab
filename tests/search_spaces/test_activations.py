"""Activation quantizers: code sets, hand-computed values, clipped STE gradient apart."""

from __future__ import annotations

import pytest
import torch

from search_spaces.layers.activations import ActQuant, act_code_values, heaviside, quantize_act


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_outputs_lie_on_the_code_set(bits: int) -> None:
    x = torch.linspace(-0.5, 1.5, 2001)
    out = quantize_act(x, bits)
    assert torch.isin(out, torch.tensor(act_code_values(bits))).all()
    assert len(set(out.tolist())) == 2 ** bits  # every code is reached


def test_code_sets() -> None:
    assert act_code_values(1) == (0.0, 1.0)
    assert act_code_values(2) == pytest.approx((0.0, 1 / 3, 2 / 3, 1.0))
    assert len(act_code_values(3)) == 8


def test_two_bit_values_hand_computed() -> None:
    """floor(clip(x,0,1)*3 + 1/2)/3: 0.1 -> floor(0.8)=0; 0.17 -> floor(1.01)=1; 0.5 -> 2;
    0.84 -> floor(3.02)=3."""
    x = torch.tensor([-0.5, 0.1, 0.17, 0.2, 0.5, 0.84, 1.2])
    expected = torch.tensor([0, 0, 1, 1, 2, 3, 3]) / 3.0
    assert torch.equal(quantize_act(x, 2), expected)


def test_heaviside_threshold_at_one_half() -> None:
    x = torch.tensor([-1.0, 0.0, 0.49, 0.5, 0.7, 3.0])
    assert heaviside(x).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_clipped_ste_gradient(bits: int) -> None:
    """dA/dx = 1{0 <= x <= 1}."""
    x = torch.tensor([-0.1, 0.0, 0.3, 0.5, 1.0, 1.1], requires_grad=True)
    (quantize_act(x, bits) * torch.arange(1.0, 7.0)).sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 0.0]


def test_module_float_proxy_has_same_range_and_gradient() -> None:
    act = ActQuant(2)
    act.set_quantization(weights=True, activations=False, lstm_gates=True)
    x = torch.tensor([-0.1, 0.0, 0.3, 1.0, 1.1], requires_grad=True)
    out = act(x)
    assert out.tolist() == pytest.approx([0.0, 0.0, 0.3, 1.0, 1.0])
    out.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    act.set_quantization(weights=True, activations=True, lstm_gates=True)
    assert act(torch.tensor([0.3])).tolist() == pytest.approx([1 / 3])


def test_32_bits_is_identity_and_bad_bits_raise() -> None:
    x = torch.tensor([-3.0, 0.25, 7.0])
    assert ActQuant(32)(x) is x
    with pytest.raises(ValueError, match="act_bits=0"):
        ActQuant(0)


def _edge_inputs(dtype: torch.dtype) -> torch.Tensor:
    """Random values around [0, 1] plus the edges 0, -0, 1/2, 1 and their float neighbours."""
    x = torch.randn(4000, generator=torch.Generator().manual_seed(3), dtype=dtype) * 0.6 + 0.5
    one = torch.ones((), dtype=dtype)
    edges = [0.0, -0.0, 0.5, 1.0, float(torch.nextafter(one, 2 * one)),
             float(torch.nextafter(0 * one, -one)), float(torch.nextafter(0.5 * one, 0 * one))]
    return torch.cat([x, torch.tensor(edges, dtype=dtype)])


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ste_matches_plain_autograd_reference(bits: int, dtype: torch.dtype) -> None:
    """The float-mask STE equals the textbook form: value ``floor(clip(x,0,1) L + 1/2) / L``
    (1 bit: ``1{x >= 1/2}``), gradient autograd's own clamp gradient ``1{0 <= x <= 1}``
    (reference: ``r.detach() + (c - c.detach())`` with ``c = clamp(x, 0, 1)``, value r + 0 = r);
    the no-grad path (no mask) gives the same values."""
    x = _edge_inputs(dtype)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=dtype)
    xa = x.clone().requires_grad_()
    out = quantize_act(xa, bits)
    (out * g).sum().backward()
    xr = x.clone().requires_grad_()
    c = xr.clamp(0.0, 1.0)
    steps = 2 ** bits - 1
    r = (xr >= 0.5).to(dtype) if bits == 1 else torch.floor(c.detach() * steps + 0.5) / steps
    ref = r.detach() + (c - c.detach())
    (ref * g).sum().backward()
    assert torch.equal(out, ref)
    assert xa.grad is not None and xr.grad is not None and torch.equal(xa.grad, xr.grad)
    assert torch.equal(quantize_act(x, bits), out.detach())
    with torch.no_grad():
        assert torch.equal(quantize_act(xa, bits), out.detach())


def test_float_proxy_gradient_matches_autograd_clamp() -> None:
    """Disabled activations run clip(x, 0, 1); gradient == autograd's clamp gradient."""
    x = _edge_inputs(torch.float32)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    act = ActQuant(2)
    act.set_quantization(weights=True, activations=False, lstm_gates=True)
    xa, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = act(xa), xr.clamp(0.0, 1.0)
    (out * g).sum().backward()
    (ref * g).sum().backward()
    assert torch.equal(out, ref)
    assert xa.grad is not None and xr.grad is not None and torch.equal(xa.grad, xr.grad)
