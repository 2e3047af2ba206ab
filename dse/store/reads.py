"""The reads of the results store: records and pandas DataFrames (called through
:class:`dse.store.Store`).

``query`` returns one row per candidate with its live evaluation: the real metric columns,
the JSON metrics expanded into columns (e.g. ``psnr_db``), the Pareto flag and bookkeeping.
A ``where`` filter that uses only real columns is compiled to SQL (bound parameters); one that
uses JSON metrics is applied as a pandas mask after loading, with the same NULL semantics.
Pareto flags and hypervolume come from the precomputed ``pareto`` column, so a Pareto query on
a 100k-candidate study reads only the front.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, DateTime, Text, func, select, true, type_coerce

from dse.status import STATUSES, Status
from dse.store.db import Database
from dse.store.drivers import shown_status, study_driver_alive
from dse.store.engine import StoreError
from dse.store.records import (
    FIRST_PREFIX,
    REPLICATE,
    REPLICATES_KEY,
    EvaluationRecord,
    StudyRecord,
    TrainingRecord,
    before_training,
    eval_record,
    hardware_metrics,
    objective_row,
    objective_selection,
    objective_vector,
    study_record,
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
    metric_column,
    metric_columns,
    trained_columns,
)
from dse.store.where import (
    WhereError,
    parse_where,
    referenced_columns,
    to_mask,
    to_sqlalchemy,
)


def query_columns() -> dict[str, Any]:
    """The real columns of a query row, in output order (the metric columns are the
    catalogue's, :func:`dse.store.schema.metric_columns`: the candidate's hardware report's,
    then the evaluation's)."""
    return {
        "candidate_id": Candidate.id,
        "evaluation_id": Evaluation.id,
        "trial_number": Evaluation.trial_number,
        "status": Evaluation.status,
        "pareto": Evaluation.pareto,
        **{name: metric_column(name) for name in metric_columns()},
        "attempt": Evaluation.attempt,
        "host": Evaluation.host,
        "violated": Evaluation.violated,
        "error": Evaluation.error,
        "spec_hash": Candidate.spec_hash,
        "network_hash": Candidate.network_hash,
        "created_at": Candidate.created_at,
        "started_at": Evaluation.started_at,
        "finished_at": Evaluation.finished_at,
    }


#: Query columns the --where language may not compare (text and times).
_UNFILTERABLE = ("host", "violated", "error", "spec_hash", "network_hash", "created_at",
                 "started_at", "finished_at")


def filterable() -> list[str]:
    """Columns the --where language may compare (numbers, the status string, the pareto
    flag)."""
    return [c for c in query_columns() if c not in _UNFILTERABLE]


def _direction_of(objectives: Sequence[tuple[str, str]], name: str) -> str:
    return dict(objectives)[name]


def query(db: Database, study: str | int, *, pareto_only: bool = False, where: str | None = None,
          sort: Sequence[str] | None = None, columns: Sequence[str] | None = None,
          since_id: int | None = None, include_choices: bool = True) -> pd.DataFrame:
    """One row per candidate of ``study`` (ordered by candidate id unless ``sort``).

    ``pareto_only``: only the current front. ``where``: a filter in the ``--where`` language
    over the columns (and JSON metrics). ``sort``: column names, ``-name`` for descending;
    missing values last. ``columns``: the columns to return, in that order. ``since_id``: only
    candidates with an id greater than this (for incremental refresh). Unknown names raise
    :class:`StoreError` listing the valid ones.
    """
    node = None
    if where is not None and where.strip():
        try:  # parse against everything that could exist; names are checked again below
            node = parse_where(where, _AnyName(filterable()))
        except WhereError as exc:
            raise StoreError(f"--where: {exc}") from None
    columns_now = query_columns()
    filterable_now = filterable()
    pushdown = node is not None and referenced_columns(node) <= set(filterable_now)
    with db.read() as session:
        srow = db.study(session, study)
        alive = study_driver_alive(srow)
        cols = dict(columns_now)
        raw = _raw_text if db.is_sqlite else _as_is
        sel = [raw(c).label(n) for n, c in cols.items()] + [
            raw(HardwareReport.metrics).label("_hw_metrics"),
            raw(Evaluation.metrics).label("_metrics")]
        if include_choices:
            sel.append(raw(Candidate.choices).label("_choices"))
        pairs = _is_cosearch(session, srow.id)
        if pairs:
            sel.append(raw(HardwareReport.accel).label("_accel"))
        if pareto_only:  # drive from the (study_id, pareto) index: reads only the front
            stmt = (select(*sel).select_from(Evaluation)
                    .join(Candidate, Candidate.id == Evaluation.candidate_id)
                    .where(Evaluation.study_id == srow.id, Evaluation.pareto == true()))
        else:
            stmt = (select(*sel).select_from(Candidate)
                    .outerjoin(Evaluation, Evaluation.candidate_id == Candidate.id)
                    .where(Candidate.study_id == srow.id))
        stmt = stmt.outerjoin(HardwareReport, HardwareReport.candidate_id == Candidate.id)
        if since_id is not None:
            stmt = stmt.where(Candidate.id > int(since_id))
        if node is not None and pushdown:
            stmt = stmt.where(to_sqlalchemy(node, cols))
        # a Core execution: plain rows, without the ORM's per-row loading
        rows = [tuple(r) for r in session.connection().execute(stmt.order_by(Candidate.id))]
    names = list(cols) + ["_hw_metrics", "_metrics"] + (
        ["_choices"] if include_choices else []) + (
        ["_accel"] if pairs else [])
    frame = pd.DataFrame.from_records(rows, columns=names)
    frame = _expand(frame, columns_now, include_choices)
    if pairs:
        frame = _expand_accel(frame)
    if not alive:  # running, but its driver is gone
        frame["status"] = [shown_status(v, alive) for v in frame["status"]]
    valid = [c for c in frame.columns if c in filterable_now or c not in columns_now
             and c != "choices"]
    return _filter_sort_select(frame, where if node is not None and not pushdown else None,
                               valid, sort, columns)


def _filter_sort_select(frame: pd.DataFrame, where: str | None, valid: Sequence[str],
                        sort: Sequence[str] | None, columns: Sequence[str] | None
                        ) -> pd.DataFrame:
    """``frame`` filtered by ``where`` (over the ``valid`` columns, as a pandas mask), sorted
    and cut to ``columns``; unknown names raise :class:`StoreError` listing the valid ones."""
    if where is not None and where.strip():
        try:
            node = parse_where(where, valid)
        except WhereError as exc:
            raise StoreError(f"--where: {exc}") from None
        frame = frame[to_mask(node, frame).fillna(False).to_numpy(dtype=bool)]
    if sort:
        frame = _sort(frame, sort)
    if columns:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise StoreError(f"--columns: unknown column {unknown[0]!r} (columns: "
                             f"{', '.join(frame.columns)})")
        frame = frame[list(columns)]
    return frame.reset_index(drop=True)


class _AnyName(list[str]):
    """A column whitelist for the first parse that admits any identifier (JSON metric names
    are only known after loading; they are checked against the loaded frame)."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


def _raw_text(column: Any) -> Any:
    """A JSON or timestamp column read as its stored text (SQLite): decoded a whole column at
    once by :func:`_expand`, not row by row by SQLAlchemy's result processors, which took
    most of a 10k-candidate query."""
    kind = getattr(column, "type", None)
    return type_coerce(column, Text) if isinstance(kind, JSON | DateTime) else column


def _as_is(column: Any) -> Any:
    return column


def _json_values(values: Sequence[Any]) -> list[Any]:
    """A column of JSON texts (SQLite, :func:`_raw_text`) or of decoded values (PostgreSQL's
    driver decodes JSONB) as decoded values; NULL as None."""
    if all(v is None or isinstance(v, str) for v in values):
        return list(json.loads("[" + ",".join("null" if v is None else v for v in values)
                               + "]"))
    return [json.loads(v) if isinstance(v, str) else v for v in values]


def _expand(frame: pd.DataFrame, columns: dict[str, Any], include_choices: bool
            ) -> pd.DataFrame:
    """Typed columns, JSON metrics as columns, choices as a JSON string."""
    for name in columns:
        if name in ("status", "host", "violated", "error", "spec_hash", "network_hash"):
            continue
        if name in ("created_at", "started_at", "finished_at"):
            frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype("datetime64[us]")
        elif name == "pareto":
            frame[name] = frame[name].fillna(False).astype(bool)
        elif name in ("candidate_id",):
            frame[name] = frame[name].astype("int64")
        elif name in ("evaluation_id", "trial_number", "attempt"):
            frame[name] = frame[name].astype("Int64")
        else:
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
    extra_rows = [{**(h if isinstance(h, dict) else {}), **(m if isinstance(m, dict) else {})}
                  for h, m in zip(_json_values(frame.pop("_hw_metrics").tolist()),
                                  _json_values(frame.pop("_metrics").tolist()), strict=True)]
    have = set(frame.columns)
    keys = sorted({k for m in extra_rows for k in m if k not in have})
    for key in keys:
        values = [m.get(key) for m in extra_rows]
        numeric = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                      for v in values)
        frame[key] = pd.Series(values, index=frame.index, dtype="float64" if numeric else object)
    if include_choices:
        choices = _json_values(frame.pop("_choices").tolist())
        frame["choices"] = [json.dumps(c, sort_keys=True) if c is not None else None
                            for c in choices]
    return frame


def _is_cosearch(session: Any, study_id: int) -> bool:
    """Whether the study's candidates are (network, accelerator) pairs (dse.cosearch)."""
    return session.execute(select(Candidate.id).where(
        Candidate.study_id == study_id, Candidate.network_hash != Candidate.spec_hash)
        .limit(1)).first() is not None


def _expand_accel(frame: pd.DataFrame) -> pd.DataFrame:
    """Co-search: the pair's accelerator as ``accel_<field>`` columns (template order)."""
    from hwmodel.accel import field_types
    from search_spaces.spaces.accel import ACCEL_PREFIX

    accels = [a if isinstance(a, dict) else {}
              for a in _json_values(frame.pop("_accel").tolist())]
    for name in field_types():
        values = [a.get(name) for a in accels]
        numeric = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                      for v in values)
        frame[ACCEL_PREFIX + name] = pd.Series(values, index=frame.index,
                                           dtype="float64" if numeric else object)
    return frame


