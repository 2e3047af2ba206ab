"""A weight quantizer registered in one place is known to the spec, the cost model, the space
vocabulary, the model builder and the trainer (docs/design.md, "The registry")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optuna
import pytest
import torch
from torch import Tensor

from dse.data import get_dataset
from dse.train import get_schedule, train
from hwmodel.batch import score_many
from hwmodel.cost import cost_report
from search_spaces.build import build_model
from search_spaces.layers.quantizers import WeightQuantizer, register_weight_quantizer
from search_spaces.quantizers import QUANTIZERS
from search_spaces.spaces import get_space
from search_spaces.spec import ArchSpec, Conv, Linear, Pool, SpecError

NAME = "uniform-test"


@pytest.fixture
def uniform() -> Iterator[type[WeightQuantizer]]:
    """Symmetric uniform levels on [-1, 1] scaled by max|w|, STE; 3 or 5 levels."""

    @register_weight_quantizer(NAME, levels=(3, 5))
    class Uniform(WeightQuantizer):
        def code_values(self) -> tuple[float, ...]:
            half = (self.levels - 1) // 2
            return tuple(k / half for k in range(-half, half + 1))

        def codes(self, w: Tensor) -> Tensor:
            half = (self.levels - 1) // 2
            x = (w / w.detach().abs().max().clamp_min(1e-12)).clamp(-1, 1)
            q = torch.round(x * half) / half
            return x + (q - x).detach()

    try:
        yield Uniform
    finally:
        QUANTIZERS.remove(NAME)


def _spec() -> ArchSpec:
    return ArchSpec((1, 8, 8), 10, (
        Conv(4, kernel=3, weight_quant=NAME, weight_levels=5, act_bits=2),
        Pool("global_avg"),
        Linear(10, weight_quant=NAME, weight_levels=3),
    ))


def test_registered_once_it_validates_costs_builds_and_trains(uniform: Any) -> None:
    spec = _spec()
    with pytest.raises(SpecError, match=r"weight_levels=4 is not allowed for "
                                        r"weight_quant='uniform-test' \(needs 3..5\)"):
        ArchSpec((1, 8, 8), 10, (Conv(4, weight_quant=NAME, weight_levels=4), Pool("global_avg"),
                                 Linear(10)))
    # 36 conv weights x ceil(log2 5) = 3 bits + 40 linear weights x ceil(log2 3) = 2 bits
    assert spec.weight_bits() == 36 * 3 + 40 * 2
    assert cost_report(spec).totals["weight_memory_bits"] == 36 * 3 + 40 * 2
    assert score_many([spec])["weight_memory_bits"].tolist() == [36 * 3 + 40 * 2]

    model = build_model(spec)
    assert isinstance(model.layers[0].conv.quantizer, uniform)
    data = get_dataset("digits")
    res = train(model, data, get_schedule("qat", 1), max_train_batches=2, progress=False)
    assert res.status == "complete", res.reason
    q = model.layers[0].conv.quantizer.codes(model.layers[0].conv.weight)
    assert set(q.detach().flatten().tolist()) <= {-1.0, -0.5, 0.0, 0.5, 1.0}


def test_the_space_vocabulary_offers_it(uniform: Any) -> None:
    space = get_space("tiny", input_shape=(1, 8, 8), num_classes=10, quantizer=NAME)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    spec = space.sample(study.ask())
    quants = {getattr(i.layer, "weight_quant", None) for i in spec.iter_layers()} - {None}
    assert quants == {NAME}
