"""ArchSpec: shape inference, counts, validation messages, JSON round-trip, hash stability."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces.spec import (
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    Factorized,
    Linear,
    Pool,
    Residual,
    SpecError,
    load_spec,
    weight_bits_of,
)

ROOT = Path(__file__).resolve().parents[2]


def digits_cnn() -> ArchSpec:
    return ArchSpec((1, 8, 8), 10, (
        Conv(16, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1),
        Residual((Conv(16, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1),),
                 gate="or"),
        Pool("max", 2),
        Pool("global_avg"),
        Linear(10, weight_quant="heq", weight_levels=3),
    ))


# ----------------------------------------------------------------------------- shapes, counts
def test_shape_inference_2d_hand_checked() -> None:
    """8x8 input: 3x3 'same' conv keeps 8x8; stride-2 3x3 pad 1: (8+2-3)//2+1 = 4;
    5x5 no padding on 4x4+2*1: (4+2-5)//1+1 = 2; max pool 2: 1; global avg: flat."""
    spec = ArchSpec((3, 8, 8), 4, (
        Conv(8, kernel=3),
        Conv(8, kernel=3, stride=2),
        Conv(6, kernel=5, padding=1),
        Pool("max", 2),
        Pool("global_avg"),
        Linear(4),
    ))
    shapes = [i.out_shape for i in spec.top_layers()]
    assert shapes == [(8, 8, 8), (8, 4, 4), (6, 2, 2), (6, 1, 1), (6,), (4,)]


def test_shape_inference_3d_and_lstm() -> None:
    """(1,8,32,32) -> conv k=(3,3,3) s=(1,2,2): T stays 8, H,W (32+2-3)//2+1 = 16;
    avg pool (1,4,4): (8,4,4); LSTM over T with 4*4*4=64 features -> (hidden,)."""
    spec = ArchSpec((1, 8, 32, 32), 8, (
        Conv(4, kernel=3, stride=(1, 2, 2), weight_quant="sign", weight_levels=2),
        Pool("avg", kernel=(1, 4, 4)),
        LSTM(16),
        Linear(8, weight_quant="sign", weight_levels=2),
    ))
    shapes = [i.out_shape for i in spec.top_layers()]
    assert shapes == [(4, 8, 16, 16), (4, 8, 4, 4), (16,), (8,)]
    lstm = spec.top_layers()[2]
    assert lstm.layer.params(lstm.in_shape) == 4 * 16 * (64 + 16)


def test_params_and_weight_bits_hand_computed() -> None:
    """conv0: 16*1*9 = 144 ternary weights -> 288 bits; body conv: 16*16*9 = 2304 -> 4608;
    linear: 16*10 = 160 -> 320. Total 2608 params, 5216 bits."""
    spec = digits_cnn()
    assert spec.params() == 144 + 2304 + 160
    assert spec.weight_bits() == 2 * (144 + 2304 + 160)


def test_factorized_with_ca_counts_seed_not_matrix() -> None:
    """pw1 32->64: 2048 w; grouped 3x3, g=8: 64*8*9 = 4608 w; pw2 64->32 CA: 2048 w generated.
    Ternary (2 bits) stored: (2048 + 4608)*2 = 13312; CA stores 128-cell seed + 128-bit 90/150
    mask = 256 bits."""
    block = Factorized(32, 64, kernel=3, groups=8, ca=CAGen(cells=128, seed=77))
    spec = ArchSpec((32, 8, 8), 10, (block, Pool("global_avg"),
                                      Linear(10, weight_quant="float", weight_levels=0)))
    rows = {r["path"]: r for r in spec.layer_table()}
    assert rows["layers[0].pw1"]["params"] == 2048
    assert rows["layers[0].grouped"]["params"] == 4608
    assert rows["layers[0].pw2"]["params"] == 2048
    assert rows["layers[0].pw2"]["weight_bits"] == 256
    assert spec.weight_bits() == (2048 + 4608) * 2 + 256 + 320 * 32
    elementary = CAGen(cells=128, seed=77, rule="30")
    assert elementary.stored_bits == 128 + 8


