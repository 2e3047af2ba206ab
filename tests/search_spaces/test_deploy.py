"""Deployment: the trained torch model and the integer executor are one machine, bit for bit.

Networks: every reference configuration and ``CANDIDATES`` random candidates of every shipped
space. Each is trained once (float32; the ``two-stage`` schedule made deployable: a float
stage, then the deployed stage in code space; a few batches per stage, so the parameters are
trained, not initial, and the BN/BSN statistics are those of real batches; exactness does not
need accuracy) and then run through the torch model and :func:`hwmodel.golden.execute`: every
layer's output codes and the logits must be equal, zero mismatches.

Inputs:

* CPU-sized references and the random candidates: the whole test split of ``digits`` (364
  images) or of ``synthetic-gestures`` (240 clips). The ``billnet`` candidates are drawn for
  the dataset's ``frames=4, size=16`` configuration (``GESTURES_SMALL``) and the space's
  ``stem_stride=2``: the same layer kinds and choices as at the default 8 x 32 x 32 at a
  quarter of the work per clip (the default-sized ``billnet-gestures`` reference runs at
  full size).
* paper-sized references (CIFAR, STL-10 and Jester shapes; no dataset is on disk in CI):
  generated uint8 images of the dataset's real shape, scaled by 1/255 as its loader does
  (:class:`dse.data.U8Dataset`), with a per-class pattern so training sees structure; train
  and test inputs per reference in ``PAPER_INPUTS`` (fewer test inputs than the real test
  split: Jester-sized clips cost 12 GMAC each).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from functools import cache

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from dse.data import DatasetBundle, U8Dataset, get_dataset
from dse.train import Stage, deployable, get_schedule, split_tensors, train
from hwmodel.golden import execute, input_codes
from search_spaces.build import build_model
from search_spaces.deploy import integer_image, set_deployed, torch_codes
from search_spaces.spaces import SPACES, get_space, is_video_space
from search_spaces.spaces.references import REFERENCES, build_reference
from search_spaces.spec import ArchSpec, Conv, Linear, Pool

CANDIDATES = 10
CPU_REFS = sorted(n for n, r in REFERENCES.items() if r.cpu)
PAPER_REFS = sorted(n for n, r in REFERENCES.items() if not r.cpu)
#: synthetic-gestures configuration the billnet candidates are drawn for (see module doc)
GESTURES_SMALL = {"frames": 4, "size": 16}
#: paper-sized references: (train inputs = batch size, test inputs)
PAPER_INPUTS = {"billnet-jester": (2, 2), "heq-resnet-stl10": (4, 16)}
PAPER_DEFAULT_INPUTS = (8, 64)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _short_val(data: DatasetBundle, n: int = 16) -> DatasetBundle:
    """The bundle with its validation split cut to ``n`` samples: the trainer evaluates it
    every epoch and these tests read no validation metric."""
    x, y = split_tensors(data.val)
    val = TensorDataset(x[:n], y[:n])
    return DatasetBundle(data.name, data.train, val, data.test, data.input_shape,
                         data.num_classes, data.params)


@cache
def _data(video: bool, small: bool = False) -> DatasetBundle:
    if not video:
        return _short_val(get_dataset("digits"))
    params = GESTURES_SMALL if small else {}
    return _short_val(get_dataset("synthetic-gestures", **params))


def _generated(spec: ArchSpec, n_train: int, n_test: int, seed: int = 0) -> DatasetBundle:
    """uint8 inputs of the spec's shape: a per-class random pattern plus noise."""
    rng = np.random.default_rng(seed)
    shape = spec.input_shape
    classes = spec.num_classes
    pattern = rng.integers(0, 256, size=(classes, *shape)).astype(np.int64)

    def split(n: int) -> U8Dataset:
        y = rng.integers(0, classes, size=n)
        noise = rng.integers(-64, 65, size=(n, *shape))
        x = np.clip(pattern[y] // 2 + 64 + noise, 0, 255).astype(np.uint8)
        return U8Dataset(torch.from_numpy(x), torch.from_numpy(y))

    train_split = split(n_train)
    return DatasetBundle("generated", train_split, split(2), split(n_test), shape, classes)


def _mismatches(spec: ArchSpec, model: torch.nn.Module, x: torch.Tensor,
                chunk: int = 120) -> dict[str, int]:
    """Per layer path: how many output codes differ between torch and the executor (the
    inputs in chunks, so every layer's codes of a chunk are compared and dropped)."""
    image = integer_image(model)
    bad: Counter[str] = Counter()
    for lo in range(0, len(x), chunk):
        xb = x[lo:lo + chunk]
        t_logits, t_codes = torch_codes(model, xb)
        res = execute(spec, image, input_codes(spec, xb.numpy()), keep_codes=True)
        assert set(res.codes) == set(t_codes)
        for p in res.codes:
            bad[p] += int(np.count_nonzero(t_codes[p] != res.codes[p]))
        bad["logits"] += int(np.count_nonzero(t_logits != res.logits))
    return {p: n for p, n in bad.items() if n}


def _train_deployed(spec: ArchSpec, data: DatasetBundle, seed: int = 0, batches: int = 2,
                    batch_size: int = 64) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(spec)
    stages = deployable(get_schedule("two-stage", 2))
    result = train(model, data, stages, max_train_batches=batches, batch_size=batch_size,
                   progress=False, seed=seed)
    assert result.status == "complete", result.reason
    return model


@cache
def _trained_reference(name: str) -> tuple[ArchSpec, torch.nn.Module, DatasetBundle]:
    """One training per reference (shared by the tests that read it)."""
    spec = build_reference(name)
    if REFERENCES[name].cpu:
        data = _data(spec.is_video)
        model = _train_deployed(spec, data, batches=3, batch_size=32 if spec.is_video else 64)
    else:
        n_train, n_test = PAPER_INPUTS.get(name, PAPER_DEFAULT_INPUTS)
        data = _generated(spec, n_train, n_test)
        model = _train_deployed(spec, data, batches=1, batch_size=n_train)
    return spec, model, data


@pytest.mark.parametrize("name", CPU_REFS + PAPER_REFS)
def test_references_bit_exact_on_the_test_split(name: str) -> None:
    spec, model, data = _trained_reference(name)
    x, _ = split_tensors(data.test)
    assert _mismatches(spec, model, x) == {}
    logits, _ = torch_codes(model, x[:8])
    assert len(np.unique(logits, axis=0)) > 1, "constant logits: the comparison proves little"


def _space_specs(name: str, count: int, seed: int = 0) -> list[ArchSpec]:
    video = is_video_space(name)
    if video:
        shape = (1, GESTURES_SMALL["frames"], GESTURES_SMALL["size"], GESTURES_SMALL["size"])
        space = get_space(name, input_shape=shape, num_classes=8, stem_stride=2)
    else:
        space = get_space(name, input_shape=(1, 8, 8), num_classes=10)
    rng = random.Random(seed)
    out: list[ArchSpec] = []
    while len(out) < count:
        spec = space.from_choices(space.random_choices(rng))
        # these are trained as classifiers: a codec encoder needs at least as many code bits
        # as the dataset has classes (its other choices are drawn as usual)
        if spec.num_classes >= space.num_classes:
            out.append(spec)
    return out


@pytest.mark.parametrize("space", SPACES.names())
def test_random_space_candidates_bit_exact(space: str) -> None:
    video = is_video_space(space)
    data = _data(video, small=True)
    x, _ = split_tensors(data.test)
    for i, spec in enumerate(_space_specs(space, CANDIDATES)):
        model = _train_deployed(spec, data, seed=i, batch_size=32 if video else 64)
        assert _mismatches(spec, model, x) == {}, (space, i, spec.to_json())


# ------------------------------------------------------------------------------- exact ties
def _tie_spec(norm: str) -> ArchSpec:
    return ArchSpec((1, 4, 4), 2, (
        Conv(1, kernel=1, weight_quant="twn", weight_levels=3, act_bits=2, norm=norm),
        Pool("avg", 2),
        Pool("global_avg"),
        Linear(2, weight_quant="sign", weight_levels=2),
    ), input_bits=2)


# input codes (2 bits, L = 3) chosen so the requantizations meet exact ties
_X_CODES = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 2, 2], [3, 3, 0, 1]])


