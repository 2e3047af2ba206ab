"""The simulator in its stall-free configuration = the analytical model's ideal cycles.

``hwmodel.accel.STALL_FREE`` has unlimited SRAM bandwidth and an unlimited CA generator, so
the simulator's cycles must equal :func:`hwmodel.cost.op_ideal_cycles` op by op (SCALE-Sim's
closed form per product plus the units' latencies), on random specs from every shipped search
space and from our own random generator, on several array shapes and all three dataflows.
"""

from __future__ import annotations

import random

import pytest

import hwmodel.cost as cost  # noqa: E402
from hwmodel.accel import STALL_FREE, AccelConfig
from hwmodel.ir import lower
from hwmodel.sim import simulate
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
    SpecError,
)

VARIANTS = [
    STALL_FREE,
    STALL_FREE.with_(rows=8, cols=32, dataflow="os"),
    STALL_FREE.with_(rows=32, cols=4, dataflow="is"),
    STALL_FREE.with_(rows=5, cols=7, dataflow="ws", bit_serial=True),
    STALL_FREE.with_(shift_latency_cycles=2, gate_latency_cycles=3, tgap_latency_cycles=5),
]


def _random_spec(rng: random.Random) -> ArchSpec:
    """A valid random spec: stem conv, then grouped convs, factorized blocks (CA or not),
    residual blocks with every gate, pools; or a video stem + binarized LSTM."""
    classes = rng.randint(2, 10)
    if rng.random() < 0.25:
        c = rng.randint(1, 3)
        layers: list[Layer] = [Conv(rng.choice([4, 8]), kernel=3, act_bits=1),
                               Pool("max", kernel=(1, 2, 2)),
                               LSTM(rng.randint(2, 12)), Linear(classes)]
        return ArchSpec((c, rng.randint(2, 4), 8, 8), classes, tuple(layers))
    ch = rng.choice([4, 8, 16])
    layers = [Conv(ch, kernel=3, act_bits=1, norm=rng.choice(["bn", "bsn"]))]
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["grouped", "factorized", "or", "mux", "add", "pool"])
        if kind == "grouped":
            layers.append(Conv(ch, kernel=3, groups=rng.choice([1, 2, ch]), act_bits=1,
                               stride=rng.choice([1, 2]), norm="bsn"))
        elif kind == "factorized":
            mid = rng.choice([4, 8])
            ca = CAGen(cells=64) if rng.random() < 0.5 else None
            layers.append(Factorized(ch, mid, groups=rng.choice([1, mid]), act_bits=1, ca=ca))
        elif kind == "pool":
            layers.append(Pool("max", kernel=2))
        else:
            body: tuple[Layer, ...] = (Conv(ch, kernel=3, act_bits=1, norm="bsn"),)
            gate = {"or": rng.choice(["or", "mux_or"]), "mux": "mux", "add": "add"}[kind]
            layers.append(Residual(body, gate=gate, shift=1 if gate == "mux" else 0))
    layers += [Pool("global_avg"), Linear(classes)]
    return ArchSpec((rng.randint(1, 3), 12, 12), classes, tuple(layers))


def random_specs(n: int, seed: int) -> list[ArchSpec]:
    rng = random.Random(seed)
    out: list[ArchSpec] = []
    while len(out) < n:
        try:
            out.append(_random_spec(rng))
        except SpecError:  # e.g. a pool on a map already too small: draw again
            continue
    return out


def assert_agrees(spec: ArchSpec, accel: AccelConfig) -> None:
    ops = lower(spec)
    report = simulate(spec, accel, ops=ops)
    for op, layer in zip(ops, report.layers, strict=True):
        assert layer.cycles == cost.op_ideal_cycles(op, accel), (op.path, accel)
        assert layer.counts.stall_cycles == 0
    assert report.cycles == sum(cost.op_ideal_cycles(op, accel) for op in ops)


@pytest.mark.parametrize("accel", VARIANTS, ids=lambda a: f"{a.rows}x{a.cols}-{a.dataflow}"
                         f"{'-serial' if a.bit_serial else ''}-lat{a.gate_latency_cycles}")
def test_stall_free_equals_ideal_on_random_specs(accel: AccelConfig) -> None:
    for spec in random_specs(25, seed=11):
        assert_agrees(spec, accel)


@pytest.mark.parametrize("example", ["digits_ternary_or", "factorized_ca_mux"])
def test_stall_free_equals_ideal_on_examples(example: str) -> None:
    from search_spaces.spec import load_spec

    spec = load_spec(f"examples/{example}.json")
    for accel in VARIANTS:
        assert_agrees(spec, accel)


def _spaces() -> list[str]:
    try:
        from search_spaces.spaces import SPACES
    except ImportError:  # pragma: no cover - the registry is another part's
        return []
    return SPACES.names()


def _space_specs(name: str, n: int, seed: int) -> list[ArchSpec]:
    """``n`` random members of space ``name`` on a CIFAR-sized input (a short clip for a video
    space)."""
    from search_spaces.spaces import get_space

    try:
        space = get_space(name, input_shape=(3, 32, 32), num_classes=10)
    except ValueError:  # a video space wants (C, T, H, W)
        space = get_space(name, input_shape=(3, 4, 32, 32), num_classes=10)
    rng = random.Random(seed)
    return [space.from_choices(space.random_choices(rng)) for _ in range(n)]


@pytest.mark.parametrize("name", _spaces())
def test_stall_free_equals_ideal_on_every_space(name: str) -> None:
    """Random members of each registered space."""
    for spec in _space_specs(name, 6, seed=5):
        for accel in VARIANTS:
            assert_agrees(spec, accel)


def test_every_space_is_covered() -> None:
    """The registry is importable and lists spaces, so the test above is not vacuous."""
    assert _spaces(), "search_spaces.spaces.SPACES is empty"


@pytest.mark.parametrize("name", ["mognet-c10", "billnet-gestures", "asic-encoder-1mb"])
def test_stall_free_equals_ideal_on_references(name: str) -> None:
    from search_spaces.spaces import get_reference

    for accel in VARIANTS:
        assert_agrees(get_reference(name), accel)