def test_weight_bits_of() -> None:
    assert [weight_bits_of("heq", n) for n in (2, 3, 5, 8, 9)] == [1, 2, 3, 3, 4]
    assert weight_bits_of("float", 0) == 32


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("build", "message"), [
    (lambda: ArchSpec((32, 8, 8), 10, (Conv(16, groups=3), Pool("global_avg"), Linear(10))),
     "layers[0]: groups=3 must divide in_channels=32"),
    (lambda: ArchSpec((4, 8, 8), 10, (Conv(6, groups=4), Pool("global_avg"), Linear(10))),
     "layers[0]: groups=4 must divide out_channels=6"),
    (lambda: ArchSpec((1, 8, 8), 10, (Conv(4, weight_quant="twn", weight_levels=4),
                                       Pool("global_avg"), Linear(10))),
     "layers[0]: weight_levels=4 is not allowed for weight_quant='twn' (needs 3)"),
    (lambda: ArchSpec((1, 8, 8), 10, (Conv(4, weight_quant="ternary"),)),
     "layers[0]: weight_quant='ternary' must be one of"),
    (lambda: ArchSpec((1, 4, 4), 10, (Conv(4, kernel=7, padding=0),)),
     "layers[0]: kernel=(7, 7) is larger than the padded input (4+2*0) on axis 0"),
    (lambda: ArchSpec((1, 8, 8), 10, (Conv(4, act_bits=9),)),
     "layers[0]: act_bits=9 must be one of"),
    (lambda: ArchSpec((1, 8, 8), 10, (Conv(4, norm="ln"),)),
     "layers[0]: norm='ln' must be one of"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Conv(8),), gate="mux"),)),
     "layers[0]: body output shape=(8, 8, 8) must equal the block input shape (4, 8, 8) for a "
     "'mux' gate"),
    (lambda: ArchSpec((4, 8, 8), 10, (Conv(4, act_bits=2), Residual((Conv(4, act_bits=2),),
                                                                    gate="or"))),
     "layers[1]: act_bits=(2, 2) must be 1 on both skip and body for a 'or' gate"),
    (lambda: ArchSpec((4, 8, 8), 10, (Conv(4, act_bits=2), Residual((Conv(4, act_bits=3),),
                                                                    gate="mux"))),
     "layers[1]: act_bits=(2, 3) must be equal on skip and body for a 'mux' gate"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Conv(4),), gate="xor"),)),
     "layers[0]: gate='xor' must be one of"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Conv(4),), gate="or", shift=2),)),
     "layers[0]: shift=2 must be 0 unless gate='mux'"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Conv(4),), gate="mux", shift=9),)),
     "layers[0]: shift=9 must be an integer in 0..7"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Conv(4),), gate="mux", threshold=2.0),)),
     "layers[0]: threshold=2.0 must be a number in [0, 1]"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual((Linear(4),)),)),
     "layers[0].body[0]: kind='linear' must be conv, factorized or pool inside a residual body"),
    (lambda: ArchSpec((4, 8, 8), 10, (Residual(()),)),
     "layers[0]: body=0 must hold at least one layer"),
    (lambda: ArchSpec((8, 8, 8), 10, (Conv(8, kernel=3, ca=CAGen(cells=16)),)),
     "layers[0]: ca=(3, 3) needs a pointwise (kernel 1), ungrouped layer"),
    (lambda: ArchSpec((8, 8, 8), 10, (Conv(8, kernel=1, ca=CAGen(cells=4)),)),
     "layers[0]: ca.cells=4 must be >= in_channels*bits_per_weight=8"),
    (lambda: ArchSpec((8, 8, 8), 10, (Conv(8, kernel=1, ca=CAGen(cells=16, seed=0)),)),
     "layers[0]: ca.seed=0 must be a nonzero integer below 2**cells=65536"),
    (lambda: ArchSpec((8, 8, 8), 10, (Conv(8, kernel=1, ca=CAGen(cells=16, rule="300")),)),
     "layers[0]: ca.rule='300' must be '90/150' or an elementary rule number"),
    (lambda: ArchSpec((8, 8, 8), 10, (Conv(8, kernel=1, ca=CAGen(cells=16,
                                                                  bits_per_weight=3)),)),
     "layers[0]: ca.bits_per_weight=3 must be 1 or 2"),
    (lambda: ArchSpec((8, 8, 8), 10, (LSTM(8),)),
     "layers[0]: input shape=(8, 8, 8) must be (C,T,H,W) for an lstm layer"),
    (lambda: ArchSpec((8,), 10, (Linear(10),)),
     "spec: input_shape=(8,) must be (C,H,W) or (C,T,H,W)"),
    (lambda: ArchSpec((8, 4, 4), 10, (Pool("global_avg"), Linear(5))),
     "spec: output shape=(5,) must be (num_classes,)=(10,)"),
    (lambda: ArchSpec((8, 4, 4), 10, (Pool("max", kernel=5),)),
     "layers[0]: kernel=(5, 5) is larger than the input (4) on axis 0"),
    (lambda: ArchSpec((8, 4, 4), 10, (Pool("median"),)),
     "layers[0]: op='median' must be one of"),
    (lambda: ArchSpec((8, 4, 4), 10, (Conv(0),)),
     "layers[0]: out_channels=0 must be an integer >= 1"),
    (lambda: ArchSpec((8, 4, 4), 0, (Conv(4),)),
     "spec: num_classes=0 must be an integer >= 1"),
    (lambda: ArchSpec((8, 8, 8), 10, (Factorized(8, 12, groups=5),)),
     "layers[0].grouped: groups=5 must divide in_channels=12"),
])
def test_validation_messages(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        build()
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("{", "spec: malformed JSON at line 1"),
    ("[]", "spec: must be a JSON object"),
    ('{"input_shape": [1,8,8], "num_classes": 10}', "spec: field 'layers' is required"),
    ('{"input_shape": [1,8,8], "num_classes": 10, "layers": [], "colour": 1}',
     "spec: unknown field 'colour'"),
    ('{"input_shape": [1,8,8], "num_classes": 10, "layers": [{"kind": "attention"}]}',
     "layers[0]: kind='attention' must be one of"),
    ('{"input_shape": [1,8,8], "num_classes": 10, "layers": [{"kind": "conv"}]}',
     "layers[0]: "),
    ('{"input_shape": [1,8,8], "num_classes": 10, "layers": [{"kind": "conv", '
     '"out_channels": 4, "widht": 3}]}', "layers[0]: unknown field 'widht' for kind='conv'"),
    ('{"input_shape": [1,8,8], "num_classes": 10, "layers": [{"kind": "conv", '
     '"out_channels": 4, "kernel": 1, "ca": {"cells": 8, "speed": 3}}]}',
     "layers[0]: unknown field 'ca.speed'"),
    ('{"version": 7, "input_shape": [1,8,8], "num_classes": 10, "layers": []}',
     "spec: version=7 must be 1"),
])
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        ArchSpec.from_json(text)
    assert str(info.value).startswith(message), str(info.value)


