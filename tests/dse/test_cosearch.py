"""Co-search end to end: (network, accelerator) pairs, fit before training, train once per
network, 3-4 objectives through the sampler, the store, the front and the query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from dse.cli import main
from dse.config import build_config
from dse.cosearch import FIT_CONSTRAINT, pair_hash
from dse.search import Proposer, cost_bucket, run_search
from dse.store import open_store
from dse.trial import TrialPayload, TrialResult
from hwmodel.accel import AccelConfig
from hwmodel.sim.sweep import point_metrics
from search_spaces.spaces import get_space
from search_spaces.spec import ArchSpec

QUICK = {"epochs": 1, "schedule": "qat", "max_train_batches": 3, "batch_size": 32,
         "executor": "local", "progress": False, "early_stopping": False,
         "confirm": 0}  # one network per candidate: confirmation is tests/dse/test_confirm.py's

#: One network (every knob fixed) on eight accelerators.
ONE_NET_SPACE = """
name: one-net
base: tiny
dimensions:
  stages: 1
  blocks: 0
  width: 8
  groups: 1
  weight_bits: 2
  act_bits: 1
accelerator:
  rows: [4, 8, 16, 32]
  dataflow: [ws, os]
"""


def space_file(tmp_path: Path, text: str = ONE_NET_SPACE) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


def count_training(monkeypatch: Any) -> list[str]:
    import dse.search as search

    calls: list[str] = []
    real = search.run_trial

    def counting(payload: TrialPayload, report: Any) -> TrialResult:
        calls.append(payload.spec_json)
        return real(payload, report)

    monkeypatch.setattr(search, "run_trial", counting)
    return calls


def test_one_network_with_k_accelerators_is_trained_once(tmp_path: Path,
                                                         monkeypatch: Any) -> None:
    calls = count_training(monkeypatch)
    url = f"sqlite:///{tmp_path / 's.db'}"
    cfg = build_config(study="once", db=url, trials=6, space=space_file(tmp_path),
                       sampler="random", seed=3,
                       objectives=["accuracy", "cycles", "area_um2"], **QUICK)
    run_search(cfg)
    store = open_store(url)
    df = store.query("once")
    assert len(calls) == 1  # one network: trained once
    assert len(df) >= 2 and set(df["status"]) == {"complete"}
    assert len(set(df["network_hash"])) == 1 and len(set(df["spec_hash"])) == len(df)
    assert df["accuracy"].nunique() == 1  # the network's result, reused by every pair
    assert sorted(df["train_seconds"] > 0) == [False] * (len(df) - 1) + [True]
    # the hardware metrics are the pair's: the simulator's numbers for that accelerator
    spec = ArchSpec.from_json(store.candidate(int(df.iloc[0]["candidate_id"]))["spec"])
    for _, row in df.iterrows():
        accel = AccelConfig(rows=int(row["accel_rows"]), dataflow=row["accel_dataflow"])
        want = point_metrics(spec, accel)
        assert row["cycles"] == want["cycles"]
        assert row["area_um2"] == pytest.approx(want["area_um2"])
        assert row["energy_pj"] == pytest.approx(want["energy_pj"])
        assert row["spec_hash"] == pair_hash(spec.hash, accel)
    assert df["cycles"].nunique() > 1
    # the candidate page's source: the pair's accelerator in the hardware report
    cand = store.candidate(int(df.iloc[-1]["candidate_id"]))
    assert cand["hardware"]["accel"]["rows"] == int(df.iloc[-1]["accel_rows"])


def _proposer(tmp_path: Path, space_path: str, trials: int, **kw: Any
              ) -> tuple[Proposer, Any]:
    """A proposer wired as run_search wires it (to drive ask/tell by hand)."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    cfg = build_config(study="p", db=url, trials=trials, space=space_path, sampler="random",
                       seed=1, objectives=["accuracy", "cycles", "area_um2"], **QUICK, **kw)
    store = open_store(url)
    rec = store.create_or_get_study("p", space=cfg.space, dataset=cfg.dataset,
                                    task=cfg.task, config=cfg.to_dict(),
                                    objectives=list(zip(cfg.objectives, cfg.directions,
                                                        strict=True)), budgets=[])
    study = optuna.create_study(study_name="dse:p", storage=optuna.storages.RDBStorage(url),
                                directions=cfg.directions,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    space = get_space(space_path, input_shape=(1, 8, 8), num_classes=10)
    return Proposer(cfg, store, rec.id, study, space, AccelConfig()), study


def test_pairs_proposed_while_their_network_trains_wait_for_its_result(
        tmp_path: Path) -> None:
    proposer, study = _proposer(tmp_path, space_file(tmp_path), trials=5)
    first = proposer.next()
    assert first is not None
    # every other proposal shares the network (or repeats a pair): none is handed out
    assert proposer.next() is None
    waiting = proposer.waiting[first.network_hash]
    assert waiting
    proposer.complete(first, TrialResult(status="complete", metrics={"accuracy": 0.625},
                                         train_seconds=1.5, epochs_run=1))
    df = proposer.store.query("p")
    done = df[df["status"] == "complete"]
    assert len(done) == 1 + len(waiting) == len(df)
    assert set(done["accuracy"]) == {0.625}
    assert set(done["train_seconds"]) == {0.0, 1.5}
    states = {t.number: t.state for t in study.get_trials()}
    for cand in waiting:
        assert states[cand.trial_number] == optuna.trial.TrialState.COMPLETE


def test_a_network_that_does_not_fit_is_infeasible_and_never_trained(
        tmp_path: Path, monkeypatch: Any) -> None:
    calls = count_training(monkeypatch)
    text = ONE_NET_SPACE.replace("  dataflow: [ws, os]\n",
                                 "  weight_sram_kbits: [0.25, 0.375]\n  act_sram_kbits: [0.5, 1]\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    cfg = build_config(study="fit", db=url, trials=5, space=space_file(tmp_path, text),
                       sampler="random", seed=0,
                       objectives=["accuracy", "cycles", "area_um2"], **QUICK)
    run_search(cfg)
    df = open_store(url).query("fit")
    assert calls == [] and set(df["status"]) == {"infeasible"}
    # hand check: the conv stores 8*1*9 ternary weights and the classifier 10*8, 2 bits each
    # (304 bits), and per channel one BN threshold of a 2+8+ceil(log2 9) = 14-bit accumulator
    # plus its reversed-comparison flag (8*15 = 120 bits): 424 bits that 256 or 384 do not
    # hold. The activation peak is the 8x8x8 input codes (8 bits) and the 8x8x8 binary
    # output: 1024 bits.
    for _, row in df.iterrows():
        assert row["weight_memory_bits"] == 304 and row["norm_memory_bits"] == 120
        assert row["act_buffer_bits"] == 1024
        w_kbits, a_kbits = row["accel_weight_sram_kbits"], row["accel_act_sram_kbits"]
        want = (f"weights 424 bits > weight_sram_kbits="
                f"{w_kbits:g} ({w_kbits * 1024:.0f} bits)")
        if a_kbits < 1:
            want += ", activation peak 1024 bits > act_sram_kbits=0.5 (512 bits)"
        assert row["violated"] == want
        assert row["fit_excess"] == pytest.approx(max(
            424 / (w_kbits * 1024), 1024 / (a_kbits * 1024)) - 1)
    trials = optuna.load_study(study_name="dse:fit",
                               storage=optuna.storages.RDBStorage(url)).get_trials()
    for t in trials:
        if "duplicate_of" not in t.user_attrs:
            assert t.constraints[FIT_CONSTRAINT] > 0  # told to the sampler as infeasible


def test_cost_bucket_reads_the_first_pre_training_objective() -> None:
    metrics = {"memory_bits": 4.0**9, "cycles": 4.0**6 * 1.5, "area_um2": 4.0**12}
    objectives = ("accuracy", "cycles", "area_um2", "energy_pj")
    assert cost_bucket(metrics, objectives) == 50  # floor(4 log2(1.5 * 2^12)) = 48 + 2
    assert cost_bucket(metrics, ("accuracy", "area_um2", "cycles")) == 96  # 4 * 24


def test_four_objective_cosearch_cli_front_and_query(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """`dse search --objectives accuracy,cycles,area_um2,energy_pj` on the shipped co-search
    space, with the default (TPE) sampler and a budget; then the front and the query."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code = main(["search", "--study", "four", "--db", url, "--space", "asic-encoder-cosearch",
                 "--objectives", "accuracy,cycles,area_um2,energy_pj",
                 "--budget", "memory_bits<=2e5", "--trials", "10", "--epochs", "2",
                 "--max-train-batches", "2", "--executor", "local", "--quiet"])
    capsys.readouterr()
    assert code == 0
    store = open_store(url)
    df = store.query("four")
    assert len(df) >= 5
    status = store.study_status("four")
    assert [n for n, _ in status["objectives"]] == ["accuracy", "cycles", "area_um2",
                                                    "energy_pj"]
    done = df[df["status"] == "complete"]
    assert len(done) >= 1 and status["hypervolume"] is not None and status["hypervolume"] > 0
    # the stored front is the non-dominated set over the four objectives (brute force here)
    pts = done[["accuracy", "cycles", "area_um2", "energy_pj"]].to_numpy() * np.array(
        [-1, 1, 1, 1])
    front = {int(cid) for cid, p in zip(done["candidate_id"], pts, strict=True)
             if not any((q <= p).all() and (q < p).any() for q in pts)}
    assert set(df.loc[df["pareto"], "candidate_id"].astype(int)) == front
    code = main(["query", "four", "--db", url, "--pareto", "--format", "json",
                 "--columns", "candidate_id,accuracy,cycles,accel_rows,accel_dataflow"])
    out, _ = capsys.readouterr()
    assert code == 0
    rows = json.loads(out)
    assert {r["candidate_id"] for r in rows} == front
    assert all(r["accel_rows"] in (8, 16, 32) and r["accel_dataflow"] in ("ws", "os")
               for r in rows)
    trials = optuna.load_study(study_name="dse:four",
                               storage=optuna.storages.RDBStorage(url)).get_trials()
    assert all(len(t.values) == 4 for t in trials if t.values is not None)


def test_accels_per_network_pairs_a_trained_network_with_more_accelerators(
        tmp_path: Path, monkeypatch: Any) -> None:
    """After each training, k more accelerators that the network fits are proposed: they are
    costed and completed with the network's result, with no training."""
    calls = count_training(monkeypatch)
    text = ONE_NET_SPACE.replace("  dataflow: [ws, os]\n",
                                 "  weight_sram_kbits: [0.25, 64]\n")  # 424 bits fit 64 only
    url = f"sqlite:///{tmp_path / 's.db'}"
    cfg = build_config(study="k", db=url, trials=6, space=space_file(tmp_path, text),
                       sampler="random", seed=5, accels_per_network=3,
                       objectives=["accuracy", "cycles", "area_um2"], **QUICK)
    run_search(cfg)
    df = open_store(url).query("k")
    assert len(calls) == 1
    done = df[df["status"] == "complete"].sort_values("trial_number")
    assert done["accuracy"].nunique() == 1 and set(done["accel_weight_sram_kbits"]) == {64.0}
    trained = done[done["train_seconds"] > 0]
    assert len(trained) == 1
    # the three trials after the training are its enqueued accelerators, all fitting
    first = int(trained["trial_number"].iloc[0])
    trials = optuna.load_study(study_name="dse:k",
                               storage=optuna.storages.RDBStorage(url)).get_trials()
    queued = [t for t in trials if t.number > first][:3]
    assert len(queued) == 3 and all("fixed_params" in t.system_attrs for t in queued)
    assert all(t.params["accel_weight_sram_kbits"] == 64.0 for t in queued)
    # the other three array heights of the range, each completed with the network's result
    assert sorted(t.params["accel_rows"] for t in queued) == sorted(
        {4, 8, 16, 32} - {int(trained["accel_rows"].iloc[0])})
    assert {t.number for t in queued} <= set(done["trial_number"].astype(int))
