"""What the store returns and the conversions both its writes and its reads share: the
records of a study and of an evaluation, an evaluation's metrics by name, the objective vector
of a row, the records of a training (``dse train``), and the split of reported numbers into
real columns and the JSON extras."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from dse.store.schema import (
    Evaluation,
    HardwareReport,
    Study,
    Training,
    hardware_columns,
    metric_column,
    metric_columns,
    trained_columns,
)

#: A confirmed candidate (dse.confirm): its second network's number (dse_trainings.replicate),
#: the key of its evaluation's JSON saying how many networks the metrics average, and the
#: prefix under which that JSON keeps the first network's own values.
REPLICATE = 1
REPLICATES_KEY = "replicates"
FIRST_PREFIX = "first_"


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored. ``objectives``: (name, direction); ``budgets``: (metric, op, value)."""

    id: int
    name: str
    space: str
    dataset: str
    task: str
    config: dict[str, Any]
    objectives: list[tuple[str, str]]
    budgets: list[tuple[str, str, float]]
    tinydse_version: str
    cost_model_version: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EvaluationRecord:
    """The live evaluation of a candidate; ``metrics`` holds every non-null metric column and
    the JSON metrics, by name."""

    id: int
    candidate_id: int
    study_id: int
    trial_number: int | None
    status: str
    metrics: dict[str, float]
    violated: str | None
    error: str | None
    attempt: int
    pareto: bool
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class TrainingRecord:
    """A further evaluation of a candidate at a fidelity (``dse train``; table
    ``dse_trainings``). ``metrics``: the trained metric columns and the JSON metrics by name;
    ``curve``: one dict per epoch (stage, epoch, losses, accuracies, seconds, extras)."""

    id: int
    candidate_id: int
    study_id: int
    epochs: int
    schedule: str
    max_train_batches: int | None
    fidelity_key: str
    status: str
    metrics: dict[str, float]
    curve: list[dict[str, Any]]
    settings: dict[str, Any]
    error: str | None
    attempt: int
    host: str | None
    pid: int | None
    beat: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: which network of the candidate at this fidelity (0 the first; see Training.replicate)
    replicate: int = 0


def fidelity_key(schedule: str, epochs: int, max_train_batches: int | None,
                 replicate: int = 0) -> str:
    """The key of a training among its candidate's: ``<schedule>:<epochs>:<batches or all>``,
    then ``:r<k>`` for replicate ``k > 0`` (e.g. ``two-stage:36:all``, ``two-stage:24:all:r1``)."""
    batches = "all" if max_train_batches is None else str(int(max_train_batches))
    return f"{schedule}:{int(epochs)}:{batches}" + (f":r{int(replicate)}" if replicate else "")


def training_record(t: Training) -> TrainingRecord:
    metrics = row_metrics(t, trained_columns())
    return TrainingRecord(
        id=t.id, candidate_id=t.candidate_id, study_id=t.study_id, epochs=t.epochs,
        schedule=t.schedule, max_train_batches=t.max_train_batches,
        fidelity_key=t.fidelity_key, status=t.status, metrics=metrics,
        curve=list(t.curve or []), settings=dict(t.settings or {}), error=t.error,
        attempt=t.attempt, host=t.host, pid=t.pid, beat=t.beat, created_at=t.created_at,
        started_at=t.started_at, finished_at=t.finished_at, replicate=int(t.replicate or 0))


@dataclass(frozen=True)
class TrainingStart:
    """What :meth:`Store.start_training` found and did. ``action``: ``new`` (a first run),
    ``resumed`` (an unfinished run continues from ``checkpoint``, its curve so far kept),
    ``restarted`` (from scratch: asked to retrain, or an unfinished run with no checkpoint)
    or ``done`` (already finished: nothing started)."""

    record: TrainingRecord
    action: str
    checkpoint: bytes | None = None


def study_record(s: Study) -> StudyRecord:
    return StudyRecord(
        id=s.id, name=s.name, space=s.space, dataset=s.dataset, task=s.task,
        config=dict(s.config or {}),
        objectives=[(str(o["name"]), str(o["direction"])) for o in s.objectives or []],
        budgets=[(str(b["metric"]), str(b["op"]), float(b["value"])) for b in s.budgets or []],
        tinydse_version=s.tinydse_version, cost_model_version=s.cost_model_version,
        created_at=s.created_at, updated_at=s.updated_at)


