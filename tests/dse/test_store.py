"""One backend-agnostic suite for the results store, run on SQLite and PostgreSQL.

Every test gets a fresh database: a new SQLite file, or a uniquely named PostgreSQL schema
(selected through ``search_path``) that is dropped afterwards. On CI PostgreSQL is required
(the ``pg_url`` fixture fails instead of skipping).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from dse.pareto import hypervolume, non_dominated
from dse.store import Store, StoreError, open_store
from dse.store.where import parse_where, to_mask

OBJ2 = [("accuracy", "maximize"), ("memory_bits", "minimize")]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    base = request.getfixturevalue("pg_url")
    schema = f"tinydse_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def _study(store: Store, name: str = "s1", objectives: list[tuple[str, str]] | None = None,
           budgets: list[tuple[str, str, float]] | None = None) -> Any:
    return store.create_or_get_study(
        name, space="mognet", dataset="digits", task="classification", config={"seed": 1},
        objectives=objectives or OBJ2,
        budgets=budgets if budgets is not None else [("memory_bits", "<=", 1000.0)])


def _complete(store: Store, study_id: int, key: str, metrics: dict[str, float],
              hardware: dict[str, float] | None = None, trial: int = 0) -> tuple[int, int]:
    cid, _ = store.add_candidate(study_id, f'{{"k": "{key}"}}', key, {"key": key})
    eid = store.start_evaluation(cid, trial)
    if hardware:
        store.record_hardware(cid, hardware, [{"layer": "c1"}], {"pe_rows": 4})
    store.finish_evaluation(eid, "complete", metrics=metrics)
    return cid, eid


# ------------------------------------------------------------------ schema and opening


def _schema_diff(conn: Any) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from dse.store.schema import VERSION_TABLE, Base

    ctx = MigrationContext.configure(conn, opts={
        "compare_type": True, "version_table": VERSION_TABLE,
        "include_name": lambda n, t, p: t != "table" or n.startswith("dse_")})
    return list(compare_metadata(ctx, Base.metadata))


def test_open_creates_schema_at_head_and_reopen_is_a_no_op(store_url: str) -> None:
    from dse.store.engine import (
        SessionFactory,
        create_store_engine,
        head_revision,
        upgrade_schema,
    )
    from dse.store.schema import VERSION_TABLE, metric_columns

    # the migrations alone: the models differ at most by metric columns the catalogue gained
    # after the last revision (the open adds them, see the next test)
    engine, url = create_store_engine(store_url)
    upgrade_schema(SessionFactory(engine, url))
    with engine.connect() as conn:
        assert all(d[0] == "add_column" and d[2] == "dse_evaluations"
                   and d[3].name in metric_columns() for d in _schema_diff(conn))
    engine.dispose()
    s1 = open_store(store_url)
    s2 = open_store(store_url)  # second open: already at head
    with s1.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        assert {"dse_studies", "dse_candidates", "dse_evaluations", "dse_epochs",
                "dse_hardware_reports", VERSION_TABLE} <= names
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() \
            == head_revision()
        # the models and the migrations describe the same schema
        assert _schema_diff(conn) == []
    s1.close()
    s2.close()


def test_a_missing_metric_column_is_added_at_open(store_url: str) -> None:
    """A database without one of the catalogue's metric columns (an older one, or one opened
    before the catalogue gained it) gets it at the next read-write open, NULL for the rows
    there; a read-only open names it."""
    s = open_store(store_url)
    rec = _study(s)
    _complete(s, rec.id, "a", {"accuracy": 0.5}, {"memory_bits": 10.0, "energy_pj": 3.0})
    with s.engine.begin() as conn:
        conn.execute(text("ALTER TABLE dse_hardware_reports DROP COLUMN energy_pj"))
    s.close()
    with pytest.raises(StoreError, match=r"the metric column\(s\) dse_hardware_reports."
                                         "energy_pj are missing; open it read-write once"):
        open_store(store_url, read_only=True)
    s = open_store(store_url)
    with s.engine.connect() as conn:
        assert "energy_pj" in {c["name"] for c in
                               inspect(conn).get_columns("dse_hardware_reports")}
        assert _schema_diff(conn) == []
    assert np.isnan(s.query("s1")["energy_pj"].iloc[0])
    _complete(s, rec.id, "b", {"accuracy": 0.6}, {"memory_bits": 20.0, "energy_pj": 4.0})
    assert s.query("s1")["energy_pj"].iloc[1] == 4.0
    s.close()
    open_store(store_url, read_only=True).close()


def _engine_at(store_url: str, revision: str) -> Any:
    """An engine on a fresh database upgraded only to ``revision`` (to write its rows)."""
    from alembic import command

    from dse.store.engine import alembic_config, create_store_engine

    engine, url = create_store_engine(store_url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def test_upgrade_from_0006_keys_epochs_by_attempt(store_url: str) -> None:
    """Revision 0007 on a database holding 0006 rows: epoch rows take their evaluation's
    attempt, the never-written ``latency_cycles`` goes."""
    engine = _engine_at(store_url, "0006")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO dse_studies (id, name, space, dataset, task, config, objectives, "
            "budgets, tinydse_version, cost_model_version, created_at, updated_at) VALUES "
            "(1, 's1', 'tiny', 'digits', 'classification', '{}', '[]', '[]', '', '', "
            "'2026-01-01', '2026-01-01')"))
        conn.execute(text("INSERT INTO dse_candidates (id, study_id, spec, spec_hash, choices, "
                          "created_at) VALUES (1, 1, '{}', 'h', '{}', '2026-01-01')"))
        conn.execute(text("INSERT INTO dse_evaluations (id, candidate_id, study_id, status, "
                          "metrics, pareto, attempt, latency_cycles) VALUES "
                          "(1, 1, 1, 'running', '{}', false, 3, NULL)"))
        conn.execute(text("INSERT INTO dse_epochs (id, evaluation_id, stage, epoch, metrics, "
                          "created_at) VALUES (1, 1, 'fp', 1, '{}', '2026-01-01')"))
        conn.execute(text("INSERT INTO dse_hardware_reports (id, candidate_id, metrics, "
                          "per_layer, accel, created_at) VALUES "
                          "(1, 1, '{}', '[]', '{}', '2026-01-01')"))
    engine.dispose()
    s = open_store(store_url)
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT attempt FROM dse_epochs")).scalar_one() == 3
        assert "latency_cycles" not in {c["name"] for c in
                                        inspect(conn).get_columns("dse_evaluations")}
    assert s.epochs(1)["attempt"].tolist() == [3]
    s.close()


def test_upgrade_from_0007_stores_hardware_once(store_url: str) -> None:
    """Revision 0008 on 0007 rows: the hardware columns move from the evaluation to the
    candidate's report (a bare candidate's come from the report's JSON), the JSON keeps only
    what is not a column of its row, and every read shows the same numbers as before."""
    engine = _engine_at(store_url, "0007")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO dse_studies (id, name, space, dataset, task, config, objectives, "
            "budgets, tinydse_version, cost_model_version, created_at, updated_at) VALUES "
            "(1, 's1', 'tiny', 'digits', 'classification', '{}', "
            "'[{\"name\": \"accuracy\", \"direction\": \"maximize\"}, "
            "{\"name\": \"memory_bits\", \"direction\": \"minimize\"}]', '[]', '', '', "
            "'2026-01-01', '2026-01-01')"))
        for cid in (1, 2):
            conn.execute(text(f"INSERT INTO dse_candidates (id, study_id, spec, spec_hash, "
                              f"choices, created_at) VALUES ({cid}, 1, '{{}}', 'h{cid}', '{{}}', "
                              "'2026-01-01')"))
        # candidate 1 searched: totals in the report's JSON and on its evaluation
        conn.execute(text("INSERT INTO dse_evaluations (id, candidate_id, study_id, status, "
                          "metrics, pareto, attempt, accuracy, memory_bits, energy_pj) VALUES "
                          "(1, 1, 1, 'complete', '{\"ideal_cycles\": 7.0, \"psnr_db\": 30.0}', "
                          "true, 1, 0.9, 100.0, 2.5)"))
        conn.execute(text("INSERT INTO dse_hardware_reports (id, candidate_id, metrics, "
                          "per_layer, accel, created_at) VALUES (1, 1, '{\"memory_bits\": "
                          "100.0, \"energy_pj\": 2.5, \"ideal_cycles\": 7.0}', '[]', '{}', "
                          "'2026-01-01')"))
        # candidate 2 of a bare `dse train` study: its report only
        conn.execute(text("INSERT INTO dse_hardware_reports (id, candidate_id, metrics, "
                          "per_layer, accel, created_at) VALUES (2, 2, '{\"memory_bits\": "
                          "64.0, \"bops\": 9.0}', '[]', '{}', '2026-01-01')"))
    engine.dispose()
    s = open_store(store_url)
    with s.engine.connect() as conn:
        ev_cols = {c["name"] for c in inspect(conn).get_columns("dse_evaluations")}
        assert not ev_cols & {"memory_bits", "energy_pj", "bops", "cycles"}
        assert "accuracy" in ev_cols
        rows = conn.execute(text("SELECT candidate_id, memory_bits, energy_pj, bops, metrics "
                                 "FROM dse_hardware_reports ORDER BY candidate_id")).all()
        ev_json = conn.execute(text("SELECT metrics FROM dse_evaluations")).scalar_one()
        assert _schema_diff(conn) == []
    assert [tuple(r[:4]) for r in rows] == [(1, 100.0, 2.5, None), (2, 64.0, None, 9.0)]
    assert [json.loads(r[4]) if isinstance(r[4], str) else r[4] for r in rows] == [
        {"ideal_cycles": 7.0}, {}]
    assert (json.loads(ev_json) if isinstance(ev_json, str) else ev_json) == {"psnr_db": 30.0}
    df = s.query("s1")
    assert df.loc[0, ["memory_bits", "energy_pj", "ideal_cycles", "psnr_db", "accuracy"]
                  ].tolist() == [100.0, 2.5, 7.0, 30.0, 0.9]
    assert s.evaluation(1).metrics == {"memory_bits": 100.0, "energy_pj": 2.5,
                                       "ideal_cycles": 7.0, "accuracy": 0.9, "psnr_db": 30.0}
    assert s.refresh_pareto("s1") == 1
    s.close()


def test_optuna_tables_live_beside_ours(store_url: str) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = open_store(store_url)
    study = optuna.create_study(storage=store_url, study_name="opt", directions=["maximize"])
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    s.close()
    s = open_store(store_url)  # our schema untouched by Optuna's migrations, and vice versa
    rec = _study(s)
    assert s.get_study("s1").id == rec.id
    assert len(optuna.load_study(study_name="opt", storage=store_url).trials) == 2
    s.close()


def test_bad_urls_are_one_line_store_errors(tmp_path: Any) -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        open_store("mysql://u@h/db")
    with pytest.raises(StoreError, match="empty"):
        open_store("")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/missing_dir/x.db")
    with pytest.raises(StoreError) as info:
        open_store("postgresql://alice:s3cret@127.0.0.1:1/db")
    msg = str(info.value)
    assert "s3cret" not in msg and "alice:***@127.0.0.1:1/db" in msg and "\n" not in msg
    with pytest.raises(StoreError, match="no such database file"):
        open_store(f"sqlite:///{tmp_path}/nothing.db", read_only=True)


def test_read_only(store_url: str, tmp_path: Any) -> None:
    s = open_store(store_url)
    rec = _study(s)
    _complete(s, rec.id, "a", {"accuracy": 0.5}, {"memory_bits": 10.0})
    ro = open_store(store_url, read_only=True)
    assert ro.query("s1")["accuracy"].tolist() == [0.5]
    with pytest.raises(StoreError, match="read-only"):
        ro.add_candidate(rec.id, "{}", "b", {})
    ro.close()
    s.close()
    empty = tmp_path / "empty.db"
    open(empty, "wb").close()
    with pytest.raises(StoreError, match="no tinydse results"):
        open_store(f"sqlite:///{empty}", read_only=True)


# ------------------------------------------------------------------ writes


def test_create_or_get_study_reuses_and_rejects_changes(store: Store) -> None:
    rec = _study(store)
    again = _study(store)
    assert again.id == rec.id and again.objectives == OBJ2
    assert again.budgets == [("memory_bits", "<=", 1000.0)] and again.config == {"seed": 1}
    cases: dict[str, dict[str, Any]] = {
        "space": {"space": "billnet"},
        "dataset": {"dataset": "cifar10"},
        "task": {"task": "denoise"},
        "objectives": {"objectives": [("accuracy", "maximize"), ("energy_pj", "minimize")]},
        "budgets": {"budgets": [("memory_bits", "<=", 2000.0)]},
    }
    for field, change in cases.items():
        kwargs: dict[str, Any] = {"space": "mognet", "dataset": "digits",
                                  "task": "classification", "config": {},
                                  "objectives": OBJ2, "budgets": [("memory_bits", "<=", 1000.0)]}
        kwargs.update(change)
        with pytest.raises(StoreError, match=f"exists with {field}=") as info:
            store.create_or_get_study("s1", **kwargs)
        assert "got" in str(info.value)
    assert len(store.list_studies()) == 1
    assert store.get_study("s1").space == "mognet"
    with pytest.raises(ValueError, match="direction"):
        store.create_or_get_study("s2", space="m", dataset="d", objectives=[("a", "up")])
    with pytest.raises(ValueError, match="op of 'memory_bits'"):
        store.create_or_get_study("s2", space="m", dataset="d", objectives=OBJ2,
                                  budgets=[("memory_bits", "=<", 1.0)])


def test_candidates_are_idempotent_per_study(store: Store) -> None:
    a = _study(store, "a")
    b = _study(store, "b")
    cid, created = store.add_candidate(a.id, '{"x": 1}', "h1", {"w": 1})
    assert created
    assert store.add_candidate(a.id, '{"x": 1}', "h1", {"w": 1}) == (cid, False)
    other, created_b = store.add_candidate(b.id, '{"x": 1}', "h1", {"w": 1})
    assert created_b and other != cid
    assert store.count_candidates("a") == 1 and store.count_candidates("b") == 1


def test_evaluation_lifecycle_and_metrics(store: Store) -> None:
    rec = _study(store)
    cid, _ = store.add_candidate(rec.id, '{"x": 1}', "h1", {"w": 1})
    assert store.evaluation_for_hash(rec.id, "h1") is None
    eid = store.start_evaluation(cid, 7)
    store.record_hardware(cid, {"memory_bits": 640, "macs": 1.5e6, "utilization": 0.25},
                          [{"layer": "conv1", "memory_bits": 640}], {"pe_rows": 8})
    store.add_epoch(eid, "fp", 0, train_loss=2.0, val_accuracy=0.4, lr=0.1)
    store.add_epoch(eid, "weights", 1, train_loss=1.0, val_accuracy=0.6, seconds=0.5)
    running = store.evaluation_for_hash(rec.id, "h1")
    assert running is not None and running.status == "running" and running.trial_number == 7
    store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.61, "test_accuracy": 0.6,
                                                      "train_seconds": 3.0, "psnr_db": 21.5})
    done = store.evaluation_for_hash(rec.id, "h1")
    assert done is not None and done.status == "complete" and done.pareto
    assert done.metrics == {"memory_bits": 640.0, "macs": 1.5e6, "accuracy": 0.61,
                            "test_accuracy": 0.6, "train_seconds": 3.0, "utilization": 0.25,
                            "psnr_db": 21.5}
    ep = store.epochs(cid)
    assert ep["stage"].tolist() == ["fp", "weights"]
    assert ep["train_loss"].tolist() == [2.0, 1.0]
    assert ep["lr"].iloc[0] == 0.1 and np.isnan(ep["seconds"].iloc[0])
    info = store.candidate(cid)
    assert info["spec"] == '{"x": 1}' and info["choices"] == {"w": 1}
    assert info["hardware"]["per_layer"] == [{"layer": "conv1", "memory_bits": 640}]
    assert info["hardware"]["metrics"] == {"memory_bits": 640.0, "macs": 1.5e6,
                                           "utilization": 0.25}
    assert info["hardware"]["accel"] == {"pe_rows": 8}
    assert info["evaluation"]["status"] == "complete" and info["study"] == "s1"
    with pytest.raises(ValueError, match="status"):
        store.finish_evaluation(eid, "done")
    with pytest.raises(StoreError, match="unknown evaluation id 999"):
        store.finish_evaluation(999, "failed")


def test_infeasible_failed_and_hardware_before_start(store: Store) -> None:
    rec = _study(store)
    cid, _ = store.add_candidate(rec.id, "{}", "big", {})
    store.record_hardware(cid, {"memory_bits": 5e6}, [], {})  # before the evaluation exists
    eid = store.start_evaluation(cid, 0)
    store.finish_evaluation(eid, "infeasible", violated="memory_bits <= 1e+06 (got 5e+06)")
    ev = store.evaluation_for_hash(rec.id, "big")
    assert ev is not None and ev.metrics["memory_bits"] == 5e6 and not ev.pareto
    assert ev.violated == "memory_bits <= 1e+06 (got 5e+06)"
    cid2, _ = store.add_candidate(rec.id, "{}", "boom", {})
    eid2 = store.start_evaluation(cid2, 1)
    store.finish_evaluation(eid2, "failed", error="RuntimeError: NaN loss")
    assert store.evaluation(eid2).error == "RuntimeError: NaN loss"
    assert store.study_status("s1")["counts"] == {"queued": 0, "running": 0, "interrupted": 0,
                                                  "complete": 0, "failed": 1, "infeasible": 1,
                                                  "pruned": 0}


def test_restart_and_requeue(store: Store) -> None:
    rec = _study(store)
    c1, e1 = _complete(store, rec.id, "a", {"accuracy": 0.9}, {"memory_bits": 100.0})
    c2, e2 = _complete(store, rec.id, "b", {"accuracy": 0.8}, {"memory_bits": 200.0})
    assert store.evaluation(e1).pareto and not store.evaluation(e2).pareto
    # restarting the front member clears its results and lets b onto the front
    again = store.start_evaluation(c1, 5)
    assert again == e1
    ev = store.evaluation(e1)
    assert ev.status == "running" and ev.attempt == 2 and ev.trial_number == 5
    assert ev.metrics == {"memory_bits": 100.0}
    assert store.evaluation(e2).pareto
    c3, _ = store.add_candidate(rec.id, "{}", "c", {})
    store.start_evaluation(c3, 6)
    assert store.requeue_running(rec.id) == 2
    assert store.study_status("s1")["counts"]["queued"] == 2
    assert store.requeue_running(rec.id) == 0
    # a requeued evaluation that had started restarts as a new attempt
    assert store.start_evaluation(c1, 5) == e1 and store.evaluation(e1).attempt == 3


def test_a_restart_clears_everything_the_abandoned_attempt_wrote(store: Store) -> None:
    """A compression trial's attempt wrote trained columns and JSON metrics (psnr_db, its
    own extras), epochs, an artifact, an error: a restart leaves only what is known before
    training (hardware columns and JSON totals, the spec's bits_per_pixel), and the new
    attempt's epochs are keyed by its number."""
    rec = _study(store, objectives=[("psnr_db", "maximize"), ("bits_per_pixel", "minimize")],
                 budgets=[])
    cid, _ = store.add_candidate(rec.id, "{}", "codec", {})
    store.record_hardware(cid, {"memory_bits": 64.0, "ideal_cycles": 9.0,
                                "bits_per_pixel": 0.5}, [{"layer": "c1"}], {"rows": 8})
    eid = store.start_evaluation(cid, 0)
    assert store.evaluation(eid).attempt == 1
    store.add_epoch(eid, "fp", 1, train_loss=0.3, psnr=20.0)
    store.add_epoch(eid, "fp", 2, train_loss=0.2, psnr=21.0)
    store.add_artifact(cid, "reconstruction", "image/png", b"png")
    store.finish_evaluation(eid, "failed", error="RuntimeError: lost", metrics={
        "psnr_db": 21.0, "ms_ssim": 0.9, "test_blockiness": 0.1, "train_seconds": 2.0,
        "accuracy": 0.5, "unlisted_number": 7.0})
    assert store.start_evaluation(cid, 0) == eid
    ev = store.evaluation(eid)
    assert ev.attempt == 2 and ev.status == "running" and ev.error is None
    assert ev.metrics == {"memory_bits": 64.0, "ideal_cycles": 9.0, "bits_per_pixel": 0.5}
    assert store.epochs(cid).empty and store.artifacts(cid) == []
    row = store.query("s1").iloc[0]
    assert np.isnan(row["accuracy"]) and np.isnan(row["train_seconds"])
    assert "psnr_db" not in row.index and row["memory_bits"] == 64.0
    info = store.candidate(cid)
    assert info["hardware"] == {"metrics": {"memory_bits": 64.0, "ideal_cycles": 9.0,
                                            "bits_per_pixel": 0.5},
                                "per_layer": [{"layer": "c1"}], "accel": {"rows": 8}}
    store.add_epoch(eid, "fp", 1, train_loss=0.25)
    store.add_epoch(eid, "fp", 1, train_loss=0.24)  # a retried write replaces its row
    curve = store.epochs(cid)
    assert curve["attempt"].tolist() == [2] and curve["train_loss"].tolist() == [0.24]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT attempt, count(*) FROM dse_epochs "
                                 "GROUP BY attempt")).all() == [(2, 1)]
    store.finish_evaluation(eid, "complete", metrics={"psnr_db": 22.0})
    assert store.evaluation(eid).metrics == {"memory_bits": 64.0, "ideal_cycles": 9.0,
                                             "bits_per_pixel": 0.5, "psnr_db": 22.0}


