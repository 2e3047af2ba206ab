"""``dse studies``, ``dse status``, ``dse query`` on a small SQLite store (exit codes, formats)."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest

from dse.cli import main
from dse.store import open_store


@pytest.fixture
def db(tmp_path: Any) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    s = open_store(url)
    rec = s.create_or_get_study("demo", space="mognet", dataset="digits", config={},
                                objectives=[("accuracy", "maximize"), ("memory_bits", "minimize")],
                                budgets=[("memory_bits", "<=", 1000.0), ("accuracy", ">=", 0.4)])
    for i, (status, acc, mem) in enumerate([("complete", 0.9, 800.0), ("complete", 0.8, 300.0),
                                            ("complete", 0.5, 100.0), ("complete", 0.6, 900.0),
                                            ("infeasible", None, 5e6)]):
        cid, _ = s.add_candidate(rec.id, "{}", f"h{i}", {"width": 8 * (i + 1)})
        eid = s.start_evaluation(cid, i)
        s.record_hardware(cid, {"memory_bits": mem}, [], {})
        s.finish_evaluation(eid, status, metrics={} if acc is None else {"accuracy": acc},
                            violated="memory_bits <= 1000" if acc is None else None)
    s.close()
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_studies_and_status(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "studies", "--db", db, "--format", "csv")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert frame["name"].tolist() == ["demo"] and frame["n_candidates"].tolist() == [5]
    code, out, _ = run(capsys, "studies", "--db", db)
    assert code == 0 and "demo" in out
    code, out, _ = run(capsys, "status", "demo", "--db", db)
    assert code == 0
    # front (0.9,800) (0.8,300) (0.5,100), reference (0.4, 1000): 20 + 210 + 90 = 320
    assert "hypervolume: 320" in out and "complete 4  infeasible 1" in out
    code, out, _ = run(capsys, "status", "demo", "--db", db, "--json")
    info = json.loads(out)
    assert info["hypervolume"] == pytest.approx(320.0) and info["pareto_size"] == 3


def test_query_formats(db: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "query", "demo", "--db", db, "--pareto", "--sort",
                       "-accuracy,memory_bits", "--columns", "accuracy,memory_bits",
                       "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["accuracy,memory_bits", "0.9,800.0", "0.8,300.0", "0.5,100.0"]
    code, out, _ = run(capsys, "query", "demo", "--db", db, "--where",
                       "status == 'infeasible'", "--format", "json")
    rows = json.loads(out)
    assert [r["memory_bits"] for r in rows] == [5e6] and rows[0]["violated"]
    target = tmp_path / "front.parquet"
    code, _, err = run(capsys, "query", "demo", "--db", db, "--pareto", "--format", "parquet",
                       "--out", str(target))
    assert code == 0 and "wrote 3 rows" in err
    assert sorted(pd.read_parquet(target)["memory_bits"]) == [100.0, 300.0, 800.0]
    code, out, _ = run(capsys, "query", "demo", "--db", db, "--where", "accuracy >= 0.8")
    assert code == 0 and "0.9" in out and "0.8" in out and "0.5" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["status", "nope"], "unknown study 'nope' (studies: demo)"),
    (["query", "nope"], "unknown study 'nope' (studies: demo)"),
    (["query", "demo", "--where", "accuracy>0; DROP TABLE dse_studies"], "position 11"),
    (["query", "demo", "--where", "1=1 --"], "use == to compare"),
    (["query", "demo", "--sort", "-bogus"], "--sort: unknown column 'bogus'"),
    (["query", "demo", "--columns", "bogus"], "--columns: unknown column 'bogus'"),
    (["query", "demo", "--format", "parquet"], "needs --out FILE"),
])
def test_user_errors_exit_2_with_one_line(db: str, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv, "--db", db)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_missing_database_exits_2(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "studies", "--db", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and "no such database file" in err
    assert not (tmp_path / "none.db").exists()  # reading never creates a database
