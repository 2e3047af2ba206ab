"""The trainer's recipe options: warm-up + cosine per batch, BN recalibration, no decay on
1-d parameters, distillation's teacher."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dse.data import DatasetBundle
from dse.train import Stage, _batch_lr, _param_groups, _teacher, recalibrate_bn, train


def test_batch_lr_warms_up_linearly_then_decays_by_cosine() -> None:
    # 2 warm-up steps of 10: 0.5, 1.0 x base; then cos over the 8 remaining steps
    assert _batch_lr(1.0, 0, 10, 2) == 0.5
    assert _batch_lr(1.0, 1, 10, 2) == 1.0
    assert _batch_lr(1.0, 2, 10, 2) == 1.0
    assert _batch_lr(1.0, 6, 10, 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert _batch_lr(2.0, 9, 10, 0) == pytest.approx(1.0 + math.cos(math.pi * 9 / 10))


def test_recalibrate_bn_sets_the_exact_statistics_of_the_data() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)
    model = nn.Sequential(conv, bn)
    x = torch.rand(70, 1, 5, 5)
    ds = TensorDataset(x, torch.zeros(70, dtype=torch.long))
    bn.running_mean.fill_(9.0)  # stale statistics
    bn.momentum = 0.25
    assert recalibrate_bn(model, ds, batch_size=32) == 1
    with torch.no_grad():
        h = conv(x)
    # a cumulative average over the batches of 32, 32 and 6: each batch's mean counts once
    means = torch.stack([h[i:i + 32].mean(dim=(0, 2, 3)) for i in (0, 32, 64)])
    expected = means.mean(dim=0)  # momentum=None averages the batch statistics equally
    assert torch.allclose(bn.running_mean, expected, atol=1e-6)
    assert bn.momentum == 0.25 and model.training  # momentum and mode restored
    assert bn.num_batches_tracked.item() == 3


def test_no_weight_decay_on_one_dimensional_parameters() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    decay, other = _param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and other["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([3, 4])]
    assert sorted(tuple(p.shape) for p in other["params"]) == [(3,), (3,), (3,)]


def test_teacher_is_a_frozen_float_copy_only_after_a_float_stage() -> None:
    from search_spaces.build import build_model
    from search_spaces.spaces.references import build_reference

    model = build_model(build_reference("tiny-digits"))
    fp = Stage("float", 1, weights=False, activations=False, lstm_gates=False)
    q = Stage("quantized", 1, weights=True, activations=True, lstm_gates=True)
    assert _teacher(model, [fp, q], 0) is None and _teacher(model, [q, q], 1) is None
    teacher = _teacher(model, [fp, q], 1)
    assert teacher is not None and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    x = torch.rand(4, 1, 8, 8)
    from search_spaces.build import set_quantization

    set_quantization(model, weights=False, activations=False, lstm_gates=False)
    model.eval()
    assert torch.equal(teacher(x), model(x))  # the same weights, run in float


def test_recipe_options_train_and_stay_deterministic() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    data = DatasetBundle("toy", TensorDataset(x, y), TensorDataset(x[:16], y[:16]),
                         TensorDataset(x[16:32], y[16:32]), (6,), 3)
    stages = [Stage("float", 2, False, False, False), Stage("q", 2, True, True, True)]

    def run() -> list[float]:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        res = train(model, data, stages, batch_size=16, lr=1e-2, progress=False,
                    lr_schedule="warmup-cosine", bn_recalibration=True, distill=0.5,
                    weight_decay=1e-4)
        assert res.status == "complete"
        return [m.val_loss for m in res.history] + [m.lr for m in res.history]

    assert run() == run()
    with pytest.raises(ValueError, match="distill=1.5 must be in"):
        train(nn.Linear(6, 3), data, stages, distill=1.5, progress=False)