def _tie_model(norm: str) -> torch.nn.Module:
    spec = _tie_spec(norm)
    model = build_model(spec)
    set_deployed(model)
    with torch.no_grad():
        model.layers[0].conv.weight.fill_(0.5)  # twn -> code +1: acc = the input code
        model.layers[3].conv.weight.copy_(torch.tensor([[0.5], [-0.5]]))
        n = model.layers[0].norm
        if norm == "bsn":  # code = floor(acc 2^-1 + 1/2): acc 1 and 3 are exact ties
            n.deploy_init(torch.zeros(2, 1, 1, 1), 2)
            n.d_shift.fill_(1)
            n.d_frac.fill_(0)
            n.d_offset.fill_(0.0)
        else:  # BN z = acc / 4, code = floor(3 z + 1/2): acc 2 is the exact tie 1.5
            n.eps = 0.0
            n.running_mean.fill_(0.0)
            n.running_var.fill_(16.0)
            n.weight.fill_(1.0)
            n.bias.fill_(0.0)
    model.eval()
    return model


#: the conv's output codes for input codes 0, 1, 2, 3 (ties rounded up)
_CODE_OF = {"bsn": [0, 1, 1, 2], "bn": [0, 1, 2, 2]}


@pytest.mark.parametrize("norm", ["bsn", "bn"])
def test_exact_ties_round_up_in_both_machines(norm: str) -> None:
    spec = _tie_spec(norm)
    model = _tie_model(norm)
    x = torch.tensor(_X_CODES / 3.0, dtype=torch.float32).view(1, 1, 4, 4)
    assert input_codes(spec, x.numpy())[0, 0].tolist() == _X_CODES.tolist()
    t_logits, codes = torch_codes(model, x)
    conv = [[_CODE_OF[norm][c] for c in row] for row in _X_CODES]
    assert codes["layers[0]"][0, 0].tolist() == conv
    # 2x2 average then round half up: window sums (4, 4, 6, 3) or (5, 5, 6, 5) over 4 codes;
    # 6 / 4 = 1.5 is a tie and goes up
    assert codes["layers[1]"][0, 0].tolist() == [[1, 1], [2, 1]]
    assert codes["layers[2]"].tolist() == [[1]]  # 5 / 4 = 1.25
    assert t_logits.tolist() == [[1, -1]]
    res = execute(spec, integer_image(model), input_codes(spec, x.numpy()), keep_codes=True)
    for path, value in codes.items():
        assert np.array_equal(res.codes[path], value), path


