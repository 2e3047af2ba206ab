"""The analytical model against the torch model: stored weight bits and MAC counts.

Specs: every registered search space (a few random draws each) plus hwmodel.randspec, which
covers every layer kind (2-D/3-D, grouped, CA, all gates, BN/BSN, LSTM). MACs are counted with
forward hooks on the torch modules that do the products (QConv, QLinear, CAPointwise,
BinaryLSTM); weight bits with ``build_model(spec).stored_weight_bits()``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from hwmodel.cost import cost_report
from hwmodel.randspec import random_spec
from search_spaces.spec import ArchSpec

torch = pytest.importorskip("torch")


def _specs() -> list[tuple[str, ArchSpec]]:
    out: list[tuple[str, ArchSpec]] = []
    rng = random.Random(7)
    for i in range(6):
        out.append((f"randspec-{i}", random_spec(rng, n_layers=6, video=i % 3 == 2)))
    try:
        from search_spaces.spaces import get_reference, list_references
    except ImportError:  # pragma: no cover - the spaces registry is optional
        return out
    for name in list_references():
        ref = get_reference(name)
        if ref.params() < 300_000:
            out.append((f"ref-{name}", ref))
    return out


def _hook_macs(spec: ArchSpec) -> int:
    from search_spaces.build import build_model, example_input
    from search_spaces.layers.conv import CAPointwise, QConv, QLinear
    from search_spaces.layers.lstm import BinaryLSTM

    model = build_model(spec).eval()
    total = 0

    def hook(mod: Any, inputs: tuple[Any, ...], out: Any) -> None:
        nonlocal total
        n = out.shape[0]
        if isinstance(mod, QConv):
            total += out.numel() // n * mod.weight[0].numel()
        elif isinstance(mod, QLinear):
            total += out.numel() // n * mod.weight.shape[1]
        elif isinstance(mod, CAPointwise):
            total += out.numel() // n * mod.in_channels
        elif isinstance(mod, BinaryLSTM):
            steps = inputs[0].shape[2]
            total += steps * 4 * mod.hidden * (mod.features + mod.hidden)

    for m in model.modules():
        if isinstance(m, QConv | QLinear | CAPointwise | BinaryLSTM):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(example_input(spec, batch=1))
    return total


SPECS = _specs()


@pytest.mark.parametrize("name, spec", SPECS, ids=[n for n, _ in SPECS])
def test_weight_bits_and_macs_match_torch(name: str, spec: ArchSpec) -> None:
    from search_spaces.build import build_model

    rep = cost_report(spec)
    assert rep.totals["weight_memory_bits"] == build_model(spec).stored_weight_bits()
    assert rep.totals["macs"] == _hook_macs(spec)


def test_every_space_samples_cost_like_torch() -> None:
    try:
        from search_spaces.spaces import SPACES, get_space
    except ImportError:  # pragma: no cover
        pytest.skip("no spaces registry")
    from search_spaces.build import build_model

    rng = random.Random(3)
    checked = 0
    for name in SPACES.names():
        try:
            space = get_space(name, input_shape=(1, 8, 8), num_classes=4)
        except (ValueError, TypeError):
            space = get_space(name, input_shape=(1, 4, 8, 8), num_classes=4)
        for _ in range(2):
            spec = space.from_choices(space.random_choices(rng))
            if spec.params() > 300_000:
                continue
            rep = cost_report(spec)
            assert rep.totals["weight_memory_bits"] == build_model(spec).stored_weight_bits()
            assert rep.totals["macs"] == _hook_macs(spec)
            checked += 1
    assert checked > 0