def evaluation_metrics(ev: Evaluation) -> dict[str, float]:
    """All metrics of an evaluation by name: its candidate's hardware numbers (the report's
    columns, then its JSON), then the evaluation's trained columns and JSON extras."""
    return {**hardware_metrics(ev.hardware), **row_metrics(ev, trained_columns())}


def hardware_metrics(hw: HardwareReport | None) -> dict[str, float]:
    """A candidate's hardware numbers by name ({} before its report is written)."""
    return {} if hw is None else row_metrics(hw, hardware_columns())


def row_metrics(row: Evaluation | Training | HardwareReport, columns: Sequence[str]
                ) -> dict[str, float]:
    """The non-null metric ``columns`` of a row, then the numbers of its JSON ``metrics``."""
    out: dict[str, float] = {}
    for name in columns:
        value = getattr(row, name)
        if value is not None:
            out[name] = float(value)
    for key, value in (row.metrics or {}).items():
        if key not in out and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def eval_record(ev: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        id=ev.id, candidate_id=ev.candidate_id, study_id=ev.study_id,
        trial_number=ev.trial_number, status=ev.status, metrics=evaluation_metrics(ev),
        violated=ev.violated, error=ev.error, attempt=ev.attempt, pareto=bool(ev.pareto),
        started_at=ev.started_at, finished_at=ev.finished_at)


def clean_number(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"metrics[{key!r}]: must be a number, got {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """Plain-JSON copy: numpy scalars/arrays to Python, NaN/inf to None (JSONB rejects NaN)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def split_metrics(metrics: Mapping[str, Any], columns: Sequence[str]
                   ) -> tuple[dict[str, float | None], dict[str, Any]]:
    """(values for real columns, the rest for the JSON column)."""
    cols: dict[str, float | None] = {}
    extra: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in columns:
            cols[key] = clean_number(key, value)
        else:
            extra[key] = json_safe(value)
    return cols, extra


def objective_vector(ev: Evaluation | Mapping[str, Any], objectives: Sequence[tuple[str, str]]
                     ) -> np.ndarray | None:
    """The objective values of an evaluation (object, with its hardware report, or a row
    mapping of :func:`objective_row`), None if any is missing."""
    if isinstance(ev, Evaluation):
        known: Mapping[str, Any] = evaluation_metrics(ev)
    else:
        known = {**(ev.get("metrics") or {}), **{k: v for k, v in ev.items() if k != "metrics"}}
    values = []
    for name, _direction in objectives:
        value = known.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return np.array(values)


def objective_selection(names: Sequence[str]) -> list[Any]:
    """What to select, from evaluations outer-joined with their hardware reports
    (:func:`with_hardware`), for the objectives ``names``: their metric columns, then both
    JSON columns; :func:`objective_row` reads a row of it."""
    columns = metric_columns()
    return [*(metric_column(n) for n in names if n in columns), HardwareReport.metrics,
            Evaluation.metrics]


def objective_row(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """The mapping :func:`objective_vector` reads from ``values``, a row of
    :func:`objective_selection` (the same ``names``)."""
    columns = metric_columns()
    cols = [n for n in names if n in columns]
    out: dict[str, Any] = dict(zip(cols, values[:len(cols)], strict=True))
    hw_json, ev_json = values[len(cols)], values[len(cols) + 1]
    out["metrics"] = {**(hw_json or {}), **(ev_json or {})}
    return out


def with_hardware(stmt: Any) -> Any:
    """``stmt`` (over evaluations) outer-joined with the candidates' hardware reports."""
    return stmt.outerjoin(HardwareReport, HardwareReport.candidate_id == Evaluation.candidate_id)


def dominates(q: np.ndarray, p: np.ndarray, signs: np.ndarray) -> bool:
    a, b = q * signs, p * signs
    return bool(np.all(a <= b) and np.any(a < b))


def before_training(name: str) -> bool:
    """Whether the catalogue knows metric ``name`` before training (spec, cost model,
    simulator): such a value belongs to the candidate and survives a restart; everything
    else (trained metrics, names outside the catalogue) belongs to one attempt."""
    from dse.catalog import catalogue

    metric = catalogue().get(name)
    return metric is not None and metric.known.before_training



def trained_metric(name: str) -> bool:
    """Whether the catalogue has metric ``name`` and knows it only after training."""
    from dse.catalog import catalogue

    metric = catalogue().get(name)
    return metric is not None and not metric.known.before_training
