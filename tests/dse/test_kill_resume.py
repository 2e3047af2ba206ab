"""A kill -9 during a compression trial, then a resume: the stored result holds only the
re-run's metrics, epochs and artifacts (docs/design.md, "Flow of one trial")."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STUDY = """\
task: compression
study: codec
trials: 1
epochs: 4
schedule: qat
batch_size: 16
max_train_batches: 2
executor: local
early_stopping: false
warm_start: 0
confirm: 0
seed: 3
dataset_params: {n_train: 48, n_val: 16, n_test: 8, crop_size: 32}
"""


def _search(folder: Path) -> subprocess.Popen[str]:
    (folder / "study.yaml").write_text(STUDY, encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "dse.cli", "search", "--config",
                             "study.yaml", "--db", "sqlite:///dse.db", "--quiet"], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _sql(folder: Path, query: str) -> list[tuple[Any, ...]]:
    path = folder / "dse.db"
    if not path.exists():
        return []
    con = sqlite3.connect(path, timeout=30)
    try:
        return list(con.execute(query))
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def _result(folder: Path) -> dict[str, Any]:
    """The one candidate's stored evaluation, epoch rows and artifact names."""
    (status, attempt, metrics, accuracy), = _sql(
        folder, "SELECT status, attempt, metrics, accuracy FROM dse_evaluations")
    epochs = _sql(folder, "SELECT attempt, stage, epoch, train_loss, val_loss, metrics "
                          "FROM dse_epochs ORDER BY id")
    artifacts = _sql(folder, "SELECT name, length(data) FROM dse_artifacts ORDER BY name")
    return {"status": status, "attempt": attempt, "metrics": json.loads(metrics),
            "accuracy": accuracy, "epochs": epochs, "artifacts": artifacts}


def test_kill_9_during_a_compression_trial_then_resume(tmp_path: Path) -> None:
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    killed.mkdir()
    reference.mkdir()
    first = _search(killed)
    try:
        deadline = time.monotonic() + 300
        while not _sql(killed, "SELECT 1 FROM dse_epochs"):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "no epoch row within 300 s"
            time.sleep(0.05)
    finally:
        first.kill()
        first.communicate()
    before = _result(killed)
    assert before["status"] == "running" and before["attempt"] == 1
    assert 1 <= len(before["epochs"]) < 4  # killed during the trial
    # what an attempt that got further would also have left: metrics (a compression trial's
    # are JSON) and an artifact; the restart must clear them with the rest
    con = sqlite3.connect(killed / "dse.db")
    with con:
        con.execute("UPDATE dse_evaluations SET metrics = json_set(metrics, '$.psnr_db', "
                    "-1.0, '$.stale_probe', 1.0), error = 'stale'")
        con.execute("INSERT INTO dse_artifacts (candidate_id, name, mime, data, created_at) "
                    "SELECT candidate_id, 'stale', 'image/png', x'00', '2026-01-01' "
                    "FROM dse_evaluations")
    con.close()

    resumed, ref = _search(killed), _search(reference)
    for proc in (resumed, ref):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    after, clean = _result(killed), _result(reference)
    assert after["status"] == clean["status"] == "complete"
    assert after["attempt"] == 2 and clean["attempt"] == 1
    # only the re-run's epochs, keyed by its attempt, equal to an uninterrupted run's
    assert [e[0] for e in after["epochs"]] == [2] * len(clean["epochs"])
    assert [e[1:] for e in after["epochs"]] == [e[1:] for e in clean["epochs"]]
    assert len(clean["epochs"]) == 4
    # only the re-run's metrics: the same keys and values as the uninterrupted run's
    assert "stale_probe" not in after["metrics"] and after["metrics"]["psnr_db"] > 0
    assert after["metrics"] == clean["metrics"]
    assert after["artifacts"] == clean["artifacts"]
    assert [name for name, _ in after["artifacts"]] == ["model", "reconstruction"]
