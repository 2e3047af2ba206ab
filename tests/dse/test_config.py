"""Study configuration: file + flags, validation before anything runs, budgets, the ASHA rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.config import Budget, build_config
from dse.errors import UserError
from dse.search import EarlyStopping, cost_bucket


def test_defaults_are_the_embedded_laptop_search() -> None:
    cfg = build_config()
    assert (cfg.space, cfg.dataset) == ("compact", "digits")
    assert cfg.db == f"sqlite:///{Path.cwd() / 'dse.db'}"  # absolute: Ray workers run elsewhere
    assert cfg.objectives == ("accuracy", "memory_bits")
    assert cfg.directions == ["maximize", "minimize"]
    assert cfg.sampler_name == "tpe"
    assert build_config(sampler="nsga2").sampler_name == "nsga2"


def test_the_learning_rate_is_the_tasks_default_unless_given(tmp_path: Path) -> None:
    """Classification's own default (0.02), compression the config's (0.01); a flag or a
    file's value wins over both."""
    from dse.config import SearchConfig

    assert build_config().lr == 0.02
    assert build_config(task="compression").lr == SearchConfig.lr == 0.01
    assert build_config(lr=0.005).lr == 0.005
    f = tmp_path / "study.yaml"
    f.write_text("lr: 0.003\n")
    assert build_config(str(f)).lr == 0.003
    assert build_config(str(f), task="compression").lr == 0.003


def test_file_then_flags_override(tmp_path: Path) -> None:
    f = tmp_path / "study.yaml"
    f.write_text("study: s1\ntrials: 7\nobjectives: [accuracy, cycles]\n"
                 "budgets: ['memory_bits<=1e6']\nsampler: random\n")
    cfg = build_config(str(f), trials=9)
    assert (cfg.study, cfg.trials, cfg.sampler) == ("s1", 9, "random")
    assert cfg.objectives == ("accuracy", "cycles")
    assert cfg.budgets == (Budget("memory_bits", "<=", 1e6),)
    t = tmp_path / "study.toml"
    t.write_text('study = "s2"\nepochs = 2\nbudgets = ["cycles<2e5"]\n')
    cfg = build_config(str(t))
    assert cfg.study == "s2" and cfg.epochs == 2 and cfg.budgets[0].op == "<"


def test_a_stored_config_reads_back() -> None:
    """from_dict(to_dict()) is the same configuration (what `dse train` reads from a study),
    through JSON, with other keys of the stored config ignored."""
    import json

    from dse.config import SearchConfig

    cfg = build_config(study="s3", objectives="accuracy,cycles", budgets=["memory_bits<=1e6"],
                       max_train_batches=3, trial_timeout_s=5.0, dataset_params={"k": 1})
    stored = json.loads(json.dumps({**cfg.to_dict(), "hypervolume_reference": [0.0, 1.0]}))
    assert SearchConfig.from_dict(stored) == cfg
    assert SearchConfig.from_dict({"epochs": 3, "max_train_batches": None}) == \
        SearchConfig(epochs=3)