def _sort(frame: pd.DataFrame, sort: Sequence[str]) -> pd.DataFrame:
    by: list[str] = []
    ascending: list[bool] = []
    for item in sort:
        item = item.strip()
        if not item:
            continue
        desc = item.startswith("-")
        name = item[1:] if desc or item.startswith("+") else item
        if name not in frame.columns:
            raise StoreError(f"--sort: unknown column {name!r} (columns: "
                             f"{', '.join(frame.columns)})")
        by.append(name)
        ascending.append(not desc)
    if not by:
        return frame
    return frame.sort_values(by=by, ascending=ascending, na_position="last", kind="mergesort")


# ------------------------------------------------------------------ one record


def get_study(db: Database, study: str | int) -> StudyRecord:
    """The study by name or id; unknown → StoreError listing the existing studies."""
    with db.read() as session:
        return study_record(db.study(session, study))

def evaluation_for_hash(db: Database, study_id: int, spec_hash: str) -> EvaluationRecord | None:
    """The live evaluation of the candidate with this hash in this study (for dedupe)."""
    with db.read() as session:
        ev = session.execute(select(Evaluation).join(
            Candidate, Candidate.id == Evaluation.candidate_id).where(
            Candidate.study_id == study_id, Candidate.spec_hash == spec_hash)
        ).scalar_one_or_none()
        return None if ev is None else eval_record(ev)

