"""build_model: every layer kind (2-D and 3-D), stored-bit count == spec, stages, determinism."""

from __future__ import annotations

import random

import pytest
import torch

from search_spaces.build import (
    build_model,
    count_bsn,
    example_input,
    fold_bsn,
    set_quantization,
)
from search_spaces.layers import ActQuant, BinaryLSTM, QuantWeightModule, act_code_values
from search_spaces.layers.norm import BitShiftNorm
from search_spaces.quantizers import QUANTIZERS
from search_spaces.spec import (
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    Factorized,
    Layer,
    Linear,
    Pool,
    Residual,
    Shape,
    SpecError,
)

STAGES = [  # BILLNET order: float -> weights -> activations -> LSTM gates
    {"weights": False, "activations": False, "lstm_gates": False},
    {"weights": True, "activations": False, "lstm_gates": False},
    {"weights": True, "activations": True, "lstm_gates": False},
    {"weights": True, "activations": True, "lstm_gates": True},
]


# ----------------------------------------------------------------------------- random specs


def _quant(rng: random.Random) -> tuple[str, int]:
    name = rng.choice(QUANTIZERS.names())
    allowed = QUANTIZERS.get(name).levels
    levels = rng.choice([v for v in allowed if v <= 9] or list(allowed))
    return name, levels


def _conv(rng: random.Random, cin: int, bits_choices: list[int], keep_channels: bool,
          dims: int) -> Conv:
    wq, wl = _quant(rng)
    cout = cin if keep_channels else rng.choice([4, 6, 8])
    act = rng.choice(bits_choices)
    norm = rng.choice(["none", "bn", "bsn"])
    if rng.random() < 0.25:  # CA-generated pointwise
        bpw = rng.choice([1, 2])
        ca = CAGen(cells=cin * bpw + rng.randint(0, 6), seed=rng.randint(1, 200),
                   rule=rng.choice(["90/150", "30", "110"]), hybrid_mask=rng.randint(0, 15),
                   bits_per_weight=bpw)
        return Conv(cout, kernel=1, weight_quant=wq, weight_levels=wl, act_bits=act, norm=norm,
                    ca=ca)
    kernels: list[int | tuple[int, ...]] = [1, 3] if dims == 2 else [1, 3, (1, 3, 3)]
    kernel = rng.choice(kernels)
    groups = rng.choice([g for g in (1, 2) if cin % g == 0 and cout % g == 0])
    stride = 1 if keep_channels else rng.choice([1, 2])
    padding = None if keep_channels else rng.choice([None, 0, 1])
    return Conv(cout, kernel=kernel, stride=stride, padding=padding, groups=groups,
                weight_quant=wq, weight_levels=wl, act_bits=act, norm=norm)


def _factorized(rng: random.Random, cin: int, bits_choices: list[int], keep: bool) -> Factorized:
    wq, wl = _quant(rng)
    mid = rng.choice([4, 8])
    cout = cin if keep else rng.choice([4, 8])
    ca = None
    if rng.random() < 0.5:
        ca = CAGen(cells=mid * 2 + 3, seed=rng.randint(1, 500), bits_per_weight=rng.choice([1, 2]),
                   hybrid_mask=rng.randint(0, 31))
    return Factorized(cout, mid, kernel=3, stride=1, groups=rng.choice([1, 2, 4]),
                      weight_quant=wq, weight_levels=wl, act_bits=rng.choice(bits_choices),
                      norm=rng.choice(["none", "bn", "bsn"]), ca=ca)


def random_spec(seed: int) -> ArchSpec:
    """A valid random ArchSpec that mixes every layer kind (retries on the rare invalid draw)."""
    rng = random.Random(seed)
    for _ in range(50):
        try:
            return _draw(rng)
        except SpecError:
            continue
    raise AssertionError("no valid spec drawn")


