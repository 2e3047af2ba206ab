"""Epoch rows keyed by attempt; metric columns from the catalogue.

* ``dse_epochs.attempt``: the evaluation's attempt that trained the row, in the unique key
  (evaluation, attempt, stage, epoch). Existing rows are the latest attempt's (a restart
  deleted the earlier ones), so they take their evaluation's attempt.
* ``dse_evaluations.latency_cycles`` is dropped: no code ever wrote it and the metric
  catalogue has no such metric (the stall-free count is ``ideal_cycles``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dse_epochs", sa.Column("attempt", sa.Integer(), nullable=False,
                                          server_default="1"))
    op.execute("UPDATE dse_epochs SET attempt = (SELECT e.attempt FROM dse_evaluations e "
               "WHERE e.id = dse_epochs.evaluation_id)")
    op.drop_index("ux_dse_epochs_evaluation_stage_epoch", table_name="dse_epochs")
    op.create_index("ux_dse_epochs_evaluation_attempt_stage_epoch", "dse_epochs",
                    ["evaluation_id", "attempt", "stage", "epoch"], unique=True)
    # plain ALTER TABLE .. DROP COLUMN (SQLite >= 3.35): a batch table copy would cascade
    # the foreign keys that point at the table
    op.execute("ALTER TABLE dse_evaluations DROP COLUMN latency_cycles")


def downgrade() -> None:
    op.add_column("dse_evaluations", sa.Column("latency_cycles", sa.Double(), nullable=True))
    op.drop_index("ux_dse_epochs_evaluation_attempt_stage_epoch", table_name="dse_epochs")
    op.execute("DELETE FROM dse_epochs WHERE attempt <> (SELECT e.attempt FROM "
               "dse_evaluations e WHERE e.id = dse_epochs.evaluation_id)")
    op.create_index("ux_dse_epochs_evaluation_stage_epoch", "dse_epochs",
                    ["evaluation_id", "stage", "epoch"], unique=True)
    op.execute("ALTER TABLE dse_epochs DROP COLUMN attempt")
