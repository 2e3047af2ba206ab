"""`dse train`: a reference spec, a front candidate of a stored study, kill-and-rerun resume,
and the bad inputs (one line on stderr, exit 2, nothing written)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dse.cli import main
from dse.config import build_config
from dse.export import candidate_bundle
from dse.search import run_search
from dse.store import open_store
from dse.trainings import LONGER, TRAIN_SPACE
from hwmodel.cost import cost_report
from search_spaces.spaces import get_reference

#: Quick runs: 3 batches of 32 per epoch, in-process.
QUICK = {"max_train_batches": 3, "batch_size": 32, "executor": "local", "progress": False,
         "early_stopping": False, "warm_start": 2,
         "confirm": 0}  # one network per candidate: confirmation is tests/dse/test_confirm.py's


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def counts(url: str) -> dict[str, int]:
    """Rows per table of ours (what a refused command must leave as it was)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in ("dse_studies", "dse_candidates", "dse_evaluations",
                              "dse_hardware_reports", "dse_trainings", "dse_artifacts")}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    """A tiny stored search (2 trained candidates, 2 epochs of two-stage) plus one candidate
    recorded over budget: (url, a front candidate's id, the infeasible one's id)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('train') / 'study.db'}"
    run_search(build_config(study="s", db=url, trials=2, seed=0, epochs=2,
                            schedule="two-stage", **QUICK))
    with open_store(url) as store:
        front = store.query("s", pareto_only=True)
        spec = get_reference("mognet-digits")
        sid = store.get_study("s").id
        cid, _ = store.add_candidate(sid, spec.to_json(), spec.hash, {})
        eid = store.start_evaluation(cid, None)
        store.finish_evaluation(eid, "infeasible", violated="memory_bits<=10")
    yield url, int(front["candidate_id"].iloc[0]), cid


def test_train_a_reference_into_a_train_study(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    argv = ("train", "tiny-digits", "--epochs", "2", "--max-train-batches", "3", "--db", url,
            "--quiet")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    spec = get_reference("tiny-digits")
    with open_store(url) as store:
        study = store.get_study("train")
        assert (study.space, study.dataset, study.task) == (TRAIN_SPACE, "digits",
                                                           "classification")
        assert [o for o, _ in study.objectives] == ["accuracy", "memory_bits"]
        rows = store.evaluations("train")
        assert len(rows) == 1
        row = rows.iloc[0]
        assert (row["source"], row["epochs"], row["schedule"], row["max_train_batches"],
                row["status"]) == ("train", 2, "two-stage", 3, "complete")
        # the hardware columns are the candidate's cost-model totals
        assert row["memory_bits"] == cost_report(spec).totals["memory_bits"]
        assert 0.0 <= row["accuracy"] <= 1.0 and row["accuracy"] == row["val_accuracy"]
        rec = store.training(int(row["training_id"]))
        assert [(p["stage"], p["epoch"]) for p in rec.curve] == [("float", 1), ("quantized", 2)]
        assert rec.curve[-1]["val_accuracy"] == rec.metrics["accuracy"]
        assert store.candidate(rec.candidate_id)["spec_hash"] == spec.hash
        assert f"training-{rec.id}/model" in store.candidate(rec.candidate_id)["artifacts"]
        first = rec
    assert f"accuracy {first.metrics['accuracy']:.4f}" in out
    # a finished one is not retrained ...
    code, out, err = run(capsys, *argv)
    assert code == 0 and "trained already (complete" in out and "--retrain" in out
    with open_store(url) as store:
        assert store.training(first.id).attempt == 1
    # ... unless asked; the trainer is deterministic: the same numbers again
    code, out, err = run(capsys, *argv, "--retrain")
    assert code == 0, err
    with open_store(url) as store:
        again = store.training(first.id)
        assert again.attempt == 2 and again.metrics["accuracy"] == first.metrics["accuracy"]
        assert again.metrics["test_accuracy"] == first.metrics["test_accuracy"]
        assert [p["val_accuracy"] for p in again.curve] == \
            [p["val_accuracy"] for p in first.curve]


def test_train_a_front_candidate_longer(study_db: tuple[str, int, int], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url, cid, _ = study_db
    with open_store(url) as store:
        before = store.candidate(cid)["evaluation"]
        query_before = store.query("s")
    # at the search's own fidelity: the search's trial again (same settings, same trial
    # seed), so the very same accuracy
    code, out, err = run(capsys, "train", "s", str(cid), "--epochs", "2", "--db", url,
                         "--quiet")
    assert code == 0, err
    # the default: LONGER x the study's epochs, with the study's settings
    code, out, err = run(capsys, "train", "s", str(cid), "--db", url, "--quiet")
    assert code == 0, err
    assert f"{LONGER * 2} epochs (two-stage, 3 batches/epoch): complete" in out
    with open_store(url) as store:
        assert store.candidate(cid)["evaluation"] == before  # the search's: untouched
        after = store.query("s")
        assert after.drop(columns=["status"]).equals(query_before.drop(columns=["status"]))
        rows = store.evaluations("s", candidate_id=cid)
        assert list(zip(rows["source"], rows["epochs"], strict=True)) == [
            ("search", 2), ("train", 2), ("train", LONGER * 2)]
        assert set(rows["status"]) == {"complete"}
        assert rows["accuracy"].iloc[1] == before["metrics"]["accuracy"]
        assert rows["test_accuracy"].iloc[1] == before["metrics"]["test_accuracy"]
        assert rows["memory_bits"].nunique() == 1  # one candidate, one hardware report
        settings = store.training(int(rows["training_id"].iloc[2])).settings
        study_cfg = store.get_study("s").config
        for key in ("dataset", "task", "seed", "lr", "batch_size", "lr_schedule",
                    "bn_recalibration"):
            assert settings[key] == study_cfg[key], key
        assert settings["trial_number"] == before["trial_number"]
        best = store.evaluations("s", highest_fidelity=True)
        assert best.loc[best["candidate_id"] == cid, "epochs"].tolist() == [LONGER * 2]
        assert best.loc[best["candidate_id"] == cid, "source"].tolist() == ["train"]
    # the CLI's view of it
    code, out, err = run(capsys, "query", "s", "--evaluations", "--db", url, "--format", "csv",
                         "--where", f"candidate_id == {cid} and epochs > 2")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{cid},train,")
    code, out, err = run(capsys, "query", "s", "--evaluations", "--highest-fidelity",
                         "--pareto", "--db", url, "--columns", "candidate_id,epochs",
                         "--format", "csv")
    assert code == 0, err
    assert f"{cid},{LONGER * 2}" in out.splitlines()
    # the longer-trained model goes to the hardware flow like the search's
    longer = int(rows["training_id"].iloc[2])
    with open_store(url, read_only=True) as store:
        ours = candidate_bundle(store, "s", cid, training=longer, vectors=4).files
        search = candidate_bundle(store, "s", cid, vectors=4).files
    assert set(ours) == set(search)
    assert len(ours["memories/weights.bin"]) == len(search["memories/weights.bin"])
    assert ours["memories/weights.bin"] != search["memories/weights.bin"]  # trained further
    code, out, err = run(capsys, "export", "s", str(cid), "--training", str(longer),
                         "--out", str(tmp_path / "longer"), "--vectors", "4", "--db", url)
    assert code == 0, err
    assert (tmp_path / "longer" / "memories" / "weights.bin").read_bytes() == \
        ours["memories/weights.bin"]
    for bad, message in ((999, "--training=999: not a training of candidate"),):
        code, out, err = run(capsys, "export", "s", str(cid), "--training", str(bad),
                             "--out", str(tmp_path / "bad"), "--db", url)
        assert code == 2 and message in err and not (tmp_path / "bad").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (("train", "nope", "1"), "unknown study 'nope' (studies: s)"),
    (("train", "s", "999"), "study 's' has no candidate 999 (its 3 candidates have ids 1..3"),
    (("train", "s", "{infeasible}"), "is infeasible (memory_bits<=10)"),
    (("train", "s", "{front}", "--epochs", "0"), "--epochs=0 must be an integer >= 1"),
    (("train", "s", "{front}", "--epochs", "-3"), "--epochs=-3 must be an integer >= 1"),
    (("train", "s", "{front}", "--epochs", "x"), "'x' is not a valid integer"),
    (("train", "s", "{front}", "--schedule", "slow"), "--schedule='slow' must be one of"),
    (("train", "s", "{front}", "--dataset", "digits"),
     "--dataset: a study's candidate trains with its study's settings"),
    (("train", "billnet-gestures"),
     "dataset='digits': the spec's input_shape [1, 8, 32, 32] is not the dataset's [1, 8, 8]"),
    (("train", "tiny-digits", "--dataset", "synthetic-gestures"),
     "dataset='synthetic-gestures': the spec's input_shape [1, 8, 8] is not the dataset's "
     "[1, 8, 32, 32]"),
    (("train", "tiny-digits", "--task", "compression"),
     "dataset='sample-images': the spec's patch [1, 8, 8] does not fit the dataset's images "
     "[3, 32, 32]"),
    (("train", "tiny-digits", "--study", "s"), "study 's' is a search study"),
    (("train", "no-such-spec"), "no-such-spec: no such file or reference configuration"),
    (("train", "tiny-digits", "--epochs", "0"), "--epochs=0 must be an integer >= 1"),
])
def test_bad_inputs_are_one_line_exit_2_and_write_nothing(
        study_db: tuple[str, int, int], capsys: pytest.CaptureFixture[str],
        argv: tuple[str, ...], message: str) -> None:
    url, front, infeasible = study_db
    argv = tuple(a.format(front=front, infeasible=infeasible) for a in argv)
    before = counts(url)
    code, out, err = run(capsys, *argv, "--db", url)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dse: error: ") and message in err, err
    assert "Traceback" not in err and out == ""
    assert counts(url) == before


def test_a_missing_database_is_not_created(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    code, out, err = run(capsys, "train", "s", "1", "--db", url)
    assert (code, out) == (2, "") and err == f"dse: error: {url}: no such database file\n"
    assert not (tmp_path / "none.db").exists()


def test_a_train_study_keeps_its_settings(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, _, err = run(capsys, "train", "tiny-digits", "--epochs", "1", "--schedule", "qat",
                       "--max-train-batches", "2", "--seed", "3", "--db", url, "--quiet")
    assert code == 0, err
    before = counts(url)
    code, out, err = run(capsys, "train", "mognet-digits", "--epochs", "1", "--seed", "4",
                         "--db", url)
    assert code == 2 and "--seed=4: train study 'train' was created with seed=3" in err
    assert counts(url) == before


#: ``dse`` that kills itself (SIGKILL) right after it stored epoch ``$KILL_AFTER_EPOCH`` of a
#: training: a kill -9 at a known point, wherever the machine's speed puts the epochs.
KILLED_AFTER_EPOCH = """
import os, signal, sys
from dse.store.api import Store
stored = Store.training_epoch
def training_epoch(self, training_id, row, checkpoint=None):
    stored(self, training_id, row, checkpoint)
    if row["epoch"] == int(os.environ["KILL_AFTER_EPOCH"]):
        os.kill(os.getpid(), signal.SIGKILL)
