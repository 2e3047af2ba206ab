"""Binarized LSTM: float mode equals torch.nn.LSTM, binary gates by hand, STE gradients."""

from __future__ import annotations

import pytest
import torch

from search_spaces.layers.lstm import BinaryLSTM, binary_sigmoid, binary_tanh


def _set_weight(lstm: BinaryLSTM, w: torch.Tensor) -> None:
    with torch.no_grad():
        lstm.weight.copy_(w)


def test_float_mode_equals_torch_lstm() -> None:
    """Float weights and gates: the same recurrence as nn.LSTM (gate order i, f, g, o, no bias)
    on the flattened C*H*W frames."""
    torch.manual_seed(0)
    c, t, h, w, hidden = 2, 5, 3, 3, 7
    lstm = BinaryLSTM(c * h * w, hidden, binary_gates=False)
    lstm.set_quantization(weights=False, activations=False, lstm_gates=False)
    ref = torch.nn.LSTM(c * h * w, hidden, bias=False, batch_first=True)
    params = dict(ref.named_parameters())
    with torch.no_grad():
        params["weight_ih_l0"].copy_(lstm.weight[:, : c * h * w])
        params["weight_hh_l0"].copy_(lstm.weight[:, c * h * w:])
    x = torch.rand(4, c, t, h, w)
    seq = x.permute(0, 2, 1, 3, 4).reshape(4, t, -1)
    _, (h_ref, _) = ref(seq)
    assert torch.allclose(lstm(x), h_ref[0], atol=1e-6)


def test_binary_gates_by_hand() -> None:
    """features = hidden = 1, x_t = 1 for t = 0, 1; W rows (i, f, g, o) = [(1, .5), (1, 2),
    (-1, -3), (1, -3)] (columns x, h); float weights, binary gates.
    t=0, h=0: i=H(1)=1, f=1, g=sign(-1)=-1, o=1 -> c=-1, h=o*sign(c)=-1.
    t=1, h=-1: i=H(.5)=1, f=H(-1)=0, g=sign(2)=1, o=H(4)=1 -> c=0*(-1)+1*1=1, h=1."""
    lstm = BinaryLSTM(1, 1)
    lstm.set_quantization(weights=False, activations=True, lstm_gates=True)
    _set_weight(lstm, torch.tensor([[1.0, 0.5], [1.0, 2.0], [-1.0, -3.0], [1.0, -3.0]]))
    x = torch.ones(1, 1, 2, 1, 1)
    assert lstm(x).tolist() == [[1.0]]
    assert lstm(x[:, :, :1]).tolist() == [[-1.0]]


def test_binary_outputs_and_weights() -> None:
    torch.manual_seed(1)
    lstm = BinaryLSTM(12, 6)
    out = lstm(torch.rand(3, 3, 4, 2, 2))
    assert set(out.unique().tolist()) <= {-1.0, 0.0, 1.0}
    w = lstm.effective_weight().detach()
    assert torch.equal(w.abs(), torch.full_like(w, float(w.abs().max())))
    assert lstm.stored_weight_bits() == 4 * 6 * (12 + 6) * 1


def test_ste_gradients_are_the_replaced_derivatives() -> None:
    x = torch.linspace(-3, 3, 13, requires_grad=True)
    binary_sigmoid(x).sum().backward()
    assert x.grad is not None
    s = torch.sigmoid(x.detach())
    assert torch.allclose(x.grad, s * (1 - s))
    x.grad = None
    binary_tanh(x).sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, 1 - torch.tanh(x.detach()) ** 2)
    assert binary_tanh(torch.tensor([0.0, -0.1])).tolist() == [1.0, -1.0]
    assert binary_sigmoid(torch.tensor([0.0, -0.1])).tolist() == [1.0, 0.0]


def test_gradient_reaches_weights_and_input_through_time() -> None:
    torch.manual_seed(2)
    lstm = BinaryLSTM(4, 3)
    x = torch.rand(2, 1, 6, 2, 2, requires_grad=True)
    lstm(x).sum().backward()
    assert lstm.weight.grad is not None and lstm.weight.grad.abs().sum() > 0
    assert x.grad is not None and x.grad[:, :, 0].abs().sum() > 0  # the first frame too


def test_wrong_input_is_a_value_error() -> None:
    lstm = BinaryLSTM(4, 3)
    with pytest.raises(ValueError, match="expects"):
        lstm(torch.rand(2, 4, 3))
    with pytest.raises(ValueError, match="features=4"):
        lstm(torch.rand(2, 2, 3, 2, 2))
