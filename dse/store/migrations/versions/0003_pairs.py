"""Co-search: the network hash of a candidate (a candidate may be a network-accelerator pair).

``spec_hash`` stays the candidate's key (for a pair: the network and the accelerator together);
``network_hash`` is the network's ArchSpec hash, so a network proposed with several
accelerators is found, and trained, once. NULL for candidates stored before this revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dse_candidates") as batch:
        batch.add_column(sa.Column("network_hash", sa.String(128), nullable=True))
    op.create_index("ix_dse_candidates_study_id_network_hash", "dse_candidates",
                    ["study_id", "network_hash"])


def downgrade() -> None:
    op.drop_index("ix_dse_candidates_study_id_network_hash", table_name="dse_candidates")
    with op.batch_alter_table("dse_candidates") as batch:
        batch.drop_column("network_hash")
