"""The integer golden model: hand-computed integer semantics, layout and MAC counts."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hwmodel.cost import cost_report
from hwmodel.golden import (
    IntegerImage,
    NotDeployable,
    ParamArray,
    bsn_requant,
    conv_acc,
    execute,
    input_codes,
    layout,
    pool_requant,
    random_image,
    tgap_threshold,
    threshold_requant,
)
from hwmodel.ir import lower
from hwmodel.randspec import random_spec
from search_spaces.spaces import SPACES, get_space, is_video_space
from search_spaces.spaces.references import REFERENCES, build_reference
from search_spaces.spec import ArchSpec, Conv, Linear, Pool


def test_bsn_rounds_half_up_on_integers() -> None:
    # acc 2^-2 + O 2^-1 + 1/2: acc=5, O=1 -> 1.25 + 0.5 + 0.5 = 2.25 -> 2; acc=6 -> 2.5 -> ties up
    acc = np.array([[5, 6, -3, 40]]).reshape(1, 4)
    out = bsn_requant(acc.reshape(1, 4), 2, np.array([1, 1, 1, 1]), 1, 2)
    # values: 5/4+1/2=1.75->2; 6/4+1/2=2.0->2 (2.0+.5 floor 2); -3/4+1/2=-0.25->0; 10.5->3 clamp
    assert out.tolist() == [[2, 2, 0, 3]]
    tie = bsn_requant(np.array([[2, 6]]), 2, np.array([0, 0]), 0, 3)  # 0.5 -> 1, 1.5 -> 2
    assert tie.tolist() == [[1, 2]]


def test_thresholds_count_and_reverse() -> None:
    acc = np.array([[-5, 0, 3, 9]]).reshape(1, 4, 1)
    thr = np.array([[0, 3, 9]] * 4)
    direction = np.array([0, 0, 1, 1])
    out = threshold_requant(acc, thr, direction)[:, :, 0]
    # up: -5 -> 0, 0 -> 1; reversed (acc <= T): 3 -> 2 (3, 9), 9 -> 1 (9)
    assert out.tolist() == [[0, 1, 2, 1]]


def test_pool_requant_and_tgap_threshold() -> None:
    # average of 4 2-bit codes summing to 6: 6/4 = 1.5 -> 2 (tie up); to 1 bit: 6/12 = .5 -> 1
    assert pool_requant(np.array([6, 5]), 4, 2, 2).tolist() == [2, 1]
    assert pool_requant(np.array([6, 5]), 4, 2, 1).tolist() == [1, 0]
    # theta = 0.5 over 9 positions of 2-bit codes: sum >= ceil(0.5 * 9 * 3) = 14
    assert tgap_threshold(0.5, 9, 2) == 14
    assert tgap_threshold(0.25, 4, 1) == 1


def test_conv_acc_by_hand() -> None:
    x = np.arange(9).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 0], [0, -1]]]])
    y = conv_acc(x, w, (1, 1), (0, 0), 1)
    assert y[0, 0].tolist() == [[0 - 4, 1 - 5], [3 - 7, 4 - 8]]
    # groups=2: each output channel sees its own input channel
    x2 = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))]).reshape(1, 2, 2, 2).astype(np.int64)
    w2 = np.array([1, -1]).reshape(2, 1, 1, 1)
    assert conv_acc(x2, w2, (1, 1), (0, 0), 2)[0, :, 0, 0].tolist() == [1, -2]


def _tiny_spec() -> ArchSpec:
    return ArchSpec((1, 4, 4), 3, (
        Conv(2, kernel=3, weight_quant="twn", weight_levels=3, act_bits=2, norm="bsn"),
        Pool("global_avg"),
        Linear(3, weight_quant="sign", weight_levels=2),
    ), input_bits=2)


def test_execute_by_hand() -> None:
    spec = _tiny_spec()
    lay = layout(spec)
    assert set(lay) == {"layers[0]", "layers[2]"}
    w0 = np.zeros((2, 1, 3, 3), dtype=np.int64)
    w0[0, 0, 1, 1] = 1  # channel 0: the pixel itself
    w0[1, 0, :, :] = -1  # channel 1: minus the 3x3 sum
    arrays = {
        "layers[0]": {
            "weight": ParamArray("weight", w0, 2, True, "twos", "weights"),
            "bsn_shift": ParamArray("bsn_shift", np.array([0]), 4, False, "unsigned", "norm"),
            "bsn_offset": ParamArray("bsn_offset", np.array([0, 8 * 16]) .clip(-128, 127),
                                     8, True, "twos", "norm", 4),
        },
        "layers[2]": {"weight": ParamArray("weight", np.array([[1, 1], [1, -1], [-1, 1]]), 1,
                                           True, "odd", "weights")},
    }
    image = IntegerImage(spec, arrays)
    image.validate()
    x = np.full((1, 1, 4, 4), 2, dtype=np.int64)  # 2-bit codes
    res = execute(spec, image, x, keep_codes=True)
    # ch0: acc = 2 -> code 2; ch1: acc = -(sum of 3x3 window of 2s) + offset 127/16 = 7.94
    # corner: -8 + 7.9375 = -0.06 -> 0; edge -12 -> 0; centre -18 -> 0
    assert res.codes["layers[0]"][0, 0].tolist() == [[2] * 4] * 4
    assert res.codes["layers[0]"][0, 1].max() == 0
    # global average: ch0 = 2 (32/16), ch1 = 0; logits = [2, 2, -2]
    assert res.codes["layers[1]"].tolist() == [[2, 0]]
    assert res.logits.tolist() == [[2, 2, -2]]
    assert res.predict().tolist() == [0]  # first maximum on ties
    assert res.macs == {"layers[0]": 16 * 2 * 9, "layers[2]": 6}
    assert image.bits() == 2 * 9 * 2 + 4 + 2 * 8 + 6


def test_input_codes_round_half_up() -> None:
    spec = _tiny_spec()  # 2-bit input: L = 3
    x = np.array([0.0, 1 / 6, 0.5, 1.0, 1.5, -1.0] + [0.0] * 10, dtype=np.float32)
    codes = input_codes(spec, x.reshape(1, 1, 4, 4)).reshape(-1)[:6]
    assert codes.tolist() == [0, 1, 2, 3, 3, 0]  # 1/6*3 = .5 -> 1; 1.5 -> 2


def test_validate_names_the_array() -> None:
    spec = _tiny_spec()
    image = random_image(spec, np.random.default_rng(0))
    bad = dict(image.layers)
    arr = bad["layers[2]"]["weight"]
    bad["layers[2]"] = {"weight": ParamArray("weight", arr.values * 0, 1, True, "odd",
                                             "weights")}
    with pytest.raises(ValueError, match=r"layers\[2\]\.weight.*odd"):
        IntegerImage(spec, bad).validate()


def test_float_weights_are_not_deployable() -> None:
    spec = ArchSpec((1, 4, 4), 2, (Pool("global_avg"), Linear(2, weight_quant="float",
                                                              weight_levels=0)))
    with pytest.raises(NotDeployable, match="float"):
        layout(spec)


@pytest.mark.parametrize("seed", range(12))
def test_macs_equal_ir_on_random_specs(seed: int) -> None:
    spec = random_spec(random.Random(seed), n_layers=8, video=seed % 3 == 0)
    image = random_image(spec, np.random.default_rng(seed))
    x = np.random.default_rng(seed).random((2, *spec.input_shape))
    res = execute(spec, image, input_codes(spec, x), keep_codes=True)
    assert res.macs == {op.path: op.macs for op in lower(spec) if op.is_matrix}
    assert set(res.codes) == {"input", *(i.path for i in spec.iter_layers())}


def _cost_bits(spec: ArchSpec) -> dict[str, int]:
    """Stored-parameter bits per layer path as the cost model charges them (weights, CA seed
    and rule, normalization/thresholds), the norm op's bits under its layer's path."""
    out: dict[str, int] = {}
    for lc in cost_report(spec).layers:
        path = lc.path.removesuffix(".norm")
        bits = lc.weight_memory_bits + lc.norm_memory_bits
        if bits:
            out[path] = out.get(path, 0) + bits
    return out


def _check_image_is_cost_model(spec: ArchSpec, *, run: bool, seed: int = 0) -> None:
    image = random_image(spec, np.random.default_rng(seed))
    assert {p: image.layer_bits(p) for p in image.layers} == _cost_bits(spec)
    totals = cost_report(spec).totals
    assert image.bits() == totals["weight_memory_bits"] + totals["norm_memory_bits"]
    if run:
        x = np.random.default_rng(seed).random((1, *spec.input_shape))
        res = execute(spec, image, input_codes(spec, x))
        assert res.macs == {op.path: op.macs for op in lower(spec) if op.is_matrix}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_image_bits_equal_cost_model(name: str) -> None:
    _check_image_is_cost_model(build_reference(name), run=REFERENCES[name].cpu)


@pytest.mark.parametrize("space", SPACES.names())
def test_space_image_bits_and_macs_equal_cost_model(space: str) -> None:
    """100 random specs per shipped space (on the embedded datasets' shapes): image bits per
    layer equal the cost model's; the executor's MACs equal the IR's on the first 20 (5 of
    the video space, whose clips are large for a CI run)."""
    video = is_video_space(space)
    sp = get_space(space, input_shape=(1, 8, 32, 32) if video else (1, 8, 8),
                   num_classes=8 if video else 10)
    rng = random.Random(1)
    for i in range(100):
        _check_image_is_cost_model(sp.from_choices(sp.random_choices(rng)),
                                   run=i < (5 if video else 20), seed=i)


def test_randspec_image_bits_equal_cost_model() -> None:
    """100 random specs over every layer kind (hwmodel.randspec), 2-D and 3-D."""
    rng = random.Random(7)
    for i in range(100):
        _check_image_is_cost_model(random_spec(rng, n_layers=8, video=i % 4 == 0),
                                   run=i < 10, seed=i)