def trained_evaluation_for_network(db: Database, study_id: int, network_hash: str
                                   ) -> EvaluationRecord | None:
    """Co-search: the evaluation that trained this network for some pair of the study
    (complete first, then pruned, then failed; the earliest of each), or None."""
    rank = {Status.COMPLETE.value: 0, Status.PRUNED.value: 1, Status.FAILED.value: 2}
    with db.read() as session:
        evs = session.execute(select(Evaluation).join(
            Candidate, Candidate.id == Evaluation.candidate_id).where(
            Candidate.study_id == study_id, Candidate.network_hash == network_hash,
            Evaluation.status.in_(list(rank)))).scalars().all()
        if not evs:
            return None
        return eval_record(min(evs, key=lambda ev: (rank[ev.status], ev.id)))

def evaluation(db: Database, eval_id: int) -> EvaluationRecord:
    with db.read() as session:
        ev = session.get(Evaluation, eval_id)
        if ev is None:
            raise StoreError(f"unknown evaluation id {eval_id}")
        return eval_record(ev)

def count_candidates(db: Database, study: str | int) -> int:
    with db.read() as session:
        sid = db.study(session, study).id
        return int(session.execute(select(func.count()).select_from(Candidate).where(
            Candidate.study_id == sid)).scalar_one())