def _draw(rng: random.Random) -> ArchSpec:
    video = rng.random() < 0.4
    cin = rng.choice([1, 3])
    input_shape: Shape = (cin, rng.choice([3, 4]), 8, 8) if video else (cin, 8, 8)
    shape = input_shape
    dims = len(shape) - 1
    bits = 8
    layers: list[Layer] = []

    def push(layer: Layer) -> None:
        nonlocal shape, bits
        shape, bits = layer.infer(shape, bits, f"layers[{len(layers)}]")
        layers.append(layer)

    push(_conv(rng, shape[0], [1, 2, 3], keep_channels=False, dims=dims))
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["conv", "factorized", "residual", "pool"])
        if kind == "conv":
            push(_conv(rng, shape[0], [1, 2, 3, 32], keep_channels=False, dims=dims))
        elif kind == "factorized":
            push(_factorized(rng, shape[0], [1, 2, 3], keep=False))
        elif kind == "pool" and min(shape[1:]) >= 2:
            k: int | tuple[int, ...] = 2 if not video else (1, 2, 2)
            push(Pool(rng.choice(["max", "avg"]), kernel=k,
                      act_bits=rng.choice([None, None, 2])))
        elif kind == "residual":
            if bits == 1:
                gate = rng.choice(["add", "or", "mux", "mux_or"])
            elif bits == 32:
                gate = rng.choice(["add", "mux"])
            else:
                gate = rng.choice(["add", "mux"])
            same = [bits] if gate in ("or", "mux_or", "mux") else [1, 2, 3]
            member: Layer = (_factorized(rng, shape[0], same, keep=True) if rng.random() < 0.4
                             else _conv(rng, shape[0], same, keep_channels=True, dims=dims))
            push(Residual((member,), gate=gate, shift=rng.randint(0, 2) if gate == "mux" else 0,
                          threshold=rng.choice([0.0, 0.25, 0.5])))
    if video and rng.random() < 0.6:
        wq, wl = _quant(rng)
        push(LSTM(rng.choice([4, 6]), weight_quant=wq, weight_levels=wl,
                  binary_gates=rng.random() < 0.8))
    elif rng.random() < 0.5:
        push(Pool("global_avg", act_bits=rng.choice([None, 8, 32])))
    num_classes = rng.choice([3, 5])
    wq, wl = _quant(rng)
    push(Linear(num_classes, weight_quant=wq, weight_levels=wl, norm=rng.choice(["none", "bn"])))
    return ArchSpec(input_shape, num_classes, tuple(layers))


# ----------------------------------------------------------------------------- explicit specs

def _img(*layers: Layer, shape: Shape = (2, 8, 8), classes: int = 4) -> ArchSpec:
    return ArchSpec(shape, classes, tuple(layers))


_HEAD: tuple[Layer, ...] = (Pool("global_avg", act_bits=8), Linear(4))
_CA = CAGen(cells=20, seed=77, rule="90/150", hybrid_mask=0b1011, bits_per_weight=2)

#: one spec per layer kind (and gate), in 2-D and 3-D; every one is forward+backward tested.
KIND_SPECS: dict[str, ArchSpec] = {}
for _dims, _shape in ((2, (2, 8, 8)), (3, (2, 4, 8, 8))):
    _k3: int | tuple[int, ...] = 3
    _pool_k: int | tuple[int, ...] = 2 if _dims == 2 else (1, 2, 2)
    _stem = Conv(8, kernel=3, act_bits=1, weight_quant="sign", weight_levels=2)
    KIND_SPECS.update({
        f"conv-pad-stride-groups-{_dims}d": _img(
            Conv(8, kernel=_k3, stride=2, padding=0, weight_quant="heq", weight_levels=5,
                 act_bits=2, norm="bn"),
            Conv(8, kernel=3, groups=4, weight_quant="twn", weight_levels=3, act_bits=3,
                 norm="bsn"),
            *_HEAD, shape=_shape),
        f"conv-ca-{_dims}d": _img(
            Conv(8, kernel=1, ca=_CA, act_bits=2, norm="bn"), *_HEAD, shape=_shape),
        f"factorized-ca-{_dims}d": _img(
            Factorized(8, 10, kernel=3, groups=2, ca=_CA, act_bits=3, norm="bsn"),
            *_HEAD, shape=_shape),
        f"factorized-lsq-{_dims}d": _img(
            Factorized(8, 8, kernel=3, stride=2, groups=4, weight_quant="lsq", weight_levels=5,
                       act_bits=2), *_HEAD, shape=_shape),
        f"pool-max-avg-{_dims}d": _img(
            Conv(4, act_bits=2, weight_quant="btq"), Pool("max", kernel=_pool_k),
            Pool("avg", kernel=_pool_k, act_bits=3), Linear(4, weight_quant="float",
                                                            weight_levels=0), shape=_shape),
        f"residual-or-{_dims}d": _img(
            _stem, Residual((Conv(8, act_bits=1, weight_quant="heq", weight_levels=3),),
                            gate="or"), *_HEAD, shape=_shape),
        f"residual-mux-{_dims}d": _img(
            Conv(8, act_bits=3), Residual((Conv(8, act_bits=3),), gate="mux", shift=1,
                                          threshold=0.25), *_HEAD, shape=_shape),
        f"residual-mux_or-{_dims}d": _img(
            _stem, Residual((Conv(8, act_bits=1),), gate="mux_or", threshold=0.5),
            *_HEAD, shape=_shape),
        f"residual-add-{_dims}d": _img(
            Conv(8, act_bits=2), Residual((Conv(8, act_bits=2), Conv(8, act_bits=2)),
                                          gate="add"), *_HEAD, shape=_shape),
        f"linear-bn-bsn-{_dims}d": _img(
            Conv(4, act_bits=1), Linear(6, act_bits=2, norm="bsn"),
            Linear(4, norm="bn", weight_quant="lsq", weight_levels=16), shape=_shape),
    })