# ------------------------------------------------------------------ pareto and hypervolume


@pytest.mark.parametrize("objectives", [
    OBJ2,
    [("accuracy", "maximize"), ("memory_bits", "minimize"), ("psnr_db", "maximize")],
])
def test_pareto_flags_equal_non_dominated(store: Store, objectives: list[tuple[str, str]]
                                          ) -> None:
    rng = np.random.default_rng(3)
    rec = _study(store, objectives=objectives, budgets=[])
    n = 40
    acc = rng.integers(0, 8, n) / 8  # coarse grid: ties and duplicates happen
    mem = rng.integers(1, 8, n) * 100.0
    psnr = rng.integers(10, 14, n).astype(float)
    for i in range(n):
        status = "complete" if i % 9 else "pruned"
        cid, _ = store.add_candidate(rec.id, "{}", f"h{i}", {})
        eid = store.start_evaluation(cid, i)
        store.record_hardware(cid, {"memory_bits": mem[i]}, [], {})
        store.finish_evaluation(eid, status, metrics={"accuracy": acc[i], "psnr_db": psnr[i]})
    frame = store.query("s1")
    names = [name for name, _ in objectives]
    points = frame[names].to_numpy(dtype=float)
    points[frame["status"].to_numpy() != "complete"] = np.nan
    expected = non_dominated(points, [d for _, d in objectives])
    assert expected.sum() >= 2
    assert frame["pareto"].tolist() == expected.tolist()
    assert store.refresh_pareto("s1") == int(expected.sum())
    assert store.query("s1")["pareto"].tolist() == expected.tolist()
    front = store.query("s1", pareto_only=True)
    assert sorted(front["candidate_id"]) == sorted(frame["candidate_id"][expected])


