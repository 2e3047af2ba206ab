"""dse.train: schedules, determinism, failure reasons, early stop, checkpoints, stage switches."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dse.data import DatasetBundle, get_dataset
from dse.train import (
    SCHEDULES,
    EpochMetrics,
    Stage,
    get_schedule,
    load_checkpoint,
    parse_schedule,
    split_epochs,
    train,
)
from search_spaces.build import build_model
from search_spaces.layers.activations import ActQuant
from search_spaces.layers.norm import BitShiftNorm
from search_spaces.spec import ArchSpec, Conv, Linear, Pool, Residual, load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return get_dataset("digits")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models: one intra-op thread (on a loaded 2-core machine, two spinning threads
    made a 0.2 s run take 20 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(32, 10))


def _strip(history: list[EpochMetrics]) -> list[dict[str, Any]]:
    out = []
    for m in history:
        d = m.to_dict()
        d.pop("seconds")
        out.append(d)
    return out


# --------------------------------------------------------------------------- schedules
def test_named_schedules() -> None:
    assert {"billnet", "float", "qat", "two-stage"} <= set(SCHEDULES.names())
    assert get_schedule("qat", 5) == [Stage("qat", 5, True, True, True)]
    assert get_schedule("two-stage", 5) == [Stage("float", 2, False, False, False),
                                            Stage("quantized", 3, True, True, True)]
    bill = get_schedule("billnet", 10)
    assert [s.epochs for s in bill] == [2, 2, 3, 3]      # 10 = 4*2 + 2, remainder to the end
    assert [(s.weights, s.activations, s.lstm_gates) for s in bill] == [
        (False, False, False), (True, False, False), (True, True, False), (True, True, True)]
    assert [s.name for s in bill] == ["fp", "weights", "activations", "gates"]
    assert split_epochs(7, 4) == [1, 2, 2, 2]


def test_schedule_errors() -> None:
    with pytest.raises(ValueError,
                       match="schedule='cyclic' is not a registered schedule .known: billnet"):
        get_schedule("cyclic", 4)
    with pytest.raises(ValueError, match="epochs=3 must be >= 4 for a 4-stage schedule"):
        get_schedule("billnet", 3)
    with pytest.raises(ValueError, match="epochs=0 must be an integer >= 1"):
        get_schedule("qat", 0)
    with pytest.raises(ValueError, match="stage 'x': epochs=0 must be an integer >= 1"):
        Stage("x", 0, True, True, True)
    with pytest.raises(ValueError, match="weights='yes' must be a boolean"):
        Stage("x", 1, "yes", True, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr=-1 must be a positive number"):
        Stage("x", 1, True, True, True, lr=-1)


def test_parse_schedule_from_dicts() -> None:
    stages = parse_schedule([{"name": "warm", "epochs": 2},
                             {"name": "bin", "epochs": 3, "weights": True, "activations": True,
                              "lr": 5e-4}])
    assert stages == [Stage("warm", 2, False, False, False),
                      Stage("bin", 3, True, True, False, lr=5e-4)]
    assert parse_schedule("billnet", 4) == get_schedule("billnet", 4)
    assert parse_schedule([s.to_dict() for s in stages]) == stages
    with pytest.raises(ValueError, match=r"schedule\[0\]: unknown field\(s\) epoch "):
        parse_schedule([{"name": "a", "epoch": 2}])
    with pytest.raises(ValueError, match=r"schedule\[1\]: field 'epochs' is required"):
        parse_schedule([{"name": "a", "epochs": 1}, {"name": "b"}])
    with pytest.raises(ValueError, match="'a' repeats"):
        parse_schedule([{"name": "a", "epochs": 1}, {"name": "a", "epochs": 1}])
    with pytest.raises(ValueError, match="epochs is required for a named schedule"):
        parse_schedule("qat")


# --------------------------------------------------------------------------- training
def test_same_seed_same_history_and_weights(digits: DatasetBundle) -> None:
    stages = [Stage("a", 2, False, False, False), Stage("b", 1, True, True, True, lr=1e-3)]
    runs = []
    for _ in range(2):
        model = _mlp(0)
        res = train(model, digits, stages, seed=5, batch_size=32, progress=False)
        runs.append((res, model.state_dict()))
    (r1, s1), (r2, s2) = runs
    assert r1.status == "complete" and r1.reason is None and r1.epochs_run == 3
    assert _strip(r1.history) == _strip(r2.history)
    assert r1.test_accuracy == r2.test_accuracy
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert [m.epoch for m in r1.history] == [1, 2, 3]
    assert [(m.stage, m.stage_index) for m in r1.history] == [("a", 0), ("a", 0), ("b", 1)]
    # cosine per stage: stage a (2 epochs) at 2e-3 then 1e-3; stage b's own lr 1e-3
    assert [m.lr for m in r1.history] == pytest.approx([2e-3, 1e-3, 1e-3])
    assert r1.best_val_accuracy == max(m.val_accuracy for m in r1.history)
    other = train(_mlp(0), digits, stages, seed=6, batch_size=32, progress=False)
    assert _strip(other.history) != _strip(r1.history)


class _NaNAt(nn.Module):
    """A linear model whose training forward number ``at`` (1-based) returns NaN logits."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 10)
        self.at = at
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return out * float("nan")
        return out


