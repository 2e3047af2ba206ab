"""The results store: writes (one transaction each) and the entry points of the reads.

``open_store(url)`` returns a :class:`Store`. Every write method runs in one transaction
(commit on success, rollback on error: no half-written rows) and serializes per study where it
touches Pareto flags (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory
lock on the study), so several processes can write one study at once. Database errors surface
as :class:`dse.store.StoreError` (one line, password masked).

The Pareto flag of an evaluation is kept up to date on every ``finish_evaluation``: a new
complete point is on the front iff no current front point dominates it, and it removes the
front points it dominates (exact, because every off-front point is dominated by a front
point). ``refresh_pareto`` recomputes the flags of a study from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select, text, true, update
from sqlalchemy.orm import Session

from dse.catalog import BUDGET_OPS
from dse.status import FINAL_STATUSES, Status
from dse.store.engine import (
    PG_LOCK_NAMESPACE,
    SessionFactory,
    StoreError,
    check_schema,
    create_store_engine,
    mask_url,
    upgrade_schema,
)
from dse.store.schema import (
    HARDWARE_COLUMNS,
    METRIC_COLUMNS,
    Artifact,
    Candidate,
    Epoch,
    Evaluation,
    HardwareReport,
    Study,
    utcnow,
)
from hwmodel.metrics import COST_MODEL_VERSION

if TYPE_CHECKING:
    import pandas as pd

_STUDY_LOCK_BASE = 1 << 20  # advisory keys of studies: base + study id (below: migrations)


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


def _study_record(s: Study) -> StudyRecord:
    return StudyRecord(
        id=s.id, name=s.name, space=s.space, dataset=s.dataset, task=s.task,
        config=dict(s.config or {}),
        objectives=[(str(o["name"]), str(o["direction"])) for o in s.objectives or []],
        budgets=[(str(b["metric"]), str(b["op"]), float(b["value"])) for b in s.budgets or []],
        tinydse_version=s.tinydse_version, cost_model_version=s.cost_model_version,
        created_at=s.created_at, updated_at=s.updated_at)


def evaluation_metrics(ev: Evaluation) -> dict[str, float]:
    """All metrics of an evaluation by name: real columns first, then the JSON extras."""
    out: dict[str, float] = {}
    for name in METRIC_COLUMNS:
        value = getattr(ev, name)
        if value is not None:
            out[name] = float(value)
    for key, value in (ev.metrics or {}).items():
        if key not in out and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def _eval_record(ev: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        id=ev.id, candidate_id=ev.candidate_id, study_id=ev.study_id,
        trial_number=ev.trial_number, status=ev.status, metrics=evaluation_metrics(ev),
        violated=ev.violated, error=ev.error, attempt=ev.attempt, pareto=bool(ev.pareto),
        started_at=ev.started_at, finished_at=ev.finished_at)


def _clean_number(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"metrics[{key!r}]: must be a number, got {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """Plain-JSON copy: numpy scalars/arrays to Python, NaN/inf to None (JSONB rejects NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _split_metrics(metrics: Mapping[str, Any], columns: Sequence[str]
                   ) -> tuple[dict[str, float | None], dict[str, Any]]:
    """(values for real columns, the rest for the JSON column)."""
    cols: dict[str, float | None] = {}
    extra: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in columns:
            cols[key] = _clean_number(key, value)
        else:
            extra[key] = _json_safe(value)
    return cols, extra


def objective_vector(ev: Evaluation | Mapping[str, Any], objectives: Sequence[tuple[str, str]]
                     ) -> np.ndarray | None:
    """The objective values of an evaluation (object or row mapping), None if any is missing."""
    values = []
    extras = (ev.metrics if isinstance(ev, Evaluation) else ev.get("metrics")) or {}
    for name, _direction in objectives:
        if name in METRIC_COLUMNS:
            value = getattr(ev, name) if isinstance(ev, Evaluation) else ev.get(name)
        else:
            value = extras.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return np.array(values)


def _dominates(q: np.ndarray, p: np.ndarray, signs: np.ndarray) -> bool:
    a, b = q * signs, p * signs
    return bool(np.all(a <= b) and np.any(a < b))


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
        number = _clean_number(f"budget {metric}", value)
        if number is None:
            raise ValueError(f"budgets: value of {metric!r} must be a finite number, "
                             f"got {value!r}")
        out.append({"metric": metric, "op": op, "value": number})
    return out


class Store:
    """A results database. Create with :func:`open_store`; use as a context manager or call
    :meth:`close` to release connections."""

    def __init__(self, factory: SessionFactory, *, read_only: bool) -> None:
        self._sf = factory
        self.read_only = read_only

    # ------------------------------------------------------------------ plumbing
    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self._sf.url)

    @property
    def sqlalchemy_url(self) -> str:
        """The full URL (password included), e.g. for ``optuna.storages.RDBStorage``."""
        return self._sf.url.render_as_string(hide_password=False)

    @property
    def engine(self) -> Any:
        return self._sf.engine

    @property
    def is_sqlite(self) -> bool:
        return self._sf.is_sqlite

    def close(self) -> None:
        self._sf.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r}{', read_only=True' if self.read_only else ''})"

    def _write(self) -> Any:
        if self.read_only:
            raise StoreError(f"{self.url}: the store was opened read-only")
        return self._sf.session(write=True)

    def _read(self) -> Any:
        return self._sf.session(write=False)

    def _lock_study(self, session: Session, study_id: int) -> None:
        """Serialize Pareto maintenance of one study (SQLite: BEGIN IMMEDIATE already does)."""
        if not self._sf.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                            {"ns": PG_LOCK_NAMESPACE, "key": _STUDY_LOCK_BASE + int(study_id)})

    def _study(self, session: Session, study: str | int) -> Study:
        if isinstance(study, int) and not isinstance(study, bool):
            row = session.get(Study, study)
        else:
            row = session.execute(
                select(Study).where(Study.name == str(study))).scalar_one_or_none()
        if row is None:
            names = list(session.execute(select(Study.name).order_by(Study.name)).scalars())
            known = f"studies: {', '.join(names)}" if names else f"no studies in {self.url}"
            raise StoreError(f"unknown study {study!r} ({known})")
        return row

    # ------------------------------------------------------------------ writes
    def create_or_get_study(self, name: str, *, space: str, dataset: str,
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
        with self._write() as session:
            row = session.execute(select(Study).where(Study.name == name)).scalar_one_or_none()
            if row is None:
                # INSERT .. ON CONFLICT DO NOTHING: two processes creating the same study race
                # safely (the loser waits for the winner's commit, then reads its row)
                now = utcnow()
                stmt = _dialect_insert(session)(Study).values(
                    name=name, space=new["space"], dataset=new["dataset"], task=new["task"],
                    config=_json_safe(dict(config or {})), objectives=objs, budgets=buds,
                    tinydse_version=__version__,
                    cost_model_version=cost_model_version
                    if cost_model_version is not None else COST_MODEL_VERSION,
                    created_at=now, updated_at=now,
                ).on_conflict_do_nothing(index_elements=["name"]).returning(Study.id)
                created_id = session.execute(stmt).scalar_one_or_none()
                row = session.execute(select(Study).where(Study.name == name)
                                      .execution_options(populate_existing=True)).scalar_one()
                if created_id is not None:
                    return _study_record(row)
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
            return _study_record(row)

    def add_candidate(self, study_id: int, spec_json: str, spec_hash: str,
                      choices: Mapping[str, Any] | None = None, *,
                      network_hash: str | None = None) -> tuple[int, bool]:
        """(candidate id, created) — idempotent on (study, spec_hash). ``network_hash``: the
        network's ArchSpec.hash when ``spec_hash`` keys a (network, accelerator) pair
        (default: ``spec_hash`` itself)."""
        if not spec_hash:
            raise ValueError("spec_hash: must be non-empty")
        with self._write() as session:
            insert = _dialect_insert(session)
            stmt = insert(Candidate).values(
                study_id=study_id, spec=spec_json, spec_hash=spec_hash,
                network_hash=network_hash or spec_hash,
                choices=_json_safe(dict(choices or {})), created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["study_id", "spec_hash"]
                                     ).returning(Candidate.id)
            new_id = session.execute(stmt).scalar_one_or_none()
            if new_id is not None:
                return int(new_id), True
            found = session.execute(select(Candidate.id).where(
                Candidate.study_id == study_id, Candidate.spec_hash == spec_hash)).scalar_one()
            return int(found), False

    def start_evaluation(self, candidate_id: int, trial_number: int | None) -> int:
        """Mark the candidate's evaluation running (created, or restarted with attempt + 1:
        previous results and flags are cleared, hardware metrics kept); its id."""
        with self._write() as session:
            cand = session.get(Candidate, candidate_id)
            if cand is None:
                raise StoreError(f"unknown candidate id {candidate_id}")
            self._lock_study(session, cand.study_id)
            ev = session.execute(select(Evaluation).where(
                Evaluation.candidate_id == candidate_id)).scalar_one_or_none()
            now = utcnow()
            if ev is None:
                ev = Evaluation(candidate_id=candidate_id, study_id=cand.study_id,
                                trial_number=trial_number, status="running", started_at=now,
                                attempt=1, pareto=False, metrics={})
                hw = session.execute(select(HardwareReport).where(
                    HardwareReport.candidate_id == candidate_id)).scalar_one_or_none()
                if hw is not None:
                    cols, extra = _split_metrics(hw.metrics or {}, HARDWARE_COLUMNS)
                    for key, value in cols.items():
                        setattr(ev, key, value)
                    ev.metrics = extra
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
            for name in ("accuracy", "val_accuracy", "test_accuracy", "train_seconds"):
                setattr(ev, name, None)
            # the new attempt's learning curve starts again
            session.execute(delete(Epoch).where(Epoch.evaluation_id == ev.id))
            session.flush()
            if was_pareto:
                self._refresh_pareto(session, cand.study_id)
            return int(ev.id)

    def record_hardware(self, candidate_id: int, metrics: Mapping[str, Any],
                        per_layer: Sequence[Mapping[str, Any]] = (),
                        accel: Mapping[str, Any] | None = None) -> None:
        """Store the cost model's report of a candidate (replacing an earlier one) and copy its
        metrics onto the candidate's evaluation (hardware columns; others to JSON metrics)."""
        cols, extra = _split_metrics(metrics, HARDWARE_COLUMNS)
        with self._write() as session:
            cand = session.get(Candidate, candidate_id)
            if cand is None:
                raise StoreError(f"unknown candidate id {candidate_id}")
            report_metrics = _json_safe({**cols, **extra})
            hw = session.execute(select(HardwareReport).where(
                HardwareReport.candidate_id == candidate_id)).scalar_one_or_none()
            if hw is None:
                session.add(HardwareReport(candidate_id=candidate_id, metrics=report_metrics,
                                           per_layer=_json_safe(list(per_layer)),
                                           accel=_json_safe(dict(accel or {}))))
            else:
                hw.metrics = report_metrics
                hw.per_layer = _json_safe(list(per_layer))
                hw.accel = _json_safe(dict(accel or {}))
            ev = session.execute(select(Evaluation).where(
                Evaluation.candidate_id == candidate_id)).scalar_one_or_none()
            if ev is not None:
                self._lock_study(session, cand.study_id)
                for key, value in cols.items():
                    setattr(ev, key, value)
                ev.metrics = {**(ev.metrics or {}), **extra}
                session.flush()
                if ev.status == "complete":  # objectives may have changed
                    self._refresh_pareto(session, cand.study_id)

    def finish_evaluation(self, eval_id: int, status: str, *,
                          metrics: Mapping[str, Any] | None = None, error: str | None = None,
                          violated: str | None = None) -> None:
        """Record the outcome (status one of complete/failed/infeasible/pruned) and its metrics
        (known names to columns, the rest to JSON), and update the study's Pareto flags."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status: must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
        cols, extra = _split_metrics(metrics or {}, METRIC_COLUMNS)
        with self._write() as session:
            ev = session.get(Evaluation, eval_id)
            if ev is None:
                raise StoreError(f"unknown evaluation id {eval_id}")
            self._lock_study(session, ev.study_id)
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
                self._refresh_pareto(session, ev.study_id)
            else:
                self._add_to_front(session, ev)

    def add_epoch(self, eval_id: int, stage: str | int, epoch: int, **metrics: Any) -> int:
        """One learning-curve point (train_loss, train_accuracy, val_loss, val_accuracy,
        seconds as columns; other numbers in the row's JSON metrics); its id."""
        from dse.store.schema import EPOCH_COLUMNS

        cols, extra = _split_metrics(metrics, EPOCH_COLUMNS)
        with self._write() as session:
            if session.get(Evaluation, eval_id) is None:
                raise StoreError(f"unknown evaluation id {eval_id}")
            # one row per (evaluation, stage, epoch): a write retried after a lost connection
            # (or a report seen twice) replaces the row instead of adding a second one
            values = {"metrics": extra, **{c: cols.get(c) for c in EPOCH_COLUMNS},
                      "created_at": utcnow()}
            stmt = _dialect_insert(session)(Epoch).values(
                evaluation_id=eval_id, stage=str(stage), epoch=int(epoch), **values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["evaluation_id", "stage", "epoch"], set_=values
            ).returning(Epoch.id)
            return int(session.execute(stmt).scalar_one())

    def set_host(self, eval_id: int, host: str) -> None:
        """Record the hostname of the machine the evaluation trains on."""
        with self._write() as session:
            session.execute(update(Evaluation).where(Evaluation.id == eval_id)
                            .values(host=str(host)[:255]))

    def add_artifact(self, candidate_id: int, name: str, mime: str, data: bytes) -> None:
        """Store a small file made for a candidate under ``name`` (replacing one of that name),
        e.g. ``("reconstruction", "image/png", png_bytes)``."""
        if not name or len(name) > 255:
            raise ValueError(f"artifact name={name!r} must be 1-255 characters")
        if not mime or len(mime) > 255:
            raise ValueError(f"artifact mime={mime!r} must be 1-255 characters")
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"artifact data must be bytes, got {type(data).__name__}")
        with self._write() as session:
            if session.get(Candidate, candidate_id) is None:
                raise StoreError(f"unknown candidate id {candidate_id}")
            row = session.execute(select(Artifact).where(
                Artifact.candidate_id == candidate_id, Artifact.name == name)
            ).scalar_one_or_none()
            if row is None:
                session.add(Artifact(candidate_id=candidate_id, name=name, mime=mime,
                                     data=bytes(data), created_at=utcnow()))
            else:
                row.mime, row.data, row.created_at = mime, bytes(data), utcnow()

    def artifacts(self, candidate_id: int) -> list[dict[str, Any]]:
        """The artifacts of a candidate without their bytes: name, mime, size_bytes,
        created_at (by name)."""
        with self._read() as session:
            rows = session.execute(select(Artifact.name, Artifact.mime,
                                          func.length(Artifact.data), Artifact.created_at)
                                   .where(Artifact.candidate_id == candidate_id)
                                   .order_by(Artifact.name)).all()
        return [{"name": n, "mime": m, "size_bytes": int(size or 0), "created_at": t}
                for n, m, size, t in rows]

    def artifact(self, candidate_id: int, name: str) -> tuple[str, bytes]:
        """(mime, bytes) of a candidate's artifact; unknown -> StoreError naming the known."""
        with self._read() as session:
            row = session.execute(select(Artifact.mime, Artifact.data).where(
                Artifact.candidate_id == candidate_id, Artifact.name == name)).one_or_none()
            if row is None:
                known = list(session.execute(select(Artifact.name).where(
                    Artifact.candidate_id == candidate_id).order_by(Artifact.name)).scalars())
                raise StoreError(f"candidate {candidate_id} has no artifact {name!r} "
                                 f"(artifacts: {', '.join(known) or 'none'})")
            return str(row[0]), bytes(row[1])

    def requeue_running(self, study_id: int) -> int:
        """Set evaluations left ``running`` or ``interrupted`` (by a process that died or was
        stopped) back to ``queued``; how many. Call it when no other process is evaluating
        this study."""
        with self._write() as session:
            result = session.execute(
                update(Evaluation).where(Evaluation.study_id == study_id,
                                         Evaluation.status.in_((Status.RUNNING.value,
                                                                 Status.INTERRUPTED.value)))
                .values(status="queued"))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def refresh_pareto(self, study: str | int) -> int:
        """Recompute the Pareto flags of a study from scratch; the front size."""
        with self._write() as session:
            row = self._study(session, study)
            self._lock_study(session, row.id)
            return self._refresh_pareto(session, row.id)

    # ------------------------------------------------------------------ pareto maintenance
    def _objectives(self, session: Session, study_id: int) -> list[tuple[str, str]]:
        objs = session.execute(select(Study.objectives).where(Study.id == study_id)).scalar_one()
        return [(str(o["name"]), str(o["direction"])) for o in objs or []]

    def _add_to_front(self, session: Session, ev: Evaluation) -> None:
        if ev.status != "complete":
            return
        objectives = self._objectives(session, ev.study_id)
        p = objective_vector(ev, objectives)
        if p is None:
            return
        signs = np.array([-1.0 if d == "maximize" else 1.0 for _, d in objectives])
        front = session.execute(select(Evaluation).where(
            Evaluation.study_id == ev.study_id, Evaluation.pareto == true(),
            Evaluation.id != ev.id)).scalars().all()
        vectors = [(q, objective_vector(q, objectives)) for q in front]
        if any(v is not None and _dominates(v, p, signs) for _, v in vectors):
            return
        ev.pareto = True
        for q, v in vectors:
            if v is None or _dominates(p, v, signs):
                q.pareto = False

    def _refresh_pareto(self, session: Session, study_id: int) -> int:
        from dse.pareto import non_dominated

        objectives = self._objectives(session, study_id)
        names = [n for n, _ in objectives]
        col_names = [n for n in names if n in METRIC_COLUMNS]
        need_json = len(col_names) < len(names)
        cols = [Evaluation.id] + [getattr(Evaluation, n) for n in col_names]
        if need_json:
            cols.append(Evaluation.metrics)
        rows = session.execute(select(*cols).where(
            Evaluation.study_id == study_id, Evaluation.status == "complete")).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        points = np.full((len(rows), len(names)), np.nan)
        for j, name in enumerate(names):
            if name in col_names:
                k = 1 + col_names.index(name)
                points[:, j] = [np.nan if r[k] is None else r[k] for r in rows]
            else:
                vals = []
                for r in rows:
                    v = (r[-1] or {}).get(name)
                    number = isinstance(v, int | float) and not isinstance(v, bool)
                    vals.append(float(v) if number and v is not None else np.nan)
                points[:, j] = vals
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

    # ------------------------------------------------------------------ reads
    def get_study(self, study: str | int) -> StudyRecord:
        """The study by name or id; unknown → StoreError listing the existing studies."""
        with self._read() as session:
            return _study_record(self._study(session, study))

    def evaluation_for_hash(self, study_id: int, spec_hash: str) -> EvaluationRecord | None:
        """The live evaluation of the candidate with this hash in this study (for dedupe)."""
        with self._read() as session:
            ev = session.execute(select(Evaluation).join(
                Candidate, Candidate.id == Evaluation.candidate_id).where(
                Candidate.study_id == study_id, Candidate.spec_hash == spec_hash)
            ).scalar_one_or_none()
            return None if ev is None else _eval_record(ev)

    def trained_evaluation_for_network(self, study_id: int, network_hash: str
                                       ) -> EvaluationRecord | None:
        """Co-search: the evaluation that trained this network for some pair of the study
        (complete first, then pruned, then failed; the earliest of each), or None."""
        rank = {Status.COMPLETE.value: 0, Status.PRUNED.value: 1, Status.FAILED.value: 2}
        with self._read() as session:
            evs = session.execute(select(Evaluation).join(
                Candidate, Candidate.id == Evaluation.candidate_id).where(
                Candidate.study_id == study_id, Candidate.network_hash == network_hash,
                Evaluation.status.in_(list(rank)))).scalars().all()
            if not evs:
                return None
            return _eval_record(min(evs, key=lambda ev: (rank[ev.status], ev.id)))

    def evaluation(self, eval_id: int) -> EvaluationRecord:
        with self._read() as session:
            ev = session.get(Evaluation, eval_id)
            if ev is None:
                raise StoreError(f"unknown evaluation id {eval_id}")
            return _eval_record(ev)

    def count_candidates(self, study: str | int) -> int:
        with self._read() as session:
            sid = self._study(session, study).id
            return int(session.execute(select(func.count()).select_from(Candidate).where(
                Candidate.study_id == sid)).scalar_one())

    def list_studies(self) -> pd.DataFrame:
        """One row per study: id, name, space, dataset, task, objectives, budgets,
        n_candidates, n_complete, created_at, updated_at."""
        from dse.store import query

        return query.list_studies(self)

    def study_status(self, study: str | int) -> dict[str, Any]:
        """Counts by status, best value per objective, hypervolume (and its reference point),
        the front size and the time of the last update."""
        from dse.store import query

        return query.study_status(self, study)

    def query(self, study: str | int, *, pareto_only: bool = False, where: str | None = None,
              sort: Sequence[str] | None = None, columns: Sequence[str] | None = None,
              since_id: int | None = None) -> pd.DataFrame:
        """One row per candidate with its evaluation's metrics and Pareto flag (see
        :func:`dse.store.query.query`)."""
        from dse.store import query

        return query.query(self, study, pareto_only=pareto_only, where=where, sort=sort,
                           columns=columns, since_id=since_id)

    def epochs(self, candidate_id: int) -> pd.DataFrame:
        """The learning curve of a candidate's evaluation, in insertion order."""
        from dse.store import query

        return query.epochs(self, candidate_id)

    def candidate(self, candidate_id: int) -> dict[str, Any]:
        """A candidate: spec JSON, hash, choices, study, its evaluation and hardware report."""
        from dse.store import query

        return query.candidate(self, candidate_id)

    def hypervolume_history(self, study: str | int) -> pd.DataFrame:
        """Hypervolume and best-so-far per objective after each complete evaluation."""
        from dse.store import query

        return query.hypervolume_history(self, study)


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


def open_store(url: str, *, read_only: bool = False) -> Store:
    """Open (and create or upgrade, unless ``read_only``) the results store at ``url``.

    ``sqlite:///path.db`` (a bare path means SQLite) or ``postgresql+psycopg://user@host/db``.
    An unreachable database or a bad URL raises :class:`StoreError` naming the URL (password
    masked). Safe to call from several processes at once.
    """
    engine, parsed = create_store_engine(url, read_only=read_only)
    factory = SessionFactory(engine, parsed)
    try:
        if read_only:
            check_schema(factory)
        else:
            upgrade_schema(factory)
    except BaseException:
        engine.dispose()
        raise
    return Store(factory, read_only=read_only)