def test_status_hypervolume_hand_computed(store: Store) -> None:
    """Front (acc, mem) = (0.9, 800), (0.8, 300), (0.5, 100); (0.6, 900) is dominated.
    Reference from the budgets: (0.4, 1000). In minimization form the 2-D sweep gives
    0.1*200 + 0.3*700 + 0.1*900 = 20 + 210 + 90 = 320."""
    rec = _study(store, budgets=[("memory_bits", "<=", 1000.0), ("accuracy", ">=", 0.4)])
    for key, acc, mem in (("a", 0.9, 800), ("b", 0.8, 300), ("c", 0.5, 100), ("d", 0.6, 900)):
        _complete(store, rec.id, key, {"accuracy": acc}, {"memory_bits": float(mem)})
    status = store.study_status("s1")
    assert status["hypervolume"] == pytest.approx(320.0)
    assert status["reference"] == [0.4, 1000.0]
    assert status["best"] == {"accuracy": 0.9, "memory_bits": 100.0}
    assert status["pareto_size"] == 3 and status["n_candidates"] == 4
    assert status["counts"]["complete"] == 4
    hist = store.hypervolume_history("s1")
    # after a: 0.5*200 = 100; after b: + (0.9-0.8)... recomputed exactly each step
    expected = [hypervolume(np.array(p), ["maximize", "minimize"], [0.4, 1000.0]) for p in (
        [[0.9, 800]], [[0.9, 800], [0.8, 300]], [[0.9, 800], [0.8, 300], [0.5, 100]],
        [[0.9, 800], [0.8, 300], [0.5, 100]])]
    assert expected[0] == pytest.approx(100.0)
    assert hist["hypervolume"].tolist() == pytest.approx(expected)
    assert hist["best_accuracy"].tolist() == [0.9, 0.9, 0.9, 0.9]
    assert hist["best_memory_bits"].tolist() == [800.0, 300.0, 100.0, 100.0]
    studies = store.list_studies()
    assert studies.loc[0, "name"] == "s1" and studies.loc[0, "n_complete"] == 4