def artifacts(db: Database, candidate_id: int) -> list[dict[str, Any]]:
    """The artifacts of a candidate without their bytes: name, mime, size_bytes,
    created_at (by name)."""
    with db.read() as session:
        rows = session.execute(select(Artifact.name, Artifact.mime,
                                      func.length(Artifact.data), Artifact.created_at)
                               .where(Artifact.candidate_id == candidate_id)
                               .order_by(Artifact.name)).all()
    return [{"name": n, "mime": m, "size_bytes": int(size or 0), "created_at": t}
            for n, m, size, t in rows]

def artifact(db: Database, candidate_id: int, name: str) -> tuple[str, bytes]:
    """(mime, bytes) of a candidate's artifact; unknown -> StoreError naming the known."""
    with db.read() as session:
        row = session.execute(select(Artifact.mime, Artifact.data).where(
            Artifact.candidate_id == candidate_id, Artifact.name == name)).one_or_none()
        if row is None:
            known = list(session.execute(select(Artifact.name).where(
                Artifact.candidate_id == candidate_id).order_by(Artifact.name)).scalars())
            raise StoreError(f"candidate {candidate_id} has no artifact {name!r} "
                             f"(artifacts: {', '.join(known) or 'none'})")
        return str(row[0]), bytes(row[1])


# ------------------------------------------------------------------ study-level reads


def _front_points(session: Any, srow: Study,
                  objectives: list[tuple[str, str]]) -> np.ndarray:
    rows = session.execute(select(Evaluation).where(
        Evaluation.study_id == srow.id, Evaluation.pareto == true())).scalars().all()
    vectors = [objective_vector(ev, objectives) for ev in rows]
    pts = [v for v in vectors if v is not None]
    return np.array(pts) if pts else np.empty((0, len(objectives)))


def _hv_reference(objectives: list[tuple[str, str]], budgets: list[tuple[str, str, float]],
                  points: np.ndarray, config: dict[str, Any] | None = None
                  ) -> np.ndarray | None:
    """The study's fixed reference, stored with it at creation (``dse.feasible``), so its
    hypervolume never decreases; older studies: one derived from budgets and the points."""
    from dse.pareto import reference_point

    fixed = (config or {}).get("hypervolume_reference")
    if isinstance(fixed, list) and len(fixed) == len(objectives):
        return np.asarray(fixed, dtype=float)
    try:
        return reference_point(objectives, budgets, points)
    except ValueError:
        return None