Store.training_epoch = training_epoch
from dse.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_training_resumes_where_it_stopped(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """kill -9 after epoch 4 of 6 (in the quantized stage); the same command continues at
    epoch 5 from the stored checkpoint and ends with exactly the numbers of an unbroken run."""
    argv = ["train", "tiny-digits", "--epochs", "6", "--max-train-batches", "4"]
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_AFTER_EPOCH": "4"}
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_EPOCH, *argv, "--db", url],
                            env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with open_store(url) as store:
        stored = store.training(1)
        assert [p["epoch"] for p in stored.curve] == [1, 2, 3, 4]
        assert stored.curve[-1]["stage"] == "quantized"  # killed inside the last stage
        assert stored.status == "running"  # nobody could write on a kill -9
        assert store.evaluations("train")["status"].tolist() == ["interrupted"]
    code, out, err = run(capsys, *argv, "--db", url)
    assert code == 0, err
    assert "resumed after epoch 4" in err
    assert [ln.split()[0] for ln in err.splitlines() if ln.startswith("[")] == ["[5/6]", "[6/6]"]
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    code, _, err = run(capsys, *argv, "--db", whole, "--quiet")
    assert code == 0, err
    with open_store(whole) as a, open_store(url) as b:
        ref, resumed = a.training(1), b.training(1)
    assert resumed.status == "complete" and resumed.attempt == 2
    assert resumed.metrics["accuracy"] == ref.metrics["accuracy"]
    assert resumed.metrics["test_accuracy"] == ref.metrics["test_accuracy"]
    assert _curve(resumed.curve) == _curve(ref.curve)


def _curve(points: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["stage"], p["epoch"], p["train_loss"], p["val_accuracy"]) for p in points]


def test_ctrl_c_stores_interrupted_and_the_rerun_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dse.store.api import Store

    stored = Store.training_epoch

    def interrupted_after_2(self: Store, training_id: int, row: dict[str, Any],
                            checkpoint: bytes | None = None) -> None:
        stored(self, training_id, row, checkpoint)
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    argv = ("train", "tiny-digits", "--epochs", "3", "--schedule", "qat",
            "--max-train-batches", "2", "--db", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setattr(Store, "training_epoch", interrupted_after_2)
    code, _, err = run(capsys, *argv)
    assert code == 130 and err.endswith("dse: aborted\n")  # click turns Ctrl-C into Abort
    monkeypatch.setattr(Store, "training_epoch", stored)
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        rec = store.training(1)
        assert (rec.status, rec.pid, len(rec.curve)) == ("interrupted", None, 2)
    code, _, err = run(capsys, *argv)
    assert code == 0 and "resumed after epoch 2" in err
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        assert (store.training(1).status, store.training(1).attempt) == ("complete", 2)