# ------------------------------------------------------------------ queries


def _filled(store: Store) -> Any:
    rec = _study(store)
    rows = [("a", "complete", 0.9, 800.0, 20.0), ("b", "complete", 0.8, 300.0, None),
            ("c", "complete", 0.5, 100.0, 25.0), ("d", "infeasible", None, 5000.0, None),
            ("e", "failed", None, 150.0, None), ("f", "complete", 0.95, 2e6, 30.0)]
    for i, (key, status, acc, mem, psnr) in enumerate(rows):
        cid, _ = store.add_candidate(rec.id, "{}", key, {"key": key})
        eid = store.start_evaluation(cid, i)
        store.record_hardware(cid, {"memory_bits": mem}, [], {})
        metrics: dict[str, Any] = {}
        if acc is not None:
            metrics["accuracy"] = acc
        if psnr is not None:
            metrics["psnr_db"] = psnr
        store.finish_evaluation(eid, status, metrics=metrics)
    return rec


def test_query_filters_sorts_and_selects(store: Store) -> None:
    _filled(store)
    keys = lambda f: [store.candidate(int(c))["choices"]["key"] for c in f["candidate_id"]]  # noqa: E731
    assert keys(store.query("s1", where="accuracy > 0.6 and memory_bits <= 1e6")) == ["a", "b"]
    assert keys(store.query("s1", where="status == 'infeasible' or status == 'failed'")) \
        == ["d", "e"]
    # NULL accuracy is unknown: excluded by the comparison and by its negation
    assert keys(store.query("s1", where="not (accuracy > 0.6)")) == ["c"]
    # JSON metric: filtered in pandas with the same semantics
    assert keys(store.query("s1", where="psnr_db >= 25")) == ["c", "f"]
    assert keys(store.query("s1", where="not (psnr_db >= 25)")) == ["a"]
    assert keys(store.query("s1", sort=["-accuracy", "memory_bits"])) == \
        ["f", "a", "b", "c", "e", "d"]
    assert keys(store.query("s1", pareto_only=True, sort=["memory_bits"])) == ["c", "b", "a", "f"]
    sel = store.query("s1", columns=["memory_bits", "candidate_id"], since_id=4)
    assert list(sel.columns) == ["memory_bits", "candidate_id"] and len(sel) == 2
    with pytest.raises(StoreError, match="token 'nope': unknown column"):
        store.query("s1", where="nope > 1")
    with pytest.raises(StoreError, match="--sort: unknown column 'nope'"):
        store.query("s1", sort=["nope"])
    with pytest.raises(StoreError, match="--columns: unknown column"):
        store.query("s1", columns=["nope"])
    with pytest.raises(StoreError, match=r"unknown study 'zz' \(studies: s1\)"):
        store.query("zz")


