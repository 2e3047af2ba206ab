"""Database URLs, engines and sessions; the one boundary where database errors become
:class:`StoreError`.

* SQLite (the embedded default): WAL journal, ``busy_timeout``, foreign keys on, and every
  write transaction opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
  busy timeout instead of failing with "database is locked" when a read lock is upgraded.
  ``read_only=True`` opens the file through a ``mode=ro`` URI.
* PostgreSQL: ``postgresql+psycopg://`` (a bare ``postgresql://`` or ``postgres://`` is given
  the psycopg driver); read-only connections set ``postgresql_readonly``.

The schema is created and upgraded by Alembic (programmatically, see :func:`upgrade_schema`);
the upgrade is serialized across processes (SQLite: inside one ``BEGIN IMMEDIATE``
transaction; PostgreSQL: a transaction-scoped advisory lock), so four processes opening a fresh
database at once all succeed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from dse.errors import UserError
from dse.store.schema import VERSION_TABLE

#: Seconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 120.0
#: Namespace of our PostgreSQL advisory locks (first key of the two-int form).
PG_LOCK_NAMESPACE = 0x7D5E  # "tinydse"
_MIGRATION_LOCK_KEY = 0


class StoreError(UserError):
    """A store failure shown to the user as one line (bad URL, unreachable database,
    a study reused with a different definition, an unknown study or candidate).
    ``transient``: the connection failed or was lost (the same call may succeed later)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
        return parsed.render_as_string(hide_password=True)
    except Exception:
        return str(url).split("@")[-1] if "@" in str(url) else str(url)


def normalize_url(url: str) -> URL:
    """Parse a store URL: a bare file path means SQLite; PostgreSQL gets the psycopg driver."""
    if not url or not url.strip():
        raise StoreError("database URL is empty (e.g. sqlite:///dse.db or "
                         "postgresql+psycopg://user@host/db)")
    url = url.strip()
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"{mask_url(url)}: not a database URL (e.g. sqlite:///dse.db or "
                         "postgresql+psycopg://user@host/db)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"{mask_url(parsed)}: unsupported database {parsed.drivername!r} "
                         "(use sqlite:/// or postgresql+psycopg://)")
    return parsed


def _sqlite_path(url: URL) -> str | None:
    """The file path of a SQLite URL, or None for an in-memory database."""
    db = url.database or ""
    if db in ("", ":memory:"):
        return None
    if db.startswith("file:"):
        db = db[len("file:"):]
    return db


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite results URL (None: in memory, or not SQLite); StoreError for a
    malformed URL."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = _sqlite_path(parsed)
    return None if path is None else Path(path).expanduser()


def _sqlite_engine(url: URL, read_only: bool) -> Engine:
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if path is None:
        if read_only:
            raise StoreError(f"{mask_url(url)}: an in-memory database cannot be opened read-only")
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(url, **kwargs)
    else:
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise StoreError(f"{mask_url(url)}: directory {parent} does not exist")
        if read_only:
            if not Path(path).expanduser().exists():
                raise StoreError(f"{mask_url(url)}: no such database file")
            abspath = Path(path).expanduser().resolve().as_posix()
            url = URL.create("sqlite", database=f"file:{abspath}",
                             query={"mode": "ro", "uri": "true"})
        engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) emit BEGIN, so we can choose BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if not read_only and path is not None:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("tinydse_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate and not read_only else "BEGIN")

    return engine


def _pg_engine(url: URL, read_only: bool) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": 10}
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if read_only:
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def create_store_engine(url: str, *, read_only: bool = False) -> tuple[Engine, URL]:
    """An engine for ``url`` with the backend settings above; errors become StoreError."""
    parsed = normalize_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, read_only), parsed
        return _pg_engine(parsed, read_only), parsed
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"{mask_url(parsed)}: database driver unavailable: {exc}") from None
    except ArgumentError as exc:
        raise StoreError(f"{mask_url(parsed)}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (DBAPI errors carry several)."""
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def translate(exc: SQLAlchemyError, url: URL | str) -> StoreError:
    """The one place a database error becomes a one-line :class:`StoreError`."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return StoreError(f"{mask_url(url)}: connection lost: {first_line(exc)}",
                          transient=True)
    return StoreError(f"{mask_url(url)}: {first_line(exc)}",
                      transient=isinstance(exc, OperationalError | InterfaceError))


class SessionFactory:
    """Scoped sessions: commit on success, roll back on any error, translate DB errors."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        write_engine = engine.execution_options(tinydse_write=True) if self.is_sqlite else engine
        self._write = sessionmaker(bind=write_engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool) -> Iterator[Session]:
        """One transaction. On SQLite a write session holds the write lock from its start."""
        maker = self._write if write else self._read
        session = maker()
        try:
            yield session
            if write:
                session.commit()
            # a read ends with close(): objects stay loaded (a rollback would expire them)
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate(exc, self.url) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


# ----------------------------------------------------------------------------- migrations


def alembic_config(url: URL | None = None) -> Any:
    """The Alembic configuration shipped in the package (``dse/store/alembic.ini``)."""
    from alembic.config import Config

    ini = os.path.join(os.path.dirname(__file__), "alembic.ini")
    cfg = Config(ini)
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(__file__), "migrations"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url",
                            url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database, or None for an empty database."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def upgrade_schema(factory: SessionFactory) -> None:
    """Create or upgrade our tables to the head revision, serialized across processes."""
    from alembic import command

    head = head_revision()
    engine = factory.engine
    url = factory.url
    try:
        with engine.connect() as conn:
            if current_revision(conn) == head:  # fast path: nothing to do, no lock taken
                return
        write_engine = engine.execution_options(tinydse_write=True) if factory.is_sqlite \
            else engine
        with write_engine.begin() as conn:
            if not factory.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                             {"ns": PG_LOCK_NAMESPACE, "key": _MIGRATION_LOCK_KEY})
            if current_revision(conn) == head:  # another process upgraded while we waited
                return
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise translate(exc, url) from exc


