"""Initial schema: studies, candidates, evaluations, epochs, hardware reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dse_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("space", sa.String(255), nullable=False),
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("objectives", JSONType, nullable=False),
        sa.Column("budgets", JSONType, nullable=False),
        sa.Column("tinydse_version", sa.String(64), nullable=False),
        sa.Column("cost_model_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dse_studies"),
        sa.UniqueConstraint("name", name="uq_dse_studies_name"),
    )
    op.create_table(
        "dse_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("spec_hash", sa.String(128), nullable=False),
        sa.Column("choices", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["dse_studies.id"], ondelete="CASCADE",
                                name="fk_dse_candidates_study_id_dse_studies"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_candidates"),
        sa.UniqueConstraint("study_id", "spec_hash",
                            name="uq_dse_candidates_study_id_spec_hash"),
    )
    op.create_index("ix_dse_candidates_study_id", "dse_candidates", ["study_id"])
    op.create_table(
        "dse_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("trial_number", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        *[sa.Column(name, sa.Double(), nullable=True) for name in (
            "memory_bits", "weight_memory_bits", "act_buffer_bits", "macs", "bops",
            "energy_pj", "area_um2", "cycles", "latency_cycles",
            "accuracy", "val_accuracy", "test_accuracy")],
        sa.Column("metrics", JSONType, nullable=False),
        sa.Column("violated", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("train_seconds", sa.Double(), nullable=True),
        sa.Column("pareto", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["dse_candidates.id"], ondelete="CASCADE",
                                name="fk_dse_evaluations_candidate_id_dse_candidates"),
        sa.ForeignKeyConstraint(["study_id"], ["dse_studies.id"], ondelete="CASCADE",
                                name="fk_dse_evaluations_study_id_dse_studies"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_evaluations"),
        sa.UniqueConstraint("candidate_id", name="uq_dse_evaluations_candidate_id"),
    )
    op.create_index("ix_dse_evaluations_study_status", "dse_evaluations",
                    ["study_id", "status"])
    op.create_index("ix_dse_evaluations_study_pareto", "dse_evaluations",
                    ["study_id", "pareto"])
    op.create_table(
        "dse_epochs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Double(), nullable=True) for name in (
            "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")],
        sa.Column("metrics", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["dse_evaluations.id"], ondelete="CASCADE",
                                name="fk_dse_epochs_evaluation_id_dse_evaluations"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_epochs"),
    )
    op.create_index("ix_dse_epochs_evaluation_id", "dse_epochs", ["evaluation_id"])
    op.create_table(
        "dse_hardware_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("metrics", JSONType, nullable=False),
        sa.Column("per_layer", JSONType, nullable=False),
        sa.Column("accel", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["dse_candidates.id"], ondelete="CASCADE",
                                name="fk_dse_hardware_reports_candidate_id_dse_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_hardware_reports"),
        sa.UniqueConstraint("candidate_id", name="uq_dse_hardware_reports_candidate_id"),
    )


def downgrade() -> None:
    op.drop_table("dse_hardware_reports")
    op.drop_index("ix_dse_epochs_evaluation_id", table_name="dse_epochs")
    op.drop_table("dse_epochs")
    op.drop_index("ix_dse_evaluations_study_pareto", table_name="dse_evaluations")
    op.drop_index("ix_dse_evaluations_study_status", table_name="dse_evaluations")
    op.drop_table("dse_evaluations")
    op.drop_index("ix_dse_candidates_study_id", table_name="dse_candidates")
    op.drop_table("dse_candidates")
    op.drop_table("dse_studies")
