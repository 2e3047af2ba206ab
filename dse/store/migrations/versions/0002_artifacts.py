"""Artifacts: small files a task made for a candidate (e.g. a reconstruction PNG).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dse_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["dse_candidates.id"], ondelete="CASCADE",
                                name="fk_dse_artifacts_candidate_id_dse_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_dse_artifacts"),
        sa.UniqueConstraint("candidate_id", "name", name="uq_dse_artifacts_candidate_id_name"),
    )


def downgrade() -> None:
    op.drop_table("dse_artifacts")
