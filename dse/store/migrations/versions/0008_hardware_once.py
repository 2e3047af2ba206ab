"""A candidate's hardware numbers are stored once, on its hardware report.

Before this revision the cost model's totals were stored twice: in the report's ``metrics``
JSON and, copied in the same transaction, in metric columns of the candidate's evaluation.
Now every metric known before training (the catalogue's cost-model, simulator and spec
metrics) is a column of ``dse_hardware_reports`` (or, when not a catalogue column, a key of its
``metrics`` JSON); ``dse_evaluations`` keeps only what training yields.

* each such column of ``dse_evaluations`` moves to ``dse_hardware_reports`` (values copied by
  candidate), then is dropped from ``dse_evaluations``;
* the report's JSON loses the keys that are now its columns (a value the column lacks fills
  it), and the evaluation's JSON loses the keys known before training (the report holds them).

The columns are the ones the catalogue names when the migration runs, as for every metric
column (docs/design.md, "Metric catalogue").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVALUATIONS = "dse_evaluations"
REPORTS = "dse_hardware_reports"


def _before_training() -> tuple[set[str], set[str]]:
    """(every metric name known before training, those that are catalogue columns)."""
    from dse.catalog import catalogue

    cat = catalogue()
    early = {m.name for m in cat if m.known.before_training}
    return early, {n for n in cat.columns() if n in early}


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    early, early_columns = _before_training()
    conn = op.get_bind()
    quote = conn.dialect.identifier_preparer.quote
    moved = sorted(_columns(EVALUATIONS) & early_columns)
    have = _columns(REPORTS)
    for name in moved:
        if name not in have:
            op.add_column(REPORTS, sa.Column(name, sa.Double(), nullable=True))
        op.execute(f"UPDATE {REPORTS} SET {quote(name)} = (SELECT e.{quote(name)} FROM "
                   f"{EVALUATIONS} e WHERE e.candidate_id = {REPORTS}.candidate_id) "
                   f"WHERE {quote(name)} IS NULL")
    report_columns = sorted(_columns(REPORTS) & early_columns)
    reports = sa.table(REPORTS, sa.column("id"), sa.column("metrics", sa.JSON),
                       *(sa.column(n) for n in report_columns))
    for row in conn.execute(sa.select(reports)).mappings().all():
        metrics = dict(row["metrics"] or {})
        fill = {n: metrics[n] for n in report_columns
                if n in metrics and row[n] is None and isinstance(metrics[n], int | float)}
        rest = {k: v for k, v in metrics.items() if k not in report_columns}
        if fill or rest != metrics:
            conn.execute(reports.update().where(reports.c.id == row["id"])
                         .values(metrics=rest, **fill))
    evaluations = sa.table(EVALUATIONS, sa.column("id"), sa.column("metrics", sa.JSON))
    for row in conn.execute(sa.select(evaluations)).mappings().all():
        metrics = dict(row["metrics"] or {})
        rest = {k: v for k, v in metrics.items() if k not in early}
        if rest != metrics:
            conn.execute(evaluations.update().where(evaluations.c.id == row["id"])
                         .values(metrics=rest))
    # plain ALTER TABLE .. DROP COLUMN (SQLite >= 3.35), as in 0007
    for name in moved:
        op.execute(f"ALTER TABLE {EVALUATIONS} DROP COLUMN {quote(name)}")


def downgrade() -> None:
    _early, early_columns = _before_training()
    conn = op.get_bind()
    quote = conn.dialect.identifier_preparer.quote
    back = sorted(_columns(REPORTS) & early_columns)
    for name in back:
        op.add_column(EVALUATIONS, sa.Column(name, sa.Double(), nullable=True))
        op.execute(f"UPDATE {EVALUATIONS} SET {quote(name)} = (SELECT h.{quote(name)} FROM "
                   f"{REPORTS} h WHERE h.candidate_id = {EVALUATIONS}.candidate_id)")
    reports = sa.table(REPORTS, sa.column("id"), sa.column("metrics", sa.JSON),
                       *(sa.column(n) for n in back))
    for row in conn.execute(sa.select(reports)).mappings().all():
        totals = {n: row[n] for n in back if row[n] is not None}
        conn.execute(reports.update().where(reports.c.id == row["id"])
                     .values(metrics={**dict(row["metrics"] or {}), **totals}))
    for name in back:
        op.execute(f"ALTER TABLE {REPORTS} DROP COLUMN {quote(name)}")