@pytest.mark.parametrize("expr", [
    "accuracy > 0.6", "not (accuracy > 0.6)", "accuracy > 0.6 or memory_bits < 200",
    "not (accuracy > 0.6 or memory_bits < 200)", "status != 'complete'",
    "not (status == 'complete') and memory_bits > 100", "pareto == 1", "pareto != 1",
    "-1 < accuracy and not (trial_number >= 3)", "memory_bits >= accuracy",
])
def test_sql_and_pandas_filters_agree(store: Store, expr: str) -> None:
    """The SQL compiler (pushdown) and the pandas mask keep the same rows (3-valued logic)."""
    _filled(store)
    via_sql = store.query("s1", where=expr)["candidate_id"].tolist()
    frame = store.query("s1")
    node = parse_where(expr, frame.columns)
    via_pandas = frame[to_mask(node, frame).fillna(False).to_numpy(dtype=bool)]
    assert via_sql == via_pandas["candidate_id"].tolist()


@pytest.mark.parametrize("expr", [
    "accuracy>0; DROP TABLE dse_studies", "1=1 --", "accuracy > 0 OR '1'='1'",
    "status == 'complete'; DELETE FROM dse_evaluations", "sqlite_version() > 0",
    "memory_bits > 0 /* x */", "accuracy > 0 UNION SELECT 1",
])
def test_injection_attempts_are_rejected_and_harmless(store: Store, expr: str) -> None:
    _filled(store)
    with pytest.raises(StoreError, match="--where: at position"):
        store.query("s1", where=expr)
    assert len(store.query("s1")) == 6 and len(store.list_studies()) == 1