def test_nan_loss_fails_with_reason(digits: DatasetBundle) -> None:
    """10 batches per epoch, 2 float epochs, so training forward 27 is the 'weights' stage's
    first epoch (global epoch 3), batch 7."""
    stages = [Stage("fp", 2, False, False, False), Stage("weights", 2, True, False, False)]
    res = train(_NaNAt(27), digits, stages, max_train_batches=10, progress=False)
    assert res.status == "failed"
    assert res.reason == "loss is NaN at stage 'weights' epoch 3 batch 7"
    assert res.epochs_run == 2 and res.test_accuracy is None
    assert res.best_val_accuracy is not None


def test_diverging_loss_fails_with_reason(digits: DatasetBundle) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.mul_(1e6)  # type: ignore[operator]
    res = train(model, digits, get_schedule("qat", 2), progress=False)
    assert res.status == "failed"
    assert res.reason is not None
    assert res.reason.endswith("at stage 'qat' epoch 1 batch 1 (diverged)")
    assert "exceeds divergence_loss=10000" in res.reason


def test_callback_stops_early_as_pruned(digits: DatasetBundle) -> None:
    seen: list[EpochMetrics] = []

    def cb(m: EpochMetrics) -> bool:
        seen.append(m)
        return m.epoch == 2

    res = train(_mlp(), digits, get_schedule("two-stage", 6), on_epoch=cb, progress=False)
    assert res.status == "pruned" and res.reason == "stopped by on_epoch after epoch 2"
    assert [m.epoch for m in seen] == [1, 2] and res.epochs_run == 2
    assert res.test_accuracy is not None and 0.0 <= res.test_accuracy <= 1.0
    assert res.history == seen


def test_progress_bar_on_request(digits: DatasetBundle, capsys: pytest.CaptureFixture[str]
                                 ) -> None:
    res = train(_mlp(), digits, get_schedule("qat", 1), progress=True, max_train_batches=3)
    assert res.status == "complete"
    err = capsys.readouterr().err
    assert "qat" in err and "3/3" in err
    train(_mlp(), digits, get_schedule("qat", 1), progress=False, max_train_batches=3)
    assert capsys.readouterr().err == ""


def test_num_threads_is_restored(digits: DatasetBundle) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    def cb(m: EpochMetrics) -> None:
        seen.append(torch.get_num_threads())

    train(_mlp(), digits, get_schedule("qat", 1), progress=False, max_train_batches=2,
          num_threads=2, on_epoch=cb)
    assert seen == [2] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads=0"):
        train(_mlp(), digits, get_schedule("qat", 1), num_threads=0)


def test_bad_arguments(digits: DatasetBundle) -> None:
    with pytest.raises(ValueError, match="batch_size=0 must be an integer >= 1"):
        train(_mlp(), digits, get_schedule("qat", 1), batch_size=0)
    with pytest.raises(ValueError, match="stages must be a non-empty list"):
        train(_mlp(), digits, [])
    with pytest.raises(ValueError, match="lr_schedule='step'"):
        train(_mlp(), digits, get_schedule("qat", 1), lr_schedule="step")


# --------------------------------------------------------------------------- builder models
BSN_SPEC = ArchSpec((1, 8, 8), 10, (
    Conv(8, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1, norm="bsn"),
    Pool("max", 2),
    Linear(10, weight_quant="heq", weight_levels=3),
))


