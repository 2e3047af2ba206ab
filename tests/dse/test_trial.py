"""The typed trial payload, epoch report and result: one JSON value each, read back equal."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dse.config import build_config
from dse.tasks import run_trial
from dse.trial import RECIPE_KEYS, Artifact, EpochReport, TrialPayload, TrialResult

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
numbers = st.floats(allow_nan=False)  # NaN != NaN: tested on its own below
maybe = st.none() | numbers
json_scalars = st.none() | st.booleans() | st.integers() | numbers | names
BASE_PAYLOAD = TrialPayload.from_config(build_config(), '{"layers": []}', 7, bucket=3)


@given(metrics=st.dictionaries(names, numbers, max_size=6),
       status=st.sampled_from(["complete", "failed", "pruned"]),
       reason=st.none() | st.text(), monitor=maybe,
       epochs_run=st.none() | st.integers(0, 10**6), seconds=maybe,
       artifacts=st.dictionaries(names, st.tuples(names, st.binary(max_size=300)),
                                 max_size=3))
def test_result_round_trips_exactly(metrics: dict[str, float], status: str, reason: str | None,
                                    monitor: float | None, epochs_run: int | None,
                                    seconds: float | None,
                                    artifacts: dict[str, tuple[str, bytes]]) -> None:
    result = TrialResult(status=status, reason=reason, metrics=metrics, monitor=monitor,
                         epochs_run=epochs_run, train_seconds=seconds,
                         artifacts={k: Artifact(*v) for k, v in artifacts.items()})
    text = result.to_json()
    assert isinstance(json.loads(text), dict)  # one JSON value
    back = TrialResult.from_json(text)
    assert back == result
    # exact: the same bits, not merely close; None stays None; bytes stay bytes
    assert {k: v.hex() for k, v in back.metrics.items()} == \
        {k: v.hex() for k, v in result.metrics.items()}
    assert all(type(a.data) is bytes for a in back.artifacts.values())
    assert (back.monitor is None) == (monitor is None)


def test_result_keeps_nan_inf_and_every_byte() -> None:
    data = bytes(range(256)) * 3
    result = TrialResult(status="failed", reason="validation accuracy is nan",
                         metrics={"accuracy": math.nan, "loss": math.inf, "low": -math.inf,
                                  "tiny": 5e-324, "third": 1 / 3},
                         artifacts={"model": Artifact("application/x-torch", data)})
    back = TrialResult.from_json(result.to_json())
    assert math.isnan(back.metrics["accuracy"])
    assert back.metrics["loss"] == math.inf and back.metrics["low"] == -math.inf
    assert back.metrics["tiny"] == 5e-324 and back.metrics["third"] == 1 / 3
    assert back.artifacts["model"] == ("application/x-torch", data)
    assert back.monitor is None and back.epochs_run is None and back.train_seconds is None


def test_result_normalises_types_so_its_json_reads_back_equal() -> None:
    """An int metric is a float (the store keeps floats); an artifact a (mime, bytes)."""
    result = TrialResult(status="complete", metrics={"deploy_mismatches": 3},  # type: ignore[dict-item]
                         artifacts={"p": ("image/png", bytearray(b"\x89PNG"))})  # type: ignore[dict-item]
    assert result.metrics == {"deploy_mismatches": 3.0}
    assert type(result.metrics["deploy_mismatches"]) is float
    assert result.artifacts["p"] == Artifact("image/png", b"\x89PNG")
    assert TrialResult.from_json(result.to_json()) == result


@pytest.mark.parametrize(("text", "message"), [
    ('{"status": "done"}', "trial result: status must be one of complete, failed, pruned, "
                           "got 'done'"),
    ('{"status": "complete", "metricz": {}}', "trial result: unknown field(s) metricz"),
    ("[1]", "trial result JSON must be an object, got list"),
])
def test_bad_result_json_is_one_line_naming_the_rule(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        TrialResult.from_json(text)
    assert str(exc.value) == message


@given(epoch=st.integers(1, 10**6), stage=names, monitor=numbers,
       row=st.dictionaries(names, maybe, max_size=6))
def test_epoch_report_round_trips_exactly(epoch: int, stage: str, monitor: float,
                                          row: dict[str, float | None]) -> None:
    report = EpochReport(epoch, stage, monitor, row)
    assert EpochReport.from_json(report.to_json()) == report


@given(params=st.dictionaries(names, json_scalars, max_size=4), seed=st.integers(0, 2**31),
       lr=st.floats(1e-6, 1.0), timeout=st.none() | st.floats(0.001, 1e6),
       batches=st.none() | st.integers(1, 1000), gpus=st.sampled_from([0.0, 0.5, 1.0]))
def test_payload_round_trips_exactly(params: dict[str, Any], seed: int, lr: float,
                                     timeout: float | None, batches: int | None,
                                     gpus: float) -> None:
    payload = replace(BASE_PAYLOAD, dataset_params=params, seed=seed, lr=lr,
                      trial_timeout_s=timeout, max_train_batches=batches, gpus=gpus)
    assert TrialPayload.from_json(payload.to_json()) == payload


def test_payload_carries_the_study_settings() -> None:
    """Every training setting of the config, by name, plus the candidate's own fields."""
    cfg = build_config(task="compression", epochs=5, batch_size=16, lr=0.01, seed=9,
                       distill=0.5, weight_decay=1e-4, cpus_per_trial=2.5,
                       dataset_params={"n": 3})
    payload = TrialPayload.from_config(cfg, "{}", 4, bucket=2)
    assert (payload.spec_json, payload.trial_number, payload.bucket) == ("{}", 4, 2)
    assert (payload.task, payload.epochs, payload.batch_size, payload.lr, payload.seed) == \
        ("compression", 5, 16, 0.01, 9)
    assert payload.threads == 2 and payload.dataset_params == {"n": 3}
    assert payload.recipe() == {"lr_schedule": cfg.lr_schedule,
                                "bn_recalibration": cfg.bn_recalibration, "distill": 0.5,
                                "weight_decay": 1e-4}
    assert set(RECIPE_KEYS) <= {f.name for f in fields(TrialPayload)}
    with pytest.raises(ValueError, match=r"^trial payload: unknown field\(s\) db$"):
        TrialPayload.from_json(json.dumps({**json.loads(payload.to_json()), "db": "x"}))


def test_run_trial_is_payload_in_result_out_with_typed_epochs() -> None:
    """The one entry point: a real (tiny) training reports each epoch typed, may be called
    without a callback, and returns a typed result whose JSON form reads back equal (what the
    Ray executor relies on)."""
    from search_spaces.spaces.references import build_reference

    cfg = build_config(epochs=2, schedule="two-stage", max_train_batches=2, batch_size=32)
    payload = TrialPayload.from_config(cfg, build_reference("tiny-digits").to_json(), 0)
    seen: list[EpochReport] = []

    def on_epoch(m: EpochReport) -> bool:
        seen.append(m)
        return False

    result = run_trial(payload, on_epoch)
    assert result.status == "complete", result.reason
    assert [m.epoch for m in seen] == [1, 2] and len({m.stage for m in seen}) == 2
    assert all("val_loss" in m.row and "train_loss" in m.row for m in seen)
    assert result.epochs_run == 2
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and "model" in result.artifacts
    assert TrialResult.from_json(result.to_json()) == result
    # without a callback it trains to the end, deterministically
    again = run_trial(payload)
    assert again.metrics == result.metrics