def study_status(db: Database, study: str | int) -> dict[str, Any]:
    """Counts by status, best per objective, hypervolume, front size, confirmed candidates,
    last update."""
    from dse.pareto import hypervolume

    with db.read() as session:
        srow = db.study(session, study)
        rec = study_record(srow)
        counts = {s: 0 for s in STATUSES}
        for status, n in session.execute(
                select(Evaluation.status, func.count()).where(Evaluation.study_id == srow.id)
                .group_by(Evaluation.status)).all():
            shown = str(shown_status(str(status), study_driver_alive(srow)))
            counts[shown] = counts.get(shown, 0) + int(n)
        n_candidates = int(session.execute(select(func.count()).select_from(Candidate).where(
            Candidate.study_id == srow.id)).scalar_one())
        last = session.execute(select(func.max(Evaluation.finished_at),
                                      func.max(Evaluation.started_at))
                               .where(Evaluation.study_id == srow.id)).one()
        last_cand = session.execute(select(func.max(Candidate.created_at)).where(
            Candidate.study_id == srow.id)).scalar_one()
        points = _front_points(session, srow, rec.objectives)

        confirmed = int(session.execute(select(func.count()).select_from(Training).where(
            Training.study_id == srow.id, Training.replicate == REPLICATE,
            Training.status == "complete")).scalar_one())
    stamps = [t for t in (*last, last_cand, rec.updated_at) if t is not None]
    best: dict[str, float | None] = {}
    for j, (name, direction) in enumerate(rec.objectives):
        if points.shape[0]:
            best[name] = float(points[:, j].max() if direction == "maximize"
                               else points[:, j].min())
        else:
            best[name] = None
    ref = _hv_reference(rec.objectives, rec.budgets, points, rec.config)
    hv: float | None = None
    if ref is not None and 1 <= len(rec.objectives) <= 4:
        hv = hypervolume(points, [d for _, d in rec.objectives], ref)
    return {
        "study": rec.name, "id": rec.id, "space": rec.space, "dataset": rec.dataset,
        "task": rec.task, "objectives": rec.objectives, "budgets": rec.budgets,
        "n_candidates": n_candidates, "counts": counts, "best": best,
        "pareto_size": int(points.shape[0]), "hypervolume": hv,
        # candidates whose second network is trained (dse.confirm: their values are means)
        "confirmed": confirmed,
        "reference": None if ref is None else [float(x) for x in ref],
        "created_at": rec.created_at, "last_update": max(stamps) if stamps else None,
        "tinydse_version": rec.tinydse_version, "cost_model_version": rec.cost_model_version,
    }


def list_studies(db: Database) -> pd.DataFrame:
    """One row per study with candidate and completed counts and the last update."""
    with db.read() as session:
        studies = session.execute(select(Study).order_by(Study.id)).scalars().all()
        n_cand = dict(session.execute(select(Candidate.study_id, func.count())
                                      .group_by(Candidate.study_id)).all())
        n_done = dict(session.execute(select(Evaluation.study_id, func.count())
                                      .where(Evaluation.status == "complete")
                                      .group_by(Evaluation.study_id)).all())
        last = dict(session.execute(select(Evaluation.study_id, func.max(Evaluation.finished_at))
                                    .group_by(Evaluation.study_id)).all())
    records = []
    for s in studies:
        stamps = [t for t in (s.updated_at, last.get(s.id)) if t is not None]
        records.append({
            "id": s.id, "name": s.name, "space": s.space, "dataset": s.dataset, "task": s.task,
            "objectives": ", ".join(f"{o['name']}:{o['direction'][:3]}" for o in s.objectives),
            "budgets": ", ".join(f"{b['metric']}{b['op']}{b['value']:g}" for b in s.budgets),
            "n_candidates": int(n_cand.get(s.id, 0)), "n_complete": int(n_done.get(s.id, 0)),
            "created_at": s.created_at, "updated_at": max(stamps)})
    cols = ["id", "name", "space", "dataset", "task", "objectives", "budgets", "n_candidates",
            "n_complete", "created_at", "updated_at"]
    return pd.DataFrame.from_records(records, columns=cols)


