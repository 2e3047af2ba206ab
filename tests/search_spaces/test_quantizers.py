"""Weight quantizers: registry, values on their levels, HEQ equalization, STE gradients apart."""

from __future__ import annotations

import math

import pytest
import torch

from search_spaces.layers.quantizers import (
    HEQQuantizer,
    LSQQuantizer,
    heq_code_values,
    heq_fit_step,
    heq_quantize,
    lsfit_scale,
    ste_sign,
    subsample,
)
from search_spaces.quantizers import QUANTIZERS, weight_bits_of

CASES = [("sign", 2), ("twn", 3), ("btq", 3), ("heq", 2), ("heq", 3), ("heq", 4), ("heq", 5),
         ("heq", 8), ("lsq", 2), ("lsq", 3), ("lsq", 5), ("lsq", 16)]


def _gauss(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- registry


def test_every_descriptor_has_its_torch_implementation() -> None:
    assert QUANTIZERS.names() == ["btq", "float", "heq", "lsq", "sign", "twn"]
    for name, info in QUANTIZERS.items():
        assert info.impl is not None and info.impl.name == name


def test_unknown_name_and_bad_levels_are_value_errors_listing_choices() -> None:
    with pytest.raises(ValueError, match=r"weight_quant='xnor' is not a registered weight "
                                         r"quantizer \(known: btq, float"):
        QUANTIZERS.get("xnor")
    with pytest.raises(ValueError, match="weight_levels=3 is not allowed for weight_quant='sign'"):
        QUANTIZERS.get("sign").build(3)


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(("name", "levels"), CASES)
def test_outputs_lie_exactly_on_levels_and_bits_reported(name: str, levels: int) -> None:
    quant = QUANTIZERS.get(name).build(levels)
    w = 0.3 * _gauss(4000, seed=levels)
    q, alpha = quant.quantize(w)
    codes = torch.tensor(quant.code_values())
    assert len(quant.code_values()) == levels
    assert torch.isin(q.detach(), codes).all()
    assert quant.bits == quant.precision == weight_bits_of(name, levels)
    assert float(alpha.detach()) > 0
    assert torch.allclose(quant(w), q * alpha)


def test_float_quantizer_is_identity_with_32_bits() -> None:
    quant = QUANTIZERS.get("float").build(0)
    w = _gauss(10)
    assert quant(w) is w and quant.bits == 32


def test_sign_values_and_xnor_scale() -> None:
    """q = sign(w), sign(0)=+1; alpha = mean|w| = (2+0.5+0+0.3+1.5)/5 = 0.86."""
    quant = QUANTIZERS.get("sign").build(2)
    w = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    q, alpha = quant.quantize(w)
    assert q.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    assert float(alpha) == pytest.approx(0.86)


def test_twn_threshold_and_scale() -> None:
    """mean|w| = 3.15/6 = 0.525, delta = 0.7*0.525 = 0.3675; alpha = mean of kept |w| = 0.725."""
    quant = QUANTIZERS.get("twn").build(3)
    w = torch.tensor([-1.0, -0.2, 0.05, 0.4, 0.9, -0.6])
    q, alpha = quant.quantize(w)
    assert q.tolist() == [-1.0, 0.0, 0.0, 1.0, 1.0, -1.0]
    assert float(alpha) == pytest.approx(0.725)


def test_btq_balances_the_three_levels() -> None:
    quant = QUANTIZERS.get("btq").build(3)
    q = quant.codes(_gauss(30000, seed=5))
    for level in (-1.0, 0.0, 1.0):
        assert float((q == level).float().mean()) == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize(("n", "w", "expected"), [
    # s = 1, n = 3: round(clip(w, -1, 1))
    (3, [-2.0, -0.6, -0.4, 0.4, 0.6, 2.0], [-1.0, -1.0, 0.0, 0.0, 1.0, 1.0]),
    # s = 1, n = 5: round(clip(w, -2, 2)) / 2
    (5, [-3.0, -1.2, -0.7, -0.2, 0.3, 0.8, 1.6, 2.4], [-1, -0.5, -0.5, 0, 0, 0.5, 1, 1]),
    # s = 1, n = 4 (sign-style): (clamp(floor(w), -2, 1) + 1/2) * 2/3
    (4, [-3.0, -1.5, -0.2, 0.2, 0.9, 1.2, 5.0], [-1, -1, -1 / 3, 1 / 3, 1 / 3, 1, 1]),
    # n = 2: sign
    (2, [-0.1, 0.0, 0.2], [-1.0, 1.0, 1.0]),
])
def test_heq_formula_hand_computed(n: int, w: list[float], expected: list[float]) -> None:
    out = heq_quantize(torch.tensor(w), 1.0, n)
    assert torch.allclose(out, torch.tensor(expected, dtype=torch.float32))


def test_heq_code_values() -> None:
    assert heq_code_values(3) == (-1.0, 0.0, 1.0)
    assert heq_code_values(5) == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert heq_code_values(4) == pytest.approx((-1.0, -1 / 3, 1 / 3, 1.0))


def test_heq_least_squares_step_hand_computed() -> None:
    """w = -3..3: 1/3 and 2/3 quantiles are -1, 1; c = -1/2, 1/2 -> s = (1/2+1/2)/(1/2) = 2.

    w = -5..5: quantiles at 0.2..0.8 are -3, -1, 1, 3; c = -1.5..1.5 ->
    s = (4.5 + 0.5 + 0.5 + 4.5) / (2.25 + 0.25 + 0.25 + 2.25) = 2.
    """
    assert float(heq_fit_step(torch.arange(-3.0, 4.0), 3)) == pytest.approx(2.0)
    assert float(heq_fit_step(torch.arange(-5.0, 6.0), 5)) == pytest.approx(2.0)


def _level_fractions(n: int, w: torch.Tensor) -> list[float]:
    quant = HEQQuantizer(n)
    q = quant.codes(w)
    return [float((q == v).float().mean()) for v in heq_code_values(n)]


DISTS = {
    "gaussian": lambda g: torch.randn(20000, generator=g),
    "uniform": lambda g: torch.rand(20000, generator=g) * 2 - 1,
    "laplace": lambda g: torch.distributions.Laplace(0.0, 1.0).icdf(
        torch.rand(20000, generator=g).clamp(1e-6, 1 - 1e-6)),
}


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
@pytest.mark.parametrize("n", [3, 5])
def test_heq_each_level_holds_one_nth(dist: str, n: int) -> None:
    w = DISTS[dist](torch.Generator().manual_seed(n))
    for frac in _level_fractions(n, w):
        assert frac == pytest.approx(1 / n, abs=0.03)


def _entropy_bits(fracs: list[float]) -> float:
    return -sum(p * math.log2(p) for p in fracs if p > 0)


@pytest.mark.parametrize(("dist", "n", "ratio"), [
    ("laplace", 3, 0.98), ("laplace", 5, 0.98), ("gaussian", 8, 0.98), ("uniform", 8, 0.98),
    # one step size cannot follow a heavy tail over 8 levels: 0.9798 measured (2.939 of 3 bits)
    ("laplace", 8, 0.97),
])
def test_heq_level_entropy_near_maximum(dist: str, n: int, ratio: float) -> None:
    """Entropy of the level histogram >= ratio * log2(n) (log2 n = equalized)."""
    w = DISTS[dist](torch.Generator().manual_seed(11))
    assert _entropy_bits(_level_fractions(n, w)) >= ratio * math.log2(n)


def test_heq_momentum_refit_every_and_eval_freeze() -> None:
    w1 = _gauss(5000, 1)
    s1 = float(heq_fit_step(w1, 3))
    quant = HEQQuantizer(3, momentum=0.75, refit_every=2)
    quant.train()
    quant(w1)  # first call: s = s1
    assert float(quant.step_size) == pytest.approx(s1)
    quant(2 * w1)  # call 1: not a refit step
    assert float(quant.step_size) == pytest.approx(s1)
    quant(2 * w1)  # call 2: s = 0.75 s1 + 0.25 (2 s1) = 1.25 s1
    assert float(quant.step_size) == pytest.approx(1.25 * s1, rel=1e-5)
    quant.eval()
    quant(10 * w1)
    quant(10 * w1)
    assert float(quant.step_size) == pytest.approx(1.25 * s1, rel=1e-5)


def test_heq_default_refit_interval_is_8() -> None:
    """Default refit_every = 8: s is fitted on training calls 0, 8, 16 and held in between
    (calls 1..7 see the call-0 fit even though w changed); alpha follows w on every call."""
    quant = HEQQuantizer(3)
    assert quant.refit_every == 8
    quant.train()
    w = _gauss(3000, 4)
    quant(w)
    s0 = float(heq_fit_step(w, 3))
    for k in range(1, 8):
        out = quant((1 + k) * w)  # s* would scale by 1 + k; the held s does not
        assert float(quant.step_size) == s0
        # codes with the held s, alpha the least-squares fit to the current weights
        q = heq_quantize((1 + k) * w, s0, 3)
        assert torch.equal(out, q * lsfit_scale((1 + k) * w, q))
    quant(9 * w)  # call 8: refit
    assert float(quant.step_size) == float(heq_fit_step(9 * w, 3))
    assert int(quant.num_calls) == 9


def test_heq_refit_schedule_survives_a_state_dict_load() -> None:
    """A checkpoint loaded into a quantizer that was already called (a resumed run replays
    its stages on a fresh model first) continues the saved call count: the next refit is at
    call 16 of the saved run (7 calls after the load), not 8 calls after it."""
    w = _gauss(3000, 4)
    saved = HEQQuantizer(3).train()
    for k in range(9):
        saved((1 + k) * w)
    fresh = HEQQuantizer(3).train()
    fresh(100 * w)  # called before the load: fitted, its own count 1
    fresh.load_state_dict(saved.state_dict())
    assert float(fresh.step_size) == float(heq_fit_step(9 * w, 3))
    for k in range(9, 16):  # calls 9..15 hold the call-8 fit
        fresh((1 + k) * w)
        assert float(fresh.step_size) == float(heq_fit_step(9 * w, 3))
    fresh(17 * w)  # call 16: refit
    assert float(fresh.step_size) == float(heq_fit_step(17 * w, 3))
    assert int(fresh.num_calls) == 17


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("scaling", ["lsfit", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_heq_fused_forward_equals_the_quantize_path(n: int, scaling: str,
                                                   dtype: torch.dtype) -> None:
    """forward(w) (one HEQScaledSTE node) == heq_quantize(w, s, n) * lsfit_scale(w, q), and the
    same gradient, to the bit (torch.equal), including a subsampled step fit."""
    quant = HEQQuantizer(n, scaling=scaling, max_samples=500).to(dtype).train()
    w = (0.1 * _gauss(1200, n)).to(dtype).requires_grad_()
    out = quant(w)
    s = quant.step_size
    # the step size is exactly the least-squares fit (here of a strided 1/3 subsample)
    assert torch.equal(s, heq_fit_step(w, n, max_samples=500).to(dtype))
    g = torch.randn(1200, generator=torch.Generator().manual_seed(7), dtype=dtype)
    (out * g).sum().backward()
    w2 = w.detach().clone().requires_grad_()
    q = heq_quantize(w2, s, n)
    alpha = lsfit_scale(w2, q) if scaling == "lsfit" else torch.ones((), dtype=dtype)
    ref = q * alpha
    (ref * g).sum().backward()
    assert out.dtype == dtype
    assert torch.equal(out, ref)
    assert w.grad is not None and w2.grad is not None and torch.equal(w.grad, w2.grad)
    q1, a1 = quant.quantize(w)
    assert torch.equal(q1, q) and torch.equal(a1, alpha)


def test_quantile_subsample_is_strided_and_uses_no_rng() -> None:
    state = torch.get_rng_state()
    flat = torch.arange(100.0)
    assert subsample(flat, 30).tolist() == list(range(0, 100, 4))
    HEQQuantizer(5, max_samples=64)(_gauss(1000))
    QUANTIZERS.get("btq").build(3, max_samples=64)(_gauss(1000))
    assert torch.equal(state, torch.get_rng_state())


def test_scaling_none_gives_unit_scale() -> None:
    quant = QUANTIZERS.get("twn").build(3, scaling="none")
    w = _gauss(50)
    q, alpha = quant.quantize(w)
    assert float(alpha) == 1.0 and torch.equal(quant(w), q)


def test_lsq_values_and_init() -> None:
    """n = 5: Qn = Qp = 2; s0 = 2 mean|w| / sqrt(2); w_hat = s clip(round(w/s), -2, 2)."""
    quant = LSQQuantizer(5)
    w = _gauss(1000, 3)
    out = quant(w)
    s = 2 * w.abs().mean() / math.sqrt(2)
    assert float(quant.step_size.detach()) == pytest.approx(float(s), rel=1e-6)
    assert torch.allclose(out, s * torch.clamp(torch.round(w / s), -2, 2))
    assert LSQQuantizer(4).code_values() == (-2.0, -1.0, 0.0, 1.0)


# ----------------------------------------------------------------------------- gradients


def test_sign_ste_gradient() -> None:
    """d sign/dw = 1{|w| <= 1} (Larq ste_sign); the layer's w_hat = alpha q scales it by alpha."""
    w = torch.tensor([-2.0, -1.0, -0.3, 0.0, 0.7, 1.5], requires_grad=True)
    ste_sign(w).sum().backward()
    assert w.grad is not None
    assert w.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    w.grad = None
    quant = QUANTIZERS.get("sign").build(2)
    quant(w).sum().backward()
    alpha = w.detach().abs().mean()
    assert w.grad is not None
    assert torch.allclose(w.grad, alpha * torch.tensor([0.0, 1, 1, 1, 1, 0]))


@pytest.mark.parametrize("name", ["twn", "btq"])
def test_ternary_ste_gradient_is_clipped_identity(name: str) -> None:
    w = torch.tensor([-1.5, -0.4, 0.01, 0.5, 1.0, 3.0], requires_grad=True)
    quant = QUANTIZERS.get(name).build(3, scaling="none")
    (quant(w) * torch.arange(1.0, 7.0)).sum().backward()
    assert w.grad is not None
    assert w.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 0.0]


def test_heq_ste_gradient() -> None:
    """n = 5, s = 0.25: u = w/s = [-2.8, -2.5, 0.4, 2.4, 2.6]; inside |u| <= 2.5;
    dq/dw = (2/4)/0.25 = 2 inside, 0 outside."""
    w = torch.tensor([-0.7, -0.625, 0.1, 0.6, 0.65], requires_grad=True)
    heq_quantize(w, 0.25, 5).sum().backward()
    assert w.grad is not None
    assert w.grad.tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]


def test_lsq_gradients_match_the_paper() -> None:
    """n = 3 (Qn = Qp = 1), s = 1, w = [-2, -0.4, 0.3, 0.7, 1.5]:
    dw_hat/dw = [0, 1, 1, 1, 0]; dw_hat/ds = [-Qn, round(u)-u, ..., Qp] = [-1, 0.4, -0.3, 0.3, 1],
    summed 0.4, times g = 1/sqrt(5 * 1)."""
    quant = LSQQuantizer(3)
    with torch.no_grad():
        quant.step_size.fill_(1.0)
    w = torch.tensor([-2.0, -0.4, 0.3, 0.7, 1.5], requires_grad=True)
    out = quant(w)
    assert out.tolist() == [-1.0, 0.0, 0.0, 1.0, 1.0]
    out.sum().backward()
    assert w.grad is not None and quant.step_size.grad is not None
    assert w.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert float(quant.step_size.grad) == pytest.approx(0.4 / math.sqrt(5), rel=1e-5)