KIND_SPECS["lstm-binary-3d"] = _img(
    Conv(4, kernel=3, act_bits=1, weight_quant="heq", weight_levels=3),
    Pool("max", kernel=(1, 2, 2)), LSTM(6), Linear(4), shape=(2, 5, 8, 8))
KIND_SPECS["lstm-float-gates-3d"] = _img(
    Conv(4, kernel=(3, 3, 3), act_bits=2, norm="bsn"),
    LSTM(5, weight_quant="heq", weight_levels=3, binary_gates=False), Linear(4),
    shape=(2, 3, 6, 6))


def _forward_backward(model: torch.nn.Module, spec: ArchSpec, batch: int = 3,
                      weights_quantized: bool = True) -> torch.Tensor:
    x = example_input(spec, batch, seed=1).requires_grad_(True)
    y = model(x)
    assert y.shape == (batch, spec.num_classes)
    assert torch.isfinite(y).all()
    (y * torch.linspace(-1.0, 1.0, spec.num_classes)).sum().backward()
    for name, p in model.named_parameters():
        if not weights_quantized and ".quantizer." in name:
            continue  # LSQ's step size is unused while weights run in float
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
    return y


@pytest.mark.parametrize("name", sorted(KIND_SPECS))
def test_every_layer_kind_forward_backward_in_every_stage(name: str) -> None:
    spec = KIND_SPECS[name]
    torch.manual_seed(0)
    model = build_model(spec)
    assert model.stored_weight_bits() == spec.weight_bits()
    for stage in STAGES:
        set_quantization(model, **stage)
        model.zero_grad()
        _forward_backward(model, spec, weights_quantized=stage["weights"])
    # the float stage must carry gradient all the way to the first layer's weights
    set_quantization(model, weights=False, activations=False, lstm_gates=False)
    model.zero_grad()
    _forward_backward(model, spec, weights_quantized=False)
    first = next(m for m in model.modules() if isinstance(m, QuantWeightModule))
    if not name.startswith("conv-ca") and not name.startswith("factorized-ca"):
        assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0
    set_quantization(model)
    assert fold_bsn(model) == count_bsn(model)
    model.eval()
    with torch.no_grad():
        y = model(example_input(spec, 2))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("seed", range(40))
def test_stored_weight_bits_equal_spec_on_random_specs(seed: int) -> None:
    spec = random_spec(seed)
    model = build_model(spec)
    assert model.stored_weight_bits() == spec.weight_bits()


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_random_specs_train_a_step_in_every_stage(seed: int) -> None:
    spec = random_spec(seed)
    torch.manual_seed(seed)
    model = build_model(spec)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for stage in STAGES:
        set_quantization(model, **stage)
        opt.zero_grad()
        _forward_backward(model, spec, weights_quantized=stage["weights"])
        opt.step()
    fold_bsn(model)
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(example_input(spec, 2))).all()


def test_random_specs_cover_every_layer_kind_and_both_dims() -> None:
    """The generator is only useful if it reaches everything."""
    seen: set[str] = set()
    for seed in range(40):
        spec = random_spec(seed)
        seen.add("3d" if spec.is_video else "2d")
        for info in spec.iter_layers():
            seen.add(info.layer.kind)
            if isinstance(info.layer, Residual):
                seen.add(f"gate-{info.layer.gate}")
            if getattr(info.layer, "ca", None) is not None:
                seen.add("ca")
    assert {"2d", "3d", "conv", "pool", "linear", "lstm", "residual", "ca", "gate-add",
            "gate-mux"} <= seen


def test_build_is_deterministic_under_manual_seed() -> None:
    spec = KIND_SPECS["factorized-lsq-3d"]
    x = example_input(spec, 2)
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(1234)
        model = build_model(spec)
        states.append(model.state_dict())
        outs.append(model(x).detach())
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(4321)
    other = build_model(spec).state_dict()
    assert not all(torch.equal(other[k], states[0][k]) for k in other)


