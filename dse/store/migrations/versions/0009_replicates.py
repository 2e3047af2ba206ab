"""Trainings keyed by replicate: a candidate may have several networks at one fidelity.

* ``dse_trainings.replicate``: 0 for every existing row (the candidate's first network at its
  fidelity); k > 0 is a further network trained with another seed (the search's confirmation
  of its front, ``dse train --replicate k``). Its fidelity key gains ``:r<k>``, so the unique
  key (candidate, fidelity_key) is unchanged and existing keys stay valid.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dse_trainings", sa.Column("replicate", sa.Integer(), nullable=False,
                                             server_default="0"))


def downgrade() -> None:
    op.execute("DELETE FROM dse_trainings WHERE replicate <> 0")
    op.execute("ALTER TABLE dse_trainings DROP COLUMN replicate")
