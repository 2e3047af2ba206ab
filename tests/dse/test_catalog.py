"""The metric catalogue is the one source of metric facts: every consumer derives from it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import dashboard.data as D
import dashboard.figures as F
from dse.catalog import BUDGET_OPS, catalogue
from dse.config import DEFAULTS, Budget, build_config, objective_directions
from dse.errors import UserError
from dse.status import FINAL_STATUSES, STATUSES, TRAINING_OUTCOMES, Status
from dse.tasks import list_tasks
from hwmodel.metrics import HARDWARE_METRICS, Known

ROOT = Path(__file__).resolve().parents[2]


def _expected(task: str) -> tuple[dict[str, str], set[str]]:
    """Objectives (with directions) and budgets of a task study, from the raw entries and the
    documented rules alone: hardware/common entries plus the task's own; an objective is a
    directed metric not marked ``objective=False``; a budget is a directed metric known
    before training."""
    from dse.tasks import get_task

    own = {m.name for m in get_task(task).metrics}
    others = {m.name for t in list_tasks() if t != task for m in get_task(t).metrics} - own
    entries = [m for m in catalogue() if m.name not in others]
    objectives = {m.name: m.direction for m in entries
                  if m.direction is not None and m.objective}
    budgets = {m.name for m in entries
               if m.direction is not None and m.known is not Known.TRAINING}
    return objectives, budgets  # type: ignore[return-value]


@pytest.mark.parametrize("task", ["classification", "compression"])
def test_config_accepts_exactly_the_catalogue_objectives_and_budgets(task: str) -> None:
    objectives, budgets = _expected(task)
    assert objective_directions(task) == objectives
    for name, direction in objectives.items():
        cfg = build_config(task=task, objectives=(name,), study="c")
        assert cfg.directions == [direction]
    for name in budgets:
        cfg = build_config(task=task, budgets=[f"{name}<=1e9"], study="c")
        assert cfg.budgets == (Budget(name, "<=", 1e9),)
    everything = {m.name for m in catalogue()}
    for name in sorted(everything - set(objectives)):
        with pytest.raises(UserError, match=f"objectives='{name}' has an unknown objective"):
            build_config(task=task, objectives=(name,), study="c")
    for name in sorted(everything - budgets):
        with pytest.raises(UserError, match=f"metric '{name}' must be one of"):
            build_config(task=task, budgets=[f"{name}<=1"], study="c")


def test_act_buffer_bits_is_an_objective_and_a_budget() -> None:
    cfg = build_config(objectives="accuracy,act_buffer_bits", budgets=["act_buffer_bits<=4096"])
    assert cfg.directions == ["maximize", "minimize"]
    assert cfg.budgets[0].metric == "act_buffer_bits"


def test_dashboard_axes_labels_and_directions_are_the_catalogue() -> None:
    cat = catalogue()
    axes = [m.name for m in cat if m.direction is not None]
    assert set(D.axis_metrics()) == set(axes)
    for m in cat:
        if m.direction is not None:
            assert F.default_direction(m.name) == m.direction, m.name
        assert F.metric_label(m.name) == m.label
        assert F.is_log_metric(m.name) is m.log_axis
    frame = pd.DataFrame({"candidate_id": [1, 2], "status": ["complete"] * 2,
                          **{m.name: [1.0, 2.0] for m in cat},
                          "unlisted": [3.0, 4.0]})
    shown = D.numeric_axes(D.canonical_candidates(frame), ["memory_bits"])
    assert shown[0] == "memory_bits"
    assert set(shown) == set(axes) | {"unlisted"}  # bookkeeping (train_seconds) is no axis


def test_hardware_model_declares_every_total_it_reports() -> None:
    from hwmodel.cost import cost_report
    from search_spaces.spec import load_spec

    totals = cost_report(load_spec(str(ROOT / "examples" / "digits_ternary_or.json"))).totals
    declared = {m.name for m in HARDWARE_METRICS}
    assert declared - {"cycles"} == set(totals)
    assert all(m.known.before_training and m.direction == "minimize" for m in HARDWARE_METRICS)


def test_statuses_are_one_enum() -> None:
    import dse.store as store
    import dse.train as train

    assert STATUSES == tuple(s.value for s in Status) == store.STATUSES
    assert FINAL_STATUSES == ("complete", "failed", "infeasible", "pruned") == store.FINAL_STATUSES
    assert train.STATUSES == TRAINING_OUTCOMES == ("complete", "failed", "pruned")
    assert D.FINAL_STATUSES is FINAL_STATUSES


def test_budget_ops_are_one_list() -> None:
    import dse.store.writes as writes
    from dse import config

    assert config.BUDGET_OPS is BUDGET_OPS and writes.BUDGET_OPS is BUDGET_OPS


def test_default_epochs_in_help_and_readme_are_the_config_default() -> None:
    from click.testing import CliRunner

    from dse.cli import cli

    out = CliRunner().invoke(cli, ["search", "--help"], terminal_width=200).output
    assert f"Training epochs per trial. [{DEFAULTS.epochs}]" in " ".join(out.split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"(\d+) epochs per candidate", readme)
    assert stated is not None and int(stated.group(1)) == DEFAULTS.epochs


def test_training_columns_are_the_catalogues_trained_columns() -> None:
    """The real metric columns of dse_trainings (dse train) are the catalogue's column metrics
    known only after training."""
    from dse.store.schema import trained_columns

    assert set(trained_columns()) == {m.name for m in catalogue()
                                    if m.column and m.known is Known.TRAINING}


def test_store_metric_columns_are_the_catalogue_columns(tmp_path: Path) -> None:
    """The real metric columns of the store (models, a fresh database, a query frame,
    docs/schema.md) are exactly the catalogue's entries flagged ``column``, each in one
    table: one known before training on ``dse_hardware_reports``, a trained one on
    ``dse_evaluations`` and ``dse_trainings``; every other catalogue metric a trial reports
    goes to the JSON metrics of its row."""
    from sqlalchemy import inspect, select

    from dse.store import open_store
    from dse.store.schema import (
        Evaluation,
        HardwareReport,
        Training,
        hardware_columns,
        metric_columns,
        trained_columns,
    )
    from dse.store.schema_doc import schema_markdown

    expected = {m.name for m in catalogue() if m.column}
    early = {m.name for m in catalogue() if m.column and m.known.before_training}
    assert early and early < expected
    assert set(metric_columns()) == expected
    assert set(hardware_columns()) == early
    assert set(trained_columns()) == expected - early
    tables = {HardwareReport: early, Evaluation: expected - early, Training: expected - early}
    for model, names in tables.items():
        doubles = {c.name for c in model.__table__.columns if c.type.python_type is float}
        assert doubles - {"beat"} == names, model.__tablename__
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    with store.engine.connect() as conn:
        for model, names in tables.items():
            have = {c["name"] for c in inspect(conn).get_columns(model.__tablename__)}
            assert have & {m.name for m in catalogue()} == names, model.__tablename__
    study = store.create_or_get_study("s", space="tiny", dataset="digits",
                                      objectives=[("accuracy", "maximize")])
    cid, _ = store.add_candidate(study.id, "{}", "h", {})
    store.record_hardware(cid, {"memory_bits": 1.0, "ideal_cycles": 2.0})
    eid = store.start_evaluation(cid, 0)
    store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.5, "epochs_run": 3.0})
    with store.db.read() as session:
        assert set(session.execute(select(Evaluation.metrics)).scalar_one()) == {"epochs_run"}
        assert set(session.execute(select(HardwareReport.metrics)).scalar_one()) == {
            "ideal_cycles"}
        assert session.execute(select(HardwareReport.memory_bits)).scalar_one() == 1.0
    assert expected <= set(store.query("s").columns)
    store.close()
    doc = schema_markdown()
    for name in expected:
        assert f"| {name} | double, null |" in doc
    for m in catalogue():
        if not m.column:
            assert f"| {m.name} | {m.unit} |" in doc and f"| {m.name} | double" not in doc


def probe_a_new_metric(url: str) -> None:
    """Run in a fresh process by the next test: one catalogue entry, registered after the
    store was created, is an objective, a budget, a dashboard axis, a store column (added to
    the existing database at open) and a row of docs/schema.md, with no other edit."""
    from sqlalchemy import inspect, text

    from dse.catalog import EXTRA_METRICS, register_metric
    from dse.config import budget_metrics
    from dse.store import open_store
    from dse.store.schema_doc import schema_markdown
    from hwmodel.metrics import Metric

    open_store(url).close()  # a database made before the metric existed
    probe = Metric("probe_bits", "bits", "minimize", Known.COST_MODEL, "probe memory (bits)",
                   log_axis=True, column=True)
    register_metric(probe)
    try:
        for task in list_tasks():
            assert objective_directions(task)["probe_bits"] == "minimize"
            assert "probe_bits" in budget_metrics(task)
        cfg = build_config(objectives="accuracy,probe_bits", budgets=["probe_bits<=10"],
                           study="p")
        assert cfg.directions == ["maximize", "minimize"]
        assert cfg.budgets == (Budget("probe_bits", "<=", 10.0),)
        assert "probe_bits" in D.axis_metrics()
        assert F.default_direction("probe_bits") == "minimize"
        assert F.metric_label("probe_bits") == "probe memory (bits)"
        assert F.is_log_metric("probe_bits")
        store = open_store(url)
        with store.engine.connect() as conn:
            assert "probe_bits" in {c["name"] for c in
                                    inspect(conn).get_columns("dse_hardware_reports")}
            assert "probe_bits" not in {c["name"] for c in
                                        inspect(conn).get_columns("dse_evaluations")}
        study = store.create_or_get_study("p", space="tiny", dataset="digits",
                                          objectives=[("accuracy", "maximize"),
                                                      ("probe_bits", "minimize")])
        for key, bits, acc in (("a", 7.0, 0.5), ("b", 9.0, 0.4)):
            cid, _ = store.add_candidate(study.id, "{}", key, {})
            store.record_hardware(cid, {"memory_bits": 5.0, "probe_bits": bits})
            eid = store.start_evaluation(cid, 0)
            store.finish_evaluation(eid, "complete", metrics={"accuracy": acc})
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT probe_bits, metrics FROM dse_hardware_reports "
                                     "ORDER BY id")).all()
        assert [r[0] for r in rows] == [7.0, 9.0]
        assert all("probe_bits" not in str(r[1]) for r in rows)  # a column, not JSON
        front = store.query("p", pareto_only=True, where="probe_bits <= 8")
        assert front["probe_bits"].tolist() == [7.0]
        assert store.study_status("p")["best"]["probe_bits"] == 7.0
        shown = D.numeric_axes(D.canonical_candidates(store.query("p")), ["accuracy"])
        assert "probe_bits" in shown
        store.close()
        assert "| probe_bits | double, null | probe memory (bits); known from: cost model |" \
            in schema_markdown()
    finally:
        EXTRA_METRICS.remove("probe_bits")
    assert "probe_bits" not in catalogue()


def test_a_metric_added_to_the_catalogue_is_everywhere(tmp_path: Path) -> None:
    """In a fresh process (the store maps a new column for the rest of its process, which
    would leak into other tests' schemas): see :func:`probe_a_new_metric`."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'probe.db'}"
    code = f"from tests.dse.test_catalog import probe_a_new_metric as p; p({url!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