def test_budget_semantics() -> None:
    b = Budget.parse("memory_bits <= 1e6")
    assert (b.metric, b.op, b.value) == ("memory_bits", "<=", 1e6)
    assert not b.violated_by(1e6) and b.violated_by(1e6 + 1)
    assert b.excess(5e5) == pytest.approx(-0.5) and b.excess(2e6) == pytest.approx(1.0)
    assert Budget.parse("cycles<100").violated_by(100)
    assert str(b) == "memory_bits<=1e+06"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"space": "nope"}, "space='nope' must be one of"),
    ({"dataset": "imagenet"}, "dataset='imagenet' must be one of"),
    ({"sampler": "cmaes2"}, "sampler='cmaes2' must be one of"),
    ({"objectives": "accuracy,latency"}, "objectives='latency' has an unknown objective"),
    ({"objectives": "accuracy,accuracy"}, "objectives='accuracy,accuracy' must not repeat"),
    ({"budgets": ["memory_bits=<1e6"]}, "--budget: 'memory_bits=<1e6' must look like"),
    ({"budgets": ["colour<=3"]}, "--budget: metric 'colour' must be one of"),
    ({"budgets": ["memory_bits<=-5"]}, "needs a finite value >= 0"),
    ({"trials": 0}, "trials=0 must be an integer >= 1"),
    ({"study": "a b"}, "study='a b' must be 1-100 letters"),
    ({"db": "mysql://x"}, "db='mysql://x' must be a sqlite:/// or postgresql"),
    ({"executor": "dask"}, "executor='dask' must be one of"),
    ({"early_stopping_rule": "asha"}, "early_stopping_rule='asha' must be one of"),
    ({"schedule": "forever"}, "schedule='forever' must be one of"),
    ({"accel": "/no/such.yaml"}, "accel='/no/such.yaml' must be an existing YAML file"),
    ({"schedule": "billnet", "epochs": 3}, "epochs=3 does not fit schedule='billnet'"),
    ({"task": "segmentation"}, "task='segmentation' must be one of"),
])
def test_bad_input_names_field_rule_value(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError) as info:
        build_config(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_config_files(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("trials: [1\n")
    with pytest.raises(UserError, match="malformed YAML at line"):
        build_config(str(f))
    f.write_text("trails: 3\n")
    with pytest.raises(UserError, match="unknown field 'trails'"):
        build_config(str(f))
    f.write_text("trials: many\n")
    with pytest.raises(UserError, match="trials='many' must be an integer"):
        build_config(str(f))
    with pytest.raises(UserError, match="no such config file"):
        build_config(str(tmp_path / "none.yaml"))


def test_successive_halving_against_no_costlier_peers() -> None:
    """eta=3, grace 1: rungs at epochs 1, 3, 9. With 3 peers the top third continue:
    the third result at a rung is stopped if below the best one. A trial's peers are the
    results of its cost bucket and the cheaper ones, never the costlier ones."""
    rule = EarlyStopping(eta=3, grace_epochs=1, min_peers=3, criterion="halving")
    assert [e for e in range(1, 10) if rule.is_rung(e)] == [1, 3, 9]
    assert not rule.should_stop(0, 1, 0.9)
    assert not rule.should_stop(0, 1, 0.5)      # only 2 peers so far
    assert rule.should_stop(0, 1, 0.6)          # top third of [0.9, 0.6, 0.5] is 0.9
    assert not rule.should_stop(0, 1, 0.95)
    assert not rule.should_stop(-1, 1, 0.1)     # a cheaper bucket starts afresh
    assert not rule.should_stop(-1, 1, 0.05)    # (2 peers)
    assert rule.should_stop(-1, 1, 0.07)        # top third of [0.1, 0.07, 0.05] is 0.1
    # a costlier bucket meets every result so far, [0.95, 0.9, 0.6, 0.5, 0.1, 0.07, 0.05],
    # and its own: the top ceil(8/3) = 3 continue
    assert rule.should_stop(1, 1, 0.55)         # 8 peers: cutoff is the 3rd best, 0.6
    assert not rule.should_stop(1, 1, 0.6)      # 9 peers: cutoff 0.6 (3rd of 9)
    assert not rule.should_stop(0, 2, 0.0)      # not a rung
    assert not rule.should_stop(0, 3, 0.9)
    assert not rule.should_stop(0, 3, 0.8)
    assert not rule.should_stop(0, 3, 0.1, final_epoch=3)  # finished: never stopped
    assert rule.should_stop(0, 3, 0.2)          # ... but it counts as a peer


def test_dominated_stops_only_what_a_finished_cheaper_peer_beats_at_its_best() -> None:
    """The default criterion. Rungs at 1, 3, 9 of 9 epochs (eta 3). Three finished trials
    (buckets 0, 0, 2) with values at rung 1 and final values (epoch 9): gains 0.15, 0.10 and
    0.05, so the most any finished trial gained from rung 1 is 0.15; with slack 2 a trial at
    rung 1 may still reach its value + 0.30."""
    rule = EarlyStopping(eta=3, grace_epochs=1, min_peers=3)
    tight = EarlyStopping(eta=3, grace_epochs=1, min_peers=3, slack=1.0)
    assert rule.criterion == "dominated" and rule.slack == 2.0
    for trial, bucket, at1, final in ((0, 0, 0.65, 0.80), (1, 0, 0.80, 0.90),
                                      (2, 2, 0.90, 0.95)):
        for r in (rule, tight):
            assert not r.should_stop(bucket, 1, at1, 9, trial=trial)
            assert not r.should_stop(bucket, 9, final, 9, trial=trial)  # finished
    assert tight.should_stop(1, 1, 0.61, 9, trial=4)     # slack 1: 0.61 + 0.15 < 0.90
    assert rule.should_stop(1, 1, 0.59, 9, trial=3)      # 0.89 < 0.90 (trial 1, cheaper)
    assert not rule.should_stop(1, 1, 0.61, 9, trial=4)  # 0.91 > every cheaper final
    assert rule.should_stop(1, 1, 0.10, 9, trial=5)      # a collapsed network: 0.40 < 0.80
    # cheapness: in bucket -1 no finished trial is a peer, nothing stops it
    assert not rule.should_stop(-1, 1, 0.0, 9, trial=6)
    # a costlier bucket meets trial 2 too: 0.64 + 0.30 = 0.94 < 0.95
    assert rule.should_stop(3, 1, 0.64, 9, trial=7)
    assert not rule.should_stop(3, 1, 0.66, 9, trial=8)  # 0.96 > 0.95
    assert not rule.should_stop(1, 2, 0.0, 9, trial=4)   # epoch 2: not a rung
    # fewer than min_peers finished trials seen at a rung: no decision there
    assert not rule.should_stop(3, 3, 0.0, 9, trial=8)
    with pytest.raises(ValueError, match="criterion='median' must be one of"):
        EarlyStopping(criterion="median")
    with pytest.raises(ValueError, match="needs the trial"):
        rule.should_stop(0, 1, 0.5, 9)


def test_dominated_reads_only_the_last_stage() -> None:
    """Like with like: under a two-stage schedule the float stage's epochs are no rungs and
    leave no curve; a finished trial's gain is counted from its quantized rung."""
    from dse.train import get_schedule

    rule = EarlyStopping.for_stages(get_schedule("two-stage", 6), eta=3, min_peers=1)
    for trial, q1, final in ((0, 0.75, 0.9),):
        assert not rule.should_stop(0, 1, 0.99, 6, "float", trial=trial)
        assert not rule.should_stop(0, 4, q1, 6, "quantized", trial=trial)
        assert not rule.should_stop(0, 6, final, 6, "quantized", trial=trial)
    assert not rule.should_stop(1, 1, 0.0, 6, "float", trial=1)     # float: never a rung
    assert rule.should_stop(1, 4, 0.59, 6, "quantized", trial=1)    # 0.59 + 2 x 0.15 < 0.9
    assert not rule.should_stop(1, 4, 0.61, 6, "quantized", trial=2)


def test_cost_bucket_is_a_quarter_octave_of_first_hardware_objective() -> None:
    """floor(4 log2(value)): 4096 = 2^12 -> 48; just below it -> 47; 2^12.25 = 4870.9 -> 49."""
    assert cost_bucket({"memory_bits": 4096.0}, ("accuracy", "memory_bits")) == 48
    assert cost_bucket({"memory_bits": 4095.0}, ("accuracy", "memory_bits")) == 47
    assert cost_bucket({"memory_bits": 4871.0}, ("accuracy", "memory_bits")) == 49
    assert cost_bucket({"memory_bits": 4870.0}, ("accuracy", "memory_bits")) == 48
    assert cost_bucket({"memory_bits": 1.0, "cycles": 64.0}, ("accuracy", "cycles")) == 24  # 4 * 6


def test_successive_halving_compares_like_with_like_stages() -> None:
    """two-stage over 6 epochs = float 1..3, quantized 4..6: rungs only in the quantized
    stage, at its own epochs 1 and 3 (global 4 and 6); float-stage accuracies never count."""
    from dse.train import get_schedule

    rule = EarlyStopping.for_stages(get_schedule("two-stage", 6), eta=3, min_peers=3,
                                        criterion="halving")
    assert rule.stage_start == {"quantized": 3}
    for value in (0.99, 0.98, 0.1):  # float stage: no rung, not recorded
        assert not rule.should_stop(0, 1, value, 6, "float")
        assert not rule.should_stop(0, 3, value, 6, "float")
    assert not rule.should_stop(0, 4, 0.5, 6, "quantized")
    assert not rule.should_stop(0, 4, 0.4, 6, "quantized")  # 2 peers: no decision
    # the third quantized result decides against the quantized peers only (the float 0.99s
    # would have stopped 0.45; among [0.5, 0.45, 0.4] the top third is 0.5)
    assert rule.should_stop(0, 4, 0.45, 6, "quantized")
    assert not rule.should_stop(0, 4, 0.6, 6, "quantized")
    assert not rule.should_stop(0, 5, 0.0, 6, "quantized")  # stage epoch 2: not a rung
    assert not rule._seen.get((0, "float", 1))
