"""Trainings: further evaluations of a candidate at a fidelity (``dse train``).

``dse_trainings`` holds one row per (candidate, fidelity key): the epochs, schedule and batch
cap it was trained with, its status and trained metrics, its learning curve (JSON) and, while
unfinished, the trainer's checkpoint of its last epoch. ``dse_evaluations`` (the search's live
evaluation, one per candidate) is unchanged.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dse_trainings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("max_train_batches", sa.Integer(), nullable=True),
        sa.Column("fidelity_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("accuracy", sa.Double(), nullable=True),
        sa.Column("val_accuracy", sa.Double(), nullable=True),
        sa.Column("test_accuracy", sa.Double(), nullable=True),
        sa.Column("train_seconds", sa.Double(), nullable=True),
        sa.Column("metrics", JSONType, nullable=False),
        sa.Column("curve", JSONType, nullable=False),
        sa.Column("settings", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("beat", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["dse_candidates.id"], ondelete="CASCADE",
                                name="fk_dse_trainings_candidate_id_dse_candidates"),
        sa.ForeignKeyConstraint(["study_id"], ["dse_studies.id"], ondelete="CASCADE",
                                name="fk_dse_trainings_study_id_dse_studies"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_trainings"),
        sa.UniqueConstraint("candidate_id", "fidelity_key",
                            name="uq_dse_trainings_candidate_id_fidelity_key"),
    )
    op.create_index("ix_dse_trainings_study_id", "dse_trainings", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_dse_trainings_study_id", table_name="dse_trainings")
    op.drop_table("dse_trainings")