def epochs(db: Database, candidate_id: int) -> pd.DataFrame:
    """The learning curve of a candidate's current attempt: attempt, stage, epoch, losses,
    accuracies, seconds, extras."""
    with db.read() as session:
        if session.get(Candidate, candidate_id) is None:
            raise StoreError(f"unknown candidate id {candidate_id}")
        rows = session.execute(select(Epoch).join(
            Evaluation, (Evaluation.id == Epoch.evaluation_id)
            & (Evaluation.attempt == Epoch.attempt)).where(
            Evaluation.candidate_id == candidate_id).order_by(Epoch.id)).scalars().all()
    records = []
    for r in rows:
        rec: dict[str, Any] = {"epoch_id": r.id, "evaluation_id": r.evaluation_id,
                               "attempt": r.attempt, "stage": r.stage, "epoch": r.epoch}
        rec.update({c: getattr(r, c) for c in EPOCH_COLUMNS})
        rec.update({k: v for k, v in (r.metrics or {}).items() if k not in rec})
        rec["created_at"] = r.created_at
        records.append(rec)
    base = ["epoch_id", "evaluation_id", "attempt", "stage", "epoch", *EPOCH_COLUMNS]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        columns=[*base, "created_at"])
    for c in EPOCH_COLUMNS:
        frame[c] = pd.to_numeric(frame[c]).astype("float64")
    return frame


def candidate(db: Database, candidate_id: int) -> dict[str, Any]:
    """Spec JSON, hash, choices, study, evaluation (dict), hardware report and artifact names
    of a candidate."""
    with db.read() as session:
        cand = session.get(Candidate, candidate_id)
        if cand is None:
            raise StoreError(f"unknown candidate id {candidate_id}")
        study_name = session.execute(select(Study.name).where(
            Study.id == cand.study_id)).scalar_one()
        ev = session.execute(select(Evaluation).where(
            Evaluation.candidate_id == candidate_id)).scalar_one_or_none()
        hw = session.execute(select(HardwareReport).where(
            HardwareReport.candidate_id == candidate_id)).scalar_one_or_none()
        artifacts = list(session.execute(select(Artifact.name).where(
            Artifact.candidate_id == candidate_id).order_by(Artifact.name)).scalars())
        return {
            "id": cand.id, "study": study_name, "study_id": cand.study_id, "spec": cand.spec,
            "spec_hash": cand.spec_hash, "network_hash": cand.network_hash,
            "choices": dict(cand.choices or {}),
            "created_at": cand.created_at,
            "evaluation": None if ev is None else asdict(eval_record(ev)),
            "hardware": None if hw is None else {"metrics": hardware_metrics(hw),
                                                 "per_layer": list(hw.per_layer or []),
                                                 "accel": dict(hw.accel or {})},
            "artifacts": artifacts,
        }


def hypervolume_history(db: Database, study: str | int) -> pd.DataFrame:
    """After each complete evaluation (in finishing order): trial number, time, hypervolume
    of the front so far and the best value so far of each objective.

    The reference point is fixed for the whole history (the one :func:`study_status` uses),
    so the curve is monotone and ends at the study's current hypervolume.
    """
    from dse.pareto import hypervolume

    with db.read() as session:
        srow = db.study(session, study)
        rec = study_record(srow)
        names = [n for n, _ in rec.objectives]
        sel: list[Any] = [Evaluation.id, Evaluation.trial_number, Evaluation.finished_at,
                          *objective_selection(names)]
        rows = session.execute(with_hardware(select(*sel).select_from(Evaluation)).where(
            Evaluation.study_id == srow.id, Evaluation.status == "complete")
            .order_by(Evaluation.finished_at, Evaluation.id)).all()
    directions = [d for _, d in rec.objectives]
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points, meta = [], []
    for r in rows:
        mapping = objective_row(names, r[3:])
        vec = objective_vector(mapping, rec.objectives)
        if vec is not None:
            points.append(vec)
            meta.append((r[0], r[1], r[2]))
    cols = ["evaluation_id", "trial_number", "finished_at", "n_complete", "hypervolume",
            *[f"best_{n}" for n in names]]
    if not points:
        return pd.DataFrame(columns=cols)
    pts = np.array(points)
    from dse.pareto import non_dominated

    ref = _hv_reference(rec.objectives, rec.budgets, pts[non_dominated(pts, directions)],
                        rec.config)
    can_hv = ref is not None and 1 <= len(names) <= 4
    front = np.empty((0, len(names)))
    hv = 0.0
    best = np.full(len(names), np.inf)
    out = []
    for i, p in enumerate(pts):
        m = p * signs
        best = np.minimum(best, m)
        fm = front * signs
        dominated = front.shape[0] and bool(np.any(np.all(fm <= m, axis=1) &
                                                   np.any(fm < m, axis=1)))
        if not dominated:
            keep = ~(np.all(m <= fm, axis=1) & np.any(m < fm, axis=1))
            front = np.vstack([front[keep], p])
            if can_hv:
                hv = hypervolume(front, directions, ref)  # type: ignore[arg-type]
        eid, trial, finished = meta[i]
        out.append([eid, trial, finished, i + 1, hv if can_hv else math.nan,
                    *(best * signs).tolist()])
    frame = pd.DataFrame(out, columns=cols)
    frame["trial_number"] = frame["trial_number"].astype("Int64")
    return frame