def test_stage_switching_flags_and_bsn_fold(digits: DatasetBundle,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """billnet switches (w, a, g) = FFF, TFF, TTF, TTT; BSN folds once, right before the
    first stage with activations on."""
    from search_spaces import build

    events: list[Any] = []
    real_set, real_fold = build.set_quantization, build.fold_bsn

    def spy_set(model: nn.Module, *, weights: bool, activations: bool, lstm_gates: bool) -> None:
        events.append((weights, activations, lstm_gates))
        real_set(model, weights=weights, activations=activations, lstm_gates=lstm_gates)

    def spy_fold(model: nn.Module) -> int:
        events.append("fold")
        return real_fold(model)

    monkeypatch.setattr(build, "set_quantization", spy_set)
    monkeypatch.setattr(build, "fold_bsn", spy_fold)
    torch.manual_seed(0)
    model = build_model(BSN_SPEC)
    acts_on: list[tuple[str, bool, bool]] = []

    def cb(m: EpochMetrics) -> None:
        enabled = {a.enabled for a in model.modules() if isinstance(a, ActQuant)
                   and a.bits < 32 and a.bits != 8}
        folded = all(b.is_folded for b in model.modules() if isinstance(b, BitShiftNorm))
        acts_on.append((m.stage, enabled == {True}, folded))

    res = train(model, digits, get_schedule("billnet", 4), on_epoch=cb, progress=False,
                max_train_batches=4)
    assert res.status == "complete"
    assert events == [(False, False, False), (True, False, False), "fold", (True, True, False),
                      (True, True, True)]
    assert acts_on == [("fp", False, False), ("weights", False, False),
                       ("activations", True, True), ("gates", True, True)]


def test_plain_model_without_builder_hooks(digits: DatasetBundle,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import dse.train as tr

    monkeypatch.setattr(tr, "_builder_hooks", lambda: (None, None))
    assert train(_mlp(), digits, get_schedule("qat", 1), progress=False,
                 max_train_batches=2).status == "complete"
    with pytest.raises(RuntimeError, match="set_quantization is not available"):
        train(build_model(BSN_SPEC), digits, get_schedule("qat", 1), progress=False)


def test_checkpoint_resume_equals_uninterrupted(digits: DatasetBundle, tmp_path: Path) -> None:
    """Stop after epoch 3 (inside the second stage, after the BSN fold), resume in a fresh
    model built from another seed: the history and final weights equal the straight run's."""
    stages = get_schedule("two-stage", 4)
    torch.manual_seed(0)
    straight_model = build_model(BSN_SPEC)
    straight = train(straight_model, digits, stages, progress=False, max_train_batches=6)

    ckpt = str(tmp_path / "run.pt")
    torch.manual_seed(0)
    first = train(build_model(BSN_SPEC), digits, stages, progress=False, max_train_batches=6,
                  checkpoint_path=ckpt, on_epoch=lambda m: m.epoch == 3)
    assert first.status == "pruned" and first.epochs_run == 3
    torch.manual_seed(123)
    resumed_model = build_model(BSN_SPEC)
    resumed = train(resumed_model, digits, stages, progress=False, max_train_batches=6,
                    checkpoint_path=ckpt)
    assert resumed.status == "complete" and resumed.epochs_run == 4
    assert _strip(resumed.history) == _strip(straight.history)
    assert resumed.test_accuracy == straight.test_accuracy
    a, b = straight_model.state_dict(), resumed_model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    probe = build_model(BSN_SPEC)
    pos = load_checkpoint(ckpt, probe)
    assert (pos.stage_index, pos.stage_epoch, pos.epoch, len(pos.history)) == (1, 2, 4, 4)
    assert all(m.is_folded for m in probe.modules() if isinstance(m, BitShiftNorm))
    with pytest.raises(ValueError, match="was written for schedule"):
        train(build_model(BSN_SPEC), digits, get_schedule("qat", 4), checkpoint_path=ckpt)


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_checkpoint(str(tmp_path / "none.pt"), _mlp())
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable tinydse checkpoint"):
        load_checkpoint(str(bad), _mlp())
    buf = io.BytesIO()
    torch.save({"model": {}}, buf)
    bad.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="not a readable tinydse checkpoint .KeyError"):
        load_checkpoint(str(bad), _mlp())


def test_generic_dataset_batches(digits: DatasetBundle) -> None:
    """A map-style dataset that is not a TensorDataset is batched item by item, giving the
    same history as the TensorDataset it wraps."""

    class Wrapped(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, ds: Any) -> None:
            self.ds = ds

        def __len__(self) -> int:
            return len(self.ds)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            x, y = self.ds[i]
            return x, y

    wrapped = dataclasses.replace(digits, train=Wrapped(digits.train), val=Wrapped(digits.val))
    a = train(_mlp(), digits, get_schedule("qat", 1), progress=False, max_train_batches=5)
    b = train(_mlp(), wrapped, get_schedule("qat", 1), progress=False, max_train_batches=5)
    assert _strip(a.history) == _strip(b.history)


def test_digits_ternary_or_smoke(digits: DatasetBundle) -> None:
    """The ternary HEQ CNN with an OR residual (1-bit activations) learns digits: > 50 % test
    accuracy after 2 QAT epochs (the recorded benchmark reaches > 90 % with more epochs)."""
    spec = ArchSpec((1, 8, 8), 10, (
        Conv(16, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1),
        Residual((Conv(16, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1),),
                 gate="or"),
        Pool("max", 2),
        Conv(32, kernel=3, weight_quant="heq", weight_levels=3, act_bits=1),
        Linear(10, weight_quant="heq", weight_levels=3, norm="bn"),
    ))
    torch.manual_seed(0)
    res = train(build_model(spec), digits, get_schedule("qat", 2), progress=False)
    assert res.status == "complete"
    assert res.test_accuracy is not None and res.test_accuracy > 0.5


def test_example_spec_trains_one_epoch(digits: DatasetBundle) -> None:
    spec = load_spec(str(ROOT / "examples" / "digits_ternary_or.json"))
    torch.manual_seed(0)
    res = train(build_model(spec), digits, get_schedule("two-stage", 2), progress=False,
                max_train_batches=3)
    assert res.status == "complete" and len(res.history) == 2