def test_quantized_activations_lie_on_their_code_sets() -> None:
    """Every ActQuant output (bits < 32) is on {0, 1/L, ..., 1} once activations are on."""
    spec = KIND_SPECS["residual-mux-3d"]
    torch.manual_seed(3)
    model = build_model(spec)
    seen: list[tuple[int, torch.Tensor]] = []
    for m in model.modules():
        if isinstance(m, ActQuant) and m.bits < 32:
            m.register_forward_hook(lambda mod, inp, out: seen.append((mod.bits, out)))
    model(example_input(spec, 2))
    assert seen
    for bits, out in seen:
        codes = torch.tensor(act_code_values(bits))
        assert torch.isin(out.detach(), codes).all(), bits
    # the MUX output (skip >> 1 or body) stays 3-bit
    gate_out: list[torch.Tensor] = []
    model.layers[1].register_forward_hook(lambda mod, inp, out: gate_out.append(out))
    model(example_input(spec, 2))
    assert torch.isin(gate_out[0].detach(), torch.tensor(act_code_values(3))).all()


def test_set_quantization_switches_each_part() -> None:
    spec = KIND_SPECS["lstm-binary-3d"]
    model = build_model(spec)
    qmods = [m for m in model.modules() if isinstance(m, QuantWeightModule)]
    lstm = next(m for m in model.modules() if isinstance(m, BinaryLSTM))
    acts = [m for m in model.modules() if isinstance(m, ActQuant)]
    set_quantization(model, weights=False, activations=False, lstm_gates=False)
    assert not any(m.quantize_weights for m in qmods)
    assert not any(a.enabled for a in acts) and not lstm.gates_quantized
    assert all(torch.equal(m.effective_weight(), m.weight) for m in qmods)
    set_quantization(model, weights=True, activations=False, lstm_gates=False)
    w = lstm.effective_weight().detach()
    alpha = w.abs().max()
    assert torch.equal(w.abs(), torch.full_like(w, float(alpha)))  # sign: +-alpha
    assert not any(a.enabled for a in acts)
    set_quantization(model, weights=True, activations=True, lstm_gates=True)
    assert all(a.enabled for a in acts) and lstm.gates_quantized


def test_bsn_runs_as_bn_until_folded() -> None:
    spec = KIND_SPECS["linear-bn-bsn-2d"]
    model = build_model(spec)
    bsn = [m for m in model.modules() if isinstance(m, BitShiftNorm)]
    assert len(bsn) == 1 and not bsn[0].is_folded
    model.train()
    model(example_input(spec, 8))  # updates BN running stats
    assert fold_bsn(model) == 1 and bsn[0].is_folded


def test_wrong_input_shape_is_a_value_error() -> None:
    spec = KIND_SPECS["conv-ca-2d"]
    model = build_model(spec)
    with pytest.raises(ValueError, match="input shape"):
        model(torch.rand(2, 3, 8, 8))


def _plain_act(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Reference activation from autograd's own ops: value r, gradient clamp's 1{0<=x<=1}."""
    if bits >= 32:
        return x
    c = x.clamp(0.0, 1.0)
    steps = 2 ** bits - 1
    r = (x >= 0.5).to(x.dtype) if bits == 1 else torch.floor(c.detach() * steps + 0.5) / steps
    return r.detach() + (c - c.detach())


@pytest.mark.parametrize("name", ["heq-resnet-digits", "tiny-digits", "asic-encoder-digits"])
def test_fast_ste_nodes_equal_plain_autograd_on_whole_models(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused/float-mask STE nodes (HEQScaledSTE, UniformActSTE, OrSTE) change no value:
    two SGD steps of a reference network give the same logits and gradients (torch.equal) as
    the same network with HEQ as ``q * alpha`` from ``quantize``, activations and OR gates
    written with autograd's clamp."""
    import copy

    from search_spaces.layers import activations, quantizers, residual
    from search_spaces.spaces.references import build_reference

    spec = build_reference(name)
    torch.manual_seed(0)
    fast = build_model(spec)
    ref = copy.deepcopy(fast)
    x = example_input(spec, 16)
    target = torch.arange(16) % spec.num_classes

    def run(model: torch.nn.Module) -> list[torch.Tensor]:
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        seen = []
        for _ in range(2):
            opt.zero_grad()
            logits = model(x)
            torch.nn.functional.cross_entropy(logits, target).backward()
            seen += [logits.detach()] + [p.grad.clone() for p in model.parameters()
                                         if p.grad is not None]
            opt.step()
        return seen

    got = run(fast.train())
    monkeypatch.setattr(activations, "quantize_act", _plain_act)
    monkeypatch.setattr(residual, "or_gate", lambda a, b: torch.clamp(a + b, max=1.0))
    monkeypatch.setattr(quantizers.HEQQuantizer, "forward", quantizers.WeightQuantizer.forward)
    want = run(ref.train())
    assert len(got) == len(want) > 2
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)
