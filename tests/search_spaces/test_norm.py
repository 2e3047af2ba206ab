"""Bit-shift normalization: BN mode, folding (hand-computed), integer form == float form."""

from __future__ import annotations

import pytest
import torch

from search_spaces.layers.norm import (
    BitShiftNorm,
    bsn_act_codes_float,
    bsn_act_codes_integer,
    fold_shift,
)


def _set(norm: BitShiftNorm, gamma: list[float], beta: list[float], mean: list[float],
         var: list[float]) -> None:
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(gamma))
        norm.bias.copy_(torch.tensor(beta))
        norm.running_mean.copy_(torch.tensor(mean))
        norm.running_var.copy_(torch.tensor(var))


def test_runs_as_batchnorm_before_folding() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 5, 5, generator=gen) * 2 + 1
    bsn, bn = BitShiftNorm(3), torch.nn.BatchNorm2d(3)
    _set(bsn, [1.5, 0.5, 2.0], [0.1, -0.2, 0.3], [0.0] * 3, [1.0] * 3)
    bn.load_state_dict({k: v for k, v in bsn.state_dict().items()
                        if k in bn.state_dict()}, strict=False)
    assert torch.allclose(bsn(x), bn(x), atol=1e-6)  # train mode: batch statistics
    assert bn.running_mean is not None
    assert torch.allclose(bsn.running_mean, bn.running_mean)
    bsn.eval()
    bn.eval()
    assert torch.allclose(bsn(x), bn(x), atol=1e-6)


def test_fold_hand_computed() -> None:
    """gamma = [1, 0.5], var = [4, 1] (eps 0): gamma/sigma = [0.5, 0.5] -> k = 1.
    o = beta 2^k - mu = [0.25*2 - 1, -0.5*2 - 0.3] = [-0.5, -1.3]; f = 2: O = round(o*4) =
    [-2, -5]. y = (x + O/4) / 2: x = (3, 2) -> ((3 - 0.5)/2, (2 - 1.25)/2) = (1.25, 0.375)."""
    norm = BitShiftNorm(2, offset_frac_bits=2, eps=0.0)
    _set(norm, [1.0, 0.5], [0.25, -0.5], [1.0, 0.3], [4.0, 1.0])
    norm.fold()
    assert norm.is_folded and int(norm.shift) == 1
    assert norm.offset_int.tolist() == [-2.0, -5.0]
    out = norm(torch.tensor([[3.0, 2.0]]))
    assert out.tolist() == [[1.25, 0.375]]


def test_fold_shift_is_log_domain_mean() -> None:
    """scales 2^-1 and 2^-3: mean log2 = -2 -> k = 2."""
    assert fold_shift(torch.tensor([1.0, 1.0]), torch.tensor([4.0, 64.0]), 0.0) == 2
    assert fold_shift(torch.tensor([8.0]), torch.tensor([1.0]), 0.0) == -3


def test_folding_is_exact_when_scales_are_one_power_of_two() -> None:
    """gamma/sigma = 1/4 for every channel: the folded output equals BN's up to the offset
    rounding, |error| <= 2^-f 2^-k / 2."""
    norm = BitShiftNorm(3, offset_frac_bits=4, eps=0.0)
    _set(norm, [0.5, 1.0, 2.0], [0.3, -0.7, 0.05], [0.2, -1.1, 2.5], [4.0, 16.0, 64.0])
    norm.eval()
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1)) * 5
    bn_out = norm(x)
    norm.fold()
    assert int(norm.shift) == 2
    assert (norm(x) - bn_out).abs().max() <= 2.0 ** -4 * 2.0 ** -2 / 2 + 1e-6


@pytest.mark.parametrize("act_bits", [1, 2, 3])
@pytest.mark.parametrize("frac_bits", [0, 2, 4])
@pytest.mark.parametrize("shift", [-1, 0, 1, 3, 5])
def test_integer_form_equals_float_form_on_integer_inputs(act_bits: int, frac_bits: int,
                                                          shift: int) -> None:
    gen = torch.Generator().manual_seed(act_bits * 100 + frac_bits * 10 + shift + 1)
    norm = BitShiftNorm(4, offset_frac_bits=frac_bits)
    norm.fold()
    with torch.no_grad():
        norm.shift.fill_(shift)
        norm.offset_int.copy_(torch.randint(-60 * 2 ** frac_bits, 60 * 2 ** frac_bits, (4,),
                                            generator=gen).float())
    x_int = torch.randint(-120, 121, (3, 4, 7, 7), generator=gen)
    codes_int = bsn_act_codes_integer(x_int, shift, norm.offset_int, frac_bits, act_bits)
    codes_float = bsn_act_codes_float(x_int.float(), norm, act_bits)
    assert torch.equal(codes_int, codes_float)
    # the comparison is not vacuous: more than one code appears
    assert codes_int.unique().numel() > 1


def test_integer_form_rejects_float_input() -> None:
    with pytest.raises(ValueError, match="integer tensor"):
        bsn_act_codes_integer(torch.zeros(1, 2), 1, torch.zeros(2), 0, 1)
