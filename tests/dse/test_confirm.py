"""Confirmation of the front (dse.confirm): which candidates train a second network, the means
their evaluations then hold, the second network's seed, resume, and the bad inputs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from dse.cli import main
from dse.config import build_config
from dse.confirm import (
    confirm_front,
    mean_metrics,
    replicated_metrics,
    to_confirm,
)
from dse.data import get_dataset
from dse.pareto import non_dominated
from dse.search import run_search
from dse.store import open_store
from dse.store.records import FIRST_PREFIX, REPLICATE, REPLICATES_KEY
from dse.trainings import replicate_payload
from dse.trial import REPLICATE_SEED_STRIDE, TrialPayload


def _frame(rows: list[tuple[int, str, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"candidate_id": c, "status": s, "accuracy": a, "memory_bits": m,
                          "network_hash": n, "spec_hash": f"spec{c}"} for c, s, a, m, n in rows])


def test_to_confirm_takes_the_first_two_fronts_best_first_one_per_network() -> None:
    frame = _frame([
        (1, "complete", 0.90, 1000, "n1"),   # front 0
        (2, "complete", 0.95, 2000, "n2"),   # front 0
        (3, "complete", 0.94, 2500, "n3"),   # front 1 (2 dominates it)
        (4, "complete", 0.93, 3000, "n4"),   # front 2 (2 and 3 dominate it)
        (5, "complete", 0.96, 5000, "n5"),   # front 0
        (6, "pruned", 0.99, 100, "n6"),      # not complete: never
        (7, "complete", 0.945, 2600, "n3"),  # front 1, the same network as 3
    ])
    obj, dirs = ["accuracy", "memory_bits"], ["maximize", "minimize"]
    # front 0 by accuracy, then front 1: 7 before 3, and 3 shares 7's network
    assert to_confirm(frame, obj, dirs, set()) == [5, 2, 1, 7]
    assert to_confirm(frame, obj, dirs, {"n2", "n3"}) == [5, 1]
    # minimized first objective: best first is the smallest
    assert to_confirm(frame, ["memory_bits", "accuracy"], ["minimize", "maximize"],
                      set())[:3] == [1, 2, 5]


def test_mean_metrics_keeps_the_first_network_and_skips_what_a_run_lacks() -> None:
    runs = [{"accuracy": 0.9, "test_accuracy": 0.8, "val_accuracy": 0.9, "other": 7.0},
            {"accuracy": 0.8, "test_accuracy": 0.9}]
    got = mean_metrics(runs, ("accuracy", "val_accuracy", "test_accuracy"))
    assert got == pytest.approx({REPLICATES_KEY: 2.0, "accuracy": 0.85, "first_accuracy": 0.9,
                                 "test_accuracy": 0.85, "first_test_accuracy": 0.8})
    assert replicated_metrics("classification") == (
        "accuracy", "val_accuracy", "test_accuracy", "deploy_mismatches")


def test_a_replicate_moves_the_training_seed_and_the_validation_fold_only() -> None:
    cfg = build_config(seed=3)
    payload = TrialPayload.from_config(cfg, "{}", 5)
    assert replicate_payload(payload, 0) is payload
    other = replicate_payload(payload, 2)
    assert {**vars(other), "replicate": 0} == vars(payload)
    assert payload.training_seed() == 3 + 5
    assert other.training_seed() == 3 + 5 + 2 * REPLICATE_SEED_STRIDE
    assert other.seed == payload.seed  # the dataset's seed (generated data) never moves
    assert payload.data_params() == {} and other.data_params() == {"fold": 2}
    # a dataset without a resplit parameter keeps its parameters
    sample = replace(payload, dataset="sample-images", dataset_params={"crop_size": 16})
    assert replicate_payload(sample, 1).data_params() == {"crop_size": 16}
    cifar = replace(payload, dataset="cifar-10", dataset_params={"split_seed": 4})
    assert replicate_payload(cifar, 1).data_params() == {"split_seed": 5}


@pytest.mark.parametrize("name, params", [("digits", {}),
                                          ("synthetic-gestures", {"clips": 240})])
def test_another_fold_keeps_the_test_split_and_draws_other_validation_images(
        name: str, params: dict[str, Any]) -> None:
    a, b = get_dataset(name, **params), get_dataset(name, fold=1, **params)

    def rows(ds: Any) -> set[bytes]:
        return {x.numpy().tobytes() + bytes([int(y)]) for x, y in ds}

    assert rows(a.test) == rows(b.test)
    assert rows(a.train) | rows(a.val) == rows(b.train) | rows(b.val)
    assert not rows(a.val) & rows(b.val)
    assert len(b.val) == pytest.approx(len(a.val), abs=6)


QUICK = {"executor": "local", "progress": False, "epochs": 2, "max_train_batches": 3,
         "warm_start": 3, "early_stopping": False}


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('confirm') / 'c.db'}"
    cfg = build_config(study="c", db=url, trials=5, confirm=2, **QUICK)
    events: list[tuple[str, dict[str, Any]]] = []
    run_search(cfg, on_event=lambda k, i: events.append((k, i)))
    yield url, cfg, events


def test_the_search_confirms_its_front_and_its_evaluations_hold_the_means(
        confirmed: tuple[str, Any]) -> None:
    url, cfg, events = confirmed
    with open_store(url) as store:
        query = store.query("c").set_index("candidate_id")
        ev = store.evaluations("c")
        reps = ev[ev["source"] == "train"]
        assert len(reps) == 2 and set(reps["replicate"]) == {REPLICATE}
        assert set(reps["status"]) == {"complete"}
        assert set(reps["epochs"]) == {cfg.epochs}
        search_rows = ev[ev["source"] == "search"].set_index("candidate_id")
        for _, rep in reps.iterrows():
            cid = int(rep["candidate_id"])
            first = search_rows.loc[cid]
            row = query.loc[cid]
            assert row[REPLICATES_KEY] == 2
            for name in ("accuracy", "val_accuracy", "test_accuracy"):
                # the evaluations' search row is the first network's own value
                assert row[FIRST_PREFIX + name] == pytest.approx(first[name])
                assert row[name] == pytest.approx((first[name] + rep[name]) / 2)
            settings = store.training(int(rep["training_id"])).settings
            assert settings["replicate"] == REPLICATE and settings["seed"] == cfg.seed
        # the others keep their one network's values
        others = query[~query.index.isin(reps["candidate_id"])]
        assert others[REPLICATES_KEY].isna().all()
        for cid, row in others[others["status"] == "complete"].iterrows():
            assert row["accuracy"] == pytest.approx(search_rows.loc[cid, "accuracy"])
        # the two confirmed are the best two of the first fronts by the first networks' values
        done = search_rows[search_rows["status"] == "complete"].reset_index()
        done["spec_hash"] = done["candidate_id"].astype(str)
        assert set(reps["candidate_id"]) == set(
            to_confirm(done, cfg.objectives, cfg.directions, set())[:2])
        # Pareto flags follow the means
        pts = query[query["status"] == "complete"][list(cfg.objectives)].to_numpy(float)
        want = set(query[query["status"] == "complete"].index[non_dominated(pts,
                                                                             cfg.directions)])
        assert set(store.query("c", pareto_only=True)["candidate_id"]) == want
        assert store.study_status("c")["confirmed"] == 2
    kinds = [k for k, _ in events if k.startswith("confirm")]
    assert kinds[0] == "confirming" and kinds.count("confirmed") == 2


def test_a_confirmed_search_rerun_trains_nothing_more(confirmed: tuple[str, Any]) -> None:
    url, cfg, _ = confirmed
    with open_store(url) as store:
        before = store.query("c")
        n = len(store.evaluations("c"))
    run_search(cfg)
    assert confirm_front(cfg, open_store(url)) == 0
    with open_store(url) as store:
        assert len(store.evaluations("c")) == n
        after = store.query("c")
    cols = ["candidate_id", "accuracy", "test_accuracy", REPLICATES_KEY]
    pd.testing.assert_frame_equal(before[cols], after[cols])


def test_confirm_zero_trains_no_second_network(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'z.db'}"
    run_search(build_config(study="z", db=url, trials=2, confirm=0, **QUICK))
    with open_store(url) as store:
        ev = store.evaluations("z")
        assert (ev["source"] == "search").all()
        assert REPLICATES_KEY not in store.query("z").columns or \
            store.query("z")[REPLICATES_KEY].isna().all()


def test_default_confirmations_are_half_the_trials() -> None:
    assert build_config(trials=30).confirm_count == 15
    assert build_config(trials=5).confirm_count == 3
    assert build_config(trials=5, confirm=0).confirm_count == 0


@pytest.mark.parametrize("argv, needle", [
    (["search", "--confirm", "-1", "--trials", "1"], "confirm=-1 must be an integer >= 0"),
    (["train", "s", "1", "--replicate", "-1"], "--replicate=-1 must be an integer >= 0"),
    (["train", "tiny-digits", "--replicate", "1"], "--replicate=1: only a study's CANDIDATE"),
])
def test_bad_confirm_and_replicate_values_are_one_line_errors(
        argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--db", f"sqlite:///{tmp_path / 'never.db'}"])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "never.db").exists()


def _trainings(db: Any) -> list[tuple[Any, ...]]:
    import sqlite3

    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return list(con.execute("SELECT candidate_id, replicate, status, pid FROM dse_trainings"))
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def test_a_search_killed_while_confirming_resumes_with_the_same_command(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    import time

    argv = [sys.executable, "-m", "dse.cli", "search", "--study", "k", "--trials", "3",
            "--epochs", "4", "--max-train-batches", "8", "--executor", "local", "--confirm",
            "2", "--warm-start", "2", "--no-early-stopping", "--db", "sqlite:///k.db",
            "--quiet"]
    first = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not any(r[2] == "running" and r[3] for r in _trainings(tmp_path / "k.db")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "no confirmation started within 300 s"
            time.sleep(0.05)
        pids = [int(r[3]) for r in _trainings(tmp_path / "k.db") if r[3]]
    finally:
        first.kill()
        first.communicate()
    # the confirmations die with the search (nothing trains behind the next run's back)
    for pid in pids:
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"confirmation process {pid} outlived the killed search")
    again = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    rows = _trainings(tmp_path / "k.db")
    assert len(rows) == 2 and {r[1:3] for r in rows} == {(REPLICATE, "complete")}
    with open_store(f"sqlite:///{tmp_path / 'k.db'}") as store:
        query = store.query("k").set_index("candidate_id")
        ev = store.evaluations("k")
        for _, rep in ev[ev["source"] == "train"].iterrows():
            row = query.loc[int(rep["candidate_id"])]
            assert row[REPLICATES_KEY] == 2
            assert row["accuracy"] == pytest.approx((row["first_accuracy"] + rep["accuracy"]) / 2)
