"""Deployment: the trained torch model and the integer executor are one machine, bit for bit.

Every CPU reference and random candidates of every shipped space are trained (float32, a float
stage then the deployed stage, a few batches per epoch to keep CI small) and run through both
the torch model and :func:`hwmodel.golden.execute` on the whole test split: every layer's
output codes and the logits must be equal, with zero mismatches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pytest
import torch

from dse.data import DatasetBundle, get_dataset
from dse.train import Stage, deployable, get_schedule, train
from hwmodel.golden import execute, input_codes
from search_spaces.build import build_model
from search_spaces.deploy import integer_image, set_deployed, torch_codes
from search_spaces.spaces import SPACES, get_space, is_video_space
from search_spaces.spaces.references import REFERENCES, build_reference
from search_spaces.spec import ArchSpec, Conv, Linear, Pool

CPU_REFS = sorted(n for n, r in REFERENCES.items() if r.cpu)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@lru_cache(maxsize=2)
def _data(video: bool) -> DatasetBundle:
    return get_dataset("synthetic-gestures" if video else "digits")


def _split(ds: object) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = getattr(ds, "tensors", None)
    if tensors is not None:
        return tensors[0], tensors[1]
    return ds.get_batch(torch.arange(len(ds)))  # type: ignore[attr-defined,no-any-return]


def _mismatches(spec: ArchSpec, model: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Per layer path: how many output codes differ between torch and the executor."""
    image = integer_image(model)
    t_logits, t_codes = torch_codes(model, x)
    res = execute(spec, image, input_codes(spec, x.numpy()), keep_codes=True)
    assert set(res.codes) == set(t_codes)
    bad = {p: int(np.sum(t_codes[p] != res.codes[p])) for p in res.codes}
    bad["logits"] = int(np.sum(t_logits != res.logits))
    return {p: n for p, n in bad.items() if n}


def _train_deployed(spec: ArchSpec, seed: int = 0, epochs: int = 2,
                    batches: int = 4) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(spec)
    stages = deployable(get_schedule("two-stage", epochs))
    result = train(model, _data(spec.is_video), stages, max_train_batches=batches,
                   progress=False, seed=seed)
    assert result.status == "complete", result.reason
    return model


@pytest.mark.parametrize("name", CPU_REFS)
def test_references_bit_exact_on_the_test_split(name: str) -> None:
    spec = build_reference(name)
    model = _train_deployed(spec)
    x, _ = _split(_data(spec.is_video).test)
    assert _mismatches(spec, model, x) == {}


def _space_specs(name: str, count: int, seed: int = 0) -> list[ArchSpec]:
    video = is_video_space(name)
    shape = (1, 8, 32, 32) if video else (1, 8, 8)
    space = get_space(name, input_shape=shape, num_classes=8 if video else 10)
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
    """Two random candidates per space (CI time: each trains a float and a deployed epoch)."""
    for i, spec in enumerate(_space_specs(space, 2)):
        model = _train_deployed(spec, seed=i, batches=2)
        x, _ = _split(_data(spec.is_video).test)
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


def test_trial_metrics_are_the_chips() -> None:
    """The classification task's accuracies are the integer machine's, and the torch model
    disagrees with it on no prediction."""
    from dse.tasks.classification import chip_accuracy
    from dse.train import evaluate

    spec = build_reference("tiny-digits")
    model = _train_deployed(spec, batches=3)
    data = _data(False)
    val, test, mismatches = chip_accuracy(model, data)
    assert mismatches == 0
    assert (val, test) == (evaluate(model, data.val)[1], evaluate(model, data.test)[1])