@pytest.mark.parametrize("count, in_bits, out_bits", [(2, 2, 2), (4, 2, 2), (3, 2, 2),
                                                      (4, 3, 1), (9, 1, 2)])
def test_pool_requantization_is_round_half_up_on_every_sum(count: int, in_bits: int,
                                                           out_bits: int) -> None:
    """Every window sum, ties included, against exact rational rounding."""
    from fractions import Fraction

    from hwmodel.golden import pool_requant
    from search_spaces.layers.deployed import pool_codes

    l_in, l_out = (1 << in_bits) - 1, (1 << out_bits) - 1
    sums = list(range(count * l_in + 1))
    want = [int(Fraction(s * l_out, count * l_in) + Fraction(1, 2)) for s in sums]
    assert pool_codes(torch.tensor(sums, dtype=torch.float32), count, in_bits,
                      out_bits).tolist() == want
    assert pool_requant(np.array(sums), count, in_bits, out_bits).tolist() == want


# ------------------------------------------------------------------------------- training
def test_deployable_marks_the_last_stage() -> None:
    stages = deployable(get_schedule("billnet", 4))
    assert [s.deployed for s in stages] == [False, False, False, True]
    assert Stage.from_dict({"name": "q", "epochs": 1, "deployed": True}).deployed
    with pytest.raises(ValueError, match="deployed='yes' must be a boolean"):
        Stage("q", 1, True, True, True, deployed="yes")  # type: ignore[arg-type]


def test_image_needs_a_deployed_model() -> None:
    model = build_model(build_reference("tiny-digits"))
    with pytest.raises(ValueError, match="not deployed"):
        integer_image(model)


def test_the_loss_sees_the_integer_logits_at_the_float_scale() -> None:
    """Deployed, the loss sees the integer logits times the last layer's current ``alpha``
    over (code factor * L_in): the float-scale model's logits, whose scale grows as the
    weights train; positive, so the classes are the integer logits' argmax."""
    _, model, data = _trained_reference("tiny-digits")
    x, _ = split_tensors(data.test)
    logits, _ = torch_codes(model, x[:32])
    last = model.layers[-1].conv
    with torch.no_grad():
        _, alpha = last.quantizer.eval().quantize(last.weight)
    model.eval()
    with torch.no_grad():
        out = model(x[:32]).double().numpy()
    model.train()
    l_in = (1 << model.spec.top_layers()[-1].in_bits) - 1
    assert float(model.logit_scale) == pytest.approx(1.0 / (last.quantizer.code_factor * l_in))
    assert np.allclose(out, logits * float(model.logit_scale) * float(alpha), rtol=1e-6,
                       atol=0.0)


def test_trial_metrics_are_the_chips() -> None:
    """The classification task's accuracies are the integer machine's, and the torch model
    disagrees with it on no prediction."""
    from dse.tasks.classification import chip_accuracy
    from dse.train import evaluate

    _, model, data = _trained_reference("tiny-digits")
    val, test, mismatches = chip_accuracy(model, data)
    assert mismatches == 0
    assert (val, test) == (evaluate(model, data.val)[1], evaluate(model, data.test)[1])
