"""Cluster runs: the host an evaluation trained on, the study's driver lease, epochs once.

* ``dse_evaluations.host``: the hostname of the machine that trained the evaluation.
* ``dse_studies.driver_host`` / ``driver_pid`` / ``driver_beat``: the driver (search process)
  running the study and its last heartbeat (seconds since the epoch), or NULL when none.
* ``dse_epochs``: one row per (evaluation, stage, epoch). Rows an earlier attempt left behind
  are dropped (a restarted evaluation starts its learning curve again), keeping the newest.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dse_evaluations", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("dse_studies", sa.Column("driver_host", sa.String(255), nullable=True))
    op.add_column("dse_studies", sa.Column("driver_pid", sa.Integer(), nullable=True))
    op.add_column("dse_studies", sa.Column("driver_beat", sa.Double(), nullable=True))
    op.execute("DELETE FROM dse_epochs WHERE id NOT IN (SELECT max(id) FROM dse_epochs "
               "GROUP BY evaluation_id, stage, epoch)")
    op.create_index("ux_dse_epochs_evaluation_stage_epoch", "dse_epochs",
                    ["evaluation_id", "stage", "epoch"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_dse_epochs_evaluation_stage_epoch", table_name="dse_epochs")
    op.drop_column("dse_studies", "driver_beat")
    op.drop_column("dse_studies", "driver_pid")
    op.drop_column("dse_studies", "driver_host")
    op.drop_column("dse_evaluations", "host")
