"""SQLAlchemy 2 models of the results store (documented for direct SQL in ``docs/schema.md``).

Every table is prefixed ``dse_`` so that Optuna's RDB storage (``studies``, ``trials``, ...)
can live in the same database without a clash; our Alembic version table is
``dse_alembic_version`` for the same reason (Optuna's own is ``alembic_version``).
Timestamps are naive UTC. The metric columns are not listed here: they are the metric
catalogue's entries flagged ``column`` (docs/design.md, "Metric catalogue"), each in one
table by when it is known: a metric known before training (the cost model's, the
simulator's, the spec's) is a column of the candidate's ``dse_hardware_reports`` row
(:func:`hardware_columns`), a trained one of ``dse_evaluations`` and ``dse_trainings``
(:func:`trained_columns`); anything else a study reports (e.g. ``psnr_db``) goes to the
``metrics`` JSON column of the row it belongs to. Schema changes go through an Alembic revision in
``dse/store/migrations/versions``; a metric column the catalogue gains needs none: opening the
store adds it (:func:`dse.store.engine.heal_metric_columns`). A test checks that the models
and the migrations agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: JSON on SQLite (text), JSONB on PostgreSQL (queryable with ``->>`` in direct SQL).
JSONType = JSON().with_variant(JSONB(), "postgresql")

VERSION_TABLE = "dse_alembic_version"
TABLE_PREFIX = "dse_"


#: Columns of ``dse_epochs`` besides the keys; other per-epoch numbers go to its ``metrics``.
EPOCH_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")

_naming = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now (both backends store it the same way)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_naming)


def _col(*args: Any, doc: str, **kwargs: Any) -> Any:
    """``mapped_column`` with its meaning, which ``docs/schema.md`` shows
    (:mod:`dse.store.schema_doc`)."""
    return mapped_column(*args, doc=doc, **kwargs)


class Study(Base):
    """One search: what is searched (space, dataset, task), for what (objectives, budgets)."""

    __tablename__ = "dse_studies"

    id: Mapped[int] = _col(Integer, primary_key=True, doc="")
    name: Mapped[str] = _col(String(255), unique=True, doc="study name (`--study`)")
    space: Mapped[str] = _col(String(255), doc="search space name (e.g. `mognet`)")
    dataset: Mapped[str] = _col(String(255), doc="dataset name (e.g. `digits`)")
    task: Mapped[str] = _col(String(64), default="classification",
                             doc="`classification` (default) or another task")
    config: Mapped[dict[str, Any]] = _col(JSONType, default=dict,
                                          doc="the validated study configuration at creation")
    objectives: Mapped[list[dict[str, Any]]] = _col(
        JSONType, default=list,
        doc='list of `{"name": str, "direction": "maximize"\\|"minimize"}`')
    budgets: Mapped[list[dict[str, Any]]] = _col(
        JSONType, default=list,
        doc='list of `{"metric": str, "op": "<="\\|"<"\\|">="\\|">", "value": number}`')
    tinydse_version: Mapped[str] = _col(String(64), default="",
                                        doc="package version that created the study")
    cost_model_version: Mapped[str] = _col(
        String(64), default="", doc="hardware cost-model version (`hwmodel.metrics."
        "COST_MODEL_VERSION`)")
    created_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")
    updated_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")
    driver_host: Mapped[str | None] = _col(
        String(255), nullable=True,
        doc="host of the search process running the study (NULL: none, see "
        "`dse.store.drivers`)")
    driver_pid: Mapped[int | None] = _col(Integer, nullable=True, doc="its process id")
    driver_beat: Mapped[float | None] = _col(
        Double, nullable=True, doc="its last heartbeat, seconds since the epoch (stale after "
        "`TINYDSE_DRIVER_STALE_S`, 30 s)")


class Candidate(Base):
    """One architecture proposed in a study; ``spec_hash`` is unique per study: the
    ArchSpec.hash, or in a co-search the key of the (network, accelerator) pair, whose network
    alone is ``network_hash`` (the accelerator is the hardware report's ``accel``)."""

    __tablename__ = "dse_candidates"
    __table_args__ = (UniqueConstraint("study_id", "spec_hash"),
                      Index("ix_dse_candidates_study_id_network_hash", "study_id",
                            "network_hash"))

    id: Mapped[int] = _col(Integer, primary_key=True, doc="")
    study_id: Mapped[int] = _col(ForeignKey("dse_studies.id", ondelete="CASCADE"),
                                 index=True, doc="")
    spec: Mapped[str] = _col(Text, doc="`ArchSpec.to_json()` verbatim")
    spec_hash: Mapped[str] = _col(
        String(128), doc="`ArchSpec.hash` (SHA-256 of canonical JSON); in a co-search the key "
        "of the (network, accelerator) pair (`dse.cosearch.pair_hash`)")
    network_hash: Mapped[str | None] = _col(
        String(128), nullable=True, doc="the network's `ArchSpec.hash` (= `spec_hash` outside "
        "a co-search; NULL before revision 0003)")
    choices: Mapped[dict[str, Any]] = _col(
        JSONType, default=dict, doc="the search-space choices that produced the spec (a "
        "co-search's accelerator dimensions as `accel_<field>`)")
    created_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")


class Evaluation(Base):
    """The live evaluation of a candidate (one per candidate; ``attempt`` counts restarts).
    Its metric columns are the catalogue's trained ones (:func:`trained_columns`); the
    candidate's hardware numbers are its :attr:`hardware` report's."""

    __tablename__ = "dse_evaluations"
    __table_args__ = (Index("ix_dse_evaluations_study_status", "study_id", "status"),
                      Index("ix_dse_evaluations_study_pareto", "study_id", "pareto"))

    id: Mapped[int] = _col(Integer, primary_key=True, doc="")
    candidate_id: Mapped[int] = _col(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"), unique=True, doc="")
    study_id: Mapped[int] = _col(ForeignKey("dse_studies.id", ondelete="CASCADE"),
                                 doc="denormalized for per-study scans")
    trial_number: Mapped[int | None] = _col(
        Integer, nullable=True, doc="Optuna trial number of the latest attempt")
    status: Mapped[str] = _col(
        String(16), default="queued",
        doc="`queued`, `running`, `interrupted` (its search was stopped; reads also show a "
        "`running` one whose driver is gone so), `complete`, `failed`, `infeasible` (over a "
        "hard budget, never trained), `pruned` (stopped early)")
    metrics: Mapped[dict[str, Any]] = _col(
        JSONType, default=dict, doc="every other number (the catalogue's metrics that are not "
        "columns, listed below, and any other a task reports)")
    violated: Mapped[str | None] = _col(
        Text, nullable=True, doc="the budget an infeasible candidate violated")
    error: Mapped[str | None] = _col(Text, nullable=True,
                                     doc="the error of a failed evaluation")
    started_at: Mapped[datetime | None] = _col(DateTime, nullable=True,
                                               doc="of the latest attempt")
    finished_at: Mapped[datetime | None] = _col(DateTime, nullable=True,
                                                doc="of the latest attempt")
    pareto: Mapped[bool] = _col(
        Boolean, default=False, doc="on the study's Pareto front (among `complete` "
        "evaluations with every objective present), kept up to date by the store")
    attempt: Mapped[int] = _col(Integer, default=1, doc="1 + number of restarts")
    host: Mapped[str | None] = _col(
        String(255), nullable=True,
        doc="hostname of the machine the latest attempt trains (trained) on")
    #: the candidate's cost-model report (its hardware numbers), loaded with the evaluation
    hardware: Mapped[HardwareReport | None] = relationship(
        primaryjoin="foreign(Evaluation.candidate_id) == HardwareReport.candidate_id",
        viewonly=True, uselist=False, lazy="joined")


class Epoch(Base):
    """One epoch of one training stage of one attempt (learning curves)."""

    __tablename__ = "dse_epochs"
    __table_args__ = (Index("ux_dse_epochs_evaluation_attempt_stage_epoch", "evaluation_id",
                            "attempt", "stage", "epoch", unique=True),)

    id: Mapped[int] = _col(Integer, primary_key=True, doc="insertion order")
    evaluation_id: Mapped[int] = _col(
        ForeignKey("dse_evaluations.id", ondelete="CASCADE"), index=True, doc="")
    attempt: Mapped[int] = _col(
        Integer, default=1, server_default="1",
        doc="the evaluation's attempt that trained it (a restart deletes the earlier "
        "attempts' rows)")
    stage: Mapped[str] = _col(String(64),
                              doc="training stage (e.g. `fp`, `weights`, `acts`, `gates`)")
    epoch: Mapped[int] = _col(Integer, doc="epoch within the run")
    train_loss: Mapped[float | None] = _col(Double, nullable=True, doc="")
    train_accuracy: Mapped[float | None] = _col(Double, nullable=True, doc="")
    val_loss: Mapped[float | None] = _col(Double, nullable=True, doc="")
    val_accuracy: Mapped[float | None] = _col(Double, nullable=True, doc="")
    seconds: Mapped[float | None] = _col(Double, nullable=True, doc="wall time of the epoch")
    metrics: Mapped[dict[str, Any]] = _col(JSONType, default=dict,
                                           doc="any other per-epoch number (e.g. `lr`)")
    created_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")


class HardwareReport(Base):
    """The cost model's report for a candidate: its hardware numbers (every metric known
    before training: the catalogue's as columns, :func:`hardware_columns`, the rest in
    ``metrics``), per-layer rows and the accelerator configuration. The one place they are
    stored: the evaluation and the further trainings of the candidate read them here."""

    __tablename__ = "dse_hardware_reports"

    id: Mapped[int] = _col(Integer, primary_key=True, doc="")
    candidate_id: Mapped[int] = _col(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"), unique=True, doc="")
    metrics: Mapped[dict[str, Any]] = _col(
        JSONType, default=dict, doc="the candidate's other numbers known before training (not "
        "catalogue columns; e.g. a task's spec metrics)")
    per_layer: Mapped[list[dict[str, Any]]] = _col(
        JSONType, default=list, deferred=True,
        doc="list of per-layer rows (memory, logic, cycles, ...)")
    accel: Mapped[dict[str, Any]] = _col(JSONType, default=dict,
                                         doc="the accelerator configuration used")
    created_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")


class Artifact(Base):
    """A small file a task made for a candidate (e.g. the compression task's original /
    reconstruction / error PNG), by name; the dashboard shows the images."""

    __tablename__ = "dse_artifacts"
    __table_args__ = (UniqueConstraint("candidate_id", "name"),)

    id: Mapped[int] = _col(Integer, primary_key=True, doc="")
    candidate_id: Mapped[int] = _col(ForeignKey("dse_candidates.id", ondelete="CASCADE"),
                                     doc="")
    name: Mapped[str] = _col(
        String(255), doc="`model` (every complete trial: the trained on-chip network, a "
        "tinydse checkpoint that `dse export` reads), `reconstruction` (compression task: "
        "original / reconstruction / error PNG)")
    mime: Mapped[str] = _col(String(255),
                             doc="e.g. `image/png`, `application/x-tinydse-checkpoint`")
    data: Mapped[bytes] = _col(LargeBinary, doc="the file's bytes (PNG: a few KB; model: 24 KB "
                               "for `tiny-digits` to 8 MB for `billnet-jester`)")
    created_at: Mapped[datetime] = _col(DateTime, default=utcnow, doc="")



class Training(Base):
    """A further evaluation of a candidate by ``dse train`` at a fidelity (``epochs`` of
    ``schedule``, at most ``max_train_batches`` batches per epoch): the candidate's live
    evaluation (``dse_evaluations``, the search's) is never touched. One row per
    (candidate, ``fidelity_key``); the learning curve is the ``curve`` JSON list and, while
    the run is unfinished, ``checkpoint`` holds the trainer's checkpoint of its last epoch
    (the run resumes from it). Its metric columns are the catalogue's trained ones
    (:func:`trained_columns`)."""

    __tablename__ = "dse_trainings"
    __table_args__ = (UniqueConstraint("candidate_id", "fidelity_key"),)

    id: Mapped[int] = _col(
        Integer, primary_key=True,
        doc='the training id (`dse query --evaluations` shows it as `training_id`)')
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"))
    #: denormalized from the candidate, so per-study scans need no join
    study_id: Mapped[int] = mapped_column(ForeignKey("dse_studies.id", ondelete="CASCADE"),
                                          index=True)
    #: the fidelity: total epochs of the schedule
    epochs: Mapped[int] = _col(
        Integer,
        doc="the fidelity: epochs in all, over the schedule's stages")
    schedule: Mapped[str] = _col(
        String(64),
        doc='training schedule (`two-stage`, `qat`, `billnet`, ...)')
    max_train_batches: Mapped[int | None] = _col(
        Integer, nullable=True,
        doc='batches per epoch at most (NULL: the whole training split)')
    #: which network of the candidate at this fidelity: 0 the first, k > 0 a further training
    #: seed (dse.trainings.replicate_seed; the search's confirmation, ``dse train --replicate``)
    replicate: Mapped[int] = _col(
        Integer, default=0, server_default="0",
        doc=("which network of the candidate at this fidelity: 0 the first, k > 0 trained with "
             "a further seed (the search's confirmation of its front, `dse train --replicate`)"))
    #: "<schedule>:<epochs>:<max_train_batches or all>[:r<replicate>]", unique per candidate
    fidelity_key: Mapped[str] = _col(
        String(128),
        doc=('`<schedule>:<epochs>:<max_train_batches or all>` and `:r<replicate>` for a '
             'replicate, e.g. `two-stage:36:all`, `two-stage:24:all:r1`'))
    status: Mapped[str] = _col(
        String(16), default="running",
        doc=('`running`, `interrupted` (stopped; reads also show a `running` one whose process is '
             'gone so), `complete`, `failed`'))
    metrics: Mapped[dict[str, Any]] = _col(
        JSONType, default=dict,
        doc='every other number of the result (`epochs_run`, `deploy_mismatches`, `psnr_db`, ...)')
    #: one dict per epoch: stage, epoch and the epoch's numbers (as dse_epochs' columns)
    curve: Mapped[list[dict[str, Any]]] = _col(
        JSONType, default=list,
        doc=('the learning curve: one object per epoch (`stage`, `epoch`, `train_loss`, '
             '`val_loss`, `val_accuracy`, `seconds`, ...)'))
    #: the training settings (the study's, with this fidelity), as the trial payload has them
    settings: Mapped[dict[str, Any]] = _col(
        JSONType, default=dict,
        doc=("the training settings: the study's, at this fidelity (dataset, seed, recipe, trial "
             'number, ...)'))
    error: Mapped[str | None] = _col(
        Text, nullable=True,
        doc='the error of a failed training')
    checkpoint: Mapped[bytes | None] = _col(
        LargeBinary, nullable=True,
        doc=("while unfinished: the trainer's checkpoint after the last stored epoch (the next run"
             ' resumes from it); NULL once finished'))
    attempt: Mapped[int] = _col(
        Integer, default=1,
        doc='1 + number of restarts and resumes')
    #: the process training it (host, pid, heartbeat in seconds since the epoch); NULL when
    #: none (see ``dse.store.drivers.driver_alive``)
    host: Mapped[str | None] = _col(
        String(255), nullable=True,
        doc='host of the process training it')
    pid: Mapped[int | None] = _col(
        Integer, nullable=True,
        doc='its process id (NULL once it stopped)')
    beat: Mapped[float | None] = _col(
        Double, nullable=True,
        doc='its last heartbeat, seconds since the epoch (stale after `TINYDSE_DRIVER_STALE_S`)')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


def hardware_columns() -> tuple[str, ...]:
    """The metric columns of ``dse_hardware_reports``: the catalogue's column metrics known
    before training (mapped on :class:`HardwareReport` here when the catalogue gained one
    since), then any mapped earlier in this process."""
    from dse.catalog import catalogue

    cat = catalogue()
    return _mapped(HardwareReport, tuple(n for n in cat.columns()
                                         if cat.metric(n).known.before_training))


def trained_columns() -> tuple[str, ...]:
    """The metric columns of ``dse_evaluations`` and ``dse_trainings``: the catalogue's
    column metrics known only after training."""
    from dse.catalog import catalogue

    cat = catalogue()
    names = tuple(n for n in cat.columns() if not cat.metric(n).known.before_training)
    _mapped(Training, names)
    return _mapped(Evaluation, names)


def metric_columns() -> tuple[str, ...]:
    """Every metric column, in the catalogue's order: the hardware report's, then the
    trained ones (what a query row shows as real columns)."""
    from dse.catalog import catalogue

    hardware, trained = hardware_columns(), trained_columns()
    order = {n: i for i, n in enumerate(catalogue().columns())}
    return tuple(sorted((*hardware, *trained), key=lambda n: order.get(n, len(order))))


def metric_column(name: str) -> Any:
    """The mapped column of metric ``name`` (on the hardware report or the evaluation)."""
    return getattr(HardwareReport if name in hardware_columns() else Evaluation, name)


#: The metric columns mapped in this process, by table.
_MAPPED: dict[str, list[str]] = {}


def _mapped(model: type[Base], wanted: tuple[str, ...]) -> tuple[str, ...]:
    mapped = _MAPPED.setdefault(model.__tablename__, [])
    for name in wanted:
        if name in mapped:
            continue
        if name in model.__table__.c:
            raise ValueError(f"metric {name!r} would clash with the column "
                             f"{model.__tablename__}.{name}")
        # Declarative maps an attribute set on the class after its creation (SQLAlchemy 2).
        setattr(model, name, mapped_column(name, Double, nullable=True))
        mapped.append(name)
    return tuple(dict.fromkeys((*wanted, *mapped)))


#: The tables whose metric columns follow the catalogue, and the function that names them.
METRIC_TABLES = {"dse_hardware_reports": hardware_columns, "dse_evaluations": trained_columns,
                 "dse_trainings": trained_columns}

metric_columns()