# ------------------------------------------------------------------ evaluations by fidelity

def evaluation_columns() -> tuple[str, ...]:
    """The leading columns of an evaluations row, in output order (then the other metrics by
    name): the trained metric columns, then the hardware ones (the catalogue's)."""
    hardware = [c for c in metric_columns() if before_training(c)]
    return ("candidate_id", "source", "training_id", "epochs", "schedule",
            "max_train_batches", "replicate", "status", *trained_columns(), "epochs_run", *hardware,
            "attempt", "host", "error", "started_at", "finished_at")
_EVAL_STRINGS = ("source", "schedule", "status", "host", "error")


def evaluations(db: Database, study: str | int, *, candidate_id: int | None = None,
                pareto_only: bool = False, highest_fidelity: bool = False,
                where: str | None = None,
                sort: Sequence[str] | None = None, columns: Sequence[str] | None = None
                ) -> pd.DataFrame:
    """Every evaluation of the study's candidates with its fidelity, ordered by candidate and
    epochs: ``source`` ``search`` (the candidate's live evaluation, at the study's epochs and
    schedule; over-budget candidates, never trained, are left out) or ``train`` (a ``dse
    train`` run, ``training_id`` its id). Hardware metrics are the candidate's (its hardware
    report); a ``running`` row whose process is gone shows ``interrupted``.

    ``pareto_only``: only the candidates on the study's front (by their search evaluations).
    ``highest_fidelity``: per candidate only its complete evaluation with the most epochs (the
    latest of equals) among its first networks (``replicate`` 0). ``replicate``: which network
    of the candidate the row trained (dse.confirm; the search's row is network 0 and shows that
    network's own values, also where the candidate's evaluation holds confirmed means).
    ``where``/``sort``/``columns`` as in :func:`query` over these columns.
    """
    from dse.store.drivers import driver_alive

    with db.read() as session:
        srow = db.study(session, study)
        alive = study_driver_alive(srow)
        config = dict(srow.config or {})
        if candidate_id is not None and session.execute(select(Candidate.id).where(
                Candidate.id == int(candidate_id), Candidate.study_id == srow.id)
                ).first() is None:
            raise StoreError(f"study {srow.name!r} has no candidate {candidate_id}")
        hw_stmt = select(HardwareReport).join(
            Candidate, Candidate.id == HardwareReport.candidate_id).where(
            Candidate.study_id == srow.id)
        ev_stmt = select(Evaluation).where(Evaluation.study_id == srow.id,
                                           Evaluation.status != "infeasible")
        tr_stmt = select(Training).where(Training.study_id == srow.id)
        if pareto_only:
            front = select(Evaluation.candidate_id).where(Evaluation.study_id == srow.id,
                                                          Evaluation.pareto == true())
            hw_stmt = hw_stmt.where(HardwareReport.candidate_id.in_(front))
            ev_stmt = ev_stmt.where(Evaluation.candidate_id.in_(front))
            tr_stmt = tr_stmt.where(Training.candidate_id.in_(front))
        if candidate_id is not None:
            hw_stmt = hw_stmt.where(HardwareReport.candidate_id == int(candidate_id))
            ev_stmt = ev_stmt.where(Evaluation.candidate_id == int(candidate_id))
            tr_stmt = tr_stmt.where(Training.candidate_id == int(candidate_id))
        hardware = {int(hw.candidate_id): hardware_metrics(hw)
                    for hw in session.execute(hw_stmt).scalars().all()}
        evs = [eval_record(ev) for ev in session.execute(ev_stmt).scalars().all()]
        trs = [training_record(t) for t in session.execute(tr_stmt).scalars().all()]
    leading = evaluation_columns()
    records: list[dict[str, Any]] = []
    for ev in evs:
        records.append({
            **_numbers(hardware.get(ev.candidate_id, {})), **_own_network(ev.metrics),
            "candidate_id": ev.candidate_id, "source": "search", "training_id": None,
            "epochs": config.get("epochs"), "schedule": config.get("schedule"),
            "max_train_batches": config.get("max_train_batches"), "replicate": 0,
            "status": shown_status(ev.status, alive), "attempt": ev.attempt,
            "host": None, "error": ev.error,
            "started_at": ev.started_at, "finished_at": ev.finished_at})
    for tr in trs:
        records.append({
            **_numbers(hardware.get(tr.candidate_id, {})), **tr.metrics,
            "candidate_id": tr.candidate_id, "source": "train", "training_id": tr.id,
            "epochs": tr.epochs, "schedule": tr.schedule,
            "max_train_batches": tr.max_train_batches, "replicate": tr.replicate,
            "status": shown_status(tr.status, driver_alive(tr.host, tr.pid, tr.beat)),
            "attempt": tr.attempt, "host": tr.host, "error": tr.error,
            "started_at": tr.started_at, "finished_at": tr.finished_at})
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        columns=list(leading))
    for name in leading:
        if name not in frame.columns:
            frame[name] = None
    extra = sorted(c for c in frame.columns if c not in leading)
    frame = frame[[*leading, *extra]]
    for name in frame.columns:
        if name in ("started_at", "finished_at"):
            frame[name] = pd.to_datetime(frame[name])
        elif name in ("candidate_id", "training_id", "epochs", "max_train_batches",
                      "replicate", "attempt"):
            frame[name] = pd.array(frame[name].tolist(), dtype="Int64") if len(frame) else \
                frame[name].astype("Int64")
        elif name not in _EVAL_STRINGS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame = frame.sort_values(["candidate_id", "epochs", "source", "training_id"],
                              kind="mergesort", na_position="first").reset_index(drop=True)
    if highest_fidelity:  # of the first networks (a confirmation's second one is no higher)
        done = frame[(frame["status"] == "complete") & (frame["replicate"] == 0)]
        order = done.sort_values(["candidate_id", "epochs", "finished_at"], kind="mergesort")
        frame = order.groupby("candidate_id", sort=True).tail(1).reset_index(drop=True)
    valid = [c for c in frame.columns if c == "status" or c not in _EVAL_STRINGS
             and c not in ("started_at", "finished_at")]
    return _filter_sort_select(frame, where, valid, sort, columns)


def _own_network(metrics: dict[str, Any]) -> dict[str, Any]:
    """A confirmed evaluation's metrics as its own network has them (dse.confirm keeps them
    as ``first_<name>`` beside the means): what its ``search`` row of evaluations shows."""

    out = {k: v for k, v in metrics.items()
           if not k.startswith(FIRST_PREFIX) and k != REPLICATES_KEY}
    out.update({k[len(FIRST_PREFIX):]: v for k, v in metrics.items()
                if k.startswith(FIRST_PREFIX)})
    return out


def training(db: Database, training_id: int) -> TrainingRecord:
    """One training (``dse train``) by id, its status as stored."""
    with db.read() as session:
        t = session.get(Training, training_id)
        if t is None:
            raise StoreError(f"unknown training id {training_id}")
        return training_record(t)


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics mapping (a hardware report's totals)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}
