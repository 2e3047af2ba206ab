"""The simulator's engines: hand-derived cycle counts, and the stepping engine = the fast one."""

from __future__ import annotations

import random

import pytest

from hwmodel.accel import STALL_FREE, AccelConfig
from hwmodel.sim import engine_fast, engine_step, simulate
from hwmodel.sim.mapping import Fold, Product, fold_order, fold_transitions
from search_spaces.spec import ArchSpec, Conv, Linear, Pool

ENGINES = {"fast": engine_fast.simulate_product, "step": engine_step.simulate_product}


def plain(rows: int, cols: int, dataflow: str = "ws", **kw: object) -> AccelConfig:
    return STALL_FREE.with_(rows=rows, cols=cols, dataflow=dataflow, **kw)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_fold_aligned_layer(engine: str) -> None:
    """Sr=8, Sc=8, T=16 on a 4x4 ws array: 2x2 = 4 full folds of 2R + C + T - 2 =
    8 + 4 + 16 - 2 = 26 cycles -> 104, reported as the last cycle's index 103. Every PE is
    busy for T cycles of each fold: utilization 8*8*16 / (16 * 103)."""
    c = ENGINES[engine](Product(8, 8, 16), plain(4, 4))
    assert c.cycles == 103
    assert c.folds == 4
    assert c.macs == 8 * 8 * 16
    assert c.stall_cycles == 0


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_non_aligned_layer(engine: str) -> None:
    """Sr=10, Sc=5, T=7 on 4x4: ceil(10/4)=3 row folds x ceil(5/4)=2 column folds = 6 folds
    (partial ones padded, as in SCALE-Sim). ws: 6 * (8 + 4 + 7 - 2) - 1 = 101;
    os: 6 * (4 + 4 + 7 - 2) - 1 = 77; is: same fold length as ws = 101."""
    p = Product(10, 5, 7)
    assert ENGINES[engine](p, plain(4, 4, "ws")).cycles == 101
    assert ENGINES[engine](p, plain(4, 4, "os")).cycles == 77
    assert ENGINES[engine](p, plain(4, 4, "is")).cycles == 101
    assert [f[:2] for f in fold_order(p, 4, 4)] == [(4, 4), (4, 4), (2, 4), (4, 1), (4, 1),
                                                    (2, 1)]