def missing_metric_columns(conn: Connection) -> list[tuple[str, str]]:
    """(table, column) of every metric column of the models (the catalogue's:
    :data:`dse.store.schema.METRIC_TABLES`) that the database lacks."""
    from dse.store.schema import METRIC_TABLES

    inspector = inspect(conn)
    out = []
    for table, columns in METRIC_TABLES.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        out += [(table, name) for name in columns() if name not in have]
    return out


def heal_metric_columns(factory: SessionFactory) -> list[tuple[str, str]]:
    """Add every metric column the catalogue names and the database lacks (``ALTER TABLE ..
    ADD COLUMN``, NULL for every existing row), serialized across processes like a migration;
    what was added. A metric flagged ``column`` in the catalogue is thus a column with no
    migration of its own (docs/design.md, "Metric catalogue")."""
    from dse.store.schema import Base

    try:
        with factory.engine.connect() as conn:
            if not missing_metric_columns(conn):  # fast path: no lock taken
                return []
        write_engine = factory.engine.execution_options(tinydse_write=True) \
            if factory.is_sqlite else factory.engine
        with write_engine.begin() as conn:
            if not factory.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                             {"ns": PG_LOCK_NAMESPACE, "key": _MIGRATION_LOCK_KEY})
            missing = missing_metric_columns(conn)  # again, under the lock
            quote = conn.dialect.identifier_preparer.quote
            for table, name in missing:
                kind = Base.metadata.tables[table].c[name].type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {kind}"))
            return missing
    except SQLAlchemyError as exc:
        raise translate(exc, factory.url) from exc


def check_schema(factory: SessionFactory) -> None:
    """For read-only use: the database must already hold our schema at the head revision."""
    try:
        with factory.engine.connect() as conn:
            rev = current_revision(conn)
    except SQLAlchemyError as exc:
        raise translate(exc, factory.url) from exc
    if rev is None:
        raise StoreError(f"{mask_url(factory.url)}: no tinydse results in this database "
                         "(run a search first)")
    head = head_revision()
    if rev != head:
        raise StoreError(f"{mask_url(factory.url)}: schema revision {rev} is not the current "
                         f"{head}; open it read-write once (any `dse search` does) to upgrade")
    try:
        with factory.engine.connect() as conn:
            missing = missing_metric_columns(conn)
    except SQLAlchemyError as exc:
        raise translate(exc, factory.url) from exc
    if missing:
        names = ", ".join(f"{t}.{c}" for t, c in missing)
        raise StoreError(f"{mask_url(factory.url)}: the metric column(s) {names} are missing; "
                         "open it read-write once (any `dse search` does) to add them")
