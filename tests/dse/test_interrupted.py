"""A search that is stopped (Ctrl-C) or killed leaves no evaluation shown ``running``: it is
``interrupted`` in ``dse status`` and ``dse query`` (and the dashboard, which reads the same
query), and ``running`` again once a driver resumes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dse.store import open_store

ARGV = ["--trials", "40", "--epochs", "2", "--max-train-batches", "40", "--quiet"]


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dse.cli", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def _search(study: str, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dse.cli", "search", "--study", study,
                             "--db", _db(tmp_path), *ARGV, *extra], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dse.db'}"


def _stored(tmp_path: Path, study: str) -> dict[int, str]:
    """Stored status by trial number (as written, not as shown)."""
    import sqlite3

    path = tmp_path / "dse.db"
    if not path.exists():
        return {}
    con = sqlite3.connect(path, timeout=30)
    try:
        return {int(n): str(s) for n, s in con.execute(
            "select e.trial_number, e.status from dse_evaluations e join dse_studies s "
            "on s.id = e.study_id where s.name = ?", (study,))}
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


def _wait_running(tmp_path: Path, study: str, proc: subprocess.Popen[str],
                  timeout: float = 420, attempt: int = 1) -> int:
    """The trial number of an evaluation stored running whose attempt ``attempt`` (or a
    later one) has reported an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for n, s in _stored(tmp_path, study).items():
            if s == "running" and _has_epoch(tmp_path, n, attempt):
                return n
        time.sleep(0.2)
    raise AssertionError("no evaluation started")


def _has_epoch(tmp_path: Path, trial: int, attempt: int = 1) -> bool:
    import sqlite3

    con = sqlite3.connect(tmp_path / "dse.db", timeout=30)
    try:
        return con.execute("select count(*) from dse_epochs p join dse_evaluations e on "
                           "e.id = p.evaluation_id and e.attempt = p.attempt "
                           "where e.trial_number = ? and p.attempt >= ?",
                           (trial, attempt)).fetchone()[0] > 0
    finally:
        con.close()


def _shown(tmp_path: Path, study: str) -> tuple[dict[str, Any], dict[int, str]]:
    """(counts of `dse status --json`, status by trial of `dse query --format json`)."""
    status = _cli("status", study, "--db", _db(tmp_path), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    query = _cli("query", study, "--db", _db(tmp_path), "--format", "json", cwd=tmp_path)
    assert query.returncode == 0, query.stderr
    rows = json.loads(query.stdout)
    return json.loads(status.stdout)["counts"], {int(r["trial_number"]): r["status"]
                                                 for r in rows}


def test_kill_9_shows_interrupted_and_resume_shows_running(tmp_path: Path) -> None:
    first = _search("k9", tmp_path, "--executor", "local", "--epochs", "4")
    try:
        trial = _wait_running(tmp_path, "k9", first)
    finally:
        first.kill()
        first.communicate()
    assert _stored(tmp_path, "k9")[trial] == "running"  # nobody could write on a kill -9
    counts, shown = _shown(tmp_path, "k9")
    assert counts["running"] == 0 and counts["interrupted"] == 1
    assert shown[trial] == "interrupted" and "running" not in shown.values()
    df = open_store(_db(tmp_path), read_only=True).query("k9")  # what the dashboard reads
    assert set(df.loc[df["trial_number"] == trial, "status"]) == {"interrupted"}

    second = _search("k9", tmp_path, "--executor", "local", "--epochs", "4")
    try:  # the resumed driver runs the interrupted trial again first
        assert _wait_running(tmp_path, "k9", second, attempt=2) == trial
        counts, shown = _shown(tmp_path, "k9")
        # running while the live driver trains it (complete if it finished meanwhile: the
        # two CLI calls take seconds on a loaded machine), never interrupted
        assert shown[trial] in ("running", "complete") and counts["interrupted"] == 0
        assert "interrupted" not in shown.values()
    finally:
        second.kill()
        second.communicate()


def test_ctrl_c_stores_interrupted(tmp_path: Path) -> None:
    """SIGINT to a search on its own local Ray: it stops, the trial it was training is stored
    ``interrupted`` (not pruned, not failed), and nothing is shown running."""
    proc = _search("ctrlc", tmp_path)
    try:
        trial = _wait_running(tmp_path, "ctrlc", proc)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stored = _stored(tmp_path, "ctrlc")
    assert stored[trial] == "interrupted"
    assert "running" not in stored.values()
    counts, shown = _shown(tmp_path, "ctrlc")
    assert counts["running"] == 0 and shown[trial] == "interrupted"