@pytest.mark.parametrize("engine", ["fast", "step"])
def test_grouped_layer_is_g_products(engine: str) -> None:
    """Input 8x6x6, 3x3 conv, 8 filters, groups=4, padding 1 -> 6x6 out: per group
    window = (8/4)*9 = 18, filters = 8/4 = 2, ofmap_px = 36. ws on 8x8: Sr=18, Sc=2, T=36 ->
    ceil(18/8)=3 folds of 2*8 + 8 + 36 - 2 = 58 -> 3*58 - 1 = 173 per group, x4 = 692.
    MACs 4*36*2*18 = 5184, utilization 5184 / (64 * 692) ~ 0.117; the same layer ungrouped
    (window 72, filters 8: 9 folds * 58 - 1 = 521 cycles, 20736 MACs) reaches ~0.62."""
    def spec(groups: int) -> ArchSpec:
        return ArchSpec((8, 6, 6), 10, (Conv(8, kernel=3, groups=groups, norm="none"),
                                        Pool("global_avg"), Linear(10)))
    accel = plain(8, 8)
    grouped = simulate(spec(4), accel, engine=engine).layers[0]
    assert grouped.counts.cycles == 692
    assert grouped.counts.macs == 5184
    assert grouped.products == 4
    assert grouped.utilization == pytest.approx(5184 / (64 * 692))
    dense = simulate(spec(1), accel, engine=engine).layers[0]
    assert dense.counts.cycles == 521
    assert dense.utilization == pytest.approx(20736 / (64 * 521))
    assert grouped.utilization < dense.utilization / 5


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_bandwidth_starved_activations(engine: str) -> None:
    """ws, 4x4, one fold Sr=Sc=4, T=10, 2-bit activations, act port 4 bits/cycle (2 banks,
    double-buffered: 1 bank holds the input). Load 4 cycles (weight bandwidth unlimited);
    stream needs 10*4*2 = 80 bits at 4/cycle = 20 cycles instead of 10 -> 10 act_bw stall
    cycles; drain 4 + 4 - 2 = 6. Total 4 + 20 + 6 - 1 = 29."""
    accel = plain(4, 4, act_sram_bits_per_cycle=4, act_sram_banks=2)
    c = ENGINES[engine](Product(4, 4, 10, w_bits=1, a_bits=2), accel)
    assert c.cycles == 29
    assert c.stalls() == {"weight_bw": 0, "act_bw": 10, "ca": 0}
    assert c.act_sram_read_bits == 80
    assert c.weight_sram_read_bits == 16


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_bandwidth_starved_weights_and_prefetch(engine: str) -> None:
    """ws, 4x4, Sr=4, Sc=8, T=10, 2-bit weights, weight port 2 bits/cycle: each fold's
    stationary tile is 4*4*2 = 32 bits = 16 cycles against a nominal load of 4.
    Double-buffered: fold 1 loads in 16 (12 stall), then streams 10 and drains 6, during which
    the next tile is prefetched (2 * 16 = 32 bits, all of it), so fold 2 loads in 4:
    (16 + 10 + 6) + (4 + 10 + 6) - 1 = 51. Single-buffered both folds load in 16:
    2 * 32 - 1 = 63 with 24 stall cycles."""
    p = Product(4, 8, 10, w_bits=2, a_bits=1)
    double = ENGINES[engine](p, plain(4, 4, weight_sram_bits_per_cycle=2, double_buffer=True))
    assert (double.cycles, double.stall_weight_bw) == (51, 12)
    single = ENGINES[engine](p, plain(4, 4, weight_sram_bits_per_cycle=2, double_buffer=False))
    assert (single.cycles, single.stall_weight_bw) == (63, 24)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_ca_starved_layer(engine: str) -> None:
    """A CA-generated pointwise layer, ws on a 4x16 array, 1 CA row (one filter) per cycle:
    Sr=4 (Cin), Sc=16 (filters), T=8 (pixels), one fold. Its load needs 16 rows = 16 cycles
    against 4 nominal -> 12 CA stall cycles; stream 8; drain 4 + 16 - 2 = 18.
    Total 16 + 8 + 18 - 1 = 41. With 4 rows per cycle: no stall, 4 + 8 + 18 - 1 = 29."""
    p = Product(4, 16, 8, ca=True)
    c = ENGINES[engine](p, plain(4, 16, ca_rows_per_cycle=1))
    assert (c.cycles, c.stall_ca, c.ca_rows, c.weight_sram_read_bits) == (41, 12, 16, 0)
    fast_ca = ENGINES[engine](p, plain(4, 16, ca_rows_per_cycle=4))
    assert (fast_ca.cycles, fast_ca.stall_ca) == (29, 0)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_bit_serial_passes(engine: str) -> None:
    """A bit-serial array runs one pass per activation bit: Sr=Sc=4, T=5, 3-bit activations
    on 4x4 ws: 3 passes of 4 + 5 + 6 - 1 = 14 -> 42 cycles; 80 MACs, each occupying its PE
    for 3 cycles."""
    c = ENGINES[engine](Product(4, 4, 5, a_bits=1, passes=3), plain(4, 4, bit_serial=True))
    assert c.cycles == 42
    assert (c.macs, c.busy_pe_cycles) == (80, 240)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_partial_sums_between_row_folds(engine: str) -> None:
    """ws, Sr=10 on 4 rows = 3 row folds, Sc=2, T=3, 1-bit outputs, 6-bit partial sums:
    writes 2 folds x 3*2*6 (partial) + 3*2*1 (final) = 78 bits; reads back 2 x 36 = 72 bits
    besides the 3*10*1 = 30 activation bits streamed."""
    c = ENGINES[engine](Product(10, 2, 3, out_bits=1, acc_bits=6), plain(4, 4))
    assert c.act_sram_write_bits == 78
    assert c.act_sram_read_bits == 30 + 72