# ------------------------------------------------------------------ concurrency


def _worker(args: tuple[str, int, int]) -> list[int]:
    url, wid, n = args
    s = open_store(url)  # four processes open (and migrate) a fresh database at once
    rec = s.create_or_get_study("conc", space="mognet", dataset="digits", task="classification",
                                config={}, objectives=OBJ2, budgets=[])
    rng = np.random.default_rng(wid)
    done = []
    for i in range(n):
        # half of the hashes are shared between workers: adds must stay idempotent
        key = f"shared{i}" if i % 2 else f"w{wid}_{i}"
        cid, created = s.add_candidate(rec.id, "{}", key, {"i": i})
        if not created:
            continue
        eid = s.start_evaluation(cid, wid * 1000 + i)
        s.record_hardware(cid, {"memory_bits": float(rng.integers(1, 50) * 10)}, [], {})
        s.add_epoch(eid, "fp", 0, train_loss=1.0)
        s.finish_evaluation(eid, "complete", metrics={"accuracy": float(rng.integers(0, 20) / 20)})
        done.append(cid)
    s.close()
    return done


@pytest.mark.slow
def test_four_processes_write_one_study(store_url: str) -> None:
    n = 16
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_worker, [(store_url, w, n) for w in range(4)])
    created = [c for r in results for c in r]
    assert len(created) == len(set(created))
    expected = 4 * (n // 2) + n // 2  # own keys per worker + each shared key once
    assert len(created) == expected
    s = open_store(store_url, read_only=True)
    frame = s.query("conc")
    assert len(frame) == expected and set(frame["status"]) == {"complete"}
    assert sorted(frame["candidate_id"]) == sorted(created)
    mask = non_dominated(frame[["accuracy", "memory_bits"]].to_numpy(), ["maximize", "minimize"])
    assert frame["pareto"].tolist() == mask.tolist()
    assert all(len(s.epochs(int(c))) == 1 for c in frame["candidate_id"][:5])
    s.close()


def test_dataframe_types(store: Store) -> None:
    _filled(store)
    frame = store.query("s1")
    assert frame["candidate_id"].dtype == np.int64
    assert frame["pareto"].dtype == bool
    assert frame["accuracy"].dtype == np.float64 and frame["psnr_db"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(frame["finished_at"])


# ------------------------------------------------------------------ trainings (dse train)


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_trainings_claim_resume_refuse_finish(store: Store) -> None:
    import os
    import socket

    here = socket.gethostname()
    sid = _study(store).id
    cid, _ = store.add_candidate(sid, "{}", "h1")
    kw: dict[str, Any] = {"epochs": 6, "schedule": "qat", "max_train_batches": None,
                          "settings": {"lr": 0.01}}
    first = store.start_training(cid, host=here, pid=os.getpid(), **kw)
    assert first.action == "new" and first.record.fidelity_key == "qat:6:all"
    assert (first.record.status, first.record.attempt, first.checkpoint) == ("running", 1, None)
    tid = first.record.id
    store.training_epoch(tid, {"stage": "q", "epoch": 1, "val_accuracy": 0.5}, b"ck1")
    store.training_epoch(tid, {"stage": "q", "epoch": 1, "val_accuracy": 0.6}, b"ck1b")
    store.training_epoch(tid, {"stage": "q", "epoch": 2, "val_accuracy": 0.7}, b"ck2")
    # held by a live process (this one): another is refused, and nothing changes
    with pytest.raises(StoreError, match=rf"being trained by another process \(pid "
                                         rf"{os.getpid()} on {here}\)"):
        store.start_training(cid, host=here, pid=os.getpid() + 1, **kw)
    assert store.training(tid).attempt == 1
    # its holder died: resumed from the last checkpoint, the curve kept (epoch 1 replaced)
    with store.db.write() as session:  # put a dead holder on the row
        session.execute(text("UPDATE dse_trainings SET pid = :p"), {"p": _dead_pid()})
    assert store.evaluations("s1")["status"].tolist() == ["interrupted"]
    resumed = store.start_training(cid, host=here, pid=os.getpid(), **kw)
    assert (resumed.action, resumed.checkpoint, resumed.record.attempt) == ("resumed", b"ck2", 2)
    assert [p["val_accuracy"] for p in resumed.record.curve] == [0.6, 0.7]
    store.finish_training(tid, "complete", metrics={"accuracy": 0.75, "psnr_db": 3.0,
                                                    "train_seconds": 2.5})
    done = store.start_training(cid, host=here, pid=1, **kw)
    assert done.action == "done"
    assert done.record.metrics == {"accuracy": 0.75, "train_seconds": 2.5, "psnr_db": 3.0}
    assert (done.record.pid, done.record.beat) == (None, None)
    with store.db.read() as session:  # the checkpoint is dropped once finished
        assert session.execute(text("SELECT checkpoint FROM dse_trainings")).scalar_one() \
            is None
    again = store.start_training(cid, host=here, pid=os.getpid(), retrain=True, **kw)
    assert (again.action, again.checkpoint, again.record.curve, again.record.metrics,
            again.record.attempt) == ("restarted", None, [], {}, 3)
    store.interrupt_training(tid, here, os.getpid())
    assert store.training(tid).status == "interrupted"
    # other settings: an unfinished run restarts from scratch
    store.training_epoch(tid, {"stage": "q", "epoch": 1}, b"ck")
    other = store.start_training(cid, host=here, pid=os.getpid(),
                                 **{**kw, "settings": {"lr": 0.02}})
    assert (other.action, other.checkpoint, other.record.curve) == ("restarted", None, [])
    # another fidelity is another training
    more = store.start_training(cid, host=here, pid=os.getpid(), **{**kw, "max_train_batches": 4})
    assert more.action == "new" and more.record.id != tid
    assert more.record.fidelity_key == "qat:6:4"
    with pytest.raises(ValueError, match="complete or failed"):
        store.finish_training(tid, "pruned")


def test_evaluations_view_by_fidelity(store: Store) -> None:
    """The search's evaluation and the trainings of each candidate, with the candidate's
    hardware numbers; the highest complete fidelity per candidate; the front's only."""
    import os
    import socket

    sid = store.create_or_get_study("s1", space="mognet", dataset="digits",
                                    config={"epochs": 4, "schedule": "qat"},
                                    objectives=OBJ2).id
    a, _ = _complete(store, sid, "a", {"accuracy": 0.8}, {"memory_bits": 100.0}, trial=0)
    b, _ = _complete(store, sid, "b", {"accuracy": 0.7}, {"memory_bits": 300.0}, trial=1)
    c, ec = _complete(store, sid, "c", {}, {"memory_bits": 50.0}, trial=2)
    store.finish_evaluation(ec, "infeasible", violated="memory_bits<=10")  # left out
    me = (socket.gethostname(), os.getpid())
    for cid, epochs, acc in ((a, 12, 0.9), (a, 8, 0.85), (b, 12, None)):
        t = store.start_training(cid, epochs=epochs, schedule="qat", max_train_batches=None,
                                 settings={}, host=me[0], pid=me[1]).record.id
        if acc is not None:
            store.finish_training(t, "complete", metrics={"accuracy": acc, "epochs_run": 12})
    frame = store.evaluations("s1")
    assert list(zip(frame["candidate_id"], frame["source"], frame["epochs"],
                    frame["status"], frame["accuracy"].fillna(-1), frame["memory_bits"],
                    strict=True)) == [
        (a, "search", 4, "complete", 0.8, 100.0), (a, "train", 8, "complete", 0.85, 100.0),
        (a, "train", 12, "complete", 0.9, 100.0), (b, "search", 4, "complete", 0.7, 300.0),
        (b, "train", 12, "running", -1, 300.0)]
    best = store.evaluations("s1", highest_fidelity=True)
    assert list(zip(best["candidate_id"], best["epochs"], best["accuracy"], strict=True)) == \
        [(a, 12, 0.9), (b, 4, 0.7)]
    # b is dominated by a (lower accuracy, more memory): the front is a alone
    front = store.evaluations("s1", pareto_only=True)
    assert set(front["candidate_id"]) == {a}
    assert store.evaluations("s1", where="epochs > 4 and status == 'complete'",
                             columns=["epochs"])["epochs"].tolist() == [8, 12]
    assert store.evaluations("s1", candidate_id=b)["source"].tolist() == ["search", "train"]
    with pytest.raises(StoreError, match="study 's1' has no candidate 999"):
        store.evaluations("s1", candidate_id=999)
    with pytest.raises(StoreError, match="--where"):
        store.evaluations("s1", where="nope > 1")


def test_docs_schema_md_is_the_generated_text() -> None:
    """docs/schema.md is generated from the models and the metric catalogue: after a schema
    or catalogue change, ``python -m dse.store.schema_doc`` rewrites it."""
    from pathlib import Path

    from dse.store.schema_doc import DOC_PATH, schema_markdown

    committed = (Path(__file__).resolve().parents[2] / DOC_PATH).read_text(encoding="utf-8")
    assert committed == schema_markdown(), "run: python -m dse.store.schema_doc"
