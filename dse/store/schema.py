"""SQLAlchemy 2 models of the results store (documented for direct SQL in ``docs/schema.md``).

Every table is prefixed ``dse_`` so that Optuna's RDB storage (``studies``, ``trials``, ...)
can live in the same database without a clash; our Alembic version table is
``dse_alembic_version`` for the same reason (Optuna's own is ``alembic_version``).
Timestamps are naive UTC. Hardware and accuracy metrics are real columns (indexable, plain
SQL); anything else a study reports (e.g. ``psnr_db``) goes to the ``metrics`` JSON column.
Schema changes go through an Alembic revision in ``dse/store/migrations/versions``; a test
checks that the models and the migrations agree.
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: JSON on SQLite (text), JSONB on PostgreSQL (queryable with ``->>`` in direct SQL).
JSONType = JSON().with_variant(JSONB(), "postgresql")

VERSION_TABLE = "dse_alembic_version"
TABLE_PREFIX = "dse_"


#: Hardware metrics stored as real columns of ``dse_evaluations`` (units in the names).
HARDWARE_COLUMNS = ("memory_bits", "weight_memory_bits", "act_buffer_bits", "macs", "bops",
                    "energy_pj", "area_um2", "cycles", "latency_cycles")
#: Accuracy metrics stored as real columns of ``dse_evaluations`` (fractions in [0, 1]).
ACCURACY_COLUMNS = ("accuracy", "val_accuracy", "test_accuracy")
METRIC_COLUMNS = HARDWARE_COLUMNS + ACCURACY_COLUMNS + ("train_seconds",)
#: Metrics stored as real columns of ``dse_trainings``: the trained ones of METRIC_COLUMNS
#: (a training's hardware metrics are its candidate's, in ``dse_hardware_reports``).
TRAINED_COLUMNS = ACCURACY_COLUMNS + ("train_seconds",)
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


class Study(Base):
    """One search: what is searched (space, dataset, task), for what (objectives, budgets)."""

    __tablename__ = "dse_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    space: Mapped[str] = mapped_column(String(255))
    dataset: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(64), default="classification")
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: list of {"name": str, "direction": "maximize" | "minimize"}
    objectives: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    #: list of {"metric": str, "op": "<=" | "<" | ">=" | ">", "value": float}
    budgets: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    tinydse_version: Mapped[str] = mapped_column(String(64), default="")
    cost_model_version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the driver (search process) running the study, and its last heartbeat (seconds since
    #: the epoch); NULL when no driver holds it (see ``dse.store.drivers``)
    driver_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    driver_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    driver_beat: Mapped[float | None] = mapped_column(Double, nullable=True)


class Candidate(Base):
    """One architecture proposed in a study; ``spec_hash`` is unique per study: the
    ArchSpec.hash, or in a co-search the key of the (network, accelerator) pair, whose network
    alone is ``network_hash`` (the accelerator is the hardware report's ``accel``)."""

    __tablename__ = "dse_candidates"
    __table_args__ = (UniqueConstraint("study_id", "spec_hash"),
                      Index("ix_dse_candidates_study_id_network_hash", "study_id",
                            "network_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("dse_studies.id", ondelete="CASCADE"),
                                          index=True)
    spec: Mapped[str] = mapped_column(Text)  # ArchSpec.to_json(), verbatim
    spec_hash: Mapped[str] = mapped_column(String(128))
    network_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    choices: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Evaluation(Base):
    """The live evaluation of a candidate (one per candidate; ``attempt`` counts restarts)."""

    __tablename__ = "dse_evaluations"
    __table_args__ = (Index("ix_dse_evaluations_study_status", "study_id", "status"),
                      Index("ix_dse_evaluations_study_pareto", "study_id", "pareto"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"), unique=True)
    #: denormalized from the candidate, so per-study scans need no join
    study_id: Mapped[int] = mapped_column(ForeignKey("dse_studies.id", ondelete="CASCADE"))
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    memory_bits: Mapped[float | None] = mapped_column(Double, nullable=True)
    weight_memory_bits: Mapped[float | None] = mapped_column(Double, nullable=True)
    act_buffer_bits: Mapped[float | None] = mapped_column(Double, nullable=True)
    macs: Mapped[float | None] = mapped_column(Double, nullable=True)
    bops: Mapped[float | None] = mapped_column(Double, nullable=True)
    energy_pj: Mapped[float | None] = mapped_column(Double, nullable=True)
    area_um2: Mapped[float | None] = mapped_column(Double, nullable=True)
    cycles: Mapped[float | None] = mapped_column(Double, nullable=True)
    latency_cycles: Mapped[float | None] = mapped_column(Double, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    test_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    violated: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    train_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    #: front membership among the study's complete evaluations, kept by the store
    pareto: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    #: hostname of the machine the evaluation trained on (NULL: not trained)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Epoch(Base):
    """One epoch of one training stage (learning curves)."""

    __tablename__ = "dse_epochs"
    __table_args__ = (Index("ux_dse_epochs_evaluation_stage_epoch", "evaluation_id", "stage",
                            "epoch", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("dse_evaluations.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Double, nullable=True)
    train_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_loss: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class HardwareReport(Base):
    """The cost model's report for a candidate: totals, per-layer rows, accelerator config."""

    __tablename__ = "dse_hardware_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"), unique=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    per_layer: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    accel: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Artifact(Base):
    """A small file a task made for a candidate (e.g. the compression task's original /
    reconstruction / error PNG), by name; the dashboard shows the images."""

    __tablename__ = "dse_artifacts"
    __table_args__ = (UniqueConstraint("candidate_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Training(Base):
    """A further evaluation of a candidate by ``dse train`` at a fidelity (``epochs`` of
    ``schedule``, at most ``max_train_batches`` batches per epoch): the candidate's live
    evaluation (``dse_evaluations``, the search's) is never touched. One row per
    (candidate, ``fidelity_key``); the learning curve is the ``curve`` JSON list and, while
    the run is unfinished, ``checkpoint`` holds the trainer's checkpoint of its last epoch
    (the run resumes from it)."""

    __tablename__ = "dse_trainings"
    __table_args__ = (UniqueConstraint("candidate_id", "fidelity_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("dse_candidates.id", ondelete="CASCADE"))
    #: denormalized from the candidate, so per-study scans need no join
    study_id: Mapped[int] = mapped_column(ForeignKey("dse_studies.id", ondelete="CASCADE"),
                                          index=True)
    #: the fidelity: total epochs of the schedule
    epochs: Mapped[int] = mapped_column(Integer)
    schedule: Mapped[str] = mapped_column(String(64))
    max_train_batches: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: "<schedule>:<epochs>:<max_train_batches or all>", unique per candidate
    fidelity_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="running")
    accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    test_accuracy: Mapped[float | None] = mapped_column(Double, nullable=True)
    train_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: one dict per epoch: stage, epoch and the epoch's numbers (as dse_epochs' columns)
    curve: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    #: the training settings (the study's, with this fidelity), as the trial payload has them
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    #: the process training it (host, pid, heartbeat in seconds since the epoch); NULL when
    #: none (see ``dse.store.drivers.driver_alive``)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    beat: Mapped[float | None] = mapped_column(Double, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