def test_load_spec_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.json: no such file"):
        load_spec(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"input_shape": [1,8,8]}')
    with pytest.raises(SpecError, match=r"bad\.json: spec: field 'num_classes' is required"):
        load_spec(str(bad))


# ----------------------------------------------------------------------------- round-trip, hash
@st.composite
def specs(draw: st.DrawFn) -> ArchSpec:
    """Random valid specs: a stem conv, a few residual or plain blocks, pooling, a classifier."""
    video = draw(st.booleans())
    size = draw(st.sampled_from([8, 12, 16]))
    cin = draw(st.integers(1, 3))
    input_shape = (cin, 4, size, size) if video else (cin, size, size)
    width = draw(st.sampled_from([4, 8, 16]))
    wq, levels = draw(st.sampled_from([("sign", 2), ("twn", 3), ("btq", 3), ("heq", 2),
                                       ("heq", 3), ("heq", 5), ("lsq", 4), ("float", 0)]))
    act = draw(st.sampled_from([1, 2, 3, 32]))
    norm = draw(st.sampled_from(["bn", "bsn", "none"]))
    layers: list = [Conv(width, kernel=3, weight_quant=wq, weight_levels=levels, act_bits=act,
                         norm=norm)]
    for _ in range(draw(st.integers(0, 3))):
        choice = draw(st.sampled_from(["conv", "residual", "factorized"]))
        if choice == "conv":
            layers.append(Conv(width, kernel=draw(st.sampled_from([1, 3])), act_bits=act,
                               groups=draw(st.sampled_from([1, 2, 4])), norm=norm))
        elif choice == "factorized":
            ca = None
            if draw(st.booleans()):
                bits = draw(st.sampled_from([1, 2]))
                cells = draw(st.integers(2 * width * bits, 4 * width * bits))
                ca = CAGen(cells=cells, seed=draw(st.integers(1, (1 << cells) - 1)),
                           rule=draw(st.sampled_from(["90/150", "30", "150"])),
                           hybrid_mask=draw(st.integers(0, (1 << cells) - 1)),
                           bits_per_weight=bits)
            layers.append(Factorized(width, 2 * width, groups=draw(st.sampled_from([1, 2, 8])),
                                     act_bits=act, ca=ca, norm=norm))
        else:
            gates = ["add", "mux"] + (["or", "mux_or"] if act == 1 else [])
            gate = draw(st.sampled_from(gates))
            layers.append(Residual((Conv(width, act_bits=act),), gate=gate,
                                   shift=draw(st.integers(0, 3)) if gate == "mux" else 0,
                                   threshold=draw(st.floats(0, 1, allow_nan=False))))
    if video and draw(st.booleans()):
        layers.append(LSTM(draw(st.integers(4, 16))))
    else:
        layers.append(Pool("global_avg"))
    layers.append(Linear(draw(st.integers(2, 10)), weight_quant=wq, weight_levels=levels))
    num_classes = layers[-1].out_features
    return ArchSpec(input_shape, num_classes, tuple(layers), name=draw(st.text(max_size=8)))


