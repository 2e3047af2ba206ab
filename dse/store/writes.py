"""The writes of the results store, each one transaction (called through
:class:`dse.store.Store`).

Every write runs in one transaction (commit on success, rollback on error: no half-written
rows) and serializes per study where it touches Pareto flags (:meth:`Database.lock_study`),
so several processes can write one study at once; each is idempotent when re-run (a call
retried after a lost connection, see :mod:`dse.store.retry`).

The Pareto flag of an evaluation is kept up to date on every ``finish_evaluation``: a new
complete point is on the front iff no current front point dominates it, and it removes the
front points it dominates (exact, because every off-front point is dominated by a front
point). ``refresh_pareto`` recomputes the flags of a study from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, select, true, update
from sqlalchemy.orm import Session

from dse.catalog import BUDGET_OPS
from dse.status import FINAL_STATUSES, Status
from dse.store.db import Database
from dse.store.engine import StoreError
from dse.store.records import (
    StudyRecord,
    TrainingStart,
    before_training,
    clean_number,
    dominates,
    fidelity_key,
    json_safe,
    objective_row,
    objective_selection,
    objective_vector,
    split_metrics,
    study_record,
    trained_metric,
    training_record,
    with_hardware,
)
from dse.store.schema import (
    EPOCH_COLUMNS,
    Artifact,
    Candidate,
    Epoch,
    Evaluation,
    HardwareReport,
    Study,
    Training,
    hardware_columns,
    trained_columns,
    utcnow,
)
from hwmodel.metrics import COST_MODEL_VERSION


def _validate_objectives(objectives: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    if not objectives:
        raise ValueError("objectives: need at least one (name, direction)")
    out = []
    for item in objectives:
        if len(item) != 2:
            raise ValueError(f"objectives: each must be (name, direction), got {item!r}")
        name, direction = str(item[0]), str(item[1])
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"objectives: direction of {name!r} must be 'maximize' or "
                             f"'minimize', got {direction!r}")
        out.append({"name": name, "direction": direction})
    names = [o["name"] for o in out]
    if len(set(names)) != len(names):
        raise ValueError(f"objectives: names must be unique, got {names}")
    return out


def _validate_budgets(budgets: Sequence[tuple[str, str, float]]) -> list[dict[str, Any]]:
    out = []
    for item in budgets:
        if len(item) != 3:
            raise ValueError(f"budgets: each must be (metric, op, value), got {item!r}")
        metric, op, value = str(item[0]), str(item[1]), item[2]
        if op not in BUDGET_OPS:
            raise ValueError(f"budgets: op of {metric!r} must be one of {', '.join(BUDGET_OPS)}, "
                             f"got {op!r}")
        number = clean_number(f"budget {metric}", value)
        if number is None:
            raise ValueError(f"budgets: value of {metric!r} must be a finite number, "
                             f"got {value!r}")
        out.append({"metric": metric, "op": op, "value": number})
    return out


def create_or_get_study(db: Database, name: str, *, space: str, dataset: str,
                        task: str = "classification", config: Mapping[str, Any] | None = None,
                        objectives: Sequence[tuple[str, str]],
                        budgets: Sequence[tuple[str, str, float]] = (),
                        cost_model_version: str | None = None) -> StudyRecord:
    """The study ``name``, created if new. Reusing a name with another space, dataset, task,
    objectives or budgets raises :class:`StoreError` naming the field, the stored value and
    the new one (nothing is written). ``config`` is stored at creation only."""
    from dse import __version__

    if not name or not str(name).strip():
        raise StoreError("study name: must be non-empty")
    objs = _validate_objectives(objectives)
    buds = _validate_budgets(budgets)
    new = {"space": str(space), "dataset": str(dataset), "task": str(task),
           "objectives": objs, "budgets": buds}
    with db.write() as session:
        row = session.execute(select(Study).where(Study.name == name)).scalar_one_or_none()
        if row is None:
            # INSERT .. ON CONFLICT DO NOTHING: two processes creating the same study race
            # safely (the loser waits for the winner's commit, then reads its row)
            now = utcnow()
            stmt = _dialect_insert(session)(Study).values(
                name=name, space=new["space"], dataset=new["dataset"], task=new["task"],
                config=json_safe(dict(config or {})), objectives=objs, budgets=buds,
                tinydse_version=__version__,
                cost_model_version=cost_model_version
                if cost_model_version is not None else COST_MODEL_VERSION,
                created_at=now, updated_at=now,
            ).on_conflict_do_nothing(index_elements=["name"]).returning(Study.id)
            created_id = session.execute(stmt).scalar_one_or_none()
            row = session.execute(select(Study).where(Study.name == name)
                                  .execution_options(populate_existing=True)).scalar_one()
            if created_id is not None:
                return study_record(row)
        old = {"space": row.space, "dataset": row.dataset, "task": row.task,
               "objectives": row.objectives, "budgets": row.budgets}
        for field in ("space", "dataset", "task", "objectives", "budgets"):
            a: Any = old[field]
            b: Any = new[field]
            if field == "budgets":
                a = sorted((x["metric"], x["op"], float(x["value"])) for x in a)
                b = sorted((x["metric"], x["op"], float(x["value"])) for x in b)
            if a != b:
                raise StoreError(
                    f"study {name!r} exists with {field}={_show(field, old[field])}, "
                    f"got {field}={_show(field, new[field])} (use another study name)")
        return study_record(row)


def add_candidate(db: Database, study_id: int, spec_json: str, spec_hash: str,
                  choices: Mapping[str, Any] | None = None, *,
                  network_hash: str | None = None) -> tuple[int, bool]:
    """(candidate id, created) — idempotent on (study, spec_hash). ``network_hash``: the
    network's ArchSpec.hash when ``spec_hash`` keys a (network, accelerator) pair
    (default: ``spec_hash`` itself)."""
    if not spec_hash:
        raise ValueError("spec_hash: must be non-empty")
    with db.write() as session:
        insert = _dialect_insert(session)
        stmt = insert(Candidate).values(
            study_id=study_id, spec=spec_json, spec_hash=spec_hash,
            network_hash=network_hash or spec_hash,
            choices=json_safe(dict(choices or {})), created_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["study_id", "spec_hash"]
                                 ).returning(Candidate.id)
        new_id = session.execute(stmt).scalar_one_or_none()
        if new_id is not None:
            return int(new_id), True
        found = session.execute(select(Candidate.id).where(
            Candidate.study_id == study_id, Candidate.spec_hash == spec_hash)).scalar_one()
        return int(found), False


def start_evaluation(db: Database, candidate_id: int, trial_number: int | None) -> int:
    """Mark the candidate's evaluation running; its id. A new evaluation is attempt 1. A
    later start is a restart (attempt + 1) that clears everything the abandoned attempt
    wrote: every metric of the evaluation (columns and JSON: accuracies, a compression
    task's ``psnr_db``, training time), its epoch rows, the search's artifacts of the
    candidate (a further training's, named ``training-<id>/<name>``, stay), error, violated
    budget, host and Pareto flag. The hardware numbers are the candidate's (its report) and
    stay."""
    with db.write() as session:
        cand = _candidate(session, candidate_id)
        db.lock_study(session, cand.study_id)
        ev = session.execute(select(Evaluation).where(
            Evaluation.candidate_id == candidate_id)).scalar_one_or_none()
        now = utcnow()
        if ev is None:
            ev = Evaluation(candidate_id=candidate_id, study_id=cand.study_id,
                            trial_number=trial_number, status="running", started_at=now,
                            attempt=1, pareto=False, metrics={})
            session.add(ev)
            session.flush()
            return int(ev.id)
        was_pareto = bool(ev.pareto)
        ev.status = "running"
        ev.trial_number = trial_number
        ev.started_at = now
        ev.finished_at = None
        ev.error = None
        ev.violated = None
        ev.attempt = (ev.attempt or 0) + 1
        ev.pareto = False
        ev.host = None
        for name in trained_columns():
            setattr(ev, name, None)
        ev.metrics = {}
        session.execute(delete(Epoch).where(Epoch.evaluation_id == ev.id))
        session.execute(delete(Artifact).where(Artifact.candidate_id == candidate_id,
                                               Artifact.name.notlike("%/%")))
        session.flush()
        if was_pareto:
            _refresh_pareto(session, cand.study_id)
        return int(ev.id)


def record_hardware(db: Database, candidate_id: int, metrics: Mapping[str, Any],
                    per_layer: Sequence[Mapping[str, Any]] = (),
                    accel: Mapping[str, Any] | None = None) -> None:
    """Store the cost model's report of a candidate (replacing an earlier one): its numbers
    known before training (the catalogue's columns, the rest in its JSON), per-layer rows and
    accelerator. It is the one place they are stored: the evaluation and any further
    training read them there. A metric the catalogue knows only after training is refused
    (ValueError)."""
    late = sorted(k for k in metrics if trained_metric(k))
    if late:
        raise ValueError(f"hardware metrics: {late[0]!r} is not known before training (the "
                         "catalogue's hardware, simulator and spec metrics only)")
    cols, extra = split_metrics(metrics, hardware_columns())
    with db.write() as session:
        cand = _candidate(session, candidate_id)
        hw = session.execute(select(HardwareReport).where(
            HardwareReport.candidate_id == candidate_id)).scalar_one_or_none()
        if hw is None:
            hw = HardwareReport(candidate_id=candidate_id)
            session.add(hw)
        for name in hardware_columns():
            setattr(hw, name, cols.get(name))
        hw.metrics = json_safe(extra)
        hw.per_layer = json_safe(list(per_layer))
        hw.accel = json_safe(dict(accel or {}))
        session.flush()
        ev = session.execute(select(Evaluation).where(
            Evaluation.candidate_id == candidate_id)).scalar_one_or_none()
        if ev is not None and ev.status == "complete":  # objectives may have changed
            db.lock_study(session, cand.study_id)
            _refresh_pareto(session, cand.study_id)


def finish_evaluation(db: Database, eval_id: int, status: str, *,
                      metrics: Mapping[str, Any] | None = None, error: str | None = None,
                      violated: str | None = None) -> None:
    """Record the outcome (status one of complete/failed/infeasible/pruned) and its metrics
    (known names to columns, the rest to JSON), and update the study's Pareto flags."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"status: must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
    early = sorted(k for k in (metrics or {}) if before_training(k))
    if early:
        raise ValueError(f"metrics: {early[0]!r} is known before training; it is the "
                         "candidate's (record_hardware), not the evaluation's")
    cols, extra = split_metrics(metrics or {}, trained_columns())
    with db.write() as session:
        ev = session.get(Evaluation, eval_id)
        if ev is None:
            raise StoreError(f"unknown evaluation id {eval_id}")
        db.lock_study(session, ev.study_id)
        was_pareto = bool(ev.pareto)
        ev.status = status
        ev.finished_at = utcnow()
        ev.error = error
        ev.violated = violated
        for key, value in cols.items():
            setattr(ev, key, value)
        if extra:
            ev.metrics = {**(ev.metrics or {}), **extra}
        ev.pareto = False
        session.flush()
        if was_pareto:
            _refresh_pareto(session, ev.study_id)
        else:
            _add_to_front(session, ev)


def set_replicated(db: Database, eval_id: int, metrics: Mapping[str, Any]) -> None:
    """Replace a complete evaluation's trained metrics by ``metrics`` (the means over the
    candidate's networks, dse.confirm; other names go to its JSON) and refresh the study's
    Pareto flags; its status, times and curve stay."""
    cols, extra = split_metrics(metrics, trained_columns())
    with db.write() as session:
        ev = session.get(Evaluation, eval_id)
        if ev is None:
            raise StoreError(f"unknown evaluation id {eval_id}")
        if ev.status != Status.COMPLETE:
            raise StoreError(f"evaluation {eval_id} is {ev.status}, not complete")
        db.lock_study(session, ev.study_id)
        for key, value in cols.items():
            setattr(ev, key, value)
        if extra:
            ev.metrics = {**(ev.metrics or {}), **extra}
        session.flush()
        _refresh_pareto(session, ev.study_id)


def add_epoch(db: Database, eval_id: int, stage: str | int, epoch: int, **metrics: Any) -> int:
    """One learning-curve point of the evaluation's current attempt (train_loss,
    train_accuracy, val_loss, val_accuracy, seconds as columns; other numbers in the row's
    JSON metrics); its id."""
    cols, extra = split_metrics(metrics, EPOCH_COLUMNS)
    with db.write() as session:
        attempt = session.execute(select(Evaluation.attempt).where(
            Evaluation.id == eval_id)).scalar_one_or_none()
        if attempt is None:
            raise StoreError(f"unknown evaluation id {eval_id}")
        # one row per (evaluation, attempt, stage, epoch): a write retried after a lost
        # connection (or a report seen twice) replaces the row instead of adding a second one
        values = {"metrics": extra, **{c: cols.get(c) for c in EPOCH_COLUMNS},
                  "created_at": utcnow()}
        stmt = _dialect_insert(session)(Epoch).values(
            evaluation_id=eval_id, attempt=int(attempt), stage=str(stage), epoch=int(epoch),
            **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["evaluation_id", "attempt", "stage", "epoch"], set_=values
        ).returning(Epoch.id)
        return int(session.execute(stmt).scalar_one())


def set_host(db: Database, eval_id: int, host: str) -> None:
    """Record the hostname of the machine the evaluation trains on."""
    with db.write() as session:
        session.execute(update(Evaluation).where(Evaluation.id == eval_id)
                        .values(host=str(host)[:255]))


def add_artifact(db: Database, candidate_id: int, name: str, mime: str, data: bytes) -> None:
    """Store a small file made for a candidate under ``name`` (replacing one of that name),
    e.g. ``("reconstruction", "image/png", png_bytes)``."""
    if not name or len(name) > 255:
        raise ValueError(f"artifact name={name!r} must be 1-255 characters")
    if not mime or len(mime) > 255:
        raise ValueError(f"artifact mime={mime!r} must be 1-255 characters")
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"artifact data must be bytes, got {type(data).__name__}")
    with db.write() as session:
        _candidate(session, candidate_id)
        row = session.execute(select(Artifact).where(
            Artifact.candidate_id == candidate_id, Artifact.name == name)
        ).scalar_one_or_none()
        if row is None:
            session.add(Artifact(candidate_id=candidate_id, name=name, mime=mime,
                                 data=bytes(data), created_at=utcnow()))
        else:
            row.mime, row.data, row.created_at = mime, bytes(data), utcnow()


def requeue_running(db: Database, study_id: int) -> int:
    """Set evaluations left ``running`` or ``interrupted`` (by a process that died or was
    stopped) back to ``queued``; how many. Call it when no other process is evaluating
    this study."""
    with db.write() as session:
        result = session.execute(
            update(Evaluation).where(Evaluation.study_id == study_id,
                                     Evaluation.status.in_((Status.RUNNING.value,
                                                             Status.INTERRUPTED.value)))
            .values(status="queued"))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def refresh_pareto(db: Database, study: str | int) -> int:
    """Recompute the Pareto flags of a study from scratch; the front size."""
    with db.write() as session:
        row = db.study(session, study)
        db.lock_study(session, row.id)
        return _refresh_pareto(session, row.id)

# ----------------------------------------------------------------------- the front
def _objectives(session: Session, study_id: int) -> list[tuple[str, str]]:
    objs = session.execute(select(Study.objectives).where(Study.id == study_id)).scalar_one()
    return [(str(o["name"]), str(o["direction"])) for o in objs or []]


def _add_to_front(session: Session, ev: Evaluation) -> None:
    if ev.status != "complete":
        return
    objectives = _objectives(session, ev.study_id)
    p = objective_vector(ev, objectives)
    if p is None:
        return
    signs = np.array([-1.0 if d == "maximize" else 1.0 for _, d in objectives])
    front = session.execute(select(Evaluation).where(
        Evaluation.study_id == ev.study_id, Evaluation.pareto == true(),
        Evaluation.id != ev.id)).scalars().all()
    vectors = [(q, objective_vector(q, objectives)) for q in front]
    if any(v is not None and dominates(v, p, signs) for _, v in vectors):
        return
    ev.pareto = True
    for q, v in vectors:
        if v is None or dominates(p, v, signs):
            q.pareto = False


def _refresh_pareto(session: Session, study_id: int) -> int:
    from dse.pareto import non_dominated

    objectives = _objectives(session, study_id)
    names = [n for n, _ in objectives]
    rows = session.execute(with_hardware(select(Evaluation.id, *objective_selection(names))
                                         .select_from(Evaluation)).where(
        Evaluation.study_id == study_id, Evaluation.status == "complete")).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = [objective_vector(objective_row(names, r[1:]), objectives) for r in rows]
    points = np.array([np.full(len(names), np.nan) if v is None else v for v in vectors]
                      ).reshape(len(rows), len(names))
    mask = non_dominated(points, [d for _, d in objectives]) if len(rows) else \
        np.zeros(0, dtype=bool)
    front_ids = [int(i) for i in ids[mask]]
    session.execute(update(Evaluation).where(Evaluation.study_id == study_id,
                                             Evaluation.pareto == true())
                    .values(pareto=False))
    for start in range(0, len(front_ids), 500):
        chunk = front_ids[start:start + 500]
        session.execute(update(Evaluation).where(Evaluation.id.in_(chunk))
                        .values(pareto=True))
    return len(front_ids)


def _candidate(session: Session, candidate_id: int) -> Candidate:
    """The candidate row; an unknown id is a StoreError."""
    cand = session.get(Candidate, candidate_id)
    if cand is None:
        raise StoreError(f"unknown candidate id {candidate_id}")
    return cand


def _show(field: str, value: Any) -> str:
    if field == "objectives":
        return "[" + ", ".join(f"{o['name']}:{o['direction']}" for o in value) + "]"
    if field == "budgets":
        return "[" + ", ".join(f"{b['metric']}{b['op']}{b['value']:g}" for b in value) + "]"
    return repr(value)


def _dialect_insert(session: Session) -> Any:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


# ------------------------------------------------------------------ trainings (dse train)
def start_training(db: Database, candidate_id: int, *, epochs: int, schedule: str,
                   max_train_batches: int | None, settings: Mapping[str, Any],
                   host: str, pid: int, retrain: bool = False,
                   replicate: int = 0) -> TrainingStart:
    """Claim the training of ``candidate_id`` at this fidelity for the process (host, pid)
    (see :class:`TrainingStart` for what happens to a stored one). A run whose process is
    alive (:func:`dse.store.drivers.driver_alive`) is not taken over: StoreError naming
    it. A resumed run with other ``settings`` than stored restarts from scratch. ``replicate``
    k > 0 is the candidate's k-th further network at this fidelity (its own row)."""
    from dse.store.drivers import driver_alive

    key = fidelity_key(schedule, epochs, max_train_batches, replicate)
    stored: dict[str, Any] = json_safe(dict(settings))
    with db.write() as session:
        cand = _candidate(session, candidate_id)
        db.lock_study(session, cand.study_id)
        row = session.execute(select(Training).where(
            Training.candidate_id == candidate_id, Training.fidelity_key == key)
            .execution_options(populate_existing=True)).scalar_one_or_none()
        now = utcnow()
        if row is None:
            row = Training(candidate_id=candidate_id, study_id=cand.study_id,
                           epochs=int(epochs), schedule=str(schedule),
                           max_train_batches=max_train_batches, fidelity_key=key,
                           replicate=int(replicate), status=Status.RUNNING.value,
                           metrics={}, curve=[],
                           settings=stored, attempt=1, host=str(host)[:255],
                           pid=int(pid), beat=time.time(), created_at=now, started_at=now)
            session.add(row)
            session.flush()
            return TrainingStart(training_record(row), "new")
        final = row.status in FINAL_STATUSES
        if final and not retrain:
            return TrainingStart(training_record(row), "done")
        if row.status == Status.RUNNING and (row.host, row.pid) != (host, pid) \
                and driver_alive(row.host, row.pid, row.beat):
            raise StoreError(f"candidate {candidate_id} at {key} is being trained by "
                             f"another process (pid {row.pid} on {row.host}); wait for it")
        checkpoint = row.checkpoint
        if final or checkpoint is None or row.settings != stored:
            action, checkpoint = "restarted", None
            row.curve, row.checkpoint = [], None
        else:
            action = "resumed"
        for name in trained_columns():
            setattr(row, name, None)
        row.metrics, row.error, row.settings = {}, None, stored
        row.status = Status.RUNNING.value
        row.attempt = (row.attempt or 0) + 1
        row.host, row.pid, row.beat = str(host)[:255], int(pid), time.time()
        row.started_at, row.finished_at = now, None
        session.flush()
        return TrainingStart(training_record(row), action, checkpoint)

def training_epoch(db: Database, training_id: int, row: Mapping[str, Any],
                   checkpoint: bytes | None = None) -> None:
    """One epoch of a training: its curve point (``stage``, ``epoch`` and numbers; a point
    of the same stage and epoch is replaced) and the trainer's checkpoint after it, in one
    transaction (so a resumed run and its curve agree)."""
    point = json_safe(dict(row))
    with db.write() as session:
        t = session.get(Training, training_id)
        if t is None:
            raise StoreError(f"unknown training id {training_id}")
        where = (point.get("stage"), point.get("epoch"))
        t.curve = [p for p in (t.curve or []) if (p.get("stage"), p.get("epoch")) != where
                   ] + [point]
        if checkpoint is not None:
            t.checkpoint = bytes(checkpoint)
        t.beat = time.time()

def beat_training(db: Database, training_id: int, host: str, pid: int) -> bool:
    """Renew the heartbeat of a training held by (host, pid); False if another holds it."""
    with db.write() as session:
        result = session.execute(update(Training).where(
            Training.id == training_id, Training.host == str(host)[:255],
            Training.pid == int(pid)).values(beat=time.time()))
        return bool(result.rowcount)  # type: ignore[attr-defined]

def finish_training(db: Database, training_id: int, status: str, *,
                    metrics: Mapping[str, Any] | None = None,
                    error: str | None = None) -> None:
    """Record a training's outcome (``complete`` or ``failed``) and its metrics (trained
    metric names to columns, the rest to JSON); its checkpoint is dropped."""
    if status not in (Status.COMPLETE, Status.FAILED):
        raise ValueError(f"status: must be complete or failed, got {status!r}")
    cols, extra = split_metrics(metrics or {}, trained_columns())
    with db.write() as session:
        t = session.get(Training, training_id)
        if t is None:
            raise StoreError(f"unknown training id {training_id}")
        t.status, t.error, t.finished_at = status, error, utcnow()
        for key, value in cols.items():
            setattr(t, key, value)
        t.metrics = extra
        t.checkpoint, t.pid, t.beat = None, None, None

def interrupt_training(db: Database, training_id: int, host: str, pid: int) -> None:
    """A training (held by host, pid) stopped before its end: ``interrupted``, its
    checkpoint kept for the next run."""
    with db.write() as session:
        session.execute(update(Training).where(
            Training.id == training_id, Training.host == str(host)[:255],
            Training.pid == int(pid), Training.status == Status.RUNNING.value)
            .values(status=Status.INTERRUPTED.value, pid=None, beat=None))