def test_fold_transitions_match_the_order() -> None:
    """The closed-form pair counts equal those of the explicit fold sequence."""
    rng = random.Random(7)
    for _ in range(200):
        p = Product(rng.randint(1, 30), rng.randint(1, 30), 1)
        rows, cols = rng.randint(1, 9), rng.randint(1, 9)
        seq = fold_order(p, rows, cols)
        expect: dict[tuple[Fold | None, Fold], int] = {}
        for prev, cur in zip([None, *seq[:-1]], seq, strict=True):
            expect[(prev, cur)] = expect.get((prev, cur), 0) + 1
        assert fold_transitions(p, rows, cols) == expect


def _random_case(rng: random.Random) -> tuple[Product, AccelConfig]:
    p = Product(rng.randint(1, 20), rng.randint(1, 20), rng.randint(1, 12),
                w_bits=rng.choice([1, 2, 3]), a_bits=rng.choice([1, 2, 4]),
                out_bits=rng.choice([1, 2, 8]), ca=rng.random() < 0.3, count=rng.randint(1, 2),
                acc_bits=rng.choice([1, 5, 12]), passes=rng.choice([1, 1, 2]))
    accel = AccelConfig(
        rows=rng.randint(1, 8), cols=rng.randint(1, 8), dataflow=rng.choice(["ws", "os", "is"]),
        bit_serial=rng.random() < 0.3, weight_sram_bits_per_cycle=rng.choice([0, 1, 3, 8, 16]),
        act_sram_bits_per_cycle=rng.choice([0, 1, 2, 5, 16]), act_sram_banks=rng.randint(1, 4),
        double_buffer=rng.random() < 0.5, ca_rows_per_cycle=rng.randint(0, 3))
    return p, accel


def test_stepping_engine_equals_fast_engine_on_random_cases() -> None:
    """400 seeded small random products and configs (stalls of every cause, prefetch on and
    off, partial folds, bit-serial): every counter agrees exactly."""
    rng = random.Random(20261126)
    stalled = 0
    for _ in range(400):
        p, accel = _random_case(rng)
        fast = engine_fast.simulate_product(p, accel)
        step = engine_step.simulate_product(p, accel)
        assert fast == step, (p, accel)
        stalled += fast.stall_cycles > 0
    assert stalled > 100  # the set exercises the stall paths


@pytest.mark.parametrize("example", ["digits_ternary_or", "factorized_ca_mux"])
def test_engines_agree_on_example_specs(example: str) -> None:
    from search_spaces.spec import load_spec

    spec = load_spec(f"examples/{example}.json")
    for accel in (STALL_FREE, AccelConfig(rows=4, cols=16, weight_sram_bits_per_cycle=32,
                                          act_sram_bits_per_cycle=16, dataflow="os")):
        fast, step = simulate(spec, accel), simulate(spec, accel, engine="step")
        assert fast.totals() == step.totals()
        assert fast.rows() == step.rows()


def test_ideal_closed_form() -> None:
    """``ideal_product_cycles`` is the closed form of docs/design.md, "Cycle-level simulator".

    The stall-free engine meets it.
    """
    rng = random.Random(3)
    for _ in range(100):
        p = Product(rng.randint(1, 40), rng.randint(1, 40), rng.randint(1, 40),
                    count=rng.randint(1, 3), passes=rng.randint(1, 2))
        accel = plain(rng.randint(1, 9), rng.randint(1, 9), rng.choice(["ws", "os", "is"]))
        r, c = accel.rows, accel.cols
        per_fold = (2 * r + c + p.t - 2) if accel.dataflow != "os" else (r + c + p.t - 2)
        expect = p.count * p.passes * (-(-p.sr // r) * -(-p.sc // c) * per_fold - 1)
        assert engine_fast.ideal_product_cycles(p, accel) == expect
        assert engine_fast.simulate_product(p, accel).cycles == expect