@settings(max_examples=150, deadline=None)
@given(specs())
def test_json_round_trip_exact(spec: ArchSpec) -> None:
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec
    assert again.to_json() == spec.to_json()
    assert again.hash == spec.hash
    assert again.weight_bits() == spec.weight_bits()


@settings(max_examples=30, deadline=None)
@given(specs())
def test_hash_ignores_name_and_is_canonical(spec: ArchSpec) -> None:
    assert spec.with_name("other").hash == spec.hash
    shuffled = json.dumps(json.loads(spec.to_json()), sort_keys=False, indent=3)
    assert ArchSpec.from_json(shuffled).hash == spec.hash


def test_hash_stable_across_processes() -> None:
    spec = load_spec(str(ROOT / "examples" / "factorized_ca_mux.json"))
    code = ("from search_spaces.spec import load_spec; "
            f"print(load_spec({str(ROOT / 'examples' / 'factorized_ca_mux.json')!r}).hash)")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip()
            for seed in ("1", "2")}
    assert outs == {spec.hash}


def test_hash_changes_with_structure() -> None:
    a = digits_cnn()
    b = ArchSpec(a.input_shape, a.num_classes, a.layers, input_bits=4)
    c = ArchSpec(a.input_shape, a.num_classes, (Conv(16, kernel=3, weight_quant="heq",
                                                     weight_levels=5, act_bits=1),) + a.layers[1:])
    assert len({a.hash, b.hash, c.hash}) == 3


def test_torch_free_import() -> None:
    code = ("import sys; import search_spaces.spec, hwmodel, hwmodel.accel; "
            "import pkgutil, importlib, hwmodel as h\n"
            "for m in pkgutil.walk_packages(h.__path__, 'hwmodel.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_examples_are_valid() -> None:
    for path in sorted((ROOT / "examples").glob("*.json")):
        spec = load_spec(str(path))
        assert spec.weight_bits() > 0, path


def test_geometry_is_resolved_once_per_leaf() -> None:
    """Kernel, stride and padding per axis, composites with their resolved children."""
    spec = ArchSpec((3, 4, 16, 16), 5, (
        Conv(8, kernel=(1, 3, 3), stride=(1, 2, 2), act_bits=2),             # -> (8, 4, 8, 8)
        Factorized(8, 16, kernel=3, stride=2, groups=4, act_bits=2),          # -> (8, 2, 4, 4)
        Residual((Conv(8, kernel=3, padding=1, act_bits=2),), gate="add"),
        Pool("max", kernel=(1, 2, 2)),                                        # -> (8, 2, 2, 2)
        LSTM(6),
        Linear(5),
    ))
    conv, fact, res, pool = spec.top_layers()[:4]
    assert (conv.kernel, conv.stride, conv.padding) == ((1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert conv.out_shape == (8, 4, 8, 8) and conv.dims == 3
    assert [c.path for c in fact.children] == ["layers[1].pw1", "layers[1].grouped",
                                                "layers[1].pw2"]
    grouped = fact.children[1]
    assert (grouped.in_shape, grouped.out_shape) == ((16, 4, 8, 8), (16, 2, 4, 4))
    assert (grouped.kernel, grouped.stride, grouped.padding) == ((3, 3, 3), (2, 2, 2), (1, 1, 1))
    assert fact.out_shape == (8, 2, 4, 4) and fact.out_bits == 2
    assert [c.layer for c in res.children] == list(res.layer.body)
    assert (pool.kernel, pool.stride, pool.padding, pool.out_shape) == \
        ((1, 2, 2), (1, 2, 2), (0, 0, 0), (8, 2, 2, 2))
    leaves = [i.path for i in spec.iter_layers()]
    assert leaves == ["layers[0]", "layers[1].pw1", "layers[1].grouped", "layers[1].pw2",
                      "layers[2].body[0]", "layers[2]", "layers[3]", "layers[4]", "layers[5]"]
    # a global pool's window is its whole input
    g = ArchSpec((1, 6, 4), 2, (Conv(2), Pool("global_avg"), Linear(2))).top_layers()[1]
    assert (g.kernel, g.stride, g.out_shape) == ((6, 4), (6, 4), (2,))
