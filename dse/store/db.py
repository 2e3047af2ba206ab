"""The database a store runs on: one transaction per session, the per-study write lock and
the lookup of a study by name or id (shared by :mod:`dse.store.writes`,
:mod:`dse.store.reads` and :mod:`dse.store.drivers`)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dse.store.engine import PG_LOCK_NAMESPACE, SessionFactory, StoreError, mask_url
from dse.store.schema import Study

#: Advisory lock keys of studies: base + study id (the keys below it guard migrations).
STUDY_LOCK_BASE = 1 << 20


class Database:
    """Sessions on one results database; writes are refused when it was opened read-only."""

    def __init__(self, factory: SessionFactory, *, read_only: bool) -> None:
        self.factory = factory
        self.read_only = read_only

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self.factory.url)

    @property
    def is_sqlite(self) -> bool:
        return self.factory.is_sqlite

    def write(self) -> AbstractContextManager[Session]:
        """One write transaction (commit on success, rollback on error)."""
        if self.read_only:
            raise StoreError(f"{self.url}: the store was opened read-only")
        return self.factory.session(write=True)

    def read(self) -> AbstractContextManager[Session]:
        return self.factory.session(write=False)

    def lock_study(self, session: Session, study_id: int) -> None:
        """Serialize the writes of one study that touch its Pareto flags or its lease
        (SQLite: BEGIN IMMEDIATE already does; PostgreSQL: a transaction-scoped advisory
        lock)."""
        if not self.factory.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                            {"ns": PG_LOCK_NAMESPACE, "key": STUDY_LOCK_BASE + int(study_id)})

    def study(self, session: Session, study: str | int) -> Study:
        """The study row by name or id; unknown -> StoreError listing the existing studies."""
        if isinstance(study, int) and not isinstance(study, bool):
            row = session.get(Study, study)
        else:
            row = session.execute(
                select(Study).where(Study.name == str(study))).scalar_one_or_none()
        if row is None:
            names = list(session.execute(select(Study.name).order_by(Study.name)).scalars())
            known = f"studies: {', '.join(names)}" if names else f"no studies in {self.url}"
            raise StoreError(f"unknown study {study!r} ({known})")
        return row
